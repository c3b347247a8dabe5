/* ISC license. */
/* crypto.c: HMAC-SHA256, constant-time comparison, hex and base64. */
#include <stdint.h>
#include <arpa/inet.h>
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

/* 0..63 for the alphabet, 64 for anything else; and for the bulk of a
 * decode, each letter's 6 bits already in place for its position in a
 * quad, 0xff000000 for anything else. */
static unsigned char dstd[256], durl[256];
static uint32_t qstd[4][256], qurl[4][256];

static void
b64_tables(void)
{
	int i, k;

	if (dstd[0] == 64)
		return;
	memset(dstd, 64, sizeof dstd);
	memset(durl, 64, sizeof durl);
	for (k = 0; k < 4; k++)
		for (i = 0; i < 256; i++)
			qstd[k][i] = qurl[k][i] = 0xff000000;
	for (i = 0; i < 64; i++) {
		unsigned char s = (unsigned char)b64std[i], u = (unsigned char)b64url[i];
		dstd[s] = durl[u] = (unsigned char)i;
		for (k = 0; k < 4; k++) {
			qstd[k][s] = (uint32_t)i << (18 - 6 * k);
			qurl[k][u] = (uint32_t)i << (18 - 6 * k);
		}
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define B64_SSSE3 1

/* The standard alphabet, 16 letters at a time (SSSE3: Muła and Lemire's
 * pshufb lookup and multiply-add packing, as in aklomp/base64): ASCII to
 * 6 bits by the high nibble, checked against the low one, then packed.
 * Returns how many letters it took (a multiple of 16), stopping before the
 * first block with a letter out of the alphabet.  Each round stores 16
 * bytes for 12, so it leaves at least 8 letters to the scalar code: the 4
 * bytes past a round's 12 are then still within the output. */
__attribute__((target("ssse3"))) static size_t
b64_ssse3(const unsigned char *s, size_t n, unsigned char *o)
{
	const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08,
	    0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	const __m128i lut_roll = _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71,
	    0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12,
	    -1, -1, -1, -1);
	const __m128i m2f = _mm_set1_epi8(0x2f), zero = _mm_setzero_si128();
	size_t i;

	for (i = 0; i + 24 <= n; i += 16, o += 12) {
		__m128i str = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i hi = _mm_and_si128(_mm_srli_epi32(str, 4), m2f);
		__m128i lo = _mm_shuffle_epi8(lut_lo, _mm_and_si128(str, m2f));
		__m128i eq = _mm_cmpeq_epi8(str, m2f);
		if (_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_and_si128(lo,
		    _mm_shuffle_epi8(lut_hi, hi)), zero)))
			break;
		str = _mm_add_epi8(str, _mm_shuffle_epi8(lut_roll, _mm_add_epi8(eq, hi)));
		str = _mm_maddubs_epi16(str, _mm_set1_epi32(0x01400140));
		str = _mm_madd_epi16(str, _mm_set1_epi32(0x00011000));
		_mm_storeu_si128((__m128i *)(void *)o, _mm_shuffle_epi8(str, pack));
	}
	return i;
}
#endif

/* Quads of s to bytes of o, four at a time: the bulk of a log.  Returns
 * how many letters it took (a multiple of 16), or -1 for a letter out of
 * the alphabet. */
static size_t
b64_bulk(uint32_t q[4][256], const unsigned char *s, size_t n, unsigned char *o)
{
	size_t i;
	uint32_t bad = 0;

	for (i = 0; i + 16 <= n; i += 16, o += 12) {
		const unsigned char *p = s + i;
		uint32_t a = q[0][p[0]] | q[1][p[1]] | q[2][p[2]] | q[3][p[3]];
		uint32_t b = q[0][p[4]] | q[1][p[5]] | q[2][p[6]] | q[3][p[7]];
		uint32_t c = q[0][p[8]] | q[1][p[9]] | q[2][p[10]] | q[3][p[11]];
		uint32_t d = q[0][p[12]] | q[1][p[13]] | q[2][p[14]] | q[3][p[15]];
		/* Twelve bytes, big-endian, as three words. */
		uint32_t w[3] = { htonl(a << 8 | (b >> 16 & 0xff)),
		    htonl(b << 16 | (c >> 8 & 0xffff)), htonl(c << 24 | (d & 0xffffff)) };
		bad |= a | b | c | d;
		memcpy(o, w, sizeof w);
	}
	return bad & 0xff000000 ? (size_t)-1 : i;
}

size_t
alba_b64_decode(const char *in, size_t n, unsigned char *out, int flags)
{
	const unsigned char *s = (const unsigned char *)in;
	const unsigned char *d;
	unsigned char *o = out;
	size_t i, r, pad = 0, rem;

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
	i = 0;
#ifdef B64_SSSE3
	if (!(flags & ALBA_B64_URL) && __builtin_cpu_supports("ssse3")) {
		i = b64_ssse3(s, n, o);
		o += i / 4 * 3;
	}
#endif
	if ((r = b64_bulk((flags & ALBA_B64_URL) ? qurl : qstd, s + i, n - i, o)) == (size_t)-1)
		return (size_t)-1;
	i += r;
	o += r / 4 * 3;
	for (; i + 4 <= n; i += 4) {
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
