#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int cd_verror(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, va_list ap)
{
    if (!err || err->msg)
        return -1;
    char *m = NULL;
    char *full = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    if (m && errnum) {
        if (asprintf(&full, "%s: %s", m, strerror(errnum)) < 0)
            full = NULL;
        free(m);
        m = full;
    }
    err->kind = kind;
    err->errnum = errnum;
    err->msg = m ? m : strdup("out of memory while formatting an error");
    return -1;
}

int cd_error(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cd_verror(err, kind, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int cd_error_wrap(cd_error_t *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char *outer = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&outer, fmt, ap) < 0)
        outer = NULL;
    va_end(ap);
    if (!outer)
        return -1;
    char *joined = NULL;
    if (asprintf(&joined, "%s: %s", outer, err->msg ? err->msg : "unknown error") >= 0) {
        free(err->msg);
        err->msg = joined;
        if (err->kind == CD_ERR_NONE)
            err->kind = CD_ERR_SYSTEM;
    }
    free(outer);
    return -1;
}

void cd_error_clear(cd_error_t *err)
{
    if (!err)
        return;
    free(err->msg);
    memset(err, 0, sizeof(*err));
}

const char *cd_error_kind_name(cd_error_kind kind)
{
    switch (kind) {
    case CD_ERR_NONE: return "none";
    case CD_ERR_SYSTEM: return "system failure";
    case CD_ERR_BUILD: return "build failure";
    case CD_ERR_USAGE: return "usage error";
    case CD_ERR_NOTFOUND: return "not found";
    case CD_ERR_DATA: return "data error";
    }
    return "unknown";
}
