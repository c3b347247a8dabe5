/* ISC license. */
/*
 * alba-verify: authenticate a forge webhook (token, HMAC-SHA256), normalize
 * it into .event, decide trust and write .build (SPEC §2, §7).  It reads the
 * .request alba-http wrote and the .config alba-config wrote; no network.
 * The request and its authentication: hookauth.c; the payload into .event
 * and the trust: event.c; the checks on what goes to Nomad: refname.c.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "alba.h"
#include "doc.h"
#include "event.h"
#include "hookauth.h"
#include "json.h"
#include "refname.h"
#include "verdict.h"

static const char usage_str[] = "usage: alba-verify [-m maxbytes]";

/* ---- validation of what goes to Nomad (the checks: refname.c) */

/* 0 when s (possibly NULL or alba_bad) is a valid value of field, else -1
 * with v set. */
static int
validate(struct alba_verdict *v, const char *field, const char *s,
    const char *(*check)(const char *))
{
	char shown[128];
	const char *why;

	if (s == NULL)
		return alba_refuse(v, 400, "bad_request", "invalid %s: missing", field);
	if (s == alba_bad)
		return alba_refuse(v, 400, "bad_request", "invalid %s: not a string", field);
	if ((why = check(s)) != NULL)
		return alba_refuse(v, 400, "bad_request", "invalid %s \"%s\": %s", field,
		    alba_shown(shown, sizeof shown, s), why);
	return 0;
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
	const char *inject = alba_sopt(config, "inject"), *line, *eq, *nl;
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const char *sec = alba_sopt(config, paths[i]);
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
when_says_yes(jv doc, jv config, jv when, struct alba_verdict *v)
{
	char shown[384];
	jv r;
	int yes;

	if (jv_get_kind(when) != JV_KIND_STRING) {
		jv_free(when);
		jv_free(doc);
		return alba_ignore(v, "when filter said no: config.when is not a string");
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
		alba_ignore(v, "when filter said no: %s", shown);
		jv_free(msg);
		return -1;
	}
	yes = jv_get_kind(r) != JV_KIND_FALSE && jv_get_kind(r) != JV_KIND_NULL;
	jv_free(r);
	return yes ? 0 : alba_ignore(v, "when filter said no");
}

/* Verify and normalize; -1 with v set (doc may carry .event). */
static int
verify(jv *doc, struct alba_verdict *v)
{
	jv p = jv_invalid(), ev = jv_invalid();
	struct alba_hook h;
	struct alba_build b;
	const char *flavor;
	int rc = -1;

	if (alba_hook_open(&h, jv_copy(*doc), v) == -1 ||
	    alba_hook_authenticate(&h, v) == -1)
		goto out;
	p = alba_doc_parse(h.json, h.jsonlen);
	if (!jv_is_valid(p)) {
		jv msg = jv_invalid_get_msg(p);
		char shown[256];
		alba_refuse(v, 400, "bad_request", "payload: %s",
		    alba_shown(shown, sizeof shown, jv_string_value(msg)));
		jv_free(msg);
		p = jv_invalid();
		goto out;
	}
	if (alba_event_normalize(&h, p, &ev, &b, v) == -1)
		goto out;
	flavor = alba_sget(h.query, "flavor");
	if (flavor == NULL)
		flavor = "default";
	if (validate(v, "build.repo_url", b.repo_url, alba_bad_url) == -1 ||
	    validate(v, "build.commit", b.commit, alba_bad_commit) == -1 ||
	    validate(v, "build.branch", b.branch, alba_bad_refname) == -1 ||
	    validate(v, "build.flavor", flavor, alba_bad_flavor) == -1 ||
	    (b.sender && validate(v, "build.sender", b.sender, alba_bad_sender) == -1) ||
	    (b.delivery && validate(v, "build.delivery", b.delivery, alba_bad_delivery) == -1))
		goto out;
	*doc = jv_object_set(*doc, jv_string("event"), ev);
	ev = jv_invalid();
	*doc = jv_object_set(*doc, jv_string("build"), JV_OBJECT(
	    jv_string("repo_url"), jv_string(b.repo_url),
	    jv_string("commit"), jv_string(b.commit),
	    jv_string("branch"), jv_string(b.branch),
	    jv_string("flavor"), jv_string(flavor),
	    jv_string("sender"), alba_jstr(b.sender),
	    jv_string("trusted"), jv_bool(b.trusted),
	    jv_string("delivery"), alba_jstr(b.delivery)));
	jv when = alba_get(jv_copy(h.config), "when");
	jv_kind wk = jv_get_kind(when);
	if (wk == JV_KIND_INVALID || wk == JV_KIND_NULL ||
	    (wk == JV_KIND_STRING && jv_string_length_bytes(jv_copy(when)) == 0)) {
		jv_free(when);
		rc = 0;
	} else if (when_says_yes(jv_copy(*doc), h.config, when, v) == -1)
		*doc = alba_del(*doc, "build");
	else
		rc = 0;
out:
	if (jv_is_valid(ev))
		*doc = jv_object_set(*doc, jv_string("event"), ev);
	jv_free(p);
	alba_hook_close(&h);
	return rc;
}

int
main(int argc, char *argv[])
{
	size_t max = ALBA_DOC_MAX;
	struct alba_verdict v;
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
