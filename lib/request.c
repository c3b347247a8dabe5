/* ISC license. */
/*
 * request.c: the HTTP/1.1 request reader of alba-http.  Bounded: every
 * limit is checked before the bytes it guards are read, so a request that
 * announces a 100 MiB body is refused at once.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alba.h"
#include "request.h"
#include "utf8.h"

struct in {
	int fd;
	char *buf;		/* bytes read and not yet consumed: buf[off..len) */
	size_t off, len, cap;
	long long deadline;	/* ms, CLOCK_MONOTONIC */
	int err;		/* the errno of the last -2 */
};


/* Read more bytes, at most room.  1 read, 0 EOF, -1 timeout, -2 error. */
static int
more(struct in *in, size_t room)
{
	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	if (in->len + room > in->cap) {
		size_t cap = in->len + room;
		char *b = realloc(in->buf, cap + 1);
		if (b == NULL) {
			in->err = ENOMEM;
			return -2;
		}
		in->buf = b;
		in->cap = cap;
	}
	for (;;) {
		long long left = in->deadline - alba_mono_ms();
		struct pollfd p = { in->fd, POLLIN, 0 };
		ssize_t r;
		if (left <= 0)
			return -1;
		int pr = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			in->err = errno;
			return -2;
		}
		if (pr == 0)
			return -1;
		r = read(in->fd, in->buf + in->len, room);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			in->err = errno;
			return -2;
		}
		if (r == 0)
			return 0;
		in->len += (size_t)r;
		return 1;
	}
}

/* A line ending in LF (CR stripped) of at most max bytes, NUL-terminated
 * in place.  1 with *line and *n; 0 EOF; -1 timeout; -2 error; -3 too long. */
static int
line(struct in *in, size_t max, char **out, size_t *n)
{
	size_t scanned = 0;

	for (;;) {
		char *s = in->buf ? in->buf + in->off : NULL;
		size_t avail = in->len - in->off;
		char *nl = s ? memchr(s + scanned, '\n', avail - scanned) : NULL;
		if (nl) {
			size_t l = (size_t)(nl - s);
			if (l > max)
				return -3;
			in->off += l + 1;
			if (l > 0 && s[l - 1] == '\r')
				l--;
			s[l] = 0;
			*out = s;
			*n = l;
			return 1;
		}
		scanned = avail;
		if (avail > max)
			return -3;
		int r = more(in, 8192);
		if (r <= 0)
			return r;
	}
}

/* Exactly n body bytes appended to *body (len *blen).  1, or 0/-1/-2. */
static int
take(struct in *in, size_t n, char *body, size_t *blen)
{
	while (n > 0) {
		size_t avail = in->len - in->off;
		if (avail == 0) {
			int r = more(in, n > 65536 ? 65536 : n);
			if (r <= 0)
				return r;
			continue;
		}
		size_t k = avail < n ? avail : n;
		memcpy(body + *blen, in->buf + in->off, k);
		in->off += k;
		*blen += k;
		n -= k;
	}
	return 1;
}

long
alba_urldecode(char *s, size_t n, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
				return -1;
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			c = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		if (c == 0)
			return -1;
		s[o++] = c;
	}
	s[o] = 0;
	return (long)o;
}

int
alba_form_field(const char *body, size_t len, const char *name, char **out,
    size_t *outlen)
{
	const char *p = body, *end = body + len;
	size_t i = 0, nl = strlen(name);
	long n;

	*out = NULL;
	*outlen = 0;
	while (i < len && memchr(" \t\r\n", body[i], 4))
		i++;
	if (i < len && (body[i] == '{' || body[i] == '['))
		return 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = (size_t)(e - p) - nl - 1;
			if ((*out = malloc(vl + 1)) == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			memcpy(*out, p + nl + 1, vl);
			if ((n = alba_urldecode(*out, vl, 1)) < 0) {
				free(*out);
				*out = NULL;
				return -1;
			}
			*outlen = (size_t)n;
			return 1;
		}
		p = e + 1;
	}
	return 0;
}

static int
valid_text(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return 0;
	return alba_utf8_valid((const unsigned char *)s, n) == n;
}

/* The query string into an object: first occurrence of a name wins. */
static int
parse_query(char *q, jv *out, char *msg, size_t msglen)
{
	jv obj = jv_object();

	while (q && *q) {
		char *amp = strchr(q, '&'), *eq;
		if (amp)
			*amp = 0;
		eq = strchr(q, '=');
		if (eq)
			*eq = 0;
		long kl = alba_urldecode(q, strlen(q), 1);
		long vl = eq ? alba_urldecode(eq + 1, strlen(eq + 1), 1) : 0;
		if (kl < 0 || vl < 0 || !valid_text(q, (size_t)kl) ||
		    (eq && !valid_text(eq + 1, (size_t)vl))) {
			jv_free(obj);
			return alba_fail(msg, msglen, 400, "bad query string");
		}
		if (kl > 0 && !jv_object_has(jv_copy(obj), jv_string_sized(q, (int)kl)))
			obj = jv_object_set(obj, jv_string_sized(q, (int)kl),
			    eq ? jv_string_sized(eq + 1, (int)vl) : jv_string(""));
		q = amp ? amp + 1 : NULL;
	}
	*out = obj;
	return 0;
}

static int
request_line(char *l, size_t n, jv *req, int *http10, char *msg, size_t msglen)
{
	char *sp1 = memchr(l, ' ', n), *sp2, *q, *method = l, *target, *version;
	jv query;
	int r;

	if (sp1 == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL || strchr(sp2 + 1, ' '))
		return alba_fail(msg, msglen, 400, "malformed request line");
	*sp1 = *sp2 = 0;
	target = sp1 + 1;
	version = sp2 + 1;
	for (char *p = method; *p; p++)
		if (!isupper((unsigned char)*p))
			return alba_fail(msg, msglen, 400, "malformed method");
	if (*method == 0 || strncmp(version, "HTTP/1.", 7) != 0 ||
	    (version[7] != '0' && version[7] != '1') || version[8])
		return alba_fail(msg, msglen, strncmp(version, "HTTP/", 5) == 0 ? 505 : 400,
		    "unsupported protocol version");
	*http10 = version[7] == '0';
	*req = jv_object_set(*req, jv_string("method"), jv_string(method));
	if (*target != '/')
		return alba_fail(msg, msglen, 400, "the request target is not a path");
	if ((q = strchr(target, '?')))
		*q++ = 0;
	if (strchr(target, '#'))
		*strchr(target, '#') = 0;
	long pl = alba_urldecode(target, strlen(target), 0);
	if (pl < 0 || !valid_text(target, (size_t)pl))
		return alba_fail(msg, msglen, 400, "bad request path");
	*req = jv_object_set(*req, jv_string("path"), jv_string_sized(target, (int)pl));
	if ((r = parse_query(q, &query, msg, msglen)))
		return r;
	*req = jv_object_set(*req, jv_string("query"), query);
	return 0;
}

static int
header_line(char *l, size_t n, jv *headers, char *msg, size_t msglen)
{
	char *colon = memchr(l, ':', n), *v, *e;
	size_t i;

	if (*l == ' ' || *l == '\t')
		return alba_fail(msg, msglen, 400, "obsolete header folding");
	if (colon == NULL || colon == l)
		return alba_fail(msg, msglen, 400, "malformed header line");
	for (i = 0; l + i < colon; i++) {
		unsigned char c = (unsigned char)l[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
			return alba_fail(msg, msglen, 400, "malformed header name");
		l[i] = (char)tolower(c);
	}
	*colon = 0;
	v = colon + 1;
	e = l + n;
	while (*v == ' ' || *v == '\t')
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (!valid_text(v, (size_t)(e - v)))
		return alba_fail(msg, msglen, 400, "malformed header value");
	jv name = jv_string(l), val = jv_string_sized(v, (int)(e - v));
	jv old = jv_object_get(jv_copy(*headers), jv_copy(name));
	if (jv_get_kind(old) == JV_KIND_STRING)
		val = jv_string_concat(jv_string_concat(old, jv_string(", ")), val);
	else
		jv_free(old);
	*headers = jv_object_set(*headers, name, val);
	return 0;
}

/* The header named name, or NULL.  Borrows headers. */
static const char *
header(jv headers, const char *name)
{
	jv v = jv_object_get(jv_copy(headers), jv_string(name));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;

	/* headers keeps its own reference, so s stays valid. */
	jv_free(v);
	return s;
}

/* The message of a failed line() or take() (r: 0, -1, -2): the errno of a
 * read error is the one more() saved, never whatever errno holds now. */
static int
timeout_or(const struct in *in, int r, char *msg, size_t msglen, const char *what)
{
	if (r == -1)
		return alba_fail(msg, msglen, 408, "the client was too slow sending the %s", what);
	if (r == 0)
		return alba_fail(msg, msglen, 400, "the connection closed in the %s", what);
	return alba_fail(msg, msglen, 400, "unable to read the %s: %s", what,
	    in->err ? strerror(in->err) : "read error");
}

/* 1 if c is a tchar (RFC 9110 §5.6.2). */
static int
tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * A chunk-size line (RFC 9112 §7.1): 1*HEXDIG, at most 16 of them, then
 * chunk extensions, *( BWS ";" BWS token [ BWS "=" BWS ( token /
 * quoted-string ) ] ), which are ignored.  0 with *size, or -1.
 */
static int
chunk_size(const char *l, size_t n, unsigned long long *size)
{
	size_t i = 0, d;
	unsigned long long v = 0;

	for (d = 0; i < n && isxdigit((unsigned char)l[i]); i++, d++) {
		if (d == 16)
			return -1;
		v = v << 4 | (unsigned long long)(isdigit((unsigned char)l[i]) ? l[i] - '0' :
		    tolower((unsigned char)l[i]) - 'a' + 10);
	}
	if (d == 0)
		return -1;
	while (i < n) {
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n || l[i++] != ';')
			return -1;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		for (d = i; i < n && tchar((unsigned char)l[i]); i++)
			;
		if (i == d)
			return -1;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n || l[i] != '=')
			continue;
		i++;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i < n && l[i] == '"') {
			for (i++; i < n && l[i] != '"'; i++) {
				unsigned char c = (unsigned char)l[i];
				if (c == '\\' && i + 1 < n)
					c = (unsigned char)l[++i];
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					return -1;
			}
			if (i++ == n)
				return -1;
		} else {
			for (d = i; i < n && tchar((unsigned char)l[i]); i++)
				;
			if (i == d)
				return -1;
		}
	}
	*size = v;
	return 0;
}

static int
read_body(struct in *in, int cont_fd, const struct alba_reqlimits *lim, jv headers,
    int http10, jv *body, char *msg, size_t msglen)
{
	const char *cl = header(headers, "content-length");
	const char *te = header(headers, "transfer-encoding");
	const char *expect = header(headers, "expect");
	char *buf = NULL;
	size_t blen = 0;
	int r;

	/* RFC 9112 §6.1, §6.3: either framing can smuggle a second request
	 * past a proxy that reads the other one. */
	if (cl && te)
		return alba_fail(msg, msglen, 400, "both Content-Length and Transfer-Encoding");
	if (te && http10)
		return alba_fail(msg, msglen, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (te && strcasecmp(te, "chunked") != 0)
		return alba_fail(msg, msglen, 400, "unsupported Transfer-Encoding");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (!isdigit((unsigned char)*cl) || *end || errno)
			return alba_fail(msg, msglen, 400, "bad Content-Length");
		if (n > lim->body_max)
			return alba_fail(msg, msglen, 413, "the body (%llu bytes) is over %zu bytes",
			    n, lim->body_max);
		if (expect && strcasecmp(expect, "100-continue") == 0 && cont_fd >= 0 && n > 0)
			(void)!write(cont_fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		if ((buf = malloc(n + 1)) == NULL)
			return alba_fail(msg, msglen, 500, "out of memory");
		if ((r = take(in, n, buf, &blen)) <= 0) {
			free(buf);
			return timeout_or(in, r, msg, msglen, "body");
		}
	} else if (te) {
		size_t cap = 0;
		if (expect && strcasecmp(expect, "100-continue") == 0 && cont_fd >= 0)
			(void)!write(cont_fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		for (;;) {
			char *l;
			size_t n;
			if ((r = line(in, 1024, &l, &n)) <= 0) {
				free(buf);
				return r == -3 ? alba_fail(msg, msglen, 400, "bad chunk size") :
				    timeout_or(in, r, msg, msglen, "body");
			}
			unsigned long long sz;
			if (chunk_size(l, n, &sz)) {
				free(buf);
				return alba_fail(msg, msglen, 400, "bad chunk size");
			}
			if (sz == 0)
				break;
			if (sz > lim->body_max - blen) {
				free(buf);
				return alba_fail(msg, msglen, 413, "the body is over %zu bytes", lim->body_max);
			}
			if (blen + sz + 1 > cap) {
				cap = (blen + sz + 1) * 2;
				if (cap > lim->body_max + 1)
					cap = lim->body_max + 1;
				char *nb = realloc(buf, cap);
				if (nb == NULL) {
					free(buf);
					return alba_fail(msg, msglen, 500, "out of memory");
				}
				buf = nb;
			}
			if ((r = take(in, sz, buf, &blen)) <= 0 || (r = line(in, 2, &l, &n)) <= 0 || n) {
				free(buf);
				return r == 1 || r == -3 ? alba_fail(msg, msglen, 400,
				    "bad chunk: its data is longer than its size") :
				    timeout_or(in, r, msg, msglen, "body");
			}
		}
		/* Trailers, up to the empty line. */
		for (;;) {
			char *l;
			size_t n;
			if ((r = line(in, lim->header_bytes, &l, &n)) <= 0) {
				free(buf);
				return r == -3 ? alba_fail(msg, msglen, 431, "trailers too large") :
				    timeout_or(in, r, msg, msglen, "trailers");
			}
			if (n == 0)
				break;
		}
	}
	if (buf == NULL) {
		*body = jv_string("");
		return 0;
	}
	if (alba_utf8_valid((unsigned char *)buf, blen) != blen) {
		free(buf);
		return alba_fail(msg, msglen, 400, "the body is not valid UTF-8");
	}
	*body = jv_string_sized(buf, (int)blen);
	free(buf);
	return 0;
}

int
alba_request_read(int fd, int cont_fd, const struct alba_reqlimits *lim, jv *req,
    char *msg, size_t msglen)
{
	struct in in = { fd, NULL, 0, 0, 0, alba_mono_ms() + lim->timeout_ms, 0 };
	jv headers = jv_object(), body;
	size_t hbytes = 0, hcount = 0;
	char *l;
	size_t n;
	int r, http10 = 0;

	*req = jv_object();
	/* RFC 9112 §2.2: ignore empty lines before the request line. */
	do {
		r = line(&in, lim->line_max, &l, &n);
	} while (r == 1 && n == 0);
	if (r == -3)
		r = alba_fail(msg, msglen, 414, "the request line is over %zu bytes", lim->line_max);
	else if (r <= 0)
		r = timeout_or(&in, r, msg, msglen, "request line");
	else if (memchr(l, 0, n))
		r = alba_fail(msg, msglen, 400, "a NUL byte in the request line");
	else
		r = request_line(l, n, req, &http10, msg, msglen);
	while (r == 0) {
		/* Once the headers used up their bytes, only the empty line
		 * ("\r\n") that ends them fits: never a negative (huge) bound. */
		int lr = line(&in, hbytes < lim->header_bytes ?
		    lim->header_bytes - hbytes : 1, &l, &n);
		if (lr == -3) {
			r = alba_fail(msg, msglen, 431, "the headers are over %zu bytes", lim->header_bytes);
			break;
		}
		if (lr <= 0) {
			r = timeout_or(&in, lr, msg, msglen, "headers");
			break;
		}
		if (n == 0)
			break;
		hbytes += n + 2;
		if (++hcount > lim->header_count) {
			r = alba_fail(msg, msglen, 431, "more than %zu header lines", lim->header_count);
			break;
		}
		if (memchr(l, 0, n)) {
			r = alba_fail(msg, msglen, 400, "a NUL byte in a header line");
			break;
		}
		r = header_line(l, n, &headers, msg, msglen);
	}
	if (r == 0)
		r = read_body(&in, cont_fd, lim, headers, http10, &body, msg, msglen);
	*req = jv_object_set(*req, jv_string("headers"), headers);
	if (r == 0)
		*req = jv_object_set(*req, jv_string("body"), body);
	free(in.buf);
	return r;
}
