/* ISC license. */
/*
 * ndjson.c: newline-delimited JSON, line by line as bytes arrive
 * (ndjson.h).  A line is kept until its newline, then parsed by libjq.
 */
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

void
alba_ndjson_init(struct alba_ndjson *s, size_t max)
{
	memset(s, 0, sizeof *s);
	s->max = max;
}

void
alba_ndjson_reset(struct alba_ndjson *s)
{
	s->len = 0;
	s->overflow = 0;
}

void
alba_ndjson_free(struct alba_ndjson *s)
{
	free(s->line);
	s->line = NULL;
	s->len = s->cap = 0;
}

jv
alba_ndjson_feed(struct alba_ndjson *s, const char *buf, size_t n, jv queue)
{
	size_t i;

	s->dropped = 0;
	for (i = 0; i < n; i++) {
		char c = buf[i];
		if (c != '\n') {
			if (s->overflow)
				continue;
			if (s->len + 1 >= s->cap) {
				size_t nc = s->cap ? s->cap * 2 : s->max < 65536 ? s->max : 65536;
				char *nl;
				if (nc > s->max || (nl = realloc(s->line, nc)) == NULL) {
					s->overflow = 1;
					continue;
				}
				s->line = nl;
				s->cap = nc;
			}
			s->line[s->len++] = c;
			continue;
		}
		if (s->overflow)
			s->dropped++;
		else if (s->len > 0) {
			jv v = jv_parse_sized(s->line, (int)s->len);
			if (jv_get_kind(v) == JV_KIND_OBJECT)
				queue = jv_array_append(queue, v);
			else
				jv_free(v);
		}
		s->len = 0;
		s->overflow = 0;
	}
	return queue;
}
