/* JOB_RESPONSE_FILE, CUSTOM_ENV_CI_JOB_SERVICES and DOCKER_AUTH_CONFIG: the JSON inputs of a
 * job. All three may hold secrets, so jansson's error text is cut before its "near '...'"
 * excerpt: an error message must never quote a token. */
#include <errno.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

static int oom(cd_error_t *err)
{
    return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "parse job");
}

static int bad(cd_error_t *err, const char *where, const char *key, const char *want)
{
    return cd_error(err, CD_ERR_DATA, 0, "`%s%s%s` is not %s", where, *where ? "." : "", key, want);
}

/* jansson's message without the " near '<input excerpt>'" tail */
static int json_fail(cd_error_t *err, const char *what, const json_error_t *je)
{
    const char *near = strstr(je->text, " near ");
    int n = near ? (int)(near - je->text) : (int)strlen(je->text);
    return cd_error(err, CD_ERR_DATA, 0, "%s: line %d column %d: %.*s", what, je->line, je->column,
                    n, je->text);
}

static int get_str(json_t *o, const char *key, const char *where, char **out, cd_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(err, where, key, "a string");
    char *d = strndup(json_string_value(v), json_string_length(v));
    if (!d)
        return oom(err);
    free(*out);
    *out = d;
    return 0;
}

static int get_bool(json_t *o, const char *key, const char *where, bool *out, cd_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(err, where, key, "a boolean");
    *out = json_is_true(v);
    return 0;
}

static int get_int(json_t *o, const char *key, const char *where, int64_t *out, cd_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad(err, where, key, "an integer");
    *out = json_integer_value(v);
    return 0;
}

static int get_strv(json_t *o, const char *key, const char *where, char ***out, cd_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(err, where, key, "an array of strings");
    size_t n = json_array_size(v);
    char **vec = calloc(n + 1, sizeof(*vec));
    if (!vec)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            cd_strv_free(vec);
            return bad(err, where, key, "an array of strings");
        }
        if (!(vec[i] = strndup(json_string_value(s), json_string_length(s)))) {
            cd_strv_free(vec);
            return oom(err);
        }
    }
    cd_strv_free(*out);
    *out = vec;
    return 0;
}

/* "a b,c" → "a" in *alias and, when all is not NULL, ["a", "b", "c"] in *all: CI_JOB_SERVICES
 * carries only the first of the space- or comma-separated aliases, the docker executor uses
 * them all. */
static int first_alias(char **alias, char ***all)
{
    if (!*alias)
        return 0;
    size_t cnt = 0;
    for (const char *p = *alias; all && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n) {
            char **v = realloc(*all, (cnt + 2) * sizeof(*v));
            if (!v)
                return -1;
            *all = v;
            if (!(v[cnt] = strndup(p, n)))
                return -1;
            v[++cnt] = NULL;
        }
        p += n;
    }
    size_t n = strcspn(*alias, " ,");
    (*alias)[n] = '\0';
    if (n == 0) {
        free(*alias);
        *alias = NULL;
    }
    return 0;
}

static int parse_vars(json_t *arr, const char *where, cd_job_var **out, size_t *nout,
                      cd_error_t *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cd_error(err, CD_ERR_DATA, 0, "`%s` is not an array", where);
    size_t n = json_array_size(arr);
    cd_job_var *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return oom(err);
    *out = v;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return cd_error(err, CD_ERR_DATA, 0, "`%s[%zu]` is not an object", where, i);
        *nout = i + 1;
        if (get_str(o, "key", where, &v[i].key, err) < 0 ||
            get_str(o, "value", where, &v[i].value, err) < 0 ||
            get_bool(o, "masked", where, &v[i].masked, err) < 0 ||
            get_bool(o, "file", where, &v[i].file, err) < 0 ||
            get_bool(o, "raw", where, &v[i].raw, err) < 0 ||
            get_bool(o, "public", where, &v[i].public_, err) < 0)
            return -1;
        if (!v[i].key)
            return cd_error(err, CD_ERR_DATA, 0, "`%s[%zu]` has no key", where, i);
        if (!v[i].value && !(v[i].value = strdup("")))
            return oom(err);
    }
    return 0;
}

static int parse_image(json_t *o, const char *where, cd_job_image *im, cd_error_t *err)
{
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return cd_error(err, CD_ERR_DATA, 0, "`%s` is not an object", where);
    if (get_str(o, "name", where, &im->name, err) < 0 ||
        get_str(o, "alias", where, &im->alias, err) < 0 ||
        get_strv(o, "entrypoint", where, &im->entrypoint, err) < 0 ||
        get_strv(o, "command", where, &im->command, err) < 0)
        return -1;
    if (first_alias(&im->alias, &im->aliases) < 0)
        return oom(err);
    /* Go encodes an absent image as {"name":""} */
    if (im->name && !*im->name) {
        free(im->name);
        im->name = NULL;
    }
    char **pp = NULL;
    if (get_strv(o, "pull_policy", where, &pp, err) < 0)
        return -1;
    for (char **p = pp; p && *p; p++) {
        cd_pull_policy pol = cd_pull_policy_parse(*p);
        if (!pol) {
            cd_error(err, CD_ERR_BUILD, 0,
                     "unknown pull_policy `%.40s` in the job's image (want always, "
                     "if-not-present or never)",
                     *p);
            cd_strv_free(pp);
            return -1;
        }
        im->pull_policies |= pol;
    }
    /* the mask forgets order; keep the first named policy as "preferred" by clearing the
     * others only when the caller needs one: cd_job_pick_image takes the first allowed in
     * the fixed order always > if-not-present > never, which is how the docker executor
     * falls back too (it tries them in order) */
    cd_strv_free(pp);
    char w[64];
    snprintf(w, sizeof(w), "%s.variables", where);
    if (parse_vars(json_object_get(o, "variables"), w, &im->variables, &im->n_variables, err) < 0)
        return -1;
    json_t *docker = json_object_get(json_object_get(o, "executor_opts"), "docker");
    if (json_is_object(docker) && (get_str(docker, "platform", where, &im->platform, err) < 0 ||
                                   get_str(docker, "user", where, &im->user, err) < 0))
        return -1;
    return 0;
}

static int parse_steps(json_t *arr, cd_job *job, cd_error_t *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cd_error(err, CD_ERR_DATA, 0, "`steps` is not an array");
    size_t n = json_array_size(arr);
    job->steps = calloc(n ? n : 1, sizeof(*job->steps));
    if (!job->steps)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        cd_job_step *s = &job->steps[i];
        if (!json_is_object(o))
            return cd_error(err, CD_ERR_DATA, 0, "`steps[%zu]` is not an object", i);
        job->n_steps = i + 1;
        if (get_str(o, "name", "steps", &s->name, err) < 0 ||
            get_strv(o, "script", "steps", &s->script, err) < 0 ||
            get_int(o, "timeout", "steps", &s->timeout_s, err) < 0 ||
            get_str(o, "when", "steps", &s->when, err) < 0 ||
            get_bool(o, "allow_failure", "steps", &s->allow_failure, err) < 0)
            return -1;
        if (!s->name)
            return cd_error(err, CD_ERR_DATA, 0, "`steps[%zu]` has no name", i);
    }
    return 0;
}

static int parse_credentials(json_t *arr, cd_job *job, cd_error_t *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cd_error(err, CD_ERR_DATA, 0, "`credentials` is not an array");
    size_t n = json_array_size(arr);
    job->creds = calloc(n ? n : 1, sizeof(*job->creds));
    if (!job->creds)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return cd_error(err, CD_ERR_DATA, 0, "`credentials[%zu]` is not an object", i);
        cleanup_free char *type = NULL;
        cd_registry_cred c = {0};
        if (get_str(o, "type", "credentials", &type, err) < 0 ||
            get_str(o, "url", "credentials", &c.registry, err) < 0 ||
            get_str(o, "username", "credentials", &c.username, err) < 0 ||
            get_str(o, "password", "credentials", &c.password, err) < 0) {
            cd_registry_cred_done(&c);
            return -1;
        }
        cd_log_register_secret(c.password);
        if (!type || strcmp(type, "registry") != 0 || !c.registry || !c.username) {
            cd_registry_cred_done(&c);
            continue;
        }
        job->creds[job->n_creds++] = c;
    }
    return 0;
}

int cd_job_parse_response(cd_job *job, const char *text, size_t len, cd_error_t *err)
{
    json_error_t je;
    json_auto_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return json_fail(err, "parse job response", &je);
    if (!json_is_object(root))
        return cd_error(err, CD_ERR_DATA, 0, "job response is not a JSON object");
    job->has_response = true;

    int64_t id = 0;
    if (get_int(root, "id", "", &id, err) < 0)
        return -1;
    if (!job->id)
        job->id = id;
    if (!job->token && get_str(root, "token", "", &job->token, err) < 0)
        return -1;
    json_t *info = json_object_get(root, "job_info");
    if (json_is_object(info)) {
        if (!job->project_id && get_int(info, "project_id", "job_info", &job->project_id, err) < 0)
            return -1;
        if (!job->pipeline_id &&
            get_int(info, "pipeline_id", "job_info", &job->pipeline_id, err) < 0)
            return -1;
        if (!job->project_path &&
            get_str(info, "project_full_path", "job_info", &job->project_path, err) < 0)
            return -1;
    }
    json_t *runner = json_object_get(root, "runner_info");
    if (json_is_object(runner) && !job->timeout_s &&
        get_int(runner, "timeout", "runner_info", &job->timeout_s, err) < 0)
        return -1;
    json_t *git = json_object_get(root, "git_info");
    if (json_is_object(git) &&
        ((!job->sha && get_str(git, "sha", "git_info", &job->sha, err) < 0) ||
         (!job->ref && get_str(git, "ref", "git_info", &job->ref, err) < 0)))
        return -1;

    if (parse_image(json_object_get(root, "image"), "image", &job->image, err) < 0 ||
        parse_vars(json_object_get(root, "variables"), "variables", &job->variables,
                   &job->n_variables, err) < 0 ||
        parse_steps(json_object_get(root, "steps"), job, err) < 0 ||
        parse_credentials(json_object_get(root, "credentials"), job, err) < 0)
        return -1;

    json_t *svcs = json_object_get(root, "services");
    if (svcs && !json_is_null(svcs)) {
        if (!json_is_array(svcs))
            return cd_error(err, CD_ERR_DATA, 0, "`services` is not an array");
        size_t n = json_array_size(svcs);
        job->services = calloc(n ? n : 1, sizeof(*job->services));
        if (!job->services)
            return oom(err);
        for (size_t i = 0; i < n; i++) {
            char w[32];
            snprintf(w, sizeof(w), "services[%zu]", i);
            job->n_services = i + 1;
            if (parse_image(json_array_get(svcs, i), w, &job->services[i], err) < 0)
                return -1;
        }
    }
    return 0;
}

int cd_job_parse_services_env(cd_job *job, const char *text, cd_error_t *err)
{
    json_error_t je;
    json_auto_t *root = json_loads(text, 0, &je);
    if (!root)
        return json_fail(err, "parse CUSTOM_ENV_CI_JOB_SERVICES", &je);
    if (!json_is_array(root))
        return cd_error(err, CD_ERR_DATA, 0, "CUSTOM_ENV_CI_JOB_SERVICES is not a JSON array");
    size_t n = json_array_size(root);
    cd_job_image *svcs = calloc(n ? n : 1, sizeof(*svcs));
    if (!svcs)
        return oom(err);
    int rc = 0;
    size_t done = 0;
    for (size_t i = 0; i < n && rc == 0; i++, done++) {
        json_t *o = json_array_get(root, i);
        cd_job_image *im = &svcs[i];
        char w[48];
        snprintf(w, sizeof(w), "CI_JOB_SERVICES[%zu]", i);
        if (!json_is_object(o)) {
            rc = cd_error(err, CD_ERR_DATA, 0, "`%s` is not an object", w);
            break;
        }
        if (get_str(o, "name", w, &im->name, err) < 0 ||
            get_str(o, "alias", w, &im->alias, err) < 0 ||
            get_strv(o, "entrypoint", w, &im->entrypoint, err) < 0 ||
            get_strv(o, "command", w, &im->command, err) < 0) {
            rc = -1;
            break;
        }
        first_alias(&im->alias, NULL); /* the response gives them all (below) */
        json_t *vars = json_object_get(o, "variables");
        if (vars && !json_is_null(vars)) {
            if (!json_is_object(vars)) {
                rc = cd_error(err, CD_ERR_DATA, 0, "`%s.variables` is not an object", w);
                break;
            }
            im->variables = calloc(json_object_size(vars) + 1, sizeof(*im->variables));
            if (!im->variables) {
                rc = oom(err);
                break;
            }
            const char *k;
            json_t *val;
            json_object_foreach(vars, k, val)
            {
                if (!json_is_string(val)) {
                    rc =
                        cd_error(err, CD_ERR_DATA, 0, "`%s.variables.%.64s` is not a string", w, k);
                    break;
                }
                cd_job_var *v = &im->variables[im->n_variables++];
                v->key = strdup(k);
                v->value = strndup(json_string_value(val), json_string_length(val));
                if (!v->key || !v->value) {
                    rc = oom(err);
                    break;
                }
            }
        }
        /* only the response knows a service's pull policy and all its aliases */
        if (i < job->n_services) {
            im->pull_policies = job->services[i].pull_policies;
            if (im->name && job->services[i].name && !strcmp(im->name, job->services[i].name)) {
                im->aliases = job->services[i].aliases;
                job->services[i].aliases = NULL;
            }
        }
    }
    if (rc < 0) {
        for (size_t i = 0; i <= done && i < n; i++)
            cd_job_image_done(&svcs[i]);
        free(svcs);
        return -1;
    }
    for (size_t i = 0; i < job->n_services; i++)
        cd_job_image_done(&job->services[i]);
    free(job->services);
    job->services = svcs;
    job->n_services = n;
    return 0;
}

/* base64 "user:password" → the two halves (both secrets). */
static int decode_auth(const char *b64, char **user, char **pass)
{
    size_t len = strlen(b64);
    struct base64_decode_ctx ctx;
    size_t dlen = BASE64_DECODE_LENGTH(len);
    char *dec = malloc(dlen + 1);
    if (!dec)
        return -1;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &dlen, (uint8_t *)dec, len, b64) ||
        !base64_decode_final(&ctx) || memchr(dec, '\0', dlen)) {
        explicit_bzero(dec, BASE64_DECODE_LENGTH(len));
        free(dec);
        return -1;
    }
    dec[dlen] = '\0';
    char *colon = strchr(dec, ':');
    if (!colon) {
        cd_free_secret(dec);
        return -1;
    }
    *colon = '\0';
    *user = strdup(dec);
    *pass = strdup(colon + 1);
    explicit_bzero(dec, dlen);
    free(dec);
    return *user && *pass ? 0 : -1;
}

int cd_docker_auth_parse(const char *json_text, const char *what, cd_registry_cred **creds,
                         size_t *n, cd_error_t *err)
{
    json_error_t je;
    json_auto_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return json_fail(err, what, &je);
    if (!json_is_object(root))
        return cd_error(err, CD_ERR_DATA, 0, "%s is not a JSON object", what);
    if (json_object_get(root, "credsStore") || json_object_get(root, "credHelpers"))
        cd_debug("%s: credsStore/credHelpers are not supported, ignoring", what);
    json_t *auths = json_object_get(root, "auths");
    if (!auths || json_is_null(auths))
        return 0;
    if (!json_is_object(auths))
        return cd_error(err, CD_ERR_DATA, 0, "%s: `auths` is not an object", what);
    const char *host;
    json_t *entry;
    json_object_foreach(auths, host, entry)
    {
        if (!json_is_object(entry))
            return cd_error(err, CD_ERR_DATA, 0, "%s: `auths.%.64s` is not an object", what, host);
        cd_registry_cred c = {0};
        json_t *auth = json_object_get(entry, "auth");
        if (json_is_string(auth) && json_string_length(auth)) {
            cd_log_register_secret(json_string_value(auth));
            if (decode_auth(json_string_value(auth), &c.username, &c.password) < 0) {
                cd_registry_cred_done(&c);
                return cd_error(err, CD_ERR_DATA, 0,
                                "%s: `auths.%.64s.auth` is not base64 of user:password", what,
                                host);
            }
        } else {
            json_t *u = json_object_get(entry, "username"), *p = json_object_get(entry, "password");
            if (!json_is_string(u) || !json_is_string(p))
                continue; /* e.g. an identitytoken-only entry: nothing we can use */
            c.username = strdup(json_string_value(u));
            c.password = strdup(json_string_value(p));
        }
        c.registry = strdup(host);
        cd_log_register_secret(c.password);
        cd_registry_cred *nc = realloc(*creds, (*n + 1) * sizeof(*nc));
        if (!c.registry || !c.username || !c.password || !nc) {
            if (nc)
                *creds = nc;
            cd_registry_cred_done(&c);
            return oom(err);
        }
        *creds = nc;
        nc[(*n)++] = c;
    }
    return 0;
}
