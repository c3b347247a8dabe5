/* ISC license. */
/*
 * refname.h: the checks on every value alba-verify sends to Nomad: git's
 * ref-name rules for a branch or tag, a commit ID, a flavor, a repository
 * URL, a sender and a delivery ID.  Each borrows its NUL-terminated input
 * and returns NULL if it is valid, else why not: a static string, which
 * never quotes the input.
 */
#ifndef ALBA_REFNAME_H
#define ALBA_REFNAME_H

/* 40 or 64 lower-case hex digits (SHA-1 or SHA-256). */
const char *alba_bad_commit(const char *s);
/* git check-ref-format --branch: a branch or tag name, at most 1024 bytes. */
const char *alba_bad_refname(const char *s);
/* 1 to 64 of A-Z a-z 0-9 _ -. */
const char *alba_bad_flavor(const char *s);
/* http(s)://, ssh://, git:// or scp-like user@host:path, at most 2048
 * bytes, no control character or space, no user or host starting with '-'. */
const char *alba_bad_url(const char *s);
/* 1 to 255 bytes, no control character. */
const char *alba_bad_sender(const char *s);
/* At most 128 of A-Z a-z 0-9 . : _ -. */
const char *alba_bad_delivery(const char *s);

#endif
