/* ISC license. */
/*
 * doc.h: the document every stage reads on stdin and writes on stdout
 * (SPEC §2): a bounded read, the compact write, and the error member with
 * its pass-through rule.  Functions taking a jv consume it (json.h).
 */
#ifndef ALBA_DOC_H
#define ALBA_DOC_H

#include <stddef.h>

#include <jv.h>

#include "alba.h"

#define ALBA_DOC_MAX ((size_t)32 << 20)	/* default bound of a document */

/* Read fd to its end, at most max bytes, into a fresh NUL-terminated
 * buffer the caller frees; *len gets the length.  NULL with errno set:
 * EFBIG past max, ENOMEM, or read(2)'s error. */
char *alba_read_all(int fd, size_t max, size_t *len);
/* Read one JSON object from stdin, at most max bytes.  On an oversized,
 * malformed or non-object input, write the error document and exit 100. */
jv alba_doc_read(size_t max);
/* Parse buf (len bytes) as one JSON object; an invalid with a message if
 * it is not.  Used by alba_doc_read and the tests. */
jv alba_doc_parse(const char *buf, size_t len);
/* Write doc as compact JSON and a newline on stdout; exit 111 if stdout
 * fails.  Consumes doc. */
void alba_doc_write(jv doc);
/* Borrows doc: 1 if it carries an error member. */
int alba_doc_has_error(jv doc);
/* The rule for a document that carries an error: write it unchanged and
 * exit with the code its status maps to. */
void alba_doc_pass(jv doc) ALBA_NORETURN;
/* Set .error {status, code, message} on doc, write it, say the message on
 * stderr ("fatal:" for 4xx and 5xx, "info:" below) and exit with
 * alba_exit_for_status(status).  The message must carry no secret. */
void alba_doc_fail(jv doc, int status, const char *code, const char *fmt, ...)
    ALBA_PRINTF(4, 5) ALBA_NORETURN;
/* The exit code a response status stands for: 2xx 0; 401, 403, 404 1
 * (a definite no); 408 and 504 99; 501, 502, 505 and other 4xx 100 (the
 * request or the configuration is wrong: do not retry); other 5xx 111. */
int alba_exit_for_status(int status);

#endif
