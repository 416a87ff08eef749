/* cd_publish: package first (verified), then charts, the report page and last the index, so
 * every step only points at things that already exist and a rerun converges. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gitlab/gitlab.h"
#include "publish/publish-internal.h"
#include "report/report.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strbuf.h"

int cd_publish_parse_targets(const char *list, unsigned *out, cd_error_t *err)
{
    *out = 0;
    if (!list)
        return 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - s);
        if (!n)
            continue;
        if (n == 7 && !strncasecmp(s, "package", n))
            *out |= CD_PUBLISH_PACKAGE;
        else if (n == 4 && !strncasecmp(s, "wiki", n))
            *out |= CD_PUBLISH_WIKI;
        else
            return cd_error(err, CD_ERR_USAGE, 0,
                            "publish target `%.*s`: expected package and/or wiki", (int)n, s);
    }
    return 0;
}

void cd_publish_result_done(cd_publish_result *r)
{
    free(r->package_url);
    free(r->model_sha256);
    free(r->report_url);
    free(r->index_url);
    memset(r, 0, sizeof(*r));
}

static const char *env_get(const cd_publish_opts *o, const char *name)
{
    if (!o->env)
        return getenv(name);
    size_t n = strlen(name);
    for (const char *const *e = o->env; *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

__attribute__((format(printf, 2, 3))) static void say(const cd_publish_opts *o,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* The log callback gets the same masking as cd_log: no registered secret passes. */
    char *masked = cd_log_vformat_masked(fmt, ap);
    va_end(ap);
    if (o->log)
        o->log(o->log_userdata, masked ? masked : "[unprintable]");
    else
        cd_info("%s", masked ? masked : "[unprintable]");
    free(masked);
}

/* Default package name: the project's slug (last path component), else "nlu-model". */
static char *default_package_name(const cd_publish_opts *o)
{
    const char *path = nonempty(env_get(o, "CI_PROJECT_PATH"));
    if (!path && o->project && strchr(o->project, '/'))
        path = o->project;
    const char *slug = nonempty(env_get(o, "CI_PROJECT_NAME"));
    if (path && !slug) {
        const char *s = strrchr(path, '/');
        slug = s ? s + 1 : path;
    }
    if (!slug && o->project && !strchr(o->project, '/') &&
        strspn(o->project, "0123456789") != strlen(o->project))
        slug = o->project;
    return cd_publish_sanitize_name(slug ? slug : "nlu-model");
}

/* Default version: the model id (reproducible: same data, config and seed → same id, so a
 * rerun finds its own upload), else the commit's short SHA, else the UTC time. */
static char *default_package_version(const cd_publish_opts *o, const json_t *meta)
{
    const char *id = json_string_value(json_object_get(meta, "model_id"));
    if (nonempty(id))
        return cd_publish_sanitize_name(id);
    const char *sha = nonempty(env_get(o, "CI_COMMIT_SHORT_SHA"));
    if (sha)
        return cd_publish_sanitize_name(sha);
    char buf[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
    return strdup(buf);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* https://host/grp/nlu/-/wikis/<slug>: from CI_PROJECT_URL, else url + project path. */
static char *wiki_web_url(const cd_publish_opts *o, const char *slug)
{
    const char *proj_url = nonempty(env_get(o, "CI_PROJECT_URL"));
    char *u = NULL;
    int r;
    if (proj_url)
        r = asprintf(&u, "%s/-/wikis/%s", proj_url, slug);
    else if (o->project && strchr(o->project, '/'))
        r = asprintf(&u, "%s/%s/-/wikis/%s", o->gitlab_url, o->project, slug);
    else
        return NULL;
    return r < 0 ? NULL : u;
}

static int check_opts(const cd_publish_opts *o, cd_error_t *err)
{
    if (!nonempty(o->gitlab_url))
        return cd_error(err, CD_ERR_USAGE, 0, "publish: no GitLab URL (--gitlab-url)");
    if (!nonempty(o->project))
        return cd_error(err, CD_ERR_USAGE, 0, "publish: no project (--project ID|PATH)");
    if (!nonempty(o->token))
        return cd_error(err, CD_ERR_USAGE, 0, "publish: no token (--token-file)");
    if (!o->targets)
        return cd_error(err, CD_ERR_USAGE, 0, "publish: nothing to publish (--targets package,wiki)");
    if ((o->targets & CD_PUBLISH_PACKAGE) && !nonempty(o->model_file))
        return cd_error(err, CD_ERR_USAGE, 0, "publish: target `package` needs a model (--model)");
    if ((o->targets & CD_PUBLISH_WIKI) && !nonempty(o->results_dir))
        return cd_error(err, CD_ERR_USAGE, 0, "publish: target `wiki` needs results (--results)");
    if (o->token_type == CD_GITLAB_TOKEN_JOB && (o->targets & CD_PUBLISH_WIKI))
        return cd_error(err, CD_ERR_USAGE, 0,
                        "publish: a CI job token cannot write wiki pages (GitLab ignores "
                        "JOB-TOKEN on wiki routes); use a project access token with the `api` "
                        "scope and the Developer role");
    return 0;
}

typedef struct {
    cd_gitlab *gl;
    const cd_publish_opts *o;
    json_t *model_meta;
    char *name, *version, *file_name;
    char sha256[65];
    char *model_url;
} run;

static int publish_package(run *R, cd_publish_result *out, cd_error_t *err)
{
    const cd_publish_opts *o = R->o;
    say(o, "uploading model `%s` as package %s/%s/%s", o->model_file, R->name, R->version,
        R->file_name);
    cd_gitlab_package_file pf;
    if (cd_gitlab_package_upload(R->gl, o->project, R->name, R->version, R->file_name,
                                 o->model_file, &pf, err) < 0)
        return cd_error_wrap(err, "publish package `%s/%s`", R->name, R->version);
    memcpy(R->sha256, pf.sha256, sizeof(R->sha256));
    if (asprintf(&R->model_url, "%s/api/v4%s", o->gitlab_url, pf.download_path) < 0)
        R->model_url = NULL;
    say(o, "package %s: %" PRIu64 " bytes, SHA-256 %s verified%s", R->model_url ? R->model_url : "",
        pf.size, pf.sha256, pf.duplicate ? " (already there, identical)" : "");
    cd_gitlab_package_file_done(&pf);
    out->package_url = R->model_url ? strdup(R->model_url) : NULL;
    return 0;
}

/* A missing page is not an error here: the answer is NULL content. */
static int page_content(run *R, const char *slug, char **ret, cd_error_t *err)
{
    *ret = NULL;
    cd_error_t e = {0};
    json_t *page = NULL;
    if (cd_gitlab_wiki_get(R->gl, R->o->project, slug, &page, &e) < 0) {
        if (e.kind == CD_ERR_NOTFOUND) {
            cd_error_clear(&e);
            return 0;
        }
        cd_error(err, e.kind, 0, "%s", cd_error_msg(&e));
        if (err)
            err->status = e.status;
        cd_error_clear(&e);
        return -1;
    }
    const char *c = json_string_value(json_object_get(page, "content"));
    *ret = c ? strdup(c) : NULL;
    json_decref(page);
    return 0;
}

static void fill_meta(run *R, cd_report_meta *m, const char *slug)
{
    const cd_publish_opts *o = R->o;
    m->project_path = nonempty(env_get(o, "CI_PROJECT_PATH"));
    if (!m->project_path && strchr(o->project, '/'))
        m->project_path = o->project;
    m->project_url = nonempty(env_get(o, "CI_PROJECT_URL"));
    m->commit_sha = nonempty(env_get(o, "CI_COMMIT_SHA"));
    m->ref = nonempty(env_get(o, "CI_COMMIT_REF_NAME"));
    m->pipeline_url = nonempty(env_get(o, "CI_PIPELINE_URL"));
    m->job_url = nonempty(env_get(o, "CI_JOB_URL"));
    m->author = nonempty(env_get(o, "CI_COMMIT_AUTHOR"));
    if (!m->author)
        m->author = nonempty(env_get(o, "GITLAB_USER_NAME"));
    m->model_sha256 = R->sha256[0] ? R->sha256 : NULL;
    m->model_url = R->model_url;
    m->page_slug = slug;
    if (R->model_meta)
        cd_report_meta_from_model(m, R->model_meta);
    if (!m->conductor_version)
        m->conductor_version = CD_VERSION;
}

static int publish_wiki(run *R, cd_report_results *res, cd_publish_result *out, cd_error_t *err)
{
    const cd_publish_opts *o = R->o;
    const char *prefix = nonempty(o->wiki_prefix) ? o->wiki_prefix : "nlu-reports";
    cleanup_free char *slug = NULL, *index_slug = NULL, *index_md = NULL, *prev_slug = NULL,
                      *prev_md = NULL, *page_md = NULL, *new_index = NULL, *model_name = NULL;
    cd_report_attachment *att = NULL;
    size_t n_att = 0;
    int rc = -1;

    if (asprintf(&slug, "%s/%s", prefix, R->version) < 0 ||
        cd_report_index_slug(prefix, &index_slug, err) < 0) {
        slug = NULL;
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "publish wiki");
        goto out;
    }
    if (asprintf(&model_name, "%s %s", R->name, R->version) < 0)
        model_name = NULL;

    /* Charts first: the page embeds their links. Each POST makes a new upload (GitLab has
     * no attachment idempotency), so a rerun leaves the earlier copies orphaned, unlinked. */
    size_t n_charts = cd_report_results_n_charts(res);
    att = calloc(n_charts ? n_charts : 1, sizeof(*att));
    if (!att) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "publish wiki");
        goto out;
    }
    for (size_t i = 0; i < n_charts; i++) {
        const cd_report_chart *c = cd_report_results_chart(res, i);
        char *md = NULL, *url = NULL;
        if (cd_gitlab_wiki_attach(R->gl, o->project, c->path, c->name, &md, &url, err) < 0) {
            cd_error_wrap(err, "publish wiki: chart `%s`", c->name);
            goto out;
        }
        free(md);
        att[n_att].name = c->name;
        att[n_att].url = url;
        n_att++;
        say(o, "chart %s uploaded", c->name);
    }

    if (page_content(R, index_slug, &index_md, err) < 0 ||
        cd_report_index_previous_slug(index_md, slug, &prev_slug, err) < 0 ||
        (prev_slug && page_content(R, prev_slug, &prev_md, err) < 0)) {
        cd_error_wrap(err, "publish wiki: read the previous report");
        goto out;
    }

    cd_report_meta meta = {0};
    fill_meta(R, &meta, slug);
    meta.model_name = model_name;
    if (cd_report_render_page(res, &meta, prev_md, att, n_att, &page_md, err) < 0 ||
        cd_gitlab_wiki_upsert(R->gl, o->project, slug, page_md, NULL, err) < 0) {
        cd_error_wrap(err, "publish wiki page `%s`", slug);
        goto out;
    }
    out->report_url = wiki_web_url(o, slug);
    say(o, "report page %s written%s%s", slug, out->report_url ? ": " : "",
        out->report_url ? out->report_url : "");
    if (cd_report_render_index(index_md, res, &meta, slug, &new_index, err) < 0 ||
        cd_gitlab_wiki_upsert(R->gl, o->project, index_slug, new_index, NULL, err) < 0) {
        cd_error_wrap(err, "publish wiki index `%s`", index_slug);
        goto out;
    }
    out->index_url = wiki_web_url(o, index_slug);
    double acc = cd_report_results_accuracy(res), f1 = cd_report_results_macro_f1(res);
    char acc_s[32] = "n/a", f1_s[32] = "n/a";
    if (!isnan(acc))
        snprintf(acc_s, sizeof(acc_s), "%.4f", acc);
    if (!isnan(f1))
        snprintf(f1_s, sizeof(f1_s), "%.4f", f1);
    say(o, "index page %s updated (accuracy %s, macro F1 %s)", index_slug, acc_s, f1_s);
    rc = 0;
out:
    for (size_t i = 0; i < n_att; i++)
        free((char *)att[i].url);
    free(att);
    return rc;
}

int cd_publish(const cd_publish_opts *o, cd_publish_result *out, cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (check_opts(o, err) < 0)
        return -1;
    cd_log_register_secret(o->token);
    run R = {.o = o};
    cd_report_results *res = NULL;
    int rc = -1;
    /* Check the inputs before anything is sent, so bad results never leave a lone package. */
    if (o->targets & CD_PUBLISH_WIKI) {
        if (cd_report_results_load(o->results_dir, &res, err) < 0) {
            cd_error_wrap(err, "publish: results `%s`", o->results_dir);
            goto out;
        }
        for (size_t i = 0; i < cd_report_results_n_warnings(res); i++)
            say(o, "results: %s", cd_report_results_warning(res, i));
    }
    if (nonempty(o->model_file)) {
        R.model_meta = cd_publish_model_metadata(o->model_file, err);
        if (!R.model_meta) {
            cd_error_wrap(err, "publish");
            goto out;
        }
    }
    R.name = nonempty(o->package_name) ? strdup(o->package_name) : default_package_name(o);
    R.version = nonempty(o->package_version) ? strdup(o->package_version)
                                              : default_package_version(o, R.model_meta);
    R.file_name = cd_publish_sanitize_name(nonempty(o->model_file) ? base_name(o->model_file)
                                                                   : "model.tar.gz");
    if (!R.name || !R.version || !R.file_name) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "publish");
        goto out;
    }
    if (!cd_gitlab_package_name_valid(R.name) || !cd_gitlab_package_version_valid(R.version)) {
        cd_error(err, CD_ERR_USAGE, 0,
                 "publish: package `%s` version `%s`: only letters, digits, '.', '_', '-' and "
                 "'+' are allowed (and no \"..\")", R.name, R.version);
        goto out;
    }
    cd_gitlab_opts go = {.url = o->gitlab_url, .token = o->token, .token_type = o->token_type,
                         .ca_file = o->ca_file, .proxy = o->proxy,
                         .verbose = getenv("CONDUCTOR_DEBUG") && !strcmp(getenv("CONDUCTOR_DEBUG"), "1")};
    R.gl = cd_gitlab_new(&go, err);
    if (!R.gl)
        goto out;

    if (o->targets & CD_PUBLISH_PACKAGE) {
        if (publish_package(&R, out, err) < 0)
            goto out;
    } else if (nonempty(o->model_file)) {
        if (cd_publish_sha256_file(o->model_file, R.sha256, NULL, err) < 0)
            goto out;
    }
    out->model_sha256 = R.sha256[0] ? strdup(R.sha256) : NULL;
    if ((o->targets & CD_PUBLISH_WIKI) && publish_wiki(&R, res, out, err) < 0)
        goto out;
    rc = 0;
out:
    cd_report_results_free(res);
    cd_gitlab_free(R.gl);
    json_decref(R.model_meta);
    free(R.name);
    free(R.version);
    free(R.file_name);
    free(R.model_url);
    return rc;
}
