#include "nlu/tagger-features.h"

#include "nlu/nlu.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t cd_nlu_tg_hash(const char *s, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t fin(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1; /* 0 marks an empty slot in the tables */
}

/* ---- patterns ------------------------------------------------------------------------ */

static void lk_insert(cd_nlu_tg_patterns *p, uint64_t h)
{
    size_t i = h & (p->lk_cap - 1);
    while (p->lk_set[i] && p->lk_set[i] != h)
        i = (i + 1) & (p->lk_cap - 1);
    p->lk_set[i] = h;
}

static bool lk_has(const cd_nlu_tg_patterns *p, uint64_t h)
{
    if (!p->lk_cap)
        return false;
    for (size_t i = h & (p->lk_cap - 1);; i = (i + 1) & (p->lk_cap - 1)) {
        if (!p->lk_set[i])
            return false;
        if (p->lk_set[i] == h)
            return true;
    }
}

static uint64_t lk_key(size_t table, const char *s, size_t len)
{
    uint32_t tb = (uint32_t)table;
    return fin(cd_nlu_tg_hash(s, len, cd_nlu_tg_hash((const char *)&tb, 4, CD_NLU_TG_HASH_INIT)));
}

int cd_nlu_tg_patterns_prepare(cd_nlu_tg_patterns *p)
{
    for (size_t i = 0; i < p->n_re; i++) {
        cd_nlu_tg_regex *r = &p->re[i];
        r->re = calloc(r->n + 1, sizeof(*r->re));
        r->ok = calloc(r->n + 1, sizeof(*r->ok));
        if (!r->re || !r->ok)
            return -1;
        /* Python-style patterns translated to POSIX (data-regex.c); one that does not
         * translate is skipped here, `validate` reports it */
        for (size_t k = 0; k < r->n; k++) {
            cd_error_t e = {0};
            r->ok[k] = cd_nlu_regex_compile(r->pats[k], 0, &r->re[k], &e) == 0;
            cd_error_clear(&e);
        }
    }
    size_t total = 0;
    for (size_t i = 0; i < p->n_lk; i++)
        total += p->lk[i].n;
    p->lk_cap = 16;
    while (p->lk_cap < total * 2 + 16)
        p->lk_cap *= 2;
    p->lk_set = calloc(p->lk_cap, sizeof(*p->lk_set));
    if (!p->lk_set)
        return -1;
    p->lk_max_tokens = 1;
    for (size_t i = 0; i < p->n_lk; i++)
        for (size_t k = 0; k < p->lk[i].n; k++) {
            const char *s = p->lk[i].items[k];
            int nt = 1;
            for (const char *c = s; *c; c++)
                nt += *c == ' ';
            if (nt > 8)
                continue; /* longer entries cannot match the bounded scan */
            if (nt > p->lk_max_tokens)
                p->lk_max_tokens = nt;
            lk_insert(p, lk_key(i, s, strlen(s)));
        }
    return 0;
}

void cd_nlu_tg_patterns_done(cd_nlu_tg_patterns *p)
{
    for (size_t i = 0; i < p->n_re; i++) {
        cd_nlu_tg_regex *r = &p->re[i];
        for (size_t k = 0; k < r->n; k++) {
            if (r->ok && r->ok[k])
                regfree(&r->re[k]);
            free(r->pats[k]);
        }
        free(r->pats);
        free(r->re);
        free(r->ok);
        free(r->name);
    }
    free(p->re);
    for (size_t i = 0; i < p->n_lk; i++) {
        for (size_t k = 0; k < p->lk[i].n; k++)
            free(p->lk[i].items[k]);
        free(p->lk[i].items);
        free(p->lk[i].name);
    }
    free(p->lk);
    free(p->lk_set);
    memset(p, 0, sizeof(*p));
}

/* ---- per-token features --------------------------------------------------------------- */

static __thread uint64_t salt;

static int push(cd_nlu_tg_feats *f, uint64_t h)
{
    if (f->n == f->cap) {
        size_t c = f->cap ? f->cap * 2 : 512;
        uint64_t *p = realloc(f->h, c * sizeof(*p));
        if (!p)
            return -1;
        f->h = p;
        f->cap = c;
    }
    f->h[f->n++] = fin(h);
    return 0;
}

/* Generic features (bias, shape, flags, short affixes) are conjoined with the intent, so
 * they weigh differently per intent and carry only that intent's few tags, which makes
 * decoding several times cheaper; lexical features (words, long affixes, neighbours) are
 * shared by all intents, so an entity type seen under one intent helps the others. */
static int pushc(cd_nlu_tg_feats *f, uint64_t h)
{
    return push(f, h + salt);
}

static int pushl(cd_nlu_tg_feats *f, uint64_t h)
{
    return push(f, h);
}

static uint64_t kv(const char *kind, const char *v, size_t vl)
{
    return cd_nlu_tg_hash(v, vl, cd_nlu_tg_hash(kind, strlen(kind) + 1, CD_NLU_TG_HASH_INIT));
}

/* kind + a small number (flags, pattern index), hashed as 4 little-endian bytes */
static uint64_t kn(const char *kind, uint32_t v)
{
    char b[4] = {(char)v, (char)(v >> 8), (char)(v >> 16), (char)(v >> 24)};
    return kv(kind, b, 4);
}

/* byte length of the first / last k code points of s */
static size_t head_bytes(const char *s, size_t len, int k)
{
    size_t b = 0;
    for (int n = 0; b < len && n < k; n++)
        for (b++; b < len && ((unsigned char)s[b] & 0xC0) == 0x80; b++)
            ;
    return b;
}

static size_t tail_bytes(const char *s, size_t len, int k)
{
    size_t b = len;
    for (int n = 0; b > 0 && n < k; n++)
        for (b--; b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80; b--)
            ;
    return len - b;
}

/* "Xxxx" → "Xx", "3:30pm" → "d:dx": letters by case, digits as d, runs collapsed */
static size_t shape(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s && n + 1 < cap; s++) {
        char c;
        if (*s >= 'A' && *s <= 'Z')
            c = 'X';
        else if (*s >= 'a' && *s <= 'z')
            c = 'x';
        else if (*s >= '0' && *s <= '9')
            c = 'd';
        else if (*s >= 0x80) {
            if ((*s & 0xC0) == 0x80)
                continue;
            c = 'u';
        } else
            c = (char)*s;
        if (!n || out[n - 1] != c)
            out[n++] = c;
    }
    out[n] = 0;
    return n;
}

static const char *word_at(const cd_nlu_tokens *t, long i)
{
    return i < 0 ? "\x01" "BOS" : i >= (long)t->n ? "\x01" "EOS" : t->tok[i].lower;
}

static unsigned flags_at(const cd_nlu_tokens *t, long i)
{
    return i < 0 || i >= (long)t->n ? 0x100 : t->tok[i].flags;
}

int cd_nlu_tg_features(const cd_nlu_tg_patterns *p, const char *text, const cd_nlu_tokens *t,
                       int intent, cd_nlu_tg_feats *f)
{
    salt = (uint64_t)(intent + 2) * 0x9E3779B97F4A7C15ull;
    f->n = 0;
    if (t->n + 1 > f->off_cap) {
        size_t c = t->n + 16;
        size_t *o = realloc(f->off, c * sizeof(*o));
        if (!o)
            return -1;
        f->off = o;
        f->off_cap = c;
    }
    /* matches of regexes and lookups: a bit per (token, pattern set), at most 64 sets */
    size_t n_sets = p ? p->n_re + p->n_lk : 0;
    if (n_sets > 64)
        n_sets = 64;
    uint64_t *hit = n_sets ? calloc(t->n + 1, sizeof(*hit)) : NULL;
    if (n_sets && !hit)
        return -1;
    for (size_t s = 0; s < n_sets && s < p->n_re; s++) {
        const cd_nlu_tg_regex *r = &p->re[s];
        for (size_t k = 0; k < r->n; k++) {
            if (!r->ok[k])
                continue;
            regmatch_t m;
            size_t at = 0, len = strlen(text);
            while (at <= len && !regexec(&r->re[k], text + at, 1, &m, at ? REG_NOTBOL : 0)) {
                size_t b0 = at + (size_t)m.rm_so, b1 = at + (size_t)m.rm_eo;
                for (size_t i = 0; i < t->n; i++)
                    if (t->tok[i].bstart < b1 && t->tok[i].bend > b0)
                        hit[i] |= 1ull << s;
                at = b1 > at ? b1 : at + 1;
            }
        }
    }
    if (p && p->n_lk && p->lk_set) {
        char buf[1024];
        for (size_t i = 0; i < t->n; i++) {
            size_t len = 0;
            for (size_t k = i; k < t->n && (int)(k - i) < p->lk_max_tokens; k++) {
                size_t wl = strlen(t->tok[k].lower);
                if (len + wl + 2 > sizeof(buf))
                    break;
                if (k > i)
                    buf[len++] = ' ';
                memcpy(buf + len, t->tok[k].lower, wl);
                len += wl;
                for (size_t s = 0; s < p->n_lk && p->n_re + s < n_sets; s++)
                    if (lk_has(p, lk_key(s, buf, len)))
                        for (size_t j = i; j <= k; j++)
                            hit[j] |= 1ull << (p->n_re + s);
            }
        }
    }
    char sh[40];
    for (size_t i = 0; i < t->n; i++) {
        f->off[i] = f->n;
        const char *w = t->tok[i].lower;
        size_t wl = strlen(w);
        const char *raw = t->tok[i].text;
        unsigned fl = t->tok[i].flags;
        int r = 0;
        r |= pushc(f, kv("b", "", 0));
        r |= pushl(f, kv("w", w, wl));
        r |= pushc(f, kv("p2", w, head_bytes(w, wl, 2)));
        r |= pushl(f, kv("p5", w, head_bytes(w, wl, 5)));
        r |= pushc(f, kv("s1", w + wl - tail_bytes(w, wl, 1), tail_bytes(w, wl, 1)));
        r |= pushc(f, kv("s2", w + wl - tail_bytes(w, wl, 2), tail_bytes(w, wl, 2)));
        r |= pushc(f, kv("s3", w + wl - tail_bytes(w, wl, 3), tail_bytes(w, wl, 3)));
        r |= pushl(f, kv("s5", w + wl - tail_bytes(w, wl, 5), tail_bytes(w, wl, 5)));
        r |= pushc(f, kv("sh", sh, shape(raw, sh, sizeof(sh))));
        r |= pushc(f, kn("f", fl & 0x3F));
        for (long d = -2; d <= 2; d++) {
            if (!d)
                continue;
            static const char *const wk[] = {"w-2", "w-1", "", "w+1", "w+2"};
            static const char *const fk[] = {"", "f-1", "", "f+1", ""};
            const char *nw = word_at(t, (long)i + d);
            r |= pushl(f, kv(wk[d + 2], nw, strlen(nw)));
            if (d == -1 || d == 1)
                r |= pushc(f, kn(fk[d + 2], flags_at(t, (long)i + d) & 0x107));
        }
        /* bigrams with the neighbours */
        const char *prev = word_at(t, (long)i - 1), *next = word_at(t, (long)i + 1);
        r |= pushl(f, cd_nlu_tg_hash(w, wl, kv("bp", prev, strlen(prev) + 1)));
        r |= pushl(f, cd_nlu_tg_hash(next, strlen(next), kv("bn", w, wl + 1)));
        for (size_t s = 0; hit && s < n_sets; s++)
            if (hit[i] >> s & 1) {
                r |= push(f, kn("pat", (uint32_t)s));
                if (i == 0 || !(hit[i - 1] >> s & 1))
                    r |= push(f, kn("patB", (uint32_t)s));
            }
        if (r) {
            free(hit);
            return -1;
        }
    }
    f->off[t->n] = f->n;
    free(hit);
    return 0;
}

void cd_nlu_tg_feats_done(cd_nlu_tg_feats *f)
{
    free(f->h);
    free(f->off);
    free(f->buf);
    memset(f, 0, sizeof(*f));
}
