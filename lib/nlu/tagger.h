/* The entity tagger: an averaged structured perceptron over BILOU tags with Viterbi decoding
 * (constrained to valid BILOU sequences and to the entity labels seen with the intent), and
 * Rasa-CRF-like token features. A label is "entity", "entity:role", "entity#group" or
 * "entity:role#group", so roles and groups come for free. Internal to lib/nlu. */
#ifndef CD_NLU_TAGGER_H
#define CD_NLU_TAGGER_H

#include <stddef.h>
#include <stdint.h>

#include "nlu/nlu.h"
#include "nlu/tokenize.h"
#include "util/error.h"

typedef struct cd_nlu_tagger cd_nlu_tagger;

/* ex[i] tokenized as toks[i], of intent intent[i] (index into n_intents sorted intents).
 * Uses d's regexes, lookups and synonyms. NULL with err set on failure; NULL without an error
 * when no example has an entity. */
cd_nlu_tagger *cd_nlu_tagger_train(const cd_nlu_data *d, const cd_nlu_tokens *toks,
                                   const int *intent, size_t n_intents, int epochs,
                                   unsigned seed, cd_error_t *err);

/* Tag one tokenized utterance of predicted intent (index, or -1 = any). Appends entities to
 * *out (*n entries). */
int cd_nlu_tagger_tag(const cd_nlu_tagger *t, const char *text, const cd_nlu_tokens *tok,
                      int intent, cd_nlu_entity **out, size_t *n, cd_error_t *err);

/* Serialised form (component file); load checks every bound. */
int cd_nlu_tagger_save(const cd_nlu_tagger *t, unsigned char **buf, size_t *len, cd_error_t *err);
cd_nlu_tagger *cd_nlu_tagger_load(const unsigned char *buf, size_t len, size_t n_intents,
                                  cd_error_t *err);
/* labels (entity names) as a JSON array, for metadata */
void *cd_nlu_tagger_labels_json(const cd_nlu_tagger *t);
size_t cd_nlu_tagger_n_features(const cd_nlu_tagger *t);
void cd_nlu_tagger_free(cd_nlu_tagger *t);
/* frees the calling thread's decoding scratch */
void cd_nlu_tagger_thread_done(void);

#endif
