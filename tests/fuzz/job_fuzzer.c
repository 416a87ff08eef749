/* JOB_RESPONSE_FILE, CUSTOM_ENV_CI_JOB_SERVICES and DOCKER_AUTH_CONFIG parsing (lib/job).
 * The first byte picks the parser; the rest is its input. Names, labels and the image choice
 * run on every job that loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "job/job.h"
#include "util/cleanup.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 3;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    cd_error_t err = {0};
    if (mode == 2) {
        cd_registry_cred *creds = NULL;
        size_t n = 0;
        (void)cd_docker_auth_parse(text, "fuzz", &creds, &n, &err);
        for (size_t i = 0; i < n; i++) {
            free(creds[i].registry);
            cd_free_secret(creds[i].username);
            cd_free_secret(creds[i].password);
        }
        free(creds);
    } else {
        char svc[(64u << 10) + 32];
        char *env[] = {"CUSTOM_ENV_CI_JOB_ID=1", "CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN=tok", NULL,
                       NULL};
        if (mode == 1) {
            /* as CI_JOB_SERVICES (bounded: env values are C strings anyway) */
            snprintf(svc, sizeof(svc), "CUSTOM_ENV_CI_JOB_SERVICES=%s", text);
            env[2] = svc;
        }
        cd_job *job = NULL;
        if (cd_job_load_from(env, mode == 0 ? text : NULL, mode == 0 ? strlen(text) : 0, &job,
                             &err) == 0) {
            cd_config *cfg = cd_config_new();
            cd_image_choice ch;
            char *n = cd_job_name(job, cfg, "network");
            json_t *l = cd_job_labels(job, "build", 1);
            if (!n || !l)
                abort();
            (void)cd_job_pick_image(job, cfg, &ch, &err);
            if (job->image.name)
                (void)cd_job_registry_cred(job, job->image.name);
            free(n);
            json_decref(l);
            cd_config_free(cfg);
            cd_job_free(job);
        }
    }
    cd_error_clear(&err);
    cd_log_clear_secrets();
    free(text);
    return 0;
}
