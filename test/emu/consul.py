"""Consul KV emulator (HTTP API /v1/kv/) on emucore.

Wire facts from shared/api/consul-and-forges.md §A and its emulator checklist
(items 1-12).  Python 3 standard library only.

Flags (besides emucore's --host --port --port-file --parent --tls-cert
--tls-key --tls-client-ca --verbose):
  --personality legacy|1.21.5|1.22   key validation (default legacy):
        legacy  accept every key; the anonymous token's 403 names its
                AccessorID like any token's (Consul 1.14.5; later ones
                say "anonymous token lacks permission ... implicitly ...");
        1.21.5  keys must match ^[a-zA-Z0-9,_./\\-?&=]+$ else 500
                `invalid key name, keys should respect the "<regex>" format`;
        1.22    reject path traversal (../, ..\\, /.., encoded ..%2f) and
                leading/trailing spaces: 400 `invalid key name: ...`
                (exact 1.22 text unverified).
  --datacenter NAME        the agent's datacenter (default dc1); ?dc=other
                           gives 500 `No path to datacenter`.
  --acl                    ACLs enabled, default policy deny (no token =>
                           anonymous token => 403).  Without --acl tokens are
                           ignored and X-Consul-Default-Acl-Policy is allow.
  --token SECRET[=PREFIX]  (repeatable) token with key:read on keys starting
                           with PREFIX (empty/absent: every key).
  --write-token SECRET[=PREFIX]  (repeatable) key:read + key:write on PREFIX.
  --management-token SECRET      everything (use it to seed with curl PUT
                           in --acl mode: ?token=SECRET or X-Consul-Token).
  --rpc-prefix             prefix 403 texts with `rpc error making call: `.
  --max-value-size N       PUT body limit (default 524288) => 413.
  --pretty                 always pretty-print JSON like `consul agent -dev`
                           (4-space indent + newline); ?pretty does it
                           per request.
  --no-jitter              blocking queries wait exactly ?wait (real Consul
                           adds up to wait/16 of random jitter).
  --max-wait SECONDS       cap of ?wait (default 600 = max_query_time).
  --seed KEY=VALUE         (repeatable) initial entry (no validation).

Service routes: GET/PUT/DELETE /v1/kv/<key> with ?raw ?recurse ?keys
?separator= (and `seperator`) ?index= ?wait= ?token= ?dc= ?ns= ?flags=
?cas= ?pretty ?stale ?consistent.  Token precedence: ?token= >
X-Consul-Token > Authorization: Bearer (scheme any case, first word).
Headers (Go-canonical spelling): X-Consul-Default-Acl-Policy on every
/v1/kv answer; X-Consul-Index (never 0), X-Consul-Knownleader: true,
X-Consul-Lastcontact: 0 on 200/404 reads; Vary: Accept-Encoding.
Other /v1/ paths: 404 text.  Paths with //, /./ or /../ (after
percent-decoding): 301 to the cleaned path (Go ServeMux).

Control routes (JSON; never recorded, never faulted):
  GET    /_emu/consul/kv        {"<key>": {"value": "<utf-8, replaced>",
                                 "value_b64": "...", "flags": 0,
                                 "create_index": N, "modify_index": N}, ...}
  POST   /_emu/consul/kv        {"key": "k", "value": "text"} or
                                {"key": "k", "value_b64": "..."} [,"flags": N]
                                store bypassing ACL and key validation
                                (e.g. a `+` key written before an upgrade)
  DELETE /_emu/consul/kv        forget every entry (index keeps growing)
  POST   /_emu/consul/index     {"index": N}  set the raft index (N >= 0);
                                lets tests make X-Consul-Index go backwards
  GET    /_emu/consul/index     {"index": N}
  POST   /_emu/consul/tokens    {"secret": "s", "prefix": "albatros/",
                                 "write": false, "management": false}
  DELETE /_emu/consul/tokens    forget every token
  POST   /_emu/consul/config    {"personality": "1.21.5", "acl": true,
                                 "rpc_prefix": false, "datacenter": "dc1"}
                                (any subset) change behaviour at run time
"""

import base64
import json
import os
import posixpath
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emucore  # noqa: E402

REGEX_1215 = r"^[a-zA-Z0-9,_./\-?&=]+$"
KEY_RE_1215 = re.compile(REGEX_1215)
ANON_ACCESSOR = "00000000-0000-0000-0000-000000000002"
ANON_TAIL = (". The anonymous token is used implicitly when a request does "
             "not specify a token.")
DOCS_URL = ("https://developer.hashicorp.com/docs/agent/config/"
            "config-files#kv_max_value_size")

_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
              "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(s):
    """Go time.ParseDuration, in seconds; ValueError when Go would fail."""
    orig = s
    neg = False
    if s[:1] in "+-" and s:
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(orig)
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m:
            raise ValueError(orig)
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return -total if neg else total


def go_json(obj, pretty=False):
    """JSON as Go's encoding/json writes it (HTML-escaped)."""
    if pretty:
        s = json.dumps(obj, indent=4, ensure_ascii=False) + "\n"
    else:
        s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


def go_clean_path(p):
    """net/http cleanPath: collapse //, /./, /../, keep a trailing slash."""
    if p == "":
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    np = posixpath.normpath(p)
    if np.startswith("//"):
        np = "/" + np.lstrip("/")
    if p.endswith("/") and np != "/":
        np += "/"
    return np


class Token:
    def __init__(self, secret, prefix="", write=False, management=False):
        self.secret = secret
        self.prefix = prefix or ""
        self.write = write
        self.management = management
        self.accessor = str(uuid.uuid5(uuid.NAMESPACE_URL, "consul-emu:" + secret))

    def can(self, key, perm):
        if self.management:
            return True
        if perm == "write" and not self.write:
            return False
        return key.startswith(self.prefix)


class Entry:
    def __init__(self, key, value, flags, create, modify):
        self.key = key
        self.value = value
        self.flags = flags
        self.create = create
        self.modify = modify
        self.lock_index = 0

    def api(self):
        return {
            "LockIndex": self.lock_index,
            "Key": self.key,
            "Flags": self.flags,
            "Value": (base64.b64encode(self.value).decode("ascii")
                      if self.value else None),
            "CreateIndex": self.create,
            "ModifyIndex": self.modify,
        }


class Consul(emucore.Emulator):
    name = "consul"

    @classmethod
    def add_arguments(cls, ap):
        ap.add_argument("--personality", choices=["legacy", "1.21.5", "1.22"],
                        default="legacy")
        ap.add_argument("--datacenter", default="dc1")
        ap.add_argument("--acl", action="store_true")
        ap.add_argument("--token", action="append", default=[])
        ap.add_argument("--write-token", action="append", default=[])
        ap.add_argument("--management-token", action="append", default=[])
        ap.add_argument("--rpc-prefix", action="store_true")
        ap.add_argument("--max-value-size", type=int, default=524288)
        ap.add_argument("--pretty", action="store_true")
        ap.add_argument("--no-jitter", action="store_true")
        ap.add_argument("--max-wait", type=float, default=600.0)
        ap.add_argument("--seed", action="append", default=[])

    def __init__(self, args):
        super().__init__(args)
        self.cond = threading.Condition(self.lock)
        self.kv = {}          # key -> Entry
        self.tombstones = {}  # key -> index of its deletion
        self.index = 0        # raft index of the last write
        self.personality = args.personality
        self.acl = args.acl
        self.rpc_prefix = args.rpc_prefix
        self.datacenter = args.datacenter
        self.tokens = {}
        for spec in args.token:
            s, _, p = spec.partition("=")
            self.tokens[s] = Token(s, p)
        for spec in args.write_token:
            s, _, p = spec.partition("=")
            self.tokens[s] = Token(s, p, write=True)
        for s in args.management_token:
            self.tokens[s] = Token(s, management=True)
        for spec in args.seed:
            k, _, v = spec.partition("=")
            self._put(k, v.encode("utf-8"), 0)

    # ---- state (call with self.lock held)
    def _put(self, key, value, flags):
        self.index += 1
        e = self.kv.get(key)
        if e is None:
            e = Entry(key, value, flags, self.index, self.index)
            self.kv[key] = e
        else:
            e.value, e.flags, e.modify = value, flags, self.index
        self.tombstones.pop(key, None)
        self.cond.notify_all()

    def _delete(self, key, recurse):
        self.index += 1
        keys = [k for k in self.kv if (k.startswith(key) if recurse else k == key)]
        for k in keys:
            del self.kv[k]
            self.tombstones[k] = self.index
        self.cond.notify_all()

    def _table_index(self):
        return self.index

    # ---- helpers
    def _token(self, req):
        t = req.arg("token")
        if t:
            return t
        t = req.header("X-Consul-Token")
        if t:
            return t
        auth = req.header("Authorization")
        if auth:
            parts = auth.split(" ")
            if len(parts) > 1 and parts[0].lower() == "bearer":
                value = " ".join(parts[1:]).strip()
                return value.split(" ")[0].strip()
        return ""

    def _acl_check(self, secret, key, perm):
        """None if allowed, else the 403 text."""
        if not self.acl:
            return None
        pre = "rpc error making call: " if self.rpc_prefix else ""
        if secret == "" and self.personality == "legacy":
            # Consul 1.14.5 acl/errors.go PermissionDeniedError.Error: the
            # anonymous token is named by its AccessorID like any other
            return (pre + "Permission denied: token with AccessorID '%s' lacks "
                    "permission 'key:%s' on \"%s\"" % (ANON_ACCESSOR, perm, key))
        if secret == "":
            return (pre + "Permission denied: anonymous token lacks permission "
                    "'key:%s' on \"%s\"" % (perm, key) + ANON_TAIL)
        tok = self.tokens.get(secret)
        if tok is None:
            return pre + "ACL not found"
        if tok.can(key, perm):
            return None
        return (pre + "Permission denied: token with AccessorID '%s' lacks "
                "permission 'key:%s' on \"%s\"" % (tok.accessor, perm, key))

    def _can_read(self, secret, key):
        return self._acl_check(secret, key, "read") is None

    def _base_headers(self):
        return [("Vary", "Accept-Encoding"),
                ("X-Consul-Default-Acl-Policy", "deny" if self.acl else "allow")]

    def _meta_headers(self, index):
        return [("X-Consul-Index", str(max(index, 1))),
                ("X-Consul-Knownleader", "true"),
                ("X-Consul-Lastcontact", "0")]

    def _key_error(self, key):
        """(status, text) when the personality refuses the key, else None."""
        if self.personality == "1.21.5":
            if not KEY_RE_1215.match(key):
                return 500, ('invalid key name, keys should respect the "%s" format'
                             % REGEX_1215)
        elif self.personality == "1.22":
            low = key.lower()
            bad = ("../", "..\\", "/..", "..%2f", "%2e%2e", "..%5c")
            if key == ".." or any(b in low for b in bad):
                return 400, "invalid key name: path traversal is not allowed"
            if key != key.strip(" "):
                return 400, "invalid key name: leading or trailing spaces are not allowed"
        return None

    # ---- service
    def handle(self, req, resp):
        base = self._base_headers()
        clean = go_clean_path(req.path)
        if clean != req.path:
            loc = urllib.parse.quote(clean, safe="/:@!$&'()*+,;=-._~")
            if req.raw_query:
                loc += "?" + req.raw_query
            body = '<a href="%s">Moved Permanently</a>.\n\n' % loc
            hdrs = [("Location", loc)]
            if req.method in ("GET", "HEAD"):
                resp.send(301, body, "text/html; charset=utf-8", hdrs)
            else:
                resp.send(301, b"", None, hdrs)
            return
        if not req.path.startswith("/v1/kv/"):
            resp.send(404, "404 page not found\n", "text/plain; charset=utf-8")
            return
        if req.method not in ("GET", "PUT", "DELETE"):
            resp.send(405, "method %s not allowed" % req.method,
                      "text/plain; charset=utf-8",
                      base + [("Allow", "GET,PUT,DELETE,OPTIONS")])
            return

        def err(code, text, extra=()):
            resp.send(code, text, "text/plain; charset=utf-8", base + list(extra))

        # parameters checked by the HTTP layer before the endpoint
        if req.arg("ns") or req.header("X-Consul-Namespace"):
            return err(400, 'Invalid query parameter: "ns" - Namespaces are a '
                            'Consul Enterprise feature')
        if req.arg("partition") or req.header("X-Consul-Partition"):
            return err(400, 'Invalid query parameter: "partition" - Partitions '
                            'are a Consul Enterprise feature')
        if req.has("stale") and req.has("consistent"):
            return err(400, "Cannot specify ?stale with ?consistent, conflicting "
                            "semantics.")
        wait = None
        min_index = 0
        if req.method == "GET":
            if req.arg("wait"):
                try:
                    wait = parse_go_duration(req.arg("wait"))
                except ValueError:
                    return err(400, "Invalid wait time")
            if req.arg("index"):
                try:
                    min_index = int(req.arg("index"), 10)
                    if min_index < 0 or min_index >= 2 ** 64 or \
                            not req.arg("index").isdigit():
                        raise ValueError
                except ValueError:
                    return err(400, "Invalid index")
        key = req.path[len("/v1/kv/"):]
        secret = self._token(req)
        dc = req.arg("dc")
        if dc and dc != self.datacenter:
            return err(500, "No path to datacenter")
        if key:
            bad = self._key_error(key)
            if bad:
                return err(*bad)
        pretty = self.args.pretty or req.has("pretty")
        if req.method == "GET":
            return self._get(req, resp, key, secret, min_index, wait, pretty, err)
        if req.method == "PUT":
            return self._put_req(req, resp, key, secret, pretty, err)
        return self._delete_req(req, resp, key, secret, pretty, err)

    def _json(self, resp, status, obj, pretty, headers):
        resp.send(status, go_json(obj, pretty), "application/json", headers)

    def _get(self, req, resp, key, secret, min_index, wait, pretty, err):
        keys_mode = req.has("keys")
        recurse = req.has("recurse") or keys_mode
        if not key and not recurse:
            return err(400, "Missing key name")
        if not recurse:
            denied = self._acl_check(secret, key, "read")
            if denied:
                return err(403, denied)
        sep = req.arg("separator", req.arg("seperator", ""))

        def compute():
            """(index, result or None, filtered) under the lock."""
            if not recurse:
                e = self.kv.get(key)
                if e is None:
                    return self._table_index(), None, False
                return e.modify, e, False
            ents = sorted((k, e) for k, e in self.kv.items() if k.startswith(key))
            idx = 0
            for k, e in ents:
                idx = max(idx, e.modify)
            for k, i in self.tombstones.items():
                if k.startswith(key):
                    idx = max(idx, i)
            if idx == 0:
                idx = self._table_index()
            visible = [e for k, e in ents if self._can_read(secret, k)]
            filtered = len(visible) != len(ents)
            return idx, visible, filtered

        deadline = None
        if min_index > 0:
            w = 300.0 if wait is None else wait
            w = min(max(w, 0.0), self.args.max_wait)
            if w <= 0:
                w = 300.0
            if not self.args.no_jitter:
                w += random.random() * w / 16
            deadline = time.monotonic() + w
        with self.cond:
            idx, res, filtered = compute()
            while deadline is not None and idx <= min_index:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
                idx, res, filtered = compute()
            # snapshot under the lock, answer outside it
            if not recurse:
                snap = None if res is None else (res.value, res.api())
            else:
                snap = [(e.key, e.api()) for e in res]
        hdrs = self._base_headers() + self._meta_headers(idx)
        if filtered and secret:
            hdrs.append(("X-Consul-Results-Filtered-By-Acls", "true"))
        if not recurse:
            if snap is None:
                resp.send(404, b"", None, hdrs)
            elif req.has("raw"):
                resp.send(200, snap[0], "text/plain", hdrs + [
                    ("X-Content-Type-Options", "nosniff"),
                    ("Content-Security-Policy", "sandbox")])
            else:
                self._json(resp, 200, [snap[1]], pretty, hdrs)
            return
        if keys_mode:
            out = []
            for k, _ in snap:
                if sep:
                    i = k.find(sep, len(key))
                    if i >= 0:
                        k = k[:i + len(sep)]
                if not out or out[-1] != k:
                    out.append(k)
            if not out and key:
                resp.send(404, b"", None, hdrs)
            else:
                self._json(resp, 200, out, pretty, hdrs)
            return
        if not snap:
            resp.send(404, b"", None, hdrs)
        else:
            self._json(resp, 200, [a for _, a in snap], pretty, hdrs)

    def _put_req(self, req, resp, key, secret, pretty, err):
        if not key:
            return err(400, "Missing key name")
        n = int(req.header("Content-Length") or len(req.body))
        if n > self.args.max_value_size:
            return err(413, "Request body(%d bytes) too large, max size: %d bytes. "
                            "See %s." % (n, self.args.max_value_size, DOCS_URL))
        denied = self._acl_check(secret, key, "write")
        if denied:
            return err(403, denied)
        flags = 0
        if req.arg("flags"):
            try:
                flags = int(req.arg("flags"))
            except ValueError:
                return err(400, "Invalid flags: %s" % req.arg("flags"))
        with self.cond:
            if req.has("cas"):
                try:
                    cas = int(req.arg("cas"))
                except (TypeError, ValueError):
                    return err(400, "Invalid cas value: %s" % req.arg("cas"))
                e = self.kv.get(key)
                if (cas == 0 and e is not None) or (cas != 0 and (e is None or e.modify != cas)):
                    return self._json(resp, 200, False, pretty, self._base_headers())
            self._put(key, req.body, flags)
        self._json(resp, 200, True, pretty, self._base_headers())

    def _delete_req(self, req, resp, key, secret, pretty, err):
        recurse = req.has("recurse")
        if not key and not recurse:
            return err(400, "Missing key name")
        denied = self._acl_check(secret, key, "write")
        if denied:
            return err(403, denied)
        with self.cond:
            self._delete(key, recurse)
        self._json(resp, 200, True, pretty, self._base_headers())

    # ---- control
    def control(self, req, resp):
        p = req.path
        m = req.method
        if p == "/_emu/consul/kv" and m == "GET":
            with self.lock:
                out = {k: {"value": e.value.decode("utf-8", "replace"),
                           "value_b64": base64.b64encode(e.value).decode("ascii"),
                           "flags": e.flags, "create_index": e.create,
                           "modify_index": e.modify}
                       for k, e in sorted(self.kv.items())}
            resp.json(200, out)
        elif p == "/_emu/consul/kv" and m == "POST":
            spec = req.json()
            for s in spec if isinstance(spec, list) else [spec]:
                if "value_b64" in s:
                    v = base64.b64decode(s["value_b64"])
                else:
                    v = s.get("value", "")
                    v = v.encode("utf-8") if isinstance(v, str) else \
                        json.dumps(v).encode("utf-8")
                with self.cond:
                    self._put(s["key"], v, int(s.get("flags", 0)))
            resp.json(200, True)
        elif p == "/_emu/consul/kv" and m == "DELETE":
            with self.cond:
                self._delete("", True)
            resp.json(200, True)
        elif p == "/_emu/consul/index" and m == "GET":
            with self.lock:
                resp.json(200, {"index": self.index})
        elif p == "/_emu/consul/index" and m == "POST":
            n = int(req.json()["index"])
            with self.cond:
                self.index = n
                for e in self.kv.values():
                    e.create = min(e.create, n)
                    e.modify = min(e.modify, n)
                self.tombstones.clear()
                self.cond.notify_all()
            resp.json(200, True)
        elif p == "/_emu/consul/tokens" and m == "POST":
            spec = req.json()
            with self.lock:
                for s in spec if isinstance(spec, list) else [spec]:
                    t = Token(s["secret"], s.get("prefix", ""), bool(s.get("write")),
                              bool(s.get("management")))
                    self.tokens[t.secret] = t
            resp.json(200, True)
        elif p == "/_emu/consul/tokens" and m == "DELETE":
            with self.lock:
                self.tokens.clear()
            resp.json(200, True)
        elif p == "/_emu/consul/config" and m == "POST":
            spec = req.json()
            with self.lock:
                if "personality" in spec:
                    if spec["personality"] not in ("legacy", "1.21.5", "1.22"):
                        raise ValueError("personality")
                    self.personality = spec["personality"]
                if "acl" in spec:
                    self.acl = bool(spec["acl"])
                if "rpc_prefix" in spec:
                    self.rpc_prefix = bool(spec["rpc_prefix"])
                if "datacenter" in spec:
                    self.datacenter = spec["datacenter"]
            resp.json(200, True)
        else:
            return False
        return True


if __name__ == "__main__":
    emucore.main(Consul)
