/* The words the word n-grams are made of: Snowball stems of the lowercased tokens (libstemmer,
 * the reference implementation of the Porter/Snowball stemmers, 29 languages), so that
 * "alarms", "alarm" and "alarming" share their word features; the char n-grams still see
 * the words as written. (Stemming only where two training words share a stem, to keep the
 * stemmer's guesses at names out — "garching" → "garch" — lost 0.1 point of HWU64 in
 * cross-validation.) Cross-validated on the training splits: HWU64 +0.2 points, SNIPS and
 * Braun unchanged (docs/nlu-model.md). */
#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/features.h"
#include "util/array.h"

bool cd_nlu_stemmer_known(const char *algorithm)
{
    if (strlen(algorithm) >= CD_NLU_STEMMER_LEN)
        return false;
    struct sb_stemmer *st = sb_stemmer_new(algorithm, NULL);
    if (!st)
        return false;
    sb_stemmer_delete(st);
    return true;
}

/* Recently stemmed words, direct-mapped by hash: a sentence's words repeat across a batch,
 * and Snowball costs ~1,300 instructions a word (4% of a SNIPS parse) where a hit costs a
 * hash and a compare. Words of CACHE_WORD bytes or more are not cached. */
#define CACHE_SLOTS 1024
#define CACHE_WORD 30
struct stem_slot {
    uint64_t h;
    uint8_t wl, sl; /* wl 0 = empty */
    char w[CACHE_WORD], s[CACHE_WORD];
};
struct cd_nlu_stem_cache {
    struct stem_slot slot[CACHE_SLOTS];
};

/* The stem of w (wl bytes): out points into the cache, the stemmer's buffer or w itself */
static void stem_word(cd_nlu_feat_scratch *s, const char *w, size_t wl, const char **out,
                      size_t *outl)
{
    uint64_t h = 0;
    struct stem_slot *c = NULL;
    if (s->stem_cache && wl < CACHE_WORD) {
        h = cd_nlu_vocab_hash(w, wl);
        c = &s->stem_cache->slot[h & (CACHE_SLOTS - 1)];
        if (c->wl == wl && c->h == h && !memcmp(c->w, w, wl)) {
            *out = c->s;
            *outl = c->sl;
            return;
        }
    }
    const sb_symbol *r = sb_stemmer_stem(s->stem, (const sb_symbol *)w, (int)wl);
    size_t rl = r ? (size_t)sb_stemmer_length(s->stem) : 0;
    if (!r || rl == 0 || rl > wl) { /* out of memory inside, or not a shortening */
        r = (const sb_symbol *)w;
        rl = wl;
    }
    *out = (const char *)r;
    *outl = rl;
    if (c) {
        c->h = h;
        c->wl = (uint8_t)wl;
        c->sl = (uint8_t)rl;
        memcpy(c->w, w, wl);
        memcpy(c->s, r, rl);
    }
}

const char *const *cd_nlu_feat_words(const cd_nlu_featurizer *f, const cd_nlu_tokens *t,
                                     cd_nlu_feat_scratch *s)
{
    if (cd_array_reserve(&s->words, &s->words_cap, t->n + 1, sizeof(*s->words)))
        return NULL;
    if (!f->stemmer[0]) {
        for (size_t i = 0; i < t->n; i++)
            s->words[i] = t->tok[i].lower;
        return s->words;
    }
    /* a scratch serves one thread, and a stemmer may only be used by one at a time */
    if (!s->stem || strcmp(s->stem_lang, f->stemmer)) {
        if (s->stem)
            sb_stemmer_delete(s->stem);
        s->stem = sb_stemmer_new(f->stemmer, NULL);
        if (!s->stem)
            return NULL;
        snprintf(s->stem_lang, sizeof(s->stem_lang), "%s", f->stemmer);
        free(s->stem_cache);                               /* another language's stems */
        s->stem_cache = calloc(1, sizeof(*s->stem_cache)); /* none: no caching, still right */
    }
    size_t need = 0;
    for (size_t i = 0; i < t->n; i++)
        need += strlen(t->tok[i].lower) + 1;
    if (cd_array_reserve(&s->stems, &s->stems_cap, need, 1))
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *w = t->tok[i].lower, *r;
        size_t wl = strlen(w), rl;
        stem_word(s, w, wl, &r, &rl);
        memcpy(s->stems + o, r, rl);
        s->stems[o + rl] = 0;
        s->words[i] = s->stems + o;
        o += rl + 1;
    }
    return s->words;
}

void cd_nlu_feat_stem_done(cd_nlu_feat_scratch *s)
{
    if (s->stem)
        sb_stemmer_delete(s->stem);
    free(s->stem_cache);
    free(s->stems);
    free(s->words);
}
