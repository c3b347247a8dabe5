/* ISC license. */
/*
 * fuzz/signature.c: the webhook authentication (alba_hook_authenticate in
 * lib/hookauth.c, on lib/crypto.c) against a plain reference: a request is
 * accepted exactly when every configured credential is sent and matches.
 * Input: a selector byte, a position byte, then secret NUL token NUL
 * signature NUL body (missing fields are empty).  Selector bits 0-1: the
 * forge's event header (none, Gitea, Forgejo, GitHub); bits 2-3: the
 * signature header (X-Forgejo-Signature, X-Gitea-Signature,
 * X-Hub-Signature-256, none); bit 4: the signature sent is the right one,
 * computed here, with (bit 5) one digit changed at the position byte;
 * bit 7: hook.token is "t0ken" and the token field is sent, as ?token= or
 * (position bit 6) as Authorization: Bearer.  The signed bytes are the raw
 * body for GitHub, the payload (payload= of a form) for the others.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jv.h>

#include "crypto.h"
#include "fuzz.h"
#include "hookauth.h"
#include "json.h"
#include "verdict.h"

static const char *const forge_hdr[] = { NULL, "x-gitea-event", "x-forgejo-event",
	"x-github-event" };
static const char *const sig_hdr[] = { "x-forgejo-signature", "x-gitea-signature",
	"x-hub-signature-256", NULL };

/* The next NUL-terminated field of [*p, end), as a jv string. */
static jv
field(const char **p, const char *end)
{
	const char *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
	jv s = jv_string_sized(*p, (int)n);

	*p = nul ? nul + 1 : end;
	return s;
}

/* The reference: what alba_hook_authenticate must answer for h. */
static int
expected(const struct alba_hook *h, const char *sighdr, int with_token)
{
	const char *secret = alba_sopt(h->config, "hook.secret"), *sig, *tok;
	unsigned char mac[ALBA_SHA256_LEN];
	char hex[2 * ALBA_SHA256_LEN + 1];

	if (secret && !*secret)
		secret = NULL;
	if (!secret && !with_token)
		return -1;
	if (with_token) {
		tok = alba_sopt(h->query, "token");
		if (tok == NULL && (tok = alba_sopt(h->headers, "authorization")) != NULL) {
			if (strncasecmp(tok, "bearer ", 7))
				return -1;
			for (tok += 7; *tok == ' '; tok++)
				;
		}
		if (tok == NULL || strcmp(tok, "t0ken"))
			return -1;
	}
	if (!secret)
		return 0;
	if (sighdr == NULL || (sig = alba_sopt(h->headers, sighdr)) == NULL)
		return -1;
	if (strcmp(sighdr, "x-hub-signature-256") == 0) {
		if (strncasecmp(sig, "sha256=", 7))
			return -1;
		sig += 7;
	}
	if (h->forge == ALBA_FORGE_GITHUB)
		alba_hmac_sha256(secret, strlen(secret), h->body, h->bodylen, mac);
	else
		alba_hmac_sha256(secret, strlen(secret), h->json, h->jsonlen, mac);
	alba_hex(mac, sizeof mac, hex);
	return strcasecmp(sig, hex) == 0 ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 2, *end = (const char *)data + size;
	struct alba_verdict v;
	struct alba_hook h;
	unsigned sel, pos;
	jv secret, token, sig, body, headers, query, config, doc;
	int got, want;

	if (size < 2)
		return 0;
	sel = data[0];
	pos = data[1];
	secret = field(&p, end);
	token = field(&p, end);
	sig = field(&p, end);
	body = jv_string_sized(p, (int)(end - p));
	headers = jv_object();
	query = jv_object();
	config = jv_object();
	if (forge_hdr[sel & 3])
		headers = jv_object_set(headers, jv_string(forge_hdr[sel & 3]), jv_string("push"));
	if (sel & 128) {
		config = jv_object_set(config, jv_string("token"), jv_string("t0ken"));
		if (pos & 64)
			headers = jv_object_set(headers, jv_string("authorization"),
			    jv_string_fmt("Bearer %s", jv_string_value(token)));
		else
			query = jv_object_set(query, jv_string("token"), jv_copy(token));
	}
	jv_free(token);
	if (sig_hdr[sel >> 2 & 3])
		headers = jv_object_set(headers, jv_string(sig_hdr[sel >> 2 & 3]), sig);
	else
		jv_free(sig);
	config = JV_OBJECT(jv_string("hook"), jv_object_set(config, jv_string("secret"), secret));
	doc = JV_OBJECT(jv_string("request"), JV_OBJECT(jv_string("headers"), headers,
	    jv_string("query"), query, jv_string("body"), body), jv_string("config"), config);
	if (alba_hook_open(&h, doc, &v) == 0) {
		const char *name = sig_hdr[sel >> 2 & 3];
		if (name && (sel & 16)) {
			/* The right signature, maybe with one digit changed. */
			const char *s = alba_sopt(h.config, "hook.secret");
			s = s ? s : "";
			int hub = strcmp(name, "x-hub-signature-256") == 0;
			unsigned char mac[ALBA_SHA256_LEN];
			char hex[8 + 2 * ALBA_SHA256_LEN];
			char *d = hex + (hub ? 7 : 0);
			alba_hmac_sha256(s, strlen(s), h.forge == ALBA_FORGE_GITHUB ? h.body : h.json,
			    h.forge == ALBA_FORGE_GITHUB ? h.bodylen : h.jsonlen, mac);
			memcpy(hex, "sha256=", 7);
			alba_hex(mac, sizeof mac, d);
			if (sel & 32)
				d[pos % 64] = d[pos % 64] == '0' ? '1' : '0';
			/* The same header, so the forge found stays the same. */
			h.headers = jv_object_set(h.headers, jv_string(name), jv_string(hex));
		}
		v.status = 0;
		want = expected(&h, name, (sel & 128) != 0);
		got = alba_hook_authenticate(&h, &v);
		if (got != want || (got == 0 && v.status != 0) || (got == -1 && v.status != 403))
			abort();
		/* The right signature without a change is accepted. */
		const char *sec = alba_sopt(h.config, "hook.secret");
		if ((sel & 48) == 16 && name && !(sel & 128) && got != 0 && sec && *sec)
			abort();
	}
	alba_hook_close(&h);
	return 0;
}
