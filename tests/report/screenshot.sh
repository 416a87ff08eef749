#!/bin/sh
# data/report-screenshot: render the `conductor` fixture (with `conductor-previous` as the
# previous report) as GitLab would show it: cmark-gfm HTML inside a page styled like GitLab's
# wiki, charts served from uploads/<hex>/ as the wiki does, then a headless Chromium
# screenshot. The picture is kept at $CD_BINARY_DIR/tests/report/report-page.png (and
# report-index.png) for a person to look at; the test checks it is a real, non-blank image of
# the expected size.
set -eu
render=$1
fixtures=$2
outdir=${CD_BINARY_DIR:-.}/tests/report
work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT

skip() {
    echo "1..0 # SKIP $*"
    [ "${CD_TEST_MUST_WORK:-0}" = 1 ] && exit 1
    exit 77
}
command -v cmark-gfm >/dev/null || skip "cmark-gfm not installed (scripts/install-deps)"
command -v python3 >/dev/null || skip "python3 not installed"
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chrome" ] || skip "chromium not installed (scripts/install-deps)"
mkdir -p "$outdir"

hex1=0123456789abcdef0123456789abcdef
hex2=fedcba9876543210fedcba9876543210
hex3=00112233445566778899aabbccddeeff
for pair in "$hex1 intent_confusion_matrix.svg" "$hex2 intent_histogram.svg" \
            "$hex3 CRFEntityExtractor_confusion_matrix.svg"; do
    set -- $pair
    mkdir -p "$work/uploads/$1"
    cp "$fixtures/conductor/$2" "$work/uploads/$1/$2"
done
"$render" --results "$fixtures/conductor-previous" --meta "$fixtures/meta-previous.json" \
    --slug nlu-reports/2026-11-24-101500-previous --out "$work/prev.md" --index-out "$work/index0.md" 2>/dev/null
"$render" --results "$fixtures/conductor" --meta "$fixtures/meta.json" \
    --slug nlu-reports/2026-11-25-140307-3f2c9a1b --previous "$work/prev.md" --index "$work/index0.md" \
    --attach "intent_confusion_matrix.svg=uploads/$hex1/intent_confusion_matrix.svg" \
    --attach "intent_histogram.svg=uploads/$hex2/intent_histogram.svg" \
    --attach "CRFEntityExtractor_confusion_matrix.svg=uploads/$hex3/CRFEntityExtractor_confusion_matrix.svg" \
    --out "$work/page.md" --index-out "$work/index.md" 2>/dev/null

for f in page index; do
    {
        cat <<'HEAD'
<!DOCTYPE html><html><head><meta charset="utf-8"><style>
/* close to GitLab's wiki rendering (.md class): system font, 16px, bordered tables */
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; font-size: 15px;
       color: #333238; max-width: 1100px; margin: 24px auto; line-height: 1.5; }
h1 { font-size: 1.75em; border-bottom: 1px solid #dcdcde; padding-bottom: .3em; }
h2 { font-size: 1.4em; border-bottom: 1px solid #dcdcde; padding-bottom: .3em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0 0 16px; }
th, td { border: 1px solid #dcdcde; padding: 4px 10px; }
th { background: #fbfafd; }
tr:nth-child(even) td { background: #fbfafd; }
code { background: #ececef; padding: 1px 4px; border-radius: 4px; font-size: 90%; }
pre { background: #fbfafd; border: 1px solid #dcdcde; padding: 8px; }
blockquote { color: #535158; border-left: 3px solid #e3b13c; margin: 0; padding: 0 12px; background: #fdf6e3; }
a { color: #1f75cb; text-decoration: none; }
details { margin: 0 0 16px; } summary { cursor: pointer; color: #1f75cb; }
img { max-width: 100%; }
</style></head><body>
HEAD
        cmark-gfm --unsafe -e table -e strikethrough -e autolink "$work/$f.md"
        echo '</body></html>'
    } >"$work/$f.html"
    png="$outdir/report-$f.png"
    height=${HEIGHT:-2600}
    [ "$f" = index ] && height=800
    rm -f "$png"
    # --virtual-time-budget lets the SVGs load before the picture is taken
    timeout 90 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
        --virtual-time-budget=3000 --screenshot="$png" --window-size=1200,$height \
        "file://$work/$f.html" >"$work/chrome.log" 2>&1 || { cat "$work/chrome.log" >&2; echo "not ok - chromium failed"; exit 1; }
    cp "$work/$f.html" "$outdir/report-$f.html"
done
cp -r "$work/uploads" "$outdir/"

python3 - "$outdir/report-page.png" "$outdir/report-index.png" <<'PY'
import struct, sys, zlib
n = failed = 0
def ok(c, what):
    global n, failed
    n += 1; failed += not c
    print(("ok" if c else "not ok") + f" {n} - {what}")
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    ok(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: is a PNG")
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    ok(w == 1200, f"{path}: 1200 px wide ({w})")
    # decode IDAT and count distinct pixel rows: a blank or failed page is one colour
    idat, pos = b"", 8
    while pos < len(data):
        ln, = struct.unpack(">I", data[pos:pos + 4]); typ = data[pos + 4:pos + 8]
        if typ == b"IDAT": idat += data[pos + 8:pos + 8 + ln]
        pos += 12 + ln
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}.get(ctype, 4); stride = w * bpp + 1
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(h)}
    ok(len(rows) > 50, f"{path}: has content ({len(rows)} distinct pixel rows)")
print(f"1..{n}")
sys.exit(1 if failed else 0)
PY
