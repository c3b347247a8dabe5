/* ISC license. */
/*
 * logframe.c: the incremental decoder of Nomad's log frames (logframe.h).
 * A byte-level state machine; the Data string, which is nearly all the
 * bytes, is found with memchr and decoded in bulk with alba_b64_decode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "crypto.h"
#include "logframe.h"

enum { S_TOP, S_OBJ, S_NEXTKEY, S_KEY, S_COLON, S_VALUE, S_NUM, S_DATA,
	S_STR, S_LIT, S_AFTER, S_TAIL };
enum { K_OTHER, K_OFFSET, K_DATA, K_FILE, K_EVENT };

#define MAXFRAME (ALBA_FRAME_MAXB64 + 8192)	/* all bytes of one frame */
#define MAXDATA (ALBA_FRAME_MAXB64 / 4 * 3)

static void
frame_clear(struct alba_framer *fr)
{
	fr->len = fr->nb64 = fr->keylen = fr->flen = fr->elen = 0;
	fr->has_offset = fr->ndigits = fr->nquad = fr->padded = fr->esc = 0;
	fr->offset = 0;
	fr->hasdata = 0;
	fr->file[0] = fr->event[0] = 0;
	fr->sub = 0;		/* bytes of the current frame */
}

void
alba_framer_init(struct alba_framer *fr)
{
	memset(fr, 0, sizeof *fr);
	alba_framer_reset(fr);
}

void
alba_framer_reset(struct alba_framer *fr)
{
	fr->state = S_TOP;
	frame_clear(fr);
	fr->taillen = 0;
	fr->tail[0] = 0;
	fr->error[0] = 0;
}

void
alba_framer_free(struct alba_framer *fr)
{
	free(fr->data);
	fr->data = NULL;
	fr->cap = 0;
}

int
alba_framer_idle(const struct alba_framer *fr)
{
	return fr->state == S_TOP;
}

static int
fail(struct alba_framer *fr, const char *fmt, ...) ALBA_PRINTF(2, 3);

static int
fail(struct alba_framer *fr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fr->error, sizeof fr->error, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
grow(struct alba_framer *fr, size_t need)
{
	size_t cap = fr->cap ? fr->cap : 96 * 1024;
	unsigned char *nd;

	if (need <= fr->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > MAXDATA + 4)
		cap = MAXDATA + 4;
	if ((nd = realloc(fr->data, cap)) == NULL)
		return fail(fr, "out of memory");
	fr->data = nd;
	fr->cap = cap;
	return 0;
}

/* Decode a run of base64 characters of the Data string.  Characters after
 * the padding are refused with the same message whether they come in the
 * same piece (the strict bulk decoder refuses them) or in a later one. */
static int
data_run(struct alba_framer *fr, const char *p, size_t n)
{
	size_t bulk, r;

	if (n == 0)
		return 0;
	fr->nb64 += n;
	if (fr->nb64 > ALBA_FRAME_MAXB64)
		return fail(fr, "a frame's Data is over %zu characters of base64 "
		    "(Nomad's frames hold at most 64 KiB)", ALBA_FRAME_MAXB64);
	if (fr->padded)
		return fail(fr, "a frame's Data is not base64");
	if (grow(fr, fr->len + (fr->nquad + n) / 4 * 3 + 3))
		return -1;
	while (fr->nquad && n) {
		fr->quad[fr->nquad++] = *p++;
		n--;
		if (fr->nquad == 4) {
			r = alba_b64_decode(fr->quad, 4, fr->data + fr->len, ALBA_B64_STD);
			if (r == (size_t)-1)
				return fail(fr, "a frame's Data is not base64");
			fr->len += r;
			fr->nquad = 0;
			if (fr->quad[3] == '=') {
				fr->padded = 1;
				if (n)
					return fail(fr, "a frame's Data is not base64");
			}
		}
	}
	bulk = n / 4 * 4;
	if (bulk) {
		r = alba_b64_decode(p, bulk, fr->data + fr->len, ALBA_B64_STD);
		if (r == (size_t)-1)
			return fail(fr, "a frame's Data is not base64");
		fr->len += r;
		if (p[bulk - 1] == '=')
			fr->padded = 1;
	}
	if (n - bulk) {
		if (fr->padded)
			return fail(fr, "a frame's Data is not base64");
		memcpy(fr->quad, p + bulk, n - bulk);
		fr->nquad = (int)(n - bulk);
	}
	return 0;
}

static int
key_of(const char *k, size_t n)
{
	if (n == 6 && memcmp(k, "Offset", 6) == 0)
		return K_OFFSET;
	if (n == 4 && memcmp(k, "Data", 4) == 0)
		return K_DATA;
	if (n == 4 && memcmp(k, "File", 4) == 0)
		return K_FILE;
	if (n == 9 && memcmp(k, "FileEvent", 9) == 0)
		return K_EVENT;
	return K_OTHER;
}

static int
frame_end(struct alba_framer *fr, alba_frame_fn *fn, void *arg)
{
	struct alba_frame f;
	int r;

	fr->file[fr->flen] = 0;
	fr->event[fr->elen] = 0;
	f.offset = fr->has_offset ? fr->offset : -1;
	f.data = fr->len ? fr->data : NULL;
	f.len = fr->len;
	f.file = fr->file;
	f.event = fr->event;
	fr->state = S_TOP;
	r = fn(arg, &f);
	frame_clear(fr);
	return r;
}

int
alba_framer_feed(struct alba_framer *fr, const char *buf, size_t n,
    alba_frame_fn *fn, void *arg)
{
	const char *p = buf, *end = buf + n;
	int r;

	while (p < end) {
		unsigned char c = (unsigned char)*p;

		if (fr->state == S_DATA) {
			const char *q = memchr(p, '"', (size_t)(end - p));
			size_t run = (size_t)((q ? q : end) - p);
			if (data_run(fr, p, run))
				return -1;
			p += run;
			if (q == NULL)
				break;
			p++;
			if (fr->nquad)
				return fail(fr, "a frame's Data is not base64 (its length is not a multiple of 4)");
			fr->state = S_AFTER;
			continue;
		}
		if (fr->state == S_TAIL) {
			size_t k = (size_t)(end - p);
			if (k > sizeof fr->tail - 1 - fr->taillen)
				k = sizeof fr->tail - 1 - fr->taillen;
			memcpy(fr->tail + fr->taillen, p, k);
			fr->taillen += k;
			fr->tail[fr->taillen] = 0;
			return 0;	/* the rest is dropped */
		}
		if (fr->state != S_TOP && ++fr->sub > (int)MAXFRAME)
			return fail(fr, "a frame is over %zu bytes", (size_t)MAXFRAME);
		p++;
		switch (fr->state) {
		case S_TOP:
			if (is_ws(c))
				break;
			if (c == '{') {
				fr->state = S_OBJ;
				fr->hasdata = 1;
				break;
			}
			fr->state = S_TAIL;
			p--;
			break;
		case S_OBJ:
		case S_NEXTKEY:
			if (is_ws(c))
				break;
			if (c == '}' && fr->state == S_OBJ) {
				if ((r = frame_end(fr, fn, arg)))
					return r;
				break;
			}
			if (c != '"')
				return fail(fr, "a frame is not a JSON object (byte 0x%02x where a key should be)", c);
			fr->state = S_KEY;
			fr->keylen = 0;
			break;
		case S_KEY:
			if (c == '"') {
				fr->key = key_of(fr->keybuf, fr->keylen);
				fr->state = S_COLON;
			} else if (c == '\\')
				return fail(fr, "a frame has an escaped key");
			else if (fr->keylen < sizeof fr->keybuf)
				fr->keybuf[fr->keylen++] = (char)c;
			else
				fr->keylen = sizeof fr->keybuf;	/* an unknown key */
			break;
		case S_COLON:
			if (is_ws(c))
				break;
			if (c != ':')
				return fail(fr, "a frame is not a JSON object (no colon after a key)");
			fr->state = S_VALUE;
			break;
		case S_VALUE:
			if (is_ws(c))
				break;
			switch (fr->key) {
			case K_OFFSET:
				if (c == '-')
					return fail(fr, "a frame's Offset is negative");
				if (c < '0' || c > '9')
					return fail(fr, "a frame's Offset is not a number");
				fr->offset = c - '0';
				fr->ndigits = 1;
				fr->has_offset = 1;
				fr->state = S_NUM;
				break;
			case K_DATA:
				if (c != '"')
					return fail(fr, "a frame's Data is not a string");
				if (fr->len || fr->nb64)
					return fail(fr, "a frame has two Data members");
				fr->state = S_DATA;
				break;
			case K_FILE:
			case K_EVENT:
				if (c != '"')
					return fail(fr, "a frame's %s is not a string",
					    fr->key == K_FILE ? "File" : "FileEvent");
				if (fr->key == K_FILE) {
					fr->strp = fr->file;
					fr->strmax = sizeof fr->file - 1;
					fr->strlen_p = &fr->flen;
				} else {
					fr->strp = fr->event;
					fr->strmax = sizeof fr->event - 1;
					fr->strlen_p = &fr->elen;
				}
				*fr->strlen_p = 0;
				fr->esc = 0;
				fr->state = S_STR;
				break;
			default:
				if (c == '"') {
					fr->strp = NULL;
					fr->esc = 0;
					fr->state = S_STR;
				} else if (c == '{' || c == '[')
					return fail(fr, "a frame has a nested value");
				else
					fr->state = S_LIT;
				break;
			}
			break;
		case S_NUM:
			if (c >= '0' && c <= '9') {
				if (++fr->ndigits > 18)
					return fail(fr, "a frame's Offset is too large");
				fr->offset = fr->offset * 10 + (c - '0');
				break;
			}
			if (c == '.' || c == 'e' || c == 'E')
				return fail(fr, "a frame's Offset is not an integer");
			p--;
			fr->state = S_AFTER;
			break;
		case S_STR:
			if (fr->esc)
				fr->esc = 0;
			else if (c == '\\') {
				fr->esc = 1;
				break;
			} else if (c == '"') {
				fr->state = S_AFTER;
				break;
			}
			if (fr->strp) {
				if (*fr->strlen_p >= fr->strmax)
					return fail(fr, "a frame's %s is over %zu bytes",
					    fr->strp == fr->file ? "File" : "FileEvent", fr->strmax);
				fr->strp[(*fr->strlen_p)++] = (char)c;
			}
			break;
		case S_LIT:
			if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || c == '.' || c == '+' || c == '-')
				break;
			p--;
			fr->state = S_AFTER;
			break;
		case S_AFTER:
			if (is_ws(c))
				break;
			if (c == ',') {
				fr->state = S_NEXTKEY;
				break;
			}
			if (c == '}') {
				if ((r = frame_end(fr, fn, arg)))
					return r;
				break;
			}
			return fail(fr, "a frame is not a JSON object (byte 0x%02x after a value)", c);
		default:
			return fail(fr, "internal error: decoder state %d", fr->state);
		}
	}
	return 0;
}

int
alba_framer_end(struct alba_framer *fr)
{
	if (fr->state == S_TAIL) {
		char shown[sizeof fr->tail];
		size_t n = fr->taillen;
		while (n && is_ws((unsigned char)fr->tail[n - 1]))
			n--;
		alba_sanitize(shown, sizeof shown, fr->tail, n);
		return fail(fr, "nomad ended the log stream with an error: %s", shown);
	}
	if (fr->state != S_TOP)
		return fail(fr, "the log stream ended inside a frame (a frame that never ends)");
	return 0;
}
