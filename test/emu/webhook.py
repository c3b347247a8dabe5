#!/usr/bin/env python3
"""Webhook delivery generator/sender for Gitea, Forgejo and GitHub.

Real-shaped deliveries per shared/api/consul-and-forges.md §B (Gitea),
§D1 (Forgejo), §D2 (GitHub).  Payloads start from the fixture files in
test/fixtures/webhooks/ (third-party, see the README there) with fields
overridden; Gitea pull requests and fork variants are written from the
doc's field lists.  Python 3 standard library only.

Usage
  webhook.py gen  --forge gitea|forgejo|github --event EVENT --out DIR [opts]
  webhook.py send --url URL --forge ... --event ... [--out DIR] [opts]
  webhook.py vector

EVENT: push tag branch-delete tag-delete test-delivery ping pr-opened
       pr-synchronized pr-closed pr-reopened pr-edited issue-comment
Options:
  --fork               PR from a fork (head.repo = SENDER/<name>, fork: true,
                       parent = base repo, different clone_url)
  --repo-url URL       clone URL of the (base) repository; default
                       https://git.example.org/acme/widget.git (GitHub:
                       https://github.com/acme/widget.git); copied verbatim
                       into repository.clone_url
  --full-name O/N      default: the last two path segments of --repo-url
  --sender LOGIN       default ada
  --branch NAME        pushed branch / PR head branch (default main / feature)
  --base NAME          PR base branch (default main)
  --tag NAME           default v1.0.0
  --commit SHA         the pushed / PR head commit (default deterministic)
  --number N           PR / issue number (default 12)
  --merged             with pr-closed: merged: true
  --sha256             SHA-256 object format (64-hex ids and zero ids)
  --secret S           HMAC key (default empty: Gitea still sends empty
                       X-Gitea-Signature and prefix-only sha1=/sha256=;
                       GitHub sends no signature headers)
  --form               application/x-www-form-urlencoded, body
                       payload=<quote_plus(JSON)>; Gitea/Forgejo sign the
                       JSON, GitHub signs the body
  --delivery UUID      default a fresh uuid4
  --authorization V    add "Authorization: V" (Gitea's webhook option)
  --hook-id N          GitHub X-GitHub-Hook-ID (default 123456789)
  send only: --timeout S (default 5 Gitea, 10 GitHub), --insecure,
             --cacert FILE

Event semantics:
  gitea/forgejo: push = push to refs/heads/BRANCH; tag = push of
  refs/tags/TAG (before zeros, commits [], head_commit = the commit);
  branch-delete = a `delete` event only (Gitea sends no push);
  tag-delete = push with after zeros, head_commit null; test-delivery =
  the UI test push (before == after == zeros, fake commit); ping is
  refused (Gitea has none: exit 2); pr-* = pull_request with actions
  opened/synchronized/closed/reopened/edited (X-Gitea-Event-Type
  pull_request_sync for synchronized), head.label = bare branch;
  issue-comment = issue_comment on a plain issue.
  github: push; tag = push created:true of refs/tags/TAG; branch-delete and
  tag-delete = push with deleted:true, after zeros, head_commit null;
  test-delivery and ping = the `ping` event; pr-* actions opened/
  synchronize/closed/reopened/edited with head.label OWNER:BRANCH;
  issue-comment = issue_comment created.

Output of gen: DIR/body (exact bytes), DIR/headers (one header a line, for
`curl -H @DIR/headers --data-binary @DIR/body URL`; a header whose value is
empty is written `Name;`, curl's syntax for sending an empty header), and
DIR/json (the signed JSON, = body except in form mode); prints the delivery
ID.  send prints `<status> <response body>`; exit 0 on 2xx, 1 on another
status, 2 on a connection error or timeout.
vector prints the HMACs of the doc's test vectors (B3 and D2), one
`name hex` per line.
"""

import argparse
import copy
import hashlib
import hmac
import http.client
import json
import os
import ssl
import sys
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "webhooks")

EVENTS = ["push", "tag", "branch-delete", "tag-delete", "test-delivery", "ping",
          "pr-opened", "pr-synchronized", "pr-closed", "pr-reopened",
          "pr-edited", "issue-comment"]
TS = "2025-03-01T10:00:00Z"


class Usage(Exception):
    pass


def load(rel):
    with open(os.path.join(FIX, rel), encoding="utf-8") as f:
        return json.load(f)


def sha_of(text, n):
    h = hashlib.sha256(text.encode()).hexdigest()
    return (h * 2)[:n]


def stable_id(text, mod=100000):
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % mod + 10


def gitea_json(obj):
    """json.MarshalIndent(p, "", "  ") as Gitea does (HTML-escaped, no newline)."""
    s = json.dumps(obj, indent=2, ensure_ascii=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def github_json(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def subst(obj, pairs):
    if isinstance(obj, str):
        for a, b in pairs:
            obj = obj.replace(a, b)
        return obj
    if isinstance(obj, list):
        return [subst(x, pairs) for x in obj]
    if isinstance(obj, dict):
        return {k: subst(v, pairs) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- context
class Ctx:
    def __init__(self, a):
        self.a = a
        self.forge = a.forge
        gh = a.forge == "github"
        url = a.repo_url or ("https://github.com/acme/widget.git" if gh
                             else "https://git.example.org/acme/widget.git")
        u = urllib.parse.urlsplit(url)
        if not u.scheme or not u.netloc:
            raise Usage("--repo-url must be an absolute URL: %r" % url)
        segs = [s for s in u.path.split("/") if s]
        if a.full_name:
            full = a.full_name
        else:
            if len(segs) < 2:
                raise Usage("cannot derive owner/name from %r; give --full-name" % url)
            last = segs[-1][:-4] if segs[-1].endswith(".git") else segs[-1]
            full = segs[-2] + "/" + last
        if full.count("/") != 1:
            raise Usage("--full-name must be owner/name")
        self.clone_url = url
        self.full = full
        self.owner, self.name = full.split("/")
        self.scheme, self.host = u.scheme, u.netloc
        hostname = u.hostname or self.host
        prefix_segs = segs[:-2] if len(segs) >= 2 and not a.full_name else []
        self.app_url = "%s://%s/%s" % (u.scheme, u.netloc,
                                       "".join(s + "/" for s in prefix_segs))
        self.html_url = self.app_url + full
        self.ssh_url = "git@%s:%s.git" % (hostname, full)
        self.sender = a.sender or "ada"
        n = 64 if a.sha256 else 40
        self.n = n
        self.zero = "0" * n
        self.commit = a.commit or sha_of("albatros-commit", n)
        self.parent = sha_of("parent-of-" + self.commit, n)
        self.base_sha = sha_of("base-of-" + self.commit, n)
        self.number = a.number
        self.tag = a.tag or "v1.0.0"
        self.base = a.base or "main"
        if a.event.startswith("pr-"):
            self.branch = a.branch or "feature"
        else:
            self.branch = a.branch or "main"
        self.repo_id = stable_id(full)
        self.owner_id = stable_id("user:" + self.owner)
        self.sender_id = stable_id("user:" + self.sender)
        self.fork_full = self.sender + "/" + self.name
        if self.fork_full.lower() == full.lower():
            self.fork_full = self.sender + "/" + self.name + "-fork"
        self.fork_id = stable_id(self.fork_full)


# ---------------------------------------------------------------- Gitea
def gitea_user(c, login, uid):
    base = c.app_url
    return {
        "id": uid, "login": login, "login_name": "", "source_id": 0,
        "full_name": login.capitalize(), "email": "%s@noreply.%s" % (login, c.host),
        "avatar_url": "%savatars/%s" % (base, hashlib.md5(login.encode()).hexdigest()),
        "html_url": base + login, "language": "", "is_admin": False,
        "last_login": "0001-01-01T00:00:00Z", "created": "2024-01-01T00:00:00Z",
        "restricted": False, "active": False, "prohibit_login": False,
        "location": "", "website": "", "description": "", "visibility": "public",
        "followers_count": 0, "following_count": 0, "starred_repos_count": 0,
        "username": login,
    }


def gitea_repo(c, full=None, rid=None, fork=False, parent=None, clone_url=None):
    """Start from the fixture's repository object, override, add modern fields."""
    full = full or c.full
    owner, name = full.split("/")
    r = load("gitea/push.json")["repository"]
    r["id"] = rid or c.repo_id
    r["owner"] = gitea_user(c, owner, stable_id("user:" + owner))
    r["name"] = name
    r["full_name"] = full
    r["private"] = False
    r["fork"] = fork
    r["template"] = False
    r["parent"] = parent
    r["html_url"] = c.app_url + full
    r["url"] = "%sapi/v1/repos/%s" % (c.app_url, full)
    r["link"] = ""
    r["ssh_url"] = "git@%s:%s.git" % (c.host.split(":")[0], full)
    r["clone_url"] = clone_url or (c.app_url + full + ".git")
    r["original_url"] = ""
    r["default_branch"] = c.base if c.a.event.startswith("pr-") else "main"
    r["archived"] = False
    r["created_at"] = "2024-01-01T00:00:00Z"
    r["updated_at"] = TS
    r["permissions"] = {"admin": False, "push": False, "pull": True}
    r["object_format_name"] = "sha256" if c.a.sha256 else "sha1"
    return r


def gitea_commit(c, sha, message="Fix the frobnicator\n", ghost=False):
    who = ({"name": "Ghost", "email": "ghost@noreply.%s" % c.host, "username": "ghost"}
           if ghost else {"name": c.sender.capitalize(),
                          "email": "%s@noreply.%s" % (c.sender, c.host),
                          "username": c.sender})
    return {
        "id": sha, "message": message,
        "url": "%s/commit/%s" % (c.html_url, sha),
        "author": dict(who), "committer": dict(who), "verification": None,
        "timestamp": TS, "added": [], "removed": [],
        "modified": [] if ghost else ["src/frob.c"],
    }


def gitea_push(c, ref, before, after, commits, head, compare):
    fx = load("gitea/push.json")  # field set and order of the real payload
    user = gitea_user(c, c.sender, c.sender_id)
    out = {}
    for k in ["ref", "before", "after", "compare_url", "commits"]:
        out[k] = fx[k]
    out.update(ref=ref, before=before, after=after, compare_url=compare,
               commits=commits)
    out["total_commits"] = len(commits)
    out["head_commit"] = head
    out["repository"] = gitea_repo(c)
    out["pusher"] = user
    out["sender"] = user
    return out


def gitea_pr(c, action):
    base_repo = gitea_repo(c)
    if c.a.fork:
        head_repo = gitea_repo(c, c.fork_full, c.fork_id, fork=True,
                               parent=copy.deepcopy(base_repo))
    else:
        head_repo = copy.deepcopy(base_repo)
    closed = action == "closed"
    merged = closed and c.a.merged
    sender = gitea_user(c, c.sender, c.sender_id)
    pr = {
        "id": stable_id("pr:%s#%d" % (c.full, c.number)),
        "url": "%s/pulls/%d" % (c.html_url, c.number),
        "number": c.number, "user": sender,
        "title": "Speed up frob", "body": "Makes the frobnicator faster.",
        "labels": [], "milestone": None, "assignee": None, "assignees": None,
        "requested_reviewers": None, "requested_reviewers_teams": None,
        "state": "closed" if closed else "open", "draft": False,
        "is_locked": False, "comments": 0, "review_comments": 0,
        "additions": 3, "deletions": 1, "changed_files": 1,
        "html_url": "%s/pulls/%d" % (c.html_url, c.number),
        "diff_url": "%s/pulls/%d.diff" % (c.html_url, c.number),
        "patch_url": "%s/pulls/%d.patch" % (c.html_url, c.number),
        "mergeable": not closed, "merged": merged,
        "merged_at": TS if merged else None,
        "merge_commit_sha": sha_of("merge-" + c.commit, c.n) if merged else None,
        "merged_by": gitea_user(c, c.owner, c.owner_id) if merged else None,
        "allow_maintainer_edit": False,
        "base": {"label": c.base, "ref": c.base, "sha": c.base_sha,
                 "repo_id": base_repo["id"], "repo": base_repo},
        "head": {"label": c.branch, "ref": c.branch, "sha": c.commit,
                 "repo_id": head_repo["id"], "repo": head_repo},
        "merge_base": c.base_sha, "due_date": None,
        "created_at": "2025-03-01T09:00:00Z", "updated_at": TS,
        "closed_at": TS if closed else None, "pin_order": 0,
    }
    out = {"action": action, "number": c.number}
    if action == "edited":
        out["changes"] = {"title": {"from": "Speed up frob (draft)"}}
    out["pull_request"] = pr
    out["requested_reviewer"] = None
    out["repository"] = copy.deepcopy(base_repo)
    out["sender"] = sender
    out["commit_id"] = ""
    out["review"] = None
    return out


def gitea_payload(c):
    """(payload, X-Gitea-Event, X-Gitea-Event-Type)."""
    ev = c.a.event
    if ev == "push":
        com = gitea_commit(c, c.commit)
        return (gitea_push(c, "refs/heads/" + c.branch, c.parent, c.commit, [com],
                           copy.deepcopy(com),
                           "%s/compare/%s...%s" % (c.html_url, c.parent, c.commit)),
                "push", "push")
    if ev == "tag":
        return (gitea_push(c, "refs/tags/" + c.tag, c.zero, c.commit, [],
                           gitea_commit(c, c.commit), c.app_url), "push", "push")
    if ev == "tag-delete":
        return (gitea_push(c, "refs/tags/" + c.tag, c.commit, c.zero, [], None,
                           c.app_url), "push", "push")
    if ev == "test-delivery":
        com = gitea_commit(c, c.zero, "This is a fake commit for webhook push test",
                           ghost=True)
        return (gitea_push(c, "refs/heads/" + c.branch, c.zero, c.zero, [com],
                           copy.deepcopy(com),
                           "%s/compare/%s...%s" % (c.html_url, c.zero, c.zero)),
                "push", "push")
    if ev == "branch-delete":
        fx = load("gitea/branch_delete.json")
        fx["ref"] = c.branch
        fx["ref_type"] = "branch"
        fx["pusher_type"] = "user"
        fx["repository"] = gitea_repo(c)
        fx["sender"] = gitea_user(c, c.sender, c.sender_id)
        return fx, "delete", "delete"
    if ev == "ping":
        raise Usage("Gitea/Forgejo have no ping event; use --event test-delivery")
    if ev.startswith("pr-"):
        action = {"pr-synchronized": "synchronized"}.get(ev, ev[3:])
        typ = "pull_request_sync" if action == "synchronized" else "pull_request"
        return gitea_pr(c, action), "pull_request", typ
    if ev == "issue-comment":
        fx = load("gitea/issue_comment_created.json")
        user = gitea_user(c, c.sender, c.sender_id)
        fx["issue"]["number"] = c.number
        fx["issue"]["user"] = user
        fx["comment"]["user"] = user
        fx["comment"]["html_url"] = "%s/issues/%d#issuecomment-%d" % (
            c.html_url, c.number, fx["comment"]["id"])
        fx["repository"] = gitea_repo(c)
        fx["sender"] = user
        fx["is_pull"] = False
        return fx, "issue_comment", "issue_comment"
    raise Usage("unknown event %r" % ev)


# ---------------------------------------------------------------- GitHub
def gh_hosts(c):
    host = c.host
    if host == "github.com":
        return []
    api = "%s://%s/api/v3/" % (c.scheme, host)
    return [("https://api.github.com/", api), ("https://github.com/", c.app_url),
            ("git://github.com/", "git://%s/" % host),
            ("git@github.com:", "git@%s:" % host)]


def gh_repo(c, r, full, rid, fork=False):
    owner, name = full.split("/")
    pairs = [("Codertocat/Hello-World", full), ("Octocoders/Hello-World", full),
             ("Codertocat", owner), ("Octocoders", owner), ("Hello-World", name)]
    r = subst(r, pairs + gh_hosts(c))
    r["id"] = rid
    r["owner"]["id"] = stable_id("user:" + owner)
    r["fork"] = fork
    if full == c.full:
        r["clone_url"] = c.clone_url
    return r


def gh_user(c, u, login):
    u = subst(u, [("Codertocat", login), ("Octocoders", login)] + gh_hosts(c))
    u["id"] = stable_id("user:" + login)
    return u


def gh_commit(c, sha, fx_commit):
    com = subst(fx_commit, [("Codertocat/Hello-World", c.full),
                            ("Codertocat", c.sender)] + gh_hosts(c))
    com["id"] = sha
    com["tree_id"] = sha_of("tree-" + sha, c.n)
    com["url"] = "%s/commit/%s" % (c.html_url, sha)
    com["message"] = "Fix the frobnicator"
    com["added"], com["removed"], com["modified"] = [], [], ["src/frob.c"]
    return com


def gh_fix_common(c, fx):
    for k in ("repository",):
        if k in fx:
            fx[k] = gh_repo(c, fx[k], c.full, c.repo_id)
    if "sender" in fx:
        fx["sender"] = gh_user(c, fx["sender"], c.sender)
    fx.pop("installation", None)
    return fx


def github_payload(c):
    ev = c.a.event
    if ev in ("push", "tag"):
        fx = load("github/push.with-new-branch.payload.json")
        fx = gh_fix_common(c, fx)
        fx["pusher"] = {"name": c.sender,
                        "email": "%s@users.noreply.github.com" % c.sender}
        com = gh_commit(c, c.commit, fx["head_commit"])
        if ev == "push":
            fx.update(ref="refs/heads/" + c.branch, before=c.parent, after=c.commit,
                      created=False, deleted=False, forced=False, base_ref=None,
                      compare="%s/compare/%s...%s" % (c.html_url, c.parent[:12],
                                                      c.commit[:12]),
                      commits=[com], head_commit=copy.deepcopy(com))
        else:
            fx.update(ref="refs/tags/" + c.tag, before=c.zero, after=c.commit,
                      created=True, deleted=False, forced=False, base_ref=None,
                      compare="%s/compare/%s" % (c.html_url, c.tag),
                      commits=[], head_commit=com)
        return fx, "push"
    if ev in ("branch-delete", "tag-delete"):
        fx = gh_fix_common(c, load("github/push.payload.json"))
        fx["pusher"] = {"name": c.sender,
                        "email": "%s@users.noreply.github.com" % c.sender}
        ref = "refs/heads/" + c.branch if ev == "branch-delete" else "refs/tags/" + c.tag
        fx.update(ref=ref, before=c.commit, after=c.zero, created=False, deleted=True,
                  forced=False, base_ref=None,
                  compare="%s/compare/%s...%s" % (c.html_url, c.commit[:12], c.zero[:12]),
                  commits=[], head_commit=None)
        return fx, "push"
    if ev in ("ping", "test-delivery"):
        fx = gh_fix_common(c, load("github/ping.payload.json"))
        hid = c.a.hook_id
        fx["hook_id"] = hid
        fx["hook"] = subst(fx["hook"], [("Octocoders/Hello-World", c.full),
                                        ("109948940", str(hid))] + gh_hosts(c))
        fx["hook"]["id"] = hid
        return fx, "ping"
    if ev.startswith("pr-"):
        action = {"pr-synchronized": "synchronize"}.get(ev, ev[3:])
        src = ("github/pull_request.synchronize.payload.json"
               if action == "synchronize" else "github/pull_request.opened.payload.json")
        fx = load(src)
        fx.pop("installation", None)
        pr = fx["pull_request"]
        base_repo = gh_repo(c, pr["base"]["repo"], c.full, c.repo_id)
        if c.a.fork:
            head_repo = gh_repo(c, pr["head"]["repo"], c.fork_full, c.fork_id, fork=True)
            head_owner = c.sender
        else:
            head_repo = copy.deepcopy(base_repo)
            head_owner = c.owner
        pr = subst(pr, [("Codertocat/Hello-World", c.full),
                        ("Codertocat", c.owner)] + gh_hosts(c))
        closed = action == "closed"
        merged = closed and c.a.merged
        pr.update(number=c.number, state="closed" if closed else "open",
                  merged=merged, closed_at="2025-03-01T10:00:00Z" if closed else None,
                  merged_at="2025-03-01T10:00:00Z" if merged else None,
                  merge_commit_sha=sha_of("merge-" + c.commit, c.n))
        pr["url"] = "%s/pulls/%d" % (pr["url"].rsplit("/pulls/", 1)[0], c.number)
        pr["html_url"] = "%s/pull/%d" % (c.html_url, c.number)
        pr["user"] = gh_user(c, pr["user"], c.sender)
        pr["base"].update(label="%s:%s" % (c.owner, c.base), ref=c.base,
                          sha=c.base_sha, repo=base_repo)
        pr["base"]["user"] = gh_user(c, pr["base"]["user"], c.owner)
        pr["head"].update(label="%s:%s" % (head_owner, c.branch), ref=c.branch,
                          sha=c.commit, repo=head_repo)
        pr["head"]["user"] = gh_user(c, pr["head"]["user"], head_owner)
        out = {"action": action, "number": c.number}
        if action == "edited":
            out["changes"] = {"title": {"from": "Speed up frob (draft)"}}
        out["pull_request"] = pr
        if action == "synchronize":
            out["before"] = c.parent
            out["after"] = c.commit
        out["repository"] = copy.deepcopy(base_repo)
        out["sender"] = gh_user(c, fx["sender"], c.sender)
        return out, "pull_request"
    if ev == "issue-comment":
        sender = gh_user(c, load("github/ping.payload.json")["sender"], c.sender)
        repo = gh_repo(c, load("github/ping.payload.json")["repository"], c.full, c.repo_id)
        api = "https://api.github.com/repos/%s" % c.full
        out = {
            "action": "created",
            "issue": {"url": "%s/issues/%d" % (api, c.number),
                      "html_url": "%s/issues/%d" % (c.html_url, c.number),
                      "id": stable_id("issue%d" % c.number), "number": c.number,
                      "title": "Problem", "user": sender, "labels": [], "state": "open",
                      "locked": False, "assignee": None, "assignees": [],
                      "milestone": None, "comments": 1, "created_at": TS,
                      "updated_at": TS, "closed_at": None,
                      "author_association": "OWNER", "body": "Got it"},
            "comment": {"url": "%s/issues/comments/1" % api,
                        "html_url": "%s/issues/%d#issuecomment-1" % (c.html_url, c.number),
                        "id": 1, "user": sender, "created_at": TS, "updated_at": TS,
                        "author_association": "OWNER", "body": "Got it"},
            "repository": repo, "sender": sender,
        }
        return out, "issue_comment"
    raise Usage("unknown event %r" % ev)


# ---------------------------------------------------------------- delivery
def hmac_hex(key, msg, algo):
    return hmac.new(key, msg, algo).hexdigest()


def build(a):
    """(body bytes, signed json bytes, [(name, value)], delivery id)."""
    c = Ctx(a)
    delivery = a.delivery or str(uuid.uuid4())
    key = (a.secret or "").encode("utf-8")
    if a.forge == "github":
        payload, event = github_payload(c)
        js = github_json(payload).encode("utf-8")
        body = (b"payload=" + urllib.parse.quote_plus(js).encode("ascii")) if a.form else js
        hdrs = [("Accept", "*/*"), ("Content-Type", "application/x-www-form-urlencoded"
                                    if a.form else "application/json"),
                ("User-Agent", "GitHub-Hookshot/9b8a1c5"),
                ("X-GitHub-Delivery", delivery), ("X-GitHub-Event", event),
                ("X-GitHub-Hook-ID", str(a.hook_id)),
                ("X-GitHub-Hook-Installation-Target-ID", str(c.repo_id)),
                ("X-GitHub-Hook-Installation-Target-Type", "repository")]
        if a.secret:
            hdrs += [("X-Hub-Signature", "sha1=" + hmac_hex(key, body, hashlib.sha1)),
                     ("X-Hub-Signature-256",
                      "sha256=" + hmac_hex(key, body, hashlib.sha256))]
    else:
        payload, event, typ = gitea_payload(c)
        js = gitea_json(payload).encode("utf-8")
        body = (b"payload=" + urllib.parse.quote_plus(js).encode("ascii")) if a.form else js
        s256 = hmac_hex(key, js, hashlib.sha256) if a.secret else ""
        s1 = hmac_hex(key, js, hashlib.sha1) if a.secret else ""
        # services/webhook/deliver.go addDefaultHeaders (Gitea 1.27.3): a
        # repository's hook says so in *-Hook-Installation-Target-Type; Go's
        # transport adds User-Agent and Accept-Encoding on the wire.
        hdrs = [("User-Agent", "Go-http-client/1.1"),
                ("Content-Type", "application/x-www-form-urlencoded"
                 if a.form else "application/json"),
                ("X-Gitea-Delivery", delivery), ("X-Gitea-Event", event),
                ("X-Gitea-Event-Type", typ), ("X-Gitea-Signature", s256),
                ("X-Gitea-Hook-Installation-Target-Type", "repository"),
                ("X-Gogs-Delivery", delivery), ("X-Gogs-Event", event),
                ("X-Gogs-Event-Type", typ), ("X-Gogs-Signature", s256),
                ("X-Hub-Signature", "sha1=" + s1),
                ("X-Hub-Signature-256", "sha256=" + s256),
                ("X-GitHub-Delivery", delivery), ("X-GitHub-Event", event),
                ("X-GitHub-Event-Type", typ),
                ("X-GitHub-Hook-Installation-Target-Type", "repository"),
                ("Accept-Encoding", "gzip")]
        if a.forge == "forgejo":
            hdrs += [("X-Forgejo-Delivery", delivery), ("X-Forgejo-Event", event),
                     ("X-Forgejo-Event-Type", typ), ("X-Forgejo-Signature", s256)]
    if a.authorization:
        hdrs.append(("Authorization", a.authorization))
    return body, js, hdrs, delivery


def write_out(d, body, js, hdrs):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "body"), "wb") as f:
        f.write(body)
    with open(os.path.join(d, "json"), "wb") as f:
        f.write(js)
    with open(os.path.join(d, "headers"), "w", encoding="utf-8") as f:
        for k, v in hdrs:
            f.write("%s;\n" % k if v == "" else "%s: %s\n" % (k, v))


def send(a, body, hdrs):
    u = urllib.parse.urlsplit(a.url)
    timeout = a.timeout or (10.0 if a.forge == "github" else 5.0)
    port = u.port
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=a.cacert)
        if a.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(u.hostname, port or 443, timeout=timeout,
                                           context=ctx)
    elif u.scheme == "http":
        conn = http.client.HTTPConnection(u.hostname, port or 80, timeout=timeout)
    else:
        raise Usage("--url must be http:// or https://")
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    try:
        # http.client keeps header names as given (urllib would re-case them)
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for k, v in hdrs:
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        sys.stdout.write("000 %s\n" % e)
        return 2
    finally:
        conn.close()
    sys.stdout.write("%d %s\n" % (r.status, data.decode("utf-8", "replace")))
    return 0 if 200 <= r.status < 300 else 1


def vectors():
    gjs = (b'{\n  "ref": "refs/heads/main",\n  "after": '
           b'"0123456789abcdef0123456789abcdef01234567"\n}')
    gkey = b"albatros-test-secret"
    form = b"payload=" + urllib.parse.quote_plus(gjs).encode()
    hkey, hmsg = b"It's a Secret to Everybody", b"Hello, World!"
    return [
        ("gitea-json-bytes", str(len(gjs))),
        ("gitea-sha256", hmac_hex(gkey, gjs, hashlib.sha256)),
        ("gitea-sha1", hmac_hex(gkey, gjs, hashlib.sha1)),
        ("gitea-form-body-bytes", str(len(form))),
        ("gitea-form-body", form.decode()),
        ("gitea-form-body-sha256", hmac_hex(gkey, form, hashlib.sha256)),
        ("github-sha256", hmac_hex(hkey, hmsg, hashlib.sha256)),
        ("github-sha1", hmac_hex(hkey, hmsg, hashlib.sha1)),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="webhook.py",
                                 description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("gen", "send"):
        p = sub.add_parser(name)
        p.add_argument("--forge", choices=["gitea", "forgejo", "github"], required=True)
        p.add_argument("--event", choices=EVENTS, required=True)
        p.add_argument("--fork", action="store_true")
        p.add_argument("--repo-url")
        p.add_argument("--full-name")
        p.add_argument("--sender")
        p.add_argument("--branch")
        p.add_argument("--base")
        p.add_argument("--tag")
        p.add_argument("--commit")
        p.add_argument("--number", type=int, default=12)
        p.add_argument("--merged", action="store_true")
        p.add_argument("--sha256", action="store_true")
        p.add_argument("--secret", default="")
        p.add_argument("--form", action="store_true")
        p.add_argument("--delivery")
        p.add_argument("--authorization")
        p.add_argument("--hook-id", type=int, default=123456789)
        if name == "gen":
            p.add_argument("--out", required=True)
        else:
            p.add_argument("--url", required=True)
            p.add_argument("--out")
            p.add_argument("--timeout", type=float)
            p.add_argument("--insecure", action="store_true")
            p.add_argument("--cacert")
    sub.add_parser("vector")
    a = ap.parse_args(argv)
    if a.cmd == "vector":
        for k, v in vectors():
            print(k, v)
        return 0
    try:
        if a.commit is not None:
            import re
            if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", a.commit):
                raise Usage("--commit must be 40 or 64 lowercase hex digits")
        body, js, hdrs, delivery = build(a)
        if a.out:
            write_out(a.out, body, js, hdrs)
        if a.cmd == "gen":
            print(delivery)
            return 0
        return send(a, body, hdrs)
    except Usage as e:
        sys.stderr.write("webhook.py: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
