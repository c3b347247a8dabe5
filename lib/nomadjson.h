/* ISC license. */
/*
 * nomadjson.h: one Nomad API call whose answer is JSON, with its index
 * (X-Nomad-Index) and Nomad's text error made safe to show.  The jv
 * returned is the caller's.
 */
#ifndef ALBA_NOMADJSON_H
#define ALBA_NOMADJSON_H

#include <stddef.h>

#include <jv.h>

struct alba_service;

/*
 * method path (with its query) on Nomad; body may be NULL.  Returns 0 with
 * *out (the parsed answer; may be NULL if not wanted) and *index (may be
 * NULL) on 2xx.  Otherwise the answer's HTTP status (404, 400, 500, ...)
 * or 503 when Nomad cannot be reached, 504 when it timed out, 502 when
 * the answer is not JSON, with err set.  timeout_ms 0: the service bound
 * (alba_service_timeout_ms()).  GET is retried by lib/http.c on transport
 * failures, 502, 503 and 504.
 */
int alba_nomad_json(const struct alba_service *nomad, const char *method,
    const char *path, const char *body, long timeout_ms, jv *out,
    unsigned long long *index, char *err, size_t errlen);

/* A bexpr string literal for s ("..." with \ and " escaped) in a fresh
 * string (not URL-encoded); NULL on allocation failure. */
char *alba_bexpr_quote(const char *s);

#endif
