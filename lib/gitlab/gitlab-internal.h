/* Private to lib/gitlab: the request core shared by wiki.c and package.c, and the pure
 * helpers (error text, retry timing) the unit tests call directly. */
#ifndef CD_GITLAB_INTERNAL_H
#define CD_GITLAB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <nettle/sha2.h>

#include "gitlab/gitlab.h"
#include "util/strbuf.h"

struct cd_gitlab {
    CURL *curl;
    char *api;   /* <url>/api/v4 */
    char *token; /* zeroed on free */
    cd_gitlab_token_type token_type;
    char *ca_file;
    char *proxy;
    bool verbose;
    int max_tries;
    long connect_timeout_s;
    void (*sleep_ms)(void *userdata, long ms);
    void *sleep_userdata;
    unsigned attempts;
    unsigned rand_state;
    char errbuf[CURL_ERROR_SIZE];
};

/* One request. Exactly one body source (json_body, upload_fd, mime_path) or none. */
typedef struct {
    const char *method;
    const char *path; /* after /api/v4; may carry a query string (not shown in errors) */
    const char *json_body;
    int upload_fd;    /* >= 0: stream this file as the body, rewound on each try */
    uint64_t upload_size;
    struct sha256_ctx *upload_hash; /* fed with every byte sent (reset on rewind) */
    const char *mime_path;          /* multipart field `file` from this file */
    const char *mime_name;
    /* Stream a 2xx body here instead of keeping it (downloads). */
    size_t (*sink)(const char *data, size_t len, void *userdata);
    void *sink_userdata;
    bool idempotent;
    bool anonymous; /* no credentials (a redirect to another host) */
    const char *full_url; /* absolute URL instead of api + path (redirect target) */
} cd_gl_req;

typedef struct {
    long status;
    cd_strbuf body;
    char *location; /* Location header of a 3xx (malloc'ed) */
} cd_gl_resp;

void cd_gl_resp_done(cd_gl_resp *r);

/* Run the request with the retry policy. Returns 0 when a response arrived with a 2xx or
 * 3xx status (in resp), -1 with err set for a transport failure or an error status. For an
 * error status resp->status and resp->body are still filled. */
int cd_gl_request(cd_gitlab *gl, const cd_gl_req *req, cd_gl_resp *resp, cd_error_t *err);

/* GitLab's message from an error body, any of the §7.1 shapes, one line, malloc'ed. */
char *cd_gitlab_error_text(const char *body, size_t len);

/* Fill err from an error response: `<METHOD> <path>: HTTP <status>: <text>[ hint]`. */
int cd_gitlab_http_error(cd_error_t *err, const char *method, const char *path, long status,
                         const char *body, size_t len);

/* Whether a status is retried (gitlab-runner retry_requester: 408, 429, 500, 502, 503, 504,
 * >= 512). */
bool cd_gitlab_status_retryable(long status);

/* How long to wait before try number `attempt + 1` (attempt counts from 1):
 * RateLimit-ResetTime (a date) if given, else Retry-After (seconds or a date), else
 * exponential back-off 100 ms x 2^(attempt-1) capped at 60 s, with jitter from *rand_state.
 * Header values may be NULL. Result capped at CD_GITLAB_MAX_WAIT_MS. */
long cd_gitlab_retry_wait_ms(int attempt, const char *reset_time, const char *retry_after,
                             time_t now, unsigned *rand_state);

#define CD_GITLAB_MAX_WAIT_MS (120L * 1000)

/* Percent-encode one path segment (every '/' too). malloc'ed, NULL on ENOMEM. */
char *cd_gitlab_escape(const char *s);

#endif
