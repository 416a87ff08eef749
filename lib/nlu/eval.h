/* NLU evaluation: run a model over labelled data, compute the reports `rasa test nlu`
 * writes (same keys and shapes, ../shared/docs/rasa-formats.md §2), write them plus charts
 * (SVG), junit.xml and metrics.txt, and cross-validate. See docs/nlu-eval.md. */
#ifndef CD_NLU_EVAL_H
#define CD_NLU_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "nlu/nlu.h"
#include "util/error.h"

#define CD_NLU_NO_ENTITY "no_entity"
/* The `extractor` our tagger reports in parse results; Rasa names the entity report files
 * after it (<extractor>_report.json). */
extern const char cd_nlu_eval_extractor[];

/* --- Predictions ------------------------------------------------------------------------ */

typedef struct {
    const cd_nlu_example *gold; /* borrowed: the data it came from must outlive the set */
    char *intent;               /* predicted intent, fallback undone as Rasa does; "" if none */
    double confidence;
    cd_nlu_entity *entities; /* predicted, owned */
    size_t n_entities;
} cd_nlu_eval_item;

typedef struct {
    cd_nlu_eval_item *items;
    size_t n, cap;
} cd_nlu_eval_set;

/* Parse every example of d that has an intent with m and append the predictions to out
 * (initialise it to {0}). */
int cd_nlu_eval_run(const cd_nlu_model *m, const cd_nlu_data *d, cd_nlu_eval_set *out,
                    cd_error_t *err);
/* Append one prediction (copies intent and entities). */
int cd_nlu_eval_add(cd_nlu_eval_set *s, const cd_nlu_example *gold, const char *intent,
                    double confidence, const cd_nlu_entity *ents, size_t n_ents,
                    cd_error_t *err);
void cd_nlu_eval_set_done(cd_nlu_eval_set *s);
/* Moves from's items onto the end of to (from is left empty); -1 on OOM (nothing moved). */
int cd_nlu_eval_move(cd_nlu_eval_set *to, cd_nlu_eval_set *from);

/* --- Classification report (sklearn classification_report + Rasa's additions) ----------- */

typedef struct {
    const char *label; /* borrowed from the report's cm_labels */
    double precision, recall, f1;
    long support;
    int confused[3];   /* indices into cm_labels, most confused first */
    long confused_n[3];
    int n_confused;
} cd_nlu_label_metrics;

typedef struct {
    /* Every label seen in targets or predictions, sorted (sklearn unique_labels), and the
     * confusion matrix over them, row = target, column = prediction. */
    char **cm_labels;
    size_t n_cm;
    long *cm; /* n_cm * n_cm */
    /* Report rows: labels present in the targets minus the excluded one, sorted. */
    cd_nlu_label_metrics *rows;
    size_t n_rows;
    bool micro_is_accuracy; /* sklearn emitted "accuracy" (else "micro avg"); Rasa adds the other */
    double accuracy;        /* over all items, the excluded label included (accuracy_score) */
    double micro_p, micro_r, micro_f1;
    double macro_p, macro_r, macro_f1;
    double weighted_p, weighted_r, weighted_f1; /* Rasa logs these as Precision / F1-Score */
    long support;                               /* sum of row supports */
    size_t n_items;
} cd_nlu_report;

/* targets[i] / preds[i], i < n (NULL prediction = ""). exclude (may be NULL) is left out of
 * the rows and of confused_with, as Rasa does with "no_entity". */
int cd_nlu_report_compute(const char *const *targets, const char *const *preds, size_t n,
                          const char *exclude, cd_nlu_report *out, cd_error_t *err);
void cd_nlu_report_done(cd_nlu_report *r);
/* The JSON object Rasa 3.1+ writes: rows, then accuracy|micro avg, macro avg, weighted avg,
 * then the Rasa-added micro avg|accuracy. New reference. */
json_t *cd_nlu_report_json(const cd_nlu_report *r);

/* --- Entities --------------------------------------------------------------------------- */

/* Token-level labels as Rasa's evaluate_entities builds them: tokens of each item's text,
 * each labelled entity[.group][.role] of the best-overlapping entity, else "no_entity". */
typedef struct {
    const char **targets, **preds; /* n_tokens each, into labels */
    size_t n_tokens;
    size_t *item_end; /* item i owns tokens [item_end[i-1], item_end[i]) */
    size_t n_items;
    char **labels; /* the distinct labels, owned: a token's label is one of a few */
    size_t n_labels;
} cd_nlu_entity_tokens;

int cd_nlu_entity_tokens_build(const cd_nlu_eval_set *s, cd_nlu_entity_tokens *out,
                               cd_error_t *err);
void cd_nlu_entity_tokens_done(cd_nlu_entity_tokens *t);

/* Exact-span micro P/R/F1 (same start, end and entity type), the CoNLL/Snips measure. */
typedef struct {
    long tp, n_gold, n_pred;
    double precision, recall, f1;
} cd_nlu_span_score;
void cd_nlu_entity_spans_score(const cd_nlu_eval_set *s, cd_nlu_span_score *out);

/* Token spans (code points) of the model's tokenizer, which Rasa evaluates entities on.
 * Returns the count; *out is malloc'd (NULL and 0 on allocation failure). */
typedef struct {
    int start, end;
} cd_nlu_token_span;
size_t cd_nlu_eval_tokenize(const char *text, cd_nlu_token_span **out);

/* --- Writing the results directory ------------------------------------------------------ */

typedef struct {
    bool successes;  /* intent_successes.json, <Extractor>_successes.json */
    bool no_errors;  /* skip the *_errors.json files */
    bool no_plot;    /* skip the SVG charts */
    const char *title; /* shown in charts and junit (e.g. the data path) */
} cd_nlu_eval_write_opts;

typedef struct {
    bool has_intents, has_entities;
    size_t n_items, n_intent_errors;
    double accuracy, f1, precision, macro_f1; /* intents; f1/precision weighted as Rasa logs */
    double entity_accuracy, entity_f1, entity_precision; /* Rasa's token-level, weighted */
    cd_nlu_span_score spans;
} cd_nlu_eval_summary;

/* Compute everything for s and write the files into dir (created if missing). */
int cd_nlu_eval_write(const char *dir, const cd_nlu_eval_set *s,
                      const cd_nlu_eval_write_opts *opts, cd_nlu_eval_summary *out,
                      cd_error_t *err);
/* The summary alone (no files). */
int cd_nlu_eval_summarize(const cd_nlu_eval_set *s, cd_nlu_eval_summary *out, cd_error_t *err);

/* Individual writers (used by cd_nlu_eval_write; exposed for tests). Each returns a new
 * string owned by the caller, or NULL on allocation failure. */
char *cd_nlu_svg_confusion(const cd_nlu_report *r, const char *title);
char *cd_nlu_svg_histogram(const cd_nlu_eval_set *s, const char *title);
char *cd_nlu_junit_xml(const cd_nlu_eval_set *s, const char *suite_name);
char *cd_nlu_openmetrics(const cd_nlu_report *intents, const cd_nlu_report *entities,
                         const cd_nlu_eval_summary *sum);

/* --- Cross-validation ------------------------------------------------------------------- */

/* Stratified fold of each example: out[i] in [0, k). Like sklearn's StratifiedKFold with
 * shuffle: every class spread as evenly as possible over the folds, assignment within a
 * class shuffled by seed. labels[i] are the class names (NULL = not assigned, -1). */
int cd_nlu_folds_assign(const char *const *labels, size_t n, int k, unsigned seed, int *out,
                        cd_error_t *err);

typedef struct {
    double accuracy, f1, precision;
} cd_nlu_fold_metrics;

typedef struct {
    int folds;
    cd_nlu_fold_metrics *train, *test;                 /* intents, per fold */
    cd_nlu_fold_metrics *ent_train, *ent_test;         /* entities, per fold */
    bool has_entities;
    double train_seconds, total_seconds; /* training summed over folds; all, wall */
    int parallel;                         /* folds that ran at a time */
    char **dropped; /* intents dropped for having fewer examples than folds */
    size_t n_dropped;
    size_t n_examples; /* used after dropping */
} cd_nlu_cv_result;

typedef void (*cd_nlu_cv_progress)(void *ctx, int fold, int folds, size_t n_train,
                                   size_t n_test, double train_s, const cd_nlu_fold_metrics *test);

/* k-fold CV on d: intents below k examples are dropped (listed in res->dropped), each fold's
 * model is trained with cfg and seed, and the test-fold predictions are appended to preds
 * (their gold examples borrow from d), in fold order. Up to jobs folds train at a time (0:
 * one per CPU, at most 4); the results are the same whatever jobs is. progress is called
 * from the calling thread, in fold order. */
int cd_nlu_cross_validate(const cd_nlu_data *d, const cd_nlu_config *cfg, int k, unsigned seed,
                          int jobs, cd_nlu_cv_progress progress, void *ctx,
                          cd_nlu_eval_set *preds, cd_nlu_cv_result *res, cd_error_t *err);
void cd_nlu_cv_result_done(cd_nlu_cv_result *r);
/* Rasa's log_results lines: "test Accuracy: 0.921 (0.006)" (mean, population std). */
void cd_nlu_cv_print(FILE *f, const cd_nlu_cv_result *r);
/* The per-fold numbers as docs/report.md's cross_validation.json: {"folds": K, "test":
 * {"Accuracy": [..K..], "F1-score": [..], "Precision": [..]}, "train": {..}} plus, when the
 * data has entities, "entities": {"test": {..}, "train": {..}}. NULL when out of memory. */
json_t *cd_nlu_cv_json(const cd_nlu_cv_result *r);
/* Writes cd_nlu_cv_json to dir/cross_validation.json (dir must exist). */
int cd_nlu_cv_write(const char *dir, const cd_nlu_cv_result *r, cd_error_t *err);

#endif
