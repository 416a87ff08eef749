/* Shared glue of the stage programs; see common.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/fdio.h"

static cd_exec_stage cur_stage = CD_STAGE_PREPARE;

FILE *cd_exec_log_stream(void)
{
    return cur_stage == CD_STAGE_CONFIG ? stderr : stdout;
}

/* gitlab-runner's own colours, so our lines look like the runner's */
#define ANSI_YELLOW "\033[0;33m"
#define ANSI_RED "\033[31;1m"
#define ANSI_RESET "\033[0;m"

static void job_log_handler(cd_log_level level, const char *line, void *ud)
{
    (void)ud;
    FILE *out = cd_exec_log_stream();
    /* cleanup's stdout only reaches the runner's debug log: warnings must go to stderr */
    if (cur_stage == CD_STAGE_CLEANUP && level >= CD_LOG_WARN)
        out = stderr;
    switch (level) {
    case CD_LOG_DEBUG:
        fprintf(out, "[conductor debug] %s\n", line);
        break;
    case CD_LOG_INFO:
        fprintf(out, "%s\n", line);
        break;
    case CD_LOG_WARN:
        fprintf(out, ANSI_YELLOW "WARNING: %s" ANSI_RESET "\n", line);
        break;
    case CD_LOG_ERROR:
        fprintf(out, ANSI_RED "ERROR: %s" ANSI_RESET "\n", line);
        break;
    }
    fflush(out);
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static void usage(FILE *f, const char *prog, cd_exec_stage stage)
{
    fprintf(f, "usage: %s [--config FILE] [--debug]%s\n", prog,
            stage == CD_STAGE_RUN ? " [run_args...] SCRIPT STAGE" : "");
    fprintf(f, "Started by gitlab-runner's custom executor; see docs/configuration.md.\n");
}

int cd_exec_init(cd_exec_stage stage, const char *prog, int argc, char **argv, cd_exec_opts *opts,
                 cd_error_t *err)
{
    cur_stage = stage;
    /* stdout may be a pipe to the runner: keep our lines and relayed output in order */
    setvbuf(stdout, NULL, _IOLBF, 0);
    cd_log_set_handler(job_log_handler, NULL);
    *opts = (cd_exec_opts){.prog = prog};
    opts->debug = env_true("CONDUCTOR_DEBUG") || env_true("CUSTOM_ENV_CONDUCTOR_DEBUG");
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return cd_error(err, CD_ERR_USAGE, 0, "%s: --config needs a file", prog);
            opts->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            opts->config_path = a + 9;
        } else if (strcmp(a, "--debug") == 0) {
            opts->debug = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, prog, stage);
            exit(0);
        } else if (a[0] == '-' && a[1] && stage != CD_STAGE_RUN) {
            return cd_error(err, CD_ERR_USAGE, 0, "%s: unknown option `%s`", prog, a);
        } else {
            /* run_exec gets `<run_args...> <script> <stage>`: the rest is positional */
            break;
        }
    }
    opts->args = argv + i;
    opts->n_args = argc - i;
    cd_log_set_level(opts->debug ? CD_LOG_DEBUG : CD_LOG_INFO);
    return 0;
}

static int code_from_env(const char *name, int fallback)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0 || n > 255)
        return fallback;
    return (int)n;
}

int cd_exec_build_failure_code(void)
{
    return code_from_env("BUILD_FAILURE_EXIT_CODE", 1);
}

int cd_exec_system_failure_code(void)
{
    return code_from_env("SYSTEM_FAILURE_EXIT_CODE", 2);
}

int cd_exec_exit_code(const cd_error_t *err)
{
    if (!err || err->kind == CD_ERR_NONE)
        return 0;
    switch (err->kind) {
    case CD_ERR_BUILD:
    case CD_ERR_DATA:
        return cd_exec_build_failure_code();
    default:
        return cd_exec_system_failure_code();
    }
}

int cd_exec_fail(cd_error_t *err)
{
    int code = cd_exec_exit_code(err);
    if (code == 0 && err && err->msg)
        code = cd_exec_system_failure_code(); /* a message without a kind is still a failure */
    if (err && err->msg)
        cd_log(CD_LOG_ERROR, "%s", err->msg);
    cd_error_clear(err);
    return code;
}

int cd_exec_write_build_exit_code(int code, cd_error_t *err)
{
    const char *path = getenv("BUILD_EXIT_CODE_FILE");
    if (!path || !*path)
        return 0;
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "write BUILD_EXIT_CODE_FILE `%s`", path);
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d\n", code);
    if (write(fd, buf, (size_t)n) != n)
        return cd_error(err, CD_ERR_SYSTEM, errno, "write BUILD_EXIT_CODE_FILE `%s`", path);
    return 0;
}

int cd_exec_reset_build_exit_code(cd_error_t *err)
{
    const char *path = getenv("BUILD_EXIT_CODE_FILE");
    if (!path || !*path)
        return 0;
    if (unlink(path) < 0 && errno != ENOENT)
        return cd_error(err, CD_ERR_SYSTEM, errno, "remove stale BUILD_EXIT_CODE_FILE `%s`", path);
    return 0;
}

int cd_exec_script_failed(int code)
{
    cd_error_t err = {0};
    if (cd_exec_write_build_exit_code(code, &err) < 0)
        return cd_exec_fail(&err);
    return cd_exec_build_failure_code();
}

static void section_name(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = in; *p && k + 1 < cap; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            c = '_';
        out[k++] = c;
    }
    out[k] = '\0';
}

void cd_section_start(const char *name, const char *header, bool collapsed)
{
    char n[128];
    section_name(name, n, sizeof(n));
    cleanup_free char *h = cd_log_mask(header, strlen(header));
    FILE *f = cd_exec_log_stream();
    fprintf(f, "\033[0Ksection_start:%lld:%s%s\r\033[0K%s\n", (long long)time(NULL), n,
            collapsed ? "[collapsed=true]" : "", h ? h : "");
    fflush(f);
}

void cd_section_end(const char *name)
{
    char n[128];
    section_name(name, n, sizeof(n));
    FILE *f = cd_exec_log_stream();
    fprintf(f, "\033[0Ksection_end:%lld:%s\r\033[0K\n", (long long)time(NULL), n);
    fflush(f);
}

void cd_exec_print(const char *fmt, ...)
{
    cleanup_free char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0)
        cd_log(CD_LOG_INFO, "%s", s);
}

int cd_exec_write_masked(int fd, const char *buf, size_t len)
{
    /* cd_log_mask works on C strings: mask each NUL-separated segment on its own */
    while (len) {
        const char *nul = memchr(buf, '\0', len);
        size_t seg = nul ? (size_t)(nul - buf) : len;
        cleanup_free char *m = cd_log_mask(buf, seg);
        if (!m) {
            errno = ENOMEM;
            return -1;
        }
        if (cd_write_all(fd, m, strlen(m)) < 0 || (nul && cd_write_all(fd, "", 1) < 0))
            return -1;
        seg += nul ? 1 : 0;
        buf += seg;
        len -= seg;
    }
    return 0;
}
