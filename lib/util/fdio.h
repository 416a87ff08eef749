/* Whole-buffer reads and writes on a file descriptor, retrying short counts and EINTR.
 * Header-only so the static conductor-agent (libc only) shares them too. */
#ifndef CD_UTIL_FDIO_H
#define CD_UTIL_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* 0 when all len bytes were written, -1 with errno set otherwise. */
static inline int cd_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 0 when all len bytes were read, -1 on error or end of file first. */
static inline int cd_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

#endif
