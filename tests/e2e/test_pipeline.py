#!/usr/bin/env python3
"""integration/e2e-pipeline: scripts/demo end to end, then check what a person would check.

- both pipelines pass, every job in its own container;
- the model package and the wiki pages exist in the GitLab stand-in;
- the numbers on the wiki page match the results files: cross-validation is reproducible with
  --seed, so `conductor-nlu test` re-run here on the same data gives the same
  intent_report.json the job published;
- the second page shows the change against the first;
- the rendered HTML page, screenshotted in headless Chromium, is a real picture.
Skips (77) without an engine unless CD_TEST_MUST_WORK=1.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("CD_SOURCE_DIR", os.path.abspath(os.path.join(__file__, "../../..")))
BIN = os.environ.get("CD_BINARY_DIR", os.path.join(SRC, "build"))
MUST = os.environ.get("CD_TEST_MUST_WORK") == "1"
failed = 0
n = 0


def check(cond, what):
    global failed, n
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}", flush=True)
    if not cond:
        failed += 1


def skip(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(1 if MUST else 77)


def block(md):
    """The report's machine-readable block (docs/report.md)."""
    m = re.search(r"<!--\s*conductor-report:\s*(\{.*?\})\s*-->", md, re.S)
    return json.loads(m.group(1)) if m else None


def main():
    sock = os.environ.get("CD_TEST_PODMAN_SOCKET")
    if not sock or not os.path.exists(sock):
        skip("no Podman engine (tests/rig/engines.sh start)")
    nlu = os.path.join(BIN, "executor", "conductor-nlu")
    if not os.access(nlu, os.X_OK):
        skip("conductor-nlu not built")
    work = tempfile.mkdtemp(prefix="cd-e2e-")
    env = dict(os.environ, CD_DEMO_DIR=work, CD_DEMO_BUILD=BIN, CD_DEMO_KEEP_ENGINE="1",
               CD_DEMO_QUIET="1")
    p = subprocess.run([os.path.join(SRC, "scripts", "demo")], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1400)
    print("\n".join("# " + ln for ln in p.stdout.splitlines()[-60:]))
    check(p.returncode == 0, f"scripts/demo completes (exit {p.returncode})")
    for run in (1, 2):
        pj = os.path.join(work, f"run-{run}", "pipeline.json")
        res = json.load(open(pj)) if os.path.exists(pj) else {}
        for job in ("validate", "train", "test", "publish"):
            st = res.get(job, {}).get("status")
            check(st == "success", f"pipeline {run}: job {job} succeeded ({st})")
    wiki = os.path.join(work, "gitlab", "projects", "42", "wiki", "nlu-reports")
    pages = sorted((os.path.join(wiki, f) for f in os.listdir(wiki) if f != "index.md"),
                   key=os.path.getmtime) if os.path.isdir(wiki) else []
    check(len(pages) == 2, f"two report pages published ({len(pages)})")
    check(os.path.exists(os.path.join(wiki, "index.md")), "the history index page exists")
    pkgs = []
    for root, _, files in os.walk(os.path.join(work, "gitlab", "projects", "42", "packages")):
        pkgs += [os.path.join(root, f) for f in files if f.endswith(".tar.gz")]
    check(len(pkgs) >= 1, f"the model package is in the registry ({len(pkgs)} files)")
    if len(pages) != 2:
        return
    first, second = (open(p).read() for p in pages)
    b1, b2 = block(first), block(second)
    check(b1 is not None and b2 is not None, "each page carries its machine-readable block")

    # Recompute the second run's cross-validation here: same data, folds, seed and config.
    bot = os.path.join(work, "bot")
    out = os.path.join(work, "recheck")
    r = subprocess.run([nlu, "test", os.path.join(bot, "data"), "--cross-validation",
                        "--folds", "5", "--seed", "1", "--config",
                        os.path.join(bot, "config.yml"), "--out", out],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"recheck cross-validation runs ({r.stderr[-300:]})")
    rep = json.load(open(os.path.join(out, "intent_report.json")))
    acc = rep.get("accuracy")
    macro = rep.get("macro avg", {}).get("f1-score")
    check(acc is not None and f"{acc:.3f}" in second,
          f"page shows the results' accuracy {acc:.3f}" if acc is not None else "accuracy")
    check(macro is not None and f"{macro:.3f}" in second, f"page shows macro F1 {macro}")
    worst = min((k for k in rep if isinstance(rep[k], dict) and "support" in rep[k]
                 and k not in ("macro avg", "weighted avg", "micro avg")),
                key=lambda k: rep[k]["f1-score"])
    check(worst in second, f"page lists the worst intent `{worst}`")
    check(re.search(r"(?i)(change|since|previous|Δ)", second) is not None,
          "second page has a change section against the first")
    check("check_human" in second, "the changed intent appears on the second page")

    html = os.path.join(work, "report-2.html")
    check(os.path.exists(html), "the page was rendered to HTML")
    chrome = shutil.which("chromium")
    if not chrome:
        check(not MUST, "chromium is installed")
        return
    png = os.path.join(work, "report-2.png")
    prof = tempfile.mkdtemp(prefix="cd-chrome-")
    subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", f"--user-data-dir={prof}",
                    f"--screenshot={png}", "--window-size=1200,2400", "file://" + html],
                   capture_output=True, timeout=120)
    ok = os.path.exists(png) and os.path.getsize(png) > 20000
    check(ok, f"headless Chromium screenshot of the page ({png})")
    shutil.rmtree(prof, ignore_errors=True)


main()
print(f"1..{n}")
sys.exit(1 if failed or n == 0 else 0)
