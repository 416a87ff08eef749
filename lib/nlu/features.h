/* Sentence-level sparse TF-IDF features with scikit-learn's semantics: word n-grams over the
 * lowercased tokens (their Snowball stems, features-stem.c; n-grams of 2 or more words also
 * see one sentence-start and one sentence-end marker) and char_wb n-grams (each word padded with one space on both sides),
 * sublinear tf (1 + ln tf), smoothed idf (ln((1+n)/(1+df)) + 1), and an L2 norm per block
 * (word block, char block), as a FeatureUnion of two TfidfVectorizers would give. The
 * vocabulary is every n-gram seen in training, ids in first-seen order. Internal. */
#ifndef CD_NLU_FEATURES_H
#define CD_NLU_FEATURES_H

#include <linear.h>
#include <stdbool.h>
#include <stdio.h>

#include "nlu/features-vocab.h"
#include "nlu/nlu.h"
#include "nlu/tokenize.h"

typedef struct {
    int wmin, wmax, cmin, cmax; /* 0 max = block off */
    int sublinear;
    char stemmer[CD_NLU_STEMMER_LEN]; /* Snowball algorithm for the word n-grams; "" = the words as they are */
    double word_weight, char_weight; /* each block's norm after normalisation */
    cd_nlu_vocab vocab;              /* keys: "w" + gram or "c" + gram */
    double *idf;                     /* per id */
} cd_nlu_featurizer;

/* Scratch space for vectorising one utterance (reuse it across calls; not shared between
 * threads). */
typedef struct {
    long *ids;
    size_t n, cap, n_word;
    long *tab_id; /* merge table */
    uint32_t *tab_pos;
    size_t tab_cap;
    int sorted; /* set to get nodes in ascending index order (training) */
    char *gram;
    size_t gram_cap;
    struct feature_node *out;
    size_t out_cap;
    struct feature_node *tmp; /* radix sort buffer */
    size_t tmp_cap;
    struct sb_stemmer *stem; /* for stem_lang; features-stem.c */
    struct cd_nlu_stem_cache *stem_cache;
    char stem_lang[CD_NLU_STEMMER_LEN];
    char *stems;
    size_t stems_cap;
    const char **words;
    size_t words_cap;
} cd_nlu_feat_scratch;

/* Is there a Snowball stemmer of this name (english, en, german, ...), short enough to keep? */
bool cd_nlu_stemmer_known(const char *algorithm);
/* t's words as the word n-grams use them (stems, or the lowercased tokens); NULL on OOM */
const char *const *cd_nlu_feat_words(const cd_nlu_featurizer *f, const cd_nlu_tokens *t,
                                     cd_nlu_feat_scratch *s);
void cd_nlu_feat_stem_done(cd_nlu_feat_scratch *s);

/* Build the vocabulary and idf from n tokenized training utterances. -1 on OOM. */
int cd_nlu_feat_fit(cd_nlu_featurizer *f, const cd_nlu_tokens *docs, size_t n);

/* Vectorise: fills s->out with (1-based index, value) sorted by index, terminated by
 * index -1; returns the number of nodes (excluding the terminator) or -1 on OOM. Unknown
 * n-grams are ignored. */
long cd_nlu_feat_vector(const cd_nlu_featurizer *f, const cd_nlu_tokens *t, cd_nlu_feat_scratch *s);

void cd_nlu_feat_scratch_done(cd_nlu_feat_scratch *s);
void cd_nlu_feat_done(cd_nlu_featurizer *f);

#endif
