/* The trained model as the pipeline pieces see it. Internal to lib/nlu. */
#ifndef CD_NLU_MODEL_INTERNAL_H
#define CD_NLU_MODEL_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "nlu/classifier.h"
#include "nlu/features.h"
#include "nlu/nlu.h"
#include "nlu/tagger.h"

/* archive format id and version written to metadata.json; the loader refuses others */
#define CD_NLU_MODEL_FORMAT "conductor-nlu-model"
#define CD_NLU_MODEL_FORMAT_VERSION 2
#define CD_NLU_FALLBACK_INTENT "nlu_fallback"
#define CD_NLU_EXTRACTOR "ConductorCRFEntityExtractor"
#define CD_NLU_RANKING_LENGTH 10

struct cd_nlu_model {
    cd_nlu_config cfg;
    char **intents; /* sorted by name */
    size_t n_intents;
    cd_nlu_featurizer feat;
    cd_nlu_classifier clf;
    cd_nlu_tagger *tagger; /* NULL when the data has no entities */
    json_t *meta;
};

/* fallback.c: Rasa's FallbackClassifier on a ranking (best first). */
int cd_nlu_fallback_apply(const cd_nlu_config *cfg, cd_nlu_parse_result *r);

/* model.c: shared with archive.c */
int cd_nlu_model_build_meta(cd_nlu_model *m, const cd_nlu_data *d, unsigned seed,
                            cd_error_t *err);
json_t *cd_nlu_config_to_json(const cd_nlu_config *cfg);
int cd_nlu_config_from_json(const json_t *j, cd_nlu_config *cfg, cd_error_t *err);

/* fn(arg) on a new thread, or here when no thread can be made; true when a thread runs it
 * (join it) */
bool cd_nlu_beside(pthread_t *t, void *(*fn)(void *), void *arg);

/* archive.c: load from memory (the fuzz target's entry); name is used in messages. */
cd_nlu_model *cd_nlu_model_load_mem(const void *buf, size_t len, const char *name,
                                    cd_error_t *err);

#endif
