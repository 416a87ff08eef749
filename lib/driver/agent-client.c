/* Client side of the agent protocol (agent-proto.h): send a stage, relay its output. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "driver/agent-proto.h"
#include "driver/driver-internal.h"
#include "util/cleanup.h"
#include "util/fdio.h"

static int send_frame(int fd, char type, const void *data, size_t len)
{
    unsigned char h[CD_AGENT_HEADER_LEN];
    cd_agent_put_header(h, type, (uint32_t)len);
    if (cd_write_all(fd, h, sizeof h) < 0)
        return -1;
    return len ? cd_write_all(fd, data, len) : 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int cd_agent_connect(const char *run_dir, cd_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cleanup_close int dirfd = -1;
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", run_dir, CD_AGENT_SOCKET_NAME);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        /* sun_path holds 108 bytes; a deep state root still works through the directory fd */
        dirfd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
            return cd_error(err, CD_ERR_NOTFOUND, errno, "agent run dir `%s`: %s", run_dir,
                            strerror(errno));
        snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd,
                 CD_AGENT_SOCKET_NAME);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(fd);
        /* not there / not listening: the caller may fall back to an engine exec */
        return cd_error(err, (e == ENOENT || e == ECONNREFUSED) ? CD_ERR_NOTFOUND : CD_ERR_SYSTEM,
                        e, "connect to the job agent in `%s`: %s", run_dir, strerror(e));
    }
    return fd;
}

int cd_agent_run(int fd, const cd_agent_request *req, int *ret_exit, cd_error_t *err)
{
    cleanup_free char *buf = NULL;
    if (req->path_prepend &&
        send_frame(fd, CD_AGENT_FRAME_PATH, req->path_prepend, strlen(req->path_prepend)) < 0)
        goto send_failed;
    for (size_t i = 0; req->env && req->env[i]; i++)
        if (send_frame(fd, CD_AGENT_FRAME_ENV, req->env[i], strlen(req->env[i])) < 0)
            goto send_failed;
    if (send_frame(fd, CD_AGENT_FRAME_SHELL, req->shell, strlen(req->shell)) < 0)
        goto send_failed;
    for (size_t off = 0; off < req->script_len;) {
        size_t n = req->script_len - off;
        if (n > CD_AGENT_MAX_FRAME)
            n = CD_AGENT_MAX_FRAME;
        if (send_frame(fd, CD_AGENT_FRAME_DATA, req->script + off, n) < 0)
            goto send_failed;
        off += n;
    }
    if (send_frame(fd, CD_AGENT_FRAME_RUN, NULL, 0) < 0)
        goto send_failed;

    /* ppoll with SIGTERM/SIGINT unblocked only while waiting: a signal arriving between the
     * flag check and the wait still wakes us (no lost wake-up). */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);

    buf = malloc(CD_AGENT_IO_CHUNK);
    if (!buf)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    int grace = req->kill_grace_ms > 0 ? req->kill_grace_ms : 1500;
    int stage = 0; /* 0 running, 1 TERM sent, 2 KILL sent */
    long deadline = 0;
    int rc = -1;
    for (;;) {
        if (req->terminate && *req->terminate && stage == 0) {
            unsigned char s = SIGTERM;
            send_frame(fd, CD_AGENT_FRAME_KILL, &s, 1);
            stage = 1;
            deadline = now_ms() + grace;
        }
        if (stage && now_ms() >= deadline) {
            if (stage == 1) {
                unsigned char s = SIGKILL;
                send_frame(fd, CD_AGENT_FRAME_KILL, &s, 1);
                stage = 2;
                deadline = now_ms() + 400;
            } else {
                *ret_exit = 128 + SIGKILL;
                rc = 0; /* we did what we could; the stage is reported as killed */
                break;
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct timespec ts, *tsp = NULL;
        if (stage) {
            long left = deadline - now_ms();
            if (left < 0)
                left = 0;
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (left % 1000) * 1000000L;
            tsp = &ts;
        }
        int r = ppoll(&p, 1, tsp, &waitmask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cd_error(err, CD_ERR_SYSTEM, errno, "poll: %s", strerror(errno));
            break;
        }
        if (r == 0)
            continue;
        unsigned char h[CD_AGENT_HEADER_LEN];
        if (cd_read_all(fd, h, sizeof h) < 0) {
            cd_error(err, CD_ERR_SYSTEM, 0,
                     "stage `%s`: the job agent closed the connection (container stopped?)",
                     req->stage);
            break;
        }
        uint32_t len = cd_agent_get_u32(h + 1);
        if (len > CD_AGENT_MAX_FRAME) {
            cd_error(err, CD_ERR_SYSTEM, 0, "stage `%s`: bad frame from the job agent", req->stage);
            break;
        }
        if (h[0] == CD_AGENT_FRAME_OUTPUT) {
            /* forward in pieces as they come: memory stays at one chunk */
            uint32_t left = len;
            int failed = 0;
            while (left) {
                size_t want = left < CD_AGENT_IO_CHUNK ? left : CD_AGENT_IO_CHUNK;
                ssize_t n = read(fd, buf, want);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    failed = 1;
                    break;
                }
                if (cd_write_all(req->out_fd, buf, (size_t)n) < 0) {
                    failed = 2;
                    break;
                }
                left -= (uint32_t)n;
            }
            if (failed == 1) {
                cd_error(err, CD_ERR_SYSTEM, 0, "stage `%s`: the job agent went away mid-frame",
                         req->stage);
                break;
            }
            if (failed == 2) {
                cd_error(err, CD_ERR_SYSTEM, errno, "stage `%s`: write the job log: %s", req->stage,
                         strerror(errno));
                break;
            }
            continue;
        }
        if (len > CD_AGENT_IO_CHUNK - 1 || cd_read_all(fd, buf, len) < 0) {
            cd_error(err, CD_ERR_SYSTEM, 0, "stage `%s`: short frame from the job agent",
                     req->stage);
            break;
        }
        if (h[0] == CD_AGENT_FRAME_EXIT && len == 4) {
            *ret_exit = (int)cd_agent_get_u32((unsigned char *)buf);
            rc = 0;
            break;
        }
        if (h[0] == CD_AGENT_FRAME_FAIL) {
            buf[len] = 0;
            cd_error(err, CD_ERR_SYSTEM, 0, "stage `%s`: the job agent could not start it: %s",
                     req->stage, buf);
            break;
        }
        cd_error(err, CD_ERR_SYSTEM, 0, "stage `%s`: unexpected frame from the job agent",
                 req->stage);
        break;
    }
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    return rc;

send_failed:
    return cd_error(err, CD_ERR_SYSTEM, errno, "stage `%s`: send to the job agent: %s", req->stage,
                    strerror(errno));
}
