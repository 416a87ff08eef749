/* Project wiki pages and attachments (contract §2). Pages are keyed on their slug, never
 * on the title GitLab derives from the file name (§2.3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gitlab/gitlab-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

static int parse_json(const cd_gl_resp *resp, const char *what, json_t **out, cd_error_t *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(cd_strbuf_str(&resp->body), resp->body.len, 0, &jerr);
    if (!j)
        return cd_error(err, CD_ERR_SYSTEM, 0, "%s: HTTP %ld: invalid JSON at %d:%d: %s", what,
                        resp->status, jerr.line, jerr.column, jerr.text);
    if (out)
        *out = j;
    else
        json_decref(j);
    return 0;
}

int cd_gitlab_call(cd_gitlab *gl, const char *method, const char *path, json_t *body,
                   bool idempotent, json_t **out, cd_error_t *err)
{
    cleanup_free char *js = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !js)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "%s %s", method, path);
    cd_gl_req req = {.method = method, .path = path, .json_body = js, .upload_fd = -1,
                     .idempotent = idempotent};
    cd_gl_resp resp = {0};
    if (out)
        *out = NULL;
    int rc = cd_gl_request(gl, &req, &resp, err);
    if (rc == 0 && resp.status >= 300)
        rc = cd_gitlab_http_error(err, method, path, resp.status, cd_strbuf_str(&resp.body),
                                  resp.body.len);
    if (rc == 0 && out && resp.body.len) {
        cleanup_free char *what = NULL;
        if (asprintf(&what, "%s %s", method, path) < 0)
            what = NULL;
        rc = parse_json(&resp, what ? what : method, out, err);
    }
    long status = resp.status;
    cd_gl_resp_done(&resp);
    return rc < 0 ? -1 : (int)status;
}

static char *wiki_path(const char *project, const char *slug)
{
    cleanup_free char *pid = cd_gitlab_project_id(project);
    cleanup_free char *s = slug ? cd_gitlab_escape(slug) : NULL;
    char *p = NULL;
    if (!pid || (slug && !s))
        return NULL;
    if (asprintf(&p, "/projects/%s/wikis%s%s", pid, slug ? "/" : "", slug ? s : "") < 0)
        return NULL;
    return p;
}

int cd_gitlab_wiki_get(cd_gitlab *gl, const char *project, const char *slug, json_t **out,
                       cd_error_t *err)
{
    cleanup_free char *path = wiki_path(project, slug);
    if (!path)
        return cd_error(err, CD_ERR_USAGE, 0, "wiki page `%s`: bad project id", slug);
    return cd_gitlab_call(gl, "GET", path, NULL, true, out, err) < 0 ? -1 : 0;
}

/* Hand a local error to the caller's (first message wins, as with cd_error). */
static int move_error(cd_error_t *err, cd_error_t *e)
{
    if (err && !err->msg)
        *err = *e;
    else
        cd_error_clear(e);
    return -1;
}

static bool is_duplicate_page(const cd_error_t *e)
{
    return e->status == 400 && e->msg && strstr(e->msg, "Duplicate page");
}

int cd_gitlab_wiki_upsert(cd_gitlab *gl, const char *project, const char *slug,
                          const char *content, json_t **out, cd_error_t *err)
{
    cleanup_free char *page = wiki_path(project, slug);
    cleanup_free char *list = wiki_path(project, NULL);
    if (!page || !list)
        return cd_error(err, CD_ERR_USAGE, 0, "wiki page `%s`: bad project id", slug);
    json_auto_t *upd = json_pack("{s:s, s:s}", "content", content, "format", "markdown");
    json_auto_t *create = json_pack("{s:s, s:s, s:s}", "title", slug, "content", content,
                                    "format", "markdown");
    if (!upd || !create)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "wiki page `%s`", slug);

    /* A POST is not retried blindly (§7.5): when it fails in transit we start over with the
     * GET, which tells whether the page got created after all. */
    for (int round = 1;; round++) {
        cd_error_t e = {0};
        json_t *cur = NULL;
        int rc = cd_gitlab_call(gl, "GET", page, NULL, true, &cur, &e);
        if (rc >= 0) {
            json_t *c = json_object_get(cur, "content");
            bool same = json_is_string(c) && !strcmp(json_string_value(c), content);
            if (same) { /* nothing to change: no empty wiki commit */
                if (out)
                    *out = cur;
                else
                    json_decref(cur);
                return 0;
            }
            json_decref(cur);
            rc = cd_gitlab_call(gl, "PUT", page, upd, true, out, &e);
            return rc < 0 ? move_error(err, &e) : 0;
        }
        if (e.kind != CD_ERR_NOTFOUND)
            return move_error(err, &e);
        cd_error_clear(&e);
        rc = cd_gitlab_call(gl, "POST", list, create, false, out, &e);
        if (rc >= 0)
            return 0;
        if (is_duplicate_page(&e)) {
            /* Created meanwhile (another job, or our own POST whose answer was lost) under a
             * case variant: update it. */
            cd_error_clear(&e);
            rc = cd_gitlab_call(gl, "PUT", page, upd, true, out, &e);
            if (rc >= 0)
                return 0;
        }
        bool transient = e.kind == CD_ERR_SYSTEM &&
                         (e.status == 0 || cd_gitlab_status_retryable(e.status));
        if (!transient || round >= gl->max_tries)
            return move_error(err, &e);
        cd_warn("wiki page `%s`: %s; checking whether it was created, retrying", slug,
                cd_error_msg(&e));
        cd_error_clear(&e);
        gl->sleep_ms(gl->sleep_userdata,
                     cd_gitlab_retry_wait_ms(round, NULL, NULL, 0, &gl->rand_state));
    }
}

int cd_gitlab_wiki_attach(cd_gitlab *gl, const char *project, const char *path,
                          const char *file_name, char **ret_markdown, char **ret_url,
                          cd_error_t *err)
{
    cleanup_free char *pid = cd_gitlab_project_id(project);
    cleanup_free char *api = NULL;
    if (!pid || asprintf(&api, "/projects/%s/wikis/attachments", pid) < 0)
        return cd_error(err, CD_ERR_USAGE, 0, "wiki attachment `%s`: bad project id", file_name);
    cd_gl_req req = {.method = "POST", .path = api, .upload_fd = -1, .mime_path = path,
                     .mime_name = file_name, .idempotent = false};
    cd_gl_resp resp = {0};
    json_t *j = NULL;
    int rc = cd_gl_request(gl, &req, &resp, err);
    if (rc == 0 && resp.status >= 300)
        rc = cd_gitlab_http_error(err, "POST", api, resp.status, cd_strbuf_str(&resp.body),
                                  resp.body.len);
    if (rc == 0)
        rc = parse_json(&resp, "POST wiki attachment", &j, err);
    cd_gl_resp_done(&resp);
    if (rc < 0)
        return -1;
    json_t *link = json_object_get(j, "link");
    json_t *md = json_object_get(link, "markdown");
    json_t *url = json_object_get(link, "url");
    if (!json_is_string(md) || !json_is_string(url)) {
        json_decref(j);
        return cd_error(err, CD_ERR_SYSTEM, 0,
                        "POST %s: the answer has no link.markdown/link.url", api);
    }
    *ret_markdown = strdup(json_string_value(md));
    if (ret_url)
        *ret_url = strdup(json_string_value(url));
    json_decref(j);
    if (!*ret_markdown || (ret_url && !*ret_url)) {
        free(*ret_markdown);
        *ret_markdown = NULL;
        if (ret_url) {
            free(*ret_url);
            *ret_url = NULL;
        }
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "wiki attachment");
    }
    return 0;
}
