/* protocol/gitlab-publish-job: the executor's publishing step (cd_publish_job) reading a job's
 * files through the engine's archive API (tests/engine/fake_engine.py serves the tars) and
 * publishing to the GitLab stand-in. Checks the refusals (a results symlink to /etc, a link
 * inside the results, a missing model), the job-log section, fail_job_on_error, and that the
 * token appears in no output. */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "publish/publish.h"
#include "standin-harness.h"
#include "tap.h"
#include "util/log.h"
#include "util/strbuf.h"

#define TOK_DEV "glpat-SECRETjobstep-dev-91ab"
#define TOK_READ "glpat-SECRETjobstep-read-22cd"
#define PROJECT_DIR "/builds/grp/nlu"
#define ARCHIVE_PATH(rel) "/v1.41/containers/c1/archive?path=%2Fbuilds%2Fgrp%2Fnlu%2F" rel

static standin srv;
static cd_strbuf joblog = CD_STRBUF_INIT;

static void on_job_line(void *ud, const char *line)
{
    (void)ud;
    cd_strbuf_adds(&joblog, line);
    cd_strbuf_addc(&joblog, '\n');
}

static void on_log(cd_log_level l, const char *line, void *ud)
{
    (void)l;
    on_job_line(ud, line);
}

/* An uncompressed tar (ASCII only, so it survives the fake engine's text "data") holding a
 * model's metadata.json. */
static char *model_tar(size_t *ret_len)
{
    static const char meta[] =
        "{\"format\":\"conductor-nlu\",\"model_id\":\"feedc0de00112233\","
        "\"trained_at\":\"2026-11-25T03:00:00\",\"fingerprint\":\"" /* 64 hex */
        "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111\","
        "\"config\":{\"pipeline\":[{\"name\":\"LinearIntentClassifier\"}]}}";
    struct archive *a = archive_write_new();
    archive_write_set_format_ustar(a);
    archive_write_add_filter_none(a);
    static char buf[64 * 1024];
    size_t used = 0;
    archive_write_open_memory(a, buf, sizeof(buf), &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "metadata.json");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(meta));
    archive_entry_set_mtime(e, 1764039600, 0);
    archive_write_header(a, e);
    archive_write_data(a, meta, strlen(meta));
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    *ret_len = used;
    return buf;
}

static json_t *file_entry(const char *name, const char *data, size_t len)
{
    return json_pack("{s:s, s:s, s:i, s:s%}", "name", name, "type", "file", "mode", 0644,
                     "data", data, len);
}

static json_t *results_tar(bool with_symlink)
{
    json_t *arr = json_array();
    json_array_append_new(arr, json_pack("{s:s, s:s, s:i}", "name", "results", "type", "dir",
                                         "mode", 0755));
    static const char *const files[] = {"intent_report.json", "intent_errors.json",
                                        "intent_confusion_matrix.svg", "intent_histogram.svg"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char rel[256], name[256];
        snprintf(rel, sizeof(rel), "tests/gitlab/fixtures/results-2/%s", files[i]);
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", getenv("CD_SOURCE_DIR"), rel);
        cd_strbuf sb = CD_STRBUF_INIT;
        if (cd_strbuf_read_file(&sb, path, 1 << 20) < 0) {
            printf("# cannot read %s\n", path);
            exit(1);
        }
        snprintf(name, sizeof(name), "results/%s", files[i]);
        json_array_append_new(arr, file_entry(name, cd_strbuf_str(&sb), sb.len));
        cd_strbuf_done(&sb);
    }
    if (with_symlink)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", "results/passwd.json",
                                             "type", "symlink", "link", "/etc/passwd"));
    return arr;
}

static json_t *exchange(const char *path, json_t *reply)
{
    return json_pack("{s:{s:s, s:s}, s:o}", "expect", "method", "GET", "path", path, "reply",
                     reply);
}

static json_t *model_reply(void)
{
    size_t len;
    char *tar = model_tar(&len);
    json_t *arr = json_array();
    json_array_append_new(arr, file_entry("model.tar", tar, len));
    return json_pack("{s:o}", "tar", arr);
}

static pid_t start_engine(const char *dir, char *sock, size_t socklen, char *log, size_t loglen)
{
    json_t *sc = json_array();
    /* 1. happy path */
    json_array_append_new(sc, exchange(ARCHIVE_PATH("results"),
                                       json_pack("{s:o}", "tar", results_tar(false))));
    json_array_append_new(sc, exchange(ARCHIVE_PATH("models%2Fmodel.tar"), model_reply()));
    /* 2. results -> /etc */
    json_array_append_new(
        sc, exchange(ARCHIVE_PATH("results"),
                     json_pack("{s:[{s:s, s:s, s:s}]}", "tar", "name", "results", "type",
                               "symlink", "link", "/etc")));
    /* 3. a symlink inside the results */
    json_array_append_new(sc, exchange(ARCHIVE_PATH("results"),
                                       json_pack("{s:o}", "tar", results_tar(true))));
    /* 4. the model is missing */
    json_array_append_new(sc, exchange(ARCHIVE_PATH("results"),
                                       json_pack("{s:o}", "tar", results_tar(false))));
    json_array_append_new(
        sc, exchange(ARCHIVE_PATH("models%2Fmodel.tar"),
                     json_pack("{s:i, s:{s:s}}", "status", 404, "json", "message",
                               "Could not find the file /builds/grp/nlu/models/model.tar in "
                               "container c1")));
    /* 5. publish refused by GitLab, fail_job_on_error = false */
    json_array_append_new(sc, exchange(ARCHIVE_PATH("results"),
                                       json_pack("{s:o}", "tar", results_tar(false))));
    json_array_append_new(sc, exchange(ARCHIVE_PATH("models%2Fmodel.tar"), model_reply()));
    char scen[512];
    snprintf(scen, sizeof(scen), "%s/engine.json", dir);
    json_dump_file(sc, scen, 0);
    json_decref(sc);
    snprintf(sock, socklen, "%s/engine.sock", dir);
    snprintf(log, loglen, "%s/engine.log", dir);
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/engine/fake_engine.py", getenv("CD_SOURCE_DIR"));
    if (access(script, R_OK) != 0)
        tap_skip_all("%s not found", script);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", script, sock, scen, log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && access(sock, F_OK) != 0; i++)
        usleep(100 * 1000);
    return pid;
}

static cd_publish_job_opts base_opts(const char *token_file)
{
    static const char *const env[] = {
        "CI_PROJECT_PATH=grp/nlu", "CI_PROJECT_URL=https://gitlab.example.com/grp/nlu",
        "CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_REF_NAME=main",
        "CI_PIPELINE_URL=https://gitlab.example.com/grp/nlu/-/pipelines/7",
        "CI_JOB_URL=https://gitlab.example.com/grp/nlu/-/jobs/8", "CI_COMMIT_AUTHOR=Dana <d@x>",
        NULL};
    return (cd_publish_job_opts){
        .targets = "package,wiki", .results_path = "results", .model_path = "models/model.tar",
        .project_dir = PROJECT_DIR, .gitlab_url = srv.base, .project = "42",
        .token_file = token_file, .token_type = CD_GITLAB_TOKEN_PRIVATE, .job_env = env,
        .fail_job_on_error = true, .log = on_job_line,
    };
}

int main(void)
{
    const char *extra[] = {"--token", "dev=" TOK_DEV, "--token", "read=" TOK_READ, NULL};
    if (!getenv("CD_SOURCE_DIR"))
        tap_skip_all("CD_SOURCE_DIR is not set");
    cd_log_set_handler(on_log, NULL);
    if (standin_start(&srv, extra) < 0) {
        printf("# could not start the stand-in\n");
        return 1;
    }
    char tf_dev[512], tf_read[512], sock[512], elog[512];
    snprintf(tf_dev, sizeof(tf_dev), "%s/dev.token", srv.dir);
    snprintf(tf_read, sizeof(tf_read), "%s/read.token", srv.dir);
    FILE *f = fopen(tf_dev, "w");
    fputs(TOK_DEV "\n", f);
    fclose(f);
    chmod(tf_dev, 0600);
    f = fopen(tf_read, "w");
    fputs(TOK_READ "\n", f);
    fclose(f);
    chmod(tf_read, 0600);
    pid_t eng_pid = start_engine(srv.dir, sock, sizeof(sock), elog, sizeof(elog));

    cd_engine_options eo = {.endpoint = sock, .api_version = "1.41"};
    cd_error_t err = {0};
    cd_engine *engine = cd_engine_open(&eo, &err);
    ok(engine != NULL, "engine open (%s)", cd_error_msg(&err));
    if (!engine)
        goto done;

    /* 1. happy path */
    cd_publish_job_opts o = base_opts(tf_dev);
    int rc = cd_publish_job(engine, "c1", &o, &err);
    ok(rc == 0, "publish job (%s)", cd_error_msg(&err));
    cd_error_clear(&err);
    err = (cd_error_t){0};
    const char *log = cd_strbuf_str(&joblog);
    has_str(log, "section_start:", "job log: collapsible section start");
    has_str(log, "conductor_publish[collapsed=true]", "job log: section name, collapsed");
    has_str(log, "section_end:", "job log: section end");
    has_str(log, "Published.", "job log: success line");
    char *page = standin_read(&srv, "projects/42/wiki/nlu-reports/feedc0de00112233.md");
    ok(page != NULL, "report page written under the model id");
    has_str(page, "0123456789abcdef0123456789abcdef01234567", "page has the commit (paper trail)");
    has_str(page, "https://gitlab.example.com/grp/nlu/-/pipelines/7", "page links the pipeline");
    has_str(page, "](uploads/", "page embeds an uploaded chart");
    free(page);
    char *pkg = standin_read(&srv, "projects/42/packages/nlu/feedc0de00112233/model.tar");
    size_t tar_len;
    const char *tar = model_tar(&tar_len);
    ok(pkg && memcmp(pkg, tar, tar_len) == 0, "package holds the model bytes from the container");
    free(pkg);
    char *index = standin_read(&srv, "projects/42/wiki/nlu-reports/index.md");
    has_str(index, "nlu-reports/feedc0de00112233", "index links the report");
    free(index);

    /* 2. results -> /etc */
    cd_strbuf_reset(&joblog);
    rc = cd_publish_job(engine, "c1", &o, &err);
    ok(rc < 0, "results symlink refused");
    is_int(err.kind, CD_ERR_BUILD, "the job's fault: BUILD");
    has_str(err.msg, "CONDUCTOR_RESULTS `results`: `results` is a symbolic link (to `/etc`): "
                     "refused",
            "clear message names the link and its target");
    has_str(cd_strbuf_str(&joblog), "is a symbolic link (to `/etc`)", "failure in job log");
    cd_error_clear(&err);
    err = (cd_error_t){0};

    /* 3. symlink inside */
    rc = cd_publish_job(engine, "c1", &o, &err);
    ok(rc < 0, "symlink inside the results refused");
    has_str(err.msg, "`results/passwd.json` is a symbolic link (to `/etc/passwd`)", "names it");
    cd_error_clear(&err);
    err = (cd_error_t){0};

    /* 4. model missing */
    rc = cd_publish_job(engine, "c1", &o, &err);
    ok(rc < 0, "missing model");
    has_str(err.msg, "CONDUCTOR_MODEL `models/model.tar`: the job did not create "
                     "`/builds/grp/nlu/models/model.tar`",
            "missing model message");
    is_int(err.kind, CD_ERR_BUILD, "missing model is BUILD");
    cd_error_clear(&err);
    err = (cd_error_t){0};

    /* paths the job may not name: refused before any engine call */
    cd_publish_job_opts bad = base_opts(tf_dev);
    bad.results_path = "../../etc";
    ok(cd_publish_job(engine, "c1", &bad, &err) < 0 && strstr(cd_error_msg(&err), "`..`"),
       "`..` in CONDUCTOR_RESULTS refused (%s)", cd_error_msg(&err));
    cd_error_clear(&err);
    err = (cd_error_t){0};
    bad.results_path = "/etc";
    ok(cd_publish_job(engine, "c1", &bad, &err) < 0 && strstr(cd_error_msg(&err), "relative"),
       "absolute CONDUCTOR_RESULTS refused");
    cd_error_clear(&err);
    err = (cd_error_t){0};

    /* 5. GitLab refuses (read_api token), publish failures configured not to fail the job */
    cd_strbuf_reset(&joblog);
    o = base_opts(tf_read);
    o.fail_job_on_error = false;
    rc = cd_publish_job(engine, "c1", &o, &err);
    ok(rc == 0, "fail_job_on_error=false: the job passes");
    has_str(cd_strbuf_str(&joblog), "HTTP 403: insufficient_scope", "403 reason in the job log");
    has_str(cd_strbuf_str(&joblog), "WARNING: publishing failed", "warning in the job log");

    /* no targets: nothing happens */
    o.targets = "";
    ok(cd_publish_job(engine, "c1", &o, &err) == 0, "empty CONDUCTOR_PUBLISH is a no-op");
    o.targets = "package,docs";
    ok(cd_publish_job(engine, "c1", &o, &err) < 0 && strstr(cd_error_msg(&err), "`docs`"),
       "unknown target named");
    cd_error_clear(&err);

    ok(!strstr(cd_strbuf_str(&joblog), "SECRET"), "no token in the job log");
    cd_engine_close(engine);
done:
    if (eng_pid > 0) {
        kill(eng_pid, SIGTERM);
        waitpid(eng_pid, NULL, 0);
    }
    char *elogtxt = standin_read(&srv, "../engine.log");
    ok(elogtxt && !strstr(elogtxt, "MISMATCH") && !strstr(elogtxt, "unused"),
       "engine saw exactly the scripted requests");
    if (elogtxt && (strstr(elogtxt, "MISMATCH") || strstr(elogtxt, "unused")))
        printf("# %s\n", elogtxt);
    free(elogtxt);
    standin_stop(&srv);
    cd_strbuf_done(&joblog);
    return tap_done();
}
