/* Error objects: every fallible lib/ call returns < 0 (or NULL) and fills a cd_error_t.
 * The kind is decided where the failure is detected; executor/common.c maps it to the
 * runner's BUILD_FAILURE_EXIT_CODE or SYSTEM_FAILURE_EXIT_CODE. See docs/error-handling.md. */
#ifndef CD_UTIL_ERROR_H
#define CD_UTIL_ERROR_H

#include <stdarg.h>

typedef enum {
    CD_ERR_NONE = 0,
    CD_ERR_SYSTEM,   /* engine, network, OOM, our own resources: the runner may retry */
    CD_ERR_BUILD,    /* the job's fault: script failed, bad image name, bad data */
    CD_ERR_USAGE,    /* bad command line or config: a clear message, not retried */
    CD_ERR_NOTFOUND, /* expected "not there" (container gone, wiki page absent) */
    CD_ERR_DATA,     /* malformed input file (training data, archive, response) */
} cd_error_kind;

typedef struct {
    cd_error_kind kind;
    int errnum; /* errno, or 0 */
    int status; /* HTTP status or exit code where one applies, else 0 */
    char *msg;  /* one line, owned */
} cd_error_t;

/* Fill *err (if err != NULL) and return -1, so `return cd_error(err, ...)` is one step.
 * A second call on an already-set error is ignored: the first message wins. */
int cd_error(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cd_verror(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Prefix context: "outer: inner". Returns -1. Keeps the kind and errnum. */
int cd_error_wrap(cd_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cd_error_clear(cd_error_t *err);
const char *cd_error_kind_name(cd_error_kind kind);
static inline const char *cd_error_msg(const cd_error_t *err)
{
    return err && err->msg ? err->msg : "unknown error";
}

#endif
