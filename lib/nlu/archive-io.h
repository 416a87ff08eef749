/* Little-endian binary component files: a growable writer and a bounds-checked reader (the
 * reader never trusts a length it reads: every count is checked against the bytes left).
 * Internal to lib/nlu. */
#ifndef CD_NLU_ARCHIVE_IO_H
#define CD_NLU_ARCHIVE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    bool oom;
} cd_nlu_wbuf;

static inline void cd_nlu_w_bytes(cd_nlu_wbuf *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t c = w->cap ? w->cap : 4096;
        while (c < w->len + n)
            c *= 2;
        unsigned char *b = realloc(w->buf, c);
        if (!b) {
            w->oom = true;
            return;
        }
        w->buf = b;
        w->cap = c;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static inline void cd_nlu_w_u32(cd_nlu_wbuf *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    cd_nlu_w_bytes(w, b, 4);
}

static inline void cd_nlu_w_f32(cd_nlu_wbuf *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    cd_nlu_w_u32(w, v);
}

static inline void cd_nlu_w_f64(cd_nlu_wbuf *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    cd_nlu_w_u32(w, (uint32_t)v);
    cd_nlu_w_u32(w, (uint32_t)(v >> 32));
}

static inline void cd_nlu_w_str(cd_nlu_wbuf *w, const char *s, size_t n)
{
    cd_nlu_w_u32(w, (uint32_t)n);
    cd_nlu_w_bytes(w, s, n);
}

typedef struct {
    const unsigned char *p;
    size_t left;
    bool bad; /* ran past the end or met an impossible value */
} cd_nlu_rbuf;

static inline const unsigned char *cd_nlu_r_bytes(cd_nlu_rbuf *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static inline uint32_t cd_nlu_r_u32(cd_nlu_rbuf *r)
{
    const unsigned char *b = cd_nlu_r_bytes(r, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24
             : 0;
}

static inline float cd_nlu_r_f32(cd_nlu_rbuf *r)
{
    uint32_t v = cd_nlu_r_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static inline double cd_nlu_r_f64(cd_nlu_rbuf *r)
{
    uint64_t lo = cd_nlu_r_u32(r), hi = cd_nlu_r_u32(r);
    uint64_t v = lo | hi << 32;
    double d;
    memcpy(&d, &v, 8);
    return d;
}

/* a count of items of at least min_size bytes each that must fit in what is left */
static inline uint32_t cd_nlu_r_count(cd_nlu_rbuf *r, size_t min_size)
{
    uint32_t n = cd_nlu_r_u32(r);
    if (!r->bad && min_size && (size_t)n > r->left / min_size)
        r->bad = true;
    return r->bad ? 0 : n;
}

#endif
