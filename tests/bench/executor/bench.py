#!/usr/bin/env python3
"""Executor benchmark: the stage programs against raw Engine API calls made with curl, in the
same invocation, on the same engine (figures are ratios, so a loaded machine still compares).

    tests/bench/executor/bench.py [--engine podman|docker] [--stages N] [--relay-mib M]
                                  [--jobs J]

Needs a build (CD_BINARY_DIR, default ./build) and the rig (tests/rig/engines.sh start).
Prints:
  1. per-stage overhead: conductor-run of a trivial script, median over N, minus the median of
     the same script run directly by sh on the host; peer: one raw `docker exec` via curl;
  2. trivial 8-stage job end to end (config + prepare + 8 x run + cleanup) vs the raw curl
     lifecycle (create + start + 8 execs + remove); goal ratio <= 0.5;
  3. log relay of M MiB through conductor-run vs `exec head -c` through curl; goal >= 90 %
     of the raw throughput with our RSS <= 16 MiB.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("CD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("CD_BINARY_DIR", os.path.join(SRC, "build"))


def rig_env():
    env = dict(os.environ)
    path = os.path.join(os.environ.get("CD_RIG_DIR", "/run/conductor-test"), "env")
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].strip().split("=", 1)
                env.setdefault(k, v)
    return env


class Raw:
    """The peer: one curl process per Engine API call, as a shell script would do it."""

    def __init__(self, sock):
        self.sock = sock

    def call(self, method, path, body=None, out=None):
        cmd = ["curl", "-sf", "--unix-socket", self.sock, "-X", method,
               f"http://d/v1.41{path}"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        if out:
            cmd += ["-o", out]
        r = subprocess.run(cmd, capture_output=out is None, check=True)
        return json.loads(r.stdout) if out is None and r.stdout.strip() else None

    def exec(self, cid, argv, out="/dev/null"):
        e = self.call("POST", f"/containers/{cid}/exec",
                      {"Cmd": argv, "AttachStdout": True, "AttachStderr": True})
        self.call("POST", f"/exec/{e['Id']}/start", {"Detach": False, "Tty": False}, out=out)
        return self.call("GET", f"/exec/{e['Id']}/json")["ExitCode"]

    def lifecycle(self, image, stages):
        c = self.call("POST", "/containers/create",
                      {"Image": image, "Cmd": ["sleep", "3600"], "HostConfig":
                       {"NetworkMode": "none"}})
        cid = c["Id"]
        self.call("POST", f"/containers/{cid}/start")
        for _ in range(stages):
            self.exec(cid, ["sh", "-c", "true"])
        self.call("DELETE", f"/containers/{cid}?force=true")


class Ours:
    def __init__(self, sock, image, tmp):
        self.exe = os.path.join(BIN, "executor")
        self.tmp = tmp
        self.conf = os.path.join(tmp, "conductor.conf")
        with open(self.conf, "w") as f:
            f.write(f'[engine]\nendpoint = "unix://{sock}"\n[image]\ndefault = "{image}"\n'
                    f'[security]\nnetwork_mode = "none"\n')
        self.script = os.path.join(tmp, "script")
        with open(self.script, "w") as f:
            f.write("#!/bin/sh\ntrue\n")

    def env(self, job_id):
        e = dict(os.environ)
        e.update({"CONDUCTOR_RUN_DIR": os.path.join(self.tmp, "state"),
                  "CUSTOM_ENV_CI_JOB_ID": str(job_id), "CUSTOM_ENV_CI_PROJECT_ID": "1",
                  "CUSTOM_ENV_CI_CONCURRENT_ID": "0", "CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID": "0",
                  "CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN": "bench", "CUSTOM_ENV_CI_PROJECT_PATH":
                  "bench/bench", "BUILD_EXIT_CODE_FILE": os.path.join(self.tmp, "exit_code"),
                  "TMPDIR": self.tmp})
        return e

    def prog(self, name, env, *args, out=subprocess.DEVNULL):
        subprocess.run([os.path.join(self.exe, f"conductor-{name}"), "--config", self.conf,
                        *args], env=env, stdout=out, stderr=subprocess.PIPE, check=True)

    def job(self, stages, job_id):
        env = self.env(job_id)
        self.prog("config", env)
        self.prog("prepare", env)
        for i in range(stages):
            self.prog("run", env, self.script, "build_script" if i == 4 else f"step_{i}")
        self.prog("cleanup", env)


def cpu_run(argv, env=None):
    """(wall s, CPU s of the process itself) for one run; CPU does not depend on the load."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {p.returncode}")
    return time.perf_counter() - t0, ru.ru_utime + ru.ru_stime


def timed(fn, *a):
    t0 = time.perf_counter()
    fn(*a)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="podman", choices=["podman", "docker"])
    ap.add_argument("--stages", type=int, default=40, help="samples for the per-stage figure")
    ap.add_argument("--jobs", type=int, default=3, help="8-stage jobs each side")
    ap.add_argument("--relay-mib", type=int, default=1024)
    a = ap.parse_args()
    env = rig_env()
    sock = env.get("CD_TEST_PODMAN_SOCKET" if a.engine == "podman" else "CD_TEST_DOCKER_SOCKET")
    image = env.get("CD_TEST_IMAGE_BUSYBOX", "localhost/busybox:test")
    if not sock or not os.path.exists(sock):
        sys.exit(f"no {a.engine} socket: start tests/rig/engines.sh")
    tmp = tempfile.mkdtemp(prefix="cd-bench-")
    raw, ours = Raw(sock), Ours(sock, image, tmp)
    print(f"executor bench on {a.engine}, image {image}")

    # 1. per-stage overhead
    job_id = random.randrange(10**8, 10**9)
    env1 = ours.env(job_id)
    ours.prog("prepare", env1)
    try:
        name = f"runner-bench-project-1-concurrent-0-job-{job_id}"
        ours.prog("run", env1, ours.script, "build_script")  # warm
        run_argv = [os.path.join(ours.exe, "conductor-run"), "--config", ours.conf, ours.script,
                    "build_script"]
        runs = [cpu_run(run_argv, env1) for _ in range(a.stages)]
        owns = [cpu_run(["sh", ours.script]) for _ in range(a.stages)]
        exec_t = [timed(raw.exec, name, ["sh", "-c", "true"]) for _ in range(max(5, a.stages // 4))]
        mr, mo, me = (statistics.median(x) * 1000 for x in
                      ([w for w, _ in runs], [w for w, _ in owns], exec_t))
        cr, co = (statistics.median(x) * 1000 for x in ([c for _, c in runs], [c for _, c in owns]))
        print(f"1. per-stage: conductor-run median {mr:.1f} ms wall ({cr:.1f} ms CPU in "
              f"conductor-run), the script alone (sh on the host) {mo:.1f} ms wall ({co:.1f} ms "
              f"CPU) -> overhead {mr - mo:.1f} ms wall (goal <= 10 ms); raw curl exec median "
              f"{me:.1f} ms (ratio ours/raw {mr / me:.3f})")

        # 3. log relay
        mib = a.relay_mib
        relay = os.path.join(tmp, "relay")
        with open(relay, "w") as f:
            f.write(f"#!/bin/sh\nhead -c {mib * 1048576} /dev/zero\n")
        rssf = os.path.join(tmp, "rss")
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rssf,
                        os.path.join(ours.exe, "conductor-run"), "--config", ours.conf, relay,
                        "build_script"], env=env1, stdout=subprocess.DEVNULL, check=True)
        t_ours = time.perf_counter() - t0
        rss = int(open(rssf).read().split()[-1])  # KiB
        t_raw = timed(raw.exec, name, ["head", "-c", str(mib * 1048576), "/dev/zero"])
        th_o, th_r = mib / t_ours, mib / t_raw
        rss_note = f"{rss / 1024:.1f} MiB"
        print(f"3. relay {mib} MiB: conductor-run {th_o:.0f} MiB/s, raw curl exec {th_r:.0f} "
              f"MiB/s -> {100 * th_o / th_r:.0f} % of raw (goal >= 90 %); conductor-run max RSS "
              f"{rss_note} (goal <= 16 MiB)")
    finally:
        ours.prog("cleanup", env1)

    # 2. 8-stage job end to end, alternating sides so drift hits both
    t_o, t_r = [], []
    for i in range(a.jobs):
        t_o.append(timed(ours.job, 8, random.randrange(10**8, 10**9)))
        t_r.append(timed(raw.lifecycle, image, 8))
    mo, mr = statistics.median(t_o), statistics.median(t_r)
    print(f"2. 8-stage job: ours median {mo * 1000:.0f} ms (config+prepare+8 runs+cleanup), "
          f"raw curl lifecycle {mr * 1000:.0f} ms -> ratio {mo / mr:.2f} (goal <= 0.5)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
