/* ISC license. */
/* utf8.h: UTF-8 (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF): validation, cutting, and JSON string text from any bytes.
 * Every function borrows its input. */
#ifndef ALBA_UTF8_H
#define ALBA_UTF8_H

#include <stddef.h>

/* The length of the character at p (n > 0 bytes available): 1 to 4, 0 if
 * it may be valid but is cut short, -1 if it is not valid. */
int alba_utf8_len(const unsigned char *p, size_t n);
/* The length of the longest valid UTF-8 prefix of s (n if all of it is). */
size_t alba_utf8_valid(const unsigned char *s, size_t n);
/* Cut the string s to at most max bytes, on a character boundary. */
void alba_utf8_cut(char *s, size_t max);
/* Append p (n bytes) to d at *dl as the inside of a JSON string, valid
 * UTF-8, each invalid byte as U+FFFD; d must have room for 6 * n bytes.
 * A character cut short at the end is left unless final (then it is
 * invalid): returns the number of bytes of p consumed. */
size_t alba_json_text(char *d, size_t *dl, const unsigned char *p, size_t n,
    int final);

#endif
