/* The job's services (.gitlab-ci.yml `services:`): one container each, on the job's network
 * under the docker executor's aliases, started before the job container. They carry the job's
 * labels, so cleanup and gc remove them with everything else. A service gets only its own
 * `variables:`: the job's variables hold the job token and masked secrets, which a database
 * image does not need (the docker executor passes them all; docs/executor.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver-internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The docker executor's host names for an image: tag and digest dropped, then `/` as `__`
 * and as `-` ("tutum/wordpress:latest" → tutum__wordpress, tutum-wordpress); a registry
 * port goes too, a `:` is no host name. */
static void add_name_aliases(json_t *aliases, const char *image)
{
    cleanup_free char *n = xstrdup(image);
    char *at = strchr(n, '@');
    if (at)
        *at = 0;
    char *slash = strrchr(n, '/');
    char *colon = strrchr(slash ? slash : n, ':');
    if (colon)
        *colon = 0;
    char *first = strchr(n, '/');
    char *port = strchr(n, ':');
    if (port && first && port < first) /* registry:5000/x → registry/x */
        memmove(port, first, strlen(first) + 1);
    for (int dash = 0; dash < 2; dash++) {
        cleanup_free char *a = xmalloc(2 * strlen(n) + 1);
        size_t o = 0;
        for (const char *p = n; *p; p++) {
            if (*p == '/') {
                a[o++] = dash ? '-' : '_';
                if (!dash)
                    a[o++] = '_';
            } else {
                a[o++] = *p;
            }
        }
        a[o] = 0;
        bool dup = false;
        size_t i;
        json_t *v;
        json_array_foreach(aliases, i, v) dup |= !strcmp(json_string_value(v), a);
        if (!dup && *a)
            json_array_append_new(aliases, json_string(a));
    }
}

static json_t *strv_or_null(char *const *v)
{
    if (!v)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        if (*v[i])
            json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *service_spec(const cd_job *job, const cd_job_image *svc, const char *image,
                            const char *network, json_t *aliases)
{
    json_t *env = json_array();
    for (size_t i = 0; i < svc->n_variables; i++)
        json_array_append_new(env,
                              json_sprintf("%s=%s", svc->variables[i].key,
                                           svc->variables[i].value ? svc->variables[i].value : ""));
    json_t *host =
        json_pack("{s:s, s:[s]}", "NetworkMode", network, "SecurityOpt", "no-new-privileges");
    json_t *spec = json_pack("{s:s, s:o, s:o, s:o, s:b, s:b}", "Image", image, "Env", env, "Labels",
                             cd_job_labels(job, "service", (int64_t)time(NULL)), "HostConfig", host,
                             "AttachStdin", 0, "Tty", 0);
    if (aliases)
        json_object_set_new(
            spec, "NetworkingConfig",
            json_pack("{s:{s:{s:O}}}", "EndpointsConfig", network, "Aliases", aliases));
    json_t *ep = strv_or_null(svc->entrypoint), *cmd = strv_or_null(svc->command);
    if (ep)
        json_object_set_new(spec, "Entrypoint", ep);
    if (cmd)
        json_object_set_new(spec, "Cmd", cmd);
    if (svc->platform && *svc->platform)
        json_object_set_new(spec, "Platform", json_string(svc->platform));
    return spec;
}

/* TCP ports the image exposes ("5432/tcp"), as numbers; 0-terminated, at most cap - 1 */
static size_t exposed_ports(json_t *image_info, int *ports, size_t cap)
{
    json_t *ex = json_object_get(json_object_get(image_info, "Config"), "ExposedPorts");
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(ex, k, v)
    {
        int port;
        char proto[8] = "tcp";
        if (n + 1 < cap && sscanf(k, "%d/%7s", &port, proto) >= 1 && !strcmp(proto, "tcp") &&
            port > 0 && port < 65536)
            ports[n++] = port;
    }
    ports[n] = 0;
    return n;
}

static bool tcp_open(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return false;
    cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return true;
    if (errno != EINPROGRESS)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    return poll(&p, 1, 500) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
           soerr == 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until every exposed TCP port of the service accepts a connection, as the docker
 * executor's wait-for-services does (it probes from a helper container; we probe from the
 * engine's host, so only for a local engine). Not up in time: a warning, the job goes on. */
static void wait_ready(cd_engine *e, const char *cname, const char *image, json_t *image_info,
                       const char *network, int64_t timeout_s, cd_driver_log_fn log, void *ud)
{
    int ports[16];
    if (timeout_s <= 0 || !exposed_ports(image_info, ports, 16))
        return;
    if (strncmp(cd_engine_endpoint(e), "unix://", 7)) {
        cd_driver_say(log, ud, "Not waiting for service %s: the engine is remote", image);
        return;
    }
    long long deadline = now_ms() + timeout_s * 1000;
    const char *state = "running";
    for (;;) {
        json_auto_t *info = NULL;
        cd_error_t ie = {0};
        if (cd_engine_container_inspect(e, cname, &info, &ie) < 0) {
            cd_error_clear(&ie);
            state = "gone";
            break;
        }
        json_t *st = json_object_get(info, "State");
        if (!json_is_true(json_object_get(st, "Running"))) {
            cd_driver_say(log, ud,
                          "*** WARNING: service %s exited with status %lld before it was up", image,
                          (long long)json_integer_value(json_object_get(st, "ExitCode")));
            return;
        }
        const char *ip = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(info, "NetworkSettings"), "Networks"),
                            network),
            "IPAddress"));
        bool all = ip && *ip;
        for (size_t i = 0; all && ports[i]; i++)
            all = tcp_open(ip, ports[i]);
        if (all) {
            cd_driver_say(log, ud, "Service %s is up", image);
            return;
        }
        if (now_ms() >= deadline)
            break;
        usleep(200 * 1000);
    }
    cd_driver_say(log, ud,
                  "*** WARNING: service %s is %s, but not answering on its port(s) after %llds; "
                  "the job goes on",
                  image, state, (long long)timeout_s);
}

int cd_driver_services_start(cd_engine *e, const cd_config *cfg, const cd_job *job,
                             const char *network, bool aliases, cd_driver_log_fn log, void *ud,
                             cd_error_t *err)
{
    if (job->n_services && !aliases)
        cd_driver_say(log, ud,
                      "*** WARNING: network_mode %s has no service aliases: services are "
                      "reachable by address only",
                      network);
    for (size_t i = 0; i < job->n_services; i++) {
        const cd_job_image *svc = &job->services[i];
        cd_image_choice ch;
        if (cd_job_pick_service(job, i, cfg, &ch, err) < 0)
            return -1;
        json_auto_t *info = NULL;
        if (cd_driver_ensure_image(e, job, &ch, log, ud, &info, err) < 0)
            return -1;
        json_auto_t *names = NULL;
        if (aliases) {
            names = json_array();
            for (size_t a = 0; svc->aliases && svc->aliases[a]; a++)
                json_array_append_new(names, json_string(svc->aliases[a]));
            if (!svc->aliases && svc->alias && *svc->alias)
                json_array_append_new(names, json_string(svc->alias));
            add_name_aliases(names, ch.name);
        }
        cleanup_free char *base = cd_job_name(job, cfg, NULL);
        cleanup_free char *cname = xasprintf("%s-svc-%zu", base, i);
        json_auto_t *spec = service_spec(job, svc, ch.name, network, names);
        cleanup_free char *id = NULL;
        if (cd_engine_container_create(e, cname, spec, &id, err) < 0 ||
            cd_engine_container_start(e, cname, err) < 0) {
            if (err->status == 400) /* the engine refused what the job asked (command, ...) */
                err->kind = CD_ERR_BUILD;
            return cd_error_wrap(err, "service `%s`", ch.name);
        }
        cleanup_free char *list = names ? json_dumps(names, JSON_COMPACT) : xstrdup("[]");
        cd_driver_say(log, ud, "Service %s started as %s, aliases %s", ch.name, cname, list);
        wait_ready(e, cname, ch.name, info, network, cfg->wait_for_services_s, log, ud);
    }
    return 0;
}
