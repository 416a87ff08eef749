#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/limits.h"
#include "util/strbuf.h"

void cd_strbuf_init(cd_strbuf *sb, size_t max)
{
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->max = max;
}

static int grow(cd_strbuf *sb, size_t extra)
{
    size_t max = sb->max ? sb->max : CD_MAX_STRBUF;
    if (extra > max || sb->len + extra > max) {
        errno = E2BIG;
        return -1;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    char *nb = realloc(sb->buf, cap);
    if (!nb)
        return -1;
    sb->buf = nb;
    sb->cap = cap;
    return 0;
}

int cd_strbuf_add(cd_strbuf *sb, const void *data, size_t len)
{
    if (grow(sb, len) < 0)
        return -1;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int cd_strbuf_adds(cd_strbuf *sb, const char *s)
{
    return cd_strbuf_add(sb, s, strlen(s));
}

int cd_strbuf_addc(cd_strbuf *sb, char c)
{
    return cd_strbuf_add(sb, &c, 1);
}

int cd_strbuf_vprintf(cd_strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || grow(sb, (size_t)n) < 0)
        return -1;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int cd_strbuf_printf(cd_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = cd_strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
    return r;
}

void cd_strbuf_reset(cd_strbuf *sb)
{
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

char *cd_strbuf_take(cd_strbuf *sb)
{
    char *b = sb->buf ? sb->buf : strdup("");
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return b;
}

void cd_strbuf_done(cd_strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

int cd_strbuf_read_file(cd_strbuf *sb, const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t old = sb->max;
    sb->max = max;
    char chunk[65536];
    int r = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -1;
            break;
        }
        if (n == 0)
            break;
        if (cd_strbuf_add(sb, chunk, (size_t)n) < 0) {
            r = -1;
            break;
        }
    }
    int saved = errno;
    close(fd);
    sb->max = old;
    if (!sb->buf && r == 0)
        r = cd_strbuf_add(sb, "", 0);
    errno = saved;
    return r;
}
