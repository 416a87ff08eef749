/* What publishing needs from files on disk: a model archive's metadata.json (read with
 * libarchive, never unpacked), a file's SHA-256, and a token file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <nettle/sha2.h>

#include "publish/publish-internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strbuf.h"

static bool is_metadata_name(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    return !strcmp(n, "metadata.json");
}

json_t *cd_publish_model_metadata(const char *path, cd_error_t *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "model `%s`", path);
        return NULL;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    json_t *meta = NULL;
    struct archive_entry *ent;
    if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
        cd_error(err, CD_ERR_DATA, 0, "model `%s`: %s", path, archive_error_string(a));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF) {
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: no metadata.json in the archive", path);
            goto out;
        }
        if (r < ARCHIVE_WARN) {
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: %s", path, archive_error_string(a));
            goto out;
        }
        if (archive_entry_filetype(ent) != AE_IFREG || !is_metadata_name(archive_entry_pathname(ent)))
            continue;
        if (archive_entry_size(ent) > (la_int64_t)CD_PUBLISH_MAX_METADATA) {
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: metadata.json is larger than %u bytes",
                     path, CD_PUBLISH_MAX_METADATA);
            goto out;
        }
        cd_strbuf sb;
        cd_strbuf_init(&sb, CD_PUBLISH_MAX_METADATA);
        char buf[16384];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
            if (cd_strbuf_add(&sb, buf, (size_t)n) < 0)
                break;
        if (n < 0) {
            cd_strbuf_done(&sb);
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: metadata.json: %s", path,
                     archive_error_string(a));
            goto out;
        }
        json_error_t je;
        meta = json_loadb(cd_strbuf_str(&sb), sb.len, 0, &je);
        cd_strbuf_done(&sb);
        if (!meta)
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: metadata.json:%d:%d: %s", path, je.line,
                     je.column, je.text);
        else if (!json_is_object(meta)) {
            json_decref(meta);
            meta = NULL;
            cd_error(err, CD_ERR_DATA, 0, "model `%s`: metadata.json is not a JSON object", path);
        }
        goto out;
    }
out:
    archive_read_free(a);
    return meta;
}

int cd_publish_sha256_file(const char *path, char ret_hex[65], uint64_t *ret_size,
                           cd_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cd_error(err, CD_ERR_USAGE, errno, "open `%s`", path);
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    cleanup_free uint8_t *buf = malloc(256 * 1024);
    if (!buf)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "hash `%s`", path);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 256 * 1024);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "read `%s`", path);
        if (n == 0)
            break;
        sha256_update(&ctx, (size_t)n, buf);
        total += (uint64_t)n;
    }
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof(d), d);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(ret_hex + 2 * i, 3, "%02x", d[i]);
    if (ret_size)
        *ret_size = total;
    return 0;
}

char *cd_publish_sanitize_name(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool okc = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '+' || c == '-';
        char w = okc ? c : '-';
        if (w == '.' && j && out[j - 1] == '.') /* versions may not contain ".." */
            continue;
        out[j++] = w;
    }
    out[j] = '\0';
    if (!j) {
        free(out);
        return NULL;
    }
    return out;
}

char *cd_publish_read_token(const char *path, cd_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cd_error(err, CD_ERR_USAGE, errno, "token file `%s`", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
        cd_warn("token file `%s` is readable by group or others (mode %03o); chmod 600 it",
                path, (unsigned)(st.st_mode & 0777));
    char *buf = calloc(1, CD_PUBLISH_MAX_TOKEN + 1);
    if (!buf) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "token file `%s`", path);
        return NULL;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, CD_PUBLISH_MAX_TOKEN - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cd_free_secret(buf);
            cd_error(err, CD_ERR_USAGE, errno, "read token file `%s`", path);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == CD_PUBLISH_MAX_TOKEN) {
            cd_free_secret(buf);
            cd_error(err, CD_ERR_USAGE, 0, "token file `%s` is larger than %u bytes", path,
                     CD_PUBLISH_MAX_TOKEN);
            return NULL;
        }
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                   buf[len - 1] == '\t'))
        buf[--len] = '\0';
    size_t lead = 0;
    while (lead < len && (buf[lead] == ' ' || buf[lead] == '\t'))
        lead++;
    if (lead)
        memmove(buf, buf + lead, len - lead + 1);
    len -= lead;
    if (!len || memchr(buf, '\n', len)) {
        cd_free_secret(buf);
        cd_error(err, CD_ERR_USAGE, 0, "token file `%s` must hold exactly one token on one line",
                 path);
        return NULL;
    }
    return buf;
}
