#include "nlu/classifier.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void quiet(const char *s)
{
    (void)s; /* LIBLINEAR prints iteration logs to stdout otherwise */
}

int cd_nlu_clf_train(cd_nlu_classifier *c, struct feature_node **x, bool release, const int *y,
                     size_t n, int n_feat, int n_classes, int solver, double C, unsigned seed,
                     cd_error_t *err)
{
    memset(c, 0, sizeof(*c));
    /* every solver offered is L2-regularised, where merging duplicate columns is exact */
    cd_nlu_colmerge cm = {0};
    size_t nodes = 0;
    for (size_t i = 0; i < n; i++)
        for (const struct feature_node *p = x[i]; p->index != -1; p++)
            nodes++;
    /* LIBLINEAR wants the bias as an explicit last node of each row. Rows the caller releases
     * are rewritten in place (merging only drops or renames nodes; realloc adds the one more
     * node), so the solver's matrix takes the caller's memory instead of a second copy. */
    struct feature_node *pool = release ? NULL : malloc((nodes + 2 * n) * sizeof(*pool));
    struct feature_node **rows = calloc(n + 1, sizeof(*rows));
    double *yd = malloc(n * sizeof(*yd));
    struct model *m = NULL;
    int rc = -1;
    if ((!release && !pool) || !rows || !yd ||
        cd_nlu_colmerge_build(&cm, (struct feature_node *const *)x, n, n_feat)) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory training the intent classifier");
        goto out;
    }
    int n_in = cm.n_out; /* columns the solver sees */
    struct feature_node *q = pool;
    for (size_t i = 0; i < n; i++) {
        const struct feature_node *p = x[i];
        if (release) {
            size_t len = 0;
            while (x[i][len].index != -1)
                len++;
            struct feature_node *r = realloc(x[i], (len + 2) * sizeof(*r));
            if (!r) {
                cd_error(err, CD_ERR_SYSTEM, 0, "out of memory training the intent classifier");
                goto out;
            }
            x[i] = NULL;
            p = q = rows[i] = r;
        } else
            rows[i] = q;
        /* in place, q never passes p: each node is read before its slot is written */
        for (; p->index != -1; p++)
            if (cm.lead[p->index] == p->index)
                *q++ = (struct feature_node){cm.id[p->index], p->value * cm.scale[p->index]};
        *q++ = (struct feature_node){n_in + 1, 1.0};
        *q++ = (struct feature_node){-1, 0};
        yd[i] = y[i];
    }
    struct problem prob = {.l = (int)n, .n = n_in + 1, .y = yd, .x = rows, .bias = 1.0};
    struct parameter par = {.solver_type = solver, .C = C, .p = 0.1};
    switch (solver) {
    case L2R_LR: case L2R_L2LOSS_SVC: par.eps = 0.01; break;
    default: par.eps = 0.1; break;
    }
    const char *bad = check_parameter(&prob, &par);
    if (bad) {
        cd_error(err, CD_ERR_USAGE, 0, "intent classifier: %s", bad);
        goto out;
    }
    /* LIBLINEAR's solvers shuffle with rand(): seeded here and held while training, so that
     * models trained at the same time (cross-validation folds) each get their own sequence */
    static pthread_mutex_t rand_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&rand_lock);
    set_print_string_function(quiet);
    srand(seed);
    m = train(&prob, &par);
    pthread_mutex_unlock(&rand_lock);
    if (!m) {
        cd_error(err, CD_ERR_SYSTEM, 0, "LIBLINEAR training failed");
        goto out;
    }
    c->n_classes = n_classes;
    c->n_feat = n_feat;
    c->prob_mode = solver == L2R_LR || solver == L2R_LR_DUAL ? CD_CLF_LOGISTIC : CD_CLF_SOFTMAX;
    c->scale = 5.0;
    c->n_rows = n_in;
    c->row = malloc(((size_t)n_feat + 1) * sizeof(*c->row));
    c->w = calloc((size_t)(n_in + 1) * (size_t)n_classes, sizeof(float));
    if (!c->row || !c->w) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory training the intent classifier");
        goto out;
    }
    /* LIBLINEAR: w[g * nr_w + k], labels in first-seen order; one column when 2 classes
     * (except Crammer-Singer), positive for label[0]. A merged column's weight, shared out
     * to each of its copies, is the row they all point to. */
    int nr_w = m->nr_class == 2 && solver != MCSVM_CS ? 1 : m->nr_class;
    for (int f = 0; f <= n_feat; f++) {
        if (f < n_feat && cm.lead[f + 1] != f + 1) {
            c->row[f] = (uint32_t)cm.id[f + 1] - 1;
            continue;
        }
        size_t g = f < n_feat ? (size_t)cm.id[f + 1] - 1 : (size_t)n_in;
        double s = f < n_feat ? 1.0 / cm.scale[f + 1] : 1.0;
        c->row[f] = (uint32_t)g;
        for (int k = 0; k < m->nr_class; k++) {
            int cls = m->label[k];
            double v;
            if (nr_w == 1)
                v = k == 0 ? m->w[g] : -m->w[g];
            else
                v = m->w[g * (size_t)nr_w + (size_t)k];
            c->w[g * (size_t)n_classes + (size_t)cls] = (float)(v * s);
        }
    }
    /* a class absent from training (cannot happen via cd_nlu_train) keeps zero weights */
    rc = 0;
out:
    if (m)
        free_and_destroy_model(&m);
    cd_nlu_colmerge_done(&cm);
    free(pool);
    for (size_t i = 0; release && rows && i < n; i++) /* calloc'd: NULL past a failure */
        free(rows[i]);
    free(rows);
    free(yd);
    if (rc)
        cd_nlu_clf_done(c);
    return rc;
}

/* per-thread accumulator of cd_nlu_clf_decision; freed by cd_nlu_clf_thread_done */
static __thread float *acc;
static __thread size_t acc_cap;

void cd_nlu_clf_thread_done(void)
{
    free(acc);
    acc = NULL;
    acc_cap = 0;
}

void cd_nlu_clf_decision(const cd_nlu_classifier *c, const struct feature_node *x, double *dec)
{
    /* accumulate in float so the row updates vectorise (the weights are floats anyway) */
    size_t k = (size_t)c->n_classes;
    if (k > acc_cap) {
        float *p = realloc(acc, k * sizeof(*p));
        if (!p) { /* out of memory: the slow path, straight into dec */
            const float *b = c->w + (size_t)c->n_rows * k;
            for (size_t j = 0; j < k; j++)
                dec[j] = b[j];
            for (; x->index != -1; x++)
                if (x->index >= 1 && x->index <= c->n_feat)
                    for (size_t j = 0; j < k; j++)
                        dec[j] += x->value * c->w[(size_t)c->row[x->index - 1] * k + j];
            return;
        }
        acc = p;
        acc_cap = k;
    }
    float *a = acc;
    memcpy(a, c->w + (size_t)c->n_rows * k, k * sizeof(float));
    /* the rows are scattered over the whole matrix: ask for the row indices, then the rows,
     * before the sums need them, so the cache misses overlap instead of queueing */
    const struct feature_node *x0 = x;
    for (const struct feature_node *p = x0; p->index != -1; p++)
        if (p->index >= 1 && p->index <= c->n_feat)
            __builtin_prefetch(&c->row[p->index - 1]);
    for (const struct feature_node *p = x0; p->index != -1; p++)
        if (p->index >= 1 && p->index <= c->n_feat)
            __builtin_prefetch(c->w + (size_t)c->row[p->index - 1] * k);
    for (; x->index != -1; x++) {
        if (x->index < 1 || x->index > c->n_feat)
            continue;
        const float *row = c->w + (size_t)c->row[x->index - 1] * k;
        float v = (float)x->value;
        for (size_t j = 0; j < k; j++)
            a[j] += v * row[j];
    }
    for (size_t j = 0; j < k; j++)
        dec[j] = a[j];
}

void cd_nlu_clf_probs(const cd_nlu_classifier *c, double *dec)
{
    size_t k = (size_t)c->n_classes;
    double sum = 0;
    if (c->prob_mode == CD_CLF_LOGISTIC) {
        for (size_t j = 0; j < k; j++)
            sum += dec[j] = 1.0 / (1.0 + exp(-dec[j]));
    } else {
        double mx = -INFINITY;
        for (size_t j = 0; j < k; j++)
            if (dec[j] > mx)
                mx = dec[j];
        for (size_t j = 0; j < k; j++)
            sum += dec[j] = exp(c->scale * (dec[j] - mx));
    }
    for (size_t j = 0; j < k; j++)
        dec[j] = sum > 0 ? dec[j] / sum : 1.0 / (double)k;
}

void cd_nlu_clf_done(cd_nlu_classifier *c)
{
    free(c->w);
    free(c->row);
    memset(c, 0, sizeof(*c));
}
