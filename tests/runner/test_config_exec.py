#!/usr/bin/env python3
"""conductor-config under the runner emulator: its stdout must pass the runner's own §6
validation, and what it answers must follow the executor config and the job. No engine is
needed: config_exec never talks to one. Registered as ctest protocol/config-exec."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator as em  # noqa: E402

BIN = os.path.join(os.environ.get("CD_BINARY_DIR", "build"), "executor", "conductor-config")


def have_binary():
    return os.access(BIN, os.X_OK)


class TestConductorConfig(unittest.TestCase):
    def setUp(self):
        if not have_binary():
            if os.environ.get("CD_TEST_MUST_WORK") == "1":
                self.fail(f"{BIN} not built")
            self.skipTest(f"{BIN} not built")
        self.dir = tempfile.mkdtemp(prefix="cd-config-exec-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.dir, ignore_errors=True))

    def write(self, name, text, mode=0o755):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def emulate(self, conf_text, job=None, run=None, **kw):
        conf = self.write("conductor.conf", conf_text, 0o644)
        rec = os.path.join(self.dir, "env.txt")
        run = run or self.write("run.sh", "#!/bin/sh\nenv | grep ^CONDUCTOR_ > %s\nexit 0\n" % rec)
        custom = em.CustomConfig(config_exec=BIN, config_args=["--config", conf], run_exec=run)
        runner = em.RunnerSettings(custom=custom, short_token="Ab12cd34", concurrent_id=3,
                                   concurrent_project_id=1, tmp_root=self.dir,
                                   prepare_retry_interval=0.0, **kw)
        job = job or {"id": 777, "project_id": 42, "project_path": "grp/nlu",
                      "image": "alpine:3", "script": ["true"],
                      "variables": {"GIT_STRATEGY": "none"}}
        return em.Emulator(runner, job).run(), rec

    def test_answer_is_valid_and_deterministic(self):
        res, rec = self.emulate("[storage]\nbuilds_dir = /b\ncache_dir = /c\n")
        self.assertEqual(res.status, "success", res.log)
        out = res.config_output
        self.assertEqual(set(out), {"builds_dir", "cache_dir", "builds_dir_is_shared", "hostname",
                                    "driver", "job_env"})
        self.assertEqual(out["builds_dir"], "/b/Ab12cd34/3")
        self.assertEqual(out["cache_dir"], "/c/Ab12cd34/3")
        self.assertIs(out["builds_dir_is_shared"], False)
        self.assertEqual(out["driver"]["name"], "conductor")
        base = "runner-Ab12cd34-project-42-concurrent-1"
        self.assertEqual(out["job_env"]["CONDUCTOR_CONTAINER"], base + "-job-777")
        self.assertEqual(out["job_env"]["CONDUCTOR_CACHE_VOLUME"], base + "-cache")
        self.assertIn("Using Custom executor with driver conductor", res.log)
        with open(rec) as f:
            env = dict(line.strip().split("=", 1) for line in f)
        self.assertEqual(env["CONDUCTOR_CONTAINER"], base + "-job-777",
                         "job_env reaches run_exec unprefixed")
        # a retry (new attempt, new temp dir) must produce the same names
        res2, _ = self.emulate("[storage]\nbuilds_dir = /b\ncache_dir = /c\n")
        self.assertEqual(res2.config_output["job_env"], out["job_env"])

    def test_stdout_is_only_json(self):
        conf = self.write("c.conf", "[gc]\nmax_job_age = 1h\n", 0o644)
        env = dict(os.environ, CUSTOM_ENV_CI_JOB_ID="5", CUSTOM_ENV_CI_PROJECT_ID="1",
                   CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN="t", CONDUCTOR_DEBUG="1")
        p = subprocess.run([BIN, "--config", conf], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.endswith(b"}\n"))
        json.loads(p.stdout)  # exactly one value
        self.assertIn(b"debug", p.stderr, "diagnostics (debug on) go to stderr")

    def test_bad_config_is_a_system_failure_with_file_line(self):
        res, _ = self.emulate("[limits]\nmemory = lots\n")
        self.assertEqual(res.status, "system_failure")
        self.assertEqual(res.prepare_attempts, 3, "retried like any system failure")
        self.assertIn("conductor.conf:2: bad value `lots` for `memory`", res.log)
        self.assertIsNone(res.config_output, "nothing on stdout")

    def test_failure_exit_codes_come_from_the_environment(self):
        conf = self.write("bad.conf", "[nope]\n", 0o644)
        env = dict(os.environ, CUSTOM_ENV_CI_JOB_ID="5", SYSTEM_FAILURE_EXIT_CODE="42",
                   BUILD_FAILURE_EXIT_CODE="41")
        p = subprocess.run([BIN, "--config", conf], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 42)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"bad.conf:1: unknown section [nope]", p.stderr)

    def test_missing_job_id(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOM_ENV_")}
        p = subprocess.run([BIN], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"CUSTOM_ENV_CI_JOB_ID is not set", p.stderr)

    def test_secret_never_printed(self):
        # a job whose DOCKER_AUTH_CONFIG is malformed: the error must not echo it
        res, _ = self.emulate("", job={"id": 9, "script": ["true"],
                                       "variables": {"GIT_STRATEGY": "none",
                                                     "DOCKER_AUTH_CONFIG": "{supersecretpw"}})
        self.assertEqual(res.status, "failed", "malformed job input is the job's fault")
        self.assertIn("CUSTOM_ENV_DOCKER_AUTH_CONFIG: line 1", res.log)
        self.assertNotIn("supersecretpw", res.log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
