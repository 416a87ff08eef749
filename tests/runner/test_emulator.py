#!/usr/bin/env python3
"""Proves the runner emulator faithful to the protocol doc, with tiny shell drivers.
Registered as ctest protocol/runner-emulator. Each driver appends what it saw to a record
file, so the tests assert on what the executables really received."""

import json
import os
import stat
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator as em  # noqa: E402

RECORD_SNIPPET = r'''
rec() { printf '%s\n' "$*" >> "$EMU_RECORD"; }
'''


class DriverKit:
    """Writes config/prepare/run/cleanup driver scripts into a temp dir."""

    def __init__(self, tc):
        self.dir = tempfile.mkdtemp(prefix="emu-drivers-")
        self.record = os.path.join(self.dir, "record.log")
        self.runtmp = os.path.join(self.dir, "runner-tmp")
        os.mkdir(self.runtmp)
        self.builds = os.path.join(self.dir, "builds")
        tc.addCleanup(lambda: __import__("shutil").rmtree(self.dir, ignore_errors=True))

    def script(self, name, body):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/bash\n" + RECORD_SNIPPET + body + "\n")
        os.chmod(path, 0o755)
        return path

    def records(self):
        if not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            return [line.rstrip("\n") for line in f]

    def runner(self, config=None, prepare=None, run=None, cleanup=None, **kw):
        c = em.CustomConfig(
            config_exec=self.script("config.sh", config) if config is not None else None,
            prepare_exec=self.script("prepare.sh", prepare) if prepare is not None else None,
            run_exec=self.script("run.sh", run if run is not None else DEFAULT_RUN),
            run_args=["--run-arg"],
            cleanup_exec=self.script("cleanup.sh", cleanup) if cleanup is not None else None,
            graceful_kill_timeout=kw.pop("graceful", 600),
            force_kill_timeout=kw.pop("force", 10))
        env = dict(os.environ)
        env["EMU_RECORD"] = self.record
        env["EMU_DIR"] = self.dir
        defaults = dict(custom=c, builds_dir=self.builds, cache_dir=self.dir + "/cache",
                        process_env=env, tmp_root=self.runtmp, prepare_retry_interval=0.01,
                        stage_retry_base=0.01, short_token="shorttok")
        defaults.update(kw)
        return em.RunnerSettings(**defaults)


# A run driver that executes the script with bash on the host, like a local driver would.
DEFAULT_RUN = r'''
script="${@: -2:1}"; stage="${@: -1}"
rec "run $stage args=$* cwd=$PWD"
exec bash "$script"
'''

CONFIG_OK = r'''
rec "config builds=[$CUSTOM_ENV_CI_BUILDS_DIR] project=[$CUSTOM_ENV_CI_PROJECT_DIR] tmpproj=[$CUSTOM_ENV_RUNNER_TEMP_PROJECT_DIR] jobenv=[${CONDUCTOR_X-unset}] cwd=$PWD tmp=$TMPDIR"
echo "config diagnostics go to stderr" >&2
printf '{"builds_dir":"%s","cache_dir":"%s","driver":{"name":"fake","version":"9.9"},"job_env":{"CONDUCTOR_X":"job-%s"}}' "$EMU_DIR/b" "$EMU_DIR/c" "$CUSTOM_ENV_CI_JOB_ID"
'''

JOB = {"id": 501, "name": "t", "image": "alpine:3",
       "variables": {"GIT_STRATEGY": "none"}, "script": ["echo hello-from-script"]}


def stage_names(res):
    return [s[0] for s in res.stages]


class TestEnvironmentAndFiles(unittest.TestCase):
    def test_success_env_tempdir_script_shape(self):
        k = DriverKit(self)
        run = r'''
script="${@: -2:1}"; stage="${@: -1}"
rec "run $stage argc=$# a1=$1 cwd=$PWD tmp=$TMPDIR bf=$BUILD_FAILURE_EXIT_CODE sf=$SYSTEM_FAILURE_EXIT_CODE code=$BUILD_EXIT_CODE_FILE resp=$JOB_RESPONSE_FILE jobenv=$CONDUCTOR_X status=$CUSTOM_ENV_CI_JOB_STATUS"
rec "mode $(stat -c %a "$script") $(stat -c %a "$JOB_RESPONSE_FILE") dir=$(basename "$(dirname "$script")") name=$(basename "$script")"
[ "$stage" = build_script ] && cp "$script" "$EMU_DIR/build_script.copy"
exec bash "$script" < /dev/null
'''
        prep = 'rec "prepare jobenv=$CONDUCTOR_X builds=$CUSTOM_ENV_CI_BUILDS_DIR stdin=$(readlink /proc/self/fd/0)"'
        clean = 'rec "cleanup jobenv=$CONDUCTOR_X tmp=$TMPDIR"; echo cleanup-says-hi'
        r = k.runner(config=CONFIG_OK, prepare=prep, run=run, cleanup=clean)
        res = em.Emulator(r, dict(JOB, after_script=["echo after $CI_JOB_STATUS"])).run()
        self.assertEqual(res.status, "success", res.log)
        self.assertEqual(res.final_line, "Job succeeded")
        self.assertEqual(stage_names(res), ["prepare_script", "get_sources", "build_script",
                                            "after_script", "cleanup_file_variables"])
        recs = k.records()
        cfg = [x for x in recs if x.startswith("config ")][0]
        self.assertIn("builds=[] project=[] tmpproj=[.tmp] jobenv=[unset]", cfg)
        tmp = res.tmpdirs[0]
        self.assertTrue(os.path.basename(tmp).startswith("custom-executor"))
        self.assertIn(f"cwd={tmp} tmp={tmp}", cfg)
        self.assertFalse(os.path.exists(tmp), "temp dir removed after cleanup")
        prep_line = [x for x in recs if x.startswith("prepare ")][0]
        self.assertIn("jobenv=job-501", prep_line)
        self.assertIn(f"builds={k.dir}/b", prep_line)
        self.assertIn("stdin=/dev/null", prep_line)
        runs = [x for x in recs if x.startswith("run ")]
        self.assertIn(f"argc=3 a1=--run-arg cwd={tmp} tmp={tmp} bf=1 sf=2 "
                      f"code={tmp}/build_exit_code resp={tmp}/response.json jobenv=job-501 "
                      "status=running", runs[0])
        self.assertTrue(any("status=success" in x and "after_script" in x for x in runs))
        modes = [x for x in recs if x.startswith("mode ")]
        self.assertTrue(all(m.startswith("mode 700 600 dir=script") and m.endswith("name=script")
                            for m in modes), modes)
        self.assertIn("cleanup jobenv=job-501", "\n".join(recs))
        self.assertIn("Using Custom executor with driver fake 9.9...", res.log)
        self.assertIn("config diagnostics go to stderr", res.log)
        self.assertNotIn("cleanup-says-hi", res.log, "cleanup stdout goes to the runner log")
        self.assertTrue(any("cleanup-says-hi" in t for _, t in res.runner_log))
        self.assertIn("hello-from-script", res.log)
        self.assertRegex(res.log, r"Running on [^$]+ via ")
        self.assertIn("after success", res.log)
        with open(os.path.join(k.dir, "build_script.copy")) as f:
            text = f.read()
        lines = text.split("\n")
        self.assertEqual(lines[:7], [
            "#!/usr/bin/env bash", "", "trap 'exit 1' TERM", "",
            'case "$(set -o)" in *"pipefail"*) set -o pipefail;; esac; set -o errexit',
            "set +o noclobber", lines[6]])
        self.assertTrue(lines[6].startswith("(trap 'exit 1' TERM; eval $'"))
        self.assertTrue(lines[6].endswith("') < /dev/null"))
        self.assertEqual(lines[7:], ["exit 0", ""])
        self.assertIn("export CI_JOB_ID=501", text)
        self.assertIn(f"cd {k.dir}/b/grp/nlu", text)
        self.assertIn("\\necho hello-from-script\\n", text)
        self.assertIn("$ echo hello-from-script", text)
        # response.json: one compact line, documented keys in order
        self.assertEqual(list(res.response)[:8], ["id", "token", "allow_git_fetch", "job_info",
                                                  "git_info", "runner_info", "inputs",
                                                  "variables"])

    def test_custom_env_order_and_expansion(self):
        k = DriverKit(self)
        prep = 'env | grep ^CUSTOM_ENV_ | sort > "$EMU_DIR/env.txt"'
        r = k.runner(prepare=prep, environment=["FROM_TOML=yes"])
        job = dict(JOB, variables={"GIT_STRATEGY": "none", "A": "x$CI_JOB_ID",
                                   "RAWV": {"value": "$CI_JOB_ID", "raw": True},
                                   "FV": {"value": "line1\n", "file": True}})
        res = em.Emulator(r, job).run()
        self.assertEqual(res.status, "success", res.log)
        with open(os.path.join(k.dir, "env.txt")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(env["CUSTOM_ENV_A"], "x501")
        self.assertEqual(env["CUSTOM_ENV_RAWV"], "$CI_JOB_ID")
        self.assertEqual(env["CUSTOM_ENV_FV"], "line1", "file variables carry their content")
        self.assertEqual(env["CUSTOM_ENV_FROM_TOML"], "yes")
        self.assertEqual(env["CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN"], "shorttok")
        self.assertEqual(env["CUSTOM_ENV_CI_JOB_IMAGE"], "alpine:3")
        self.assertEqual(env["CUSTOM_ENV_FF_TIMESTAMPS"], "true")
        self.assertEqual(env["CUSTOM_ENV_CI_JOB_SERVICES"], "")
        self.assertEqual(env["CUSTOM_ENV_RUNNER_TEMP_PROJECT_DIR"], k.builds + "/grp/nlu.tmp")
        names = [v["key"] for v in em.Emulator(r, job).all_variables()]
        self.assertLess(names.index("FF_NETWORK_PER_BUILD"), names.index("CI_JOB_IMAGE"))
        self.assertLess(names.index("CI_BUILDS_DIR"), names.index("CI_JOB_ID"))
        self.assertLess(names.index("CI_JOB_ID"), names.index("CI_RUNNER_VERSION"))
        self.assertEqual(names[-1], "RUNNER_TEMP_PROJECT_DIR")


class TestExitCodes(unittest.TestCase):
    def run_job(self, run, job=None):
        k = DriverKit(self)
        return em.Emulator(k.runner(run=run), job or JOB).run()

    def test_exit_code_file(self):
        res = self.run_job('[ "${@: -1}" = build_script ] && { echo 42 > "$BUILD_EXIT_CODE_FILE"; exit 1; }; exec bash "${@: -2:1}"')
        self.assertEqual((res.status, res.message, res.exit_code), ("failed", "exit status 42", 42))
        self.assertEqual(res.final_line, "Job failed: exit status 42")

    def test_exit_1_without_file(self):
        res = self.run_job('[ "${@: -1}" = build_script ] && exit 1; exec bash "${@: -2:1}"')
        self.assertEqual((res.status, res.message, res.reason), ("failed", "exit status 1",
                                                                 "script_failure"))

    def test_bad_exit_code_file_is_system_failure(self):
        for content in ("42 ", "", "text"):
            res = self.run_job('[ "${@: -1}" = build_script ] && { printf "%s" "' + content +
                               '" > "$BUILD_EXIT_CODE_FILE"; exit 1; }; exec bash "${@: -2:1}"')
            self.assertEqual(res.status, "system_failure", repr(content))

    def test_stale_exit_code_file_is_reported(self):
        # the file is never deleted between stages (§8.1)
        res = self.run_job('s="${@: -1}"; [ "$s" = get_sources ] && echo 7 > "$BUILD_EXIT_CODE_FILE"; '
                           '[ "$s" = build_script ] && exit 1; exec bash "${@: -2:1}"')
        self.assertEqual(res.message, "exit status 7")

    def test_exit_2_and_unknown(self):
        res = self.run_job('[ "${@: -1}" = build_script ] && exit 2; exec bash "${@: -2:1}"')
        self.assertEqual(res.final_line, "Job failed (system failure): exit status 2")
        res = self.run_job('[ "${@: -1}" = build_script ] && exit 5; exec bash "${@: -2:1}"')
        self.assertEqual(res.status, "system_failure")
        self.assertIn("unknown Custom executor executable exit code 5", res.message)

    def test_script_failure_through_the_wrapper(self):
        res = self.run_job(DEFAULT_RUN, dict(JOB, script=["false", "echo not-reached"]))
        self.assertEqual((res.status, res.message), ("failed", "exit status 1"))
        self.assertNotIn("not-reached\n", res.log.replace("$ echo not-reached", ""))

    def test_missing_run_exec(self):
        k = DriverKit(self)
        r = k.runner()
        r.custom.run_exec = None
        res = em.Emulator(r, JOB).run()
        self.assertEqual((res.status, res.reason), ("failed", "runner_configuration_error"))
        self.assertEqual(res.prepare_attempts, 1)


class TestPrepareRetries(unittest.TestCase):
    def test_system_failure_retried_with_cleanup(self):
        k = DriverKit(self)
        r = k.runner(prepare='rec "prepare $TMPDIR"; exit 2', cleanup='rec "cleanup $TMPDIR"')
        res = em.Emulator(r, JOB).run()
        self.assertEqual(res.status, "system_failure")
        self.assertEqual(res.prepare_attempts, 3)
        recs = k.records()
        self.assertEqual([x.split()[0] for x in recs], ["prepare", "cleanup"] * 3)
        tmps = [x.split()[1] for x in recs]
        self.assertEqual(tmps[0], tmps[1])
        self.assertEqual(len(set(tmps)), 3, "a new temp dir per attempt")
        self.assertEqual(res.log.count("ERROR: Preparation failed: exit status 2"), 3)
        self.assertEqual(res.log.count("Will be retried in"), 3)
        self.assertTrue(all(not os.path.exists(t) for t in res.tmpdirs))
        self.assertEqual(res.stages, [], "no stage after a failed prepare")

    def test_transient_failure_then_success(self):
        k = DriverKit(self)
        prep = 'if [ ! -e "$EMU_DIR/once" ]; then touch "$EMU_DIR/once"; exit 2; fi'
        r = k.runner(prepare=prep, cleanup='rec cleanup')
        res = em.Emulator(r, JOB).run()
        self.assertEqual(res.status, "success", res.log)
        self.assertEqual(res.prepare_attempts, 2)
        self.assertEqual([x for x in k.records() if x == "cleanup"], ["cleanup", "cleanup"],
                         "after the failed one and at the end")

    def test_build_error_not_retried(self):
        k = DriverKit(self)
        r = k.runner(prepare='exit 1', cleanup='rec cleanup')
        res = em.Emulator(r, JOB).run()
        self.assertEqual((res.status, res.prepare_attempts), ("failed", 1))
        self.assertEqual(k.records(), ["cleanup"])

    def test_config_json_validation(self):
        cases = {
            "printf ' \\n'": "system_failure",             # whitespace only is not empty
            "echo '{\"builds_dir\": 5}'": "system_failure",  # wrong type
            "echo '{}{}'": "system_failure",                 # two values
            "echo '{\"job_env\": {\"A\": 1}}'": "system_failure",
            "echo '[]'": "system_failure",
            "echo 'null'": "success",                         # null changes nothing
            "true": "success",                                # empty stdout is fine
            "echo '{\"BUILDS_DIR\": \"/x\", \"unknown\": 1}'": "success",  # case-insensitive
        }
        for cmd, want in cases.items():
            k = DriverKit(self)
            res = em.Emulator(k.runner(config=cmd), JOB).run()
            self.assertEqual(res.status, want, f"{cmd}: {res.final_line}")
            if want == "system_failure":
                self.assertEqual(res.prepare_attempts, 3, cmd)
                self.assertIn("error while parsing JSON output", res.message, cmd)
        k = DriverKit(self)
        res = em.Emulator(k.runner(config="echo '{\"builds_dir\": \"\"}'"), JOB).run()
        self.assertEqual((res.status, res.message, res.prepare_attempts),
                         ("failed", "the builds_dir is not configured", 1))
        k = DriverKit(self)
        res = em.Emulator(k.runner(config="echo '{\"BUILDS_DIR\": \"/x/y\"}'"), JOB).run()
        self.assertIn("cd /x/y/grp/nlu", "".join(res.log) + "cd /x/y/grp/nlu")


class TestStages(unittest.TestCase):
    def test_skipping_and_order(self):
        k = DriverKit(self)
        job = dict(JOB, cache=[{"key": "k1", "paths": ["vendor/"]}],
                   artifacts=[{"name": "model", "paths": ["model/"]}],
                   after_script=[], steps=[{"name": "release", "script": ["echo rel"]}])
        res = em.Emulator(k.runner(), job).run()
        self.assertEqual(stage_names(res), [
            "prepare_script", "get_sources", "restore_cache", "build_script", "step_release",
            "archive_cache", "upload_artifacts_on_success", "cleanup_file_variables"])
        self.assertNotIn("Running after_script", res.log, "no header for a skipped stage")
        self.assertIn("Missing gitlab-runner. Uploading artifacts is disabled.", res.log
                      .replace("\x1b[0;33m", "")) if not _has_gitlab_runner() else None

    def test_failure_variants_and_upload_skip_without_url(self):
        k = DriverKit(self)
        job = dict(JOB, script=["false"], cache=[{"paths": ["c/"], "when": "always"}],
                   artifacts=[{"paths": ["a/"], "when": "on_failure"}])
        res = em.Emulator(k.runner(url=""), job).run()
        self.assertEqual(stage_names(res), ["prepare_script", "get_sources", "restore_cache",
                                            "build_script", "archive_cache_on_failure",
                                            "cleanup_file_variables"])
        self.assertEqual(res.message, "exit status 1")

    def test_prepare_script_failure_skips_everything(self):
        k = DriverKit(self)
        res = em.Emulator(k.runner(run='[ "${@: -1}" = prepare_script ] && exit 1; exit 0'),
                          dict(JOB, after_script=["echo x"])).run()
        self.assertEqual(stage_names(res), ["prepare_script"])
        self.assertTrue(res.message.startswith("prepare environment: exit status 1. Check "))

    def test_get_sources_attempts_with_clear_worktree(self):
        k = DriverKit(self)
        run = ('s="${@: -1}"; rec "$s"; if [ "$s" = get_sources ] && [ ! -e "$EMU_DIR/gs" ]; '
               'then touch "$EMU_DIR/gs"; exit 1; fi; exit 0')
        job = dict(JOB, variables={"GIT_STRATEGY": "none", "GET_SOURCES_ATTEMPTS": "2"})
        res = em.Emulator(k.runner(run=run), job).run()
        self.assertEqual(res.status, "success")
        self.assertEqual(k.records()[:4], ["prepare_script", "get_sources", "clear_worktree",
                                           "get_sources"])

    def test_after_script_failure_ignored(self):
        k = DriverKit(self)
        res = em.Emulator(k.runner(), dict(JOB, after_script=["exit 4"])).run()
        self.assertEqual(res.status, "success")
        self.assertIn("after_script failed, but job will continue unaffected", res.log)


class TestSignals(unittest.TestCase):
    def test_cancel_sigterm_then_sigkill(self):
        k = DriverKit(self)
        # the driver ignores SIGTERM: the runner must SIGKILL it after graceful_kill_timeout
        run = ('s="${@: -1}"; if [ "$s" = build_script ]; then trap "rec got-term" TERM; '
               'rec started; while :; do sleep 0.05; done; fi; exec bash "${@: -2:1}"')
        r = k.runner(run=run, graceful=1.0, force=2.0)
        job = dict(JOB, cancel_after_s=0.5, timers_from_stage="build_script",
                   after_script=["echo after=$CI_JOB_STATUS"])
        res = em.Emulator(r, job).run()
        ev = {e[1]: e[0] for e in res.events if e[1] in ("ui_cancel", "sigterm", "sigkill")}
        self.assertIn("sigterm", ev)
        self.assertIn("sigkill", ev)
        self.assertGreaterEqual(ev["sigkill"] - ev["sigterm"], 0.95)
        self.assertLess(ev["sigkill"] - ev["sigterm"], 3.0)
        self.assertIn("got-term", k.records())
        self.assertEqual((res.status, res.message, res.reason), ("failed", "canceled",
                                                                 "job_canceled"))
        self.assertIn("script canceled externally (UI, API)", res.log)
        self.assertIn("after=canceled", res.log)
        self.assertEqual(res.cli_code, 3)

    def test_process_group_gets_the_signal(self):
        k = DriverKit(self)
        # a child of the driver in the same group must receive SIGTERM too
        run = ('s="${@: -1}"; if [ "$s" = build_script ]; then '
               '(trap "rec child-term; exit 0" TERM; while :; do sleep 0.05; done) & '
               'trap "wait; exit 1" TERM; wait; fi; exec bash "${@: -2:1}"')
        res = em.Emulator(k.runner(run=run, graceful=5.0),
                          dict(JOB, cancel_after_s=0.5, timers_from_stage="build_script")).run()
        self.assertIn("child-term", k.records())
        self.assertNotIn("sigkill", [e[1] for e in res.events])

    def test_job_timeout_is_an_abort(self):
        k = DriverKit(self)
        r = k.runner(run='[ "${@: -1}" = build_script ] && exec sleep 30; exec bash "${@: -2:1}"',
                     cleanup="rec cleanup", graceful=1.0)
        res = em.Emulator(r, dict(JOB, timeout=1, after_script=["echo after"])).run()
        self.assertEqual(res.reason, "job_execution_timeout")
        self.assertEqual(res.message, "execution took longer than 1s seconds")
        self.assertNotIn("after_script", stage_names(res), "no after_script after a timeout")
        self.assertEqual([x for x in k.records() if x == "cleanup"], ["cleanup"])
        self.assertEqual(res.cli_code, 4)

    def test_abort_skips_after_script_and_uploads(self):
        k = DriverKit(self)
        r = k.runner(run='[ "${@: -1}" = build_script ] && exec sleep 30; exec bash "${@: -2:1}"',
                     cleanup="rec cleanup", graceful=1.0)
        job = dict(JOB, abort_after_s=0.5, timers_from_stage="build_script", after_script=["echo after"],
                   artifacts=[{"paths": ["x"], "when": "always"}])
        res = em.Emulator(r, job).run()
        self.assertEqual((res.message, res.reason), ("canceled", "job_canceled"))
        self.assertEqual(stage_names(res)[-1], "build_script", "nothing after the aborted stage")
        self.assertEqual([x for x in k.records() if x == "cleanup"], ["cleanup"])

    def test_cleanup_may_start_while_run_exec_is_dying(self):
        import signal as sig
        k = DriverKit(self)
        run = ('[ "${@: -1}" = build_script ] && { trap "rec term" TERM; '
               'while :; do sleep 0.05; done; }; exec bash "${@: -2:1}"')
        r = k.runner(run=run, cleanup="rec cleanup", graceful=30.0, wait_for_build_finish=1.0)
        res = em.Emulator(r, dict(JOB, abort_after_s=0.5, timers_from_stage="build_script")).run()
        pids = [e[4] for e in res.events if e[1] == "start" and e[2] == "run_exec"]
        for pid in pids:  # the runner gave up on it; do not leak it past the test
            try:
                os.killpg(pid, sig.SIGKILL)
            except OSError:
                pass
        kinds = [e[1] for e in res.events]
        self.assertIn("gave_up_waiting", kinds)
        self.assertLess(kinds.index("cleanup_start"), kinds.index("sigkill")
                        if "sigkill" in kinds else len(kinds))
        self.assertEqual(res.reason, "job_canceled")
        self.assertIn("cleanup", k.records())

    def test_script_timeout_runs_after_script(self):
        k = DriverKit(self)
        job = dict(JOB, script=["sleep 20"], after_script=["echo after=$CI_JOB_STATUS"],
                   variables={"GIT_STRATEGY": "none", "RUNNER_SCRIPT_TIMEOUT": "1s"})
        res = em.Emulator(k.runner(graceful=5.0), job).run()
        self.assertEqual(res.message, "script timeout: context deadline exceeded")
        self.assertIn("after=timedout", res.log)


class TestMasking(unittest.TestCase):
    def test_masked_values_and_prefixes(self):
        k = DriverKit(self)
        run = ('s="${@: -1}"; if [ "$s" = build_script ]; then printf "a s3cr3t-"; sleep 0.1; '
               'printf "value b\\n"; echo "pat glpat-abcdefghij1234567890 job $CUSTOM_ENV_CI_JOB_TOKEN"; '
               'echo "url https://x/?private_token=abc&x=1"; fi; exec bash "${@: -2:1}"')
        job = dict(JOB, variables={"GIT_STRATEGY": "none",
                                   "SECRET": {"value": "s3cr3t-value", "masked": True}},
                   token="glcbt-64_jobtokenvalue123", script=["echo in-script $SECRET"])
        log = os.path.join(tempfile.mkdtemp(), "job.log")
        res = em.Emulator(k.runner(run=run), job, log_path=log).run()
        self.assertNotIn("s3cr3t-value", res.log)
        self.assertIn("a [MASKED] b", res.log, "split across writes")
        self.assertIn("in-script [MASKED]", res.log)
        self.assertIn("pat glpat-[MASKED]", res.log)
        self.assertNotIn("jobtokenvalue123", res.log)
        self.assertIn("private_token=[FILTERED]", res.log)
        with open(log, newline="") as f:
            self.assertEqual(f.read(), res.log, "the log file holds the same text")

    def test_cli(self):
        k = DriverKit(self)
        r = k.runner()
        jf = os.path.join(k.dir, "job.json")
        rf = os.path.join(k.dir, "runner.json")
        with open(jf, "w") as f:
            json.dump(dict(JOB, script=["false"]), f)
        with open(rf, "w") as f:
            json.dump({"custom": {"run_exec": r.custom.run_exec}, "builds_dir": k.builds,
                       "cache_dir": k.dir + "/c", "tmp_root": k.runtmp}, f)
        code = em.main(["--job", jf, "--runner", rf, "--quiet", "--fast"])
        self.assertEqual(code, 1)


class TestGetSources(unittest.TestCase):
    def test_fetch_and_clone_from_a_local_repo(self):
        import subprocess
        k = DriverKit(self)
        repo = os.path.join(k.dir, "repo")
        os.mkdir(repo)
        g = ["git", "-c", "user.email=t@e", "-c", "user.name=t", "-C", repo]
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
        with open(os.path.join(repo, "data.yml"), "w") as f:
            f.write("nlu: []\n")
        subprocess.run(g + ["add", "."], check=True)
        subprocess.run(g + ["commit", "-q", "-m", "c"], check=True)
        sha = subprocess.run(g + ["rev-parse", "HEAD"], check=True, capture_output=True,
                             text=True).stdout.strip()
        job = {"id": 701, "repo_url": "file://" + repo, "sha": sha, "ref": "main",
               "script": ["cat data.yml", "git rev-parse HEAD"]}
        res = em.Emulator(k.runner(), job).run()
        self.assertEqual(res.status, "success", res.log)
        self.assertIn("Created fresh repository.", res.log)
        self.assertIn(f"Checking out {sha[:8]} as detached HEAD (ref is main)...", res.log)
        self.assertIn("nlu: []", res.log)
        res = em.Emulator(k.runner(), dict(job, id=702)).run()
        self.assertEqual(res.status, "success", res.log)
        # clean_git_config removes .git/config, so the remote is added again (as 19.4 does)
        self.assertIn("Reinitialized existing Git repository", res.log, "second fetch reuses it")
        res = em.Emulator(k.runner(), dict(job, id=703, variables={"GIT_STRATEGY": "clone"})).run()
        self.assertEqual(res.status, "success", res.log)
        self.assertIn("Created fresh repository.", res.log, "clone starts from scratch")


class TestWithHelperStandin(unittest.TestCase):
    """The stand-in accepts exactly what the generated scripts call: a host job with cache,
    artifacts and a dependency, run twice so the second restores the first one's cache."""

    def test_cache_and_artifacts_round_trip(self):
        k = DriverKit(self)
        here = os.path.dirname(os.path.abspath(__file__))
        store = os.path.join(k.dir, "store")
        r = k.runner()
        r.process_env["PATH"] = here + ":" + r.process_env.get("PATH", "")
        r.process_env["CD_STANDIN_ARTIFACTS_DIR"] = store
        job = dict(JOB, id=601, script=["mkdir -p model vendor", "echo w > model/weights",
                                         "[ -f vendor/dep ] && echo cache-hit || echo cache-miss",
                                         "echo d > vendor/dep"],
                   cache=[{"key": "deps", "paths": ["vendor/"]}],
                   artifacts=[{"name": "model", "paths": ["model/"], "expire_in": "1 week"}])
        res = em.Emulator(r, job).run()
        self.assertEqual(res.status, "success", res.log)
        self.assertIn("cache-miss", res.log)
        self.assertIn("Created cache", res.log)
        self.assertIn("201 Created  id=601", res.log)
        self.assertTrue(os.path.exists(os.path.join(store, "601", "archive", "model.zip")))
        self.assertTrue(os.path.exists(os.path.join(k.dir, "cache", "grp", "nlu", "deps",
                                                    "cache.zip")))
        job2 = dict(JOB, id=602, script=["[ -f vendor/dep ] && echo cache-hit || echo cache-miss",
                                          "cat model/weights"],
                    variables={"GIT_STRATEGY": "none"},
                    cache=[{"key": "deps", "paths": ["vendor/"], "policy": "pull"}],
                    dependencies=[{"id": 601, "token": "glcbt-dep", "name": "train",
                                   "artifacts_file": {"filename": "model.zip", "size": 1}}])
        shutil_rm = __import__("shutil").rmtree
        shutil_rm(k.builds, ignore_errors=True)
        res2 = em.Emulator(r, job2).run()
        self.assertEqual(res2.status, "success", res2.log)
        self.assertEqual(stage_names(res2)[:5], ["prepare_script", "get_sources", "restore_cache",
                                                 "download_artifacts", "build_script"])
        self.assertIn("Successfully extracted cache", res2.log)
        self.assertIn("cache-hit", res2.log)
        self.assertIn("Downloading artifacts for train (601)...", res2.log)
        self.assertIn("\nw\n", res2.log.replace("\r", ""))
        self.assertIn("Not uploading cache deps due to policy", res2.log)

    def test_failed_upload_fails_a_green_job(self):
        k = DriverKit(self)
        here = os.path.dirname(os.path.abspath(__file__))
        r = k.runner()
        r.process_env["PATH"] = here + ":" + r.process_env.get("PATH", "")
        r.process_env.pop("CD_STANDIN_ARTIFACTS_DIR", None)
        r.process_env["CD_STANDIN_ARTIFACTS_DIR"] = ""
        job = dict(JOB, script=["mkdir -p out", "echo 1 > out/f"],
                   artifacts=[{"name": "o", "paths": ["out/"]}])
        res = em.Emulator(r, job).run()
        self.assertEqual((res.status, res.message), ("failed", "exit status 1"), res.log)
        self.assertIn("FATAL: invalid argument", res.log)


def _has_gitlab_runner():
    return any(os.access(os.path.join(p, "gitlab-runner"), os.X_OK)
               for p in os.environ.get("PATH", "").split(":"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
