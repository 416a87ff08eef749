/* Fuzz the report renderer on untrusted inputs: a results directory's intent_report.json and
 * intent_errors.json (written by a job), and the previous wiki page / index (anyone with wiki
 * access can edit them). Input = report JSON, NUL, errors JSON, NUL, previous page Markdown.
 * Renders the page and the index from it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "report/report-internal.h"

static const char *part(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *s = *p;
    const uint8_t *z = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
    const uint8_t *e = z ? z : end;
    *len = (size_t)(e - s);
    *p = z ? z + 1 : end;
    return (const char *)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    size_t n_rep, n_err, n_prev;
    const char *rep = part(&p, end, &n_rep);
    const char *errs = part(&p, end, &n_err);
    const char *prev = part(&p, end, &n_prev);
    char *prev_md = strndup(prev, n_prev);
    cd_report_results *r = cd_report_results_new("fuzz");
    cd_error_t err = {0};
    if (!r || !prev_md)
        goto out;
    r->intents.name = strdup("intent");
    if (!r->intents.name ||
        cd_report_table_parse(r, &r->intents, "intent_report.json", rep, n_rep, &err) < 0)
        goto out;
    json_t *e = n_err ? cd_report_json_loads("intent_errors.json", errs, n_err, &err) : NULL;
    if (json_is_array(e))
        r->intents.errors = e;
    else
        json_decref(e);
    cd_error_clear(&err);
    cd_report_meta m = {.commit_sha = "0123456789abcdef",
                        .page_slug = "r/1",
                        .published_at = "2026-01-01T00:00:00Z"};
    cd_report_attachment att = {"intent_histogram.svg", prev_md};
    char *page = NULL, *idx = NULL, *slug = NULL;
    if (cd_report_render_page(r, &m, prev_md, &att, 1, &page, &err) == 0) {
        /* the rendered page must carry exactly one block of its own */
        const char *b = strstr(page, "<!-- " CD_REPORT_PAGE_TAG ": ");
        if (!b || strstr(b + 1, "<!-- " CD_REPORT_PAGE_TAG ": "))
            abort();
        json_t *blk = cd_report_block_read(page, CD_REPORT_PAGE_TAG);
        if (!blk)
            abort();
        json_decref(blk);
    }
    cd_error_clear(&err);
    cd_report_render_index(prev_md, r, &m, "r/1", &idx, &err);
    cd_error_clear(&err);
    cd_report_index_previous_slug(prev_md, "r/1", &slug, &err);
    free(page);
    free(idx);
    free(slug);
out:
    cd_error_clear(&err);
    cd_report_results_free(r);
    free(prev_md);
    return 0;
}
