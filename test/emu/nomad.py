"""Nomad HTTP API emulator for the albatros tests (python3 stdlib only).

Faithful to the wire facts of shared/api/nomad.md: parameterized jobs,
dispatch (500 validation texts, idempotency tokens), job/alloc/summary reads
with blocking queries, go-bexpr job filters, deregistration, a scriptable
lifecycle for dispatched children, the logs endpoint (concatenated JSON
frames, rotation, follow that never ends) and the event stream.

Command-line flags (besides emucore's --host/--port/--port-file/--parent/
--tls-*/--verbose):
  --acl                       enable ACLs (tokens required)
  --token SECRET=cap1,cap2[@ns1,ns2]   add a token (repeatable; capability
                              "management" allows everything; no @ = every
                              namespace).  Capabilities used: submit-job,
                              dispatch-job, read-job, list-jobs, read-logs,
                              read-fs.
  --log-heartbeat SECS        `{}` frame interval on /v1/client/fs/logs (1.0)
  --event-heartbeat SECS      `{}` line interval on /v1/event/stream (30)
  --event-transport hijack|chunked   event stream transport and ACL rule
                              (hijack = Nomad >= 1.11.2: raw 200, Connection:
                              close, a refusal gives 200 + EOF, namespace=*
                              needs read-job in every namespace; chunked =
                              Nomad 1.6.3: a refusal is 500 "Permission
                              denied", 403 for an unknown secret, and
                              namespace=* needs read-job in any namespace)
  --event-buffer N            event batches kept (100)
  --exec                      run raw_exec tasks of dispatched jobs as local
                              processes (Config.command + args) instead of
                              the scripted outcome
  --exec-dir DIR              where exec mode makes alloc dirs (a temp dir)
  --max-priority N            job_max_priority (100)

Control routes (JSON bodies; never recorded or faulted; "job" lookups take
an optional "namespace", default "default"):
  POST /_emu/nomad/behavior   {"job": "<parent id>" | "*", <scenario keys>}
                              what later dispatched children of that parent
                              (or any job: "*") do.  {"job": X, "reset": true}
                              removes the scenario of X.
  POST /_emu/nomad/finish     {"job": "<child id>", "exit_code": N}
                              or {"job": ..., "outcome": "success"|"failure"|
                              "lost"} ends the current run of a child (e.g. a
                              "hold" one) now; before the task has started,
                              it ends the first run as soon as it starts
                              (never a stop: only a DELETE stops).
  POST /_emu/nomad/log        {"alloc": "<alloc id>" | "job": "<child id>",
                              "task": optional, "stream": "stdout"|"stderr",
                              "data": "text" | "data_b64": "..."}  appends
                              to a task's log (as if the task wrote it).
  POST /_emu/nomad/bigjob     {"alloc"|"job": ..., "stream": "stdout",
                              "size": N}  appends N bytes of synthetic,
                              lazily generated log lines (64-byte lines).
  POST /_emu/nomad/token      {"secret": "s", "capabilities": ["read-job"],
                              "namespaces": ["default"]}  (namespaces
                              optional: all)
  POST /_emu/nomad/gc         {"job": "<id>", "namespace": "default"}  purge
                              a job and its allocs/evals as the GC would (an
                              idempotency token becomes reusable; open log
                              streams of its allocs get a "file deleted"
                              frame, then the error text appended to the
                              200 body: "failed to list entries: ...").
  GET  /_emu/nomad/jobs       dump of the whole state (jobs with allocs,
                              scenarios, indexes) for debugging.

Lifecycle of a dispatched child (scripted mode): job pending (eval
pending) -> PlanResult: alloc pending, TaskStates null, job running ->
Received + Task Setup -> Started (StartedAt; logs 404 before this) -> run
-> Terminated (ExitCode, Details.exit_code) -> [Restarting -> Started]* ->
dead: complete ("All tasks have completed") or Not Restarting + failed
("Failed tasks") -> job dead, summary updated.  DELETE: DesiredStatus stop,
Killing/Killed, alloc complete, job Stop true / dead.  Events keep the last
10.  Group and task names come from the registered job (first group, first
task).  Non-parameterized batch jobs registered directly run the same way
(scenario looked up by their own ID, then "*").  Blocking queries have no
jitter.  In exec mode (--exec) the task really runs (Config.command + args,
meta as NOMAD_META_<UPPER>/NOMAD_META_<k>, Env interpolated, payload in
$NOMAD_TASK_DIR/<DispatchPayload.File>, stdout/stderr into the log store)
and its exit code decides; `restarts` still applies.

Scenario keys (all optional; times are seconds):
  outcome        "success" (default, or "failure" if exit_code != 0) |
                 "failure" | "lost" | "driver_failure" | "never_placed"
  exit_code      exit code of the final run (default 0, 1 for failure)
  restarts       task restarts before the final run (earlier runs exit with
                 restart_exit_code, default 1); "Restarting" events, then
                 "Not Restarting" (FailsTask) if the final run fails
  driver_error   DriverError text for outcome driver_failure
  first_exit_code  exit code of the failing first alloc with reschedule (1)
  restart_delay  delay between runs (0.1)
  reschedule     true: a first alloc fails (exit 1), then a second alloc
                 (PreviousAllocation / NextAllocation linked) runs the outcome
  reschedule_delay  (0.1)
  place_delay    dispatch -> alloc placed (0.05)
  start_delay    alloc placed -> task started (0.1)
  run_time       task running time per run (0.3, extended to cover logs)
  hold           true: stay running until POST /_emu/nomad/finish (or a
                 DELETE of the job); finish makes the current run the last
  logs           [{"at": 0.1, "stream": "stdout", "data": "text"}, ...] or
                 {"lines": N, "over": secs, "stream": "stdout"|"stderr"|
                 "both", "prefix": "line"} -> "line 1\\n", "line 2\\n", ...
                 (a list may mix both forms); replayed on every run
  log_bytes      {"stream": "stdout", "size": N}: a big synthetic log
                 written when the task starts (cheap, lazy)
  rotate_bytes   max log file size before rotating to .1, .2, ...
  max_files      rotated files kept (default task LogConfig.MaxFiles or 10);
                 older ones are deleted ("file deleted" frames)
  truncate_at    truncate the log file once when it reaches this size
                 ("file truncated" frames)
  follow_lag     a fault: follow=true log streams see each file as it was
                 this many seconds ago (a lagging follow stream: the tail
                 written before the task died comes late); follow=false
                 streams are not affected
"""

import base64
import binascii
import bisect
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emucore  # noqa: E402

NS = 1_000_000_000
PAYLOAD_LIMIT = 16384
FRAME_SIZE = 64 * 1024
BATCH_WINDOW = 0.2
MAX_WAIT = 300.0
MAX_EVENTS = 10
NODE_ID = str(uuid.uuid4())
NODE_NAME = "emu-node-1"
TERMINAL = ("complete", "failed", "lost")
KILL_TIMEOUT = 5 * NS


def now_ns():
    return time.time_ns()


def rfc3339(ns):
    """Go RFC3339Nano in UTC; zero time -> None (null)."""
    if not ns:
        return None
    s, frac = divmod(ns, NS)
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    if frac:
        t += "." + ("%09d" % frac).rstrip("0")
    return t + "Z"


def dumps(obj):
    # Nomad 1.6.3 encodes with hashicorp/go-msgpack v1.1.5's JsonHandle,
    # which writes a struct's fields sorted by name (codec/helper.go
    # sfiSortedByEncName; encode.go kStruct uses sfiSort), and a map's keys
    # in Go's random order: sorted is one of those orders.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def snappy(data):
    """Snappy block encoding with literals only (valid, uncompressed)."""
    n = len(data)
    out = bytearray()
    v = n
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            break
    pos = 0
    while pos < n:
        chunk = data[pos:pos + 65536]
        ln = len(chunk) - 1
        if ln < 60:
            out.append(ln << 2)
        elif ln < 256:
            out += bytes([60 << 2, ln])
        else:
            out += bytes([61 << 2, ln & 0xFF, ln >> 8])
        out += chunk
        pos += len(chunk)
    return bytes(out)


def go_parse_bool(s):
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError('strconv.ParseBool: parsing "%s": invalid syntax' % s)


_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6,
              "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DUR_RE = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def go_duration(s):
    """Go time.ParseDuration -> seconds; ValueError on bad syntax."""
    orig = s
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(orig)
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(orig)
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def go_multierror(errs):
    """hashicorp/go-multierror's ListFormatFunc."""
    if len(errs) == 1:
        return "1 error occurred:\n\t* %s\n\n" % errs[0]
    return "%d errors occurred:\n\t%s\n\n" % (len(errs), "\n\t".join("* " + e for e in errs))


def go_fmt_list(keys):
    return "[" + " ".join(keys) + "]"


def clean_env(name):
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def is_zero(v):
    if v is None or v is False:
        return True
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v == 0
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    return False


def omit_zero(d):
    """go-msgpack `_struct omitempty`: drop zero-valued fields."""
    return {k: v for k, v in d.items() if not is_zero(v)}


def ci_fields(obj, names):
    """Go encoding/json field matching: exact, else case-insensitive."""
    out = {}
    low = {n.lower(): n for n in names}
    for k, v in obj.items():
        if k in names:
            out[k] = v
        elif k.lower() in low:
            out[low[k.lower()]] = v
    return out


class HTTPError(Exception):
    def __init__(self, status, text, meta=False):
        Exception.__init__(self, text)
        self.status = status
        self.text = text
        self.meta = meta


class DecodeError(Exception):
    pass


def go_json_error(body, e):
    doc = e.doc if hasattr(e, "doc") else ""
    pos = getattr(e, "pos", len(doc))
    if pos >= len(doc.rstrip()):
        return "unexpected EOF"
    return "invalid character %r looking for beginning of value" % doc[pos]


def go_b64(s, field):
    if s is None:
        return b""
    if not isinstance(s, str):
        raise DecodeError("json: cannot unmarshal %s into Go struct field %s of type []uint8"
                          % (json_type(s), field))
    s2 = s.replace("\r", "").replace("\n", "")
    for i, c in enumerate(s2):
        if not (c.isalnum() and c.isascii() or c in "+/="):
            raise DecodeError("illegal base64 data at input byte %d" % i)
    try:
        return base64.b64decode(s2, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("illegal base64 data at input byte %d" % max(0, len(s2) - 1))


def json_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


# --------------------------------------------------------------------------
# go-bexpr subset


class BexprError(Exception):
    pass


class BexprEvalError(Exception):
    pass


_TOK_RE = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|'
                     r'(?P<op>==|!=|\(|\)|\[|\]|\.)|(?P<word>[A-Za-z0-9_\-/:+*]+))')


def bexpr_tokens(s):
    toks = []
    pos = 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOK_RE.match(s, pos)
        if not m or m.end() == pos:
            raise BexprError("1:%d (%d): no match found, unexpected %r" % (pos + 1, pos, s[pos:pos + 1]))
        if m.group("str") is not None:
            toks.append(("str", json.loads(m.group("str"))))
        elif m.group("raw") is not None:
            toks.append(("str", m.group("raw")[1:-1]))
        elif m.group("op") is not None:
            toks.append(("op", m.group("op")))
        else:
            toks.append(("word", m.group("word")))
        pos = m.end()
    return toks


class Bexpr:
    """and/or/not, ==, !=, in, not in, contains, not contains, is (not)
    empty, (not) matches; selectors a.b, a["k"]."""

    def __init__(self, text):
        self.toks = bexpr_tokens(text)
        self.i = 0
        if not self.toks:
            raise BexprError("1:1 (0): no match found, expected: \"(\", \"not\" or selector")
        self.tree = self.p_or()
        if self.i != len(self.toks):
            raise BexprError("1:%d: unexpected token %r" % (self.i + 1, self.toks[self.i][1]))

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def kw(self, word):
        t = self.peek()
        return t[0] == "word" and t[1] == word

    def p_or(self):
        left = self.p_and()
        while self.kw("or"):
            self.take()
            left = ("or", left, self.p_and())
        return left

    def p_and(self):
        left = self.p_not()
        while self.kw("and"):
            self.take()
            left = ("and", left, self.p_not())
        return left

    def p_not(self):
        if self.kw("not"):
            self.take()
            return ("not", self.p_not())
        if self.peek() == ("op", "("):
            self.take()
            e = self.p_or()
            if self.take() != ("op", ")"):
                raise BexprError("missing )")
            return e
        return self.p_match()

    def p_value(self):
        t = self.take()
        if t[0] in ("str", "word"):
            return t[1]
        raise BexprError("expected a value")

    def p_selector(self):
        t = self.take()
        if t[0] != "word":
            raise BexprError("expected a selector, got %r" % (t[1],))
        path = [t[1]]
        while True:
            if self.peek() == ("op", "."):
                self.take()
                t = self.take()
                if t[0] != "word":
                    raise BexprError("bad selector")
                path.append(t[1])
            elif self.peek() == ("op", "["):
                self.take()
                t = self.take()
                if t[0] != "str" or self.take() != ("op", "]"):
                    raise BexprError("bad selector index")
                path.append(t[1])
            else:
                return path

    def p_match(self):
        if self.peek()[0] == "str" or (self.peek()[0] == "word" and self.peek(1) in
                                       (("word", "in"), ("word", "not"))
                                       and (self.peek(1) == ("word", "in") or self.peek(2) == ("word", "in"))):
            val = self.p_value()
            neg = False
            if self.kw("not"):
                self.take()
                neg = True
            if not self.kw("in"):
                raise BexprError("expected in")
            self.take()
            return ("in", val, self.p_selector(), neg)
        sel = self.p_selector()
        t = self.take()
        if t == ("op", "=="):
            return ("eq", sel, self.p_value(), False)
        if t == ("op", "!="):
            return ("eq", sel, self.p_value(), True)
        if t == ("word", "is"):
            neg = False
            if self.kw("not"):
                self.take()
                neg = True
            if not self.kw("empty"):
                raise BexprError("expected empty")
            self.take()
            return ("empty", sel, None, neg)
        neg = False
        if t == ("word", "not"):
            neg = True
            t = self.take()
        if t == ("word", "contains"):
            return ("contains", sel, self.p_value(), neg)
        if t == ("word", "matches"):
            v = self.p_value()
            try:
                re.compile(v)
            except re.error as e:
                raise BexprError("invalid regular expression: %s" % e)
            return ("matches", sel, v, neg)
        raise BexprError("no match found for operator %r" % (t[1],))

    @staticmethod
    def lookup(datum, path):
        cur = datum
        for i, p in enumerate(path):
            ptr = "/" + "/".join(path[:i + 1])
            if isinstance(cur, dict) and i == 0:
                if p not in cur:
                    raise BexprEvalError('error finding value in datum: %s at part %d: '
                                         'couldn\'t find struct field with name "%s"' % (ptr, i, p))
                cur = cur[p]
            elif isinstance(cur, dict) or cur is None:
                if cur is None or p not in cur:
                    raise BexprEvalError('error finding value in datum: /%s at part %d: '
                                         'couldn\'t find key "%s"' % ("/".join(path), i, p))
                cur = cur[p]
            elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                cur = cur[int(p)]
            else:
                raise BexprEvalError('error finding value in datum: /%s at part %d: '
                                     'couldn\'t find key "%s"' % ("/".join(path), i, p))
        return cur

    @staticmethod
    def coerce_eq(val, lit):
        if isinstance(val, bool):
            return val == (lit == "true")
        if isinstance(val, (int, float)):
            try:
                return val == float(lit)
            except ValueError:
                raise BexprEvalError("cannot convert %q to a number" % lit)
        if val is None:
            return lit == ""
        return str(val) == lit

    def ev(self, node, datum):
        op = node[0]
        if op == "or":
            return self.ev(node[1], datum) or self.ev(node[2], datum)
        if op == "and":
            return self.ev(node[1], datum) and self.ev(node[2], datum)
        if op == "not":
            return not self.ev(node[1], datum)
        if op == "in":
            _, lit, sel, neg = node
            v = self.lookup(datum, sel)
            if isinstance(v, dict):
                r = lit in v
            elif isinstance(v, list):
                r = any(str(x) == lit for x in v)
            elif isinstance(v, str):
                r = lit in v
            else:
                r = False
            return r != neg
        _, sel, lit, neg = node
        v = self.lookup(datum, sel)
        if op == "eq":
            return self.coerce_eq(v, lit) != neg
        if op == "empty":
            r = v is None or (hasattr(v, "__len__") and len(v) == 0)
            return r != neg
        if op == "contains":
            if isinstance(v, dict):
                r = lit in v
            elif isinstance(v, list):
                r = any(str(x) == lit for x in v)
            else:
                r = lit in str(v or "")
            return r != neg
        if op == "matches":
            return (re.search(lit, str(v if v is not None else "")) is not None) != neg
        raise BexprEvalError("bad op")

    def match(self, datum):
        return self.ev(self.tree, datum)


# --------------------------------------------------------------------------
# log store


class LogFile:
    """One log file: bytearray segments and lazy repeated blocks."""

    def __init__(self):
        self.segs = []  # (start, kind, data, phase, length)
        self.size = 0
        self.gen = 0
        self.hist = []  # (monotonic time, size after a write), for follow_lag

    def append(self, data):
        if self.segs and self.segs[-1][1] == "b":
            self.segs[-1][2].extend(data)
            s = self.segs[-1]
            self.segs[-1] = (s[0], "b", s[2], 0, s[4] + len(data))
        else:
            self.segs.append((self.size, "b", bytearray(data), 0, len(data)))
        self.size += len(data)
        self.hist.append((time.monotonic(), self.size))

    def append_lazy(self, rep, phase, length):
        self.segs.append((self.size, "r", rep, phase, length))
        self.size += length
        self.hist.append((time.monotonic(), self.size))

    def visible(self, t):
        """The size the file had at monotonic time t."""
        i = bisect.bisect_right(self.hist, (t, 1 << 62))
        return self.hist[i - 1][1] if i else 0

    def truncate(self):
        self.segs = []
        self.size = 0
        self.gen += 1
        self.hist = []

    def read(self, off, n):
        out = []
        end = min(self.size, off + n)
        for start, kind, data, phase, length in self.segs:
            if start + length <= off:
                continue
            if start >= end:
                break
            a = off - start
            b = min(length, end - start)
            if kind == "b":
                out.append(bytes(data[a:b]))
            else:
                block, big = data
                p = (phase + a) % len(block)
                while b - a > 0:
                    take = min(b - a, len(big) - p)
                    out.append(big[p:p + take])
                    a += take
                    p = 0
            off = start + b
        return b"".join(out)


class LogStream:
    """alloc/logs/<task>.<type>.<n> files of one task and type."""

    def __init__(self, rotate_bytes=0, max_files=10, truncate_at=0, follow_lag=0.0):
        self.files = {0: LogFile()}
        self.follow_lag = float(follow_lag or 0)
        self.cur = 0
        self.rotate_bytes = int(rotate_bytes or 0)
        self.max_files = max(1, int(max_files or 10))
        self.truncate_at = int(truncate_at or 0)
        self.truncated = False

    def _rotate(self):
        self.cur += 1
        self.files[self.cur] = LogFile()
        for i in list(self.files):
            if i <= self.cur - self.max_files:
                del self.files[i]

    def _room(self):
        f = self.files[self.cur]
        if self.truncate_at and not self.truncated and f.size >= self.truncate_at:
            f.truncate()
            self.truncated = True
        if self.rotate_bytes:
            if f.size >= self.rotate_bytes:
                self._rotate()
                f = self.files[self.cur]
            return f, self.rotate_bytes - f.size
        if self.truncate_at and not self.truncated:
            return f, self.truncate_at - f.size
        return f, 1 << 62

    def append(self, data):
        data = bytes(data)
        while data:
            f, room = self._room()
            f.append(data[:room])
            data = data[room:]
        self._room()

    def append_lazy(self, rep, size):
        done = 0
        while done < size:
            f, room = self._room()
            take = min(room, size - done)
            f.append_lazy(rep, done % len(rep[0]), take)
            done += take
        self._room()


def _big_block():
    lines = []
    for i in range(1024):
        head = "big log line %04d " % i
        lines.append(head + "." * (63 - len(head)) + "\n")
    block = "".join(lines).encode()
    return (block, block * 18)  # big: block repeated, >= 1 MiB + block


BIG = _big_block()


# --------------------------------------------------------------------------
# state model


class Job:
    def __init__(self, d):
        self.d = d
        self.payload = b""
        self.alloc_ids = []
        self.eval_ids = []
        self.summary = None
        self.rt = None
        self.queued = 0

    @property
    def key(self):
        return (self.d["Namespace"], self.d["ID"])

    def is_parent(self):
        return self.d.get("ParameterizedJob") is not None and not self.d.get("Dispatched")

    def group(self):
        tgs = self.d.get("TaskGroups") or [{}]
        return tgs[0]

    def group_name(self):
        return self.group().get("Name") or "runner"

    def tasks(self):
        return [t.get("Name") for t in (self.group().get("Tasks") or [])] or ["executor"]

    def task(self, name=None):
        for t in self.group().get("Tasks") or []:
            if name is None or t.get("Name") == name:
                return t
        return {}


class Alloc:
    def __init__(self, d):
        self.d = d
        self.logs = {}  # (task, type) -> LogStream
        self.purged_job = None

    def full(self, job=None, with_job=True):
        d = dict(self.d)
        if with_job and job is not None:
            d["Job"] = job_json(job)
        else:
            d.pop("Job", None)
        return omit_zero(d)

    def stub(self, job):
        a = self.d
        return {
            "ID": a["ID"], "EvalID": a["EvalID"], "Name": a["Name"],
            "Namespace": a["Namespace"], "NodeID": a["NodeID"],
            "NodeName": a["NodeName"], "JobID": a["JobID"],
            "JobType": job.d["Type"] if job else (self.purged_job or {}).get("Type", "batch"),
            "JobVersion": job.d["Version"] if job else (self.purged_job or {}).get("Version", 0),
            "TaskGroup": a["TaskGroup"], "DesiredStatus": a["DesiredStatus"],
            "DesiredDescription": a["DesiredDescription"],
            "ClientStatus": a["ClientStatus"],
            "ClientDescription": a["ClientDescription"],
            "DesiredTransition": {"Migrate": None, "Reschedule": None,
                                  "ForceReschedule": None, "NoShutdownDelay": None,
                                  "MigrateDisablePlacement": None},
            "TaskStates": a["TaskStates"], "DeploymentStatus": None,
            "FollowupEvalID": a["FollowupEvalID"],
            "NextAllocation": a["NextAllocation"],
            "RescheduleTracker": a["RescheduleTracker"],
            "PreemptedAllocations": None, "PreemptedByAllocation": "",
            "CreateIndex": a["CreateIndex"], "ModifyIndex": a["ModifyIndex"],
            "CreateTime": a["CreateTime"], "ModifyTime": a["ModifyTime"],
        }


def job_json(job, snappy_payload=False):
    d = dict(job.d)
    if snappy_payload:
        d["Payload"] = base64.b64encode(snappy(job.payload)).decode() if job.d.get("Dispatched") else None
    else:
        d["Payload"] = base64.b64encode(job.payload).decode() if job.payload else None
    return d


JOB_DEFAULTS = [
    ("Stop", False), ("Region", "global"), ("Namespace", "default"), ("ID", ""),
    ("ParentID", ""), ("Name", ""), ("Type", "service"), ("Priority", 50),
    ("AllAtOnce", False), ("Datacenters", None), ("NodePool", "default"),
    ("Constraints", None), ("Affinities", None), ("Spreads", None),
    ("TaskGroups", None), ("Update", None), ("Multiregion", None),
    ("Periodic", None), ("ParameterizedJob", None), ("Dispatched", False),
    ("DispatchIdempotencyToken", ""), ("Payload", None), ("Meta", None),
    ("ConsulToken", ""), ("ConsulNamespace", ""), ("VaultToken", ""),
    ("VaultNamespace", ""), ("NomadTokenID", ""),
    ("Status", ""), ("StatusDescription", ""), ("Stable", False), ("Version", 0),
    ("SubmitTime", 0), ("CreateIndex", 0), ("ModifyIndex", 0),
    ("JobModifyIndex", 0),
]
JOB_FIELDS = [k for k, _ in JOB_DEFAULTS]
UPDATE_ZERO = {"Stagger": 0, "MaxParallel": 0, "HealthCheck": "", "MinHealthyTime": 0,
               "HealthyDeadline": 0, "ProgressDeadline": 0, "AutoRevert": False,
               "AutoPromote": False, "Canary": 0}
TG_FIELDS = ["Name", "Count", "Update", "Migrate", "Constraints", "Scaling",
             "RestartPolicy", "Disconnect", "Tasks", "EphemeralDisk", "Meta",
             "ReschedulePolicy", "Affinities", "Spreads", "Networks", "Consul",
             "Services", "Volumes", "ShutdownDelay", "StopAfterClientDisconnect",
             "MaxClientDisconnect", "PreventRescheduleOnLost"]
TASK_FIELDS = ["Name", "Driver", "User", "Config", "Env", "Services", "Vault",
               "Consul", "Templates", "Constraints", "Affinities", "Resources",
               "RestartPolicy", "DispatchPayload", "Lifecycle", "Meta",
               "KillTimeout", "LogConfig", "Artifacts", "Leader",
               "ShutdownDelay", "VolumeMounts", "ScalingPolicies",
               "KillSignal", "Kind", "CSIPluginConfig", "Identity",
               "Identities", "Actions", "Schedule"]
PJ_FIELDS = ["Payload", "MetaRequired", "MetaOptional"]


def canon_job(raw):
    j = ci_fields(raw, JOB_FIELDS)
    d = {}
    for k, dv in JOB_DEFAULTS:
        d[k] = j.get(k, dv)
        if d[k] is None and dv is not None:
            d[k] = dv
    tgs = []
    for tg in d["TaskGroups"] or []:
        if not isinstance(tg, dict):
            continue
        g = ci_fields(tg, TG_FIELDS)
        g.setdefault("Name", "")
        g.setdefault("Count", 1)
        tasks = []
        for t in g.get("Tasks") or []:
            if isinstance(t, dict):
                tt = ci_fields(t, TASK_FIELDS)
                if isinstance(tt.get("DispatchPayload"), dict):
                    tt["DispatchPayload"] = ci_fields(tt["DispatchPayload"], ["File"])
                if isinstance(tt.get("LogConfig"), dict):
                    tt["LogConfig"] = ci_fields(tt["LogConfig"], ["MaxFiles", "MaxFileSizeMB", "Disabled"])
                tasks.append(tt)
        g["Tasks"] = tasks
        tgs.append(g)
    d["TaskGroups"] = tgs or None
    if isinstance(d["ParameterizedJob"], dict):
        pj = ci_fields(d["ParameterizedJob"], PJ_FIELDS)
        d["ParameterizedJob"] = {"Payload": pj.get("Payload") or "optional",
                                 "MetaRequired": pj.get("MetaRequired"),
                                 "MetaOptional": pj.get("MetaOptional")}
    if d["Update"] is None:
        d["Update"] = dict(UPDATE_ZERO)
    return d


class Runtime:
    """Driver state of a running (scripted or exec) job."""

    def __init__(self, scen):
        self.scen = scen or {}
        self.stop = False
        self.finish = None
        self.proc = None


def _task_event(etype, **kw):
    ev = {"Type": etype, "Time": now_ns(), "Message": "", "DisplayMessage": "",
          "Details": {}, "FailsTask": False, "RestartReason": "", "SetupError": "",
          "DriverError": "", "ExitCode": 0, "Signal": 0, "KillTimeout": 0,
          "KillError": "", "KillReason": "", "StartDelay": 0, "DownloadError": "",
          "ValidationError": "", "DiskLimit": 0, "FailedSibling": "",
          "VaultError": "", "TaskSignalReason": "", "TaskSignal": "",
          "DriverMessage": "", "GenericSource": ""}
    ev.update(kw)
    return ev


def _task_state():
    return {"State": "pending", "Failed": False, "Restarts": 0, "LastRestart": None,
            "StartedAt": None, "FinishedAt": None, "Events": [], "TaskHandle": None}


class Txn:
    """One raft apply: bumps the index once, emits one event batch."""

    def __init__(self, emu, etype):
        self.emu = emu
        self.etype = etype
        self.items = []
        self.seen = set()

    def __enter__(self):
        self.emu.mu.acquire()
        self.idx = self.emu.index + 1
        self.now = now_ns()
        return self

    def _add(self, kind, obj, deleted=False):
        k = (kind, id(obj))
        if k in self.seen and not deleted:
            return
        self.seen.add(k)
        self.items.append((kind, obj, deleted))

    def job(self, j, deleted=False):
        j.d["ModifyIndex"] = self.idx
        self._add("job", j, deleted)

    def alloc(self, a):
        a.d["ModifyIndex"] = self.idx
        a.d["AllocModifyIndex"] = self.idx
        a.d["ModifyTime"] = self.now
        self._add("alloc", a)

    def eval(self, e):
        e["ModifyIndex"] = self.idx
        e["ModifyTime"] = self.now
        self._add("eval", e)

    def __exit__(self, et, ev, tb):
        emu = self.emu
        try:
            if et is not None or not self.items:
                return False
            jobs = {}
            for kind, obj, deleted in self.items:
                if kind == "job":
                    jobs[id(obj)] = obj
                elif kind == "alloc":
                    j = emu.jobs.get((obj.d["Namespace"], obj.d["JobID"]))
                    if j:
                        jobs[id(j)] = j
                else:
                    j = emu.jobs.get((obj["Namespace"], obj["JobID"]))
                    if j:
                        jobs[id(j)] = j
            for j in list(jobs.values()):
                if j.key not in emu.jobs:
                    continue
                st = emu.job_status(j)
                if st != j.d["Status"]:
                    j.d["Status"] = st
                    self.job(j)
            parents = {}
            for j in jobs.values():
                if j.d.get("ParentID"):
                    p = emu.jobs.get((j.d["Namespace"], j.d["ParentID"]))
                    if p:
                        parents[id(p)] = p
            jobs.update(parents)
            for j in jobs.values():
                if j.key in emu.jobs and emu.refresh_summary(j, self.idx):
                    emu.tables["job_summary"] = self.idx
            events = []
            for kind, obj, deleted in self.items:
                if kind == "job":
                    emu.tables["jobs"] = self.idx
                    payload = {"Job": job_json(obj, snappy_payload=True)}
                    if deleted:
                        payload["Deleted"] = True
                    events.append({"Topic": "Job", "Type": self.etype, "Key": obj.d["ID"],
                                   "Namespace": obj.d["Namespace"], "FilterKeys": None,
                                   "Index": self.idx, "Payload": payload})
                elif kind == "alloc":
                    emu.tables["allocs"] = self.idx
                    events.append({"Topic": "Allocation", "Type": self.etype,
                                   "Key": obj.d["ID"], "Namespace": obj.d["Namespace"],
                                   "FilterKeys": [obj.d["JobID"], ""], "Index": self.idx,
                                   "Payload": {"Allocation": obj.full(with_job=False)}})
                else:
                    emu.tables["evals"] = self.idx
                    events.append({"Topic": "Evaluation", "Type": self.etype,
                                   "Key": obj["ID"], "Namespace": obj["Namespace"],
                                   "FilterKeys": [obj["JobID"], ""], "Index": self.idx,
                                   "Payload": {"Evaluation": omit_zero(obj)}})
            emu.index = self.idx
            emu.events.append((self.idx, dumps_events(events)))
            emu.cond.notify_all()
            return False
        finally:
            emu.mu.release()


def dumps_events(events):
    """Pre-serialise each event once: [(event dict sans payload, json)]."""
    return [(e["Topic"], e["Key"], e["FilterKeys"], e["Namespace"], dumps(e)) for e in events]


# --------------------------------------------------------------------------
# the emulator


class NomadEmulator(emucore.Emulator):
    name = "nomad"

    @classmethod
    def add_arguments(cls, p):
        p.add_argument("--acl", action="store_true")
        p.add_argument("--token", action="append", default=[])
        p.add_argument("--log-heartbeat", type=float, default=1.0)
        p.add_argument("--event-heartbeat", type=float, default=30.0)
        p.add_argument("--event-transport", choices=("hijack", "chunked"), default="hijack")
        p.add_argument("--event-buffer", type=int, default=100)
        p.add_argument("--exec", action="store_true")
        p.add_argument("--exec-dir")
        p.add_argument("--max-priority", type=int, default=100)

    def __init__(self, args):
        emucore.Emulator.__init__(self, args)
        self.mu = threading.RLock()
        self.cond = threading.Condition(self.mu)
        self.index = 1
        self.tables = {"jobs": 1, "allocs": 1, "job_summary": 1, "evals": 1}
        self.jobs = {}  # (ns, id) -> Job
        self.allocs = {}  # id -> Alloc
        self.evals = {}  # id -> eval dict
        self.behaviors = {}
        self.events = deque(maxlen=max(1, args.event_buffer))
        self.tokens = {}
        for spec in args.token:
            self._add_token_spec(spec)
        self.exec_dir = args.exec_dir
        self.own_exec_dir = args.exec and not self.exec_dir
        if self.own_exec_dir:
            self.exec_dir = tempfile.mkdtemp(prefix="nomad-emu-")

    def start(self):
        """Called by emucore.main in the main thread: in exec mode, SIGTERM
        kills the running tasks and removes our temp dir."""
        if not self.args.exec:
            return

        def bye(signum, frame):
            for j in list(self.jobs.values()):
                if j.rt and j.rt.proc:
                    try:
                        os.killpg(j.rt.proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
            if self.own_exec_dir:
                shutil.rmtree(self.exec_dir, ignore_errors=True)
            os._exit(0)
        signal.signal(signal.SIGTERM, bye)

    def _add_token_spec(self, spec):
        secret, _, rest = spec.partition("=")
        caps, _, nss = rest.partition("@")
        self.tokens[secret] = ({c for c in caps.split(",") if c},
                               {n for n in nss.split(",") if n} or None)

    # ---------------------------------------------------------------- acl
    def _token(self, req):
        t = (req.header("X-Nomad-Token") or "").strip()
        if t:
            return t
        auth = req.header("Authorization") or ""
        scheme, _, val = auth.partition(" ")
        if scheme.lower() == "bearer" and val.strip():
            return val.strip().split(" ")[0]
        return ""

    def allowed(self, req, caps, ns):
        if not self.args.acl:
            return True
        tok = self.tokens.get(self._token(req))
        if tok is None:
            return False
        have, nss = tok
        if "management" in have:
            return True
        if nss is not None and ns not in nss and "*" not in nss:
            return False
        return bool(have & set(caps))

    def check(self, req, caps, ns):
        if not self.allowed(req, caps, ns):
            raise HTTPError(403, "Permission denied")

    # ----------------------------------------------------------- helpers
    def job_status(self, j):
        if j.d["Stop"]:
            return "dead"
        if j.is_parent() or j.d.get("Periodic"):
            return "running"
        allocs = [self.allocs[a] for a in j.alloc_ids if a in self.allocs]
        if any(a.d["ClientStatus"] not in TERMINAL for a in allocs):
            return "running"
        evs = [self.evals[e] for e in j.eval_ids if e in self.evals]
        if any(e["Status"] in ("pending", "blocked") for e in evs):
            return "pending"
        if allocs or evs:
            return "dead"
        return "pending"

    def refresh_summary(self, j, idx):
        tg = {}
        for g in j.d.get("TaskGroups") or []:
            tg[g.get("Name", "")] = {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0,
                                     "Starting": 0, "Lost": 0, "Unknown": 0}
        if j.queued and tg:
            tg[j.group_name()]["Queued"] = j.queued
        for aid in j.alloc_ids:
            a = self.allocs.get(aid)
            if not a or a.d["TaskGroup"] not in tg:
                continue
            c = tg[a.d["TaskGroup"]]
            cs = a.d["ClientStatus"]
            key = {"pending": "Starting", "running": "Running", "complete": "Complete",
                   "failed": "Failed", "lost": "Lost", "unknown": "Unknown"}.get(cs)
            if key:
                c[key] += 1
        children = {"Pending": 0, "Running": 0, "Dead": 0}
        if j.is_parent():
            for c in self.jobs.values():
                if c.d["ParentID"] == j.d["ID"] and c.d["Namespace"] == j.d["Namespace"]:
                    s = c.d["Status"]
                    k = {"pending": "Pending", "running": "Running", "dead": "Dead"}.get(s)
                    if k:
                        children[k] += 1
        new = {"JobID": j.d["ID"], "Namespace": j.d["Namespace"], "Summary": tg,
               "Children": children}
        old = j.summary
        if old and old["Summary"] == tg and old["Children"] == children:
            return False
        new["CreateIndex"] = old["CreateIndex"] if old else idx
        new["ModifyIndex"] = idx
        j.summary = new
        return True

    def meta_headers(self, index):
        return [("X-Nomad-Index", str(max(1, index))), ("X-Nomad-Knownleader", "true"),
                ("X-Nomad-Lastcontact", "0"), ("Vary", "Accept-Encoding")]

    def send_json(self, resp, obj, index=None, write=False, extra=()):
        hdrs = [("Vary", "Accept-Encoding")]
        if index is not None:
            hdrs = ([("X-Nomad-Index", str(index)), ("Vary", "Accept-Encoding")] if write
                    else self.meta_headers(index))
        resp.send(200, dumps(obj), "application/json", hdrs + list(extra))

    def blocking(self, req, index_fn):
        """Parse index/wait and block (lock held on return) until
        index_fn() > N or the wait elapses; returns the current index."""
        w = req.arg("wait")
        wait = MAX_WAIT
        if w is not None and w != "":
            try:
                wait = go_duration(w)
            except ValueError:
                raise HTTPError(400, "Invalid wait time")
        i = req.arg("index")
        n = 0
        if i is not None and i != "":
            if not re.fullmatch(r"[0-9]+", i) or int(i) >= 1 << 64:
                raise HTTPError(400, "Invalid index")
            n = int(i)
        wait = MAX_WAIT if wait <= 0 else min(wait, MAX_WAIT)
        if n > 0:
            deadline = time.monotonic() + wait  # (no jitter: tests measure it)
            while index_fn() <= n:
                rem = deadline - time.monotonic()
                if rem <= 0:
                    break
                self.cond.wait(rem)
        return index_fn()

    def ns(self, req, body_ns=""):
        return req.arg("namespace") or body_ns or "default"

    def decode_body(self, req):
        if not req.body:
            raise HTTPError(400, "Request body is empty")
        try:
            text = req.body.decode("utf-8")
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise HTTPError(400, go_json_error(text, e))
        except UnicodeDecodeError:
            raise HTTPError(400, "invalid character in request body")

    # ------------------------------------------------------------ routing
    def handle(self, req, resp):
        try:
            self.route(req, resp)
        except HTTPError as e:
            hdrs = [("Vary", "Accept-Encoding")]
            if e.meta:
                with self.mu:
                    hdrs = self.meta_headers(e.meta if isinstance(e.meta, int) and e.meta > 1
                                             else self.tables["jobs"])
            resp.text(e.status, e.text, hdrs)

    def route(self, req, resp):
        p = req.path
        m = req.method
        if p == "/":
            resp.send(307, b"", None, [("Location", "/ui/"), ("Vary", "Accept-Encoding")])
            return
        if p == "/v1/jobs":
            if m == "GET":
                return self.list_jobs(req, resp)
            if m in ("PUT", "POST"):
                return self.register(req, resp, None)
            raise HTTPError(405, "Invalid method")
        if p == "/v1/jobs/parse":
            return self.parse_job(req, resp)
        if p.startswith("/v1/job/"):
            rest = p[len("/v1/job/"):]
            for suf, fn in (("/dispatch/payload", self.dispatch_payload),
                            ("/plan", self.job_plan),
                            ("/allocations", self.job_allocs),
                            ("/evaluations", self.job_evals),
                            ("/summary", self.job_summary),
                            ("/dispatch", self.job_dispatch)):
                if rest.endswith(suf):
                    return fn(req, resp, rest[:-len(suf)])
            if m == "GET":
                return self.get_job(req, resp, rest)
            if m in ("PUT", "POST"):
                return self.register(req, resp, rest)
            if m == "DELETE":
                return self.deregister(req, resp, rest)
            raise HTTPError(405, "Invalid method")
        if p.startswith("/v1/allocation/"):
            return self.get_alloc(req, resp, p[len("/v1/allocation/"):])
        if p == "/v1/allocations":
            return self.list_allocs(req, resp)
        if p.startswith("/v1/evaluation/"):
            return self.get_eval(req, resp, p[len("/v1/evaluation/"):])
        if p.startswith("/v1/client/fs/logs/") or p == "/v1/client/fs/logs":
            return self.logs(req, resp, p[len("/v1/client/fs/logs/"):])
        if p == "/v1/event/stream":
            return self.event_stream(req, resp)
        if p == "/v1/status/leader":
            resp.json(200, "127.0.0.1:4647", [("Vary", "Accept-Encoding")])
            return
        if p == "/v1/agent/self":
            resp.json(200, {"config": {"Version": {"Version": "2.0.6"}},
                            "member": {"Name": "emu"}}, [("Vary", "Accept-Encoding")])
            return
        resp.send(404, b"", None, [("Vary", "Accept-Encoding")])

    # ------------------------------------------------- parse and plan
    def parse_job(self, req, resp):
        """POST /v1/jobs/parse {"JobHCL", "Canonicalize"}: the job, parsed by
        test/emu/hcl2nomad.py (command/agent/job_endpoint.go
        JobsParseRequest: parse-job or submit-job in the query's namespace,
        "*" any)."""
        if req.method not in ("PUT", "POST"):
            raise HTTPError(405, "Invalid method")
        ns = self.ns(req)
        with self.mu:
            known = ["default"] + sorted({k[0] for k in self.jobs})
        if not any(self.allowed(req, ["parse-job", "submit-job"], n)
                   for n in ([ns] if ns != "*" else known)):
            raise HTTPError(403, "Permission denied")
        b = self.decode_body(req)
        if not b.get("JobHCL"):
            raise HTTPError(400, "Job spec is empty")
        import hcl2nomad
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "input.hcl")
            with open(path, "w") as f:
                f.write(b["JobHCL"])
            try:
                job = hcl2nomad.job_from_hcl(hcl2nomad.parse_hcl(path))["Job"]
            except hcl2nomad.SpecError as e:
                raise HTTPError(400, "Failed to parse job: %s" % str(e).replace(path, "input.hcl"))
        self.send_json(resp, job)

    def job_plan(self, req, resp, job_id):
        """PUT /v1/job/<id>/plan {"Job", "Diff"}: what a registration would
        change, as far as the emulator knows (Added or Edited)."""
        if req.method not in ("PUT", "POST"):
            raise HTTPError(405, "Invalid method")
        b = self.decode_body(req)
        d = canon_job(b.get("Job") or {})
        if d["ID"] != job_id:
            raise HTTPError(400, "Job ID does not match")
        ns = req.arg("namespace") or d["Namespace"] or "default"
        self.check(req, ["submit-job"], ns)
        with self.mu:
            old = self.jobs.get((ns, job_id))
            idx = self.index
        self.send_json(resp, {
            "Annotations": None, "CreatedEvals": None,
            "Diff": {"Type": "Edited" if old else "Added", "ID": job_id, "Fields": None,
                     "Objects": None, "TaskGroups": None} if b.get("Diff") else None,
            "FailedTGAllocs": None,
            "JobModifyIndex": old.d.get("JobModifyIndex", 0) if old else 0,
            "NextPeriodicLaunch": "0001-01-01T00:00:00Z", "Warnings": "", "Index": idx})

    # ---------------------------------------------------------- register
    def register(self, req, resp, path_id):
        body = self.decode_body(req)
        if not isinstance(body, dict):
            raise HTTPError(400, "json: cannot unmarshal %s into Go value of type "
                                 "api.JobRegisterRequest" % json_type(body))
        b = ci_fields(body, ["Job", "EnforceIndex", "JobModifyIndex", "PolicyOverride",
                             "PreserveCounts", "Namespace", "Region"])
        raw = b.get("Job")
        if not isinstance(raw, dict):
            raise HTTPError(400, "Job must be specified")
        d = canon_job(raw)
        if path_id is not None and d["ID"] != path_id:
            raise HTTPError(400, "Job ID does not match URL")
        ns = req.arg("namespace") or d["Namespace"] or b.get("Namespace") or "default"
        d["Namespace"] = ns
        self.check(req, ["submit-job"], ns)
        errs = []
        if not d["ID"]:
            errs.append("Missing job ID")
        elif " " in d["ID"]:
            errs.append("Job ID contains a space")
        elif "\x00" in d["ID"]:
            errs.append("Job ID contains a null character")
        if not d["Name"]:
            d["Name"] = d["ID"]
        if d["Type"] not in ("service", "batch", "system", "sysbatch"):
            errs.append('Invalid job type: "%s"' % d["Type"])
        if not d["TaskGroups"]:
            errs.append("Missing job task groups")
        pj = d["ParameterizedJob"]
        if pj is not None:
            if d["Type"] not in ("batch", "sysbatch"):
                errs.append('Parameterized job can only be used with "batch" or "sysbatch" scheduler')
            # ParameterizedJobConfig.Validate: a multierror of its own,
            # nested in Job.Validate's
            pj_errs = []
            if pj["Payload"] not in ("optional", "required", "forbidden"):
                pj_errs.append('Unknown payload requirement: "%s"' % pj["Payload"])
            both = [k for k in (pj["MetaRequired"] or []) if k in (pj["MetaOptional"] or [])]
            if both:
                pj_errs.append("Required and optional meta keys should be disjoint. "
                               "Following keys exist in both: %s" % go_fmt_list(both))
            if pj_errs:
                errs.append(go_multierror(pj_errs))
        # nomad/job_endpoint_hooks.go jobValidate.Validate: Job.Validate's
        # errors (multierror.Append flattens them), then the payload's.
        if d["Payload"]:
            errs.append("job can't be submitted with a payload, only dispatched")
        if errs:
            raise HTTPError(500, go_multierror(errs))
        if d["Priority"] == 0:
            d["Priority"] = 50
        with self.mu:
            old = self.jobs.get((ns, d["ID"]))
            with Txn(self, "JobRegistered") as tx:
                j = Job(d)
                if old:
                    d["Version"] = old.d["Version"] + 1
                    d["CreateIndex"] = old.d["CreateIndex"]
                    j.alloc_ids, j.eval_ids, j.summary = old.alloc_ids, old.eval_ids, old.summary
                    j.rt = old.rt
                else:
                    d["CreateIndex"] = tx.idx
                d["Stop"] = False
                d["SubmitTime"] = tx.now
                d["JobModifyIndex"] = tx.idx
                d["Status"] = ""
                d["Payload"] = None
                self.jobs[j.key] = j
                d["Status"] = self.job_status(j)
                tx.job(j)
                ev = None
                if not j.is_parent() and not d.get("Periodic"):
                    ev = self._new_eval(tx, j, "job-register")
            if ev:
                self._start_driver(j, self._scenario(d["ID"]))
            out = {"EvalID": ev["ID"] if ev else "", "EvalCreateIndex": tx.idx if ev else 0,
                   "JobModifyIndex": tx.idx, "Warnings": "", "Index": tx.idx,
                   "LastContact": 0, "KnownLeader": False, "NextToken": ""}
        self.send_json(resp, out, tx.idx, write=True)

    def _new_eval(self, tx, j, trig, etype=None, status="pending"):
        e = {"ID": str(uuid.uuid4()), "Namespace": j.d["Namespace"], "Priority": j.d["Priority"],
             "Type": etype or j.d["Type"], "TriggeredBy": trig, "JobID": j.d["ID"],
             "JobModifyIndex": j.d["JobModifyIndex"], "Status": status,
             "StatusDescription": "", "Wait": 0, "WaitUntil": None, "NextEval": "",
             "PreviousEval": "", "BlockedEval": "", "FailedTGAllocs": None,
             "QueuedAllocations": None, "SnapshotIndex": 0,
             "CreateIndex": tx.idx, "ModifyIndex": tx.idx,
             "CreateTime": tx.now, "ModifyTime": tx.now}
        self.evals[e["ID"]] = e
        j.eval_ids.append(e["ID"])
        tx.eval(e)
        return e

    def _scenario(self, parent_id):
        with self.mu:
            s = self.behaviors.get(parent_id)
            if s is None:
                s = self.behaviors.get("*", {})
            return dict(s)

    # ---------------------------------------------------------- dispatch
    def dispatch_payload(self, req, resp, job_id):
        if req.method not in ("PUT", "POST"):
            raise HTTPError(405, "Invalid method")
        self._dispatch(req, resp, job_id, {"Payload": req.body, "Meta": None}, "")

    def job_dispatch(self, req, resp, job_id):
        if req.method not in ("PUT", "POST"):
            raise HTTPError(405, "Invalid method")
        body = self.decode_body(req)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise HTTPError(400, "json: cannot unmarshal %s into Go value of type "
                                 "structs.JobDispatchRequest" % json_type(body))
        f = ci_fields(body, ["JobID", "Payload", "Meta", "IdPrefixTemplate", "Priority",
                             "IdempotencyToken", "Namespace", "Region", "AuthToken"])
        args = {}
        try:
            for k in ("JobID", "IdPrefixTemplate", "IdempotencyToken", "Namespace", "Region",
                      "AuthToken"):
                v = f.get(k)
                if v is not None and not isinstance(v, str):
                    raise DecodeError("json: cannot unmarshal %s into Go struct field "
                                      "JobDispatchRequest.%s of type string" % (json_type(v), k))
                args[k] = v or ""
            args["Payload"] = go_b64(f.get("Payload"), "JobDispatchRequest.Payload")
            meta = f.get("Meta")
            if meta is not None:
                if not isinstance(meta, dict):
                    raise DecodeError("json: cannot unmarshal %s into Go struct field "
                                      "JobDispatchRequest.Meta of type map[string]string"
                                      % json_type(meta))
                for k, v in meta.items():
                    if v is not None and not isinstance(v, str):
                        raise DecodeError("json: cannot unmarshal %s into Go struct field "
                                          "JobDispatchRequest.Meta of type string" % json_type(v))
                meta = {k: (v or "") for k, v in meta.items()}
            args["Meta"] = meta
            pr = f.get("Priority")
            if pr is not None and (isinstance(pr, bool) or not isinstance(pr, int)):
                raise DecodeError("json: cannot unmarshal %s into Go struct field "
                                  "JobDispatchRequest.Priority of type int" % json_type(pr))
            args["Priority"] = pr or 0
        except DecodeError as e:
            raise HTTPError(400, str(e))
        if args["JobID"] and args["JobID"] != job_id:
            raise HTTPError(400, "Job ID does not match")
        self._dispatch(req, resp, job_id, args, args["IdempotencyToken"])

    def _dispatch(self, req, resp, job_id, args, body_token):
        ns = self.ns(req, args.get("Namespace", ""))
        token = req.arg("idempotency_token") or body_token or ""
        self.check(req, ["dispatch-job"], ns)
        if not job_id:
            raise HTTPError(500, "missing parameterized job ID")
        payload = args.get("Payload") or b""
        meta = args.get("Meta") or {}
        with self.mu:
            parent = self.jobs.get((ns, job_id))
            if parent is None:
                raise HTTPError(500, "parameterized job not found")
            if parent.d["ParameterizedJob"] is None or parent.d["Dispatched"]:
                raise HTTPError(500, 'Specified job "%s" is not a parameterized job' % job_id)
            if parent.d["Stop"]:
                raise HTTPError(500, 'Specified job "%s" is stopped' % job_id)
            prio = args.get("Priority") or parent.d["Priority"]
            pj = parent.d["ParameterizedJob"]
            if pj["Payload"] == "required" and not payload:
                raise HTTPError(500, "Payload is not provided but required by parameterized job")
            if pj["Payload"] == "forbidden" and payload:
                raise HTTPError(500, "Payload provided but forbidden by parameterized job")
            if len(payload) > PAYLOAD_LIMIT:
                raise HTTPError(500, "Payload exceeds maximum size; %d > %d"
                                % (len(payload), PAYLOAD_LIMIT))
            req_keys = pj["MetaRequired"] or []
            opt_keys = pj["MetaOptional"] or []
            bad = [k for k in meta if k not in req_keys and k not in opt_keys]
            if bad:
                random.shuffle(bad)
                raise HTTPError(500, "Dispatch request included unpermitted metadata keys: %s"
                                % go_fmt_list(bad))
            missing = [k for k in req_keys if k not in meta]
            if missing:
                random.shuffle(missing)
                raise HTTPError(500, "Dispatch did not provide required meta keys: %s"
                                % go_fmt_list(missing))
            if prio < 1 or prio > self.args.max_priority:
                raise HTTPError(500, "dispatch job priority must be between [1, %d]"
                                % self.args.max_priority)
            if token:
                for c in sorted(self.jobs.values(), key=lambda x: x.d["ID"]):
                    if (c.d["Namespace"] == parent.d["Namespace"]
                            and c.d["ID"].startswith(parent.d["ID"])
                            and c.d["ParentID"] == parent.d["ID"]
                            and c.d["DispatchIdempotencyToken"] == token):
                        out = {"DispatchedJobID": c.d["ID"], "EvalID": "", "EvalCreateIndex": 0,
                               "JobCreateIndex": c.d["CreateIndex"], "Index": c.d["ModifyIndex"]}
                        self.send_json(resp, out, c.d["ModifyIndex"], write=True)
                        return
            tpl = args.get("IdPrefixTemplate") or ""
            cid = "%s/dispatch-%s%d-%s" % (parent.d["ID"], tpl + "-" if tpl else "",
                                          int(time.time()), uuid.uuid4().hex[:8])
            d = json.loads(json.dumps(parent.d))
            d.update({"ID": cid, "ParentID": parent.d["ID"], "Name": cid, "Dispatched": True,
                      "Status": "", "DispatchIdempotencyToken": token, "Priority": prio,
                      "Stop": False, "Version": 0, "Stable": False})
            m = dict(parent.d["Meta"] or {})
            m.update(meta)
            d["Meta"] = m or None
            with Txn(self, "JobRegistered") as tx:
                child = Job(d)
                child.payload = bytes(payload)
                d["CreateIndex"] = d["JobModifyIndex"] = tx.idx
                d["SubmitTime"] = tx.now
                self.jobs[child.key] = child
                d["Status"] = "pending"
                tx.job(child)
            # Nomad 1.6.3 Job.Dispatch: the child, then its evaluation, in
            # two Raft applies; Index is the evaluation's.
            with Txn(self, "EvaluationUpdated") as etx:
                ev = self._new_eval(etx, child, "job-register")
            self._start_driver(child, self._scenario(parent.d["ID"]))
            out = {"DispatchedJobID": cid, "EvalID": ev["ID"], "EvalCreateIndex": etx.idx,
                   "JobCreateIndex": tx.idx, "Index": etx.idx}
        self.send_json(resp, out, etx.idx, write=True)

    # ------------------------------------------------------------- reads
    def get_job(self, req, resp, job_id):
        ns = self.ns(req)
        self.check(req, ["read-job"], ns)
        with self.mu:
            def idx():
                j = self.jobs.get((ns, job_id))
                return j.d["ModifyIndex"] if j else self.tables["jobs"]
            index = self.blocking(req, idx)
            j = self.jobs.get((ns, job_id))
            if j is None:
                raise HTTPError(404, "job not found", meta=index)
            out = job_json(j)
        self.send_json(resp, out, index)

    def job_allocs(self, req, resp, job_id):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        ns = self.ns(req)
        self.check(req, ["read-job"], ns)
        with self.mu:
            index = self.blocking(req, lambda: self.tables["allocs"])
            j = self.jobs.get((ns, job_id))
            out = []
            if j:
                for aid in j.alloc_ids:
                    a = self.allocs.get(aid)
                    if a:
                        out.append(a.stub(j))
            else:
                # A purged job's allocations stay until GC: state_store.go
                # AllocsByJob filters by the job's CreateIndex only when
                # the job still exists.
                for a in self.allocs.values():
                    if a.d["JobID"] == job_id and a.d["Namespace"] == ns:
                        out.append(a.stub(None))
            out = json.loads(dumps(out))
        self.send_json(resp, out, index)

    def job_evals(self, req, resp, job_id):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        ns = self.ns(req)
        self.check(req, ["read-job"], ns)
        with self.mu:
            index = self.blocking(req, lambda: self.tables["evals"])
            j = self.jobs.get((ns, job_id))
            out = [omit_zero(self.evals[e]) for e in (j.eval_ids if j else []) if e in self.evals]
        self.send_json(resp, out, index)

    def job_summary(self, req, resp, job_id):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        ns = self.ns(req)
        self.check(req, ["read-job"], ns)
        with self.mu:
            def idx():
                j = self.jobs.get((ns, job_id))
                return j.summary["ModifyIndex"] if j and j.summary else self.tables["job_summary"]
            index = self.blocking(req, idx)
            j = self.jobs.get((ns, job_id))
            if j is None or j.summary is None:
                raise HTTPError(404, "job not found", meta=index)
            out = json.loads(dumps(j.summary))
        self.send_json(resp, out, index)

    def list_jobs(self, req, resp):
        ns = self.ns(req)
        if ns != "*":
            self.check(req, ["list-jobs"], ns)
        prefix = req.arg("prefix", "")
        flt = req.arg("filter", "")
        expr = None
        if flt:
            try:
                expr = Bexpr(flt)
            except BexprError as e:
                raise HTTPError(400, "failed to read filter expression: %s" % e)
        per_page = req.arg("per_page", "")
        try:
            per_page = int(per_page) if per_page else 0
        except ValueError:
            per_page = 0
        next_token = req.arg("next_token", "")
        # Job.List (nomad/job_endpoint.go, 1.6.3) walks the jobs table's id
        # index, (Namespace, ID) ascending, whatever `reverse` says: the
        # paginator (nomad/state/paginator) only flips its token comparison.
        # The token is "<namespace>.<id>" (StructsTokenizer WithNamespace,
        # WithID); items before it are skipped until one passes the filters.
        reverse = req.arg("reverse") == "true"
        with self.mu:
            index = self.blocking(req, lambda: max(self.tables["jobs"], self.tables["job_summary"]))
            jobs = sorted(self.jobs.values(), key=lambda j: (j.d["Namespace"], j.d["ID"]))
            out = []
            nxt = ""
            found = not next_token
            for j in jobs:
                if ns != "*" and j.d["Namespace"] != ns:
                    continue
                if ns == "*" and not self.allowed(req, ["list-jobs", "read-job"], j.d["Namespace"]):
                    continue
                if not j.d["ID"].startswith(prefix):
                    continue
                token = "%s.%s" % (j.d["Namespace"], j.d["ID"])
                if not found and ((token > next_token) if reverse else (token < next_token)):
                    continue
                if expr is not None:
                    try:
                        if not expr.match(job_json(j)):
                            continue
                    except BexprEvalError as e:
                        raise HTTPError(400, "failed to read result page: %s" % e)
                found = True
                if per_page and len(out) >= per_page:
                    nxt = token
                    break
                stub = {"ID": j.d["ID"], "ParentID": j.d["ParentID"], "Name": j.d["Name"],
                        "Namespace": j.d["Namespace"], "Datacenters": j.d["Datacenters"],
                        "NodePool": j.d["NodePool"], "Multiregion": j.d["Multiregion"],
                        "Type": j.d["Type"], "Priority": j.d["Priority"],
                        "Periodic": j.d["Periodic"] is not None,
                        "ParameterizedJob": j.is_parent(), "Stop": j.d["Stop"],
                        "Status": j.d["Status"], "StatusDescription": j.d["StatusDescription"],
                        "JobSummary": j.summary, "CreateIndex": j.d["CreateIndex"],
                        "ModifyIndex": j.d["ModifyIndex"],
                        "JobModifyIndex": j.d["JobModifyIndex"],
                        "SubmitTime": j.d["SubmitTime"]}
                if req.arg("meta") == "true" and j.d["Meta"]:
                    stub["Meta"] = j.d["Meta"]
                out.append(stub)
            body = dumps(out)
        extra = [("X-Nomad-Nexttoken", nxt)] if nxt else []
        resp.send(200, body, "application/json", self.meta_headers(index) + extra)

    def get_alloc(self, req, resp, aid):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        with self.mu:
            a = self.allocs.get(aid)
            ns = a.d["Namespace"] if a else self.ns(req)
        self.check(req, ["read-job"], ns)
        with self.mu:
            def idx():
                x = self.allocs.get(aid)
                return x.d["ModifyIndex"] if x else self.tables["allocs"]
            index = self.blocking(req, idx)
            a = self.allocs.get(aid)
            if a is None:
                if not re.fullmatch(r"[0-9a-fA-F-]{36}", aid):
                    raise HTTPError(500, "alloc lookup failed: index error: UUID must be 36 characters")
                raise HTTPError(404, "alloc not found", meta=index)
            j = self.jobs.get((a.d["Namespace"], a.d["JobID"]))
            out = a.full(j)
            if j is None and a.purged_job:
                out = a.full(None, with_job=False)
                out = dict(list(out.items())[:7] + [("Job", a.purged_job)] + list(out.items())[7:])
            body = dumps(out)
        resp.send(200, body, "application/json", self.meta_headers(index))

    def list_allocs(self, req, resp):
        ns = self.ns(req)
        prefix = req.arg("prefix", "")
        flt = req.arg("filter", "")
        expr = None
        if flt:
            # Alloc.List runs the filter on the full allocation, its Job
            # included, as the state store keeps it (nomad/alloc_endpoint.go).
            try:
                expr = Bexpr(flt)
            except BexprError as e:
                raise HTTPError(400, "failed to create result paginator: "
                                     "failed to read filter expression: %s" % e)
        with self.mu:
            index = self.blocking(req, lambda: self.tables["allocs"])
            out = []
            for a in sorted(self.allocs.values(), key=lambda x: x.d["ID"]):
                if not ((ns == "*" or a.d["Namespace"] == ns) and a.d["ID"].startswith(prefix)
                        and self.allowed(req, ["read-job"], a.d["Namespace"])):
                    continue
                job = self.jobs.get((a.d["Namespace"], a.d["JobID"]))
                if expr is not None:
                    try:
                        if not expr.match(a.full(job)):
                            continue
                    except BexprEvalError as e:
                        raise HTTPError(400, "failed to read result page: %s" % e)
                out.append(a.stub(job))
            body = dumps(out)
        resp.send(200, body, "application/json", self.meta_headers(index))

    def get_eval(self, req, resp, eid):
        with self.mu:
            index = self.blocking(req, lambda: (self.evals[eid]["ModifyIndex"]
                                                if eid in self.evals else self.tables["evals"]))
            e = self.evals.get(eid)
            if e is None:
                raise HTTPError(404, "eval not found", meta=index)
            ns = e["Namespace"]
            body = dumps(omit_zero(e))
        self.check(req, ["read-job"], ns)
        resp.send(200, body, "application/json", self.meta_headers(index))

    # -------------------------------------------------------- deregister
    def deregister(self, req, resp, job_id):
        ns = self.ns(req)
        purge = False
        p = req.arg("purge")
        if p is not None and p != "":
            try:
                purge = go_parse_bool(p)
            except ValueError as e:
                raise HTTPError(500, 'Failed to parse value of "purge" (%s) as a bool: %s' % (p, e))
        self.check(req, ["submit-job"], ns)
        with self.mu:
            j = self.jobs.get((ns, job_id))
            if j is None:
                out = {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0,
                       "VolumeEvalID": "", "VolumeEvalIndex": 0, "Index": 0,
                       "LastContact": 0, "KnownLeader": False, "NextToken": ""}
                self.send_json(resp, out, 0, write=True)
                return
            with Txn(self, "JobDeregistered") as tx:
                if not purge:
                    # A purge deletes the job as it is (fsm.go
                    # handleJobDeregister: DeleteJobTxn, no Stop).
                    j.d["Stop"] = True
                    j.d["JobModifyIndex"] = tx.idx
                    j.d["Status"] = "dead"
                # The stop plan, applied with the deregistration: never a
                # dead child whose allocation is still meant to run.
                for aid in j.alloc_ids:
                    a = self.allocs.get(aid)
                    if a and a.d["ClientStatus"] not in TERMINAL and a.d["DesiredStatus"] == "run":
                        a.d["DesiredStatus"] = "stop"
                        a.d["DesiredDescription"] = "alloc not needed due to job update"
                        tx.alloc(a)
                ev = None
                if not j.is_parent() and not j.d.get("Periodic"):
                    ev = self._new_eval(tx, j, "job-deregister", etype="service")
                for eid in j.eval_ids:
                    e = self.evals.get(eid)
                    if e and e["Status"] == "blocked":
                        e["Status"] = "cancelled"
                        tx.eval(e)
                j.queued = 0
                if purge:
                    del self.jobs[j.key]
                    for aid in j.alloc_ids:
                        a = self.allocs.get(aid)
                        if a:
                            a.purged_job = job_json(j)
                    tx._add("job", j, True)	# the event carries it unchanged
                else:
                    tx.job(j)
            if j.rt:
                j.rt.stop = True
                if j.rt.proc:
                    self._kill_proc(j.rt.proc)
                self.cond.notify_all()
            if ev:
                with Txn(self, "EvaluationUpdated") as tx2:
                    ev["Status"] = "complete"
                    tx2.eval(ev)
            out = {"EvalID": ev["ID"] if ev else "", "EvalCreateIndex": tx.idx if ev else 0,
                   "JobModifyIndex": tx.idx, "VolumeEvalID": "", "VolumeEvalIndex": 0,
                   "Index": tx.idx, "LastContact": 0, "KnownLeader": False, "NextToken": ""}
        self.send_json(resp, out, tx.idx, write=True)

    # ========================================================= lifecycle
    def _start_driver(self, j, scen):
        j.rt = Runtime(scen)
        t = threading.Thread(target=self._drive_safe, args=(j,), daemon=True)
        t.start()

    def _drive_safe(self, j):
        try:
            self._drive(j)
        except Exception as e:  # keep the emulator alive; show the bug
            import traceback
            sys.stderr.write("nomad emu: driver of %s failed: %r\n" % (j.d["ID"], e))
            traceback.print_exc()

    def _sleep(self, rt, secs, finish=False):
        """Interruptible sleep: True if stopped meanwhile, or (finish=True,
        inside a run) finished.  A finish that comes before the task has
        started waits for the run it ends: it is not a stop."""
        deadline = time.monotonic() + max(0.0, secs)
        with self.mu:
            while True:
                if rt.stop or (finish and rt.finish is not None):
                    return True
                rem = deadline - time.monotonic()
                if rem <= 0:
                    return False
                self.cond.wait(rem)

    def _drive(self, j):
        rt = j.rt
        sc = rt.scen
        ev = self.evals[j.eval_ids[-1]]
        exit_code = int(sc.get("exit_code", 0) or 0)
        outcome = sc.get("outcome") or ("failure" if exit_code else "success")
        if outcome == "failure" and not exit_code:
            exit_code = 1
        if self._sleep(rt, float(sc.get("place_delay", 0.05))):
            return self._stop_unplaced(j, ev)
        if outcome == "never_placed":
            with Txn(self, "EvaluationUpdated") as tx:
                blocked = self._new_eval(tx, j, "queued-allocs", status="blocked")
                ev["Status"] = "complete"
                ev["BlockedEval"] = blocked["ID"]
                ev["FailedTGAllocs"] = {j.group_name(): {"NodesEvaluated": 1, "NodesFiltered": 0,
                                                         "NodesExhausted": 1,
                                                         "DimensionExhausted": {"memory": 1},
                                                         "CoalescedFailures": 0}}
                ev["QueuedAllocations"] = {j.group_name(): 1}
                j.queued = 1
                tx.eval(ev)
            with self.mu:
                while not rt.stop:
                    self.cond.wait()
            return
        prev = None
        if sc.get("reschedule"):
            a = self._place(j, ev, None)
            if a is None:
                return
            res = self._run_alloc(j, a, "failure", int(sc.get("first_exit_code", 1) or 1), 0,
                                  followup=True)
            if res == "stopped":
                return
            fe = self.evals[a.d["FollowupEvalID"]]
            if self._sleep(rt, float(sc.get("reschedule_delay", 0.1))):
                return self._stop_unplaced(j, fe)
            prev, ev = a, fe
        a = self._place(j, ev, prev)
        if a is None:
            return
        self._run_alloc(j, a, outcome, exit_code, int(sc.get("restarts", 0) or 0))

    def _stop_unplaced(self, j, ev):
        with Txn(self, "EvaluationUpdated") as tx:
            if ev["Status"] in ("pending", "blocked"):
                ev["Status"] = "cancelled"
                tx.eval(ev)

    def _place(self, j, ev, prev):
        """Plan apply: a pending alloc (TaskStates null); the job goes running."""
        with Txn(self, "PlanResult") as tx:
            if j.rt.stop:
                ev["Status"] = "cancelled"
                tx.eval(ev)
                return None
            aid = str(uuid.uuid4())
            tasks = j.tasks()
            a = Alloc({
                "ID": aid, "Namespace": j.d["Namespace"], "EvalID": ev["ID"],
                "Name": "%s.%s[0]" % (j.d["ID"], j.group_name()), "NodeID": NODE_ID,
                "NodeName": NODE_NAME, "JobID": j.d["ID"], "Job": None,
                "TaskGroup": j.group_name(),
                "AllocatedResources": {"Tasks": {t: {"Cpu": {"CpuShares": 100},
                                                     "Memory": {"MemoryMB": 300}}
                                                 for t in tasks},
                                       "Shared": {"DiskMB": 300}},
                "Metrics": {"NodesEvaluated": 1, "NodesFiltered": 0, "NodesInPool": 1,
                            "NodesAvailable": {"dc1": 1}},
                "DesiredStatus": "run", "DesiredDescription": "",
                "DesiredTransition": {}, "ClientStatus": "pending", "ClientDescription": "",
                "TaskStates": None, "AllocStates": None,
                "PreviousAllocation": prev.d["ID"] if prev else "", "NextAllocation": "",
                "DeploymentID": "", "DeploymentStatus": None,
                "RescheduleTracker": ({"Events": [{"RescheduleTime": tx.now,
                                                   "PrevAllocID": prev.d["ID"],
                                                   "PrevNodeID": NODE_ID,
                                                   "Delay": 5 * NS}]} if prev else None),
                "NetworkStatus": None, "FollowupEvalID": "", "PreemptedAllocations": None,
                "PreemptedByAllocation": "", "SigningKeyID": "",
                "CreateIndex": tx.idx, "ModifyIndex": tx.idx, "AllocModifyIndex": tx.idx,
                "CreateTime": tx.now, "ModifyTime": tx.now})
            self.allocs[aid] = a
            j.alloc_ids.append(aid)
            j.queued = 0
            if prev:
                prev.d["NextAllocation"] = aid
                tx.alloc(prev)
            tx.alloc(a)
        with Txn(self, "EvaluationUpdated") as tx:
            ev["Status"] = "complete"
            ev["QueuedAllocations"] = {j.group_name(): 0}
            tx.eval(ev)
        return a

    def _ts(self, a, task):
        if a.d["TaskStates"] is None:
            a.d["TaskStates"] = {}
        ts = a.d["TaskStates"].get(task)
        if ts is None:
            ts = a.d["TaskStates"][task] = _task_state()
        return ts

    def _event(self, a, task, ev, state=None):
        ts = self._ts(a, task)
        ts["Events"].append(ev)
        del ts["Events"][:-MAX_EVENTS]
        if state:
            ts["State"] = state
        return ts

    def _client_status(self, a):
        sts = list((a.d["TaskStates"] or {}).values())
        if any(t["State"] == "dead" and t["Failed"] for t in sts):
            return "failed", "Failed tasks"
        if any(t["State"] == "running" for t in sts):
            return "running", "Tasks are running"
        if any(t["State"] == "pending" for t in sts) or not sts:
            return "pending", "No tasks have started"
        return "complete", "All tasks have completed"

    def _update(self, a, etype="AllocationUpdated"):
        """Recompute the alloc's client status (call inside a Txn)."""
        if a.d["ClientStatus"] != "lost":
            a.d["ClientStatus"], a.d["ClientDescription"] = self._client_status(a)

    def _run_alloc(self, j, a, outcome, exit_code, restarts, followup=False):
        """The client side: task setup, runs, restarts, end. Returns
        'done' or 'stopped'."""
        rt = j.rt
        sc = rt.scen
        task = j.tasks()[0]
        tdef = j.task(task)
        start_delay = float(sc.get("start_delay", 0.1))
        if self._sleep(rt, start_delay / 2):
            return self._kill(j, a, task, started=False)
        with Txn(self, "AllocationUpdated") as tx:
            self._event(a, task, _task_event("Received", DisplayMessage="Task received by client"),
                        "pending")
            self._event(a, task, _task_event("Task Setup", Message="Building Task Directory",
                                             DisplayMessage="Building Task Directory"))
            self._update(a)
            tx.alloc(a)
        if self._sleep(rt, start_delay / 2):
            return self._kill(j, a, task, started=False)
        if outcome == "driver_failure":
            err = sc.get("driver_error") or ('failed to launch command with executor: rpc error: '
                                             'code = Unknown desc = executable file not found')
            with Txn(self, "AllocationUpdated") as tx:
                self._event(a, task, _task_event(
                    "Driver Failure", DisplayMessage=err, DriverError=err, FailsTask=True,
                    Details={"driver_error": err, "fails_task": "true"}))
                ts = self._ts(a, task)
                ts["State"] = "dead"
                ts["Failed"] = True
                ts["FinishedAt"] = rfc3339(tx.now)
                self._update(a)
                tx.alloc(a)
            return "done"
        mf = (tdef.get("LogConfig") or {}).get("MaxFiles") or 10
        with self.mu:
            for typ in ("stdout", "stderr"):
                a.logs[(task, typ)] = LogStream(sc.get("rotate_bytes"), sc.get("max_files", mf),
                                                sc.get("truncate_at"), sc.get("follow_lag"))
        run = 0
        while True:
            with Txn(self, "AllocationUpdated") as tx:
                ts = self._ts(a, task)
                if run:
                    ts["Restarts"] += 1
                    ts["LastRestart"] = rfc3339(tx.now)
                if not ts["StartedAt"] or run:
                    ts["StartedAt"] = ts["StartedAt"] or rfc3339(tx.now)
                self._event(a, task, _task_event("Started", DisplayMessage="Task started by client"),
                            "running")
                self._update(a)
                tx.alloc(a)
            final = run >= restarts
            code = exit_code if final else int(sc.get("restart_exit_code", 1) or 1)
            if self.args.exec:
                r = self._exec_run(j, a, task, tdef)
            else:
                r = self._script_run(j, a, task, run)
            if r == "stopped":
                return self._kill(j, a, task, started=True)
            if isinstance(r, dict):  # finish control: this run is the last one
                rt.finish = None
                restarts = run
                if "exit_code" in r:
                    code = int(r["exit_code"])
                    outcome = "failure" if code else "success"
                if r.get("outcome"):
                    outcome = r["outcome"]
                    if outcome == "failure" and not code:
                        code = 1
                    if outcome == "success":
                        code = 0
            elif isinstance(r, int):
                code = r
                outcome = "failure" if code else "success"
            if outcome == "lost":
                with Txn(self, "PlanResult") as tx:
                    a.d["ClientStatus"] = "lost"
                    a.d["ClientDescription"] = "alloc is lost since its node is down"
                    a.d["DesiredStatus"] = "stop"
                    a.d["DesiredDescription"] = "alloc is lost since its node is down"
                    tx.alloc(a)
                return "done"
            with Txn(self, "AllocationUpdated") as tx:
                self._event(a, task, _task_event(
                    "Terminated", DisplayMessage="Exit Code: %d" % code, ExitCode=code,
                    Details={"exit_code": str(code), "signal": "0", "oom_killed": "false"}))
                ts = self._ts(a, task)
                if code == 0:
                    ts["State"] = "dead"
                    ts["FinishedAt"] = rfc3339(tx.now)
                    self._update(a)
                    tx.alloc(a)
                    return "done"
                if run < restarts:
                    delay = float(sc.get("restart_delay", 0.1))
                    reason = "Restart within policy"
                    self._event(a, task, _task_event(
                        "Restarting", DisplayMessage="%s - Task restarting in %s" % (reason, _go_dur(delay)),
                        RestartReason=reason, StartDelay=int(delay * NS),
                        Details={"restart_reason": reason, "start_delay": str(int(delay * NS))}),
                        "pending")
                    self._update(a)
                    tx.alloc(a)
                else:
                    reason = ('Exceeded allowed attempts %d in interval 24h0m0s and mode is "fail"'
                              % restarts) if restarts else "Policy allows no restarts"
                    self._event(a, task, _task_event(
                        "Not Restarting", DisplayMessage=reason, RestartReason=reason,
                        FailsTask=True, Details={"fails_task": "true", "restart_reason": reason}))
                    ts["State"] = "dead"
                    ts["Failed"] = True
                    ts["FinishedAt"] = rfc3339(tx.now)
                    self._update(a)
                    if followup:  # reschedule: in the same apply, so the job never looks dead
                        fe = self._new_eval(tx, j, "alloc-failure")
                        fe["WaitUntil"] = rfc3339(tx.now + 5 * NS)
                        a.d["FollowupEvalID"] = fe["ID"]
                    tx.alloc(a)
                    return "done"
            if self._sleep(rt, delay):
                return self._kill(j, a, task, started=False)
            run += 1

    def _kill(self, j, a, task, started):
        with Txn(self, "PlanResult") as tx:
            a.d["DesiredStatus"] = "stop"
            a.d["DesiredDescription"] = "alloc not needed due to job update"
            tx.alloc(a)
        if started:
            with Txn(self, "AllocationUpdated") as tx:
                self._event(a, task, _task_event(
                    "Killing", DisplayMessage="Sent interrupt. Waiting 5s before force killing",
                    KillTimeout=KILL_TIMEOUT, Details={"kill_timeout": "5s"}))
                tx.alloc(a)
        with Txn(self, "AllocationUpdated") as tx:
            if a.d["TaskStates"] is None:
                a.d["TaskStates"] = {}
            self._event(a, task, _task_event("Killed", DisplayMessage="Task successfully killed"),
                        "dead")
            self._ts(a, task)["FinishedAt"] = rfc3339(tx.now)
            a.d["ClientStatus"] = "complete"
            a.d["ClientDescription"] = "All tasks have completed"
            tx.alloc(a)
        return "stopped"

    def _timeline(self, sc):
        """[(at, stream, bytes)] from the scenario's logs key."""
        spec = sc.get("logs") or []
        if isinstance(spec, dict):
            spec = [spec]
        out = []
        for item in spec:
            if "lines" in item:
                n = int(item["lines"])
                over = float(item.get("over", 0))
                at0 = float(item.get("at", 0))
                pre = item.get("prefix", "line")
                st = item.get("stream", "stdout")
                streams = ("stdout", "stderr") if st == "both" else (st,)
                if over <= 0:
                    blob = "".join("%s %d\n" % (pre, i + 1) for i in range(n)).encode()
                    for s in streams:
                        out.append((at0, s, blob))
                else:
                    for i in range(n):
                        line = ("%s %d\n" % (pre, i + 1)).encode()
                        for s in streams:
                            out.append((at0 + over * i / n, s, line))
            else:
                data = item.get("data", "").encode()
                if item.get("data_b64"):
                    data = base64.b64decode(item["data_b64"])
                out.append((float(item.get("at", 0)), item.get("stream", "stdout"), data))
        out.sort(key=lambda x: x[0])
        return out

    def _script_run(self, j, a, task, run):
        rt = j.rt
        sc = rt.scen
        t0 = time.monotonic()
        if run == 0 and sc.get("log_bytes"):
            lb = sc["log_bytes"]
            for s in (("stdout", "stderr") if lb.get("stream") == "both" else (lb.get("stream", "stdout"),)):
                with self.mu:
                    a.logs[(task, s)].append_lazy(BIG, int(lb.get("size", 0)))
                    self.cond.notify_all()
        tl = self._timeline(sc)
        run_time = float(sc.get("run_time", 0.3))
        if tl:
            run_time = max(run_time, tl[-1][0] + 0.05)
        i = 0
        while i < len(tl):
            if self._sleep(rt, tl[i][0] - (time.monotonic() - t0), finish=True):
                break
            with self.mu:
                now = time.monotonic() - t0
                while i < len(tl) and tl[i][0] <= now:
                    a.logs[(task, tl[i][1])].append(tl[i][2])
                    i += 1
                self.cond.notify_all()
        if sc.get("hold"):
            with self.mu:
                while not rt.stop and rt.finish is None:
                    self.cond.wait()
        else:
            self._sleep(rt, run_time - (time.monotonic() - t0), finish=True)
        with self.mu:
            if rt.stop:
                return "stopped"
            if rt.finish is not None:
                return dict(rt.finish)
        return None

    # ------------------------------------------------------------- exec
    def _exec_env(self, j, a, task, tdef, task_dir, alloc_dir):
        env = dict(os.environ)
        meta = dict(j.d.get("Meta") or {})
        for k in (j.d.get("ParameterizedJob") or {}).get("MetaOptional") or []:
            meta.setdefault(k, "")
        meta.update(j.group().get("Meta") or {})
        meta.update(tdef.get("Meta") or {})
        nenv = {"NOMAD_TASK_DIR": os.path.join(task_dir, "local"),
                "NOMAD_SECRETS_DIR": os.path.join(task_dir, "secrets"),
                "NOMAD_ALLOC_DIR": alloc_dir, "NOMAD_ALLOC_ID": a.d["ID"],
                "NOMAD_ALLOC_NAME": a.d["Name"], "NOMAD_ALLOC_INDEX": "0",
                "NOMAD_JOB_ID": j.d["ID"], "NOMAD_JOB_NAME": j.d["Name"],
                "NOMAD_JOB_PARENT_ID": j.d["ParentID"], "NOMAD_TASK_NAME": task,
                "NOMAD_GROUP_NAME": j.group_name(), "NOMAD_NAMESPACE": j.d["Namespace"],
                "NOMAD_REGION": j.d["Region"], "NOMAD_DC": "dc1"}
        for k, v in meta.items():
            nenv[clean_env("NOMAD_META_" + k.upper())] = v
            nenv[clean_env("NOMAD_META_" + k)] = v
        env.update(nenv)

        def interp(s):
            return re.sub(r"\$\{([^}]+)\}", lambda m: env.get(m.group(1), nenv.get(m.group(1), "")), s)

        for k, v in (tdef.get("Env") or {}).items():
            env[k] = interp(str(v))
        return env, interp

    def _exec_run(self, j, a, task, tdef):
        rt = j.rt
        alloc_root = os.path.join(self.exec_dir, a.d["ID"])
        alloc_dir = os.path.join(alloc_root, "alloc")
        task_dir = os.path.join(alloc_root, task)
        for d in (alloc_dir, os.path.join(task_dir, "local"), os.path.join(task_dir, "secrets"),
                  os.path.join(alloc_dir, "logs")):
            os.makedirs(d, exist_ok=True)
        env, interp = self._exec_env(j, a, task, tdef, task_dir, alloc_dir)
        dp = (tdef.get("DispatchPayload") or {}).get("File")
        if dp and j.payload:
            path = os.path.join(task_dir, "local", dp)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(j.payload)
            os.chmod(path, 0o777)
        cfg = tdef.get("Config") or {}
        cmd = [interp(str(cfg.get("command", "/bin/true")))] + [interp(str(x)) for x in cfg.get("args") or []]
        try:
            proc = subprocess.Popen(cmd, cwd=task_dir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as e:
            with self.mu:
                a.logs[(task, "stderr")].append(("exec failed: %s\n" % e).encode())
            return 127
        rt.proc = proc

        def pump(pipe, typ):
            while True:
                chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
                if not chunk:
                    break
                with self.mu:
                    a.logs[(task, typ)].append(chunk)
                    self.cond.notify_all()

        ths = [threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True)]
        for t in ths:
            t.start()
        code = proc.wait()
        for t in ths:
            t.join(2)
        rt.proc = None
        with self.mu:
            if rt.stop:
                return "stopped"
            if rt.finish is not None:
                return dict(rt.finish)
        return code if code >= 0 else 128 - code

    def _kill_proc(self, proc):
        try:
            # SIGTERM, not Nomad's default SIGINT: a task started from a
            # background shell job inherits an ignored SIGINT
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            return

        def later():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        threading.Thread(target=later, daemon=True).start()

    # ============================================================== logs
    def logs(self, req, resp, aid):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        if not aid:
            raise HTTPError(400, "must provide a valid alloc id")
        task = req.arg("task", "")
        if not task:
            raise HTTPError(400, "must provide task name")
        follow = plain = False
        for name in ("follow", "plain"):
            v = req.arg(name, "")
            if v:
                try:
                    val = go_parse_bool(v)
                except ValueError as e:
                    raise HTTPError(400, "failed to parse %s field to boolean: %s" % (name, e))
                if name == "follow":
                    follow = val
                else:
                    plain = val
        typ = req.arg("type", "")
        if typ not in ("stdout", "stderr"):
            raise HTTPError(400, "must provide log type (stdout/stderr)")
        offset = 0
        o = req.arg("offset", "")
        if o:
            if not re.fullmatch(r"[+-]?[0-9]+", o) or abs(int(o)) >= 1 << 63:
                raise HTTPError(400, 'error parsing offset: strconv.ParseInt: parsing "%s": '
                                     'invalid syntax' % o)
            offset = int(o)
        origin = req.arg("origin", "") or "start"
        if origin not in ("start", "end"):
            raise HTTPError(400, "origin must be start or end")
        with self.mu:
            a = self.allocs.get(aid)
            ns = a.d["Namespace"] if a else self.ns(req)
        if not self.allowed(req, ["read-logs", "read-fs"], ns):
            raise HTTPError(403, "Permission denied")
        with self.mu:
            if a is None:
                if not re.fullmatch(r"[0-9a-fA-F-]{36}", aid):
                    raise HTTPError(500, "alloc lookup failed: index error: UUID must be 36 characters")
                raise HTTPError(404, 'Unknown allocation "%s"' % aid)
            j = self.jobs.get((a.d["Namespace"], a.d["JobID"]))
            tasks = j.tasks() if j else list((a.d["TaskStates"] or {}).keys())
            if task not in tasks:
                raise HTTPError(400, 'unknown task name "%s"' % task)
            ts = (a.d["TaskStates"] or {}).get(task)
            if not ts or not ts["StartedAt"]:
                raise HTTPError(404, 'task "%s" not started yet. No logs available' % task)
            ls = a.logs.get((task, typ))
            if ls is None:
                raise HTTPError(404, 'log entry for task "%s" and log type "%s" not found' % (task, typ))
        self._stream_logs(req, resp, ls, "alloc/logs/%s.%s." % (task, typ), follow, plain,
                          origin, offset, a)

    @staticmethod
    def _closest(ls, desired_idx, offset):
        """findClosest (client/fs_endpoint.go): the file and the offset in it."""
        idxs = sorted(ls.files)
        i = 0
        while i < len(idxs) and idxs[i] < desired_idx:
            i += 1
        if i == len(idxs):
            i = len(idxs) - 1
        while True:
            s = ls.files[idxs[i]].size
            if offset == 0:
                break
            if offset < 0:
                if s + offset >= 0:
                    offset = s + offset
                    break
                if i == 0:
                    offset = 0
                    break
                offset += s
                i -= 1
            else:
                if offset <= s:
                    break
                if i == len(idxs) - 1:
                    offset = s
                    break
                offset -= s
                i += 1
        return idxs[i], offset

    @staticmethod
    def _client_gone(handler):
        try:
            r, _, _ = select.select([handler.connection], [], [], 0)
            if r:
                return handler.connection.recv(1, socket.MSG_PEEK) == b""
        except ValueError:  # TLS socket: no MSG_PEEK; rely on write errors
            return False
        except OSError:
            return True
        return False

    def _stream_logs(self, req, resp, ls, prefix, follow, plain, origin, offset, alloc):
        """Nomad's logsImpl + streamFile + StreamFramer, step by step.

        The reader reads the file in 64 KiB chunks and hands each to the
        framer with the file offset *after* the chunk (streamFile).  The
        framer (client/lib/streamframer/framer.go Send) merges chunks of the
        same File and FileEvent into one frame, whose Offset is the one given
        with its first chunk; when 64 KiB or more are pending it sends 64 KiB
        and adds 64 KiB to the Offset without clearing the frame, so the next
        frames of that run carry an inflated Offset.  A 200 ms ticker sends
        what is pending (even nothing: a frame with Offset and File, no Data)
        and clears the frame; the next chunk then gives the true, smaller
        offset.  A 1 s ticker sends {} heartbeats.  Plain mode sends the same
        frames' Data bare.  follow=false streams the files that existed at
        the start to their end and flushes what is pending (Destroy).
        Fault: the stream's follow_lag (scenario key) makes a follow stream
        see each file as it was that many seconds ago."""
        hb = self.args.log_heartbeat
        lag = ls.follow_lag if follow else 0.0
        ctype = "text/plain" if plain else "application/json"
        b64 = base64.b64encode
        resp.start(200, [("Content-Type", ctype), ("Vary", "Accept-Encoding")], chunked=True)
        t0 = time.monotonic()
        tick = {"flush": t0 + BATCH_WINDOW, "hb": t0 + hb, "gone": t0 + 0.5}
        fr = {"cleared": True, "off": 0, "file": "", "event": "", "buf": bytearray()}
        out = []

        def frame(o, data, fn, event=""):
            s = '{"Offset":%d' % o if o else "{"
            if data:
                s += (',' if o else '') + '"Data":"' + b64(data).decode() + '"'
            if fn:
                s += (',' if len(s) > 1 else '') + '"File":' + json.dumps(fn)
            if event:
                s += ',"FileEvent":"%s"' % event
            return (s + "}").encode()

        def emit(o, data, fn, event):
            if plain:
                if data:
                    out.append(bytes(data))
            else:
                out.append(frame(o, data, fn, event))

        def send():  # StreamFramer.send: what is pending (up to 64 KiB), then Clear
            d = bytes(fr["buf"][:FRAME_SIZE])
            del fr["buf"][:FRAME_SIZE]
            emit(fr["off"], d, fr["file"], fr["event"])
            fr.update(cleared=True, off=0, file="", event="")

        def framer_send(fn, event, data, o):  # StreamFramer.Send
            if not fr["cleared"] and (fr["file"] != fn or fr["event"] != event):
                send()
            if fr["cleared"]:
                fr.update(cleared=False, off=o, file=fn, event=event)
            fr["buf"] += data
            force = not fr["buf"] and event != ""
            while len(fr["buf"]) >= FRAME_SIZE or force:
                force = False
                d = bytes(fr["buf"][:FRAME_SIZE])
                del fr["buf"][:FRAME_SIZE]
                emit(fr["off"], d, fr["file"], fr["event"])
                fr["off"] += len(d)

        def ticks(now):
            if now >= tick["flush"]:
                if not fr["cleared"]:
                    send()
                while tick["flush"] <= now:  # a Ticker drops the ticks it missed
                    tick["flush"] += BATCH_WINDOW
            if now >= tick["hb"]:
                if not plain:
                    out.append(b"{}")
                while tick["hb"] <= now:
                    tick["hb"] += hb

        # the reader: logsImpl's loop over files, streamFile's over chunks
        rd = {"open": True, "next": 0, "offset": offset, "f": None, "idx": 0, "off": 0,
              "gen": 0, "name": "", "event": "", "cancel": False, "exit": False}
        if origin == "end":
            rd["next"], rd["offset"] = 1 << 62, -offset

        def open_file():
            if not follow:
                max_index = max(ls.files)
            idx, off = self._closest(ls, rd["next"], rd["offset"])
            if not follow and idx > max_index:
                return False
            rd.update(open=False, idx=idx, off=off, f=ls.files[idx], gen=ls.files[idx].gen,
                      name=(prefix + "%d") % idx, event="", cancel=False, exit=False)
            if not follow and idx == max_index:
                rd["cancel"] = rd["exit"] = True
            return True

        def next_file():
            rd.update(open=True, next=rd["idx"] + 1, offset=0)

        def read_step(now):
            """One step of the reader: 'data', 'wait' or 'done'."""
            if rd["open"] and not open_file():
                return "done"
            f = rd["f"]
            if f.gen != rd["gen"]:  # changes.Truncated: a new reader at 0
                rd.update(off=0, gen=f.gen, event="file truncated")
            size = f.visible(now - lag) if lag else f.size
            n = min(max(0, size - rd["off"]), FRAME_SIZE)
            data = f.read(rd["off"], n) if n else b""
            rd["off"] += len(data)
            if data or rd["event"]:
                framer_send(rd["name"], rd["event"], data, rd["off"])
                rd["event"] = ""
            if data:
                return "data"
            # EOF
            if rd["cancel"]:
                if rd["exit"]:
                    return "done"
                next_file()
                return "data"
            if ls.files.get(rd["idx"]) is not f:  # changes.Deleted
                framer_send(rd["name"], "file deleted", b"", rd["off"])
                next_file()
                return "data"
            if size == f.size and any(i > rd["idx"] for i in ls.files):
                rd["cancel"] = True  # eofCancelCh: read once more, then the next file
                return "data"
            return "wait"

        while True:
            done = gone = False
            with self.mu:
                while True:
                    now = time.monotonic()
                    if self.allocs.get(alloc.d["ID"]) is not alloc:  # GC'd meanwhile
                        gone = True
                        break
                    ticks(now)
                    st = read_step(now)
                    if st == "done":
                        if not fr["cleared"] and fr["buf"]:  # Destroy: the partial frame
                            emit(fr["off"], bytes(fr["buf"][:FRAME_SIZE]), fr["file"], fr["event"])
                        done = True
                        break
                    if st == "data":
                        if len(out) >= 16:
                            break
                        continue
                    if out or now >= tick["gone"]:
                        break
                    waits = [tick["gone"], tick["flush"], tick["hb"]]
                    if lag:
                        waits.append(now + 0.05)
                    self.cond.wait(max(0.005, min(waits) - now))
            if gone:
                # an error after the first byte is appended as text (derived)
                if not plain:
                    out.append(frame(rd["off"], b"", rd["name"], "file deleted"))
                out.append(("failed to list entries: open %s/%s/alloc/logs: no such file or "
                            "directory" % (self.exec_dir or "/var/nomad/alloc",
                                           alloc.d["ID"])).encode())
                resp.write(b"".join(out))
                resp.end()
                req.handler.close_connection = True
                return
            if out:
                resp.write(out[0] if len(out) == 1 else b"".join(out))
                out.clear()
            if done:
                resp.end()
                return
            now = time.monotonic()
            if now >= tick["gone"]:
                tick["gone"] = now + 0.5
                if self._client_gone(req.handler):
                    raise emucore.Cut()

    # ====================================================== event stream
    def event_stream(self, req, resp):
        if req.method != "GET":
            raise HTTPError(405, "Invalid method")
        i = req.arg("index", "") or "0"
        if not re.fullmatch(r"[+-]?[0-9]+", i):
            raise HTTPError(400, 'Unable to parse index: strconv.Atoi: parsing "%s": invalid syntax' % i)
        start = int(i)
        topics = {}
        for t in req.query.get("topic", []):
            if t.count(":") > 1:
                raise HTTPError(400, "Invalid topic query: error parsing topics: Invalid key "
                                     "value pair for topic, topic: %s" % t)
            tp, _, key = t.partition(":")
            topics.setdefault(tp, set()).add(key or "*")
        if not topics:
            topics = {"*": {"*"}}
        ns = self.ns(req)
        hijack = self.args.event_transport == "hijack"

        def refusal():
            """None if the subscription is allowed, else the status of the
            refusal on the chunked transport.  nomad/stream/event_broker.go
            aclAllowsSubscription: Job, Allocation, Evaluation, Deployment
            and Service topics need read-job in the namespace, the others a
            management token.  A secret that resolves to no token is refused
            by Authenticate (403); a token that lacks the capability, or no
            token, by SubscribeWithACLCheck, which the HTTP agent of 1.6.3
            answers 500 "Permission denied"; so does a workload identity,
            which the broker looks up as an ACL token and does not find (seen
            on the real 1.6.3)."""
            if not self.args.acl:
                return None
            secret = self._token(req)
            tok = self.tokens.get(secret)
            if tok is None:
                return 403 if secret else 500
            have, nss = tok
            if "management" in have:
                return None
            if "*" in topics:
                return 500
            if ns != "*":
                return None if self.allowed(req, ["read-job"], ns) else 500
            if hijack:
                # Newer Nomad (validateACL): "*" expands to every namespace,
                # and read-job is needed in each.
                with self.mu:
                    known = {"default"} | {k[0] for k in self.jobs}
                return None if all(self.allowed(req, ["read-job"], n) for n in known) else 500
            # 1.6.3, acl.AllowNamespaceOperation: "*" is allowed when any
            # namespace allows read-job, and the subscription then gets the
            # events of every namespace (stream/subscription.go filters only
            # a named namespace).
            return None if "read-job" in have else 500

        hdrs = [("Content-Type", "application/json"), ("Cache-Control", "no-cache"),
                ("Vary", "Accept-Encoding")]
        if hijack:
            req.handler.close_connection = True
            resp.start(200, hdrs + [("Connection", "close")])
            if refusal():
                return
        else:
            code = refusal()
            if code:
                raise HTTPError(code, "Permission denied")
            resp.start(200, hdrs, chunked=True)

        def keep(topic, key, fkeys, ens):
            if ens and ns != "*" and ens != ns:
                return False
            for tp in (topic, "*"):
                keys = topics.get(tp)
                if not keys:
                    continue
                if "*" in keys and len(keys) == 1:
                    return True
                if key in keys or any(k in keys for k in (fkeys or [])):
                    return True
            return False

        def render(batch):
            idx, evs = batch
            kept = [e[4] for e in evs if keep(*e[:4])]
            if not kept:
                return None
            return ('{"Index":%d,"Events":[%s]}\n' % (idx, ",".join(kept))).encode()

        resp.write(b"{}\n")
        hb = self.args.event_heartbeat
        next_hb = time.monotonic() + hb
        next_gone = time.monotonic() + 0.5
        with self.mu:
            buf = list(self.events)
            if start > 0 and buf:
                sel = [b for b in buf if b[0] >= start]
                if not sel:
                    sel = [buf[-1]]
            else:
                sel = buf
            last = sel[-1][0] if sel else (buf[-1][0] if buf else 0)
            if not sel and not buf:
                last = 0
        pending = sel
        while True:
            out = [r for r in (render(b) for b in pending) if r]
            if out:
                resp.write(b"".join(out))
            now = time.monotonic()
            if now >= next_hb:
                resp.write(b"{}\n")
                next_hb = now + hb
            if now >= next_gone:
                next_gone = now + 0.5
                if self._client_gone(req.handler):
                    raise emucore.Cut()
            with self.mu:
                while True:
                    pending = [b for b in self.events if b[0] > last]
                    if pending:
                        last = pending[-1][0]
                        break
                    now = time.monotonic()
                    rem = min(next_hb, next_gone) - now
                    if rem <= 0:
                        break
                    self.cond.wait(rem)

    # =========================================================== control
    def _find_alloc(self, body):
        if body.get("alloc"):
            return self.allocs.get(body["alloc"])
        ns = body.get("namespace", "default")
        j = self.jobs.get((ns, body.get("job", "")))
        if j and j.alloc_ids:
            return self.allocs.get(j.alloc_ids[-1])
        return None

    def control(self, req, resp):
        p = req.path
        if not p.startswith("/_emu/nomad/"):
            return False
        r = p[len("/_emu/nomad/"):]
        body = req.json() if req.body else {}
        if r == "behavior":
            key = body.pop("job", "*")
            with self.mu:
                if body.pop("reset", False):
                    self.behaviors.pop(key, None)
                else:
                    self.behaviors[key] = body
            resp.json(200, True)
        elif r == "finish":
            ns = body.get("namespace", "default")
            with self.mu:
                j = self.jobs.get((ns, body.get("job", "")))
                if not j or not j.rt:
                    resp.text(404, "no such running job")
                    return True
                fin = {k: body[k] for k in ("exit_code", "outcome") if k in body}
                j.rt.finish = fin or {"exit_code": 0}
                if j.rt.proc:
                    self._kill_proc(j.rt.proc)
                self.cond.notify_all()
            resp.json(200, True)
        elif r in ("log", "bigjob"):
            with self.mu:
                a = self._find_alloc(body)
                if a is None:
                    resp.text(404, "no such alloc")
                    return True
                j = self.jobs.get((a.d["Namespace"], a.d["JobID"]))
                task = body.get("task") or (j.tasks()[0] if j else "executor")
                st = body.get("stream", "stdout")
                ls = a.logs.get((task, st))
                if ls is None:
                    ls = a.logs[(task, st)] = LogStream()
                if r == "log":
                    data = body.get("data", "").encode()
                    if body.get("data_b64"):
                        data = base64.b64decode(body["data_b64"])
                    ls.append(data)
                else:
                    ls.append_lazy(BIG, int(body.get("size", 0)))
                self.cond.notify_all()
            resp.json(200, {"alloc": a.d["ID"], "task": task})
        elif r == "token":
            with self.mu:
                self.tokens[body["secret"]] = (set(body.get("capabilities") or []),
                                               set(body["namespaces"]) if body.get("namespaces") else None)
            resp.json(200, True)
        elif r == "gc":
            ns = body.get("namespace", "default")
            with self.mu:
                j = self.jobs.get((ns, body.get("job", "")))
                if j:
                    with Txn(self, "JobBatchDeregistered") as tx:
                        del self.jobs[j.key]
                        for aid in j.alloc_ids:
                            self.allocs.pop(aid, None)
                        for eid in j.eval_ids:
                            self.evals.pop(eid, None)
                        tx.job(j, deleted=True)
                    if j.rt:
                        j.rt.stop = True
                        self.cond.notify_all()
            resp.json(200, bool(j))
        elif r == "jobs":
            with self.mu:
                out = {"index": self.index, "tables": self.tables, "behaviors": self.behaviors,
                       "jobs": [dict(job_json(j), _allocs=[self.allocs[a].full(with_job=False)
                                                           for a in j.alloc_ids if a in self.allocs],
                                     _summary=j.summary,
                                     _logs={"%s.%s" % k: {str(i): f.size for i, f in ls.files.items()}
                                            for a in j.alloc_ids if a in self.allocs
                                            for k, ls in self.allocs[a].logs.items()})
                                for j in self.jobs.values()]}
                body = dumps(out)
            resp.send(200, body, "application/json")
        else:
            return False
        return True


def _go_dur(secs):
    if secs >= 1 and secs == int(secs):
        return "%ds" % secs
    ms = secs * 1000
    return ("%gms" % ms) if ms < 1000 else ("%gs" % secs)


if __name__ == "__main__":
    emucore.main(NomadEmulator)
