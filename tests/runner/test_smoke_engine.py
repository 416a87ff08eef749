#!/usr/bin/env python3
"""Smoke test of the whole chain as gitlab-runner drives it: the emulator runs the four real
stage programs (config.toml-style settings) against each real engine of the test rig, with a
busybox job using a masked secret, the cache and artifacts through the helper stand-in.
Skips (77) without an engine unless CD_TEST_MUST_WORK=1. ctest integration/runner-smoke."""

import json
import os
import secrets
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator as em  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(os.environ.get("CD_BINARY_DIR", "build"), "executor")


def skip(msg):
    print(f"1..0 # SKIP {msg}")
    sys.exit(1 if os.environ.get("CD_TEST_MUST_WORK") == "1" else 77)


def engine_get(sock, path):
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock)

    c = Conn("d", timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def engine_delete(sock, path):
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock)

    c = Conn("d", timeout=60)
    c.request("DELETE", path)
    return c.getresponse().status


def leftovers(sock, token):
    f = urllib.parse.quote(json.dumps({"label": [f"io.conductor.runner={token}"]}))
    out = {}
    for kind, path in (("containers", f"/containers/json?all=1&filters={f}"),
                       ("networks", f"/networks?filters={f}"),
                       ("volumes", f"/volumes?filters={f}")):
        st, body = engine_get(sock, path)
        data = json.loads(body)
        if kind == "volumes":
            data = data.get("Volumes") or []
        out[kind] = [d.get("Name") or d.get("Names") or d.get("Id") for d in data]
    return out


def main():
    socks = [(n, os.environ.get(v)) for n, v in (("podman", "CD_TEST_PODMAN_SOCKET"),
                                                 ("docker", "CD_TEST_DOCKER_SOCKET"))]
    socks = [(n, s) for n, s in socks if s and os.path.exists(s)]
    image = os.environ.get("CD_TEST_IMAGE_BUSYBOX")
    if not socks or not image:
        skip("no test engine (CD_TEST_PODMAN_SOCKET/CD_TEST_DOCKER_SOCKET, CD_TEST_IMAGE_BUSYBOX)")
    for prog in ("config", "prepare", "run", "cleanup"):
        if not os.access(os.path.join(BIN, "conductor-" + prog), os.X_OK):
            skip(f"conductor-{prog} not built")
    n = 0
    failed = 0

    def ok(cond, msg):
        nonlocal n, failed
        n += 1
        print(("ok" if cond else "not ok") + f" {n} - {msg}")
        failed += 0 if cond else 1

    for name, sock in socks:
        work = tempfile.mkdtemp(prefix="cd-smoke-")
        token = "smk" + secrets.token_hex(3)
        conf = os.path.join(work, "conductor.conf")
        with open(conf, "w") as f:
            f.write(f"[engine]\nendpoint = unix://{sock}\n[image]\ndefault = {image}\n"
                    f"pull_policy = never\n[helper]\ngitlab_runner = {HERE}/gitlab-runner\n")
        args = ["--config", conf]
        custom = em.CustomConfig(
            config_exec=f"{BIN}/conductor-config", config_args=args,
            prepare_exec=f"{BIN}/conductor-prepare", prepare_args=args,
            run_exec=f"{BIN}/conductor-run", run_args=args,
            cleanup_exec=f"{BIN}/conductor-cleanup", cleanup_args=args,
            graceful_kill_timeout=10)
        runner = em.RunnerSettings(custom=custom, short_token=token, tmp_root=work,
                                   prepare_retry_interval=0.5)
        secret = "s3cr3t-" + secrets.token_hex(6)
        job = {"id": 4000 + n, "image": image, "script": [
                   "mkdir -p model vendor", "echo w > model/weights", "echo d > vendor/dep",
                   "echo the secret is $SMOKE_SECRET"],
               "after_script": ["echo after=$CI_JOB_STATUS"],
               "variables": {"GIT_STRATEGY": "none",
                             "CD_STANDIN_ARTIFACTS_DIR": "/cache/standin-artifacts",
                             "SMOKE_SECRET": {"value": secret, "masked": True}},
               "cache": [{"key": "deps", "paths": ["vendor/"]}],
               "artifacts": [{"name": "model", "paths": ["model/"]}]}
        res = em.Emulator(runner, job, log_path=os.path.join(work, "job.log")).run()
        ok(res.status == "success", f"{name}: busybox job succeeds ({res.final_line})")
        ok(res.config_output is not None and
           res.config_output["job_env"]["CONDUCTOR_CONTAINER"].startswith(f"runner-{token}-"),
           f"{name}: config_exec answer accepted")
        ok(secret not in res.log and "the secret is [MASKED]" in res.log,
           f"{name}: masked variable never in the log")
        ok("Created cache" in res.log, f"{name}: cache archived by the helper stand-in")
        ok("201 Created" in res.log, f"{name}: artifacts uploaded by the helper stand-in")
        ok("after=success" in res.log, f"{name}: after_script ran")
        left = leftovers(sock, token)
        ok(not left["containers"] and not left["networks"],
           f"{name}: no container or network left ({left})")
        ok(all(v.endswith("-cache") for v in left["volumes"]),
           f"{name}: only the cache volume is kept ({left['volumes']})")
        for v in left["volumes"]:
            engine_delete(sock, f"/volumes/{v}?force=true")
        if res.status != "success":
            sys.stdout.write("# " + res.log.replace("\n", "\n# ") + "\n")
        __import__("shutil").rmtree(work, ignore_errors=True)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
