/* Volumes and networks: just enough to create, find by label and remove what a job made. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"

#define OOM(err) cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory")

/* ["k=v", ...] → {"k": "v", ...}; a bare "k" gets an empty value. */
static json_t *label_object(const char *const *labels)
{
    json_t *o = json_object();
    for (size_t i = 0; o && labels && labels[i]; i++) {
        const char *eq = strchr(labels[i], '=');
        cleanup_free char *k =
            eq ? strndup(labels[i], (size_t)(eq - labels[i])) : strdup(labels[i]);
        if (!k || json_object_set_new(o, k, json_string(eq ? eq + 1 : "")) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static bool gone(const cd_error_t *f)
{
    return f->status == 404;
}

/* DELETE that treats "already gone" as done. */
static int remove_gone_ok(cd_engine *e, const char *path, cd_error_t *err)
{
    return cd_engine_request_idempotent(e, "DELETE", path, gone, err);
}

int cd_engine_volume_create(cd_engine *e, const char *name, const char *const *labels,
                            cd_error_t *err)
{
    json_auto_t *body = json_pack("{s:s, s:o}", "Name", name, "Labels", label_object(labels));
    if (!body)
        return OOM(err);
    return cd_engine_request(e, "POST", "/volumes/create", body, NULL, err) < 0 ? -1 : 0;
}

int cd_engine_volume_remove(cd_engine *e, const char *name, bool force, cd_error_t *err)
{
    cleanup_free char *esc = cd_engine_path_escape(name);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/volumes/%s%s", esc, force ? "?force=true" : "") < 0)
        return OOM(err);
    return remove_gone_ok(e, path, err);
}

int cd_engine_volume_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                          cd_error_t *err)
{
    return cd_engine_list(e, "/volumes", NULL, labels, "Volumes", ret_list, err);
}

int cd_engine_network_create(cd_engine *e, const char *name, const char *driver,
                             const char *const *labels, char **ret_id, cd_error_t *err)
{
    if (ret_id)
        *ret_id = NULL;
    json_auto_t *body =
        json_pack("{s:s, s:s, s:b, s:o}", "Name", name, "Driver", driver ? driver : "bridge",
                  "CheckDuplicate", 1, "Labels", label_object(labels));
    if (!body)
        return OOM(err);
    json_auto_t *r = NULL;
    if (cd_engine_request(e, "POST", "/networks/create", body, &r, err) < 0)
        return -1;
    const char *id = json_string_value(json_object_get(r, "Id"));
    if (!id)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "POST /networks/create: no Id in the reply");
    if (ret_id && !(*ret_id = strdup(id)))
        return OOM(err);
    return 0;
}

int cd_engine_network_remove(cd_engine *e, const char *id, cd_error_t *err)
{
    cleanup_free char *esc = cd_engine_path_escape(id);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/networks/%s", esc) < 0)
        return OOM(err);
    return remove_gone_ok(e, path, err);
}

int cd_engine_network_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                           cd_error_t *err)
{
    return cd_engine_list(e, "/networks", NULL, labels, NULL, ret_list, err);
}
