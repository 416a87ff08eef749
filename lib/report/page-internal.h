/* Internals of the page renderer, shared by page*.c: the output buffer helpers and the
 * sections rendered in other files. Not for callers (see report.h). */
#ifndef CD_REPORT_PAGE_INTERNAL_H
#define CD_REPORT_PAGE_INTERNAL_H

#include <math.h>
#include <stdarg.h>

#include "report/report-internal.h"

#define ROWS_VISIBLE 15 /* rows shown before the rest of a table folds into <details> */
#define MAX_CONFUSIONS 10
#define MAX_ERROR_SAMPLE 20
#define MAX_ENTITY_ERROR_SAMPLE 10
#define MAX_CHANGED 15  /* improved / regressed intents listed */
#define CHANGE_EPS 0.01 /* a per-intent F1 move smaller than this is noise */
#define UTTERANCE_CHARS 160

typedef struct {
    cd_strbuf sb;
    int rc;
} out_t;

static inline void put(out_t *o, const char *s)
{
    if (o->rc == 0)
        o->rc = cd_strbuf_adds(&o->sb, s);
}

__attribute__((format(printf, 2, 3))) static inline void putf(out_t *o, const char *fmt, ...)
{
    if (o->rc)
        return;
    va_list ap;
    va_start(ap, fmt);
    o->rc = cd_strbuf_vprintf(&o->sb, fmt, ap);
    va_end(ap);
}

static inline void text(out_t *o, const char *s, size_t max)
{
    if (o->rc == 0)
        o->rc = cd_report_md_text(&o->sb, s, max);
}

/* [label](url) when url is safe, else the label alone (or "—"). */
static inline void link(out_t *o, const char *label, const char *url, bool relative)
{
    if (url && cd_report_url_ok(url, relative)) {
        put(o, "[");
        text(o, label ? label : url, 120);
        putf(o, "](%s)", url);
    } else if (label) {
        text(o, label, 120);
    } else if (url) {
        text(o, url, 200); /* shown, not linked: not an http(s) URL */
    } else {
        put(o, "—");
    }
}

static inline void num(out_t *o, double v)
{
    char b[32];
    put(o, cd_report_fmt_num(b, v));
}

static inline void delta(out_t *o, double now, double before)
{
    char b[48];
    put(o, isfinite(now) && isfinite(before) ? cd_report_fmt_delta(b, now - before) : "—");
}

/* ---- previous run ------------------------------------------------------------------------- */

typedef struct {
    json_t *block; /* the previous page's block or NULL */
    double accuracy, macro_f1, weighted_f1, entity_f1, support;
    const json_t *intents; /* {"name": [f1, support]} */
} prev_t;

static inline double jnum(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : -INFINITY;
}

static inline double prev_intent_f1(const prev_t *p, const char *name)
{
    const json_t *a = json_object_get(p->intents, name);
    return json_is_array(a) ? jnum(json_array_get(a, 0)) : -INFINITY;
}

/* Rasa's entity report always has micro avg (labels exclude no_entity); fall back to weighted. */
static inline double entity_f1(const cd_report_table *t)
{
    if (!t)
        return -INFINITY;
    return t->has_micro ? t->micro_f1 : t->weighted_f1;
}

static inline void support_cell(out_t *o, double s)
{
    if (isnan(s))
        put(o, "⚠ invalid");
    else if (isinf(s))
        put(o, "—");
    else
        putf(o, "%.0f", s);
}

/* The first 8 characters of a commit SHA, escaped. */
static inline void short_sha(out_t *o, const char *sha)
{
    char b[9];
    snprintf(b, sizeof(b), "%s", sha);
    text(o, b, 0);
}

/* Sections (page-tables.c, page-trail.c), in page order. */
void cd_report_sec_intents(out_t *o, const cd_report_results *r, const cd_report_meta *m,
                           const prev_t *p);
void cd_report_sec_confusions(out_t *o, const cd_report_results *r);
void cd_report_sec_charts(out_t *o, const cd_report_results *r, const cd_report_attachment *att,
                          size_t n_att);
void cd_report_sec_errors(out_t *o, const cd_report_results *r);
void cd_report_sec_entities(out_t *o, const cd_report_results *r);
void cd_report_sec_response(out_t *o, const cd_report_results *r);
void cd_report_sec_trail(out_t *o, const cd_report_meta *m, const char *published);
void cd_report_sec_notes(out_t *o, const cd_report_results *r, const char *prev_note);
void cd_report_sec_howto(out_t *o);

#endif
