/* GitLab answers are untrusted: the error-body parser (all §7.1 shapes), the message builder
 * and the Retry-After / RateLimit-ResetTime parsing get arbitrary bytes. Input layout: the
 * first line is a header value for the retry timing, the rest is the body. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gitlab/gitlab-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    const char *nl = memchr(d, '\n', size);
    size_t hlen = nl ? (size_t)(nl - d) : 0;
    const char *body = nl ? nl + 1 : d;
    size_t blen = size - (size_t)(body - d);

    char *text = cd_gitlab_error_text(body, blen);
    if (!text || !*text || strchr(text, '\n'))
        abort(); /* always one non-empty line */
    free(text);

    cd_error_t err = {0};
    cd_gitlab_http_error(&err, "GET", "/projects/42/wikis?x=QSTRING", 404, body, blen);
    if (!err.msg || strncmp(err.msg, "GET /projects/42/wikis: HTTP 404: ", 34))
        abort(); /* the query string never reaches the message */
    cd_error_clear(&err);

    char *hdr = strndup(d, hlen);
    if (hdr) {
        unsigned seed = 1;
        for (int attempt = 1; attempt <= 6; attempt++) {
            long a = cd_gitlab_retry_wait_ms(attempt, hdr, NULL, 1764000000, &seed);
            long b = cd_gitlab_retry_wait_ms(attempt, NULL, hdr, 1764000000, &seed);
            if (a < 0 || b < 0 || a > CD_GITLAB_MAX_WAIT_MS || b > CD_GITLAB_MAX_WAIT_MS)
                abort();
        }
        (void)cd_gitlab_package_name_valid(hdr);
        (void)cd_gitlab_package_version_valid(hdr);
        free(hdr);
    }
    return 0;
}
