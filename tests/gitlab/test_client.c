/* protocol/gitlab-client: lib/gitlab against the GitLab stand-in. Each case names the
 * contract scenario (§8 #n) or fault it covers; the stand-in's stored files and request log
 * are the ground truth. Every byte the client logged (debug trace on) and every error
 * message is searched for the tokens at the end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include "gitlab/gitlab.h"
#include "standin-harness.h"
#include "tap.h"
#include "util/log.h"
#include "util/strbuf.h"

#define TOK_DEV "glpat-SECRETdev-7f3a9c1e5b"
#define TOK_MAINT "glpat-SECRETmaint-2d8e4b6a"
#define TOK_READ "glpat-SECRETread-9c0d1e2f"
#define TOK_EXPIRED "glpat-SECRETexpired-55aa"
#define TOK_JOB "glcbt-SECRETjob-0b1c2d3e4f"
#define TOK_JOB_DONE "glcbt-SECRETdone-6a7b8c9d"

static cd_strbuf captured = CD_STRBUF_INIT; /* every log line and error message */
static long waits[64];
static int n_waits;

static void capture(cd_log_level level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    cd_strbuf_adds(&captured, line);
    cd_strbuf_addc(&captured, '\n');
}

static void fake_sleep(void *ud, long ms)
{
    (void)ud;
    if (n_waits < 64)
        waits[n_waits++] = ms;
}

static standin srv;

static cd_gitlab *client(const char *token, cd_gitlab_token_type type)
{
    cd_gitlab_opts o = {.url = srv.base, .token = token, .token_type = type, .verbose = true,
                        .sleep_ms = fake_sleep};
    cd_error_t err = {0};
    cd_gitlab *gl = cd_gitlab_new(&o, &err);
    if (!gl) {
        printf("# client: %s\n", cd_error_msg(&err));
        exit(1);
    }
    return gl;
}

static void keep(const cd_error_t *e)
{
    if (e->msg) {
        cd_strbuf_adds(&captured, e->msg);
        cd_strbuf_addc(&captured, '\n');
    }
}

static void reset_err(cd_error_t *e)
{
    keep(e);
    cd_error_clear(e);
    *e = (cd_error_t){0};
}

/* The request log entries after index `from`, as "METHOD status" words. */
static char *requests_since(size_t from, size_t *ret_total)
{
    char *body = NULL;
    standin_control(&srv, "requests", NULL, &body);
    json_error_t je;
    json_t *arr = json_loads(body ? body : "[]", 0, &je);
    free(body);
    cd_strbuf sb = CD_STRBUF_INIT;
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r) {
        if (i < from)
            continue;
        cd_strbuf_printf(&sb, "%s%s %lld", sb.len ? " " : "",
                         json_string_value(json_object_get(r, "method")),
                         (long long)json_integer_value(json_object_get(r, "status")));
    }
    if (ret_total)
        *ret_total = json_array_size(arr);
    json_decref(arr);
    return cd_strbuf_take(&sb);
}

static size_t mark(void)
{
    size_t n = 0;
    free(requests_since(SIZE_MAX, &n));
    return n;
}

static void write_random(const char *path, size_t size, unsigned seed, char hex[65])
{
    FILE *f = fopen(path, "wb");
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    unsigned char buf[4096];
    for (size_t off = 0; off < size; off += sizeof(buf)) {
        size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(rand_r(&seed) >> 7);
        fwrite(buf, 1, n, f);
        sha256_update(&ctx, n, buf);
    }
    fclose(f);
    uint8_t d[32];
    sha256_digest(&ctx, 32, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_auth(cd_gitlab *dev, cd_gitlab *anon)
{
    cd_error_t e = {0};
    /* §8 #1 */
    ok(cd_gitlab_call(anon, "GET", "/projects/42/wikis", NULL, true, NULL, &e) < 0,
       "#1 anonymous wiki list fails");
    is_int(e.status, 404, "#1 status");
    is_str(e.msg,
           "GET /projects/42/wikis: HTTP 404: 404 Project Not Found (the project does not "
           "exist, or the token cannot see it)",
           "#1 message says 'or the token cannot see it'");
    reset_err(&e);

    /* §8 #2 */
    cd_gitlab *bogus = client("glpat-bogus-bogus-bogus", CD_GITLAB_TOKEN_PRIVATE);
    ok(cd_gitlab_call(bogus, "GET", "/projects/42/wikis", NULL, true, NULL, &e) < 0, "#2");
    has_str(e.msg, "GET /projects/42/wikis: HTTP 401: 401 Unauthorized", "#2 401 message");
    is_int(cd_gitlab_attempts(bogus), 1, "#2 a 401 is not retried");
    reset_err(&e);
    cd_gitlab_free(bogus);

    /* §8 #3: Bearer PAT ≡ PRIVATE-TOKEN */
    cd_gitlab *bearer = client(TOK_DEV, CD_GITLAB_TOKEN_BEARER);
    json_t *list = NULL;
    ok(cd_gitlab_call(bearer, "GET", "/projects/42/wikis", NULL, true, &list, &e) == 200,
       "#3 Bearer PAT lists the wiki (%s)", cd_error_msg(&e));
    ok(json_is_array(list), "#3 list is an array");
    json_decref(list);
    reset_err(&e);
    cd_gitlab_free(bearer);

    /* §8 #4 */
    cd_gitlab *expired = client(TOK_EXPIRED, CD_GITLAB_TOKEN_PRIVATE);
    ok(cd_gitlab_call(expired, "GET", "/projects/42/wikis", NULL, true, NULL, &e) < 0, "#4");
    has_str(e.msg,
            "HTTP 401: invalid_token: Token is expired. You can either do re-authorization or "
            "token refresh.",
            "#4 OAuth-shaped body parsed");
    reset_err(&e);
    cd_gitlab_free(expired);

    /* §8 #5 */
    cd_gitlab *reader = client(TOK_READ, CD_GITLAB_TOKEN_PRIVATE);
    ok(cd_gitlab_wiki_upsert(reader, "42", "x", "y", NULL, &e) < 0, "#5 read_api cannot write");
    has_str(e.msg, "POST /projects/42/wikis: HTTP 403: insufficient_scope: The request "
                   "requires higher privileges",
            "#5 insufficient_scope message");
    reset_err(&e);
    cd_gitlab_free(reader);

    /* §8 #6, #7: job tokens on wiki routes */
    cd_gitlab *job = client(TOK_JOB, CD_GITLAB_TOKEN_JOB);
    ok(cd_gitlab_wiki_upsert(job, "42", "x", "y", NULL, &e) < 0, "#6 JOB-TOKEN on a wiki");
    is_int(e.status, 404, "#6 header ignored → anonymous → 404");
    has_str(e.msg, "404 Project Not Found", "#6 message");
    reset_err(&e);
    cd_gitlab_free(job);
    cd_gitlab *jobb = client(TOK_JOB, CD_GITLAB_TOKEN_BEARER);
    ok(cd_gitlab_wiki_get(jobb, "42", "x", NULL, &e) < 0, "#7 Bearer job token on a wiki");
    is_int(e.status, 401, "#7 401");
    reset_err(&e);
    cd_gitlab_free(jobb);

    /* §8 #10: a path id is %2F-encoded by the client; a raw one is the router's 404 */
    ok(cd_gitlab_call(dev, "GET", "/projects/grp/nlu/wikis", NULL, true, NULL, &e) < 0,
       "#10 unencoded path");
    has_str(e.msg, "HTTP 404: 404 Not Found (no such API route", "#10 router 404 explained");
    reset_err(&e);
    char *pid = cd_gitlab_project_id("grp/nlu");
    is_str(pid, "grp%2Fnlu", "#10 project id encoding");
    free(pid);
    /* §8 #11 */
    ok(cd_gitlab_call(dev, "GET", "/nope", NULL, true, NULL, &e) < 0, "#11 unknown route");
    has_str(e.msg, "GET /nope: HTTP 404: 404 Not Found", "#11 message");
    ok(e.kind != CD_ERR_NOTFOUND, "#11 a wrong route is not an expected not-found");
    reset_err(&e);
}

static void test_wiki(cd_gitlab *dev)
{
    cd_error_t e = {0};
    const char *slug = "reports/model-2026-11-25";
    /* §8 #12/#13 via the upsert: GET 404 → POST 201 */
    size_t m = mark();
    json_t *page = NULL;
    ok(cd_gitlab_wiki_upsert(dev, "grp/nlu", slug, "v1", &page, &e) == 0, "#12 upsert creates (%s)",
       cd_error_msg(&e));
    is_str(json_string_value(json_object_get(page, "slug")), slug, "#12 slug");
    is_str(json_string_value(json_object_get(page, "title")), "model 2026 11 25", "#12 title");
    json_decref(page);
    char *seq = requests_since(m, NULL);
    is_str(seq, "GET 404 POST 201", "#12 create = GET then POST");
    free(seq);
    char *stored = standin_read(&srv, "projects/42/wiki/reports/model-2026-11-25.md");
    is_str(stored, "v1", "#12 page stored");
    free(stored);

    /* §8 #20: update keeps the slug */
    m = mark();
    ok(cd_gitlab_wiki_upsert(dev, "42", slug, "v2", NULL, &e) == 0, "#20 upsert updates");
    seq = requests_since(m, NULL);
    is_str(seq, "GET 200 PUT 200", "#20 update = GET then PUT");
    free(seq);
    stored = standin_read(&srv, "projects/42/wiki/reports/model-2026-11-25.md");
    is_str(stored, "v2", "#20 content replaced in place");
    free(stored);

    /* Same content again: no PUT, so no empty wiki commit */
    m = mark();
    ok(cd_gitlab_wiki_upsert(dev, "42", slug, "v2", NULL, &e) == 0, "unchanged upsert");
    seq = requests_since(m, NULL);
    is_str(seq, "GET 200", "unchanged page is not rewritten");
    free(seq);

    /* §8 #13/#15: lookup is case-insensitive */
    page = NULL;
    ok(cd_gitlab_wiki_get(dev, "42", "Reports/Model-2026-11-25", &page, &e) == 0,
       "#13 case-insensitive GET");
    is_str(json_string_value(json_object_get(page, "content")), "v2", "#13 content");
    json_decref(page);

    /* §8 #18 */
    ok(cd_gitlab_wiki_get(dev, "42", "does-not-exist", NULL, &e) < 0, "#18 missing page");
    is_int(e.kind, CD_ERR_NOTFOUND, "#18 kind NOTFOUND");
    has_str(e.msg, "HTTP 404: 404 Wiki Page Not Found", "#18 message");
    reset_err(&e);

    /* §8 #14 + §7.5: the GET says 404 but the page exists (created meanwhile) → POST
     * gets "Duplicate page" → PUT */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"GET\",\"path\":\"wikis/reports\",\"status\":404,"
                    "\"json\":{\"message\":\"404 Wiki Page Not Found\"}}]}",
                    NULL);
    m = mark();
    ok(cd_gitlab_wiki_upsert(dev, "42", slug, "v3", NULL, &e) == 0, "#14 duplicate → PUT (%s)",
       cd_error_msg(&e));
    seq = requests_since(m, NULL);
    is_str(seq, "GET 404 POST 400 PUT 200", "#14 sequence");
    free(seq);
    stored = standin_read(&srv, "projects/42/wiki/reports/model-2026-11-25.md");
    is_str(stored, "v3", "#14 content updated");
    free(stored);
    reset_err(&e);
    /* the same with the older, shorter duplicate wording (§8 #14 "older: no suffix") */
    standin_control(&srv, "settings", "{\"short_duplicate\":true}", NULL);
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"GET\",\"path\":\"wikis/reports\",\"status\":404,"
                    "\"json\":{\"message\":\"404 Wiki Page Not Found\"}}]}",
                    NULL);
    m = mark();
    ok(cd_gitlab_wiki_upsert(dev, "42", slug, "v4", NULL, &e) == 0, "#14 old wording → PUT");
    seq = requests_since(m, NULL);
    is_str(seq, "GET 404 POST 400 PUT 200", "#14 old wording sequence");
    free(seq);
    standin_control(&srv, "settings", "{\"short_duplicate\":false}", NULL);
    reset_err(&e);

    /* §8 #48 / §7.5: a POST that got a 500 is not resent blindly: GET first */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"POST\",\"path\":\"wikis$\",\"status\":500}]}", NULL);
    m = mark();
    n_waits = 0;
    ok(cd_gitlab_wiki_upsert(dev, "42", "reports/second", "s", NULL, &e) == 0,
       "#48 POST 500 then success (%s)", cd_error_msg(&e));
    seq = requests_since(m, NULL);
    is_str(seq, "GET 404 POST 500 GET 404 POST 201", "#48 re-checked with GET before re-POST");
    free(seq);
    is_int(n_waits, 1, "#48 one back-off wait");
    reset_err(&e);

    /* §8 #24: attachment naming and markdown link */
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s", srv.dir);
    snprintf(path, sizeof(path), "%s/chart.png", dir);
    FILE *f = fopen(path, "wb");
    fputs("\x89PNG fake", f);
    fclose(f);
    char *md = NULL, *url = NULL;
    ok(cd_gitlab_wiki_attach(dev, "42", path, "conf matrix.png", &md, &url, &e) == 0,
       "#24 attachment (%s)", cd_error_msg(&e));
    ok(md && !strncmp(md, "![conf_matrix](uploads/", 23) && strstr(md, "/conf_matrix.png)"),
       "#24 markdown %s", md ? md : "(null)");
    ok(url && strlen(url) == strlen("uploads/") + 32 + strlen("/conf_matrix.png"),
       "#24 url has a 32-hex dir: %s", url ? url : "(null)");
    char rel[700];
    snprintf(rel, sizeof(rel), "projects/42/wiki/%s", url ? url : "");
    stored = standin_read(&srv, rel);
    is_str(stored, "\x89PNG fake", "#24 bytes stored");
    free(stored);
    free(md);
    free(url);
    md = url = NULL;
    snprintf(path, sizeof(path), "%s/r.json", dir);
    f = fopen(path, "wb");
    fputs("{}", f);
    fclose(f);
    ok(cd_gitlab_wiki_attach(dev, "42", path, "r.json", &md, NULL, &e) == 0 && md &&
           !strncmp(md, "[r.json](uploads/", 17),
       "#24 non-image link %s", md ? md : "(null)");
    free(md);
    md = NULL;

    /* an attachment POST is not retried on a 500 (each POST makes a new upload dir) */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"POST\",\"path\":\"attachments\",\"status\":500}]}",
                    NULL);
    unsigned before = cd_gitlab_attempts(dev);
    ok(cd_gitlab_wiki_attach(dev, "42", path, "r.json", &md, NULL, &e) < 0, "attach 500 fails");
    is_int(cd_gitlab_attempts(dev) - before, 1, "attach 500 not retried");
    has_str(e.msg, "POST /projects/42/wikis/attachments: HTTP 500: 500 Internal Server Error",
            "attach 500 message");
    reset_err(&e);
    /* but a 429 is (the request was not processed) */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"POST\",\"path\":\"attachments\",\"status\":429,"
                    "\"retry_after\":\"2\"}]}",
                    NULL);
    n_waits = 0;
    ok(cd_gitlab_wiki_attach(dev, "42", path, "r.json", &md, NULL, &e) == 0,
       "attach after 429 (%s)", cd_error_msg(&e));
    ok(n_waits == 1 && waits[0] == 2000, "attach waited Retry-After: 2 s (%ld)",
       n_waits ? waits[0] : -1L);
    free(md);
    reset_err(&e);

    /* §8 #22 wiki disabled */
    standin_control(&srv, "settings", "{\"wiki_enabled\":{\"42\":false}}", NULL);
    ok(cd_gitlab_wiki_get(dev, "42", slug, NULL, &e) < 0, "#22 wiki disabled");
    has_str(e.msg, "HTTP 403: 403 Forbidden", "#22 403");
    reset_err(&e);
    standin_control(&srv, "settings", "{\"wiki_enabled\":{\"42\":true}}", NULL);
}

static void test_packages(cd_gitlab *dev, cd_gitlab *job, cd_gitlab *anon)
{
    cd_error_t e = {0};
    char path[600], hex[65];
    snprintf(path, sizeof(path), "%s/model.tar.gz", srv.dir);
    write_random(path, 3u << 20, 1, hex);

    /* §8 #27/#28 */
    cd_gitlab_package_file pf;
    ok(cd_gitlab_package_upload(job, "42", "nlu-intent", "1.4.0", "model.tar.gz", path, &pf,
                                &e) == 0,
       "#27 upload with JOB-TOKEN (%s)", cd_error_msg(&e));
    is_str(pf.sha256, hex, "#28 SHA-256 of what we sent");
    is_int(pf.size, 3u << 20, "#28 size");
    ok(!pf.duplicate, "#28 not a duplicate");
    is_str(pf.download_path, "/projects/42/packages/generic/nlu-intent/1.4.0/model.tar.gz",
           "download path");
    cd_gitlab_package_file_done(&pf);
    char got[65];
    uint64_t size = 0;
    ok(cd_gitlab_package_sha256(job, "42", "nlu-intent", "1.4.0", "model.tar.gz", got, &size,
                                &e) == 0,
       "#35 download");
    is_str(got, hex, "#35 downloaded bytes match");

    /* §8 #35 missing */
    ok(cd_gitlab_package_sha256(dev, "42", "nlu-intent", "9.9.9", "model.tar.gz", got, NULL,
                                &e) < 0,
       "#35 missing package");
    is_int(e.kind, CD_ERR_NOTFOUND, "#35 NOTFOUND");
    has_str(e.msg, "HTTP 404: 404 Not found", "#35 message");
    reset_err(&e);

    /* §9 open points, the alternatives: select=package_file answered with 201, or ignored
     * by an older GitLab (then the client verifies by downloading) */
    standin_control(&srv, "settings", "{\"select_status\":201}", NULL);
    ok(cd_gitlab_package_upload(job, "42", "alt", "1.0", "model.tar.gz", path, &pf, &e) == 0,
       "#28 alt: 201 with the package_file record accepted (%s)", cd_error_msg(&e));
    cd_gitlab_package_file_done(&pf);
    reset_err(&e);
    standin_control(&srv, "settings", "{\"select_status\":200,\"ignore_select\":true}", NULL);
    size_t m = mark();
    ok(cd_gitlab_package_upload(job, "42", "alt", "1.1", "model.tar.gz", path, &pf, &e) == 0,
       "#28 alt: no package_file record → verified by download (%s)", cd_error_msg(&e));
    char *seq = requests_since(m, NULL);
    is_str(seq, "PUT 201 GET 200", "#28 alt: PUT then GET to verify");
    free(seq);
    is_str(pf.sha256, hex, "#28 alt: hash");
    cd_gitlab_package_file_done(&pf);
    reset_err(&e);
    standin_control(&srv, "settings", "{\"ignore_select\":false}", NULL);

    /* §8 #29: duplicates allowed, new bytes win */
    char hex2[65];
    write_random(path, 1u << 20, 2, hex2);
    ok(cd_gitlab_package_upload(dev, "grp/nlu", "nlu-intent", "1.4.0", "model.tar.gz", path,
                                &pf, &e) == 0,
       "#29 re-upload allowed");
    cd_gitlab_package_file_done(&pf);
    cd_gitlab_package_sha256(dev, "42", "nlu-intent", "1.4.0", "model.tar.gz", got, NULL, &e);
    is_str(got, hex2, "#29 GET returns the newest bytes");

    /* §8 #30 + §7.5: duplicates off → same bytes = success, other bytes = clear error */
    standin_control(&srv, "settings", "{\"allow_duplicates\":false}", NULL);
    ok(cd_gitlab_package_upload(dev, "42", "nlu-intent", "1.4.0", "model.tar.gz", path, &pf,
                                &e) == 0,
       "#30 identical rerun accepted (%s)", cd_error_msg(&e));
    ok(pf.duplicate, "#30 reported as duplicate");
    is_str(pf.sha256, hex2, "#30 verified hash");
    cd_gitlab_package_file_done(&pf);
    reset_err(&e);
    write_random(path, 1u << 20, 3, hex);
    ok(cd_gitlab_package_upload(dev, "42", "nlu-intent", "1.4.0", "model.tar.gz", path, &pf,
                                &e) < 0,
       "#30 other bytes refused");
    has_str(e.msg, "duplicates are not allowed", "#30 says why");
    has_str(e.msg, "GitLab holds other bytes", "#30 says what differs");
    reset_err(&e);
    standin_control(&srv, "settings", "{\"allow_duplicates\":true}", NULL);

    /* §8 #31: checked before sending */
    unsigned before = cd_gitlab_attempts(dev);
    ok(cd_gitlab_package_upload(dev, "42", "nlu intent", "1.0", "m", path, &pf, &e) < 0,
       "#31 bad name");
    is_int(e.kind, CD_ERR_USAGE, "#31 usage error");
    reset_err(&e);
    ok(cd_gitlab_package_upload(dev, "42", "nlu", "1..4", "m", path, &pf, &e) < 0,
       "#31 bad version");
    has_str(e.msg, "package version `1..4`", "#31 version message");
    reset_err(&e);
    is_int(cd_gitlab_attempts(dev) - before, 0, "#31 nothing sent");
    ok(cd_gitlab_package_name_valid("nlu-intent_1.0+x") && !cd_gitlab_package_name_valid("nlu@x"),
       "#31 name rule");

    /* §8 #33 */
    standin_control(&srv, "settings", "{\"max_file_size\":1000}", NULL);
    ok(cd_gitlab_package_upload(dev, "42", "big", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "#33 too large");
    has_str(e.msg, "HTTP 400: 400 Bad request - File is too large", "#33 message");
    reset_err(&e);
    standin_control(&srv, "settings", "{\"max_file_size\":5368709120}", NULL);

    /* §8 #34 */
    ok(cd_gitlab_package_upload(anon, "42", "nlu", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "#34 anonymous PUT");
    has_str(e.msg, "HTTP 401: 401 Unauthorized", "#34 401");
    reset_err(&e);

    /* §8 #8 finished job */
    cd_gitlab *done = client(TOK_JOB_DONE, CD_GITLAB_TOKEN_JOB);
    ok(cd_gitlab_package_upload(done, "42", "nlu", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "#8 finished job token");
    is_int(e.status, 401, "#8 401");
    reset_err(&e);
    cd_gitlab_free(done);

    /* §8 #9 cross-project */
    ok(cd_gitlab_package_upload(job, "77", "nlu", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "#9 job token to another project");
    has_str(e.msg, "HTTP 403: 403 Forbidden - Authentication by CI/CD job token not allowed "
                   "from grp/nlu to grp/other.",
            "#9 message");
    reset_err(&e);

    /* §8 #46: 429 + Retry-After, then success */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"status\":429,\"retry_after\":\"3\"}]}",
                    NULL);
    n_waits = 0;
    before = cd_gitlab_attempts(job);
    ok(cd_gitlab_package_upload(job, "42", "retry", "1.0", "model.tar.gz", path, &pf, &e) == 0,
       "#46 429 then success (%s)", cd_error_msg(&e));
    is_int(cd_gitlab_attempts(job) - before, 2, "#46 two tries");
    ok(n_waits == 1 && waits[0] == 3000, "#46 waited Retry-After (%ld ms)", n_waits ? waits[0] : -1L);
    is_str(pf.sha256, hex, "#46 hash restarted on the second try");
    cd_gitlab_package_file_done(&pf);

    /* RateLimit-ResetTime wins over Retry-After */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"status\":429,\"retry_after\":\"30\","
                    "\"reset_time\":3}]}",
                    NULL);
    n_waits = 0;
    ok(cd_gitlab_package_upload(job, "42", "retry", "1.1", "model.tar.gz", path, &pf, &e) == 0,
       "#46 RateLimit-ResetTime");
    ok(n_waits == 1 && waits[0] >= 1000 && waits[0] <= 4000,
       "#46 waited until RateLimit-ResetTime (%ld ms), not Retry-After", n_waits ? waits[0] : -1L);
    cd_gitlab_package_file_done(&pf);

    /* §8 #48: a 500 then success, exponential back-off */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"status\":500,\"times\":2}]}", NULL);
    n_waits = 0;
    ok(cd_gitlab_package_upload(job, "42", "retry", "1.2", "model.tar.gz", path, &pf, &e) == 0,
       "#48 500, 500, then success");
    ok(n_waits == 2 && waits[0] >= 100 && waits[0] <= 150 && waits[1] >= 200 && waits[1] <= 300,
       "#48 back-off 100 ms then 200 ms with jitter (%ld, %ld)", waits[0], waits[1]);
    cd_gitlab_package_file_done(&pf);

    /* Network cut mid-upload: retried from the start, converges */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"cut_after\":200000}]}", NULL);
    before = cd_gitlab_attempts(job);
    ok(cd_gitlab_package_upload(job, "42", "cut", "1.0", "model.tar.gz", path, &pf, &e) == 0,
       "cut mid-upload then success (%s)", cd_error_msg(&e));
    is_int(cd_gitlab_attempts(job) - before, 2, "cut: two tries");
    is_str(pf.sha256, hex, "cut: hash of the complete second send");
    cd_gitlab_package_file_done(&pf);
    cd_gitlab_package_sha256(job, "42", "cut", "1.0", "model.tar.gz", got, &size, &e);
    is_str(got, hex, "cut: stored bytes are complete");

    /* Always failing: 5 tries, then the last status */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"status\":503,\"times\":9}]}", NULL);
    before = cd_gitlab_attempts(job);
    ok(cd_gitlab_package_upload(job, "42", "never", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "503 forever fails");
    is_int(cd_gitlab_attempts(job) - before, 5, "at most 5 tries");
    has_str(e.msg, "PUT /projects/42/packages/generic/never/1.0/model.tar.gz: HTTP 503: 503",
            "503 message (no query string)");
    is_int(e.kind, CD_ERR_SYSTEM, "503 is a system failure");
    reset_err(&e);
    standin_control(&srv, "reset", "{}", NULL);

    /* cut on every try: a transport error after 5 tries */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"PUT\",\"cut_after\":1000,\"times\":5}]}", NULL);
    ok(cd_gitlab_package_upload(job, "42", "never", "1.0", "model.tar.gz", path, &pf, &e) < 0,
       "cut forever fails");
    has_str(e.msg, "PUT /projects/42/packages/generic/never/1.0/model.tar.gz: ", "cut message");
    has_str(e.msg, "(after retries)", "cut message says retried");
    reset_err(&e);

    /* §7.1 shape 5: non-JSON proxy page */
    standin_control(&srv, "faults",
                    "{\"faults\":[{\"method\":\"GET\",\"status\":502,\"times\":5,"
                    "\"body\":\"<html>\\n<h1>502 Bad Gateway</h1></html>\"}]}",
                    NULL);
    ok(cd_gitlab_wiki_get(dev, "42", "x", NULL, &e) < 0, "502 page");
    has_str(e.msg, "HTTP 502: <html> <h1>502 Bad Gateway</h1></html>", "502 text on one line");
    reset_err(&e);
    standin_control(&srv, "reset", "{}", NULL);
}

/* Proxy credentials from the environment or the options never reach a log line or error. */
static void test_proxy(void)
{
    cd_error_t e = {0};
    setenv("http_proxy", "http://puser:SECRETproxypw@127.0.0.1:1", 1);
    cd_gitlab *gl = client(TOK_DEV, CD_GITLAB_TOKEN_PRIVATE);
    ok(cd_gitlab_call(gl, "GET", "/projects/42/wikis", NULL, false, NULL, &e) < 0,
       "unreachable proxy fails");
    has_str(e.msg, "GET /projects/42/wikis: ", "transport error names the request");
    reset_err(&e);
    cd_gitlab_free(gl);
    unsetenv("http_proxy");
    cd_gitlab_opts o = {.url = srv.base, .token = TOK_DEV, .verbose = true,
                        .proxy = "http://puser:SECRETproxypw@127.0.0.1:1", .max_tries = 1,
                        .sleep_ms = fake_sleep};
    gl = cd_gitlab_new(&o, &e);
    ok(gl && cd_gitlab_call(gl, "GET", "/projects/42/wikis", NULL, true, NULL, &e) < 0,
       "configured proxy is used");
    reset_err(&e);
    cd_gitlab_free(gl);
    has_str(cd_strbuf_str(&captured), "[REDACTED]@127.0.0.1:1", "proxy userinfo redacted");
}

static void test_no_secret(void)
{
    const char *toks[] = {TOK_DEV, TOK_MAINT, TOK_READ, TOK_EXPIRED, TOK_JOB, TOK_JOB_DONE,
                          "SECRETproxypw"};
    ok(captured.len > 1000, "trace captured (%zu bytes)", captured.len);
    has_str(cd_strbuf_str(&captured), "PRIVATE-TOKEN: [REDACTED]", "auth header redacted");
    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
        /* also the first half: a token cut in two must not leak either */
        char half[64];
        snprintf(half, sizeof(half), "%.*s", (int)strlen(toks[i]) / 2 + 3, toks[i]);
        ok(!strstr(cd_strbuf_str(&captured), half), "no token %d in any output", (int)i);
    }
    char *log = standin_read(&srv, "../standin.log");
    ok(!log || !strstr(log, "SECRET"), "stand-in log has no token");
    free(log);
}

int main(void)
{
    const char *extra[] = {"--token", "dev=" TOK_DEV,         "--token", "maint=" TOK_MAINT,
                           "--token", "read=" TOK_READ,       "--token", "expired=" TOK_EXPIRED,
                           "--token", "job=" TOK_JOB,         "--token", "job_done=" TOK_JOB_DONE,
                           NULL};
    cd_log_set_handler(capture, NULL);
    cd_log_set_level(CD_LOG_DEBUG);
    if (standin_start(&srv, extra) < 0) {
        printf("# could not start the stand-in\n");
        return 1;
    }
    cd_gitlab *dev = client(TOK_DEV, CD_GITLAB_TOKEN_PRIVATE);
    cd_gitlab *job = client(TOK_JOB, CD_GITLAB_TOKEN_JOB);
    cd_gitlab *anon = client(NULL, CD_GITLAB_TOKEN_PRIVATE);
    test_auth(dev, anon);
    test_wiki(dev);
    test_packages(dev, job, anon);
    cd_gitlab_free(dev);
    cd_gitlab_free(job);
    cd_gitlab_free(anon);
    test_proxy();
    test_no_secret();
    standin_stop(&srv);
    cd_strbuf_done(&captured);
    cd_log_clear_secrets();
    return tap_done();
}
