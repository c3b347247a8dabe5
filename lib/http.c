/* ISC license. */
/*
 * http.c: requests on libcurl: HTTP/1.1, User-Agent albatros/<version>,
 * connect and total timeouts, bounded bodies, retries with backoff for GET
 * only, and every failure classified temporary or permanent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alba.h"
#include "http.h"

#define DEFAULT_MAX ((size_t)8 << 20)

static int curl_ready;

static void
init(void)
{
	if (!curl_ready) {
		srand((unsigned)time(NULL) ^ (unsigned)getpid());
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			alba_die(ALBA_TEMP, "unable to initialise libcurl");
		curl_ready = 1;
		atexit(curl_global_cleanup);
	}
}

struct sink {
	struct alba_response *resp;
	const struct alba_service *svc;
	size_t max;
	int over;
	alba_chunk_fn *fn;	/* streams: 2xx bodies go here */
	void *arg;
	int stopped;
};

static int
append(struct sink *s, const char *data, size_t n)
{
	struct alba_response *r = s->resp;

	if (r->len + n > s->max) {
		s->over = 1;
		return -1;
	}
	char *nb = realloc(r->body, r->len + n + 1);
	if (nb == NULL)
		return -1;
	memcpy(nb + r->len, data, n);
	r->len += n;
	nb[r->len] = 0;
	r->body = nb;
	return 0;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sink *s = userp;
	size_t n = size * nmemb;

	if (s->fn && s->resp->status >= 200 && s->resp->status < 300) {
		if (s->fn(s->arg, data, n)) {
			s->stopped = 1;
			return 0;	/* aborts the transfer */
		}
		return n;
	}
	return append(s, data, n) ? 0 : n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sink *s = userp;
	size_t n = size * nmemb, hl;

	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue or a retry): forget headers. */
		s->resp->index = 0;
		const char *sp = memchr(data, ' ', n);
		s->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (s->svc->index_header && n > (hl = strlen(s->svc->index_header)) &&
	    data[hl] == ':' && strncasecmp(data, s->svc->index_header, hl) == 0)
		s->resp->index = strtoull(data + hl + 1, NULL, 10);
	return n;
}

/* Build the header list; NULL on allocation failure. */
static struct curl_slist *
headers(const struct alba_service *svc, const struct alba_request *req)
{
	struct curl_slist *h = NULL, *t;
	const char *const *x;
	char ct[128];

#define ADD(s) do { if ((t = curl_slist_append(h, (s))) == NULL) goto oom; h = t; } while (0)
	ADD("Expect:");
	if (svc->token_header)
		ADD(svc->token_header);
	if (req->body) {
		snprintf(ct, sizeof ct, "Content-Type: %s",
		    req->content_type ? req->content_type : "application/json");
		ADD(ct);
	}
	for (x = req->headers; x && *x; x++)
		ADD(*x);
	return h;
oom:
	curl_slist_free_all(h);
	return NULL;
#undef ADD
}

CURL *
alba_http_easy(const struct alba_service *svc, const struct alba_request *req,
    struct curl_slist **hdrs)
{
	CURL *c;
	char *url;
	size_t ulen;

	init();
	*hdrs = NULL;
	if ((c = curl_easy_init()) == NULL)
		return NULL;
	ulen = strlen(svc->base) + strlen(req->path) + 1;
	if ((url = malloc(ulen)) == NULL)
		goto fail;
	snprintf(url, ulen, "%s%s", svc->base, req->path);
	curl_easy_setopt(c, CURLOPT_URL, url);	/* libcurl copies strings */
	free(url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "albatros/" ALBA_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_ms ? req->connect_ms : 5000L);
	if (req->timeout_ms)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	if (req->idle_ms) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (req->idle_ms + 999) / 1000);
	}
	if (svc->unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, svc->unix_path);
	if (svc->connect_list)
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, svc->connect_list);
	if (svc->basic) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, svc->basic);
	}
	if (svc->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, svc->cacert);
	if (svc->capath)
		curl_easy_setopt(c, CURLOPT_CAPATH, svc->capath);
	if (svc->cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, svc->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, svc->key);
	}
	if (svc->skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if ((*hdrs = headers(svc, req)) == NULL)
		goto fail;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body || strcmp(req->method, "DELETE")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(req->body ? req->bodylen : 0));
		}
	}
	return c;
fail:
	curl_slist_free_all(*hdrs);
	*hdrs = NULL;
	curl_easy_cleanup(c);
	return NULL;
}

/* ALBA_TEMP or ALBA_PERM for a libcurl failure. */
static int
classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_NOT_BUILT_IN:
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_TOO_MANY_REDIRECTS:
		return ALBA_PERM;
	default:
		return ALBA_TEMP;
	}
}

static int
transfer(const struct alba_service *svc, const struct alba_request *req,
    struct sink *s)
{
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	CURL *c = alba_http_easy(svc, req, &hdrs);
	struct alba_response *r = s->resp;

	if (c == NULL) {
		snprintf(r->error, sizeof r->error, "out of memory");
		return ALBA_TEMP;
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_OK || s->stopped)
		return 0;
	if (s->over) {
		snprintf(r->error, sizeof r->error, "the answer of %s at %s is over %zu bytes",
		    svc->name, svc->shown, s->max);
		return ALBA_PERM;
	}
	snprintf(r->error, sizeof r->error, "unable to reach %s at %s: %s", svc->name,
	    svc->shown, *errbuf ? errbuf : curl_easy_strerror(rc));
	return classify(rc);
}

long
alba_service_timeout_ms(void)
{
	const char *v = getenv("ALBA_SERVICE_TIMEOUT");
	long ms;

	if (v && *v) {
		if (alba_scan_ms(v, &ms) == 0 && ms > 0)
			return ms;
		alba_warn("ALBA_SERVICE_TIMEOUT is not a positive number of seconds, ignored");
	}
	return 30000;
}

static void
reset(struct alba_response *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

int
alba_http(const struct alba_service *svc, const struct alba_request *req,
    struct alba_response *resp)
{
	struct alba_request rq = *req;
	int attempts = 1, i, rc = 0;

	if (strcmp(req->method, "GET") == 0)
		attempts += req->retries < 0 ? 0 : req->retries ? req->retries : 2;
	if (rq.timeout_ms == 0)
		rq.timeout_ms = alba_service_timeout_ms();
	memset(resp, 0, sizeof *resp);
	for (i = 0; i < attempts; i++) {
		struct sink s = { resp, svc, req->max ? req->max : DEFAULT_MAX, 0, NULL, NULL, 0 };
		if (i > 0) {
			/* 200 ms, 400 ms, 800 ms, ... plus up to 100 ms of jitter. */
			long ms = (200L << (i - 1)) + rand() % 100;
			if (rc)
				alba_warn("%s, retrying in %ld ms", resp->error, ms);
			else
				alba_warn("%s at %s answered %ld, retrying in %ld ms",
				    svc->name, svc->shown, resp->status, ms);
			alba_sleep_ms(ms);
			reset(resp);
		}
		rc = transfer(svc, &rq, &s);
		if (rc == ALBA_PERM)
			return rc;
		if (rc == 0 && resp->status != 429 && resp->status != 502 &&
		    resp->status != 503 && resp->status != 504)
			return 0;
	}
	return rc;
}

int
alba_http_stream(const struct alba_service *svc, const struct alba_request *req,
    alba_chunk_fn *fn, void *arg, struct alba_response *resp)
{
	struct sink s = { resp, svc, req->max ? req->max : DEFAULT_MAX, 0, fn, arg, 0 };

	memset(resp, 0, sizeof *resp);
	return transfer(svc, req, &s);
}

void
alba_response_free(struct alba_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

const char *
alba_response_line(const struct alba_response *resp, char *out, size_t n,
    const char *none)
{
	size_t len = 0;

	if (resp->body)
		while (len < resp->len && resp->body[len] != '\n' && resp->body[len] != '\r')
			len++;
	if (len == 0)
		snprintf(out, n, "%s", none);
	else
		alba_sanitize(out, n, resp->body, len);
	return out;
}
