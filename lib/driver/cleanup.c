/* cd_driver_cleanup (one job) and cd_driver_gc (what crashed jobs left behind). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Keep going after a failure, remember the first one (cleanup must try everything). */
static void note(cd_error_t *first, cd_error_t *e)
{
    if (first && !first->msg && e->msg)
        cd_error(first, e->kind, e->errnum, "%s", e->msg);
    cd_error_clear(e);
}

static const char *label_of(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "Labels"), key));
}

/* Podman 4.3 ORs several label filters on volumes (Docker ANDs them): check every object we
 * got against all of them before touching it, or one job's cleanup would remove another's. */
static bool labels_match(json_t *obj, const char *const *filter)
{
    json_t *labels = json_object_get(obj, "Labels");
    for (size_t i = 0; filter[i]; i++) {
        const char *eq = strchr(filter[i], '=');
        size_t klen = eq ? (size_t)(eq - filter[i]) : strlen(filter[i]);
        char key[256];
        if (klen >= sizeof key)
            return false;
        memcpy(key, filter[i], klen);
        key[klen] = 0;
        const char *v = json_string_value(json_object_get(labels, key));
        if (!v || (eq && strcmp(v, eq + 1)))
            return false;
    }
    return true;
}

/* Remove a container and return once it is gone. A removal someone else started (an admin,
 * the engine's OOM path) answers 409 "already in progress" at once while the container still
 * holds the job's volumes and network; wait for it, or removing those fails as "in use". */
static int remove_container(cd_engine *e, const char *id, cd_error_t *err)
{
    if (cd_engine_container_remove(e, id, true, true, err) < 0)
        return -1;
    for (int i = 0; i < 600; i++) { /* 60 s: Docker gives a stopping container 10 s, then KILLs */
        json_auto_t *info = NULL;
        cd_error_t ie = {0};
        int rc = cd_engine_container_inspect(e, id, &info, &ie);
        if (rc < 0 && ie.kind == CD_ERR_NOTFOUND) {
            cd_error_clear(&ie);
            return 0;
        }
        if (rc < 0) {
            *err = ie;
            return -1;
        }
        usleep(100 * 1000);
    }
    return cd_error(err, CD_ERR_SYSTEM, ETIMEDOUT, "container %s: still being removed after 60 s",
                    id);
}

int cd_driver_cleanup(cd_engine *e, const cd_config *cfg, const cd_job *job, cd_error_t *err)
{
    cleanup_free char *name = cd_job_name(job, cfg, NULL);
    cleanup_free char *netname = cd_job_name(job, cfg, "network");
    cleanup_free char *builds_vol = cd_job_volume_name(job, cfg, "builds");
    cleanup_free char *run_dir = cd_driver_run_dir(name);
    cleanup_free char *hname = cd_driver_helper_name(job, cfg);
    cleanup_free char *hrun = cd_driver_run_dir(hname);
    cleanup_free char *f_job = xasprintf("%s=%lld", CD_LABEL_JOB_ID, (long long)job->id);
    cleanup_free char *f_runner = xasprintf("%s=%s", CD_LABEL_RUNNER, job->short_token);
    const char *filter[] = {f_job, f_runner, NULL};
    cd_error_t first = {0}, e1 = {0};

    if (e) {
        /* Containers first: removing one kills its processes (a stage still being SIGTERM-ed
         * included) and frees the volumes and the network. */
        json_auto_t *list = NULL;
        if (cd_engine_container_list(e, filter, &list, &e1) < 0)
            note(&first, &e1);
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            const char *id = json_string_value(json_object_get(c, "Id"));
            if (id && labels_match(c, filter) && remove_container(e, id, &e1) < 0)
                note(&first, &e1);
        }
        if (remove_container(e, name, &e1) < 0)
            note(&first, &e1);
        if (remove_container(e, hname, &e1) < 0)
            note(&first, &e1);

        json_auto_t *nets = NULL;
        if (cd_engine_network_list(e, filter, &nets, &e1) < 0)
            note(&first, &e1);
        json_array_foreach(nets, i, c)
        {
            const char *id = json_string_value(json_object_get(c, "Id"));
            if (id && labels_match(c, filter) && cd_engine_network_remove(e, id, &e1) < 0)
                note(&first, &e1);
        }
        if (!cfg->network_mode || !*cfg->network_mode) {
            if (cd_engine_network_remove(e, netname, &e1) < 0)
                note(&first, &e1);
        }

        json_auto_t *vols = NULL;
        if (cd_engine_volume_list(e, filter, &vols, &e1) < 0)
            note(&first, &e1);
        json_array_foreach(vols, i, c)
        {
            const char *vname = json_string_value(json_object_get(c, "Name"));
            const char *type = label_of(c, CD_LABEL_TYPE);
            if (!vname || !labels_match(c, filter) || (type && !strcmp(type, "cache")) ||
                (cfg->builds_persistent && !strcmp(vname, builds_vol)))
                continue;
            if (cd_engine_volume_remove(e, vname, true, &e1) < 0)
                note(&first, &e1);
        }
        if (!cfg->builds_persistent && cd_engine_volume_remove(e, builds_vol, true, &e1) < 0)
            note(&first, &e1);
    }
    if (cd_driver_rmtree(run_dir, &e1) < 0)
        note(&first, &e1);
    if (cd_driver_rmtree(hrun, &e1) < 0)
        note(&first, &e1);
    if (first.msg) {
        cd_error(err, CD_ERR_SYSTEM, first.errnum, "clean up job %lld: %s", (long long)job->id,
                 first.msg);
        cd_error_clear(&first);
        return -1;
    }
    return 0;
}

/* ---- gc ------------------------------------------------------------------------------------ */

/* Is a conductor-run using this run dir right now? It holds a shared flock on .running. */
static bool job_running(const char *container_name)
{
    cleanup_free char *run_dir = cd_driver_run_dir(container_name);
    cleanup_free char *lockp = xasprintf("%s/.running", run_dir);
    cleanup_close int fd = open(lockp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
        return true;
    flock(fd, LOCK_UN);
    return false;
}

static bool older_than(json_t *obj, int64_t cutoff)
{
    const char *created = label_of(obj, CD_LABEL_CREATED);
    if (!created)
        return false; /* not ours to judge */
    char *end;
    errno = 0;
    long long t = strtoll(created, &end, 10);
    return !errno && end != created && !*end && t < cutoff;
}

static void gsay(cd_driver_log_fn log, void *ud, const char *what, const char *name, bool dry)
{
    char *line = xasprintf("%s %s %s", dry ? "would remove" : "removed", what, name);
    if (log)
        log(ud, line);
    else
        cd_info("%s", line);
    free(line);
}

int cd_driver_gc(cd_engine *e, int64_t max_age_s, const char *runner, bool dry_run,
                 cd_driver_log_fn log, void *ud, cd_driver_gc_stats *st, cd_error_t *err)
{
    cd_driver_gc_stats zero = {0};
    *st = zero;
    int64_t cutoff = (int64_t)time(NULL) - max_age_s;
    cleanup_free char *owner = xasprintf("%s=true", CD_LABEL_OWNER);
    cleanup_free char *by_runner = runner ? xasprintf("%s=%s", CD_LABEL_RUNNER, runner) : NULL;
    cleanup_free char *name_part = runner ? xasprintf("-%s-", runner) : NULL;
    const char *filter[] = {owner, by_runner, NULL};
    cd_error_t first = {0}, e1 = {0};

    json_auto_t *list = NULL;
    if (cd_engine_container_list(e, filter, &list, err) < 0)
        return -1;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *cname = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        if (cname && *cname == '/')
            cname++;
        if (!id || !labels_match(c, filter) || !older_than(c, cutoff))
            continue;
        if (cname && job_running(cname)) {
            st->skipped_running++;
            continue;
        }
        gsay(log, ud, "container", cname ? cname : id, dry_run);
        st->containers++;
        if (dry_run)
            continue;
        if (cd_engine_container_remove(e, id, true, true, &e1) < 0)
            note(&first, &e1);
        if (cname) {
            cleanup_free char *rd = cd_driver_run_dir(cname);
            if (cd_driver_rmtree(rd, &e1) < 0)
                note(&first, &e1);
        }
    }

    json_auto_t *nets = NULL;
    if (cd_engine_network_list(e, filter, &nets, &e1) < 0)
        note(&first, &e1);
    json_array_foreach(nets, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *nname = json_string_value(json_object_get(c, "Name"));
        if (!id || !labels_match(c, filter) || !older_than(c, cutoff))
            continue;
        if (dry_run) {
            gsay(log, ud, "network", nname ? nname : id, true);
            st->networks++;
        } else if (cd_engine_network_remove(e, id, &e1) == 0) {
            gsay(log, ud, "network", nname ? nname : id, false);
            st->networks++;
        } else if (e1.status == 409 || e1.status == 403) {
            cd_error_clear(&e1); /* a live job's container is still attached */
        } else {
            note(&first, &e1);
        }
    }

    json_auto_t *vols = NULL;
    if (cd_engine_volume_list(e, filter, &vols, &e1) < 0)
        note(&first, &e1);
    json_array_foreach(vols, i, c)
    {
        const char *vname = json_string_value(json_object_get(c, "Name"));
        const char *type = label_of(c, CD_LABEL_TYPE);
        /* caches are meant to outlive jobs; a volume still in use fails to delete, fine */
        if (!vname || !labels_match(c, filter) || (type && !strcmp(type, "cache")) ||
            !older_than(c, cutoff))
            continue;
        if (dry_run) {
            gsay(log, ud, "volume", vname, true);
            st->volumes++;
        } else if (cd_engine_volume_remove(e, vname, false, &e1) == 0) {
            gsay(log, ud, "volume", vname, false);
            st->volumes++;
        } else if (e1.status == 409) {
            cd_error_clear(&e1); /* still mounted by a live job: not ours to take */
        } else {
            note(&first, &e1);
        }
    }

    /* Run dirs whose container is gone (a host crash between prepare and cleanup). */
    cleanup_free char *jobs = xasprintf("%s/jobs", cd_driver_state_root());
    DIR *d = opendir(jobs);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            cleanup_free char *p = xasprintf("%s/%s", jobs, de->d_name);
            struct stat sb;
            if ((name_part && !strstr(de->d_name, name_part)) || lstat(p, &sb) < 0 ||
                !S_ISDIR(sb.st_mode) || sb.st_mtime >= cutoff || job_running(de->d_name))
                continue;
            json_auto_t *info = NULL;
            cd_error_t ie = {0};
            int alive = cd_engine_container_inspect(e, de->d_name, &info, &ie);
            cd_error_clear(&ie);
            if (alive == 0)
                continue; /* young container (not reached above) still uses it */
            gsay(log, ud, "run dir", p, dry_run);
            st->run_dirs++;
            if (!dry_run && cd_driver_rmtree(p, &e1) < 0)
                note(&first, &e1);
        }
        closedir(d);
    }
    /* Toolboxes of older agent/git/helper versions: prepare touches the one it uses. */
    cleanup_free char *tbs = xasprintf("%s/toolbox", cd_driver_state_root());
    DIR *td = runner ? NULL : opendir(tbs); /* host-wide: only in an unfiltered gc */
    if (td) {
        struct dirent *de;
        while ((de = readdir(td))) {
            if (de->d_name[0] == '.')
                continue;
            cleanup_free char *p = xasprintf("%s/%s", tbs, de->d_name);
            struct stat sb;
            if (lstat(p, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_mtime >= cutoff)
                continue;
            gsay(log, ud, "toolbox", p, dry_run);
            st->toolboxes++;
            if (!dry_run && cd_driver_rmtree(p, &e1) < 0)
                note(&first, &e1);
        }
        closedir(td);
    }
    if (first.msg) {
        cd_error(err, first.kind ? first.kind : CD_ERR_SYSTEM, first.errnum, "gc: %s", first.msg);
        cd_error_clear(&first);
        return -1;
    }
    return 0;
}
