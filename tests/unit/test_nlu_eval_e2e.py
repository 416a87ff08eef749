#!/usr/bin/python3
"""End to end: `conductor-nlu train` + `conductor-nlu test` on the Braun Chatbot corpus, then
every output file is checked against the shapes `rasa test nlu` writes
(../shared/docs/rasa-formats.md §2), plus junit.xml, metrics.txt and the SVG charts; then
cross-validation (reproducible with --seed, Rasa's printout, dropped intents), the
--fail-under gate and bad arguments. TAP output; exit 0 pass, 1 fail, 77 skip."""
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

n_tests = 0
failed = 0


def ok(cond, msg):
    global n_tests, failed
    n_tests += 1
    if not cond:
        failed += 1
    print(f"{'ok' if cond else 'not ok'} {n_tests} - {msg}", flush=True)
    return cond


def skip_all(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(1 if os.environ.get("CD_TEST_MUST_WORK") == "1" else 77)


def run(*args, **kw):
    return subprocess.run([NLU, *args], capture_output=True, text=True, **kw)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=lambda pairs: dict(pairs))


NLU = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CD_BINARY_DIR", "."), "executor", "conductor-nlu")
shared = os.environ.get("CD_SHARED_DIR", "../shared")
CHATBOT = os.path.join(shared, "data", "braun2017", "Chatbot")
WEBAPPS = os.path.join(shared, "data", "braun2017", "WebApplications")
if not os.path.isfile(os.path.join(CHATBOT, "test.yml")):
    skip_all(f"no shared data at {CHATBOT}")

tmp = tempfile.TemporaryDirectory(prefix="nlu-e2e-")
model = os.path.join(tmp.name, "model.tar.gz")
r = run("train", os.path.join(CHATBOT, "train.yml"), "--out", model)
if "is not built in this binary" in r.stderr:
    skip_all("conductor-nlu has no train command yet")
ok(r.returncode == 0 and os.path.isfile(model), f"train: exit {r.returncode} {r.stderr[-300:]}")

out = os.path.join(tmp.name, "results")
test_yml = os.path.join(CHATBOT, "test.yml")
r = run("test", test_yml, "--model", model, "--out", out, "--successes")
ok(r.returncode == 0, f"test: exit {r.returncode} {r.stderr[-300:]}")
ok("Intent evaluation results" in r.stdout and re.search(r"^Accuracy:\s+\d\.\d{3}$", r.stdout, re.M),
   "prints Rasa's intent results")

# The gold intents of the test file, in order, straight from the YAML.
gold = []
cur = None
with open(test_yml, encoding="utf-8") as f:
    for line in f:
        m = re.match(r"- intent: (.*)$", line)
        if m:
            cur = m.group(1).strip()
        elif re.match(r"\s+- ", line) and cur:
            gold.append(cur)
n = len(gold)

# --- intent_report.json --------------------------------------------------------------------
rep = load_json(os.path.join(out, "intent_report.json"))
keys = list(rep)
labels = [k for k in keys if isinstance(rep[k], dict) and "confused_with" in rep[k]]
ok(set(labels) == set(gold), f"one row per gold intent ({len(labels)})")
tail = keys[len(labels):]
ok(tail in (["accuracy", "macro avg", "weighted avg", "micro avg"],
            ["micro avg", "macro avg", "weighted avg", "accuracy"]),
   f"rows first, then Rasa 3.1+'s four aggregate keys in sklearn order: {tail}")
row_ok = all(list(rep[l]) == ["precision", "recall", "f1-score", "support", "confused_with"]
             and all(isinstance(rep[l][k], float) for k in ("precision", "recall", "f1-score"))
             and isinstance(rep[l]["support"], int) and isinstance(rep[l]["confused_with"], dict)
             for l in labels)
ok(row_ok, "per-label keys, order and types (floats, int support, dict confused_with)")
ok(all(len(rep[l]["confused_with"]) <= 3 and l not in rep[l]["confused_with"]
       and all(isinstance(v, int) and v > 0 for v in rep[l]["confused_with"].values())
       for l in labels), "confused_with: at most 3 other labels with positive int counts")
ok(sum(rep[l]["support"] for l in labels) == n == rep["macro avg"]["support"]
   == rep["weighted avg"]["support"], f"supports sum to the {n} test utterances")
ok(isinstance(rep["accuracy"], float), "accuracy is a float")
for avg in ("macro avg", "weighted avg", "micro avg"):
    ok(list(rep[avg]) == ["precision", "recall", "f1-score", "support"], f"{avg} keys")
if tail[0] == "accuracy":
    ok(all(rep["micro avg"][k] == rep["accuracy"] for k in ("precision", "recall", "f1-score")),
       "micro avg = accuracy when every prediction is a gold label")
macro = sum(rep[l]["f1-score"] for l in labels) / len(labels)
ok(abs(macro - rep["macro avg"]["f1-score"]) < 1e-12, "macro avg is the mean of the rows")
weighted = sum(rep[l]["f1-score"] * rep[l]["support"] for l in labels) / n
ok(abs(weighted - rep["weighted avg"]["f1-score"]) < 1e-12, "weighted avg weights by support")

# --- intent_errors.json / intent_successes.json ---------------------------------------------
ep = os.path.join(out, "intent_errors.json")
errors = load_json(ep) if os.path.exists(ep) else []
succ = load_json(os.path.join(out, "intent_successes.json"))
ok(len(errors) + len(succ) == n, f"errors ({len(errors)}) + successes ({len(succ)}) = {n}")
shape = lambda e: (list(e) == ["text", "intent", "intent_prediction"]
                   and list(e["intent_prediction"]) == ["name", "confidence"]
                   and isinstance(e["intent_prediction"]["confidence"], float))
ok(all(map(shape, errors + succ)), "error/success entries: text, intent, intent_prediction{name, confidence}")
ok(all(e["intent"] != e["intent_prediction"]["name"] for e in errors)
   and all(e["intent"] == e["intent_prediction"]["name"] for e in succ), "errors wrong, successes right")
ok(abs(len(succ) / n - rep["accuracy"]) < 1e-12, "accuracy = successes / utterances")

# --- entity report (the Chatbot corpus is annotated) ---------------------------------------
ent_reports = [f for f in os.listdir(out) if f.endswith("_report.json") and f != "intent_report.json"]
if ent_reports:
    ext = ent_reports[0][: -len("_report.json")]
    er = load_json(os.path.join(out, ent_reports[0]))
    ok("no_entity" not in er, f"{ent_reports[0]}: no no_entity row")
    ok(list(er)[-4:] == ["micro avg", "macro avg", "weighted avg", "accuracy"]
       or list(er)[-4:] == ["accuracy", "macro avg", "weighted avg", "micro avg"],
       "entity report aggregate keys")
    eep = os.path.join(out, f"{ext}_errors.json")
    if os.path.exists(eep):
        ee = load_json(eep)
        ok(all(list(e) == ["text", "entities", "predicted_entities"] for e in ee),
           "entity errors: text, entities, predicted_entities")
        ok(all(p.get("extractor") == ext for e in ee for p in e["predicted_entities"]),
           "predicted entities name the extractor the report is named after")
        ok(all({"start", "end", "value", "entity"} <= set(g) for e in ee for g in e["entities"]),
           "gold entities carry start, end, value, entity")
else:
    ok(True, "# no entity predictions: Rasa writes no entity report then")

# --- junit.xml ------------------------------------------------------------------------------
root = ET.parse(os.path.join(out, "junit.xml")).getroot()
ok(root.tag == "testsuites", "junit root is testsuites")
suites = {s.get("name"): s for s in root.findall("testsuite")}
ints = suites.get("intents")
ok(ints is not None and int(ints.get("tests")) == n and len(ints.findall("testcase")) == n,
   "one intent testcase per utterance")
fails = [c for c in ints.findall("testcase") if c.find("failure") is not None]
ok(len(fails) == len(errors) == int(ints.get("failures")), "a failure per misclassified utterance")
ok(all(c.get("classname") and c.get("name") for c in ints.findall("testcase")),
   "testcases have classname and name")
ok(int(root.get("tests")) == sum(int(s.get("tests")) for s in suites.values()),
   "testsuites total matches its suites")

# --- metrics.txt ----------------------------------------------------------------------------
with open(os.path.join(out, "metrics.txt"), encoding="utf-8") as f:
    metrics = f.read()
ok(metrics.endswith("# EOF\n"), "metrics.txt ends with # EOF")
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"\})? -?\d+(\.\d+)?$')
bad = [l for l in metrics.splitlines() if not (l.startswith("# ") or sample.match(l))]
ok(not bad, f"every line is a comment or an OpenMetrics sample {bad[:2]}")
m = re.search(r"^nlu_intent_accuracy (\S+)$", metrics, re.M)
ok(m and abs(float(m.group(1)) - rep["accuracy"]) < 5e-5, "nlu_intent_accuracy = the report's")
ok(len(re.findall(r"^nlu_intent_label_f1\{intent=", metrics, re.M)) == len(labels),
   "per-intent F1 samples")

# --- charts ---------------------------------------------------------------------------------
for svg in ("intent_confusion_matrix.svg", "intent_histogram.svg"):
    r_ = ET.parse(os.path.join(out, svg)).getroot()
    ok(r_.tag == "{http://www.w3.org/2000/svg}svg", f"{svg} is well-formed SVG")

# --- cross-validation -----------------------------------------------------------------------
train_yml = os.path.join(CHATBOT, "train.yml")
cv1, cv2 = os.path.join(tmp.name, "cv1"), os.path.join(tmp.name, "cv2")
a = run("test", train_yml, "--cross-validation", "--folds", "3", "--seed", "7", "--out", cv1)
b = run("test", train_yml, "--cross-validation", "--folds", "3", "--seed", "7", "--out", cv2)
ok(a.returncode == 0 and b.returncode == 0, f"cross-validation runs {a.stderr[-200:]}")
lines = a.stdout.splitlines()
ok(lines[:2] == ["CV evaluation (n=3)", "Intent evaluation results"], "CV printout header")
for ds in ("train", "test"):
    for met in ("Accuracy", "F1-score", "Precision"):
        ok(any(re.fullmatch(rf"{ds} {met}: \d\.\d{{3}} \(\d\.\d{{3}}\)", l) for l in lines),
           f"`{ds} {met}: m (s)` line")
ok(all(f"fold {i}/3" in a.stderr for i in (1, 2, 3)), "progress per fold on stderr")
with open(os.path.join(cv1, "intent_report.json"), "rb") as f1, \
        open(os.path.join(cv2, "intent_report.json"), "rb") as f2:
    ok(f1.read() == f2.read(), "same --seed, same report")
# cross_validation.json (docs/report.md): per-fold lists whose mean and population std are
# what the printout says, so the wiki report's "mean ± std" matches the log
cvj = load_json(os.path.join(cv1, "cross_validation.json"))
ok(cvj.get("folds") == 3, "cross_validation.json: folds")
for ds in ("train", "test"):
    for met in ("Accuracy", "F1-score", "Precision"):
        vals = cvj.get(ds, {}).get(met)
        ok(isinstance(vals, list) and len(vals) == 3 and all(0 <= v <= 1 for v in vals),
           f"cross_validation.json: {ds} {met} has one value per fold")
        if not isinstance(vals, list) or not vals:
            continue
        mean = sum(vals) / len(vals)
        std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
        ok(f"{ds} {met}: {mean:.3f} ({std:.3f})" in lines,
           f"cross_validation.json: {ds} {met} mean/std match the printout")
ent = cvj.get("entities", {})
ok(all(len(ent.get(ds, {}).get(m, [])) == 3 for ds in ("train", "test")
       for m in ("Accuracy", "F1-score", "Precision")), "cross_validation.json: entity folds")
with open(os.path.join(cv1, "cross_validation.json"), "rb") as f1, \
        open(os.path.join(cv2, "cross_validation.json"), "rb") as f2:
    ok(f1.read() == f2.read(), "same --seed, same cross_validation.json")
ok(not os.path.exists(os.path.join(out, "cross_validation.json")),
   "a test run without --cross-validation writes no cross_validation.json")
cvrep = load_json(os.path.join(cv1, "intent_report.json"))
ok(sum(v["support"] for v in cvrep.values() if isinstance(v, dict) and "confused_with" in v) == 100,
   "CV report covers every training example once")
# folds trained at a time (--jobs) change nothing in the results, and progress stays in order
par = {}
for jobs in ("1", "5"):
    d = os.path.join(tmp.name, f"cv-jobs{jobs}")
    par[jobs] = (run("test", train_yml, "--cross-validation", "--folds", "5", "--seed", "3",
                     "--jobs", jobs, "--out", d), d)
ok(all(r.returncode == 0 for r, _ in par.values()), "cross-validation with --jobs 1 and 5")
ok("(1 at a time" in par["1"][0].stderr and "(5 at a time" in par["5"][0].stderr,
   "the printout says how many folds ran at a time")
names = sorted(os.listdir(par["1"][1]))
same = names == sorted(os.listdir(par["5"][1]))
for name in names:
    with open(os.path.join(par["1"][1], name), "rb") as f1, \
            open(os.path.join(par["5"][1], name), "rb") as f2:
        same = same and f1.read() == f2.read()
ok(same and len(names) >= 8, f"--jobs 1 and 5 write the same {len(names)} files, byte for byte")
ok(par["1"][0].stdout.splitlines()[:-1] == par["5"][0].stdout.splitlines()[:-1],
   "and print the same results")
pos = [par["5"][0].stderr.find(f"fold {i}/5:") for i in range(1, 6)]
ok(all(p >= 0 for p in pos) and pos == sorted(pos), "progress in fold order with 5 at a time")
w = run("test", os.path.join(WEBAPPS, "train.yml"), "--cross-validation", "--folds", "5",
        "--out", os.path.join(tmp.name, "cv3"))
ok("dropped intent" in w.stderr, "intents below the fold count are dropped, and said so")

# --- quality gate and bad arguments ---------------------------------------------------------
acc = rep["accuracy"]
g = run("test", test_yml, "--model", model, "--out", out, "--fail-under", f"accuracy={acc - 0.01:.4f}")
ok(g.returncode == 0, "gate below the score passes")
if acc < 0.999:
    g = run("test", test_yml, "--model", model, "--out", out,
            "--fail-under", f"f1=0,accuracy={acc + 0.001:.4f}")
    ok(g.returncode == 1 and "accuracy" in g.stderr and f"{acc:.4f}" in g.stderr,
       f"gate above the score exits 1 naming metric and value: {g.stderr.strip()[-160:]}")
for args in ([], ["test"], ["test", test_yml], ["test", test_yml, "--model", model, "--cross-validation"],
             ["test", test_yml, "--model", model, "--bogus"],
             ["test", test_yml, "--model", model, "--fail-under", "bogus=1"],
             ["test", test_yml, "--model", model, "--fail-under", "accuracy=1.5"],
             ["test", test_yml, "--cross-validation", "--folds", "1"],
             ["test", test_yml, "--cross-validation", "--jobs", "0"]):
    r = run(*args)
    ok(r.returncode == 2 and r.stderr.strip(), f"bad arguments {args} exit 2 with a message")

print(f"1..{n_tests}")
sys.exit(1 if failed else 0)
