/* The executor's publishing step: copy the job's results and model out of its container
 * through the engine's archive API into a private temp dir, then publish from the runner
 * host with a token from the executor config. The job's files are only ever parsed as a tar
 * stream: nothing on the host is opened by a path the job controls, and a symlink, hard link
 * or device in what the job names is refused, never followed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "publish/publish-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

#define SECTION "conductor_publish"

static void job_line(const cd_publish_job_opts *o, const char *line)
{
    if (o->log) {
        o->log(o->log_userdata, line);
    } else {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
}

__attribute__((format(printf, 2, 3))) static void jsay(const cd_publish_job_opts *o,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *masked = cd_log_vformat_masked(fmt, ap);
    va_end(ap);
    job_line(o, masked ? masked : "[unprintable]");
    free(masked);
}

static void publish_log(void *ud, const char *line)
{
    job_line(ud, line);
}

/* A job-relative path: not empty, not absolute, no "." or ".." component. */
static int check_rel(const char *what, const char *rel, cd_error_t *err)
{
    if (!rel || !*rel)
        return cd_error(err, CD_ERR_BUILD, 0, "%s is empty", what);
    if (rel[0] == '/')
        return cd_error(err, CD_ERR_BUILD, 0,
                        "%s `%s` must be relative to the project directory", what, rel);
    const char *p = rel;
    while (*p) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return cd_error(err, CD_ERR_BUILD, 0,
                            "%s `%s`: `.` and `..` are not allowed in the path", what, rel);
        while (*p == '/')
            p++;
    }
    return 0;
}

typedef struct {
    const char *what;      /* "CONDUCTOR_RESULTS" / "CONDUCTOR_MODEL" */
    const char *rel;       /* as the job gave it */
    const char *top;       /* expected first tar component: base name of the path */
    const char *dest;      /* host dir we write into (inside our 0700 temp dir) */
    bool want_dir;
    bool saw_top;
    uint64_t total;
    size_t files;
    char *file_path;       /* model: where the file landed */
} stage;

/* "results/a/b.json" → "a/b.json" after checking the components; "" for the top itself. */
static int entry_rest(stage *s, const char *name, const char **ret_rest, cd_error_t *err)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    size_t tl = strlen(s->top);
    if (strncmp(name, s->top, tl) || (name[tl] && name[tl] != '/'))
        return cd_error(err, CD_ERR_BUILD, 0, "%s `%s`: unexpected entry `%s` in the archive",
                        s->what, s->rel, name);
    const char *rest = name + tl;
    while (*rest == '/')
        rest++;
    for (const char *p = rest; *p;) {
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - c);
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return cd_error(err, CD_ERR_BUILD, 0, "%s `%s`: entry `%s` has a `..` component",
                            s->what, s->rel, name);
        while (*p == '/')
            p++;
    }
    *ret_rest = rest;
    return 0;
}

static int mkdirs(const char *path)
{
    cleanup_free char *p = strdup(path);
    if (!p)
        return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -1;
        *q = '/';
    }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int on_entry(const cd_engine_get_entry *ent, cd_engine_reader *rd, void *ud,
                    cd_error_t *err)
{
    stage *s = ud;
    const char *rest = "";
    if (entry_rest(s, ent->name, &rest, err) < 0)
        return -1;
    if (ent->type == CD_ENGINE_ENTRY_SYMLINK)
        return cd_error(err, CD_ERR_BUILD, 0,
                        "%s `%s`: `%s` is a symbolic link (to `%s`): refused, only regular files "
                        "and directories are published",
                        s->what, s->rel, ent->name, ent->link_target ? ent->link_target : "?");
    if (ent->type == CD_ENGINE_ENTRY_HARDLINK || ent->type == CD_ENGINE_ENTRY_OTHER)
        return cd_error(err, CD_ERR_BUILD, 0,
                        "%s `%s`: `%s` is a %s: refused, only regular files and directories are "
                        "published",
                        s->what, s->rel, ent->name,
                        ent->type == CD_ENGINE_ENTRY_HARDLINK ? "hard link" : "device, fifo or socket");
    bool is_top = !*rest;
    if (is_top) {
        s->saw_top = true;
        if (s->want_dir && ent->type != CD_ENGINE_ENTRY_DIR)
            return cd_error(err, CD_ERR_BUILD, 0, "%s `%s` is not a directory", s->what, s->rel);
        if (!s->want_dir && ent->type != CD_ENGINE_ENTRY_FILE)
            return cd_error(err, CD_ERR_BUILD, 0, "%s `%s` is not a regular file", s->what,
                            s->rel);
    } else if (!s->want_dir) {
        return cd_error(err, CD_ERR_BUILD, 0, "%s `%s` is not a regular file", s->what, s->rel);
    }
    cleanup_free char *host = NULL;
    if (asprintf(&host, "%s%s%s", s->dest, *rest ? "/" : "", rest) < 0)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "stage %s", s->what);
    if (!s->want_dir) {
        free(host);
        if (asprintf(&host, "%s/%s", s->dest, s->top) < 0) {
            host = NULL;
            return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "stage %s", s->what);
        }
    }
    if (ent->type == CD_ENGINE_ENTRY_DIR) {
        if (mkdirs(host) < 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "stage %s: mkdir", s->what);
        return 0;
    }
    /* A regular file. */
    if (s->want_dir && (++s->files > CD_PUBLISH_MAX_RESULT_FILES))
        return cd_error(err, CD_ERR_BUILD, 0, "%s `%s` has more than %u files", s->what, s->rel,
                        CD_PUBLISH_MAX_RESULT_FILES);
    char *slash = strrchr(host, '/');
    *slash = '\0';
    int mk = mkdirs(host);
    *slash = '/';
    if (mk < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "stage %s: mkdir", s->what);
    /* O_EXCL|O_NOFOLLOW: the tree is ours and new, so anything already there is an attack
     * or a duplicate entry; both are refused. */
    cleanup_close int fd = open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cd_error(err, errno == EEXIST ? CD_ERR_BUILD : CD_ERR_SYSTEM, errno,
                        "stage %s: `%s`", s->what, ent->name);
    cleanup_free char *buf = malloc(256 * 1024);
    if (!buf)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "stage %s", s->what);
    for (;;) {
        ssize_t n = cd_engine_reader_read(rd, buf, 256 * 1024, err);
        if (n < 0)
            return cd_error_wrap(err, "%s `%s`: read `%s`", s->what, s->rel, ent->name);
        if (n == 0)
            break;
        s->total += (uint64_t)n;
        if (s->want_dir && s->total > CD_PUBLISH_MAX_RESULTS)
            return cd_error(err, CD_ERR_BUILD, 0, "%s `%s` is larger than %llu bytes", s->what,
                            s->rel, (unsigned long long)CD_PUBLISH_MAX_RESULTS);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return cd_error(err, CD_ERR_SYSTEM, errno, "stage %s: write", s->what);
            off += w;
        }
    }
    if (!s->want_dir) {
        free(s->file_path);
        s->file_path = take_ptr(host);
    }
    return 0;
}

static int fetch(cd_engine *engine, const char *container, const cd_publish_job_opts *o,
                 stage *s, cd_error_t *err)
{
    cleanup_free char *cpath = NULL;
    const char *pd = o->project_dir;
    size_t pl = strlen(pd);
    while (pl > 1 && pd[pl - 1] == '/')
        pl--;
    if (asprintf(&cpath, "%.*s/%s", (int)pl, pd, s->rel) < 0)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "stage %s", s->what);
    size_t cl = strlen(cpath);
    while (cl > 1 && cpath[cl - 1] == '/') /* "results/" would make docker follow a link */
        cpath[--cl] = '\0';
    if (mkdir(s->dest, 0700) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "stage %s: mkdir", s->what);
    cd_error_t e = {0};
    if (cd_engine_archive_get(engine, container, cpath, on_entry, s, &e) < 0) {
        if (e.kind == CD_ERR_NOTFOUND) {
            cd_error_clear(&e);
            return cd_error(err, CD_ERR_BUILD, 0, "%s `%s`: the job did not create `%s`",
                            s->what, s->rel, cpath);
        }
        cd_error(err, e.kind, e.errnum, "%s", cd_error_msg(&e));
        cd_error_clear(&e);
        return -1;
    }
    if (!s->saw_top)
        return cd_error(err, CD_ERR_BUILD, 0, "%s `%s`: the container returned no such entry",
                        s->what, s->rel);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0)
        cd_warn("remove `%s`: %s, ignoring", path, strerror(errno));
    return 0;
}

static const char *base_of(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

static int run_job(cd_engine *engine, const char *container, const cd_publish_job_opts *o,
                   unsigned targets, const char *tmp, cd_error_t *err)
{
    int rc = -1;
    char *token = NULL;
    cleanup_free char *results_dir = NULL, *model_dir = NULL, *rtop = NULL, *mtop = NULL;
    stage rs = {0}, ms = {0};
    if (!o->project_dir || o->project_dir[0] != '/')
        return cd_error(err, CD_ERR_USAGE, 0, "publish: the project directory is unknown");
    if (!o->token_file || !*o->token_file)
        return cd_error(err, CD_ERR_USAGE, 0,
                        "publish: no token file configured for this project (executor config "
                        "[publish] token_file or [project \"...\"] token_file)");
    if (asprintf(&results_dir, "%s/results", tmp) < 0 || asprintf(&model_dir, "%s/model", tmp) < 0)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "publish");
    bool want_results = targets & CD_PUBLISH_WIKI;
    bool want_model = (targets & CD_PUBLISH_PACKAGE) || (o->model_path && *o->model_path);
    if (want_results && check_rel("CONDUCTOR_RESULTS", o->results_path, err) < 0)
        return -1;
    if (want_model && check_rel("CONDUCTOR_MODEL", o->model_path, err) < 0)
        return -1;

    if (want_results) {
        rtop = strdup(base_of(o->results_path));
        rs = (stage){.what = "CONDUCTOR_RESULTS", .rel = o->results_path, .top = rtop,
                     .dest = results_dir, .want_dir = true};
        if (!rtop || fetch(engine, container, o, &rs, err) < 0)
            goto out;
        jsay(o, "copied %s `%s` out of the container (%zu files, %llu bytes)", rs.what, rs.rel,
             rs.files, (unsigned long long)rs.total);
    }
    if (want_model) {
        mtop = strdup(base_of(o->model_path));
        ms = (stage){.what = "CONDUCTOR_MODEL", .rel = o->model_path, .top = mtop,
                     .dest = model_dir, .want_dir = false};
        if (!mtop || fetch(engine, container, o, &ms, err) < 0)
            goto out;
        jsay(o, "copied %s `%s` out of the container (%llu bytes)", ms.what, ms.rel,
             (unsigned long long)ms.total);
    }
    token = cd_publish_read_token(o->token_file, err);
    if (!token)
        goto out;
    cd_publish_opts po = {
        .gitlab_url = o->gitlab_url, .project = o->project, .token = token,
        .token_type = o->token_type, .ca_file = o->ca_file, .proxy = o->proxy,
        .targets = targets, .results_dir = want_results ? results_dir : NULL,
        .model_file = ms.file_path, .package_name = o->package_name,
        .package_version = o->package_version, .env = o->job_env,
        .log = publish_log, .log_userdata = (void *)o,
    };
    cd_publish_result res;
    if (cd_publish(&po, &res, err) < 0)
        goto out;
    if (res.package_url)
        jsay(o, "model package: %s", res.package_url);
    if (res.report_url)
        jsay(o, "report: %s", res.report_url);
    cd_publish_result_done(&res);
    rc = 0;
out:
    cd_free_secret(token);
    free(ms.file_path);
    return rc;
}

int cd_publish_job(cd_engine *engine, const char *container_id, const cd_publish_job_opts *o,
                   cd_error_t *err)
{
    unsigned targets = 0;
    if (cd_publish_parse_targets(o->targets, &targets, err) < 0)
        return -1;
    if (!targets)
        return 0;
    time_t t0 = time(NULL);
    jsay(o, "\033[0Ksection_start:%lld:" SECTION "[collapsed=true]\r\033[0KPublishing to GitLab (%s)",
         (long long)t0, o->targets);

    const char *tmpdir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/conductor-publish-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    cd_error_t e = {0};
    int rc;
    if (!mkdtemp(tmp)) { /* mode 0700: only the runner's user reads the staged files */
        rc = cd_error(&e, CD_ERR_SYSTEM, errno, "publish: create a temp dir in `%s`",
                      tmpdir && *tmpdir ? tmpdir : "/tmp");
    } else {
        rc = run_job(engine, container_id, o, targets, tmp, &e);
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (rc < 0)
        jsay(o, "\033[31;1mPublishing failed: %s\033[0m", cd_error_msg(&e));
    else
        jsay(o, "Published.");
    jsay(o, "\033[0Ksection_end:%lld:" SECTION "\r\033[0K", (long long)time(NULL));
    if (rc < 0 && !o->fail_job_on_error) {
        jsay(o, "\033[33;1mWARNING: publishing failed; the job still passes (publish failures "
                "are configured not to fail jobs)\033[0m");
        cd_error_clear(&e);
        return 0;
    }
    if (rc < 0) {
        if (err && !err->msg) {
            *err = e;
        } else {
            cd_error_clear(&e);
        }
        return -1;
    }
    return 0;
}
