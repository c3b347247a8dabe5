/* ISC license. */
/* mask.c: secret masking over a stream cut anywhere (mask.h). */
#include <stdlib.h>
#include <string.h>

#include "mask.h"

static int
add(struct alba_mask *m, const char *v, size_t len)
{
	size_t i, j;
	char **ns;
	size_t *nl;

	for (i = 0; i < m->n; i++)
		if (m->len[i] == len && memcmp(m->sec[i], v, len) == 0)
			return 0;
	if ((ns = realloc(m->sec, (m->n + 1) * sizeof *ns)) == NULL)
		return -1;
	m->sec = ns;
	if ((nl = realloc(m->len, (m->n + 1) * sizeof *nl)) == NULL)
		return -1;
	m->len = nl;
	/* Keep the list longest first: the first match is the longest. */
	for (i = 0; i < m->n && m->len[i] >= len; i++)
		;
	for (j = m->n; j > i; j--) {
		m->sec[j] = m->sec[j - 1];
		m->len[j] = m->len[j - 1];
	}
	if ((m->sec[i] = malloc(len)) == NULL) {
		for (j = i; j < m->n; j++) {
			m->sec[j] = m->sec[j + 1];
			m->len[j] = m->len[j + 1];
		}
		return -1;
	}
	memcpy(m->sec[i], v, len);
	m->len[i] = len;
	m->n++;
	if (!m->first[(unsigned char)*v] && m->nfirst++ < ALBA_MASK_FIRSTS)
		m->firsts[m->nfirst - 1] = (unsigned char)*v;
	m->first[(unsigned char)*v] = 1;
	if (len > m->maxlen)
		m->maxlen = len;
	return 0;
}

int
alba_mask_init(struct alba_mask *m, const char *inject, size_t injectlen)
{
	const char *p = inject, *end = inject ? inject + injectlen : NULL;

	memset(m, 0, sizeof *m);
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(le - p));
		if (eq) {
			const char *v = eq + 1, *ve = le;
			if (ve > v && ve[-1] == '\r')
				ve--;
			if ((size_t)(ve - v) >= ALBA_MASK_MIN && add(m, v, (size_t)(ve - v)))
				return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (m->n && (m->carry = malloc(m->maxlen)) == NULL)
		return -1;
	return 0;
}

/* Whether a secret, or (not final) the start of one, is at p. */
static int
starts(const struct alba_mask *m, const unsigned char *p, size_t rem, int final)
{
	size_t k;

	if (!m->first[*p])
		return 0;
	for (k = 0; k < m->n; k++) {
		size_t sl = m->len[k];
		if (rem >= sl ? memcmp(p, m->sec[k], sl) == 0 :
		    !final && memcmp(p, m->sec[k], rem) == 0)
			return 1;
	}
	return 0;
}

/* How many bytes of in are clean: the index of the first secret, or start
 * of one (not final), or n.  With few first bytes, memchr finds the next
 * of each (a word at a time); with many, a byte at a time. */
static size_t
clean(const struct alba_mask *m, const unsigned char *in, size_t n, int final)
{
	const unsigned char *next[ALBA_MASK_FIRSTS], *end = in + n, *p;
	size_t i, k;

	if (n == 0)
		return 0;	/* in may be NULL: no memchr */
	if (m->nfirst > ALBA_MASK_FIRSTS) {
		for (i = 0; i < n && !starts(m, in + i, n - i, final); i++)
			;
		return i;
	}
	for (k = 0; k < m->nfirst; k++)
		if ((next[k] = memchr(in, m->firsts[k], n)) == NULL)
			next[k] = end;
	for (;;) {
		for (p = end, k = 0; k < m->nfirst; k++)
			if (next[k] < p)
				p = next[k];
		if (p == end || starts(m, p, (size_t)(end - p), final))
			return (size_t)(p - in);
		for (k = 0; k < m->nfirst; k++)
			if (next[k] == p && (next[k] = memchr(p + 1, *p, (size_t)(end - p - 1))) == NULL)
				next[k] = end;
	}
}

const unsigned char *
alba_mask_feed(struct alba_mask *m, const unsigned char *in, size_t n, int final,
    size_t *outlen, size_t *rawlen)
{
	size_t L, i, o, k;
	unsigned char *w;

	if (m->n == 0) {
		*outlen = *rawlen = n;
		return in ? in : (const unsigned char *)"";
	}
	/* Nothing held back: the input as it is, up to the first byte that
	 * may start a secret; most logs hold none, and are not copied. */
	if (m->carrylen == 0 && (i = clean(m, in, n, final)) == n) {
		*outlen = *rawlen = n;
		return in ? in : (const unsigned char *)"";
	}
	L = m->carrylen + n;
	if (L == 0) {
		*outlen = *rawlen = 0;
		return (const unsigned char *)"";
	}
	if (L > m->cap) {
		size_t cap = L < 65536 ? 65536 : L;
		unsigned char *nb = realloc(m->buf, cap);
		if (nb == NULL)
			return NULL;
		m->buf = nb;
		m->cap = cap;
	}
	w = m->buf;
	memcpy(w, m->carry, m->carrylen);
	if (n)
		memcpy(w + m->carrylen, in, n);
	m->carrylen = 0;
	/* Compact in place: "***" is shorter than any secret. */
	for (i = o = 0; i < L;) {
		size_t best = 0, rem;
		int pending = 0;
		if (!m->first[w[i]]) {
			w[o++] = w[i++];
			continue;
		}
		rem = L - i;
		for (k = 0; k < m->n; k++) {
			size_t sl = m->len[k];
			if (rem >= sl) {
				if (!best && memcmp(w + i, m->sec[k], sl) == 0)
					best = sl;
			} else if (!final && memcmp(w + i, m->sec[k], rem) == 0)
				pending = 1;
		}
		if (pending) {
			/* A longer secret may still match: hold the rest. */
			memcpy(m->carry, w + i, rem);
			m->carrylen = rem;
			break;
		}
		if (best) {
			memcpy(w + o, "***", 3);
			o += 3;
			i += best;
		} else
			w[o++] = w[i++];
	}
	*outlen = o;
	*rawlen = L - m->carrylen;
	return w;
}

void
alba_mask_str(const struct alba_mask *m, char *s)
{
	size_t i, o, k, L = strlen(s);

	for (i = o = 0; i < L;) {
		size_t best = 0;
		for (k = 0; k < m->n && !best; k++)
			if (L - i >= m->len[k] && memcmp(s + i, m->sec[k], m->len[k]) == 0)
				best = m->len[k];
		if (best) {
			memcpy(s + o, "***", 3);
			o += 3;
			i += best;
		} else
			s[o++] = s[i++];
	}
	s[o] = 0;
}

void
alba_mask_free(struct alba_mask *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		memset(m->sec[i], 0, m->len[i]);
		free(m->sec[i]);
	}
	free(m->sec);
	free(m->len);
	if (m->carry)
		memset(m->carry, 0, m->maxlen);
	free(m->carry);
	if (m->buf)
		memset(m->buf, 0, m->cap);
	free(m->buf);
	memset(m, 0, sizeof *m);
}
