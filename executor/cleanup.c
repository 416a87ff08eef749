/* conductor-cleanup (cleanup_exec): remove everything of this job. Idempotent: nothing to
 * remove is success, and it is safe while a conductor-run of the same job is still being
 * SIGTERM-ed (removing the container kills the stage). Its output goes to the runner's own
 * log, not the job log. */
#include <stdio.h>

#include "common.h"
#include "driver/driver.h"

int main(int argc, char **argv)
{
    cd_error_t err = {0};
    cd_exec_opts o;
    cd_config *cfg = NULL;
    cd_job *job = NULL;
    cd_engine *e = NULL;
    if (cd_exec_init(CD_STAGE_CLEANUP, "conductor-cleanup", argc, argv, &o, &err) < 0 ||
        cd_config_load(o.config_path, &cfg, &err) < 0 || cd_job_load(NULL, &job, &err) < 0)
        goto out;
    cd_error_t eerr = {0};
    e = cd_driver_engine_open(cfg, NULL, &eerr);
    /* Without an engine the host side (the run dir) is still ours to remove. */
    cd_driver_cleanup(e, cfg, job, &err);
    if (!e) {
        cd_error_clear(&err);
        err = eerr;
    }
out:
    cd_engine_close(e);
    cd_job_free(job);
    cd_config_free(cfg);
    return err.kind ? cd_exec_fail(&err) : 0;
}
