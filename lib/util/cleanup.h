/* Scope-bound cleanup (systemd/crun style). Use with GNU C's cleanup attribute:
 *   cleanup_free char *s = NULL;   cleanup_close int fd = -1;
 * take_ptr(p) hands ownership out of a cleanup-bound variable. */
#ifndef CD_UTIL_CLEANUP_H
#define CD_UTIL_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CD_DEFINE_CLEANUP(type, fn)                                                              \
    static inline void fn##p(type *p)                                                          \
    {                                                                                          \
        if (*p)                                                                                \
            fn(*p);                                                                            \
    }

static inline void cd_freep(void *p)
{
    free(*(void **)p);
}
static inline void cd_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void cd_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define cleanup_free __attribute__((cleanup(cd_freep)))
#define cleanup_close __attribute__((cleanup(cd_closep)))
#define cleanup_fclose __attribute__((cleanup(cd_fclosep)))

#define take_ptr(p)                                                                            \
    ({                                                                                         \
        typeof(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                            \
        _tp;                                                                                   \
    })
#define take_fd(fd)                                                                            \
    ({                                                                                         \
        int _tf = (fd);                                                                        \
        (fd) = -1;                                                                             \
        _tf;                                                                                   \
    })

/* Zero a secret before it is freed (libgit2/curl practice). */
void cd_free_secret(char *s);

#endif
