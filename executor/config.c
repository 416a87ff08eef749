/* conductor-config: gitlab-runner's config_exec (protocol doc §6).
 *
 * stdout is a protocol: exactly one JSON object and a newline, nothing else, ever. Every
 * diagnostic goes to stderr (which the runner shows in the job log). On failure stdout stays
 * empty and the exit code says build or system failure. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "config/config.h"
#include "job/job.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Build the config_exec answer for `job` under `cfg`. New JSON object or NULL + err. */
static json_t *config_answer(const cd_job *job, const cd_config *cfg, cd_error_t *err)
{
    cleanup_free char *builds = cd_job_builds_dir(job, cfg);
    cleanup_free char *cache = cd_job_cache_dir(job, cfg);
    cleanup_free char *container = cd_job_name(job, cfg, NULL);
    cleanup_free char *network = cd_job_name(job, cfg, "network");
    cleanup_free char *bvol = cd_job_volume_name(job, cfg, "builds");
    cleanup_free char *cvol = cd_job_volume_name(job, cfg, "cache");
    char host[256];
    /* "Running on <container> via <host>": the host name is the machine the engine runs on
     * for local sockets, which is what an admin needs to find a job */
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    char jobid[24];
    snprintf(jobid, sizeof(jobid), "%lld", (long long)job->id);
    if (!builds || !cache || !container || !network || !bvol || !cvol) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "build config answer");
        return NULL;
    }
    json_t *env =
        json_pack("{s:s, s:s, s:s, s:s}", "CONDUCTOR_CONTAINER", container, "CONDUCTOR_NETWORK",
                  network, "CONDUCTOR_BUILDS_VOLUME", bvol, "CONDUCTOR_JOB_ID", jobid);
    if (env && cfg->cache_enabled)
        json_object_set_new(env, "CONDUCTOR_CACHE_VOLUME", json_string(cvol));
    json_t *out =
        env ? json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}, s:o}", "builds_dir", builds,
                        "cache_dir", cache, "builds_dir_is_shared", 0, "hostname", host, "driver",
                        "name", "conductor", "version", CD_VERSION, "job_env", env)
            : NULL;
    if (!out)
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "build config answer");
    return out;
}

int main(int argc, char **argv)
{
    cd_error_t err = {0};
    cd_exec_opts opts;
    cd_config *cfg = NULL;
    cd_job *job = NULL;
    json_t *answer = NULL;
    char *text = NULL;
    int code = 0;

    if (cd_exec_init(CD_STAGE_CONFIG, "conductor-config", argc, argv, &opts, &err) < 0 ||
        cd_config_load(opts.config_path, &cfg, &err) < 0 || cd_job_load(NULL, &job, &err) < 0 ||
        !(answer = config_answer(job, cfg, &err))) {
        code = cd_exec_fail(&err);
        goto out;
    }
    if (opts.n_args > 0)
        cd_log(CD_LOG_WARN, "conductor-config: ignoring %d extra argument(s)", opts.n_args);
    text = json_dumps(answer, JSON_COMPACT);
    /* one write of the whole answer: a partial JSON must never reach the runner */
    if (!text || printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        cd_error(&err, CD_ERR_SYSTEM, text ? errno : ENOMEM, "write the answer to stdout");
        code = cd_exec_fail(&err);
        goto out;
    }
    cd_log(CD_LOG_DEBUG, "config: builds_dir %s, cache_dir %s, container %s",
           json_string_value(json_object_get(answer, "builds_dir")),
           json_string_value(json_object_get(answer, "cache_dir")),
           json_string_value(
               json_object_get(json_object_get(answer, "job_env"), "CONDUCTOR_CONTAINER")));
out:
    free(text);
    json_decref(answer);
    cd_job_free(job);
    cd_config_free(cfg);
    return code;
}
