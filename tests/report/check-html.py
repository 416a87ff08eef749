#!/usr/bin/env python3
"""Checks a rendered report (page.md/.html, index.md/.html, warnings.txt in DIR) against the
rules every page must keep, then against an expectation file with lines:
  md: TEXT      the page's Markdown contains TEXT      !md: TEXT   it must not
  html: TEXT    the page's HTML contains TEXT          !html: TEXT it must not
  index: TEXT   the index page's Markdown contains TEXT
  warn: TEXT    the renderer's warnings contain TEXT
Prints TAP; exit 0 if all pass."""
import html.parser, json, re, sys

d, expect = sys.argv[1], sys.argv[2]
read = lambda n: open(f"{d}/{n}", encoding="utf-8").read()
page_md, page_html, idx_md, idx_html, warns = (read("page.md"), read("page.html"), read("index.md"),
                                               read("index.html"), read("warnings.txt"))
n = failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")

class Tables(html.parser.HTMLParser):
    """Counts cells per row per table; records every tag, attribute and comment."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.tags, self.comments, self.stack = [], [], [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append(0)
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1] += 1
        if tag in ("details", "summary"):
            self.stack.append(tag)
    def handle_endtag(self, tag):
        if tag in ("details", "summary"):
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
            else:
                self.stack.append("unbalanced " + tag)
    def handle_comment(self, data):
        self.comments.append(data)

for label, doc, tag in (("page", page_html, "conductor-report"), ("index", idx_html, "conductor-index")):
    p = Tables()
    p.feed(doc)
    ok(len(p.tables) >= 1, f"{label}: has at least one table ({len(p.tables)})")
    for i, rows in enumerate(p.tables):
        ok(rows and all(c == rows[0] for c in rows), f"{label}: table {i} keeps {rows[0] if rows else 0} cells in every row")
    allowed = {"h1", "h2", "h3", "p", "strong", "em", "a", "img", "table", "thead", "tbody", "tr", "th",
               "td", "details", "summary", "ul", "li", "code", "pre", "blockquote", "br"}
    bad = sorted({t for t, _ in p.tags if t not in allowed})
    ok(not bad, f"{label}: only expected HTML elements (unexpected: {bad})")
    hrefs = [a.get("href", "") for t, a in p.tags if t == "a"]
    ok(all(re.match(r"^(https?://|#|[A-Za-z0-9._~%+-]+/)", h) for h in hrefs),
       f"{label}: every link is http(s), an anchor or a wiki slug ({[h for h in hrefs if not re.match(r'^(https?://|#|[A-Za-z0-9._~%+-]+/)', h)]})")
    srcs = [a.get("src", "") for t, a in p.tags if t == "img"]
    ok(all(s.startswith("uploads/") for s in srcs), f"{label}: images only from wiki uploads ({srcs})")
    ok(not any(k.startswith("on") for _, a in p.tags for k in a), f"{label}: no event-handler attributes")
    ok(not p.stack, f"{label}: <details>/<summary> balanced ({p.stack})")
    blocks = [c for c in p.comments if c.strip().startswith(tag + ":")]
    ok(len(blocks) == 1, f"{label}: exactly one machine-readable block ({len(blocks)})")
    if blocks:
        try:
            obj = json.loads(blocks[0].strip()[len(tag) + 1:])
            ok(obj.get("v") == 1, f"{label}: block is JSON with v=1")
        except ValueError as e:
            ok(False, f"{label}: block is JSON ({e})")
    ok("<script" not in doc.lower(), f"{label}: no <script> in the HTML")

for line in open(expect, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    kind, _, text = line.partition(": ")
    text = text.replace("\\n", "\n")
    hay = {"md": page_md, "!md": page_md, "html": page_html, "!html": page_html,
           "index": idx_md, "warn": warns}[kind]
    neg = kind.startswith("!")
    ok((text in hay) != neg, f"{kind} {text!r}")
print(f"1..{n}")
sys.exit(1 if failed or n == 0 else 0)
