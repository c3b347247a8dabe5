/* ISC license. */
/*
 * alba-verify: authenticate a forge webhook (token, HMAC-SHA256), normalize
 * it into .event, decide trust and write .build (SPEC §2, §7).  It reads the
 * .request alba-http wrote and the .config alba-config wrote; no network.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jv.h>

#include "alba.h"
#include "crypto.h"
#include "doc.h"
#include "json.h"
#include "refname.h"

static const char usage_str[] = "usage: alba-verify [-m maxbytes]";

enum forge { F_NONE, F_GITEA, F_FORGEJO, F_GITHUB };
static const char *const forge_name[] = { "gitea", "gitea", "forgejo", "github" };

/* Why a request builds nothing: the status, code and message of .error. */
struct verdict {
	int status;
	const char *code;
	char msg[768];
};

/* What authentication and normalization read, borrowed from the document. */
struct in {
	jv headers, query, config;
	enum forge forge;
	const char *body;		/* the raw body, as signed by GitHub */
	size_t bodylen;
	char *json;			/* the payload JSON, as signed by Gitea */
	size_t jsonlen;
};

static const char BAD[] = "";	/* a member of the wrong type or with a NUL */

static int
refuse(struct verdict *v, int status, const char *code, const char *fmt, ...)
    ALBA_PRINTF(4, 5);

static int
refuse(struct verdict *v, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	v->status = status;
	v->code = code;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof v->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* Borrows v: the string at path, NULL if absent or null, BAD if it is of
 * another type or holds a NUL.  The pointer lives as long as v does (the
 * parent object keeps its reference). */
static const char *
sget(jv v, const char *path)
{
	jv s = alba_get(jv_copy(v), path);
	const char *p = NULL;
	jv_kind k = jv_get_kind(s);

	if (k == JV_KIND_STRING) {
		p = jv_string_value(s);
		if (strlen(p) != (size_t)jv_string_length_bytes(jv_copy(s)))
			p = BAD;
	} else if (k != JV_KIND_INVALID && k != JV_KIND_NULL)
		p = BAD;
	jv_free(s);
	return p;
}

/* sget for a member that is only reported: BAD reads as absent. */
static const char *
sopt(jv v, const char *path)
{
	const char *p = sget(v, path);

	return p == BAD ? NULL : p;
}

static jv
jstr(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

/* A sanitized, shortened copy of attacker-controlled text for a message. */
static const char *
san(char *buf, size_t n, const char *s)
{
	size_t len = strlen(s);

	alba_sanitize(buf, n, s, len);
	if (len > n - 1 && n > 4)
		memcpy(buf + n - 4, "...", 4);
	return buf;
}

static int
has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the forge, the payload bytes */

static enum forge
detect_forge(jv headers)
{
	enum forge f = F_NONE;

	if (jv_get_kind(headers) != JV_KIND_OBJECT)
		return F_NONE;
	jv_object_foreach(headers, k, val) {
		const char *name = jv_string_value(k);
		if (has_prefix_ci(name, "x-forgejo-"))
			f = F_FORGEJO;
		else if (has_prefix_ci(name, "x-gitea-") && f != F_FORGEJO)
			f = F_GITEA;
		else if (has_prefix_ci(name, "x-github-") && f == F_NONE)
			f = F_GITHUB;
		jv_free(k);
		jv_free(val);
	}
	return f;
}

/* The first non-empty header among the forge's own and those it copies
 * (Forgejo sends Gitea's, Gitea sends GitHub's). */
static const char *
forge_header(const struct in *in, const char *suffix)
{
	static const char *const chain[][3] = {
		[F_NONE] = { NULL, NULL, NULL },
		[F_GITEA] = { "x-gitea-", "x-github-", NULL },
		[F_FORGEJO] = { "x-forgejo-", "x-gitea-", "x-github-" },
		[F_GITHUB] = { "x-github-", NULL, NULL },
	};
	char name[64];
	int i;

	for (i = 0; i < 3 && chain[in->forge][i]; i++) {
		snprintf(name, sizeof name, "%s%s", chain[in->forge][i], suffix);
		const char *v = sopt(in->headers, name);
		if (v && *v)
			return v;
	}
	return NULL;
}

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* URL-decode (form rules: '+' is a space) n bytes of s into a new buffer;
 * NULL on a malformed escape. */
static char *
form_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1);
	size_t i, o = 0;

	if (out == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = unhex((unsigned char)s[i + 1]);
			lo = unhex((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = 0;
	*outlen = o;
	return out;
}

/* The payload JSON: the URL-decoded payload= field of a form body, else the
 * body itself (JSON, or the original's `curl -d @payload.json`). */
static int
payload_bytes(struct in *in, struct verdict *v)
{
	const char *ct = sopt(in->headers, "content-type");
	static const char field[] = "payload=";

	if (ct && has_prefix_ci(ct, "application/x-www-form-urlencoded") &&
	    in->bodylen >= sizeof field - 1 &&
	    memcmp(in->body, field, sizeof field - 1) == 0) {
		const char *p = in->body + sizeof field - 1;
		const char *amp = memchr(p, '&', in->bodylen - (size_t)(p - in->body));
		size_t n = amp ? (size_t)(amp - p) : in->bodylen - (size_t)(p - in->body);
		in->json = form_decode(p, n, &in->jsonlen);
		if (in->json == NULL)
			return refuse(v, 400, "bad_request",
			    "malformed form body: a bad %%-escape in payload=");
		return 0;
	}
	in->json = malloc(in->bodylen + 1);
	if (in->json == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memcpy(in->json, in->body, in->bodylen);
	in->json[in->bodylen] = 0;
	in->jsonlen = in->bodylen;
	return 0;
}

/* ---- authentication */

/* 1 if sig is 64 hex digits (either case) spelling mac; the time depends on
 * the length only, which is public. */
static int
hex_matches(const char *sig, size_t len, const unsigned char mac[ALBA_SHA256_LEN])
{
	unsigned char got[ALBA_SHA256_LEN];
	unsigned bad = 0;
	size_t i;
	int ok;

	if (len != 2 * ALBA_SHA256_LEN)
		return 0;
	for (i = 0; i < ALBA_SHA256_LEN; i++) {
		unsigned v = 0, j;
		for (j = 0; j < 2; j++) {
			unsigned c = (unsigned char)sig[2 * i + j];
			unsigned d = c - '0', l = (c | 0x20) - 'a';
			unsigned isd = (d < 10), isl = (l < 6);
			v = v << 4 | (d & -isd) | ((l + 10) & -isl);
			bad |= !(isd | isl);
		}
		got[i] = (unsigned char)v;
	}
	ok = alba_ct_equal(got, mac, sizeof got) & !bad;
	explicit_bzero(got, sizeof got);
	return ok;
}

static int
check_token(const struct in *in, const char *want, struct verdict *v)
{
	const char *q = sget(in->query, "token");
	const char *auth = sopt(in->headers, "authorization");
	const char *bearer = NULL;
	int ok = 1, seen = 0;

	if (auth && has_prefix_ci(auth, "bearer "))
		for (bearer = auth + 7; *bearer == ' '; bearer++)
			;
	if (q) {
		seen = 1;
		ok &= q != BAD && alba_ct_streq(q, strlen(q), want, strlen(want));
	}
	if (bearer) {
		seen = 1;
		ok &= alba_ct_streq(bearer, strlen(bearer), want, strlen(want));
	}
	if (!seen)
		return refuse(v, 403, "forbidden",
		    "missing token: hook.token is set; pass ?token= or Authorization: Bearer");
	if (!ok)
		return refuse(v, 403, "forbidden", "bad token");
	return 0;
}

static int
check_signature(const struct in *in, const char *secret, struct verdict *v)
{
	static const struct {
		const char *name, *shown, *prefix;
	} hdrs[] = {
		{ "x-forgejo-signature", "X-Forgejo-Signature", "" },
		{ "x-gitea-signature", "X-Gitea-Signature", "" },
		{ "x-hub-signature-256", "X-Hub-Signature-256", "sha256=" },
	};
	unsigned char mac[ALBA_SHA256_LEN];
	const char *sig = NULL;
	size_t i, len = 0;
	int ok;

	for (i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++)
		if ((sig = sget(in->headers, hdrs[i].name)) != NULL)
			break;
	if (sig == NULL)
		return refuse(v, 403, "forbidden", "unsigned request: hook.secret is set "
		    "and there is no X-Forgejo-Signature, X-Gitea-Signature or "
		    "X-Hub-Signature-256");
	if (sig != BAD) {
		len = strlen(sig);
		if (*hdrs[i].prefix) {
			size_t pl = strlen(hdrs[i].prefix);
			if (len >= pl && has_prefix_ci(sig, hdrs[i].prefix)) {
				sig += pl;
				len -= pl;
			} else
				len = (size_t)-1;	/* no prefix: a bad signature */
		}
	}
	if (sig == BAD || len == 0)
		return refuse(v, 403, "forbidden",
		    "unsigned request: hook.secret is set and %s is empty", hdrs[i].shown);
	/* Gitea and Forgejo sign the JSON (inside payload= for a form), GitHub
	 * the raw body whatever its type. */
	if (in->forge == F_GITHUB)
		alba_hmac_sha256(secret, strlen(secret), in->body, in->bodylen, mac);
	else
		alba_hmac_sha256(secret, strlen(secret), in->json, in->jsonlen, mac);
	ok = len != (size_t)-1 && hex_matches(sig, len, mac);
	explicit_bzero(mac, sizeof mac);
	if (!ok)
		return refuse(v, 403, "forbidden", "bad signature in %s", hdrs[i].shown);
	return 0;
}

/* Every configured credential is required: the token if hook.token is set,
 * a signature if hook.secret is set; neither set refuses everything. */
static int
authenticate(const struct in *in, struct verdict *v)
{
	const char *token = sopt(in->config, "hook.token");
	const char *secret = sopt(in->config, "hook.secret");

	if (token && !*token)
		token = NULL;
	if (secret && !*secret)
		secret = NULL;
	if (token == NULL && secret == NULL)
		return refuse(v, 403, "forbidden",
		    "repository has no hook.token or hook.secret: every request is refused");
	if (token && check_token(in, token, v) == -1)
		return -1;
	if (secret && check_signature(in, secret, v) == -1)
		return -1;
	return 0;
}

/* ---- validation of what goes to Nomad (the checks: refname.c) */

/* 0 when s (possibly NULL or BAD) is a valid value of field, else -1 with v set. */
static int
validate(struct verdict *v, const char *field, const char *s,
    const char *(*check)(const char *))
{
	char shown[128];
	const char *why;

	if (s == NULL)
		return refuse(v, 400, "bad_request", "invalid %s: missing", field);
	if (s == BAD)
		return refuse(v, 400, "bad_request", "invalid %s: not a string", field);
	if ((why = check(s)) != NULL)
		return refuse(v, 400, "bad_request", "invalid %s \"%s\": %s", field,
		    san(shown, sizeof shown, s), why);
	return 0;
}

/* ---- normalization */

static int
is_zero_sha(const char *s)
{
	size_t n;

	if (s == NULL || s == BAD)
		return 0;
	n = strspn(s, "0");
	return (n == 40 || n == 64) && s[n] == 0;
}

static int
listed(jv config, const char *who)
{
	jv list = alba_get(jv_copy(config), "trusted.senders");
	int found = 0;

	if (who && who != BAD && jv_get_kind(list) == JV_KIND_ARRAY)
		jv_array_foreach(list, i, x) {
			if (jv_get_kind(x) == JV_KIND_STRING && strcmp(jv_string_value(x), who) == 0)
				found = 1;
			jv_free(x);
		}
	jv_free(list);
	return found;
}

/* What normalize found, borrowed from the payload. */
struct build {
	const char *repo_url, *commit, *branch, *sender, *delivery, *flavor;
	int trusted;
};

static jv
repo_object(jv p)
{
	const char *owner = sopt(p, "repository.owner.login");

	if (owner == NULL)
		owner = sopt(p, "repository.owner.username");
	if (owner == NULL)
		owner = sopt(p, "repository.owner.name");
	return JV_OBJECT(
	    jv_string("clone_url"), jstr(sopt(p, "repository.clone_url")),
	    jv_string("full_name"), jstr(sopt(p, "repository.full_name")),
	    jv_string("html_url"), jstr(sopt(p, "repository.html_url")),
	    jv_string("owner"), jstr(owner),
	    jv_string("name"), jstr(sopt(p, "repository.name")));
}

static int
ignore(struct verdict *v, const char *fmt, ...) ALBA_PRINTF(2, 3);

static int
ignore(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	v->status = 202;
	v->code = "ignored";
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof v->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static int
normalize_push(jv p, jv *ev, struct build *b, struct verdict *v)
{
	const char *ref = sget(p, "ref"), *after = sget(p, "after");
	const char *before = sget(p, "before"), *kind, *name;
	jv deleted = alba_get(jv_copy(p), "deleted");
	int del = jv_get_kind(deleted) == JV_KIND_TRUE;
	char shown[128];

	jv_free(deleted);
	if (ref == NULL || ref == BAD)
		return refuse(v, 400, "bad_request", "the push payload has no ref");
	*ev = jv_object_set(*ev, jv_string("ref"), jv_string(ref));
	if (strncmp(ref, "refs/heads/", 11) == 0) {
		kind = "branch";
		name = ref + 11;
		*ev = jv_object_set(*ev, jv_string("type"), jv_string("push"));
	} else if (strncmp(ref, "refs/tags/", 10) == 0) {
		kind = "tag";
		name = ref + 10;
		*ev = jv_object_set(*ev, jv_string("type"), jv_string("tag"));
	} else
		return ignore(v, "push to %s: neither a branch nor a tag",
		    san(shown, sizeof shown, ref));
	*ev = jv_object_set(*ev, jv_string("branch"), jv_string(name));
	if (is_zero_sha(after) && is_zero_sha(before))
		return ignore(v, "test delivery (zero commit): nothing to build");
	if (is_zero_sha(after) || del)
		return ignore(v, "%s %s deleted: nothing to build", kind,
		    san(shown, sizeof shown, name));
	b->commit = after;
	if (*kind == 't') {
		const char *peeled = sget(p, "head_commit.id");
		if (peeled)
			b->commit = peeled;
	}
	b->branch = name;
	b->repo_url = sget(p, "repository.clone_url");
	*ev = jv_object_set(*ev, jv_string("commit"), jstr(b->commit == BAD ? NULL : b->commit));
	return 0;
}

static int
normalize_pr(jv p, jv config, jv *ev, struct build *b, struct verdict *v)
{
	const char *action = sopt(p, "action");
	jv number = alba_get(jv_copy(p), "number");
	jv headrepo = alba_get(jv_copy(p), "pull_request.head.repo");
	const char *hfull = sopt(p, "pull_request.head.repo.full_name");
	const char *hurl = sget(p, "pull_request.head.repo.clone_url");
	const char *bfull = sopt(p, "pull_request.base.repo.full_name");
	const char *burl = sopt(p, "pull_request.base.repo.clone_url");
	const char *hsha = sget(p, "pull_request.head.sha");
	const char *href = sget(p, "pull_request.head.ref");
	const char *howner = sopt(p, "pull_request.head.repo.owner.login");
	char shown[64];
	int fork, nrepo = jv_get_kind(headrepo) == JV_KIND_OBJECT;
	long n;

	jv_free(headrepo);
	if (jv_get_kind(number) != JV_KIND_NUMBER) {
		jv_free(number);
		number = alba_get(jv_copy(p), "pull_request.number");
	}
	n = jv_get_kind(number) == JV_KIND_NUMBER ? (long)jv_number_value(number) : 0;
	if (jv_get_kind(number) != JV_KIND_NUMBER) {
		jv_free(number);
		number = jv_null();
	}
	if (bfull == NULL)
		bfull = sopt(p, "repository.full_name");
	if (burl == NULL)
		burl = sopt(p, "repository.clone_url");
	if (howner == NULL)
		howner = sopt(p, "pull_request.head.repo.owner.username");
	/* A fork is any head repository that is not the base one. */
	fork = nrepo && (hfull == NULL || bfull == NULL || strcmp(hfull, bfull) != 0 ||
	    hurl == NULL || hurl == BAD || burl == NULL || strcmp(hurl, burl) != 0);
	*ev = jv_object_set(*ev, jv_string("type"), jv_string("pull_request"));
	*ev = jv_object_set(*ev, jv_string("number"), number);
	*ev = jv_object_set(*ev, jv_string("head"), JV_OBJECT(
	    jv_string("repo_url"), jstr(hurl == BAD ? NULL : hurl),
	    jv_string("full_name"), jstr(hfull),
	    jv_string("ref"), jstr(href == BAD ? NULL : href),
	    jv_string("sha"), jstr(hsha == BAD ? NULL : hsha)));
	*ev = jv_object_set(*ev, jv_string("base"), JV_OBJECT(
	    jv_string("ref"), jstr(sopt(p, "pull_request.base.ref")),
	    jv_string("full_name"), jstr(bfull)));
	*ev = jv_object_set(*ev, jv_string("fork"), jv_bool(fork));
	*ev = jv_object_set(*ev, jv_string("ref"), jstr(href == BAD ? NULL : href));
	*ev = jv_object_set(*ev, jv_string("commit"), jstr(hsha == BAD ? NULL : hsha));
	*ev = jv_object_set(*ev, jv_string("branch"), jstr(href == BAD ? NULL : href));
	if (action == NULL || (strcmp(action, "opened") != 0 && strcmp(action, "reopened") != 0 &&
	    strcmp(action, "synchronized") != 0 && strcmp(action, "synchronize") != 0))
		return ignore(v, "pull request #%ld %s: nothing to build", n,
		    action ? san(shown, sizeof shown, action) : "(no action)");
	if (!nrepo)
		return ignore(v, "pull request #%ld: its head repository is gone "
		    "(deleted fork): nothing to build", n);
	b->repo_url = hurl;
	b->commit = hsha;
	b->branch = href;
	/* The code of a fork belongs to its owner: a trusted sender (say, a
	 * maintainer reopening the pull request) does not vouch for it alone. */
	b->trusted = !fork || listed(config, howner);
	return 0;
}

/* Fill ev and b from the payload; -1 with v set if it builds nothing. */
static int
normalize(const struct in *in, jv p, jv *ev, struct build *b, struct verdict *v)
{
	const char *type = in->forge == F_NONE ? "push" : forge_header(in, "event");
	const char *sender = sget(p, "sender.login");
	char shown[64];

	if (sender == NULL)
		sender = sget(p, "sender.username");
	b->sender = sender;
	b->delivery = forge_header(in, "delivery");
	*ev = JV_OBJECT(
	    jv_string("forge"), jv_string(forge_name[in->forge]),
	    jv_string("type"), jstr(type),
	    jv_string("action"), jstr(sopt(p, "action")),
	    jv_string("delivery"), jstr(b->delivery),
	    jv_string("repo"), repo_object(p),
	    jv_string("ref"), jv_null(),
	    jv_string("commit"), jv_null(),
	    jv_string("branch"), jv_null(),
	    jv_string("sender"), jstr(sender == BAD ? NULL : sender));
	if (type == NULL)
		return refuse(v, 400, "bad_request", "no X-%s-Event header",
		    in->forge == F_FORGEJO ? "Forgejo" : in->forge == F_GITHUB ? "GitHub" : "Gitea");
	b->trusted = 1;
	if (strcmp(type, "push") == 0)
		return normalize_push(p, ev, b, v);
	if (strcmp(type, "pull_request") == 0)
		return normalize_pr(p, in->config, ev, b, v);
	if (strcmp(type, "ping") == 0)
		return ignore(v, "ping: nothing to build");
	if (strcmp(type, "create") == 0 || strcmp(type, "delete") == 0)
		return ignore(v, "%s event: nothing to build (the push event builds)", type);
	return ignore(v, "%s event: nothing to build", san(shown, sizeof shown, type));
}

/* ---- the work */

/* 1 if msg shows the n bytes of sec: whole, or as the start of a string
 * jq cut short in its message ("\"s3cr3tvery..." for "s3cr3tverylong"). */
static int
shows(const char *msg, const char *sec, size_t n)
{
	const char *q;
	jv d;
	int found = 0;

	if (n == 0)
		return 0;
	if (memmem(msg, strlen(msg), sec, n))
		return 1;
	d = jv_dump_string(jv_string_sized(sec, (int)n), 0);	/* "..." */
	const char *ds = jv_string_value(d) + 1;
	size_t dl = (size_t)jv_string_length_bytes(jv_copy(d)) - 2;
	for (q = strchr(msg, '"'); q && !found; q = strchr(q + 1, '"')) {
		size_t k;
		for (k = 0; k < dl && q[1 + k] == ds[k]; k++)
			if (strncmp(q + 2 + k, "...", 3) == 0)
				found = 1;
	}
	jv_free(d);
	return found;
}

/* 1 if msg contains one of the repository's secrets, or the start of one
 * as jq shows it: the hook token and secret, the forge token, config.inject,
 * one of its lines or values. */
static int
holds_secret(jv config, const char *msg)
{
	static const char *const paths[] = { "hook.token", "hook.secret",
	    "gitea.token", "forge.token" };
	const char *inject = sopt(config, "inject"), *line, *eq, *nl;
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const char *sec = sopt(config, paths[i]);
		if (sec && shows(msg, sec, strlen(sec)))
			return 1;
	}
	if (inject && shows(msg, inject, strlen(inject)))
		return 1;
	for (line = inject; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		if (shows(msg, line, ll))
			return 1;
		eq = memchr(line, '=', ll);
		if (eq == NULL)
			continue;
		if (shows(msg, eq + 1, ll - (size_t)(eq + 1 - line)))
			return 1;
	}
	return 0;
}

static int
when_says_yes(jv doc, jv config, jv when, struct verdict *v)
{
	char shown[384];
	jv r;
	int yes;

	if (jv_get_kind(when) != JV_KIND_STRING) {
		jv_free(when);
		jv_free(doc);
		return ignore(v, "when filter said no: config.when is not a string");
	}
	r = alba_jq(jv_string_value(when), doc);
	jv_free(when);
	if (!jv_is_valid(r)) {
		jv msg = jv_invalid_get_msg(r);
		const char *m = jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "error";
		size_t n = strlen(m);
		while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '\n'))
			n--;
		alba_sanitize(shown, sizeof shown, m, n);
		if (holds_secret(config, m))
			snprintf(shown, sizeof shown, "jq's error message is withheld: it holds a secret");
		ignore(v, "when filter said no: %s", shown);
		jv_free(msg);
		return -1;
	}
	yes = jv_get_kind(r) != JV_KIND_FALSE && jv_get_kind(r) != JV_KIND_NULL;
	jv_free(r);
	return yes ? 0 : ignore(v, "when filter said no");
}

/* Verify and normalize; -1 with v set (doc may carry .event). */
static int
verify(jv *doc, struct verdict *v)
{
	jv req = alba_get(jv_copy(*doc), "request");
	jv config = alba_get(jv_copy(*doc), "config");
	jv body, p = jv_invalid(), ev = jv_invalid();
	struct in in = { 0 };
	struct build b = { 0 };
	int rc = -1;

	if (jv_get_kind(req) != JV_KIND_OBJECT) {
		refuse(v, 400, "bad_document", "the document has no request object");
		goto out;
	}
	if (jv_get_kind(config) != JV_KIND_OBJECT) {
		refuse(v, 400, "bad_document", "the document has no config object (alba-config writes it)");
		goto out;
	}
	in.headers = alba_get(jv_copy(req), "headers");
	in.query = alba_get(jv_copy(req), "query");
	in.config = config;
	in.forge = detect_forge(in.headers);
	body = alba_get(jv_copy(req), "body");
	if (jv_get_kind(body) == JV_KIND_STRING) {
		in.body = jv_string_value(body);
		in.bodylen = (size_t)jv_string_length_bytes(jv_copy(body));
	} else
		in.body = "";
	jv_free(body);		/* req keeps it */
	if (payload_bytes(&in, v) == -1 || authenticate(&in, v) == -1)
		goto out;
	p = alba_doc_parse(in.json, in.jsonlen);
	if (!jv_is_valid(p)) {
		jv msg = jv_invalid_get_msg(p);
		char shown[256];
		refuse(v, 400, "bad_request", "payload: %s",
		    san(shown, sizeof shown, jv_string_value(msg)));
		jv_free(msg);
		p = jv_invalid();
		goto out;
	}
	if (normalize(&in, p, &ev, &b, v) == -1)
		goto out;
	b.flavor = sget(in.query, "flavor");
	if (b.flavor == NULL)
		b.flavor = "default";
	if (validate(v, "build.repo_url", b.repo_url, alba_bad_url) == -1 ||
	    validate(v, "build.commit", b.commit, alba_bad_commit) == -1 ||
	    validate(v, "build.branch", b.branch, alba_bad_refname) == -1 ||
	    validate(v, "build.flavor", b.flavor, alba_bad_flavor) == -1 ||
	    (b.sender && validate(v, "build.sender", b.sender, alba_bad_sender) == -1) ||
	    (b.delivery && validate(v, "build.delivery", b.delivery, alba_bad_delivery) == -1))
		goto out;
	b.trusted = b.trusted && listed(config, b.sender);
	*doc = jv_object_set(*doc, jv_string("event"), ev);
	ev = jv_invalid();
	*doc = jv_object_set(*doc, jv_string("build"), JV_OBJECT(
	    jv_string("repo_url"), jv_string(b.repo_url),
	    jv_string("commit"), jv_string(b.commit),
	    jv_string("branch"), jv_string(b.branch),
	    jv_string("flavor"), jv_string(b.flavor),
	    jv_string("sender"), jstr(b.sender),
	    jv_string("trusted"), jv_bool(b.trusted),
	    jv_string("delivery"), jstr(b.delivery)));
	jv when = alba_get(jv_copy(config), "when");
	jv_kind wk = jv_get_kind(when);
	if (wk == JV_KIND_INVALID || wk == JV_KIND_NULL ||
	    (wk == JV_KIND_STRING && jv_string_length_bytes(jv_copy(when)) == 0)) {
		jv_free(when);
		rc = 0;
	} else if (when_says_yes(jv_copy(*doc), config, when, v) == -1)
		*doc = alba_del(*doc, "build");
	else
		rc = 0;
out:
	if (jv_is_valid(ev))
		*doc = jv_object_set(*doc, jv_string("event"), ev);
	if (in.json) {
		explicit_bzero(in.json, in.jsonlen);
		free(in.json);
	}
	jv_free(p);
	jv_free(in.headers);
	jv_free(in.query);
	jv_free(config);
	jv_free(req);
	return rc;
}

int
main(int argc, char *argv[])
{
	size_t max = ALBA_DOC_MAX;
	struct verdict v;
	jv doc;
	int ch;

	alba_prog = "alba-verify";
	opterr = 0;
	while ((ch = getopt(argc, argv, "m:")) != -1) {
		switch (ch) {
		case 'm':
			if (alba_scan_size(optarg, &max) == -1)
				alba_dieusage(usage_str);
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc)
		alba_dieusage(usage_str);
	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	if (verify(&doc, &v) == -1)
		alba_doc_fail(doc, v.status, v.code, "%s", v.msg);
	alba_doc_write(doc);
	return ALBA_OK;
}
