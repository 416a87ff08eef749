#include "nlu/features-vocab.h"

#include <stdlib.h>
#include <string.h>

uint64_t cd_nlu_vocab_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int key_eq(const cd_nlu_vocab *v, uint32_t id, const char *key, size_t len)
{
    return v->off[id + 1] - v->off[id] == len && !memcmp(v->keys + v->off[id], key, len);
}

/* The slot of hash h; with a key, also the key must match (adding), without one the hash is
 * trusted (parsing: one cache miss per lookup instead of three; two of a model's n-grams
 * sharing a hash has odds of about n²/2⁶⁵, ~1e-9 for 200,000 n-grams). */
static long probe(const cd_nlu_vocab *v, uint64_t h, const char *key, size_t len)
{
    if (!v->cap)
        return -1;
    for (size_t i = h & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
        const cd_nlu_vocab_slot *s = &v->slots[i];
        if (!s->id)
            return -1;
        if (s->h == h && (!key || key_eq(v, s->id - 1, key, len)))
            return (long)(s->id - 1);
    }
}

long cd_nlu_vocab_find(const cd_nlu_vocab *v, const char *key, size_t len)
{
    return probe(v, cd_nlu_vocab_hash(key, len), NULL, 0);
}

long cd_nlu_vocab_find_hash(const cd_nlu_vocab *v, uint64_t h)
{
    return probe(v, h, NULL, 0);
}

static int grow(cd_nlu_vocab *v)
{
    size_t cap = v->cap ? v->cap * 2 : 1024;
    cd_nlu_vocab_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t c = 0; c < v->cap; c++) {
        if (!v->slots[c].id)
            continue;
        size_t i = v->slots[c].h & (cap - 1);
        while (slots[i].id)
            i = (i + 1) & (cap - 1);
        slots[i] = v->slots[c];
    }
    free(v->slots);
    v->slots = slots;
    v->cap = cap;
    return 0;
}

long cd_nlu_vocab_add(cd_nlu_vocab *v, const char *key, size_t len)
{
    uint64_t h = cd_nlu_vocab_hash(key, len);
    long id = probe(v, h, key, len);
    if (id >= 0)
        return id;
    if ((v->n + 1) * 2 > v->cap && grow(v))
        return -1;
    if (v->n + 2 > v->off_cap) {
        size_t c = v->off_cap ? v->off_cap * 2 : 1024;
        size_t *o = realloc(v->off, c * sizeof(*o));
        if (!o)
            return -1;
        if (!v->off_cap)
            o[0] = 0;
        v->off = o;
        v->off_cap = c;
    }
    if (v->keys_len + len + 1 > v->keys_cap) {
        size_t c = v->keys_cap ? v->keys_cap * 2 : 16384;
        while (c < v->keys_len + len + 1)
            c *= 2;
        char *k = realloc(v->keys, c);
        if (!k)
            return -1;
        v->keys = k;
        v->keys_cap = c;
    }
    memcpy(v->keys + v->keys_len, key, len);
    v->keys_len += len;
    id = (long)v->n++;
    v->off[v->n] = v->keys_len;
    size_t i = h & (v->cap - 1);
    while (v->slots[i].id)
        i = (i + 1) & (v->cap - 1);
    v->slots[i] = (cd_nlu_vocab_slot){h, (uint32_t)id + 1};
    return id;
}

void cd_nlu_vocab_done(cd_nlu_vocab *v)
{
    free(v->slots);
    free(v->off);
    free(v->keys);
    memset(v, 0, sizeof(*v));
}
