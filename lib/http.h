/* ISC license. */
/*
 * http.h: the HTTP client on libcurl.  A service says where and how to reach
 * Nomad, Consul or a forge (address, token, TLS); a request is sent with
 * alba_http() (whole answer in memory, bounded) or alba_http_stream() (a
 * callback per chunk).  Transport failures are classified: ALBA_TEMP (111)
 * for what may pass (refused, reset, timed out), ALBA_PERM (100) for what
 * will not (bad URL, TLS files, certificate).  The service owns its strings;
 * a response owns its body until alba_response_free().
 */
#ifndef ALBA_HTTP_H
#define ALBA_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

struct alba_service {
	const char *name;	/* "nomad", "consul", "gitea": for messages */
	char *base;		/* scheme://host[:port][/prefix], no trailing slash */
	char *shown;		/* the address as messages show it */
	char *unix_path;	/* unix socket, or NULL */
	struct curl_slist *connect_list; /* CURLOPT_CONNECT_TO, for a TLS server name */
	char *token_header;	/* "X-Nomad-Token: s3cr3t", or NULL */
	char *basic;		/* user:password for Basic auth, or NULL */
	char *cacert, *capath, *cert, *key;
	int skip_verify;
	char *namespace;	/* NOMAD_NAMESPACE, CONSUL_NAMESPACE, or NULL */
	char *region;		/* NOMAD_REGION, or NULL */
	char *partition;	/* CONSUL_PARTITION, or NULL */
	const char *index_header; /* "x-nomad-index", "x-consul-index" */
};

struct alba_request {
	const char *method;	/* GET, PUT, POST, DELETE */
	const char *path;	/* appended to base: "/v1/kv/albatros/..." */
	const char *body;	/* or NULL */
	size_t bodylen;
	const char *content_type; /* default application/json with a body */
	const char *const *headers; /* extra "Name: value" lines, NULL-ended */
	long timeout_ms;	/* whole transfer; 0: alba_service_timeout_ms(),
				 * or none for streams */
	long connect_ms;	/* 0: 5 s */
	long idle_ms;		/* streams: give up after this long without a byte */
	size_t max;		/* cap of a response body in memory; 0: 8 MiB */
	int retries;		/* extra attempts for GET; -1: none; 0: default 2 */
};

struct alba_response {
	long status;		/* 0 when no response came */
	char *body;		/* NUL-terminated; error bodies of streams too */
	size_t len;
	unsigned long long index; /* from the service's index header, or 0 */
	char error[512];	/* what went wrong when no response came */
};

/* Chunk callback for streams: return 0 to go on, non-zero to stop. */
typedef int alba_chunk_fn(void *arg, const char *data, size_t len);

/* From NOMAD_ADDR, NOMAD_TOKEN, ... (api/nomad.md §8).  0, or ALBA_PERM
 * with a message in err (size errlen) for a contradictory environment. */
int alba_service_nomad(struct alba_service *svc, char *err, size_t errlen);
/* From CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN(_FILE), ... (consul §A6). */
int alba_service_consul(struct alba_service *svc, char *err, size_t errlen);
/* A forge: base URL and the full Authorization header value. */
int alba_service_forge(struct alba_service *svc, const char *name,
    const char *url, const char *authorization, char *err, size_t errlen);
void alba_service_free(struct alba_service *svc);

/* The bound of one request when the caller gives none:
 * $ALBA_SERVICE_TIMEOUT seconds (a fraction allowed), else 30 s. */
long alba_service_timeout_ms(void);

/* Send req, read the whole answer (at most req->max bytes).  Returns 0 when
 * a response came (any status), else ALBA_TEMP or ALBA_PERM with
 * resp->error set.  GET is retried with backoff on transport failures and
 * on 429, 502, 503 and 504; nothing else is retried. */
int alba_http(const struct alba_service *svc, const struct alba_request *req,
    struct alba_response *resp);
/* As alba_http, but a 2xx body goes to fn chunk by chunk as it arrives
 * (error bodies are kept in resp->body).  A stop asked by fn returns 0.
 * No retry: the caller knows where to resume. */
int alba_http_stream(const struct alba_service *svc,
    const struct alba_request *req, alba_chunk_fn *fn, void *arg,
    struct alba_response *resp);
/* A configured easy handle for callers that drive curl_multi themselves
 * (the log follower).  *hdrs must be freed with curl_slist_free_all after
 * the transfer.  NULL if libcurl cannot allocate. */
CURL *alba_http_easy(const struct alba_service *svc,
    const struct alba_request *req, struct curl_slist **hdrs);
void alba_response_free(struct alba_response *resp);
/* The first line of resp's body (up to CR or LF), sanitised for a message
 * (alba_sanitize), into out (size n); none when there is no such text.
 * Returns out.  Borrows resp. */
const char *alba_response_line(const struct alba_response *resp, char *out,
    size_t n, const char *none);

/* Percent-encode s (for a path segment or a query value) into a fresh
 * string; NULL on allocation failure.  Unreserved characters stay. */
char *alba_urlencode(const char *s);

#endif
