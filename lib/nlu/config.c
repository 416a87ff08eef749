/* A Rasa-like config.yml (subset) → cd_nlu_config, and the config as JSON for metadata.
 *
 *   language: en                        # the Snowball stemmer of the word n-grams, when there is
 *                                       # one for it (else none); the tokenizer is the same
 *   pipeline:
 *   - name: WhitespaceTokenizer
 *   - name: CountVectorsFeaturizer      # analyzer: word | char_wb, min_ngram, max_ngram,
 *                                       # stem: true | false (word)
 *   - name: LinearIntentClassifier      # C, solver (or LogisticRegressionClassifier: C)
 *   - name: CRFEntityExtractor          # epochs (alias max_iterations)
 *   - name: EntitySynonymMapper
 *   - name: FallbackClassifier          # threshold, ambiguity_threshold
 *
 * Anything else is an error naming file:line:col, so a typo never silently changes a model. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linear.h>
#include <yaml.h>

#include "nlu/model-internal.h"

static const struct {
    const char *name;
    int solver;
} solvers[] = {
    {"crammer_singer", MCSVM_CS},
    {"svm", L2R_L2LOSS_SVC_DUAL},
    {"svm_l1loss", L2R_L1LOSS_SVC_DUAL},
    {"logistic_regression", L2R_LR},
    {"logistic_regression_dual", L2R_LR_DUAL},
};

static const char *solver_name(int s)
{
    for (size_t i = 0; i < sizeof(solvers) / sizeof(solvers[0]); i++)
        if (solvers[i].solver == s)
            return solvers[i].name;
    return NULL;
}

json_t *cd_nlu_config_to_json(const cd_nlu_config *c)
{
    const char *sn = solver_name(c->intent_solver);
    return json_pack("{s:[i,i], s:s, s:[i,i], s:b, s:{s:f, s:s}, s:{s:i}, s:{s:f, s:f}}",
                     "word_ngrams", c->word_ngram_min, c->word_ngram_max, "stemmer", c->stemmer,
                     "char_wb_ngrams", c->char_ngram_min, c->char_ngram_max,
                     "sublinear_tf", c->sublinear_tf,
                     "intent_classifier", "C", c->intent_c, "solver", sn ? sn : "?",
                     "entity_tagger", "epochs", c->tagger_epochs,
                     "fallback", "threshold", c->fallback_threshold, "ambiguity_threshold",
                     c->ambiguity_threshold);
}

int cd_nlu_config_from_json(const json_t *j, cd_nlu_config *c, cd_error_t *err)
{
    cd_nlu_config_default(c);
    const char *sn = NULL, *stem = NULL;
    json_int_t wmin, wmax, cmin, cmax, ep;
    int sub;
    json_error_t je;
    if (json_unpack_ex((json_t *)j, &je, 0,
                       "{s:[II], s:s, s:[II], s:b, s:{s:F, s:s}, s:{s:I}, s:{s:F, s:F}}",
                       "word_ngrams", &wmin, &wmax, "stemmer", &stem, "char_wb_ngrams", &cmin, &cmax,
                       "sublinear_tf", &sub, "intent_classifier", "C", &c->intent_c, "solver",
                       &sn, "entity_tagger", "epochs", &ep, "fallback", "threshold",
                       &c->fallback_threshold, "ambiguity_threshold", &c->ambiguity_threshold))
        return cd_error(err, CD_ERR_DATA, 0, "config in metadata.json: %s", je.text);
    c->word_ngram_min = (int)wmin;
    c->word_ngram_max = (int)wmax;
    c->char_ngram_min = (int)cmin;
    c->char_ngram_max = (int)cmax;
    c->sublinear_tf = sub;
    if (*stem && !cd_nlu_stemmer_known(stem))
        return cd_error(err, CD_ERR_DATA, 0,
                        "config in metadata.json: no Snowball stemmer `%.40s` in this build", stem);
    snprintf(c->stemmer, sizeof(c->stemmer), "%s", stem);
    c->tagger_epochs = (int)ep;
    c->intent_solver = -1;
    for (size_t i = 0; i < sizeof(solvers) / sizeof(solvers[0]); i++)
        if (!strcmp(solvers[i].name, sn))
            c->intent_solver = solvers[i].solver;
    if (c->intent_solver < 0 || wmin < 0 || wmax > 8 || cmin < 0 || cmax > 16 ||
        wmin > wmax || cmin > cmax || ep < 0)
        return cd_error(err, CD_ERR_DATA, 0, "config in metadata.json: values out of range");
    return 0;
}

/* ---- config.yml ---------------------------------------------------------------------- */

typedef struct {
    const char *path;
    yaml_document_t *doc;
    cd_error_t *err;
} ycx;

static int yerr(ycx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yerr(ycx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cd_error(y->err, CD_ERR_USAGE, 0, "%s:%zu:%zu: %s", y->path, n->start_mark.line + 1,
                    n->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_int(ycx *y, const yaml_node_t *n, const char *key, int lo, int hi, int *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        char m[160];
        snprintf(m, sizeof(m), "`%s` must be an integer from %d to %d", key, lo, hi);
        return yerr(y, n, "%s", m);
    }
    *out = (int)v;
    return 0;
}

static int get_num(ycx *y, const yaml_node_t *n, const char *key, double lo, double hi,
                   double *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        char m[160];
        snprintf(m, sizeof(m), "`%s` must be a number from %g to %g", key, lo, hi);
        return yerr(y, n, "%s", m);
    }
    *out = v;
    return 0;
}

typedef struct {
    bool saw_word, saw_char, saw_tagger, saw_featurizer, no_stem;
} seen_t;

static int component(ycx *y, const yaml_node_t *item, cd_nlu_config *c, seen_t *seen)
{
    if (item->type != YAML_MAPPING_NODE)
        return yerr(y, item, "%s", "a pipeline item must be a mapping with `name:`");
    const char *name = NULL;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(y->doc, p->key));
        if (k && !strcmp(k, "name"))
            name = scalar(yaml_document_get_node(y->doc, p->value));
    }
    if (!name)
        return yerr(y, item, "%s", "pipeline item without `name:`");
    const char *analyzer = "word";
    int mn = -1, mx = -1;
    bool featurizer = !strcmp(name, "CountVectorsFeaturizer");
    bool clf = !strcmp(name, "LinearIntentClassifier") ||
               !strcmp(name, "LogisticRegressionClassifier");
    bool tagger = !strcmp(name, "CRFEntityExtractor");
    bool fallback = !strcmp(name, "FallbackClassifier");
    bool plain = !strcmp(name, "WhitespaceTokenizer") || !strcmp(name, "RegexFeaturizer") ||
                 !strcmp(name, "LexicalSyntacticFeaturizer") ||
                 !strcmp(name, "EntitySynonymMapper") || !strcmp(name, "RegexEntityExtractor");
    if (!featurizer && !clf && !tagger && !fallback && !plain)
        return yerr(y, item, "unknown or unsupported pipeline component `%s`", name);
    if (!strcmp(name, "LogisticRegressionClassifier"))
        c->intent_solver = L2R_LR;
    if (tagger) {
        seen->saw_tagger = true;
        if (c->tagger_epochs <= 0)
            c->tagger_epochs = 6;
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        const char *k = scalar(kn);
        if (!k)
            return yerr(y, kn, "%s", "keys must be plain strings");
        if (!strcmp(k, "name"))
            continue;
        int r = 1;
        if (featurizer && !strcmp(k, "analyzer")) {
            analyzer = scalar(vn);
            if (!analyzer || (strcmp(analyzer, "word") && strcmp(analyzer, "char_wb")))
                return yerr(y, vn, "%s", "`analyzer` must be `word` or `char_wb`");
            r = 0;
        } else if (featurizer && !strcmp(k, "stem")) {
            const char *v = scalar(vn);
            if (!v || (strcmp(v, "true") && strcmp(v, "false")))
                return yerr(y, vn, "%s", "`stem` must be true or false");
            seen->no_stem = !strcmp(v, "false");
            r = 0;
        } else if (featurizer && !strcmp(k, "min_ngram"))
            r = get_int(y, vn, k, 1, 16, &mn);
        else if (featurizer && !strcmp(k, "max_ngram"))
            r = get_int(y, vn, k, 1, 16, &mx);
        else if (clf && !strcmp(k, "C"))
            r = get_num(y, vn, k, 1e-6, 1e6, &c->intent_c);
        else if (clf && !strcmp(k, "solver") && !strcmp(name, "LinearIntentClassifier")) {
            const char *s = scalar(vn);
            r = -2;
            for (size_t i = 0; s && i < sizeof(solvers) / sizeof(solvers[0]); i++)
                if (!strcmp(s, solvers[i].name)) {
                    c->intent_solver = solvers[i].solver;
                    r = 0;
                }
            if (r)
                return yerr(y, vn, "%s", "`solver` must be one of crammer_singer, svm, "
                                         "svm_l1loss, logistic_regression, "
                                         "logistic_regression_dual");
        } else if (tagger && (!strcmp(k, "epochs") || !strcmp(k, "max_iterations")))
            r = get_int(y, vn, k, 1, 1000, &c->tagger_epochs);
        else if (fallback && !strcmp(k, "threshold"))
            r = get_num(y, vn, k, 0, 1, &c->fallback_threshold);
        else if (fallback && !strcmp(k, "ambiguity_threshold"))
            r = get_num(y, vn, k, 0, 1, &c->ambiguity_threshold);
        if (r > 0) {
            char m[256];
            snprintf(m, sizeof(m), "unknown key `%s` for %s", k, name);
            return yerr(y, kn, "%s", m);
        }
        if (r)
            return -1;
    }
    if (featurizer) {
        bool chr = !strcmp(analyzer, "char_wb");
        if (!seen->saw_featurizer) { /* the listed featurizers replace the defaults */
            c->word_ngram_min = c->word_ngram_max = 0;
            c->char_ngram_min = c->char_ngram_max = 0;
            seen->saw_featurizer = true;
        }
        if (mn < 0)
            mn = 1;
        if (mx < 0)
            mx = mn;
        if (mn > mx)
            return yerr(y, item, "%s", "min_ngram is larger than max_ngram");
        if (chr) {
            c->char_ngram_min = mn;
            c->char_ngram_max = mx;
        } else {
            c->word_ngram_min = mn;
            c->word_ngram_max = mx;
        }
    }
    return 0;
}

static int load_doc(ycx *y, cd_nlu_config *c)
{
    yaml_node_t *root = yaml_document_get_root_node(y->doc);
    if (!root)
        return cd_error(y->err, CD_ERR_USAGE, 0, "%s: empty config", y->path);
    if (root->type != YAML_MAPPING_NODE)
        return yerr(y, root, "%s", "the config must be a mapping (language:, pipeline:)");
    seen_t seen = {0};
    bool has_pipeline = false;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        const char *k = scalar(kn);
        if (!k)
            return yerr(y, kn, "%s", "keys must be plain strings");
        if (!strcmp(k, "language")) {
            const char *lang = scalar(vn);
            if (!lang)
                return yerr(y, vn, "%s", "`language` must be a language code like en");
            /* Rasa takes any code; a language Snowball has no stemmer for is not stemmed */
            snprintf(c->stemmer, sizeof(c->stemmer), "%s", cd_nlu_stemmer_known(lang) ? lang : "");
            continue;
        }
        if (!strcmp(k, "recipe") || !strcmp(k, "assistant_id") || !strcmp(k, "policies"))
            continue; /* Rasa keys that do not change an NLU model here */
        if (strcmp(k, "pipeline"))
            return yerr(y, kn, "unknown key `%s` (expected language, recipe, assistant_id, "
                               "pipeline, policies)", k);
        if (vn->type != YAML_SEQUENCE_NODE)
            return yerr(y, vn, "%s", "`pipeline` must be a list of components");
        has_pipeline = true;
        c->tagger_epochs = 0; /* the tagger runs only when listed */
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++)
            if (component(y, yaml_document_get_node(y->doc, *it), c, &seen))
                return -1;
    }
    (void)has_pipeline;
    if (seen.no_stem)
        c->stemmer[0] = 0;
    return 0;
}

int cd_nlu_config_load(const char *path, cd_nlu_config *cfg, cd_error_t *err)
{
    cd_nlu_config_default(cfg);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cd_error(err, CD_ERR_USAGE, errno, "%s: %s", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = -1;
    if (!yaml_parser_load(&p, &doc)) {
        cd_error(err, CD_ERR_USAGE, 0, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                 p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
    } else {
        ycx y = {path, &doc, err};
        rc = load_doc(&y, cfg);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (!rc) {
        json_t *j = cd_nlu_config_to_json(cfg);
        cfg->source_json = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        json_decref(j);
    }
    return rc;
}
