#!/usr/bin/env python3
"""Turn a Nomad job spec (HCL2) into Nomad's JSON job, for the emulators.

    python3 test/emu/hcl2nomad.py FILE.hcl      prints {"Job": {...}}

Parsing is done by HashiCorp's HCL library as published on npm
(@cdktf/hcl2json, a WebAssembly build), through test/emu/hcl2json.js:
    npm install --prefix test/node @cdktf/hcl2json
(the module is searched in $HCL2JSON_NODE_PATH, then test/node/node_modules;
the node binary is $NODE or `node` on PATH).  hcl2json turns every block into
a list of objects keyed by its labels (job "x" {...} => {"job": {"x": [{...}]}});
this script maps that onto the API job the way `nomad job run -output` would
for the parts an emulator uses: ID, Name, Type, Namespace, Region, Priority,
Datacenters, Meta, ParameterizedJob{Payload, MetaRequired, MetaOptional},
Periodic, Constraints, TaskGroups[{Name, Count, Meta, RestartPolicy,
ReschedulePolicy, Tasks[{Name, Driver, User, Config, Env, Meta,
DispatchPayload{File}, LogConfig{MaxFiles, MaxFileSizeMB}, Resources{CPU,
MemoryMB}, Templates, Artifacts, KillTimeout}]}].  Durations become
nanoseconds.  Unknown blocks are ignored.  HCL interpolations that Nomad
resolves at run time (${NOMAD_*}, ${attr.*}, ...) stay as strings.

Input variables take their defaults: "${var.x}" becomes the default's value,
and within a longer string its text; a whole-value conditional on a
variable, "${var.x == "lit" ? A : B}" with A and B literals (a string, a
list, null), takes its branch, and an attribute that comes out null is
dropped, as Nomad drops it; other expressions stay strings.

Exit status: 0 ok; 1 syntax or structure error (message on stderr, starting
with FILE:); 2 usage or missing parser (node / @cdktf/hcl2json).
"""

import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10 ** 6, "s": 10 ** 9,
         "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}


class SpecError(Exception):
    pass


def duration(v, what):
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v)
    if s == "0":
        return 0
    total, pos = 0, 0
    while pos < len(s):
        m = _DUR.match(s, pos)
        if not m:
            raise SpecError("%s: invalid duration %r" % (what, v))
        total += int(float(m.group(1)) * _UNIT[m.group(2)])
        pos = m.end()
    if not s:
        raise SpecError("%s: empty duration" % what)
    return total


def block(obj, name):
    """The single unlabelled block `name` in obj, or None."""
    v = obj.get(name)
    if v is None:
        return None
    if isinstance(v, list):
        if len(v) > 1:
            raise SpecError("only one %s block is allowed" % name)
        return v[0] if v else None
    return v


def blocks(obj, name):
    v = obj.get(name) or []
    return v if isinstance(v, list) else [v]


def labelled(obj, name):
    """[(label, body)] of the labelled blocks `name`, in file order."""
    out = []
    for label, bodies in (obj.get(name) or {}).items():
        for b in bodies if isinstance(bodies, list) else [bodies]:
            out.append((label, b))
    return out


def merged_map(obj, name):
    """meta/env blocks or attributes: a flat {str: str}."""
    v = obj.get(name)
    if v is None:
        return None
    out = {}
    for part in v if isinstance(v, list) else [v]:
        for k, x in part.items():
            out[k] = x if isinstance(x, str) else json.dumps(x)
    return out


def restart_policy(b, jtype):
    # Nomad defaults (structs.NewRestartPolicy / batch)
    if jtype == "batch":
        rp = {"Attempts": 3, "Interval": 86400 * 10 ** 9, "Delay": 15 * 10 ** 9,
              "Mode": "fail", "RenderTemplates": False}
    else:
        rp = {"Attempts": 2, "Interval": 30 * 60 * 10 ** 9, "Delay": 15 * 10 ** 9,
              "Mode": "fail", "RenderTemplates": False}
    if b:
        if "attempts" in b:
            rp["Attempts"] = int(b["attempts"])
        for k, K in (("interval", "Interval"), ("delay", "Delay")):
            if k in b:
                rp[K] = duration(b[k], "restart." + k)
        if "mode" in b:
            if b["mode"] not in ("fail", "delay"):
                raise SpecError('restart.mode must be "fail" or "delay"')
            rp["Mode"] = b["mode"]
        if "render_templates" in b:
            rp["RenderTemplates"] = bool(b["render_templates"])
    return rp


def reschedule_policy(b, jtype):
    if jtype == "batch":
        rp = {"Attempts": 1, "Interval": 86400 * 10 ** 9, "Delay": 5 * 10 ** 9,
              "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": False}
    else:
        rp = {"Attempts": 0, "Interval": 0, "Delay": 30 * 10 ** 9,
              "DelayFunction": "exponential", "MaxDelay": 3600 * 10 ** 9,
              "Unlimited": True}
    if b:
        if "attempts" in b:
            rp["Attempts"] = int(b["attempts"])
        for k, K in (("interval", "Interval"), ("delay", "Delay"),
                     ("max_delay", "MaxDelay")):
            if k in b:
                rp[K] = duration(b[k], "reschedule." + k)
        if "delay_function" in b:
            rp["DelayFunction"] = b["delay_function"]
        if "unlimited" in b:
            rp["Unlimited"] = bool(b["unlimited"])
    return rp


def constraints(obj):
    out = []
    for c in blocks(obj, "constraint"):
        out.append({"LTarget": c.get("attribute", ""), "RTarget": str(c.get("value", "")),
                    "Operand": c.get("operator", "=")})
    return out or None


def task(name, t, jtype):
    if "driver" not in t:
        raise SpecError('task "%s": missing required attribute "driver"' % name)
    out = {"Name": name, "Driver": t["driver"], "User": t.get("user", "")}
    cfg = block(t, "config")
    out["Config"] = cfg if cfg is not None else {}
    out["Env"] = merged_map(t, "env")
    out["Meta"] = merged_map(t, "meta")
    dp = block(t, "dispatch_payload")
    out["DispatchPayload"] = {"File": dp.get("file", "")} if dp else None
    lg = block(t, "logs") or {}
    out["LogConfig"] = {"MaxFiles": int(lg.get("max_files", 10)),
                        "MaxFileSizeMB": int(lg.get("max_file_size", 10)),
                        "Disabled": bool(lg.get("disabled", False))}
    rs = block(t, "resources") or {}
    out["Resources"] = {"CPU": int(rs.get("cpu", 100)),
                        "MemoryMB": int(rs.get("memory", 300))}
    if "memory_max" in rs:
        out["Resources"]["MemoryMaxMB"] = int(rs["memory_max"])
    tmpls = []
    for tp in blocks(t, "template"):
        tmpls.append({"SourcePath": tp.get("source", ""),
                      "DestPath": tp.get("destination", ""),
                      "EmbeddedTmpl": tp.get("data", ""),
                      "ChangeMode": tp.get("change_mode", "restart"),
                      "Envvars": bool(tp.get("env", False))})
    out["Templates"] = tmpls or None
    arts = []
    for ar in blocks(t, "artifact"):
        arts.append({"GetterSource": ar.get("source", ""),
                     "RelativeDest": ar.get("destination", "local/"),
                     "GetterOptions": block(ar, "options")})
    out["Artifacts"] = arts or None
    if "kill_timeout" in t:
        out["KillTimeout"] = duration(t["kill_timeout"], "kill_timeout")
    out["Constraints"] = constraints(t)
    return out


_VAR = re.compile(r"\$\{var\.([A-Za-z_][A-Za-z0-9_-]*)\}")


_COND = re.compile(r'\$\{var\.([A-Za-z_][A-Za-z0-9_-]*) (==|!=) "([^"]*)" \? (.*)\}', re.S)


def _branches(text):
    """'A : B' split at its top-level colon (outside strings and brackets)."""
    depth, quoted, i = 0, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        elif depth == 0 and text.startswith(" : ", i):
            return text[:i], text[i + 3:]
        i += 1
    return None


def with_defaults(doc):
    """doc with each ${var.x} replaced by variable x's default."""
    defaults = {n: v["default"] for n, v in labelled(doc, "variable") if "default" in v}

    def cond(v):
        m = _COND.fullmatch(v)
        if not m or m.group(1) not in defaults or _branches(m.group(4)) is None:
            return v
        a, b = _branches(m.group(4))
        pick = a if (str(defaults[m.group(1)]) == m.group(3)) == (m.group(2) == "==") else b
        try:
            return json.loads(pick)
        except ValueError:
            return v

    def sub(v):
        if isinstance(v, dict):
            out = {k: sub(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not None}
        if isinstance(v, list):
            return [sub(x) for x in v]
        if not isinstance(v, str):
            return v
        if v.startswith("${var.") and _COND.fullmatch(v):
            c = cond(v)
            if c is not v:
                return sub(c)
        m = _VAR.fullmatch(v)
        if m and m.group(1) in defaults:
            return defaults[m.group(1)]
        return _VAR.sub(lambda m: str(defaults[m.group(1)]) if m.group(1) in defaults
                        else m.group(0), v)
    return sub({k: x for k, x in doc.items() if k != "variable"})


def job_from_hcl(doc):
    jobs = labelled(with_defaults(doc), "job")
    if len(jobs) != 1:
        raise SpecError("expected exactly one job block, found %d" % len(jobs))
    jid, j = jobs[0]
    jid = j.get("id", jid)
    jtype = j.get("type", "service")
    if jtype not in ("service", "batch", "system", "sysbatch"):
        raise SpecError('invalid job type "%s"' % jtype)
    job = {"ID": jid, "Name": j.get("name", jid), "Type": jtype,
           "Namespace": j.get("namespace", "default"),
           "Region": j.get("region", "global"),
           "Priority": int(j.get("priority", 50)),
           "Datacenters": j.get("datacenters", ["*"]),
           "NodePool": j.get("node_pool", "default"),
           "Meta": merged_map(j, "meta"),
           "Constraints": constraints(j)}
    pj = block(j, "parameterized")
    if pj is not None:
        payload = pj.get("payload", "optional")
        if payload not in ("optional", "required", "forbidden"):
            raise SpecError('parameterized.payload must be optional, required or forbidden')
        job["ParameterizedJob"] = {"Payload": payload,
                                   "MetaRequired": pj.get("meta_required"),
                                   "MetaOptional": pj.get("meta_optional")}
    else:
        job["ParameterizedJob"] = None
    pe = block(j, "periodic")
    job["Periodic"] = ({"Enabled": bool(pe.get("enabled", True)),
                        "Spec": pe.get("crons", [pe.get("cron", "")])[0]
                        if isinstance(pe.get("crons"), list) else pe.get("cron", ""),
                        "SpecType": "cron",
                        "ProhibitOverlap": bool(pe.get("prohibit_overlap", False)),
                        "TimeZone": pe.get("time_zone", "UTC")} if pe else None)
    job_resched = block(j, "reschedule")
    groups = []
    for gname, g in labelled(j, "group"):
        tasks = [task(tn, t, jtype) for tn, t in labelled(g, "task")]
        if not tasks:
            raise SpecError('group "%s" has no task' % gname)
        rb = block(g, "reschedule") or job_resched
        groups.append({"Name": gname, "Count": int(g.get("count", 1)),
                       "Meta": merged_map(g, "meta"),
                       "Constraints": constraints(g),
                       "RestartPolicy": restart_policy(block(g, "restart"), jtype),
                       "ReschedulePolicy": reschedule_policy(rb, jtype),
                       "Tasks": tasks})
    if not groups:
        raise SpecError('job "%s" has no group' % jid)
    job["TaskGroups"] = groups
    return {"Job": job}


def parse_hcl(path):
    node = os.environ.get("NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise FileNotFoundError("node not found (install nodejs)")
    p = subprocess.run([node, os.path.join(HERE, "hcl2json.js"), path],
                       capture_output=True, text=True)
    if p.returncode == 1:
        raise SpecError(p.stderr.strip() or "HCL parse error")
    if p.returncode != 0:
        raise FileNotFoundError(p.stderr.strip())
    return json.loads(p.stdout)


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: hcl2nomad.py FILE.hcl\n")
        return 2
    path = argv[1]
    if not os.path.isfile(path):
        sys.stderr.write("%s: no such file\n" % path)
        return 2
    try:
        out = job_from_hcl(parse_hcl(path))
    except FileNotFoundError as e:
        sys.stderr.write("%s: cannot run the HCL parser: %s\n" % (path, e))
        return 2
    except SpecError as e:
        sys.stderr.write("%s: %s\n" % (path, e))
        return 1
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        sys.stderr.write("%s: unexpected job structure: %s\n" % (path, e))
        return 1
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
