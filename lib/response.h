/* ISC license. */
/*
 * response.h: write an HTTP/1.1 response on a file descriptor, whole (with
 * Content-Length) or streamed (chunked).  Every response says
 * "Connection: close": one request per connection, and
 * "X-Content-Type-Options: nosniff".  The caller owns every
 * buffer.  Functions return 0, or -1 if the peer went away.
 */
#ifndef ALBA_RESPONSE_H
#define ALBA_RESPONSE_H

#include <sys/types.h>

#include <stddef.h>

/* The reason phrase of a status ("Not Found"). */
const char *alba_reason(int status);
/* Cache-Control: no-store. */
int alba_respond(int fd, int status, const char *ctype, const char *body,
    size_t len);
/* With this Cache-Control instead ("no-cache": a page or a badge), and a
 * strict Content-Security-Policy (scripts, styles, images and fetch from
 * this origin only, no inline script, no framing). */
int alba_respond_cached(int fd, int status, const char *ctype, const char *cache,
    const char *body, size_t len);
int alba_respond_chunked(int fd, int status, const char *ctype);
int alba_respond_chunk(int fd, const char *data, size_t len);
int alba_respond_end(int fd);
/* Bytes as they are (a body framed by the caller). */
int alba_respond_write(int fd, const char *data, size_t len);
/* Up to n bytes from the pipe in to fd, as they are, without copying them
 * through this process (splice(2)), under the same write bound: the
 * number moved, 0 at the end of the input, -1 if the peer went away or
 * took no byte for the bound, -2 when fd and in cannot be spliced (fd a
 * pipe under a bound: write instead). */
ssize_t alba_respond_splice(int in, int fd, size_t n);
/* From now on a write to fd that takes no byte for ms milliseconds fails
 * (-1) as if the peer had gone away: a client that stops reading does
 * not hold the answer's processes.  0: no bound. */
void alba_respond_timeout(int fd, long ms);
/* Once the response is out: shut the write side and read what the client
 * still sends, for at most ms milliseconds, so that closing with unread
 * bytes does not reset the connection before the client read the answer. */
void alba_respond_linger(int fd, long ms);

/*
 * One field of an access-log line, from len bytes of s, into out (n bytes,
 * NUL-terminated, cut only between whole escapes): every byte outside
 * printable ASCII, and the space, '"', '%', '=' and '\\', is written %XX
 * (upper-case hex), so a field never holds a separator; an empty value is
 * "-", and a value that is "-" is "%2D".  Borrows s.
 */
void alba_log_field(char *out, size_t n, const char *s, size_t len);

#endif
