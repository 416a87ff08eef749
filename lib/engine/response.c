/* Turning engine replies into results or one-line errors; pull progress lines; small query
 * helpers. Everything here sees untrusted bytes: tests/fuzz/engine_response_fuzzer.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"

/* The longest engine text we quote in an error message. */
#define MAX_QUOTED 512

/* Docker answers {"message": "..."}; Podman {"cause","message","response"}. Anything else:
 * the first line of the body, trimmed; nothing at all: the status alone. */
static char *error_text(const char *body, size_t len)
{
    json_error_t je;
    json_auto_t *j = len ? json_loadb(body, len, JSON_DECODE_ANY, &je) : NULL;
    const char *m = NULL;
    if (json_is_object(j)) {
        m = json_string_value(json_object_get(j, "message"));
        if (!m)
            m = json_string_value(json_object_get(j, "error"));
    } else if (json_is_string(j)) {
        m = json_string_value(j);
    }
    size_t n;
    if (m) {
        n = strlen(m);
    } else {
        m = body;
        while (len && (*m == ' ' || *m == '\t' || *m == '\r' || *m == '\n'))
            m++, len--;
        n = 0;
        while (n < len && m[n] != '\n' && m[n] != '\r' && m[n] != '\0')
            n++;
    }
    while (n && (m[n - 1] == ' ' || m[n - 1] == '\n' || m[n - 1] == '\r'))
        n--;
    if (n > MAX_QUOTED)
        n = MAX_QUOTED;
    char *s = strndup(m, n);
    if (!s)
        return NULL;
    /* one line: control characters from a hostile engine never reach the job log raw */
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return s;
}

int cd_engine_http_error(cd_error_t *err, const char *method, const char *path, long status,
                         const char *body, size_t len)
{
    cleanup_free char *what = cd_engine_display(method, path);
    cleanup_free char *text = error_text(body, len);
    cd_error_kind kind = status == 404 ? CD_ERR_NOTFOUND : CD_ERR_SYSTEM;
    if (text && text[0])
        cd_engine_fail(err, kind, 0, "%s: HTTP %ld: %s", what ? what : method, status, text);
    else
        cd_engine_fail(err, kind, 0, "%s: HTTP %ld", what ? what : method, status);
    if (err)
        err->status = (int)status;
    return -1;
}

/* jansson quotes the offending input in its text ("near '...'"), raw control bytes included:
 * keep our messages one line. */
static int flatten(cd_error_t *err)
{
    for (char *p = err && err->msg ? err->msg : NULL; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return -1;
}

int cd_engine_parse_json(const char *method, const char *path, const char *body, size_t len,
                         json_t **ret, cd_error_t *err)
{
    *ret = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &je);
    if (!j) {
        cleanup_free char *what = cd_engine_display(method, path);
        cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "%s: malformed JSON reply: %d:%d: %s",
                       what ? what : method, je.line, je.column, je.text);
        return flatten(err);
    }
    *ret = j;
    return 0;
}

void cd_progress_init(cd_progress *p, const char *ref, cd_engine_progress_fn fn, void *ud)
{
    cd_strbuf_init(&p->line, CD_MAX_PROGRESS_LINE);
    p->ref = ref;
    p->progress = fn;
    p->userdata = ud;
}

void cd_progress_done(cd_progress *p)
{
    cd_strbuf_done(&p->line);
}

static int progress_line(cd_progress *p, const char *s, size_t len, cd_error_t *err)
{
    while (len && (s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    if (!len)
        return 0;
    json_error_t je;
    json_auto_t *j = json_loadb(s, len, 0, &je);
    if (!json_is_object(j)) {
        cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "malformed progress line: %d:%d: %s", je.line,
                       je.column, j ? "not an object" : je.text);
        return flatten(err);
    }
    /* an error inside a 200 stream: Docker/Podman send {"error": "...", "errorDetail":{...}} */
    json_t *e = json_object_get(j, "error");
    if (!e) {
        json_t *d = json_object_get(j, "errorDetail");
        e = json_is_object(d) ? json_object_get(d, "message") : NULL;
    }
    if (e) {
        const char *m = json_string_value(e);
        cleanup_free char *text = error_text(m ? m : "", m ? strlen(m) : 0);
        cd_engine_fail(err, CD_ERR_SYSTEM, 0, "%s", text && text[0] ? text : "unknown error");
        if (err)
            err->status = 200;
        return -1;
    }
    if (p->progress && p->progress(j, p->userdata) < 0)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ECANCELED, "cancelled by the caller");
    return 0;
}

int cd_progress_feed(cd_progress *p, const char *data, size_t len, cd_error_t *err)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (cd_strbuf_add(&p->line, data, n) < 0)
            return cd_engine_fail(err, CD_ERR_SYSTEM, E2BIG, "progress line longer than %u bytes",
                                  CD_MAX_PROGRESS_LINE);
        if (!nl)
            break;
        int r = progress_line(p, p->line.buf ? p->line.buf : "", p->line.len, err);
        cd_strbuf_reset(&p->line);
        if (r < 0)
            return -1;
        data += n + 1;
        len -= n + 1;
    }
    return 0;
}

int cd_progress_finish(cd_progress *p, cd_error_t *err)
{
    int r = progress_line(p, cd_strbuf_str(&p->line), p->line.len, err);
    cd_strbuf_reset(&p->line);
    return r;
}

int cd_engine_split_ref(const char *ref, char **ret_repo, char **ret_tag, cd_error_t *err)
{
    *ret_repo = *ret_tag = NULL;
    if (!ref || !*ref)
        return cd_engine_fail(err, CD_ERR_USAGE, 0, "empty image reference");
    const char *at = strchr(ref, '@');
    const char *slash = strrchr(ref, '/');
    const char *colon = strrchr(ref, ':');
    const char *cut = NULL, *tag = "latest";
    if (at) {
        cut = at;
        tag = at + 1; /* a digest goes in the tag parameter, as the docker CLI sends it */
    } else if (colon && (!slash || colon > slash)) {
        cut = colon; /* "host:5000/x" has its colon before the last slash: a port, not a tag */
        tag = colon + 1;
    }
    if (cut == ref || (cut && !*tag))
        return cd_engine_fail(err, CD_ERR_USAGE, 0, "invalid image reference `%s`", ref);
    *ret_repo = cut ? strndup(ref, (size_t)(cut - ref)) : strdup(ref);
    *ret_tag = strdup(tag);
    if (!*ret_repo || !*ret_tag) {
        free(take_ptr(*ret_repo));
        free(take_ptr(*ret_tag));
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    }
    return 0;
}

char *cd_engine_label_filter(const char *const *labels)
{
    if (!labels || !labels[0])
        return strdup("");
    json_auto_t *arr = json_array();
    for (size_t i = 0; labels[i]; i++)
        json_array_append_new(arr, json_string(labels[i]));
    json_auto_t *f = json_pack("{sO}", "label", arr);
    cleanup_free char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
    return text ? cd_engine_escape(text) : NULL;
}

char *cd_engine_path_escape(const char *s)
{
    /* ids, names and image references stay readable in paths ("/images/host:5000/a/b:1/json"
     * is how docker routes them); anything else is percent-encoded */
    static const char hex[] = "0123456789ABCDEF";
    cd_strbuf sb = CD_STRBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~/:@+", *p);
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if ((keep ? cd_strbuf_addc(&sb, (char)*p) : cd_strbuf_add(&sb, enc, 3)) < 0) {
            cd_strbuf_done(&sb);
            return NULL;
        }
    }
    return cd_strbuf_take(&sb);
}
