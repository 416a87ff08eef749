#!/bin/sh
# data/report-conductor-nlu: the renderer on what our own `conductor-nlu test` writes (real
# SVG charts, our entity report), on a real data set: cross-validate Braun et al.'s Chatbot
# corpus, render, convert with cmark-gfm, and check the page's rules plus that the headline
# numbers are the ones in the written intent_report.json.
set -eu
nlu=$1
render=$2
here=$(cd "$(dirname "$0")" && pwd)
data=${CD_SHARED_DIR:-$here/../../../shared}/data/braun2017/Chatbot/train.yml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
skip() {
    echo "1..0 # SKIP $*"
    [ "${CD_TEST_MUST_WORK:-0}" = 1 ] && exit 1
    exit 77
}
[ -x "$nlu" ] || skip "conductor-nlu not built: $nlu"
[ -f "$data" ] || skip "shared data not found: $data"
command -v cmark-gfm >/dev/null || skip "cmark-gfm not installed (scripts/install-deps)"
command -v python3 >/dev/null || skip "python3 not installed"

"$nlu" test "$data" --cross-validation --folds 3 --seed 7 --out "$out/results" >"$out/nlu.log" 2>&1 || {
    cat "$out/nlu.log"
    echo "not ok 1 - conductor-nlu test --cross-validation failed"
    exit 1
}
charts=""
for f in "$out"/results/*.svg; do
    [ -f "$f" ] || continue
    n=$(basename "$f")
    charts="$charts --attach $n=uploads/0123456789abcdef0123456789abcdef/$n"
done
# shellcheck disable=SC2086
"$render" --results "$out/results" --meta "$here/fixtures/meta.json" --slug nlu-reports/cv $charts \
    --out "$out/page.md" --index-out "$out/index.md" 2>"$out/warnings.txt"
for f in page index; do
    cmark-gfm --unsafe -e table -e strikethrough -e autolink "$out/$f.md" >"$out/$f.html"
done
python3 - "$out/results/intent_report.json" >"$out/expect.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"md: (accuracy {r['accuracy']:.3f}, ")
print(f"md: | Intent F1, macro average (every intent counts the same) | {r['macro avg']['f1-score']:.3f} |")
print(f"md: | Intent F1, weighted average (by test messages) | {r['weighted avg']['f1-score']:.3f} |")
print("md: ![Intent confusion matrix](uploads/0123456789abcdef0123456789abcdef/intent_confusion_matrix.svg)")
print("md: ![Intent confidence histogram](uploads/0123456789abcdef0123456789abcdef/intent_histogram.svg)")
print("!md: ## Notes")
PY
python3 "$here/check-html.py" "$out" "$out/expect.txt"
