/* cd_driver_run_stage: through the agent socket, or an engine exec when there is no agent. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "driver/agent-proto.h"
#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- engine exec fallback ---------------------------------------------------------------- */

/* The wrapper records its pid (it becomes the shell via exec) so a SIGTERM can be forwarded
 * with a second exec: signals never cross an engine exec by themselves. */
#define PIDFILE "/tmp/.conductor-stage.pid"
static const char exec_wrapper[] =
    "echo $$ > " PIDFILE " 2>/dev/null; "
    "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi";

/* Over TLS the engine connection cannot be hijacked for stdin, so the script is copied in
 * with an archive put and read from there. The redirection opens it before `rm` runs: the
 * file (it holds the job's exported variables) is gone before the first command. */
#define SCRIPT_DIR "/tmp"
#define SCRIPT_NAME ".conductor-stage.sh"
static const char file_wrapper[] =
    "echo $$ > " PIDFILE " 2>/dev/null; "
    "{ rm -f " SCRIPT_DIR "/" SCRIPT_NAME "; "
    "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi; } < " SCRIPT_DIR
    "/" SCRIPT_NAME;

static bool copy_script_in(void)
{
    const char *v = getenv("CONDUCTOR_EXEC_SCRIPT_COPY"); /* forces this path, for tests */
    return v && strcmp(v, "1") == 0;
}

typedef struct {
    int fd;
} exec_out;

static int on_exec_output(int stream, const char *data, size_t len, void *userdata)
{
    (void)stream;
    exec_out *o = userdata;
    while (len) {
        ssize_t n = write(o->fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void exec_kill(cd_engine *e, const char *container, const char *sig)
{
    cleanup_free char *cmd = xasprintf("p=$(cat " PIDFILE " 2>/dev/null) && "
                                       "{ kill -%s -$p 2>/dev/null || kill -%s $p; }",
                                       sig, sig);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    cd_engine_exec_config c = {.cmd = argv, .attach_stdout = true, .attach_stderr = true};
    int code;
    cd_error_t err = {0};
    if (cd_engine_exec_run(e, container, &c, NULL, 0, NULL, NULL, &code, &err) < 0)
        cd_warn("forward SIG%s into `%s`: %s, ignoring", sig, container, cd_error_msg(&err));
    cd_error_clear(&err);
}

static int run_exec(cd_engine **ep, const cd_config *cfg, const char *container,
                    const cd_driver_stage *st, int *ret_exit, cd_error_t *err)
{
    if (!*ep && !(*ep = cd_driver_engine_open(cfg, st->terminate, err)))
        return -1;
    cleanup_free char *path = cd_driver_stage_path(cfg, st->stage);
    cleanup_free char *path_env = NULL;
    const char *envv[2] = {NULL, NULL};
    if (path) {
        /* a remote engine has no toolbox mount: then this is a no-op prefix */
        path_env =
            xasprintf("PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", path);
        envv[0] = path_env;
    }
    const char *argv[] = {"sh", "-c", exec_wrapper, NULL};
    cd_engine_exec_config c = {.cmd = argv,
                               .env = envv[0] ? envv : NULL,
                               .attach_stdin = true,
                               .attach_stdout = true,
                               .attach_stderr = true};
    exec_out o = {.fd = st->out_fd};
    cd_error_t xerr = {0};
    int rc = -1;
    if (!copy_script_in())
        rc = cd_engine_exec_run(*ep, container, &c, st->script, st->script_len, on_exec_output, &o,
                                ret_exit, &xerr);
    if (copy_script_in() || (rc < 0 && xerr.kind == CD_ERR_USAGE)) {
        /* CD_ERR_USAGE: the engine refused stdin (a TLS connection); nothing ran yet */
        cd_error_clear(&xerr);
        cd_engine_put_entry ent = {.name = SCRIPT_NAME,
                                   .type = CD_ENGINE_ENTRY_FILE,
                                   .data = st->script,
                                   .len = st->script_len,
                                   .mode = 0600};
        const char *fargv[] = {"sh", "-c", file_wrapper, NULL};
        c.cmd = fargv;
        c.attach_stdin = false;
        rc = cd_engine_archive_put(*ep, container, SCRIPT_DIR, &ent, 1, &xerr);
        if (rc == 0)
            rc = cd_engine_exec_run(*ep, container, &c, NULL, 0, on_exec_output, &o, ret_exit,
                                    &xerr);
    }
    if (rc < 0 && st->terminate && *st->terminate) {
        /* interrupted by SIGTERM: the engine call gave up; stop the script inside */
        cd_error_clear(&xerr);
        cd_engine_close(*ep);
        if (!(*ep = cd_driver_engine_open(cfg, NULL, err)))
            return -1;
        exec_kill(*ep, container, "TERM");
        usleep((useconds_t)(st->kill_grace_ms > 0 ? st->kill_grace_ms : 1000) * 1000);
        exec_kill(*ep, container, "KILL");
        *ret_exit = 128 + 15;
        return 0;
    }
    if (rc < 0) {
        cd_error(err, xerr.kind == CD_ERR_NOTFOUND ? CD_ERR_SYSTEM : xerr.kind, xerr.errnum,
                 "stage `%s` in `%s`: %s", st->stage, container, cd_error_msg(&xerr));
        cd_error_clear(&xerr);
        return -1;
    }
    return 0;
}

int cd_driver_run_stage(cd_engine **ep, const cd_config *cfg, const cd_job *job,
                        const cd_driver_stage *st, int *ret_exit, cd_error_t *err)
{
    if (!st->force_exec) {
        cd_error_t aerr = {0};
        if (cd_driver_run_stage_agent(cfg, job, st, ret_exit, &aerr) == 0)
            return 0;
        if (aerr.kind != CD_ERR_NOTFOUND) {
            cd_error(err, aerr.kind, aerr.errnum, "%s", cd_error_msg(&aerr));
            cd_error_clear(&aerr);
            return -1;
        }
        cd_debug("%s; falling back to an engine exec", cd_error_msg(&aerr));
        cd_error_clear(&aerr);
    }
    cleanup_free char *name = cd_driver_stage_container(cfg, job, st->stage);
    return run_exec(ep, cfg, name, st, ret_exit, err);
}
