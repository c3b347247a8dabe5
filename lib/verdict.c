/* ISC license. */
/*
 * verdict.c: filling the caller's struct alba_verdict (why a webhook
 * builds nothing), and the sanitized quotes of attacker-controlled text
 * that go in its message.  Owns nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "verdict.h"

static void
vset(struct alba_verdict *v, int status, const char *code, const char *fmt,
    va_list ap) ALBA_PRINTF(4, 0);

static void
vset(struct alba_verdict *v, int status, const char *code, const char *fmt,
    va_list ap)
{
	v->status = status;
	v->code = code;
	vsnprintf(v->msg, sizeof v->msg, fmt, ap);
}

int
alba_refuse(struct alba_verdict *v, int status, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(v, status, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
alba_ignore(struct alba_verdict *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(v, 202, "ignored", fmt, ap);
	va_end(ap);
	return -1;
}

const char *
alba_shown(char *buf, size_t n, const char *s)
{
	size_t len = strlen(s);

	alba_sanitize(buf, n, s, len);
	if (len > n - 1 && n > 4)
		memcpy(buf + n - 4, "...", 4);
	return buf;
}
