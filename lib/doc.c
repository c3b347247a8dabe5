/* ISC license. */
/* doc.c: read and write the stage document; the error member. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doc.h"
#include "json.h"

int
alba_exit_for_status(int status)
{
	if (status >= 200 && status < 300)
		return ALBA_OK;
	if (status == 401 || status == 403 || status == 404)
		return ALBA_NO;
	if (status == 408 || status == 504)
		return ALBA_TIMEOUT;
	if (status == 501 || status == 502 || status == 505)
		return ALBA_PERM;
	if (status >= 500)
		return ALBA_TEMP;
	return ALBA_PERM;
}

jv
alba_doc_parse(const char *buf, size_t len)
{
	jv doc;

	if (len > 0x7fffffff)
		return jv_invalid_with_msg(jv_string("document too large"));
	doc = jv_parse_sized(buf, (int)len);
	if (!jv_is_valid(doc)) {
		jv msg = jv_invalid_get_msg(doc);
		if (jv_get_kind(msg) != JV_KIND_STRING) {
			jv_free(msg);
			return jv_invalid_with_msg(jv_string("empty input"));
		}
		/* jq 1.6 appends the whole input: keep the reason only. */
		const char *m = jv_string_value(msg), *cut = strstr(m, " (while parsing");
		jv out = jv_string_fmt("not valid JSON: %.*s",
		    (int)(cut ? (size_t)(cut - m) : strlen(m)), m);
		jv_free(msg);
		return jv_invalid_with_msg(out);
	}
	if (jv_get_kind(doc) != JV_KIND_OBJECT) {
		jv_free(doc);
		return jv_invalid_with_msg(jv_string("not a JSON object"));
	}
	return doc;
}

char *
alba_read_all(int fd, size_t max, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return NULL;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			if (cap > max)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

jv
alba_doc_read(size_t max)
{
	size_t len;
	char *buf = alba_read_all(0, max, &len);
	jv doc;

	if (buf == NULL && errno == EFBIG)
		alba_doc_fail(jv_object(), 413, "too_large",
		    "the input document is over %zu bytes", max);
	if (buf == NULL)
		alba_die(ALBA_TEMP, "unable to read stdin: %s", strerror(errno));
	doc = alba_doc_parse(buf, len);
	free(buf);
	if (!jv_is_valid(doc)) {
		jv msg = jv_invalid_get_msg(doc);
		char text[256];
		snprintf(text, sizeof text, "%s", jv_string_value(msg));
		jv_free(msg);
		alba_doc_fail(jv_object(), 400, "bad_document", "input document: %s", text);
	}
	return doc;
}

void
alba_doc_write(jv doc)
{
	int e;

	jv_dumpf(doc, stdout, 0);
	putchar('\n');
	errno = 0;
	e = fflush(stdout) == EOF ? errno : 0;
	/* A write that failed inside jv_dumpf left ferror set and errno
	 * long since overwritten: say so, never "Success". */
	if (e || ferror(stdout))
		alba_die(ALBA_TEMP, "unable to write stdout: %s", e ? strerror(e) : "write error");
}

int
alba_doc_has_error(jv doc)
{
	return jv_get_kind(doc) == JV_KIND_OBJECT &&
	    jv_object_has(jv_copy(doc), jv_string("error"));
}

void
alba_doc_pass(jv doc)
{
	jv st = alba_get(jv_copy(doc), "error.status");
	int status = jv_get_kind(st) == JV_KIND_NUMBER ? (int)jv_number_value(st) : 500;

	jv_free(st);
	alba_doc_write(doc);
	exit(alba_exit_for_status(status));
}

void
alba_doc_fail(jv doc, int status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	doc = jv_object_set(doc, jv_string("error"), JV_OBJECT(
	    jv_string("status"), jv_number(status),
	    jv_string("code"), jv_string(code),
	    jv_string("message"), jv_string(msg)));
	fprintf(stderr, "%s: %s: %s\n", alba_prog, status >= 400 ? "fatal" : "info", msg);
	alba_doc_write(doc);
	exit(alba_exit_for_status(status));
}
