/* GitLab error bodies (contract §7.1) and the retry timing (§7.2): pure functions, so the
 * unit tests and the fuzzer reach them without a server. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gitlab/gitlab-internal.h"
#include "util/strbuf.h"

#define ERROR_TEXT_MAX 512 /* raw, non-JSON bodies are cut here (§7.1) */

/* One line, printable: error text ends up in a job log and a single-line cd_error_t. */
static void add_clean(cd_strbuf *sb, const char *s, size_t len)
{
    for (size_t i = 0; i < len && sb->len < ERROR_TEXT_MAX * 4; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\t')
            c = ' ';
        else if (c < 0x20 || c == 0x7f)
            c = '?';
        if (c == ' ' && sb->len && sb->buf[sb->len - 1] == ' ')
            continue;
        cd_strbuf_addc(sb, (char)c);
    }
}

static void add_json_value(cd_strbuf *sb, json_t *v, int depth);

/* {"title":["exceeds the limit of 245 bytes"]} → "title exceeds the limit of 245 bytes";
 * "base" and "error" keys add only their text (that is how GitLab words them). */
static void add_json_object(cd_strbuf *sb, json_t *obj, int depth)
{
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach(obj, key, v) {
        if (!first)
            cd_strbuf_adds(sb, "; ");
        first = false;
        if (strcmp(key, "base") && strcmp(key, "error")) {
            add_clean(sb, key, strlen(key));
            cd_strbuf_addc(sb, ' ');
        }
        add_json_value(sb, v, depth + 1);
    }
}

static void add_json_value(cd_strbuf *sb, json_t *v, int depth)
{
    if (depth > 4) {
        cd_strbuf_adds(sb, "...");
        return;
    }
    if (json_is_string(v)) {
        add_clean(sb, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (i)
                cd_strbuf_adds(sb, ", ");
            add_json_value(sb, e, depth + 1);
        }
    } else if (json_is_object(v)) {
        add_json_object(sb, v, depth);
    } else if (v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            add_clean(sb, s, strlen(s));
        free(s);
    }
}

char *cd_gitlab_error_text(const char *body, size_t len)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    json_error_t jerr;
    json_t *j = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *v;
    if (j && json_is_object(j)) {
        if ((v = json_object_get(j, "message")) && !json_is_null(v)) {
            add_json_value(&sb, v, 0);
        } else if ((v = json_object_get(j, "error")) && !json_is_null(v)) {
            add_json_value(&sb, v, 0);
            json_t *d = json_object_get(j, "error_description");
            if (json_is_string(d)) {
                cd_strbuf_adds(&sb, ": ");
                add_json_value(&sb, d, 0);
            }
        } else if ((v = json_object_get(j, "error_code")) && !json_is_null(v)) {
            add_json_value(&sb, v, 0);
            json_t *m = json_object_get(j, "message");
            if (json_is_string(m)) {
                cd_strbuf_adds(&sb, ": ");
                add_json_value(&sb, m, 0);
            }
        }
    } else if (j && json_is_string(j)) {
        add_json_value(&sb, j, 0);
    }
    json_decref(j);
    if (sb.len == 0 && body && len) {
        /* Plain text (Rack::Attack "Retry later", proxy error pages): first 512 bytes. */
        add_clean(&sb, body, len < ERROR_TEXT_MAX ? len : ERROR_TEXT_MAX);
        if (len > ERROR_TEXT_MAX)
            cd_strbuf_adds(&sb, "...");
    }
    /* trim */
    while (sb.len && sb.buf[sb.len - 1] == ' ')
        sb.buf[--sb.len] = '\0';
    size_t lead = 0;
    while (lead < sb.len && sb.buf[lead] == ' ')
        lead++;
    if (lead) {
        memmove(sb.buf, sb.buf + lead, sb.len - lead + 1);
        sb.len -= lead;
    }
    if (sb.len == 0)
        cd_strbuf_adds(&sb, "(empty body)");
    return cd_strbuf_take(&sb);
}

/* A 404 "message" (not the router's {"error":…}) that does not name the project means the
 * object inside the project is missing: an expected answer callers branch on. */
static bool is_expected_not_found(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *m = json_object_get(j, "message");
    bool r = json_is_string(m) && !strstr(json_string_value(m), "Project Not Found");
    json_decref(j);
    return r;
}

int cd_gitlab_http_error(cd_error_t *err, const char *method, const char *path, long status,
                         const char *body, size_t len)
{
    char *text = cd_gitlab_error_text(body, len);
    const char *q = strchr(path, '?');
    int plen = q ? (int)(q - path) : (int)strlen(path);
    const char *hint = "";
    cd_error_kind kind = CD_ERR_SYSTEM;
    if (status == 404 && is_expected_not_found(body, len))
        kind = CD_ERR_NOTFOUND;
    if (status == 404 && text && strstr(text, "Project Not Found"))
        hint = " (the project does not exist, or the token cannot see it)";
    else if (status == 404 && kind != CD_ERR_NOTFOUND)
        hint = " (no such API route: is the URL right and is every '/' in ids encoded?)";
    else if (status == 401)
        hint = " (the token is unknown, expired or revoked, or this endpoint does not accept "
               "this token type)";
    cd_error(err, kind, 0, "%s %.*s: HTTP %ld: %s%s", method, plen, path, status,
             text ? text : "?", hint);
    if (err)
        err->status = (int)status;
    free(text);
    return -1;
}

bool cd_gitlab_status_retryable(long status)
{
    switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return status >= 512 && status < 600;
    }
}

static long clamp_wait(long ms)
{
    if (ms < 0)
        return 0;
    return ms > CD_GITLAB_MAX_WAIT_MS ? CD_GITLAB_MAX_WAIT_MS : ms;
}

/* Milliseconds until t, clamped before multiplying: a hostile date may be far in the future
 * (found by the fuzzer: a year-433333330 date overflowed the * 1000). */
static long wait_until(time_t t, time_t now)
{
    if (t <= now)
        return 0;
    if (t - now > CD_GITLAB_MAX_WAIT_MS / 1000)
        return CD_GITLAB_MAX_WAIT_MS;
    return (long)(t - now) * 1000;
}

long cd_gitlab_retry_wait_ms(int attempt, const char *reset_time, const char *retry_after,
                             time_t now, unsigned *rand_state)
{
    if (reset_time && *reset_time) {
        time_t t = curl_getdate(reset_time, NULL);
        if (t != -1)
            return wait_until(t, now);
    }
    if (retry_after && *retry_after) {
        char *end;
        errno = 0;
        long s = strtol(retry_after, &end, 10);
        while (*end == ' ')
            end++;
        if (end != retry_after && *end == '\0' && errno == 0 && s >= 0)
            return clamp_wait(s > CD_GITLAB_MAX_WAIT_MS / 1000 ? CD_GITLAB_MAX_WAIT_MS
                                                                : s * 1000);
        time_t t = curl_getdate(retry_after, NULL);
        if (t != -1)
            return wait_until(t, now);
    }
    /* 100 ms, 200 ms, 400 ms ... 60 s, each with up to +50% jitter (runner uses backoff
     * with jitter too), so many runners do not retry in lock step. */
    long ms = 100;
    for (int i = 1; i < attempt && ms < 60000; i++)
        ms *= 2;
    if (ms > 60000)
        ms = 60000;
    unsigned r = rand_r(rand_state);
    ms += (long)(r % (unsigned)(ms / 2 + 1));
    return clamp_wait(ms);
}

char *cd_gitlab_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}
