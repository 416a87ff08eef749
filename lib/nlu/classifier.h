/* The intent classifier: a LIBLINEAR model trained on the TF-IDF vectors, kept as a dense
 * float weight matrix so that prediction needs no LIBLINEAR and is thread-safe. Confidences:
 * for logistic regression LIBLINEAR's own estimate (one-vs-rest sigmoids, normalised); for the
 * SVM solvers a softmax over scale × decision values. Internal to lib/nlu. */
#ifndef CD_NLU_CLASSIFIER_H
#define CD_NLU_CLASSIFIER_H

#include <linear.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum { CD_CLF_SOFTMAX = 0, CD_CLF_LOGISTIC = 1 };

typedef struct {
    int n_classes, n_feat; /* n_feat excludes the bias */
    int n_rows;            /* distinct weight rows: features equal in every training row
                            * (classifier-merge.c) share one */
    uint32_t *row;         /* feature (0-based) → its weight row */
    float *w;              /* (n_rows + 1) rows of n_classes; row n_rows is the bias */
    int prob_mode;         /* CD_CLF_* */
    double scale;          /* softmax temperature⁻¹ */
} cd_nlu_classifier;

/* x[i]: row i, sorted 1-based indices ≤ n_feat, terminated by index -1 (no bias node);
 * y[i] in [0, n_classes). LIBLINEAR's dual solvers shuffle with rand(): seeded here, so
 * training is deterministic; concurrent trainings take turns in the solver. With release,
 * the rows become LIBLINEAR's (each x[i] is taken and set to NULL, also on failure for the
 * rows taken so far): no second copy of a matrix that is ~50 MB on SNIPS. */
int cd_nlu_clf_train(cd_nlu_classifier *c, struct feature_node **x, bool release, const int *y,
                     size_t n, int n_feat, int n_classes, int solver, double C, unsigned seed,
                     cd_error_t *err);

/* Columns equal in every training row, merged for the solver (classifier-merge.c). Indices
 * are 1-based; entry 0 is unused. */
typedef struct {
    int n_out;     /* merged columns */
    int *id;       /* column → its merged column */
    int *lead;     /* column → the lowest column of its group (itself when alone) */
    double *scale; /* column → sqrt(size of its group) */
} cd_nlu_colmerge;

int cd_nlu_colmerge_build(cd_nlu_colmerge *cm, struct feature_node *const *x, size_t n,
                          int n_feat);
void cd_nlu_colmerge_done(cd_nlu_colmerge *cm);

/* decision values (n_classes) for x (terminated by index -1) */
void cd_nlu_clf_decision(const cd_nlu_classifier *c, const struct feature_node *x, double *dec);
/* confidences summing to 1, from the decision values (in place) */
void cd_nlu_clf_probs(const cd_nlu_classifier *c, double *dec);

void cd_nlu_clf_done(cd_nlu_classifier *c);
/* frees the calling thread's decision scratch */
void cd_nlu_clf_thread_done(void);

#endif
