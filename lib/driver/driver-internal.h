/* Private to lib/driver. */
#ifndef CD_DRIVER_INTERNAL_H
#define CD_DRIVER_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "driver/driver.h"
#include "job/job.h"
#include "util/error.h"

typedef struct {
    const char *stage;
    const char *shell;        /* "auto", "bash", "sh" */
    const char *path_prepend; /* toolbox dir for helper stages, or NULL */
    const char *const *env;   /* extra "KEY=VALUE", NULL-terminated, or NULL */
    const char *script;
    size_t script_len;
    int out_fd;
    volatile sig_atomic_t *terminate;
    int kill_grace_ms;
} cd_agent_request;

/* Connected socket fd, or -1: CD_ERR_NOTFOUND when no agent listens (fall back), else SYSTEM. */
int cd_agent_connect(const char *run_dir, cd_error_t *err);
/* Run one stage over a connected socket (the fd stays the caller's). */
int cd_agent_run(int fd, const cd_agent_request *req, int *ret_exit, cd_error_t *err);

/* A line for the job log (through log, else the executor's log). */
void cd_driver_say(cd_driver_log_fn log, void *ud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Inspect ch->name, pulling it as its policy says (with the job's registry credentials);
 * *ret_info is the image's inspect object. A pull the job's input caused (no such image,
 * denied) is a BUILD error, engine trouble a SYSTEM one. */
int cd_driver_ensure_image(cd_engine *e, const cd_job *job, const cd_image_choice *ch,
                           cd_driver_log_fn log, void *ud, json_t **ret_info, cd_error_t *err);
/* Start the job's services on `network` (services.c). */
int cd_driver_services_start(cd_engine *e, const cd_config *cfg, const cd_job *job,
                             const char *network, bool aliases, cd_driver_log_fn log, void *ud,
                             cd_error_t *err);

/* Directory of our own executable (new string) or NULL. */
char *cd_driver_self_dir(void);
/* rm -rf, not crossing into mount points; missing is fine. */
int cd_driver_rmtree(const char *path, cd_error_t *err);

#endif
