/* lib/config: the parser, every error shape (file:line), value syntaxes, queries. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "tap.h"

static cd_config *parse_ok(const char *text, const char *what)
{
    cd_error_t err = {0};
    cd_config *cfg = NULL;
    int rc = cd_config_parse(text, strlen(text), "t.conf", &cfg, &err);
    ok(rc == 0 && cfg, "%s parses%s%s", what, err.msg ? ": " : "", err.msg ? err.msg : "");
    cd_error_clear(&err);
    return cfg;
}

/* The message must start with "t.conf:<line>: " and contain `needle`. */
static void parse_err(const char *text, unsigned line, const char *needle)
{
    cd_error_t err = {0};
    cd_config *cfg = NULL;
    int rc = cd_config_parse(text, strlen(text), "t.conf", &cfg, &err);
    char want[32];
    snprintf(want, sizeof(want), "t.conf:%u: ", line);
    ok(rc < 0 && !cfg && err.kind == CD_ERR_USAGE && err.msg &&
           strncmp(err.msg, want, strlen(want)) == 0 && strstr(err.msg, needle),
       "error at line %u containing \"%s\" (got \"%s\")", line, needle,
       err.msg ? err.msg : "(none)");
    cd_error_clear(&err);
    cd_config_free(cfg);
}

static void test_defaults(void)
{
    cd_config *c = parse_ok("", "empty file");
    if (!c)
        return;
    is_str(c->default_image, "alpine:latest", "default image");
    is_int(c->pull_policy, CD_PULL_IF_NOT_PRESENT, "default pull policy");
    is_int(c->allowed_pull_policies, CD_PULL_ALL, "all pull policies allowed by default");
    ok(!c->privileged_allowed && !c->privileged, "privileged off by default");
    is_str(c->builds_dir, "/builds", "builds root");
    is_str(c->cache_dir, "/cache", "cache root");
    is_int(c->max_job_age_s, 3 * 3600, "max job age 3h");
    ok(c->publish_fail_job, "publishing failures fail the job by default");
    ok(c->engine_endpoint == NULL, "endpoint unset → resolved at run time");
    cd_config_free(c);
}

static void test_full(void)
{
    const char *text = "# comment\n"
                       "; also a comment\n"
                       "\n"
                       "[engine]\r\n"
                       "endpoint = tcp://10.0.0.5:2376\n"
                       "tls_cert_dir = /etc/conductor/certs   # inline comment\n"
                       "timeout = 1m30s\n"
                       "[image]\n"
                       "default = python:3.12\n"
                       "pull_policy = never\n"
                       "allowed_pull_policies = never , if-not-present\n"
                       "allowed_images = docker.io/library/*, reg.example:5000/team/*\n"
                       "[limits]\n"
                       "memory = 512m\n"
                       "memory_swap = unlimited\n"
                       "cpus = 1.25\n"
                       "pids = unlimited\n"
                       "shm_size = 64MiB\n"
                       "[security]\n"
                       "allow_privileged = yes\n"
                       "privileged = on\n"
                       "network_mode = none\n"
                       "cap_add = NET_ADMIN,SYS_PTRACE\n"
                       "[helper]\n"
                       "mode = container\n"
                       "gitlab_runner = /opt/gr\n"
                       "image = helper:1\n"
                       "[storage]\n"
                       "builds_dir = /b\n"
                       "builds_persistent = true\n"
                       "cache = off\n"
                       "volume_prefix = cond\n"
                       "[gc]\n"
                       "max_job_age = 2d\n"
                       "[publish]\n"
                       "gitlab_url = https://gitlab.example.com\n"
                       "fail_job = yes\n"
                       "token_file = /etc/t\n"
                       "ca_file = \"/etc/ca#1.pem\" # quoted keeps #\n"
                       "[project \"nlu/bot\"]\n"
                       "token_file = /etc/t-bot\n"
                       "fail_job = no\n"
                       "[project \"other/x\"]\n"
                       "default_image = debian:12\n";
    cd_config *c = parse_ok(text, "full example");
    if (!c)
        return;
    is_str(c->engine_endpoint, "tcp://10.0.0.5:2376", "endpoint");
    is_str(c->engine_tls_dir, "/etc/conductor/certs", "inline comment stripped");
    is_int(c->engine_timeout_s, 90, "1m30s");
    is_str(c->default_image, "python:3.12", "image");
    is_str(c->gitlab_ca_file, "/etc/ca#1.pem", "quoted value keeps #");
    is_int(c->pull_policy, CD_PULL_NEVER, "pull policy");
    is_int(c->allowed_pull_policies, CD_PULL_NEVER | CD_PULL_IF_NOT_PRESENT, "allowed mask");
    ok(c->allowed_images && c->allowed_images[1] && !c->allowed_images[2] &&
           strcmp(c->allowed_images[1], "reg.example:5000/team/*") == 0,
       "glob list split and trimmed");
    is_int(c->memory_bytes, 512ll << 20, "512m");
    is_int(c->memory_swap_bytes, -1, "unlimited swap");
    is_int(c->nano_cpus, 1250000000ll, "1.25 cpus");
    is_int(c->pids_limit, 0, "unlimited pids");
    is_int(c->shm_bytes, 64ll << 20, "64MiB");
    ok(c->privileged_allowed && c->privileged, "privileged when allowed");
    is_str(c->network_mode, "none", "network");
    ok(c->cap_add && c->cap_add[1] && strcmp(c->cap_add[1], "SYS_PTRACE") == 0, "cap_add");
    is_str(c->helper_mode, "container", "helper mode");
    is_str(c->helper_gitlab_runner, "/opt/gr", "helper binary");
    is_str(c->builds_dir, "/b", "builds root");
    ok(c->builds_persistent && !c->cache_enabled, "storage booleans");
    is_str(c->volume_prefix, "cond", "prefix");
    is_int(c->max_job_age_s, 2 * 86400, "2d");
    ok(c->publish_fail_job, "fail_job");
    is_int(c->n_projects, 2, "two project sections");
    const cd_config_project *p = cd_config_project_find(c, "nlu/bot");
    ok(p && p->fail_on_error == 0 && p->token_file && strcmp(p->token_file, "/etc/t-bot") == 0,
       "project overrides");
    p = cd_config_project_find(c, "other/x");
    ok(p && p->fail_on_error == -1 && p->default_image, "unset project keys inherit (-1)");
    ok(cd_config_project_find(c, "nlu") == NULL, "no prefix match for projects");
    is_str(c->path, "t.conf", "path recorded");
    cd_config_free(c);
}

static void test_errors(void)
{
    parse_err("[engine]\nendpoint = unix:///x\n[nope]\n", 3, "unknown section [nope]");
    parse_err("[engine]\nendpiont = /x\n", 2, "unknown key `endpiont` in [engine]");
    parse_err("memory = 1g\n", 1, "outside a section");
    parse_err("[limits]\nmemory = 1g\n\nmemory = 2g\n", 4,
              "duplicate key `memory` (first set on line 2)");
    parse_err("[limits]\nmemory = lots\n", 2, "bad value `lots` for `memory`");
    parse_err("[limits]\nmemory = -1g\n", 2, "bad value");
    parse_err("[limits]\nmemory = 99999999999999999999\n", 2, "bad value");
    parse_err("[limits]\ncpus = 0\n", 2, "bad value `0` for `cpus`");
    parse_err("[limits]\ncpus = 1.5.2\n", 2, "positive number of CPUs");
    parse_err("[limits]\npids = 10k\n", 2, "bad value `10k` for `pids`");
    parse_err("[limits]\npids =\n", 2, "bad value");
    parse_err("[image]\npull_policy = sometimes\n", 2, "always, if-not-present or never");
    parse_err("[image]\nallowed_pull_policies = always,,never\n", 2, "bad value");
    parse_err("[image]\nallowed_pull_policies = always\n", 2,
              "pull_policy `if-not-present` is not one of allowed_pull_policies");
    parse_err("[image]\npull_policy = never\nallowed_pull_policies = always\n", 3,
              "is not one of allowed_pull_policies");
    parse_err("[security]\nprivileged = true\n", 2, "needs `allow_privileged = true`");
    parse_err("[helper]\nmode = \"container\"\n", 2, "needs [helper] image");
    parse_err("[security]\nallow_privileged = maybe\n", 2, "true or false");
    parse_err("[security]\nnetwork_mode = my net\n", 2, "network name");
    parse_err("[storage]\nbuilds_dir = builds\n", 2, "absolute directory");
    parse_err("[storage]\nbuilds_dir = /\n", 2, "absolute directory other than /");
    parse_err("[storage]\nvolume_prefix = -x\n", 2, "bad value `-x`");
    parse_err("[helper]\nmode = sometimes\n", 2, "auto, mount or container");
    parse_err("[helper]\ngitlab_runner = gitlab-runner\n", 2, "absolute path");
    parse_err("[engine]\nendpoint = ssh://host\n", 2, "unix:///path");
    parse_err("[engine]\ntimeout = 1h30\n", 2, "duration");
    parse_err("[gc]\nmax_job_age = soon\n", 2, "duration");
    parse_err("[publish]\ngitlab_url = gitlab.example.com\n", 2, "http:// or https:// URL");
    parse_err("[engine]\nendpoint = \"/x\n", 2, "unterminated");
    parse_err("[engine]\nendpoint = \"/x\\q\"\n", 2, "badly escaped");
    parse_err("[engine]\nendpoint = \"/x\" tail\n", 2, "unexpected text after");
    parse_err("[engine\n", 1, "section header");
    parse_err("[project nlu/bot]\n", 1, "quoted path");
    parse_err("[project \"/abs\"]\n", 1, "bad project path");
    parse_err("[project \"a/b\"]\n[project \"a/b\"]\n", 2, "duplicate section [project \"a/b\"]");
    parse_err("[project \"a/b\"]\nmemory = 1g\n", 2, "unknown key `memory` in [project]");
    parse_err("[project \"a/b\"]\nfail_job = 1\nfail_job = 0\n", 3, "duplicate key");
    parse_err("[engine]\nno equals sign\n", 2, "expected `key = value`");
    parse_err("[engine]\n = x\n", 2, "missing key");
    parse_err("[engine]\nEndpoint = /x\n", 2, "lower_case_words");

    /* an embedded NUL needs the explicit length */
    cd_error_t err = {0};
    cd_config *c = NULL;
    static const char nul[] = "[engine]\n\0x = 1\n";
    ok(cd_config_parse(nul, sizeof(nul) - 1, "t.conf", &c, &err) < 0 && err.msg &&
           strstr(err.msg, "t.conf:2: NUL byte"),
       "NUL byte reported with its line (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
}

static void test_empty_unsets(void)
{
    cd_config *c = parse_ok("[image]\ndefault =\nallowed_images =\n[publish]\ntoken_file = \"\"\n",
                            "empty values");
    if (!c)
        return;
    ok(c->default_image == NULL, "empty default image unsets it");
    ok(c->allowed_images == NULL, "empty list = allow all");
    ok(c->token_file == NULL, "quoted empty unsets");
    cd_config_free(c);
}

static void test_values(void)
{
    int64_t v;
    bool b;
    ok(cd_parse_size("0", &v) == 0 && v == 0, "size 0");
    ok(cd_parse_size("1k", &v) == 0 && v == 1024, "1k");
    ok(cd_parse_size("2GB", &v) == 0 && v == 2ll << 30, "2GB");
    ok(cd_parse_size("1t", &v) == 0 && v == 1ll << 40, "1t");
    ok(cd_parse_size("9223372036854775807", &v) == 0 && v == INT64_MAX, "max size");
    ok(cd_parse_size("8388608t", &v) < 0, "overflow with a unit");
    ok(cd_parse_size("1 g", &v) < 0 && cd_parse_size("", &v) < 0 && cd_parse_size("g", &v) < 0,
       "garbage sizes");
    ok(cd_parse_duration("45", &v) == 0 && v == 45, "bare seconds");
    ok(cd_parse_duration("1h30m15s", &v) == 0 && v == 5415, "compound duration");
    ok(cd_parse_duration("1x", &v) < 0 && cd_parse_duration("h", &v) < 0, "bad durations");
    ok(cd_parse_cpus("0.5", &v) == 0 && v == 500000000, "0.5 cpus");
    ok(cd_parse_cpus("0.000000001", &v) == 0 && v == 1, "one nano cpu");
    ok(cd_parse_cpus("0.0000000001", &v) < 0, "finer than nano");
    ok(cd_parse_cpus(".5", &v) < 0 && cd_parse_cpus("1.", &v) < 0, "incomplete decimals");
    ok(cd_parse_bool("YES", &b) == 0 && b && cd_parse_bool("off", &b) == 0 && !b, "bools");
    ok(cd_parse_bool("2", &b) < 0, "bad bool");
    is_str(cd_pull_policy_name(cd_pull_policy_parse("if-not-present")), "if-not-present",
           "pull policy round trip");
    ok(cd_pull_policy_parse("IfNotPresent") == 0, "pull policy names are exact");
}

static void test_images(void)
{
    cd_config *c =
        parse_ok("[image]\nallowed_images = docker.io/library/*, reg:5000/x/*\n", "globs");
    if (!c)
        return;
    ok(cd_config_image_allowed(c, "alpine"), "short name normalised to docker.io/library");
    ok(cd_config_image_allowed(c, "python:3.12-slim"), "tagged short name");
    ok(cd_config_image_allowed(c, "docker.io/library/busybox:1.36"), "full name");
    ok(cd_config_image_allowed(c, "reg:5000/x/y/z:1"), "star spans slashes");
    ok(!cd_config_image_allowed(c, "evil.example/alpine"), "other registry refused");
    ok(!cd_config_image_allowed(c, "someuser/tool"), "docker hub user image refused");
    ok(cd_config_service_allowed(c, "anything"), "empty service list allows all");
    cd_config_free(c);
}

static const char *fake_env_docker, *fake_env_container;
static const char *fake_getenv(const char *n)
{
    if (strcmp(n, "DOCKER_HOST") == 0)
        return fake_env_docker;
    if (strcmp(n, "CONTAINER_HOST") == 0)
        return fake_env_container;
    return NULL;
}

static void test_endpoint(void)
{
    cd_config *c = cd_config_new();
    char *e;
    fake_env_docker = "tcp://d:2375";
    fake_env_container = "unix:///c.sock";
    e = cd_config_engine_endpoint(c, fake_getenv);
    is_str(e, "tcp://d:2375", "DOCKER_HOST first");
    free(e);
    fake_env_docker = "";
    e = cd_config_engine_endpoint(c, fake_getenv);
    is_str(e, "unix:///c.sock", "then CONTAINER_HOST (empty DOCKER_HOST ignored)");
    free(e);
    fake_env_container = NULL;
    e = cd_config_engine_endpoint(c, fake_getenv);
    ok(e && strncmp(e, "unix:///", 8) == 0, "socket fallback is a unix:// URI (%s)", e ? e : "");
    free(e);
    free(c->engine_endpoint);
    c->engine_endpoint = strdup("/run/x.sock");
    fake_env_docker = "tcp://ignored:1";
    e = cd_config_engine_endpoint(c, fake_getenv);
    is_str(e, "unix:///run/x.sock", "configured path wins and becomes unix://");
    free(e);
    cd_config_free(c);
}

static void test_load(void)
{
    cd_error_t err = {0};
    cd_config *c = NULL;
    ok(cd_config_load("/nonexistent/conductor.conf", &c, &err) < 0 && err.kind == CD_ERR_USAGE &&
           strstr(err.msg, "/nonexistent/conductor.conf"),
       "explicit missing file is an error naming it");
    cd_error_clear(&err);
    char path[] = "/tmp/cd-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "[limits]\nmemory = 1g\n[bogus]\n";
    ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp file");
    close(fd);
    ok(cd_config_load(path, &c, &err) < 0 && err.msg && strstr(err.msg, path) &&
           strstr(err.msg, ":3: unknown section"),
       "load reports path:line (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
    unlink(path);
    /* the shipped example must always parse */
    char ex[4096];
    snprintf(ex, sizeof(ex), "%s/config/conductor.conf",
             getenv("CD_SOURCE_DIR") ? getenv("CD_SOURCE_DIR") : "../..");
    ok(cd_config_load(ex, &c, &err) == 0, "config/conductor.conf parses (%s)",
       err.msg ? err.msg : "ok");
    if (c)
        ok(c->n_projects >= 1 && c->memory_bytes > 0, "example sets limits and a project");
    cd_config_free(c);
    cd_error_clear(&err);
}

int main(void)
{
    test_defaults();
    test_full();
    test_errors();
    test_empty_unsets();
    test_values();
    test_images();
    test_endpoint();
    test_load();
    return tap_done();
}
