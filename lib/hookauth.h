/* ISC license. */
/*
 * hookauth.h: the webhook request as alba-verify reads it (SPEC §7): which
 * forge sent it, its headers by the forge's names, the payload JSON inside
 * the body, and its authentication against the repository's hook.token
 * and hook.secret.  A struct alba_hook owns its jv members and the payload
 * buffer; alba_hook_close releases them.
 */
#ifndef ALBA_HOOKAUTH_H
#define ALBA_HOOKAUTH_H

#include <stddef.h>

#include <jv.h>

#include "verdict.h"

/* Forgejo sends Gitea's headers too, and Gitea GitHub's. */
enum alba_forge {
	ALBA_FORGE_NONE,	/* no forge header: a bare push (curl -d) */
	ALBA_FORGE_GITEA,
	ALBA_FORGE_FORGEJO,
	ALBA_FORGE_GITHUB
};

struct alba_hook {
	jv req;			/* the document's request */
	jv headers, query;	/* request.headers, request.query */
	jv config;		/* the document's config */
	enum alba_forge forge;
	const char *body;	/* the raw body, as GitHub signs it (in req) */
	size_t bodylen;
	char *json;		/* the payload JSON, as Gitea signs it */
	size_t jsonlen;
};

/*
 * Fill h from doc's request and config: the forge, the body, the payload
 * JSON (the URL-decoded payload= field of a form body, else the body
 * itself).  Returns 0, or -1 with v set: 400 "bad_document" if doc has no
 * request or config object, 400 "bad_request" for a malformed form body.
 * Consumes doc; call alba_hook_close(h) either way.
 */
int alba_hook_open(struct alba_hook *h, jv doc, struct alba_verdict *v);
/* Free what h holds, the payload bytes wiped first. */
void alba_hook_close(struct alba_hook *h);
/* The first non-empty header X-<forge>-<suffix> ("event", "delivery")
 * among the forge's own and those it copies, or NULL.  Borrows h: the
 * pointer lives as long as h does. */
const char *alba_hook_header(const struct alba_hook *h, const char *suffix);
/*
 * Every configured credential is required: the token (?token= or
 * Authorization: Bearer, each one sent must match) if hook.token is set, a
 * signature (X-Forgejo-Signature, X-Gitea-Signature or X-Hub-Signature-256:
 * HMAC-SHA256 of the raw body from GitHub, of the payload JSON from the
 * others) if hook.secret is set; neither set refuses everything.  Returns
 * 0, or -1 with v set to 403 "forbidden".  The comparisons take a time
 * independent of the secrets.  Borrows h.
 */
int alba_hook_authenticate(const struct alba_hook *h, struct alba_verdict *v);

#endif
