/* integration/engine-{podman,docker}: the engine client against a real engine.
 * argv[1] names the environment variable holding the engine's socket path
 * (CD_TEST_PODMAN_SOCKET or CD_TEST_DOCKER_SOCKET; see tests/rig/engines.sh). Skips (77) when
 * it is unset. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tap.h"
#include "util/strbuf.h"

static const char *image;
static volatile sig_atomic_t e_interrupt;
static void on_alarm(int sig)
{
    (void)sig;
    e_interrupt = 1;
}
static char label[128]; /* unique per run: conductor.test.run=<pid> */

typedef struct {
    cd_strbuf out, errs;
    size_t bytes;    /* counted, not stored (large output) */
    bool count_only; /* stdout */
    int chunks;
} capture;

static int on_output(int stream, const char *data, size_t len, void *ud)
{
    capture *c = ud;
    c->chunks++;
    if (stream == 1 && c->count_only) {
        c->bytes += len;
        return 0;
    }
    return cd_strbuf_add(stream == 1 ? &c->out : &c->errs, data, len);
}

static void capture_done(capture *c)
{
    cd_strbuf_done(&c->out);
    cd_strbuf_done(&c->errs);
}

static int run_sh(cd_engine *e, const char *ctr, const char *script, const char *in, capture *c,
                  int *code, cd_error_t *err)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    const char *env[] = {"CONDUCTOR_TEST=yes", NULL};
    cd_engine_exec_config cfg = {.cmd = argv,
                                 .env = env,
                                 .attach_stdin = in != NULL,
                                 .attach_stdout = true,
                                 .attach_stderr = true};
    return cd_engine_exec_run(e, ctr, &cfg, in, in ? strlen(in) : 0, on_output, c, code, err);
}

static int progress_lines;
static int on_progress(const json_t *line, void *ud)
{
    (void)ud;
    if (json_is_object(line))
        progress_lines++;
    return 0;
}

static void test_pull(cd_engine *e)
{
    const char *reg = getenv("CD_TEST_REGISTRY");
    const char *user = getenv("CD_TEST_REGISTRY_USER");
    const char *pass = getenv("CD_TEST_REGISTRY_PASSWORD");
    if (!reg || !user || !pass) {
        ok(1, "# SKIP no test registry");
        return;
    }
    char ref[256];
    snprintf(ref, sizeof(ref), "%s/conductor/busybox:1", reg);
    cd_error_t err = {0};
    /* start from "absent" so the pull really transfers */
    char del[300];
    snprintf(del, sizeof(del), "/images/%s?force=true", ref);
    cd_engine_request(e, "DELETE", del, NULL, NULL, &err);
    cd_error_clear(&err);

    cd_engine_auth bad = {.username = user, .password = "wrong-password", .serveraddress = reg};
    int r = cd_engine_image_pull(e, ref, &bad, NULL, NULL, &err);
    is_int(r, -1, "pull with a wrong password fails");
    ok(err.kind == CD_ERR_SYSTEM, "... as a SYSTEM error the caller may reclassify (kind %s)",
       cd_error_kind_name(err.kind));
    has_str(err.msg, "pull `", "... message names the pull");
    ok(err.msg && (strstr(err.msg, "unauthorized") || strstr(err.msg, "authentication")),
       "... and says it was refused: %s", cd_error_msg(&err));
    ok(!strstr(cd_error_msg(&err), "wrong-password"), "... never shows the password");
    cd_error_clear(&err);

    cd_engine_auth good = {.username = user, .password = pass, .serveraddress = reg};
    progress_lines = 0;
    r = cd_engine_image_pull(e, ref, &good, on_progress, NULL, &err);
    is_int(r, 0, "pull from the authenticated registry");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    ok(progress_lines > 0, "progress lines were delivered (%d)", progress_lines);
    json_t *info = NULL;
    is_int(cd_engine_image_inspect(e, ref, &info, &err), 0, "pulled image is there");
    ok(json_is_object(info), "inspect returns an object");
    json_decref(info);
    cd_error_clear(&err);

    r = cd_engine_image_pull(e, "127.0.0.1:1/nothing/here:1", NULL, NULL, NULL, &err);
    is_int(r, -1, "pull from a dead registry fails");
    has_str(err.msg, "127.0.0.1:1/nothing/here:1", "... naming the image");
    cd_error_clear(&err);
}

static int count_entries;
static char got_file[256];
static char got_link[256];
static long got_mode;
static int on_entry(const cd_engine_get_entry *ge, cd_engine_reader *rd, void *ud, cd_error_t *err)
{
    (void)ud;
    count_entries++;
    if (strcmp(ge->name, "put/run.sh") == 0) {
        got_mode = ge->mode;
        ssize_t n = cd_engine_reader_read(rd, got_file, sizeof(got_file) - 1, err);
        if (n < 0)
            return -1;
        got_file[n] = '\0';
    }
    if (strcmp(ge->name, "put/link") == 0 && ge->type == CD_ENGINE_ENTRY_SYMLINK)
        snprintf(got_link, sizeof(got_link), "%s", ge->link_target);
    return 0;
}

static void test_archive(cd_engine *e, const char *ctr)
{
    cd_error_t err = {0};
    static const char script[] = "#!/bin/sh\necho from-archive\n";
    char host[] = "/tmp/cd-engine-hostfile-XXXXXX";
    int fd = mkstemp(host);
    ok(fd >= 0 && write(fd, "host-bytes\n", 11) == 11, "host file written");
    close(fd);
    cd_engine_put_entry ents[] = {
        {.name = "put", .type = CD_ENGINE_ENTRY_DIR},
        {.name = "put/run.sh",
         .type = CD_ENGINE_ENTRY_FILE,
         .data = script,
         .len = sizeof(script) - 1,
         .mode = 0755},
        {.name = "put/host.txt", .type = CD_ENGINE_ENTRY_FILE, .host_path = host, .mode = 0600},
        {.name = "put/link", .type = CD_ENGINE_ENTRY_SYMLINK, .link_target = "/etc/passwd"},
    };
    int r = cd_engine_archive_put(e, ctr, "/tmp", ents, 4, &err);
    is_int(r, 0, "archive put into /tmp");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    unlink(host);

    capture c = {0};
    int code = -1;
    r = run_sh(e, ctr, "/tmp/put/run.sh && cat /tmp/put/host.txt && stat -c %a /tmp/put/host.txt",
               NULL, &c, &code, &err);
    is_int(code, 0, "put script runs (it kept its mode)");
    is_str(cd_strbuf_str(&c.out), "from-archive\nhost-bytes\n600\n", "put files have content");
    capture_done(&c);

    count_entries = 0;
    r = cd_engine_archive_get(e, ctr, "/tmp/put", on_entry, NULL, &err);
    is_int(r, 0, "archive get /tmp/put");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_int(count_entries, 4, "four entries come back");
    is_str(got_file, script, "file content round-trips");
    is_int(got_mode, 0755, "mode round-trips");
    is_str(got_link, "/etc/passwd", "symlink comes back as a symlink, not followed");

    r = cd_engine_archive_get(e, ctr, "/no/such/path", on_entry, NULL, &err);
    is_int(r, -1, "archive get of a missing path fails");
    is_int(err.kind, CD_ERR_NOTFOUND, "... as NOTFOUND");
    has_str(err.msg, "/no/such/path", "... naming the path");
    cd_error_clear(&err);

    /* engines differ here: Docker refuses a missing destination, Podman creates it */
    r = cd_engine_archive_put(e, ctr, "/no/such/dir", ents, 1, &err);
    if (cd_engine_get_kind(e) == CD_ENGINE_DOCKER) {
        is_int(r, -1, "docker: archive put into a missing dir fails");
        is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
        has_str(err.msg, "PUT /containers/", "... naming the call");
    } else {
        is_int(r, 0, "podman: archive put into a missing dir creates it");
        memset(&c, 0, sizeof(c));
        run_sh(e, ctr, "test -d /no/such/dir/put && echo there", NULL, &c, &code, &err);
        is_str(cd_strbuf_str(&c.out), "there\n", "... the entry landed there");
        capture_done(&c);
    }
    cd_error_clear(&err);
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_exec(cd_engine *e, const char *ctr)
{
    cd_error_t err = {0};
    capture c = {0};
    int code = -1;
    int r = run_sh(e, ctr, "echo out; echo err >&2; echo \"$CONDUCTOR_TEST\"; exit 3", NULL, &c,
                   &code, &err);
    is_int(r, 0, "exec runs");
    is_int(code, 3, "exit code comes back");
    is_str(cd_strbuf_str(&c.out), "out\nyes\n", "stdout separated (env passed)");
    is_str(cd_strbuf_str(&c.errs), "err\n", "stderr separated");
    capture_done(&c);

    memset(&c, 0, sizeof(c));
    r = run_sh(e, ctr, "cat; echo done-$?", "line one\nline two\n", &c, &code, &err);
    is_int(r, 0, "exec with stdin runs");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_int(code, 0, "... exits 0 (stdin was closed)");
    is_str(cd_strbuf_str(&c.out), "line one\nline two\ndone-0\n", "stdin reached the process");
    capture_done(&c);

    memset(&c, 0, sizeof(c));
    const char *argv[] = {"sh", NULL};
    cd_engine_exec_config cfg = {.cmd = argv,
                                 .attach_stdin = true,
                                 .attach_stdout = true,
                                 .attach_stderr = true,
                                 .workdir = "/tmp"};
    static const char script[] = "pwd\necho to-err >&2\nexit 5\n";
    r = cd_engine_exec_run(e, ctr, &cfg, script, strlen(script), on_output, &c, &code, &err);
    is_int(r, 0, "script on stdin of sh");
    is_int(code, 5, "... its exit code");
    is_str(cd_strbuf_str(&c.out), "/tmp\n", "... workdir applied");
    is_str(cd_strbuf_str(&c.errs), "to-err\n", "... stderr separated over the hijack too");
    capture_done(&c);

    /* a large stdin goes in while output comes out (no deadlock on full socket buffers) */
    size_t big = 2u << 20;
    char *input = malloc(big + 1);
    memset(input, 'x', big);
    input[big] = '\0';
    memset(&c, 0, sizeof(c));
    r = run_sh(e, ctr, "tee /dev/stderr | wc -c", input, &c, &code, &err);
    free(input);
    is_int(r, 0, "2 MiB on stdin, echoed to stderr meanwhile");
    is_str(cd_strbuf_str(&c.out), "2097152\n", "... all of stdin arrived");
    is_int(c.errs.len, big, "... and all of the echo came back");
    capture_done(&c);

    /* the interrupt flag stops a running exec stream (the SIGTERM path of conductor-run) */
    e_interrupt = 0;
    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {.tv_usec = 500000}}, NULL);
    memset(&c, 0, sizeof(c));
    r = run_sh(e, ctr, "echo started; sleep 30", NULL, &c, &code, &err);
    is_int(r, -1, "interrupted exec returns");
    is_int(err.errnum, EINTR, "... EINTR");
    has_str(err.msg, "/start: interrupted", "... message");
    cd_error_clear(&err);
    capture_done(&c);
    e_interrupt = 0;
    memset(&c, 0, sizeof(c));
    r = run_sh(e, ctr, "pkill sleep; echo after", NULL, &c, &code, &err);
    is_str(cd_strbuf_str(&c.out), "after\n", "engine usable after an interrupt");
    capture_done(&c);

    /* large output streams through in chunks; memory does not grow with it */
    memset(&c, 0, sizeof(c));
    c.count_only = true;
    long before = maxrss_kib();
    r = run_sh(e, ctr, "head -c 268435456 /dev/zero", NULL, &c, &code, &err);
    long grew = maxrss_kib() - before;
    is_int(r, 0, "256 MiB exec output");
    ok(c.bytes == 268435456u, "all bytes arrived (%zu)", c.bytes);
    ok(c.chunks > 100, "in many chunks, as they arrived (%d)", c.chunks);
    ok(grew < 16 * 1024, "max RSS grew by %ld KiB (< 16 MiB)", grew);
    capture_done(&c);

    char *id = NULL;
    const char *bad[] = {"/no/such/binary", NULL};
    cd_engine_exec_config bcfg = {.cmd = bad, .attach_stdout = true, .attach_stderr = true};
    memset(&c, 0, sizeof(c));
    r = cd_engine_exec_run(e, ctr, &bcfg, NULL, 0, on_output, &c, &code, &err);
    ok(r < 0 || code != 0, "exec of a missing binary fails (r=%d code=%d: %s)", r, code,
       r < 0 ? cd_error_msg(&err) : cd_strbuf_str(&c.errs));
    cd_error_clear(&err);
    capture_done(&c);
    free(id);

    r = cd_engine_exec_create(e, "cd-no-such-container", &bcfg, &id, &err);
    is_int(r, -1, "exec in a missing container fails");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    has_str(err.msg, "HTTP 404", "... with the status");
    cd_error_clear(&err);
}

static void test_objects(cd_engine *e)
{
    cd_error_t err = {0};
    char name[64];
    snprintf(name, sizeof(name), "cd-engine-test-%d", (int)getpid());
    const char *labels[] = {label, NULL};
    is_int(cd_engine_volume_create(e, name, labels, &err), 0, "volume create");
    cd_error_clear(&err);
    json_t *list = NULL;
    is_int(cd_engine_volume_list(e, labels, &list, &err), 0, "volume list by label");
    is_int(json_array_size(list), 1, "... finds exactly ours");
    json_decref(list);
    is_int(cd_engine_volume_remove(e, name, true, &err), 0, "volume remove");
    is_int(cd_engine_volume_remove(e, name, true, &err), 0, "volume remove again: gone is ok");
    cd_error_clear(&err);

    char *id = NULL;
    int r = cd_engine_network_create(e, name, NULL, labels, &id, &err);
    is_int(r, 0, "network create");
    if (r < 0)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_int(cd_engine_network_list(e, labels, &list, &err), 0, "network list by label");
    is_int(json_array_size(list), r == 0 ? 1 : 0, "... finds exactly ours");
    json_decref(list);
    is_int(cd_engine_network_remove(e, id ? id : name, &err), 0, "network remove");
    is_int(cd_engine_network_remove(e, id ? id : name, &err), 0, "network remove again");
    cd_error_clear(&err);
    free(id);
}

int main(int argc, char **argv)
{
    const char *var = argc > 1 ? argv[1] : "CD_TEST_PODMAN_SOCKET";
    const char *sock = getenv(var);
    image = getenv("CD_TEST_IMAGE_BUSYBOX");
    if (!sock || !*sock || !image)
        tap_skip_all("%s or CD_TEST_IMAGE_BUSYBOX unset (source /run/conductor-test/env)", var);
    snprintf(label, sizeof(label), "conductor.test.run=%d", (int)getpid());

    cd_error_t err = {0};
    cd_engine_options o = {.endpoint = sock, .interrupt = &e_interrupt};
    cd_engine *e = cd_engine_open(&o, &err);
    ok(e != NULL, "open %s: %s", sock, e ? "ok" : cd_error_msg(&err));
    if (!e)
        return tap_done();
    is_str(cd_engine_api_version(e), "1.41", "negotiated API version");
    const char *name = cd_engine_server_name(e);
    bool podman = strstr(var, "PODMAN") != NULL;
    is_str(name, podman ? "Podman Engine" : "Docker Engine", "server name");
    is_int(cd_engine_get_kind(e), podman ? CD_ENGINE_PODMAN : CD_ENGINE_DOCKER, "server kind");
    ok(cd_engine_server_version(e)[0] != '\0', "server version %s", cd_engine_server_version(e));

    json_t *j = NULL;
    is_int(cd_engine_image_inspect(e, "localhost/cd-no-such-image:never", &j, &err), -1,
           "inspect of a missing image fails");
    is_int(err.kind, CD_ERR_NOTFOUND, "... as NOTFOUND");
    has_str(err.msg, "GET /images/localhost/cd-no-such-image:never/json: HTTP 404: ",
            "... with method, path and status");
    printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_int(cd_engine_image_inspect(e, image, NULL, &err), 0, "busybox image is present");
    cd_error_clear(&err);

    /* a long-lived container with cat as PID 1 (stdin kept open) */
    json_t *spec = json_pack("{s:s, s:[s], s:b, s:{s:s}, s:{s:s}}", "Image", image, "Cmd", "cat",
                             "OpenStdin", 1, "Labels", "conductor.test.run", label + 19,
                             "HostConfig", "NetworkMode", "none");
    char cname[64];
    snprintf(cname, sizeof(cname), "cd-engine-test-%d", (int)getpid());
    char *id = NULL;
    int r = cd_engine_container_create(e, cname, spec, &id, &err);
    json_decref(spec);
    is_int(r, 0, "container create");
    if (r < 0) {
        printf("# %s\n", cd_error_msg(&err));
        cd_engine_close(e);
        return tap_done();
    }
    is_int(cd_engine_container_start(e, id, &err), 0, "container start");
    is_int(cd_engine_container_start(e, id, &err), 0, "start again: already running is ok");
    cd_error_clear(&err);

    const char *labels[] = {label, NULL};
    json_t *list = NULL;
    is_int(cd_engine_container_list(e, labels, &list, &err), 0, "list by label");
    is_int(json_array_size(list), 1, "... finds exactly ours");
    const char *lid = json_string_value(json_object_get(json_array_get(list, 0), "Id"));
    is_str(lid, id, "... with its id");
    json_decref(list);

    test_exec(e, id);
    test_archive(e, id);

    is_int(cd_engine_container_kill(e, id, "SIGKILL", &err), 0, "kill");
    cd_error_clear(&err);
    int status = -1;
    is_int(cd_engine_container_wait(e, id, &status, &err), 0, "wait");
    is_int(status, 137, "killed by SIGKILL: 128+9");
    is_int(cd_engine_container_kill(e, id, NULL, &err), 0, "kill again: not running is ok");
    if (err.msg)
        printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    is_int(cd_engine_container_remove(e, id, true, true, &err), 0, "remove");
    is_int(cd_engine_container_remove(e, id, true, true, &err), 0, "remove again: gone is ok");
    cd_error_clear(&err);
    is_int(cd_engine_container_inspect(e, id, &j, &err), -1, "inspect after remove fails");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    cd_error_clear(&err);
    is_int(cd_engine_container_kill(e, id, NULL, &err), -1, "kill of a removed one fails");
    is_int(err.kind, CD_ERR_NOTFOUND, "... NOTFOUND");
    cd_error_clear(&err);
    free(id);

    test_objects(e);
    test_pull(e);
    cd_engine_close(e);

    /* a socket that is not there: a SYSTEM failure with libcurl's text */
    cd_engine_options gone = {.endpoint = "unix:///run/conductor-test/no-such.sock"};
    cd_engine *e2 = cd_engine_open(&gone, &err);
    ok(e2 == NULL, "open of a missing socket fails");
    is_int(err.kind, CD_ERR_SYSTEM, "... SYSTEM");
    has_str(err.msg, "GET /version: ", "... names the call");
    has_str(err.msg, "no-such.sock", "... and the socket (libcurl's text)");
    printf("# %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    return tap_done();
}
