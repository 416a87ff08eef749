/* Engine client micro benchmark: the same container lifecycle (create + start + 8 execs +
 * remove) through cd_engine and through raw `curl --unix-socket` processes, and the throughput
 * of a large exec output through both. Prints medians and ratios (ours / curl) per engine.
 *
 *   . /run/conductor-test/env && build/tests/engine/bench_engine [reps] [stream-bytes]
 *
 * Uses $CD_TEST_PODMAN_SOCKET, $CD_TEST_DOCKER_SOCKET and $CD_TEST_IMAGE_BUSYBOX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/engine.h"

#define N_EXECS 8

static const char *image;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const cd_error_t *err)
{
    fprintf(stderr, "bench_engine: %s: %s\n", what, cd_error_msg(err));
    exit(1);
}

/* ---- the peer: one curl process a call, as a shell script would do it ---- */

static json_t *curl_json(const char *sock, const char *method, const char *path, const char *body)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -X %s %s%s%s 'http://d/v1.41%s'", sock,
             method, body ? "-H 'Content-Type: application/json' -d '" : "", body ? body : "",
             body ? "'" : "", path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        exit(1);
    }
    json_error_t je;
    json_t *j = json_loadf(p, JSON_DECODE_ANY, &je);
    pclose(p);
    return j;
}

static void curl_discard(const char *sock, const char *path, const char *body)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "curl -sS --unix-socket '%s' -X POST -H 'Content-Type: application/json' -d '%s' "
             "-o /dev/null 'http://d/v1.41%s'",
             sock, body, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_engine: curl failed: %s\n", cmd);
        exit(1);
    }
}

static char *curl_create_started(const char *sock)
{
    char body[1024], path[512];
    snprintf(body, sizeof(body),
             "{\"Image\":\"%s\",\"Cmd\":[\"cat\"],\"OpenStdin\":true,"
             "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
             image);
    json_t *r = curl_json(sock, "POST", "/containers/create", body);
    const char *id = json_string_value(json_object_get(r, "Id"));
    if (!id) {
        fprintf(stderr, "bench_engine: curl create failed\n");
        exit(1);
    }
    char *cid = strdup(id);
    json_decref(r);
    snprintf(path, sizeof(path), "/containers/%s/start", cid);
    json_decref(curl_json(sock, "POST", path, NULL));
    return cid;
}

static void curl_exec(const char *sock, const char *cid, const char *argv_json)
{
    char path[512], body[512];
    snprintf(path, sizeof(path), "/containers/%s/exec", cid);
    snprintf(body, sizeof(body), "{\"Cmd\":%s,\"AttachStdout\":true,\"AttachStderr\":true}",
             argv_json);
    json_t *r = curl_json(sock, "POST", path, body);
    char *eid = strdup(json_string_value(json_object_get(r, "Id")));
    json_decref(r);
    snprintf(path, sizeof(path), "/exec/%s/start", eid);
    curl_discard(sock, path, "{\"Detach\":false,\"Tty\":false}");
    snprintf(path, sizeof(path), "/exec/%s/json", eid);
    json_decref(curl_json(sock, "GET", path, NULL));
    free(eid);
}

static double curl_lifecycle(const char *sock)
{
    double t0 = now();
    char *cid = curl_create_started(sock);
    for (int i = 0; i < N_EXECS; i++)
        curl_exec(sock, cid, "[\"true\"]");
    char path[512];
    snprintf(path, sizeof(path), "/containers/%s?force=true", cid);
    json_decref(curl_json(sock, "DELETE", path, NULL));
    free(cid);
    return now() - t0;
}

/* ---- ours ---- */

static int count_out(int stream, const char *data, size_t len, void *ud)
{
    (void)stream;
    (void)data;
    *(size_t *)ud += len;
    return 0;
}

static char *ours_create_started(cd_engine *e)
{
    cd_error_t err = {0};
    json_t *spec = json_pack("{s:s, s:[s], s:b, s:{s:s}}", "Image", image, "Cmd", "cat",
                             "OpenStdin", 1, "HostConfig", "NetworkMode", "none");
    char *id = NULL;
    if (cd_engine_container_create(e, NULL, spec, &id, &err) < 0 ||
        cd_engine_container_start(e, id, &err) < 0)
        die("create", &err);
    json_decref(spec);
    return id;
}

static double ours_lifecycle(cd_engine *e)
{
    cd_error_t err = {0};
    double t0 = now();
    char *id = ours_create_started(e);
    const char *argv[] = {"true", NULL};
    cd_engine_exec_config cfg = {.cmd = argv, .attach_stdout = true, .attach_stderr = true};
    for (int i = 0; i < N_EXECS; i++) {
        size_t n = 0;
        int code = -1;
        if (cd_engine_exec_run(e, id, &cfg, NULL, 0, count_out, &n, &code, &err) < 0)
            die("exec", &err);
    }
    if (cd_engine_container_remove(e, id, true, false, &err) < 0)
        die("remove", &err);
    free(id);
    return now() - t0;
}

static void bench(const char *label, const char *sock, int reps, long long stream_bytes)
{
    cd_error_t err = {0};
    cd_engine_options o = {.endpoint = sock};
    cd_engine *e = cd_engine_open(&o, &err);
    if (!e)
        die("open", &err);
    printf("== %s (%s %s, API %s)\n", label, cd_engine_server_name(e), cd_engine_server_version(e),
           cd_engine_api_version(e));
    double c[64], u[64];
    for (int i = 0; i < reps; i++) { /* interleaved so drift hits both alike */
        c[i] = curl_lifecycle(sock);
        u[i] = ours_lifecycle(e);
    }
    double mc = median(c, reps), mu = median(u, reps);
    printf("lifecycle create+start+%d execs+remove: curl %.3f s, cd_engine %.3f s, "
           "ratio %.2f (median of %d)\n",
           N_EXECS, mc, mu, mu / mc, reps);
    printf("per exec round trip (lifecycle/%d): curl %.1f ms, cd_engine %.1f ms\n", N_EXECS,
           mc * 1000 / N_EXECS, mu * 1000 / N_EXECS);

    if (stream_bytes > 0) {
        char *id = ours_create_started(e);
        char script[128], argv_json[256];
        snprintf(script, sizeof(script), "head -c %lld /dev/zero", stream_bytes);
        snprintf(argv_json, sizeof(argv_json), "[\"sh\",\"-c\",\"%s\"]", script);
        double t0 = now();
        curl_exec(sock, id, argv_json);
        double tc = now() - t0;
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        long curl_rss = ru.ru_maxrss;

        const char *argv[] = {"sh", "-c", script, NULL};
        cd_engine_exec_config cfg = {.cmd = argv, .attach_stdout = true, .attach_stderr = true};
        size_t n = 0;
        int code = -1;
        t0 = now();
        if (cd_engine_exec_run(e, id, &cfg, NULL, 0, count_out, &n, &code, &err) < 0)
            die("stream exec", &err);
        double tu = now() - t0;
        getrusage(RUSAGE_SELF, &ru);
        if ((long long)n != stream_bytes)
            fprintf(stderr, "bench_engine: got %zu of %lld bytes\n", n, stream_bytes);
        double mib = (double)stream_bytes / (1 << 20);
        printf("exec output %.0f MiB: curl -o /dev/null %.0f MiB/s, cd_engine %.0f MiB/s, "
               "throughput ratio %.2f; max RSS cd_engine process %ld KiB (curl %ld KiB)\n",
               mib, mib / tc, mib / tu, tc / tu, ru.ru_maxrss, curl_rss);
        cd_engine_container_remove(e, id, true, false, &err);
        free(id);
    }
    cd_engine_close(e);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    long long bytes = argc > 2 ? atoll(argv[2]) : 1LL << 30;
    if (reps < 1 || reps > 64)
        reps = 3;
    image = getenv("CD_TEST_IMAGE_BUSYBOX");
    if (!image) {
        fprintf(stderr, "bench_engine: source /run/conductor-test/env first\n");
        return 77;
    }
    static const char *const vars[][2] = {{"podman", "CD_TEST_PODMAN_SOCKET"},
                                          {"docker", "CD_TEST_DOCKER_SOCKET"}};
    for (size_t i = 0; i < 2; i++) {
        const char *s = getenv(vars[i][1]);
        if (s && *s)
            bench(vars[i][0], s, reps, bytes);
    }
    return 0;
}
