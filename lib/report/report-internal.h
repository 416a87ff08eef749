/* Internals shared by the report renderer's files (not for callers). */
#ifndef CD_REPORT_INTERNAL_H
#define CD_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "report/report.h"
#include "util/strbuf.h"

#define CD_REPORT_MAX_CHARTS 16
#define CD_REPORT_MAX_WARNINGS 64

/* One row of a classification report. Invalid numbers are NaN (and a warning was recorded). */
typedef struct {
    const char *name; /* borrowed from the report JSON's keys */
    double precision, recall, f1;
    double support;              /* NaN when invalid */
    const json_t *confused_with; /* borrowed object or NULL */
} cd_report_row;

/* A parsed classification report (intents, an entity extractor or response selection). */
typedef struct {
    char *name;   /* "intent", "CRFEntityExtractor", "response_selection" */
    json_t *json; /* the whole report object (owns the strings rows borrow) */
    cd_report_row *rows;
    size_t n_rows;
    double accuracy, micro_f1, macro_f1, weighted_f1, macro_p, macro_r, weighted_p, weighted_r;
    double support; /* macro avg support, else sum of rows */
    bool has_accuracy, has_micro;
    json_t *errors; /* the matching *_errors.json array, or NULL */
} cd_report_table;

struct cd_report_results {
    char *dir;
    cd_report_table intents;
    cd_report_table *entities; /* one per <Extractor>_report.json, sorted by name */
    size_t n_entities;
    cd_report_table *response; /* response_selection_report.json or NULL */
    cd_report_chart charts[CD_REPORT_MAX_CHARTS];
    size_t n_charts;
    char *warnings[CD_REPORT_MAX_WARNINGS];
    size_t n_warnings;
    json_t *cv; /* cross_validation.json or NULL */
};

/* results.c: parse one report's JSON text (Python's NaN/Infinity tolerated) into t.
 * what names it in messages ("intent_report.json"). Used by the loader and the fuzzer. */
int cd_report_table_parse(cd_report_results *r, cd_report_table *t, const char *what,
                          const char *text, size_t len, cd_error_t *err);
void cd_report_table_done(cd_report_table *t);
/* Parse JSON text the way Python writes it (NaN, Infinity, -Infinity become the strings
 * "NaN", "Infinity", "-Infinity"). New reference or NULL with err filled. */
json_t *cd_report_json_loads(const char *what, const char *text, size_t len, cd_error_t *err);
/* Record a warning (printf-style); silently drops past CD_REPORT_MAX_WARNINGS. */
void cd_report_warn(cd_report_results *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
cd_report_results *cd_report_results_new(const char *dir);

/* escape.c: user text (utterances, labels) as inert GitLab Markdown inside a table cell or a
 * paragraph: HTML special characters as entities, Markdown punctuation backslash-escaped,
 * `|` escaped for GFM tables, newlines/controls as spaces, GitLab references (@user, #1, !1,
 * ~label, %milestone, $snippet) defused with a WORD JOINER, at most max_chars code points
 * (then "…"). max_chars 0 = unlimited. */
int cd_report_md_text(cd_strbuf *sb, const char *s, size_t max_chars);
/* A URL as a Markdown link destination: only http(s):// (or, if allow_relative, a relative
 * path of [A-Za-z0-9._~/%+-]) and without spaces/brackets/quotes; else returns false. */
bool cd_report_url_ok(const char *url, bool allow_relative);
/* A fenced code block that user content cannot break out of (fence longer than any run). */
int cd_report_md_code_block(cd_strbuf *sb, const char *lang, const char *text);
/* The machine-readable block: "<!-- <tag>: {json} -->" on one line, '<' '>' and '&' as \u
 * escapes so the comment cannot be closed early. */
int cd_report_block_write(cd_strbuf *sb, const char *tag, const json_t *obj);
/* Find and parse "<!-- <tag>: {json} -->" in md; NULL if absent or damaged. */
json_t *cd_report_block_read(const char *md, const char *tag);

/* Number formatting: "0.912", "⚠ invalid" for NaN, "—" for absent (±inf);
 * deltas "▲ +0.013" / "▼ -0.020" / "= 0.000". */
const char *cd_report_fmt_num(char buf[32], double v);
const char *cd_report_fmt_delta(char buf[48], double d);
/* Now (or meta->published_at) as "YYYY-MM-DDTHH:MM:SSZ". */
void cd_report_now_iso(char buf[32]);

#define CD_REPORT_PAGE_TAG "conductor-report"
#define CD_REPORT_INDEX_TAG "conductor-index"

#endif
