/* executor/common.c: the error-kind → exit-code mapping (codes from the environment),
 * BUILD_EXIT_CODE_FILE, option parsing, sections and masking. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "tap.h"
#include "util/log.h"

static char *slurp(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n >= 0 ? buf : NULL;
}

/* Run fn with stdout redirected to a temp file; return what it printed. */
static char *capture(void (*fn)(void))
{
    static char path[] = "/tmp/cd-execcommon-XXXXXX";
    strcpy(path, "/tmp/cd-execcommon-XXXXXX");
    int fd = mkstemp(path);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    fn();
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
    char *s = slurp(path);
    unlink(path);
    return s;
}

static void sections(void)
{
    cd_section_start("Pull Image!", "Pulling `alpine` with hunter2-secret", true);
    cd_section_end("Pull Image!");
}

static void print_secret(void)
{
    cd_exec_print("token is %s", "hunter2-secret");
    cd_exec_write_masked(1, "raw hunter2-secret\0tail hunter2-secret\n", 39);
}

int main(void)
{
    cd_error_t err = {0};
    unsetenv("BUILD_FAILURE_EXIT_CODE");
    unsetenv("SYSTEM_FAILURE_EXIT_CODE");
    is_int(cd_exec_build_failure_code(), 1, "outside a runner: the runner's value 1");
    is_int(cd_exec_system_failure_code(), 2, "outside a runner: 2");
    setenv("BUILD_FAILURE_EXIT_CODE", "17", 1);
    setenv("SYSTEM_FAILURE_EXIT_CODE", "23", 1);
    cd_error_t e = {.kind = CD_ERR_BUILD};
    is_int(cd_exec_exit_code(&e), 17, "BUILD → $BUILD_FAILURE_EXIT_CODE");
    e.kind = CD_ERR_DATA;
    is_int(cd_exec_exit_code(&e), 17, "DATA → build failure");
    e.kind = CD_ERR_SYSTEM;
    is_int(cd_exec_exit_code(&e), 23, "SYSTEM → $SYSTEM_FAILURE_EXIT_CODE");
    e.kind = CD_ERR_USAGE;
    is_int(cd_exec_exit_code(&e), 23, "USAGE (our config) → system failure");
    e.kind = CD_ERR_NOTFOUND;
    is_int(cd_exec_exit_code(&e), 23, "NOTFOUND → system failure");
    e.kind = CD_ERR_NONE;
    is_int(cd_exec_exit_code(&e), 0, "no error → 0");
    setenv("SYSTEM_FAILURE_EXIT_CODE", "x9", 1);
    is_int(cd_exec_system_failure_code(), 2, "garbage in the env → documented default");

    /* option parsing: run_exec gets <run_args...> <script> <stage> */
    char *argv[] = {"conductor-run", "--config",     "/etc/c.conf", "--debug",
                    "/tmp/s/script", "build_script", NULL};
    cd_exec_opts o;
    ok(cd_exec_init(CD_STAGE_RUN, "conductor-run", 6, argv, &o, &err) == 0, "run options");
    ok(o.config_path && strcmp(o.config_path, "/etc/c.conf") == 0 && o.debug && o.n_args == 2 &&
           strcmp(o.args[1], "build_script") == 0,
       "--config, --debug, then positional script and stage");
    char *bad[] = {"conductor-prepare", "--frob", NULL};
    ok(cd_exec_init(CD_STAGE_PREPARE, "conductor-prepare", 2, bad, &o, &err) < 0 &&
           err.kind == CD_ERR_USAGE && strstr(err.msg, "unknown option `--frob`"),
       "unknown option is a usage error");
    cd_error_clear(&err);
    char *eq[] = {"conductor-cleanup", "--config=/x.conf", NULL};
    ok(cd_exec_init(CD_STAGE_CLEANUP, "conductor-cleanup", 2, eq, &o, &err) == 0 &&
           strcmp(o.config_path, "/x.conf") == 0 && o.n_args == 0,
       "--config=FILE form");

    /* BUILD_EXIT_CODE_FILE */
    char dir[] = "/tmp/cd-exitcode-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char path[128];
    snprintf(path, sizeof(path), "%s/build_exit_code", dir);
    setenv("BUILD_EXIT_CODE_FILE", path, 1);
    setenv("BUILD_FAILURE_EXIT_CODE", "1", 1);
    setenv("SYSTEM_FAILURE_EXIT_CODE", "2", 1);
    is_int(cd_exec_script_failed(42), 1, "script failure → build failure code");
    is_str(slurp(path), "42\n", "exit code file holds N on its first line");
    ok(cd_exec_reset_build_exit_code(&err) == 0 && access(path, F_OK) < 0, "reset removes it");
    ok(cd_exec_reset_build_exit_code(&err) == 0, "reset of a missing file is fine");
    unsetenv("BUILD_EXIT_CODE_FILE");
    ok(cd_exec_write_build_exit_code(3, &err) == 0, "no variable: nothing to write");
    snprintf(path, sizeof(path), "%s/missing/dir/file", dir);
    setenv("BUILD_EXIT_CODE_FILE", path, 1);
    is_int(cd_exec_script_failed(5), 2, "unwritable exit code file → system failure");
    unsetenv("BUILD_EXIT_CODE_FILE");
    rmdir(dir);

    /* sections and masking on the job-log stream (stdout for run) */
    char *sargv[] = {"conductor-run", NULL};
    cd_exec_init(CD_STAGE_RUN, "conductor-run", 1, sargv, &o, &err);
    cd_log_register_secret("hunter2-secret");
    char *s = capture(sections);
    has_str(s, "\033[0Ksection_start:", "section start marker");
    has_str(s, ":pull_image_[collapsed=true]\r\033[0KPulling `alpine` with [MASKED]\n",
            "name folded to GitLab's charset, collapsed, header masked");
    has_str(s, "\033[0Ksection_end:", "section end marker");
    has_str(s, ":pull_image_\r\033[0K\n", "end names the same section");
    ok(!strstr(s, "hunter2"), "no secret in sections");
    s = capture(print_secret);
    has_str(s, "token is [MASKED]\n", "job-log line masked");
    ok(memmem(s, 4095, "raw [MASKED]\0tail [MASKED]\n", 27) != NULL,
       "raw output masked on both sides of a NUL byte");
    cd_log_clear_secrets();
    return tap_done();
}
