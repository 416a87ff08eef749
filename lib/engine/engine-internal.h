/* Private to lib/engine: the engine object, the transfer loop, the stream parsers. */
#ifndef CD_ENGINE_ENGINE_INTERNAL_H
#define CD_ENGINE_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "engine/engine.h"
#include "util/strbuf.h"

struct cd_engine {
    CURL *curl;      /* reused for every call: its connection stays alive in multi's cache */
    CURLM *multi;    /* driven by hand so long calls can poll the interrupt flag */
    char *endpoint;  /* normalised: unix:///path or tcp://host:port */
    char *base_url;  /* http://localhost or http(s)://host:port */
    char *unix_path; /* NULL for tcp */
    bool tls;
    bool tls_no_verify;
    char *ca_file, *cert_file, *key_file;
    char api_version[16];
    char *server_name;
    char *server_version;
    cd_engine_kind kind;
    bool debug;
    long connect_timeout_ms;
    long request_timeout_ms;
    volatile sig_atomic_t *interrupt;
    char errbuf[CURL_ERROR_SIZE];
};

/* Where a 2xx body goes: returns 0 to go on, < 0 to abort the transfer (the sink fills err),
 * or 1 to pause it (the bytes are offered again after cd_xfer_unpause). */
typedef int (*cd_xfer_sink)(const char *data, size_t len, void *userdata, cd_error_t *err);

typedef struct {
    /* request */
    const char *method;
    const char *path; /* unversioned, with an escaped query */
    const char *body; /* JSON request body, may be NULL */
    size_t body_len;
    int upload_fd;            /* >= 0: PUT this file as application/x-tar */
    const char *extra_header; /* one more header line (X-Registry-Auth), redacted in logs */
    bool stream;              /* no total timeout */
    cd_xfer_sink sink;        /* NULL: 2xx body collected into `body_out` */
    void *sink_ud;
    /* state / result */
    cd_engine *e;
    long status;
    cd_strbuf out; /* the 2xx body (no sink) or an error body (bounded) */
    cd_error_t sink_err;
    bool sink_failed;
    bool paused;
    bool done;
    CURLcode result;
    struct curl_slist *headers;
} cd_xfer;

/* Prepare x (zeroes everything but the request fields) and add it to the multi handle. */
int cd_xfer_begin(cd_engine *e, cd_xfer *x, cd_error_t *err);
/* Drive the transfer one round (waits at most ~100 ms). Sets x->done at the end. */
int cd_xfer_step(cd_xfer *x, cd_error_t *err);
void cd_xfer_unpause(cd_xfer *x);
/* Remove from the multi handle and translate the outcome: transport error, HTTP >= 400 (→ the
 * message built from the error body), sink failure. Returns the HTTP status or -1. Always
 * releases x's resources except x->out on success. */
int cd_xfer_finish(cd_xfer *x, cd_error_t *err);
/* begin + step until done + finish. */
int cd_xfer_run(cd_engine *e, cd_xfer *x, cd_error_t *err);
/* "1.41" → comparable number, -1 when not "N.N" */
long cd_engine_version_num(const char *v);
void cd_xfer_done(cd_xfer *x);

/* Apply the options every handle needs (socket, TLS, timeouts, error buffer, debug, cloexec). */
void cd_engine_setup_handle(cd_engine *e, CURL *h, char *errbuf, bool stream);
/* Translate a CURLcode once, at the boundary:
 * "engine `<endpoint>`: METHOD /path: <errbuf or curl_easy_strerror>". */
int cd_engine_curl_error(const cd_engine *e, cd_error_t *err, CURLcode rc, const char *errbuf,
                         const char *method, const char *path);
/* "METHOD /path" without the query string, for messages. */
char *cd_engine_display(const char *method, const char *path);
bool cd_engine_interrupted(const cd_engine *e);
/* cd_error() that records errnum without appending strerror() (the text already says it). */
int cd_engine_fail(cd_error_t *err, cd_error_kind kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Response handling (fuzzed: tests/fuzz/engine_response_fuzzer.c). */
/* Build "METHOD /path: HTTP nnn: <message>" from an error reply body; kind by status. */
int cd_engine_http_error(cd_error_t *err, const char *method, const char *path, long status,
                         const char *body, size_t len);
/* Parse a 2xx JSON reply; empty → *ret = NULL. Malformed → CD_ERR_SYSTEM, EPROTO. */
int cd_engine_parse_json(const char *method, const char *path, const char *body, size_t len,
                         json_t **ret, cd_error_t *err);

/* Multiplexed exec stream demuxer (fuzzed: tests/fuzz/engine_demux_fuzzer.c). */
typedef struct {
    unsigned char hdr[8];
    size_t hdr_len;
    int stream;
    uint32_t remaining;
} cd_demux;

void cd_demux_init(cd_demux *d);
/* Feed any split of the stream; payload is passed to out as it arrives. */
int cd_demux_feed(cd_demux *d, const char *data, size_t len, cd_engine_output_fn out, void *ud,
                  cd_error_t *err);
/* End of stream: a frame cut short is CD_ERR_SYSTEM, EPROTO. */
int cd_demux_finish(const cd_demux *d, cd_error_t *err);

/* Pull progress: newline-delimited JSON objects (fuzzed with the response fuzzer). */
typedef struct {
    cd_strbuf line;
    const char *ref; /* for messages */
    cd_engine_progress_fn progress;
    void *userdata;
} cd_progress;

void cd_progress_init(cd_progress *p, const char *ref, cd_engine_progress_fn fn, void *ud);
int cd_progress_feed(cd_progress *p, const char *data, size_t len, cd_error_t *err);
int cd_progress_finish(cd_progress *p, cd_error_t *err);
void cd_progress_done(cd_progress *p);

/* Split "host:5000/a/b:tag" / "a/b@sha256:..." into repository and tag-or-digest ("latest" if
 * none). Both malloc'd. */
int cd_engine_split_ref(const char *ref, char **ret_repo, char **ret_tag, cd_error_t *err);

/* Percent-encode s for a URL path, keeping / : @ (docker routes image names with them). */
char *cd_engine_path_escape(const char *s);

/* {"label":["k=v",...]} URL-escaped as a query value; "" when labels is NULL/empty. */
char *cd_engine_label_filter(const char *const *labels);

/* GET base?extra_query&filters={"label":[...]}; field: the array's key in an object reply
 * (volumes) or NULL when the reply is the array. *ret_list is always an array on success. */
int cd_engine_list(cd_engine *e, const char *base, const char *extra_query,
                   const char *const *labels, const char *field, json_t **ret_list,
                   cd_error_t *err);

/* A body-less request whose goal may already be reached: when it fails and done(failure)
 * says the engine's answer means "already so" (404 on a delete, 409 on a kill...), it is a
 * success; any other failure goes to err. */
typedef bool (*cd_engine_already_fn)(const cd_error_t *failure);
int cd_engine_request_idempotent(cd_engine *e, const char *method, const char *path,
                                 cd_engine_already_fn done, cd_error_t *err);

#endif
