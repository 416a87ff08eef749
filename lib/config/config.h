/* The executor's own configuration file (the `--config FILE` given in config.toml's *_args).
 *
 * Format (documented for admins in docs/configuration.md): INI-like, one `key = value` a line,
 * `#` or `;` starts a comment line, values may be double-quoted (then `\"`, `\\`, `\n` escapes
 * apply and `#` is literal), sections `[engine]`, `[image]`, `[limits]`, `[security]`,
 * `[helper]`, `[storage]`, `[gc]`, `[publish]` and any number of `[project "group/name"]`.
 * Unknown sections/keys, duplicate keys and bad values are USAGE errors whose message starts
 * with `<file>:<line>: `.
 *
 * Ownership: cd_config_load() returns a heap object the caller frees with cd_config_free();
 * every string inside belongs to it. A config with all defaults comes from cd_config_new(). */
#ifndef CD_CONFIG_CONFIG_H
#define CD_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Default path tried when no --config is given; absence of this file is not an error. */
#define CD_CONFIG_DEFAULT_PATH "/etc/conductor/conductor.conf"

/* Pull policies as gitlab-runner's docker executor names them. Bit values so an allow-list
 * is a mask. */
typedef enum {
    CD_PULL_ALWAYS = 1u << 0,
    CD_PULL_IF_NOT_PRESENT = 1u << 1,
    CD_PULL_NEVER = 1u << 2,
} cd_pull_policy;
#define CD_PULL_ALL (CD_PULL_ALWAYS | CD_PULL_IF_NOT_PRESENT | CD_PULL_NEVER)

/* "always" | "if-not-present" | "never" → policy; returns 0 for an unknown name. */
cd_pull_policy cd_pull_policy_parse(const char *name);
const char *cd_pull_policy_name(cd_pull_policy p);

/* A `[project "group/name"]` section: per-project publishing overrides. NULL/-1 = inherit. */
typedef struct {
    char *path;          /* "group/sub/name", exact match against CI_PROJECT_PATH */
    char *token_file;    /* file holding this project's GitLab token */
    int fail_on_error;   /* -1 inherit, 0 no, 1 yes */
    char *default_image; /* NULL: inherit */
} cd_config_project;

typedef struct {
    char *path; /* the file it was loaded from, or NULL for pure defaults */

    /* [engine] */
    char *engine_endpoint;    /* "unix:///path", "/path", "tcp://h:p"; NULL: resolve (below) */
    char *engine_tls_dir;     /* ca.pem, cert.pem, key.pem for tcp:// (DOCKER_CERT_PATH style) */
    bool engine_tls_verify;   /* default true when engine_tls_dir is set */
    char *engine_api_version; /* NULL: negotiate */
    int64_t engine_timeout_s; /* per API request (not pulls/execs); default 60 */

    /* [image] */
    char *default_image;            /* used when the job has no image; default "alpine:latest" */
    cd_pull_policy pull_policy;     /* used when the job names none; default if-not-present */
    unsigned allowed_pull_policies; /* mask; default CD_PULL_ALL */
    char **allowed_images;          /* NULL-terminated glob list; NULL/empty = every image */
    char **allowed_services;        /* same for services */
    int64_t wait_for_services_s;    /* how long prepare waits for services' ports; 0 = not */

    /* [limits]; 0 means "no limit" */
    int64_t memory_bytes;      /* "512m", "2g", plain bytes */
    int64_t memory_swap_bytes; /* -1 unlimited, 0 = same as memory (engine default) */
    int64_t nano_cpus;         /* "1.5" cpus → 1500000000 */
    int64_t pids_limit;        /* default 4096 */
    int64_t shm_bytes;         /* /dev/shm size; 0 = engine default */

    /* [security] */
    bool privileged_allowed; /* default false; a job can never ask for more than this */
    bool privileged;         /* run job containers privileged (requires the above) */
    char *network_mode;      /* NULL: per-job bridge network; "bridge", "host", "none", name */
    char **cap_add;          /* NULL-terminated; default none */
    char *user;              /* default user in the job container; NULL: image's */

    /* [helper] */
    char *helper_gitlab_runner; /* host path of a static gitlab-runner binary to mount, or NULL */
    char *helper_image;         /* image for helper stages (get_sources, cache, artifacts) */
    char *helper_mode;          /* "auto" | "mount" | "container"; default "auto" */
    char *helper_git;           /* host path of a static git to mount, or NULL */
    char *conductor_nlu;        /* host path of conductor-nlu; NULL: next to our own binary */
    char *mount_dir; /* where tools appear in the container; default /opt/conductor/bin */

    /* [storage] */
    char *builds_dir;       /* root inside the container; default "/builds" */
    char *cache_dir;        /* root inside the container; default "/cache" */
    bool builds_persistent; /* keep the builds volume between jobs (per concurrent slot) */
    bool cache_enabled;     /* create the cache volume; default true */
    char *volume_prefix;    /* prefix of every name we create; default "runner" */

    /* [gc] */
    int64_t max_job_age_s; /* `conductor gc` removes our objects older than this; 3h */

    /* [publish] */
    char *gitlab_url;      /* NULL: CUSTOM_ENV_CI_SERVER_URL */
    char *gitlab_ca_file;  /* extra CA bundle for gitlab_url */
    char *token_file;      /* default token file when no project section matches */
    bool publish_fail_job; /* does a publishing failure fail the job? default true */

    cd_config_project *projects;
    size_t n_projects;
} cd_config;

/* A config holding every default; NULL only on OOM. */
cd_config *cd_config_new(void);

/* Parse `text` (len bytes, need not be NUL-terminated) as if read from `name` (used in
 * messages). Returns 0, or -1 with a USAGE error "<name>:<line>: <what>". */
int cd_config_parse(const char *text, size_t len, const char *name, cd_config **out,
                    cd_error_t *err);

/* Read and parse `path`. When `path` is NULL the default path is tried and a missing file
 * yields the defaults; an explicitly given path must exist (USAGE error otherwise). */
int cd_config_load(const char *path, cd_config **out, cd_error_t *err);

cd_config *cd_config_free(cd_config *cfg);

/* The engine endpoint to use: the configured one, else $DOCKER_HOST, else $CONTAINER_HOST
 * (both taken from `getenv`, i.e. the runner's own environment, never CUSTOM_ENV_*), else
 * /var/run/docker.sock if it is a socket, else /run/podman/podman.sock if it is a socket, else
 * "unix:///var/run/docker.sock" (the same order as lib/engine's cd_engine_endpoint_resolve,
 * which errors instead of defaulting; kept here so cd_config needs no libcurl). Always a new string
 * ("unix://..." or "tcp://..."); NULL on OOM. `envget` may be NULL (then getenv is used); tests
 * pass their own. */
char *cd_config_engine_endpoint(const cd_config *cfg, const char *(*envget)(const char *name));

/* The project section whose path equals `project_path`, or NULL. */
const cd_config_project *cd_config_project_find(const cd_config *cfg, const char *project_path);

/* Is `image` allowed by allowed_images (glob, fnmatch without FNM_PATHNAME so `*` spans
 * `/`)? The name is tried as written and in docker's normalized form
 * (docker.io/library/alpine:latest). An empty list allows everything. */
bool cd_config_image_allowed(const cd_config *cfg, const char *image);
bool cd_config_service_allowed(const cd_config *cfg, const char *image);

/* Value parsers shared with other helpers (exported for the tests). Return 0 or -1. */
int cd_parse_size(const char *s, int64_t *ret_bytes); /* "512", "64k", "512m", "2g", "1t" */
int cd_parse_duration(const char *s,
                      int64_t *ret_secs);            /* "90", "90s", "15m", "3h", "2d", "1h30m" */
int cd_parse_cpus(const char *s, int64_t *ret_nano); /* "2", "0.5", "1.25" */
int cd_parse_bool(const char *s, bool *ret);         /* true/false/yes/no/on/off/1/0 */

#endif
