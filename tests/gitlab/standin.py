#!/usr/bin/env python3
"""A GitLab stand-in for Conductor's tests: the REST endpoints of
../shared/docs/gitlab-api-contract.md (project wikis, wiki attachments, generic packages)
with GitLab's real status codes and error bodies, on 127.0.0.1 and a random free port.

Everything it stores lands in --data-dir, so tests and demos can read it back:
  <data>/projects/<id>/wiki/<slug>.<ext>                 wiki pages (markdown -> .md)
  <data>/projects/<id>/wiki/uploads/<32 hex>/<name>      wiki attachments
  <data>/projects/<id>/packages/<name>/<version>/<file>  newest generic package file
  <data>/projects/<id>/packages/<name>/<version>/<file>.records.json  every upload record

Faults are scripted through a control API outside /api/v4 (never needs a token):
  POST /__control/faults    {"faults":[{"method":"PUT","path":"packages/generic","times":1,
                               "status":429|500|..., "retry_after":"1", "reset_time":2,
                               "body":"...", "json":{...}, "cut_after":<bytes>}]}
                            "cut_after" closes the connection after reading that many body
                            bytes (a network cut mid-upload), without any answer.
  POST /__control/settings  {"allow_duplicates":false, "strict_slug":true,
                             "max_file_size":N, "wiki_enabled":{"42":false},
                             "visibility":{"42":"public"},
                             the contract's [I]/[?] alternatives: "select_status":201,
                             "ignore_select":true, "short_duplicate":true}
  GET  /__control/requests  [{"method","path","auth","status","body_bytes"}]  (no secrets)
  POST /__control/reset     drop faults and the request log
The same faults/settings can be given on the command line (--fault JSON, --settings JSON).

Fixtures (contract §8 defaults): project 42 = grp/nlu (private), 43 = grp/public (public),
77 = grp/other (private, does not allowlist 42's job tokens); grp/old-nlu was renamed to
grp/nlu. Tokens by role, each value overridable with --token ROLE=VALUE:
  dev (Developer in 42, api), maint (Maintainer in 42 and 77, api), read (dev, read_api),
  expired, revoked, job (running job of 42, user dev), job_done (finished job).

Start:  standin.py --data-dir D --port-file F [--pid-file P]; stop it with kill <pid>.
"""

import argparse
import hashlib
import json
import os
import posixpath
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUEST, REPORTER, DEVELOPER, MAINTAINER = 10, 20, 30, 40

DEFAULT_TOKENS = {
    "dev": "glpat-DEVtoken0123456789ab",
    "maint": "glpat-MAINTtoken0123456789",
    "read": "glpat-READtoken01234567890",
    "expired": "glpat-EXPIREDtoken0123456",
    "revoked": "glpat-REVOKEDtoken0123456",
    "job": "glcbt-JOBtoken01234567890ab",
    "job_done": "glcbt-DONEjob01234567890ab",
}

WIKI_EXT = {"markdown": "md", "rdoc": "rdoc", "asciidoc": "asciidoc", "org": "org"}
EXT_FORMAT = {v: k for k, v in WIKI_EXT.items()}
NAME_RE = re.compile(r"\A[A-Za-z0-9._\-+]+\Z")
VERSION_RE = re.compile(r"\A(?!.*\.\.)[\w+.-]+\Z", re.ASCII)
MEDIA_EXT = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tiff", "mp4", "webm",
             "mov", "m4v", "ogv", "mp3", "wav", "ogg", "oga"}
CHUNK = 1 << 20


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def msg(status, text):
    return HttpError(status, {"message": text})


def router_404():
    return HttpError(404, {"error": "404 Not Found"})


class State:
    def __init__(self, data_dir, tokens):
        self.data = data_dir
        self.lock = threading.RLock()
        self.projects = {
            42: {"path": "grp/nlu", "name": "nlu", "visibility": "private", "wiki": True,
                 "members": {"dev": DEVELOPER, "maint": MAINTAINER}, "allow": set()},
            43: {"path": "grp/public", "name": "public", "visibility": "public", "wiki": True,
                 "members": {"maint": MAINTAINER}, "allow": set()},
            77: {"path": "grp/other", "name": "other", "visibility": "private", "wiki": True,
                 "members": {"maint": MAINTAINER}, "allow": set()},
        }
        self.redirects = {"grp/old-nlu": 42}
        t = dict(DEFAULT_TOKENS)
        t.update(tokens)
        self.tokens = {
            t["dev"]: {"user": "dev", "scopes": ["api"]},
            t["maint"]: {"user": "maint", "scopes": ["api"]},
            t["read"]: {"user": "dev", "scopes": ["read_api"]},
            t["expired"]: {"user": "dev", "scopes": ["api"], "expired": True},
            t["revoked"]: {"user": "dev", "scopes": ["api"], "revoked": True},
        }
        self.jobs = {
            t["job"]: {"user": "dev", "project": 42, "running": True},
            t["job_done"]: {"user": "dev", "project": 42, "running": False},
        }
        # The contract's [I]/[?] points can be switched to their alternative:
        #   select_status 200|201, ignore_select (older GitLab: no package_file record),
        #   short_duplicate (older "Duplicate page" wording), strict_slug (raw '/' in a slug).
        self.settings = {"allow_duplicates": True, "strict_slug": True,
                         "max_file_size": 5368709120, "select_status": 200,
                         "ignore_select": False, "short_duplicate": False}
        self.faults = []
        self.requests = []
        self.meta_ids = {}
        self.next_id = 1

    def new_id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def apply_settings(self, s):
        with self.lock:
            for k in ("allow_duplicates", "strict_slug", "max_file_size", "select_status",
                      "ignore_select", "short_duplicate"):
                if k in s:
                    self.settings[k] = s[k]
            for pid, on in s.get("wiki_enabled", {}).items():
                self.projects[int(pid)]["wiki"] = bool(on)
            for pid, vis in s.get("visibility", {}).items():
                self.projects[int(pid)]["visibility"] = vis

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.get("times", 1) <= 0:
                    continue
                if f.get("method") and f["method"] != method:
                    continue
                if f.get("path") and not re.search(f["path"], path):
                    continue
                f["times"] = f.get("times", 1) - 1
                return f
        return None


# ---- wiki helpers (contract §2.3) -----------------------------------------------------

def sluggify(title):
    parts = [" ".join(p.split()) for p in title.strip().split("/")]
    path = posixpath.normpath("/" + "/".join(parts)).lstrip("/")
    return path.replace(" ", "-")


def page_title(slug):
    return posixpath.basename(slug).replace("-", " ")


def clean_upload_name(name):
    name = name[:255]
    return re.sub(r"[^\w.\-+]", "_", name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitlab-standin/1"
    state: State = None

    def log_message(self, fmt, *args):  # keep test output clean; the request log has it
        pass

    # ---- plumbing ----------------------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def body_length(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return None
        return int(self.headers.get("Content-Length") or 0)

    def iter_body(self, cut_after=None):
        """Yield the request body in chunks (Content-Length or chunked)."""
        n = self.body_length()
        seen = 0
        if n is None:
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    chunk = self.rfile.read(min(CHUNK, left))
                    if not chunk:
                        raise ConnectionError("client closed mid-body")
                    left -= len(chunk)
                    seen += len(chunk)
                    self.maybe_cut(cut_after, seen)
                    yield chunk
                self.rfile.readline(16)
        else:
            left = n
            while left:
                want = min(CHUNK, left)
                if cut_after is not None:
                    want = max(1, min(want, cut_after - seen)) if seen < cut_after else want
                chunk = self.rfile.read(want)
                if not chunk:
                    raise ConnectionError("client closed mid-body")
                left -= len(chunk)
                seen += len(chunk)
                self.maybe_cut(cut_after, seen)
                yield chunk

    def maybe_cut(self, cut_after, seen):
        if cut_after is not None and seen >= cut_after:
            # A network cut: no answer, the socket just goes away.
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            raise ConnectionAbortedError("fault: cut")

    def read_body(self):
        if getattr(self, "_body", None) is None:
            self._body = b"".join(self.iter_body())
        return self._body

    def drain(self):
        if getattr(self, "_body", None) is None and not getattr(self, "_drained", False):
            for _ in self.iter_body():
                pass
            self._drained = True

    def send(self, status, body=None, headers=None, content_type="application/json"):
        self.drain()
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = body
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)) if status != 204 else "0")
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(data)
        self._status = status

    def dispatch(self, method):
        self._body = None
        self._drained = False
        self._status = 0
        self._auth_kind = None
        raw_path = self.path
        path, _, query = raw_path.partition("?")
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True)
        st = self.state
        try:
            if path.startswith("/__control/"):
                return self.control(method, path)
            fault = st.take_fault(method, raw_path)
            if fault:
                if fault.get("cut_after") is not None:
                    for _ in self.iter_body(cut_after=int(fault["cut_after"])):
                        pass
                    # body shorter than the cut point: cut now
                    self.maybe_cut(0, 0)
                status = int(fault.get("status", 500))
                headers = {}
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                if fault.get("reset_time") is not None:
                    reset = time.time() + float(fault["reset_time"])
                    headers["RateLimit-ResetTime"] = formatdate(reset, usegmt=True)
                    headers["RateLimit-Reset"] = str(int(reset))
                if status == 429:
                    headers.update({"RateLimit-Name": "throttle_authenticated_api",
                                    "RateLimit-Limit": "60", "RateLimit-Observed": "61",
                                    "RateLimit-Remaining": "0"})
                if "json" in fault:
                    return self.send(status, fault["json"], headers)
                if "body" in fault:
                    return self.send(status, fault["body"], headers, "text/plain")
                if status == 429:  # Rack::Attack: plain text (§7.1 shape 5)
                    return self.send(status, "Retry later\n", headers, "text/plain")
                return self.send(status, {"message": "%d %s" % (
                    status, self.responses.get(status, ("Error",))[0])}, headers)
            if not path.startswith("/api/v4/"):
                raise router_404()
            self.route(method, path[len("/api/v4"):])
        except HttpError as e:
            self.send(e.status, e.body, e.headers)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:  # an unhandled server error, GitLab-shaped
            sys.stderr.write("standin: %r\n" % (e,))
            try:
                self.send(500, {"message": "500 Internal Server Error"})
            except OSError:
                self.close_connection = True
        finally:
            if not path.startswith("/__control/"):
                with st.lock:
                    st.requests.append({"method": method, "path": raw_path,
                                        "auth": self._auth_kind, "status": self._status,
                                        "body_bytes": self.body_length()})

    # ---- control API -------------------------------------------------------------------

    def control(self, method, path):
        st = self.state
        if path == "/__control/requests" and method == "GET":
            with st.lock:
                return self.send(200, st.requests)
        body = json.loads(self.read_body() or b"{}")
        with st.lock:
            if path == "/__control/faults":
                st.faults.extend(body.get("faults", []))
            elif path == "/__control/settings":
                st.apply_settings(body)
            elif path == "/__control/reset":
                st.faults.clear()
                st.requests.clear()
            else:
                raise router_404()
        self.send(200, {"ok": True})

    # ---- authentication (contract §1) --------------------------------------------------

    def authenticate(self, job_token_allowed, method):
        """Returns (user, job) or (None, None) for anonymous. Raises 401/403."""
        st = self.state
        unauthorized = msg(401, "401 Unauthorized")
        pt = self.headers.get("PRIVATE-TOKEN") or (self.query.get("private_token") or [None])[0]
        auth = self.headers.get("Authorization", "")
        jt = self.headers.get("JOB-TOKEN") or (self.query.get("job_token") or [None])[0]

        def pat(value):
            tok = st.tokens.get(value)
            if not tok:
                raise unauthorized
            if tok.get("expired"):
                raise HttpError(401, {"error": "invalid_token", "error_description":
                                      "Token is expired. You can either do re-authorization "
                                      "or token refresh."},
                                {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
            if tok.get("revoked"):
                raise HttpError(401, {"error": "invalid_token", "error_description":
                                      "Token was revoked. You have to re-authorize from the "
                                      "user."})
            if "api" not in tok["scopes"] and method not in ("GET", "HEAD"):
                raise HttpError(403, {"error": "insufficient_scope", "error_description":
                                      "The request requires higher privileges than provided "
                                      "by the access token.", "scope": "api"})
            return tok["user"], None

        def job(value):
            j = st.jobs.get(value)
            if not j or not j["running"]:
                raise unauthorized
            return j["user"], j

        if pt:
            self._auth_kind = "private"
            return pat(pt)
        if auth.lower().startswith("bearer "):
            self._auth_kind = "bearer"
            value = auth[7:].strip()
            if value in st.jobs:
                if job_token_allowed:
                    return job(value)
                raise unauthorized  # falls through to the PAT lookup, which fails (§8 #7)
            return pat(value)
        if jt:
            self._auth_kind = "job"
            if job_token_allowed:
                return job(jt)
            return None, None  # ignored on routes without job_token_allowed (§1.1)
        return None, None

    def find_project(self, raw_id, user, job, method):
        st = self.state
        pid_s = urllib.parse.unquote(raw_id)
        if pid_s.isdigit():
            pid = int(pid_s)
        else:
            pid = next((k for k, p in st.projects.items() if p["path"] == pid_s), None)
            if pid is None and pid_s in st.redirects:
                target = st.redirects[pid_s]
                if method in ("GET", "HEAD"):
                    new = urllib.parse.quote(st.projects[target]["path"], safe="")
                    loc = self.path.replace(raw_id, new, 1)
                    raise HttpError(301, "<html><body>You are being redirected.</body></html>",
                                    {"Location": "http://%s%s" % (self.headers.get("Host"),
                                                                  loc)})
                raise msg(405, "Non GET methods are not allowed for moved projects")
        proj = st.projects.get(pid)
        if proj is None:
            raise msg(404, "404 Project Not Found")
        if job and job["project"] != pid and job["project"] not in proj["allow"]:
            src = st.projects[job["project"]]["path"]
            raise msg(403, "403 Forbidden - Authentication by CI/CD job token not allowed "
                           "from %s to %s." % (src, proj["path"]))
        role = proj["members"].get(user, 0) if user else 0
        if proj["visibility"] != "public" and role == 0:
            raise msg(404, "404 Project Not Found")
        return pid, proj, role

    # ---- routing -----------------------------------------------------------------------

    def route(self, method, path):
        segs = path.split("/")[1:]  # the raw path: %2F stays inside one segment
        if len(segs) >= 3 and segs[0] == "projects" and segs[2] == "wikis":
            return self.wikis(method, segs[1], segs[3:])
        if len(segs) >= 3 and segs[0] == "projects" and segs[2:4] == ["packages", "generic"]:
            return self.packages(method, segs[1], segs[4:])
        raise router_404()

    # ---- wikis (contract §2) -----------------------------------------------------------

    def wiki_dir(self, pid):
        return os.path.join(self.state.data, "projects", str(pid), "wiki")

    def find_page(self, pid, name):
        """Case-insensitive match of the given string or its sluggified form (§2.3)."""
        base = self.wiki_dir(pid)
        wanted = {name.lower(), sluggify(name).lower()}
        for root, dirs, files in os.walk(base):
            rel_root = os.path.relpath(root, base)
            if rel_root == "uploads" or rel_root.startswith("uploads" + os.sep):
                continue
            for f in files:
                stem, _, ext = f.rpartition(".")
                if ext not in EXT_FORMAT:
                    continue
                slug = stem if rel_root == "." else posixpath.join(rel_root, stem)
                if slug.lower() in wanted:
                    return slug, ext
        return None

    def page_json(self, pid, slug, ext, content=True):
        st = self.state
        with st.lock:
            mid = st.meta_ids.setdefault((pid, slug.lower()), st.new_id())
        obj = {"format": EXT_FORMAT[ext], "slug": slug, "title": page_title(slug),
               "wiki_page_meta_id": mid}
        if content:
            with open(os.path.join(self.wiki_dir(pid), slug + "." + ext), encoding="utf-8") as f:
                obj["content"] = f.read()
            obj["encoding"] = "UTF-8"
            obj["front_matter"] = {}
        return obj

    def params(self):
        """Form or JSON body → dict of strings (Grape accepts both)."""
        ctype = self.headers.get("Content-Type", "")
        raw = self.read_body()
        if ctype.startswith("application/json"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                raise HttpError(400, {"error": "The provided content-type 'application/json' "
                                               "did not match the body"})
            return data if isinstance(data, dict) else {}
        if ctype.startswith("multipart/form-data"):
            return self.multipart(ctype, raw)
        q = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        out = {k: v[0] for k, v in q.items()}
        for k, v in self.query.items():
            out.setdefault(k, v[0])
        return out

    @staticmethod
    def multipart(ctype, raw):
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        if not m:
            return {}
        delim = b"--" + m.group(1).encode()
        out = {}
        for part in raw.split(delim)[1:]:
            if part.startswith(b"--"):
                break
            part = part[2:] if part.startswith(b"\r\n") else part
            head, _, payload = part.partition(b"\r\n\r\n")
            if payload.endswith(b"\r\n"):
                payload = payload[:-2]
            disp = ""
            for line in head.decode("utf-8", "replace").split("\r\n"):
                if line.lower().startswith("content-disposition:"):
                    disp = line
            name = re.search(r'\bname="([^"]*)"', disp)
            fname = re.search(r'\bfilename="([^"]*)"', disp)
            if not name:
                continue
            if fname:
                out[name.group(1)] = {"filename": fname.group(1), "data": payload}
            else:
                out[name.group(1)] = payload.decode("utf-8", "replace")
        return out

    def wikis(self, method, raw_id, rest):
        st = self.state
        user, job = self.authenticate(False, method)
        if len(rest) > 1:  # a raw '/' in the slug
            if st.settings["strict_slug"]:
                raise router_404()
            rest = ["/".join(rest)]
        pid, proj, role = self.find_project(raw_id, user, job, method)
        if not proj["wiki"]:
            raise msg(403, "403 Forbidden")
        readable = role >= GUEST or proj["visibility"] == "public"
        if not readable:
            raise msg(404, "404 Project Not Found")
        if rest == ["attachments"] and method == "POST":
            if role < DEVELOPER:
                raise msg(403, "403 Forbidden")
            return self.wiki_attach(pid)
        if not rest or rest == [""]:
            if method == "GET":
                with_content = (self.query.get("with_content") or ["0"])[0] in ("1", "true")
                pages = []
                base = self.wiki_dir(pid)
                for root, dirs, files in os.walk(base):
                    dirs.sort()
                    rel_root = os.path.relpath(root, base)
                    if rel_root == "uploads" or rel_root.startswith("uploads" + os.sep):
                        continue
                    for f in sorted(files):
                        stem, _, ext = f.rpartition(".")
                        if ext in EXT_FORMAT:
                            slug = stem if rel_root == "." else posixpath.join(rel_root, stem)
                            pages.append(self.page_json(pid, slug, ext, with_content))
                return self.send(200, pages)
            if method == "POST":
                if role < DEVELOPER:
                    raise msg(403, "403 Forbidden")
                return self.wiki_create(pid, self.params())
            raise router_404()
        slug_raw = urllib.parse.unquote(rest[0])
        found = self.find_page(pid, slug_raw)
        if method == "GET":
            if not found:
                raise msg(404, "404 Wiki Page Not Found")
            return self.send(200, self.page_json(pid, *found))
        if method == "PUT":
            if role < DEVELOPER:
                raise msg(403, "403 Forbidden")
            p = self.params()
            if not any(k in p for k in ("content", "title", "format")):
                raise HttpError(400, {"error": "content, title, format are missing, at least "
                                               "one parameter must be provided"})
            if not found:
                raise msg(404, "404 Wiki Page Not Found")
            return self.wiki_update(pid, found, p)
        if method == "DELETE":
            if role < MAINTAINER:
                raise msg(403, "403 Forbidden")
            if not found:
                raise msg(404, "404 Wiki Page Not Found")
            os.unlink(os.path.join(self.wiki_dir(pid), found[0] + "." + found[1]))
            return self.send(204)
        raise router_404()

    @staticmethod
    def check_limits(slug):
        parts = slug.split("/")
        if len(parts[-1].encode()) > 245:
            raise HttpError(400, {"message": {"title": ["exceeds the limit of 245 bytes"]}})
        for d in parts[:-1]:
            if len(d.encode()) > 255:
                raise HttpError(400, {"message": {"title": [
                    "exceeds the limit of 255 bytes for directory names"]}})

    def write_page(self, pid, slug, ext, content):
        path = os.path.join(self.wiki_dir(pid), slug + "." + ext)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # a short temp name beside the wiki root: the page name may be up to 245+ bytes
        tmp = os.path.join(self.wiki_dir(pid), ".tmp-%d" % threading.get_ident())
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, path)

    def wiki_create(self, pid, p):
        for k in ("title", "content"):
            if k not in p:
                raise HttpError(400, {"error": "%s is missing" % k})
        fmt = p.get("format", "markdown")
        if fmt not in WIKI_EXT:
            raise HttpError(400, {"error": "format does not have a valid value"})
        slug = sluggify(str(p["title"]))
        if not slug:
            raise HttpError(400, {"message": {"title": ["can't be blank"]}})
        self.check_limits(slug)
        with self.state.lock:
            dup = self.find_page(pid, slug)
            if dup:
                text = "Duplicate page: A page with that title already exists"
                if not self.state.settings["short_duplicate"]:
                    text += " in the file %s.%s" % dup
                raise HttpError(400, {"message": {"base": [text]}})
            self.write_page(pid, slug, WIKI_EXT[fmt], str(p["content"]))
        self.send(201, self.page_json(pid, slug, WIKI_EXT[fmt]))

    def wiki_update(self, pid, found, p):
        slug, ext = found
        fmt = p.get("format", EXT_FORMAT[ext])
        if fmt not in WIKI_EXT:
            raise HttpError(400, {"error": "format does not have a valid value"})
        with self.state.lock:
            old = os.path.join(self.wiki_dir(pid), slug + "." + ext)
            with open(old, encoding="utf-8") as f:
                content = f.read()
            content = str(p.get("content", content))
            new_slug = sluggify(str(p["title"])) if "title" in p else slug
            self.check_limits(new_slug)
            os.unlink(old)
            self.write_page(pid, new_slug, WIKI_EXT[fmt], content)
        self.send(200, self.page_json(pid, new_slug, WIKI_EXT[fmt]))

    def wiki_attach(self, pid):
        p = self.params()
        f = p.get("file")
        if not isinstance(f, dict):
            raise HttpError(400, {"error": "file is missing"})
        name = clean_upload_name(f["filename"] or "file")
        rel = "uploads/%s/%s" % (secrets.token_hex(16), name)
        path = os.path.join(self.wiki_dir(pid), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(f["data"])
        stem, dot, ext = name.rpartition(".")
        if dot and ext.lower() in MEDIA_EXT:
            md = "![%s](%s)" % (stem, rel)
        else:
            md = "[%s](%s)" % (name.replace("]", "\\]"), rel)
        self.send(201, {"file_name": name, "file_path": rel,
                        "branch": p.get("branch") or "main",
                        "link": {"url": rel, "markdown": md}})

    # ---- generic packages (contract §3) ------------------------------------------------

    def packages(self, method, raw_id, rest):
        st = self.state
        if len(rest) < 3:
            raise router_404()
        name, version, file_name = rest[0], rest[1], rest[-1]
        sub = [urllib.parse.unquote(s) for s in rest[2:-1]]
        user, job = self.authenticate(True, method)
        if method not in ("GET", "HEAD") and not user:
            raise msg(401, "401 Unauthorized")  # authenticate_non_get!
        pid, proj, role = self.find_project(raw_id, user, job, method)
        name, version, file_name = (urllib.parse.unquote(x) for x in (name, version, file_name))
        if not NAME_RE.match(name):
            raise HttpError(400, {"error": "package_name is invalid"})
        if not VERSION_RE.match(version):
            raise HttpError(400, {"error": "package_version is invalid"})
        if not NAME_RE.match(file_name):
            raise HttpError(400, {"error": "file_name is invalid"})
        stored_name = urllib.parse.quote("/".join(sub + [file_name]), safe="")
        pdir = os.path.join(st.data, "projects", str(pid), "packages", name, version)
        fpath = os.path.join(pdir, stored_name)
        if method in ("GET", "HEAD"):
            if role < REPORTER and proj["visibility"] != "public":
                raise msg(403, "403 Forbidden")
            if not os.path.isfile(fpath):
                raise msg(404, "404 Not found")
            return self.download(fpath, file_name)
        if method != "PUT":
            raise router_404()
        if role < DEVELOPER:
            raise msg(403, "403 Forbidden")
        status = (self.query.get("status") or ["default"])[0]
        if status not in ("default", "hidden"):
            raise HttpError(400, {"error": "status does not have a valid value"})
        select = self.query.get("select", [None])[0]
        if select is not None and select != "package_file":
            raise HttpError(400, {"error": "select does not have a valid value"})
        length = self.body_length()
        if length is not None and length > st.settings["max_file_size"]:
            raise msg(400, "400 Bad request - File is too large")
        with st.lock:
            dup = os.path.exists(fpath) and not st.settings["allow_duplicates"]
        if dup:
            raise msg(400, "400 Bad request - Duplicate package is not allowed")
        self.store_package(pdir, fpath, stored_name, status, select, pid)

    def store_package(self, pdir, fpath, stored_name, status, select, pid):
        st = self.state
        os.makedirs(pdir, exist_ok=True)
        tmp = "%s.upload-%d-%d" % (fpath, os.getpid(), threading.get_ident())
        h = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:  # streamed: constant memory for any size
                for chunk in self.iter_body():
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if size > st.settings["max_file_size"]:
                        raise msg(400, "400 Bad request - File is too large")
            self._drained = True
            with st.lock:
                if os.path.exists(fpath) and not st.settings["allow_duplicates"]:
                    raise msg(400, "400 Bad request - Duplicate package is not allowed")
                os.replace(tmp, fpath)
                rec_path = fpath + ".records.json"
                records = []
                if os.path.exists(rec_path):
                    with open(rec_path) as f:
                        records = json.load(f)
                now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                rec = {"id": st.new_id(), "package_id": pid * 1000 + 1, "created_at": now,
                       "updated_at": now, "size": size, "file_store": 1,
                       "file_md5": None, "file_sha1": None, "file_name": stored_name,
                       "file": {"url": "/" + stored_name}, "file_sha256": h.hexdigest(),
                       "verification_retry_at": None, "verified_at": None,
                       "verification_failure": None, "verification_retry_count": None,
                       "verification_checksum": None, "verification_state": 0,
                       "verification_started_at": None, "new_file_path": None,
                       "status": status}
                records.append(rec)
                with open(rec_path + ".tmp", "w") as f:
                    json.dump(records, f)
                os.replace(rec_path + ".tmp", rec_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if select == "package_file" and not st.settings["ignore_select"]:
            self.send(st.settings["select_status"],
                      {k: v for k, v in rec.items() if k != "status"})
        else:
            self.send(201, {"message": "201 Created"})

    def download(self, fpath, file_name):
        size = os.path.getsize(fpath)
        self.drain()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", 'attachment; filename="%s"' % file_name)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self._status = 200
        if self.command == "HEAD":
            return
        with open(fpath, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                self.wfile.write(chunk)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--pid-file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", default=[], metavar="ROLE=VALUE")
    ap.add_argument("--fault", action="append", default=[], metavar="JSON")
    ap.add_argument("--settings", metavar="JSON")
    a = ap.parse_args()

    tokens = {}
    for t in a.token:
        role, _, value = t.partition("=")
        if role not in DEFAULT_TOKENS or not value:
            ap.error("--token %s: unknown role or empty value" % role)
        tokens[role] = value
    os.makedirs(a.data_dir, exist_ok=True)
    st = State(os.path.abspath(a.data_dir), tokens)
    if a.settings:
        st.apply_settings(json.loads(a.settings))
    for f in a.fault:
        st.faults.append(json.loads(f))
    Handler.state = st

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.pid_file:
        with open(a.pid_file + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(a.pid_file + ".tmp", a.pid_file)
    with open(a.port_file + ".tmp", "w") as f:  # atomic: readers never see a partial port
        f.write("%d\n" % port)
    os.replace(a.port_file + ".tmp", a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
