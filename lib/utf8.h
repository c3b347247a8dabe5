/* ISC license. */
/* utf8.h: UTF-8 validation (RFC 3629: no overlongs, surrogates or code
 * points past U+10FFFF).  Borrows its input. */
#ifndef ALBA_UTF8_H
#define ALBA_UTF8_H

#include <stddef.h>

/* The length of the longest valid UTF-8 prefix of s (n if all of it is). */
size_t alba_utf8_valid(const unsigned char *s, size_t n);

#endif
