/* Loading "this job": the CUSTOM_ENV_* view plus JOB_RESPONSE_FILE (protocol doc §4, §5).
 * The response file is the runner's re-encoding of the payload; every field is optional to
 * us, but a field that is present with the wrong type is a DATA error naming the field, so a
 * runner/format change shows up as a clear message instead of a silently ignored setting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strbuf.h"

extern char **environ;

#define PREFIX "CUSTOM_ENV_"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

char **cd_strv_free(char **v)
{
    if (v) {
        for (char **p = v; *p; p++)
            free(*p);
        free(v);
    }
    return NULL;
}

static void var_done(cd_job_var *v)
{
    free(v->key);
    /* values may be secrets whether flagged masked or not (file variables hold keys) */
    cd_free_secret(v->value);
}

void cd_job_image_done(cd_job_image *im)
{
    free(im->name);
    free(im->alias);
    cd_strv_free(im->aliases);
    cd_strv_free(im->entrypoint);
    cd_strv_free(im->command);
    for (size_t i = 0; i < im->n_variables; i++)
        var_done(&im->variables[i]);
    free(im->variables);
    free(im->platform);
    free(im->user);
    memset(im, 0, sizeof(*im));
}

void cd_registry_cred_done(cd_registry_cred *c)
{
    free(c->registry);
    cd_free_secret(c->username);
    cd_free_secret(c->password);
}

cd_job *cd_job_free(cd_job *job)
{
    if (!job)
        return NULL;
    free(job->short_token);
    free(job->project_path);
    free(job->job_url);
    free(job->sha);
    free(job->ref);
    free(job->server_url);
    cd_free_secret(job->token);
    free(job->runner_version);
    cd_job_image_done(&job->image);
    for (size_t i = 0; i < job->n_services; i++)
        cd_job_image_done(&job->services[i]);
    free(job->services);
    for (size_t i = 0; i < job->n_variables; i++)
        var_done(&job->variables[i]);
    free(job->variables);
    for (size_t i = 0; i < job->n_creds; i++)
        cd_registry_cred_done(&job->creds[i]);
    free(job->creds);
    for (size_t i = 0; i < job->n_steps; i++) {
        free(job->steps[i].name);
        cd_strv_free(job->steps[i].script);
        free(job->steps[i].when);
    }
    free(job->steps);
    if (job->custom_env)
        for (char **p = job->custom_env; *p; p++)
            cd_free_secret(*p);
    free(job->custom_env);
    free(job);
    return NULL;
}

const char *cd_job_env(const cd_job *job, const char *key)
{
    if (!job || !job->custom_env || !key)
        return NULL;
    size_t kl = strlen(key);
    const char *found = NULL;
    /* when a key appears twice the process sees the last one (Go's exec keeps the last) */
    for (char **p = job->custom_env; *p; p++)
        if (strncmp(*p, key, kl) == 0 && (*p)[kl] == '=')
            found = *p + kl + 1;
    return found;
}

const cd_job_var *cd_job_var_find(const cd_job *job, const char *key)
{
    if (!job || !key)
        return NULL;
    for (size_t i = job->n_variables; i-- > 0;)
        if (strcmp(job->variables[i].key, key) == 0)
            return &job->variables[i];
    return NULL;
}

static const char *envp_get(char *const *envp, const char *key)
{
    size_t kl = strlen(key);
    const char *found = NULL;
    for (char *const *p = envp; p && *p; p++)
        if (strncmp(*p, key, kl) == 0 && (*p)[kl] == '=')
            found = *p + kl + 1;
    return found;
}

/* Strict decimal; NULL or "" leaves *out alone and returns 0; garbage returns -1. */
static int env_i64(const char *v, int64_t *out)
{
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || end == v || n < 0)
        return -1;
    *out = n;
    return 0;
}

static int dup_env(const cd_job *job, const char *key, char **out)
{
    const char *v = cd_job_env(job, key);
    if (!v || !*v)
        return 0;
    free(*out);
    *out = strdup(v);
    return *out ? 0 : -1;
}

/* Keep the short token usable inside object names whatever the runner hands us. */
static char *sanitize_token(const char *s)
{
    char *r = strdup(s && *s ? s : "unknown");
    if (!r)
        return NULL;
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            *p = '_';
    return r;
}

static int collect_env(char *const *envp, cd_job *job)
{
    size_t n = 0;
    for (char *const *p = envp; p && *p; p++)
        if (strncmp(*p, PREFIX, PREFIX_LEN) == 0 && strchr(*p, '='))
            n++;
    job->custom_env = calloc(n + 1, sizeof(char *));
    if (!job->custom_env)
        return -1;
    size_t k = 0;
    for (char *const *p = envp; p && *p; p++)
        if (strncmp(*p, PREFIX, PREFIX_LEN) == 0 && strchr(*p, '=')) {
            if (!(job->custom_env[k] = strdup(*p + PREFIX_LEN)))
                return -1;
            k++;
        }
    return 0;
}

/* Predefined variables GitLab always sends masked; registered even when only the env view
 * (no response file, so no masked flags) is available. */
static const char *const known_secrets[] = {
    "CI_JOB_TOKEN",       "CI_REGISTRY_PASSWORD", "CI_DEPENDENCY_PROXY_PASSWORD",
    "CI_DEPLOY_PASSWORD", "CI_JOB_JWT",           "CI_JOB_JWT_V1",
    "CI_JOB_JWT_V2",
};

static void register_secrets(const cd_job *job)
{
    cd_log_register_secret(job->token);
    for (size_t i = 0; i < sizeof(known_secrets) / sizeof(*known_secrets); i++)
        cd_log_register_secret(cd_job_env(job, known_secrets[i]));
    for (size_t i = 0; i < job->n_variables; i++)
        if (job->variables[i].masked) {
            cd_log_register_secret(job->variables[i].value);
            /* the env carries the expanded value, which may differ from the payload's */
            cd_log_register_secret(cd_job_env(job, job->variables[i].key));
        }
    for (size_t i = 0; i < job->n_creds; i++)
        cd_log_register_secret(job->creds[i].password);
}

int cd_job_load_from(char *const *envp, const char *response, size_t response_len, cd_job **out,
                     cd_error_t *err)
{
    if (!envp)
        envp = environ;
    cd_job *job = calloc(1, sizeof(*job));
    if (!job || collect_env(envp, job) < 0) {
        cd_job_free(job);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load job");
    }
    static const struct {
        const char *key;
        size_t off;
    } nums[] = {
        {"CI_JOB_ID", offsetof(cd_job, id)},
        {"CI_PROJECT_ID", offsetof(cd_job, project_id)},
        {"CI_PIPELINE_ID", offsetof(cd_job, pipeline_id)},
        {"CI_RUNNER_ID", offsetof(cd_job, runner_id)},
        {"CI_CONCURRENT_ID", offsetof(cd_job, concurrent_id)},
        {"CI_CONCURRENT_PROJECT_ID", offsetof(cd_job, concurrent_project_id)},
        {"CI_JOB_TIMEOUT", offsetof(cd_job, timeout_s)},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++)
        if (env_i64(cd_job_env(job, nums[i].key), (int64_t *)((char *)job + nums[i].off)) < 0) {
            cd_job_free(job);
            return cd_error(err, CD_ERR_USAGE, 0, "CUSTOM_ENV_%s is not a whole number",
                            nums[i].key);
        }
    bool have_id = cd_job_env(job, "CI_JOB_ID") && *cd_job_env(job, "CI_JOB_ID");
    if (dup_env(job, "CI_PROJECT_PATH", &job->project_path) < 0 ||
        dup_env(job, "CI_JOB_URL", &job->job_url) < 0 ||
        dup_env(job, "CI_COMMIT_SHA", &job->sha) < 0 ||
        dup_env(job, "CI_COMMIT_REF_NAME", &job->ref) < 0 ||
        dup_env(job, "CI_SERVER_URL", &job->server_url) < 0 ||
        dup_env(job, "CI_JOB_TOKEN", &job->token) < 0 ||
        dup_env(job, "CI_RUNNER_VERSION", &job->runner_version) < 0 ||
        !(job->short_token = sanitize_token(cd_job_env(job, "CI_RUNNER_SHORT_TOKEN")))) {
        cd_job_free(job);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load job");
    }

    if (response && cd_job_parse_response(job, response, response_len, err) < 0) {
        cd_job_free(job);
        return -1;
    }
    if (!have_id && !job->id) {
        cd_job_free(job);
        return cd_error(err, CD_ERR_USAGE, 0,
                        "CUSTOM_ENV_CI_JOB_ID is not set: run this from gitlab-runner's custom "
                        "executor (or the runner emulator in tests/runner)");
    }
    /* services: the env's CI_JOB_SERVICES carries expanded variables, prefer it */
    const char *svc = cd_job_env(job, "CI_JOB_SERVICES");
    if (svc && *svc && cd_job_parse_services_env(job, svc, err) < 0) {
        cd_job_free(job);
        return -1;
    }
    /* registry auth precedence: the job's DOCKER_AUTH_CONFIG, the runner's, then the
     * payload credentials (already parsed into creds by the response parser: move them last) */
    size_t n_payload = job->n_creds;
    cd_registry_cred *payload = job->creds;
    job->creds = NULL;
    job->n_creds = 0;
    const char *auth_job = cd_job_env(job, "DOCKER_AUTH_CONFIG");
    const char *auth_runner = envp_get(envp, "DOCKER_AUTH_CONFIG");
    int rc = 0;
    if (auth_job && *auth_job)
        rc = cd_docker_auth_parse(auth_job, "CUSTOM_ENV_DOCKER_AUTH_CONFIG", &job->creds,
                                  &job->n_creds, err);
    if (rc == 0 && auth_runner && *auth_runner)
        rc = cd_docker_auth_parse(auth_runner, "DOCKER_AUTH_CONFIG", &job->creds, &job->n_creds,
                                  err);
    if (n_payload) {
        cd_registry_cred *all =
            realloc(job->creds, (job->n_creds + n_payload) * sizeof(*job->creds));
        if (!all) {
            for (size_t i = 0; i < n_payload; i++)
                cd_registry_cred_done(&payload[i]);
            free(payload);
            cd_job_free(job);
            return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load job");
        }
        memcpy(all + job->n_creds, payload, n_payload * sizeof(*payload));
        job->creds = all;
        job->n_creds += n_payload;
    }
    free(payload);
    register_secrets(job);
    if (rc < 0) {
        cd_job_free(job);
        return -1;
    }
    *out = job;
    return 0;
}

int cd_job_load(char *const *envp, cd_job **out, cd_error_t *err)
{
    if (!envp)
        envp = environ;
    const char *path = envp_get(envp, "JOB_RESPONSE_FILE");
    cd_strbuf sb = CD_STRBUF_INIT;
    bool have = false;
    if (path && *path) {
        if (cd_strbuf_read_file(&sb, path, CD_MAX_JOB_RESPONSE) < 0) {
            int e = errno;
            cd_strbuf_done(&sb);
            /* the runner deletes it with the temp dir; absent means "not from a runner" */
            if (e != ENOENT)
                return cd_error(err, e == E2BIG ? CD_ERR_DATA : CD_ERR_SYSTEM, e == E2BIG ? 0 : e,
                                "read JOB_RESPONSE_FILE `%s`%s", path,
                                e == E2BIG ? ": too large" : "");
        } else {
            have = true;
        }
    }
    int rc = cd_job_load_from(envp, have ? cd_strbuf_str(&sb) : NULL, sb.len, out, err);
    if (rc < 0 && have && err && err->kind == CD_ERR_DATA)
        cd_error_wrap(err, "JOB_RESPONSE_FILE `%s`", path);
    /* the response holds the job token and every secret */
    if (sb.buf)
        explicit_bzero(sb.buf, sb.len);
    cd_strbuf_done(&sb);
    return rc;
}
