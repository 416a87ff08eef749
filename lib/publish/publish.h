/* Publishing a trained model and its report to GitLab: the generic package (model archive,
 * verified by SHA-256) and the wiki pages (report + history index). Used by `conductor
 * publish` (files on local disk) and by the executor after a job succeeded (files read out of
 * the job container through the engine's archive API, never by following host paths).
 *
 * Order (so a rerun converges, nothing half-written a retry cannot repair):
 *   1. package upload, then verified (SHA-256 of the bytes we sent == file_sha256 reported);
 *   2. wiki attachments (charts);
 *   3. report page upsert;
 *   4. index page upsert (last: it only links to things that already exist). */
#ifndef CD_PUBLISH_PUBLISH_H
#define CD_PUBLISH_PUBLISH_H

#include <stdbool.h>

#include "gitlab/gitlab.h"
#include "util/error.h"

typedef struct cd_engine cd_engine; /* lib/engine/engine.h */

/* What to publish: CONDUCTOR_PUBLISH="package,wiki". */
enum {
    CD_PUBLISH_PACKAGE = 1u << 0,
    CD_PUBLISH_WIKI = 1u << 1,
};

/* Parse "package,wiki" (comma/space separated, case-insensitive) into CD_PUBLISH_* bits.
 * Unknown words are a USAGE error naming the word. */
int cd_publish_parse_targets(const char *list, unsigned *out, cd_error_t *err);

/* Everything one publish needs. Strings are borrowed (owned by the caller) for the call. */
typedef struct {
    const char *gitlab_url;  /* https://gitlab.example.com (no /api/v4) */
    const char *project;     /* numeric id or full path "grp/sub/proj" (encoded by us) */
    const char *token;       /* the secret; registered with cd_log_register_secret by us */
    cd_gitlab_token_type token_type;
    const char *ca_file;     /* optional: CA bundle for TLS */
    const char *proxy;       /* optional: proxy URL (else libcurl's *_proxy env rules) */
    unsigned targets;        /* CD_PUBLISH_* bits */
    const char *results_dir; /* local results directory (rasa test nlu / conductor-nlu test) */
    const char *model_file;  /* local model archive (.tar.gz with metadata.json) */
    const char *package_name;    /* optional; default: project slug (last path part) + "-nlu" */
    const char *package_version; /* optional; default: model id from metadata.json, else
                                    CI_COMMIT_SHORT_SHA, else UTC timestamp */
    const char *wiki_prefix; /* optional; default "nlu-reports" (pages <prefix>/<version>,
                                index <prefix>/index) */
    /* Paper-trail inputs; NULL means "take from the environment" (CI_* variables). A job's
     * environment is passed in explicitly by the executor (it is not our process env). */
    const char *const *env;  /* optional NULL-terminated "KEY=VALUE" list, else getenv() */
    /* Log lines (progress, never secrets); NULL = cd_info. */
    void (*log)(void *userdata, const char *line);
    void *log_userdata;
} cd_publish_opts;

/* What got published (owned strings, free with cd_publish_result_done). */
typedef struct {
    char *package_url;  /* download URL of the model file, or NULL */
    char *model_sha256; /* hex */
    char *report_url;   /* web URL of the report page, or NULL */
    char *index_url;    /* web URL of the index page, or NULL */
} cd_publish_result;

void cd_publish_result_done(cd_publish_result *r);

/* Publish from local files. SYSTEM errors for network/GitLab trouble (with "HTTP <code>:
 * <GitLab's message>"), DATA for bad results/model files, USAGE for bad options. */
int cd_publish(const cd_publish_opts *opts, cd_publish_result *out, cd_error_t *err);

/* ---- executor step ------------------------------------------------------------------- */

/* Options the executor fills from the job's variables + its own config (per project). */
typedef struct {
    const char *targets;      /* CUSTOM_ENV_CONDUCTOR_PUBLISH, e.g. "package,wiki" */
    const char *results_path; /* CUSTOM_ENV_CONDUCTOR_RESULTS, relative to project_dir */
    const char *model_path;   /* CUSTOM_ENV_CONDUCTOR_MODEL, relative to project_dir */
    const char *project_dir;  /* absolute path of the project checkout inside the container
                                 (CUSTOM_ENV_CI_PROJECT_DIR / builds_dir) */
    const char *gitlab_url;   /* from config, else CUSTOM_ENV_CI_SERVER_URL */
    const char *project;      /* CUSTOM_ENV_CI_PROJECT_ID (numeric preferred) */
    const char *token_file;   /* from the executor config for this project: on the HOST */
    cd_gitlab_token_type token_type;
    const char *ca_file;      /* from config, optional */
    const char *proxy;        /* from config, optional */
    const char *package_name;    /* optional overrides (CONDUCTOR_PACKAGE_NAME/_VERSION) */
    const char *package_version;
    const char *const *job_env; /* the job's CUSTOM_ENV_* variables with the prefix stripped
                                   ("CI_COMMIT_SHA=..."), NULL-terminated; for the paper trail */
    bool fail_job_on_error;   /* config; default true. false: warn and return 0 */
    /* Job log sink (stdout of run_exec). The step writes a collapsible section
     * (section_start/section_end) around its output. NULL = stdout. */
    void (*log)(void *userdata, const char *line);
    void *log_userdata;
} cd_publish_job_opts;

/* After the job's script succeeded: copy CONDUCTOR_RESULTS (a directory of regular files)
 * and CONDUCTOR_MODEL (a regular file) out of container `container_id` via the engine's
 * archive API into a private 0700 temp dir, refusing symlinks, hard links, devices and `..`
 * paths (DATA error naming the entry), then cd_publish() from the runner host with the token
 * read from opts->token_file (the write token never enters the container). The temp dir is
 * removed afterwards. Returns 0 on success, or when fail_job_on_error is false (after logging
 * the error to the job log); -1 with err set otherwise (SYSTEM for GitLab/engine trouble,
 * BUILD for missing/invalid job files). */
int cd_publish_job(cd_engine *engine, const char *container_id, const cd_publish_job_opts *opts,
                   cd_error_t *err);

#endif
