/* ISC license. */
/* msg.c: stderr messages in the one format of SPEC §2, and option scanning. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"

const char *alba_prog = "alba";

static void
vmsg(const char *kind, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s: %s\n", alba_prog, kind, buf);
	fflush(stderr);
}

void
alba_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning", fmt, ap);
	va_end(ap);
}

void
alba_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("fatal", fmt, ap);
	va_end(ap);
	exit(code);
}

void
alba_dieusage(const char *usage)
{
	fprintf(stderr, "%s\n", usage);
	exit(ALBA_PERM);
}

int
alba_scan_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'g': case 'G': shift = 30; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'k': case 'K': shift = 10; end++; break;
	default: break;
	}
	if (*end || v > (~0ULL >> shift) || (v << shift) > (size_t)-1)
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

int
alba_scan_ms(const char *s, long *out)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 86400.0 * 365)
		return -1;
	*out = (long)(v * 1000 + 0.5);
	return 0;
}

void
alba_sanitize(char *out, size_t n, const char *s, size_t len)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i < len && i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c >= 0x7f || c == '%') ? '?' : (char)c;
	}
	out[i] = 0;
}

char *
alba_xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		alba_die(ALBA_TEMP, "out of memory");
	return s;
}

int
alba_fail(char *buf, size_t n, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return code;
}
