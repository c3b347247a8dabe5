/* ISC license. */
/*
 * ndjson.h: newline-delimited JSON read as it arrives, the framing of
 * Nomad's event stream (api/nomad.md §6): bytes go in pieces of any size;
 * each complete line that is a JSON object is appended to a queue, other
 * lines (empty, not JSON, not an object) are dropped silently, and a line
 * that reaches the bound is dropped whole and counted.  The reader owns its
 * buffer; the queue follows jq's ownership rule.
 */
#ifndef ALBA_NDJSON_H
#define ALBA_NDJSON_H

#include <stddef.h>

#include <jv.h>

struct alba_ndjson {
	char *line;		/* the line being read */
	size_t len, cap, max;
	int overflow;		/* the line being read reached max: skip it */
	size_t dropped;		/* lines dropped by the last feed for their size */
};

/* An empty reader; a line of max bytes or more is dropped (max: a power
 * of two). */
void alba_ndjson_init(struct alba_ndjson *s, size_t max);
/* Forget a partial line (a new connection); keeps the buffer. */
void alba_ndjson_reset(struct alba_ndjson *s);
void alba_ndjson_free(struct alba_ndjson *s);
/* Feed n bytes: returns queue (consumed) with the objects of the lines
 * they complete appended, and sets s->dropped. */
jv alba_ndjson_feed(struct alba_ndjson *s, const char *buf, size_t n, jv queue);

#endif
