/* The wire protocol between conductor-run (client) and conductor-agent (PID 1 of the job
 * container), over a unix socket in a per-job host directory bind-mounted into the container.
 *
 * Every message is a frame: type (1 byte), payload length (4 bytes, big-endian), payload.
 *   client → agent, before the run:  'V' "KEY=VALUE" extra environment (any number)
 *                                     'P' a directory to put in front of the container's PATH
 *                                     'H' shell: "auto" (bash if present, else sh), "bash", "sh"
 *                                     'D' a chunk of the stage script (any number)
 *                                     'R' start the stage (empty payload)
 *   client → agent, during the run:  'K' one byte: a signal for the stage's process group
 *   agent → client:                  'O' output bytes (stdout and stderr merged, in order)
 *                                     'X' 4 bytes big-endian: exit code (128+N if killed by N)
 *                                     'F' text: the stage could not be started
 * A client that disconnects before 'X' gets its stage killed (SIGKILL to the group): a
 * conductor-run that dies must not leave the job's script running.
 * Header-only: included by the static agent (libc only) and by lib/driver. */
#ifndef CD_DRIVER_AGENT_PROTO_H
#define CD_DRIVER_AGENT_PROTO_H

#include <stdint.h>

#define CD_AGENT_FRAME_ENV 'V'
#define CD_AGENT_FRAME_SHELL 'H'
#define CD_AGENT_FRAME_PATH 'P'
#define CD_AGENT_FRAME_DATA 'D'
#define CD_AGENT_FRAME_RUN 'R'
#define CD_AGENT_FRAME_KILL 'K'
#define CD_AGENT_FRAME_OUTPUT 'O'
#define CD_AGENT_FRAME_EXIT 'X'
#define CD_AGENT_FRAME_FAIL 'F'

#define CD_AGENT_HEADER_LEN 5
#define CD_AGENT_MAX_FRAME (1u << 20)   /* one frame's payload */
#define CD_AGENT_MAX_SCRIPT (64u << 20) /* a whole stage script (runner scripts are KiB–MiB) */
#define CD_AGENT_IO_CHUNK (128u << 10)  /* output read size: large reads keep relay cheap */

/* Paths inside the job container. The run dir is the per-job host directory. */
#define CD_AGENT_RUN_DIR "/.conductor"
#define CD_AGENT_SOCKET_NAME "agent.sock"
#define CD_AGENT_BIN_PATH "/.conductor-bin/conductor-agent"

static inline void cd_agent_put_header(unsigned char *h, char type, uint32_t len)
{
    h[0] = (unsigned char)type;
    h[1] = (unsigned char)(len >> 24);
    h[2] = (unsigned char)(len >> 16);
    h[3] = (unsigned char)(len >> 8);
    h[4] = (unsigned char)len;
}

static inline uint32_t cd_agent_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#endif
