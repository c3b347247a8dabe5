/* ISC license. */
/*
 * request.h: read one HTTP/1.1 request from a file descriptor into the
 * document's `request` member, within bounds on the request line, the
 * headers, the body and the time it all takes.  The caller owns the jv.
 */
#ifndef ALBA_REQUEST_H
#define ALBA_REQUEST_H

#include <stddef.h>

#include <jv.h>

struct alba_reqlimits {
	size_t line_max;	/* request line: 414 past it */
	size_t header_bytes;	/* all header lines: 431 past it */
	size_t header_count;	/* number of header lines: 431 past it */
	size_t body_max;	/* body: 413 past it, decided from Content-Length */
	long timeout_ms;	/* the whole request: 408 past it */
};

/*
 * Read a request from fd.  Returns 0 with *req set to {method, path, query,
 * headers, body}, or the HTTP status of the failure (400, 408, 413, 414,
 * 431, 505) with a message in msg and *req holding what was read so far
 * (at least an object).  When the client sends "Expect: 100-continue" and
 * the body is within bounds, "HTTP/1.1 100 Continue" is written to cont_fd
 * (-1: never).
 */
int alba_request_read(int fd, int cont_fd, const struct alba_reqlimits *lim,
    jv *req, char *msg, size_t msglen);

/* Decode %XX (and '+' as a space if plus) in place; -1 on a bad escape or
 * a NUL.  Returns the new length. */
long alba_urldecode(char *s, size_t n, int plus);
/* The field name of a form body (len bytes, name=value&...; a body that
 * opens with '{' or '[' after blanks is JSON, as curl -d sends it under a
 * form content type): 1 with its decoded value in a fresh *out (free it;
 * NUL-terminated, *outlen bytes), 0 if body is not a form or has no such
 * field, -1 on a bad %-escape or a NUL in the value.  Borrows body. */
int alba_form_field(const char *body, size_t len, const char *name, char **out,
    size_t *outlen);

#endif
