/* The toolbox: one host directory, mounted read-only into every job container, that makes the
 * helper stages work in any image (protocol doc §7.4): the agent, the gitlab-runner helper
 * and a self-contained git.
 *
 * Debian ships no static git, so the host's git travels with its own shared libraries and
 * dynamic loader: `git` in the toolbox is a small sh wrapper that runs
 * `<dir>/lib/ld.so --library-path <dir>/lib <dir>/libexec/git`, independent of the image's libc
 * (or its lack of one). git's exec-path helpers get the same treatment. The directory is named
 * after a hash of its inputs, built once under a lock and reused by every job. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define TOOLBOX_FORMAT 3 /* bump when the layout below changes */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_file_id(uint64_t h, const char *path)
{
    struct stat st;
    h = fnv(h, path ? path : "-", path ? strlen(path) : 1);
    if (path && stat(path, &st) == 0) {
        int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_ino};
        h = fnv(h, v, sizeof v);
    }
    return h;
}

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    cleanup_free char *copy = xstrdup(path);
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* Run argv and capture its stdout (bounded). */
static int capture(char *const argv[], cd_strbuf *out, cd_error_t *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return cd_error(err, CD_ERR_SYSTEM, errno, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof buf)) > 0)
        cd_strbuf_add(out, buf, (size_t)n);
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cd_error(err, CD_ERR_SYSTEM, 0, "`%s` failed", argv[0]);
    return 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode, cd_error_t *err)
{
    cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: open `%s`: %s", src, strerror(errno));
    cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: create `%s`: %s", dst,
                        strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            return cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: write `%s`: %s", dst,
                            strerror(errno));
    if (n < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: read `%s`: %s", src, strerror(errno));
    fchmod(out, mode);
    return 0;
}

static int write_text(const char *path, const char *text, mode_t mode, cd_error_t *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: write `%s`: %s", path,
                        strerror(errno));
    fchmod(fd, mode);
    return 0;
}

static bool is_elf(const char *path)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char m[4];
    return fd >= 0 && read(fd, m, 4) == 4 &&
           !memcmp(m,
                   "\x7f"
                   "ELF",
                   4);
}

/* Copy every shared library `ldd bin` names into <dir>/lib (the loader as lib/ld.so). */
static int copy_libs(const char *bin, const char *dir, cd_error_t *err)
{
    cd_strbuf out = CD_STRBUF_INIT;
    char *argv[] = {"ldd", (char *)bin, NULL};
    if (capture(argv, &out, err) < 0) {
        cd_strbuf_done(&out);
        return cd_error_wrap(err, "toolbox: list the libraries of `%s`", bin);
    }
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(out.buf ? out.buf : (char[]){0}, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = strstr(line, "=> ");
        char *path = p ? p + 3 : line + strspn(line, " \t");
        if (*path != '/')
            continue; /* linux-vdso, "not a dynamic executable" */
        char *end = strchr(path, ' ');
        if (end)
            *end = 0;
        const char *base = strrchr(path, '/') + 1;
        bool loader = !p && strstr(base, "ld-linux");
        cleanup_free char *dst = xasprintf("%s/lib/%s", dir, loader ? "ld.so" : base);
        if (access(dst, F_OK) == 0)
            continue;
        rc = copy_file(path, dst, 0755, err);
    }
    cd_strbuf_done(&out);
    return rc;
}

/* <dir>/<name>: run <mnt>/libexec/<real> through the bundled loader. */
static int write_loader_wrapper(const char *dir, const char *name, const char *mnt,
                                const char *real, const char *prefix_args, bool set_exec_path,
                                cd_error_t *err)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    cleanup_free char *env =
        set_exec_path ? xasprintf("GIT_EXEC_PATH=%s/git-core; export GIT_EXEC_PATH\n", mnt)
                      : xstrdup("");
    cleanup_free char *text =
        xasprintf("#!/bin/sh\n%sexec %s/lib/ld.so --library-path %s/lib %s/libexec/%s %s\"$@\"\n",
                  env, mnt, mnt, mnt, real, prefix_args);
    return write_text(path, text, 0755, err);
}

static int build_git(const char *git, const char *dir, const char *mnt, cd_error_t *err)
{
    cleanup_free char *libexec = xasprintf("%s/libexec", dir);
    cleanup_free char *lib = xasprintf("%s/lib", dir);
    cleanup_free char *core = xasprintf("%s/git-core", dir);
    if (cd_driver_mkdirs(libexec, 0755, err) < 0 || cd_driver_mkdirs(lib, 0755, err) < 0 ||
        cd_driver_mkdirs(core, 0755, err) < 0)
        return -1;
    cleanup_free char *git_dst = xasprintf("%s/git", libexec);
    if (copy_file(git, git_dst, 0755, err) < 0 || copy_libs(git, dir, err) < 0)
        return -1;
    if (write_loader_wrapper(dir, "git", mnt, "git", "", true, err) < 0)
        return -1;

    /* git's exec-path: builtins become `git <sub>`, separate programs (remote-http...) are
     * copied with their libraries, scripts are copied as they are. */
    cd_strbuf ep = CD_STRBUF_INIT;
    char *argv[] = {(char *)git, "--exec-path", NULL};
    if (capture(argv, &ep, err) < 0) {
        cd_strbuf_done(&ep);
        return cd_error_wrap(err, "toolbox: ask `%s` for its exec path", git);
    }
    char *nl = strchr(cd_strbuf_str(&ep), '\n');
    if (nl)
        *nl = 0;
    /* Debian's exec-path holds its own copy of git with the builtins symlinked to it */
    struct stat gst, cst;
    stat(git, &gst);
    cleanup_free char *core_git = xasprintf("%s/git", cd_strbuf_str(&ep));
    if (stat(core_git, &cst) < 0)
        cst = gst;
    struct {
        ino_t ino;
        dev_t dev;
        char *name;
    } copied[64];
    size_t n_copied = 0;
    DIR *d = opendir(cd_strbuf_str(&ep));
    int rc = 0;
    if (d) {
        struct dirent *de;
        while (rc == 0 && (de = readdir(d))) {
            if (de->d_name[0] == '.' || !strcmp(de->d_name, "git"))
                continue;
            cleanup_free char *src = xasprintf("%s/%s", cd_strbuf_str(&ep), de->d_name);
            struct stat st;
            if (stat(src, &st) < 0 || !S_ISREG(st.st_mode))
                continue;
            bool builtin = (st.st_ino == gst.st_ino && st.st_dev == gst.st_dev) ||
                           (st.st_ino == cst.st_ino && st.st_dev == cst.st_dev);
            if (builtin && !strncmp(de->d_name, "git-", 4)) {
                cleanup_free char *sub = xasprintf("%s ", de->d_name + 4);
                rc = write_loader_wrapper(core, de->d_name, mnt, "git", sub, true, err);
            } else if (is_elf(src)) {
                /* one copy per inode: git-remote-http/https/ftp are the same program */
                const char *real = NULL;
                for (size_t i = 0; i < n_copied; i++)
                    if (copied[i].ino == st.st_ino && copied[i].dev == st.st_dev)
                        real = copied[i].name;
                if (!real) {
                    cleanup_free char *dst = xasprintf("%s/%s", libexec, de->d_name);
                    rc = copy_file(src, dst, 0755, err);
                    if (rc == 0)
                        rc = copy_libs(src, dir, err);
                    if (n_copied < sizeof copied / sizeof *copied) {
                        copied[n_copied].ino = st.st_ino;
                        copied[n_copied].dev = st.st_dev;
                        copied[n_copied++].name = xstrdup(de->d_name);
                    }
                    real = de->d_name;
                }
                if (rc == 0)
                    rc = write_loader_wrapper(core, de->d_name, mnt, real, "", true, err);
            } else {
                cleanup_free char *dst = xasprintf("%s/%s", core, de->d_name);
                rc = copy_file(src, dst, st.st_mode & 0755, err);
            }
        }
        closedir(d);
    }
    for (size_t i = 0; i < n_copied; i++)
        free(copied[i].name);
    cd_strbuf_done(&ep);
    return rc;
}

static int build(const cd_config *cfg, const char *dir, const char *agent, const char *git,
                 const char *helper, cd_error_t *err)
{
    const char *mnt = cfg->mount_dir ? cfg->mount_dir : "/opt/conductor/bin";
    if (cd_driver_mkdirs(dir, 0755, err) < 0)
        return -1;
    cleanup_free char *a = xasprintf("%s/conductor-agent", dir);
    if (copy_file(agent, a, 0755, err) < 0)
        return cd_error_wrap(err, "toolbox: the agent (set CONDUCTOR_AGENT?)");
    if (helper) {
        cleanup_free char *h = xasprintf("%s/gitlab-runner", dir);
        if (copy_file(helper, h, 0755, err) < 0)
            return -1;
    }
    if (git && build_git(git, dir, mnt, err) < 0)
        return -1;
    /* [helper] mode = container: helper images ship `gitlab-runner-helper`, the runner's
     * scripts call `gitlab-runner` (protocol doc §7.4) */
    cleanup_free char *shim = xasprintf("%s/helper-shim", dir);
    cleanup_free char *shim_bin = xasprintf("%s/gitlab-runner", shim);
    if (cd_driver_mkdirs(shim, 0755, err) < 0 ||
        write_text(shim_bin, "#!/bin/sh\nexec gitlab-runner-helper \"$@\"\n", 0755, err) < 0)
        return -1;
    return 0;
}

int cd_driver_toolbox(const cd_config *cfg, char **ret_dir, cd_error_t *err)
{
    cleanup_free char *agent = cd_driver_agent_path();
    if (!agent || access(agent, R_OK) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "conductor-agent not found at `%s`",
                        agent ? agent : "?");
    cleanup_free char *git = cfg->helper_git ? xstrdup(cfg->helper_git) : find_in_path("git");
    cleanup_free char *helper = cfg->helper_gitlab_runner ? xstrdup(cfg->helper_gitlab_runner)
                                                          : find_in_path("gitlab-runner");
    if (git && access(git, X_OK) < 0)
        return cd_error(err, CD_ERR_USAGE, errno, "helper git `%s`: %s", git, strerror(errno));
    if (helper && access(helper, R_OK) < 0)
        return cd_error(err, CD_ERR_USAGE, errno, "helper gitlab-runner `%s`: %s", helper,
                        strerror(errno));

    const char *mnt = cfg->mount_dir ? cfg->mount_dir : "/opt/conductor/bin";
    uint64_t h = 1469598103934665603ull;
    int fmt = TOOLBOX_FORMAT;
    h = fnv(h, &fmt, sizeof fmt);
    h = fnv(h, mnt, strlen(mnt));
    h = hash_file_id(h, agent);
    h = hash_file_id(h, git);
    h = hash_file_id(h, helper);

    const char *root = cd_driver_state_root();
    cleanup_free char *tdir = xasprintf("%s/toolbox", root);
    if (cd_driver_mkdirs(tdir, 0755, err) < 0)
        return -1;
    cleanup_free char *dir = xasprintf("%s/%016llx", tdir, (unsigned long long)h);
    struct stat st;
    if (stat(dir, &st) == 0) {
        utimensat(AT_FDCWD, dir, NULL, 0); /* "in use": `conductor gc` keeps recent toolboxes */
        *ret_dir = take_ptr(dir);
        return 0;
    }
    /* Build under a lock into a temp dir, then rename: concurrent prepares of the first jobs
     * on a host wait for one build instead of racing. */
    cleanup_free char *lockp = xasprintf("%s/.lock", tdir);
    cleanup_close int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "lock `%s`: %s", lockp, strerror(errno));
    if (stat(dir, &st) == 0) {
        *ret_dir = take_ptr(dir);
        return 0;
    }
    cleanup_free char *tmp = xasprintf("%s.tmp%d", dir, (int)getpid());
    cd_driver_rmtree(tmp, NULL);
    cd_debug("building the toolbox in %s", dir);
    if (build(cfg, tmp, agent, git, helper, err) < 0 || rename(tmp, dir) < 0) {
        if (!err || !err->msg)
            cd_error(err, CD_ERR_SYSTEM, errno, "toolbox: rename `%s`: %s", tmp, strerror(errno));
        cd_driver_rmtree(tmp, NULL);
        return -1;
    }
    *ret_dir = take_ptr(dir);
    return 0;
}
