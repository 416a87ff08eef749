/* Minimal TAP for C tests: exit 0 pass, 1 fail, 77 skip. Assertions print file:line. */
#ifndef CD_TESTS_TAP_H
#define CD_TESTS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                          \
    do {                                                                                       \
        tap_n++;                                                                               \
        if (cond) {                                                                            \
            printf("ok %d - ", tap_n);                                                         \
        } else {                                                                               \
            tap_failed++;                                                                      \
            printf("not ok %d - %s:%d: ", tap_n, __FILE__, __LINE__);                          \
        }                                                                                      \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        fflush(stdout);                                                                        \
    } while (0)

#define is_int(got, want, name)                                                                \
    do {                                                                                       \
        long long _g = (long long)(got), _w = (long long)(want);                               \
        ok(_g == _w, "%s (got %lld, want %lld)", name, _g, _w);                                \
    } while (0)

#define is_str(got, want, name)                                                                \
    do {                                                                                       \
        const char *_g = (got), *_w = (want);                                                  \
        ok(_g && _w && strcmp(_g, _w) == 0, "%s (got \"%s\", want \"%s\")", name,              \
           _g ? _g : "(null)", _w ? _w : "(null)");                                           \
    } while (0)

#define has_str(hay, needle, name)                                                             \
    do {                                                                                       \
        const char *_h = (hay), *_n = (needle);                                                \
        ok(_h && _n && strstr(_h, _n), "%s (\"%s\" in \"%.200s\")", name, _n, _h ? _h : "");   \
    } while (0)

/* Skip the whole test (77) unless CD_TEST_MUST_WORK=1, where a skip is a failure. */
#define tap_skip_all(...)                                                                      \
    do {                                                                                       \
        printf("1..0 # SKIP ");                                                                \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        const char *_mw = getenv("CD_TEST_MUST_WORK");                                         \
        exit(_mw && strcmp(_mw, "1") == 0 ? 1 : 77);                                           \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_n == 0) {
        printf("# no assertions ran\n");
        return 1;
    }
    return tap_failed ? 1 : 0;
}

/* Path of a shared data file: $CD_SHARED_DIR/<rel>. */
static inline const char *tap_shared(const char *rel)
{
    static char buf[4096];
    const char *d = getenv("CD_SHARED_DIR");
    snprintf(buf, sizeof(buf), "%s/%s", d ? d : "../shared", rel);
    return buf;
}

#endif
