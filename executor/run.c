/* conductor-run (run_exec): `conductor-run [run_args...] <script> <stage>`.
 * Runs one stage script in the job container and streams its output as it happens.
 * A non-zero script status goes to BUILD_EXIT_CODE_FILE and exits BUILD_FAILURE_EXIT_CODE;
 * engine or agent trouble exits SYSTEM_FAILURE_EXIT_CODE. On SIGTERM (cancel, timeout) the
 * stage's process group inside the container gets TERM, then KILL 1.5 s later.
 *
 * Built twice from this file. `conductor-run` (CD_RUN_LIGHT) only speaks to the job's agent
 * and does not link libcurl: loading libcurl's ~40 shared libraries alone costs more than the
 * whole per-stage budget. When there is no agent to talk to (a remote engine), or when the job
 * asks for publishing, it execs `conductor-run-engine` (the full build) with the same argv. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "driver/agent-proto.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#if defined(CD_HAVE_PUBLISH) && !defined(CD_RUN_LIGHT)
#include "publish/publish.h"
#endif

#define PUBLISH_ONLY_ENV "CONDUCTOR_RUN_PUBLISH_ONLY"

static volatile sig_atomic_t terminate;

static void on_term(int sig)
{
    (void)sig;
    terminate = 1;
}

/* The argv stage name of the job's last user step: "build_script" for `script`, else
 * "step_<name>" (protocol doc §7.1); NULL when the payload lists no steps. */
static char *final_user_stage(const cd_job *job)
{
    const char *last = NULL;
    for (size_t i = 0; i < job->n_steps; i++)
        if (job->steps[i].name && strcmp(job->steps[i].name, "after_script"))
            last = job->steps[i].name;
    if (!last)
        return NULL;
    return !strcmp(last, "script") ? xstrdup("build_script") : xasprintf("step_%s", last);
}

#ifdef CD_RUN_LIGHT
/* Hand over to the full build; only returns on failure. */
static int exec_full(char **argv, bool publish_only, cd_error_t *err)
{
    cleanup_free char *full = cd_driver_sibling_path("conductor-run-engine");
    if (!full)
        return cd_error(err, CD_ERR_SYSTEM, errno, "cannot locate conductor-run-engine");
    if (publish_only)
        setenv(PUBLISH_ONLY_ENV, "1", 1);
    fflush(stdout);
    execv(full, argv);
    return cd_error(err, CD_ERR_SYSTEM, errno, "exec `%s`: %s", full, strerror(errno));
}
#else
#ifdef CD_HAVE_PUBLISH
static void publish_log(void *userdata, const char *line)
{
    (void)userdata;
    cd_exec_print("%s", line);
}

/* Issue 4's publishing step: after the final user step succeeded, when the job asked for it
 * with CONDUCTOR_PUBLISH. The model and results are read out of the container through the
 * engine; the GitLab write token stays on this host. */
static int publish_after_success(cd_engine **e, const cd_config *cfg, const cd_job *job,
                                 cd_error_t *err)
{
    if (!*e && !(*e = cd_driver_engine_open(cfg, NULL, err)))
        return -1;
    const cd_config_project *proj = cd_config_project_find(cfg, job->project_path);
    cleanup_free char *container = cd_job_name(job, cfg, NULL);
    cd_publish_job_opts po = {
        .targets = cd_job_env(job, "CONDUCTOR_PUBLISH"),
        .results_path = cd_job_env(job, "CONDUCTOR_RESULTS"),
        .model_path = cd_job_env(job, "CONDUCTOR_MODEL"),
        .project_dir = cd_job_env(job, "CI_PROJECT_DIR"),
        .gitlab_url = cfg->gitlab_url ? cfg->gitlab_url : job->server_url,
        .project = cd_job_env(job, "CI_PROJECT_ID"),
        .token_file = proj && proj->token_file ? proj->token_file : cfg->token_file,
        .token_type = CD_GITLAB_TOKEN_PRIVATE,
        .ca_file = cfg->gitlab_ca_file,
        .package_name = cd_job_env(job, "CONDUCTOR_PACKAGE_NAME"),
        .package_version = cd_job_env(job, "CONDUCTOR_PACKAGE_VERSION"),
        .job_env = (const char *const *)job->custom_env,
        .fail_job_on_error =
            proj && proj->fail_on_error >= 0 ? proj->fail_on_error == 1 : cfg->publish_fail_job,
        .log = publish_log,
    };
    return cd_publish_job(*e, container, &po, err);
}
#endif
#endif

int main(int argc, char **argv)
{
    cd_error_t err = {0};
    cd_exec_opts o;
    cd_config *cfg = NULL;
    cd_job *job = NULL;
    cd_strbuf script = CD_STRBUF_INIT;
    cleanup_free char *final = NULL;
    int code = 0, rc = 0;
#ifndef CD_RUN_LIGHT
    cd_engine *e = NULL;
    const char *po = getenv(PUBLISH_ONLY_ENV);
    bool publish_only = po && !strcmp(po, "1");
#endif

    /* No SA_RESTART: a SIGTERM must interrupt whatever we are waiting on. */
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cd_exec_init(CD_STAGE_RUN, "conductor-run", argc, argv, &o, &err) < 0)
        goto out;
    if (o.n_args < 2) {
        cd_error(&err, CD_ERR_USAGE, 0, "usage: conductor-run [run_args...] <script> <stage>");
        goto out;
    }
    /* run_args from config.toml come first; the runner appends the script and the stage */
    const char *script_path = o.args[o.n_args - 2];
    const char *stage = o.args[o.n_args - 1];
    if (cd_config_load(o.config_path, &cfg, &err) < 0 || cd_job_load(NULL, &job, &err) < 0)
        goto out;
    final = final_user_stage(job);
    const char *targets = cd_job_env(job, "CONDUCTOR_PUBLISH");
    bool publish = final && !strcmp(stage, final) && targets && *targets;
#ifndef CD_RUN_LIGHT
    if (publish_only)
        goto publish;
#endif
    if (cd_exec_reset_build_exit_code(&err) < 0)
        goto out;
    if (cd_strbuf_read_file(&script, script_path, CD_AGENT_MAX_SCRIPT) < 0) {
        cd_error(&err, CD_ERR_SYSTEM, errno, "read the stage script `%s`: %s", script_path,
                 strerror(errno));
        goto out;
    }
    const char *fe = getenv("CONDUCTOR_FORCE_EXEC");
    cd_driver_stage st = {
        .script = cd_strbuf_str(&script),
        .script_len = script.len,
        .stage = stage,
        .out_fd = STDOUT_FILENO,
        .terminate = &terminate,
        .force_exec = fe && !strcmp(fe, "1"),
    };
    fflush(stdout);
#ifdef CD_RUN_LIGHT
    if (st.force_exec || cd_driver_run_stage_agent(cfg, job, &st, &code, &err) < 0) {
        if (!st.force_exec && err.kind != CD_ERR_NOTFOUND)
            goto out;
        cd_error_clear(&err); /* no agent: the full build falls back to an engine exec */
        exec_full(argv, false, &err);
        goto out;
    }
#else
    if (cd_driver_run_stage(&e, cfg, job, &st, &code, &err) < 0)
        goto out;
#endif
    if (code != 0) {
        rc = cd_exec_script_failed(code);
        goto out;
    }
    if (!publish || terminate)
        goto out;
#ifdef CD_RUN_LIGHT
    exec_full(argv, true, &err);
#else
publish:
#ifdef CD_HAVE_PUBLISH
    /* ===== the single publishing call site (issue 4) ===== */
    if (publish)
        publish_after_success(&e, cfg, job, &err);
#else
    if (publish)
        cd_exec_print("CONDUCTOR_PUBLISH is set but this build has no publishing support, "
                      "ignoring");
#endif
#endif
out:
    cd_strbuf_done(&script);
#ifndef CD_RUN_LIGHT
    cd_engine_close(e);
#endif
    cd_job_free(job);
    cd_config_free(cfg);
    if (err.kind)
        return cd_exec_fail(&err);
    return rc;
}
