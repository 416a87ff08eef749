/* Small host-side helpers of the driver: where our state lives, our own binaries. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

const char *cd_driver_state_root(void)
{
    const char *s = getenv("CONDUCTOR_RUN_DIR");
    return s && *s == '/' ? s : "/run/conductor";
}

char *cd_driver_run_dir(const char *container_name)
{
    return xasprintf("%s/jobs/%s", cd_driver_state_root(), container_name);
}

bool cd_driver_helper_container(const cd_config *cfg)
{
    return cfg->helper_mode && !strcmp(cfg->helper_mode, "container") && cfg->helper_image;
}

char *cd_driver_helper_name(const cd_job *job, const cd_config *cfg)
{
    cleanup_free char *name = cd_job_name(job, cfg, NULL);
    return xasprintf("%s-helper", name);
}

char *cd_driver_self_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    return xstrdup(buf);
}

char *cd_driver_sibling_path(const char *name)
{
    cleanup_free char *dir = cd_driver_self_dir();
    return dir ? xasprintf("%s/%s", dir, name) : NULL;
}

#define beside_self cd_driver_sibling_path

char *cd_driver_agent_path(void)
{
    const char *s = getenv("CONDUCTOR_AGENT");
    if (s && *s)
        return xstrdup(s);
    char *p = beside_self("conductor-agent");
    if (p && access(p, X_OK) == 0)
        return p;
    free(p);
    /* build tree: the agent is built into executor/agent/ next to executor/ */
    p = beside_self("agent/conductor-agent");
    return p;
}

char *cd_driver_nlu_path(const cd_config *cfg)
{
    if (cfg->conductor_nlu && *cfg->conductor_nlu)
        return xstrdup(cfg->conductor_nlu);
    return beside_self("conductor-nlu");
}

int cd_driver_mkdirs(const char *path, mode_t mode, cd_error_t *err)
{
    cleanup_free char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, mode) < 0 && errno != EEXIST)
                return cd_error(err, CD_ERR_SYSTEM, errno, "create directory `%s`: %s", p,
                                strerror(errno));
            *s = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int cd_driver_rmtree(const char *path, cd_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0 && errno == ENOENT)
        return 0;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return cd_error(err, CD_ERR_SYSTEM, errno, "remove `%s`: %s", path, strerror(errno));
    return 0;
}
