/* ISC license. */
/*
 * repoconfig.c: the repository configuration in Consul KV: key of a clone
 * URL, GET and PUT of its value, Consul's answers turned into an HTTP
 * status, a stable code word and a message with no secret.  The caller owns
 * what it gets back (strings, jv).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "crypto.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "repoconfig.h"

#define KEY_PREFIX "albatros/"
#define VALUE_MAX ((size_t)4 << 20)	/* Consul keeps values <= 512 KiB */

char *
alba_config_key(const char *repo_url)
{
	size_t n = strlen(repo_url), pl = strlen(KEY_PREFIX);
	char *key = malloc(pl + alba_b64_enclen(n, ALBA_B64_STD) + 1);

	if (key == NULL)
		return NULL;
	memcpy(key, KEY_PREFIX, pl);
	alba_b64_encode(repo_url, n, key + pl, ALBA_B64_STD);
	return key;
}

/* Characters left literal in a URL path (RFC 3986 pchar and '/'): base64's
 * '+', '/' and '=' among them, as the Go client sends them (consul §A7). */
static int
path_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

/* "/v1/kv/<key>[?ns=..][&partition=..]"; NULL on allocation failure. */
static char *
kv_path(const struct alba_service *c, const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	char *ns = NULL, *part = NULL, *out = NULL, *p;
	size_t n;

	if (c->namespace && (ns = alba_urlencode(c->namespace)) == NULL)
		goto done;
	if (c->partition && (part = alba_urlencode(c->partition)) == NULL)
		goto done;
	n = strlen("/v1/kv/") + strlen(key) * 3 + (ns ? strlen(ns) + 4 : 0) +
	    (part ? strlen(part) + 11 : 0) + 1;
	if ((out = malloc(n)) == NULL)
		goto done;
	p = out + sprintf(out, "/v1/kv/");
	for (; *key; key++) {
		unsigned char ch = (unsigned char)*key;
		if (path_char(ch))
			*p++ = (char)ch;
		else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = 0;
	if (ns)
		p += sprintf(p, "?ns=%s", ns);
	if (part)
		sprintf(p, "%cpartition=%s", ns ? '&' : '?', part);
done:
	free(ns);
	free(part);
	return out;
}

static int
fail(const char **code, const char *word, char *err, size_t errlen, int status,
    const char *fmt, ...) ALBA_PRINTF(6, 7);

static int
fail(const char **code, const char *word, char *err, size_t errlen, int status,
    const char *fmt, ...)
{
	va_list ap;

	if (code)
		*code = word;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

static int
invalid_key(const struct alba_response *r)
{
	return r->status == 500 && r->body && strstr(r->body, "invalid key name") != NULL;
}

/* Map an answer other than the expected one (or no answer: rc) to a status,
 * a code word and a message.  what: "read" or "write". */
static int
refusal(const struct alba_service *c, int rc, const struct alba_response *r,
    const char *what, const char *key, const char **code, char *err, size_t errlen)
{
	char text[240];

	if (rc)
		return fail(code, "consul_unreachable", err, errlen,
		    rc == ALBA_TEMP ? 503 : 502, "%s", r->error);
	alba_response_line(r, text, sizeof text, "(no text)");
	if (r->status >= 300 && r->status < 400)
		return fail(code, "consul_refused", err, errlen, 502,
		    "consul at %s answered %ld (a redirect) for the key %s: "
		    "the key cannot be addressed", c->shown, r->status, key);
	if (r->status == 403)
		return fail(code, "consul_refused", err, errlen, 502,
		    "consul at %s refused to %s the key %s: permission denied "
		    "(%s): check CONSUL_HTTP_TOKEN", c->shown, what, key, text);
	if (invalid_key(r))
		return fail(code, "consul_refused", err, errlen, 502,
		    "consul at %s refused the key %s as an invalid key name: "
		    "Consul 1.21.5 rejects '+' in keys, upgrade it to 1.21.6 or "
		    "later (%s)", c->shown, key, text);
	if (r->status == 413)
		return fail(code, "consul_refused", err, errlen, 502,
		    "consul at %s refused the value of %s as too large: %s",
		    c->shown, key, text);
	if (r->status >= 500)
		return fail(code, "consul_unreachable", err, errlen, 503,
		    "consul at %s answered %ld for the key %s: %s", c->shown,
		    r->status, key, text);
	return fail(code, "consul_refused", err, errlen, 502,
	    "consul at %s answered %ld for the key %s: %s", c->shown, r->status,
	    key, text);
}

/* The repository URL as messages show it. */
static void
show_url(char *out, size_t n, const char *url)
{
	alba_sanitize(out, n, url, strlen(url));
}

/* Send rq; a 500 that is not a refused key is retried twice for a GET
 * (Consul answers 500 while it has no leader); alba_http() itself retries
 * transport failures, 429, 502, 503 and 504. */
static int
kv_send(const struct alba_service *c, const struct alba_request *rq,
    struct alba_response *r)
{
	int rc, i;

	for (i = 0;; i++) {
		rc = alba_http(c, rq, r);
		if (rc || r->status != 500 || invalid_key(r) || i == 2 ||
		    strcmp(rq->method, "GET"))
			return rc;
		long ms = 200L << i;
		alba_warn("consul at %s answered 500, retrying in %ld ms", c->shown, ms);
		alba_sleep_ms(ms);
		alba_response_free(r);
	}
}

jv
alba_config_decode(const char *body, size_t len, const char *key)
{
	jv arr = jv_parse_sized(body ? body : "", (int)len), ent = jv_invalid(), v;
	int i, n;
	unsigned char *buf;
	size_t vlen;

	if (jv_get_kind(arr) != JV_KIND_ARRAY) {
		jv_free(arr);
		return jv_invalid_with_msg(jv_string("consul's answer is not a JSON array"));
	}
	n = jv_array_length(jv_copy(arr));
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(arr), i);
		jv k = alba_get(jv_copy(e), "Key");
		int same = alba_str(k) && strcmp(alba_str(k), key) == 0;
		jv_free(k);
		if (same) {
			ent = e;
			break;
		}
		jv_free(e);
	}
	jv_free(arr);
	if (!jv_is_valid(ent))
		return jv_invalid_with_msg(jv_string("consul's answer has no entry for the key"));
	v = alba_get(ent, "Value");
	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return jv_invalid_with_msg(jv_string("the value is empty"));
	}
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return jv_invalid_with_msg(jv_string("consul's Value is not a string"));
	}
	vlen = (size_t)jv_string_length_bytes(jv_copy(v));
	if ((buf = malloc(vlen / 4 * 3 + 3)) == NULL) {
		jv_free(v);
		return jv_invalid_with_msg(jv_string("out of memory"));
	}
	vlen = alba_b64_decode(jv_string_value(v), vlen, buf, ALBA_B64_STD);
	jv_free(v);
	if (vlen == (size_t)-1) {
		free(buf);
		return jv_invalid_with_msg(jv_string("consul's Value is not base64"));
	}
	v = alba_doc_parse((const char *)buf, vlen);
	free(buf);
	return v;
}

/* The key of repo_url and its KV path (both to free, NULL on failure), and
 * the URL as messages show it in url (size n); 0, or the failure. */
static int
locate(const struct alba_service *consul, const char *repo_url, char **key,
    char **path, char *url, size_t n, const char **code, char *err, size_t errlen)
{
	*path = NULL;
	if ((*key = alba_config_key(repo_url)) == NULL ||
	    (*path = kv_path(consul, *key)) == NULL)
		return fail(code, "consul_unreachable", err, errlen, 503, "out of memory");
	show_url(url, n, repo_url);
	if (strstr(*key, "//"))
		return fail(code, "consul_refused", err, errlen, 502,
		    "the key %s of %s holds '//', which Consul cannot address",
		    *key, url);
	return 0;
}

int
alba_config_fetch_code(const struct alba_service *consul, const char *repo_url,
    jv *config, const char **code, char *err, size_t errlen)
{
	struct alba_request rq;
	struct alba_response r;
	char *key, *path, url[200];
	int rc, st;

	*config = jv_invalid();
	if ((st = locate(consul, repo_url, &key, &path, url, sizeof url, code, err, errlen)))
		goto done;
	memset(&rq, 0, sizeof rq);
	rq.method = "GET";
	rq.path = path;
	rq.max = VALUE_MAX;
	rc = kv_send(consul, &rq, &r);
	if (rc == 0 && r.status == 404)
		st = fail(code, "not_registered", err, errlen, 404,
		    "repository %s is not registered: no key %s in Consul KV",
		    url, key);
	else if (rc || r.status != 200)
		st = refusal(consul, rc, &r, "read", key, code, err, errlen);
	else {
		jv cfg = alba_config_decode(r.body, r.len, key);
		if (!jv_is_valid(cfg)) {
			jv msg = jv_invalid_get_msg(cfg);
			st = fail(code, "bad_config", err, errlen, 502,
			    "the configuration at %s is not a JSON object: %s", key,
			    alba_str(msg) ? alba_str(msg) : "no value");
			jv_free(msg);
		} else
			*config = jv_object_set(cfg, jv_string("consul_key"), jv_string(key));
	}
	alba_response_free(&r);
done:
	free(path);
	free(key);
	return st;
}

int
alba_config_fetch(const struct alba_service *consul, const char *repo_url,
    jv *config, char *err, size_t errlen)
{
	return alba_config_fetch_code(consul, repo_url, config, NULL, err, errlen);
}

int
alba_config_store(const struct alba_service *consul, const char *repo_url,
    const char *value, size_t len, const char **code, char *err, size_t errlen)
{
	struct alba_request rq;
	struct alba_response r;
	char *key, *path, url[200];
	int rc, st;

	if ((st = locate(consul, repo_url, &key, &path, url, sizeof url, code, err, errlen)))
		goto done;
	memset(&rq, 0, sizeof rq);
	rq.method = "PUT";
	rq.path = path;
	rq.body = value;
	rq.bodylen = len;
	rc = kv_send(consul, &rq, &r);
	if (rc || r.status != 200)
		st = refusal(consul, rc, &r, "write", key, code, err, errlen);
	else if (r.body == NULL || strncmp(r.body, "true", 4))
		st = fail(code, "consul_refused", err, errlen, 502,
		    "consul at %s did not store the key %s", consul->shown, key);
	alba_response_free(&r);
done:
	free(path);
	free(key);
	return st;
}

const char *
alba_config_namespace(jv config)
{
	jv ns = alba_nonempty(config, "namespace");
	const char *s = alba_str(ns);

	/* The string is config's own: alba_get returned a copy of the same
	 * refcounted value, which config keeps alive. */
	jv_free(ns);
	return s ? s : "ci";
}

int
alba_config_is_builder(jv config, const char *parent)
{
	jv b = alba_nonempty(config, "builder"), fl;
	int ok = strcmp(alba_str(b) ? alba_str(b) : "builder", parent) == 0;

	jv_free(b);
	fl = alba_get(jv_copy(config), "flavors");
	if (!ok && jv_get_kind(fl) == JV_KIND_OBJECT) {
		jv_object_foreach(fl, k, v) {
			if (alba_str(v) && strcmp(alba_str(v), parent) == 0)
				ok = 1;
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(fl);
	return ok;
}
