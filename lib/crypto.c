/* ISC license. */
/* crypto.c: HMAC-SHA256, constant-time comparison, hex and base64. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

void
alba_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
    unsigned char out[ALBA_SHA256_LEN])
{
	unsigned int len = ALBA_SHA256_LEN;
	static const unsigned char empty[1];

	/* HMAC() wants a non-NULL key even when it is empty. */
	HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen,
	    msglen ? msg : empty, msglen, out, &len);
}

void
alba_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

int
alba_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
alba_ct_streq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
	unsigned int la = 0, lb = 0;

	EVP_Digest(a, alen, da, &la, EVP_sha256(), NULL);
	EVP_Digest(b, blen, db, &lb, EVP_sha256(), NULL);
	/* A digest collision aside, equal digests mean equal strings. */
	return la == lb && CRYPTO_memcmp(da, db, la) == 0;
}

static const char b64std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
alba_b64_enclen(size_t n, int flags)
{
	if (flags & ALBA_B64_NOPAD)
		return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
	return (n + 2) / 3 * 4;
}

size_t
alba_b64_encode(const void *vin, size_t n, char *out, int flags)
{
	const unsigned char *in = vin;
	const char *t = (flags & ALBA_B64_URL) ? b64url : b64std;
	char *o = out;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		*o++ = t[(v >> 6) & 63];
		*o++ = t[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		if (!(flags & ALBA_B64_NOPAD)) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		*o++ = t[(v >> 6) & 63];
		if (!(flags & ALBA_B64_NOPAD))
			*o++ = '=';
	}
	*o = 0;
	return (size_t)(o - out);
}

/* 0..63 for the alphabet, 64 for anything else. */
static unsigned char dstd[256], durl[256];

static void
b64_tables(void)
{
	int i;

	if (dstd[0] == 64)
		return;
	memset(dstd, 64, sizeof dstd);
	memset(durl, 64, sizeof durl);
	for (i = 0; i < 64; i++) {
		dstd[(unsigned char)b64std[i]] = (unsigned char)i;
		durl[(unsigned char)b64url[i]] = (unsigned char)i;
	}
}

size_t
alba_b64_decode(const char *in, size_t n, unsigned char *out, int flags)
{
	const unsigned char *s = (const unsigned char *)in;
	const unsigned char *d;
	unsigned char *o = out;
	size_t i, pad = 0, rem;

	b64_tables();
	d = (flags & ALBA_B64_URL) ? durl : dstd;
	if (n >= 1 && s[n - 1] == '=')
		pad = (n >= 2 && s[n - 2] == '=') ? 2 : 1;
	if (pad && n % 4)
		return (size_t)-1;
	if (!pad && n % 4 && !(flags & ALBA_B64_NOPAD))
		return (size_t)-1;
	n -= pad;
	rem = n % 4;
	if (rem == 1)
		return (size_t)-1;
	for (i = 0; i + 4 <= n; i += 4) {
		unsigned a = d[s[i]], b = d[s[i + 1]], c = d[s[i + 2]], e = d[s[i + 3]];
		if ((a | b | c | e) & 64)
			return (size_t)-1;
		unsigned v = a << 18 | b << 12 | c << 6 | e;
		*o++ = (unsigned char)(v >> 16);
		*o++ = (unsigned char)(v >> 8);
		*o++ = (unsigned char)v;
	}
	if (rem) {
		unsigned a = d[s[i]], b = d[s[i + 1]];
		unsigned c = rem == 3 ? d[s[i + 2]] : 0;
		if ((a | b | c) & 64)
			return (size_t)-1;
		unsigned v = a << 18 | b << 12 | c << 6;
		/* Non-canonical encodings (stray low bits) are refused. */
		if ((rem == 2 && (v & 0xffff)) || (rem == 3 && (v & 0xff)))
			return (size_t)-1;
		*o++ = (unsigned char)(v >> 16);
		if (rem == 3)
			*o++ = (unsigned char)(v >> 8);
	}
	return (size_t)(o - out);
}
