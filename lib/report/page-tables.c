/* The report page's per-label tables (intents, entities, response selection), the mix-ups
 * and the sample of misclassified messages. Every cell of user text goes through text(). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/page-internal.h"

/* ---- sorting -------------------------------------------------------------------------------- */

/* Worst first: invalid numbers first (they need a look), then F1 ascending, then more test
 * messages first (a bad intent that matters more), then name. */
static int row_cmp(const void *a, const void *b)
{
    const cd_report_row *x = *(const cd_report_row *const *)a;
    const cd_report_row *y = *(const cd_report_row *const *)b;
    bool xn = isnan(x->f1), yn = isnan(y->f1);
    if (xn != yn)
        return xn ? -1 : 1;
    if (!xn && x->f1 != y->f1)
        return x->f1 < y->f1 ? -1 : 1;
    double xs = isnan(x->support) ? -1 : x->support, ys = isnan(y->support) ? -1 : y->support;
    if (xs != ys)
        return xs > ys ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const cd_report_row **sorted_rows(const cd_report_table *t)
{
    const cd_report_row **v = calloc(t->n_rows ? t->n_rows : 1, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < t->n_rows; i++)
        v[i] = &t->rows[i];
    qsort(v, t->n_rows, sizeof(*v), row_cmp);
    return v;
}

static const char *grade(double f1)
{
    /* no-break spaces: the status column stays one word wide */
    if (isnan(f1))
        return "⚠ check";
    if (f1 >= 0.9)
        return "✓ good";
    if (f1 >= 0.7)
        return "△ fair";
    return "✗ poor";
}

static long training_count(const cd_report_meta *m, const char *intent)
{
    const json_t *v = json_object_get(m->intent_counts, intent);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

/* "other (3), third (1)" from confused_with. */
static void confused_cell(out_t *o, const json_t *cw)
{
    const char *k;
    const json_t *v;
    int n = 0;
    json_object_foreach((json_t *)cw, k, v)
    {
        if (!json_is_integer(v) || n >= 3)
            continue;
        if (n++)
            put(o, ", ");
        text(o, k, 60);
        putf(o, " (%lld)", (long long)json_integer_value(v));
    }
    if (n == 0)
        put(o, "—");
}

/* Columns of a per-label table: intents get training counts (when known) and changes. */
typedef struct {
    const char *what;   /* "Intent", "Entity", "Response" */
    const char *unit;   /* "Test messages", "Test tokens" */
    const char *plural; /* "intents" */
    bool counts, change;
} cols_t;

static void label_header(out_t *o, const cols_t *c)
{
    putf(o, "| Status | %s | F1 | Precision | Recall | %s |", c->what, c->unit);
    if (c->counts)
        put(o, " Training examples |");
    if (c->change)
        put(o, " Change in F1 |");
    put(o, " Most often mistaken for (times) |\n|---|---|--:|--:|--:|--:|");
    if (c->counts)
        put(o, "--:|");
    if (c->change)
        put(o, "--:|");
    put(o, "---|\n");
}

static void label_row(out_t *o, const cols_t *c, const cd_report_row *row, const cd_report_meta *m,
                      const prev_t *p)
{
    putf(o, "| %s | ", grade(row->f1));
    text(o, row->name, 80);
    put(o, " | ");
    num(o, row->f1);
    put(o, " | ");
    num(o, row->precision);
    put(o, " | ");
    num(o, row->recall);
    put(o, " | ");
    support_cell(o, row->support);
    if (c->counts) {
        long tc = training_count(m, row->name);
        if (tc >= 0)
            putf(o, " | %ld", tc);
        else
            put(o, " | —");
    }
    if (c->change) {
        put(o, " | ");
        delta(o, row->f1, prev_intent_f1(p, row->name));
    }
    put(o, " | ");
    confused_cell(o, row->confused_with);
    put(o, " |\n");
}

/* Worst first; past 2 × ROWS_VISIBLE rows the tail folds into <details>. */
static void label_table(out_t *o, const cd_report_table *t, const cols_t *c,
                        const cd_report_meta *m, const prev_t *p)
{
    const cd_report_row **v = sorted_rows(t);
    if (!v) {
        o->rc = -1;
        return;
    }
    size_t shown = t->n_rows <= ROWS_VISIBLE * 2 ? t->n_rows : ROWS_VISIBLE;
    label_header(o, c);
    for (size_t i = 0; i < shown; i++)
        label_row(o, c, v[i], m, p);
    put(o, "\n");
    if (shown < t->n_rows) {
        putf(o, "<details>\n<summary>The other %zu %s (click to open)</summary>\n\n",
             t->n_rows - shown, c->plural);
        label_header(o, c);
        for (size_t i = shown; i < t->n_rows; i++)
            label_row(o, c, v[i], m, p);
        put(o, "\n</details>\n\n");
    }
    free(v);
}

void cd_report_sec_intents(out_t *o, const cd_report_results *r, const cd_report_meta *m,
                           const prev_t *p)
{
    put(o, "## Intents, worst first\n\n");
    put(o, "F1 combines precision (when the model says this intent, how often it is right) and "
           "recall (how many messages of this intent it finds); 1.000 is perfect. "
           "✓ good ≥ 0.9 · △ fair ≥ 0.7 · ✗ poor < 0.7.\n\n");
    cols_t c = {"Intent", "Test messages", "intents", json_object_size(m->intent_counts) > 0,
                p->block != NULL};
    label_table(o, &r->intents, &c, m, p);
}

typedef struct {
    const char *from, *to;
    long long n;
    double support;
} confusion_t;

static int confusion_cmp(const void *a, const void *b)
{
    const confusion_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    int c = strcmp(x->from, y->from);
    return c ? c : strcmp(x->to, y->to);
}

void cd_report_sec_confusions(out_t *o, const cd_report_results *r)
{
    const cd_report_table *t = &r->intents;
    size_t cap = 0;
    for (size_t i = 0; i < t->n_rows; i++)
        cap += json_object_size(t->rows[i].confused_with);
    put(o, "## Most frequent mix-ups\n\n");
    if (!cap) {
        put(o, "No intent was mistaken for another one.\n\n");
        return;
    }
    confusion_t *v = calloc(cap, sizeof(*v));
    if (!v) {
        o->rc = -1;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)t->rows[i].confused_with, k, c)
        {
            if (json_is_integer(c) && json_integer_value(c) > 0)
                v[n++] =
                    (confusion_t){t->rows[i].name, k, json_integer_value(c), t->rows[i].support};
        }
    }
    qsort(v, n, sizeof(*v), confusion_cmp);
    put(o, "Messages of one intent that the model took for another (the pairs to look at when "
           "writing more training examples).\n\n"
           "| Messages of intent | Were taken for | Times | Share of that intent's test "
           "messages |\n|---|---|--:|--:|\n");
    for (size_t i = 0; i < n && i < MAX_CONFUSIONS; i++) {
        put(o, "| ");
        text(o, v[i].from, 80);
        put(o, " | ");
        text(o, v[i].to, 80);
        putf(o, " | %lld | ", v[i].n);
        if (isfinite(v[i].support) && v[i].support > 0)
            putf(o, "%.0f %%", 100.0 * (double)v[i].n / v[i].support);
        else
            put(o, "—");
        put(o, " |\n");
    }
    put(o, "\n");
    free(v);
}

static void entity_list(out_t *o, const json_t *ents)
{
    size_t i, n = 0;
    const json_t *e;
    json_array_foreach((json_t *)ents, i, e)
    {
        const char *val = json_string_value(json_object_get(e, "value"));
        const char *ty = json_string_value(json_object_get(e, "entity"));
        if (!ty)
            continue;
        if (n++)
            put(o, "; ");
        if (n > 6) {
            put(o, "…");
            break;
        }
        text(o, val ? val : "?", 60);
        put(o, " → ");
        text(o, ty, 60);
    }
    if (!n)
        put(o, "(none)");
}

void cd_report_sec_entities(out_t *o, const cd_report_results *r)
{
    if (!r->n_entities)
        return;
    put(o, "## Entities\n\n");
    for (size_t k = 0; k < r->n_entities; k++) {
        const cd_report_table *t = &r->entities[k];
        put(o, "### ");
        text(o, t->name, 80);
        put(o, "\n\nToken-level scores, as `rasa test nlu` computes them. F1 ");
        put(o, t->has_micro ? "(micro average): **" : "(weighted average): **");
        num(o, entity_f1(t));
        put(o, "**");
        if (t->has_accuracy && isfinite(t->accuracy))
            putf(o, ", token accuracy %.3f (including tokens without an entity)", t->accuracy);
        put(o, ".\n\n");
        static const prev_t none;
        cols_t c = {"Entity", "Test tokens", "entity types", false, false};
        label_table(o, t, &c, NULL, &none);
        size_t ne = json_array_size(t->errors);
        if (ne) {
            putf(o,
                 "<details>\n<summary>Sample of messages with entity mistakes (%zu of %zu)"
                 "</summary>\n\n| Message | Expected | Predicted |\n|---|---|---|\n",
                 ne < MAX_ENTITY_ERROR_SAMPLE ? ne : (size_t)MAX_ENTITY_ERROR_SAMPLE, ne);
            for (size_t i = 0; i < ne && i < MAX_ENTITY_ERROR_SAMPLE; i++) {
                const json_t *e = json_array_get(t->errors, i);
                put(o, "| ");
                text(o, json_string_value(json_object_get(e, "text")), UTTERANCE_CHARS);
                put(o, " | ");
                entity_list(o, json_object_get(e, "entities"));
                put(o, " | ");
                entity_list(o, json_object_get(e, "predicted_entities"));
                put(o, " |\n");
            }
            put(o, "\n</details>\n\n");
        }
    }
}

void cd_report_sec_response(out_t *o, const cd_report_results *r)
{
    const cd_report_table *t = r->response;
    if (!t)
        return;
    put(o, "## Response selection\n\nRetrieval intents (e.g. `faq/ask_name`): accuracy ");
    num(o, t->accuracy);
    put(o, ", macro F1 ");
    num(o, t->macro_f1);
    put(o, ".\n\n");
    static const prev_t none;
    cols_t c = {"Response", "Test messages", "responses", false, false};
    label_table(o, t, &c, NULL, &none);
}

typedef struct {
    const json_t *e;
    double conf;
    size_t pos;
} err_t;

/* Most confident first; equal confidences keep the file's order (qsort is not stable). */
static int err_cmp(const void *a, const void *b)
{
    const err_t *x = a, *y = b;
    if (x->conf != y->conf)
        return x->conf > y->conf ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void cd_report_sec_errors(out_t *o, const cd_report_results *r)
{
    const json_t *errs = r->intents.errors;
    size_t n = json_array_size(errs);
    put(o, "## Sample of misclassified messages\n\n");
    if (!errs) {
        put(o, "No error file in the results (see *Notes*).\n\n");
        return;
    }
    if (!n) {
        put(o, "None: every test message got the right intent.\n\n");
        return;
    }
    err_t *v = calloc(n, sizeof(*v));
    if (!v) {
        o->rc = -1;
        return;
    }
    size_t k = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(errs, i);
        const json_t *pred = json_object_get(e, "intent_prediction");
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "text"))) {
            bad++;
            continue;
        }
        double c = jnum(json_object_get(pred, "confidence"));
        v[k] = (err_t){e, isfinite(c) ? c : -1, k};
        k++;
    }
    qsort(v, k, sizeof(*v), err_cmp);
    if (n <= MAX_ERROR_SAMPLE)
        putf(o, "All %zu misclassified messages, the most confident mistakes first", n);
    else
        putf(o, "The %d most confident of %zu mistakes", MAX_ERROR_SAMPLE, n);
    put(o, " (a confident mistake usually means the training examples of the two intents "
           "overlap).\n\n");
    put(o, "| Message | Expected intent | Predicted intent | Confidence |\n|---|---|---|--:|\n");
    for (size_t i = 0; i < k && i < MAX_ERROR_SAMPLE; i++) {
        const json_t *e = v[i].e;
        const json_t *pred = json_object_get(e, "intent_prediction");
        put(o, "| ");
        text(o, json_string_value(json_object_get(e, "text")), UTTERANCE_CHARS);
        put(o, " | ");
        text(o, json_string_value(json_object_get(e, "intent")), 80);
        put(o, " | ");
        const char *pn = json_string_value(json_object_get(pred, "name"));
        if (pn && !*pn)
            put(o, "*(none)*");
        else
            text(o, pn, 80);
        put(o, " | ");
        if (v[i].conf >= 0 && v[i].conf <= 1)
            putf(o, "%.2f", v[i].conf);
        else
            put(o, "—");
        put(o, " |\n");
    }
    put(o, "\n");
    if (bad)
        putf(o, "(%zu malformed entr%s in intent_errors.json skipped.)\n\n", bad,
             bad == 1 ? "y" : "ies");
    free(v);
}
