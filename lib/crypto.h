/* ISC license. */
/*
 * crypto.h: HMAC-SHA256 and constant-time comparison on OpenSSL; hex and
 * base64 (standard and URL-safe alphabets) written here because the log
 * decoder needs a fast, strict one.  Output buffers belong to the caller.
 */
#ifndef ALBA_CRYPTO_H
#define ALBA_CRYPTO_H

#include <stddef.h>

#define ALBA_SHA256_LEN 32

void alba_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[ALBA_SHA256_LEN]);

/* Writes 2*n lower-case hex digits and a NUL to out. */
void alba_hex(const unsigned char *in, size_t n, char *out);

/* 1 if a and b hold the same n bytes, in time independent of the content. */
int alba_ct_equal(const void *a, const void *b, size_t n);
/* 1 if the strings are equal, in time independent of both contents and
 * lengths (it compares SHA-256 digests). */
int alba_ct_streq(const char *a, size_t alen, const char *b, size_t blen);

enum { ALBA_B64_STD = 0, ALBA_B64_URL = 1, ALBA_B64_NOPAD = 2 };

/* Encoded length for n bytes, without the NUL. */
size_t alba_b64_enclen(size_t n, int flags);
/* Encode n bytes into out (alba_b64_enclen(n, flags) + 1 bytes); returns the
 * length written, NUL excluded. */
size_t alba_b64_encode(const void *in, size_t n, char *out, int flags);
/* Decode n characters into out (at least n / 4 * 3 + 3 bytes).  Strict:
 * only the alphabet of flags, padding only at the end and only if the
 * length needs it (optional with ALBA_B64_NOPAD).  Returns the decoded
 * length, or (size_t)-1 on bad input. */
size_t alba_b64_decode(const char *in, size_t n, unsigned char *out, int flags);

#endif
