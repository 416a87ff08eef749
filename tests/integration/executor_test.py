#!/usr/bin/env python3
"""Integration tests of the stage programs against a real engine, driven through the runner
emulator (tests/runner/emulator.py) exactly as gitlab-runner drives them.

    executor_test.py <podman|docker> <scenario>

Exit 0 pass, 1 fail, 77 skip (no engine; CD_TEST_MUST_WORK=1 turns a skip into a failure).
The engines come from tests/rig/engines.sh ($CD_RIG_DIR/env, or CD_TEST_* in the environment).
"""

import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SRC = os.environ.get("CD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CD_BINARY_DIR", os.path.join(SRC, "build"))
sys.path.insert(0, os.path.join(SRC, "tests", "runner"))

FAILS = []
CHECKS = [0]


def check(cond, what):
    CHECKS[0] += 1
    print(f"{'ok' if cond else 'not ok'} {CHECKS[0]} - {what}", flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def skip(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(1 if os.environ.get("CD_TEST_MUST_WORK") == "1" else 77)


def rig_env():
    env = dict(os.environ)
    rig = os.environ.get("CD_RIG_DIR", "/run/conductor-test")
    path = os.path.join(rig, "env")
    if "CD_TEST_PODMAN_SOCKET" not in env and os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].split("=", 1)
                env[k] = v
    return env


# ---- a minimal Engine API client (for assertions only) -------------------------------------

class UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(sock, method, path, body=None):
    c = UnixConn(sock)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
              headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data


def labelled(sock, kind, job_id):
    f = urllib.parse.quote(json.dumps({"label": [f"io.conductor.job-id={job_id}"]}))
    path = {"containers": f"/containers/json?all=true&filters={f}",
            "volumes": f"/volumes?filters={f}", "networks": f"/networks?filters={f}"}[kind]
    st, body = api(sock, "GET", path)
    if kind == "volumes":
        body = (body or {}).get("Volumes") or []
    return body or []


# ---- an engine socket we can break: a unix-socket proxy in front of the real one -----------

class Proxy:
    def __init__(self, target, path):
        self.target, self.path = target, path
        self.conns = []
        self.lock = threading.Lock()
        self.srv = None

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                u.connect(self.target)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)  # pass the half-close on (exec stdin ends this way)
        except OSError:
            pass

    def stop(self):
        """The engine 'goes away': listener closed, socket file removed, connections cut."""
        if self.srv:
            self.srv.close()
            self.srv = None
        if os.path.exists(self.path):
            os.unlink(self.path)
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns = []


# ---- the harness --------------------------------------------------------------------------

class Harness:
    def __init__(self, engine, env):
        self.engine = engine
        self.env = env
        self.sock = env.get("CD_TEST_PODMAN_SOCKET" if engine == "podman"
                            else "CD_TEST_DOCKER_SOCKET")
        if not self.sock or not os.path.exists(self.sock):
            skip(f"no {engine} socket (start tests/rig/engines.sh)")
        self.busybox = env.get("CD_TEST_IMAGE_BUSYBOX", "localhost/busybox:test")
        self.bash_image = env.get("CD_TEST_IMAGE_BASH", "localhost/bash:test")
        self.tmp = tempfile.mkdtemp(prefix=f"cd-it-{engine}-")
        # the toolbox is built once per build tree and shared (run dirs are per job)
        self.state = os.path.join(BIN, "integration-state")
        os.makedirs(self.state, exist_ok=True)
        self.exe = os.path.join(BIN, "executor")
        for p in ("conductor-config", "conductor-prepare", "conductor-run", "conductor-cleanup"):
            if not os.access(os.path.join(self.exe, p), os.X_OK):
                skip(f"{p} is not built")
        self.helper = os.path.join(SRC, "tests", "runner", "gitlab-runner")

    def config(self, endpoint=None, extra="", network="none", image_extra="", engine=None):
        """network=None: the per-job network (services need it); engine: the [engine] lines
        (default: the rig's unix socket, or `endpoint`)."""
        path = os.path.join(self.tmp, f"conductor-{random.randrange(1 << 30)}.conf")
        helper = f'gitlab_runner = "{self.helper}"\n' if os.path.exists(self.helper) else ""
        net = f'network_mode = "{network}"\n' if network else ""
        engine = engine or f'endpoint = "unix://{endpoint or self.sock}"\n'
        with open(path, "w") as f:
            f.write(f'[engine]\n{engine}'
                    f'[image]\ndefault = "{self.busybox}"\n{image_extra}'
                    f'[security]\n{net}'
                    f'[helper]\n{helper}'
                    f'[limits]\nmemory = "512m"\npids = 512\n' + extra)
        return path

    def runner(self, conf, **kw):
        import emulator as em
        c = em.CustomConfig(
            config_exec=os.path.join(self.exe, "conductor-config"), config_args=["--config", conf],
            prepare_exec=os.path.join(self.exe, "conductor-prepare"),
            prepare_args=["--config", conf],
            run_exec=os.path.join(self.exe, "conductor-run"), run_args=["--config", conf],
            cleanup_exec=os.path.join(self.exe, "conductor-cleanup"),
            cleanup_args=["--config", conf],
            graceful_kill_timeout=kw.pop("graceful_kill_timeout", 30))
        penv = dict(os.environ)
        penv["CONDUCTOR_RUN_DIR"] = self.state
        penv.update(kw.pop("process_env", {}))
        return em.RunnerSettings(custom=c, process_env=penv, prepare_retry_interval=0.5,
                                 stage_retry_base=0.2, tmp_root=self.tmp, **kw)

    def job(self, **desc):
        desc.setdefault("id", random.randrange(10**6, 10**9))
        desc.setdefault("image", self.busybox)
        desc.setdefault("variables", {}).setdefault("GIT_STRATEGY", "none")
        return desc

    def run(self, conf, desc, **kw):
        import emulator as em
        r = self.runner(conf, **kw)
        res = em.Emulator(r, desc).run()
        return res

    def cleanup_ok(self, res):
        check(res.cleanup_calls and all(rc == 0 for _, rc in res.cleanup_calls),
              f"cleanup exited 0 ({res.cleanup_calls})")

    def no_leftovers(self, job_id, what="job"):
        for kind in ("containers", "networks"):
            left = labelled(self.sock, kind, job_id)
            check(not left, f"{what}: no {kind} left ({[x.get('Id', x.get('Name')) for x in left]})")
        vols = [v for v in labelled(self.sock, "volumes", job_id)
                if (v.get("Labels") or {}).get("com.gitlab.gitlab-runner.type") != "cache"]
        check(not vols, f"{what}: no job volumes left ({[v['Name'] for v in vols]})")
        jobs = os.path.join(self.state, "jobs")
        dirs = [d for d in os.listdir(jobs) if d.endswith(f"-job-{job_id}")] \
            if os.path.isdir(jobs) else []
        check(not dirs, f"{what}: no run dir left ({dirs})")

    def done(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def stage_secs(res, stage):
    return [s for s in res.stages if s[0] == stage]


# ---- scenarios ----------------------------------------------------------------------------

def t_success(h):
    conf = h.config()
    d = h.job(script=["echo hello-$((6*7))", "cat /proc/1/cmdline | tr '\\0' ' '; echo",
                      "if [ -x /usr/local/bin/conductor-nlu ]; then echo nlu-present; fi",
                      "touch /usr/local/bin/conductor-nlu 2>/dev/null && echo nlu-writable "
                      "|| echo nlu-readonly"])
    res = h.run(conf, d)
    if os.access(os.path.join(h.exe, "conductor-nlu"), os.X_OK):
        check("nlu-present" in res.log, "conductor-nlu is mounted in the job container")
        check("nlu-readonly" in res.log, "conductor-nlu is mounted read-only")
    check(res.status == "success", f"job succeeds ({res.status}: {res.message})")
    check("hello-42" in res.log, "script output reaches the job log")
    check("conductor-agent" in res.log, "PID 1 of the job container is the agent")
    check("Job succeeded" in res.final_line, "final line says succeeded")
    check("Publishing to GitLab" not in res.log, "no publishing step without CONDUCTOR_PUBLISH")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"])


def t_failing(h):
    conf = h.config()
    d = h.job(script=["echo before", "exit 42"], after_script=["echo after-ran"])
    res = h.run(conf, d)
    check(res.status == "failed", f"job fails as a build failure ({res.status})")
    check(res.exit_code == 42, f"exit code 42 carried through ({res.exit_code})")
    check(res.reason == "script_failure", f"reason script_failure ({res.reason})")
    check("after-ran" in res.log, "after_script still runs")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"])


def t_exec_fallback(h):
    """The engine-exec fallback (remote engines), both ways of feeding the script: on stdin
    through the connection hijack, and copied in with an archive put (what a TLS engine
    needs); the copied script must be gone before the first command runs."""
    conf = h.config()
    for mode, penv in (("stdin", {"CONDUCTOR_FORCE_EXEC": "1"}),
                       ("copy", {"CONDUCTOR_FORCE_EXEC": "1", "CONDUCTOR_EXEC_SCRIPT_COPY": "1"})):
        d = h.job(script=["echo via-$((40+2))",
                          "if [ -e /tmp/.conductor-stage.sh ]; then echo script-left; "
                          "else echo script-gone; fi", "exit 7"])
        res = h.run(conf, d, process_env=penv)
        check("via-42" in res.log, f"{mode}: the script ran through an engine exec")
        check("script-gone" in res.log, f"{mode}: no script file left in the container")
        check(res.status == "failed" and res.exit_code == 7,
              f"{mode}: exit code 7 carried through ({res.status}, {res.exit_code})")
        h.cleanup_ok(res)
        h.no_leftovers(d["id"])


def t_tls(h):
    """A remote engine as teams reach one: tcp:// with TLS and a client certificate (the rig's
    dockerd listens on 127.0.0.1 with --tlsverify). A job runs through its agent and through
    an engine exec (stdin cannot go over TLS: the script is copied in); a wrong CA or a
    missing client certificate is a system failure that says what failed, and no key
    material reaches the job log."""
    addr, certs = h.env.get("CD_TEST_DOCKER_TLS"), h.env.get("CD_TEST_DOCKER_TLS_CERTS")
    if h.engine != "docker" or not addr or not certs or not os.path.isdir(certs):
        skip("no TLS listener (the rig's dockerd has one; Podman's service has none)")
    conf = h.config(engine=f'endpoint = "{addr}"\ntls_cert_dir = "{certs}"\n')
    with open(os.path.join(certs, "key.pem")) as f:
        key_line = [ln for ln in f.read().splitlines() if ln and not ln.startswith("-----")][1]
    for mode, penv in (("agent", {}), ("exec", {"CONDUCTOR_FORCE_EXEC": "1"})):
        d = h.job(script=["echo over-tls-$((40+2))", "exit 3"])
        res = h.run(conf, d, process_env=penv)
        check("over-tls-42" in res.log, f"{mode}: the script ran over the TLS engine connection")
        check(res.status == "failed" and res.exit_code == 3,
              f"{mode}: exit code 3 carried through ({res.status}, {res.exit_code}: {res.message})")
        check(key_line not in res.log, f"{mode}: no client key material in the job log")
        h.cleanup_ok(res)
        h.no_leftovers(d["id"])

    # the server's certificate from another CA: refused before any request
    other = os.path.join(h.tmp, "other-ca")
    subprocess.run([os.path.join(SRC, "tests", "engine", "make_certs.sh"), other], check=True)
    wrong = os.path.join(h.tmp, "wrong-ca")
    os.makedirs(wrong)
    shutil.copy(os.path.join(other, "ca.pem"), wrong)
    for f in ("cert.pem", "key.pem"):
        shutil.copy(os.path.join(certs, f), wrong)
    nocert = os.path.join(h.tmp, "no-client-cert")
    os.makedirs(nocert)
    shutil.copy(os.path.join(certs, "ca.pem"), nocert)
    for what, cdir in (("a CA that did not sign the server", wrong),
                       ("no client certificate", nocert)):
        bad = h.config(engine=f'endpoint = "{addr}"\ntls_cert_dir = "{cdir}"\n')
        d = h.job(script=["echo must-not-run"])
        res = h.run(bad, d)
        check(res.status == "system_failure",
              f"{what}: a system failure ({res.status}: {res.message})")
        check("must-not-run" not in res.log, f"{what}: the script did not run")
        m = re.search(r"ERROR: (.*(?:SSL|TLS|certificate|handshake).*)", res.log, re.I)
        check(m and addr.split("//")[1] in m.group(1),
              f"{what}: the log names the engine and the TLS failure "
              f"({m.group(1)[:200] if m else res.log[-300:]!r})")
        h.no_leftovers(d["id"])


def t_engine_gone(h):
    # Engine execs (CONDUCTOR_FORCE_EXEC) go through a proxy that disappears mid-stage.
    proxy = Proxy(h.sock, os.path.join(h.tmp, "engine.sock"))
    proxy.start()
    conf = h.config(endpoint=proxy.path)
    d = h.job(script=["echo started", "sleep 15", "echo not-reached"])
    import emulator as em
    emu = em.Emulator(h.runner(conf, process_env={"CONDUCTOR_FORCE_EXEC": "1"}), d)

    def break_engine():  # mid-job: once the user script has printed its first line
        for _ in range(600):
            if "\nstarted" in emu.log.text():
                break
            time.sleep(0.05)
        proxy.stop()
    threading.Thread(target=break_engine, daemon=True).start()
    res = emu.run()
    check("started" in res.log, "the script was running when the engine went away")
    check(res.status == "system_failure", f"engine gone → system failure ({res.status}: "
          f"{res.message})")
    check("not-reached" not in res.log, "the job did not carry on")
    # the engine is back (the proxy was the only thing gone): a cleanup leaves nothing
    conf2 = h.config()
    cl = subprocess.run([os.path.join(h.exe, "conductor-cleanup"), "--config", conf2],
                        env=cleanup_env(h, d), capture_output=True)
    check(cl.returncode == 0, f"a later cleanup succeeds ({cl.stderr[-300:]!r})")
    h.no_leftovers(d["id"])


def cleanup_env(h, d, project_id=42, token="emulatorR"):
    e = dict(os.environ)
    e.update({"CONDUCTOR_RUN_DIR": h.state, "CUSTOM_ENV_CI_JOB_ID": str(d["id"]),
              "CUSTOM_ENV_CI_PROJECT_ID": str(project_id), "CUSTOM_ENV_CI_CONCURRENT_ID": "0",
              "CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID": "0",
              "CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN": token, "CUSTOM_ENV_CI_PROJECT_PATH":
              "grp/nlu"})
    return e


def t_container_gone(h):
    # The job container vanishes under a running stage (engine restarted, OOM, admin).
    conf = h.config()
    # Thousands of files in the container's own layer make the engine's removal slow, so the
    # stage fails (the agent is dead) while our DELETE is still deleting: cleanup must wait.
    d = h.job(script=["mkdir /tmp/many && cd /tmp/many && seq 1 30000 | xargs touch",
                      "echo started", "sleep 30"])

    def kill(emu):
        for _ in range(600):  # once the script has printed its first line
            if "\nstarted" in emu.log.text():
                break
            time.sleep(0.05)
        for c in labelled(h.sock, "containers", d["id"]):
            api(h.sock, "DELETE", f"/containers/{c['Id']}?force=true")
    res = run_with_stage_hook(h, conf, d, "build_script", kill)
    check("started" in res.log, "the script was running when the container went")
    check(res.status == "system_failure", f"container gone → system failure ({res.status}: "
          f"{res.message})")
    # our DELETE may still be stopping the container when cleanup runs: cleanup waits for it
    h.cleanup_ok(res)
    h.no_leftovers(d["id"])


def run_with_stage_hook(h, conf, d, stage, fn):
    """Run the job; call fn(emulator) in a thread as soon as `stage` starts (timing relative
    to the stage, not to the job start, so a slow prepare on a loaded machine does not
    matter)."""
    import emulator as em
    emu = em.Emulator(h.runner(conf), d)
    orig = emu.run_stage

    def run_stage(st, ctx, section=True):
        if st == stage:
            threading.Thread(target=fn, args=(emu,), daemon=True).start()
        return orig(st, ctx, section)
    emu.run_stage = run_stage
    return emu.run()


def event_time(res, kind, *details):
    for e in res.events:
        if e[1] == kind and tuple(e[2:2 + len(details)]) == details:
            return e[0]
    return None


def t_cancel(h):
    conf = h.config()
    d = h.job(script=["echo started", "sleep 60 & wait", "echo not-reached"])

    def cancel(emu):
        time.sleep(2.0)
        # what the emulator's UI cancel does while user steps run (protocol doc §9)
        emu.event("ui_cancel")
        emu.script_ctx.cancel("canceled")
    t0 = time.monotonic()
    res = run_with_stage_hook(h, conf, d, "build_script", cancel)
    took = time.monotonic() - t0
    check(res.reason == "job_canceled", f"job canceled ({res.status}/{res.reason})")
    start = [e for e in res.events if e[1] == "start" and e[2:4] == ("run_exec", "build_script")]
    pid = start[0][4] if start else None
    t_term = event_time(res, "sigterm", pid)
    t_end = event_time(res, "exit", "run_exec", "build_script")
    check(t_term is not None and t_end is not None and t_end - t_term < 2.0,
          f"conductor-run exited within 2 s of its SIGTERM "
          f"({(t_end or 0) - (t_term or 0):.2f} s)")
    check(not any(e[1] == "sigkill" for e in res.events), "no SIGKILL was needed")
    check(took < 60, f"job over in {took:.1f} s")
    check("started" in res.log and "not-reached" not in res.log,
          "the script started and did not continue")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"], "canceled job")


def t_timeout(h):
    # job timeout (runner_info.timeout): the whole job context expires, like an abort
    conf = h.config()
    d = h.job(script=["echo started", "sleep 120"], timeout=10)
    res = h.run(conf, d)
    check(res.reason == "job_execution_timeout", f"job timed out ({res.status}/{res.reason})")
    t_end = event_time(res, "exit", "run_exec", "build_script")
    if t_end is not None:
        check(t_end < 10 + 2.5, f"build_script stopped within ~2 s of the deadline "
              f"(ended at {t_end:.2f} s, deadline 10 s)")
    else:
        check("started" not in res.log, "the deadline hit before the script (a slow machine)")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"], "timed-out job")


def t_prepare_retry(h):
    # The engine is unreachable for the first attempt and back for the second one.
    proxy = Proxy(h.sock, os.path.join(h.tmp, "flaky.sock"))
    conf = h.config(endpoint=proxy.path)
    d = h.job(script=["echo after-retry"])
    import emulator as em
    r = h.runner(conf)
    emu = em.Emulator(r, d)
    orig = emu.prepare_once
    calls = []

    def prepare_once(ctx, attempt):
        calls.append(attempt)
        if len(calls) == 2:
            proxy.start()
        return orig(ctx, attempt)
    emu.prepare_once = prepare_once
    res = emu.run()
    proxy.stop()
    check(res.status == "success", f"job succeeds after a retried prepare ({res.status}: "
          f"{res.message})")
    check(res.prepare_attempts >= 2, f"prepare was retried ({res.prepare_attempts} attempts)")
    check(len(res.cleanup_calls) >= 2, f"cleanup ran after the failed attempt "
          f"({res.cleanup_calls})")
    check("after-retry" in res.log, "script ran")
    h.no_leftovers(d["id"])


def t_missing_image(h):
    # A name the registry does not know (with valid credentials, so it is "not found" and not
    # "denied"): the job's fault, not retried.
    reg = h.env.get("CD_TEST_REGISTRY")
    user, pw = h.env.get("CD_TEST_REGISTRY_USER"), h.env.get("CD_TEST_REGISTRY_PASSWORD")
    if not reg:
        skip("no test registry")
    conf = h.config()
    d = h.job(image=f"{reg}/conductor/conductor-no-such-image:1", script=["echo never"],
              credentials=[{"type": "registry", "url": reg, "username": user, "password": pw}])
    res = h.run(conf, d)
    check(res.status == "failed", f"missing image → build failure ({res.status}: {res.message})")
    check(res.prepare_attempts == 1, f"not retried ({res.prepare_attempts})")
    check("conductor-no-such-image" in res.log, "the log names the image")
    h.no_leftovers(d["id"])


def t_never_policy(h):
    conf = h.config()
    d = h.job(image={"name": "localhost/conductor-absent:never", "pull_policy": "never"},
              script=["echo never"])
    res = h.run(conf, d)
    check(res.status == "failed", f"absent image + never → build failure ({res.status})")
    check("never" in res.log, "the log explains the policy")
    d2 = h.job(image={"name": h.busybox, "pull_policy": "never"}, script=["echo present-ok"])
    res2 = h.run(conf, d2)
    check(res2.status == "success" and "present-ok" in res2.log,
          f"present image + never → runs ({res2.status})")
    h.no_leftovers(d["id"])
    h.no_leftovers(d2["id"])


def service_image(h):
    """busybox with EXPOSE 8080, committed on this engine (the rig imports plain rootfs
    tarballs, which expose nothing): what prepare waits for."""
    name = "localhost/conductor-svc:test"
    code, _ = api(h.sock, "GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
    if code == 200:
        return name
    code, body = api(h.sock, "POST", "/containers/create",
                     {"Image": h.busybox, "Cmd": ["true"]})
    check(code == 201, f"a container to commit ({code} {str(body)[:200]})")
    cid = body["Id"]
    q = urllib.parse.urlencode([("container", cid), ("repo", "localhost/conductor-svc"),
                                ("tag", "test"), ("changes", "EXPOSE 8080")])
    code, body = api(h.sock, "POST", f"/commit?{q}", {})  # Podman wants a (container) body
    api(h.sock, "DELETE", f"/containers/{cid}?force=true")
    check(code in (200, 201), f"service image committed ({code} {str(body)[:200]})")
    return name


def t_services(h):
    img = service_image(h)
    conf = h.config(network=None)
    # the service serves its own environment; the job reads it by alias and by image name
    cmd = ["sh", "-c", "sleep 1; mkdir -p /w && env > /w/env && exec httpd -f -p 8080 -h /w"]
    d = h.job(services=[{"name": img, "alias": "web,www", "command": cmd,
                         "variables": {"SVC_GREETING": "hello-$CI_JOB_STAGE-svc"}}],
              variables={"JOB_SECRET": {"value": "s3cr3t-job-value", "masked": True}},
              script=["wget -qO- http://web:8080/env | grep SVC_GREETING",
                      "n=$(wget -qO- http://web:8080/env | grep -c -e JOB_SECRET -e CI_JOB_TOKEN || true)"
                      "; echo job-vars-in-service=$n",
                      "wget -qO- http://localhost-conductor-svc:8080/env >/dev/null "
                      "&& echo by-image-name-ok",
                      "wget -qO- http://www:8080/env >/dev/null && echo second-alias-ok"])
    res = h.run(conf, d)
    if res.status != "success":
        print("# " + res.log.replace("\n", "\n# ")[-3000:])
    check(res.status == "success", f"job with a service succeeds ({res.status}: {res.message})")
    check("SVC_GREETING=hello-" in res.log, "the service got its own variables, reached by alias")
    check("job-vars-in-service=0" in res.log,
          "no job variable (token, masked secret) reached the service")
    check("by-image-name-ok" in res.log, "reachable by the image-name alias too")
    check("second-alias-ok" in res.log, "and by its second alias (from the job response)")
    check(f"Service {img} is up" in res.log, "prepare waited for the exposed port")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"])

    # a service that dies: a warning, and the job still runs (the docker executor's way)
    d3 = h.job(services=[{"name": img, "command": ["sh", "-c", "exit 3"]}],
               script=["echo job-ran"])
    res3 = h.run(conf, d3)
    check(res3.status == "success" and "job-ran" in res3.log,
          f"a dead service does not stop the job ({res3.status})")
    check("WARNING: service" in res3.log and "status 3" in res3.log,
          "... and the log says the service exited with 3")
    h.no_leftovers(d3["id"])

    # an allow-list that does not match is the job's fault, named in the message
    conf2 = h.config(network=None, image_extra='allowed_services = "docker.io/library/*"\n')
    d2 = h.job(services=[img], script=["echo should-not-run"])
    res2 = h.run(conf2, d2)
    check(res2.status == "failed" and "allowed_services" in res2.log,
          f"disallowed service → build failure naming allowed_services ({res2.status})")
    check("should-not-run" not in res2.log, "the job did not run")
    h.no_leftovers(d2["id"])


def t_registry(h):
    reg = h.env.get("CD_TEST_REGISTRY")
    user, pw = h.env.get("CD_TEST_REGISTRY_USER"), h.env.get("CD_TEST_REGISTRY_PASSWORD")
    if not reg or not user or not pw:
        skip("no test registry")
    image = f"{reg}/conductor/busybox:1"
    api(h.sock, "DELETE", f"/images/{urllib.parse.quote(image, safe='')}?force=true")
    conf = h.config()
    d0 = h.job(image={"name": image, "pull_policy": "always"}, script=["echo no-creds"])
    res0 = h.run(conf, d0)
    check(res0.status == "failed", f"private image without credentials → build failure "
          f"({res0.status}: {res0.message})")
    d = h.job(image={"name": image, "pull_policy": "always"}, script=["echo pulled-ok"],
              credentials=[{"type": "registry", "url": reg, "username": user, "password": pw}],
              variables={"REG_PW": {"value": pw, "masked": True}})
    res = h.run(conf, d)
    check(res.status == "success", f"private pull with credentials ({res.status}: "
          f"{res.message})")
    check("pulled-ok" in res.log, "ran in the pulled image")
    check(pw not in res.log, "the registry password never shows in the log")
    lines = [ln for ln in res.log.splitlines() if "ull" in ln]
    check(len(lines) < 20, f"pull progress is a few lines ({len(lines)})")
    h.no_leftovers(d["id"])


def t_helper_job(h):
    """busybox image: git clone over git:// (git daemon on 127.0.0.1, host network), a cache
    saved and restored, artifacts uploaded: all via the toolbox, nothing in the image."""
    if not os.path.exists(h.helper):
        skip("tests/runner/gitlab-runner (helper stand-in) missing")
    repo = os.path.join(h.tmp, "srv", "grp", "nlu.git")
    work = os.path.join(h.tmp, "work")
    os.makedirs(work)
    g = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(g + ["init", "-q", work], check=True)
    with open(os.path.join(work, "data.yml"), "w") as f:
        f.write("nlu: []\n")
    subprocess.run(g + ["-C", work, "add", "."], check=True)
    subprocess.run(g + ["-C", work, "commit", "-qm", "first"], check=True)
    sha = subprocess.run(["git", "-C", work, "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--bare", work, repo], check=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all",
                               f"--base-path={os.path.join(h.tmp, 'srv')}", "--listen=127.0.0.1",
                               f"--port={port}", os.path.join(h.tmp, "srv")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        conf = h.config(extra="")
        with open(conf) as f:
            text = f.read().replace('network_mode = "none"', 'network_mode = "host"')
        with open(conf, "w") as f:
            f.write(text)
        url = f"git://127.0.0.1:{port}/grp/nlu.git"
        common = dict(repo_url=url, sha=sha, ref="main", project_path="grp/nlu",
                      cache=[{"key": f"k{random.randrange(1 << 30)}", "paths": ["cached/"]}],
                      artifacts=[{"name": "model", "paths": ["out/"], "when": "on_success"}])
        # the stand-in keeps "uploaded" artifacts in a directory: the cache volume here
        art = {"GIT_STRATEGY": "clone", "CD_STANDIN_ARTIFACTS_DIR": "/cache/standin-artifacts"}
        d1 = h.job(script=["test -f data.yml && echo cloned-ok", "mkdir -p cached out",
                           "echo cache-payload > cached/c.txt", "echo model-bytes > out/m.txt"],
                   variables=dict(art), **common)
        r1 = h.run(conf, d1)
        check(r1.status == "success", f"busybox job with clone/cache/artifacts succeeds "
              f"({r1.status}: {r1.message})")
        check("cloned-ok" in r1.log, "git clone worked in a busybox image")
        check("Missing gitlab-runner" not in r1.log, "the helper was found")
        check("Uploading artifacts" in r1.log, "artifacts were uploaded")
        dep = [{"id": d1["id"], "token": "glcbt-dep", "name": "job",
                "artifacts_file": {"filename": "artifacts.zip", "size": 1}}]
        d2 = h.job(script=["cat cached/c.txt", "cat out/m.txt"], variables=dict(art),
                   dependencies=dep, **common)
        r2 = h.run(conf, d2)
        check(r2.status == "success", f"the next job succeeds ({r2.status}: {r2.message})")
        check("cache-payload" in r2.log, "the next job restores the cache")
        check("model-bytes" in r2.log, "the next job downloads the first job's artifacts")
        h.no_leftovers(d1["id"])
        h.no_leftovers(d2["id"])
    finally:
        daemon.terminate()
        daemon.wait()


def helper_image(h):
    """A helper image as GitLab ships them, in miniature: busybox with the helper stand-in at
    /usr/bin/gitlab-runner-helper (no `gitlab-runner`, no git)."""
    name = "localhost/conductor-helper:test"
    code, _ = api(h.sock, "GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
    if code == 200:
        return name
    code, body = api(h.sock, "POST", "/containers/create", {"Image": h.busybox, "Cmd": ["true"]})
    check(code == 201, f"a container to build the helper image in ({code})")
    cid = body["Id"]
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = t.gettarinfo(h.helper, arcname="usr/bin/gitlab-runner-helper")
        ti.mode, ti.uid, ti.gid = 0o755, 0, 0
        with open(h.helper, "rb") as f:
            t.addfile(ti, f)
    c = UnixConn(h.sock)
    c.request("PUT", f"/v1.41/containers/{cid}/archive?path=/", body=buf.getvalue(),
              headers={"Content-Type": "application/x-tar"})
    r = c.getresponse()
    r.read()
    c.close()
    check(r.status == 200, f"helper stand-in copied in ({r.status})")
    q = urllib.parse.urlencode([("container", cid), ("repo", "localhost/conductor-helper"),
                                ("tag", "test")])
    code, body = api(h.sock, "POST", f"/commit?{q}", {})
    api(h.sock, "DELETE", f"/containers/{cid}?force=true")
    check(code in (200, 201), f"helper image committed ({code} {str(body)[:200]})")
    return name


def t_helper_container(h):
    """[helper] mode = container: cache and artifacts stages run in the helper image (whose
    gitlab-runner-helper the job image lacks), sharing the builds and cache volumes."""
    if not os.path.exists(h.helper):
        skip("tests/runner/gitlab-runner (helper stand-in) missing")
    img = helper_image(h)
    conf = h.config(extra=f'[helper]\nmode = "container"\nimage = "{img}"\n')
    common = dict(cache=[{"key": f"k{random.randrange(1 << 30)}", "paths": ["cached/"]}],
                  artifacts=[{"name": "model", "paths": ["out/"], "when": "on_success"}])
    art = {"CD_STANDIN_ARTIFACTS_DIR": "/cache/standin-artifacts"}
    d1 = h.job(script=["mkdir -p cached out", "echo cache-payload > cached/c.txt",
                       "echo model-bytes > out/m.txt",
                       "command -v gitlab-runner-helper || echo no-helper-in-job-image"],
               variables=dict(art), **common)
    r1 = h.run(conf, d1)
    check(r1.status == "success", f"job with a helper container succeeds ({r1.status}: "
          f"{r1.message})")
    check("Helper container" in r1.log, "prepare started the helper container")
    check("no-helper-in-job-image" in r1.log, "the job image has no helper")
    check("Missing gitlab-runner" not in r1.log and "Uploading artifacts" in r1.log,
          "artifacts uploaded from the helper container")
    dep = [{"id": d1["id"], "token": "glcbt-dep", "name": "job",
            "artifacts_file": {"filename": "artifacts.zip", "size": 1}}]
    d2 = h.job(script=["cat cached/c.txt", "cat out/m.txt"], variables=dict(art),
               dependencies=dep, **common)
    r2 = h.run(conf, d2)
    check(r2.status == "success" and "cache-payload" in r2.log and "model-bytes" in r2.log,
          f"the next job restores the cache and gets the artifacts there ({r2.status})")
    h.cleanup_ok(r2)
    h.no_leftovers(d1["id"])
    h.no_leftovers(d2["id"])

    # An abandoned job of this mode (prepared, never cleaned up) under a runner token of its
    # own: `conductor gc` removes its helper container with the rest.
    token = f"gc{random.randrange(1 << 30):x}"
    stale = h.job()
    r = subprocess.run([os.path.join(h.exe, "conductor-prepare"), "--config", conf],
                       env=cleanup_env(h, stale, token=token), capture_output=True)
    check(r.returncode == 0, f"prepare of the abandoned job ({r.stderr[-200:]!r})")
    kinds = sorted((c.get("Labels") or {}).get("com.gitlab.gitlab-runner.type", "")
                   for c in labelled(h.sock, "containers", stale["id"]))
    check(kinds == ["build", "helper"], f"it has a build and a helper container ({kinds})")
    time.sleep(2.2)
    gc = subprocess.run([os.path.join(h.exe, "conductor"), "gc", "--config", conf, "--max-age",
                         "1s", "--runner", token], capture_output=True, text=True,
                        env=dict(os.environ, CONDUCTOR_RUN_DIR=h.state))
    check(gc.returncode == 0, f"gc succeeds ({gc.stderr[-300:]!r})")
    h.no_leftovers(stale["id"], "abandoned helper-mode job after gc")


def t_concurrent(h):
    conf = h.config()
    jobs, results = [], {}
    for i in range(4):
        marker = f"marker-{i}-{random.randrange(1 << 40)}"
        d = h.job(script=[f"echo {marker} > /tmp/m", "sleep 1", "cat /tmp/m",
                          f"echo {marker} > $CI_PROJECT_DIR/../m{i}", "ls $CI_PROJECT_DIR/.."],
                  project_id=500 + i)
        jobs.append((i, marker, d))

    def go(i, d):
        import emulator as em
        r = h.runner(conf, concurrent_id=i, concurrent_project_id=0)
        results[i] = em.Emulator(r, d).run()
    th = [threading.Thread(target=go, args=(i, d)) for i, _, d in jobs]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for i, marker, d in jobs:
        res = results[i]
        check(res.status == "success", f"job {i} succeeds ({res.status}: {res.message})")
        check(res.log.count(marker) >= 1, f"job {i} sees its own marker")
        others = [m for j, m, _ in jobs if j != i and m in res.log]
        check(not others, f"job {i} sees no other job's output or files ({others})")
        h.no_leftovers(d["id"], f"job {i}")


def t_secret(h):
    secret = "Zq9-" + "".join(random.choice("abcdefghkmnpqrstuvwxyz23456789") for _ in range(20))
    conf = h.config()
    d = h.job(script=["echo the secret is $MY_SECRET", "printenv MY_SECRET | wc -c", "exit 3"],
              variables={"MY_SECRET": {"value": secret, "masked": True}})
    seen = {}

    import emulator as em
    r = h.runner(conf)
    emu = em.Emulator(r, d)
    orig = emu.run_stage

    def run_stage(stage, ctx, section=True):
        if stage == "build_script":
            for c in labelled(h.sock, "containers", d["id"]):
                st, info = api(h.sock, "GET", f"/containers/{c['Id']}/json")
                seen["inspect"] = json.dumps(info)
        return orig(stage, ctx, section)
    emu.run_stage = run_stage
    raw_stderr = []
    orig_stream = emu.log.stream

    def stream(key, data, final=False):
        if key[1] == "stderr":
            raw_stderr.append(bytes(data))  # before the runner's masking
        return orig_stream(key, data, final)
    emu.log.stream = stream
    res = emu.run()
    check(res.status == "failed", "job ran (and failed on purpose)")
    check(secret.encode() not in b"".join(raw_stderr),
          "our programs never write the secret to stderr (checked before masking)")
    check("[MASKED]" in res.log, "the job log shows the secret masked")
    check(secret not in res.log, "the secret is not in the job log")
    check(all(secret not in str(t) for t in res.runner_log),
          "the secret is not in the runner log (cleanup output)")
    check("inspect" in seen, "the container was inspected while running")
    check(secret not in seen.get("inspect", secret),
          "the secret is not in the container config, labels or env")
    # hardening, as the engine reports it
    info = json.loads(seen.get("inspect", "{}"))
    hc = info.get("HostConfig") or {}
    check(hc.get("Privileged") is False, "not privileged")
    check(any("no-new-privileges" in o for o in hc.get("SecurityOpt") or []),
          f"no-new-privileges ({hc.get('SecurityOpt')})")
    check(hc.get("Memory") == 512 * 1024 * 1024, f"memory limit applied ({hc.get('Memory')})")
    check(hc.get("PidsLimit") == 512, f"pids limit applied ({hc.get('PidsLimit')})")
    check(hc.get("NetworkMode") == "none", f"network mode from the config "
          f"({hc.get('NetworkMode')})")
    h.cleanup_ok(res)
    h.no_leftovers(d["id"])


def t_gc_doctor(h):
    conf = h.config()
    conductor = os.path.join(h.exe, "conductor")
    doc = subprocess.run([conductor, "doctor", "--config", conf], capture_output=True, text=True,
                         env=dict(os.environ, CONDUCTOR_RUN_DIR=h.state))
    check(doc.returncode == 0, f"doctor passes ({doc.stdout[-400:]!r})")
    check(("Podman" if h.engine == "podman" else "Docker") in doc.stdout,
          "doctor names the engine")
    bad = h.config(endpoint=os.path.join(h.tmp, "no-such.sock"))
    doc2 = subprocess.run([conductor, "doctor", "--config", bad], capture_output=True, text=True,
                          env=dict(os.environ, CONDUCTOR_RUN_DIR=h.state))
    check(doc2.returncode == 1 and "FAIL" in doc2.stdout, "doctor fails without an engine")

    # An abandoned job (prepared, never cleaned up) and a live one (a stage running), under a
    # runner token of their own: `gc --runner` must not touch the parallel tests' jobs.
    token = f"gc{random.randrange(1 << 30):x}"
    stale, live = h.job(), h.job()
    script = os.path.join(h.tmp, "script")
    with open(script, "w") as f:
        f.write("sleep 6\n")
    for d in (stale, live):
        r = subprocess.run([os.path.join(h.exe, "conductor-prepare"), "--config", conf],
                           env=cleanup_env(h, d, token=token), capture_output=True)
        check(r.returncode == 0, f"prepare {d['id']} ({r.stderr[-200:]!r})")
    runner = subprocess.Popen([os.path.join(h.exe, "conductor-run"), "--config", conf, script,
                               "build_script"], env=cleanup_env(h, live, token=token),
                              stdout=subprocess.DEVNULL)
    time.sleep(2.2)
    dry = subprocess.run([conductor, "gc", "--config", conf, "--max-age", "1s", "--runner",
                          token, "--dry-run"], capture_output=True, text=True,
                         env=dict(os.environ, CONDUCTOR_RUN_DIR=h.state))
    check(dry.returncode == 0 and "would remove" in dry.stdout, "gc --dry-run reports")
    check(labelled(h.sock, "containers", stale["id"]), "--dry-run removed nothing")
    gc = subprocess.run([conductor, "gc", "--config", conf, "--max-age", "1s", "--runner", token],
                        capture_output=True, text=True,
                        env=dict(os.environ, CONDUCTOR_RUN_DIR=h.state))
    check(gc.returncode == 0, f"gc succeeds ({gc.stderr[-300:]!r})")
    check(not labelled(h.sock, "containers", stale["id"]), "gc removed the abandoned job")
    check(labelled(h.sock, "containers", live["id"]), "gc kept the job whose stage runs")
    runner.wait()
    check(runner.returncode == 0, "the live job's stage finished normally")
    h.no_leftovers(stale["id"], "abandoned job")
    subprocess.run([os.path.join(h.exe, "conductor-cleanup"), "--config", conf],
                   env=cleanup_env(h, live, token=token), capture_output=True)
    h.no_leftovers(live["id"], "live job after cleanup")


def t_publish_hook(h):
    """The publishing step (lib/publish) runs after the final user step when CONDUCTOR_PUBLISH
    is set. Here there is no token file, so it fails; whether that fails the job is
    lib/publish's and the config's decision, and conductor-run must carry it through."""
    v = {"CONDUCTOR_PUBLISH": "package", "CONDUCTOR_MODEL": "models/m.tar.gz",
         "CONDUCTOR_RESULTS": "results"}
    conf = h.config()
    d = h.job(script=["echo trained"], variables=dict(v))
    res = h.run(conf, d)
    log = res.log
    check("Publishing to GitLab" in log and log.index("Publishing to GitLab") >
          log.index("\ntrained"), "the publishing step ran after the script")
    check("Publishing failed" in log, "and said why it failed")
    tolerated = "the job still passes" in log
    check((res.status == "success") == tolerated,
          f"the job outcome follows the publishing result ({res.status}, tolerated={tolerated})")
    strict = h.config(extra="[publish]\nfail_job = yes\n")
    d2 = h.job(script=["echo trained"], variables=dict(v))
    res2 = h.run(strict, d2)
    check(res2.status != "success", f"with fail_job the job fails ({res2.status}: "
          f"{res2.message})")
    for x in (d, d2):
        h.no_leftovers(x["id"])


SCENARIOS = {
    "publish_hook": t_publish_hook,
    "gc_doctor": t_gc_doctor,
    "success": t_success, "failing": t_failing, "engine_gone": t_engine_gone,
    "container_gone": t_container_gone, "cancel": t_cancel, "timeout": t_timeout,
    "services": t_services, "helper_container": t_helper_container,
    "prepare_retry": t_prepare_retry, "missing_image": t_missing_image,
    "never_policy": t_never_policy, "registry": t_registry, "helper_job": t_helper_job,
    "concurrent": t_concurrent, "secret": t_secret, "exec_fallback": t_exec_fallback,
    "tls": t_tls,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("podman", "docker") or \
            sys.argv[2] not in SCENARIOS:
        print(__doc__ + "\nscenarios: " + " ".join(SCENARIOS), file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(SRC, "tests", "runner", "emulator.py")):
        skip("tests/runner/emulator.py missing")
    h = Harness(sys.argv[1], rig_env())
    try:
        SCENARIOS[sys.argv[2]](h)
    finally:
        h.done()
    print(f"1..{CHECKS[0]}")
    if FAILS:
        print(f"# {len(FAILS)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
