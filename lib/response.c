/* ISC license. */
/* response.c: HTTP/1.1 responses, whole or chunked, and a lingering close. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "alba.h"
#include "response.h"

const char *
alba_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Error";
	}
}

static long write_timeout_ms;	/* 0: none */

void
alba_respond_timeout(int fd, long ms)
{
	struct stat st;

	write_timeout_ms = ms;
	if (ms > 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		/* A blocking send gives up after ms with no byte taken. */
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0)
			return;
	}
	if (ms > 0)
		write_timeout_ms = -ms;	/* not a socket: poll before each write */
}

/* The write bound passed: say so; -1. */
static int
gave_up(void)
{
	alba_warn("the client took no byte for %ld ms: giving up",
	    write_timeout_ms < 0 ? -write_timeout_ms : write_timeout_ms);
	return -1;
}

/* Write everything, or -1 if the peer went away or took no byte for the
 * write timeout. */
static int
writeall(int fd, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = n;
		if (write_timeout_ms < 0) {
			/* A pipe: at least PIPE_BUF bytes fit once it polls writable. */
			struct pollfd pf = { fd, POLLOUT, 0 };
			int r = poll(&pf, 1, (int)-write_timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto timeout;
			if (k > PIPE_BUF)
				k = PIPE_BUF;
		}
		ssize_t w = write(fd, p, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			goto timeout;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
timeout:
	return gave_up();
}

int
alba_respond_write(int fd, const char *p, size_t n)
{
	return writeall(fd, p, n);
}

ssize_t
alba_respond_splice(int in, int fd, size_t n)
{
	ssize_t m;

	/* A pipe under a bound polls before each write (writeall): no
	 * splice there, it could block past the bound. */
	if (write_timeout_ms < 0)
		return -2;
	do
		m = splice(in, NULL, fd, NULL, n, SPLICE_F_MOVE | SPLICE_F_MORE);
	while (m < 0 && errno == EINTR);
	if (m >= 0)
		return m;
	if (errno == EINVAL)
		return -2;
	return errno == EAGAIN || errno == EWOULDBLOCK ? gave_up() : -1;
}

/* The pages of share/albatros load their script and style from this
 * origin and nothing else, run no inline script, and nothing may frame
 * them. */
#define CSP "Content-Security-Policy: default-src 'none'; script-src 'self'; " \
	"style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'\r\n"

static int
head(int fd, int status, const char *ctype, const char *framing, const char *cache)
{
	char h[1024];
	int page = strcmp(cache, "no-store") != 0;
	int n = snprintf(h, sizeof h,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "%s\r\n"
	    "Cache-Control: %s\r\n"
	    "%s"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Connection: close\r\n\r\n",
	    status, alba_reason(status), ctype, framing, cache, page ? CSP : "");

	return n > 0 && (size_t)n < sizeof h ? writeall(fd, h, (size_t)n) : -1;
}

int
alba_respond_cached(int fd, int status, const char *ctype, const char *cache,
    const char *body, size_t len)
{
	char cl[64];

	snprintf(cl, sizeof cl, "Content-Length: %zu", len);
	if (head(fd, status, ctype, cl, cache))
		return -1;
	return writeall(fd, body, len);
}

int
alba_respond(int fd, int status, const char *ctype, const char *body, size_t len)
{
	return alba_respond_cached(fd, status, ctype, "no-store", body, len);
}

int
alba_respond_chunked(int fd, int status, const char *ctype)
{
	/* X-Accel-Buffering: nginx passes the stream on as it comes. */
	return head(fd, status, ctype, "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no",
	    "no-store");
}

int
alba_respond_chunk(int fd, const char *data, size_t len)
{
	char sz[32];
	int n;

	if (len == 0)
		return 0;	/* an empty chunk would end the body */
	n = snprintf(sz, sizeof sz, "%zx\r\n", len);
	if (writeall(fd, sz, (size_t)n) || writeall(fd, data, len))
		return -1;
	return writeall(fd, "\r\n", 2);
}

int
alba_respond_end(int fd)
{
	return writeall(fd, "0\r\n\r\n", 5);
}

void
alba_respond_linger(int fd, long ms)
{
	struct stat st;
	char buf[16384];
	size_t total = 0;
	long long end;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) || shutdown(fd, SHUT_WR))
		return;
	end = alba_mono_ms() + ms;
	while (total < ((size_t)64 << 20)) {
		long long left = end - alba_mono_ms();
		struct pollfd p = { fd, POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0)
			return;
		total += (size_t)r;
	}
}

void
alba_log_field(char *out, size_t n, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (n == 0)
		return;
	if (len == 0 || (len == 1 && *s == '-')) {
		snprintf(out, n, "%s", len ? "%2D" : "-");
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 0x20 && c < 0x7f && !strchr("\"%=\\", c)) {
			if (o + 1 >= n)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= n)
				break;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
}
