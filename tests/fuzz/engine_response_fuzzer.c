/* Engine reply handling (lib/engine/response.c) on arbitrary bytes. The first byte picks the
 * parser: error bodies → messages, JSON replies, pull progress streams (fed in pieces), image
 * references. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "fuzz.h"

static int progress(const json_t *line, void *ud)
{
    (void)ud;
    if (!json_is_object(line))
        abort();
    return 0;
}

static void check_one_line(const cd_error_t *err)
{
    if (!err->msg)
        abort();
    for (const char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            abort(); /* an engine's text never breaks our one-line messages */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0] % 4, arg = data[1];
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    cd_error_t err = {0};
    switch (mode) {
    case 0: {
        long status = 400 + (long)arg;
        if (cd_engine_http_error(&err, "GET", "/x?y=z", status, body, len) != -1)
            abort();
        check_one_line(&err);
        if (err.status != status)
            abort();
        break;
    }
    case 1: {
        json_t *j = NULL;
        if (cd_engine_parse_json("GET", "/x", body, len, &j, &err) < 0) {
            if (j || err.kind != CD_ERR_SYSTEM || err.errnum != EPROTO)
                abort();
            check_one_line(&err);
        }
        json_decref(j);
        break;
    }
    case 2: {
        cd_progress p;
        cd_progress_init(&p, "ref", progress, NULL);
        size_t step = (size_t)arg + 1;
        int r = 0;
        for (size_t off = 0; off < len && r == 0; off += step)
            r = cd_progress_feed(&p, body + off, len - off < step ? len - off : step, &err);
        if (r == 0)
            r = cd_progress_finish(&p, &err);
        if (r < 0)
            check_one_line(&err);
        cd_progress_done(&p);
        break;
    }
    case 3: {
        char *ref = strndup(body, len);
        char *repo = NULL, *tag = NULL;
        if (ref && cd_engine_split_ref(ref, &repo, &tag, &err) == 0) {
            if (!repo || !tag || !*repo || !*tag)
                abort();
        }
        free(repo);
        free(tag);
        free(ref);
        break;
    }
    }
    cd_error_clear(&err);
    return 0;
}
