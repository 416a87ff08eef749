/* The frames conductor-run reads from the job container's agent. The agent's socket lives in
 * a directory the job can write to, so a hostile job could answer in its place: the client's
 * frame parser (lib/driver/agent-client.c) must stay within bounds whatever arrives. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "fuzz.h"
#include "util/error.h"

#define MAX_INPUT (64u << 10) /* fits the socket buffer: the write below never blocks */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (size && write(sv[1], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    shutdown(sv[1], SHUT_WR); /* EOF after the input, like an agent that went away */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cd_agent_request req = {.stage = "fuzz", .shell = "auto", .script = "true\n",
                            .script_len = 5, .out_fd = null};
    int code = 0;
    cd_error_t err = {0};
    cd_agent_run(sv[0], &req, &code, &err);
    cd_error_clear(&err);
    close(null);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
