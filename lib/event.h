/* ISC license. */
/*
 * event.h: a webhook's payload normalized (SPEC §7): the forge-independent
 * .event, what the build would be, and whether its sender is trusted.
 * Nothing here is validated for Nomad: alba-verify checks the build's
 * fields (refname.h) before it writes .build.
 */
#ifndef ALBA_EVENT_H
#define ALBA_EVENT_H

#include <jv.h>

#include "hookauth.h"
#include "verdict.h"

/* What a buildable event asks for, borrowed from the payload and the hook:
 * each string may be NULL (absent) or alba_bad (json.h). */
struct alba_build {
	const char *repo_url, *commit, *branch, *sender, *delivery;
	/* The sender is in config.trusted.senders and, for a fork's pull
	 * request, so is the fork's owner. */
	int trusted;
};

/*
 * Normalize the payload p of hook h (a push, tag or pull_request event;
 * ping, create, delete and the others are ignored).  *ev is set to the
 * .event, as far as it got, on failure too: the caller owns it (the old
 * value is overwritten, not freed).  Returns 0 with *b filled, or -1 with
 * v set: 202 "ignored" for an event that builds nothing, 400 "bad_request"
 * for a push with no ref or a forge event with no event header.  Borrows h
 * and p: the strings in *b live as long as they do.
 */
int alba_event_normalize(const struct alba_hook *h, jv p, jv *ev,
    struct alba_build *b, struct alba_verdict *v);

#endif
