/* protocol/engine-<scenario>: the engine client against fake_engine.py, which checks the exact
 * requests (scenarios/<scenario>.json) and answers with canned replies and errors. Here we
 * assert what the client makes of those replies, down to the error messages. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"
#include "tap.h"
#include "util/log.h"
#include "util/strbuf.h"

static char dir[256], sock[300], logpath[300], portfile[300];
static pid_t fake_pid = -1;
/* Debian's interpreter when there is one: version-manager shims start slowly under load */
static const char *python = "python3";

static void remove_dir(void)
{
    char rm[400];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm) != 0)
        printf("# could not remove %s\n", dir);
}

static void fake_start(const char *scenario, bool tcp, const char *certs)
{
    const char *src = getenv("CD_SOURCE_DIR");
    char script[1024], scen[1024];
    snprintf(script, sizeof(script), "%s/tests/engine/fake_engine.py", src ? src : ".");
    snprintf(scen, sizeof(scen), "%s/tests/engine/scenarios/%s.json", src ? src : ".", scenario);
    snprintf(sock, sizeof(sock), "%s/engine.sock", dir);
    snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, scenario);
    snprintf(portfile, sizeof(portfile), "%s/port", dir);
    unlink(portfile);
    char tcparg[320];
    snprintf(tcparg, sizeof(tcparg), "tcp:%s", portfile);
    fake_pid = fork();
    if (fake_pid == 0) {
        execlp(python, python, script, tcp ? tcparg : sock, scen, logpath, certs, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000; i++) { /* python startup: seconds on a loaded machine */
        struct stat st;
        if (stat(tcp ? portfile : sock, &st) == 0)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    printf("Bail out! fake engine did not start\n");
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, NULL, 0);
    remove_dir();
    exit(1);
}

/* Stop the fake by its pid and check every scripted exchange happened exactly as expected. */
static void fake_stop_and_check(void)
{
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, NULL, 0);
    fake_pid = -1;
    cd_strbuf log = CD_STRBUF_INIT;
    cd_strbuf_read_file(&log, logpath, 1 << 20);
    const char *s = cd_strbuf_str(&log);
    int served = 0;
    for (const char *p = s; (p = strstr(p, "\nok ")); p++)
        served++;
    bool clean = !strstr(s, "MISMATCH") && !strstr(s, "unused");
    ok(clean, "fake engine saw exactly the scripted requests (%d served)", served);
    if (!clean)
        printf("# fake engine log:\n# %s\n", s);
    cd_strbuf_done(&log);
}

static cd_engine *open_forced(const char *version, cd_error_t *err)
{
    cd_engine_options o = {.endpoint = sock, .api_version = version};
    return cd_engine_open(&o, err);
}

/* ---- version negotiation ---- */
static void scenario_version(void)
{
    cd_error_t err = {0};
    cd_engine_options o = {.endpoint = sock};
    cd_engine *e = cd_engine_open(&o, &err);
    ok(e != NULL, "open negotiates");
    is_str(cd_engine_api_version(e), "1.40", "older server: its version is used");
    is_str(cd_engine_server_name(e), "Docker Engine", "Docker's component \"Engine\" named");
    is_str(cd_engine_server_version(e), "19.03.15", "server version");
    is_int(cd_engine_get_kind(e), CD_ENGINE_DOCKER, "kind docker");
    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), 0, "list uses the negotiated prefix");
    ok(json_is_array(l) && json_array_size(l) == 0, "empty list");
    json_decref(l);
    cd_engine_close(e);

    char uri[400];
    snprintf(uri, sizeof(uri), "unix://%s", sock);
    o.endpoint = uri;
    e = cd_engine_open(&o, &err);
    is_str(cd_engine_api_version(e), "1.41", "newer server: capped at 1.41");
    is_str(cd_engine_server_name(e), "Podman Engine", "podman named");
    is_int(cd_engine_get_kind(e), CD_ENGINE_PODMAN, "kind podman");
    is_str(cd_engine_endpoint(e), uri, "unix:// endpoint kept");
    const char *labels[] = {"a=b", "c", NULL};
    is_int(cd_engine_container_list(e, labels, &l, &err), 0, "list by labels");
    is_int(json_array_size(l), 1, "one container");
    json_decref(l);
    cd_engine_close(e);

    e = cd_engine_open(&o, &err);
    ok(!e, "no ApiVersion in /version fails");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (engine trouble)");
    is_int(err.errnum, EPROTO, "... EPROTO");
    has_str(err.msg, "GET /version: no valid ApiVersion", "... says so");
    cd_error_clear(&err);

    e = cd_engine_open(&o, &err);
    ok(!e, "/version answering 500 fails");
    has_str(err.msg, "engine `unix:///", "... names the engine");
    has_str(err.msg, "GET /version: HTTP 500: engine is starting", "... with the engine's text");
    is_int(err.status, 500, "... status recorded");
    cd_error_clear(&err);
    fake_stop_and_check();
}

/* ---- an engine whose minimum API version is above ours (Docker 29: 1.44) ---- */
static void scenario_apiversion(void)
{
    cd_error_t err = {0};
    cd_engine *e = open_forced("1.41", &err);
    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), 0,
           "refused as too old: sent again with the engine's minimum");
    is_int(json_array_size(l), 1, "... and its answer used");
    json_decref(l);
    is_str(cd_engine_api_version(e), "1.44", "the engine's minimum is kept");
    is_int(cd_engine_container_remove(e, "c1", true, true, &err), 0, "later requests use it");
    cd_engine_close(e);

    e = open_forced("1.41", &err);
    is_int(cd_engine_container_list(e, NULL, &l, &err), -1, "a minimum above what we speak");
    has_str(err.msg, "HTTP 400: client version 1.41 is too old. Minimum supported API version "
                     "is 1.99", "... fails with the engine's words");
    is_int(err.kind, CD_ERR_SYSTEM, "... as engine trouble");
    cd_error_clear(&err);
    cd_engine_close(e);

    cd_engine_options o = {.endpoint = sock};
    e = cd_engine_open(&o, &err);
    ok(e != NULL, "negotiation with MinAPIVersion 1.44 opens");
    is_str(cd_engine_api_version(e), "1.44", "... at the engine's minimum");
    cd_engine_close(e);
    e = cd_engine_open(&o, &err);
    ok(!e, "an engine that needs more than we speak");
    has_str(err.msg, "needs API version 1.55 or newer, we speak up to " CD_ENGINE_API_VERSION_NEWEST,
            "... says so");
    cd_error_clear(&err);
    fake_stop_and_check();
}

/* ---- canned errors, kinds and exact messages ---- */
static void scenario_errors(void)
{
    cd_error_t err = {0};
    cd_engine *e = open_forced("1.41", &err);
    ok(e != NULL, "open with a forced version asks nothing");
    is_str(cd_engine_server_name(e), "", "no server name without negotiation");

    is_int(cd_engine_image_inspect(e, "nope:1", NULL, &err), -1, "inspect missing image");
    is_str(err.msg, "GET /images/nope:1/json: HTTP 404: No such image: nope:1", "404 message");
    is_int(err.kind, CD_ERR_NOTFOUND, "404 is NOTFOUND");
    is_int(err.status, 404, "status 404");
    cd_error_clear(&err);

    json_t *spec = json_pack("{s:s, s:[s,s], s:{s:s}}", "Image", "alpine", "Cmd", "sleep", "1",
                             "Labels", "k", "v");
    char *id = NULL;
    is_int(cd_engine_container_create(e, "job 1", spec, &id, &err), -1, "create answered 500");
    is_str(err.msg, "POST /containers/create: HTTP 500: boom", "podman-style error body");
    is_int(err.kind, CD_ERR_SYSTEM, "500 is SYSTEM");
    cd_error_clear(&err);

    is_int(cd_engine_container_start(e, "c1", &err), -1, "start answered 500 text");
    is_str(err.msg, "POST /containers/c1/start: HTTP 500: internal trouble",
           "text body: first line only");
    cd_error_clear(&err);
    is_int(cd_engine_container_start(e, "c1", &err), -1, "start answered 503 empty");
    is_str(err.msg, "POST /containers/c1/start: HTTP 503", "empty body: status alone");
    cd_error_clear(&err);

    json_t *info = NULL;
    is_int(cd_engine_container_inspect(e, "c1", &info, &err), -1, "malformed JSON reply");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (engine trouble)");
    is_int(err.errnum, EPROTO, "... EPROTO");
    has_str(err.msg, "GET /containers/c1/json: malformed JSON reply: 1:", "... with position");
    cd_error_clear(&err);

    is_int(cd_engine_container_create(e, NULL, spec, &id, &err), -1, "create without Id");
    is_str(err.msg, "POST /containers/create: no Id in the reply", "... says so");
    cd_error_clear(&err);
    is_int(cd_engine_container_create(e, NULL, spec, &id, &err), 0, "create");
    is_str(id, "abc123", "... returns the id");
    json_decref(spec);
    is_int(cd_engine_container_start(e, id, &err), 0, "304 already started is success");
    is_int(cd_engine_container_kill(e, id, "SIGTERM", &err), 0, "409 not running: kill ok");
    is_int(cd_engine_container_kill(e, id, NULL, &err), -1, "kill of a missing one");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    cd_error_clear(&err);
    is_int(cd_engine_container_remove(e, id, true, true, &err), 0, "remove of gone: success");
    is_int(cd_engine_container_remove(e, id, false, false, &err), -1, "remove refused (409)");
    is_str(err.msg,
           "DELETE /containers/abc123: HTTP 409: You cannot remove a running container abc123",
           "... query not in the message");
    cd_error_clear(&err);
    int st = -1;
    is_int(cd_engine_container_wait(e, id, &st, &err), 0, "wait");
    is_int(st, 42, "wait status");
    free(id);

    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), -1, "reply cut short");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (transport)");
    has_str(err.msg, "GET /containers/json: ", "... names the call");
    printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);

    const char *vl[] = {"x=1", NULL};
    is_int(cd_engine_volume_list(e, vl, &l, &err), 0, "volume list with Volumes: null");
    ok(json_is_array(l) && json_array_size(l) == 0, "... is an empty array");
    json_decref(l);
    const char *vlabels[] = {"x=1", "bare", NULL};
    is_int(cd_engine_volume_create(e, "v1", vlabels, &err), 0, "volume create with labels");
    is_int(cd_engine_volume_remove(e, "v1", true, &err), 0, "volume remove: gone is ok");
    char *nid = NULL;
    is_int(cd_engine_network_create(e, "n1", NULL, vl, &nid, &err), 0, "network create");
    is_str(nid, "net1", "network id");
    is_int(cd_engine_network_remove(e, nid, &err), -1, "network remove refused");
    is_str(err.msg, "DELETE /networks/net1: HTTP 500: network has active endpoints", "message");
    cd_error_clear(&err);
    free(nid);
    cd_engine_close(e);
    fake_stop_and_check();
}

/* ---- pull ---- */
static int n_progress;
static char last_status[256];
static int on_progress(const json_t *line, void *ud)
{
    n_progress++;
    snprintf(last_status, sizeof(last_status), "%s",
             json_string_value(json_object_get(line, "status")));
    return ud && n_progress == 2 ? -1 : 0;
}

static void scenario_pull(void)
{
    cd_error_t err = {0};
    cd_engine *e = open_forced("1.41", &err);
    cd_engine_auth auth = {
        .username = "bot", .password = "s3cret-pass", .serveraddress = "reg.example:5000"};
    int r = cd_engine_image_pull(e, "reg.example:5000/team/img:2", &auth, on_progress, NULL, &err);
    is_int(r, 0, "chunked pull stream");
    is_int(n_progress, 4, "every progress line delivered");
    is_str(last_status, "Status: Downloaded newer image for reg.example:5000/team/img:2",
           "last line");

    r = cd_engine_image_pull(e, "busybox", NULL, NULL, NULL, &err);
    is_int(r, -1, "error inside the 200 stream");
    is_str(err.msg,
           "pull `busybox`: POST /images/create: manifest for busybox:latest not found: manifest "
           "unknown",
           "... becomes the error");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM");
    is_int(err.status, 200, "... status 200 (in-stream)");
    cd_error_clear(&err);

    r = cd_engine_image_pull(e, "a/b@sha256:abc", NULL, NULL, NULL, &err);
    is_int(r, -1, "malformed progress line");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (engine trouble)");
    is_int(err.errnum, EPROTO, "... EPROTO");
    has_str(err.msg, "pull `a/b@sha256:abc`: POST /images/create: malformed progress line",
            "... says so");
    cd_error_clear(&err);

    r = cd_engine_image_pull(e, "a/b:1", NULL, NULL, NULL, &err);
    is_str(err.msg,
           "pull `a/b:1`: POST /images/create: HTTP 401: unauthorized: authentication "
           "required",
           "401 before the stream");
    is_int(err.status, 401, "... status kept for the caller");
    cd_error_clear(&err);

    n_progress = 0;
    r = cd_engine_image_pull(e, "localhost/x:1", NULL, on_progress, "stop", &err);
    is_int(r, -1, "progress callback cancels");
    is_int(err.errnum, ECANCELED, "... ECANCELED");
    cd_error_clear(&err);

    r = cd_engine_image_pull(e, ":1", NULL, NULL, NULL, &err);
    is_int(err.kind, CD_ERR_USAGE, "bad reference is refused before any request");
    cd_error_clear(&err);
    cd_engine_close(e);
    fake_stop_and_check();
}

/* ---- exec ---- */
typedef struct {
    cd_strbuf out, errs;
    int calls;
} cap;
static int on_out(int stream, const char *d, size_t n, void *ud)
{
    cap *c = ud;
    c->calls++;
    return cd_strbuf_add(stream == 1 ? &c->out : &c->errs, d, n);
}

static void scenario_exec(void)
{
    cd_error_t err = {0};
    cd_engine *e = open_forced("1.41", &err);
    const char *cmd[] = {"sh", "-c", "echo hi", NULL};
    const char *env[] = {"A=1", "B=two", NULL};
    cd_engine_exec_config cfg = {.cmd = cmd,
                                 .env = env,
                                 .user = "1000:1000",
                                 .workdir = "/builds",
                                 .attach_stdout = true,
                                 .attach_stderr = true};
    cap c = {0};
    int code = -1;
    int r = cd_engine_exec_run(e, "c1", &cfg, NULL, 0, on_out, &c, &code, &err);
    is_int(r, 0, "exec run");
    is_str(cd_strbuf_str(&c.out), "out1 out2\nzero", "stdout frames (stream 0 → stdout)");
    is_str(cd_strbuf_str(&c.errs), "err1\n", "stderr frame");
    is_int(code, 7, "exit code after Running turned false");
    cd_strbuf_done(&c.out);
    cd_strbuf_done(&c.errs);

    memset(&c, 0, sizeof(c));
    r = cd_engine_exec_start(e, "e2", NULL, 0, on_out, &c, &err);
    is_int(r, -1, "truncated frame");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (engine trouble)");
    is_int(err.errnum, EPROTO, "... EPROTO");
    is_str(err.msg, "POST /exec/e2/start: truncated exec stream: frame cut short, 12 bytes missing",
           "... message");
    is_str(cd_strbuf_str(&c.out), "abcabcd", "... what came was delivered");
    cd_error_clear(&err);
    cd_strbuf_done(&c.out);

    memset(&c, 0, sizeof(c));
    r = cd_engine_exec_start(e, "e3", NULL, 0, on_out, &c, &err);
    is_int(err.errnum, EPROTO, "bad stream id is EPROTO");
    is_str(err.msg, "POST /exec/e3/start: malformed exec stream: bad frame header 09 00 00 00",
           "... message");
    cd_error_clear(&err);
    cd_strbuf_done(&c.out);

    r = cd_engine_exec_start(e, "e4", NULL, 0, NULL, NULL, &err);
    is_str(err.msg, "POST /exec/e4/start: truncated exec stream: 7 of 8 header bytes at the end",
           "truncated header");
    cd_error_clear(&err);

    r = cd_engine_exec_start(e, "e5", NULL, 0, NULL, NULL, &err);
    is_str(err.msg, "POST /exec/e5/start: HTTP 409: Container c1 is not running", "409 message");
    cd_error_clear(&err);

    memset(&c, 0, sizeof(c));
    static const char input[] = "script line 1\nscript line 2\n";
    r = cd_engine_exec_start(e, "e6", input, strlen(input), on_out, &c, &err);
    is_int(r, 0, "hijacked exec with stdin");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_str(cd_strbuf_str(&c.out), input, "stdin went through, EOF closed it");
    is_str(cd_strbuf_str(&c.errs), "stderr after stdin\n", "frames after stdin");
    cd_strbuf_done(&c.out);
    cd_strbuf_done(&c.errs);

    r = cd_engine_exec_start(e, "e7", "x", 1, NULL, NULL, &err);
    is_str(err.msg, "POST /exec/e7/start: HTTP 404: No such exec instance: e7",
           "hijack refused with 404");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    cd_error_clear(&err);

    memset(&c, 0, sizeof(c));
    r = cd_engine_exec_start(e, "e8", NULL, 0, on_out, &c, &err);
    ok(c.calls >= 1 && r == 0, "second exec on the same engine after a hijack");
    cd_strbuf_done(&c.out);

    const char *none[] = {NULL};
    cfg.cmd = none;
    char *id = NULL;
    is_int(cd_engine_exec_create(e, "c1", &cfg, &id, &err), -1, "empty command refused");
    is_int(err.kind, CD_ERR_USAGE, "... USAGE");
    cd_error_clear(&err);
    cd_engine_close(e);
    fake_stop_and_check();
}

/* ---- archive ---- */
static cd_strbuf listing;
static int on_entry(const cd_engine_get_entry *ge, cd_engine_reader *rd, void *ud, cd_error_t *err)
{
    static const char *const types[] = {"file", "dir", "symlink", "hardlink", "other"};
    cd_strbuf_printf(&listing, "%s %s %o", ge->name, types[ge->type], (unsigned)ge->mode);
    if (ge->type == CD_ENGINE_ENTRY_FILE) {
        char buf[64];
        ssize_t n = cd_engine_reader_read(rd, buf, sizeof(buf), err);
        if (n < 0)
            return -1;
        cd_strbuf_printf(&listing, " %lld [%.*s]", (long long)ge->size, (int)n, buf);
    }
    if (ge->link_target)
        cd_strbuf_printf(&listing, " -> %s", ge->link_target);
    cd_strbuf_adds(&listing, "\n");
    return ud ? -1 : 0;
}

static void scenario_archive(void)
{
    cd_error_t err = {0};
    cd_engine *e = open_forced("1.41", &err);
    char host[300];
    snprintf(host, sizeof(host), "%s/host.txt", dir);
    FILE *f = fopen(host, "w");
    fputs("from the host\n", f);
    fclose(f);
    static const char script[] = "#!/bin/sh\necho hi\n";
    cd_engine_put_entry ents[] = {
        {.name = "dir", .type = CD_ENGINE_ENTRY_DIR},
        {.name = "dir/run.sh", .data = script, .len = strlen(script), .mode = 0755},
        {.name = "dir/host.txt", .host_path = host, .mode = 0600},
        {.name = "dir/empty"},
        {.name = "dir/link", .type = CD_ENGINE_ENTRY_SYMLINK, .link_target = "../etc/passwd"},
    };
    is_int(cd_engine_archive_put(e, "c1", "/builds/x", ents, 5, &err), 0, "archive put");
    if (err.msg)
        printf("# %s\n", err.msg);

    cd_strbuf_init(&listing, 0);
    is_int(cd_engine_archive_get(e, "c1", "/out", on_entry, NULL, &err), 0, "archive get");
    is_str(cd_strbuf_str(&listing),
           "out/ dir 755\nout/report.json file 644 11 [{\"ok\":true}]\nout/evil symlink 644 -> "
           "/etc/shadow\n",
           "entries with types, modes, data; symlink reported, not followed");
    cd_strbuf_done(&listing);

    is_int(cd_engine_archive_get(e, "c1", "/missing", on_entry, NULL, &err), -1, "missing path");
    is_str(err.msg,
           "copy from `c1:/missing`: GET /containers/c1/archive: HTTP 404: Could not find the "
           "file /missing in container c1",
           "... message");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    cd_error_clear(&err);

    is_int(cd_engine_archive_get(e, "c1", "/corrupt", on_entry, NULL, &err), -1, "corrupt tar");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM (engine trouble)");
    is_int(err.errnum, EPROTO, "... EPROTO");
    has_str(err.msg, "copy from `c1:/corrupt`: corrupt tar stream: ", "... message");
    cd_error_clear(&err);

    cd_strbuf_init(&listing, 0);
    is_int(cd_engine_archive_get(e, "c1", "/out", on_entry, "stop", &err), -1, "callback stops");
    is_int(err.errnum, ECANCELED, "... ECANCELED");
    is_str(cd_strbuf_str(&listing), "out/a file 644 1 [1]\n", "... after the first entry");
    cd_error_clear(&err);
    cd_strbuf_done(&listing);

    is_int(cd_engine_archive_put(e, "c1", "/nope", ents, 1, &err), -1, "put into missing dir");
    is_str(err.msg,
           "PUT /containers/c1/archive: HTTP 404: Could not find the file /nope in "
           "container c1",
           "... message");
    cd_error_clear(&err);

    cd_engine_put_entry bad = {.name = "x", .host_path = "/no/such/host/file"};
    is_int(cd_engine_archive_put(e, "c1", "/", &bad, 1, &err), -1, "missing host file");
    is_str(err.msg, "copy into `c1:/`: `x`: open /no/such/host/file: No such file or directory",
           "... message, no request sent");
    cd_error_clear(&err);
    cd_engine_close(e);
    fake_stop_and_check();
}

/* ---- debug log redaction ---- */
static cd_strbuf dbg;
static void on_log(cd_log_level level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    cd_strbuf_printf(&dbg, "%s\n", line);
}

static void scenario_debug(void)
{
    cd_error_t err = {0};
    cd_log_set_handler(on_log, NULL);
    cd_log_set_level(CD_LOG_DEBUG);
    cd_strbuf_init(&dbg, 0);
    setenv("CONDUCTOR_DEBUG", "1", 1);
    cd_engine *e = open_forced("1.41", &err);
    unsetenv("CONDUCTOR_DEBUG");
    cd_engine_auth auth = {.username = "u", .password = "p4ss-very-secret", .serveraddress = "r"};
    is_int(cd_engine_image_pull(e, "r/i:1", &auth, NULL, NULL, &err), 0, "pull with debug on");
    json_t *spec = json_pack("{s:s, s:[s]}", "Image", "i", "Env", "TOKEN=body-secret-value");
    char *id = NULL;
    is_int(cd_engine_container_create(e, NULL, spec, &id, &err), 0, "create with debug on");
    json_decref(spec);
    free(id);
    const char *log = cd_strbuf_str(&dbg);
    has_str(log, "> POST /v1.41/images/create?fromImage=r%2Fi&tag=1 HTTP/1.1", "request line");
    has_str(log, "> X-Registry-Auth [REDACTED]", "auth header redacted");
    ok(!strstr(log, "eyJ"), "no base64 credentials in the debug log");
    ok(!strstr(log, "p4ss-very-secret"), "no password");
    ok(!strstr(log, "body-secret-value"), "request body never printed");
    ok(!strstr(log, "reply-body-marker"), "reply body never printed");
    has_str(log, "bytes of data]", "bodies are summarised by size");
    has_str(log, "Re-using existing connection", "keep-alive: the second call reuses the socket");
    cd_strbuf_done(&dbg);
    cd_log_set_handler(NULL, NULL);
    cd_engine_close(e);
    fake_stop_and_check();
}

/* ---- transport: interrupt, missing socket, resolver ---- */
static volatile sig_atomic_t stop_flag;
static void on_alarm(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void scenario_transport(void)
{
    cd_error_t err = {0};
    cd_engine_options o = {.endpoint = sock, .interrupt = &stop_flag};
    cd_engine *e = cd_engine_open(&o, &err);
    ok(e != NULL, "open");
    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {.tv_usec = 300000}}, NULL);
    int st = -1;
    int r = cd_engine_container_wait(e, "slow", &st, &err);
    is_int(r, -1, "interrupt flag stops a long wait");
    is_int(err.errnum, EINTR, "... EINTR");
    is_str(err.msg, "POST /containers/slow/wait: interrupted", "... message");
    cd_error_clear(&err);
    stop_flag = 0;
    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), 0, "the engine is usable afterwards");
    json_decref(l);
    l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), -1, "a reply over CD_MAX_API_RESPONSE");
    is_int(err.errnum, E2BIG, "... E2BIG");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM");
    is_str(err.msg, "GET /containers/json: reply larger than 67108864 bytes", "... message");
    ok(l == NULL, "... nothing returned");
    cd_error_clear(&err);
    cd_engine_close(e);
    fake_stop_and_check();

    /* the socket is gone now */
    e = cd_engine_open(&o, &err);
    ok(!e, "missing socket");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM");
    has_str(err.msg, "GET /version: Failed to connect to localhost port 80", "... libcurl's text");
    cd_error_clear(&err);

    char *ep = NULL;
    setenv("DOCKER_HOST", "unix:///from/docker_host", 1);
    setenv("CONTAINER_HOST", "unix:///from/container_host", 1);
    cd_engine_endpoint_resolve("tcp://explicit:1", &ep, &err);
    is_str(ep, "tcp://explicit:1", "explicit value first");
    free(ep);
    cd_engine_endpoint_resolve("", &ep, &err);
    is_str(ep, "unix:///from/docker_host", "then DOCKER_HOST");
    free(ep);
    unsetenv("DOCKER_HOST");
    cd_engine_endpoint_resolve(NULL, &ep, &err);
    is_str(ep, "unix:///from/container_host", "then CONTAINER_HOST");
    free(ep);
    unsetenv("CONTAINER_HOST");
    ep = NULL;
    r = cd_engine_endpoint_resolve(NULL, &ep, &err);
    ok((r == 0 && (strcmp(ep, "unix:///var/run/docker.sock") == 0 ||
                   strcmp(ep, "unix:///run/podman/podman.sock") == 0)) ||
           (r < 0 && err.kind == CD_ERR_NOTFOUND),
       "then the default sockets, else NOTFOUND (%s)", r == 0 ? ep : cd_error_msg(&err));
    if (r < 0)
        has_str(err.msg, "/var/run/docker.sock", "... naming what was tried");
    free(ep);
    cd_error_clear(&err);

    o.endpoint = "ssh://host";
    ok(!cd_engine_open(&o, &err), "ssh:// refused");
    is_int(err.kind, CD_ERR_USAGE, "... USAGE");
    has_str(err.msg, "expected unix:///path, /path or tcp://host:port", "... says what works");
    cd_error_clear(&err);
}

/* ---- tcp:// and TLS with client certificates ---- */
static int read_port(void)
{
    cd_strbuf s = CD_STRBUF_INIT;
    cd_strbuf_read_file(&s, portfile, 64);
    int port = atoi(cd_strbuf_str(&s));
    cd_strbuf_done(&s);
    return port;
}

static void scenario_tcp(void)
{
    cd_error_t err = {0};
    char ep[128];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", read_port());
    unsetenv("DOCKER_CERT_PATH");
    unsetenv("DOCKER_TLS_VERIFY");
    cd_engine_options o = {.endpoint = ep};
    cd_engine *e = cd_engine_open(&o, &err);
    ok(e != NULL, "plain tcp:// endpoint: %s", e ? "ok" : cd_error_msg(&err));
    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), 0, "list over tcp");
    is_str(json_string_value(json_object_get(json_array_get(l, 0), "Id")), "over-tls", "reply");
    json_decref(l);
    cd_engine_close(e);
    fake_stop_and_check();
}

static void scenario_tls(const char *certs)
{
    cd_error_t err = {0};
    char ep[128];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", read_port());
    setenv("DOCKER_CERT_PATH", certs, 1); /* as docker users set it */
    setenv("DOCKER_TLS_VERIFY", "1", 1);
    cd_engine_options o = {.endpoint = ep};
    cd_engine *e = cd_engine_open(&o, &err);
    ok(e != NULL, "tcp:// + TLS client cert from DOCKER_CERT_PATH: %s",
       e ? "ok" : cd_error_msg(&err));
    cd_error_clear(&err);
    json_t *l = NULL;
    is_int(cd_engine_container_list(e, NULL, &l, &err), 0, "list over TLS");
    is_str(json_string_value(json_object_get(json_array_get(l, 0), "Id")), "over-tls", "reply");
    json_decref(l);
    const char *cmd[] = {"true", NULL};
    cd_engine_exec_config cfg = {.cmd = cmd, .attach_stdin = true};
    is_int(cd_engine_exec_start(e, "x", "in", 2, NULL, NULL, &err), -1, "stdin over TLS");
    is_int(err.kind, CD_ERR_USAGE, "... refused as USAGE (documented)");
    (void)cfg;
    cd_error_clear(&err);
    cd_engine_close(e);

    /* no client certificate: the server refuses the handshake */
    char only_ca[400];
    snprintf(only_ca, sizeof(only_ca), "%s/only-ca", dir);
    mkdir(only_ca, 0700);
    char cmdline[1200];
    snprintf(cmdline, sizeof(cmdline), "cp %s/ca.pem %s/", certs, only_ca);
    if (system(cmdline) != 0)
        printf("# cp failed\n");
    o.cert_path = only_ca;
    e = cd_engine_open(&o, &err);
    ok(!e, "TLS without a client certificate fails");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM");
    has_str(err.msg, "GET /version: ", "... with libcurl's TLS text");
    printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    unsetenv("DOCKER_CERT_PATH");
    unsetenv("DOCKER_TLS_VERIFY");
    fake_stop_and_check();
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "errors";
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/cd-engine-proto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    if (access("/usr/bin/python3", X_OK) == 0)
        python = "/usr/bin/python3";
    char check[300];
    snprintf(check, sizeof(check), "%s -c 'import http.server, ssl, tarfile' 2>/dev/null", python);
    if (system(check) != 0) {
        remove_dir();
        tap_skip_all("python3 is not available");
    }

    if (strcmp(name, "tls") == 0) {
        char certs[400], cmd[1200];
        snprintf(certs, sizeof(certs), "%s/certs", dir);
        const char *src = getenv("CD_SOURCE_DIR");
        snprintf(cmd, sizeof(cmd), "%s/tests/engine/make_certs.sh %s", src ? src : ".", certs);
        if (system(cmd) != 0) {
            remove_dir();
            tap_skip_all("cannot make test certificates (openssl missing?)");
        }
        fake_start(name, true, certs);
        scenario_tls(certs);
    } else if (strcmp(name, "tcp") == 0) {
        fake_start(name, true, NULL);
        scenario_tcp();
    } else {
        fake_start(name, false, NULL);
        if (strcmp(name, "version") == 0)
            scenario_version();
        else if (strcmp(name, "apiversion") == 0)
            scenario_apiversion();
        else if (strcmp(name, "errors") == 0)
            scenario_errors();
        else if (strcmp(name, "pull") == 0)
            scenario_pull();
        else if (strcmp(name, "exec") == 0)
            scenario_exec();
        else if (strcmp(name, "archive") == 0)
            scenario_archive();
        else if (strcmp(name, "debug") == 0)
            scenario_debug();
        else if (strcmp(name, "transport") == 0)
            scenario_transport();
        else
            ok(0, "unknown scenario %s", name);
    }
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
    }
    remove_dir();
    return tap_done();
}
