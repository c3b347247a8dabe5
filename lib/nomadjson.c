/* ISC license. */
/*
 * nomadjson.c: a Nomad call answering JSON, its errors as HTTP statuses
 * with a message that is safe to show.  The caller owns the jv it gets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "http.h"
#include "nomadjson.h"

int
alba_nomad_json(const struct alba_service *nomad, const char *method,
    const char *path, const char *body, long timeout_ms, jv *out,
    unsigned long long *index, char *err, size_t errlen)
{
	struct alba_request rq = { 0 };
	struct alba_response resp;
	char txt[200];
	int rc;

	if (out)
		*out = jv_invalid();
	rq.method = method;
	rq.path = path;
	rq.body = body;
	rq.bodylen = body ? strlen(body) : 0;
	rq.timeout_ms = timeout_ms;
	rq.max = (size_t)64 << 20;
	rc = alba_http(nomad, &rq, &resp);
	if (rc) {
		snprintf(err, errlen, "%s", resp.error);
		alba_response_free(&resp);
		return strstr(resp.error, "imed out") ? 504 : 503;
	}
	if (resp.status < 200 || resp.status > 299) {
		alba_response_line(&resp, txt, sizeof txt, "");
		snprintf(err, errlen, "nomad at %s answered %ld to %s %.*s%s%s", nomad->shown,
		    resp.status, method, (int)strcspn(path, "?"), path, *txt ? ": " : "", txt);
		rc = (int)resp.status;
		alba_response_free(&resp);
		return rc ? rc : 502;
	}
	if (index)
		*index = resp.index;
	if (out) {
		*out = jv_parse_sized(resp.body ? resp.body : "", (int)resp.len);
		if (!jv_is_valid(*out)) {
			jv_free(*out);
			*out = jv_invalid();
			snprintf(err, errlen, "nomad at %s answered %s %.*s with something that "
			    "is not JSON", nomad->shown, method, (int)strcspn(path, "?"), path);
			alba_response_free(&resp);
			return 502;
		}
	}
	alba_response_free(&resp);
	return 0;
}

char *
alba_bexpr_quote(const char *s)
{
	size_t n = strlen(s);
	char *q = malloc(2 * n + 3), *p = q;

	if (q == NULL)
		return NULL;
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	*p = 0;
	return q;
}
