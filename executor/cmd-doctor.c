/* `conductor doctor [--config FILE]`: is this host ready to run jobs? Checks the config file,
 * the engine (reachable, which one, API version), the agent, the toolbox (git, the
 * gitlab-runner helper), conductor-nlu and the state directory. One line per check:
 * "ok", "warn" (jobs run, something is degraded) or "FAIL". Exit 0 without FAIL, else 1. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conductor-commands.h"
#include "driver/driver.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static int failures;

static void check(const char *level, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(const char *level, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-4s  %-14s ", level, what);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (!strcmp(level, "FAIL"))
        failures++;
}

/* "1.41" → 141 */
static int api_number(const char *v)
{
    int maj = 0, min = 0;
    return v && sscanf(v, "%d.%d", &maj, &min) == 2 ? maj * 100 + min : 0;
}

int cd_cmd_doctor(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'h') {
            printf("usage: conductor doctor [--config FILE]\n");
            return 0;
        } else
            return 2;
    }
    failures = 0;
    cd_error_t err = {0};
    cd_config *cfg = NULL;
    if (cd_config_load(config, &cfg, &err) < 0) {
        check("FAIL", "config", "%s", cd_error_msg(&err));
        cd_error_clear(&err);
        return 1;
    }
    check("ok", "config", "%s", cfg->path ? cfg->path : "(no file: built-in defaults)");

    /* The engine: a full negotiation here (the stage programs skip it for speed). */
    cleanup_free char *endpoint = cd_config_engine_endpoint(cfg, NULL);
    cd_engine_options o = {.endpoint = endpoint,
                           .cert_path = cfg->engine_tls_dir,
                           .tls_no_verify = cfg->engine_tls_dir && !cfg->engine_tls_verify};
    cd_engine *e = cd_engine_open(&o, &err);
    if (!e) {
        check("FAIL", "engine", "%s: %s", endpoint ? endpoint : "?", cd_error_msg(&err));
        cd_error_clear(&err);
    } else {
        check("ok", "engine", "%s %s at %s", cd_engine_server_name(e), cd_engine_server_version(e),
              cd_engine_endpoint(e));
        const char *api = cd_engine_api_version(e);
        const char *want =
            cfg->engine_api_version ? cfg->engine_api_version : CD_DRIVER_API_VERSION;
        if (api_number(api) < api_number(want))
            check("FAIL", "api version",
                  "engine speaks %s, the stage programs use %s "
                  "(set [engine] api_version)",
                  api, want);
        else if (api_number(api) > api_number(want) && !cfg->engine_api_version)
            check("ok", "api version",
                  "%s (stage programs ask with %s first; the engine refuses it and they move to "
                  "its minimum)",
                  api, want);
        else
            check("ok", "api version", "%s (stage programs use %s)", api, want);
        bool remote = endpoint && strncmp(endpoint, "unix://", 7);
        if (remote)
            check("warn", "agent",
                  "remote engine: stages run through engine execs (~300 ms "
                  "each) and helper stages need git/gitlab-runner in the job image");
        if (cfg->default_image) {
            int r = cd_engine_image_inspect(e, cfg->default_image, NULL, &err);
            check(r == 0 ? "ok" : "warn", "default image", "%s %s", cfg->default_image,
                  r == 0 ? "is present" : "is not present yet (pulled by the first job)");
            cd_error_clear(&err);
        }
    }

    cleanup_free char *agent = cd_driver_agent_path();
    if (agent && access(agent, X_OK) == 0)
        check("ok", "agent", "%s", agent);
    else
        check("FAIL", "agent",
              "conductor-agent not found at %s (install it next to conductor, "
              "or set CONDUCTOR_AGENT)",
              agent ? agent : "?");

    const char *root = cd_driver_state_root();
    cleanup_free char *probe = xasprintf("%s/.doctor-%d", root, (int)getpid());
    if (cd_driver_mkdirs(probe, 0700, &err) == 0 && rmdir(probe) == 0)
        check("ok", "state dir", "%s is writable", root);
    else {
        check("FAIL", "state dir", "%s: %s", root, err.msg ? err.msg : strerror(errno));
        cd_error_clear(&err);
    }

    cleanup_free char *toolbox = NULL;
    if (cd_driver_toolbox(cfg, &toolbox, &err) == 0) {
        check("ok", "toolbox", "%s", toolbox);
        cleanup_free char *git = xasprintf("%s/git", toolbox);
        cleanup_free char *glr = xasprintf("%s/gitlab-runner", toolbox);
        check(access(git, X_OK) == 0 ? "ok" : "warn", "git",
              access(git, X_OK) == 0 ? "bundled for helper stages"
                                     : "no git on this host: get_sources needs git in the image");
        check(access(glr, X_OK) == 0 ? "ok" : "warn", "gitlab-runner",
              access(glr, X_OK) == 0 ? "helper bundled (should match the runner's version)"
                                     : "no helper ([helper] gitlab_runner): caches and artifacts "
                                       "are skipped with a warning");
    } else {
        check("FAIL", "toolbox", "%s", cd_error_msg(&err));
        cd_error_clear(&err);
    }

    cleanup_free char *nlu = cd_driver_nlu_path(cfg);
    check(nlu && access(nlu, X_OK) == 0 ? "ok" : "warn", "conductor-nlu", "%s%s", nlu ? nlu : "?",
          nlu && access(nlu, X_OK) == 0 ? "" : " not found: not mounted in jobs");

    cd_engine_close(e);
    cd_config_free(cfg);
    printf("%s\n", failures ? "doctor: problems found" : "doctor: ready");
    return failures ? 1 : 0;
}
