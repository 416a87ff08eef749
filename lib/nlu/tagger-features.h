/* Token features for the entity tagger, as 64-bit hashes of "kind:value" strings (the strings
 * themselves are never stored): Rasa CRFEntityExtractor's set (lowercased word, prefixes,
 * suffixes, shape, upper/title/digit, BOS/EOS, neighbours) widened to ±2 and bigrams, plus
 * one feature per regex / lookup table that matches the token. Internal to lib/nlu. */
#ifndef CD_NLU_TAGGER_FEATURES_H
#define CD_NLU_TAGGER_FEATURES_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "nlu/tokenize.h"

typedef struct {
    char *name;
    char **pats; /* as written in the data */
    regex_t *re; /* compiled (NULL entry: did not compile, skipped) */
    int *ok;
    size_t n;
} cd_nlu_tg_regex;

typedef struct {
    char *name;
    char **items; /* lowercased, tokens joined by one space */
    size_t n;
} cd_nlu_tg_lookup;

typedef struct {
    cd_nlu_tg_regex *re;
    size_t n_re;
    cd_nlu_tg_lookup *lk;
    size_t n_lk;
    /* lookup index: hash(table index, joined tokens) → present */
    uint64_t *lk_set;
    size_t lk_cap;
    int lk_max_tokens;
} cd_nlu_tg_patterns;

/* Feature hashes of every token of an utterance: token i has h[off[i] .. off[i+1]). */
typedef struct {
    uint64_t *h;
    size_t n, cap;
    size_t *off;
    size_t off_cap;
    char *buf; /* scratch */
    size_t buf_cap;
} cd_nlu_tg_feats;

int cd_nlu_tg_features(const cd_nlu_tg_patterns *p, const char *text, const cd_nlu_tokens *t,
                       int intent, cd_nlu_tg_feats *out);
void cd_nlu_tg_feats_done(cd_nlu_tg_feats *f);

/* Compile regexes (Python-style, via cd_nlu_regex_compile) and index lookups; -1 on OOM. */
int cd_nlu_tg_patterns_prepare(cd_nlu_tg_patterns *p);
void cd_nlu_tg_patterns_done(cd_nlu_tg_patterns *p);

uint64_t cd_nlu_tg_hash(const char *s, size_t len, uint64_t h);
#define CD_NLU_TG_HASH_INIT 1469598103934665603ull

#endif
