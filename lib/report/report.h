/* Report renderer: turns a results directory (ours, written by `conductor-nlu test`, or a real
 * `rasa test nlu` one) plus the run's paper trail into a GitLab-flavoured Markdown wiki page,
 * and keeps an index page with the history of all runs.
 *
 * No network here: the caller (conductor publish) fetches the previous pages and uploads the
 * charts and the rendered pages. The intended call sequence is:
 *
 *   cd_report_results_load(dir, &r, err);                     // parse the results directory
 *   for (i < cd_report_results_n_charts(r)) upload cd_report_results_chart(r, i)->path
 *        as a wiki attachment and keep GitLab's link.url      // contract §2.5
 *   GET the index page (404 → NULL);
 *   cd_report_index_previous_slug(index_md, this_slug, &prev_slug, err);
 *   GET prev_slug's page if prev_slug != NULL (404 → NULL);
 *   cd_report_render_page(r, meta, prev_md, links, n, &page_md, err);   → upsert this_slug
 *   cd_report_render_index(index_md, r, meta, this_slug, &index_md2, err); → upsert index
 *
 * Every page carries an invisible machine-readable block (an HTML comment GitLab does not
 * show, see docs/report.md) from which the next run computes its deltas; the index page keeps
 * its history the same way, so neither depends on parsing our own human-facing Markdown.
 *
 * All functions return 0 (or a pointer) on success and -1 (or NULL) with *err filled:
 *   CD_ERR_NOTFOUND  the results directory or its required intent_report.json is missing
 *   CD_ERR_DATA      a results file is not the JSON shape Rasa writes, is a symlink, is too big
 *   CD_ERR_SYSTEM    out of memory, I/O error
 *   CD_ERR_USAGE     cd_report_render_index without a page slug
 * Strings handed out through ret_* are malloc'd and owned by the caller (free()).
 * All input strings may be NULL unless stated; nothing here logs or stores secrets. */
#ifndef CD_REPORT_REPORT_H
#define CD_REPORT_REPORT_H

#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

/* The paper trail. Every field is optional (NULL renders as "—"); all are borrowed for the
 * duration of the call. URLs are rendered as links only when they start with http:// or
 * https:// (anything else is shown as escaped text). Never put a token into any field. */
typedef struct {
    const char *project_path;     /* "group/bot" (CI_PROJECT_PATH) */
    const char *project_url;      /* CI_PROJECT_URL */
    const char *commit_sha;       /* CI_COMMIT_SHA (40 hex) */
    const char *commit_url;       /* <project_url>/-/commit/<sha>; derived if NULL and both known */
    const char *ref;              /* branch or tag (CI_COMMIT_REF_NAME) */
    const char *pipeline_url;     /* CI_PIPELINE_URL */
    const char *job_url;          /* CI_JOB_URL */
    const char *author;           /* CI_COMMIT_AUTHOR ("Name <mail>") */
    const char *trained_at;       /* ISO 8601 UTC, from the model metadata */
    const char *data_fingerprint; /* SHA-256 hex of the training data */
    const json_t *intent_counts;  /* {"intent": n_examples, ...} from the model metadata */
    const json_t *config;         /* pipeline config / hyperparameters, any JSON */
    const char *conductor_version; /* e.g. "0.1.0" */
    const char *model_sha256;      /* SHA-256 hex of the model archive */
    const char *model_url;         /* the generic package file URL */
    const char *model_name;   /* package name/version shown as the link text, e.g. "nlu 1.2.0" */
    const char *published_at; /* ISO 8601 UTC of this publication; NULL = now */
    const char *page_slug;    /* this page's wiki slug: stored in the page's block so the
                                 next report links back to it */
} cd_report_meta;

/* Fill the model-derived fields of *meta (trained_at, data_fingerprint, intent_counts, config,
 * conductor_version) from a model's metadata.json object, tolerating missing keys. Pointers
 * borrow from metadata, which must outlive *meta. Fields already set are kept. */
void cd_report_meta_from_model(cd_report_meta *meta, const json_t *metadata);

typedef struct cd_report_results cd_report_results;

/* A chart file found in the results directory, to be uploaded as a wiki attachment. */
typedef struct {
    const char *name;  /* file name inside the results dir, e.g. "intent_confusion_matrix.svg" */
    const char *path;  /* "<dir>/<name>"; checked at load time: a regular file, not a symlink */
    const char *title; /* human caption, e.g. "Intent confusion matrix" */
} cd_report_chart;

/* What GitLab returned for one uploaded chart (contract §2.5): the chart's file name as
 * passed to upload (cd_report_chart.name) and the response's link.url
 * ("uploads/<32 hex>/<name>"). The renderer builds the image Markdown itself (escaped). */
typedef struct {
    const char *name;
    const char *url;
} cd_report_attachment;

/* Load dir: intent_report.json is required; intent_errors.json, <Extractor>_report.json,
 * <Extractor>_errors.json, response_selection_report.json and charts (*.svg, *.png) are
 * optional. Files are opened relative to dir with O_NOFOLLOW: a symlink inside the directory
 * (or dir itself being one) is refused with CD_ERR_DATA. Rasa 2.x/3.0 reports with only
 * one of `accuracy`/`micro avg` are accepted; NaN, f1 > 1, negative support etc. are kept
 * but flagged (see cd_report_results_warnings) and rendered as "⚠ invalid", never as truth.
 * Cross-validation directories have the same file names (Rasa computes them over the
 * concatenated test folds); an optional cross_validation.json ({"folds": K, ...}, see
 * docs/report.md) makes the page say so and show the per-fold means. */
int cd_report_results_load(const char *dir, cd_report_results **ret, cd_error_t *err);
cd_report_results *cd_report_results_free(cd_report_results *r);

size_t cd_report_results_n_charts(const cd_report_results *r);
const cd_report_chart *cd_report_results_chart(const cd_report_results *r, size_t i);

/* Human-readable notes about what was missing or suspicious ("no intent_errors.json",
 * "intent `greet`: f1-score 1.7 is > 1"), borrowed, i < n. The same notes appear on the page. */
size_t cd_report_results_n_warnings(const cd_report_results *r);
const char *cd_report_results_warning(const cd_report_results *r, size_t i);

/* Headline numbers (NaN when absent or invalid), for callers such as a log summary. */
double cd_report_results_accuracy(const cd_report_results *r);
double cd_report_results_macro_f1(const cd_report_results *r);
double cd_report_results_weighted_f1(const cd_report_results *r);

/* Render this run's page. previous_page is the Markdown of the previous run's page (or NULL
 * for the first run): only its machine-readable block is read; a page without one (or with a
 * damaged one) just gives no deltas, with a note. att[0..n_att) maps chart names to uploaded
 * URLs; charts without an entry are listed as "not uploaded". */
int cd_report_render_page(const cd_report_results *r, const cd_report_meta *meta,
                          const char *previous_page, const cd_report_attachment *att, size_t n_att,
                          char **ret_markdown, cd_error_t *err);

/* Rebuild the index page from existing_index's machine-readable block (NULL or no block:
 * start a new history) plus this run, keyed by page_slug: re-publishing the same slug
 * replaces its row instead of adding one. Newest first, at most CD_REPORT_INDEX_MAX rows.
 * page_slug is the wiki slug of this run's page, linked relative to the wiki. */
#define CD_REPORT_INDEX_MAX 100
int cd_report_render_index(const char *existing_index, const cd_report_results *r,
                           const cd_report_meta *meta, const char *page_slug, char **ret_markdown,
                           cd_error_t *err);

/* The slug of the newest run in the index other than this_slug (the page to diff against),
 * or *ret_slug = NULL when there is none. Returns -1 only on out-of-memory. */
int cd_report_index_previous_slug(const char *existing_index, const char *this_slug,
                                  char **ret_slug, cd_error_t *err);

/* A suggested slug for this run's page: "<prefix>/<YYYY-MM-DD>-<HHMMSS>-<sha8>" built from
 * meta->published_at (or now) and meta->commit_sha; prefix NULL = "nlu-reports". Only
 * [A-Za-z0-9._/-] survive, so it is stable under GitLab's sluggification (contract §2.3).
 * The publisher may use any other slug (e.g. "<prefix>/<package version>"). */
int cd_report_page_slug(const cd_report_meta *meta, const char *prefix, char **ret_slug,
                        cd_error_t *err);
/* The index page slug: "<prefix>/index"; prefix NULL = "nlu-reports". Links to run pages are
 * wiki "direct page links" (the slug from the wiki root, no leading slash). */
int cd_report_index_slug(const char *prefix, char **ret_slug, cd_error_t *err);

#endif
