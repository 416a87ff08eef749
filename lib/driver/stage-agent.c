/* Running a stage through the job container's agent (no engine involved). */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Stages the docker executor runs in its helper container (protocol doc §7.1). */
static const char *const helper_stages[] = {
    "prepare_script",
    "get_sources",
    "clear_worktree",
    "restore_cache",
    "download_artifacts",
    "archive_cache",
    "archive_cache_on_failure",
    "upload_artifacts_on_success",
    "upload_artifacts_on_failure",
    "cleanup_file_variables",
};

bool cd_driver_is_helper_stage(const char *stage)
{
    for (size_t i = 0; i < sizeof helper_stages / sizeof *helper_stages; i++)
        if (!strcmp(stage, helper_stages[i]))
            return true;
    return false;
}

char *cd_driver_stage_container(const cd_config *cfg, const cd_job *job, const char *stage)
{
    return cd_driver_is_helper_stage(stage) && cd_driver_helper_container(cfg)
               ? cd_driver_helper_name(job, cfg)
               : cd_job_name(job, cfg, NULL);
}

char *cd_driver_stage_path(const cd_config *cfg, const char *stage)
{
    if (!cd_driver_is_helper_stage(stage))
        return NULL;
    const char *mnt = cfg->mount_dir ? cfg->mount_dir : "/opt/conductor/bin";
    /* in the helper image: its own git and gitlab-runner-helper, through the shim */
    return cd_driver_helper_container(cfg) ? xasprintf("%s/helper-shim", mnt) : xstrdup(mnt);
}

int cd_driver_run_stage_agent(const cd_config *cfg, const cd_job *job, const cd_driver_stage *st,
                              int *ret_exit, cd_error_t *err)
{
    cleanup_free char *name = cd_driver_stage_container(cfg, job, st->stage);
    cleanup_free char *run_dir = cd_driver_run_dir(name);
    int fd = cd_agent_connect(run_dir, err);
    if (fd < 0)
        return -1;
    /* A shared lock on the run dir tells `conductor gc` this job is alive. */
    cleanup_free char *lockp = xasprintf("%s/.running", run_dir);
    cleanup_close int lock = open(lockp, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)
        flock(lock, LOCK_SH | LOCK_NB);
    cleanup_free char *path = cd_driver_stage_path(cfg, st->stage);
    cd_agent_request req = {
        .stage = st->stage,
        .shell = "auto",
        .path_prepend = path,
        .script = st->script,
        .script_len = st->script_len,
        .out_fd = st->out_fd,
        .terminate = st->terminate,
        .kill_grace_ms = st->kill_grace_ms,
    };
    int rc = cd_agent_run(fd, &req, ret_exit, err);
    close(fd);
    return rc;
}
