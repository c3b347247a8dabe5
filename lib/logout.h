/* ISC license. */
/*
 * logout.h: what alba-logs writes on stdout (alba-logs(1) OUTPUT), in one of
 * three forms: NDJSON records (for scripts), the raw log bytes (-r), or the
 * body of GET /build for `alba-http -s` (-c): one line with a document, then
 * the log as an HTTP/1.1 chunked body, one chunk per frame, written as it
 * comes and never turned into JSON.  The writer owns its buffers; the
 * document and the masker are borrowed and must outlive it.
 */
#ifndef ALBA_LOGOUT_H
#define ALBA_LOGOUT_H

#include <stddef.h>

#include <jv.h>

#include "alba.h"
#include "mask.h"

enum { ALBA_LOGOUT_NDJSON, ALBA_LOGOUT_RAW, ALBA_LOGOUT_CHUNKED };

struct alba_logout {
	int mode;
	const char *stream;	/* "stdout" or "stderr" */
	char alloc[64];		/* "" for none (-F) */
	unsigned long long rawpos; /* log bytes delivered (offset member) */
	jv doc;			/* the input document (borrowed), or null */
	const struct alba_mask *mask;	/* masks messages (borrowed) */
	int frames;		/* -F: no document to fail with */
	int headed;		/* -c: the first line is out */
	int started, lastnl;
	unsigned char hold[4];	/* NDJSON: an incomplete UTF-8 sequence */
	size_t holdlen;
	char *buf;
	size_t cap;
};

void alba_logout_init(struct alba_logout *o, int mode, const char *stream,
    const struct alba_mask *mask);
/* Log bytes after masking; rawlen: the log bytes they stand for; final:
 * flush what UTF-8 held back. */
void alba_logout_data(struct alba_logout *o, const unsigned char *p, size_t n,
    size_t rawlen, int final);
/* The line that introduces the log of the next allocation. */
void alba_logout_separator(struct alba_logout *o, const char *alloc, int attempt);
/* The log ended well: -c writes its first line if it is not out yet and
 * the last chunk. */
void alba_logout_end(struct alba_logout *o);
/* Fail: the message (masked) on stderr and, before any output, the input
 * document with the error member (the error answer of GET /build); after
 * output began, an error record (NDJSON) or a last chunk saying it (-c);
 * then exit with the status's code. */
void alba_logout_fatal(struct alba_logout *o, int status, const char *code,
    const char *fmt, ...) ALBA_PRINTF(4, 5) ALBA_NORETURN;
void alba_logout_free(struct alba_logout *o);

#endif
