#!/usr/bin/env python3
"""A gitlab-runner 19.4 stand-in that drives a custom executor exactly as
../shared/docs/custom-executor-protocol.md describes (section numbers below refer to it).

It is a test tool: Python 3 standard library only, importable as a module
(`Emulator(runner, job).run()` returns a `Result`) and runnable as a CLI (see `main`).

What it reproduces: the per-attempt temp dir used as cwd and TMPDIR, response.json (0600), the
fixed environment, job_env, CUSTOM_ENV_* in the runner's order, config_exec JSON validation,
prepare retries with cleanup_exec after each failed attempt, stage order and skipping, the
script wrapper and bodies, run_exec argv, exit-code mapping incl. BUILD_EXIT_CODE_FILE,
stage attempts, process groups and SIGTERM -> graceful_kill_timeout -> SIGKILL, UI cancel,
abort and job timeout, after_script with CI_JOB_STATUS, job-log masking and the final line.
What it leaves out is listed in tests/runner/README.md.
"""

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

RUNNER_VERSION = "19.4.0"
RUNNER_REVISION = "d79f3e7b"
BUILD_FAILURE_EXIT_CODE = 1  # command.go:19, constants
SYSTEM_FAILURE_EXIT_CODE = 2
PREPARATION_RETRIES = 3  # common/consts.go

# Resolved feature flags the runner always sends (all of them, true/false), §4 and §11.
DEFAULT_FEATURE_FLAGS = [
    ("FF_NETWORK_PER_BUILD", False),
    ("FF_USE_LEGACY_BASH_EVAL", False),
    ("FF_ENABLE_BASH_EXIT_CODE_CHECK", False),
    ("FF_POSIXLY_CORRECT_ESCAPES", False),
    ("FF_ENABLE_JOB_CLEANUP", False),
    ("FF_SCRIPT_SECTIONS", False),
    ("FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY", True),
    ("FF_HASH_CACHE_KEYS", False),
    ("FF_CLEAN_UP_FAILED_CACHE_EXTRACT", False),
    ("FF_GIT_URLS_WITHOUT_TOKENS", False),
    ("FF_USE_GIT_NATIVE_CLONE", False),
    ("FF_TIMESTAMPS", True),
    ("FF_MASK_ALL_DEFAULT_TOKENS", True),
]

# Token prefixes the trace sanitizer masks (§10); glpat- always, the rest with
# FF_MASK_ALL_DEFAULT_TOKENS.
TOKEN_PREFIXES_ALWAYS = ["glpat-"]
TOKEN_PREFIXES_DEFAULT = ["glcbt-", "glrt-", "gldt-", "glptt-", "glft-", "glimt-", "glagent-",
                          "gloas-", "glsoat-", "glffct-", "glrtr-", "glwt-", "glso-"]
URL_PARAMS_MASKED = ["private_token", "authenticity_token", "rss_token", "X-Amz-Signature",
                     "X-Amz-Credential", "X-Amz-Security-Token", "X-Goog-Signature",
                     "X-Goog-Credential", "sig", "token"]


# ---------------------------------------------------------------------------------------
# errors and contexts


class StageError(Exception):
    """Base of every error a stage or the prepare phase can end with."""

    build = False
    reason = "runner_system_failure"

    def __init__(self, msg, exit_code=None, reason=None):
        super().__init__(msg)
        self.exit_code = exit_code
        if reason:
            self.reason = reason


class BuildError(StageError):
    build = True
    reason = "script_failure"


class SystemFailure(StageError):
    pass


class Ctx:
    """A Go context: a deadline and/or a cancel reason, inherited from the parent."""

    def __init__(self, name, parent=None, timeout=None):
        self.name = name
        self.parent = parent
        self.deadline = time.monotonic() + timeout if timeout else None
        self.timeout = timeout
        self._reason = None
        self._lock = threading.Lock()

    def cancel(self, reason):
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def err(self):
        """(ctx name, reason) of the first done context up the chain, or None."""
        if self._reason:
            return (self.name, self._reason)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return (self.name, "deadline")
        return self.parent.err() if self.parent else None


# ---------------------------------------------------------------------------------------
# configuration


@dataclass
class CustomConfig:
    """[runners.custom] (common/config.go CustomConfig), defaults from the source (§2)."""

    run_exec: Optional[str] = None
    run_args: list = field(default_factory=list)
    config_exec: Optional[str] = None
    config_args: list = field(default_factory=list)
    config_exec_timeout: int = 3600
    prepare_exec: Optional[str] = None
    prepare_args: list = field(default_factory=list)
    prepare_exec_timeout: int = 3600
    cleanup_exec: Optional[str] = None
    cleanup_args: list = field(default_factory=list)
    cleanup_exec_timeout: int = 3600
    graceful_kill_timeout: float = 600
    force_kill_timeout: float = 10


@dataclass
class RunnerSettings:
    """The [[runners]] entry plus knobs that make tests fast (delays)."""

    custom: CustomConfig = field(default_factory=CustomConfig)
    name: str = "emulated-runner"
    url: str = "https://gitlab.example.com"
    token: str = "glrt-t3_emulatorRunnerToken01"
    short_token: Optional[str] = None
    runner_id: int = 17
    builds_dir: Optional[str] = None
    cache_dir: Optional[str] = None
    shell: str = "bash"
    environment: list = field(default_factory=list)  # ["A=b"]
    feature_flags: dict = field(default_factory=dict)
    prepare_timeout: Optional[float] = None
    get_sources_timeout: Optional[float] = None
    output_limit: int = 4 * 1024 * 1024
    concurrent_id: int = 0
    concurrent_project_id: int = 0
    # the runner process environment (inherited unprefixed by every executable)
    process_env: Optional[dict] = None
    tmp_root: Optional[str] = None  # the runner's own TMPDIR
    # speed knobs: the real values are 3 s and 5 s (doubling to 300 s)
    prepare_retry_interval: float = 3.0
    stage_retry_base: float = 5.0
    wait_for_build_finish: float = 300.0  # WaitForBuildFinishTimeout
    hostname: Optional[str] = None

    def short(self):
        if self.short_token:
            return self.short_token
        t = self.token
        # helpers.ShortenToken: strip glrt- and a "tN_" partition prefix, keep 9 chars
        m = re.match(r"^glrt-(?:t\d+_)?(.*)$", t)
        if m:
            return m.group(1)[:9]
        return t[:8]

    @classmethod
    def from_toml(cls, path, runner_index=0, **overrides):
        import tomllib

        with open(path, "rb") as f:
            doc = tomllib.load(f)
        r = doc["runners"][runner_index]
        c = r.get("custom", {})
        custom = CustomConfig(**{k: v for k, v in c.items()
                                 if k in CustomConfig.__dataclass_fields__})
        kw = {k: v for k, v in r.items() if k in cls.__dataclass_fields__ and k != "custom"}
        if "feature_flags" in r:
            kw["feature_flags"] = dict(r["feature_flags"])
        kw.update(overrides)
        return cls(custom=custom, **kw)


# ---------------------------------------------------------------------------------------
# quoting, as shells/bash.go does it


def ansi_c_quote(s):
    """$'...' with every byte that is not plain printable ASCII escaped."""
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif 0x20 <= ch < 0x7F:
            out.append(c)
        else:
            out.append("\\x%02x" % ch)
    return "$'" + "".join(out) + "'"


_PLAIN = re.compile(r"^[A-Za-z0-9_/.,@%+=:-]+$")


def shell_escape(s):
    """Bare when safe, else ANSI-C quoted (helpers.ShellEscape)."""
    if s != "" and _PLAIN.match(s) and ":" not in s:
        return s
    return ansi_c_quote(s)


def dq(s):
    """Go %q-style double quoting used by the writer for paths."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace(
        "`", "\\`") + '"'


def notice(text):
    return "echo " + ansi_c_quote("\x1b[32;1m" + text + "\x1b[0;m")


def warning(text):
    return "echo " + ansi_c_quote("\x1b[0;33m" + text + "\x1b[0;m")


def go_expand(value, lookup):
    """os.Expand: $VAR and ${VAR}; unknown names become ""."""

    def rep(m):
        name = m.group(1) or m.group(2)
        return lookup(name)

    return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", rep, value)


# ---------------------------------------------------------------------------------------
# the job description → payload


def _var(key, value, masked=False, file=False, raw=False, public=True):
    return {"key": key, "value": str(value), "public": public, "file": file,
            "masked": masked, "raw": raw}


def normalize_image(img):
    if img is None:
        return None
    if isinstance(img, str):
        img = {"name": img}
    out = {"name": img["name"]}
    if img.get("alias"):
        out["alias"] = img["alias"]
    if img.get("command") is not None:
        out["command"] = list(img["command"])
    if img.get("entrypoint") is not None:
        out["entrypoint"] = list(img["entrypoint"])
    if img.get("ports"):
        out["ports"] = img["ports"]
    if img.get("variables"):
        out["variables"] = [_var(k, v) for k, v in img["variables"].items()]
    pp = img.get("pull_policy")
    if pp:
        out["pull_policy"] = [pp] if isinstance(pp, str) else list(pp)
    out["executor_opts"] = {"docker": {"platform": "", "user": ""}, "kubernetes": {"user": ""}}
    return out


def build_payload(desc, runner):
    """Turn a small job description (see README) into the runner's spec.Job encoding (§5)."""
    job_id = int(desc.get("id", random.randint(1000, 999999)))
    project_id = int(desc.get("project_id", 42))
    path = desc.get("project_path", "grp/nlu")
    name = desc.get("name", "job")
    ref = desc.get("ref", "main")
    sha = desc.get("sha", "0" * 40)
    token = desc.get("token") or ("glcbt-64_" + secrets.token_urlsafe(15).replace("-", "x"))
    server = runner.url or "https://gitlab.example.com"
    timeout = int(desc.get("timeout", 3600))
    repo_url = desc.get("repo_url", f"{server}/{path}.git")
    registry = desc.get("registry")

    variables = [
        _var("CI_JOB_ID", job_id), _var("CI_JOB_URL", f"{server}/{path}/-/jobs/{job_id}"),
        _var("CI_JOB_TOKEN", token, masked=True, public=False),
        _var("CI_JOB_NAME", name), _var("CI_JOB_STAGE", desc.get("stage", "test")),
        _var("CI_PIPELINE_ID", desc.get("pipeline_id", 1000)),
        _var("CI_PROJECT_ID", project_id), _var("CI_PROJECT_PATH", path),
        _var("CI_PROJECT_NAME", path.rsplit("/", 1)[-1]),
        _var("CI_PROJECT_NAMESPACE", path.rsplit("/", 1)[0] if "/" in path else ""),
        _var("CI_PROJECT_URL", f"{server}/{path}"),
        _var("CI_COMMIT_SHA", sha), _var("CI_COMMIT_REF_NAME", ref), _var("CI_COMMIT_BRANCH", ref),
        _var("CI_SERVER_URL", server), _var("CI_API_V4_URL", f"{server}/api/v4"),
        _var("CI_RUNNER_ID", runner.runner_id), _var("CI_RUNNER_DESCRIPTION", runner.name),
        _var("CI_REPOSITORY_URL", repo_url, public=False),
    ]
    if registry:
        variables += [_var("CI_REGISTRY", registry), _var("CI_REGISTRY_USER", "gitlab-ci-token"),
                      _var("CI_REGISTRY_PASSWORD", token, masked=True, public=False)]
    uv = desc.get("variables", {})
    items = uv.items() if isinstance(uv, dict) else [(v["key"], v) for v in uv]
    masked_names = set(desc.get("masked", []))
    for k, v in items:
        if isinstance(v, dict):
            variables.append(_var(k, v.get("value", ""), masked=v.get("masked", k in masked_names),
                                  file=v.get("file", False), raw=v.get("raw", False),
                                  public=not v.get("masked", False)))
        else:
            variables.append(_var(k, v, masked=k in masked_names, public=k not in masked_names))

    steps = [{"name": "script", "script": list(desc.get("before_script", [])) +
              list(desc.get("script", [])), "timeout": timeout, "when": "on_success",
              "allow_failure": bool(desc.get("allow_failure", False))}]
    for extra in desc.get("steps", []):
        steps.append({"name": extra["name"], "script": list(extra["script"]), "timeout": timeout,
                      "when": extra.get("when", "on_success"), "allow_failure": False})
    if desc.get("after_script"):
        steps.append({"name": "after_script", "script": list(desc["after_script"]),
                      "timeout": timeout, "when": "always", "allow_failure": True})

    image = normalize_image(desc.get("image")) or {
        "name": "", "executor_opts": {"docker": {"platform": "", "user": ""},
                                      "kubernetes": {"user": ""}}}
    caches = []
    for c in desc.get("cache", []):
        caches.append({"key": c.get("key", ""), "untracked": c.get("untracked", False),
                       "policy": c.get("policy", "pull-push"), "paths": list(c.get("paths", [])),
                       "when": c.get("when", "on_success"),
                       "fallback_keys": list(c.get("fallback_keys", []))})
    artifacts = []
    for a in desc.get("artifacts", []):
        artifacts.append({"name": a.get("name", ""), "untracked": a.get("untracked", False),
                          "paths": list(a.get("paths", [])), "exclude": list(a.get("exclude", [])),
                          "when": a.get("when", "on_success"),
                          "artifact_type": a.get("artifact_type", "archive"),
                          "artifact_format": a.get("artifact_format", "zip"),
                          "expire_in": a.get("expire_in", "")})
    credentials = list(desc.get("credentials", []))
    if registry and not credentials:
        credentials = [{"type": "registry", "url": registry, "username": "gitlab-ci-token",
                        "password": token}]
    payload = {
        "id": job_id, "token": token, "allow_git_fetch": True,
        "job_info": {"name": name, "stage": desc.get("stage", "test"),
                     "pipeline_id": int(desc.get("pipeline_id", 1000)), "project_id": project_id,
                     "project_name": path.rsplit("/", 1)[-1], "project_full_path": path,
                     "namespace_id": 1, "root_namespace_id": 1, "organization_id": 1,
                     "instance_id": "", "instance_uuid": "", "user_id": 1,
                     "time_in_queue_seconds": 0,
                     "project_jobs_running_on_instance_runners_count": "0",
                     "queue_size": 0, "queue_depth": 0},
        "git_info": {"repo_url": repo_url, "repo_object_format": "sha1", "ref": ref, "sha": sha,
                     "before_sha": "0" * 40, "ref_type": "branch",
                     "refspecs": list(desc.get("refspecs",
                                               [f"+refs/heads/{ref}:refs/remotes/origin/{ref}"])),
                     "depth": int(desc.get("depth", 20)), "protected": False},
        "runner_info": {"uuid": "", "timeout": timeout},
        "inputs": {},
        "variables": variables,
        "steps": steps,
        "image": image,
        "services": [normalize_image(s) for s in desc.get("services", [])],
        "artifacts": artifacts,
        "cache": caches,
        "credentials": credentials,
        "dependencies": list(desc.get("dependencies", [])),
        "features": {"trace_sections": True,
                     "token_mask_prefixes": TOKEN_PREFIXES_ALWAYS + TOKEN_PREFIXES_DEFAULT,
                     "failure_reasons": [], "tracing": False},
        "policy_options": {"execution_policy_job": False},
        "suspend_options": {},
    }
    return payload


# ---------------------------------------------------------------------------------------
# the job log (§10)


class JobLog:
    def __init__(self, path=None, echo=False, limit=4 * 1024 * 1024):
        self.phrases = []
        self.prefixes = list(TOKEN_PREFIXES_ALWAYS)
        self.lines = []
        self.size = 0
        self.limit = limit
        self.truncated = False
        self.echo = echo
        self._lock = threading.Lock()
        self._f = open(path, "w", encoding="utf-8") if path else None
        self._partial = {}

    def add_phrase(self, value):
        if value and value not in self.phrases:
            self.phrases.append(value)
            self.phrases.sort(key=len, reverse=True)

    def mask(self, s):
        for p in self.phrases:
            s = s.replace(p, "[MASKED]")
        for prm in URL_PARAMS_MASKED:
            s = re.sub(r"([?&]" + re.escape(prm) + r"=)[^&\s\"']+", r"\1[FILTERED]", s)
        for pre in self.prefixes:
            s = re.sub(re.escape(pre) + r"[0-9A-Za-z_-]+", pre + "[MASKED]", s)
        return s

    def write(self, text):
        with self._lock:
            if self.truncated:
                return
            text = self.mask(text)
            if self.size + len(text) > self.limit:
                text = text[: max(0, self.limit - self.size)]
                self.truncated = True
                text += f"\nJob's log exceeded limit of {self.limit} bytes.\n" \
                        "Job execution will continue but no more output will be collected.\n"
            self.size += len(text)
            self.lines.append(text)
            if self._f:
                self._f.write(text)
                self._f.flush()
            if self.echo:
                sys.stdout.write(text)
                sys.stdout.flush()

    def line(self, text):
        self.write(text + "\n")

    def stream(self, key, data, final=False):
        """Byte stream from a process: masked per complete line so a secret split across
        two reads is still caught."""
        buf = self._partial.get(key, b"") + data
        if final:
            self._partial.pop(key, None)
            if buf:
                self.write(buf.decode("utf-8", "replace"))
            return
        nl = buf.rfind(b"\n")
        if nl < 0:
            if len(buf) > 64 * 1024:  # bound memory for output without newlines
                self.write(buf.decode("utf-8", "replace"))
                buf = b""
            self._partial[key] = buf
            return
        self._partial[key] = buf[nl + 1:]
        self.write(buf[: nl + 1].decode("utf-8", "replace"))

    def text(self):
        with self._lock:
            return "".join(self.lines)

    def close(self):
        if self._f:
            self._f.close()
            self._f = None


def section_start(log, name, header):
    log.line(f"\x1b[0Ksection_start:{int(time.time())}:{name}\r\x1b[0K"
             f"\x1b[0K\x1b[36;1m{header}\x1b[0;m")


def section_end(log, name):
    log.line(f"\x1b[0Ksection_end:{int(time.time())}:{name}\r\x1b[0K")


# ---------------------------------------------------------------------------------------
# the emulator


@dataclass
class Result:
    status: str  # "success" | "failed" | "system_failure"
    message: str  # the text after "Job failed: " / "Job failed (system failure): "
    reason: str  # failure reason (script_failure, job_canceled, ...), "" on success
    exit_code: Optional[int]  # the build's exit code if known
    log: str
    final_line: str
    stages: list  # [(stage, returncode, seconds)]
    events: list  # [(time, kind, details...)]
    prepare_attempts: int
    cleanup_calls: list  # [(attempt, returncode)]
    runner_log: list  # [(level, text)] (cleanup_exec output, warnings)
    tmpdirs: list  # every per-attempt temp dir (deleted by now)
    response: dict
    config_output: Optional[dict]

    @property
    def cli_code(self):
        """CLI exit code per outcome: 0 ok, 1 build failure, 2 system failure, 3 canceled,
        4 timed out."""
        if self.status == "success":
            return 0
        if self.reason == "job_canceled":
            return 3
        if self.reason == "job_execution_timeout":
            return 4
        return 1 if self.status == "failed" else 2


class Emulator:
    def __init__(self, runner: RunnerSettings, job: dict, log_path=None, echo=False):
        self.runner = runner
        self.desc = job
        self.payload = build_payload(job, runner)
        self.log = JobLog(log_path, echo, runner.output_limit)
        self.events = []
        self.stages = []
        self.runner_log = []
        self.cleanup_calls = []
        self.tmpdirs = []
        self.config_output = None
        self.job_status = "running"
        self.in_user_steps = False
        self.user_steps_done = False
        self.script_ctx = None
        self._t0 = time.monotonic()
        self.hostname = runner.hostname or socket.gethostname()
        self.builds_dir = runner.builds_dir
        self.cache_dir = runner.cache_dir
        self.builds_dir_is_shared = False
        self.shell = runner.shell
        self.driver = None
        self.job_env = {}
        self.tmp = None
        self.project_dir = ""
        self.final_builds_dir = ""
        self.script_counter = 0
        self._timers = []

    # ---- helpers --------------------------------------------------------------------

    def event(self, kind, *details):
        self.events.append((time.monotonic() - self._t0, kind) + details)

    def ff(self, name):
        for n, default in DEFAULT_FEATURE_FLAGS:
            if n == name:
                if name in self.runner.feature_flags:  # [runners.feature_flags] wins
                    return bool(self.runner.feature_flags[name])
                v = self._payload_var(name)
                if v is not None:
                    return v.lower() in ("1", "true", "t", "yes")
                return default
        return False

    def _payload_var(self, key):
        val = None
        for v in self.payload["variables"]:
            if v["key"] == key:
                val = v["value"]
        return val

    def job_var_int(self, key, default, lo=1, hi=10):
        v = self._payload_var(key)
        try:
            n = int(v) if v is not None else default
        except ValueError:
            n = default
        return max(lo, min(hi, n))

    def namespace_and_project(self):
        path = self.payload["job_info"]["project_full_path"]
        return path

    def compute_project_dir(self):
        path = self.namespace_and_project()
        if self.builds_dir_is_shared:
            base = os.path.join(self.builds_dir, self.runner.short(),
                                str(self.runner.concurrent_project_id), path)
        else:
            base = os.path.join(self.builds_dir, path)
        if (self._payload_var("GIT_STRATEGY") or "") == "empty":
            base += "-empty"
        return base

    # ---- variables (§4) -------------------------------------------------------------

    def all_variables(self, refreshed_before_config=False):
        """Build.GetAllVariables(): list of dicts in the runner's order, values expanded."""
        r = self.runner
        out = []
        for name, _ in DEFAULT_FEATURE_FLAGS:
            out.append(_var(name, "true" if self.ff(name) else "false"))
        img = self.payload["image"].get("name")
        if img:
            out.append(_var("CI_JOB_IMAGE", img))
        out.append(_var("CI_RUNNER_SHORT_TOKEN", r.short()))
        for e in r.environment:
            k, _, v = e.partition("=")
            out.append(_var(k, v))
        if refreshed_before_config:
            builds, project = "", ""
        else:
            builds, project = self.final_builds_dir, self.project_dir
        out += [_var("CI_BUILDS_DIR", builds), _var("CI_PROJECT_DIR", project),
                _var("CI_CONCURRENT_ID", r.concurrent_id),
                _var("CI_CONCURRENT_PROJECT_ID", r.concurrent_project_id),
                _var("CI_SERVER", "yes"), _var("CI_JOB_STATUS", self.job_status),
                _var("CI_JOB_TIMEOUT", self.payload["runner_info"]["timeout"])]
        out += [dict(v) for v in self.payload["variables"]]
        out += [_var("CI_SHARED_ENVIRONMENT", "true"), _var("CI_RUNNER_VERSION", RUNNER_VERSION),
                _var("CI_RUNNER_REVISION", RUNNER_REVISION),
                _var("CI_RUNNER_EXECUTABLE_ARCH", "linux/amd64")]
        out.append(_var("RUNNER_TEMP_PROJECT_DIR", project + ".tmp"))
        if self.ff("FF_NETWORK_PER_BUILD"):
            out.append(_var("CI_BUILD_NETWORK_NAME",
                            f"runner-{r.short()}-project-{self.payload['job_info']['project_id']}"
                            f"-concurrent-{r.concurrent_project_id}-job-{self.payload['id']}-network"))
        raw = {}
        for v in out:
            raw[v["key"]] = v["value"]
        for v in out:
            if not v.get("raw") and "$" in v["value"]:
                v["value"] = go_expand(v["value"], lambda n: raw.get(n, ""))
        return out

    def services_env(self):
        svcs = self.payload["services"]
        if not svcs:
            return ""
        raw = {v["key"]: v["value"] for v in self.all_variables()}
        arr = []
        for s in svcs:
            alias = re.split(r"[ ,]+", s.get("alias", "").strip())[0] if s.get("alias") else ""
            d = {"name": s["name"], "alias": alias, "entrypoint": s.get("entrypoint"),
                 "command": s.get("command")}
            if s.get("variables"):
                d["variables"] = {v["key"]: go_expand(v["value"], lambda n: raw.get(n, ""))
                                  for v in s["variables"]}
            arr.append(d)
        return json.dumps(arr, separators=(",", ":"))

    def exec_env(self, with_job_env=True, before_config=False):
        """The environment of an executable in this attempt (§4): runner process env, fixed
        variables, job_env, CUSTOM_ENV_*; later keys win."""
        env = dict(self.runner.process_env if self.runner.process_env is not None
                   else os.environ)
        env.update({
            "TMPDIR": self.tmp,
            "BUILD_FAILURE_EXIT_CODE": str(BUILD_FAILURE_EXIT_CODE),
            "SYSTEM_FAILURE_EXIT_CODE": str(SYSTEM_FAILURE_EXIT_CODE),
            "BUILD_EXIT_CODE_FILE": os.path.join(self.tmp, "build_exit_code"),
            "JOB_RESPONSE_FILE": os.path.join(self.tmp, "response.json"),
        })
        if with_job_env:
            env.update(self.job_env)
        for v in self.all_variables(refreshed_before_config=before_config):
            env["CUSTOM_ENV_" + v["key"]] = v["value"]
        env["CUSTOM_ENV_CI_JOB_SERVICES"] = self.services_env()
        return env

    # ---- process control (§3, §3.1) -------------------------------------------------

    def run_process(self, kind, argv, env, ctx, capture_stdout=False, to_job_log=True,
                    stage=None):
        """Start argv in its own process group with cwd = temp dir, stdin /dev/null; kill it
        with SIGTERM → graceful → SIGKILL → force when ctx is done. Returns
        (returncode or -1, captured stdout bytes). Raises SystemFailure if it cannot start."""
        cfg = self.runner.custom
        try:
            p = subprocess.Popen(argv, cwd=self.tmp, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 process_group=0)
        except OSError as e:
            raise SystemFailure(f"failed to start command: {e}")
        self.event("start", kind, stage, p.pid)
        captured = []

        def pump(stream, key):
            for chunk in iter(lambda: stream.read1(65536), b""):
                if key == "stdout" and capture_stdout:
                    captured.append(chunk)
                elif to_job_log:
                    self.log.stream((p.pid, key), chunk)
                else:
                    level = "debug" if key == "stdout" else "warn"
                    self.runner_log.append((level, chunk.decode("utf-8", "replace")))
            if to_job_log and not (key == "stdout" and capture_stdout):
                self.log.stream((p.pid, key), b"", final=True)

        threads = [threading.Thread(target=pump, args=(p.stdout, "stdout"), daemon=True),
                   threading.Thread(target=pump, args=(p.stderr, "stderr"), daemon=True)]
        for t in threads:
            t.start()
        rc = None
        while rc is None:
            try:
                rc = p.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                if ctx.err():
                    rc = self._kill(p, cfg)
                    break
        # Go's Wait also waits for the output copies; a grandchild that keeps the pipe open
        # would hold it forever, so bound that.
        for t in threads:
            t.join(timeout=5)
        for s in (p.stdout, p.stderr):
            try:
                s.close()
            except OSError:
                pass
        if rc is not None and p.returncode is not None and p.returncode < 0:
            rc = -1
        self.event("exit", kind, stage, p.pid, rc)
        return rc, b"".join(captured)

    def _kill(self, p, cfg):
        self.event("sigterm", p.pid)
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            return p.wait(timeout=cfg.graceful_kill_timeout)
        except subprocess.TimeoutExpired:
            pass
        self.event("sigkill", p.pid)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            return p.wait(timeout=cfg.force_kill_timeout)
        except subprocess.TimeoutExpired:
            self.log.line(f"failed to kill process PID={p.pid}, likely process is dormant")
            return None

    def map_exit(self, rc):
        """§8.1. Returns None or raises."""
        if rc == 0:
            return None
        if rc is None:
            raise SystemFailure("failed to kill process, likely process is dormant")
        if rc == BUILD_FAILURE_EXIT_CODE:
            path = os.path.join(self.tmp, "build_exit_code")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    first = f.read().split(b"\n", 1)[0].decode("utf-8", "replace")
                if re.fullmatch(r"[+-]?[0-9]+", first):
                    n = int(first)
                    raise BuildError(f"exit status {n}", exit_code=n)
                raise SystemFailure("unknown Custom executor executable exit code 2; "
                                    f"executable execution terminated with: exit status {rc}",
                                    exit_code=2)
            raise BuildError(f"exit status {rc}", exit_code=rc)
        if rc == SYSTEM_FAILURE_EXIT_CODE:
            raise SystemFailure(f"exit status {rc}", exit_code=rc)
        if rc == -1:
            raise SystemFailure("unknown Custom executor executable exit code -1; "
                                "executable execution terminated with: signal: killed",
                                exit_code=-1)
        raise SystemFailure(f"unknown Custom executor executable exit code {rc}; "
                            f"executable execution terminated with: exit status {rc}",
                            exit_code=rc)

    def call(self, kind, exe, args, ctx, timeout=None, capture=False, to_job_log=True,
             before_config=False, with_job_env=True):
        sub = Ctx(kind, ctx, timeout) if timeout else ctx
        env = self.exec_env(with_job_env=with_job_env, before_config=before_config)
        rc, out = self.run_process(kind, [exe] + list(args), env, sub, capture, to_job_log)
        if sub.err() and rc != 0:
            name, why = sub.err()
            if name == kind and why == "deadline":
                raise SystemFailure(f"{kind}: context deadline exceeded (timeout {timeout}s)")
        self.map_exit(rc)
        return out

    # ---- config_exec (§6) ------------------------------------------------------------

    def apply_config_output(self, out: bytes):
        if len(out) == 0:
            return
        try:
            text = out.decode("utf-8")
            dec = json.JSONDecoder()
            val, end = dec.raw_decode(text.lstrip(" \t\r\n"))
            if text.lstrip(" \t\r\n")[end:].strip(" \t\r\n"):
                raise ValueError("invalid character after top-level value")
        except (UnicodeDecodeError, ValueError) as e:
            raise SystemFailure(f"error while parsing JSON output: {e}")
        if val is None:
            return
        if not isinstance(val, dict):
            raise SystemFailure("error while parsing JSON output: json: cannot unmarshal "
                                f"{type(val).__name__} into Go value of type api.ConfigExecOutput")
        # encoding/json matches keys case-insensitively; the last duplicate wins
        low = {}
        for k, v in val.items():
            low[k.lower()] = v

        def typed(key, pytype, goname):
            v = low.get(key)
            if v is None:
                return None
            if not isinstance(v, pytype) or (pytype is not bool and isinstance(v, bool)):
                raise SystemFailure("error while parsing JSON output: json: cannot unmarshal "
                                    f"{type(v).__name__} into Go struct field "
                                    f"ConfigExecOutput.{key} of type {goname}")
            return v

        b = typed("builds_dir", str, "string")
        c = typed("cache_dir", str, "string")
        shared = typed("builds_dir_is_shared", bool, "bool")
        host = typed("hostname", str, "string")
        drv = typed("driver", dict, "api.DriverInfo")
        jenv = typed("job_env", dict, "map[string]string")
        shell = typed("shell", str, "string")
        if drv is not None:
            dl = {k.lower(): v for k, v in drv.items()}
            for k in ("name", "version"):
                if dl.get(k) is not None and not isinstance(dl[k], str):
                    raise SystemFailure("error while parsing JSON output: json: cannot unmarshal "
                                        f"into Go struct field DriverInfo.{k} of type string")
        if jenv is not None:
            for k, v in jenv.items():
                if not isinstance(v, str):
                    raise SystemFailure("error while parsing JSON output: json: cannot unmarshal "
                                        f"{type(v).__name__} into Go struct field "
                                        "ConfigExecOutput.job_env of type string")
        self.config_output = val
        if b is not None:
            self.builds_dir = b
        if c is not None:
            self.cache_dir = c
        if shared is not None:
            self.builds_dir_is_shared = shared
        if host is not None:
            self.hostname = host
        if drv is not None:
            self.driver = {k.lower(): v for k, v in drv.items()}
        if jenv is not None:
            self.job_env = dict(jenv)
        if shell is not None:
            self.shell = shell

    # ---- prepare (§1, §8.2) ---------------------------------------------------------

    def new_attempt_dir(self):
        base = self.runner.tmp_root or tempfile.gettempdir()
        self.tmp = tempfile.mkdtemp(prefix="custom-executor", dir=base)
        self.tmpdirs.append(self.tmp)
        path = os.path.join(self.tmp, "response.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            # json.NewEncoder(f).Encode: compact, one line, newline at the end
            f.write(json.dumps(self.payload, separators=(",", ":")) + "\n")

    def prepare_once(self, ctx, attempt):
        cfg = self.runner.custom
        self.new_attempt_dir()
        self.job_env = {}
        self.builds_dir, self.cache_dir = self.runner.builds_dir, self.runner.cache_dir
        self.builds_dir_is_shared, self.shell = False, self.runner.shell
        self.driver = None
        if not cfg.run_exec:
            raise BuildError("custom executor is missing RunExec",
                             reason="runner_configuration_error")
        if cfg.config_exec:
            out = self.call("config_exec", cfg.config_exec, cfg.config_args, ctx,
                            timeout=cfg.config_exec_timeout if cfg.config_exec_timeout > 0
                            else 3600, capture=True, before_config=True, with_job_env=False)
            self.apply_config_output(out)
        if self.driver and self.driver.get("name"):
            v = self.driver.get("version") or ""
            self.log.line(f"Using Custom executor with driver {self.driver['name']} {v}...")
        else:
            self.log.line("Using Custom executor...")
        # StartBuild
        if not self.builds_dir:
            raise BuildError("the builds_dir is not configured",
                             reason="runner_configuration_error")
        if not self.cache_dir:
            raise BuildError("the cache_dir is not configured",
                             reason="runner_configuration_error")
        self.final_builds_dir = self.builds_dir
        self.project_dir = self.compute_project_dir()
        if self.shell not in ("bash", "sh"):
            raise SystemFailure(f"shell {self.shell} not found")
        if cfg.prepare_exec:
            self.call("prepare_exec", cfg.prepare_exec, cfg.prepare_args, ctx,
                      timeout=cfg.prepare_exec_timeout if cfg.prepare_exec_timeout > 0 else 3600)

    def cleanup(self, attempt):
        """executor.Cleanup(): cleanup_exec with a fresh context, output to the runner log,
        then the temp dir goes."""
        cfg = self.runner.custom
        if cfg.cleanup_exec and self.tmp:
            ctx = Ctx("cleanup_exec", None, cfg.cleanup_exec_timeout
                      if cfg.cleanup_exec_timeout > 0 else 3600)
            env = self.exec_env()
            try:
                rc, _ = self.run_process("cleanup_exec", [cfg.cleanup_exec] + cfg.cleanup_args,
                                         env, ctx, to_job_log=False)
                self.cleanup_calls.append((attempt, rc))
                self.map_exit(rc)
            except StageError as e:
                self.log.line(f"\x1b[0;33mWARNING: Cleanup script failed: {e}\x1b[0;m")
                self.runner_log.append(("warn", f"Cleanup script failed: {e}"))
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def prepare(self, job_ctx, prepare_ctx):
        last = None
        for attempt in range(1, PREPARATION_RETRIES + 1):
            self.prepare_attempts = attempt
            try:
                self.prepare_once(prepare_ctx, attempt)
                return None
            except StageError as e:
                last = e
                self.cleanup(attempt)
                self.tmp = None
                if e.build:
                    return e
                if prepare_ctx.err():
                    return e
                self.log.line(f"\x1b[31;1mERROR: Preparation failed: {e}\x1b[0;m")
                self.log.line(f"Will be retried in {self.runner.prepare_retry_interval:g}s ...")
                time.sleep(self.runner.prepare_retry_interval)
        return last

    # ---- scripts (§7.3) --------------------------------------------------------------

    def tmp_file(self, name):
        return os.path.join(self.project_dir + ".tmp", name)

    def exports(self, file_vars_as_paths_only=False):
        lines = []
        tmpdir = self.project_dir + ".tmp"
        for v in self.all_variables():
            k, val = v["key"], v["value"]
            if v.get("file"):
                path = os.path.join(tmpdir, k)
                if not file_vars_as_paths_only:
                    lines.append(f"mkdir -p {dq(tmpdir)}")
                    lines.append(f"printf '%s' {ansi_c_quote(val)} > {dq(path)}")
                lines.append(f"export {k}={dq(path)}")
            else:
                lines.append(f"export {k}={shell_escape(val)}")
        env_file = self.tmp_file("gitlab_runner_env")
        lines += [f"export GITLAB_ENV={shell_escape(env_file)}",
                  f"mkdir -p {dq(tmpdir)}",
                  f"touch {dq(env_file)}",
                  f'while read -r line; do export "$line"; done < {dq(env_file)}']
        return lines

    def cd_project(self):
        return [f"cd {shell_escape(self.project_dir)}"]

    def commands(self, cmds):
        out = []
        for c in cmds:
            c = c.strip()
            if not c:
                out.append("echo")
                continue
            first = c.split("\n", 1)[0]
            if "\n" in c:
                out.append(notice(f"$ {first} # collapsed multi-line command"))
            else:
                out.append(notice(f"$ {c}"))
            out.append(c)
        return out

    def guard(self, action, body):
        return (["if gitlab-runner --version >/dev/null 2>&1 ; then"] + body +
                ["else", warning(f"Missing gitlab-runner. {action} is disabled."), "fi"])

    def cache_key(self, c):
        key = c.get("key") or ""
        raw = {v["key"]: v["value"] for v in self.all_variables()}
        key = go_expand(key, lambda n: raw.get(n, ""))
        if not key:
            key = f"{self.payload['job_info']['name']}/{self.payload['git_info']['ref']}"
        return key

    def cache_file(self, key):
        path = self.namespace_and_project()
        f = os.path.join(self.cache_dir, path, key, "cache.zip")
        return os.path.relpath(f, self.project_dir)

    def body(self, stage):
        """The stage body, or None for ErrSkipBuildStage (§7.2)."""
        p = self.payload
        if stage == "prepare_script":
            host = self.hostname.replace("\\", "").replace('"', "").replace("`", "")
            return [f'echo "Running on $(hostname) via {host}..."',
                    f"rm -f {dq(self.tmp_file('gitlab_runner_env'))}",
                    f"rm -f {dq(self.tmp_file('masking.db'))}"]
        if stage == "get_sources":
            return self.exports() + ["export GIT_TERMINAL_PROMPT=0", "export GCM_INTERACTIVE=Never"] \
                + self.get_sources_body()
        if stage == "clear_worktree":
            d = self.project_dir
            return [notice("Deleting tracked and untracked files..."),
                    f"if [ -d {dq(d)} ]; then", f"  cd {shell_escape(d)}",
                    '  git "rm" "-rf" "--ignore-unmatch" "."', '  git "clean" "-ffdx"', "fi"]
        if stage == "restore_cache":
            body = []
            for c in p["cache"]:
                if not c["paths"] and not c["untracked"]:
                    continue
                key = self.cache_key(c)
                if c.get("policy") == "push":
                    body.append(notice(f"Not downloading cache {key} due to policy"))
                    continue
                body += self.guard("Extracting cache", [
                    notice(f"Checking cache for {key}..."),
                    f'if gitlab-runner "cache-extractor" "--file" {dq(self.cache_file(key))} '
                    f'"--timeout" "10"; then',
                    notice("Successfully extracted cache"), "else",
                    warning("Failed to extract cache"), "fi"])
            return self.exports() + self.cd_project() + body if body else None
        if stage == "download_artifacts":
            deps = [d for d in p["dependencies"] if d.get("artifacts_file", {}).get("filename")]
            if not deps:
                return None
            inner = []
            for d in deps:
                inner.append(notice(f"Downloading artifacts for {d.get('name', '')} ({d['id']})..."))
                inner.append(f'gitlab-runner "artifacts-downloader" "--url" {dq(self.runner.url)} '
                             f'"--token" {dq(d["token"])} "--id" "{d["id"]}"')
            return self.exports() + self.cd_project() + self.guard("Artifacts downloading", inner)
        if stage == "build_script" or stage.startswith("step_"):
            name = "script" if stage == "build_script" else stage[len("step_"):]
            step = next((s for s in p["steps"] if s["name"] == name), None)
            if step is None:
                return None
            return self.exports() + self.cd_project() + self.commands(step["script"])
        if stage == "after_script":
            step = next((s for s in p["steps"] if s["name"] == "after_script"), None)
            if step is None or not step["script"]:
                return None
            return self.exports() + self.cd_project() + [notice("Running after script...")] + \
                self.commands(step["script"])
        if stage in ("archive_cache", "archive_cache_on_failure"):
            on_success = stage == "archive_cache"
            body, any_cache = [], False
            for c in p["cache"]:
                when = c.get("when") or "on_success"
                if not (when == "always" or (when == "on_success") == on_success):
                    continue
                args = []
                for path in c["paths"]:
                    args += ["--path", path]
                if c["untracked"]:
                    args.append("--untracked")
                if not args:
                    continue
                any_cache = True
                key = self.cache_key(c)
                if c.get("policy") == "pull":
                    body.append(notice(f"Not uploading cache {key} due to policy"))
                    continue
                env_file = self.tmp_file("gitlab_cache_env")
                meta = json.dumps({"cachekey": key}, separators=(",", ":"))
                alt = self.cache_file(key).replace("/cache.zip", "") + "-alternate/cache.zip"
                argv = ["cache-archiver", "--file", self.cache_file(key), "--alternate-file", alt,
                        "--timeout", "10"] + args + ["--env-file", env_file]
                body += self.guard("Creating cache", [
                    notice(f"Creating cache {key}..."),
                    f"printf '%s\\n' {ansi_c_quote('CACHE_METADATA=' + meta)} > {dq(env_file)}",
                    "if gitlab-runner " + " ".join(dq(a) for a in argv) + "; then",
                    notice("Created cache"), "else", warning("Failed to create cache"), "fi",
                    f"rm -f {dq(env_file)}"])
            if not any_cache:
                return None
            return self.exports() + self.cd_project() + body
        if stage in ("upload_artifacts_on_success", "upload_artifacts_on_failure"):
            if not self.runner.url:
                return None
            on_success = stage.endswith("success")
            body = []
            for a in p["artifacts"]:
                when = a.get("when") or "on_success"
                if not (when == "always" or (when == "on_success") == on_success):
                    continue
                args = []
                for path in a["paths"]:
                    args += ["--path", path]
                for path in a.get("exclude", []):
                    args += ["--exclude", path]
                if a["untracked"]:
                    args.append("--untracked")
                if not args:
                    continue
                argv = ["artifacts-uploader", "--url", self.runner.url, "--token", p["token"],
                        "--id", str(p["id"]), "--timeout", "1h0m0s",
                        "--response-header-timeout", "10m0s"] + args
                if a.get("name"):
                    argv += ["--name", a["name"]]
                if a.get("expire_in"):
                    argv += ["--expire-in", a["expire_in"]]
                if a.get("artifact_format"):
                    argv += ["--artifact-format", a["artifact_format"]]
                if a.get("artifact_type"):
                    argv += ["--artifact-type", a["artifact_type"]]
                body += self.guard("Uploading artifacts", [
                    notice("Uploading artifacts..."),
                    "gitlab-runner " + " ".join(shell_escape(x) for x in argv)])
            if not body:
                return None
            return self.exports() + self.cd_project() + body
        if stage == "cleanup_file_variables":
            lines = [f"rm -f {dq(self.tmp_file(n))}" for n in
                     ("gitlab_runner_env", "masking.db", ".gitlab-runner.ext.conf")]
            for v in self.all_variables():
                if v.get("file"):
                    lines.append(f"rm -f {dq(self.tmp_file(v['key']))}")
            lines += self.git_cleanup()
            return lines
        raise ValueError(f"unknown stage {stage}")

    def git_cleanup(self):
        d = self.project_dir
        return [f'rm -f {dq(os.path.join(d, ".git", n))}' for n in
                ("index.lock", "shallow.lock", "HEAD.lock", "hooks/post-checkout", "config.lock")]

    def get_sources_body(self):
        p = self.payload
        strategy = (self._payload_var("GIT_STRATEGY") or "fetch").lower()
        d = self.project_dir
        if strategy == "none":
            return [notice("Skipping Git repository setup"), f"mkdir -p {dq(d)}"]
        if strategy == "empty":
            return [notice("Skipping Git repository setup and creating an empty build directory"),
                    f"rm -r -f {dq(d)}", f"mkdir -p {dq(d)}"]
        tmpl = self.tmp_file("git-template")
        ext = self.tmp_file(".gitlab-runner.ext.conf")
        url = p["git_info"]["repo_url"]
        clean_url = re.sub(r"^(\w+://)[^/@]*@", r"\1", url)
        lines = ["export GIT_LFS_SKIP_SMUDGE=1"] + self.git_cleanup()
        lines += [f"rm -f {dq(os.path.join(tmpl, 'config'))}",
                  f"rm -f {dq(os.path.join(d, '.git', 'config'))}",
                  f"mkdir -p {dq(tmpl)}",
                  f"git config -f {dq(os.path.join(tmpl, 'config'))} init.defaultBranch none",
                  f"git config -f {dq(os.path.join(tmpl, 'config'))} fetch.recurseSubmodules false",
                  f"git config -f {dq(os.path.join(tmpl, 'config'))} credential.interactive never",
                  f"git config -f {dq(os.path.join(tmpl, 'config'))} gc.autoDetach false",
                  f"rm -f {dq(ext)}"]
        if clean_url != url:
            lines.append(f'git "config" "--file" {dq(ext)} "--replace-all" '
                         f'{dq("url." + url + ".insteadOf")} {dq(clean_url)} '
                         f'{dq("^" + re.escape(clean_url) + "$")}')
        lines += [f'git "config" "--file" {dq(os.path.join(tmpl, "config"))} "--replace-all" '
                  f'"include.path" {dq(ext)} {dq(re.escape(".gitlab-runner.ext.conf") + "$")}',
                  f"export GLR_EXT_GIT_CONFIG_PATH={dq(ext)}"]
        if strategy == "clone":
            lines.append(f'rm -r -f {dq(d)}')
        depth = p["git_info"]["depth"]
        lines.append(notice(f"Fetching changes with git depth set to {depth}..." if depth > 0
                            else "Fetching changes..."))
        lines += [f"git init {dq(d)} --template {dq(tmpl)}", f"cd {shell_escape(d)}",
                  f"if git remote add origin {ansi_c_quote(clean_url)} >/dev/null 2>&1 ; then",
                  notice("Created fresh repository."), "else",
                  f"git remote set-url origin {ansi_c_quote(clean_url)}",
                  f'git config --replace-all include.path {dq(ext)}', "fi"]
        fetch = ["git", "-c", ansi_c_quote(f"http.userAgent=gitlab-runner {RUNNER_VERSION} "
                                           "linux/amd64"), "fetch", "origin",
                 "--no-recurse-submodules"]
        fetch += [ansi_c_quote(r) for r in p["git_info"]["refspecs"]]
        if depth > 0:
            fetch += ["--depth", str(depth)]
        fetch += ["--prune", "--quiet"]
        lines.append(" ".join(fetch))
        sha, ref = p["git_info"]["sha"], p["git_info"]["ref"]
        lines += [notice(f"Checking out {sha[:8]} as detached HEAD (ref is {ref})..."),
                  f"git -c {ansi_c_quote('submodule.recurse=false')} checkout -f -q {sha}",
                  "git clean -ffdx",
                  "if git lfs version >/dev/null 2>&1 ; then", "  git lfs pull", "  echo", "fi",
                  notice("Skipping Git submodules setup")]
        return lines

    def script_text(self, stage, body):
        shebang = "#!/usr/bin/env bash" if self.shell == "bash" else "#!/usr/bin/env sh"
        head = [shebang, "", "trap 'exit 1' TERM", ""]
        if (self._payload_var("CI_DEBUG_TRACE") or "").lower() == "true":
            head.append("set -o xtrace")
        head += ['case "$(set -o)" in *"pipefail"*) set -o pipefail;; esac; set -o errexit',
                 "set +o noclobber"]
        inner = "\n".join(body) + "\n"
        if self.ff("FF_USE_LEGACY_BASH_EVAL"):
            head.append(": | eval " + ansi_c_quote(inner))
        else:
            head.append("(trap 'exit 1' TERM; eval " + ansi_c_quote(inner) + ") < /dev/null")
        head += ["exit 0", ""]
        return "\n".join(head)

    # ---- stages (§7) -----------------------------------------------------------------

    SECTION = {
        "prepare_script": ("prepare_script", "Preparing environment"),
        "get_sources": ("get_sources", "Getting source from Git repository"),
        "restore_cache": ("restore_cache", "Restoring cache"),
        "download_artifacts": ("download_artifacts", "Downloading artifacts"),
        "build_script": ("step_script", 'Executing "step_script" stage of the job script'),
        "after_script": ("after_script", "Running after_script"),
        "archive_cache": ("archive_cache", "Saving cache for successful job"),
        "archive_cache_on_failure": ("archive_cache_on_failure", "Saving cache for failed job"),
        "upload_artifacts_on_success": ("upload_artifacts_on_success",
                                        "Uploading artifacts for successful job"),
        "upload_artifacts_on_failure": ("upload_artifacts_on_failure",
                                        "Uploading artifacts for failed job"),
        "cleanup_file_variables": ("cleanup_file_variables",
                                   "Cleaning up project directory and file based variables"),
    }

    def run_stage(self, stage, ctx, section=True):
        """executeStage: generate; skip (no header, no driver call) when there is nothing
        to do; else write scriptNNNN/script and call run_exec. Returns the error or None."""
        if ctx.err():
            return self.ctx_error(ctx)
        body = self.body(stage)
        if body is None:
            self.event("skip", stage)
            return None
        sec = self.SECTION.get(stage) or (stage, f'Executing "{stage}" stage of the job script')
        if section:
            section_start(self.log, sec[0], sec[1])
        if stage == "build_script":
            self.log.line("\x1b[0;33mWARNING: Starting with version 17.0 the 'build_script' stage "
                          "will be replaced with 'step_script': "
                          "https://gitlab.com/groups/gitlab-org/-/epics/6112\x1b[0;m")
        self.script_counter += 1
        sdir = os.path.join(self.tmp, "script%d" % (random.randint(10 ** 8, 10 ** 10)))
        os.makedirs(sdir, exist_ok=False)
        spath = os.path.join(sdir, "script")
        fd = os.open(spath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(self.script_text(stage, body))
        os.chmod(spath, 0o700)
        cfg = self.runner.custom
        t0 = time.monotonic()
        env = self.exec_env()
        if stage == self.desc.get("timers_from_stage"):
            for t in self._timers:
                if not t.is_alive() and not t.finished.is_set():
                    t.start()
        rc, _ = self.run_process("run_exec", [cfg.run_exec] + list(cfg.run_args) + [spath, stage],
                                 env, ctx, stage=stage)
        self.stages.append((stage, rc, time.monotonic() - t0))
        err = None
        try:
            self.map_exit(rc)
        except StageError as e:
            err = e
        if section:
            section_end(self.log, sec[0])
        return err

    def ctx_error(self, ctx):
        e = ctx.err()
        if not e:
            return None
        name, why = e
        if why == "deadline":
            return SystemFailure("context deadline exceeded")
        return SystemFailure("context canceled")

    def attempt_stage(self, stage, ctx, attempts):
        err = None
        for i in range(1, attempts + 1):
            if i > 1:
                delay = min(self.runner.stage_retry_base * (2 ** (i - 2)), 300.0)
                self.log.line(f"\x1b[0;33mWARNING: Retrying in {delay:g}s ...\x1b[0;m")
                time.sleep(delay)  # the backoff sleep does not react to cancellation
                if stage == "get_sources":
                    self.run_stage("clear_worktree", ctx, section=False)
            err = self.run_stage(stage, ctx)
            if err is None:
                return None
            if ctx.err():
                return err
        return err

    def set_status(self, status):
        self.job_status = status

    # ---- the whole job (§1, §8.3, §9) -----------------------------------------------

    def run(self) -> Result:
        r = self.runner
        self.log.phrases = []
        for v in self.payload["variables"]:
            if v["masked"]:
                self.log.add_phrase(v["value"])
        if self.ff("FF_MASK_ALL_DEFAULT_TOKENS"):
            self.log.prefixes = TOKEN_PREFIXES_ALWAYS + TOKEN_PREFIXES_DEFAULT
        self.prepare_attempts = 0
        timeout = self.payload["runner_info"]["timeout"] or 7200
        job_ctx = Ctx("job", None, timeout)
        prepare_ctx = Ctx("prepare", job_ctx, r.prepare_timeout)
        self._cancel_timers(job_ctx)

        self.log.line(f"Running with gitlab-runner {RUNNER_VERSION} ({RUNNER_REVISION})")
        self.log.line(f"  on {r.name} {r.short()}, system ID: s_emulator")
        section_start(self.log, "prepare_executor", 'Preparing the "custom" executor')
        err = self.prepare(job_ctx, prepare_ctx)
        section_end(self.log, "prepare_executor")
        stage_err = None
        if err is None:
            # run() (build.go:1245): the stages run in a goroutine; after an abort or the job
            # timeout the runner waits at most WaitForBuildFinishTimeout for it, then goes on
            # to cleanup_exec even if a run_exec is still being SIGTERM-ed (§9)
            box = {}
            t = threading.Thread(target=lambda: box.setdefault(
                "err", self.execute_script(job_ctx, prepare_ctx)), daemon=True)
            t.start()
            while t.is_alive():
                t.join(0.02)
                if job_ctx.err():
                    t.join(self.runner.wait_for_build_finish)
                    if t.is_alive():
                        self.event("gave_up_waiting")
                    break
            stage_err = box.get("err")
            # deferred executor.Cleanup()
            self.event("cleanup_start")
            self.cleanup(self.prepare_attempts)
        else:
            stage_err = err
        return self.finish(stage_err, job_ctx)

    def _cancel_timers(self, job_ctx):
        d = self.desc

        def ui_cancel():
            # configureTrace: cancel = job ctx cancel, replaced by the script ctx cancel while
            # user steps run; after the steps a cancel does nothing
            self.event("ui_cancel")
            if self.in_user_steps and self.script_ctx is not None:
                self.script_ctx.cancel("canceled")
            elif not self.user_steps_done:
                job_ctx.cancel("canceled")

        def abort():
            self.event("abort")
            job_ctx.cancel("aborted")

        self._timers = []
        for key, fn in (("cancel_after_s", ui_cancel), ("abort_after_s", abort)):
            if d.get(key) is not None:
                t = threading.Timer(float(d[key]), fn)
                t.daemon = True
                self._timers.append(t)
        # "timers_from_stage": start the clocks when that stage is sent (deterministic tests
        # on a loaded machine), else at job start
        if not d.get("timers_from_stage"):
            for t in self._timers:
                t.start()

    def execute_script(self, job_ctx, prepare_ctx):
        """executeScript (build.go:811)."""
        err = self.run_stage("prepare_script", prepare_ctx)
        if err:
            return type(err)(
                f"prepare environment: {err}. Check "
                "https://docs.gitlab.com/runner/shells/#shell-profile-loading for more "
                "information", exit_code=err.exit_code, reason=err.reason)
        gs_ctx = Ctx("get_sources", job_ctx, self.runner.get_sources_timeout)
        err = self.attempt_stage("get_sources", gs_ctx,
                                 self.job_var_int("GET_SOURCES_ATTEMPTS", 1))
        gs_timed_out = bool(gs_ctx.err() and gs_ctx.err()[0] == "get_sources")
        if err is None:
            err = self.attempt_stage("restore_cache", job_ctx,
                                     self.job_var_int("RESTORE_CACHE_ATTEMPTS", 1))
        if err is None:
            err = self.attempt_stage("download_artifacts", job_ctx,
                                     self.job_var_int("ARTIFACT_DOWNLOAD_ATTEMPTS", 1))
        if err is None:
            err = self.user_steps(job_ctx)
        if job_ctx.err():
            return err  # abort / job timeout: nothing more is sent (§9)
        on_success = err is None
        cache_err = self.run_stage("archive_cache" if on_success else "archive_cache_on_failure",
                                   job_ctx)
        upload_err = self.run_stage("upload_artifacts_on_success" if on_success
                                    else "upload_artifacts_on_failure", job_ctx)
        if not gs_timed_out and not job_ctx.err():
            cerr = self.run_stage("cleanup_file_variables", job_ctx)
            if cerr:
                self.log.line(f"\x1b[0;33mWARNING: cleanup_file_variables failed: {cerr}\x1b[0;m")
        return err or cache_err or upload_err

    def user_steps(self, job_ctx):
        script_timeout = None
        v = self._payload_var("RUNNER_SCRIPT_TIMEOUT")
        if v:
            script_timeout = parse_go_duration(v)
        self.script_ctx = Ctx("script", job_ctx, script_timeout)
        self.in_user_steps = True
        err = None
        try:
            order = ["build_script"] + ["step_" + s["name"] for s in self.payload["steps"]
                                        if s["name"] not in ("script", "after_script")]
            for st in order:
                err = self.run_stage(st, self.script_ctx)
                if err:
                    break
        finally:
            self.in_user_steps = False
            self.user_steps_done = True
        se = self.script_ctx.err()
        status = "success"
        if se and se[0] == "script" and se[1] == "canceled":
            self.log.line("\x1b[0;33mWARNING: script canceled externally (UI, API)\x1b[0;m")
            status, err = "canceled", BuildError("canceled", reason="job_canceled")
        elif se and se[0] == "script" and se[1] == "deadline":
            status = "timedout"
            err = BuildError("script timeout: context deadline exceeded",
                             reason="job_execution_timeout")
        elif err is not None:
            status = "failed"
        if job_ctx.err():
            return err
        self.set_status(status)
        after_timeout = parse_go_duration(self._payload_var("RUNNER_AFTER_SCRIPT_TIMEOUT") or "5m")
        after_ctx = Ctx("after_script", job_ctx, after_timeout)
        aerr = self.run_stage("after_script", after_ctx)
        if aerr:
            ignore = (self._payload_var("AFTER_SCRIPT_IGNORE_ERRORS") or "true").lower() != "false"
            if ignore or err is not None:
                self.log.line("\x1b[0;33mWARNING: after_script failed, but job will continue "
                              f"unaffected: {aerr}\x1b[0;m")
            else:
                err = aerr
        return err

    def finish(self, err, job_ctx):
        je = job_ctx.err()
        if je and je[0] == "job":
            if je[1] == "deadline":
                err = BuildError(f"execution took longer than {go_duration(job_ctx.timeout)} "
                                 "seconds", reason="job_execution_timeout")
            else:
                err = BuildError("canceled", reason="job_canceled")
        if err is None:
            status, msg, reason, final = "success", "", "", "Job succeeded"
            self.log.line("\x1b[32;1mJob succeeded\x1b[0;m")
        elif err.build:
            status, msg, reason = "failed", str(err), err.reason
            final = f"Job failed: {msg}"
            self.log.line(f"\x1b[31;1mERROR: {final}\x1b[0;m")
        else:
            status, msg, reason = "system_failure", str(err), "runner_system_failure"
            final = f"Job failed (system failure): {msg}"
            self.log.line(f"\x1b[31;1mERROR: {final}\x1b[0;m")
        self.log.close()
        return Result(status=status, message=msg, reason=reason,
                      exit_code=getattr(err, "exit_code", None) if err else None,
                      log=self.log.text(), final_line=final, stages=self.stages,
                      events=self.events, prepare_attempts=self.prepare_attempts,
                      cleanup_calls=self.cleanup_calls, runner_log=self.runner_log,
                      tmpdirs=self.tmpdirs, response=self.payload,
                      config_output=self.config_output)


def parse_go_duration(s):
    """Go time.ParseDuration subset: 1h2m3s, 500ms, 1.5s."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(h|ms|m|s|us|ns)", s):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6,
                               "ns": 1e-9}[unit]
    return total or None


def go_duration(secs):
    secs = int(secs)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


# ---------------------------------------------------------------------------------------
# CLI


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run one job through a custom executor the way gitlab-runner 19.4 does.")
    ap.add_argument("--job", required=True, help="job description JSON file (see README)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--config-toml", help="a config.toml with [[runners]] / [runners.custom]")
    g.add_argument("--runner", help="runner settings JSON: RunnerSettings fields, 'custom': {...}")
    ap.add_argument("--log", help="write the job log here too")
    ap.add_argument("--quiet", action="store_true", help="do not print the log")
    ap.add_argument("--fast", action="store_true", help="no waits between retries")
    ap.add_argument("--result", help="write the Result (minus the log) as JSON here")
    a = ap.parse_args(argv)
    with open(a.job) as f:
        job = json.load(f)
    over = {"prepare_retry_interval": 0.0, "stage_retry_base": 0.0} if a.fast else {}
    if a.config_toml:
        runner = RunnerSettings.from_toml(a.config_toml, **over)
    else:
        with open(a.runner) as f:
            rs = json.load(f)
        custom = CustomConfig(**rs.pop("custom", {}))
        rs.update(over)
        runner = RunnerSettings(custom=custom, **rs)
    res = Emulator(runner, job, log_path=a.log, echo=not a.quiet).run()
    if a.result:
        d = {k: getattr(res, k) for k in ("status", "message", "reason", "exit_code",
                                          "final_line", "stages", "prepare_attempts",
                                          "cleanup_calls", "config_output")}
        with open(a.result, "w") as f:
            json.dump(d, f, indent=1)
    if a.quiet:
        print(res.final_line)
    return res.cli_code


if __name__ == "__main__":
    sys.exit(main())
