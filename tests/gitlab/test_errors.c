/* protocol/gitlab-errors: the five error-body shapes of contract §7.1 and the retry timing
 * of §7.2, without a server. */
#include <stdlib.h>
#include <string.h>

#include "gitlab/gitlab-internal.h"
#include "tap.h"

static void text(const char *body, const char *want, const char *name)
{
    char *got = cd_gitlab_error_text(body, body ? strlen(body) : 0);
    is_str(got, want, name);
    free(got);
}

int main(void)
{
    /* 1. helper errors: string, validation object, structured */
    text("{\"message\":\"403 Forbidden\"}", "403 Forbidden", "message string");
    text("{\"message\":{\"title\":[\"exceeds the limit of 245 bytes\"]}}",
         "title exceeds the limit of 245 bytes", "validation object (§8 #26)");
    text("{\"message\":{\"base\":[\"Duplicate page: A page with that title already exists\"]}}",
         "Duplicate page: A page with that title already exists", "base key not repeated");
    text("{\"message\":{\"error\":\"This endpoint has been requested too many times. Try again "
         "later.\"}}",
         "This endpoint has been requested too many times. Try again later.",
         "app rate limit (§8 #47)");
    text("{\"message\":{\"name\":[\"is taken\",\"is too short\"],\"version\":[\"is bad\"]}}",
         "name is taken, is too short; version is bad", "several attributes");
    /* 2. Grape */
    text("{\"error\":\"title is missing\"}", "title is missing", "grape error");
    /* 3. OAuth */
    text("{\"error\":\"insufficient_scope\",\"error_description\":\"The request requires higher "
         "privileges than provided by the access token.\",\"scope\":\"api\"}",
         "insufficient_scope: The request requires higher privileges than provided by the "
         "access token.",
         "oauth error + description");
    /* 4. MLflow */
    text("{\"error_code\":\"RESOURCE_ALREADY_EXISTS\"}", "RESOURCE_ALREADY_EXISTS", "mlflow");
    text("{\"error_code\":\"INVALID_PARAMETER_VALUE\",\"message\":\"bad\"}", "bad",
         "mlflow with message takes the message");
    /* 5. plain text, cut at 512 bytes, one line */
    text("Retry later\n", "Retry later", "rack attack text");
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *got = cd_gitlab_error_text(big, strlen(big));
    is_int(strlen(got), 515, "raw text cut at 512 bytes + ...");
    free(got);
    text("line1\r\nline2\x01", "line1 line2?", "control characters neutralised");
    text(NULL, "(empty body)", "empty body");
    text("{\"message\":null}", "{\"message\":null}", "useless JSON falls back to the text");
    text("[1,2]", "[1,2]", "JSON array falls back to the text");

    /* the whole message */
    cd_error_t e = {0};
    const char *b = "{\"message\":\"404 Wiki Page Not Found\"}";
    cd_gitlab_http_error(&e, "GET", "/projects/42/wikis/x?render_html=1", 404, b, strlen(b));
    is_str(e.msg, "GET /projects/42/wikis/x: HTTP 404: 404 Wiki Page Not Found",
           "message shape, query dropped");
    is_int(e.kind, CD_ERR_NOTFOUND, "expected not-found");
    is_int(e.status, 404, "status kept");
    cd_error_clear(&e);
    e = (cd_error_t){0};
    b = "{\"message\":\"404 Project Not Found\"}";
    cd_gitlab_http_error(&e, "PUT", "/projects/7/packages/generic/a/1/f", 404, b, strlen(b));
    has_str(e.msg, "or the token cannot see it", "project 404 hint");
    is_int(e.kind, CD_ERR_SYSTEM, "project 404 is not an expected not-found");
    cd_error_clear(&e);

    /* retry classes */
    long yes[] = {408, 429, 500, 502, 503, 504, 512, 599};
    long no[] = {400, 401, 403, 404, 409, 413, 422, 501, 505};
    int all = 1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        all &= cd_gitlab_status_retryable(yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        all &= !cd_gitlab_status_retryable(no[i]);
    ok(all, "retryable statuses are gitlab-runner's");

    /* waits */
    unsigned seed = 7;
    time_t now = 1764000000; /* Mon, 24 Nov 2025 16:00:00 GMT */
    is_int(cd_gitlab_retry_wait_ms(1, NULL, "4", now, &seed), 4000, "Retry-After seconds");
    is_int(cd_gitlab_retry_wait_ms(1, "Mon, 24 Nov 2025 16:00:07 GMT", "4", now, &seed), 7000,
           "RateLimit-ResetTime wins");
    is_int(cd_gitlab_retry_wait_ms(1, "Mon, 24 Nov 2025 15:00:00 GMT", NULL, now, &seed), 0,
           "reset time in the past: no wait");
    is_int(cd_gitlab_retry_wait_ms(1, NULL, "Mon, 24 Nov 2025 16:00:02 GMT", now, &seed), 2000,
           "Retry-After as a date");
    is_int(cd_gitlab_retry_wait_ms(1, NULL, "99999", now, &seed), CD_GITLAB_MAX_WAIT_MS,
           "absurd Retry-After capped");
    int in_range = 1;
    for (int a = 1; a <= 12; a++) {
        long base = 100;
        for (int i = 1; i < a && base < 60000; i++)
            base *= 2;
        if (base > 60000)
            base = 60000;
        long w = cd_gitlab_retry_wait_ms(a, NULL, "garbage", now, &seed);
        in_range &= w >= base && w <= base + base / 2;
    }
    ok(in_range, "exponential back-off 100 ms x2 up to 60 s, +0..50%% jitter");

    char *esc = cd_gitlab_escape("reports/model 1+2");
    is_str(esc, "reports%2Fmodel%201%2B2", "escape: '/' '+' ' '");
    free(esc);
    cd_gitlab_token_type t;
    ok(cd_gitlab_parse_token_type("job", &t, NULL) == 0 && t == CD_GITLAB_TOKEN_JOB, "token type");
    ok(cd_gitlab_parse_token_type("basic", &t, NULL) < 0, "bad token type");
    return tap_done();
}
