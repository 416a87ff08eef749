/* conductor-prepare (prepare_exec): pull the image, create and start the job container.
 * Exit 0, BUILD_FAILURE_EXIT_CODE for the job's own fault (bad or disallowed image, `never`
 * policy with an absent image, pull denied), SYSTEM_FAILURE_EXIT_CODE for engine trouble (the
 * runner retries; a failed attempt leaves nothing behind). See docs/executor.md. */
#include <stdio.h>

#include "common.h"
#include "driver/driver.h"

static void log_line(void *userdata, const char *line)
{
    (void)userdata;
    cd_exec_print("%s", line);
}

int main(int argc, char **argv)
{
    cd_error_t err = {0};
    cd_exec_opts o;
    cd_config *cfg = NULL;
    cd_job *job = NULL;
    cd_engine *e = NULL;
    if (cd_exec_init(CD_STAGE_PREPARE, "conductor-prepare", argc, argv, &o, &err) < 0 ||
        cd_config_load(o.config_path, &cfg, &err) < 0 || cd_job_load(NULL, &job, &err) < 0)
        goto out;
    cd_section_start("conductor_prepare", "Preparing the job container (Conductor)", true);
    e = cd_driver_engine_open(cfg, NULL, &err);
    if (e) {
        cd_exec_print("Using the container engine at %s (API %s)", cd_engine_endpoint(e),
                      cd_engine_api_version(e));
        cd_driver_prepare(e, cfg, job, log_line, NULL, &err);
    }
    cd_section_end("conductor_prepare");
out:
    cd_engine_close(e);
    cd_job_free(job);
    cd_config_free(cfg);
    return err.kind ? cd_exec_fail(&err) : 0;
}
