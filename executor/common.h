/* Glue shared by the four stage programs (conductor-config, -prepare, -run, -cleanup):
 * option parsing, the job-log handler, the one mapping from error kind to the runner's exit
 * codes, BUILD_EXIT_CODE_FILE, and GitLab collapsible sections. See docs/error-handling.md
 * and ../shared/docs/custom-executor-protocol.md §3, §8. */
#ifndef CD_EXECUTOR_COMMON_H
#define CD_EXECUTOR_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

typedef enum {
    CD_STAGE_CONFIG,  /* stdout is the JSON protocol: every log line goes to stderr */
    CD_STAGE_PREPARE, /* stdout and stderr both reach the job log */
    CD_STAGE_RUN,     /* same; the relayed script output also goes to stdout */
    CD_STAGE_CLEANUP, /* stdout → runner log at DEBUG, stderr → runner log at WARN */
} cd_exec_stage;

typedef struct {
    const char *prog;        /* "conductor-config" ... for messages */
    const char *config_path; /* --config FILE, or NULL (then the default path, if present) */
    char **args;             /* positional arguments after the options (borrowed from argv) */
    int n_args;
    bool debug; /* --debug, CONDUCTOR_DEBUG=1 or CUSTOM_ENV_CONDUCTOR_DEBUG=1 */
} cd_exec_opts;

/* Parse `[--config FILE] [--debug] [--] args...` and install the job-log handler for the
 * stage. `--help` prints usage and exits 0; a bad option is a USAGE error. */
int cd_exec_init(cd_exec_stage stage, const char *prog, int argc, char **argv, cd_exec_opts *opts,
                 cd_error_t *err);

/* The stream our own job-log lines go to for this stage (stderr for config, stdout else). */
FILE *cd_exec_log_stream(void);

/* Exit codes from the runner's environment: BUILD_FAILURE_EXIT_CODE and
 * SYSTEM_FAILURE_EXIT_CODE (§4). When a variable is missing or not a number 0-255 (we were
 * started by hand, not by gitlab-runner) the documented runner values 1 and 2 apply. */
int cd_exec_build_failure_code(void);
int cd_exec_system_failure_code(void);

/* The one mapping: NONE → 0; BUILD and DATA → build failure (the job's fault, not retried);
 * SYSTEM, USAGE (our config, our command line), NOTFOUND and anything else → system failure
 * (the runner retries prepare on it, and it shows as "Job failed (system failure)"). */
int cd_exec_exit_code(const cd_error_t *err);

/* Log the error as the job-log ERROR line (masked) and return cd_exec_exit_code(err);
 * clears err. Use as `return cd_exec_fail(&err);` at the end of main. */
int cd_exec_fail(cd_error_t *err);

/* A job script exited with `code` (non-zero): write it to BUILD_EXIT_CODE_FILE (first line,
 * "N\n", so allow_failure:exit_codes works) and return the build failure exit code. If the
 * file cannot be written, that is a system failure (logged) and the system code is returned. */
int cd_exec_script_failed(int code);
/* Write `code` to BUILD_EXIT_CODE_FILE. No-op (0) when the variable is unset. */
int cd_exec_write_build_exit_code(int code, cd_error_t *err);
/* Remove a stale BUILD_EXIT_CODE_FILE: the runner never deletes it between stages (§8.1), so
 * conductor-run calls this first. Missing is fine. */
int cd_exec_reset_build_exit_code(cd_error_t *err);

/* GitLab collapsible sections on the job-log stream:
 *   \e[0Ksection_start:<unix ts>:<name>[collapsed=true]\r\e[0K<header>
 *   \e[0Ksection_end:<unix ts>:<name>\r\e[0K
 * `name` is reduced to [a-z0-9_.-] (GitLab's rule); the header is masked. */
void cd_section_start(const char *name, const char *header, bool collapsed);
void cd_section_end(const char *name);

/* A job-log line (masked, through the log handler at INFO). */
void cd_exec_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write raw job output (e.g. relayed script output) to fd after masking registered secrets.
 * Returns 0 or -1 (errno set). Masking is per call: callers pass whole lines or large
 * chunks; the runner masks the log again on its side (§10). */
int cd_exec_write_masked(int fd, const char *buf, size_t len);

#endif
