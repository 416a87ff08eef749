/* Docker Engine REST API client (works unchanged against Docker 20.10 and Podman 4.3).
 *
 * One cd_engine is one connection to one engine: a libcurl easy handle reused for every call
 * (keep-alive on the unix socket), the negotiated API version, and the server's identity.
 * Not thread-safe: use one cd_engine per thread.
 *
 * Conventions for every call below:
 * - Returns 0 (or a documented non-negative value) on success, -1 on failure with *err filled.
 * - Paths given to cd_engine_request() are unversioned ("/containers/json"); the client prefixes
 *   "/v1.xx". Messages name them the same way, without the query string:
 *       POST /containers/create: HTTP 404: no such image: `alpine:x`
 *   (the text after "HTTP nnn: " is the engine's own "message" field).
 * - Error kinds: HTTP 404 → CD_ERR_NOTFOUND; any other HTTP error status → CD_ERR_SYSTEM with
 *   err->status set to the HTTP status, so callers can reclassify (e.g. a pull answered 401/403
 *   or "manifest unknown" is the job's fault: the caller turns it into CD_ERR_BUILD).
 *   Transport failures (socket missing, refused, reset, timeout) → CD_ERR_SYSTEM carrying
 *   libcurl's error text. A malformed or oversized engine reply (bad JSON, a cut exec frame, a
 *   corrupt tar) is engine trouble too: CD_ERR_SYSTEM with errnum EPROTO (or E2BIG). (CD_ERR_DATA
 *   maps to a build failure, which an engine's misbehaviour is not.)
 * - Output strings/JSON are owned by the caller (free()/json_decref()) unless said otherwise.
 * - Identifiers (container, exec, image, volume, network) are passed as given; they are
 *   URL-escaped by the client. */
#ifndef CD_ENGINE_ENGINE_H
#define CD_ENGINE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "util/error.h"

typedef struct cd_engine cd_engine;

/* The API version we speak by default; negotiation picks min(server ApiVersion, this). An
 * engine that refuses it as too old (Docker 29 wants 1.44 or newer) gets the minimum it
 * names, up to CD_ENGINE_API_VERSION_NEWEST: our requests use nothing those versions
 * changed or removed. */
#define CD_ENGINE_API_VERSION_MAX "1.41"
#define CD_ENGINE_API_VERSION_NEWEST "1.52"

typedef enum {
    CD_ENGINE_UNKNOWN = 0,
    CD_ENGINE_DOCKER,
    CD_ENGINE_PODMAN,
} cd_engine_kind;

typedef struct {
    /* "unix:///path", a bare "/path", "tcp://host:port" (or "http://", "https://").
     * NULL → cd_engine_endpoint_resolve(NULL). */
    const char *endpoint;
    /* tcp:// only. Directory holding ca.pem, cert.pem, key.pem (as DOCKER_CERT_PATH).
     * NULL → $DOCKER_CERT_PATH. TLS is used when a cert dir is known or $DOCKER_TLS_VERIFY is
     * non-empty, or the endpoint says https://. */
    const char *cert_path;
    /* tcp:// + TLS: skip verifying the server against ca.pem (docker --tls without --tlsverify).
     * Default false: verify. */
    bool tls_no_verify;
    /* Force an API version ("1.41") and skip GET /version. NULL → negotiate. */
    const char *api_version;
    /* Log libcurl traffic (headers only, Authorization/X-Registry-Auth redacted, never bodies)
     * at CD_LOG_DEBUG. Also on when $CONDUCTOR_DEBUG=1. */
    bool debug;
    /* Connect timeout in ms (0 → 10000). Streams (exec output, wait, pull, archive) have no
     * total timeout; ordinary JSON calls are bounded by request_timeout_ms (0 → 300000). */
    long connect_timeout_ms;
    long request_timeout_ms;
    /* When non-NULL and *interrupt becomes non-zero (e.g. set by a SIGTERM handler), a running
     * call gives up within ~100 ms with CD_ERR_SYSTEM, errnum EINTR. */
    volatile sig_atomic_t *interrupt;
} cd_engine_options;

/* The endpoint docker/podman users expect: explicit_value if non-empty, else $DOCKER_HOST,
 * else $CONTAINER_HOST, else /var/run/docker.sock if it is a socket, else
 * /run/podman/podman.sock if it is a socket. *ret_endpoint is a malloc'd URI
 * ("unix:///var/run/docker.sock"). Nothing found → CD_ERR_NOTFOUND naming what was tried. */
int cd_engine_endpoint_resolve(const char *explicit_value, char **ret_endpoint, cd_error_t *err);

/* Connect and negotiate (GET /version) unless opts->api_version is set. opts may be NULL.
 * Returns NULL on failure (an unreachable engine is CD_ERR_SYSTEM). */
cd_engine *cd_engine_open(const cd_engine_options *opts, cd_error_t *err);
/* Accepts NULL. Returns NULL. */
cd_engine *cd_engine_close(cd_engine *e);

/* Borrowed strings, valid until close. */
const char *cd_engine_endpoint(const cd_engine *e);    /* normalised, e.g. unix:///run/x.sock */
const char *cd_engine_api_version(const cd_engine *e); /* "1.41" */
/* "Podman Engine" or "Docker Engine" (from /version Components[0].Name; Docker says "Engine").
 * "" when the version was forced and never asked. */
const char *cd_engine_server_name(const cd_engine *e);
const char *cd_engine_server_version(const cd_engine *e); /* "4.3.1", "20.10.24+dfsg1" */
cd_engine_kind cd_engine_get_kind(const cd_engine *e);
void cd_engine_set_debug(cd_engine *e, bool on);

/* ---------------------------------------------------------------------------------------------
 * Raw request. method "GET"/"POST"/"DELETE"/..., path unversioned with an already-escaped query.
 * body (borrowed, may be NULL) is sent as application/json. On any 2xx/3xx answer returns the
 * HTTP status and, if ret_json != NULL, the parsed reply (NULL for an empty body). A non-JSON
 * 2xx body is CD_ERR_SYSTEM/EPROTO. Replies are bounded by CD_MAX_API_RESPONSE. */
int cd_engine_request(cd_engine *e, const char *method, const char *path, const json_t *body,
                      json_t **ret_json, cd_error_t *err);
/* URL-escape one query value/path segment. malloc'd; NULL only on OOM. */
char *cd_engine_escape(const char *s);

/* ---------------------------------------------------------------------------------------------
 * Images */

/* 0 if present (and *ret_info = GET /images/{name}/json when ret_info != NULL), -1 with
 * CD_ERR_NOTFOUND if absent. */
int cd_engine_image_inspect(cd_engine *e, const char *image, json_t **ret_info, cd_error_t *err);

/* Registry credentials for a pull; sent as X-Registry-Auth (base64url of
 * {"username","password","serveraddress"}), never logged. */
typedef struct {
    const char *username;
    const char *password;
    const char *serveraddress; /* registry host[:port]; may be NULL */
} cd_engine_auth;

/* Called for each JSON progress line of a pull ({"status":..,"id":..,"progress":..}).
 * line is borrowed. Return < 0 to abort the pull (the pull then fails with CD_ERR_SYSTEM,
 * errnum ECANCELED). */
typedef int (*cd_engine_progress_fn)(const json_t *line, void *userdata);

/* POST /images/create?fromImage=<repo>&tag=<tag|digest>. The reference is split here so that
 * an untagged name pulls ":latest", never every tag. auth and progress may be NULL.
 * Every failure reads "pull `ref`: POST /images/create: <cause>". An {"error": "..."} line
 * inside the 200 stream becomes CD_ERR_SYSTEM with err->status = 200; an error status before
 * the stream keeps its status (Docker answers a refused login with HTTP 500, Podman with an
 * in-stream error: see docs/engine.md). Callers decide whether it is the job's fault
 * (unauthorized / manifest unknown / not found → BUILD) from the text, not the status. */
int cd_engine_image_pull(cd_engine *e, const char *image, const cd_engine_auth *auth,
                         cd_engine_progress_fn progress, void *userdata, cd_error_t *err);

/* ---------------------------------------------------------------------------------------------
 * Containers. "id" parameters accept an id or a name. */

/* POST /containers/create?name=<name> with spec (borrowed; the Docker create body: Image,
 * Cmd, Labels, HostConfig, ...). name may be NULL. *ret_id is the new container's id. */
int cd_engine_container_create(cd_engine *e, const char *name, const json_t *spec, char **ret_id,
                               cd_error_t *err);
/* Already running (HTTP 304) is success. */
int cd_engine_container_start(cd_engine *e, const char *id, cd_error_t *err);
/* Blocks until the container stops (no timeout; see options.interrupt). *ret_status is its exit
 * status. */
int cd_engine_container_wait(cd_engine *e, const char *id, int *ret_status, cd_error_t *err);
/* signal like "SIGKILL", "TERM", "9"; NULL → SIGKILL. A container that is not running (409)
 * is success; a missing one is CD_ERR_NOTFOUND. */
int cd_engine_container_kill(cd_engine *e, const char *id, const char *signal, cd_error_t *err);
/* DELETE ?force=&v=. Already gone (404) is success. */
int cd_engine_container_remove(cd_engine *e, const char *id, bool force, bool volumes,
                               cd_error_t *err);
/* GET /containers/{id}/json. Missing → CD_ERR_NOTFOUND. */
int cd_engine_container_inspect(cd_engine *e, const char *id, json_t **ret_info, cd_error_t *err);
/* GET /containers/json?all=true&filters={"label":[...]}. labels: NULL-terminated array of
 * "key" or "key=value" (all must match); NULL or empty → every container. *ret_list is the
 * engine's JSON array (Id, Names, Labels, State, Created, ...). */
int cd_engine_container_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                             cd_error_t *err);

/* ---------------------------------------------------------------------------------------------
 * Exec */

typedef struct {
    const char *const *cmd; /* argv, NULL-terminated, required */
    const char *const *env; /* "KEY=value", NULL-terminated; NULL → none. Values never logged. */
    const char *user;       /* NULL → image default */
    const char *workdir;    /* NULL → container default */
    bool attach_stdin;      /* must be true to pass stdin to cd_engine_exec_start */
    bool attach_stdout;
    bool attach_stderr;
} cd_engine_exec_config;

/* POST /containers/{id}/exec. *ret_exec_id is the exec's id. */
int cd_engine_exec_create(cd_engine *e, const char *container, const cd_engine_exec_config *cfg,
                          char **ret_exec_id, cd_error_t *err);

/* Output chunk of an exec: stream 1 = stdout, 2 = stderr. data is borrowed and only valid
 * during the call; chunks are delivered as they arrive (not line-aligned, never the whole
 * output at once: memory use is constant). Return < 0 to abort (→ CD_ERR_SYSTEM, ECANCELED). */
typedef int (*cd_engine_output_fn)(int stream, const char *data, size_t len, void *userdata);

/* POST /exec/{id}/start and demultiplex its stream until the process ends.
 * stdin_data (may be NULL) is written to the process's stdin, then stdin is closed; this needs
 * attach_stdin and uses the connection hijack (Connection: Upgrade / Upgrade: tcp), which works
 * on unix sockets and plain tcp; over TLS it is refused with CD_ERR_USAGE (copy the input in
 * with cd_engine_archive_put instead). output may be NULL (output discarded).
 * A truncated frame at the end of the stream is CD_ERR_SYSTEM/EPROTO. The exit code is not returned
 * here: call cd_engine_exec_inspect. */
int cd_engine_exec_start(cd_engine *e, const char *exec_id, const void *stdin_data,
                         size_t stdin_len, cd_engine_output_fn output, void *userdata,
                         cd_error_t *err);

typedef struct {
    bool running;
    int exit_code; /* valid when !running */
    long pid;      /* host pid as the engine reports it (0 if unknown) */
} cd_engine_exec_state;

/* GET /exec/{id}/json. */
int cd_engine_exec_inspect(cd_engine *e, const char *exec_id, cd_engine_exec_state *ret_state,
                           cd_error_t *err);

/* create + start + inspect in one call; *ret_exit_code is the process's exit code. */
int cd_engine_exec_run(cd_engine *e, const char *container, const cd_engine_exec_config *cfg,
                       const void *stdin_data, size_t stdin_len, cd_engine_output_fn output,
                       void *userdata, int *ret_exit_code, cd_error_t *err);

/* ---------------------------------------------------------------------------------------------
 * Archive (tar streams built and parsed with libarchive) */

typedef enum {
    CD_ENGINE_ENTRY_FILE = 0,
    CD_ENGINE_ENTRY_DIR,
    CD_ENGINE_ENTRY_SYMLINK,
    CD_ENGINE_ENTRY_HARDLINK,
    CD_ENGINE_ENTRY_OTHER, /* fifo, device, socket: reported, never materialised */
} cd_engine_entry_type;

/* One entry to put. Exactly one source: data/len (in-memory file), host_path (a regular host
 * file, streamed, not loaded into memory), link_target (a symlink), or type DIR. */
typedef struct {
    const char *name;          /* path inside the tar, relative ("bin/tool", "scripts/") */
    cd_engine_entry_type type; /* FILE, DIR or SYMLINK */
    const void *data;
    size_t len;
    const char *host_path;
    const char *link_target;
    mode_t mode; /* permission bits; 0 → 0644 for files (host mode for host_path), 0755 dirs */
    uid_t uid;   /* owner inside the container (default 0) */
    gid_t gid;
} cd_engine_put_entry;

/* PUT /containers/{id}/archive?path=<dest_dir>: dest_dir must exist in the container.
 * The tar is spooled to an unlinked temp file ($TMPDIR) and streamed, so host files of any size
 * use constant memory. */
int cd_engine_archive_put(cd_engine *e, const char *container, const char *dest_dir,
                          const cd_engine_put_entry *entries, size_t n_entries, cd_error_t *err);

typedef struct {
    const char *name; /* as in the tar: the base name of path is the first component */
    cd_engine_entry_type type;
    int64_t size;            /* FILE only, else 0 */
    mode_t mode;             /* permission bits */
    const char *link_target; /* SYMLINK/HARDLINK only, else NULL; never followed */
} cd_engine_get_entry;

typedef struct cd_engine_reader cd_engine_reader;

/* Read the current FILE entry's data: returns bytes read, 0 at its end, -1 on error. */
ssize_t cd_engine_reader_read(cd_engine_reader *r, void *buf, size_t len, cd_error_t *err);

/* Called for each entry; entry and reader are borrowed for the call's duration. Unread data is
 * skipped. Return < 0 to stop (→ CD_ERR_SYSTEM, ECANCELED, unless the callback filled err
 * itself, which it may do through the err it got). */
typedef int (*cd_engine_entry_fn)(const cd_engine_get_entry *entry, cd_engine_reader *reader,
                                  void *userdata, cd_error_t *err);

/* GET /containers/{id}/archive?path=<path>, parsed as it streams (constant memory). Nothing is
 * written to the host. Missing path → CD_ERR_NOTFOUND. A corrupt tar → CD_ERR_SYSTEM/EPROTO. */
int cd_engine_archive_get(cd_engine *e, const char *container, const char *path,
                          cd_engine_entry_fn fn, void *userdata, cd_error_t *err);

/* ---------------------------------------------------------------------------------------------
 * Volumes and networks (labels: NULL-terminated "key=value" array; for list: "key" or
 * "key=value" filters, all must match). Remove of a missing one is success. */
int cd_engine_volume_create(cd_engine *e, const char *name, const char *const *labels,
                            cd_error_t *err);
int cd_engine_volume_remove(cd_engine *e, const char *name, bool force, cd_error_t *err);
/* *ret_list: JSON array of volume objects (Name, Labels, ...). */
int cd_engine_volume_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                          cd_error_t *err);

/* driver NULL → "bridge". *ret_id may be NULL. */
int cd_engine_network_create(cd_engine *e, const char *name, const char *driver,
                             const char *const *labels, char **ret_id, cd_error_t *err);
int cd_engine_network_remove(cd_engine *e, const char *id, cd_error_t *err);
/* *ret_list: JSON array of network objects (Id, Name, Labels, ...). */
int cd_engine_network_list(cd_engine *e, const char *const *labels, json_t **ret_list,
                           cd_error_t *err);

#endif
