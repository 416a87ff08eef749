/* The index page: one row per published run, newest first, rebuilt from the index's own
 * machine-readable block (never from its rendered table), so hand edits to the visible part
 * cannot corrupt the history and re-publishing a run replaces its row. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report-internal.h"

static json_t *runs_of(const char *md)
{
    json_t *b = cd_report_block_read(md, CD_REPORT_INDEX_TAG);
    json_t *out = json_array();
    if (!out) {
        json_decref(b);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(b, "runs"), i, e)
    {
        /* keep only well-formed rows: a damaged one must not break every later render */
        if (json_is_object(e) && json_is_string(json_object_get(e, "slug")) &&
            json_array_size(out) < CD_REPORT_INDEX_MAX)
            json_array_append(out, e);
    }
    json_decref(b);
    return out;
}

int cd_report_index_previous_slug(const char *existing_index, const char *this_slug,
                                  char **ret_slug, cd_error_t *err)
{
    *ret_slug = NULL;
    json_t *runs = runs_of(existing_index);
    if (!runs)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "read report index: out of memory");
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(runs, i, e)
    {
        const char *s = json_string_value(json_object_get(e, "slug"));
        if (this_slug && strcmp(s, this_slug) == 0)
            continue;
        *ret_slug = strdup(s);
        if (!*ret_slug)
            rc = cd_error(err, CD_ERR_SYSTEM, ENOMEM, "read report index: out of memory");
        break;
    }
    json_decref(runs);
    return rc;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void set_num(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}

static double jnum(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : -INFINITY;
}

static int render(cd_strbuf *sb, const json_t *block, const char *project)
{
    int rc = 0;
#define P(...) (rc = rc ? rc : cd_strbuf_printf(sb, __VA_ARGS__))
#define T(s, n) (rc = rc ? rc : cd_report_md_text(sb, (s), (n)))
    P("# NLU model reports");
    if (project) {
        P(": ");
        T(project, 120);
    }
    P("\n\n");
    if (rc == 0)
        rc = cd_report_block_write(sb, CD_REPORT_INDEX_TAG, block);
    const json_t *runs = json_object_get(block, "runs");
    P("\nEvery published model with its test scores, newest first. Open a date for the full "
      "report (paper trail, per-intent scores, mistakes). **Change** is measured against the "
      "row below; ▲ is better, ▼ worse. At most %d runs are kept here; older reports stay in "
      "the wiki.\n\n",
      CD_REPORT_INDEX_MAX);
    const json_t *latest = json_array_get(runs, 0);
    if (latest) {
        const json_t *older = json_array_get(runs, 1);
        char b[32], d[48];
        double a = jnum(json_object_get(latest, "accuracy"));
        double pa = older ? jnum(json_object_get(older, "accuracy")) : -INFINITY;
        P("**Latest model:** accuracy **%s**", cd_report_fmt_num(b, a));
        if (isfinite(a) && isfinite(pa))
            P(" (%s against the one before)", cd_report_fmt_delta(d, a - pa));
        P(", macro F1 %s.\n\n", cd_report_fmt_num(b, jnum(json_object_get(latest, "macro_f1"))));
    }
    P("| Date (UTC) | Commit | Branch | Accuracy | Change | Macro F1 | Change | Model |\n"
      "|---|---|---|--:|--:|--:|--:|---|\n");
    size_t n = json_array_size(runs);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(runs, i);
        const json_t *older = i + 1 < n ? json_array_get(runs, i + 1) : NULL;
        const char *slug = json_string_value(json_object_get(e, "slug"));
        const char *date = json_string_value(json_object_get(e, "date"));
        char shown[32];
        /* "2026-11-25T14:03:07Z" → "2026-11-25 14:03" */
        snprintf(shown, sizeof(shown), "%.10s%s%.5s", date ? date : "—",
                 date && strlen(date) >= 16 ? " " : "",
                 date && strlen(date) >= 16 ? date + 11 : "");
        P("| ");
        if (cd_report_url_ok(slug, true)) {
            P("[");
            T(shown, 0);
            P("](%s)", slug);
        } else {
            T(shown, 0);
        }
        P(" | ");
        const char *sha = json_string_value(json_object_get(e, "commit"));
        const char *curl = json_string_value(json_object_get(e, "commit_url"));
        char s8[9];
        snprintf(s8, sizeof(s8), "%s", sha ? sha : "");
        if (sha && curl && cd_report_url_ok(curl, false)) {
            P("[");
            T(s8, 0);
            P("](%s)", curl);
        } else if (sha) {
            T(s8, 0);
        } else {
            P("—");
        }
        P(" | ");
        T(json_string_value(json_object_get(e, "ref")), 60);
        const char *keys[] = {"accuracy", "macro_f1"};
        for (int k = 0; k < 2; k++) {
            char b[32], d[48];
            double now = jnum(json_object_get(e, keys[k]));
            double before = older ? jnum(json_object_get(older, keys[k])) : -INFINITY;
            /* null in the block = the run's number was invalid; absent = unknown */
            if (json_is_null(json_object_get(e, keys[k])))
                now = NAN;
            P(" | %s | %s", cd_report_fmt_num(b, now),
              isfinite(now) && isfinite(before) ? cd_report_fmt_delta(d, now - before) : "—");
        }
        P(" | ");
        const char *murl = json_string_value(json_object_get(e, "model_url"));
        const char *mname = json_string_value(json_object_get(e, "model_name"));
        if (murl && cd_report_url_ok(murl, false)) {
            P("[");
            T(mname ? mname : "download", 80);
            P("](%s)", murl);
        } else {
            T(mname, 80);
        }
        P(" |\n");
    }
    if (n == 0)
        P("| — | | | | | | | |\n");
#undef P
#undef T
    return rc;
}

int cd_report_render_index(const char *existing_index, const cd_report_results *r,
                           const cd_report_meta *meta, const char *page_slug, char **ret_markdown,
                           cd_error_t *err)
{
    *ret_markdown = NULL;
    static const cd_report_meta none;
    const cd_report_meta *m = meta ? meta : &none;
    if (!page_slug || !*page_slug)
        return cd_error(err, CD_ERR_USAGE, 0, "render report index: no page slug");
    json_t *old = cd_report_block_read(existing_index, CD_REPORT_INDEX_TAG);
    json_t *runs = runs_of(existing_index);
    json_t *block = json_object();
    json_t *e = json_object();
    if (!runs || !block || !e) {
        json_decref(old);
        json_decref(runs);
        json_decref(block);
        json_decref(e);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "render report index: out of memory");
    }
    char now[32];
    const char *date = m->published_at;
    if (!date) {
        cd_report_now_iso(now);
        date = now;
    }
    set_str(e, "slug", page_slug);
    set_str(e, "date", date);
    set_str(e, "commit", m->commit_sha);
    if (m->commit_url)
        set_str(e, "commit_url", m->commit_url);
    else if (m->project_url && m->commit_sha) {
        char *u = NULL;
        if (asprintf(&u, "%s/-/commit/%s", m->project_url, m->commit_sha) >= 0) {
            set_str(e, "commit_url", u);
            free(u);
        }
    }
    set_str(e, "ref", m->ref);
    set_num(e, "accuracy", r ? r->intents.accuracy : -INFINITY);
    set_num(e, "macro_f1", r ? r->intents.macro_f1 : -INFINITY);
    set_str(e, "model_url", m->model_url);
    set_str(e, "model_name", m->model_name);
    set_str(e, "model_sha256", m->model_sha256);
    /* Same slug: replace the row where it is (a retried publication), else add on top. */
    size_t i, at = SIZE_MAX;
    json_t *x;
    json_array_foreach(runs, i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "slug")), page_slug) == 0) {
            at = i;
            break;
        }
    }
    if (at != SIZE_MAX)
        json_array_set(runs, at, e);
    else
        json_array_insert(runs, 0, e);
    json_decref(e);
    while (json_array_size(runs) > CD_REPORT_INDEX_MAX)
        json_array_remove(runs, json_array_size(runs) - 1);
    const char *project = m->project_path;
    if (!project)
        project = json_string_value(json_object_get(old, "project"));
    json_object_set_new(block, "v", json_integer(1));
    if (project)
        json_object_set_new(block, "project", json_string(project));
    json_object_set_new(block, "runs", runs); /* block owns runs now */
    cd_strbuf sb;
    cd_strbuf_init(&sb, 0);
    int rc = render(&sb, block, project);
    json_decref(block);
    json_decref(old);
    if (rc) {
        cd_strbuf_done(&sb);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "render report index: out of memory");
    }
    *ret_markdown = cd_strbuf_take(&sb);
    return 0;
}

static int clean_prefix(cd_strbuf *sb, const char *prefix)
{
    int rc = 0;
    const char *p = prefix && *prefix ? prefix : "nlu-reports";
    for (; *p && rc == 0; p++) {
        char c = *p;
        bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-' || c == '/';
        rc = cd_strbuf_addc(sb, okc ? c : '-');
    }
    /* no empty, "." or ".." components and no leading/trailing '/' (GitLab would collapse
     * them and the slug we link to would not be the page's slug) */
    if (rc == 0) {
        char *s = sb->buf;
        cd_strbuf out;
        cd_strbuf_init(&out, 0);
        char *save = NULL;
        for (char *tok = strtok_r(s, "/", &save); tok && rc == 0;
             tok = strtok_r(NULL, "/", &save)) {
            if (strcmp(tok, ".") == 0 || strcmp(tok, "..") == 0)
                continue;
            if (out.len)
                rc = cd_strbuf_addc(&out, '/');
            if (rc == 0)
                rc = cd_strbuf_adds(&out, tok);
        }
        if (rc == 0 && out.len == 0)
            rc = cd_strbuf_adds(&out, "nlu-reports");
        cd_strbuf_done(sb);
        *sb = out;
    }
    return rc;
}

int cd_report_page_slug(const cd_report_meta *meta, const char *prefix, char **ret_slug,
                        cd_error_t *err)
{
    *ret_slug = NULL;
    cd_strbuf sb;
    cd_strbuf_init(&sb, 0);
    int rc = clean_prefix(&sb, prefix);
    char now[32];
    const char *t = meta && meta->published_at ? meta->published_at : NULL;
    if (!t) {
        cd_report_now_iso(now);
        t = now;
    }
    /* YYYY-MM-DD-HHMMSS from the ISO time's digits */
    char ts[32];
    size_t k = 0;
    for (const char *q = t; *q && k < 14; q++)
        if (*q >= '0' && *q <= '9')
            ts[k++] = *q;
    ts[k] = '\0';
    if (rc == 0 && k == 14)
        rc = cd_strbuf_printf(&sb, "/%.4s-%.2s-%.2s-%.6s", ts, ts + 4, ts + 6, ts + 8);
    else if (rc == 0)
        rc = cd_strbuf_adds(&sb, "/run");
    if (rc == 0 && meta && meta->commit_sha) {
        char s8[9];
        size_t j = 0;
        for (const char *q = meta->commit_sha; *q && j < 8; q++)
            if ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
                s8[j++] = *q;
        s8[j] = '\0';
        if (j)
            rc = cd_strbuf_printf(&sb, "-%s", s8);
    }
    if (rc) {
        cd_strbuf_done(&sb);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "report slug: out of memory");
    }
    *ret_slug = cd_strbuf_take(&sb);
    return 0;
}

int cd_report_index_slug(const char *prefix, char **ret_slug, cd_error_t *err)
{
    *ret_slug = NULL;
    cd_strbuf sb;
    cd_strbuf_init(&sb, 0);
    if (clean_prefix(&sb, prefix) < 0 || cd_strbuf_adds(&sb, "/index") < 0) {
        cd_strbuf_done(&sb);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "report slug: out of memory");
    }
    *ret_slug = cd_strbuf_take(&sb);
    return 0;
}
