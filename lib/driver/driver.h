/* The job container's lifecycle, shared by conductor-prepare, -run, -cleanup and `conductor
 * gc`. See docs/executor.md for the design; in short:
 *
 * - prepare creates one container per job (deterministic name from lib/job), whose PID 1 is
 *   conductor-agent listening on a unix socket in a per-job host directory (the "run dir",
 *   bind-mounted at /.conductor). Builds volume, cache volume, limits and hardening are set
 *   here. The toolbox (agent, a self-contained git, the gitlab-runner helper) is mounted
 *   read-only at cfg->mount_dir so helper stages work in any image.
 * - run sends a stage script to the agent and relays its output; a SIGTERM becomes a kill of
 *   the stage's process group inside the container. When the agent cannot be reached over
 *   the socket (a remote tcp:// engine), it falls back to an engine exec.
 * - cleanup removes everything labelled with this job; nothing there is an error.
 *
 * Every call returns 0 or -1 with *err set; the kind follows lib/util/error.h (engine trouble
 * SYSTEM, the job's own fault BUILD). */
#ifndef CD_DRIVER_DRIVER_H
#define CD_DRIVER_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "engine/engine.h"
#include "job/job.h"
#include "util/error.h"

/* Host directory holding per-job run dirs and the toolbox: $CONDUCTOR_RUN_DIR (the runner's own
 * environment), else /run/conductor. Borrowed static string. */
const char *cd_driver_state_root(void);

/* The per-job run dir on the host: "<state root>/jobs/<container name>". New string. */
char *cd_driver_run_dir(const char *container_name);
/* Helper stages in their own container ([helper] mode = container)? Its name: the job
 * container's + "-helper" (new string). */
bool cd_driver_helper_container(const cd_config *cfg);
char *cd_driver_helper_name(const cd_job *job, const cd_config *cfg);

/* The API version the stage programs use unless the config names one. */
#define CD_DRIVER_API_VERSION "1.41"

/* "<directory of our own executable>/<name>" (new string), or NULL. */
char *cd_driver_sibling_path(const char *name);

/* mkdir -p; created components get `mode`. */
int cd_driver_mkdirs(const char *path, mode_t mode, cd_error_t *err);

/* Open the engine the config names (endpoint resolution as cd_config_engine_endpoint). */
cd_engine *cd_driver_engine_open(const cd_config *cfg, volatile sig_atomic_t *interrupt,
                                 cd_error_t *err);

/* Progress lines for the job log (prepare: pull progress, what was created). */
typedef void (*cd_driver_log_fn)(void *userdata, const char *line);

/* ---- toolbox -------------------------------------------------------------------------- */
/* Make sure the toolbox directory exists for the current agent/git/helper binaries and return
 * its host path (new string). Built once under a lock, then reused by every job. */
int cd_driver_toolbox(const cd_config *cfg, char **ret_dir, cd_error_t *err);
/* Host path of the conductor-agent binary (next to our own executable, or $CONDUCTOR_AGENT). */
char *cd_driver_agent_path(void);
/* Host path of conductor-nlu: cfg->conductor_nlu, else next to our own executable. */
char *cd_driver_nlu_path(const cd_config *cfg);

/* ---- prepare -------------------------------------------------------------------------- */
/* Pull (per policy), create volumes, network and the job container, start it, and wait until
 * its agent answers. On failure everything created is removed again before returning. */
int cd_driver_prepare(cd_engine *e, const cd_config *cfg, const cd_job *job, cd_driver_log_fn log,
                      void *userdata, cd_error_t *err);

/* ---- run ------------------------------------------------------------------------------ */
typedef struct {
    const char *script; /* the stage script (bytes) */
    size_t script_len;
    const char *stage; /* argv stage name */
    int out_fd;        /* where the output goes (stdout of run_exec) */
    /* set to non-zero by the caller's SIGTERM handler: kill the stage (TERM, then KILL after
     * kill_grace_ms), then return with the stage's status */
    volatile sig_atomic_t *terminate;
    int kill_grace_ms; /* 0 → 1500 */
    bool force_exec;   /* skip the agent socket, use an engine exec (tests, remote) */
} cd_driver_stage;

/* Is this a helper stage (get_sources, caches, artifacts...), run with the toolbox on PATH? */
bool cd_driver_is_helper_stage(const char *stage);
/* The container that runs `stage`: the helper container for helper stages in
 * [helper] mode = container, else the job container (new string). */
char *cd_driver_stage_container(const cd_config *cfg, const cd_job *job, const char *stage);
/* What goes first on PATH for `stage` (new string), NULL for a user stage: the toolbox, or in
 * a helper container the shim calling its gitlab-runner-helper. */
char *cd_driver_stage_path(const cd_config *cfg, const char *stage);

/* Run one stage through the agent only: -1 with CD_ERR_NOTFOUND when no agent listens for
 * this job (the caller may fall back to an engine exec). Needs no engine (and no libcurl). */
int cd_driver_run_stage_agent(const cd_config *cfg, const cd_job *job, const cd_driver_stage *st,
                              int *ret_exit, cd_error_t *err);

/* Run one stage; *ret_exit is the script's exit status (128+N when killed by signal N).
 * e may be NULL when the agent path is used (opened on demand for the fallback). */
int cd_driver_run_stage(cd_engine **e, const cd_config *cfg, const cd_job *job,
                        const cd_driver_stage *st, int *ret_exit, cd_error_t *err);

/* ---- cleanup and gc ------------------------------------------------------------------- */
/* Remove every container, network and job-scoped volume labelled with this job, and its run
 * dir. Missing things are fine. Keeps going after a failure and reports the first one. */
int cd_driver_cleanup(cd_engine *e, const cd_config *cfg, const cd_job *job, cd_error_t *err);

typedef struct {
    int containers, volumes, networks, run_dirs, toolboxes, skipped_running;
} cd_driver_gc_stats;

/* Remove our objects (label io.conductor.managed=true) created more than max_age_s ago whose
 * job is not running (no conductor-run holds its run dir lock), and toolbox builds no prepare
 * used within max_age_s (older agent/git/helper versions). dry_run only counts. */
/* runner: only objects of this runner (short token, label io.conductor.runner); NULL = every
 * runner on this engine, and then old toolboxes on this host too. */
int cd_driver_gc(cd_engine *e, int64_t max_age_s, const char *runner, bool dry_run,
                 cd_driver_log_fn log, void *userdata, cd_driver_gc_stats *ret_stats,
                 cd_error_t *err);

#endif
