/* A string → dense id map (open addressing, FNV-1a), used for the TF-IDF vocabulary and the
 * tagger's feature names. Ids are given in insertion order, so a model built from the same
 * data in the same order is the same. Internal to lib/nlu. */
#ifndef CD_NLU_FEATURES_VOCAB_H
#define CD_NLU_FEATURES_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h;
    uint32_t id; /* id + 1, 0 = empty */
} cd_nlu_vocab_slot;

typedef struct {
    cd_nlu_vocab_slot *slots;
    size_t cap;       /* power of two */
    size_t n;         /* ids in use */
    size_t *off;      /* key i = keys[off[i] .. off[i+1]) */
    size_t off_cap;
    char *keys;
    size_t keys_len, keys_cap;
} cd_nlu_vocab;

/* id of key, adding it when absent; -1 on OOM */
long cd_nlu_vocab_add(cd_nlu_vocab *v, const char *key, size_t len);
/* id or -1 */
long cd_nlu_vocab_find(const cd_nlu_vocab *v, const char *key, size_t len);
/* The same in two steps, so a caller with many keys can hash them all, prefetch their slots
 * and then look them up: the lookups' cache misses overlap instead of queueing. */
uint64_t cd_nlu_vocab_hash(const char *key, size_t len);
long cd_nlu_vocab_find_hash(const cd_nlu_vocab *v, uint64_t h);
static inline void cd_nlu_vocab_prefetch(const cd_nlu_vocab *v, uint64_t h)
{
    if (v->cap)
        __builtin_prefetch(&v->slots[h & (v->cap - 1)]);
}
static inline const char *cd_nlu_vocab_key(const cd_nlu_vocab *v, size_t id, size_t *len)
{
    *len = v->off[id + 1] - v->off[id];
    return v->keys + v->off[id];
}
void cd_nlu_vocab_done(cd_nlu_vocab *v);

#endif
