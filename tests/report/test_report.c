/* unit/report-<section>: the report renderer's pieces, offline. The fixtures are results
 * directories in Rasa's exact shapes (fixtures/make-fixtures.py); expected numbers are read
 * from the fixture files themselves, never typed in. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/report-internal.h"
#include "tap.h"

/* has_str without echoing a whole page into the TAP stream */
#define contains(hay, needle, name)                                                                \
    do {                                                                                           \
        const char *_h = (hay), *_n = (needle);                                                    \
        ok(_h &&_n &&strstr(_h, _n), "%s (\"%s\")", name, _n);                                     \
    } while (0)

static const char *fixture(const char *name)
{
    static char buf[4][4096];
    static int k;
    const char *d = getenv("CD_REPORT_FIXTURES");
    char *b = buf[k++ % 4];
    snprintf(b, 4096, "%s/%s", d ? d : "fixtures", name);
    return b;
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fprintf(stderr, "# %s: %s\n", path, je.text);
    return j;
}

static char *md(const char *s, size_t max)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    cd_report_md_text(&sb, s, max);
    return cd_strbuf_take(&sb);
}

static char *render(const char *dir, const cd_report_meta *m, const char *prev)
{
    cd_error_t err = {0};
    cd_report_results *r = NULL;
    char *out = NULL;
    if (cd_report_results_load(dir, &r, &err) < 0 ||
        cd_report_render_page(r, m, prev, NULL, 0, &out, &err) < 0)
        fprintf(stderr, "# render %s: %s\n", dir, cd_error_msg(&err));
    cd_report_results_free(r);
    cd_error_clear(&err);
    return out;
}

/* ---- escape ---------------------------------------------------------------------------- */

static void t_escape(void)
{
    char *s = md("a | b", 0);
    is_str(s, "a \\| b", "pipe escaped for GFM tables");
    free(s);
    s = md("<script>alert(1)</script>", 0);
    ok(!strchr(s, '<') && strstr(s, "&lt;script&gt;"), "HTML specials become entities: %s", s);
    free(s);
    s = md("[x](javascript:alert(1))", 0);
    ok(strstr(s, "\\[x\\]\\(javascript") != NULL, "link syntax escaped: %s", s);
    free(s);
    s = md("``` `x`", 0);
    is_str(s, "\\`\\`\\` \\`x\\`", "backticks escaped");
    free(s);
    s = md("hi @root", 0);
    is_str(s, "hi \\@\xE2\x81\xA0root", "@mention broken by a word joiner");
    free(s);
    s = md("see #12 and !3", 0);
    ok(strstr(s, "#\xE2\x81\xA0"
                 "12") &&
           strstr(s, "!\xE2\x81\xA0"
                     "3"),
       "#issue and !mr defused: %s", s);
    free(s);
    s = md("a\r\n\tb", 0);
    is_str(s, "a b", "control characters collapse to one space");
    free(s);
    s = md("h\xC3\xA9llo w\xC3\xB6rld", 4);
    is_str(s, "h\xC3\xA9ll…", "truncated on a code point with an ellipsis");
    free(s);
    s = md("a\xFF"
           "b",
           0);
    is_str(s,
           "a\xEF\xBF\xBD"
           "b",
           "invalid UTF-8 becomes U+FFFD");
    free(s);
    s = md("x\xE2\x80\xAEy", 0);
    is_str(s, "x y", "bidi override dropped");
    free(s);
    s = md(NULL, 0);
    is_str(s, "—", "NULL renders as a dash");
    free(s);

    ok(cd_report_url_ok("https://gitlab.example.com/a/b/-/jobs/1", false), "https URL ok");
    ok(!cd_report_url_ok("javascript:alert(1)", true), "javascript: refused");
    ok(!cd_report_url_ok("data:text/html,x", true), "data: refused");
    ok(cd_report_url_ok("uploads/0123/chart.svg", true), "relative upload ok");
    ok(!cd_report_url_ok("uploads/0123/chart.svg", false), "relative refused where not allowed");
    ok(!cd_report_url_ok("../secret", true), "dot-dot refused");
    ok(!cd_report_url_ok("https://x/a b", false), "space refused");
    ok(!cd_report_url_ok("https://x/a)b", false), "closing paren refused (would end the link)");
    ok(!cd_report_url_ok("https://x/\"onload=", false), "quote refused");

    cd_strbuf sb = CD_STRBUF_INIT;
    cd_report_md_code_block(&sb, "json", "a ```` b");
    ok(strncmp(sb.buf, "`````json\n", 10) == 0, "code fence longer than any backtick run");
    cd_strbuf_done(&sb);

    json_t *o = json_pack("{si s s}", "v", 1, "name", "x --> <b>&");
    cd_strbuf_init(&sb, 0);
    cd_report_block_write(&sb, "t", o);
    const char *end = strstr(sb.buf, "-->");
    ok(end && end[3] == '\n' && end[4] == '\0', "block: the only --> closes it: %s", sb.buf);
    ok(!strchr(sb.buf + 4, '<'), "block: no raw < inside");
    json_t *back = cd_report_block_read(sb.buf, "t");
    ok(back && json_equal(back, o), "block round-trips");
    json_t *none = cd_report_block_read("<!-- t: {\"v\":2} -->", "t");
    ok(none == NULL, "block with an unknown version ignored");
    json_decref(back);
    json_decref(o);
    cd_strbuf_done(&sb);

    cd_error_t err = {0};
    const char *py = "{\"a\": NaN, \"b\": -Infinity, \"c\": \"NaN stays\", \"d\": Infinity}";
    json_t *j = cd_report_json_loads("x.json", py, strlen(py), &err);
    ok(j != NULL, "Python's NaN/Infinity accepted");
    is_str(json_string_value(json_object_get(j, "a")), "NaN", "NaN kept as a marker");
    is_str(json_string_value(json_object_get(j, "b")), "-Infinity", "-Infinity kept");
    is_str(json_string_value(json_object_get(j, "c")), "NaN stays", "strings untouched");
    json_decref(j);
    j = cd_report_json_loads("x.json", "{\"a\": 1,\n \"b\": }", 16, &err);
    ok(!j && err.kind == CD_ERR_DATA && strstr(cd_error_msg(&err), "`x.json`: line 2"),
       "bad JSON: DATA error with file and line: %s", cd_error_msg(&err));
    cd_error_clear(&err);
}

/* ---- results ----------------------------------------------------------------------------- */

static double file_num(const char *dir, const char *k1, const char *k2)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/intent_report.json", dir);
    json_t *j = load_json(p);
    json_t *v = json_object_get(j, k1);
    if (k2)
        v = json_object_get(v, k2);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(j);
    return d;
}

static void mkfile(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void t_results(void)
{
    cd_error_t err = {0};
    cd_report_results *r = NULL;
    const char *d = fixture("rasa31");
    ok(cd_report_results_load(d, &r, &err) == 0, "load rasa31: %s", cd_error_msg(&err));
    if (!r)
        return;
    ok(cd_report_results_accuracy(r) == file_num(d, "accuracy", NULL), "accuracy as in the file");
    ok(cd_report_results_macro_f1(r) == file_num(d, "macro avg", "f1-score"),
       "macro F1 as in the file");
    is_int(cd_report_results_n_warnings(r), 0, "a complete Rasa 3.1 dir gives no warnings");
    is_int(cd_report_results_n_charts(r), 2, "two PNG charts found");
    is_str(cd_report_results_chart(r, 0)->name, "intent_confusion_matrix.png",
           "confusion matrix first");
    ok(strstr(cd_report_results_chart(r, 0)->path, "rasa31/intent_confusion_matrix.png") != NULL,
       "chart path inside the results dir");
    is_int(r->n_entities, 1, "one entity report");
    is_str(r->entities[0].name, "DIETClassifier", "named after the extractor");
    ok(json_array_size(r->intents.errors) > 0, "intent errors loaded");
    r = cd_report_results_free(r);

    d = fixture("rasa2x-micro-only");
    ok(cd_report_results_load(d, &r, &err) == 0, "load a 2.x report without accuracy");
    if (r) {
        ok(cd_report_results_accuracy(r) == file_num(d, "micro avg", "recall"),
           "accuracy = micro avg recall");
        r = cd_report_results_free(r);
    }

    d = fixture("nan-absurd");
    ok(cd_report_results_load(d, &r, &err) == 0, "NaN report loads (flagged, not fatal)");
    if (r) {
        ok(cd_report_results_n_warnings(r) >= 4, "each bad number is a warning (%zu)",
           cd_report_results_n_warnings(r));
        bool greet_nan = false;
        for (size_t i = 0; i < r->intents.n_rows; i++)
            if (strcmp(r->intents.rows[i].name, "greet") == 0)
                greet_nan = isnan(r->intents.rows[i].f1);
        ok(greet_nan, "NaN f1 stays invalid");
        ok(isnan(cd_report_results_macro_f1(r)) == 0, "macro F1 (valid in the file) still read");
        r = cd_report_results_free(r);
    }

    /* bad directories */
    char tmp[] = "/tmp/cd-report-XXXXXX";
    ok(mkdtemp(tmp) != NULL, "temp dir");
    char p[4200], q[4200];
    snprintf(p, sizeof(p), "%s/nope", tmp);
    ok(cd_report_results_load(p, &r, &err) < 0 && err.kind == CD_ERR_NOTFOUND &&
           strstr(cd_error_msg(&err), "does not exist"),
       "missing dir: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    ok(cd_report_results_load(tmp, &r, &err) < 0 && err.kind == CD_ERR_NOTFOUND &&
           strstr(cd_error_msg(&err), "no intent_report.json"),
       "empty dir: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    snprintf(p, sizeof(p), "%s/intent_report.json", tmp);
    mkfile(p, "[1, 2]");
    ok(cd_report_results_load(tmp, &r, &err) < 0 && err.kind == CD_ERR_DATA &&
           strstr(cd_error_msg(&err), "not a JSON object"),
       "array report: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    mkfile(p, "{\"greet\": {\"precision\": 1.0,");
    ok(cd_report_results_load(tmp, &r, &err) < 0 && err.kind == CD_ERR_DATA &&
           strstr(cd_error_msg(&err), "intent_report.json`: line 1"),
       "truncated report: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    unlink(p);
    ok(symlink("/etc/passwd", p) == 0, "symlink planted");
    ok(cd_report_results_load(tmp, &r, &err) < 0 && err.kind == CD_ERR_DATA &&
           strstr(cd_error_msg(&err), "symlink"),
       "symlinked report refused: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    unlink(p);
    snprintf(q, sizeof(q), "%s/intent_report.json", fixture("rasa31"));
    ok(symlink(q, p) == 0, "symlink to a real report planted");
    ok(cd_report_results_load(tmp, &r, &err) < 0 && strstr(cd_error_msg(&err), "symlink"),
       "even a symlink to a valid report is refused");
    cd_error_clear(&err);
    unlink(p);
    mkfile(p, "{\"a\": {\"precision\": 1, \"recall\": 1, \"f1-score\": 1, \"support\": 1},"
              " \"b\": {\"precision\": 0, \"recall\": 0, \"f1-score\": 0, \"support\": 1}}");
    snprintf(q, sizeof(q), "%s/intent_histogram.svg", tmp);
    ok(symlink("/etc/hostname", q) == 0, "chart symlink planted");
    ok(cd_report_results_load(tmp, &r, &err) == 0, "report without any average loads");
    if (r) {
        is_int(cd_report_results_n_charts(r), 0, "symlinked chart not offered for upload");
        ok(fabs(cd_report_results_macro_f1(r) - 0.5) < 1e-12, "macro F1 computed from rows");
        bool warned = false;
        for (size_t i = 0; i < cd_report_results_n_warnings(r); i++)
            warned |= strstr(cd_report_results_warning(r, i), "neither `accuracy` nor") != NULL;
        ok(warned, "missing accuracy and micro avg reported");
        r = cd_report_results_free(r);
    }
    unlink(q);
    char link[4200];
    snprintf(link, sizeof(link), "%s-link", tmp);
    ok(symlink(tmp, link) == 0, "dir symlink planted");
    ok(cd_report_results_load(link, &r, &err) < 0 && strstr(cd_error_msg(&err), "symlink"),
       "symlinked results dir refused: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    unlink(link);
    unlink(p);
    rmdir(tmp);
}

/* ---- page ------------------------------------------------------------------------------- */

/* Rows of the "Intents, worst first" table: F1 (column 3) never decreases. */
static bool worst_first(const char *page)
{
    const char *a = strstr(page, "## Intents, worst first");
    const char *b = a ? strstr(a + 3, "\n## ") : NULL;
    if (!a || !b)
        return false;
    double last = -1;
    int rows = 0;
    for (const char *l = a; l && l < b; l = strchr(l + 1, '\n')) {
        const char *line = l + 1;
        if (strncmp(line, "| ", 2) != 0 || strncmp(line, "| Status", 8) == 0)
            continue;
        const char *c = line;
        for (int k = 0; k < 2 && c; k++) /* | status | name | F1 */
            c = strchr(c + 1, '|');
        if (!c)
            continue;
        double f = strtod(c + 1, NULL);
        if (f + 1e-9 < last)
            return false;
        last = f;
        rows++;
    }
    return rows > 0;
}

static void t_page(void)
{
    cd_report_meta m = {.project_path = "acme/bot",
                        .commit_sha = "0123456789abcdef0123",
                        .project_url = "https://gitlab.example.com/acme/bot",
                        .published_at = "2026-11-25T14:03:07Z"};
    char *page = render(fixture("rasa31"), &m, NULL);
    ok(page != NULL, "render rasa31");
    if (!page)
        return;
    contains(page, "# NLU model report: acme/bot @ 01234567\n", "title with short commit");
    contains(page, "This is the first report", "no previous: says so");
    ok(worst_first(page), "per-intent table is worst first");
    contains(page, "https://gitlab.example.com/acme/bot/-/commit/0123456789abcdef0123",
             "commit URL derived from the project URL");
    json_t *b = cd_report_block_read(page, CD_REPORT_PAGE_TAG);
    ok(b != NULL, "page carries a machine-readable block");
    ok(fabs(json_real_value(json_object_get(b, "accuracy")) -
            file_num(fixture("rasa31"), "accuracy", NULL)) < 1e-9,
       "block accuracy = file accuracy");
    is_int(json_object_size(json_object_get(b, "intents")), 12, "block has every intent");
    json_decref(b);
    free(page);

    page = render(fixture("rasa31"), NULL, "# hand-written page\nno block here\n");
    ok(page && strstr(page, "no readable machine-readable block"), "damaged previous page noted");
    ok(page && strstr(page, "| Project | — |"), "missing paper-trail fields render as a dash");
    free(page);

    /* attachments: only the uploaded, safe ones become images */
    cd_error_t err = {0};
    cd_report_results *r = NULL;
    cd_report_results_load(fixture("rasa31"), &r, &err);
    cd_report_attachment att[] = {
        {"intent_confusion_matrix.png", "uploads/00ff/intent_confusion_matrix.png"},
        {"intent_histogram.png", "javascript:alert(1)"},
    };
    ok(cd_report_render_page(r, NULL, NULL, att, 2, &page, &err) == 0, "render with attachments");
    contains(page, "![Intent confusion matrix](uploads/00ff/intent_confusion_matrix.png)",
             "uploaded chart embedded");
    ok(!strstr(page, "javascript:"), "unsafe attachment URL not embedded");
    contains(page, "*(not uploaded)*", "chart without a safe link says so");
    free(page);
    cd_report_results_free(r);

    /* 40 intents: the tail of the table folds into <details> */
    char tmp[] = "/tmp/cd-report-XXXXXX";
    ok(mkdtemp(tmp) != NULL, "temp dir");
    json_t *rep = json_object();
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "intent_%02d", i);
        json_object_set_new(rep, name,
                            json_pack("{sfsfsfsis{}}", "precision", i / 40.0, "recall", i / 40.0,
                                      "f1-score", i / 40.0, "support", 3, "confused_with"));
    }
    json_object_set_new(rep, "accuracy", json_real(0.5));
    char p[4200];
    snprintf(p, sizeof(p), "%s/intent_report.json", tmp);
    json_dump_file(rep, p, JSON_INDENT(2));
    json_decref(rep);
    page = render(tmp, NULL, NULL);
    ok(page && strstr(page, "<details>\n<summary>The other 25 intents"), "long table folds");
    ok(page && worst_first(page), "folded table still worst first");
    free(page);
    /* cross-validation summary (optional cross_validation.json) */
    char cvp[4200];
    snprintf(cvp, sizeof(cvp), "%s/cross_validation.json", tmp);
    mkfile(cvp, "{\"folds\": 5, \"test\": {\"Accuracy\": [0.9, 0.92], \"F1-score\": [NaN]}}");
    page = render(tmp, NULL, NULL);
    contains(page, "measured by 5-fold cross-validation", "CV: fold count in the summary");
    contains(page, "Accuracy 0.910 ± 0.010", "CV: mean ± population std per metric");
    ok(page && !strstr(page, "F1-score nan"), "CV: a NaN-only list is left out");
    free(page);
    mkfile(cvp, "[1]");
    page = render(tmp, NULL, NULL);
    contains(page, "cross\\_validation.json\\: not a JSON object, ignoring",
             "CV: bad file noted (escaped)");
    free(page);
    unlink(cvp);
    unlink(p);
    rmdir(tmp);
}

/* ---- delta ------------------------------------------------------------------------------ */

static void t_delta(void)
{
    cd_report_meta m = {.page_slug = "nlu-reports/prev", .commit_sha = "aaaaaaaa11"};
    char *prev = render(fixture("rasa31-previous"), &m, NULL);
    cd_report_meta m2 = {.page_slug = "nlu-reports/now", .commit_sha = "bbbbbbbb22"};
    char *page = render(fixture("rasa31"), &m2, prev);
    ok(prev && page, "render previous and current");
    if (!prev || !page)
        return;
    double a0 = file_num(fixture("rasa31-previous"), "accuracy", NULL);
    double a1 = file_num(fixture("rasa31"), "accuracy", NULL);
    char want[128], d[48];
    snprintf(want, sizeof(want), "| Intent accuracy | %.3f | %.3f | %s |", a1, a0,
             cd_report_fmt_delta(d, a1 - a0));
    contains(page, want, "headline delta computed from both files");
    contains(page, "[previous report](nlu-reports/prev)", "links back to the previous page");
    contains(page, "(commit aaaaaaaa", "names the previous commit");
    /* per-intent delta for every intent present in both */
    char p0[4096], p1[4096];
    snprintf(p0, sizeof(p0), "%s/intent_report.json", fixture("rasa31-previous"));
    snprintf(p1, sizeof(p1), "%s/intent_report.json", fixture("rasa31"));
    json_t *j0 = load_json(p0), *j1 = load_json(p1);
    const char *k;
    json_t *v;
    int checked = 0, better = 0, worse = 0;
    json_object_foreach(j1, k, v)
    {
        json_t *o = json_object_get(j0, k);
        if (!json_is_object(v) || strchr(k, ' ') || !json_is_object(o))
            continue;
        double f1 = json_real_value(json_object_get(v, "f1-score"));
        double f0 = json_real_value(json_object_get(o, "f1-score"));
        char *name = md(k, 0);
        char row[256];
        snprintf(row, sizeof(row), " | %s | ", name);
        const char *at = strstr(strstr(page, "## Intents, worst first"), row);
        snprintf(want, sizeof(want), "| %s |", cd_report_fmt_delta(d, f1 - f0));
        const char *eol = at ? strchr(at, '\n') : NULL;
        const char *hit = at ? strstr(at, want) : NULL;
        ok(hit && hit < eol, "intent %s: change %s in its row", k, want);
        better += f1 - f0 >= 0.01;
        worse += f1 - f0 <= -0.01;
        checked++;
        free(name);
    }
    ok(checked >= 10, "checked %d intents", checked);
    snprintf(want, sizeof(want), "%d intents got better and %d got worse", better, worse);
    contains(page, want, "improved/regressed counts");
    contains(page, "**New intents** (not in the previous report, 1): inform", "new intent listed");
    json_decref(j0);
    json_decref(j1);

    char *same = render(fixture("rasa31"), &m2, page);
    ok(same && strstr(same, "| Intent accuracy | ") && strstr(same, "= 0.000"),
       "no change: = 0.000");
    contains(same, "about as good as the previous model", "no change: verdict");
    free(same);
    char *back = render(fixture("rasa31-previous"), &m, page);
    contains(back, "worse than the previous model", "regression: verdict warns");
    free(back);
    free(prev);
    free(page);
}

/* ---- index ------------------------------------------------------------------------------ */

static size_t index_rows(const char *idx)
{
    json_t *b = cd_report_block_read(idx, CD_REPORT_INDEX_TAG);
    size_t n = json_array_size(json_object_get(b, "runs"));
    json_decref(b);
    return n;
}

static void t_index(void)
{
    cd_error_t err = {0};
    cd_report_results *r = NULL, *r0 = NULL;
    cd_report_results_load(fixture("rasa31"), &r, &err);
    cd_report_results_load(fixture("rasa31-previous"), &r0, &err);
    ok(r && r0, "fixtures load");
    if (!r || !r0)
        return;
    cd_report_meta m = {.project_path = "acme/bot",
                        .commit_sha = "1111111111",
                        .published_at = "2026-11-24T10:00:00Z",
                        .model_url = "https://gitlab.example.com/m.tar.gz",
                        .model_name = "m 1"};
    char *i1 = NULL, *i2 = NULL, *i3 = NULL;
    ok(cd_report_render_index(NULL, r0, &m, "nlu-reports/one", &i1, &err) == 0, "first index");
    is_int(index_rows(i1), 1, "one run");
    char *prev = NULL;
    cd_report_index_previous_slug(i1, "nlu-reports/two", &prev, &err);
    is_str(prev, "nlu-reports/one", "previous slug of a new run");
    free(prev);
    cd_report_index_previous_slug(i1, "nlu-reports/one", &prev, &err);
    ok(prev == NULL, "a run is not its own previous");
    cd_report_index_previous_slug(NULL, "x", &prev, &err);
    ok(prev == NULL, "no index: no previous");

    m.commit_sha = "2222222222";
    m.published_at = "2026-11-25T10:00:00Z";
    ok(cd_report_render_index(i1, r, &m, "nlu-reports/two", &i2, &err) == 0, "second index");
    is_int(index_rows(i2), 2, "two runs");
    const char *two = strstr(i2, "(nlu-reports/two)"), *one = strstr(i2, "(nlu-reports/one)");
    ok(two && one && two < one, "newest first");
    double a0 = cd_report_results_accuracy(r0), a1 = cd_report_results_accuracy(r);
    char want[96], d[48], b1[32];
    snprintf(want, sizeof(want), "| %s | %s |", cd_report_fmt_num(b1, a1),
             cd_report_fmt_delta(d, a1 - a0));
    contains(i2, want, "accuracy and its change against the row below");
    contains(i2, "[m 1](https://gitlab.example.com/m.tar.gz)", "model link");

    /* a retried publication of the same run replaces its row */
    ok(cd_report_render_index(i2, r, &m, "nlu-reports/two", &i3, &err) == 0, "re-publish");
    is_int(index_rows(i3), 2, "still two runs");
    free(i3);

    /* the visible table is not the source: hand edits to it do not matter */
    char *edited = strdup(i2);
    char *t = strstr(edited, "| Date (UTC)");
    if (t)
        strcpy(t, "garbage\n");
    ok(cd_report_render_index(edited, r, &m, "nlu-reports/three", &i3, &err) == 0 &&
           index_rows(i3) == 3 && strstr(i3, "(nlu-reports/one)"),
       "rebuilt from the block");
    free(i3);
    free(edited);

    /* bounded history */
    char *cur = strdup(i2);
    for (int k = 0; k < CD_REPORT_INDEX_MAX + 5; k++) {
        char slug[64];
        snprintf(slug, sizeof(slug), "nlu-reports/run-%03d", k);
        char *next = NULL;
        cd_report_render_index(cur, r, &m, slug, &next, &err);
        free(cur);
        cur = next;
    }
    is_int(index_rows(cur), CD_REPORT_INDEX_MAX, "history bounded");
    ok(strstr(cur, "(nlu-reports/run-104)") && !strstr(cur, "(nlu-reports/one)"),
       "oldest runs dropped first");
    free(cur);

    /* malformed rows in the block are dropped, not fatal */
    const char *bad =
        "<!-- conductor-index: {\"v\":1,\"runs\":[1,{\"x\":2},{\"slug\":\"ok/1\"}]} -->";
    ok(cd_report_render_index(bad, r, &m, "nlu-reports/n", &i3, &err) == 0 && index_rows(i3) == 2,
       "malformed rows dropped");
    free(i3);
    ok(cd_report_render_index(NULL, r, &m, NULL, &i3, &err) < 0 && err.kind == CD_ERR_USAGE,
       "no slug: usage error");
    cd_error_clear(&err);
    free(i1);
    free(i2);
    cd_report_results_free(r);
    cd_report_results_free(r0);
}

static void t_slug(void)
{
    cd_error_t err = {0};
    char *s = NULL;
    cd_report_meta m = {.published_at = "2026-11-25T14:03:07Z",
                        .commit_sha = "3f2c9a1be07d4c5e8a9b"};
    cd_report_page_slug(&m, NULL, &s, &err);
    is_str(s, "nlu-reports/2026-11-25-140307-3f2c9a1b", "default page slug");
    free(s);
    cd_report_page_slug(&m, "../team bots//./reports/", &s, &err);
    is_str(s, "team-bots/reports/2026-11-25-140307-3f2c9a1b", "prefix cleaned like GitLab would");
    free(s);
    cd_report_index_slug(NULL, &s, &err);
    is_str(s, "nlu-reports/index", "index slug");
    free(s);
    cd_report_index_slug("..", &s, &err);
    is_str(s, "nlu-reports/index", "empty prefix falls back");
    free(s);
    json_t *md_ = json_pack("{s:s, s:s, s:{s:{s:i}}, s:{s:s}}", "trained_at",
                            "2026-01-01T00:00:00Z", "fingerprint", "abc", "counts", "intents",
                            "greet", 3, "config", "language", "en");
    cd_report_meta m2 = {.trained_at = "kept"};
    cd_report_meta_from_model(&m2, md_);
    is_str(m2.trained_at, "kept", "fields already set are kept");
    is_str(m2.data_fingerprint, "abc", "fingerprint from metadata");
    ok(json_integer_value(json_object_get(m2.intent_counts, "greet")) == 3, "nested counts");
    ok(m2.config != NULL, "config from metadata");
    json_decref(md_);
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "all";
    bool all = strcmp(s, "all") == 0;
    if (all || strcmp(s, "escape") == 0)
        t_escape();
    if (all || strcmp(s, "results") == 0)
        t_results();
    if (all || strcmp(s, "page") == 0)
        t_page();
    if (all || strcmp(s, "delta") == 0)
        t_delta();
    if (all || strcmp(s, "index") == 0)
        t_index();
    if (all || strcmp(s, "slug") == 0)
        t_slug();
    return tap_done();
}
