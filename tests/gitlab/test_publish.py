#!/usr/bin/env python3
"""protocol/gitlab-publish: `conductor publish` end to end against the GitLab stand-in.

Two runs build a history (the second page shows the change against the first), a rerun
converges (same pages, no extra history row), GitLab's 401/403/404/429/500 and a network cut
mid-upload give one clear line each or are retried, bad inputs fail before anything is sent,
and no token appears in any output (stdout, stderr with --verbose, stored pages).

The results come from `conductor-nlu train` + `conductor-nlu test` on a real data set when
that binary can do it; otherwise from tests/gitlab/fixtures (Rasa's `rasa test nlu` shape).
Prints TAP."""

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("CD_BINARY_DIR", ".")
CONDUCTOR = os.path.join(BIN, "executor", "conductor")
NLU = os.path.join(BIN, "executor", "conductor-nlu")
DEV = "glpat-SECRETpublish-dev-4d5e6f"
READ = "glpat-SECRETpublish-read-7a8b9c"
JT = "glcbt-SECRETpublish-job-1a2b3c"

n = failed = 0
outputs = []  # everything any command printed


def ok(cond, name, diag=None):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)
    if not cond and diag:
        for line in str(diag).splitlines()[:30]:
            print("#   " + line)


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(1 if os.environ.get("CD_TEST_MUST_WORK") == "1" else 77)


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        port_file = os.path.join(tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "standin.py"), "--data-dir", self.data,
             "--port-file", port_file, "--token", "dev=" + DEV, "--token", "read=" + READ,
             "--token", "job=" + JT], stderr=open(os.path.join(tmp, "standin.log"), "w"))
        for _ in range(300):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        self.url = "http://127.0.0.1:%d" % int(open(port_file).read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)

    def control(self, what, doc):
        req = urllib.request.Request(self.url + "/__control/" + what,
                                     data=json.dumps(doc).encode(), method="POST")
        urllib.request.urlopen(req).read()

    def requests(self):
        return json.loads(urllib.request.urlopen(self.url + "/__control/requests").read())

    def read(self, rel, mode="r"):
        p = os.path.join(self.data, rel)
        if not os.path.exists(p):
            return None
        with open(p, mode) as f:
            return f.read()


CI_ENV = {
    "CI_PROJECT_PATH": "grp/nlu", "CI_PROJECT_NAME": "nlu",
    "CI_PROJECT_URL": "https://gitlab.example.com/grp/nlu",
    "CI_COMMIT_REF_NAME": "main", "CI_COMMIT_AUTHOR": "Dana Writer <dana@example.com>",
    "CI_PIPELINE_URL": "https://gitlab.example.com/grp/nlu/-/pipelines/4711",
    "CI_JOB_URL": "https://gitlab.example.com/grp/nlu/-/jobs/91234",
}


def publish(env, token_file, results, model, extra=(), commit="a" * 40, verbose=False):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    e.update(CI_ENV)
    e["CI_COMMIT_SHA"] = commit
    e["CI_COMMIT_SHORT_SHA"] = commit[:8]
    args = [CONDUCTOR, "publish", "--gitlab-url", env.url, "--project", "grp/nlu",
            "--token-file", token_file, "--results", results, "--model", model]
    args += list(extra)
    if verbose:
        args.append("--verbose")
    p = subprocess.run(args, env=e, capture_output=True, text=True, timeout=120)
    outputs.append(p.stdout + p.stderr)
    return p


def make_model(path, model_id, payload=b"weights"):
    meta = {"format": "conductor-nlu", "format_version": 1, "version": "0.1.0",
            "trained_at": "2026-11-25T02:00:00", "model_id": model_id,
            "fingerprint": hashlib.sha256(model_id.encode()).hexdigest(),
            "config": {"pipeline": [{"name": "LinearIntentClassifier", "C": 1.0}]},
            "counts": {"examples": 100, "intents": 12}}
    with tarfile.open(path, "w:gz") as t:
        for name, data in (("metadata.json", json.dumps(meta).encode()),
                           ("classifier.bin", payload)):
            i = tarfile.TarInfo(name)
            i.size = len(data)
            t.addfile(i, io.BytesIO(data))


def real_results(tmp):
    """Train and test with conductor-nlu on Braun's Chatbot corpus, when it can."""
    data = os.path.join(os.environ.get("CD_SHARED_DIR", ""), "data", "braun2017", "Chatbot")
    if not (os.access(NLU, os.X_OK) and os.path.isdir(data)):
        return None
    train = [os.path.join(data, f) for f in sorted(os.listdir(data)) if "train" in f]
    test = [os.path.join(data, f) for f in sorted(os.listdir(data)) if "test" in f]
    model = os.path.join(tmp, "model.tar.gz")
    out = os.path.join(tmp, "results-real")
    try:
        p1 = subprocess.run([NLU, "train", *train, "--out", model], capture_output=True,
                            timeout=120)
        p2 = subprocess.run([NLU, "test", *test, "--model", model, "--out", out],
                            capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p1.returncode != 0 or p2.returncode not in (0, 1) or not os.path.exists(
            os.path.join(out, "intent_report.json")):
        return None
    return out, model


def main():
    if not os.access(CONDUCTOR, os.X_OK):
        skip_all("%s not built" % CONDUCTOR)
    tmp = tempfile.mkdtemp(prefix="cd-publish-")
    env = Env(tmp)
    try:
        run(env, tmp)
    finally:
        env.stop()
        if not os.environ.get("CD_KEEP_STANDIN"):
            shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


def run(env, tmp):
    tok = os.path.join(tmp, "dev.token")
    with open(tok, "w") as f:
        f.write(DEV + "\n")
    os.chmod(tok, 0o600)
    rtok = os.path.join(tmp, "read.token")
    with open(rtok, "w") as f:
        f.write(READ + "\n")
    os.chmod(rtok, 0o600)

    fx = os.path.join(HERE, "fixtures")
    m1 = os.path.join(tmp, "m1.tar.gz")
    m2 = os.path.join(tmp, "m2.tar.gz")
    make_model(m1, "11111111aaaa")
    make_model(m2, "22222222bbbb", os.urandom(2 << 20))
    r1, r2 = os.path.join(fx, "results-1"), os.path.join(fx, "results-2")

    # ---- first publication
    p = publish(env, tok, r1, m1, commit="1" * 40)
    ok(p.returncode == 0, "first publish succeeds", p.stderr)
    sha1 = hashlib.sha256(open(m1, "rb").read()).hexdigest()
    ok("sha256: %s" % sha1 in p.stdout, "prints the verified SHA-256", p.stdout)
    stored = env.read("projects/42/packages/nlu/11111111aaaa/m1.tar.gz", "rb")
    ok(stored == open(m1, "rb").read(), "package nlu/<model id>/m1.tar.gz holds the model")
    page1 = env.read("projects/42/wiki/nlu-reports/11111111aaaa.md")
    ok(page1 is not None and sha1 in page1 and "1" * 40 in page1,
       "report page has the model SHA-256 and the commit")
    ok(page1 and "https://gitlab.example.com/grp/nlu/-/pipelines/4711" in page1,
       "report page links the pipeline")
    index = env.read("projects/42/wiki/nlu-reports/index.md")
    ok(index and "nlu-reports/11111111aaaa" in index, "index page lists the report")

    # ---- second publication: charts, history and the change
    p = publish(env, tok, r2, m2, commit="2" * 40)
    ok(p.returncode == 0, "second publish succeeds", p.stderr)
    page2 = env.read("projects/42/wiki/nlu-reports/22222222bbbb.md") or ""
    links = re.findall(r"\((uploads/[0-9a-f]{32}/[^)]+)\)", page2)
    ok(len(links) >= 2, "charts embedded as wiki attachments (%d)" % len(links), page2[:2000])
    ok(all(os.path.exists(os.path.join(env.data, "projects/42/wiki", l)) for l in links),
       "every embedded chart exists in the wiki")
    ok("nlu-reports/11111111aaaa" in page2 and "▼" in page2,
       "second page compares with the first (delta shown)")
    index = env.read("projects/42/wiki/nlu-reports/index.md")
    rows = [l for l in index.splitlines() if l.startswith("| [")]
    ok(len(rows) == 2 and "22222222bbbb" in rows[0], "index: two rows, newest first", index)

    # ---- rerun converges
    before = env.read("projects/42/wiki/nlu-reports/index.md")
    p = publish(env, tok, r2, m2, commit="2" * 40)
    ok(p.returncode == 0, "rerun succeeds", p.stderr)
    index = env.read("projects/42/wiki/nlu-reports/index.md")
    rows = [l for l in index.splitlines() if l.startswith("| [")]
    ok(len(rows) == 2, "rerun: still two history rows (row replaced, not added)", index)
    ok(before.count("22222222bbbb") == index.count("22222222bbbb"), "rerun: same index links")

    # ---- duplicates off: an identical rerun is accepted after checking the bytes
    env.control("settings", {"allow_duplicates": False})
    p = publish(env, tok, r2, m2, commit="2" * 40, extra=["--targets", "package"])
    ok(p.returncode == 0 and "already there, identical" in p.stderr,
       "duplicates off: identical package accepted", p.stderr)
    m2b = os.path.join(tmp, "other", "m2.tar.gz")
    os.makedirs(os.path.dirname(m2b))
    make_model(m2b, "22222222bbbb", b"other bytes")
    p = publish(env, tok, r2, m2b, commit="2" * 40, extra=["--targets", "package"])
    ok(p.returncode == 1 and "GitLab holds other bytes" in p.stderr,
       "duplicates off: different bytes under the same version refused", p.stderr)
    env.control("settings", {"allow_duplicates": True})

    # ---- faults that are retried: 429, 500, a network cut
    env.control("faults", {"faults": [
        {"method": "PUT", "path": "packages", "status": 429, "retry_after": "1"},
        {"method": "PUT", "path": "packages", "cut_after": 65536},
        {"method": "GET", "path": "wikis", "status": 500},
        {"method": "PUT", "path": "wikis/nlu-reports%2Findex", "status": 503}]})
    m3 = os.path.join(tmp, "m3.tar.gz")
    make_model(m3, "33333333cccc", os.urandom(1 << 20))
    p = publish(env, tok, r1, m3, commit="3" * 40)
    ok(p.returncode == 0, "429, cut upload, 500 and 503 are retried and converge", p.stderr)
    ok(env.read("projects/42/packages/nlu/33333333cccc/m3.tar.gz", "rb") ==
       open(m3, "rb").read(), "the cut upload ended complete")
    ok("retrying" in p.stderr, "retries are reported", p.stderr)

    # ---- failures: one clear line, nothing half-written
    env.control("reset", {})
    p = publish(env, rtok, r1, m3, commit="4" * 40)
    ok(p.returncode == 1 and re.search(
        r"PUT /projects/grp%2Fnlu/packages/generic/nlu/33333333cccc/m3\.tar\.gz: HTTP 403: "
        r"insufficient_scope: The request requires higher privileges", p.stderr),
       "403: method, path, status and GitLab's message", p.stderr)
    p = subprocess.run([CONDUCTOR, "publish", "--gitlab-url", env.url, "--project",
                        "grp/missing", "--token-file", tok, "--results", r1, "--model", m3],
                       capture_output=True, text=True, timeout=60)
    outputs.append(p.stdout + p.stderr)
    ok(p.returncode == 1 and "HTTP 404: 404 Project Not Found (the project does not exist, or "
       "the token cannot see it)" in p.stderr, "404 project: says the token may not see it",
       p.stderr)
    bogus = os.path.join(tmp, "bogus.token")
    with open(bogus, "w") as f:
        f.write("glpat-SECRETbogus-000000\n")
    p = publish(env, bogus, r1, m3)
    ok(p.returncode == 1 and "HTTP 401: 401 Unauthorized" in p.stderr, "401 explained", p.stderr)
    env.control("faults", {"faults": [{"method": "PUT", "path": "packages", "status": 500,
                                       "times": 5}]})
    p = publish(env, tok, r1, m3, commit="5" * 40)
    ok(p.returncode == 1 and "HTTP 500: 500 Internal Server Error" in p.stderr,
       "500 after 5 tries: fails with GitLab's message", p.stderr)
    env.control("reset", {})
    # a wiki failure after the package: a rerun repairs it
    env.control("faults", {"faults": [{"method": "PUT", "path": "wikis/nlu-reports%2Findex",
                                       "status": 500, "times": 5}]})
    p = publish(env, tok, r1, m3, commit="6" * 40, extra=["--package-version", "6.0.0"])
    ok(p.returncode == 1 and "publish wiki index" in p.stderr, "index update failure reported",
       p.stderr)
    p = publish(env, tok, r1, m3, commit="6" * 40, extra=["--package-version", "6.0.0"])
    index = env.read("projects/42/wiki/nlu-reports/index.md")
    ok(p.returncode == 0 and "nlu-reports/6.0.0" in index, "rerun after a failure converges",
       p.stderr)

    # ---- bad input: refused before anything is sent
    env.control("reset", {})
    bad = os.path.join(tmp, "bad-results")
    os.makedirs(bad)
    os.symlink("/etc/passwd", os.path.join(bad, "intent_report.json"))
    p = publish(env, tok, bad, m3)
    ok(p.returncode != 0 and "intent_report.json" in p.stderr and "symlink" in p.stderr.lower(),
       "a symlinked results file is refused", p.stderr)
    p = publish(env, tok, os.path.join(tmp, "no-such-dir"), m3)
    ok(p.returncode != 0 and "no-such-dir" in p.stderr, "missing results dir", p.stderr)
    ok(not [r for r in env.requests() if r["method"] in ("PUT", "POST")],
       "bad results: nothing was uploaded")
    p = subprocess.run([CONDUCTOR, "publish", "--gitlab-url", env.url, "--project", "42",
                        "--token-env", "CD_TEST_JT", "--token-type", "job", "--results", r1,
                        "--model", m3], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, CD_TEST_JT=JT))
    outputs.append(p.stdout + p.stderr)
    ok(p.returncode == 2 and "job token cannot write wiki pages" in p.stderr,
       "job token + wiki target refused up front", p.stderr)
    p = subprocess.run([CONDUCTOR, "publish", "--gitlab-url", env.url, "--project", "42",
                        "--token-env", "CD_TEST_JT", "--token-type", "job", "--targets",
                        "package", "--model", m3, "--package-version", "jt-1"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, CD_TEST_JT=JT))
    outputs.append(p.stdout + p.stderr)
    ok(p.returncode == 0 and env.read("projects/42/packages/nlu-model/jt-1/m3.tar.gz", "rb") ==
       open(m3, "rb").read(),
       "CI_JOB_TOKEN (JOB-TOKEN) can upload the package", p.stderr)
    p = publish(env, tok, r1, m3, extra=["--package-version", "1..2"])
    ok(p.returncode == 2 and "1..2" in p.stderr, "invalid version refused", p.stderr)

    # ---- a real conductor-nlu results directory, when available
    real = real_results(tmp)
    if real:
        p = publish(env, tok, real[0], real[1], commit="7" * 40,
                    extra=["--package-version", "real-1"])
        page = env.read("projects/42/wiki/nlu-reports/real-1.md") or ""
        ok(p.returncode == 0 and "Intents, worst first" in page,
           "conductor-nlu train+test results publish", p.stderr)
    else:
        print("# conductor-nlu train/test not available: fixtures only")

    # ---- verbose trace and no secret anywhere
    p = publish(env, tok, r1, m1, commit="1" * 40, verbose=True)
    ok("PRIVATE-TOKEN: [REDACTED]" in p.stderr, "--verbose trace redacts the auth header",
       p.stderr[-2000:])
    everything = "\n".join(outputs)
    for root, _, files in os.walk(env.data):
        for f in files:
            if f.endswith(".md"):
                everything += open(os.path.join(root, f)).read()
    everything += open(os.path.join(tmp, "standin.log")).read()
    for t in (DEV, READ, JT, "glpat-SECRETbogus-000000"):
        ok(t not in everything and t[:20] not in everything,
           "token %s… in no output or page" % t[:12])


if __name__ == "__main__":
    sys.exit(main())
