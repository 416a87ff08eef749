/* conductor-agent: PID 1 of every job container (static, libc only).
 *
 *   conductor-agent <socket-path>
 *
 * It listens on a unix socket in a per-job host directory that is bind-mounted into the
 * container, so conductor-run on the host reaches it without an engine exec round trip
 * (~300 ms each). Each connection runs one stage: the script arrives over the socket, runs
 * under bash (or sh) in its own process group, and the merged output streams back with the
 * exit status at the end. A kill frame (or the client vanishing) signals the whole group:
 * signals never cross an engine exec, this is how a cancelled job stops inside the container.
 * As PID 1 it also reaps orphans and exits on SIGTERM (engine stop). Protocol:
 * lib/driver/agent-proto.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/agent-proto.h"
#include "util/fdio.h"

static volatile sig_atomic_t stop_requested;
static int chld_pipe[2] = {-1, -1}; /* self-pipe: SIGCHLD wakes poll() in a stage handler */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("conductor-agent: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int send_frame(int fd, char type, const void *data, uint32_t len)
{
    unsigned char h[CD_AGENT_HEADER_LEN];
    cd_agent_put_header(h, type, len);
    /* header and payload in one syscall: output frames are the hot path */
    struct iovec iov[2] = {{h, sizeof h}, {(void *)data, len}};
    ssize_t n;
    do
        n = writev(fd, iov, len ? 2 : 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n == sizeof h + len)
        return 0;
    if ((size_t)n < sizeof h) {
        if (cd_write_all(fd, h + n, sizeof h - (size_t)n) < 0)
            return -1;
        n = sizeof h;
    }
    return cd_write_all(fd, (const char *)data + ((size_t)n - sizeof h), len - ((size_t)n - sizeof h));
}

static void send_fail(int fd, const char *msg)
{
    send_frame(fd, CD_AGENT_FRAME_FAIL, msg, (uint32_t)strlen(msg));
}

/* Is `name` an executable in $PATH (or the usual places when PATH is unset)? */
static int have_program(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n && n + strlen(name) + 2 < sizeof buf) {
            memcpy(buf, path, n);
            buf[n] = '/';
            strcpy(buf + n + 1, name);
            if (access(buf, X_OK) == 0)
                return 1;
        }
        path += n + (end ? 1 : 0);
    }
    return 0;
}

static void on_chld_stage(int sig)
{
    (void)sig;
    int saved = errno;
    if (chld_pipe[1] >= 0)
        (void)!write(chld_pipe[1], "c", 1);
    errno = saved;
}

/* Exec the shell with the script on stdin (a sealed memfd: seekable, so bash reads it the
 * way it reads a file) and stdout+stderr on the output pipe. Never returns. */
static void exec_stage(const char *shell, int script_fd, int out_fd, char **env, size_t nenv)
{
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (dup2(script_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(127);
    for (size_t i = 0; i < nenv; i++)
        putenv(env[i]);
    execlp(shell, shell, (char *)NULL);
    dprintf(2, "conductor-agent: cannot run `%s`: %s\n", shell, strerror(errno));
    _exit(127);
}

/* One connection = one stage. Runs in its own process (forked from the listener). */
static void serve_stage(int conn)
{
    char shell[64] = "auto";
    char **env = NULL;
    size_t nenv = 0;
    size_t script_len = 0;
    int script_fd = memfd_create("conductor-stage", MFD_CLOEXEC);
    if (script_fd < 0) {
        send_fail(conn, "memfd_create failed");
        _exit(1);
    }
    char *buf = malloc(CD_AGENT_MAX_FRAME);
    if (!buf)
        _exit(1);

    for (;;) {
        unsigned char h[CD_AGENT_HEADER_LEN];
        if (cd_read_all(conn, h, sizeof h) < 0)
            _exit(0); /* client went away before starting anything */
        uint32_t len = cd_agent_get_u32(h + 1);
        if (len > CD_AGENT_MAX_FRAME) {
            send_fail(conn, "frame too large");
            _exit(1);
        }
        if (len && cd_read_all(conn, buf, len) < 0)
            _exit(0);
        if (h[0] == CD_AGENT_FRAME_RUN)
            break;
        switch (h[0]) {
        case CD_AGENT_FRAME_DATA:
            script_len += len;
            if (script_len > CD_AGENT_MAX_SCRIPT || cd_write_all(script_fd, buf, len) < 0) {
                send_fail(conn, "script too large or cannot be stored");
                _exit(1);
            }
            break;
        case CD_AGENT_FRAME_SHELL:
            if (len >= sizeof shell) {
                send_fail(conn, "shell name too long");
                _exit(1);
            }
            memcpy(shell, buf, len);
            shell[len] = 0;
            break;
        case CD_AGENT_FRAME_PATH: {
            /* helper stages: the toolbox first, the image's own PATH after it */
            const char *old = getenv("PATH");
            if (!old || !*old)
                old = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
            size_t olen = strlen(old);
            char *kv = malloc(5 + len + 1 + olen + 1);
            char **n = realloc(env, (nenv + 1) * sizeof *env);
            if (!n || !kv)
                _exit(1);
            env = n;
            memcpy(kv, "PATH=", 5);
            memcpy(kv + 5, buf, len);
            kv[5 + len] = ':';
            memcpy(kv + 6 + len, old, olen + 1);
            env[nenv++] = kv;
            break;
        }
        case CD_AGENT_FRAME_ENV: {
            char **n = realloc(env, (nenv + 1) * sizeof *env);
            char *kv = malloc(len + 1);
            if (!n || !kv)
                _exit(1);
            env = n;
            memcpy(kv, buf, len);
            kv[len] = 0;
            env[nenv++] = kv;
            break;
        }
        default:
            send_fail(conn, "unexpected frame before run");
            _exit(1);
        }
    }
    if (lseek(script_fd, 0, SEEK_SET) < 0)
        _exit(1);
    /* Apply the extra environment here too so the bash lookup honours a PATH override. */
    for (size_t i = 0; i < nenv; i++)
        putenv(env[i]);
    if (!strcmp(shell, "auto"))
        strcpy(shell, have_program("bash") ? "bash" : "sh");

    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        send_fail(conn, "pipe failed");
        _exit(1);
    }
    struct sigaction sa = {.sa_handler = on_chld_stage, .sa_flags = SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        send_fail(conn, "fork failed");
        _exit(1);
    }
    if (pid == 0)
        exec_stage(shell, script_fd, out[1], env, nenv);
    setpgid(pid, pid); /* both sides set it: no race with an early kill frame */
    close(out[1]);
    close(script_fd);

    int status = 0, exited = 0, out_open = 1, conn_open = 1, drains = 0;
    unsigned char kh[CD_AGENT_HEADER_LEN];
    size_t khave = 0;
    while (!exited || out_open) {
        /* a background process that keeps writing after the shell exited gets 64 more reads,
         * not an endless stage */
        if (exited && ++drains > 64)
            break;
        struct pollfd p[3] = {
            {.fd = out_open ? out[0] : -1, .events = POLLIN},
            {.fd = conn_open ? conn : -1, .events = POLLIN},
            {.fd = chld_pipe[0], .events = POLLIN},
        };
        /* Once the shell is gone, only drain what is already in the pipe: a background
         * process holding stdout open must not keep the stage alive. */
        int r = poll(p, 3, exited ? 0 : -1);
        if (r < 0 && errno != EINTR)
            break;
        if (exited && r == 0)
            break;
        if (p[0].revents) {
            ssize_t n = read(out[0], buf, CD_AGENT_IO_CHUNK);
            if (n > 0) {
                if (send_frame(conn, CD_AGENT_FRAME_OUTPUT, buf, (uint32_t)n) < 0) {
                    kill(-pid, SIGKILL); /* nobody is listening: stop the stage */
                    conn_open = 0;
                }
            } else if (n == 0 || errno != EINTR) {
                out_open = 0;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(conn, kh + khave, sizeof kh - khave);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                kill(-pid, SIGKILL);
                conn_open = 0;
            } else if ((khave += (size_t)n) == sizeof kh) {
                khave = 0;
                uint32_t len = cd_agent_get_u32(kh + 1);
                unsigned char sig = 0;
                if (len > CD_AGENT_MAX_FRAME || (len && cd_read_all(conn, buf, len) < 0)) {
                    kill(-pid, SIGKILL);
                    conn_open = 0;
                } else if (kh[0] == CD_AGENT_FRAME_KILL && len >= 1) {
                    sig = (unsigned char)buf[0];
                    kill(-pid, sig);
                }
            }
        }
        if (p[2].revents) {
            char drain[64];
            while (read(chld_pipe[0], drain, sizeof drain) > 0)
                ;
        }
        if (!exited && waitpid(pid, &status, WNOHANG) == pid)
            exited = 1;
    }
    if (!exited)
        waitpid(pid, &status, 0);
    uint32_t code =
        WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) : 128u + (uint32_t)WTERMSIG(status);
    unsigned char c[4] = {(unsigned char)(code >> 24), (unsigned char)(code >> 16),
                          (unsigned char)(code >> 8), (unsigned char)code};
    if (conn_open)
        send_frame(conn, CD_AGENT_FRAME_EXIT, c, 4);
    _exit(0);
}

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_chld_main(int sig)
{
    (void)sig; /* only interrupts poll(); reaping happens in the loop */
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] != '/')
        die("usage: conductor-agent <absolute-socket-path>");
    const char *path = argv[1];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        die("socket path too long: %s", path);
    strcpy(addr.sun_path, path);

    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_chld_main;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Bind under a temporary name and rename: the client treats the socket's existence as
     * "ready", so it must never see one that is not listening yet. */
    char tmp[sizeof addr.sun_path + 8];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_un taddr = {.sun_family = AF_UNIX};
    if (strlen(tmp) >= sizeof taddr.sun_path)
        die("socket path too long: %s", tmp);
    strcpy(taddr.sun_path, tmp);
    unlink(tmp);
    mode_t old = umask(0077);
    if (bind(ls, (struct sockaddr *)&taddr, sizeof taddr) < 0)
        die("bind %s: %s", tmp, strerror(errno));
    umask(old);
    if (listen(ls, 16) < 0)
        die("listen: %s", strerror(errno));
    if (rename(tmp, path) < 0)
        die("rename %s: %s", tmp, strerror(errno));

    while (!stop_requested) {
        struct pollfd p = {.fd = ls, .events = POLLIN};
        int r = poll(&p, 1, -1);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* PID 1 duty: reap stage handlers and orphans */
        if (r <= 0)
            continue;
        int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(ls);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            serve_stage(conn);
        }
        close(conn);
    }
    unlink(path);
    return 0;
}
