/* lib/job: CUSTOM_ENV_* + response.json parsing, names, labels, image choice, registry auth,
 * secret registration. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "tap.h"
#include "util/log.h"

/* A response as gitlab-runner 19.4 encodes it (field order of spec.Job, one line). */
static const char response[] =
    "{\"id\":4242,\"token\":\"glcbt-64_tokentokentoken\",\"allow_git_fetch\":true,"
    "\"job_info\":{\"name\":\"train\",\"stage\":\"build\",\"pipeline_id\":77,\"project_id\":12,"
    "\"project_name\":\"assistant-models\",\"project_full_path\":\"nlu/assistant-models\"},"
    "\"git_info\":{\"repo_url\":\"https://gitlab.example.com/nlu/assistant-models.git\","
    "\"ref\":\"main\",\"sha\":\"025398743b682f5527aadfdae557de521ef37f8c\",\"depth\":20},"
    "\"runner_info\":{\"timeout\":3600},\"inputs\":{},"
    "\"variables\":[{\"key\":\"CI_JOB_ID\",\"value\":\"4242\",\"public\":true,\"file\":false,"
    "\"masked\":false,\"raw\":false},"
    "{\"key\":\"API_KEY\",\"value\":\"s3cr3t-value-123\",\"public\":false,\"file\":false,"
    "\"masked\":true,\"raw\":false},"
    "{\"key\":\"TRAIN_CFG\",\"value\":\"epochs: 3\\n\",\"public\":false,\"file\":true,"
    "\"masked\":false,\"raw\":true}],"
    "\"steps\":[{\"name\":\"script\",\"script\":[\"conductor-nlu train\",\"echo ok\"],"
    "\"timeout\":3600,\"when\":\"on_success\",\"allow_failure\":false},"
    "{\"name\":\"after_script\",\"script\":[\"echo bye\"],\"timeout\":300,\"when\":\"always\","
    "\"allow_failure\":true}],"
    "\"image\":{\"name\":\"registry.example.com:5000/nlu/rasa:3\",\"alias\":\"\",\"command\":null,"
    "\"entrypoint\":[\"/bin/sh\",\"-c\"],\"pull_policy\":[\"if-not-present\"],"
    "\"executor_opts\":{\"docker\":{\"platform\":\"linux/amd64\",\"user\":\"\"}}},"
    "\"services\":[{\"name\":\"redis:7\",\"alias\":\"cache, kv\",\"entrypoint\":null,"
    "\"command\":[\"redis-server\",\"--save\",\"\"],\"pull_policy\":[\"always\"]}],"
    "\"artifacts\":[{\"name\":\"model\",\"untracked\":false,\"paths\":[\"model/\"],"
    "\"when\":\"on_success\",\"artifact_type\":\"archive\",\"artifact_format\":\"zip\","
    "\"expire_in\":\"1 week\"}],"
    "\"cache\":[],"
    "\"credentials\":[{\"type\":\"registry\",\"url\":\"registry.example.com:5000\","
    "\"username\":\"gitlab-ci-token\",\"password\":\"glcbt-64_tokentokentoken\"},"
    "{\"type\":\"other\",\"url\":\"x\",\"username\":\"u\",\"password\":\"p-other-secret\"}],"
    "\"dependencies\":[],\"features\":{\"trace_sections\":true}}\n";

static char *env_base[] = {
    "PATH=/usr/bin",
    "CUSTOM_ENV_CI_JOB_ID=4242",
    "CUSTOM_ENV_CI_PROJECT_ID=12",
    "CUSTOM_ENV_CI_PIPELINE_ID=77",
    "CUSTOM_ENV_CI_RUNNER_ID=5",
    "CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN=t0k3n/xy",
    "CUSTOM_ENV_CI_CONCURRENT_ID=3",
    "CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID=1",
    "CUSTOM_ENV_CI_PROJECT_PATH=nlu/assistant-models",
    "CUSTOM_ENV_CI_JOB_URL=https://gitlab.example.com/nlu/assistant-models/-/jobs/4242",
    "CUSTOM_ENV_CI_JOB_TOKEN=glcbt-64_tokentokentoken",
    "CUSTOM_ENV_API_KEY=s3cr3t-value-123",
    "CUSTOM_ENV_CI_JOB_IMAGE=registry.example.com:5000/nlu/rasa:3",
    "CUSTOM_ENV_CI_JOB_SERVICES=[{\"name\":\"redis:7\",\"alias\":\"cache\",\"entrypoint\":null,"
    "\"command\":[\"redis-server\"],\"variables\":{\"MODE\":\"fast\"}}]",
    "CUSTOM_ENV_DOCKER_AUTH_CONFIG={\"auths\":{\"https://index.docker.io/v1/\":"
    "{\"auth\":\"aHVidXNlcjpodWJwYXNzd29yZA==\"}}}", /* hubuser:hubpassword */
    "CUSTOM_ENV_DUP=first",
    "CUSTOM_ENV_DUP=second",
    NULL,
};

static cd_job *load(char **envp, const char *resp)
{
    cd_error_t err = {0};
    cd_job *job = NULL;
    int rc = cd_job_load_from(envp, resp, resp ? strlen(resp) : 0, &job, &err);
    ok(rc == 0 && job, "job loads%s%s", err.msg ? ": " : "", err.msg ? err.msg : "");
    cd_error_clear(&err);
    return job;
}

static void test_parse(void)
{
    cd_job *j = load(env_base, response);
    if (!j)
        return;
    is_int(j->id, 4242, "job id");
    is_int(j->project_id, 12, "project id");
    is_int(j->pipeline_id, 77, "pipeline id");
    is_int(j->concurrent_id, 3, "concurrent id");
    is_int(j->concurrent_project_id, 1, "concurrent project id");
    is_int(j->timeout_s, 3600, "timeout from runner_info");
    is_str(j->short_token, "t0k3n_xy", "short token sanitised for names");
    is_str(j->project_path, "nlu/assistant-models", "project path");
    is_str(j->sha, "025398743b682f5527aadfdae557de521ef37f8c", "sha from git_info");
    ok(j->has_response, "response read");
    is_str(j->image.name, "registry.example.com:5000/nlu/rasa:3", "image name");
    ok(j->image.entrypoint && strcmp(j->image.entrypoint[0], "/bin/sh") == 0 &&
           strcmp(j->image.entrypoint[1], "-c") == 0 && !j->image.entrypoint[2],
       "entrypoint array");
    ok(j->image.alias == NULL, "empty alias is NULL");
    is_int(j->image.pull_policies, CD_PULL_IF_NOT_PRESENT, "image pull policy");
    is_str(j->image.platform, "linux/amd64", "platform");
    is_int(j->n_variables, 3, "three variables");
    const cd_job_var *v = cd_job_var_find(j, "API_KEY");
    ok(v && v->masked && !v->file, "masked flag");
    v = cd_job_var_find(j, "TRAIN_CFG");
    ok(v && v->file && v->raw && strcmp(v->value, "epochs: 3\n") == 0, "file + raw flags");
    is_int(j->n_steps, 2, "two steps");
    ok(j->n_steps == 2 && strcmp(j->steps[1].name, "after_script") == 0 &&
           j->steps[1].allow_failure && strcmp(j->steps[0].script[1], "echo ok") == 0,
       "steps content");
    /* services from CI_JOB_SERVICES (expanded variables), pull policy from the response */
    is_int(j->n_services, 1, "one service");
    if (j->n_services == 1) {
        is_str(j->services[0].alias, "cache", "first alias");
        ok(j->services[0].aliases && !strcmp(j->services[0].aliases[0], "cache") &&
               j->services[0].aliases[1] && !strcmp(j->services[0].aliases[1], "kv") &&
               !j->services[0].aliases[2],
           "every alias from the job response (cache, kv)");
        ok(j->services[0].n_variables == 1 &&
               strcmp(j->services[0].variables[0].value, "fast") == 0,
           "service variables from the env");
        is_int(j->services[0].pull_policies, CD_PULL_ALWAYS, "service pull policy kept");
    }
    is_str(cd_job_env(j, "DUP"), "second", "last duplicate wins (Go exec semantics)");
    ok(cd_job_env(j, "CI_JOB_I") == NULL, "env lookup is by whole key");
    /* credentials: DOCKER_AUTH_CONFIG first, then payload registry creds; "other" dropped */
    is_int(j->n_creds, 2, "two registry credentials");
    const cd_registry_cred *c = cd_job_registry_cred(j, "registry.example.com:5000/nlu/rasa:3");
    ok(c && strcmp(c->username, "gitlab-ci-token") == 0, "payload credential for the job image");
    c = cd_job_registry_cred(j, "alpine:3");
    ok(c && strcmp(c->username, "hubuser") == 0 && strcmp(c->password, "hubpassword") == 0,
       "DOCKER_AUTH_CONFIG auth decoded, docker hub aliases match");
    ok(cd_job_registry_cred(j, "quay.io/x/y") == NULL, "no credential for another registry");
    cd_job_free(j);
}

static void test_secrets(void)
{
    cd_log_clear_secrets();
    cd_job *j = load(env_base, response);
    const char *line = "token glcbt-64_tokentokentoken key s3cr3t-value-123 hub hubpassword "
                       "other p-other-secret";
    char *m = cd_log_mask(line, strlen(line));
    is_str(m, "token [MASKED] key [MASKED] hub [MASKED] other [MASKED]",
           "job token, masked var, registry passwords registered");
    free(m);
    cd_job_free(j);
    cd_log_clear_secrets();
}

static void test_secrets_env_only(void)
{
    cd_log_clear_secrets();
    char *env[] = {"CUSTOM_ENV_CI_JOB_ID=3", "CUSTOM_ENV_CI_REGISTRY_PASSWORD=regpass-secret",
                   "CUSTOM_ENV_CI_JOB_TOKEN=glcbt-envonly", NULL};
    cd_job *j = load(env, NULL);
    const char *line = "regpass-secret glcbt-envonly";
    char *m = cd_log_mask(line, strlen(line));
    is_str(m, "[MASKED] [MASKED]", "well-known secrets masked without a response file");
    free(m);
    cd_job_free(j);
    cd_log_clear_secrets();
}

static void test_names(void)
{
    cd_job *j = load(env_base, response);
    cd_config *cfg = cd_config_new();
    if (!j || !cfg)
        return;
    char *s = cd_job_name(j, cfg, NULL);
    is_str(s, "runner-t0k3n_xy-project-12-concurrent-1-job-4242", "container name");
    free(s);
    s = cd_job_name(j, cfg, "svc-redis:7");
    is_str(s, "runner-t0k3n_xy-project-12-concurrent-1-job-4242-svc-redis_7",
           "suffix cleaned to engine name characters");
    free(s);
    s = cd_job_volume_name(j, cfg, "cache");
    is_str(s, "runner-t0k3n_xy-project-12-concurrent-1-cache", "cache volume per slot");
    free(s);
    s = cd_job_volume_name(j, cfg, "builds");
    is_str(s, "runner-t0k3n_xy-project-12-concurrent-1-job-4242-builds", "ephemeral builds");
    free(s);
    cfg->builds_persistent = true;
    s = cd_job_volume_name(j, cfg, "builds");
    is_str(s, "runner-t0k3n_xy-project-12-concurrent-1-builds", "persistent builds");
    free(s);
    s = cd_job_builds_dir(j, cfg);
    is_str(s, "/builds/t0k3n_xy/3", "builds dir per runner and concurrent id");
    free(s);
    free(cfg->cache_dir);
    cfg->cache_dir = strdup("/c/");
    s = cd_job_cache_dir(j, cfg);
    is_str(s, "/c/t0k3n_xy/3", "cache dir, trailing slash folded");
    free(s);

    json_t *l = cd_job_labels(j, "build", 1700000000);
    ok(l && json_object_size(l) > 10, "labels");
    is_str(json_string_value(json_object_get(l, CD_LABEL_MANAGED)), "true", "managed label");
    is_str(json_string_value(json_object_get(l, CD_LABEL_TYPE)), "build", "type label");
    is_str(json_string_value(json_object_get(l, "com.gitlab.gitlab-runner.job.id")), "4242",
           "docker executor job id label");
    is_str(json_string_value(json_object_get(l, "com.gitlab.gitlab-runner.project.id")), "12",
           "project id label");
    is_str(json_string_value(json_object_get(l, CD_LABEL_CREATED)), "1700000000", "created");
    is_str(json_string_value(json_object_get(l, CD_LABEL_JOB_ID)), "4242", "our job id label");
    is_str(json_string_value(json_object_get(l, CD_LABEL_OWNER)), "true", "our managed label");
    const char *k;
    json_t *val;
    int all_strings = 1;
    json_object_foreach(l, k, val) all_strings &= json_is_string(val);
    ok(all_strings, "every label value is a string (Engine API requirement)");
    json_decref(l);
    json_t *f = cd_job_label_filter(j);
    char *fs = json_dumps(f, JSON_COMPACT);
    is_str(fs, "{\"label\":[\"io.conductor.job-id=4242\",\"io.conductor.runner=t0k3n_xy\"]}",
           "label filter");
    free(fs);
    json_decref(f);
    cd_config_free(cfg);
    cd_job_free(j);
}

static void test_pick_image(void)
{
    cd_job *j = load(env_base, response);
    cd_config *cfg = cd_config_new();
    cd_error_t err = {0};
    cd_image_choice ch;
    if (!j || !cfg)
        return;
    ok(cd_job_pick_image(j, cfg, &ch, &err) == 0 && ch.from_job &&
           strcmp(ch.name, "registry.example.com:5000/nlu/rasa:3") == 0 &&
           ch.policy == CD_PULL_IF_NOT_PRESENT,
       "job image with its own policy");
    cfg->allowed_pull_policies = CD_PULL_ALWAYS;
    ok(cd_job_pick_image(j, cfg, &ch, &err) < 0 && err.kind == CD_ERR_BUILD &&
           strstr(err.msg, "pull_policy ([if-not-present])") && strstr(err.msg, "([always])"),
       "job policy outside the allow-list is a build error (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
    cfg->allowed_pull_policies = CD_PULL_ALL;
    cfg->allowed_images = calloc(2, sizeof(char *));
    cfg->allowed_images[0] = strdup("docker.io/library/*");
    ok(cd_job_pick_image(j, cfg, &ch, &err) < 0 && err.kind == CD_ERR_BUILD &&
           strstr(err.msg, "image `registry.example.com:5000/nlu/rasa:3` is not allowed") &&
           strstr(err.msg, "docker.io/library/*"),
       "disallowed image is a build error naming the list (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
    cd_job_free(j);

    /* no response, no CI_JOB_IMAGE: the configured default, always allowed */
    char *env2[] = {"CUSTOM_ENV_CI_JOB_ID=9", "CUSTOM_ENV_CI_PROJECT_PATH=a/b", NULL};
    j = load(env2, NULL);
    ok(j && !j->has_response, "env-only job");
    ok(j && cd_job_pick_image(j, cfg, &ch, &err) == 0 && !ch.from_job &&
           strcmp(ch.name, "alpine:latest") == 0 && ch.policy == CD_PULL_IF_NOT_PRESENT,
       "default image and policy");
    cd_job_free(j);
    cd_config_free(cfg);
}

static void test_errors(void)
{
    cd_error_t err = {0};
    cd_job *j = NULL;
    char *noid[] = {"CUSTOM_ENV_CI_PROJECT_ID=1", NULL};
    ok(cd_job_load_from(noid, NULL, 0, &j, &err) < 0 && err.kind == CD_ERR_USAGE &&
           strstr(err.msg, "CUSTOM_ENV_CI_JOB_ID is not set"),
       "no job id → usage error");
    cd_error_clear(&err);
    char *badid[] = {"CUSTOM_ENV_CI_JOB_ID=12x", NULL};
    ok(cd_job_load_from(badid, NULL, 0, &j, &err) < 0 && strstr(err.msg, "CI_JOB_ID") &&
           strstr(err.msg, "whole number"),
       "bad job id");
    cd_error_clear(&err);
    char *env[] = {"CUSTOM_ENV_CI_JOB_ID=1", NULL};
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"id\":1,", "parse job response: line 1 column"},
        {"[]", "not a JSON object"},
        {"{\"image\":{\"entrypoint\":\"sh\"}}", "`image.entrypoint` is not an array of strings"},
        {"{\"image\":{\"pull_policy\":[\"sometimes\"]}}", "unknown pull_policy `sometimes`"},
        {"{\"variables\":[{\"value\":\"x\"}]}", "`variables[0]` has no key"},
        {"{\"variables\":[{\"key\":\"A\",\"masked\":\"yes\"}]}",
         "`variables.masked` is not a boolean"},
        {"{\"steps\":{}}", "`steps` is not an array"},
        {"{\"services\":[{\"name\":5}]}", "`services[0].name` is not a string"},
        {"{\"id\":\"x\"}", "`id` is not an integer"},
        {"{\"token\":\"glcbt-secret-not-in-msg\",\"x\":tru}", "line 1 column"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        j = NULL;
        int rc = cd_job_load_from(env, cases[i].json, strlen(cases[i].json), &j, &err);
        ok(rc < 0 && !j && err.msg && strstr(err.msg, cases[i].want) && !strstr(err.msg, "glcbt"),
           "bad response %zu: \"%s\" (got \"%s\")", i, cases[i].want, err.msg ? err.msg : "");
        cd_error_clear(&err);
    }
    char *svc[] = {"CUSTOM_ENV_CI_JOB_ID=1", "CUSTOM_ENV_CI_JOB_SERVICES={", NULL};
    ok(cd_job_load_from(svc, NULL, 0, &j, &err) < 0 && err.kind == CD_ERR_DATA &&
           strstr(err.msg, "CI_JOB_SERVICES"),
       "bad CI_JOB_SERVICES");
    cd_error_clear(&err);
    char *empty_svc[] = {"CUSTOM_ENV_CI_JOB_ID=1", "CUSTOM_ENV_CI_JOB_SERVICES=", NULL};
    j = load(empty_svc, NULL);
    ok(j && j->n_services == 0, "empty CI_JOB_SERVICES means none");
    cd_job_free(j);
}

static void test_docker_auth(void)
{
    cd_registry_cred *c = NULL;
    size_t n = 0;
    cd_error_t err = {0};
    const char *good =
        "{\"auths\":{\"reg.example:5000\":{\"username\":\"u\",\"password\":\"pw-123456\"},"
        "\"id.only\":{\"identitytoken\":\"x\"}},\"credsStore\":\"desktop\"}";
    ok(cd_docker_auth_parse(good, "T", &c, &n, &err) == 0 && n == 1 &&
           strcmp(c[0].registry, "reg.example:5000") == 0 &&
           strcmp(c[0].password, "pw-123456") == 0,
       "username/password form; identitytoken-only entry skipped");
    ok(cd_docker_auth_parse("{\"auths\":{\"r\":{\"auth\":\"!!!\"}}}", "T", &c, &n, &err) < 0 &&
           err.kind == CD_ERR_DATA && strstr(err.msg, "not base64 of user:password"),
       "bad base64");
    cd_error_clear(&err);
    /* "bm9jb2xvbg==" is "nocolon" */
    ok(cd_docker_auth_parse("{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}", "T", &c, &n, &err) <
               0 &&
           strstr(err.msg, "user:password"),
       "auth without a colon");
    cd_error_clear(&err);
    ok(cd_docker_auth_parse("{\"auths\":[]}", "T", &c, &n, &err) < 0 &&
           strstr(err.msg, "`auths` is not an object"),
       "auths of the wrong type");
    cd_error_clear(&err);
    ok(cd_docker_auth_parse("not json", "DOCKER_AUTH_CONFIG", &c, &n, &err) < 0 &&
           strstr(err.msg, "DOCKER_AUTH_CONFIG: line 1") && !strstr(err.msg, "not json"),
       "malformed JSON without echoing the input (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
    is_int(n, 1, "failed parses append nothing");
    for (size_t i = 0; i < n; i++) {
        free(c[i].registry);
        free(c[i].username);
        free(c[i].password);
    }
    free(c);
    char *r = cd_image_registry("localhost/x");
    is_str(r, "localhost", "localhost registry");
    free(r);
    r = cd_image_registry("library/alpine");
    is_str(r, "docker.io", "docker hub");
    free(r);
}

static void test_load_file(void)
{
    char dir[] = "/tmp/cd-job-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char path[128], envf[160];
    snprintf(path, sizeof(path), "%s/response.json", dir);
    FILE *f = fopen(path, "w");
    fputs(response, f);
    fclose(f);
    snprintf(envf, sizeof(envf), "JOB_RESPONSE_FILE=%s", path);
    char *env[] = {"CUSTOM_ENV_CI_JOB_ID=4242", envf, NULL};
    cd_error_t err = {0};
    cd_job *j = NULL;
    ok(cd_job_load(env, &j, &err) == 0 && j && j->has_response && j->n_steps == 2,
       "cd_job_load reads JOB_RESPONSE_FILE");
    cd_job_free(j);
    f = fopen(path, "w");
    fputs("{\"id\": 1,\n \"image\": 7}", f);
    fclose(f);
    ok(cd_job_load(env, &j, &err) < 0 && err.kind == CD_ERR_DATA && strstr(err.msg, path) &&
           strstr(err.msg, "`image` is not an object"),
       "errors name the file (%s)", err.msg ? err.msg : "");
    cd_error_clear(&err);
    unlink(path);
    ok(cd_job_load(env, &j, &err) == 0 && j && !j->has_response,
       "a missing response file is not an error");
    cd_job_free(j);
    rmdir(dir);
}

int main(void)
{
    test_parse();
    test_secrets();
    test_secrets_env_only();
    test_names();
    test_pick_image();
    test_errors();
    test_docker_auth();
    test_load_file();
    cd_log_clear_secrets();
    return tap_done();
}
