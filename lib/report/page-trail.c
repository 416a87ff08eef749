/* The report page's charts, paper trail, notes and the reader's glossary. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/page-internal.h"

static const char *find_att(const cd_report_attachment *att, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (att[i].name && strcmp(att[i].name, name) == 0)
            return att[i].url;
    return NULL;
}

void cd_report_sec_charts(out_t *o, const cd_report_results *r, const cd_report_attachment *att,
                          size_t n_att)
{
    if (!r->n_charts)
        return;
    put(o, "## Charts\n\n");
    for (size_t i = 0; i < r->n_charts; i++) {
        const cd_report_chart *c = &r->charts[i];
        const char *url = find_att(att, n_att, c->name);
        putf(o, "**%s** (", c->title);
        text(o, c->name, 80);
        put(o, ")\n\n");
        if (url && cd_report_url_ok(url, true))
            putf(o, "![%s](%s)\n\n", c->title, url);
        else
            put(o, "*(not uploaded)*\n\n");
    }
}

static void trail_row(out_t *o, const char *label, const char *value, const char *url, bool code)
{
    putf(o, "| %s | ", label);
    if (code && value && !url) {
        /* hashes: [0-9a-f] only, checked, so a code span is safe */
        bool hex = true;
        for (const char *q = value; *q && hex; q++)
            hex = (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F');
        if (hex && *value) {
            putf(o, "`%s` |\n", value);
            return;
        }
    }
    link(o, value, url, false);
    put(o, " |\n");
}

/* "pipeline #4711" from ".../-/pipelines/4711": GitLab's own way to name them. */
static const char *url_label(char buf[40], const char *what, const char *url)
{
    if (!url)
        return NULL;
    const char *slash = strrchr(url, '/');
    const char *id = slash ? slash + 1 : "";
    size_t n = strspn(id, "0123456789");
    if (n && n < 20 && id[n] == '\0')
        snprintf(buf, 40, "%s #%s", what, id);
    else
        snprintf(buf, 40, "%s", what);
    return buf;
}

void cd_report_sec_trail(out_t *o, const cd_report_meta *m, const char *published)
{
    put(o, "## Paper trail\n\nWhere this model comes from: the exact data, code and settings, "
           "so anyone can trace a deployed model back to them.\n\n| What | Value |\n|---|---|\n");
    trail_row(o, "Project", m->project_path, m->project_url, false);
    char *curl = NULL;
    const char *cu = m->commit_url;
    if (!cu && m->project_url && m->commit_sha && cd_report_url_ok(m->project_url, false) &&
        asprintf(&curl, "%s/-/commit/%s", m->project_url, m->commit_sha) >= 0)
        cu = curl;
    if (m->commit_sha && cu && cd_report_url_ok(cu, false)) {
        put(o, "| Commit | [");
        short_sha(o, m->commit_sha);
        putf(o, "](%s)", cu);
        bool hex = strspn(m->commit_sha, "0123456789abcdefABCDEF") == strlen(m->commit_sha);
        if (hex && strlen(m->commit_sha) > 8)
            putf(o, " (`%s`)", m->commit_sha);
        put(o, " |\n");
    } else {
        trail_row(o, "Commit", m->commit_sha, NULL, true);
    }
    free(curl);
    trail_row(o, "Branch or tag", m->ref, NULL, false);
    char pl[40], jl[40];
    trail_row(o, "Pipeline", url_label(pl, "pipeline", m->pipeline_url), m->pipeline_url, false);
    trail_row(o, "Job", url_label(jl, "job", m->job_url), m->job_url, false);
    trail_row(o, "Author", m->author, NULL, false);
    trail_row(o, "Trained at", m->trained_at, NULL, false);
    trail_row(o, "Published at", published, NULL, false);
    trail_row(o, "Training data fingerprint (SHA-256)", m->data_fingerprint, NULL, true);
    trail_row(o, "Conductor version", m->conductor_version, NULL, false);
    trail_row(o, "Model package",
              m->model_url ? (m->model_name ? m->model_name : "download") : m->model_name,
              m->model_url, false);
    trail_row(o, "Model SHA-256", m->model_sha256, NULL, true);
    put(o, "\n");
    if (json_object_size(m->intent_counts)) {
        long long total = 0;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)m->intent_counts, k, v) total +=
            json_is_integer(v) ? json_integer_value(v) : 0;
        putf(o,
             "<details>\n<summary>Training examples per intent (%zu intents, %lld examples)"
             "</summary>\n\n| Intent | Examples |\n|---|--:|\n",
             json_object_size(m->intent_counts), total);
        json_object_foreach((json_t *)m->intent_counts, k, v)
        {
            put(o, "| ");
            text(o, k, 80);
            if (json_is_integer(v))
                putf(o, " | %lld |\n", (long long)json_integer_value(v));
            else
                put(o, " | — |\n");
        }
        put(o, "\n</details>\n\n");
    }
    if (m->config) {
        char *js = json_dumps(m->config, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY |
                                             JSON_REAL_PRECISION(10));
        if (js) {
            put(o, "<details>\n<summary>Configuration and hyperparameters</summary>\n\n");
            if (o->rc == 0)
                o->rc = cd_report_md_code_block(&o->sb, "json", js);
            put(o, "\n</details>\n\n");
            free(js);
        } else if (o->rc == 0) {
            o->rc = -1;
        }
    }
}

void cd_report_sec_notes(out_t *o, const cd_report_results *r, const char *prev_note)
{
    if (!r->n_warnings && !prev_note)
        return;
    put(o, "## Notes\n\nProblems found while reading the results; numbers affected are shown as "
           "⚠ and were not used for comparisons.\n\n");
    for (size_t i = 0; i < r->n_warnings; i++) {
        put(o, "- ");
        text(o, r->warnings[i], 300);
        put(o, "\n");
    }
    if (prev_note)
        putf(o, "- %s\n", prev_note);
    put(o, "\n");
}

void cd_report_sec_howto(out_t *o)
{
    put(o, "<details>\n<summary>How to read this page</summary>\n\n"
           "- **Accuracy**: the share of test messages whose intent the model got right.\n"
           "- **Precision** of an intent: when the model answers this intent, how often it is "
           "right. **Recall**: of the messages that really are this intent, how many it "
           "finds. **F1** balances the two; 1.000 is perfect, below 0.7 needs work.\n"
           "- **Macro F1** averages all intents equally (small intents count as much as big "
           "ones); **weighted F1** weights them by their number of test messages.\n"
           "- **▲ / ▼** show the change against the previous report; changes below 0.01 are "
           "usually noise.\n"
           "- To fix a weak intent, look at its mix-ups and at the misclassified messages: "
           "add varied examples, or merge intents that mean the same thing.\n\n"
           "</details>\n");
}
