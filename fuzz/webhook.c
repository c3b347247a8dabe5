/* ISC license. */
/*
 * fuzz/webhook.c: the webhook normaliser as alba-verify runs it: the forge
 * found from the headers and the payload taken from the body
 * (lib/hookauth.c), the payload parsed and normalized (lib/event.c), the
 * build's fields checked (lib/refname.c).  Input: one selector byte, then
 * the payload.  The selector's bits 0-1 pick the forge's headers (none,
 * Gitea, Forgejo, GitHub), bit 2 sends the payload as a form field
 * (payload=, %-encoded) instead of a JSON body, bits 3-5 the event header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "doc.h"
#include "event.h"
#include "fuzz.h"
#include "hookauth.h"
#include "json.h"
#include "refname.h"
#include "verdict.h"

static const char *const prefix[] = { NULL, "x-gitea-", "x-forgejo-", "x-github-" };
static const char *const events[] = { "push", "pull_request", "create", "delete",
	"ping", "release", "issue_comment", "" };

/* The body: the payload itself, or payload=<%-encoded payload>. */
static jv
body_of(const char *p, size_t n, int form)
{
	static const char hex[] = "0123456789ABCDEF";
	char *b, *o;
	size_t i;
	jv s;

	if (!form)
		return jv_string_sized(p, (int)n);
	if ((b = malloc(8 + 3 * n + 1)) == NULL)
		abort();
	o = b + sprintf(b, "payload=");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	s = jv_string_sized(b, (int)(o - b));
	free(b);
	return s;
}

/* A field of the build must be NULL, alba_bad or a NUL-terminated string:
 * touch every byte so ASan sees a dangling one. */
static void
check(const char *s, const char *(*bad)(const char *))
{
	if (s && s != alba_bad)
		(void)bad(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alba_verdict v;
	struct alba_build b;
	struct alba_hook h;
	jv headers, doc, p, ev = jv_invalid();
	unsigned sel;
	char name[64];

	if (size < 1)
		return 0;
	sel = data[0];
	headers = jv_object();
	if (prefix[sel & 3]) {
		snprintf(name, sizeof name, "%sevent", prefix[sel & 3]);
		headers = jv_object_set(headers, jv_string(name), jv_string(events[sel >> 3 & 7]));
		snprintf(name, sizeof name, "%sdelivery", prefix[sel & 3]);
		headers = jv_object_set(headers, jv_string(name),
		    jv_string("4a7b3c2e-0f1d-4e5a-9b8c-7d6e5f4a3b2c"));
	}
	headers = jv_object_set(headers, jv_string("content-type"), jv_string(sel & 4 ?
	    "application/x-www-form-urlencoded" : "application/json"));
	doc = JV_OBJECT(jv_string("request"), JV_OBJECT(
	    jv_string("method"), jv_string("POST"), jv_string("path"), jv_string("/hook"),
	    jv_string("query"), jv_object(), jv_string("headers"), headers,
	    jv_string("body"), body_of((const char *)data + 1, size - 1, sel & 4)),
	    jv_string("config"), jv_parse("{\"hook\":{\"token\":\"t0ken\"},"
	    "\"trusted\":{\"senders\":[\"gitea\",\"Codertocat\",\"octocat\"]}}"));
	if (alba_hook_open(&h, doc, &v) == 0) {
		p = alba_doc_parse(h.json, h.jsonlen);
		if (jv_is_valid(p)) {
			if (alba_event_normalize(&h, p, &ev, &b, &v) == 0) {
				check(b.repo_url, alba_bad_url);
				check(b.commit, alba_bad_commit);
				check(b.branch, alba_bad_refname);
				check(b.sender, alba_bad_sender);
				check(b.delivery, alba_bad_delivery);
			}
			if (jv_is_valid(ev)) {
				jv s = jv_dump_string(ev, 0);
				jv_free(s);
			}
		}
		jv_free(p);
	}
	alba_hook_close(&h);
	return 0;
}
