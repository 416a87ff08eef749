/* "This job", as the four stage programs see it (protocol doc §4, §5).
 *
 * Two sources: the CUSTOM_ENV_* view of the environment (always there) and JOB_RESPONSE_FILE
 * (the runner's re-encoding of the job payload; holds what the env flattens: image entrypoint
 * and pull_policy, services, variable flags, credentials, steps). cd_job_load() reads both.
 *
 * Everything derived from the job that prepare, run and cleanup must agree on (container,
 * network, volume names, labels, builds/cache dirs) is computed here, deterministically from
 * CUSTOM_ENV_CI_JOB_ID + CI_RUNNER_SHORT_TOKEN + CI_CONCURRENT_PROJECT_ID + CI_PROJECT_ID, so a
 * cleanup after a failed config or prepare finds the same objects without any state.
 *
 * Secrets: cd_job_load() registers the job token, every masked variable value, registry
 * passwords and DOCKER_AUTH_CONFIG secrets with cd_log_register_secret(). cd_job_free() zeroes
 * them.
 *
 * Ownership: the cd_job owns every string and array inside; borrowed pointers returned by
 * getters live as long as the job. */
#ifndef CD_JOB_JOB_H
#define CD_JOB_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/error.h"

typedef struct {
    char *key;
    char *value; /* for file variables: the file's content (that is what the env carries) */
    bool masked, file, raw, public_;
} cd_job_var;

typedef struct {
    char *name;             /* "python:3.12-slim" */
    char *alias;            /* first alias, or NULL */
    char **aliases;         /* every alias (NULL-terminated) when the job response lists them */
    char **entrypoint;      /* NULL-terminated, NULL when not given; [""] would mean "reset" */
    char **command;         /* NULL-terminated or NULL */
    unsigned pull_policies; /* mask of cd_pull_policy from the payload; 0 = not given */
    cd_job_var *variables;  /* services' own variables (values already expanded) */
    size_t n_variables;
    char *platform; /* executor_opts.docker.platform or NULL */
    char *user;     /* executor_opts.docker.user or NULL */
} cd_job_image;

typedef struct {
    char *registry; /* host[:port] as given, e.g. "registry.gitlab.example.com" */
    char *username;
    char *password; /* secret */
} cd_registry_cred;

typedef struct {
    char *name;    /* "script", "after_script", "release" ... */
    char **script; /* NULL-terminated lines */
    int64_t timeout_s;
    char *when; /* "on_success", "always", ... */
    bool allow_failure;
} cd_job_step;

typedef struct {
    /* identity, from CUSTOM_ENV_* (fallback: response.json) */
    int64_t id;                    /* CI_JOB_ID */
    int64_t project_id;            /* CI_PROJECT_ID */
    int64_t pipeline_id;           /* CI_PIPELINE_ID, 0 if unknown */
    int64_t runner_id;             /* CI_RUNNER_ID, 0 if unknown */
    int64_t concurrent_id;         /* CI_CONCURRENT_ID (runner-wide slot) */
    int64_t concurrent_project_id; /* CI_CONCURRENT_PROJECT_ID (slot within project) */
    int64_t timeout_s;             /* CI_JOB_TIMEOUT or runner_info.timeout; 0 unknown */
    char *short_token;             /* CI_RUNNER_SHORT_TOKEN, sanitized to [a-zA-Z0-9_-] */
    char *project_path;            /* CI_PROJECT_PATH "group/name" */
    char *job_url;                 /* CI_JOB_URL or NULL */
    char *sha, *ref;               /* CI_COMMIT_SHA, CI_COMMIT_REF_NAME or NULL */
    char *server_url;              /* CI_SERVER_URL or NULL */
    char *token;                   /* CI_JOB_TOKEN (secret) or NULL */
    char *runner_version;          /* CI_RUNNER_VERSION or NULL */

    bool has_response;  /* JOB_RESPONSE_FILE was read */
    cd_job_image image; /* image.name is NULL when the job has none */
    cd_job_image *services;
    size_t n_services;
    cd_job_var *variables; /* payload variables, in payload order */
    size_t n_variables;
    cd_registry_cred *creds; /* DOCKER_AUTH_CONFIG (job var first, then runner env), then
                                credentials[] of the payload, in that precedence order */
    size_t n_creds;
    cd_job_step *steps;
    size_t n_steps;

    char **custom_env; /* "KEY=value" copies of every CUSTOM_ENV_* with the prefix
                          stripped, NULL-terminated, environment order */
} cd_job;

/* Read the job from `envp` (NULL: environ): every CUSTOM_ENV_*, and JOB_RESPONSE_FILE when
 * that variable is set and the file exists. Errors:
 *  - SYSTEM: the response file exists but cannot be read, or OOM;
 *  - DATA:   the response file is not the expected JSON (message names line:column);
 *  - USAGE:  CUSTOM_ENV_CI_JOB_ID missing or not a number (we were not started by a runner).
 * On success *out is a new job (free with cd_job_free). */
int cd_job_load(char *const *envp, cd_job **out, cd_error_t *err);

/* Same, with the response JSON given directly (tests, fuzzing). `response` may be NULL. */
int cd_job_load_from(char *const *envp, const char *response, size_t response_len, cd_job **out,
                     cd_error_t *err);

cd_job *cd_job_free(cd_job *job);

/* CUSTOM_ENV_<key> value (key without the prefix), or NULL. Borrowed. */
const char *cd_job_env(const cd_job *job, const char *key);
/* A payload variable by key, or NULL. Borrowed. */
const cd_job_var *cd_job_var_find(const cd_job *job, const char *key);

/* ---- deterministic names (docker executor style) ----
 * base  = "<prefix>-<short token>-project-<project id>-concurrent-<concurrent project id>"
 *          (prefix from cfg->volume_prefix, default "runner"; gitlab-runner's
 *          ProjectUniqueName is exactly this with prefix "runner")
 * cd_job_name(job, cfg, NULL)      → "<base>-job-<job id>"             (the build container)
 * cd_job_name(job, cfg, "network") → "<base>-job-<job id>-network"
 * cd_job_name(job, cfg, "svc-0")   → "<base>-job-<job id>-svc-0"
 * Names only contain [a-zA-Z0-9_.-]. New string, NULL on OOM. */
char *cd_job_name(const cd_job *job, const cd_config *cfg, const char *suffix);
/* Volumes: "<base>-cache" (kept between jobs); builds: "<base>-builds" when
 * cfg->builds_persistent, else "<base>-job-<job id>-builds" (removed by cleanup). */
char *cd_job_volume_name(const cd_job *job, const cd_config *cfg, const char *what);

/* builds_dir / cache_dir to report from config_exec: paths inside the container, unique per
 * runner and concurrent slot: "<cfg root>/<short token>/<concurrent id>". */
char *cd_job_builds_dir(const cd_job *job, const cd_config *cfg);
char *cd_job_cache_dir(const cd_job *job, const cd_config *cfg);

/* Label keys */
#define CD_LABEL_MANAGED "com.gitlab.gitlab-runner.managed"
#define CD_LABEL_TYPE "com.gitlab.gitlab-runner.type"
#define CD_LABEL_JOB_ID "io.conductor.job-id"
#define CD_LABEL_CREATED "io.conductor.created" /* unix seconds, decimal */
#define CD_LABEL_RUNNER "io.conductor.runner"   /* short token */
#define CD_LABEL_OWNER "io.conductor.managed"   /* "true": what `conductor gc` filters on */

/* Labels for an object of `type` ("build", "service", "network", "volume", "helper"):
 * com.gitlab.gitlab-runner.{managed=true,type,job.id,job.url,job.sha,job.ref,project.id,
 * pipeline.id,runner.id} (as the docker executor sets them, empty ones left out) and
 * io.conductor.{managed=true,job-id,runner,concurrent-id,project-id,created=<now>,version}.
 * `now` is the creation time to record (unix seconds). Returns a new JSON object of string
 * values (ready for the Engine API "Labels"), NULL on OOM. */
json_t *cd_job_labels(const cd_job *job, const char *type, int64_t now);
/* A label filter matching every object of this job: {"label":["io.conductor.job-id=<id>",
 * "io.conductor.runner=<short>"]} as a JSON object (for ?filters=). NULL on OOM. */
json_t *cd_job_label_filter(const cd_job *job);

/* ---- image choice ----
 * The image to run: the job's image.name (else CUSTOM_ENV_CI_JOB_IMAGE), else the project
 * section's default_image, else cfg->default_image. The pull policy: the first of the job's
 * pull_policies that the admin allows (docker executor semantics: a job asking only for
 * policies outside allowed_pull_policies is a BUILD error), else cfg->pull_policy.
 * A disallowed image is a BUILD error naming it and the allow-list. */
typedef struct {
    const char *name; /* borrowed from job or cfg */
    cd_pull_policy policy;
    bool from_job; /* false when the default image was used */
} cd_image_choice;
int cd_job_pick_image(const cd_job *job, const cd_config *cfg, cd_image_choice *out,
                      cd_error_t *err);
/* The same for job->services[i]: allowed_services (a BUILD error naming it), pull policy. */
int cd_job_pick_service(const cd_job *job, size_t i, const cd_config *cfg, cd_image_choice *out,
                        cd_error_t *err);

/* ---- registry auth ----
 * The registry host an image reference pulls from: "docker.io" for "alpine",
 * "registry.example.com:5000" for "registry.example.com:5000/x/y:1". New string. */
char *cd_image_registry(const char *image);
/* The first credential matching the image's registry (docker.io also matches
 * "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"), or NULL. */
const cd_registry_cred *cd_job_registry_cred(const cd_job *job, const char *image);

/* Parse a DOCKER_AUTH_CONFIG JSON text ({"auths":{"host":{"auth":"b64(user:pass)"}|
 * {"username":..,"password":..}}}) and append to creds/n. credsStore/credHelpers are
 * ignored (debug note) (no helper binaries in our hosts). Registers passwords as secrets.
 * DATA error (with line:column) on malformed JSON or base64. `what` names the source in
 * messages ("CUSTOM_ENV_DOCKER_AUTH_CONFIG"). */
int cd_docker_auth_parse(const char *json_text, const char *what, cd_registry_cred **creds,
                         size_t *n, cd_error_t *err);

#endif
