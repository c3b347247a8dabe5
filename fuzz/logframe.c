/* ISC license. */
/*
 * fuzz/logframe.c: the log-frame decoder (lib/logframe.c) on arbitrary
 * streams, fed twice: whole, then in small pieces whose sizes the first
 * byte picks (1 to 16 bytes, cycling).  Both ways must give the same
 * frames (offset, file, event, data), the same answer from feed and end,
 * and the same error text: a frame is decoded the same wherever the
 * network cut the bytes.  Input: the piece byte, then the stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "logframe.h"

struct seen {
	char *buf;		/* each frame, serialised */
	size_t len, cap;
};

static void
put(struct seen *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		if ((s->buf = realloc(s->buf, s->cap)) == NULL)
			abort();
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static int
on_frame(void *arg, const struct alba_frame *f)
{
	struct seen *s = arg;
	char head[64];

	if ((f->data == NULL) != (f->len == 0))
		abort();
	put(s, head, (size_t)snprintf(head, sizeof head, "%lld %zu ", f->offset, f->len));
	put(s, f->file, strlen(f->file) + 1);
	put(s, f->event, strlen(f->event) + 1);
	if (f->len)
		put(s, f->data, f->len);
	return 0;
}

/* Decode the n bytes of p in pieces of step(i) bytes; the frames go to s,
 * the error text to err.  Returns feed's first non-zero answer, else end's
 * answer times 2. */
static int
decode(struct alba_framer *fr, const char *p, size_t n, unsigned pick,
    struct seen *s, char *err, size_t errlen)
{
	size_t off = 0, i = 0;
	int r = 0;

	alba_framer_reset(fr);
	while (off < n && r == 0) {
		size_t k = pick ? 1 + (i++ % pick) : n;
		if (k > n - off)
			k = n - off;
		r = alba_framer_feed(fr, p + off, k, on_frame, s);
		off += k;
	}
	if (r == 0)
		r = 2 * alba_framer_end(fr);
	snprintf(err, errlen, "%s", fr->error);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct alba_framer fr;
	static int ready;
	struct seen whole = { 0 }, bits = { 0 };
	char e1[sizeof fr.error], e2[sizeof fr.error];
	int r1, r2;

	if (size < 1)
		return 0;
	if (!ready) {
		alba_framer_init(&fr);
		ready = 1;
	}
	r1 = decode(&fr, (const char *)data + 1, size - 1, 0, &whole, e1, sizeof e1);
	r2 = decode(&fr, (const char *)data + 1, size - 1, 1 + data[0] % 16, &bits, e2,
	    sizeof e2);
	if (r1 != r2 || whole.len != bits.len || (whole.len &&
	    memcmp(whole.buf, bits.buf, whole.len)) || strcmp(e1, e2))
		abort();
	free(whole.buf);
	free(bits.buf);
	return 0;
}
