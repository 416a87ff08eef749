#!/usr/bin/env python3
"""protocol/gitlab-standin: the stand-in against contract §8, over raw HTTP, so the errors the
C client is tested with are GitLab's (status and body, byte for byte where the contract gives
them). Prints TAP; exit 0 pass, 1 fail."""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
DEV, MAINT, READ = "glpat-c-dev-00000001", "glpat-c-maint-0000002", "glpat-c-read-0000003"
EXPIRED, REVOKED = "glpat-c-expired-00004", "glpat-c-revoked-00005"
JT, JT_DONE = "glcbt-c-job-000000006", "glcbt-c-done-00000007"

n = 0
failed = 0


def ok(cond, name):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)


class Client:
    def __init__(self, port):
        self.port = port

    def req(self, method, path, body=None, headers=None, form=None, js=None, raw_prefix=False):
        h = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if js is not None:
            body = json.dumps(js).encode()
            h["Content-Type"] = "application/json"
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path if raw_prefix else "/api/v4" + path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return r.status, parsed, r


def tok(t):
    return {"PRIVATE-TOKEN": t}


def multipart(field, filename, data):
    b = "----standinboundary"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n") % (b, field, filename)).encode()
    body += data + ("\r\n--%s--\r\n" % b).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=" + b}


def control(c, what, doc):
    s, _, _ = c.req("POST", "/__control/" + what, js=doc, raw_prefix=True)
    assert s == 200


def main():
    tmp = tempfile.mkdtemp(prefix="cd-conformance-")
    port_file = os.path.join(tmp, "port")
    args = [sys.executable, os.path.join(HERE, "standin.py"), "--data-dir",
            os.path.join(tmp, "data"), "--port-file", port_file]
    for role, v in (("dev", DEV), ("maint", MAINT), ("read", READ), ("expired", EXPIRED),
                    ("revoked", REVOKED), ("job", JT), ("job_done", JT_DONE)):
        args += ["--token", "%s=%s" % (role, v)]
    proc = subprocess.Popen(args)
    try:
        for _ in range(300):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        c = Client(int(open(port_file).read()))
        run(c, tmp)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


def run(c, tmp):
    W = "/projects/42/wikis"
    # ---- auth and routing
    s, b, _ = c.req("GET", W)
    ok(s == 404 and b == {"message": "404 Project Not Found"}, "#1 anonymous → 404 project")
    s, b, _ = c.req("GET", W, headers=tok("bogus"))
    ok(s == 401 and b == {"message": "401 Unauthorized"}, "#2 bogus PAT → 401")
    s1, b1, _ = c.req("GET", W, headers={"Authorization": "Bearer " + DEV})
    s2, b2, _ = c.req("GET", W, headers=tok(DEV))
    ok(s1 == s2 == 200 and b1 == b2, "#3 Bearer PAT ≡ PRIVATE-TOKEN")
    s, b, r = c.req("GET", W, headers=tok(EXPIRED))
    ok(s == 401 and b == {"error": "invalid_token", "error_description": "Token is expired. You "
                          "can either do re-authorization or token refresh."}
       and r.getheader("WWW-Authenticate"), "#4 expired → 401 invalid_token + WWW-Authenticate")
    s, b, _ = c.req("GET", W, headers=tok(REVOKED))
    ok(s == 401 and b["error_description"].startswith("Token was revoked"), "revoked → 401")
    s, b, _ = c.req("POST", W, headers=tok(READ), form={"title": "t", "content": "c"})
    ok(s == 403 and b["error"] == "insufficient_scope" and "scope" in b,
       "#5 read_api on POST → 403 insufficient_scope")
    s, b, _ = c.req("GET", W, headers=tok(READ))
    ok(s == 200, "#5 read_api is enough for GET")
    s, b, _ = c.req("POST", W, headers={"JOB-TOKEN": JT}, form={"title": "t", "content": "c"})
    ok(s == 404 and b == {"message": "404 Project Not Found"}, "#6 JOB-TOKEN on wiki ignored → 404")
    s, b, _ = c.req("POST", "/projects/43/wikis", headers={"JOB-TOKEN": JT},
                    form={"title": "t", "content": "c"})
    ok(s == 403 and b == {"message": "403 Forbidden"}, "#6 public project → 403")
    s, b, _ = c.req("GET", W, headers={"Authorization": "Bearer " + JT})
    ok(s == 401 and b == {"message": "401 Unauthorized"}, "#7 Bearer job token on wiki → 401")
    P = "/projects/42/packages/generic/nlu-intent/1.4.0/model.tar.gz"
    s, b, _ = c.req("PUT", P, body=b"x", headers={"JOB-TOKEN": JT_DONE})
    ok(s == 401 and b == {"message": "401 Unauthorized"}, "#8 finished job token → 401")
    s, b, _ = c.req("PUT", P.replace("/42/", "/77/"), body=b"x", headers={"JOB-TOKEN": JT})
    ok(s == 403 and b == {"message": "403 Forbidden - Authentication by CI/CD job token not "
                          "allowed from grp/nlu to grp/other."}, "#9 cross-project job token")
    s, b, _ = c.req("GET", "/projects/grp/nlu/wikis", headers=tok(DEV))
    ok(s == 404 and b == {"error": "404 Not Found"}, "#10 unencoded path → router 404")
    s1, b1, _ = c.req("GET", "/projects/grp%2Fnlu/wikis", headers=tok(DEV))
    ok(s1 == 200 and b1 == b2, "#10 grp%2Fnlu ≡ 42")
    s, b, _ = c.req("GET", "/projects/nlu/wikis", headers=tok(DEV))
    ok(s == 404 and b == {"message": "404 Project Not Found"}, "bare name → 404 project")
    s, b, _ = c.req("GET", "/nope", headers=tok(DEV))
    ok(s == 404 and b == {"error": "404 Not Found"}, "#11 unknown route")

    # ---- wikis
    title = "reports/model-2026-11-25"
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": title, "content": "v1"})
    ok(s == 201 and b["slug"] == title and b["format"] == "markdown" and b["encoding"] == "UTF-8"
       and {"content", "format", "slug", "title", "encoding", "front_matter"} <= set(b),
       "#12 create → 201 with the 6 keys")
    ok(b.get("title") == "model 2026 11 25", "#12 title from the file name")
    created = b
    s, b, _ = c.req("GET", W + "/reports%2Fmodel-2026-11-25", headers=tok(DEV))
    ok(s == 200 and b == created, "#13 GET by %2F slug → same object")
    s, b, _ = c.req("GET", W + "/Reports%2FModel-2026-11-25", headers=tok(DEV))
    ok(s == 200 and b["slug"] == title, "§2.3 lookup is case-insensitive")
    s, b, _ = c.req("GET", W + "/reports/model-2026-11-25", headers=tok(DEV))
    ok(s == 404 and b == {"error": "404 Not Found"}, "§2.3 strict: raw '/' in slug → router 404")
    control(c, "settings", {"strict_slug": False})
    s, b, _ = c.req("GET", W + "/reports/model-2026-11-25", headers=tok(DEV))
    ok(s == 200 and b["slug"] == title, "§2.3 lenient (newest rev. slug: /.+/): raw '/' routes")
    control(c, "settings", {"strict_slug": True})
    dup = {"message": {"base": ["Duplicate page: A page with that title already exists in the "
                                "file reports/model-2026-11-25.md"]}}
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": title, "content": "v1"})
    ok(s == 400 and b == dup, "#14 duplicate create")
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": title.upper(), "content": "x"})
    ok(s == 400 and b == dup, "#15 upper-case title is a duplicate")
    s, b, _ = c.req("POST", W, headers=tok(DEV),
                    form={"title": title, "content": "x", "format": "asciidoc"})
    ok(s == 400 and b == dup, "#15 other format is a duplicate")
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"content": "x"})
    ok(s == 400 and b == {"error": "title is missing"}, "#16 title missing")
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": "x"})
    ok(s == 400 and b == {"error": "content is missing"}, "#16 content missing")
    s, b, _ = c.req("POST", W, headers=tok(DEV),
                    form={"title": "x", "content": "y", "format": "textile"})
    ok(s == 400 and b == {"error": "format does not have a valid value"}, "#17 bad format")
    s, b, _ = c.req("PUT", W + "/does-not-exist", headers=tok(DEV), form={"content": "x"})
    ok(s == 404 and b == {"message": "404 Wiki Page Not Found"}, "#18 update missing page")
    s, b, _ = c.req("PUT", W + "/reports%2Fmodel-2026-11-25", headers=tok(DEV), form={})
    ok(s == 400 and "at least one parameter must be provided" in b["error"], "#19 empty PUT")
    s, b, _ = c.req("PUT", W + "/reports%2Fmodel-2026-11-25", headers=tok(DEV),
                    js={"content": "v2"})
    ok(s == 200 and b["slug"] == title and b["content"] == "v2", "#20 update (JSON body)")
    s, b, _ = c.req("DELETE", W + "/reports%2Fmodel-2026-11-25", headers=tok(DEV))
    ok(s == 403 and b == {"message": "403 Forbidden"}, "#21 developer cannot delete")
    s, b, r = c.req("DELETE", W + "/reports%2Fmodel-2026-11-25", headers=tok(MAINT))
    ok(s == 204 and b is None, "#21 maintainer deletes → 204 empty")
    s, b, _ = c.req("DELETE", W + "/reports%2Fmodel-2026-11-25", headers=tok(MAINT))
    ok(s == 404 and b == {"message": "404 Wiki Page Not Found"}, "#21 again → 404")
    control(c, "settings", {"wiki_enabled": {"42": False}})
    s, b, _ = c.req("GET", W, headers=tok(DEV))
    ok(s == 403 and b == {"message": "403 Forbidden"}, "#22 wiki disabled → 403")
    control(c, "settings", {"wiki_enabled": {"42": True}})
    c.req("POST", W, headers=tok(DEV), form={"title": "Home page", "content": "hi"})
    s, b, r = c.req("GET", W, headers=tok(DEV))
    ok(s == 200 and isinstance(b, list) and b and all("content" not in p for p in b)
       and set(b[0]) <= {"format", "slug", "title", "wiki_page_meta_id"}
       and r.getheader("X-Total") is None and r.getheader("Link") is None,
       "#23 list without content, no pagination headers")
    ok(any(p["slug"] == "Home-page" for p in b), "§2.3 spaces become '-' in the slug")
    s, b, _ = c.req("GET", W + "?with_content=1", headers=tok(DEV))
    ok(s == 200 and all({"content", "encoding", "front_matter"} <= set(p) for p in b),
       "#23 with_content")
    body, h = multipart("file", "conf matrix.png", b"\x89PNG\r\n\x1a\n\x00binary")
    h.update(tok(DEV))
    s, b, _ = c.req("POST", W + "/attachments", body=body, headers=h)
    ok(s == 201 and b["file_name"] == "conf_matrix.png"
       and re.match(r"^uploads/[0-9a-f]{32}/conf_matrix\.png$", b["file_path"])
       and b["link"]["markdown"] == "![conf_matrix](%s)" % b["file_path"]
       and b["link"]["url"] == b["file_path"], "#24 attachment naming and image link")
    stored = os.path.join(tmp, "data", "projects", "42", "wiki", b["file_path"])
    ok(open(stored, "rb").read() == b"\x89PNG\r\n\x1a\n\x00binary", "#24 binary bytes stored")
    body, h = multipart("file", "r.json", b"{}")
    h.update(tok(DEV))
    s, b, _ = c.req("POST", W + "/attachments", body=body, headers=h)
    ok(s == 201 and b["link"]["markdown"].startswith("[r.json](uploads/"), "#24 non-image link")
    s, b, _ = c.req("POST", W + "/attachments", headers=tok(DEV), form={"branch": "main"})
    ok(s == 400 and b == {"error": "file is missing"}, "#25 no file")
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": "d/" + "x" * 246, "content": "c"})
    ok(s == 400 and b == {"message": {"title": ["exceeds the limit of 245 bytes"]}},
       "#26 file-name part over 245 bytes")
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": "d/" + "x" * 245, "content": "c"})
    ok(s == 201, "#26 245 bytes is fine")

    # ---- generic packages
    data = os.urandom(300000)
    s, b, _ = c.req("PUT", P, body=data, headers={"JOB-TOKEN": JT})
    ok(s == 201 and b == {"message": "201 Created"}, "#27 upload → 201")
    s, b, _ = c.req("PUT", P + "?select=package_file", body=data, headers={"JOB-TOKEN": JT})
    ok(s == 200 and b["file_name"] == "model.tar.gz" and b["size"] == len(data)
       and b["file_sha256"] == hashlib.sha256(data).hexdigest(), "#28 select=package_file")
    data2 = os.urandom(1000)
    s, b, _ = c.req("PUT", P, body=data2, headers=tok(DEV))
    ok(s == 201, "#29 duplicates allowed: the same file name again → 201")
    conn = http.client.HTTPConnection("127.0.0.1", c.port)
    conn.request("GET", "/api/v4" + P, headers={"JOB-TOKEN": JT})
    r = conn.getresponse()
    got = r.read()
    ok(r.status == 200 and got == data2 and r.getheader("Content-Type") ==
       "application/octet-stream" and r.getheader("Content-Disposition").startswith(
           "attachment"), "#29/#35 GET returns the newest file as an attachment")
    conn.close()
    control(c, "settings", {"allow_duplicates": False})
    s, b, _ = c.req("PUT", P, body=data, headers=tok(DEV))
    ok(s == 400 and b == {"message": "400 Bad request - Duplicate package is not allowed"},
       "#30 duplicates off → 400, not 403")
    control(c, "settings", {"allow_duplicates": True})
    for name in ("nlu%20intent", "nlu@x"):
        s, b, _ = c.req("PUT", "/projects/42/packages/generic/%s/1.0/f" % name, body=b"x",
                        headers=tok(DEV))
        ok(s == 400 and b == {"error": "package_name is invalid"}, "#31 name %s" % name)
    s, b, _ = c.req("PUT", "/projects/42/packages/generic/nlu/1..4/f", body=b"x", headers=tok(DEV))
    ok(s == 400 and b == {"error": "package_version is invalid"}, "#31 version 1..4")
    s, b, _ = c.req("PUT", P + "?status=private", body=b"x", headers=tok(DEV))
    ok(s == 400 and b == {"error": "status does not have a valid value"}, "#32 bad status")
    control(c, "settings", {"max_file_size": 100})
    s, b, _ = c.req("PUT", P, body=b"x" * 101, headers=tok(DEV))
    ok(s == 400 and b == {"message": "400 Bad request - File is too large"}, "#33 too large")
    control(c, "settings", {"max_file_size": 5368709120})
    s, b, _ = c.req("PUT", P, body=b"x")
    ok(s == 401 and b == {"message": "401 Unauthorized"}, "#34 PUT without credentials")
    s, b, _ = c.req("GET", P.replace("1.4.0", "9.9.9"), headers=tok(DEV))
    ok(s == 404 and b == {"message": "404 Not found"}, "#35 missing file → 404 Not found")

    # ---- rate limits, errors, renames
    control(c, "faults", {"faults": [{"method": "GET", "status": 429, "retry_after": "7",
                                      "reset_time": 30}]})
    s, b, r = c.req("GET", W, headers=tok(DEV))
    ok(s == 429 and b == "Retry later\n" and r.getheader("Retry-After") == "7"
       and r.getheader("RateLimit-ResetTime") and r.getheader("RateLimit-Remaining") == "0",
       "#46 throttled: plain text + Retry-After + RateLimit-*")
    control(c, "faults", {"faults": [{"method": "POST", "status": 429, "json": {"message": {
        "error": "This endpoint has been requested too many times. Try again later."}}}]})
    s, b, _ = c.req("POST", W, headers=tok(DEV), form={"title": "z", "content": "z"})
    ok(s == 429 and b["message"]["error"].startswith("This endpoint"), "#47 app-level 429")
    control(c, "faults", {"faults": [{"method": "GET", "status": 500}]})
    s, b, _ = c.req("GET", W, headers=tok(DEV))
    s2, _, _ = c.req("GET", W, headers=tok(DEV))
    ok(s == 500 and b == {"message": "500 Internal Server Error"} and s2 == 200,
       "#48 a 500 then success")
    s, b, r = c.req("GET", "/projects/grp%2Fold-nlu/wikis", headers=tok(DEV))
    ok(s == 301 and "grp%2Fnlu" in r.getheader("Location"), "#49 old path GET → 301")
    s, b, _ = c.req("PUT", "/projects/grp%2Fold-nlu/packages/generic/a/1/f", body=b"x",
                    headers=tok(DEV))
    ok(s == 405 and b == {"message": "Non GET methods are not allowed for moved projects"},
       "#49 old path PUT → 405")
    # a network cut: the connection closes after N body bytes without an answer
    control(c, "faults", {"faults": [{"method": "PUT", "cut_after": 1000}]})
    try:
        s, b, _ = c.req("PUT", P, body=os.urandom(200000), headers=tok(DEV))
        cut = False
    except (ConnectionError, http.client.HTTPException, OSError):
        cut = True
    ok(cut, "cut_after closes the connection mid-upload")
    s, b, _ = c.req("GET", "/__control/requests", raw_prefix=True)
    text = json.dumps(b)
    ok(all(t not in text for t in (DEV, MAINT, JT)), "request log holds no tokens")


if __name__ == "__main__":
    sys.exit(main())
