/* Opening an engine: endpoint resolution and parsing, TLS files, API version negotiation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "engine/engine-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

static bool is_socket(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int cd_engine_endpoint_resolve(const char *explicit_value, char **ret_endpoint, cd_error_t *err)
{
    static const char *const envs[] = {"DOCKER_HOST", "CONTAINER_HOST"};
    static const char *const sockets[] = {"/var/run/docker.sock", "/run/podman/podman.sock"};
    *ret_endpoint = NULL;
    const char *v = explicit_value && *explicit_value ? explicit_value : NULL;
    for (size_t i = 0; !v && i < 2; i++) {
        const char *s = getenv(envs[i]);
        if (s && *s)
            v = s;
    }
    if (v) {
        *ret_endpoint = strdup(v);
    } else {
        for (size_t i = 0; i < 2 && !*ret_endpoint; i++)
            if (is_socket(sockets[i]) && asprintf(ret_endpoint, "unix://%s", sockets[i]) < 0)
                *ret_endpoint = NULL;
        if (!*ret_endpoint)
            return cd_engine_fail(err, CD_ERR_NOTFOUND, ENOENT,
                                  "no container engine endpoint: engine.endpoint, DOCKER_HOST and "
                                  "CONTAINER_HOST are unset, and neither %s nor %s is a socket",
                                  sockets[0], sockets[1]);
    }
    if (!*ret_endpoint)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    return 0;
}

static char *cert_file(const char *dir, const char *name)
{
    char *p = NULL;
    if (!dir || asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    if (access(p, R_OK) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* unix:///p, /p, tcp://h:p, http://h:p, https://h:p → the engine's fields. */
static int parse_endpoint(cd_engine *e, const char *ep, const cd_engine_options *o, cd_error_t *err)
{
    const char *path = NULL;
    if (strncmp(ep, "unix://", 7) == 0)
        path = ep + 7;
    else if (ep[0] == '/')
        path = ep;
    if (path) {
        if (!*path)
            return cd_engine_fail(err, CD_ERR_USAGE, 0, "engine endpoint `%s`: empty socket path",
                                  ep);
        e->unix_path = strdup(path);
        e->base_url = strdup("http://localhost");
        if (asprintf(&e->endpoint, "unix://%s", path) < 0)
            e->endpoint = NULL;
        return 0;
    }

    const char *hostport = NULL;
    bool https = false;
    if (strncmp(ep, "tcp://", 6) == 0)
        hostport = ep + 6;
    else if (strncmp(ep, "http://", 7) == 0)
        hostport = ep + 7;
    else if (strncmp(ep, "https://", 8) == 0)
        hostport = ep + 8, https = true;
    if (!hostport || !*hostport || strpbrk(hostport, "/?#@ "))
        return cd_engine_fail(err, CD_ERR_USAGE, 0,
                              "engine endpoint `%s`: expected unix:///path, /path or "
                              "tcp://host:port",
                              ep);
    const char *cert_dir =
        o->cert_path && *o->cert_path ? o->cert_path : getenv("DOCKER_CERT_PATH");
    const char *verify_env = getenv("DOCKER_TLS_VERIFY");
    cleanup_free char *home_dir = NULL;
    if ((!cert_dir || !*cert_dir) && verify_env && *verify_env && getenv("HOME")) {
        /* the docker CLI's default cert directory */
        if (asprintf(&home_dir, "%s/.docker", getenv("HOME")) < 0)
            home_dir = NULL;
        cert_dir = home_dir;
    }
    e->tls = https || (cert_dir && *cert_dir) || (verify_env && *verify_env);
    e->tls_no_verify = o->tls_no_verify;
    if (e->tls) {
        e->ca_file = cert_file(cert_dir, "ca.pem");
        e->cert_file = cert_file(cert_dir, "cert.pem");
        e->key_file = cert_file(cert_dir, "key.pem");
        if (!!e->cert_file != !!e->key_file)
            return cd_engine_fail(err, CD_ERR_USAGE, 0,
                                  "engine endpoint `%s`: %s has only one of cert.pem and key.pem",
                                  ep, cert_dir);
    }
    /* docker's default ports: 2376 with TLS, 2375 without */
    const char *colon = strrchr(hostport, ':');
    bool has_port = colon && !strchr(colon, ']');
    if (asprintf(&e->base_url, "%s://%s%s", e->tls ? "https" : "http", hostport,
                 has_port ? ""
                 : e->tls ? ":2376"
                          : ":2375") < 0)
        e->base_url = NULL;
    if (asprintf(&e->endpoint, "tcp://%s%s", hostport,
                 has_port ? ""
                 : e->tls ? ":2376"
                          : ":2375") < 0)
        e->endpoint = NULL;
    return 0;
}

/* "1.41" → 141-ish comparable number; -1 if not "N.N". */
long cd_engine_version_num(const char *v)
{
    char *end;
    errno = 0;
    long major = strtol(v, &end, 10);
    if (errno || end == v || *end != '.' || major < 0 || major > 100)
        return -1;
    const char *m = end + 1;
    long minor = strtol(m, &end, 10);
    if (errno || end == m || *end || minor < 0 || minor > 999)
        return -1;
    return major * 1000 + minor;
}

static int negotiate(cd_engine *e, cd_error_t *err)
{
    /* GET /version answers on any version prefix; ask with the one we speak best */
    json_auto_t *v = NULL;
    if (cd_engine_request(e, "GET", "/version", NULL, &v, err) < 0) {
        if (err && err->msg && !strncmp(err->msg, "engine `", 8))
            return -1; /* a transport error: it names the engine already */
        return cd_error_wrap(err, "engine `%s`", e->endpoint);
    }
    const char *api = json_string_value(json_object_get(v, "ApiVersion"));
    if (!api || cd_engine_version_num(api) < 0)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "engine `%s`: GET /version: no valid ApiVersion in the reply",
                              e->endpoint);
    const char *min = json_string_value(json_object_get(v, "MinAPIVersion"));
    if (min && cd_engine_version_num(min) > cd_engine_version_num(CD_ENGINE_API_VERSION_NEWEST))
        return cd_engine_fail(err, CD_ERR_SYSTEM, 0,
                              "engine `%s`: needs API version %s or newer, we speak up to %s",
                              e->endpoint, min, CD_ENGINE_API_VERSION_NEWEST);
    const char *use = cd_engine_version_num(api) < cd_engine_version_num(CD_ENGINE_API_VERSION_MAX)
                          ? api
                          : CD_ENGINE_API_VERSION_MAX;
    if (min && cd_engine_version_num(min) > cd_engine_version_num(use))
        use = min; /* Docker 29: 1.44 at least */
    snprintf(e->api_version, sizeof(e->api_version), "%s", use);

    const char *name = NULL;
    json_t *comps = json_object_get(v, "Components");
    if (json_is_array(comps) && json_array_size(comps) > 0)
        name = json_string_value(json_object_get(json_array_get(comps, 0), "Name"));
    const char *ver = json_string_value(json_object_get(v, "Version"));
    if (name && strstr(name, "Podman"))
        e->kind = CD_ENGINE_PODMAN;
    else
        e->kind = CD_ENGINE_DOCKER;
    /* Docker calls its component just "Engine" */
    if (!name || strcmp(name, "Engine") == 0)
        name = e->kind == CD_ENGINE_PODMAN ? "Podman Engine" : "Docker Engine";
    free(e->server_name);
    free(e->server_version);
    e->server_name = strdup(name);
    e->server_version = strdup(ver ? ver : "");
    if (!e->server_name || !e->server_version)
        return cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    cd_debug("engine: %s %s at %s, API %s (server %s)", e->server_name, e->server_version,
             e->endpoint, e->api_version, api);
    return 0;
}

cd_engine *cd_engine_open(const cd_engine_options *opts, cd_error_t *err)
{
    static const cd_engine_options none = {0};
    const cd_engine_options *o = opts ? opts : &none;
    cleanup_free char *ep = NULL;
    if (cd_engine_endpoint_resolve(o->endpoint, &ep, err) < 0)
        return NULL;

    cd_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
        return NULL;
    }
    e->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    e->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 300000;
    e->interrupt = o->interrupt;
    const char *dbg = getenv("CONDUCTOR_DEBUG");
    e->debug = o->debug || (dbg && strcmp(dbg, "1") == 0);
    e->server_name = strdup("");
    e->server_version = strdup("");
    if (parse_endpoint(e, ep, o, err) < 0)
        return cd_engine_close(e);
    e->curl = curl_easy_init();
    e->multi = curl_multi_init();
    if (!e->curl || !e->multi || !e->endpoint || !e->base_url || !e->server_name ||
        !e->server_version) {
        cd_engine_fail(err, CD_ERR_SYSTEM, ENOMEM, "cannot set up libcurl");
        return cd_engine_close(e);
    }
    if (o->api_version) {
        if (cd_engine_version_num(o->api_version) < 0) {
            cd_engine_fail(err, CD_ERR_USAGE, 0, "bad API version `%s`", o->api_version);
            return cd_engine_close(e);
        }
        snprintf(e->api_version, sizeof(e->api_version), "%s", o->api_version);
    } else {
        snprintf(e->api_version, sizeof(e->api_version), "%s", CD_ENGINE_API_VERSION_MAX);
        if (negotiate(e, err) < 0)
            return cd_engine_close(e);
    }
    return e;
}

cd_engine *cd_engine_close(cd_engine *e)
{
    if (!e)
        return NULL;
    if (e->multi && e->curl)
        curl_multi_remove_handle(e->multi, e->curl);
    if (e->curl)
        curl_easy_cleanup(e->curl);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    free(e->endpoint);
    free(e->base_url);
    free(e->unix_path);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    free(e->server_name);
    free(e->server_version);
    free(e);
    return NULL;
}

const char *cd_engine_endpoint(const cd_engine *e)
{
    return e->endpoint;
}

const char *cd_engine_api_version(const cd_engine *e)
{
    return e->api_version;
}

const char *cd_engine_server_name(const cd_engine *e)
{
    return e->server_name;
}

const char *cd_engine_server_version(const cd_engine *e)
{
    return e->server_version;
}

cd_engine_kind cd_engine_get_kind(const cd_engine *e)
{
    return e->kind;
}

void cd_engine_set_debug(cd_engine *e, bool on)
{
    e->debug = on;
}
