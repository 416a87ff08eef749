/* The HTTP side of the engine client: one libcurl easy handle driven through a multi handle,
 * so every call (short JSON, endless exec stream, paused archive download) shares one loop that
 * also watches the interrupt flag. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"
#include "util/log.h"

#define POLL_MS 100
#define CD_ENGINE_STREAM_BUFFER (128L << 10)

int cd_engine_fail(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, ...)
{
    if (!err || err->msg)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    cd_verror(err, kind, 0, fmt, ap);
    va_end(ap);
    err->errnum = errnum;
    return -1;
}

bool cd_engine_interrupted(const cd_engine *e)
{
    return e->interrupt && *e->interrupt;
}

char *cd_engine_display(const char *method, const char *path)
{
    size_t n = strcspn(path, "?");
    char *s = NULL;
    if (asprintf(&s, "%s %.*s", method, (int)n, path) < 0)
        return NULL;
    return s;
}

/* The engine did not answer (connect, TLS, timeout, a cut stream): the message names the
 * endpoint, since that, not the request, is what the user has to check. */
int cd_engine_curl_error(const cd_engine *e, cd_error_t *err, CURLcode rc, const char *errbuf,
                         const char *method, const char *path)
{
    cleanup_free char *what = cd_engine_display(method, path);
    const char *text = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
    int errnum = rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT
                 : rc == CURLE_COULDNT_CONNECT  ? ECONNREFUSED
                                                : EIO;
    return cd_engine_fail(err, CD_ERR_SYSTEM, errnum, "engine `%s`: %s: %s", e->endpoint,
                          what ? what : method, text);
}

/* Sockets are born close-on-exec: a job process we fork must never inherit the engine socket. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ud;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Headers only; credentials are redacted, bodies are never printed. */
static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    (void)ud;
    static const char *const secret_headers[] = {
        "authorization:", "x-registry-auth:", "proxy-authorization:", "cookie:"};
    const char *dir = type == CURLINFO_HEADER_OUT ? "> " : type == CURLINFO_HEADER_IN ? "< " : "* ";
    switch (type) {
    case CURLINFO_TEXT:
    case CURLINFO_HEADER_IN:
    case CURLINFO_HEADER_OUT: {
        size_t i = 0;
        while (i < size) {
            size_t n = 0;
            while (i + n < size && data[i + n] != '\n')
                n++;
            size_t len = n;
            if (len && data[i + len - 1] == '\r')
                len--;
            if (len) {
                bool secret = false;
                for (size_t k = 0; k < sizeof(secret_headers) / sizeof(*secret_headers); k++) {
                    size_t sl = strlen(secret_headers[k]);
                    if (len >= sl && strncasecmp(data + i, secret_headers[k], sl) == 0) {
                        cd_log(CD_LOG_DEBUG, "engine: %s%.*s [REDACTED]", dir, (int)(sl - 1),
                               data + i);
                        secret = true;
                        break;
                    }
                }
                if (!secret)
                    cd_log(CD_LOG_DEBUG, "engine: %s%.*s", dir, (int)len, data + i);
            }
            i += n + 1;
        }
        break;
    }
    case CURLINFO_DATA_IN:
    case CURLINFO_DATA_OUT:
        cd_log(CD_LOG_DEBUG, "engine: %s[%zu bytes of data]",
               type == CURLINFO_DATA_OUT ? "> " : "< ", size);
        break;
    default:
        break;
    }
    return 0;
}

void cd_engine_setup_handle(cd_engine *e, CURL *h, char *errbuf, bool stream)
{
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "conductor/" CD_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, stream ? 0L : e->request_timeout_ms);
    if (stream) /* bigger reads for exec output and archives: fewer wakeups a MiB */
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)CD_ENGINE_STREAM_BUFFER);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* an engine is never reached through $http_proxy */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (e->unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
    if (e->tls) {
        if (e->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
        if (e->cert_file)
            curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
        if (e->key_file)
            curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, e->tls_no_verify ? 0L : 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, e->tls_no_verify ? 0L : 2L);
    }
    if (e->debug) {
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    }
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    cd_xfer *x = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->e->curl, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    if (status >= 300 || !x->sink) {
        size_t max = status >= 300 ? CD_MAX_ERROR_BODY : CD_MAX_API_RESPONSE;
        if (x->out.len + len > max) {
            if (status >= 300) /* the start of an error body is enough for the message */
                return len;
            x->sink_failed = true;
            cd_engine_fail(&x->sink_err, CD_ERR_SYSTEM, E2BIG, "reply larger than %zu bytes", max);
            return 0;
        }
        if (cd_strbuf_add(&x->out, data, len) < 0) {
            x->sink_failed = true;
            cd_error(&x->sink_err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
            return 0;
        }
        return len;
    }
    int r = x->sink(data, len, x->sink_ud, &x->sink_err);
    if (r < 0) {
        x->sink_failed = true;
        return 0;
    }
    if (r == 1) {
        x->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    cd_xfer *x = ud;
    ssize_t n;
    do
        n = read(x->upload_fd, buf, size * nmemb);
    while (n < 0 && errno == EINTR);
    return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

int cd_xfer_begin(cd_engine *e, cd_xfer *x, cd_error_t *err)
{
    CURL *h = e->curl;
    x->e = e;
    x->status = 0;
    cd_strbuf_init(&x->out, 0);
    memset(&x->sink_err, 0, sizeof(x->sink_err));
    x->sink_failed = x->paused = x->done = false;
    x->result = CURLE_OK;
    x->headers = NULL;

    cleanup_free char *url = NULL;
    if (asprintf(&url, "%s/v%s%s", e->base_url, e->api_version, x->path) < 0)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");

    /* reset keeps the live connections (they belong to the multi handle) and drops the
     * previous call's method, body and callbacks */
    curl_easy_reset(h);
    cd_engine_setup_handle(e, h, e->errbuf, x->stream);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);

    /* Expect: 100-continue would stall uploads for a second on engines that ignore it */
    x->headers = curl_slist_append(x->headers, "Expect:");
    if (strcmp(x->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (x->upload_fd >= 0) {
        struct stat st;
        if (fstat(x->upload_fd, &st) < 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "stat upload: %s", strerror(errno));
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
        x->headers = curl_slist_append(x->headers, "Content-Type: application/x-tar");
    } else if (strcmp(x->method, "DELETE") == 0 || strcmp(x->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
        if (strcmp(x->method, "HEAD") == 0)
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body ? x->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(x->body ? x->body_len : 0));
        if (strcmp(x->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body)
            x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    }
    if (x->extra_header)
        x->headers = curl_slist_append(x->headers, x->extra_header);
    if (!x->headers)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);

    CURLMcode mc = curl_multi_add_handle(e->multi, h);
    if (mc != CURLM_OK) {
        curl_slist_free_all(take_ptr(x->headers));
        return cd_error(err, CD_ERR_SYSTEM, EIO, "libcurl: %s", curl_multi_strerror(mc));
    }
    return 0;
}

int cd_xfer_step(cd_xfer *x, cd_error_t *err)
{
    cd_engine *e = x->e;
    if (x->done)
        return 0;
    if (cd_engine_interrupted(e)) {
        cleanup_free char *what = cd_engine_display(x->method, x->path);
        return cd_engine_fail(err, CD_ERR_SYSTEM, EINTR, "%s: interrupted",
                              what ? what : x->method);
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(e->multi, &running);
    if (mc == CURLM_OK && running)
        mc = curl_multi_poll(e->multi, NULL, 0, POLL_MS, NULL);
    if (mc != CURLM_OK)
        return cd_error(err, CD_ERR_SYSTEM, EIO, "libcurl: %s", curl_multi_strerror(mc));
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == e->curl) {
            x->done = true;
            x->result = m->data.result;
        }
    }
    return 0;
}

void cd_xfer_unpause(cd_xfer *x)
{
    if (x->paused) {
        x->paused = false;
        curl_easy_pause(x->e->curl, CURLPAUSE_CONT); /* may call write_cb right away */
    }
}

void cd_xfer_done(cd_xfer *x)
{
    if (x->e) {
        curl_multi_remove_handle(x->e->multi, x->e->curl);
        /* the handle still points at these until the next reset */
        curl_easy_setopt(x->e->curl, CURLOPT_HTTPHEADER, NULL);
    }
    curl_slist_free_all(take_ptr(x->headers));
    cd_error_clear(&x->sink_err);
    cd_strbuf_done(&x->out);
    x->e = NULL;
}

int cd_xfer_finish(cd_xfer *x, cd_error_t *err)
{
    cd_engine *e = x->e;
    long status = 0;
    curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    curl_multi_remove_handle(e->multi, e->curl);
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(take_ptr(x->headers));

    int r = (int)status;
    if (x->sink_failed) {
        /* the sink's own error wins over the CURLE_WRITE_ERROR it caused */
        cleanup_free char *what = cd_engine_display(x->method, x->path);
        r = cd_engine_fail(err, x->sink_err.kind ? x->sink_err.kind : CD_ERR_SYSTEM,
                           x->sink_err.errnum, "%s: %s", what ? what : x->method,
                           cd_error_msg(&x->sink_err));
        if (err && err->status == 0)
            err->status = x->sink_err.status;
    } else if (x->result != CURLE_OK && status < 300) {
        r = cd_engine_curl_error(e, err, x->result, e->errbuf, x->method, x->path);
    } else if (status >= 300 && status != 304) {
        r = cd_engine_http_error(err, x->method, x->path, status, cd_strbuf_str(&x->out),
                                 x->out.len);
    }
    cd_error_clear(&x->sink_err);
    if (r < 0)
        cd_strbuf_done(&x->out);
    x->e = NULL;
    return r;
}

/* Docker refuses an API version below its minimum before it reads the request, with
 * 400 "client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade
 * your client to a newer version" (Docker 29 raised it to 1.44). Switch to the version it
 * names when we speak it; true when the request should be sent again. */
static bool adopt_min_version(cd_engine *e, const cd_error_t *err)
{
    static const char key[] = "Minimum supported API version is ";
    const char *p = err->status == 400 && err->msg ? strstr(err->msg, key) : NULL;
    if (!p || !strstr(err->msg, "is too old"))
        return false;
    p += sizeof(key) - 1;
    char v[16];
    size_t n = strspn(p, "0123456789.");
    if (n == 0 || n >= sizeof(v))
        return false;
    memcpy(v, p, n);
    v[n] = 0;
    if (v[n - 1] == '.') /* the sentence's full stop */
        v[n - 1] = 0;
    long want = cd_engine_version_num(v);
    if (want <= cd_engine_version_num(e->api_version) ||
        want > cd_engine_version_num(CD_ENGINE_API_VERSION_NEWEST))
        return false;
    cd_debug("engine %s wants API %s or newer; using it", e->endpoint, v);
    snprintf(e->api_version, sizeof(e->api_version), "%s", v);
    return true;
}

static int xfer_once(cd_engine *e, cd_xfer *x, cd_error_t *err)
{
    if (cd_xfer_begin(e, x, err) < 0) {
        cd_xfer_done(x);
        return -1;
    }
    while (!x->done) {
        if (cd_xfer_step(x, err) < 0) {
            cd_xfer_done(x);
            return -1;
        }
    }
    return cd_xfer_finish(x, err);
}

int cd_xfer_run(cd_engine *e, cd_xfer *x, cd_error_t *err)
{
    cd_error_t e1 = {0};
    int r = xfer_once(e, x, &e1);
    if (r < 0 && adopt_min_version(e, &e1) &&
        (x->upload_fd < 0 || lseek(x->upload_fd, 0, SEEK_SET) == 0)) {
        cd_error_clear(&e1);
        r = xfer_once(e, x, &e1);
    }
    if (r < 0) {
        if (err && !err->msg)
            *err = e1;
        else
            cd_error_clear(&e1);
    }
    return r;
}

int cd_engine_request(cd_engine *e, const char *method, const char *path, const json_t *body,
                      json_t **ret_json, cd_error_t *err)
{
    cleanup_free char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "%s %s: cannot encode body", method, path);
    }
    cd_xfer x = {.method = method,
                 .path = path,
                 .body = text,
                 .body_len = text ? strlen(text) : 0,
                 .upload_fd = -1};
    int status = cd_xfer_run(e, &x, err);
    if (status < 0)
        return -1;
    if (ret_json) {
        *ret_json = NULL;
        if (cd_engine_parse_json(method, path, cd_strbuf_str(&x.out), x.out.len, ret_json, err) < 0)
            status = -1;
    }
    cd_strbuf_done(&x.out);
    return status;
}

char *cd_engine_escape(const char *s)
{
    /* curl_easy_escape needs no handle in libcurl >= 7.82 */
    char *c = curl_easy_escape(NULL, s, 0);
    if (!c)
        return NULL;
    char *r = strdup(c);
    curl_free(c);
    return r;
}

int cd_engine_request_idempotent(cd_engine *e, const char *method, const char *path,
                                 cd_engine_already_fn done, cd_error_t *err)
{
    cd_error_t e2 = {0};
    if (cd_engine_request(e, method, path, NULL, NULL, &e2) >= 0)
        return 0;
    bool already = done(&e2);
    if (already || (err && err->msg))
        cd_error_clear(&e2);
    else if (err)
        *err = e2;
    else
        cd_error_clear(&e2);
    return already ? 0 : -1;
}
