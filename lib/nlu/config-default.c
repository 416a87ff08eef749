#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/nlu.h"

/* The defaults follow the reference pipeline in ../shared/docs/rasa-formats.md §5.6:
 * word 1-2 grams + char_wb 2-5 grams, sublinear TF-IDF, a linear SVM for intents. */
void cd_nlu_config_default(cd_nlu_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->word_ngram_min = 1;
    cfg->word_ngram_max = 2;
    cfg->char_ngram_min = 2;
    cfg->char_ngram_max = 5;
    cfg->sublinear_tf = true;
    /* stems, and C 0.55 with them: cross-validated on the training splits (docs/nlu-model.md) */
    snprintf(cfg->stemmer, sizeof(cfg->stemmer), "%s", "english");
    cfg->intent_c = 0.55;
    cfg->intent_solver = 4; /* LIBLINEAR MCSVM_CS: -s 4 in ../shared/data/README.md */
    cfg->tagger_epochs = 6; /* as good as 10 on SNIPS (docs/nlu-model.md), 40% cheaper */
    cfg->fallback_threshold = 0.0;
    cfg->ambiguity_threshold = 0.0;
}

void cd_nlu_config_done(cd_nlu_config *cfg)
{
    free(cfg->source_json);
    cfg->source_json = NULL;
}
