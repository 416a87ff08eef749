/* Start/stop tests/gitlab/standin.py from a C test: a private data dir under $TMPDIR, the
 * port read from the file the stand-in writes, stopped by its pid. Skips (77) without
 * python3. */
#ifndef CD_TESTS_STANDIN_HARNESS_H
#define CD_TESTS_STANDIN_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tap.h"

typedef struct {
    pid_t pid;
    int port;
    char dir[256];  /* temp dir: data/, port, log */
    char data[300]; /* the stand-in's data dir */
    char base[64];  /* http://127.0.0.1:<port> */
} standin;

static inline int standin_start(standin *s, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(s->dir, sizeof(s->dir), "%s/cd-standin-XXXXXX", tmp);
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    char port_file[320], log_file[320], script[1024];
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    snprintf(log_file, sizeof(log_file), "%s/standin.log", s->dir);
    const char *src = getenv("CD_SOURCE_DIR");
    snprintf(script, sizeof(script), "%s/tests/gitlab/standin.py", src ? src : ".");
    if (access(script, R_OK) != 0)
        tap_skip_all("stand-in %s not found (set CD_SOURCE_DIR)", script);
    if (system("python3 -c 'import http.server' >/dev/null 2>&1") != 0)
        tap_skip_all("python3 is not installed");
    const char *argv[64] = {"python3", script, "--data-dir", s->data, "--port-file", port_file};
    int n = 6;
    for (; extra && *extra && n < 62; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        FILE *lf = freopen(log_file, "w", stderr);
        (void)lf;
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok) {
                snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
                return 0;
            }
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static inline void standin_stop(standin *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->dir[0] && !getenv("CD_KEEP_STANDIN")) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "# could not remove %s\n", s->dir);
    }
}

static size_t standin_sink_(char *d, size_t sz, size_t n, void *ud)
{
    FILE *f = ud;
    return fwrite(d, sz, n, f) * sz;
}

/* Talk to the control API (faults, settings, reset, requests). *ret_body (optional) gets
 * the answer, malloc'ed. */
static inline int standin_control(const standin *s, const char *what, const char *json,
                                  char **ret_body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/__control/%s", s->base, what);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (json)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, standin_sink_);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    fclose(mem);
    if (ret_body)
        *ret_body = buf;
    else
        free(buf);
    return rc == CURLE_OK && code == 200 ? 0 : -1;
}

/* Read a whole file the stand-in stored (NULL if missing). */
static inline char *standin_read(const standin *s, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", s->data, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

#endif
