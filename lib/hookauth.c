/* ISC license. */
/*
 * hookauth.c: the webhook request alba-verify reads: which forge sent it
 * (by its header names), its headers by the forge's names, the payload
 * JSON (inside a form body or the body itself), and its authentication by
 * token and HMAC-SHA256 signature.  The struct alba_hook is the caller's;
 * what it points to is owned by it until alba_hook_close, the body
 * borrowed from its request.  The secrets are read from its config and
 * never copied; the MACs computed are wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jv.h>

#include "alba.h"
#include "crypto.h"
#include "hookauth.h"
#include "json.h"
#include "request.h"

static int
has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the forge, the payload bytes */

static enum alba_forge
detect_forge(jv headers)
{
	enum alba_forge f = ALBA_FORGE_NONE;

	if (jv_get_kind(headers) != JV_KIND_OBJECT)
		return ALBA_FORGE_NONE;
	jv_object_foreach(headers, k, val) {
		const char *name = jv_string_value(k);
		if (has_prefix_ci(name, "x-forgejo-"))
			f = ALBA_FORGE_FORGEJO;
		else if (has_prefix_ci(name, "x-gitea-") && f != ALBA_FORGE_FORGEJO)
			f = ALBA_FORGE_GITEA;
		else if (has_prefix_ci(name, "x-github-") && f == ALBA_FORGE_NONE)
			f = ALBA_FORGE_GITHUB;
		jv_free(k);
		jv_free(val);
	}
	return f;
}

const char *
alba_hook_header(const struct alba_hook *h, const char *suffix)
{
	static const char *const chain[][3] = {
		[ALBA_FORGE_NONE] = { NULL, NULL, NULL },
		[ALBA_FORGE_GITEA] = { "x-gitea-", "x-github-", NULL },
		[ALBA_FORGE_FORGEJO] = { "x-forgejo-", "x-gitea-", "x-github-" },
		[ALBA_FORGE_GITHUB] = { "x-github-", NULL, NULL },
	};
	char name[64];
	int i;

	for (i = 0; i < 3 && chain[h->forge][i]; i++) {
		snprintf(name, sizeof name, "%s%s", chain[h->forge][i], suffix);
		const char *v = alba_sopt(h->headers, name);
		if (v && *v)
			return v;
	}
	return NULL;
}

/* The payload JSON: the URL-decoded payload= field of a form body, else the
 * body itself (JSON, or the original's `curl -d @payload.json`). */
static int
payload_bytes(struct alba_hook *h, struct alba_verdict *v)
{
	int r = alba_form_field(h->body, h->bodylen, "payload", &h->json, &h->jsonlen);

	if (r < 0)
		return alba_refuse(v, 400, "bad_request",
		    "malformed form body: a bad %%-escape in payload=");
	if (r == 0) {
		if ((h->json = malloc(h->bodylen + 1)) == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		memcpy(h->json, h->body, h->bodylen);
		h->json[h->bodylen] = 0;
		h->jsonlen = h->bodylen;
	}
	return 0;
}

int
alba_hook_open(struct alba_hook *h, jv doc, struct alba_verdict *v)
{
	jv body;

	h->req = alba_get(jv_copy(doc), "request");
	h->config = alba_get(doc, "config");
	h->headers = jv_invalid();
	h->query = jv_invalid();
	h->forge = ALBA_FORGE_NONE;
	h->body = "";
	h->bodylen = 0;
	h->json = NULL;
	h->jsonlen = 0;
	if (jv_get_kind(h->req) != JV_KIND_OBJECT)
		return alba_refuse(v, 400, "bad_document",
		    "the document has no request object");
	if (jv_get_kind(h->config) != JV_KIND_OBJECT)
		return alba_refuse(v, 400, "bad_document",
		    "the document has no config object (alba-config writes it)");
	h->headers = alba_get(jv_copy(h->req), "headers");
	h->query = alba_get(jv_copy(h->req), "query");
	h->forge = detect_forge(h->headers);
	body = alba_get(jv_copy(h->req), "body");
	if (jv_get_kind(body) == JV_KIND_STRING) {
		h->body = jv_string_value(body);
		h->bodylen = (size_t)jv_string_length_bytes(jv_copy(body));
	}
	jv_free(body);		/* h->req keeps it */
	return payload_bytes(h, v);
}

void
alba_hook_close(struct alba_hook *h)
{
	if (h->json) {
		explicit_bzero(h->json, h->jsonlen);
		free(h->json);
		h->json = NULL;
	}
	jv_free(h->headers);
	jv_free(h->query);
	jv_free(h->config);
	jv_free(h->req);
	h->headers = h->query = h->config = h->req = jv_invalid();
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
check_token(const struct alba_hook *h, const char *want, struct alba_verdict *v)
{
	const char *q = alba_sget(h->query, "token");
	const char *auth = alba_sopt(h->headers, "authorization");
	const char *bearer = NULL;
	int ok = 1, seen = 0;

	if (auth && has_prefix_ci(auth, "bearer "))
		for (bearer = auth + 7; *bearer == ' '; bearer++)
			;
	if (q) {
		seen = 1;
		ok &= q != alba_bad && alba_ct_streq(q, strlen(q), want, strlen(want));
	}
	if (bearer) {
		seen = 1;
		ok &= alba_ct_streq(bearer, strlen(bearer), want, strlen(want));
	}
	if (!seen)
		return alba_refuse(v, 403, "forbidden",
		    "missing token: hook.token is set; pass ?token= or Authorization: Bearer");
	if (!ok)
		return alba_refuse(v, 403, "forbidden", "bad token");
	return 0;
}

static int
check_signature(const struct alba_hook *h, const char *secret,
    struct alba_verdict *v)
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
		if ((sig = alba_sget(h->headers, hdrs[i].name)) != NULL)
			break;
	if (sig == NULL)
		return alba_refuse(v, 403, "forbidden",
		    "unsigned request: hook.secret is set and there is no "
		    "X-Forgejo-Signature, X-Gitea-Signature or X-Hub-Signature-256");
	if (sig != alba_bad) {
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
	if (sig == alba_bad || len == 0)
		return alba_refuse(v, 403, "forbidden",
		    "unsigned request: hook.secret is set and %s is empty", hdrs[i].shown);
	/* Gitea and Forgejo sign the JSON (inside payload= for a form), GitHub
	 * the raw body whatever its type. */
	if (h->forge == ALBA_FORGE_GITHUB)
		alba_hmac_sha256(secret, strlen(secret), h->body, h->bodylen, mac);
	else
		alba_hmac_sha256(secret, strlen(secret), h->json, h->jsonlen, mac);
	ok = len != (size_t)-1 && hex_matches(sig, len, mac);
	explicit_bzero(mac, sizeof mac);
	if (!ok)
		return alba_refuse(v, 403, "forbidden", "bad signature in %s", hdrs[i].shown);
	return 0;
}

int
alba_hook_authenticate(const struct alba_hook *h, struct alba_verdict *v)
{
	const char *token = alba_sopt(h->config, "hook.token");
	const char *secret = alba_sopt(h->config, "hook.secret");

	if (token && !*token)
		token = NULL;
	if (secret && !*secret)
		secret = NULL;
	if (token == NULL && secret == NULL)
		return alba_refuse(v, 403, "forbidden",
		    "repository has no hook.token or hook.secret: every request is refused");
	if (token && check_token(h, token, v) == -1)
		return -1;
	if (secret && check_signature(h, secret, v) == -1)
		return -1;
	return 0;
}
