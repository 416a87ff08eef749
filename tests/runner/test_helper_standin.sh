#!/bin/sh
# Tests of the gitlab-runner helper stand-in, under every POSIX shell we have (busybox sh,
# dash/sh): flags, exit codes, messages, round trips. TAP output; ctest protocol/helper-standin.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
GR=$HERE/gitlab-runner
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }

shells="sh"
if command -v busybox >/dev/null 2>&1; then shells="$shells busybox"; fi

for shell in $shells; do
    if [ "$shell" = busybox ]; then run() { busybox sh "$GR" "$@"; }; else run() { sh "$GR" "$@"; }; fi
    W=$(mktemp -d)
    export CD_STANDIN_ARTIFACTS_DIR=$W/store
    mkdir -p "$W/proj/model/sub" "$W/proj/.venv" && cd "$W/proj" || exit 1
    echo a >model/a.txt
    echo 'b c' >"model/sub/with space.txt"
    echo x >model/skip.log
    echo v >.venv/v

    run --version | grep -q '^Version:      19.4.0$'
    ok $? "$shell: --version prints the runner version"
    CD_STANDIN_RUNNER_VERSION=17.0.1 run --version | grep -q '^Version:      17.0.1$'
    ok $? "$shell: version follows CD_STANDIN_RUNNER_VERSION"

    # exactly the flags 19.4's upload_artifacts_on_success emits
    out=$(run artifacts-uploader --url https://gitlab.example.com --token glcbt-64_tok --id 4242 \
        --timeout 1h0m0s --response-header-timeout 10m0s --path model/ --exclude 'model/*.log' \
        --name model --expire-in '1 week' --artifact-format zip --artifact-type archive 2>&1)
    rc=$?
    ok $rc "$shell: artifacts-uploader with 19.4's flags exits 0"
    echo "$out" | grep -q '^model: found 4 matching artifact files and directories$'
    ok $? "$shell: uploader counts files and directories like the real one"
    echo "$out" | grep -q 'model/\*.log: excluded 1 files'
    ok $? "$shell: excludes are reported"
    echo "$out" | grep -q 'Uploading artifacts as "archive" to coordinator... 201 Created  id=4242'
    ok $? "$shell: 201 Created line"
    [ -f "$W/store/4242/archive/model.zip" ]
    ok $? "$shell: stored under <dir>/<job id>/<type>/<name>.zip"
    grep -q '^expire_in=1 week$' "$W/store/4242/archive/model.zip.meta"
    ok $? "$shell: metadata kept"

    mkdir "$W/dl" && cd "$W/dl" || exit 1
    run artifacts-downloader --url https://gitlab.example.com --token glcbt-64_tok --id 4242 2>/dev/null
    ok $? "$shell: artifacts-downloader exits 0"
    [ "$(cat "model/sub/with space.txt")" = "b c" ] && [ ! -e model/skip.log ]
    ok $? "$shell: round trip keeps names with spaces and drops excluded files"

    run artifacts-downloader --url u --token t --id 99 >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: downloader: unknown job → exit 1"
    out=$(run artifacts-downloader --url u --token t --id 99 2>&1)
    echo "$out" | grep -q 'FATAL: file does not exist'
    ok $? "$shell: downloader 404 message"

    cd "$W/proj" || exit 1
    out=$(run artifacts-uploader --url u --token t --id 5 --path nothing/ 2>&1)
    rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q 'ERROR: No files to upload' &&
        echo "$out" | grep -q 'nothing: no matching files. Ensure that the artifact path is relative to the working directory'
    ok $? "$shell: no files → warning, ERROR line, exit 0 (rc=$rc)"

    run artifacts-uploader --token t --id 5 --path model >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: missing --url → Missing runner credentials, exit 1"
    out=$(run artifacts-uploader --url u --token t --path model 2>&1)
    echo "$out" | grep -q 'FATAL: Missing build ID'
    ok $? "$shell: missing --id"

    mkdir -p "$W/store/6" && touch "$W/store/6/.forbidden"
    run artifacts-uploader --url u --token t --id 6 --path model >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: 403 → exit 1"
    CD_STANDIN_MAX_ARTIFACT_SIZE=10 run artifacts-uploader --url u --token t --id 7 --path model >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: 413 → exit 1"
    (unset CD_STANDIN_ARTIFACTS_DIR; run artifacts-uploader --url u --token t --id 8 --path model >/dev/null 2>&1)
    [ $? -eq 1 ]
    ok $? "$shell: unreachable GitLab → exit 1 after retries"

    run artifacts-uploader --url u --token t --id 9 --path model --bogus x >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: unknown flag → exit 1"
    run frobnicate >/dev/null 2>&1
    [ $? -eq 3 ]
    ok $? "$shell: unknown command → exit 3"
    run artifacts-uploader --url=u --token=t --id=10 --path=model --untracked >/dev/null 2>&1
    [ $? -eq 0 ] && [ -f "$W/store/10/archive/artifacts.zip" ]
    ok $? "$shell: --flag=value form and default name 'artifacts'"

    # cache: exactly the flags 19.4's archive_cache emits
    printf 'CACHE_METADATA={"cachekey":"k"}\n' >"$W/cache.env"
    out=$(run cache-archiver --file ../cache/grp/nlu/k/cache.zip --alternate-file ../cache/alt/cache.zip \
        --timeout 10 --path .venv --path model/ --env-file "$W/cache.env" 2>&1)
    rc=$?
    [ $rc -eq 0 ] && [ -f ../cache/grp/nlu/k/cache.zip ] &&
        echo "$out" | grep -q 'Cache will be stored only locally'
    ok $? "$shell: cache-archiver creates the local archive (rc=$rc)"
    out=$(run cache-archiver --file ../cache/grp/nlu/k/cache.zip --timeout 10 --path .venv 2>&1)
    echo "$out" | grep -q 'Archive is up to date!'
    ok $? "$shell: unchanged files → Archive is up to date!"
    rm -rf .venv model
    out=$(run cache-extractor --file ../cache/grp/nlu/k/cache.zip --timeout 10 2>&1)
    rc=$?
    [ $rc -eq 0 ] && [ -f .venv/v ] && [ -f model/a.txt ]
    ok $? "$shell: cache-extractor restores the files (rc=$rc)"
    run cache-extractor --file ../cache/none/cache.zip --timeout 10 >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: missing cache file → exit 1 (script prints Failed to extract cache)"
    run cache-extractor --timeout 10 >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: no --file → exit 1"
    run cache-archiver --timeout 10 --path x >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: archiver without --file → exit 1"
    run cache-archiver --file ../cache/e/cache.zip --timeout 10 --env-file /nonexistent --path x >/dev/null 2>&1
    [ $? -eq 1 ]
    ok $? "$shell: unreadable --env-file → exit 1"

    cd / && rm -rf "$W"
done

echo "1..$n"
[ "$failed" -eq 0 ]
