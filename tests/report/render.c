/* report-render: the report renderer as a command, for the data tests, the screenshot test
 * and by hand. Not installed; `conductor publish` is the product entry point.
 *
 *   report-render --results DIR [--meta META.json] [--previous PAGE.md] [--index INDEX.md]
 *                 [--slug SLUG] [--attach NAME=URL]... [--out PAGE.md] [--index-out INDEX.md]
 *
 * META.json holds cd_report_meta's fields by name (strings; intent_counts and config as JSON).
 * Exit 0, or 1 with the error on stderr. Warnings about the results go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "util/strbuf.h"

static char *slurp(const char *path)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    if (cd_strbuf_read_file(&sb, path, 64u << 20) < 0) {
        perror(path);
        exit(1);
    }
    return cd_strbuf_take(&sb);
}

static void spit(const char *path, const char *s)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f || fputs(s, f) < 0 || (path && fclose(f) != 0)) {
        perror(path ? path : "stdout");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *results = NULL, *meta_path = NULL, *prev = NULL, *index = NULL, *slug = NULL;
    const char *out = NULL, *index_out = NULL;
    cd_report_attachment att[32];
    size_t n_att = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "report-render: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--results") == 0)
            results = v;
        else if (strcmp(a, "--meta") == 0)
            meta_path = v;
        else if (strcmp(a, "--previous") == 0)
            prev = v;
        else if (strcmp(a, "--index") == 0)
            index = v;
        else if (strcmp(a, "--slug") == 0)
            slug = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--index-out") == 0)
            index_out = v;
        else if (strcmp(a, "--attach") == 0 && n_att < 32 && strchr(v, '=')) {
            char *eq = strchr(v, '=');
            *eq = '\0';
            att[n_att++] = (cd_report_attachment){v, eq + 1};
        } else {
            fprintf(stderr, "report-render: unknown option %s\n", a);
            return 2;
        }
    }
    if (!results) {
        fprintf(stderr, "usage: report-render --results DIR [options]\n");
        return 2;
    }
    cd_report_meta meta = {0};
    json_t *mj = NULL;
    if (meta_path) {
        json_error_t je;
        mj = json_load_file(meta_path, 0, &je);
        if (!mj) {
            fprintf(stderr, "%s:%d:%d: %s\n", meta_path, je.line, je.column, je.text);
            return 1;
        }
#define S(k) meta.k = json_string_value(json_object_get(mj, #k))
        S(project_path);
        S(project_url);
        S(commit_sha);
        S(commit_url);
        S(ref);
        S(pipeline_url);
        S(job_url);
        S(author);
        S(trained_at);
        S(data_fingerprint);
        S(conductor_version);
        S(model_sha256);
        S(model_url);
        S(model_name);
        S(published_at);
#undef S
        meta.intent_counts = json_object_get(mj, "intent_counts");
        meta.config = json_object_get(mj, "config");
        /* a model's metadata.json nested under "model" fills the rest */
        cd_report_meta_from_model(&meta, json_object_get(mj, "model"));
    }
    meta.page_slug = slug;
    cd_error_t err = {0};
    cd_report_results *r = NULL;
    if (cd_report_results_load(results, &r, &err) < 0) {
        fprintf(stderr, "report-render: %s\n", cd_error_msg(&err));
        return 1;
    }
    for (size_t i = 0; i < cd_report_results_n_warnings(r); i++)
        fprintf(stderr, "report-render: warning: %s\n", cd_report_results_warning(r, i));
    char *prev_md = prev ? slurp(prev) : NULL;
    char *page = NULL;
    if (cd_report_render_page(r, &meta, prev_md, att, n_att, &page, &err) < 0) {
        fprintf(stderr, "report-render: %s\n", cd_error_msg(&err));
        return 1;
    }
    spit(out, page);
    if (index_out) {
        char *old = index ? slurp(index) : NULL, *idx = NULL;
        if (cd_report_render_index(old, r, &meta, slug ? slug : "nlu-reports/run", &idx, &err) <
            0) {
            fprintf(stderr, "report-render: %s\n", cd_error_msg(&err));
            return 1;
        }
        spit(index_out, idx);
        free(idx);
        free(old);
    }
    free(page);
    free(prev_md);
    cd_report_results_free(r);
    json_decref(mj);
    cd_error_clear(&err);
    return 0;
}
