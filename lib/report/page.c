/* The run's wiki page: what a bot team (developers and the people who write the dialogues)
 * and an auditor need from one test run. This file: the machine-readable block, the summary,
 * the headline metrics and the changes since the previous report, and the page's order.
 * Layout and how to read it: docs/report.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/page-internal.h"

/* ---- this run's numbers ------------------------------------------------------------------- */

static const cd_report_table *main_entity(const cd_report_results *r)
{
    return r->n_entities ? &r->entities[0] : NULL;
}

static json_t *jnum_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *make_block(const cd_report_results *r, const cd_report_meta *m,
                          const char *published)
{
    json_t *b = json_object();
    json_t *in = json_object();
    if (!b || !in) {
        json_decref(b);
        json_decref(in);
        return NULL;
    }
    json_object_set_new(b, "v", json_integer(1));
    json_object_set_new(b, "published_at", json_string(published));
    if (m->project_path)
        json_object_set_new(b, "project", json_string(m->project_path));
    if (m->commit_sha)
        json_object_set_new(b, "commit", json_string(m->commit_sha));
    if (m->ref)
        json_object_set_new(b, "ref", json_string(m->ref));
    if (m->page_slug)
        json_object_set_new(b, "slug", json_string(m->page_slug));
    if (m->model_sha256)
        json_object_set_new(b, "model_sha256", json_string(m->model_sha256));
    if (m->data_fingerprint)
        json_object_set_new(b, "data_fingerprint", json_string(m->data_fingerprint));
    json_object_set_new(b, "accuracy", jnum_or_null(r->intents.accuracy));
    json_object_set_new(b, "macro_f1", jnum_or_null(r->intents.macro_f1));
    json_object_set_new(b, "weighted_f1", jnum_or_null(r->intents.weighted_f1));
    json_object_set_new(b, "entity_f1", jnum_or_null(entity_f1(main_entity(r))));
    json_object_set_new(b, "support", jnum_or_null(r->intents.support));
    for (size_t i = 0; i < r->intents.n_rows; i++) {
        const cd_report_row *row = &r->intents.rows[i];
        json_object_set_new(in, row->name,
                            json_pack("[oo]", jnum_or_null(row->f1), jnum_or_null(row->support)));
    }
    json_object_set_new(b, "intents", in);
    return b;
}

/* ---- sections ------------------------------------------------------------------------------ */

static void section_title(out_t *o, const cd_report_meta *m)
{
    put(o, "# NLU model report");
    if (m->project_path) {
        put(o, ": ");
        text(o, m->project_path, 120);
    }
    if (m->commit_sha) {
        put(o, " @ ");
        short_sha(o, m->commit_sha);
    }
    put(o, "\n\n");
}

static void section_summary(out_t *o, const cd_report_results *r, const prev_t *p,
                            const char *prev_slug, int improved, int regressed)
{
    const cd_report_table *t = &r->intents;
    put(o, "**In short:** ");
    if (isfinite(t->accuracy) && isfinite(t->support) && t->support > 0) {
        double right = round(t->accuracy * t->support);
        putf(o,
             "the model picked the right intent for **%.0f of %.0f** test messages "
             "(accuracy %.3f, %.1f %%)",
             right, t->support, t->accuracy, 100 * t->accuracy);
    } else if (isfinite(t->accuracy)) {
        putf(o, "intent accuracy is **%.3f** (%.1f %%)", t->accuracy, 100 * t->accuracy);
    } else {
        put(o, "the intent accuracy could not be read from the results (see *Notes* below)");
    }
    if (r->cv && json_is_integer(json_object_get(r->cv, "folds")))
        putf(o, ", measured by %lld-fold cross-validation",
             (long long)json_integer_value(json_object_get(r->cv, "folds")));
    put(o, ".");
    if (p->block) {
        put(o, " Since the ");
        if (prev_slug)
            link(o, "previous report", prev_slug, true);
        else
            put(o, "previous report");
        put(o, ": accuracy ");
        delta(o, t->accuracy, p->accuracy);
        put(o, ", macro F1 ");
        delta(o, t->macro_f1, p->macro_f1);
        putf(o, "; %d intent%s got better and %d got worse (F1 change of at least %.2f).", improved,
             improved == 1 ? "" : "s", regressed, CHANGE_EPS);
        /* One word for the reader who stops here; accuracy decides, as in the quality gate. */
        if (isfinite(t->accuracy) && isfinite(p->accuracy)) {
            double d = t->accuracy - p->accuracy;
            put(o, d >= CHANGE_EPS    ? "\n\n**Overall: better than the previous model.**"
                   : d <= -CHANGE_EPS ? "\n\n**Overall: ⚠ worse than the previous model** — "
                                        "check *Got worse* below before deploying it."
                                      : "\n\n**Overall: about as good as the previous model.**");
        }
    } else {
        put(o, " This is the first report (no earlier report to compare with).");
    }
    put(o, "\n\n");
    if (r->n_warnings)
        putf(o,
             "> **⚠ %zu problem%s found in the results files** — some numbers are missing "
             "or invalid and are shown as ⚠; see [Notes](#notes).\n\n",
             r->n_warnings, r->n_warnings == 1 ? "" : "s");
}

static void section_headline(out_t *o, const cd_report_results *r, const prev_t *p)
{
    const cd_report_table *t = &r->intents;
    const cd_report_table *e = main_entity(r);
    bool has_prev = p->block != NULL;
    put(o, "## Headline metrics\n\n");
    put(o, has_prev ? "| Metric | This run | Previous run | Change |\n|---|--:|--:|--:|\n"
                    : "| Metric | This run |\n|---|--:|\n");
    struct {
        const char *label;
        double now, before;
    } rows[] = {
        {"Intent accuracy", t->accuracy, p->accuracy},
        {"Intent F1, macro average (every intent counts the same)", t->macro_f1, p->macro_f1},
        {"Intent F1, weighted average (by test messages)", t->weighted_f1, p->weighted_f1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        putf(o, "| %s | ", rows[i].label);
        num(o, rows[i].now);
        if (has_prev) {
            put(o, " | ");
            num(o, rows[i].before);
            put(o, " | ");
            delta(o, rows[i].now, rows[i].before);
        }
        put(o, " |\n");
    }
    if (e) {
        put(o, "| Entity F1 (");
        text(o, e->name, 60);
        put(o, e->has_micro ? ", micro average) | " : ", weighted average) | ");
        num(o, entity_f1(e));
        if (has_prev) {
            put(o, " | ");
            num(o, p->entity_f1);
            put(o, " | ");
            delta(o, entity_f1(e), p->entity_f1);
        }
        put(o, " |\n");
    }
    put(o, "| Test messages | ");
    support_cell(o, t->support);
    if (has_prev) {
        put(o, " | ");
        support_cell(o, p->support);
        put(o, " | ");
    }
    putf(o, " |\n| Intents tested | %zu |%s\n\n", t->n_rows, has_prev ? " | |" : "");
    if (r->cv) {
        const json_t *test = json_object_get(r->cv, "test");
        const char *k;
        const json_t *arr;
        bool any = false;
        json_object_foreach((json_t *)test, k, arr)
        {
            if (!json_is_array(arr) || json_array_size(arr) == 0)
                continue;
            double sum = 0, sq = 0;
            size_t n = json_array_size(arr), good = 0;
            for (size_t i = 0; i < n; i++) {
                double v = jnum(json_array_get(arr, i));
                if (isfinite(v)) {
                    sum += v;
                    sq += v * v;
                    good++;
                }
            }
            if (!good)
                continue;
            if (!any)
                put(o, "Per fold (test folds, mean ± standard deviation): ");
            else
                put(o, ", ");
            any = true;
            double mean = sum / (double)good, var = sq / (double)good - mean * mean;
            text(o, k, 40);
            putf(o, " %.3f ± %.3f", mean, var > 0 ? sqrt(var) : 0.0);
        }
        if (any)
            put(o, ".\n\n");
    }
}

typedef struct {
    const cd_report_row *row;
    double before, d;
} change_t;

static int change_cmp(const void *a, const void *b)
{
    const change_t *x = a, *y = b;
    if (fabs(x->d) != fabs(y->d))
        return fabs(x->d) > fabs(y->d) ? -1 : 1;
    return strcmp(x->row->name, y->row->name);
}

static void change_table(out_t *o, const char *title, change_t *v, size_t n)
{
    if (!n)
        return;
    qsort(v, n, sizeof(*v), change_cmp);
    putf(o, "**%s** (%zu):\n\n| Intent | F1 before | F1 now | Change |\n|---|--:|--:|--:|\n", title,
         n);
    for (size_t i = 0; i < n && i < MAX_CHANGED; i++) {
        put(o, "| ");
        text(o, v[i].row->name, 80);
        put(o, " | ");
        num(o, v[i].before);
        put(o, " | ");
        num(o, v[i].row->f1);
        put(o, " | ");
        delta(o, v[i].row->f1, v[i].before);
        put(o, " |\n");
    }
    if (n > MAX_CHANGED)
        putf(o, "| … and %zu more | | | |\n", n - MAX_CHANGED);
    put(o, "\n");
}

static void section_changes(out_t *o, const cd_report_results *r, const prev_t *p,
                            const char *prev_slug, int *ret_improved, int *ret_regressed,
                            bool render)
{
    *ret_improved = *ret_regressed = 0;
    if (!p->block)
        return;
    const cd_report_table *t = &r->intents;
    change_t *up = calloc(t->n_rows + 1, sizeof(*up));
    change_t *down = calloc(t->n_rows + 1, sizeof(*down));
    const cd_report_row **added = calloc(t->n_rows + 1, sizeof(*added));
    if (!up || !down || !added) {
        free(up);
        free(down);
        free(added);
        if (o->rc == 0)
            o->rc = -1;
        return;
    }
    size_t nu = 0, nd = 0, na = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        const cd_report_row *row = &t->rows[i];
        if (!json_object_get(p->intents, row->name)) {
            added[na++] = row;
            continue;
        }
        double before = prev_intent_f1(p, row->name);
        if (!isfinite(before) || !isfinite(row->f1))
            continue;
        double d = row->f1 - before;
        if (d >= CHANGE_EPS)
            up[nu++] = (change_t){row, before, d};
        else if (d <= -CHANGE_EPS)
            down[nd++] = (change_t){row, before, d};
    }
    *ret_improved = (int)nu;
    *ret_regressed = (int)nd;
    if (render) {
        put(o, "## Changes since the previous report\n\n");
        put(o, "Compared with ");
        if (prev_slug)
            link(o, "the previous report", prev_slug, true);
        else
            put(o, "the previous report");
        const char *pc = json_string_value(json_object_get(p->block, "commit"));
        const char *pd = json_string_value(json_object_get(p->block, "published_at"));
        if (pc) {
            put(o, " (commit ");
            short_sha(o, pc);
            if (pd) {
                put(o, ", ");
                text(o, pd, 32);
            }
            put(o, ")");
        }
        put(o, ".\n\n");
        if (!nu && !nd && !na)
            putf(o, "No intent's F1 moved by %.2f or more.\n\n", CHANGE_EPS);
        change_table(o, "Got worse", down, nd);
        change_table(o, "Got better", up, nu);
        if (na) {
            putf(o, "**New intents** (not in the previous report, %zu): ", na);
            for (size_t i = 0; i < na && i < 30; i++) {
                if (i)
                    put(o, ", ");
                text(o, added[i]->name, 60);
            }
            put(o, na > 30 ? ", …\n\n" : "\n\n");
        }
        /* intents that disappeared */
        size_t gone = 0;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)p->intents, k, v)
        {
            bool found = false;
            for (size_t i = 0; i < t->n_rows && !found; i++)
                found = strcmp(t->rows[i].name, k) == 0;
            if (found)
                continue;
            if (gone == 0)
                put(o, "**No longer tested** (in the previous report only): ");
            else if (gone < 30)
                put(o, ", ");
            if (gone < 30)
                text(o, k, 60);
            gone++;
        }
        if (gone)
            put(o, gone > 30 ? ", …\n\n" : "\n\n");
    }
    free(up);
    free(down);
    free(added);
}

int cd_report_render_page(const cd_report_results *r, const cd_report_meta *meta,
                          const char *previous_page, const cd_report_attachment *att, size_t n_att,
                          char **ret_markdown, cd_error_t *err)
{
    *ret_markdown = NULL;
    static const cd_report_meta none;
    const cd_report_meta *m = meta ? meta : &none;
    char now[32];
    const char *published = m->published_at;
    if (!published) {
        cd_report_now_iso(now);
        published = now;
    }
    prev_t p = {.accuracy = -INFINITY,
                .macro_f1 = -INFINITY,
                .weighted_f1 = -INFINITY,
                .entity_f1 = -INFINITY,
                .support = -INFINITY};
    const char *prev_note = NULL;
    if (previous_page) {
        p.block = cd_report_block_read(previous_page, CD_REPORT_PAGE_TAG);
        if (p.block) {
            p.accuracy = jnum(json_object_get(p.block, "accuracy"));
            p.macro_f1 = jnum(json_object_get(p.block, "macro_f1"));
            p.weighted_f1 = jnum(json_object_get(p.block, "weighted_f1"));
            p.entity_f1 = jnum(json_object_get(p.block, "entity_f1"));
            p.support = jnum(json_object_get(p.block, "support"));
            p.intents = json_object_get(p.block, "intents");
            if (!json_is_object(p.intents))
                p.intents = NULL;
        } else {
            prev_note = "The previous report has no readable machine-readable block (made by "
                        "hand or by an older version?), so no changes are shown.";
        }
    }
    const char *prev_slug = p.block ? json_string_value(json_object_get(p.block, "slug")) : NULL;
    out_t o = {CD_STRBUF_INIT, 0};
    cd_strbuf_init(&o.sb, 0);
    json_t *block = make_block(r, m, published);
    if (!block) {
        json_decref(p.block);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "render report: out of memory");
    }
    int improved, regressed;
    section_changes(&o, r, &p, prev_slug, &improved, &regressed, false);
    section_title(&o, m);
    if (o.rc == 0)
        o.rc = cd_report_block_write(&o.sb, CD_REPORT_PAGE_TAG, block);
    put(&o, "\n");
    section_summary(&o, r, &p, prev_slug, improved, regressed);
    section_headline(&o, r, &p);
    section_changes(&o, r, &p, prev_slug, &improved, &regressed, true);
    cd_report_sec_intents(&o, r, m, &p);
    cd_report_sec_confusions(&o, r);
    cd_report_sec_charts(&o, r, att, n_att);
    cd_report_sec_errors(&o, r);
    cd_report_sec_entities(&o, r);
    cd_report_sec_response(&o, r);
    cd_report_sec_trail(&o, m, published);
    cd_report_sec_notes(&o, r, prev_note);
    cd_report_sec_howto(&o);
    json_decref(block);
    json_decref(p.block);
    if (o.rc) {
        cd_strbuf_done(&o.sb);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "render report: out of memory");
    }
    *ret_markdown = cd_strbuf_take(&o.sb);
    return 0;
}
