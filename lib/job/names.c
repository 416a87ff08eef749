/* Deterministic names, labels and paths of a job's objects, and the image/credential choice.
 * Names follow gitlab-runner's docker executor (ProjectUniqueName
 * "runner-<short token>-project-<id>-concurrent-<project slot>") so admins recognise them,
 * with "-job-<id>" added: prepare, run and cleanup (and a cleanup after a failed prepare)
 * derive the same names from the environment alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job-internal.h"

static char *base_name(const cd_job *job, const cd_config *cfg)
{
    char *r = NULL;
    if (asprintf(&r, "%s-%s-project-%lld-concurrent-%lld",
                 cfg && cfg->volume_prefix ? cfg->volume_prefix : "runner", job->short_token,
                 (long long)job->project_id, (long long)job->concurrent_project_id) < 0)
        return NULL;
    return r;
}

/* Engine object names allow [a-zA-Z0-9][a-zA-Z0-9_.-]: map anything else to '_'. */
static char *clean_name(char *s)
{
    if (!s)
        return NULL;
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '_';
    return s;
}

char *cd_job_name(const cd_job *job, const cd_config *cfg, const char *suffix)
{
    char *base = base_name(job, cfg), *r = NULL;
    if (!base)
        return NULL;
    if (asprintf(&r, "%s-job-%lld%s%s", base, (long long)job->id, suffix && *suffix ? "-" : "",
                 suffix && *suffix ? suffix : "") < 0)
        r = NULL;
    free(base);
    return clean_name(r);
}

char *cd_job_volume_name(const cd_job *job, const cd_config *cfg, const char *what)
{
    bool persistent = strcmp(what, "cache") == 0 ||
                      (strcmp(what, "builds") == 0 && cfg && cfg->builds_persistent);
    if (!persistent) {
        char *r = NULL;
        if (asprintf(&r, "%s", what) < 0)
            return NULL;
        char *n = cd_job_name(job, cfg, r);
        free(r);
        return n;
    }
    char *base = base_name(job, cfg), *r = NULL;
    if (!base)
        return NULL;
    if (asprintf(&r, "%s-%s", base, what) < 0)
        r = NULL;
    free(base);
    return clean_name(r);
}

static char *slot_dir(const cd_job *job, const char *root)
{
    char *r = NULL;
    size_t rl = strlen(root);
    /* "/builds/" and "/builds" give the same result */
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (asprintf(&r, "%.*s/%s/%lld", (int)rl, root, job->short_token,
                 (long long)job->concurrent_id) < 0)
        return NULL;
    return r;
}

char *cd_job_builds_dir(const cd_job *job, const cd_config *cfg)
{
    return slot_dir(job, cfg && cfg->builds_dir ? cfg->builds_dir : "/builds");
}

char *cd_job_cache_dir(const cd_job *job, const cd_config *cfg)
{
    return slot_dir(job, cfg && cfg->cache_dir ? cfg->cache_dir : "/cache");
}

static int set_str(json_t *o, const char *k, const char *v)
{
    if (!v || !*v)
        return 0;
    return json_object_set_new(o, k, json_string(v));
}

static int set_num(json_t *o, const char *k, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return json_object_set_new(o, k, json_string(buf));
}

json_t *cd_job_labels(const cd_job *job, const char *type, int64_t now)
{
    json_t *l = json_object();
    if (!l)
        return NULL;
    int rc = 0;
    rc |= set_str(l, CD_LABEL_MANAGED, "true");
    rc |= set_str(l, CD_LABEL_TYPE, type);
    rc |= set_num(l, "com.gitlab.gitlab-runner.job.id", job->id);
    rc |= set_str(l, "com.gitlab.gitlab-runner.job.url", job->job_url);
    rc |= set_str(l, "com.gitlab.gitlab-runner.job.sha", job->sha);
    rc |= set_str(l, "com.gitlab.gitlab-runner.job.ref", job->ref);
    rc |= set_num(l, "com.gitlab.gitlab-runner.project.id", job->project_id);
    if (job->pipeline_id)
        rc |= set_num(l, "com.gitlab.gitlab-runner.pipeline.id", job->pipeline_id);
    if (job->runner_id)
        rc |= set_num(l, "com.gitlab.gitlab-runner.runner.id", job->runner_id);
    rc |= set_str(l, "com.gitlab.gitlab-runner.runner.short_token", job->short_token);
    rc |= set_str(l, CD_LABEL_OWNER, "true");
    rc |= set_num(l, CD_LABEL_JOB_ID, job->id);
    rc |= set_str(l, CD_LABEL_RUNNER, job->short_token);
    rc |= set_num(l, "io.conductor.project-id", job->project_id);
    rc |= set_num(l, "io.conductor.concurrent-id", job->concurrent_id);
    rc |= set_num(l, CD_LABEL_CREATED, now);
    rc |= set_str(l, "io.conductor.version", CD_VERSION);
    if (rc) {
        json_decref(l);
        return NULL;
    }
    return l;
}

json_t *cd_job_label_filter(const cd_job *job)
{
    char a[64], b[256];
    snprintf(a, sizeof(a), "%s=%lld", CD_LABEL_JOB_ID, (long long)job->id);
    snprintf(b, sizeof(b), "%s=%s", CD_LABEL_RUNNER, job->short_token);
    return json_pack("{s:[s,s]}", "label", a, b);
}

/* The first of the pull policies a job asks for (mask) that the admin allows; asking only for
 * others is the job's fault, as in the docker executor. Nothing asked: the config's. */
static int pick_policy(unsigned asked, const cd_config *cfg, cd_pull_policy *out, cd_error_t *err)
{
    *out = cfg->pull_policy;
    if (!asked)
        return 0;
    if (asked & ~cfg->allowed_pull_policies) {
        char a[64] = "", b[64] = "";
        for (unsigned bit = 1; bit <= CD_PULL_NEVER; bit <<= 1) {
            if (asked & bit)
                snprintf(a + strlen(a), sizeof(a) - strlen(a), "%s%s", *a ? ", " : "",
                         cd_pull_policy_name((cd_pull_policy)bit));
            if (cfg->allowed_pull_policies & bit)
                snprintf(b + strlen(b), sizeof(b) - strlen(b), "%s%s", *b ? ", " : "",
                         cd_pull_policy_name((cd_pull_policy)bit));
        }
        return cd_error(err, CD_ERR_BUILD, 0,
                        "pull_policy ([%s]) defined in the job is not one of the "
                        "allowed_pull_policies ([%s])",
                        a, b);
    }
    for (unsigned bit = 1; bit <= CD_PULL_NEVER; bit <<= 1)
        if (asked & bit) {
            *out = (cd_pull_policy)bit;
            break;
        }
    return 0;
}

static void glob_list(char *const *globs, char *list, size_t cap)
{
    size_t used = 0;
    list[0] = 0;
    for (char *const *g = globs; g && *g && used < cap - 1; g++)
        used += (size_t)snprintf(list + used, cap - used, "%s%s", used ? ", " : "", *g);
}

int cd_job_pick_image(const cd_job *job, const cd_config *cfg, cd_image_choice *out,
                      cd_error_t *err)
{
    const char *name = job->image.name;
    if (!name || !*name)
        name = cd_job_env(job, "CI_JOB_IMAGE");
    bool from_job = name && *name;
    if (!from_job) {
        const cd_config_project *pr = cd_config_project_find(cfg, job->project_path);
        name = pr && pr->default_image ? pr->default_image : cfg->default_image;
        if (!name)
            return cd_error(err, CD_ERR_BUILD, 0,
                            "the job names no image and the executor config has no "
                            "[image] default");
    }
    /* as in the docker executor, the admin's own default is always allowed */
    if (from_job && !(cfg->default_image && strcmp(name, cfg->default_image) == 0) &&
        !cd_config_image_allowed(cfg, name)) {
        char list[512];
        glob_list(cfg->allowed_images, list, sizeof list);
        return cd_error(err, CD_ERR_BUILD, 0,
                        "image `%s` is not allowed by the executor config (allowed_images: %s)",
                        name, list);
    }
    cd_pull_policy policy;
    if (pick_policy(job->image.pull_policies, cfg, &policy, err) < 0)
        return -1;
    *out = (cd_image_choice){.name = name, .policy = policy, .from_job = from_job};
    return 0;
}

int cd_job_pick_service(const cd_job *job, size_t i, const cd_config *cfg, cd_image_choice *out,
                        cd_error_t *err)
{
    const cd_job_image *svc = &job->services[i];
    if (!svc->name || !*svc->name)
        return cd_error(err, CD_ERR_BUILD, 0, "service %zu of the job has no image name", i + 1);
    if (!cd_config_service_allowed(cfg, svc->name)) {
        char list[512];
        glob_list(cfg->allowed_services, list, sizeof list);
        return cd_error(err, CD_ERR_BUILD, 0,
                        "service `%s` is not allowed by the executor config (allowed_services: "
                        "%s)",
                        svc->name, list);
    }
    cd_pull_policy policy;
    if (pick_policy(svc->pull_policies, cfg, &policy, err) < 0)
        return -1;
    *out = (cd_image_choice){.name = svc->name, .policy = policy, .from_job = true};
    return 0;
}

char *cd_image_registry(const char *image)
{
    const char *slash = strchr(image, '/');
    if (slash) {
        size_t n = (size_t)(slash - image);
        if (memchr(image, '.', n) || memchr(image, ':', n) ||
            (n == 9 && strncmp(image, "localhost", 9) == 0))
            return strndup(image, n);
    }
    return strdup("docker.io");
}

/* "https://Index.docker.io/v1/" → "index.docker.io"; docker hub aliases → "docker.io" */
static char *norm_registry(const char *r)
{
    if (strncmp(r, "https://", 8) == 0)
        r += 8;
    else if (strncmp(r, "http://", 7) == 0)
        r += 7;
    char *h = strndup(r, strcspn(r, "/"));
    if (!h)
        return NULL;
    if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
        free(h);
        return strdup("docker.io");
    }
    return h;
}

const cd_registry_cred *cd_job_registry_cred(const cd_job *job, const char *image)
{
    char *want = cd_image_registry(image);
    const cd_registry_cred *hit = NULL;
    for (size_t i = 0; want && i < job->n_creds && !hit; i++) {
        char *have = norm_registry(job->creds[i].registry);
        if (have && strcmp(have, want) == 0)
            hit = &job->creds[i];
        free(have);
    }
    free(want);
    return hit;
}
