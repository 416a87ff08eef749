/* One growable string type (curl dynbuf / libgit2 git_str). Always NUL-terminated.
 * Each buffer has a maximum; growing past it fails with -1 (errno E2BIG) instead of
 * eating memory on hostile input. */
#ifndef CD_UTIL_STRBUF_H
#define CD_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    size_t max; /* 0 means CD_MAX_STRBUF */
} cd_strbuf;

#define CD_STRBUF_INIT {NULL, 0, 0, 0}

void cd_strbuf_init(cd_strbuf *sb, size_t max);
int cd_strbuf_add(cd_strbuf *sb, const void *data, size_t len);
int cd_strbuf_adds(cd_strbuf *sb, const char *s);
int cd_strbuf_addc(cd_strbuf *sb, char c);
int cd_strbuf_printf(cd_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cd_strbuf_vprintf(cd_strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void cd_strbuf_reset(cd_strbuf *sb);
/* Hand the buffer to the caller (never NULL on success: "" for an empty buffer). */
char *cd_strbuf_take(cd_strbuf *sb);
void cd_strbuf_done(cd_strbuf *sb);
static inline const char *cd_strbuf_str(const cd_strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

/* Read a whole file (bounded by max) into sb. Returns -1 with errno set. */
int cd_strbuf_read_file(cd_strbuf *sb, const char *path, size_t max);

#endif
