"""Forge commit-status API emulator (Gitea / Forgejo / GitHub) on emucore.

Wire facts from shared/api/consul-and-forges.md §C and §D3 (checklist 19-22).
Python 3 standard library only.

Flags (besides emucore's --host --port --port-file --parent --tls-cert
--tls-key --tls-client-ca --verbose):
  --kind gitea|forgejo|github   API flavour (default gitea)
  --repo OWNER/NAME             (repeatable) repositories that exist
  --token T                     (repeatable) token with write access
  --read-only-token T           (repeatable) token with read access only
  --user LOGIN                  login of every token's owner (default ci-bot)
  --app-url URL                 base for "url" fields (default
                                http://127.0.0.1:<port>/ ; GitHub:
                                https://api.github.com)
  --combine github|legacy       Gitea combined-state rule (default github):
                                github = failure if any error/failure,
                                success if all success/warning, else pending;
                                legacy = worst wins (error < failure <
                                warning < pending < success)

Service routes
  gitea/forgejo (JSON answers: Content-Type application/json;charset=utf-8,
  encoder output + "\\n"; errors {"message": ..., "url": "<app>api/swagger"}):
    POST /api/v1/repos/{o}/{r}/statuses/{sha}
         404 unknown repo (checked first), 401 {"message":"token is
         required"} without valid credentials, 403 read-only token,
         400 "sha not given", 422 invalid JSON or a state that is not a
         string, else 201 with the state under "status": like Gitea
         1.27.3, any string is taken as a state (routers/api/v1/repo/
         status.go NewCommitStatus checks none).
         Credentials: "Authorization: token X" or "Bearer X" (either
         scheme in any case, exactly two fields: modules/auth/httpauth
         ParseAuthorizationHeader),
         "Authorization: Basic b64(user:X)" or b64(X:) / b64(X:x-oauth-basic).
    GET  /api/v1/repos/{o}/{r}/statuses/{ref}          newest first,
    GET  /api/v1/repos/{o}/{r}/commits/{ref}/statuses   X-Total-Count,
         ?page ?limit (default 30, max 50) ?state ?sort=oldest
    GET  /api/v1/repos/{o}/{r}/commits/{ref}/status     combined
  github (also under /api/v3 like GitHub Enterprise):
    every request without User-Agent => 403 text/plain (checked first)
    POST /repos/{o}/{r}/statuses/{sha}   Bearer or token (any case);
         401 Requires authentication / Bad credentials, 403 read-only
         ("Resource not accessible by personal access token"), 404
         Not Found, 422 {"message":"Validation Failed","errors":[...]}
         for a state outside error|failure|pending|success, else 201
         with the state under "state"; context defaults to "default".
    GET  /repos/{o}/{r}/statuses/{ref}, /repos/{o}/{r}/commits/{ref}/statuses
    GET  /repos/{o}/{r}/commits/{ref}/status
  {ref} is a SHA or a name registered with /_emu/forge/refs.

Control routes (JSON):
  GET    /_emu/forge/statuses  every stored status, oldest first:
         [{"id": 1, "repo": "o/r", "sha": "...", "state": "pending",
           "context": "...", "description": "...", "target_url": "...",
           "creator": "ci-bot", "created_at": "..."}]
  DELETE /_emu/forge/statuses  forget them
  POST   /_emu/forge/repos     {"repo": "owner/name"} (or a list of them)
  GET    /_emu/forge/repos     ["owner/name", ...]
  POST   /_emu/forge/tokens    {"token": "T", "write": true, "user": "ci-bot"}
  DELETE /_emu/forge/tokens    forget every token
  POST   /_emu/forge/refs      {"repo": "o/r", "ref": "main", "sha": "..."}
                               (also "refs/pull/3/head" etc.)
  GET    /_emu/forge/refs      {"o/r": {"main": "sha", ...}}
Retries/timeouts: use emucore faults, e.g. POST /_emu/faults
  {"method":"POST","path":"/statuses/","status":500,"times":2} or "delay".
"""

import base64
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emucore  # noqa: E402

GITHUB_STATES = ["error", "failure", "pending", "success"]
GH_DOCS = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
NO_UA = ("Request forbidden by administrative rules. Please make sure your "
         "request has a User-Agent header (https://docs.github.com/en/rest/"
         "overview/resources-in-the-rest-api#user-agent-required). Check "
         "https://developer.github.com for other possible causes.\n")


def go_json(obj):
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Forge(emucore.Emulator):
    name = "forge"

    @classmethod
    def add_arguments(cls, ap):
        ap.add_argument("--kind", choices=["gitea", "forgejo", "github"],
                        default="gitea")
        ap.add_argument("--repo", action="append", default=[])
        ap.add_argument("--token", action="append", default=[])
        ap.add_argument("--read-only-token", action="append", default=[])
        ap.add_argument("--user", default="ci-bot")
        ap.add_argument("--app-url")
        ap.add_argument("--combine", choices=["github", "legacy"], default="github")

    def __init__(self, args):
        super().__init__(args)
        self.kind = args.kind
        self.repos = {}  # "owner/name" lower -> {"id", "full_name"}
        for r in args.repo:
            self._add_repo(r)
        self.tokens = {}  # token -> {"write": bool, "user": str}
        for t in args.token:
            self.tokens[t] = {"write": True, "user": args.user}
        for t in args.read_only_token:
            self.tokens[t] = {"write": False, "user": args.user}
        self.statuses = []  # dicts, oldest first
        self.refs = {}      # repo lower -> {ref: sha}
        self.next_id = 1

    def _add_repo(self, full):
        if full.count("/") != 1:
            raise ValueError("repo must be owner/name: %r" % full)
        k = full.lower()
        if k not in self.repos:
            self.repos[k] = {"id": len(self.repos) + 1, "full_name": full}

    def start(self):
        pass

    def app_url(self, req):
        if self.args.app_url:
            u = self.args.app_url
        elif self.kind == "github":
            u = "https://api.github.com"
        else:
            host = req.header("Host") or "127.0.0.1"
            u = "http://%s/" % host
        if self.kind != "github" and not u.endswith("/"):
            u += "/"
        return u.rstrip("/") if self.kind == "github" else u

    # ---- auth
    def _gitea_token(self, req):
        """The credential Gitea would extract, or None."""
        auth = req.header("Authorization") or ""
        f = auth.split()
        if len(f) == 2 and f[0].lower() in ("token", "bearer"):
            return f[1]
        parts = auth.split(" ", 1)
        if len(parts) == 2 and parts[0].lower() == "basic":
            try:
                dec = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None
            user, _, pw = dec.partition(":")
            return user if pw in ("", "x-oauth-basic") else pw
        return None

    def _github_token(self, req):
        f = (req.header("Authorization") or "").split()
        if len(f) == 2 and f[0].lower() in ("token", "bearer"):
            return f[1]
        return None

    # ---- responses
    def _gitea_json(self, resp, status, obj, headers=()):
        resp.send(status, go_json(obj) + "\n", "application/json;charset=utf-8",
                  headers)

    def _gitea_err(self, req, resp, status, message, errors=None):
        obj = {"message": message, "url": self.app_url(req) + "api/swagger"}
        if errors is not None:
            obj = {"errors": errors, **obj}
        self._gitea_json(resp, status, obj)

    def _gh_json(self, resp, status, obj, headers=()):
        resp.send(status, json.dumps(obj, separators=(",", ":")),
                  "application/json; charset=utf-8",
                  [("X-GitHub-Api-Version-Selected", "2022-11-28")] + list(headers))

    def _gh_err(self, resp, status, message, doc=GH_DOCS, errors=None):
        obj = {"message": message}
        if errors is not None:
            obj["errors"] = errors
        obj["documentation_url"] = doc
        obj["status"] = str(status)
        self._gh_json(resp, status, obj)

    # ---- views
    def _creator(self, login):
        if self.kind == "github":
            return {"login": login, "id": 1000, "type": "Bot" if login.endswith("[bot]")
                    else "User", "site_admin": False}
        return {"id": 2, "login": login, "login_name": "", "full_name": "",
                "email": login + "@noreply.example.org", "avatar_url": "",
                "username": login}

    def _view(self, req, s):
        if self.kind == "github":
            base = self.app_url(req)
            return {
                "url": "%s/repos/%s/statuses/%s" % (base, s["repo"], s["sha"]),
                "avatar_url": "https://avatars.githubusercontent.com/u/1000?v=4",
                "id": s["id"],
                "node_id": base64.b64encode(("StatusContext%d" % s["id"]).encode()).decode(),
                "state": s["state"],
                "description": s["description"] or None,
                "target_url": s["target_url"] or None,
                "context": s["context"],
                "created_at": s["created_at"],
                "updated_at": s["created_at"],
                "creator": self._creator(s["creator"]),
            }
        return {
            "id": s["id"],
            "status": s["state"],
            "target_url": s["target_url"],
            "description": s["description"],
            "url": "%sapi/v1/repos/%s/statuses/%s" % (self.app_url(req), s["repo"], s["sha"]),
            "context": s["context"],
            "creator": self._creator(s["creator"]),
            "created_at": s["created_at"],
            "updated_at": s["created_at"],
        }

    def _resolve(self, repo, ref):
        with self.lock:
            return self.refs.get(repo.lower(), {}).get(ref, ref)

    def _for_sha(self, repo, sha):
        with self.lock:
            return [s for s in self.statuses
                    if s["repo"].lower() == repo.lower() and s["sha"] == sha]

    def _latest(self, sts):
        seen = {}
        for s in sts:  # oldest first: later ones supersede
            k = s["context"].lower() if self.kind == "github" else s["context"]
            seen[k] = s
        return sorted(seen.values(), key=lambda s: -s["id"])

    def _combine(self, states):
        if self.kind == "github":
            if not states:
                return "pending"
            if any(x in ("error", "failure") for x in states):
                return "failure"
            if any(x == "pending" for x in states):
                return "pending"
            return "success"
        if not states:
            return ""
        if self.args.combine == "legacy":
            order = ["error", "failure", "warning", "pending", "success"]
            return min(states, key=lambda x: order.index(x) if x in order else 3)
        if any(x in ("error", "failure") for x in states):
            return "failure"
        if all(x in ("success", "warning", "skipped") for x in states):
            return "success"
        return "pending"

    # ---- service
    def handle(self, req, resp):
        path = req.path
        if self.kind == "github":
            if not (req.header("User-Agent") or "").strip():
                resp.send(403, NO_UA, "text/plain; charset=utf-8")
                return
            if path.startswith("/api/v3/"):
                path = path[len("/api/v3"):]
            prefix = "/repos/"
        else:
            prefix = "/api/v1/repos/"
        if not path.startswith(prefix):
            return self._not_found(req, resp)
        parts = path[len(prefix):].split("/")
        if len(parts) < 4:
            return self._not_found(req, resp)
        owner, name, rest = parts[0], parts[1], parts[2:]
        full = owner + "/" + name
        with self.lock:
            repo = self.repos.get(full.lower())
        if repo is None:
            if self.kind == "github":
                return self._gh_err(resp, 404, "Not Found")
            return self._gitea_err(req, resp, 404, "The target couldn't be found.",
                                   errors=[])
        full = repo["full_name"]
        if rest[0] == "statuses" and len(rest) >= 2:
            sha = "/".join(rest[1:])
            if req.method == "POST":
                return self._create(req, resp, repo, sha)
            if req.method == "GET":
                return self._list(req, resp, full, self._resolve(full, sha))
        elif rest[0] == "commits" and len(rest) >= 3 and req.method == "GET":
            ref = "/".join(rest[1:-1])
            if rest[-1] == "statuses":
                return self._list(req, resp, full, self._resolve(full, ref))
            if rest[-1] == "status":
                return self._combined(req, resp, repo, ref)
        if req.method not in ("GET", "POST"):
            resp.send(405, "Method Not Allowed", "text/plain; charset=utf-8")
            return
        return self._not_found(req, resp)

    def _not_found(self, req, resp):
        if self.kind == "github":
            return self._gh_err(resp, 404, "Not Found", "https://docs.github.com/rest")
        self._gitea_err(req, resp, 404, "The target couldn't be found.", errors=[])

    def _auth(self, req, resp, need_write):
        """Return the token record or answer the error and return None."""
        gh = self.kind == "github"
        tok = self._github_token(req) if gh else self._gitea_token(req)
        with self.lock:
            rec = self.tokens.get(tok) if tok is not None else None
        if rec is None:
            if gh:
                if tok is None:
                    self._gh_err(resp, 401, "Requires authentication")
                else:
                    self._gh_err(resp, 401, "Bad credentials", "https://docs.github.com/rest")
            else:
                self._gitea_err(req, resp, 401, "token is required")
            return None
        if need_write and not rec["write"]:
            if gh:
                self._gh_err(resp, 403, "Resource not accessible by personal access token")
            else:
                self._gitea_err(req, resp, 403, "token does not have at least one of "
                                "required scope(s), required=[write:repository], token "
                                "scope=read:repository")
            return None
        return rec

    def _create(self, req, resp, repo, sha):
        gh = self.kind == "github"
        rec = self._auth(req, resp, True)
        if rec is None:
            return
        if not sha.strip():
            return self._gitea_err(req, resp, 400, "sha not given")
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as e:
            if gh:
                return self._gh_err(resp, 400, "Problems parsing JSON")
            return self._gitea_err(req, resp, 422, "[]: %s" % e)
        state = body.get("state")
        if gh and state not in GITHUB_STATES:
            return self._gh_err(resp, 422, "Validation Failed", errors=[{
                "resource": "Status", "code": "custom", "field": "state",
                "message": "state is not included in the list"}])
        if not isinstance(state, str):
            return self._gitea_err(req, resp, 422, "[State]: state must be a string")

        def text(k):
            v = body.get(k)
            return v.strip() if isinstance(v, str) else ""

        ctx = text("context")
        if gh and not ctx:
            ctx = "default"
        with self.lock:
            s = {"id": self.next_id, "repo": repo["full_name"], "sha": sha,
                 "state": state, "context": ctx, "description": text("description"),
                 "target_url": text("target_url"), "creator": rec["user"],
                 "created_at": now_iso()}
            self.next_id += 1
            self.statuses.append(s)
        view = self._view(req, s)
        if gh:
            self._gh_json(resp, 201, view, [("Location", view["url"])])
        else:
            self._gitea_json(resp, 201, view)

    def _list(self, req, resp, full, sha):
        sts = list(reversed(self._for_sha(full, sha)))  # newest first
        if self.kind == "github":
            return self._gh_json(resp, 200, [self._view(req, s) for s in sts])
        if req.arg("state"):
            sts = [s for s in sts if s["state"] == req.arg("state")]
        if req.arg("sort") in ("oldest", "leastindex"):
            sts.reverse()
        try:
            page = max(int(req.arg("page", "1")), 1)
            limit = int(req.arg("limit", "30"))
        except ValueError:
            page, limit = 1, 30
        if limit <= 0:
            limit = 30
        limit = min(limit, 50)
        total = len(sts)
        chunk = sts[(page - 1) * limit: page * limit]
        self._gitea_json(resp, 200, [self._view(req, s) for s in chunk],
                         [("X-Total-Count", str(total))])

    def _combined(self, req, resp, repo, ref):
        full = repo["full_name"]
        sha = self._resolve(full, ref)
        latest = self._latest(self._for_sha(full, sha))
        state = self._combine([s["state"] for s in latest])
        base = self.app_url(req)
        if self.kind == "github":
            obj = {"state": state, "statuses": [self._view(req, s) for s in latest],
                   "sha": sha, "total_count": len(latest),
                   "repository": {"id": repo["id"], "full_name": full},
                   "commit_url": "%s/repos/%s/commits/%s" % (base, full, sha),
                   "url": "%s/repos/%s/commits/%s/status" % (base, full, sha)}
            return self._gh_json(resp, 200, obj)
        obj = {"state": state, "sha": sha, "total_count": len(latest),
               "statuses": [self._view(req, s) for s in latest] if latest else None,
               "repository": {"id": repo["id"], "full_name": full},
               "commit_url": "%sapi/v1/repos/%s/git/commits/%s" % (base, full, sha),
               "url": "%sapi/v1/repos/%s/commits/%s/status" % (base, full, sha)}
        self._gitea_json(resp, 200, obj)

    # ---- control
    def control(self, req, resp):
        p, m = req.path, req.method

        def many(spec):
            return spec if isinstance(spec, list) else [spec]

        if p == "/_emu/forge/statuses" and m == "GET":
            with self.lock:
                resp.json(200, [dict(s) for s in self.statuses])
        elif p == "/_emu/forge/statuses" and m == "DELETE":
            with self.lock:
                self.statuses.clear()
            resp.json(200, True)
        elif p == "/_emu/forge/repos" and m == "POST":
            with self.lock:
                for s in many(req.json()):
                    self._add_repo(s["repo"] if isinstance(s, dict) else s)
            resp.json(200, True)
        elif p == "/_emu/forge/repos" and m == "GET":
            with self.lock:
                resp.json(200, [r["full_name"] for r in self.repos.values()])
        elif p == "/_emu/forge/tokens" and m == "POST":
            with self.lock:
                for s in many(req.json()):
                    self.tokens[s["token"]] = {
                        "write": bool(s.get("write", True)) and not s.get("read_only"),
                        "user": s.get("user", self.args.user)}
            resp.json(200, True)
        elif p == "/_emu/forge/tokens" and m == "DELETE":
            with self.lock:
                self.tokens.clear()
            resp.json(200, True)
        elif p == "/_emu/forge/refs" and m == "POST":
            with self.lock:
                for s in many(req.json()):
                    self.refs.setdefault(s["repo"].lower(), {})[s["ref"]] = s["sha"]
            resp.json(200, True)
        elif p == "/_emu/forge/refs" and m == "GET":
            with self.lock:
                resp.json(200, self.refs)
        else:
            return False
        return True


if __name__ == "__main__":
    emucore.main(Forge)
