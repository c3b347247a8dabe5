"""Shared core of the service emulators: an HTTP/1.1 server that records
every request, injects scripted faults and exposes a control API under
/_emu/, so each emulator only writes its service's routes.

Python 3 standard library only.  Used by nomad.py, consul.py and forge.py.

Control API (same port as the service; real services never use /_emu/):
  GET    /_emu/requests          every recorded request, oldest first
  DELETE /_emu/requests          forget them
  POST   /_emu/faults            add a fault (JSON object, see Fault)
  DELETE /_emu/faults            remove every fault
  GET    /_emu/health            200 "ok"
Requests to /_emu/ are not recorded and never faulted.
"""

import argparse
import base64
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Cut(Exception):
    """Raised inside a handler when a fault cut the connection."""


class Fault:
    """A scripted failure for requests matching method and path regex.

    status/body/content_type: answer this instead of the real thing.
    delay:      sleep this many seconds before handling.
    cut_after:  close the connection after this many body bytes of the
                real response (streams included: "dropped midway").
    close:      close the connection without any answer.
    malformed:  answer what the real handler answers, status and framing
                intact, with the body made invalid JSON: a whole body cut
                to its first half, each chunk of a stream likewise and
                ended by a newline (the service did the work; its answer
                cannot be read).
    times:      how many requests it applies to (default: all).
    """

    def __init__(self, spec):
        self.method = spec.get("method")
        self.path = re.compile(spec.get("path", ".*"))
        self.status = spec.get("status")
        self.body = spec.get("body", "")
        self.content_type = spec.get("content_type", "text/plain; charset=utf-8")
        self.delay = float(spec.get("delay", 0))
        self.cut_after = spec.get("cut_after")
        self.close = bool(spec.get("close", False))
        self.malformed = bool(spec.get("malformed", False))
        self.times = spec.get("times")

    def matches(self, method, path):
        if self.method and self.method != method:
            return False
        return self.path.search(path) is not None


class Request:
    """One received request, as the route handlers see it."""

    def __init__(self, handler, body):
        self.handler = handler
        self.method = handler.command
        self.raw_path = handler.path
        parts = urllib.parse.urlsplit(handler.path)
        self.raw_query = parts.query
        self.path = urllib.parse.unquote(parts.path)
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = handler.headers
        self.body = body

    def arg(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def has(self, name):
        return name in self.query

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def record(self):
        return {
            "time": time.time(),
            "method": self.method,
            "path": self.raw_path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": self.body.decode("utf-8", "replace"),
            "body_b64": base64.b64encode(self.body).decode("ascii"),
        }


class Response:
    """Writes one response; counts body bytes so a fault can cut it."""

    def __init__(self, handler, cut_after=None, malformed=False):
        self.h = handler
        self.cut_after = cut_after
        self.malformed = malformed
        self.sent = 0
        self.chunked = False
        self.started = False

    def _raw(self, data):
        try:
            self.h.wfile.write(data)
            self.h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            raise Cut()

    def _body(self, data):
        if self.cut_after is not None and self.sent + len(data) > self.cut_after:
            keep = self.cut_after - self.sent
            if keep > 0:
                self._frame(data[:keep])
            self.h.close_connection = True
            try:
                self.h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise Cut()
        self.sent += len(data)
        self._frame(data)

    def _frame(self, data):
        if self.malformed and self.chunked and data:
            data = data[:len(data) // 2] + b"\n"
        if self.chunked:
            if data:
                self._raw(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self._raw(data)

    def start(self, status, headers=(), chunked=False, length=None, reason=None):
        """Send the status line and headers.  headers: list of (name, value)."""
        self.started = True
        self.chunked = chunked
        self.h.send_response_only(status, reason)
        for k, v in headers:
            self.h.send_header(k, v)
        if chunked:
            self.h.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.h.send_header("Content-Length", str(length))
        self.h.send_header("Date", self.h.date_time_string())
        self.h.end_headers()
        self.h.wfile.flush()

    def write(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._body(data)

    def end(self):
        if self.chunked:
            self._raw(b"0\r\n\r\n")

    def send(self, status, body=b"", content_type=None, headers=()):
        """A whole response with Content-Length."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if self.malformed:
            body = body[:len(body) // 2] or b"{"
        hdrs = list(headers)
        if content_type:
            hdrs.insert(0, ("Content-Type", content_type))
        self.start(status, hdrs, length=len(body))
        if self.h.command != "HEAD":
            self.write(body)

    def json(self, status, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        self.send(status, body, "application/json", headers)

    def text(self, status, text, headers=()):
        self.send(status, text, "text/plain; charset=utf-8", headers)


class Emulator:
    """Base of every emulator: subclasses implement handle(req, resp)."""

    name = "emu"

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.requests = []
        self.faults = []
        self.started = time.time()

    # ---- hooks for subclasses
    @classmethod
    def add_arguments(cls, parser):
        pass

    def handle(self, req, resp):
        resp.text(404, "")

    def control(self, req, resp):
        """Emulator-specific /_emu/<name>/... routes; return False if unknown."""
        return False

    # ---- core
    def _take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.matches(method, path):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self.faults.remove(f)
                    return f
        return None

    def _core_control(self, req, resp):
        p = req.path
        if p == "/_emu/health":
            resp.text(200, "ok")
        elif p == "/_emu/requests" and req.method == "GET":
            with self.lock:
                resp.json(200, list(self.requests))
        elif p == "/_emu/requests" and req.method == "DELETE":
            with self.lock:
                self.requests.clear()
            resp.json(200, True)
        elif p == "/_emu/faults" and req.method == "POST":
            spec = req.json()
            with self.lock:
                for s in spec if isinstance(spec, list) else [spec]:
                    self.faults.append(Fault(s))
            resp.json(200, True)
        elif p == "/_emu/faults" and req.method == "DELETE":
            with self.lock:
                self.faults.clear()
            resp.json(200, True)
        elif not self.control(req, resp):
            resp.text(404, "unknown control route " + p)

    def dispatch(self, handler, body):
        req = Request(handler, body)
        if req.path.startswith("/_emu/"):
            resp = Response(handler)
            try:
                self._core_control(req, resp)
            except Cut:
                pass
            except Exception as e:  # a bad control request is the test's bug
                if not resp.started:
                    resp.text(400, "control error: %r" % (e,))
            return
        with self.lock:
            self.requests.append(req.record())
        fault = self._take_fault(req.method, req.raw_path)
        resp = Response(handler, fault.cut_after if fault else None,
                        bool(fault and fault.malformed))
        try:
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.close:
                handler.close_connection = True
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault and fault.status is not None:
                resp.send(fault.status, fault.body, fault.content_type)
                return
            self.handle(req, resp)
        except Cut:
            handler.close_connection = True


def _read_body(handler):
    te = handler.headers.get("Transfer-Encoding", "")
    if "chunked" in te.lower():
        out = bytearray()
        while True:
            line = handler.rfile.readline(65537)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline(3)
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n else b""


def _make_handler(emu):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = emu.name
        sys_version = ""

        def log_message(self, fmt, *args):
            if emu.args.verbose:
                sys.stderr.write("%s: %s\n" % (emu.name, fmt % args))

        def _any(self):
            try:
                body = _read_body(self)
            except (ValueError, OSError):
                self.close_connection = True
                return
            emu.dispatch(self, body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def _watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


def main(cls, argv=None):
    ap = argparse.ArgumentParser(prog=cls.name)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--parent", type=int, help="exit when this process is gone")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    ap.add_argument("--verbose", action="store_true")
    cls.add_arguments(ap)
    args = ap.parse_args(argv)

    emu = cls(args)
    srv = Server((args.host, args.port), _make_handler(emu))
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.tls_client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if args.parent:
        threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    if hasattr(emu, "start"):
        emu.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    sys.stderr.write("%s: listening on %s:%d\n" % (cls.name, args.host, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
