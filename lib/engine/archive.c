/* Archive put/get: tar streams built and parsed with libarchive, never touching host paths on
 * the way out. Put spools the tar to an unlinked temp file (host files of any size, constant
 * memory); get parses the download as it arrives, pausing the transfer while the caller reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"

#define OOM(err) cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory")
#define IO_CHUNK (64u << 10)

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_free(*a); /* also closes */
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

static int spool_fd(cd_error_t *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* O_TMPFILE is not supported on every file system */
    cleanup_free char *tmpl = NULL;
    if (asprintf(&tmpl, "%s/conductor-tar-XXXXXX", dir) < 0)
        return OOM(err);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "temp file in %s", dir);
    unlink(tmpl);
    return fd;
}

static int add_entry(struct archive *a, const cd_engine_put_entry *pe, cd_error_t *err)
{
    cleanup_close int fd = -1;
    struct archive_entry *ae = archive_entry_new();
    if (!ae)
        return OOM(err);
    int r = -1;
    archive_entry_set_pathname(ae, pe->name);
    archive_entry_set_uid(ae, pe->uid);
    archive_entry_set_gid(ae, pe->gid);
    archive_entry_set_mtime(ae, time(NULL), 0);
    switch (pe->type) {
    case CD_ENGINE_ENTRY_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, pe->mode ? pe->mode & 07777 : 0755);
        break;
    case CD_ENGINE_ENTRY_SYMLINK:
        if (!pe->link_target) {
            cd_engine_fail(err, CD_ERR_USAGE, EINVAL, "`%s`: symlink without a target", pe->name);
            goto out;
        }
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, pe->link_target);
        archive_entry_set_perm(ae, 0777);
        break;
    case CD_ENGINE_ENTRY_FILE: {
        mode_t mode = pe->mode & 07777;
        int64_t size = (int64_t)pe->len;
        if (pe->host_path) {
            struct stat st;
            fd = open(pe->host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
            if (fd < 0 || fstat(fd, &st) < 0) {
                cd_error(err, CD_ERR_SYSTEM, errno, "`%s`: open %s", pe->name, pe->host_path);
                goto out;
            }
            if (!S_ISREG(st.st_mode)) {
                cd_engine_fail(err, CD_ERR_USAGE, EINVAL, "`%s`: %s is not a regular file",
                               pe->name, pe->host_path);
                goto out;
            }
            size = st.st_size;
            if (!mode)
                mode = st.st_mode & 07777;
        }
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, mode ? mode : 0644);
        archive_entry_set_size(ae, size);
        break;
    }
    default:
        cd_engine_fail(err, CD_ERR_USAGE, EINVAL, "`%s`: only files, dirs and symlinks can be put",
                       pe->name);
        goto out;
    }
    if (archive_write_header(a, ae) != ARCHIVE_OK) {
        cd_engine_fail(err, CD_ERR_SYSTEM, archive_errno(a), "`%s`: %s", pe->name,
                       archive_error_string(a));
        goto out;
    }
    if (pe->type == CD_ENGINE_ENTRY_FILE && fd < 0 && pe->len &&
        archive_write_data(a, pe->data, pe->len) != (la_ssize_t)pe->len) {
        cd_engine_fail(err, CD_ERR_SYSTEM, archive_errno(a), "`%s`: %s", pe->name,
                       archive_error_string(a));
        goto out;
    }
    if (fd >= 0) {
        int64_t left = archive_entry_size(ae);
        cleanup_free char *buf = malloc(IO_CHUNK);
        if (!buf) {
            OOM(err);
            goto out;
        }
        while (left > 0) {
            ssize_t n = read(fd, buf, left < IO_CHUNK ? (size_t)left : IO_CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                /* the header promised a size; a file shrinking under us cannot be patched up */
                cd_error(err, CD_ERR_SYSTEM, n < 0 ? errno : EIO, "`%s`: read %s%s", pe->name,
                         pe->host_path, n == 0 ? " (file shrank while copying)" : "");
                goto out;
            }
            if (archive_write_data(a, buf, (size_t)n) != n) {
                cd_engine_fail(err, CD_ERR_SYSTEM, archive_errno(a), "`%s`: %s", pe->name,
                               archive_error_string(a));
                goto out;
            }
            left -= n;
        }
    }
    r = 0;
out:
    archive_entry_free(ae);
    return r;
}

int cd_engine_archive_put(cd_engine *e, const char *container, const char *dest_dir,
                          const cd_engine_put_entry *entries, size_t n_entries, cd_error_t *err)
{
    cleanup_close int fd = spool_fd(err);
    if (fd < 0)
        return cd_error_wrap(err, "copy into `%s:%s`", container, dest_dir);
    {
        cleanup_archive struct archive *a = archive_write_new();
        if (!a)
            return OOM(err);
        /* pax_restricted: plain ustar unless a name or size needs a pax extension */
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_fd(a, fd) != ARCHIVE_OK)
            return cd_engine_fail(err, CD_ERR_SYSTEM, archive_errno(a), "copy into `%s:%s`: %s",
                                  container, dest_dir, archive_error_string(a));
        for (size_t i = 0; i < n_entries; i++)
            if (add_entry(a, &entries[i], err) < 0)
                return cd_error_wrap(err, "copy into `%s:%s`", container, dest_dir);
        if (archive_write_close(a) != ARCHIVE_OK)
            return cd_engine_fail(err, CD_ERR_SYSTEM, archive_errno(a), "copy into `%s:%s`: %s",
                                  container, dest_dir, archive_error_string(a));
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "copy into `%s:%s`: rewind", container,
                        dest_dir);
    cleanup_free char *ec = cd_engine_path_escape(container);
    cleanup_free char *ed = cd_engine_escape(dest_dir);
    cleanup_free char *path = NULL;
    if (!ec || !ed || asprintf(&path, "/containers/%s/archive?path=%s", ec, ed) < 0)
        return OOM(err);
    cd_xfer x = {.method = "PUT", .path = path, .upload_fd = fd, .stream = true};
    int r = cd_xfer_run(e, &x, err);
    cd_strbuf_done(&x.out);
    return r < 0 ? -1 : 0;
}

/* ---- get ---- */

typedef struct {
    cd_xfer x;
    cd_strbuf in;  /* bytes received and not yet handed to libarchive */
    cd_strbuf out; /* the block libarchive is reading now */
    cd_error_t xerr;
    bool failed;
} getter;

struct cd_engine_reader {
    struct archive *a;
    getter *g;
};

static int get_sink(const char *data, size_t len, void *ud, cd_error_t *err)
{
    getter *g = ud;
    (void)err;
    if (g->in.len)
        return 1; /* pause: libarchive has not taken the last block yet */
    return cd_strbuf_add(&g->in, data, len) < 0
               ? cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory")
               : 0;
}

/* Run the transfer until a block is waiting or it ended. */
static int fill(getter *g)
{
    while (!g->in.len && !g->x.done) {
        if (g->x.paused) {
            cd_xfer_unpause(&g->x);
            continue;
        }
        if (cd_xfer_step(&g->x, &g->xerr) < 0) {
            g->failed = true;
            return -1;
        }
    }
    return 0;
}

static la_ssize_t get_read(struct archive *a, void *ud, const void **buf)
{
    getter *g = ud;
    cd_strbuf_reset(&g->out);
    if (fill(g) < 0) {
        archive_set_error(a, EIO, "transfer failed");
        return -1;
    }
    cd_strbuf t = g->out;
    g->out = g->in;
    g->in = t;
    *buf = g->out.buf;
    return (la_ssize_t)g->out.len;
}

ssize_t cd_engine_reader_read(cd_engine_reader *r, void *buf, size_t len, cd_error_t *err)
{
    la_ssize_t n = archive_read_data(r->a, buf, len);
    if (n < 0) {
        if (r->g->failed)
            return cd_engine_fail(err, r->g->xerr.kind, r->g->xerr.errnum, "%s",
                                  cd_error_msg(&r->g->xerr));
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "corrupt tar stream: %s",
                              archive_error_string(r->a));
    }
    return n;
}

static cd_engine_entry_type entry_type(struct archive_entry *ae)
{
    switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
        return archive_entry_hardlink(ae) ? CD_ENGINE_ENTRY_HARDLINK : CD_ENGINE_ENTRY_FILE;
    case AE_IFDIR:
        return CD_ENGINE_ENTRY_DIR;
    case AE_IFLNK:
        return CD_ENGINE_ENTRY_SYMLINK;
    case 0:
        return archive_entry_hardlink(ae) ? CD_ENGINE_ENTRY_HARDLINK : CD_ENGINE_ENTRY_OTHER;
    default:
        return CD_ENGINE_ENTRY_OTHER;
    }
}

static int walk(getter *g, cd_engine_entry_fn fn, void *ud, cd_error_t *err)
{
    cleanup_archive struct archive *a = archive_read_new();
    if (!a)
        return OOM(err);
    archive_read_support_format_tar(a);
    if (archive_read_open(a, g, NULL, get_read, NULL) != ARCHIVE_OK)
        goto archive_error;
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            goto archive_error;
        cd_engine_get_entry ge = {.name = archive_entry_pathname(ae),
                                  .type = entry_type(ae),
                                  .mode = archive_entry_perm(ae)};
        if (!ge.name)
            return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                                  "corrupt tar stream: entry without a name");
        if (ge.type == CD_ENGINE_ENTRY_FILE)
            ge.size = archive_entry_size(ae);
        if (ge.type == CD_ENGINE_ENTRY_SYMLINK)
            ge.link_target = archive_entry_symlink(ae);
        if (ge.type == CD_ENGINE_ENTRY_HARDLINK)
            ge.link_target = archive_entry_hardlink(ae);
        cd_engine_reader rd = {.a = a, .g = g};
        if (fn(&ge, &rd, ud, err) < 0)
            return cd_engine_fail(err, CD_ERR_SYSTEM, ECANCELED, "`%s`: cancelled by the caller",
                                  ge.name);
    }
archive_error:
    if (g->failed)
        return cd_engine_fail(err, g->xerr.kind, g->xerr.errnum, "%s", cd_error_msg(&g->xerr));
    return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO, "corrupt tar stream: %s",
                          archive_error_string(a));
}

int cd_engine_archive_get(cd_engine *e, const char *container, const char *path,
                          cd_engine_entry_fn fn, void *userdata, cd_error_t *err)
{
    cleanup_free char *ec = cd_engine_path_escape(container);
    cleanup_free char *ep = cd_engine_escape(path);
    cleanup_free char *url = NULL;
    if (!ec || !ep || asprintf(&url, "/containers/%s/archive?path=%s", ec, ep) < 0)
        return OOM(err);
    getter g = {
        .x = {.method = "GET", .path = url, .upload_fd = -1, .stream = true, .sink = get_sink}};
    g.x.sink_ud = &g;
    cd_strbuf_init(&g.in, 0);
    cd_strbuf_init(&g.out, 0);
    int r = -1;
    if (cd_xfer_begin(e, &g.x, err) < 0) {
        cd_xfer_done(&g.x);
        goto out;
    }
    /* learn the status first: an error reply is not a tar stream */
    if (fill(&g) < 0) {
        cd_engine_fail(err, g.xerr.kind, g.xerr.errnum, "%s", cd_error_msg(&g.xerr));
        cd_xfer_done(&g.x);
        goto out;
    }
    if (g.x.done && g.x.status != 200) {
        r = cd_xfer_finish(&g.x, err) < 0 ? -1 : 0;
        cd_strbuf_done(&g.x.out);
        if (r < 0)
            goto out;
    }
    r = walk(&g, fn, userdata, err);
    if (r == 0) {
        /* drain what follows the end-of-archive blocks so the connection can be reused */
        while (!g.x.done && r == 0) {
            cd_strbuf_reset(&g.in);
            r = fill(&g);
            cd_strbuf_reset(&g.in);
        }
        if (r < 0)
            cd_engine_fail(err, g.xerr.kind, g.xerr.errnum, "%s", cd_error_msg(&g.xerr));
    }
    if (g.x.e) {
        if (r == 0 && g.x.done) {
            r = cd_xfer_finish(&g.x, err) < 0 ? -1 : 0;
            cd_strbuf_done(&g.x.out);
        } else {
            cd_xfer_done(&g.x); /* abandons the transfer: the connection is closed */
        }
    }
out:
    cd_error_clear(&g.xerr);
    cd_strbuf_done(&g.in);
    cd_strbuf_done(&g.out);
    if (r < 0)
        return cd_error_wrap(err, "copy from `%s:%s`", container, path);
    return 0;
}
