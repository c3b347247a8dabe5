/* ISC license. */
/*
 * mask.h: replace secret values by "***" in a byte stream cut in pieces
 * anywhere.  The secrets are the values of config.inject ("KEY=value"
 * lines, value after the first '='; a trailing CR is dropped) of at least
 * ALBA_MASK_MIN bytes.  A tail that may be the start of a secret is held
 * back (at most the longest secret minus one byte) until the next piece
 * or the final flush.  Leftmost match wins, the longest one at a position.
 * The masker owns copies of the secrets and wipes them when freed.
 */
#ifndef ALBA_MASK_H
#define ALBA_MASK_H

#include <stddef.h>

#define ALBA_MASK_MIN 4
#define ALBA_MASK_FIRSTS 4	/* first bytes found with memchr */

struct alba_mask {
	char **sec;		/* longest first */
	size_t *len;
	size_t n, maxlen;
	unsigned char first[256];
	unsigned char firsts[ALBA_MASK_FIRSTS];	/* the distinct first bytes, */
	size_t nfirst;		/* their number (may exceed the array) */
	unsigned char *carry;	/* held-back bytes (< maxlen) */
	size_t carrylen;
	unsigned char *buf;
	size_t cap;
};

/* inject may be NULL.  0, or -1 when out of memory. */
int alba_mask_init(struct alba_mask *m, const char *inject, size_t injectlen);
/* Mask n bytes (final: also flush what is held back).  Returns the masked
 * bytes (valid until the next call) and sets *outlen and *rawlen: the
 * number of input bytes (held-back ones from before included) the output
 * stands for.  NULL when out of memory. */
const unsigned char *alba_mask_feed(struct alba_mask *m, const unsigned char *in,
    size_t n, int final, size_t *outlen, size_t *rawlen);
/* Mask a NUL-terminated string in place (messages). */
void alba_mask_str(const struct alba_mask *m, char *s);
void alba_mask_free(struct alba_mask *m);

#endif
