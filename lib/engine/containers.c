/* Container lifecycle: create, start, wait, kill, remove, inspect, list by label. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"

static char *cpath(const char *id, const char *suffix)
{
    cleanup_free char *esc = cd_engine_path_escape(id);
    char *p = NULL;
    if (!esc || asprintf(&p, "/containers/%s%s", esc, suffix) < 0)
        return NULL;
    return p;
}

#define OOM(err) cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory")

int cd_engine_container_create(cd_engine *e, const char *name, const json_t *spec, char **ret_id,
                               cd_error_t *err)
{
    *ret_id = NULL;
    cleanup_free char *path = NULL;
    cleanup_free char *ename = name ? cd_engine_escape(name) : NULL;
    if ((name && !ename) ||
        asprintf(&path, "/containers/create%s%s", name ? "?name=" : "", name ? ename : "") < 0)
        return OOM(err);
    json_auto_t *r = NULL;
    if (cd_engine_request(e, "POST", path, spec, &r, err) < 0)
        return -1;
    const char *id = json_string_value(json_object_get(r, "Id"));
    if (!id || !*id)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "POST /containers/create: no Id in the reply");
    *ret_id = strdup(id);
    return *ret_id ? 0 : OOM(err);
}

int cd_engine_container_start(cd_engine *e, const char *id, cd_error_t *err)
{
    cleanup_free char *path = cpath(id, "/start");
    if (!path)
        return OOM(err);
    return cd_engine_request(e, "POST", path, NULL, NULL, err) < 0 ? -1 : 0;
}

int cd_engine_container_wait(cd_engine *e, const char *id, int *ret_status, cd_error_t *err)
{
    cleanup_free char *path = cpath(id, "/wait");
    if (!path)
        return OOM(err);
    /* a stream: answered only when the container stops, so no total timeout */
    cd_xfer x = {.method = "POST", .path = path, .upload_fd = -1, .stream = true};
    if (cd_xfer_run(e, &x, err) < 0)
        return -1;
    json_auto_t *r = NULL;
    int rc = cd_engine_parse_json("POST", path, cd_strbuf_str(&x.out), x.out.len, &r, err);
    cd_strbuf_done(&x.out);
    if (rc < 0)
        return -1;
    json_t *code = json_object_get(r, "StatusCode");
    if (!json_is_integer(code))
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "POST %s: no StatusCode in the reply",
                              path);
    const char *werr = json_string_value(json_object_get(json_object_get(r, "Error"), "Message"));
    if (werr && *werr)
        return cd_engine_fail(err, CD_ERR_SYSTEM, 0, "wait for `%s`: %s", id, werr);
    *ret_status = (int)json_integer_value(code);
    return 0;
}

/* not running: the goal of a kill is reached already. Docker says 409 "is not running";
 * Podman 4.3 says 500 "can only kill running containers ... container state improper" */
static bool not_running(const cd_error_t *f)
{
    return f->status == 409 ||
           (f->status == 500 && f->msg && strstr(f->msg, "container state improper"));
}

/* already gone, or another cleanup is removing it right now: both are success here */
static bool gone_or_going(const cd_error_t *f)
{
    return f->status == 404 ||
           (f->status == 409 && f->msg && strstr(f->msg, "already in progress"));
}

int cd_engine_container_kill(cd_engine *e, const char *id, const char *signal, cd_error_t *err)
{
    cleanup_free char *esig = cd_engine_escape(signal ? signal : "SIGKILL");
    cleanup_free char *suffix = NULL;
    if (!esig || asprintf(&suffix, "/kill?signal=%s", esig) < 0)
        return OOM(err);
    cleanup_free char *path = cpath(id, suffix);
    if (!path)
        return OOM(err);
    return cd_engine_request_idempotent(e, "POST", path, not_running, err);
}

int cd_engine_container_remove(cd_engine *e, const char *id, bool force, bool volumes,
                               cd_error_t *err)
{
    cleanup_free char *suffix = NULL;
    if (asprintf(&suffix, "?force=%s&v=%s", force ? "true" : "false", volumes ? "true" : "false") <
        0)
        return OOM(err);
    cleanup_free char *path = cpath(id, suffix);
    if (!path)
        return OOM(err);
    return cd_engine_request_idempotent(e, "DELETE", path, gone_or_going, err);
}

int cd_engine_container_inspect(cd_engine *e, const char *id, json_t **ret_info, cd_error_t *err)
{
    *ret_info = NULL;
    cleanup_free char *path = cpath(id, "/json");
    if (!path)
        return OOM(err);
    if (cd_engine_request(e, "GET", path, NULL, ret_info, err) < 0)
        return -1;
    if (!json_is_object(*ret_info)) {
        json_decref(take_ptr(*ret_info));
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "GET %s: reply is not an object", path);
    }
    return 0;
}

/* GET <base>?<query-prefix>filters=... and check the reply is an array (or {key: array}). */
int cd_engine_list(cd_engine *e, const char *base, const char *extra_query,
                   const char *const *labels, const char *field, json_t **ret_list, cd_error_t *err)
{
    *ret_list = NULL;
    cleanup_free char *filter = cd_engine_label_filter(labels);
    cleanup_free char *path = NULL;
    if (!filter)
        return OOM(err);
    bool q = extra_query && *extra_query;
    if (asprintf(&path, "%s%s%s%s%s%s", base, q || *filter ? "?" : "", q ? extra_query : "",
                 q && *filter ? "&" : "", *filter ? "filters=" : "", filter) < 0)
        return OOM(err);
    json_auto_t *r = NULL;
    if (cd_engine_request(e, "GET", path, NULL, &r, err) < 0)
        return -1;
    json_t *list = field ? json_object_get(r, field) : r;
    if (json_is_null(list) || (!list && field && json_is_object(r)))
        list = NULL; /* Docker answers {"Volumes": null} when there are none */
    else if (!json_is_array(list))
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "GET %s: reply is not a list", base);
    *ret_list = list ? json_incref(list) : json_array();
    return *ret_list ? 0 : OOM(err);
}

int cd_engine_container_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                             cd_error_t *err)
{
    return cd_engine_list(e, "/containers/json", "all=true", labels, NULL, ret_list, err);
}
