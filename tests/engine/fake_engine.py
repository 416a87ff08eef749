#!/usr/bin/env python3
"""A scripted Docker Engine API for protocol tests (curl's tests/data/test1 idea).

usage: fake_engine.py SOCKET SCENARIO.json LOG [CERT_DIR]

SOCKET is a unix socket path, or "tcp:PORTFILE" to listen on 127.0.0.1 (the port is written to
PORTFILE); with CERT_DIR (server.pem, server-key.pem, ca.pem) the tcp listener speaks TLS and
requires a client certificate signed by ca.pem.

SCENARIO is a list of exchanges, answered in order on one unix socket:
  {"expect": {"method": "POST", "path": "/v1.41/x?y=z",
              "headers": {"Content-Type": "application/json"},   # exact values
              "absent": ["Expect"],                               # must not be sent
              "json": {...} | "body": "text",                     # exact request body
              "registry_auth": {...},                             # X-Registry-Auth, decoded
              "tar": [{"name", "type": "file|dir|symlink", "mode", "data", "link"}]},
   "reply": {"status": 200, "headers": {...},
             "json": {...} | "body": "text" | "lines": ["..", ..]  # body forms
             | "frames": [[1, "text"], ...] | "raw_hex": "0100.." | "tar": [entries],
             "delay": seconds,       # wait before answering
             "pad": n,               # append n spaces to the body
             "short": true,          # promise more bytes than sent, then close
             "close": true,          # no Content-Length: body ends when we close
             "hijack": true,         # read stdin to EOF first, answer it as frame 1
             "chunked": true}}       # Transfer-Encoding: chunked, one chunk a line/frame
Every check that fails is written to LOG as "MISMATCH ..."; each exchange served as "ok N";
at exit (SIGTERM) "unused N" for exchanges never reached. Stopped by its pid.
"""
import base64
import io
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import tarfile
import time
from http.server import BaseHTTPRequestHandler

SOCK, SCEN, LOG = sys.argv[1:4]
CERTS = sys.argv[4] if len(sys.argv) > 4 else None
with open(SCEN) as f:
    EXCHANGES = json.load(f)
state = {"next": 0}
logf = open(LOG, "a", buffering=1)


def log(msg):
    logf.write(msg.replace("\n", "\\n") + "\n")


def frames_bytes(frames):
    out = b""
    for stream, text in frames:
        data = text.encode()
        out += bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data
    return out


TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}


def tar_entries(data):
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        for m in t.getmembers():
            e = {"name": m.name, "type": {v: k for k, v in TYPES.items()}.get(m.type, "other"),
                 "mode": m.mode}
            if m.isfile():
                e["data"] = t.extractfile(m).read().decode(errors="replace")
            if m.issym():
                e["link"] = m.linkname
            out.append(e)
    return out


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            m = tarfile.TarInfo(e["name"])
            m.type = TYPES[e.get("type", "file")]
            m.mode = e.get("mode", 0o644)
            data = e.get("data", "").encode()
            if e.get("link"):
                m.linkname = e["link"]
            if m.type == tarfile.REGTYPE:
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        n = state["next"]
        if n >= len(EXCHANGES):
            log(f"MISMATCH unexpected request {self.command} {self.path}")
            self.send_error(599, "no more exchanges scripted")
            return
        state["next"] = n + 1
        ex = EXCHANGES[n]
        exp, rep = ex.get("expect", {}), ex.get("reply", {})
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        bad = []
        if exp.get("method", self.command) != self.command:
            bad.append(f"method {self.command} != {exp['method']}")
        if exp.get("path", self.path) != self.path:
            bad.append(f"path {self.path} != {exp['path']}")
        for k, v in exp.get("headers", {}).items():
            if self.headers.get(k) != v:
                bad.append(f"header {k}: {self.headers.get(k)!r} != {v!r}")
        for k in exp.get("absent", []):
            if k in self.headers:
                bad.append(f"header {k} must not be sent")
        if "json" in exp:
            try:
                got = json.loads(body) if body else None
            except ValueError:
                got = body.decode(errors="replace")
            if got != exp["json"]:
                bad.append(f"json body {got!r} != {exp['json']!r}")
        if "body" in exp and body.decode(errors="replace") != exp["body"]:
            bad.append(f"body {body!r} != {exp['body']!r}")
        if "registry_auth" in exp:
            h = self.headers.get("X-Registry-Auth", "")
            try:
                got = json.loads(base64.urlsafe_b64decode(h.encode()))
            except ValueError:
                got = f"undecodable {h!r}"
            if got != exp["registry_auth"]:
                bad.append(f"registry auth {got!r} != {exp['registry_auth']!r}")
        if "tar" in exp:
            try:
                got = tar_entries(body)
            except (tarfile.TarError, ValueError) as e:
                got = f"bad tar: {e}"
            if got != exp["tar"]:
                bad.append(f"tar {got!r} != {exp['tar']!r}")
        for b in bad:
            log(f"MISMATCH exchange {n}: {b}")
        log(f"ok {n}")

        status = rep.get("status", 200)
        time.sleep(rep.get("delay", 0))
        if rep.get("hijack"):
            self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                             b"application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n"
                             b"Upgrade: tcp\r\n\r\n")
            self.wfile.flush()
            data = b""
            while True:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                data += chunk
            out = frames_bytes([[1, data.decode()]]) + frames_bytes(rep.get("frames", []))
            self.connection.sendall(out)
            self.close_connection = True
            return
        if "json" in rep:
            payload = json.dumps(rep["json"]).encode()
            ctype = "application/json"
        elif "lines" in rep:
            payload = b"".join(line.encode() + b"\r\n" for line in rep["lines"])
            ctype = "application/json"
        elif "frames" in rep:
            payload = frames_bytes(rep["frames"])
            ctype = "application/vnd.docker.raw-stream"
        elif "tar" in rep:
            payload = tar_bytes(rep["tar"])
            ctype = "application/x-tar"
        elif "raw_hex" in rep:
            payload = bytes.fromhex(rep["raw_hex"])
            ctype = "application/vnd.docker.raw-stream"
        else:
            payload = rep.get("body", "").encode()
            ctype = "text/plain"
        payload += b" " * rep.get("pad", 0)
        self.send_response_only(status)
        self.send_header("Content-Type", rep.get("content_type", ctype))
        for k, v in rep.get("headers", {}).items():
            self.send_header(k, v)
        if rep.get("chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            parts = ([line.encode() + b"\r\n" for line in rep["lines"]] if "lines" in rep
                     else [payload])
            for p in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif rep.get("short"):
            self.send_header("Content-Length", str(len(payload) + 100))
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True
        elif rep.get("close") or status == 101:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def stop(*_):
    for i in range(state["next"], len(EXCHANGES)):
        log(f"unused {i}")
    logf.close()
    try:
        os.unlink(SOCK)
    except OSError:
        pass
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
if SOCK.startswith("tcp:"):
    srv = TCPServer(("127.0.0.1", 0), Handler)
    if CERTS:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{CERTS}/server.pem", f"{CERTS}/server-key.pem")
        ctx.load_verify_locations(f"{CERTS}/ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(SOCK[4:] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(SOCK[4:] + ".tmp", SOCK[4:])
    SOCK = SOCK[4:]
else:
    # bind and listen under another name, then rename: the client waits for SOCK to exist,
    # and a socket that exists before listen() refuses connections (seen on a loaded CI host)
    for p in (SOCK, SOCK + ".tmp"):
        if os.path.exists(p):
            os.unlink(p)
    srv = Server(SOCK + ".tmp", Handler)
    os.rename(SOCK + ".tmp", SOCK)
log("ready")
srv.serve_forever()
