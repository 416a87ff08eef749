#!/bin/sh
# data/report-<fixture>: render a results directory written in Rasa's shapes, turn the Markdown
# into HTML the way GitLab's Markdown engine family does (cmark-gfm, GFM tables), and check both:
# the expectations in expect/<fixture>.txt, and check-html.py's structural rules (tables intact,
# no raw HTML from user text). A fixture "<name>-previous" beside it is rendered first and
# passed as the previous report, so the deltas are checked too.
set -eu
render=$1
fx=$2
name=$(basename "$fx")
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

skip() {
    echo "1..0 # SKIP $*"
    [ "${CD_TEST_MUST_WORK:-0}" = 1 ] && exit 1
    exit 77
}
command -v cmark-gfm >/dev/null || skip "cmark-gfm not installed (scripts/install-deps)"
command -v python3 >/dev/null || skip "python3 not installed (scripts/install-deps)"

prev_args=""
if [ -d "$fx-previous" ]; then
    "$render" --results "$fx-previous" --meta "$here/fixtures/meta.json" \
        --slug nlu-reports/previous --out "$out/prev.md" --index-out "$out/index0.md" 2>/dev/null
    prev_args="--previous $out/prev.md --index $out/index0.md"
fi
# shellcheck disable=SC2086
"$render" --results "$fx" --meta "$here/fixtures/meta.json" --slug nlu-reports/this $prev_args \
    --attach intent_confusion_matrix.png=uploads/0123456789abcdef0123456789abcdef/intent_confusion_matrix.png \
    --attach intent_confusion_matrix.svg=uploads/fedcba9876543210fedcba9876543210/intent_confusion_matrix.svg \
    --out "$out/page.md" --index-out "$out/index.md" 2>"$out/warnings.txt"
for f in page index; do
    cmark-gfm --unsafe -e table -e strikethrough -e autolink "$out/$f.md" >"$out/$f.html"
done
python3 "$here/check-html.py" "$out" "$here/expect/$name.txt"
