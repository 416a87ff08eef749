/* Exec: create, start with the multiplexed output demultiplexed as it streams, inspect.
 *
 * Starting with stdin needs the connection hijack: after the HTTP exchange the engine treats the
 * socket as a raw pipe (our bytes → the process's stdin, its frames → us). libcurl cannot write
 * after a request body, so that path connects with CURLOPT_CONNECT_ONLY and writes the one
 * request itself; everything else (and the hijack's transport) stays libcurl's. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"

#define OOM(err) cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory")
#define IO_CHUNK (64u << 10)

static json_t *string_array(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int cd_engine_exec_create(cd_engine *e, const char *container, const cd_engine_exec_config *cfg,
                          char **ret_exec_id, cd_error_t *err)
{
    *ret_exec_id = NULL;
    if (!cfg || !cfg->cmd || !cfg->cmd[0])
        return cd_engine_fail(err, CD_ERR_USAGE, EINVAL, "exec in `%s`: empty command", container);
    json_auto_t *body = json_pack("{s:b, s:b, s:b, s:b, s:o}", "AttachStdin", cfg->attach_stdin,
                                  "AttachStdout", cfg->attach_stdout, "AttachStderr",
                                  cfg->attach_stderr, "Tty", 0, "Cmd", string_array(cfg->cmd));
    if (!body)
        return OOM(err);
    if (cfg->env && json_object_set_new(body, "Env", string_array(cfg->env)) < 0)
        return OOM(err);
    if (cfg->user && json_object_set_new(body, "User", json_string(cfg->user)) < 0)
        return OOM(err);
    if (cfg->workdir && json_object_set_new(body, "WorkingDir", json_string(cfg->workdir)) < 0)
        return OOM(err);
    cleanup_free char *esc = cd_engine_path_escape(container);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/containers/%s/exec", esc) < 0)
        return OOM(err);
    json_auto_t *r = NULL;
    if (cd_engine_request(e, "POST", path, body, &r, err) < 0)
        return -1;
    const char *id = json_string_value(json_object_get(r, "Id"));
    if (!id || !*id)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "POST /containers/%s/exec: no Id in the reply", container);
    *ret_exec_id = strdup(id);
    return *ret_exec_id ? 0 : OOM(err);
}

typedef struct {
    cd_demux d;
    cd_engine_output_fn out;
    void *ud;
} demux_sink;

static int exec_sink(const char *data, size_t len, void *ud, cd_error_t *err)
{
    demux_sink *s = ud;
    return cd_demux_feed(&s->d, data, len, s->out, s->ud, err);
}

static const char start_body[] = "{\"Detach\":false,\"Tty\":false}";

/* ---- the hijacked connection (stdin) ---- */

/* Wait until sock is ready for `events` (or 100 ms pass, to look at the interrupt flag). */
static int wait_sock(cd_engine *e, curl_socket_t sock, short events, const char *what,
                     cd_error_t *err)
{
    if (cd_engine_interrupted(e))
        return cd_engine_fail(err, CD_ERR_SYSTEM, EINTR, "%s: interrupted", what);
    struct pollfd p = {.fd = sock, .events = events};
    if (poll(&p, 1, 100) < 0 && errno != EINTR)
        return cd_engine_fail(err, CD_ERR_SYSTEM, errno, "%s: poll: %s", what, strerror(errno));
    return 0;
}

static int send_all(cd_engine *e, CURL *h, curl_socket_t sock, const char *data, size_t len,
                    const char *path, const char *what, char *errbuf, cd_error_t *err)
{
    while (len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(h, data, len, &n);
        if (rc == CURLE_AGAIN) {
            if (wait_sock(e, sock, POLLOUT, what, err) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return cd_engine_curl_error(e, err, rc, errbuf, "POST", path);
        data += n;
        len -= n;
    }
    return 0;
}

/* Read until the end of the response head; leftover body bytes stay in head after *ret_end. */
static int read_head(cd_engine *e, CURL *h, curl_socket_t sock, cd_strbuf *head, size_t *ret_end,
                     const char *path, const char *what, char *errbuf, cd_error_t *err)
{
    char buf[4096];
    for (;;) {
        const char *end = head->buf ? strstr(head->buf, "\r\n\r\n") : NULL;
        if (end) {
            *ret_end = (size_t)(end - head->buf) + 4;
            return 0;
        }
        size_t n = 0;
        CURLcode rc = curl_easy_recv(h, buf, sizeof(buf), &n);
        if (rc == CURLE_AGAIN) {
            if (wait_sock(e, sock, POLLIN, what, err) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return cd_engine_curl_error(e, err, rc, errbuf, "POST", path);
        if (n == 0)
            return cd_engine_fail(err, CD_ERR_SYSTEM, ECONNRESET,
                                  "%s: connection closed before the reply", what);
        if (memchr(buf, '\0', n) || cd_strbuf_add(head, buf, n) < 0)
            return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "%s: malformed reply head", what);
    }
}

/* An error answer instead of the upgrade: read its body (Content-Length, else until close),
 * bounded, for the message. Best effort: a failure here leaves what we have. */
static void read_error_body(cd_engine *e, CURL *h, curl_socket_t sock, cd_strbuf *head,
                            size_t body_at, const char *what)
{
    size_t want = CD_MAX_ERROR_BODY;
    const char *p = head->buf, *end = head->buf + body_at;
    while (p < end) {
        const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!nl)
            break;
        if (nl - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            unsigned long long n = strtoull(p + 15, NULL, 10);
            want = n < want ? (size_t)n : want;
        }
        p = nl + 2;
    }
    char buf[4096];
    cd_error_t ignore = {0};
    while (head->len - body_at < want) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(h, buf, sizeof(buf), &n);
        if (rc == CURLE_AGAIN) {
            if (wait_sock(e, sock, POLLIN, what, &ignore) < 0)
                break;
            continue;
        }
        if (rc != CURLE_OK || n == 0 || cd_strbuf_add(head, buf, n) < 0)
            break;
    }
    cd_error_clear(&ignore);
}

static int hijack_start(cd_engine *e, const char *path, const void *in, size_t in_len,
                        cd_engine_output_fn output, void *ud, cd_error_t *err)
{
    cleanup_free char *what = cd_engine_display("POST", path);
    if (!what)
        return OOM(err);
    if (e->tls)
        return cd_engine_fail(err, CD_ERR_USAGE, 0,
                              "%s: stdin over a TLS engine connection is not supported; copy the "
                              "input in with an archive put",
                              what);
    char errbuf[CURL_ERROR_SIZE];
    CURL *h = curl_easy_init();
    if (!h)
        return OOM(err);
    int r = -1;
    cd_strbuf req = CD_STRBUF_INIT, head = CD_STRBUF_INIT;
    cd_strbuf_init(&head, CD_MAX_HTTP_HEAD);
    cd_engine_setup_handle(e, h, errbuf, true);
    curl_easy_setopt(h, CURLOPT_URL, e->base_url);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode rc = curl_easy_perform(h);
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (rc != CURLE_OK) {
        cd_engine_curl_error(e, err, rc, errbuf, "POST", path);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock);
    /* the hijack handshake docker's own client sends (Connection: Upgrade, Upgrade: tcp) */
    const char *host = strstr(e->base_url, "://") + 3;
    if (cd_strbuf_printf(&req,
                         "POST /v%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: conductor/%s\r\n"
                         "Content-Type: application/json\r\nConnection: Upgrade\r\n"
                         "Upgrade: tcp\r\nContent-Length: %zu\r\n\r\n%s",
                         e->api_version, path, host, CD_VERSION, sizeof(start_body) - 1,
                         start_body) < 0) {
        OOM(err);
        goto out;
    }
    if (send_all(e, h, sock, req.buf, req.len, path, what, errbuf, err) < 0)
        goto out;
    size_t body_at = 0;
    if (read_head(e, h, sock, &head, &body_at, path, what, errbuf, err) < 0)
        goto out;
    int status = 0;
    if (sscanf(head.buf, "HTTP/1.%*1[01] %3d", &status) != 1) {
        cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "%s: malformed status line", what);
        goto out;
    }
    if (status != 101 && status != 200) {
        read_error_body(e, h, sock, &head, body_at, what);
        cd_engine_http_error(err, "POST", path, status, head.buf + body_at, head.len - body_at);
        goto out;
    }

    demux_sink s = {.out = output, .ud = ud};
    cd_demux_init(&s.d);
    if (cd_demux_feed(&s.d, head.buf + body_at, head.len - body_at, output, ud, err) < 0)
        goto out;
    const char *inp = in;
    size_t left = in_len;
    bool write_open = true;
    char *buf = malloc(IO_CHUNK);
    if (!buf) {
        OOM(err);
        goto out;
    }
    for (;;) {
        if (write_open && left == 0) {
            /* EOF on the process's stdin: the engine sees the half-close */
            shutdown(sock, SHUT_WR);
            write_open = false;
        }
        if (cd_engine_interrupted(e)) {
            cd_engine_fail(err, CD_ERR_SYSTEM, EINTR, "%s: interrupted", what);
            break;
        }
        struct pollfd p = {.fd = sock, .events = POLLIN | (write_open ? POLLOUT : 0)};
        if (poll(&p, 1, 100) < 0 && errno != EINTR) {
            cd_engine_fail(err, CD_ERR_SYSTEM, errno, "%s: poll: %s", what, strerror(errno));
            break;
        }
        if (write_open && (p.revents & POLLOUT)) {
            size_t n = 0;
            rc = curl_easy_send(h, inp, left < IO_CHUNK ? left : IO_CHUNK, &n);
            if (rc != CURLE_OK && rc != CURLE_AGAIN) {
                cd_engine_curl_error(e, err, rc, errbuf, "POST", path);
                break;
            }
            inp += n;
            left -= n;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t n = 0;
            rc = curl_easy_recv(h, buf, IO_CHUNK, &n);
            if (rc == CURLE_AGAIN)
                continue;
            if (rc != CURLE_OK) {
                cd_engine_curl_error(e, err, rc, errbuf, "POST", path);
                break;
            }
            if (n == 0) {
                r = cd_demux_finish(&s.d, err) < 0 ? cd_error_wrap(err, "%s", what) : 0;
                break;
            }
            if (cd_demux_feed(&s.d, buf, n, output, ud, err) < 0) {
                cd_error_wrap(err, "%s", what);
                break;
            }
        }
    }
    free(buf);
out:
    cd_strbuf_done(&req);
    cd_strbuf_done(&head);
    curl_easy_cleanup(h);
    return r;
}

int cd_engine_exec_start(cd_engine *e, const char *exec_id, const void *stdin_data,
                         size_t stdin_len, cd_engine_output_fn output, void *userdata,
                         cd_error_t *err)
{
    cleanup_free char *esc = cd_engine_path_escape(exec_id);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/exec/%s/start", esc) < 0)
        return OOM(err);
    if (stdin_data)
        return hijack_start(e, path, stdin_data, stdin_len, output, userdata, err);

    demux_sink s = {.out = output, .ud = userdata};
    cd_demux_init(&s.d);
    cd_xfer x = {.method = "POST",
                 .path = path,
                 .body = start_body,
                 .body_len = sizeof(start_body) - 1,
                 .upload_fd = -1,
                 .stream = true,
                 .sink = exec_sink,
                 .sink_ud = &s};
    int r = cd_xfer_run(e, &x, err);
    cd_strbuf_done(&x.out);
    if (r < 0)
        return -1;
    if (cd_demux_finish(&s.d, err) < 0)
        return cd_error_wrap(err, "POST /exec/%s/start", exec_id);
    return 0;
}

int cd_engine_exec_inspect(cd_engine *e, const char *exec_id, cd_engine_exec_state *ret_state,
                           cd_error_t *err)
{
    cleanup_free char *esc = cd_engine_path_escape(exec_id);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/exec/%s/json", esc) < 0)
        return OOM(err);
    json_auto_t *r = NULL;
    if (cd_engine_request(e, "GET", path, NULL, &r, err) < 0)
        return -1;
    json_t *running = json_object_get(r, "Running");
    json_t *code = json_object_get(r, "ExitCode");
    if (!json_is_boolean(running))
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "GET /exec/%s/json: no Running in the reply", exec_id);
    ret_state->running = json_is_true(running);
    ret_state->exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
    json_t *pid = json_object_get(r, "Pid");
    ret_state->pid = json_is_integer(pid) ? (long)json_integer_value(pid) : 0;
    return 0;
}

int cd_engine_exec_run(cd_engine *e, const char *container, const cd_engine_exec_config *cfg,
                       const void *stdin_data, size_t stdin_len, cd_engine_output_fn output,
                       void *userdata, int *ret_exit_code, cd_error_t *err)
{
    cleanup_free char *id = NULL;
    if (cd_engine_exec_create(e, container, cfg, &id, err) < 0)
        return -1;
    if (cd_engine_exec_start(e, id, stdin_data, stdin_len, output, userdata, err) < 0)
        return -1;
    /* The stream ends when the process closes its output; the engine records the exit code a
     * moment later (a known Docker race), so look again briefly while it still says Running. */
    cd_engine_exec_state st = {0};
    for (int i = 0; i < 500; i++) {
        if (cd_engine_exec_inspect(e, id, &st, err) < 0)
            return -1;
        if (!st.running && st.exit_code >= 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    if (st.running)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ETIMEDOUT,
                              "exec in `%s`: output ended but the process still runs after 5 s",
                              container);
    *ret_exit_code = st.exit_code;
    return 0;
}
