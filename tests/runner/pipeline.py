#!/usr/bin/env python3
"""Run a project's .gitlab-ci.yml through the runner emulator, job by job, as GitLab and a
runner with Conductor would: stages in order, each job in its own container, artifacts handed
from earlier jobs to later ones (through the helper stand-in's artifacts directory), a failed
job stopping the later stages. It understands the subset of .gitlab-ci.yml that the sample
bot uses: stages, default.image, variables, image, script, before_script, after_script,
artifacts (paths, when, reports), needs, rules (if: $A == $B / != / =~ with when), and
allow_failure.

    pipeline.py --project DIR --config-toml config.toml --out OUTDIR [--repo-url URL --sha SHA]

Prints each job's log and a summary; writes OUTDIR/<job>.log and OUTDIR/pipeline.json.
Exit 0 when the pipeline passed, 1 when a job failed.
"""

import argparse
import io
import json
import os
import re
import sys
import tarfile
import zipfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator as em  # noqa: E402

RESERVED = {"stages", "variables", "default", "include", "workflow", "image", "services",
            "before_script", "after_script", "cache"}


def expand(value, env):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def rule_matches(expr, env):
    """The `if:` forms the sample uses: `$A == $B`, `$A != "x"`, `$A`, `$A =~ /re/`."""
    m = re.fullmatch(r"\s*(\S+)\s*(==|!=|=~)\s*(.+?)\s*", expr)
    if not m:
        return bool(expand(expr.strip(), env))
    left, op, right = m.groups()
    lv = expand(left, env)
    if op == "=~":
        return re.search(right.strip("/"), lv) is not None
    rv = right.strip("'\"") if right[:1] in "'\"" else expand(right, env)
    return (lv == rv) if op == "==" else (lv != rv)


def job_when(job, env):
    rules = job.get("rules")
    if rules is None:
        return job.get("when", "on_success")
    for r in rules:
        if "if" not in r or rule_matches(r["if"], env):
            return r.get("when", "on_success")
    return "never"


def script_lines(v):
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


class Pipeline:
    def __init__(self, project_dir, runner, out_dir, repo_url, sha, ref, pipeline_id, base_vars,
                 artifacts_dir, echo=True):
        with open(os.path.join(project_dir, ".gitlab-ci.yml")) as f:
            self.doc = yaml.safe_load(f)
        self.runner = runner
        self.out = out_dir
        self.repo_url = repo_url
        self.sha = sha
        self.ref = ref
        self.pipeline_id = pipeline_id
        self.base_vars = base_vars
        self.artifacts_dir = artifacts_dir
        self.echo = echo
        self.results = {}

    def jobs(self):
        stages = self.doc.get("stages", ["build", "test", "deploy"])
        jobs = [(n, j) for n, j in self.doc.items()
                if n not in RESERVED and not n.startswith(".") and isinstance(j, dict)]
        return sorted(jobs, key=lambda nj: stages.index(nj[1].get("stage", "test")))

    def job_desc(self, name, job, job_id, deps):
        default = self.doc.get("default", {})
        variables = dict(self.doc.get("variables", {}) or {})
        variables.update(job.get("variables", {}) or {})
        variables = {k: str(v) for k, v in variables.items()}
        variables.update(self.base_vars)
        desc = {
            "id": job_id, "name": name, "stage": job.get("stage", "test"),
            "project_id": int(self.base_vars.get("CI_PROJECT_ID", 42)),
            "project_path": self.base_vars.get("CI_PROJECT_PATH", "bots/financial-demo"),
            "ref": self.ref, "sha": self.sha, "repo_url": self.repo_url,
            "pipeline_id": self.pipeline_id,
            "image": job.get("image", default.get("image", self.doc.get("image"))),
            "before_script": script_lines(job.get("before_script",
                                                  default.get("before_script"))),
            "script": script_lines(job.get("script")),
            "after_script": script_lines(job.get("after_script",
                                                 default.get("after_script"))),
            "variables": variables,
            "dependencies": deps,
            "allow_failure": bool(job.get("allow_failure", False)),
        }
        art = job.get("artifacts")
        if art:
            desc["artifacts"] = [{"name": "artifacts", "paths": art.get("paths", []),
                                  "when": art.get("when", "on_success"),
                                  "expire_in": art.get("expire_in", "")}]
        return desc

    def dependencies_for(self, name, job, order):
        needs = job.get("needs")
        wanted = [n if isinstance(n, str) else n["job"] for n in needs] if needs is not None \
            else [n for n in order if n != name and order.index(n) < order.index(name)]
        deps = []
        for n in wanted:
            r = self.results.get(n)
            # GitLab lists a dependency's archive once the job uploaded one: it had
            # artifacts for its outcome (artifacts:when) and ran.
            if not r or not r.get("has_artifacts"):
                continue
            deps.append({"id": r["id"], "token": r["token"], "name": n,
                         "artifacts_file": {"filename": "artifacts.zip",
                                            "size": max(r["artifact_size"], 1)}})
        return deps

    def find_artifact(self, job_id):
        """The uploaded archive, when the artifacts directory is visible from here."""
        if not self.artifacts_dir:
            return None
        d = os.path.join(self.artifacts_dir, str(job_id), "archive")
        if not os.path.isdir(d):
            return None
        for f in sorted(os.listdir(d)):
            if not f.endswith(".meta"):
                return os.path.join(d, f)
        return None

    @staticmethod
    def uploaded(job, res):
        art = job.get("artifacts") or {}
        when = art.get("when", "on_success")
        if not art.get("paths"):
            return False
        stages = [s[0] for s in res.stages]
        return any(s.startswith("upload_artifacts") for s in stages) and (
            when == "always" or (when == "on_success") == (res.status == "success"))

    def collect_reports(self, name, job, artifact):
        """What GitLab's merge request widgets would read: artifacts:reports files."""
        reports = (job.get("artifacts") or {}).get("reports") or {}
        if not reports or not artifact:
            return {}
        found = {}
        members = {}
        try:
            if zipfile.is_zipfile(artifact):
                with zipfile.ZipFile(artifact) as z:
                    members = {n: z.read(n) for n in z.namelist()}
            else:
                with tarfile.open(artifact) as t:
                    for m in t.getmembers():
                        if m.isfile():
                            members[m.name.lstrip("./")] = t.extractfile(m).read()
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
            print(f"pipeline: cannot read artifacts of {name}: {e}", file=sys.stderr)
            return {}
        for kind, path in reports.items():
            data = members.get(path)
            if data is None:
                continue
            dest = os.path.join(self.out, f"{name}-{kind}-{os.path.basename(path)}")
            with open(dest, "wb") as f:
                f.write(data)
            found[kind] = dest
        return found

    def run(self):
        os.makedirs(self.out, exist_ok=True)
        env = dict(self.base_vars)
        env.setdefault("CI_COMMIT_BRANCH", self.ref)
        env.setdefault("CI_DEFAULT_BRANCH", "main")
        jobs = self.jobs()
        order = [n for n, _ in jobs]
        failed = False
        job_id = self.pipeline_id * 100
        for name, job in jobs:
            when = job_when(job, env)
            if when == "never" or (failed and when != "always") or \
                    (not failed and when == "on_failure"):
                self.results[name] = {"status": "skipped"}
                print(f"== job {name}: skipped", flush=True)
                continue
            job_id += 1
            deps = self.dependencies_for(name, job, order)
            desc = self.job_desc(name, job, job_id, deps)
            log_path = os.path.join(self.out, f"{name}.log")
            print(f"== job {name} (#{job_id}, stage {desc['stage']}, image {desc['image']})",
                  flush=True)
            res = em.Emulator(self.runner, desc, log_path=log_path, echo=self.echo).run()
            artifact = self.find_artifact(job_id)
            reports = self.collect_reports(name, job, artifact)
            self.results[name] = {
                "id": job_id, "status": res.status, "final_line": res.final_line,
                "token": res.response.get("token", ""),
                "artifact": artifact,
                "has_artifacts": self.uploaded(job, res),
                "artifact_size": os.path.getsize(artifact) if artifact else 0,
                "reports": reports, "log": log_path,
            }
            if res.status != "success" and not desc["allow_failure"]:
                failed = True
        with open(os.path.join(self.out, "pipeline.json"), "w") as f:
            json.dump({n: {k: v for k, v in r.items() if k != "token"}
                       for n, r in self.results.items()}, f, indent=2)
        return not failed


def junit_summary(path):
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return tests, failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True, help="directory holding .gitlab-ci.yml")
    ap.add_argument("--config-toml", required=True, help="gitlab-runner config.toml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--repo-url", required=True)
    ap.add_argument("--sha", required=True)
    ap.add_argument("--ref", default="main")
    ap.add_argument("--pipeline-id", type=int, default=1)
    ap.add_argument("--artifacts-dir", default=os.environ.get("CD_STANDIN_ARTIFACTS_DIR", ""))
    ap.add_argument("--var", action="append", default=[], help="K=V pipeline variable")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    runner = em.RunnerSettings.from_toml(a.config_toml, prepare_retry_interval=1.0)
    base = dict(v.split("=", 1) for v in a.var)
    p = Pipeline(a.project, runner, a.out, a.repo_url, a.sha, a.ref, a.pipeline_id, base,
                 a.artifacts_dir, echo=not a.quiet)
    ok = p.run()
    print("\n== pipeline summary")
    for name, r in p.results.items():
        line = f"  {name:<10} {r['status']}"
        j = r.get("reports", {}).get("junit")
        if j:
            t, fl = junit_summary(j)
            line += f"   junit: {t} tests, {fl} failed"
        if r.get("reports", {}).get("metrics"):
            line += "   metrics: " + os.path.basename(r["reports"]["metrics"])
        print(line)
    print("  pipeline   " + ("passed" if ok else "failed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
