#!/bin/sh
# `conductor-nlu validate` end to end: exit codes (0 valid, 1 invalid or warnings with
# --fail-on-warnings, 2 usage/I-O), the `file:line:col: level: message [code]` shape of every
# finding, and the summary line, on the shared data and the loader's test cases.
# usage: validate_cli.sh CONDUCTOR_NLU SOURCE_DIR SHARED_DIR
set -u
bin=$1 src=$2 shared=$3
n=0 failed=0
check() { # name expected-status actual-status
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (exit $3, want $2)"; failed=$((failed + 1)); fi
}
shape() { # name file: every line but the summary lines has the diagnostic shape
    n=$((n + 1))
    bad=$(grep -v -E '^(.+:[0-9]+:[0-9]+|.+|data): (warning|error|note): .+ \[[a-z-]+\]$' "$2" |
          grep -v -E '^[0-9]+ files?, [0-9]+ examples, ' | grep -v '^Validation completed' |
          grep -v -E "^(error|fatal): " | head -3)
    if [ -z "$bad" ]; then echo "ok $n - $1: every line has the expected shape"
    else echo "not ok $n - $1: unexpected lines: $bad"; failed=$((failed + 1)); fi
}
has() { # name file regex
    n=$((n + 1))
    if grep -q -E "$3" "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1: no /$3/ in:"; sed 's/^/# /' "$2" | tail -5; failed=$((failed + 1)); fi
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ ! -d "$shared/data/snips" ]; then
    echo "1..0 # SKIP shared data not found"
    [ "${CD_TEST_MUST_WORK:-}" = 1 ] && exit 1
    exit 77
fi

"$bin" validate "$shared/data/snips/train.yml" >"$out"; check "SNIPS train is valid" 0 $?
shape "SNIPS" "$out"
has "SNIPS summary counts" "$out" '^1 file, 13784 examples, 7 intents, 39 entity types'
"$bin" validate "$shared/data/hwu64/train.yml" >"$out"; check "HWU64 train is valid" 0 $?
has "HWU64 summary counts" "$out" '^1 file, 9960 examples, 64 intents, 54 entity types'
"$bin" validate "$shared/data" >"$out"; check "all shared data is valid" 0 $?
shape "all shared data" "$out"
has "warnings carry positions" "$out" 'train.yml:[0-9]+:[0-9]+: warning: '
"$bin" validate --fail-on-warnings "$shared/data/hwu64/train.yml" >"$out"; check "--fail-on-warnings fails on warnings" 1 $?
has "says why it failed" "$out" '^Validation completed with warnings'
"$bin" validate --fail-on-warnings "$src/tests/data/nlu/domain-keys-ignored/input.yml" >"$out"
check "--fail-on-warnings passes clean data" 0 $?
"$bin" validate "$src/tests/data/nlu/bad-annotation/input.yml" >"$out"; check "bad annotations fail" 1 $?
shape "bad annotations" "$out"
has "error with position and code" "$out" 'input.yml:6:7: error: .*\[bad-annotation\]$'
"$bin" validate "$src/tests/data/nlu/malformed-yaml/input.yml" >"$out"; check "malformed YAML fails" 1 $?
has "the YAML error with its position" "$out" 'input.yml:6:2: error: invalid YAML'
"$bin" validate "$src/tests/data/nlu/invalid-utf8/input.yml" >"$out"; check "invalid UTF-8 fails" 1 $?
"$bin" validate "$src/tests/data/nlu/empty-file/input.yml" >"$out"; check "empty data fails" 1 $?
has "says there is no data" "$out" 'no NLU training examples found'
"$bin" validate "$src/tests/data/nlu/version-newer/input.yml" >"$out"; check "newer version: no data" 1 $?
has "explains the skipped file" "$out" 'warning: format version 4.0 is newer'
"$bin" validate -q "$src/tests/data/nlu/version-missing/input.yml" >"$out"; check "-q on valid data" 0 $?
n=$((n + 1)); if grep -q 'note:' "$out"; then echo "not ok $n - -q hides notes"; failed=$((failed + 1)); else echo "ok $n - -q hides notes"; fi
"$bin" validate /nonexistent/data.yml >"$out" 2>&1; check "missing path is an I/O error" 2 $?
"$bin" validate >"$out" 2>&1; check "no arguments is a usage error" 2 $?
"$bin" validate --bogus x >"$out" 2>&1; check "unknown option is a usage error" 2 $?
echo "1..$n"
[ $failed -eq 0 ]
