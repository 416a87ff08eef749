/* A minimal string-keyed hash map (open addressing, linear probing) for the loader and the
 * checks: synonym lookup, per-intent counts, duplicate texts. Keys are borrowed. */
#include <stdlib.h>
#include <string.h>

#include "nlu/data-internal.h"

uint64_t cd_nlu_hash(const void *data, size_t len)
{
    /* FNV-1a: short keys, no adversarial concern beyond slowness, and it is deterministic. */
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static size_t slot(const cd_nlu_strmap *m, const char *key)
{
    size_t mask = m->cap - 1, i = (size_t)cd_nlu_hash(key, strlen(key)) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow(cd_nlu_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    cd_nlu_strmap n = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)), cap, 0};
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t s = slot(&n, m->keys[i]);
            n.keys[s] = m->keys[i];
            n.vals[s] = m->vals[i];
            n.n++;
        }
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

size_t *cd_nlu_strmap_put(cd_nlu_strmap *m, const char *key, size_t init, bool *inserted)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return NULL;
    size_t s = slot(m, key);
    if (inserted)
        *inserted = !m->keys[s];
    if (!m->keys[s]) {
        m->keys[s] = key;
        m->vals[s] = init;
        m->n++;
    }
    return &m->vals[s];
}

size_t *cd_nlu_strmap_get(const cd_nlu_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t s = slot(m, key);
    return m->keys[s] ? &m->vals[s] : NULL;
}

void cd_nlu_strmap_done(cd_nlu_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}
