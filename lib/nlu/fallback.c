/* Rasa's FallbackClassifier (rasa/nlu/classifiers/fallback_classifier.py): when the top
 * intent's confidence is below `threshold`, or the top two are closer than
 * `ambiguity_threshold`, the intent becomes nlu_fallback with confidence = threshold, and
 * nlu_fallback is put first in the ranking (which keeps its length cap). */
#include <stdlib.h>
#include <string.h>

#include "nlu/model-internal.h"

int cd_nlu_fallback_apply(const cd_nlu_config *cfg, cd_nlu_parse_result *r)
{
    if (!r->intent.name || (cfg->fallback_threshold <= 0 && cfg->ambiguity_threshold <= 0))
        return 0;
    double top = r->intent.confidence;
    double second = r->n_ranking > 1 ? r->ranking[1].confidence : 0.0;
    bool low = cfg->fallback_threshold > 0 && top < cfg->fallback_threshold;
    bool ambiguous = cfg->ambiguity_threshold > 0 && r->n_ranking > 1 &&
                     top - second < cfg->ambiguity_threshold;
    if (!low && !ambiguous)
        return 0;
    char *name = strdup(CD_NLU_FALLBACK_INTENT), *name2 = strdup(CD_NLU_FALLBACK_INTENT);
    if (!name || !name2) {
        free(name);
        free(name2);
        return -1;
    }
    free(r->intent.name);
    r->intent.name = name;
    r->intent.confidence = cfg->fallback_threshold;
    /* insert at the front; the last entry drops out when the ranking is full */
    if (r->n_ranking == CD_NLU_RANKING_LENGTH)
        free(r->ranking[--r->n_ranking].name);
    cd_nlu_intent_score *p = realloc(r->ranking, (r->n_ranking + 1) * sizeof(*p));
    if (!p) {
        free(name2);
        return -1;
    }
    memmove(p + 1, p, r->n_ranking * sizeof(*p));
    p[0] = (cd_nlu_intent_score){name2, cfg->fallback_threshold};
    r->ranking = p;
    r->n_ranking++;
    return 0;
}
