/* The request core: one easy handle per client (connections are reused), the retry policy
 * of gitlab-runner's retry_requester.go for idempotent calls, and a libcurl trace that never
 * shows a credential or a body. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gitlab/gitlab-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"
#include "util/log.h"

#define UPLOAD_BUFFER (512L * 1024) /* bigger than libcurl's 64 KiB default: fewer syscalls */

int cd_gitlab_parse_token_type(const char *s, cd_gitlab_token_type *out, cd_error_t *err)
{
    if (!s || !strcasecmp(s, "private"))
        *out = CD_GITLAB_TOKEN_PRIVATE;
    else if (!strcasecmp(s, "job"))
        *out = CD_GITLAB_TOKEN_JOB;
    else if (!strcasecmp(s, "bearer"))
        *out = CD_GITLAB_TOKEN_BEARER;
    else
        return cd_error(err, CD_ERR_USAGE, 0,
                        "token type `%s`: expected private, job or bearer", s);
    return 0;
}

static void default_sleep(void *ud, long ms)
{
    (void)ud;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static char *dup_opt(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

cd_gitlab *cd_gitlab_new(const cd_gitlab_opts *o, cd_error_t *err)
{
    static bool curl_ready;
    if (!curl_ready) {
        /* Not thread-safe in old libcurl; our binaries call this from the main thread. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            cd_error(err, CD_ERR_SYSTEM, 0, "initialise libcurl");
            return NULL;
        }
        curl_ready = true;
    }
    if (!o->url || !*o->url) {
        cd_error(err, CD_ERR_USAGE, 0, "GitLab URL is empty");
        return NULL;
    }
    if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
        cd_error(err, CD_ERR_USAGE, 0, "GitLab URL `%s`: expected http:// or https://", o->url);
        return NULL;
    }
    cd_gitlab *gl = calloc(1, sizeof(*gl));
    bool fail = !gl;
    if (gl) {
        size_t n = strlen(o->url);
        while (n && o->url[n - 1] == '/')
            n--;
        if (asprintf(&gl->api, "%.*s/api/v4", (int)n, o->url) < 0) {
            gl->api = NULL;
            fail = true;
        }
        gl->token = dup_opt(o->token, &fail);
        gl->ca_file = dup_opt(o->ca_file, &fail);
        gl->proxy = dup_opt(o->proxy, &fail);
        gl->token_type = o->token_type;
        gl->verbose = o->verbose;
        gl->max_tries = o->max_tries > 0 ? o->max_tries : 5;
        gl->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 30;
        gl->sleep_ms = o->sleep_ms ? o->sleep_ms : default_sleep;
        gl->sleep_userdata = o->sleep_userdata;
        gl->rand_state = (unsigned)time(NULL) ^ (unsigned)getpid();
        gl->curl = curl_easy_init();
        if (!gl->curl)
            fail = true;
    }
    if (fail) {
        cd_gitlab_free(gl);
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "create GitLab client");
        return NULL;
    }
    if (gl->token)
        cd_log_register_secret(gl->token);
    return gl;
}

cd_gitlab *cd_gitlab_free(cd_gitlab *gl)
{
    if (!gl)
        return NULL;
    if (gl->curl)
        curl_easy_cleanup(gl->curl);
    cd_free_secret(gl->token);
    free(gl->api);
    free(gl->ca_file);
    free(gl->proxy);
    free(gl);
    return NULL;
}

unsigned cd_gitlab_attempts(const cd_gitlab *gl)
{
    return gl->attempts;
}

char *cd_gitlab_project_id(const char *project)
{
    if (!project || !*project)
        return NULL;
    return cd_gitlab_escape(project);
}

void cd_gl_resp_done(cd_gl_resp *r)
{
    cd_strbuf_done(&r->body);
    free(r->location);
    r->location = NULL;
}

/* ---- libcurl trace ------------------------------------------------------------------- */

static bool is_secret_header(const char *line, size_t len)
{
    static const char *const names[] = {"private-token:", "job-token:", "authorization:",
                                        "proxy-authorization:", "deploy-token:", "cookie:",
                                        "set-cookie:"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (len >= n && !strncasecmp(line, names[i], n))
            return true;
    }
    return false;
}

/* libcurl's text lines can quote a proxy URL from the environment ("Uses proxy env variable
 * https_proxy == 'http://user:pass@proxy:3128'"): print user:pass as [REDACTED]. */
static void debug_text(const char *dir, const char *line, size_t len)
{
    const char *scheme = memmem(line, len, "://", 3);
    if (scheme) {
        const char *host = scheme + 3;
        const char *end = line + len;
        const char *at = NULL;
        for (const char *p = host; p < end && *p != '/' && *p != ' ' && *p != '\''; p++)
            if (*p == '@')
                at = p;
        if (at) {
            cd_debug("gitlab: %s%.*s[REDACTED]%.*s", dir, (int)(host - line), line,
                     (int)(end - at), at);
            return;
        }
    }
    cd_debug("gitlab: %s%.*s", dir, (int)len, line);
}

/* Headers line by line with credential values replaced; bodies never (they may carry
 * anything, and a 1 GiB upload would flood the log). */
static int trace(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    (void)ud;
    const char *dir = type == CURLINFO_HEADER_OUT ? "> " : type == CURLINFO_HEADER_IN ? "< "
                                                                                       : "* ";
    if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT)
        return 0;
    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        size_t len = j - i;
        while (len && (data[i + len - 1] == '\r'))
            len--;
        if (len) {
            if (type != CURLINFO_TEXT && is_secret_header(data + i, len)) {
                const char *colon = memchr(data + i, ':', len);
                cd_debug("gitlab: %s%.*s [REDACTED]", dir, (int)(colon - (data + i) + 1),
                         data + i);
            } else {
                debug_text(dir, data + i, len);
            }
        }
        i = j + 1;
    }
    return 0;
}

/* ---- per-request state --------------------------------------------------------------- */

typedef struct {
    const cd_gl_req *req;
    cd_gl_resp *resp;
    CURL *curl;
    char *retry_after;
    char *reset_time;
    bool overflow;
} xfer;

static size_t on_write(char *data, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = sz * n;
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    if (x->req->sink && code >= 200 && code < 300)
        return x->req->sink(data, len, x->req->sink_userdata);
    if (cd_strbuf_add(&x->resp->body, data, len) < 0) {
        x->overflow = true;
        return 0;
    }
    return len;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = sz * n;
    char *v;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* A new response (after 100 Continue or a redirect): forget the previous one. */
        free(x->retry_after);
        free(x->reset_time);
        free(x->resp->location);
        x->retry_after = x->reset_time = x->resp->location = NULL;
    } else if ((v = header_value(data, len, "Retry-After"))) {
        free(x->retry_after);
        x->retry_after = v;
    } else if ((v = header_value(data, len, "RateLimit-ResetTime"))) {
        free(x->reset_time);
        x->reset_time = v;
    } else if ((v = header_value(data, len, "Location"))) {
        free(x->resp->location);
        x->resp->location = v;
    }
    return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    const cd_gl_req *r = ud;
    ssize_t got;
    do
        got = read(r->upload_fd, buf, sz * n);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    if (got > 0 && r->upload_hash)
        sha256_update(r->upload_hash, (size_t)got, (const uint8_t *)buf);
    return (size_t)got;
}

/* libcurl rewinds on its own for some retries inside one perform (e.g. a closed reused
 * connection): only a rewind to 0 is possible, because the hash must restart too. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    const cd_gl_req *r = ud;
    if (origin != SEEK_SET || off != 0 || lseek(r->upload_fd, 0, SEEK_SET) != 0)
        return CURL_SEEKFUNC_CANTSEEK;
    if (r->upload_hash)
        sha256_init(r->upload_hash);
    return CURL_SEEKFUNC_OK;
}

static struct curl_slist *auth_headers(cd_gitlab *gl, struct curl_slist *h, bool anonymous,
                                       bool *fail)
{
    if (!gl->token || anonymous)
        return h;
    static const char *const pfx[] = {"PRIVATE-TOKEN: ", "JOB-TOKEN: ",
                                      "Authorization: Bearer "};
    char *line = NULL;
    if (asprintf(&line, "%s%s", pfx[gl->token_type], gl->token) < 0) {
        *fail = true;
        return h;
    }
    struct curl_slist *nh = curl_slist_append(h, line);
    cd_free_secret(line); /* curl_slist_append copied it; the copy is zeroed in free_headers */
    if (!nh)
        *fail = true;
    return nh ? nh : h;
}

static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static void setup(cd_gitlab *gl, CURL *c, const cd_gl_req *r, xfer *x, const char *url)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, gl->errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, gl->connect_timeout_s);
    /* A stalled peer must not hang the job: abort below 1 B/s for 2 minutes. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "conductor/" CD_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    /* Redirects are followed by the caller, without credentials (a signed object-storage URL
     * must not receive our token: §3.3). */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (gl->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, gl->ca_file);
    if (gl->proxy)
        curl_easy_setopt(c, CURLOPT_PROXY, gl->proxy);
    if (gl->verbose) {
        curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, trace);
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    }
    if (r->upload_fd >= 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, (void *)r);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, (void *)r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->upload_size);
    } else if (r->json_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->json_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->json_body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    if (!strcmp(r->method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
}

static bool is_retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SEND_FAIL_REWIND:
        return true;
    default:
        return false;
    }
}

static int one_try(cd_gitlab *gl, const cd_gl_req *r, cd_gl_resp *resp, xfer *x,
                   const char *url, CURLcode *ret_rc, cd_error_t *err)
{
    CURL *c = gl->curl;
    curl_easy_reset(c); /* keeps the connection cache */
    gl->errbuf[0] = '\0';
    cd_strbuf_reset(&resp->body);
    resp->status = 0;
    if (r->upload_fd >= 0) {
        if (lseek(r->upload_fd, 0, SEEK_SET) != 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "%s: rewind the upload file", r->method);
        if (r->upload_hash)
            sha256_init(r->upload_hash);
    }
    bool fail = false;
    struct curl_slist *h = auth_headers(gl, NULL, r->anonymous, &fail);
    struct curl_slist *nh;
    if (r->json_body) {
        nh = curl_slist_append(h, "Content-Type: application/json");
        h = nh ? nh : (fail = true, h);
    }
    curl_mime *mime = NULL;
    if (r->mime_path) {
        mime = curl_mime_init(c);
        curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
        if (!part || curl_mime_name(part, "file") != CURLE_OK ||
            curl_mime_filedata(part, r->mime_path) != CURLE_OK ||
            curl_mime_filename(part, r->mime_name) != CURLE_OK)
            fail = true;
    }
    if (fail) {
        curl_mime_free(mime);
        free_headers(h);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "%s: build request", r->method);
    }
    setup(gl, c, r, x, url);
    if (mime)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    gl->attempts++;
    *ret_rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_mime_free(mime);
    free_headers(h);
    return 0;
}

int cd_gl_request(cd_gitlab *gl, const cd_gl_req *r, cd_gl_resp *resp, cd_error_t *err)
{
    cleanup_free char *url = NULL;
    if (r->full_url)
        url = strdup(r->full_url);
    else if (asprintf(&url, "%s%s", gl->api, r->path) < 0)
        url = NULL;
    if (!url)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "%s %s", r->method, r->path);
    const char *shown = r->full_url ? "(redirect)" : r->path;
    const char *q = strchr(shown, '?');
    int shown_len = q ? (int)(q - shown) : (int)strlen(shown);
    cd_strbuf_init(&resp->body, CD_MAX_API_RESPONSE);

    for (int attempt = 1;; attempt++) {
        xfer x = {.req = r, .resp = resp, .curl = gl->curl};
        CURLcode rc = CURLE_OK;
        if (one_try(gl, r, resp, &x, url, &rc, err) < 0)
            return -1;
        bool last = attempt >= gl->max_tries;
        int ret = 0;
        bool again = false;
        if (x.overflow) {
            ret = cd_error(err, CD_ERR_SYSTEM, 0, "%s %.*s: response larger than %u bytes",
                           r->method, shown_len, shown, (unsigned)CD_MAX_API_RESPONSE);
        } else if (rc != CURLE_OK) {
            again = r->idempotent && is_retryable_curl(rc) && !last;
            if (!again)
                ret = cd_error(err, CD_ERR_SYSTEM, 0, "%s %.*s: %s%s", r->method, shown_len,
                               shown, gl->errbuf[0] ? gl->errbuf : curl_easy_strerror(rc),
                               attempt > 1 ? " (after retries)" : "");
            else
                cd_warn("%s %.*s: %s, retrying", r->method, shown_len, shown,
                        gl->errbuf[0] ? gl->errbuf : curl_easy_strerror(rc));
        } else if (resp->status >= 400) {
            /* A 429 means the request was turned away before any processing, so even a
             * non-idempotent POST may be resent. */
            again = cd_gitlab_status_retryable(resp->status) &&
                    (r->idempotent || resp->status == 429) && !last;
            if (!again)
                ret = cd_gitlab_http_error(err, r->method, r->full_url ? "(redirect)" : r->path,
                                           resp->status, cd_strbuf_str(&resp->body),
                                           resp->body.len);
            else
                cd_warn("%s %.*s: HTTP %ld, retrying", r->method, shown_len, shown,
                        resp->status);
        }
        long wait = again ? cd_gitlab_retry_wait_ms(attempt, x.reset_time, x.retry_after,
                                                    time(NULL), &gl->rand_state)
                          : 0;
        free(x.retry_after);
        free(x.reset_time);
        if (!again)
            return ret;
        gl->sleep_ms(gl->sleep_userdata, wait);
    }
}
