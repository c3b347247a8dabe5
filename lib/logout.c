/* ISC license. */
/* logout.c: alba-logs' output, NDJSON, raw or chunked (logout.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "doc.h"
#include "json.h"
#include "logout.h"
#include "utf8.h"

static char nl[] = "\n", crlf[] = "\r\n";

static void
wr(const struct iovec *iov0, int n)
{
	struct iovec iov[4];
	int i = 0;

	memcpy(iov, iov0, (size_t)n * sizeof *iov);
	while (i < n) {
		ssize_t r = writev(1, iov + i, n - i);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			alba_die(ALBA_TEMP, "unable to write stdout: %s", strerror(errno));
		while (i < n && (size_t)r >= iov[i].iov_len)
			r -= (ssize_t)iov[i++].iov_len;
		if (i < n) {
			iov[i].iov_base = (char *)iov[i].iov_base + r;
			iov[i].iov_len -= (size_t)r;
		}
	}
}

static void
wr1(const void *p, size_t n)
{
	struct iovec v = { (void *)p, n };

	wr(&v, 1);
}

static char *
room(struct alba_logout *o, size_t need)
{
	if (need > o->cap) {
		char *nb = realloc(o->buf, need);
		if (nb == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		o->buf = nb;
		o->cap = need;
	}
	return o->buf;
}

void
alba_logout_init(struct alba_logout *o, int mode, const char *stream,
    const struct alba_mask *mask)
{
	memset(o, 0, sizeof *o);
	o->mode = mode;
	o->stream = stream;
	o->mask = mask;
	o->doc = jv_null();
	o->lastnl = 1;
	/* A log is written in 64 KiB chunks: a pipe of 64 KiB (Linux's
	 * default) takes one only when its reader has emptied it, a context
	 * switch a chunk.  1 MiB is what an unprivileged process may ask
	 * (/proc/sys/fs/pipe-max-size); not a pipe, or refused: as it is. */
	(void)fcntl(1, F_SETPIPE_SZ, 1 << 20);
}

void
alba_logout_free(struct alba_logout *o)
{
	free(o->buf);
	o->buf = NULL;
	o->cap = 0;
}

/* -c: the first line, what alba-http needs of the request for its answer
 * and its access log (nothing of the configuration). */
static void
head(struct alba_logout *o)
{
	static const char *const keep[] = { "request.method", "request.path",
	    "request.remote_addr", "request.headers.accept", "job.id" };
	jv h;
	size_t i;

	if (o->headed)
		return;
	h = jv_object();
	for (i = 0; i < sizeof keep / sizeof *keep; i++) {
		jv v = alba_get(jv_copy(o->doc), keep[i]);
		if (jv_get_kind(v) == JV_KIND_STRING) {
			char top[16];
			const char *dot = strchr(keep[i], '.');
			snprintf(top, sizeof top, "%.*s", (int)(dot - keep[i]), keep[i]);
			jv t = jv_object_get(jv_copy(h), jv_string(top));
			if (jv_get_kind(t) != JV_KIND_OBJECT) {
				jv_free(t);
				t = jv_object();
			}
			if (strcmp(keep[i], "request.headers.accept") == 0) {
				jv hd = jv_object_get(jv_copy(t), jv_string("headers"));
				if (jv_get_kind(hd) != JV_KIND_OBJECT) {
					jv_free(hd);
					hd = jv_object();
				}
				t = jv_object_set(t, jv_string("headers"),
				    jv_object_set(hd, jv_string("accept"), v));
			} else
				t = jv_object_set(t, jv_string(dot + 1), v);
			h = jv_object_set(h, jv_string(top), t);
		} else
			jv_free(v);
	}
	h = jv_object_set(h, jv_string("stream"), jv_string(o->stream));
	jv s = jv_dump_string(h, 0);
	struct iovec v[2] = { { (void *)jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)) },
	    { nl, 1 } };
	wr(v, 2);
	jv_free(s);
	o->headed = 1;
}

static void
chunk(struct alba_logout *o, const void *p, size_t n)
{
	char sz[24];
	struct iovec v[3];

	head(o);
	if (n == 0)
		return;		/* an empty chunk would end the body */
	v[0].iov_base = sz;
	v[0].iov_len = (size_t)snprintf(sz, sizeof sz, "%zx\r\n", n);
	v[1].iov_base = (void *)p;
	v[1].iov_len = n;
	v[2].iov_base = crlf;
	v[2].iov_len = 2;
	wr(v, 3);
}

/* NDJSON: a record with the data as a JSON string (made valid UTF-8). */
static void
record(struct alba_logout *o, const unsigned char *p, size_t n, size_t rawlen, int final)
{
	unsigned char tmp[4 + 4];
	const unsigned char *src = p;
	size_t srcn = n, h0 = o->holdlen, used, dl;
	unsigned char *joined = NULL;
	char *d;

	if (h0) {
		/* Rare: join the held bytes and the new ones. */
		if (n <= 4) {
			memcpy(tmp, o->hold, h0);
			if (n)
				memcpy(tmp + h0, p, n);
			src = tmp;
		} else {
			if ((joined = malloc(h0 + n)) == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			memcpy(joined, o->hold, h0);
			memcpy(joined + h0, p, n);
			src = joined;
		}
		srcn = h0 + n;
	}
	d = room(o, srcn * 6 + 256);
	dl = (size_t)snprintf(d, 64, "{\"stream\":\"%s\",\"data\":\"", o->stream);
	size_t start = dl;
	used = alba_json_text(d, &dl, src, srcn, final);
	o->holdlen = srcn - used;
	memcpy(o->hold, src + used, o->holdlen);
	if (dl > start) {
		int m = o->alloc[0] ?
		    snprintf(d + dl, 128, "\",\"alloc\":\"%s\",\"offset\":%llu}\n", o->alloc, o->rawpos) :
		    snprintf(d + dl, 128, "\",\"alloc\":null,\"offset\":%llu}\n", o->rawpos);
		dl += (size_t)m;
		wr1(d, dl);
		o->started = 1;
		o->lastnl = src[used - 1] == '\n';
	}
	o->rawpos += h0 + rawlen - o->holdlen;
	free(joined);
}

void
alba_logout_data(struct alba_logout *o, const unsigned char *p, size_t n,
    size_t rawlen, int final)
{
	if (o->mode == ALBA_LOGOUT_NDJSON) {
		record(o, p, n, rawlen, final);
		return;
	}
	if (n == 0)
		return;
	if (o->mode == ALBA_LOGOUT_RAW)
		wr1(p, n);
	else
		chunk(o, p, n);
	o->lastnl = p[n - 1] == '\n';
	o->started = 1;
}

void
alba_logout_separator(struct alba_logout *o, const char *alloc, int attempt)
{
	char text[160];
	int n = snprintf(text, sizeof text, "%s--- albatros: allocation %.8s (attempt %d) ---\n",
	    o->started && !o->lastnl ? "\n" : "", alloc, attempt);

	if (o->mode == ALBA_LOGOUT_RAW)
		wr1(text, (size_t)n);
	else if (o->mode == ALBA_LOGOUT_CHUNKED)
		chunk(o, text, (size_t)n);
	else {
		size_t dl;
		char *d = room(o, 1024);
		dl = (size_t)snprintf(d, 64, "{\"stream\":\"%s\",\"data\":\"", o->stream);
		alba_json_text(d, &dl, (const unsigned char *)text, (size_t)n, 1);
		dl += (size_t)snprintf(d + dl, 160, "\",\"alloc\":\"%s\",\"separator\":true}\n", alloc);
		wr1(d, dl);
	}
	o->started = 1;
	o->lastnl = 1;
}

void
alba_logout_end(struct alba_logout *o)
{
	if (o->mode == ALBA_LOGOUT_CHUNKED) {
		head(o);
		wr1("0\r\n\r\n", 5);
	}
}

void
alba_logout_fatal(struct alba_logout *o, int status, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (o->mask)
		alba_mask_str(o->mask, msg);
	if (o->mode != ALBA_LOGOUT_RAW && !o->started && !o->headed && !o->frames)
		alba_doc_fail(o->doc, status, code, "%s", msg);
	if (o->mode == ALBA_LOGOUT_CHUNKED) {
		/* After the 200: the reason as the last lines of the body. */
		char line[640];
		int n = snprintf(line, sizeof line, "\n[albatros: %s]\n", msg);
		chunk(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		wr1("0\r\n\r\n", 5);
	} else if (o->mode == ALBA_LOGOUT_NDJSON) {
		jv e = JV_OBJECT(jv_string("error"), JV_OBJECT(jv_string("status"), jv_number(status),
		    jv_string("code"), jv_string(code), jv_string("message"), jv_string(msg)));
		jv s = jv_dump_string(e, 0);
		char line[1024];
		int n = snprintf(line, sizeof line, "%s\n", jv_string_value(s));
		jv_free(s);
		wr1(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	}
	alba_die(alba_exit_for_status(status), "%s", msg);
}
