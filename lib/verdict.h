/* ISC license. */
/*
 * verdict.h: why a webhook builds nothing, as alba-verify reports it in
 * .error: an HTTP status, a stable code word and a message.  The verdict
 * belongs to the caller (usually on its stack); the functions here fill
 * it.  Messages never carry a secret: attacker-controlled text goes in
 * through alba_shown.
 */
#ifndef ALBA_VERDICT_H
#define ALBA_VERDICT_H

#include <stddef.h>

#include "alba.h"

struct alba_verdict {
	int status;		/* 400, 403, 202 ... */
	const char *code;	/* "bad_request", "forbidden", "ignored" ...: static */
	char msg[768];		/* the message, cut to fit */
};

/* Set v to status, code (a static string) and the message fmt; returns -1,
 * for "return alba_refuse(...)". */
int alba_refuse(struct alba_verdict *v, int status, const char *code,
    const char *fmt, ...) ALBA_PRINTF(4, 5);
/* alba_refuse(v, 202, "ignored", fmt, ...): an event that builds nothing
 * and is no error. */
int alba_ignore(struct alba_verdict *v, const char *fmt, ...) ALBA_PRINTF(2, 3);
/* A sanitized copy of attacker-controlled s for a message, in buf (size
 * n), cut to n - 1 bytes, ending in "..." when cut (if n > 4); returns
 * buf.  Borrows s. */
const char *alba_shown(char *buf, size_t n, const char *s);

#endif
