/* ISC license. */
/*
 * alba.h: what every albatros binary shares: the exit-code table, the program
 * name and the stderr message helpers.  Messages never carry a secret: the
 * caller composes them from what it may show.
 */
#ifndef ALBA_H
#define ALBA_H

#include <stddef.h>

#ifndef ALBA_VERSION
#define ALBA_VERSION "0.0.0"
#endif

/* The exit-code table of SPEC §2, written in every man page. */
enum {
	ALBA_OK = 0,		/* success */
	ALBA_NO = 1,		/* a definite "no": bad token or signature, build failed */
	ALBA_TIMEOUT = 99,	/* timed out waiting */
	ALBA_PERM = 100,	/* usage error or malformed input: do not retry */
	ALBA_TEMP = 111		/* temporary failure: retry later */
};

extern const char *alba_prog;	/* set first thing in main() */

#if defined(__GNUC__)
#define ALBA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ALBA_NORETURN __attribute__((noreturn))
#else
#define ALBA_PRINTF(a, b)
#define ALBA_NORETURN
#endif

/* "alba-x: warning: ..." on stderr. */
void alba_warn(const char *fmt, ...) ALBA_PRINTF(1, 2);
/* "alba-x: fatal: ..." on stderr, then exit(code). */
void alba_die(int code, const char *fmt, ...) ALBA_PRINTF(2, 3) ALBA_NORETURN;
/* Milliseconds on the monotonic clock (clock.c). */
long long alba_mono_ms(void);
/* Sleep ms milliseconds, on through signals. */
void alba_sleep_ms(long ms);
/* The message fmt into buf (size n), cut to fit; returns code, for
 * "return alba_fail(err, errlen, ALBA_PERM, ...)". */
int alba_fail(char *buf, size_t n, int code, const char *fmt, ...) ALBA_PRINTF(4, 5);
/* A fresh string from fmt (free it); dies with ALBA_TEMP if out of memory. */
char *alba_xprintf(const char *fmt, ...) ALBA_PRINTF(1, 2);
/* The usage string on stderr, then exit 100. */
void alba_dieusage(const char *usage) ALBA_NORETURN;
/* Parse a size with an optional k/m/g suffix (powers of 1024); -1 if bad. */
int alba_scan_size(const char *s, size_t *out);
/* Parse a duration in seconds with an optional fraction; milliseconds out. */
int alba_scan_ms(const char *s, long *out);
/* Copy s into out (size n), replacing control characters, '%' and
 * non-ASCII bytes by '?' and cutting at n-1 bytes: for log lines that
 * carry attacker-controlled text, as tcpserver's safecats does. */
void alba_sanitize(char *out, size_t n, const char *s, size_t len);

#endif
