/* ISC license. */
/*
 * forge.c: commit statuses on Gitea, Forgejo and GitHub
 * (api/consul-and-forges.md §C, §D3): the target (repository, commit,
 * context) from the document, the POST with its bounded retries, the read
 * of the latest status of a context.  The caller keeps its document (every
 * entry point borrows it); the service built here is freed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alba.h"
#include "crypto.h"
#include "forge.h"
#include "http.h"
#include "json.h"
#include "request.h"
#include "utf8.h"

long alba_forge_timeout_ms = 10000;
int alba_forge_attempts = 4;
long alba_forge_budget_ms;

enum { KIND_GITEA, KIND_GITHUB };

struct forge {
	int kind;
	const char *name;		/* "gitea", "forgejo", "github" */
	struct alba_service svc;
	char repo[256];			/* owner/name */
	char sha[65];
	char context[256];
};


int
alba_forge_final(const char *state)
{
	return state && (strcmp(state, "success") == 0 ||
	    strcmp(state, "failure") == 0 || strcmp(state, "error") == 0);
}

/* The forge section of the configuration, or jv_invalid().  Borrows doc. */
static jv
section(jv doc, const char **kind)
{
	jv s = alba_get(jv_copy(doc), "config.forge");

	if (jv_get_kind(s) == JV_KIND_OBJECT) {
		*kind = "forge";
		return s;
	}
	jv_free(s);
	s = alba_get(jv_copy(doc), "config.gitea");
	if (jv_get_kind(s) == JV_KIND_OBJECT) {
		*kind = "gitea";
		return s;
	}
	jv_free(s);
	return jv_invalid();
}

int
alba_forge_configured(jv doc)
{
	const char *k;
	jv s = section(doc, &k);
	int r = jv_is_valid(s);

	jv_free(s);
	return r;
}

static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 100)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

int
alba_forge_repo_from_url(const char *url, char *out, size_t n)
{
	const char *p = url, *end, *slash, *o;
	size_t len, olen, rlen;

	if (url == NULL || strlen(url) > 2048)
		return -1;
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '?' || *q == '#')
			return -1;
	if ((p = strstr(url, "://")) != NULL) {
		p += 3;
		if ((p = strchr(p, '/')) == NULL)
			return -1;
	} else if (strchr(url, '@') && strchr(url, ':')) {
		/* scp-like: git@host:owner/name.git */
		p = strchr(url, ':') + 1;
	} else
		p = url;
	len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	if (len > 4 && strncmp(p + len - 4, ".git", 4) == 0)
		len -= 4;
	end = p + len;
	/* The last two segments. */
	for (slash = end; slash > p && slash[-1] != '/'; slash--)
		;
	if (slash == p)
		return -1;
	rlen = (size_t)(end - slash);
	for (o = slash - 1; o > p && o[-1] != '/'; o--)
		;
	olen = (size_t)(slash - 1 - o);
	if (!name_ok(o, olen) || !name_ok(slash, rlen) ||
	    (olen == 1 && o[0] == '.') || (rlen == 1 && slash[0] == '.'))
		return -1;
	if (olen + rlen + 2 > n)
		return -1;
	snprintf(out, n, "%.*s/%.*s", (int)olen, o, (int)rlen, slash);
	return 0;
}

/* The URL the configuration belongs to, from config.consul_key; "" if
 * there is none.  Borrows doc. */
static void
config_url(jv doc, char *out, size_t n)
{
	char key[2048];
	size_t klen, dl;
	unsigned char *d;

	out[0] = 0;
	if (alba_getstr(doc, "config.consul_key", key, sizeof key) == NULL ||
	    strncmp(key, "albatros/", 9))
		return;
	klen = strlen(key + 9);
	if ((d = malloc(klen / 4 * 3 + 4)) == NULL)
		return;
	dl = alba_b64_decode(key + 9, klen, d, ALBA_B64_STD);
	if (dl != (size_t)-1 && dl < n && memchr(d, 0, dl) == NULL) {
		memcpy(out, d, dl);
		out[dl] = 0;
	}
	free(d);
}

int
alba_forge_repo(jv doc, char *out, size_t n, char *err, size_t errlen)
{
	char buf[2048];

	if (alba_getstr(doc, "event.repo.full_name", buf, sizeof buf)) {
		if (alba_forge_repo_from_url(buf, out, n) == 0 && strchr(buf, '/') ==
		    strrchr(buf, '/'))
			return 0;
		return alba_fail(err, errlen, ALBA_PERM,
		    "event.repo.full_name is not a valid owner/name");
	}
	config_url(doc, buf, sizeof buf);
	if (*buf || alba_getstr(doc, "build.repo_url", buf, sizeof buf)) {
		if (alba_forge_repo_from_url(buf, out, n) == 0)
			return 0;
		return alba_fail(err, errlen, ALBA_PERM,
		    "no valid owner/name in the repository URL");
	}
	return alba_fail(err, errlen, ALBA_PERM, "no repository: neither event.repo.full_name,"
	    " config.consul_key nor build.repo_url");
}

static int
sha_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 7 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/*
 * Everything a request needs, from the document.  Returns 0 (f->svc set:
 * free it), 1 when no forge is configured, or ALBA_PERM with err set.
 */
static int
open_forge(struct forge *f, jv doc, char *err, size_t errlen)
{
	const char *which, *kind = "gitea";
	char url[1024], token[1024], flavor[128], auth[1100];
	jv s = section(doc, &which), k;
	int r;

	memset(f, 0, sizeof *f);
	if (!jv_is_valid(s)) {
		jv_free(s);
		return 1;
	}
	k = jv_object_get(jv_copy(s), jv_string("kind"));
	if (strcmp(which, "forge") == 0 && jv_get_kind(k) == JV_KIND_STRING)
		kind = jv_string_value(k);
	if (strcmp(kind, "gitea") == 0 || strcmp(kind, "forgejo") == 0) {
		f->kind = KIND_GITEA;
		f->name = strcmp(kind, "gitea") == 0 ? "gitea" : "forgejo";
	} else if (strcmp(kind, "github") == 0) {
		f->kind = KIND_GITHUB;
		f->name = "github";
	} else {
		jv_free(k);
		jv_free(s);
		return alba_fail(err, errlen, ALBA_PERM, "config.forge.kind is not gitea, "
		    "forgejo or github");
	}
	jv_free(k);
	if (alba_getstr(s, "url", url, sizeof url) == NULL) {
		if (f->kind != KIND_GITHUB) {
			jv_free(s);
			return alba_fail(err, errlen, ALBA_PERM, "config.%s has no url", which);
		}
		snprintf(url, sizeof url, "https://api.github.com");
	}
	if (alba_getstr(s, "token", token, sizeof token) == NULL || !*token) {
		jv_free(s);
		return alba_fail(err, errlen, ALBA_PERM, "config.%s has no token", which);
	}
	jv_free(s);
	{
		size_t l = strlen(url);
		while (l && url[l - 1] == '/')
			url[--l] = 0;
	}
	if (f->kind == KIND_GITEA && (strlen(url) < 7 ||
	    strcmp(url + strlen(url) - 7, "/api/v1") != 0))
		strncat(url, "/api/v1", sizeof url - strlen(url) - 1);
	if (alba_getstr(doc, "build.commit", f->sha, sizeof f->sha) == NULL ||
	    !sha_ok(f->sha))
		return alba_fail(err, errlen, ALBA_PERM, "build.commit is not a commit SHA");
	if ((r = alba_forge_repo(doc, f->repo, sizeof f->repo, err, errlen)))
		return r;
	if (alba_getstr(doc, "config.context", f->context, sizeof f->context) == NULL) {
		if (alba_getstr(doc, "build.flavor", flavor, sizeof flavor) == NULL ||
		    !*flavor)
			snprintf(flavor, sizeof flavor, "default");
		snprintf(f->context, sizeof f->context, "albatros/%s", flavor);
	}
	snprintf(auth, sizeof auth, "%s %s", f->kind == KIND_GITHUB ? "Bearer" : "token",
	    token);
	r = alba_service_forge(&f->svc, f->name, url, auth, err, errlen);
	explicit_bzero(token, sizeof token);
	explicit_bzero(auth, sizeof auth);
	return r;
}

/* A JSON-safe, bounded copy of the forge's message for err. */
static void
message(const struct alba_response *r, char *out, size_t n)
{
	jv v, m;

	*out = 0;
	if (r->body == NULL || r->len == 0)
		return;
	v = jv_parse_sized(r->body, (int)(r->len > 65536 ? 65536 : r->len));
	m = jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(v, jv_string("message")) :
	    (jv_free(v), jv_invalid());
	if (jv_get_kind(m) == JV_KIND_STRING)
		alba_sanitize(out, n, jv_string_value(m), (size_t)jv_string_length_bytes(jv_copy(m)));
	else {
		size_t l = r->len < 200 ? r->len : 200;
		alba_sanitize(out, n, r->body, l);
	}
	jv_free(m);
}

/*
 * One request with the forge's headers and the bounded retries.  Returns 0
 * with a 2xx answer in resp (free it), or an error code with err set.
 */
static int
request(const struct forge *f, const char *method, const char *path,
    const char *body, struct alba_response *resp, char *err, size_t errlen)
{
	static const char *const gh[] = { "Accept: application/vnd.github+json",
	    "X-GitHub-Api-Version: 2022-11-28", NULL };
	static const char *const gt[] = { "Accept: application/json", NULL };
	struct alba_request rq = { 0 };
	int i, rc = 0, attempts = alba_forge_attempts > 0 ? alba_forge_attempts : 1;
	long long end = alba_forge_budget_ms > 0 ? alba_mono_ms() + alba_forge_budget_ms : 0;
	char msg[256];

	rq.method = method;
	rq.path = path;
	rq.body = body;
	rq.bodylen = body ? strlen(body) : 0;
	rq.headers = f->kind == KIND_GITHUB ? gh : gt;
	rq.timeout_ms = alba_forge_timeout_ms;
	rq.connect_ms = alba_forge_timeout_ms < 5000 ? alba_forge_timeout_ms : 5000;
	rq.max = (size_t)1 << 20;
	rq.retries = -1;
	for (i = 0; i < attempts; i++) {
		if (i > 0) {
			long ms = (250L << (i - 1)) + rand() % 100;
			/* No retry that could not end within the budget. */
			if (end && alba_mono_ms() + ms + 100 >= end)
				break;
			if (rc)
				alba_warn("%s, retrying in %ld ms", resp->error, ms);
			else
				alba_warn("%s at %s answered %ld to %s, retrying in %ld ms",
				    f->name, f->svc.shown, resp->status, method, ms);
			alba_response_free(resp);
			alba_sleep_ms(ms);
		}
		if (end) {
			long left = (long)(end - alba_mono_ms());
			rq.timeout_ms = left < alba_forge_timeout_ms ? left : alba_forge_timeout_ms;
			rq.connect_ms = rq.timeout_ms < 5000 ? rq.timeout_ms : 5000;
		}
		rc = alba_http(&f->svc, &rq, resp);
		if (rc == ALBA_PERM) {
			alba_fail(err, errlen, rc, "%s", resp->error);
			alba_response_free(resp);
			return rc;
		}
		if (rc)
			continue;
		if (resp->status >= 200 && resp->status < 300)
			return 0;
		if (resp->status != 429 && resp->status < 500)
			break;
	}
	if (rc) {
		alba_fail(err, errlen, rc, "%s (%d attempts)", resp->error, i);
		alba_response_free(resp);
		return rc;
	}
	message(resp, msg, sizeof msg);
	rc = resp->status == 429 || resp->status >= 500 ? ALBA_TEMP : ALBA_PERM;
	alba_fail(err, errlen, rc, "%s at %s answered %ld to %s of repository %s%s%s%s",
	    f->name, f->svc.shown, resp->status, method, f->repo,
	    rc == ALBA_TEMP ? " (after retries)" : "", *msg ? ": " : "", msg);
	alba_response_free(resp);
	return rc;
}

/* "/repos/<owner>/<name>/statuses/<sha>" and the like. */
static void
repo_path(const struct forge *f, char *out, size_t n, const char *fmt)
{
	int w = snprintf(out, n, "/repos/%s/", f->repo);

	if (w > 0 && (size_t)w < n)
		snprintf(out + w, n - (size_t)w, fmt, f->sha);
}

int
alba_forge_status(jv doc, const char *job_id, const char *state,
    const char *description, char *err, size_t errlen)
{
	struct forge f;
	struct alba_response resp;
	char path[512], desc[160];
	const char *base = getenv("ALBATROS_URL");
	jv body;
	char *json;
	int r;

	if ((r = open_forge(&f, doc, err, errlen)) != 0)
		return r == 1 ? 0 : r;
	snprintf(desc, sizeof desc, "%s", description ? description : "");
	alba_utf8_cut(desc, 140);
	body = jv_object();
	body = jv_object_set(body, jv_string("state"), jv_string(state));
	if (job_id && base && *base) {
		char *enc = alba_urlencode(job_id);
		size_t bl = strlen(base);
		while (bl && base[bl - 1] == '/')
			bl--;
		if (enc)
			body = jv_object_set(body, jv_string("target_url"),
			    jv_string_fmt("%.*s/build?job=%s&log=stderr", (int)bl, base, enc));
		free(enc);
	}
	body = jv_object_set(body, jv_string("description"), jv_string(desc));
	body = jv_object_set(body, jv_string("context"), jv_string(f.context));
	{
		jv s = jv_dump_string(body, 0);
		json = strdup(jv_string_value(s));
		jv_free(s);
	}
	repo_path(&f, path, sizeof path, "statuses/%s");
	if (json == NULL)
		r = alba_fail(err, errlen, ALBA_TEMP, "out of memory");
	else
		r = request(&f, "POST", path, json, &resp, err, errlen);
	if (r == 0)
		alba_response_free(&resp);
	free(json);
	alba_service_free(&f.svc);
	return r;
}

/* v, or null if v is invalid.  Consumes v. */
static jv
orjnull(jv v)
{
	if (jv_is_valid(v))
		return v;
	jv_free(v);
	return jv_null();
}

/* The member k of object o, or null.  Borrows o. */
static jv
member(jv o, const char *k)
{
	return orjnull(jv_object_get(jv_copy(o), jv_string(k)));
}

/* The job ID in a target_url alba_forge_status made (".../build?job=ID&..."),
 * or null.  Borrows status. */
static jv
link_job(jv status)
{
	char url[2048], *q, *e;
	long n;

	if (alba_getstr(status, "target_url", url, sizeof url) == NULL ||
	    ((q = strstr(url, "/build?job=")) == NULL))
		return jv_null();
	q += 11;
	if ((e = strchr(q, '&')) != NULL)
		*e = 0;
	if ((n = alba_urldecode(q, strlen(q), 0)) <= 0)
		return jv_null();
	return jv_string_sized(q, (int)n);
}

int
alba_forge_latest(jv doc, jv *status, char *err, size_t errlen)
{
	struct forge f;
	struct alba_response resp;
	char path[512];
	jv v, list, out = jv_null();
	int r, i, n;

	*status = jv_invalid();
	if ((r = open_forge(&f, doc, err, errlen)) != 0) {
		if (r == 1)
			*status = jv_null();
		return r == 1 ? 0 : r;
	}
	repo_path(&f, path, sizeof path, "commits/%s/status");
	if ((r = request(&f, "GET", path, NULL, &resp, err, errlen)) != 0) {
		alba_service_free(&f.svc);
		return r;
	}
	v = jv_parse_sized(resp.body ? resp.body : "", (int)resp.len);
	alba_response_free(&resp);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		r = alba_fail(err, errlen, ALBA_TEMP, "%s at %s answered a combined status that "
		    "is not a JSON object", f.name, f.svc.shown);
		alba_service_free(&f.svc);
		return r;
	}
	list = jv_object_get(v, jv_string("statuses"));
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i);
		jv c = jv_object_get(jv_copy(s), jv_string("context"));
		int same = jv_get_kind(c) == JV_KIND_STRING &&
		    (f.kind == KIND_GITHUB ? strcasecmp(jv_string_value(c), f.context) :
		    strcmp(jv_string_value(c), f.context)) == 0;
		jv_free(c);
		if (same) {
			jv st = jv_object_get(jv_copy(s), jv_string(f.kind == KIND_GITHUB ?
			    "state" : "status"));
			if (jv_get_kind(st) != JV_KIND_STRING) {
				jv_free(st);
				st = jv_object_get(jv_copy(s), jv_string("state"));
			}
			jv_free(out);
			out = JV_OBJECT(jv_string("state"), orjnull(st),
			    jv_string("description"), member(s, "description"),
			    jv_string("target_url"), member(s, "target_url"),
			    jv_string("context"), jv_string(f.context));
			out = jv_object_set(out, jv_string("job"), link_job(out));
			jv_free(s);
			break;
		}
		jv_free(s);
	}
	jv_free(list);
	alba_service_free(&f.svc);
	*status = out;
	return 0;
}
