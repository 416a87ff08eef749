/* Generic packages (contract §3): the upload streams the file from disk (a 1 GiB model costs
 * a fixed few hundred KiB of buffers) while a second thread hashes the same file; the SHA-256
 * GitLab reports (select=package_file) must match before the upload counts as done. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include "gitlab/gitlab-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

#define HASH_CHUNK (256u * 1024)
#define MAX_REDIRECTS 3

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '+';
}

/* package_name and file_name: \A[A-Za-z0-9._\-+]+\z */
bool cd_gitlab_package_name_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!name_char(*s))
            return false;
    return true;
}

/* package_version: \A(?!.*\.\.)[\w+.-]+\z */
bool cd_gitlab_package_version_valid(const char *s)
{
    return cd_gitlab_package_name_valid(s) && !strstr(s, "..");
}

void cd_gitlab_package_file_done(cd_gitlab_package_file *f)
{
    free(f->download_path);
    f->download_path = NULL;
}

static void hex_digest(struct sha256_ctx *ctx, char out[65])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(ctx, sizeof(d), d);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static char *package_path(const char *project, const char *name, const char *version,
                          const char *file_name)
{
    cleanup_free char *pid = cd_gitlab_project_id(project);
    char *p = NULL;
    if (!pid || asprintf(&p, "/projects/%s/packages/generic/%s/%s/%s", pid, name, version,
                         file_name) < 0)
        return NULL;
    return p;
}

static int check_names(const char *name, const char *version, const char *file_name,
                       cd_error_t *err)
{
    if (!cd_gitlab_package_name_valid(name))
        return cd_error(err, CD_ERR_USAGE, 0,
                        "package name `%s`: only letters, digits, '.', '_', '-' and '+' are "
                        "allowed", name ? name : "");
    if (!cd_gitlab_package_version_valid(version))
        return cd_error(err, CD_ERR_USAGE, 0,
                        "package version `%s`: only letters, digits, '.', '_', '-' and '+' are "
                        "allowed, and no \"..\"", version ? version : "");
    if (!cd_gitlab_package_name_valid(file_name))
        return cd_error(err, CD_ERR_USAGE, 0,
                        "package file name `%s`: only letters, digits, '.', '_', '-' and '+' "
                        "are allowed", file_name ? file_name : "");
    return 0;
}

typedef struct {
    struct sha256_ctx ctx;
    uint64_t size;
} hash_sink;

static size_t on_data(const char *data, size_t len, void *ud)
{
    hash_sink *h = ud;
    sha256_update(&h->ctx, len, (const uint8_t *)data);
    h->size += len;
    return len;
}

int cd_gitlab_package_sha256(cd_gitlab *gl, const char *project, const char *name,
                             const char *version, const char *file_name, char ret_hex[65],
                             uint64_t *ret_size, cd_error_t *err)
{
    if (check_names(name, version, file_name, err) < 0)
        return -1;
    cleanup_free char *path = package_path(project, name, version, file_name);
    if (!path)
        return cd_error(err, CD_ERR_USAGE, 0, "package `%s`: bad project id", name);
    cleanup_free char *next = NULL;
    for (int hop = 0;; hop++) {
        hash_sink h = {0};
        sha256_init(&h.ctx);
        cd_gl_req req = {.method = "GET", .path = path, .upload_fd = -1, .sink = on_data,
                         .sink_userdata = &h, .idempotent = true, .full_url = next,
                         .anonymous = next != NULL};
        cd_gl_resp resp = {0};
        int rc = cd_gl_request(gl, &req, &resp, err);
        if (rc == 0 && resp.status >= 300 && resp.status < 400 && resp.location &&
            hop < MAX_REDIRECTS) {
            /* Object storage answers with a signed URL: follow it without our token. */
            free(next);
            next = take_ptr(resp.location);
            cd_gl_resp_done(&resp);
            continue;
        }
        if (rc == 0 && resp.status >= 300)
            rc = cd_gitlab_http_error(err, "GET", path, resp.status, cd_strbuf_str(&resp.body),
                                      resp.body.len);
        cd_gl_resp_done(&resp);
        if (rc < 0)
            return -1;
        hex_digest(&h.ctx, ret_hex);
        if (ret_size)
            *ret_size = h.size;
        return 0;
    }
}

/* pread: the offset libcurl's read callback moves is left alone, so both share the fd. */
static int hash_fd(int fd, char out[65], cd_error_t *err)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    cleanup_free uint8_t *buf = malloc(HASH_CHUNK);
    if (!buf)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "hash upload file");
    for (off_t off = 0;;) {
        ssize_t n = pread(fd, buf, HASH_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "hash upload file: read");
        if (n == 0)
            break;
        sha256_update(&ctx, (size_t)n, buf);
        off += n;
    }
    hex_digest(&ctx, out);
    return 0;
}

/* The hash runs on its own thread over its own fd while libcurl sends: on one thread the
 * SHA-256 sits on the send path and costs ~30% of the throughput (measured against curl -T,
 * docs/benchmarks.md). GitLab's file_sha256 of the bytes it received must equal this hash of
 * the file, and the file must be unchanged (size, mtime, ctime) afterwards, so the check is
 * as strong as hashing the bytes we sent. */
typedef struct {
    int fd;
    char hex[65];
    cd_error_t err;
    int rc;
} hasher;

static void *hash_thread(void *ud)
{
    hasher *h = ud;
    h->rc = hash_fd(h->fd, h->hex, &h->err);
    return NULL;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec && a->st_ino == b->st_ino;
}

static bool is_duplicate(const cd_error_t *e)
{
    return e->status == 400 && e->msg && strstr(e->msg, "Duplicate package");
}

/* Compare what GitLab stored with what we sent (after a 400 "Duplicate package", or when an
 * older GitLab answered without the package_file record). */
static int verify_by_download(cd_gitlab *gl, const char *project, const char *name,
                              const char *version, const char *file_name, const char *want,
                              uint64_t want_size, cd_error_t *err)
{
    char got[65];
    uint64_t got_size = 0;
    if (cd_gitlab_package_sha256(gl, project, name, version, file_name, got, &got_size, err) < 0)
        return cd_error_wrap(err, "verify package file `%s/%s/%s`", name, version, file_name);
    if (strcmp(got, want) || got_size != want_size)
        return cd_error(err, CD_ERR_DATA, 0,
                        "package file `%s/%s/%s`: GitLab holds other bytes (SHA-256 %s, %" PRIu64
                        " bytes) than ours (SHA-256 %s, %" PRIu64 " bytes)",
                        name, version, file_name, got, got_size, want, want_size);
    return 0;
}

int cd_gitlab_package_upload(cd_gitlab *gl, const char *project, const char *name,
                             const char *version, const char *file_name, const char *file,
                             cd_gitlab_package_file *out, cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (check_names(name, version, file_name, err) < 0)
        return -1;
    cleanup_free char *path = package_path(project, name, version, file_name);
    cleanup_free char *put = NULL;
    if (!path || asprintf(&put, "%s?select=package_file", path) < 0)
        return cd_error(err, CD_ERR_USAGE, 0, "package `%s`: bad project id", name);
    cleanup_close int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cd_error(err, CD_ERR_USAGE, errno, "open model `%s`", file);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "stat model `%s`", file);
    if (!S_ISREG(st.st_mode))
        return cd_error(err, CD_ERR_USAGE, 0, "model `%s` is not a regular file", file);

    hasher hs = {.fd = fd, .rc = -1};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, hash_thread, &hs) == 0;
    if (!threaded) /* no thread: hash first, then send */
        hash_thread(&hs);
    cd_gl_req req = {.method = "PUT", .path = put, .upload_fd = fd,
                     .upload_size = (uint64_t)st.st_size, .idempotent = true};
    cd_gl_resp resp = {0};
    cd_error_t e = {0};
    int rc = cd_gl_request(gl, &req, &resp, &e);
    if (rc == 0 && resp.status >= 300)
        rc = cd_gitlab_http_error(&e, "PUT", put, resp.status, cd_strbuf_str(&resp.body),
                                  resp.body.len);
    if (threaded)
        pthread_join(th, NULL);
    out->size = (uint64_t)st.st_size;
    struct stat after;
    if (hs.rc < 0 || fstat(fd, &after) < 0 || !same_file(&st, &after)) {
        cd_gl_resp_done(&resp);
        cd_error_clear(&e);
        if (hs.rc < 0) {
            cd_error(err, hs.err.kind, hs.err.errnum, "%s", cd_error_msg(&hs.err));
            cd_error_clear(&hs.err);
            return -1;
        }
        return cd_error(err, CD_ERR_DATA, 0, "model `%s` changed while it was uploaded", file);
    }
    memcpy(out->sha256, hs.hex, sizeof(out->sha256));
    if (rc < 0) {
        cd_gl_resp_done(&resp);
        if (!is_duplicate(&e)) {
            cd_error(err, e.kind, 0, "%s", cd_error_msg(&e));
            if (err)
                err->status = e.status;
            cd_error_clear(&e);
            return -1;
        }
        /* Duplicates are off and the file exists: fine if it is exactly ours (a rerun, or a
         * retry after an answer we never saw). */
        cd_error_clear(&e);
        if (verify_by_download(gl, project, name, version, file_name, out->sha256, out->size,
                               err) < 0)
            return cd_error_wrap(err, "duplicates are not allowed");
        out->duplicate = true;
        out->download_path = take_ptr(path);
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb(cd_strbuf_str(&resp.body), resp.body.len, 0, &jerr);
    cd_gl_resp_done(&resp);
    json_t *sha = json_object_get(j, "file_sha256");
    json_t *size = json_object_get(j, "size");
    if (json_is_string(sha)) {
        bool size_ok = !json_is_integer(size) || (uint64_t)json_integer_value(size) == out->size;
        if (strcasecmp(json_string_value(sha), out->sha256) || !size_ok) {
            rc = cd_error(err, CD_ERR_DATA, 0,
                          "PUT %s: GitLab stored SHA-256 %s (%" JSON_INTEGER_FORMAT
                          " bytes) but we sent %s (%" PRIu64 " bytes)",
                          path, json_string_value(sha),
                          json_is_integer(size) ? json_integer_value(size) : (json_int_t)-1,
                          out->sha256, out->size);
            json_decref(j);
            return rc;
        }
    } else {
        /* No package_file record in the answer: check the stored bytes instead. */
        cd_debug("PUT %s: no file_sha256 in the answer, verifying by download", path);
        if (verify_by_download(gl, project, name, version, file_name, out->sha256, out->size,
                               err) < 0) {
            json_decref(j);
            return -1;
        }
    }
    json_decref(j);
    out->download_path = take_ptr(path);
    return 0;
}
