/* Private to lib/driver. */
#ifndef CD_DRIVER_INTERNAL_H
#define CD_DRIVER_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

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

/* Directory of our own executable (new string) or NULL. */
char *cd_driver_self_dir(void);
/* rm -rf, not crossing into mount points; missing is fine. */
int cd_driver_rmtree(const char *path, cd_error_t *err);

#endif
