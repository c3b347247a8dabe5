/* ISC license. */
/*
 * fuzz/eventstream.c: the reader of Nomad's event stream (lib/ndjson.c,
 * as alba-status -W feeds it), on arbitrary streams fed twice: whole, then
 * in pieces whose sizes the first byte picks (1 to 16 bytes, cycling),
 * with a bound of 4 KiB a line so that dropping one is in reach.  Both
 * ways must queue the same batches and drop the same lines.  Input: the
 * piece byte, then the stream.
 */
#include <stdlib.h>

#include <jv.h>

#include "fuzz.h"
#include "ndjson.h"

/* The batches queued from the n bytes of p, in pieces of 1 + i % pick
 * bytes (pick 0: one piece); *dropped counts the lines dropped. */
static jv
read_stream(const char *p, size_t n, unsigned pick, size_t *dropped)
{
	struct alba_ndjson s;
	jv q = jv_array();
	size_t off = 0, i = 0;

	alba_ndjson_init(&s, 4096);
	*dropped = 0;
	while (off < n) {
		size_t k = pick ? 1 + (i++ % pick) : n;
		if (k > n - off)
			k = n - off;
		q = alba_ndjson_feed(&s, p + off, k, q);
		*dropped += s.dropped;
		off += k;
	}
	alba_ndjson_free(&s);
	return q;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t d1, d2;
	jv whole, bits;
	int i, n;

	if (size < 1)
		return 0;
	whole = read_stream((const char *)data + 1, size - 1, 0, &d1);
	bits = read_stream((const char *)data + 1, size - 1, 1 + data[0] % 16, &d2);
	n = jv_array_length(jv_copy(whole));
	for (i = 0; i < n; i++) {
		jv b = jv_array_get(jv_copy(whole), i);
		if (jv_get_kind(b) != JV_KIND_OBJECT)
			abort();	/* only objects are queued */
		jv_free(b);
	}
	if (d1 != d2 || !jv_equal(whole, bits))
		abort();
	return 0;
}
