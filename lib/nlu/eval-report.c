/* The classification report of `rasa test nlu`: sklearn's classification_report(targets,
 * predictions, labels=set(targets), output_dict=True), Rasa's confused_with, and Rasa 3.1+'s
 * make_classification_report_complete. The arithmetic follows sklearn < 1.2 (what Rasa 3.x
 * pins): F1 = 2PR/(P+R), zero division gives 0.0. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/eval.h"
#include "nlu/features-vocab.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int label_index(const cd_nlu_report *r, const char *s)
{
    char **hit = bsearch(&s, r->cm_labels, r->n_cm, sizeof(char *), cmp_str);
    return hit ? (int)(hit - r->cm_labels) : -1;
}

static double safe_div(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

static double f1_of(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

void cd_nlu_report_done(cd_nlu_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_cm; i++)
        free(r->cm_labels[i]);
    free(r->cm_labels);
    free(r->cm);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

/* The sorted distinct labels of targets and predictions into r->cm_labels, and each item's
 * (target, prediction) as indices into them: labels are interned in a hash map first, so only
 * the few distinct ones are sorted (an entity report has a label per token: sorting those
 * strings was most of a cross-validation fold's summary). */
static int index_labels(cd_nlu_report *r, const char *const *t, const char *const *p, size_t n,
                        int *ti, int *pi)
{
    cd_nlu_vocab v = {0};
    const char **keys = NULL;
    size_t *rank = NULL;
    int rc = -1;
    for (size_t i = 0; i < 2 * n; i++) {
        const char *s = (i & 1 ? p[i / 2] : t[i / 2]);
        s = s ? s : "";
        long id = cd_nlu_vocab_add(&v, s, strlen(s) + 1); /* the NUL kept: keys are C strings */
        if (id < 0)
            goto out;
        (i & 1 ? pi : ti)[i / 2] = (int)id;
    }
    size_t L = v.n;
    keys = malloc((L + 1) * sizeof(*keys));
    rank = malloc((L + 1) * sizeof(*rank));
    r->cm_labels = calloc(L + 1, sizeof(char *));
    if (!keys || !rank || !r->cm_labels)
        goto out;
    for (size_t id = 0; id < L; id++) {
        size_t len;
        keys[id] = cd_nlu_vocab_key(&v, id, &len);
    }
    qsort(keys, L, sizeof(*keys), cmp_str);
    for (size_t k = 0; k < L; k++) {
        size_t len = strlen(keys[k]) + 1;
        rank[cd_nlu_vocab_find(&v, keys[k], len)] = k;
        if (!(r->cm_labels[k] = strdup(keys[k])))
            goto out;
        r->n_cm++;
    }
    for (size_t i = 0; i < n; i++) {
        ti[i] = (int)rank[ti[i]];
        pi[i] = (int)rank[pi[i]];
    }
    rc = 0;
out:
    free(keys);
    free(rank);
    cd_nlu_vocab_done(&v);
    return rc;
}

/* Rasa's _add_confused_labels_to_report: the 3 largest cells of the row (np.argsort, read
 * from the end, so ties go to the later label), minus the label itself, the excluded label
 * and empty cells, most confused first. */
static void confused_with(cd_nlu_report *r, cd_nlu_label_metrics *row, int li, int excl)
{
    size_t n = r->n_cm;
    const long *cells = r->cm + (size_t)li * n;
    int cand = n < 3 ? (int)n : 3;
    int picked[3];
    for (int j = 0; j < cand; j++) {
        int best = -1;
        for (size_t c = 0; c < n; c++) {
            bool used = false;
            for (int k = 0; k < j; k++)
                used |= picked[k] == (int)c;
            if (used)
                continue;
            if (best < 0 || cells[c] >= cells[best])
                best = (int)c;
        }
        picked[j] = best;
        if (best != li && best != excl && cells[best] > 0) {
            row->confused[row->n_confused] = best;
            row->confused_n[row->n_confused++] = cells[best];
        }
    }
}

int cd_nlu_report_compute(const char *const *targets, const char *const *preds, size_t n,
                          const char *exclude, cd_nlu_report *out, cd_error_t *err)
{
    cd_nlu_report r = {0};
    r.n_items = n;
    int *ti = malloc((n + 1) * sizeof(int)), *pi = malloc((n + 1) * sizeof(int));
    if (!ti || !pi || index_labels(&r, targets, preds, n, ti, pi) < 0) {
        free(ti);
        free(pi);
        goto oom;
    }
    size_t L = r.n_cm;
    r.cm = calloc(L * L + 1, sizeof(long));
    r.rows = calloc(L + 1, sizeof(*r.rows));
    long correct = 0;
    for (size_t i = 0; r.cm && i < n; i++) {
        r.cm[(size_t)ti[i] * L + (size_t)pi[i]]++;
        correct += ti[i] == pi[i];
    }
    free(ti);
    free(pi);
    if (!r.cm || !r.rows)
        goto oom;
    r.accuracy = safe_div((double)correct, (double)n);
    int excl = exclude ? label_index(&r, exclude) : -1;

    long *colsum = calloc(L + 1, sizeof(long)), *rowsum = calloc(L + 1, sizeof(long));
    if (!colsum || !rowsum) {
        free(colsum);
        free(rowsum);
        goto oom;
    }
    for (size_t a = 0; a < L; a++)
        for (size_t b = 0; b < L; b++) {
            rowsum[a] += r.cm[a * L + b];
            colsum[b] += r.cm[a * L + b];
        }

    /* labels = set(targets) - exclude; sklearn calls it accuracy when those labels cover
     * every label seen in targets or predictions. */
    r.micro_is_accuracy = true;
    long tp_sum = 0, pred_sum = 0;
    for (size_t a = 0; a < L; a++) {
        bool is_row = rowsum[a] > 0 && (int)a != excl;
        if (!is_row) {
            r.micro_is_accuracy = false;
            continue;
        }
        cd_nlu_label_metrics *m = &r.rows[r.n_rows++];
        m->label = r.cm_labels[a];
        long tp = r.cm[a * L + a];
        m->support = rowsum[a];
        m->precision = safe_div((double)tp, (double)colsum[a]);
        m->recall = safe_div((double)tp, (double)rowsum[a]);
        m->f1 = f1_of(m->precision, m->recall);
        confused_with(&r, m, (int)a, excl);
        tp_sum += tp;
        pred_sum += colsum[a];
        r.support += m->support;
    }
    free(colsum);
    free(rowsum);

    if (r.micro_is_accuracy) {
        r.micro_p = r.micro_r = r.micro_f1 = r.accuracy;
    } else {
        r.micro_p = safe_div((double)tp_sum, (double)pred_sum);
        r.micro_r = safe_div((double)tp_sum, (double)r.support);
        r.micro_f1 = f1_of(r.micro_p, r.micro_r);
    }
    for (size_t i = 0; i < r.n_rows; i++) {
        const cd_nlu_label_metrics *m = &r.rows[i];
        r.macro_p += m->precision;
        r.macro_r += m->recall;
        r.macro_f1 += m->f1;
        r.weighted_p += m->precision * (double)m->support;
        r.weighted_r += m->recall * (double)m->support;
        r.weighted_f1 += m->f1 * (double)m->support;
    }
    if (r.n_rows) {
        r.macro_p /= (double)r.n_rows;
        r.macro_r /= (double)r.n_rows;
        r.macro_f1 /= (double)r.n_rows;
        r.weighted_p = safe_div(r.weighted_p, (double)r.support);
        r.weighted_r = safe_div(r.weighted_r, (double)r.support);
        r.weighted_f1 = safe_div(r.weighted_f1, (double)r.support);
    }
    *out = r;
    return 0;
oom:
    cd_nlu_report_done(&r);
    return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "compute classification report: out of memory");
}

static json_t *avg_json(double p, double r, double f, long support)
{
    return json_pack("{s:f, s:f, s:f, s:I}", "precision", p, "recall", r, "f1-score", f,
                     "support", (json_int_t)support);
}

json_t *cd_nlu_report_json(const cd_nlu_report *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* get_evaluation_metrics returns {} when there is no label to evaluate. */
    if (!r->n_rows)
        return o;
    for (size_t i = 0; i < r->n_rows; i++) {
        const cd_nlu_label_metrics *m = &r->rows[i];
        json_t *cw = json_object();
        for (int k = 0; k < m->n_confused; k++)
            json_object_set_new(cw, r->cm_labels[m->confused[k]],
                                json_integer((json_int_t)m->confused_n[k]));
        json_t *row = json_pack("{s:f, s:f, s:f, s:I, s:o}", "precision", m->precision,
                                "recall", m->recall, "f1-score", m->f1, "support",
                                (json_int_t)m->support, "confused_with", cw);
        if (!row || json_object_set_new(o, m->label, row) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    json_t *macro = avg_json(r->macro_p, r->macro_r, r->macro_f1, r->support);
    json_t *weighted = avg_json(r->weighted_p, r->weighted_r, r->weighted_f1, r->support);
    json_t *micro = avg_json(r->micro_p, r->micro_r, r->micro_f1, r->support);
    if (r->micro_is_accuracy) {
        /* sklearn: labels..., accuracy, macro, weighted; Rasa appends micro avg. */
        json_object_set_new(o, "accuracy", json_real(r->accuracy));
        json_object_set_new(o, "macro avg", macro);
        json_object_set_new(o, "weighted avg", weighted);
        json_object_set_new(o, "micro avg", micro);
    } else {
        /* sklearn: labels..., micro, macro, weighted; Rasa appends accuracy. */
        json_object_set_new(o, "micro avg", micro);
        json_object_set_new(o, "macro avg", macro);
        json_object_set_new(o, "weighted avg", weighted);
        json_object_set_new(o, "accuracy", json_real(r->accuracy));
    }
    return o;
}
