/* Image inspect and pull (with registry credentials and streamed progress). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/base64.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"

int cd_engine_image_inspect(cd_engine *e, const char *image, json_t **ret_info, cd_error_t *err)
{
    cleanup_free char *esc = cd_engine_path_escape(image);
    cleanup_free char *path = NULL;
    if (!esc || asprintf(&path, "/images/%s/json", esc) < 0)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    json_auto_t *j = NULL;
    if (cd_engine_request(e, "GET", path, NULL, &j, err) < 0)
        return -1;
    if (ret_info)
        *ret_info = take_ptr(j);
    return 0;
}

/* jansson copies strings into its own buffers; wipe the password's copy before it is freed. */
static void wipe_json_strings(json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) if (json_is_string(v))
        explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

/* "X-Registry-Auth: <base64url of {"username","password","serveraddress"}>", as the docker CLI
 * sends it (URL alphabet with padding; both engines decode that). */
static char *auth_header(const cd_engine_auth *auth)
{
    json_auto_t *j = json_pack("{s:s, s:s, s:s}", "username", auth->username ? auth->username : "",
                               "password", auth->password ? auth->password : "", "serveraddress",
                               auth->serveraddress ? auth->serveraddress : "");
    if (!j)
        return NULL;
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *text = n ? malloc(n) : NULL;
    char *hdr = NULL;
    if (text && json_dumpb(j, text, n, JSON_COMPACT) == n) {
        static const char name[] = "X-Registry-Auth: ";
        size_t enc_len = BASE64_ENCODE_RAW_LENGTH(n);
        hdr = malloc(sizeof(name) + enc_len);
        if (hdr) {
            struct base64_encode_ctx ctx;
            base64url_encode_init(&ctx);
            memcpy(hdr, name, sizeof(name) - 1);
            char *dst = hdr + sizeof(name) - 1;
            size_t done = base64_encode_update(&ctx, dst, n, (const uint8_t *)text);
            done += base64_encode_final(&ctx, dst + done);
            dst[done] = '\0';
        }
    }
    if (text) {
        explicit_bzero(text, n);
        free(text);
    }
    wipe_json_strings(j);
    return hdr;
}

static int pull_sink(const char *data, size_t len, void *ud, cd_error_t *err)
{
    return cd_progress_feed(ud, data, len, err);
}

int cd_engine_image_pull(cd_engine *e, const char *image, const cd_engine_auth *auth,
                         cd_engine_progress_fn progress, void *userdata, cd_error_t *err)
{
    cleanup_free char *repo = NULL, *tag = NULL;
    if (cd_engine_split_ref(image, &repo, &tag, err) < 0)
        return -1;
    cleanup_free char *erepo = cd_engine_escape(repo);
    cleanup_free char *etag = cd_engine_escape(tag);
    cleanup_free char *path = NULL;
    if (!erepo || !etag || asprintf(&path, "/images/create?fromImage=%s&tag=%s", erepo, etag) < 0)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    char *hdr = NULL;
    if (auth && !(hdr = auth_header(auth)))
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");

    cd_progress p;
    cd_progress_init(&p, image, progress, userdata);
    cd_xfer x = {.method = "POST",
                 .path = path,
                 .upload_fd = -1,
                 .extra_header = hdr,
                 .stream = true,
                 .sink = pull_sink,
                 .sink_ud = &p};
    int r = cd_xfer_run(e, &x, err);
    cd_strbuf_done(&x.out);
    if (r >= 0)
        r = cd_progress_finish(&p, err) < 0 ? -1 : 0;
    cd_progress_done(&p);
    if (hdr) {
        explicit_bzero(hdr, strlen(hdr));
        free(hdr);
    }
    if (r < 0)
        return cd_error_wrap(err, "pull `%s`", image);
    return 0;
}
