#!/bin/sh
# conductor-nlu train/parse end to end: exit codes, reproducible archives, JSON lines.
# usage: nlu_model_cli.sh CONDUCTOR_NLU SHARED_DIR
set -u
B=$1
DATA=$2/data/braun2017/Chatbot
[ -r "$DATA/train.yml" ] || { echo "1..0 # SKIP no shared data"; [ "${CD_TEST_MUST_WORK:-}" = 1 ] && exit 1; exit 77; }
T=$(mktemp -d /tmp/nlu_model_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0 fail=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fail=1; fi; }

export SOURCE_DATE_EPOCH=1700000000
"$B" train "$DATA/train.yml" --out "$T/a.tar.gz" --seed 3 > "$T/train.out"; rc=$?
check "train exits 0" '[ $rc -eq 0 ]'
check "train prints a summary" 'grep -q "intents" "$T/train.out"'
"$B" train "$DATA/train.yml" --out "$T/b.tar.gz" --seed 3 -q
check "same data + seed: identical archives" 'cmp -s "$T/a.tar.gz" "$T/b.tar.gz"'
"$B" train "$DATA/train.yml" --out "$T/c.tar.gz" --seed 3 --bogus 2> /dev/null; rc=$?
check "unknown option: exit 2" '[ $rc -eq 2 ]'
"$B" train --out "$T/c.tar.gz" 2> "$T/err"; rc=$?
check "no data: exit 2" '[ $rc -eq 2 ]'
printf 'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x [y]{"entity": 5}\n    - q\n- intent: b\n  examples: |\n    - r\n    - s\n' > "$T/bad.yml"
"$B" train "$T/bad.yml" --out "$T/c.tar.gz" 2> "$T/err"; rc=$?
check "bad data: exit 1" '[ $rc -eq 1 ]'
check "bad data: message names the file" 'grep -q "bad.yml" "$T/err"'

printf 'what time does the next train leave\nwhen is the next s-bahn\n' |
    "$B" parse --model "$T/a.tar.gz" > "$T/out"; rc=$?
check "parse exits 0" '[ $rc -eq 0 ]'
check "one JSON line per input line" '[ "$(wc -l < "$T/out")" -eq 2 ]'
check "Rasa parse shape" 'grep -q "\"intent\":{\"name\":\"DepartureTime\"" "$T/out" && grep -q "\"intent_ranking\":\[" "$T/out" && grep -q "\"entities\":\[" "$T/out"'
"$B" parse --model "$T/a.tar.gz" --text "from Garching to Hauptbahnhof" > "$T/out2"
check "--text" 'grep -q "\"text\":\"from Garching to Hauptbahnhof\"" "$T/out2"'
printf 'ok line\nbad \377 line\n' | "$B" parse --model "$T/a.tar.gz" > "$T/out3"; rc=$?
check "invalid UTF-8 line: exit 1" '[ $rc -eq 1 ]'
check "invalid UTF-8 line: error object in place" '[ "$(wc -l < "$T/out3")" -eq 2 ] && grep -q "\"error\"" "$T/out3"'
# many lines, a bad one among them: several threads must give the one-thread output, in order
for i in $(seq 1 700); do echo "when is train $i from Garching"; [ "$i" = 350 ] && printf 'bad \377\n'; done > "$T/many"
"$B" parse --model "$T/a.tar.gz" --threads 1 < "$T/many" > "$T/t1"; rc1=$?
"$B" parse --model "$T/a.tar.gz" --threads 3 < "$T/many" > "$T/t3"; rc3=$?
check "--threads 3: same lines, same order as --threads 1" '[ "$(wc -l < "$T/t1")" -eq 701 ] && cmp -s "$T/t1" "$T/t3"'
check "--threads: a bad line still exits 1" '[ $rc1 -eq 1 ] && [ $rc3 -eq 1 ]'
check "--threads: line 351 is the error, in place" 'sed -n 351p "$T/t3" | grep -q "\"error\"" && sed -n 352p "$T/t3" | grep -q "train 351 from"'
"$B" parse --model "$T/a.tar.gz" --threads 0 --text hi 2> "$T/err"; rc=$?
check "--threads 0: exit 2 with a message" '[ $rc -eq 2 ] && grep -q "threads" "$T/err"'
head -c 100 "$T/a.tar.gz" > "$T/trunc.tar.gz"
"$B" parse --model "$T/trunc.tar.gz" --text hi 2> "$T/err"; rc=$?
check "truncated model: exit 2 with a message" '[ $rc -eq 2 ] && grep -q "trunc.tar.gz" "$T/err"'
echo "1..$n"
exit $fail
