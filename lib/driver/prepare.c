/* cd_driver_prepare: image, volumes, network, the job container, its agent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/agent-proto.h"
#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#define AGENT_START_TIMEOUT_MS 20000

void cd_driver_say(cd_driver_log_fn log, void *ud, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) >= 0) {
        if (log)
            log(ud, line);
        else
            cd_info("%s", line);
    }
    va_end(ap);
    free(line);
}

/* ---- pull progress: a few readable lines, not one per layer per 512 KiB ---- */
typedef struct {
    cd_driver_log_fn log;
    void *ud;
    int lines, layers_done;
    time_t last_progress;
} pull_progress;

static int on_pull(const json_t *line, void *userdata)
{
    pull_progress *pp = userdata;
    const char *status = json_string_value(json_object_get(line, "status"));
    const char *id = json_string_value(json_object_get(line, "id"));
    if (!status)
        return 0;
    if (!strcmp(status, "Pull complete") || !strncmp(status, "Copying blob", 12))
        pp->layers_done++;
    time_t now = time(NULL);
    bool global = !id || !*id;
    /* Per-layer chatter is summarised every 10 s; one-off global messages are shown. */
    if (global && strncmp(status, "Copying ", 8) && pp->lines < 12) {
        cd_driver_say(pp->log, pp->ud, "  %s", status);
        pp->lines++;
    } else if (now - pp->last_progress >= 10 && pp->lines < 12) {
        if (pp->last_progress)
            cd_driver_say(pp->log, pp->ud, "  ... %d layer(s) done so far", pp->layers_done);
        pp->last_progress = now;
    }
    return 0;
}

/* A pull failure caused by what the job wrote (a wrong name, a private image without
 * credentials) is the job's fault: retrying will not help. */
static bool pull_error_is_jobs_fault(const cd_error_t *err)
{
    static const char *const needles[] = {
        "not found",
        "unauthorized",
        "denied",
        "manifest unknown",
        "authentication required",
        "invalid reference",
        "does not exist",
        "no such image",
        "repository name must",
        "invalid repository name",
        "name unknown",
        "incorrect username or password",
        "no such host", /* a registry name that does not resolve: a typo in the job */
        "no basic auth credentials",
    };
    if (err->status == 404 || err->status == 400 || err->status == 401 || err->status == 403)
        return true;
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        if (err->msg && strcasestr(err->msg, needles[i]))
            return true;
    return false;
}

int cd_driver_ensure_image(cd_engine *e, const cd_job *job, const cd_image_choice *ch,
                            cd_driver_log_fn log, void *ud, json_t **ret_info, cd_error_t *err)
{
    cd_error_t ierr = {0};
    int present = cd_engine_image_inspect(e, ch->name, ret_info, &ierr);
    if (present < 0 && ierr.kind != CD_ERR_NOTFOUND) {
        cd_error(err, ierr.kind, ierr.errnum, "%s", cd_error_msg(&ierr));
        cd_error_clear(&ierr);
        return -1;
    }
    cd_error_clear(&ierr);
    if (ch->policy == CD_PULL_NEVER) {
        if (present < 0)
            return cd_error(err, CD_ERR_BUILD, 0,
                            "image `%s` is not present on the engine and the pull policy is "
                            "`never`",
                            ch->name);
        cd_driver_say(log, ud, "Using image %s (pull policy never)", ch->name);
        return 0;
    }
    if (present == 0 && ch->policy == CD_PULL_IF_NOT_PRESENT) {
        cd_driver_say(log, ud, "Using locally present image %s (pull policy if-not-present)", ch->name);
        return 0;
    }
    json_decref(*ret_info);
    *ret_info = NULL;

    const cd_registry_cred *cred = cd_job_registry_cred(job, ch->name);
    cd_engine_auth auth = {0};
    if (cred) {
        auth.username = cred->username;
        auth.password = cred->password;
        auth.serveraddress = cred->registry;
    }
    cd_driver_say(log, ud, "Pulling image %s (pull policy %s%s)...", ch->name,
        cd_pull_policy_name(ch->policy), cred ? ", with registry credentials" : "");
    pull_progress pp = {.log = log, .ud = ud};
    cd_error_t perr = {0};
    if (cd_engine_image_pull(e, ch->name, cred ? &auth : NULL, on_pull, &pp, &perr) < 0) {
        cd_error_kind kind = pull_error_is_jobs_fault(&perr) ? CD_ERR_BUILD : CD_ERR_SYSTEM;
        /* the engine client already names the image: "pull `x`: ..." */
        cd_error(err, kind, perr.errnum, "%s", cd_error_msg(&perr));
        cd_error_clear(&perr);
        return -1;
    }
    if (cd_engine_image_inspect(e, ch->name, ret_info, err) < 0) {
        /* Pulled but not inspectable: the engine lied or the name does not round-trip. */
        err->kind = CD_ERR_SYSTEM;
        return cd_error_wrap(err, "inspect the pulled image `%s`", ch->name);
    }
    cd_driver_say(log, ud, "Pulled %s", ch->name);
    return 0;
}

/* json object {k: v} of labels → NULL-terminated "k=v" array (for volumes and networks) */
static char **labels_array(json_t *labels)
{
    size_t n = json_object_size(labels), i = 0;
    char **arr = xcalloc(n + 1, sizeof *arr);
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) arr[i++] = xasprintf("%s=%s", k, json_string_value(v));
    return arr;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The image's user, as the container will run (job override > config > image). */
static const char *effective_user(const cd_config *cfg, const cd_job *job, json_t *info)
{
    if (job->image.user && *job->image.user)
        return job->image.user;
    if (cfg->user && *cfg->user)
        return cfg->user;
    const char *u = json_string_value(json_object_get(json_object_get(info, "Config"), "User"));
    return u ? u : "";
}

/* The job container's, or with helper set the helper container's (helper image, its own
 * entrypoint and user, no conductor-nlu) */
static json_t *container_spec(const cd_config *cfg, const cd_job *job, const char *image,
                              json_t *info, const char *toolbox, const char *run_dir,
                              const char *builds_vol, const char *cache_vol, const char *network,
                              bool helper)
{
    const char *mnt = cfg->mount_dir ? cfg->mount_dir : "/opt/conductor/bin";
    json_t *binds = json_array();
    json_array_append_new(binds, json_sprintf("%s:%s:ro", toolbox, mnt));
    json_array_append_new(binds, json_sprintf("%s:%s", run_dir, CD_AGENT_RUN_DIR));
    cleanup_free char *nlu = helper ? NULL : cd_driver_nlu_path(cfg); /* helpers need none */
    if (nlu && access(nlu, R_OK) == 0)
        json_array_append_new(binds, json_sprintf("%s:/usr/local/bin/conductor-nlu:ro", nlu));
    else if (!helper)
        cd_warn("conductor-nlu not found at `%s`, not mounting it, ignoring",
                nlu ? nlu : "(unknown)");
    json_array_append_new(
        binds, json_sprintf("%s:%s", builds_vol, cfg->builds_dir ? cfg->builds_dir : "/builds"));
    if (cache_vol)
        json_array_append_new(
            binds, json_sprintf("%s:%s", cache_vol, cfg->cache_dir ? cfg->cache_dir : "/cache"));

    bool privileged = cfg->privileged && cfg->privileged_allowed;
    json_t *host = json_pack("{s:o, s:b, s:s, s:b}", "Binds", binds, "Privileged", privileged,
                             "NetworkMode", network, "Init", 0);
    if (!privileged) {
        /* no setuid escalation; drop what a build never needs (raw sockets, device nodes) */
        json_object_set_new(host, "SecurityOpt", json_pack("[s]", "no-new-privileges"));
        json_object_set_new(host, "CapDrop",
                            json_pack("[s,s,s,s]", "NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"));
    }
    if (cfg->cap_add && cfg->cap_add[0])
        json_object_set_new(host, "CapAdd", strv_json(cfg->cap_add));
    if (cfg->memory_bytes > 0)
        json_object_set_new(host, "Memory", json_integer(cfg->memory_bytes));
    if (cfg->memory_swap_bytes != 0)
        json_object_set_new(host, "MemorySwap", json_integer(cfg->memory_swap_bytes));
    if (cfg->nano_cpus > 0)
        json_object_set_new(host, "NanoCpus", json_integer(cfg->nano_cpus));
    if (cfg->pids_limit > 0)
        json_object_set_new(host, "PidsLimit", json_integer(cfg->pids_limit));
    if (cfg->shm_bytes > 0)
        json_object_set_new(host, "ShmSize", json_integer(cfg->shm_bytes));

    /* PID 1 is the agent. An entrypoint (the job's, else the image's) still runs first and
     * is expected to `exec "$@"`, as with the docker executor. */
    json_t *entry = json_array();
    char **job_ep = helper ? NULL : job->image.entrypoint;
    json_t *img_ep = json_object_get(json_object_get(info, "Config"), "Entrypoint");
    if (job_ep) {
        for (size_t i = 0; job_ep[i]; i++)
            if (*job_ep[i])
                json_array_append_new(entry, json_string(job_ep[i]));
    } else if (json_is_array(img_ep)) {
        size_t i;
        json_t *v;
        json_array_foreach(img_ep, i, v) json_array_append(entry, v);
    }
    cleanup_free char *agent = xasprintf("%s/conductor-agent", mnt);
    cleanup_free char *sock = xasprintf("%s/%s", CD_AGENT_RUN_DIR, CD_AGENT_SOCKET_NAME);
    json_t *cmd = json_pack("[s,s]", agent, sock);
    if (json_array_size(entry) == 0) {
        json_decref(entry);
        entry = json_pack("[s]", agent);
        json_decref(cmd);
        cmd = json_pack("[s]", sock);
    }

    json_t *spec =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:b}", "Image", image, "Entrypoint", entry,
                  "Cmd", cmd, "Labels",
                  cd_job_labels(job, helper ? "helper" : "build", (int64_t)time(NULL)),
                  "HostConfig", host, "AttachStdin", 0, "OpenStdin", 0, "Tty", 0);
    if (helper)
        return spec; /* the helper image's own user and platform */
    const char *user = effective_user(cfg, job, info);
    if (*user)
        json_object_set_new(spec, "User", json_string(user));
    if (job->image.platform && *job->image.platform)
        json_object_set_new(spec, "Platform", json_string(job->image.platform));
    return spec;
}

/* Wait for the agent's socket; a container that exits meanwhile is reported with its state. */
static int wait_agent(cd_engine *e, const char *name, const char *run_dir, cd_error_t *err)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0;; i++) {
        cd_error_t cerr = {0};
        int fd = cd_agent_connect(run_dir, &cerr);
        cd_error_clear(&cerr);
        if (fd >= 0) {
            close(fd); /* the agent treats a connection without a run as a no-op */
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (i % 20 == 19 || ms > AGENT_START_TIMEOUT_MS) {
            json_auto_t *info = NULL;
            if (cd_engine_container_inspect(e, name, &info, err) < 0)
                return cd_error_wrap(err, "wait for the job container");
            json_t *state = json_object_get(info, "State");
            if (!json_is_true(json_object_get(state, "Running")))
                return cd_error(err, CD_ERR_BUILD, 0,
                                "the job container `%s` exited with status %lld before its agent "
                                "started: does the image's entrypoint `exec \"$@\"`? (set "
                                "`entrypoint: [\"\"]` in .gitlab-ci.yml to bypass it)",
                                name,
                                (long long)json_integer_value(json_object_get(state, "ExitCode")));
            if (ms > AGENT_START_TIMEOUT_MS)
                return cd_error(err, CD_ERR_BUILD, 0,
                                "the agent in job container `%s` did not start within %d s: does "
                                "the image's entrypoint `exec \"$@\"`?",
                                name, AGENT_START_TIMEOUT_MS / 1000);
        }
        usleep(i < 50 ? 2000 : 20000);
    }
}

/* [helper] mode = container: the helper stages' container, from the helper image, with the
 * job's volumes and network and an agent of its own (the docker executor's model) */
static int start_helper(cd_engine *e, const cd_config *cfg, const cd_job *job,
                        const char *toolbox, const char *builds_vol, const char *cache_vol,
                        const char *network, cd_driver_log_fn log, void *ud, cd_error_t *err)
{
    cd_image_choice hc = {.name = cfg->helper_image, .policy = cfg->pull_policy};
    json_auto_t *hinfo = NULL;
    if (cd_driver_ensure_image(e, job, &hc, log, ud, &hinfo, err) < 0)
        return -1;
    cleanup_free char *hname = cd_driver_helper_name(job, cfg);
    cleanup_free char *hrun = cd_driver_run_dir(hname);
    if (cd_driver_mkdirs(hrun, 0700, err) < 0)
        return -1;
    const char *u = json_string_value(json_object_get(json_object_get(hinfo, "Config"), "User"));
    if (u && *u && strcmp(u, "root") && strcmp(u, "0") && strncmp(u, "0:", 2))
        chmod(hrun, 0777);
    json_auto_t *hspec = container_spec(cfg, job, hc.name, hinfo, toolbox, hrun, builds_vol,
                                        cache_vol, network, true);
    cleanup_free char *hid = NULL;
    if (cd_engine_container_create(e, hname, hspec, &hid, err) < 0 ||
        cd_engine_container_start(e, hname, err) < 0 || wait_agent(e, hname, hrun, err) < 0)
        return cd_error_wrap(err, "helper container");
    cd_driver_say(log, ud, "Helper container %s is up (image %s)", hname, hc.name);
    return 0;
}

int cd_driver_prepare(cd_engine *e, const cd_config *cfg, const cd_job *job, cd_driver_log_fn log,
                      void *ud, cd_error_t *err)
{
    cd_image_choice ch;
    if (cd_job_pick_image(job, cfg, &ch, err) < 0)
        return -1;
    cleanup_free char *name = cd_job_name(job, cfg, NULL);
    cleanup_free char *run_dir = cd_driver_run_dir(name);
    cleanup_free char *toolbox = NULL;
    cleanup_free char *builds_vol = cd_job_volume_name(job, cfg, "builds");
    cleanup_free char *cache_vol =
        cfg->cache_enabled ? cd_job_volume_name(job, cfg, "cache") : NULL;
    cleanup_free char *network = NULL;
    json_auto_t *info = NULL;
    json_auto_t *spec = NULL;
    cleanup_free char *id = NULL;
    cleanup_free char *jobs = NULL;
    char **vlabels = NULL;
    int rc = -1;

    if (cd_driver_toolbox(cfg, &toolbox, err) < 0)
        goto fail;
    if (cd_driver_ensure_image(e, job, &ch, log, ud, &info, err) < 0)
        goto fail;

    /* A retried prepare may find the previous attempt's leftovers: start from nothing. */
    if (cd_driver_cleanup(e, cfg, job, err) < 0)
        goto fail;

    jobs = xasprintf("%s/jobs", cd_driver_state_root());
    if (cd_driver_mkdirs(jobs, 0711, err) < 0 || cd_driver_mkdirs(run_dir, 0700, err) < 0)
        goto fail;
    const char *user = effective_user(cfg, job, info);
    if (*user && strcmp(user, "root") && strcmp(user, "0") && strncmp(user, "0:", 2))
        chmod(run_dir, 0777); /* the agent runs as the image's user; jobs/ (0711) hides it */

    json_t *vl = cd_job_labels(job, "volume", (int64_t)time(NULL));
    vlabels = labels_array(vl);
    json_decref(vl);
    if (cd_engine_volume_create(e, builds_vol, (const char *const *)vlabels, err) < 0)
        goto fail;
    if (cache_vol) {
        json_t *cl = cd_job_labels(job, "cache", (int64_t)time(NULL));
        char **clabels = labels_array(cl);
        json_decref(cl);
        cd_error_t verr = {0};
        /* the cache volume outlives jobs; an existing one is what we want */
        if (cd_engine_volume_create(e, cache_vol, (const char *const *)clabels, &verr) < 0)
            cd_debug("cache volume %s: %s", cache_vol, cd_error_msg(&verr));
        cd_error_clear(&verr);
        strv_free(clabels);
    }
    if (cfg->network_mode && *cfg->network_mode) {
        network = xstrdup(cfg->network_mode);
    } else {
        network = cd_job_name(job, cfg, "network");
        json_t *nl = cd_job_labels(job, "network", (int64_t)time(NULL));
        char **nlabels = labels_array(nl);
        json_decref(nl);
        int r = cd_engine_network_create(e, network, NULL, (const char *const *)nlabels, NULL, err);
        strv_free(nlabels);
        if (r < 0)
            goto fail;
    }

    /* the engines' own networks (and another container's) take no aliases */
    bool builtin = !strcmp(network, "host") || !strcmp(network, "none") ||
                   !strcmp(network, "bridge") || !strcmp(network, "default") ||
                   !strcmp(network, "podman") || !strncmp(network, "container:", 10);
    if (cd_driver_services_start(e, cfg, job, network, !builtin, log, ud, err) < 0)
        goto fail;

    spec = container_spec(cfg, job, ch.name, info, toolbox, run_dir, builds_vol, cache_vol,
                          network, false);
    if (cd_engine_container_create(e, name, spec, &id, err) < 0 ||
        cd_engine_container_start(e, name, err) < 0)
        goto fail;
    if (wait_agent(e, name, run_dir, err) < 0)
        goto fail;
    cd_driver_say(log, ud, "Job container %s is up (image %s, network %s)", name, ch.name, network);
    if (cd_driver_helper_container(cfg) &&
        start_helper(e, cfg, job, toolbox, builds_vol, cache_vol, network, log, ud, err) < 0)
        goto fail;
    rc = 0;
fail:
    strv_free(vlabels);
    if (rc < 0) {
        /* a failed prepare leaves nothing behind (the runner retries, with cleanup between) */
        cd_error_t cerr = {0};
        if (cd_driver_cleanup(e, cfg, job, &cerr) < 0)
            cd_warn("clean up after the failed prepare: %s, ignoring", cd_error_msg(&cerr));
        cd_error_clear(&cerr);
    }
    return rc;
}
