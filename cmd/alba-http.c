/* ISC license. */
/*
 * alba-http: the HTTP edge.  Reads one HTTP/1.1 request on stdin into the
 * document's `request` member; with -R, turns the final document (or, with
 * -s, a stream of log records) into the HTTP response on stdout.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alba.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "request.h"
#include "response.h"

static const char usage_str[] =
    "usage: alba-http [-a 'method path [html]'] [-b maxbody] [-o fd] [-t timeout]\n"
    "       alba-http -R [-ls] [-f file] [-j member] [-m maxbytes] [-p member] [-T type]\n"
    "                [-w timeout]";

/* ---- request mode */

static int
is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static const char *
peer(void)
{
	static const char *const vars[] = { "TCPREMOTEIP", "SOCAT_PEERADDR", "REMOTE_ADDR" };
	size_t i;

	for (i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return v;
	}
	return "";
}

/* 1 if the request's Accept header names text/html (not with q=0): a
 * browser navigating, not curl nor fetch().  Borrows req. */
static int
wants_html(jv req)
{
	char accept[2048];
	const char *p, *end;

	if (!alba_getstr(req, "headers.accept", accept, sizeof accept) ||
	    (p = strstr(accept, "text/html")) == NULL)
		return 0;
	end = p + strcspn(p, ",");
	for (p += 9; p < end; p++)
		if (*p == 'q' && p[1] == '=' && strspn(p + 2, "0.") == (size_t)(end - p - 2))
			return 0;
	/* ?plain=true: the text itself, as Nomad's logs API says it. */
	return !alba_getstr(req, "query.plain", accept, sizeof accept) ||
	    strcmp(accept, "true") != 0;
}

/* The path of route r ("GET /build html"), in buf. */
static const char *
route_path(const char *r, char *buf, size_t n)
{
	const char *sp = strchr(r, ' ');

	snprintf(buf, n, "%.*s", sp ? (int)strcspn(sp + 1, " ") : 0, sp ? sp + 1 : "");
	return buf;
}

/* "METHOD PATH JOB", then " html" when the route negotiates and the client
 * is a browser, for scripts/alba-serve to route on: shell-safe, or "- -".
 * JOB is the query's job as an access-log field ("-" if none), for the log
 * line of a streamed answer (its records carry no request). */
static void
route(int fd, jv req, int ok, int html)
{
	char line[1700], job[520];
	jv mv = jv_object_get(jv_copy(req), jv_string("method"));
	jv pv = jv_object_get(jv_copy(req), jv_string("path"));
	jv jq = alba_get(jv_copy(req), "query.job");
	const char *method = alba_str(mv), *path = alba_str(pv);

	if (!ok || method == NULL || path == NULL || strlen(path) > 1024 ||
	    strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/._~-") != strlen(path))
		snprintf(line, sizeof line, "%s ?\n", ok && method ? method : "-");
	else {
		snprintf(job, sizeof job, "-");
		if (alba_str(jq) && *alba_str(jq))
			alba_log_field(job, sizeof job, alba_str(jq),
			    (size_t)jv_string_length_bytes(jv_copy(jq)));
		snprintf(line, sizeof line, "%s %s %s%s\n", method, path, job,
		    html && wants_html(req) ? " html" : "");
	}
	jv_free(mv);
	jv_free(pv);
	jv_free(jq);
	(void)!write(fd, line, strlen(line));
}

#define MAXROUTES 16

/* With -a routes: 404 for another path, 405 for another method.  Borrows
 * req.  0 or the status, with the message in msg; *html is set when the
 * route matched says "html". */
static int
check_route(jv req, char *const *routes, int nroutes, char *msg, size_t n, int *html)
{
	char method[16], path[1024], rp[1024];
	int i, path_known = 0;

	if (nroutes == 0)
		return 0;
	if (!alba_getstr(req, "method", method, sizeof method) ||
	    !alba_getstr(req, "path", path, sizeof path))
		return snprintf(msg, n, "not found"), 404;
	for (i = 0; i < nroutes; i++) {
		const char *sp = strchr(routes[i], ' ');
		if (sp == NULL || strcmp(route_path(routes[i], rp, sizeof rp), path) != 0)
			continue;
		path_known = 1;
		if ((size_t)(sp - routes[i]) == strlen(method) &&
		    strncmp(routes[i], method, strlen(method)) == 0) {
			*html = strchr(sp + 1, ' ') != NULL;
			return 0;
		}
	}
	if (!path_known)
		return snprintf(msg, n, "no such path"), 404;
	return snprintf(msg, n, "method %s not allowed on this path", method), 405;
}

static int
request_mode(size_t body_max, long timeout_ms, int route_fd, char *const *routes,
    int nroutes)
{
	struct alba_reqlimits lim = { 8192, 32768, 100, body_max, timeout_ms };
	char msg[512];
	jv req;
	int status, html = 0;

	status = alba_request_read(0, is_socket(0) ? 0 : -1, &lim, &req, msg, sizeof msg);
	req = jv_object_set(req, jv_string("remote_addr"), jv_string(peer()));
	if (status == 0)
		status = check_route(req, routes, nroutes, msg, sizeof msg, &html);
	if (route_fd >= 0)
		route(route_fd, req, status == 0, html);
	jv doc = JV_OBJECT(jv_string("request"), req);
	if (status)
		alba_doc_fail(doc, status, status == 408 ? "timeout" : status == 413 ?
		    "too_large" : status == 404 ? "not_found" : status == 405 ?
		    "method_not_allowed" : "bad_request", "%s", msg);
	alba_doc_write(doc);
	return ALBA_OK;
}

/* ---- response mode */

/* 1 if the client asked for JSON.  Borrows doc. */
static int
wants_json(jv doc)
{
	char accept[512];

	return alba_getstr(doc, "request.headers.accept", accept, sizeof accept) &&
	    strstr(accept, "application/json") != NULL;
}

static int
send_json(int status, jv v)
{
	jv s = jv_dump_string(v, 0);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	char *body = malloc(n + 1);
	int r;

	if (body == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memcpy(body, jv_string_value(s), n);
	body[n] = '\n';
	jv_free(s);
	r = alba_respond(1, status, "application/json", body, n + 1);
	free(body);
	return r;
}

static int
send_text(int status, const char *text)
{
	size_t n = strlen(text);
	char *body = malloc(n + 2);
	int r;

	if (body == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memcpy(body, text, n);
	body[n] = '\n';
	r = alba_respond(1, status, "text/plain; charset=utf-8", body, n + 1);
	free(body);
	return r;
}

/* The error member as a response: its message only, never anything else of
 * the document.  Consumes err.  Borrows doc.  Returns the status. */
static int
send_error(jv doc, jv err)
{
	jv st = alba_get(jv_copy(err), "status");
	jv code = alba_get(jv_copy(err), "code");
	jv msg = alba_get(jv_copy(err), "message");
	int status = jv_get_kind(st) == JV_KIND_NUMBER ? (int)jv_number_value(st) : 500;

	if (status < 200 || status > 599)
		status = 500;
	if (jv_get_kind(code) != JV_KIND_STRING) {
		jv_free(code);
		code = jv_string("internal");
	}
	if (jv_get_kind(msg) != JV_KIND_STRING) {
		jv_free(msg);
		msg = jv_string(alba_reason(status));
	}
	if (wants_json(doc))
		send_json(status, JV_OBJECT(jv_string("error"), JV_OBJECT(
		    jv_string("status"), jv_number(status), jv_string("code"), code,
		    jv_string("message"), msg)));
	else {
		send_text(status, jv_string_value(msg));
		jv_free(code);
		jv_free(msg);
	}
	jv_free(st);
	jv_free(err);
	return status;
}

/* Render the member at path as text (or, if the client asks, as JSON), or
 * with -T as that type, for a proxy to keep but revalidate. */
static int
send_member(jv doc, const char *path, int as_json, const char *type)
{
	jv v = alba_get(jv_copy(doc), path);

	if (!jv_is_valid(v) || (!as_json && jv_get_kind(v) != JV_KIND_STRING)) {
		jv_free(v);
		return send_error(doc, JV_OBJECT(jv_string("status"), jv_number(500),
		    jv_string("code"), jv_string("internal"),
		    jv_string("message"), jv_string("internal error: nothing to answer")));
	}
	if (as_json)
		send_json(200, v);
	else if (type) {
		alba_respond_cached(1, 200, type, "no-cache", jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)));
		jv_free(v);
	} else if (wants_json(doc)) {
		/* {"job": {...}} for job.id: the top-level member it belongs to. */
		char top[128];
		snprintf(top, sizeof top, "%.*s", (int)strcspn(path, "."), path);
		jv_free(v);
		send_json(200, JV_OBJECT(jv_string(top), alba_get(jv_copy(doc), top)));
	} else {
		send_text(200, jv_string_value(v));
		jv_free(v);
	}
	return 200;
}

/* The Content-Type of a file the project ships, by its name; NULL if it
 * ships no such kind. */
static const char *
file_type(const char *file)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
	};
	size_t i, n = strlen(file);

	for (i = 0; i < sizeof types / sizeof *types; i++) {
		size_t k = strlen(types[i][0]);
		if (n > k && strcmp(file + n - k, types[i][0]) == 0)
			return types[i][1];
	}
	return NULL;
}

/* body (len bytes) with every "@@" replaced by the percent-encoding of
 * v, which holds only [A-Za-z0-9._~%-]: safe in HTML text, attributes
 * and URLs.  Consumes body; the result is fresh. */
static char *
fill(char *body, size_t *len, const char *v)
{
	char *ev = alba_urlencode(v), *out;
	size_t n = 0, i, k = ev ? strlen(ev) : 0;

	if (ev == NULL || (out = malloc(*len / 2 * k + *len + 1)) == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	for (i = 0; i < *len; i++)
		if (body[i] == '@' && i + 1 < *len && body[i + 1] == '@') {
			memcpy(out + n, ev, k);
			n += k;
			i++;
		} else
			out[n++] = body[i];
	out[n] = 0;
	free(ev);
	free(body);
	*len = n;
	return out;
}

/* -f: a static file of share/albatros as the answer, with "@@" filled
 * from the string at member when it is not NULL.  Borrows doc. */
static int
send_file(jv doc, const char *file, const char *member, size_t max)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	size_t len;
	char *body = fd >= 0 ? alba_read_all(fd, max, &len) : NULL;

	if (fd >= 0)
		close(fd);
	if (body == NULL) {
		alba_warn("unable to read %s", file);
		return send_error(doc, JV_OBJECT(jv_string("status"), jv_number(500),
		    jv_string("code"), jv_string("internal"),
		    jv_string("message"), jv_string("internal error: the page is not installed")));
	}
	if (member) {
		jv v = alba_get(jv_copy(doc), member);
		body = fill(body, &len, alba_str(v) ? alba_str(v) : "");
		jv_free(v);
	}
	alba_respond_cached(1, 200, file_type(file), "no-cache", body, len);
	free(body);
	return 200;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* f: the access-log field of the string at path in doc, if there is one. */
static int
field(jv doc, const char *path, char *f, size_t n)
{
	jv v = alba_get(jv_copy(doc), path);
	int ok = alba_str(v) != NULL;

	if (ok)
		alba_log_field(f, n, alba_str(v), (size_t)jv_string_length_bytes(jv_copy(v)));
	jv_free(v);
	return ok;
}

/*
 * One access-log line on stderr: "PEER METHOD PATH STATUS delivery=D job=J
 * [Nms]", every field escaped by alba_log_field, so no client-controlled
 * byte can add or fake a field.  A log stream carries no request: then the
 * peer is read from the environment and the route (and job) from
 * ALBA_ROUTE, as alba-http -o wrote it.
 */
static void
access_log(jv doc, int status)
{
	char method[40] = "-", path[1100] = "-", delivery[400] = "-", job[520] = "-";
	char peerf[200] = "-";
	const char *t0 = getenv("ALBA_T0"), *rt = getenv("ALBA_ROUTE");
	static const char *const dh[] = { "request.headers.x-forgejo-delivery",
	    "request.headers.x-gitea-delivery", "request.headers.x-github-delivery",
	    "build.delivery" };
	size_t i;

	if (!field(doc, "request.method", method, sizeof method) && rt) {
		/* Written by route(): fields already, at most three. */
		char m[16] = "", p[1025] = "", j[520] = "";
		if (sscanf(rt, "%15s %1024s %519s", m, p, j) >= 1) {
			alba_log_field(method, sizeof method, m, strlen(m));
			alba_log_field(path, sizeof path, p, strlen(p));
			if (*j && strcspn(j, "\"=\\") == strlen(j))
				snprintf(job, sizeof job, "%s", j);
		}
	}
	field(doc, "request.path", path, sizeof path);
	if (!field(doc, "request.remote_addr", peerf, sizeof peerf) || !strcmp(peerf, "-"))
		alba_log_field(peerf, sizeof peerf, peer(), strlen(peer()));
	field(doc, "job.id", job, sizeof job);
	for (i = 0; i < sizeof dh / sizeof *dh; i++)
		if (field(doc, dh[i], delivery, sizeof delivery))
			break;
	fprintf(stderr, "%s: %s %s %s %d delivery=%s job=%s", alba_prog,
	    peerf, method, path, status, delivery, job);
	if (t0 && *t0)
		fprintf(stderr, " %lldms", now_ms() - atoll(t0));
	fputc('\n', stderr);
}

static int
respond_mode(size_t max, const char *text_member, int member_given,
    const char *json_member, const char *type, const char *file, int log)
{
	size_t len;
	char *buf = alba_read_all(0, max, &len);
	jv doc = buf ? alba_doc_parse(buf, len) : jv_invalid();
	int status;

	free(buf);
	if (!jv_is_valid(doc)) {
		/* A stage died or wrote garbage: say so, and nothing else. */
		jv_free(doc);
		doc = jv_object();
		status = send_error(doc, JV_OBJECT(jv_string("status"), jv_number(500),
		    jv_string("code"), jv_string("internal"),
		    jv_string("message"), jv_string("internal error")));
	} else if (alba_doc_has_error(doc))
		status = send_error(doc, alba_get(jv_copy(doc), "error"));
	else if (file)
		status = send_file(doc, file, member_given ? text_member : NULL, max);
	else if (json_member)
		status = send_member(doc, json_member, 1, NULL);
	else
		status = send_member(doc, text_member, 0, type);
	if (log)
		access_log(doc, status);
	jv_free(doc);
	alba_respond_linger(1, 2000);
	return ALBA_OK;
}

/* -s: the output of `alba-logs -c` in (a line with the document, then a
 * chunked body), the response out: the document's error as the answer, or
 * a chunked text/plain 200 with the body passed on as it comes.  Only the
 * chunk size lines are read, never the log bytes; a body that ends without
 * its last chunk ends the response without one either (the client sees it
 * cut), after a line saying so when that falls between two chunks. */
static int
stream_mode(size_t max, int log)
{
	size_t cap = 65536, len = 0, off = 0;
	char *buf = malloc(cap), *nl;
	int status = 200, ended = 0, bad = 0;
	jv doc;

	if (buf == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	for (;;) {
		ssize_t r;
		if ((nl = memchr(buf, '\n', len)) != NULL)
			break;
		if (len == cap) {
			char *nb = cap < max ? realloc(buf, cap * 2 < max ? cap * 2 : max) : NULL;
			if (nb == NULL)
				break;
			buf = nb;
			cap = cap * 2 < max ? cap * 2 : max;
		}
		r = read(0, buf + len, cap - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	doc = nl ? alba_doc_parse(buf, (size_t)(nl - buf)) : jv_invalid();
	if (!jv_is_valid(doc)) {
		/* A stage died or wrote garbage: say so, and nothing else. */
		jv_free(doc);
		doc = jv_object();
		status = send_error(doc, JV_OBJECT(jv_string("status"), jv_number(500),
		    jv_string("code"), jv_string("internal"),
		    jv_string("message"), jv_string("internal error")));
		goto done;
	}
	if (alba_doc_has_error(doc)) {
		status = send_error(doc, alba_get(jv_copy(doc), "error"));
		goto done;
	}
	if (alba_respond_chunked(1, 200, "text/plain; charset=utf-8"))
		goto done;
	/* The body: pass every byte on; follow the chunk sizes to know
	 * whether it ended with its last chunk. */
	{
		unsigned long long skip = 0;	/* chunk data and CRLF, or the last CRLF */
		unsigned long long size = 0;	/* of the last chunk */
		int last = 0, spliced = 1;
		char line[24];
		size_t ll = 0, p, lstart = 0;
		off = (size_t)(nl - buf) + 1;
		for (;;) {
			for (p = off; p < len && !ended && !bad;) {
				if (skip) {
					size_t k = len - p < skip ? len - p : (size_t)skip;
					p += k;
					skip -= k;
					ended = last && skip == 0;
					continue;
				}
				if (ll == 0)
					lstart = p;
				char c = buf[p++];
				if (c != '\n') {
					if (ll == sizeof line - 1) {
						bad = 1;
						break;
					}
					line[ll++] = c;
					continue;
				}
				if (ll < 2 || ll > 16 || line[ll - 1] != '\r') {
					bad = 1;
					break;
				}
				line[ll - 1] = 0;
				if (strspn(line, "0123456789abcdef") != ll - 1) {
					bad = 1;
					break;
				}
				size = strtoull(line, NULL, 16);
				skip = size + 2;
				last = skip == 2;
				ll = 0;
			}
			if (bad && lstart >= off)
				p = lstart;	/* not the line that is not a size */
			if (p > off && alba_respond_write(1, buf + off, p - off))
				goto done;	/* the client went away, or stopped reading */
			if (ended || bad)
				break;
			len = off = lstart = 0;
			/* The rest of a chunk's data: from the pipe to the client
			 * without a copy through here (splice), while it can. */
			while (skip && spliced) {
				ssize_t m = alba_respond_splice(0, 1, skip > (1 << 20) ? (1 << 20) : (size_t)skip);
				if (m == -1)
					goto done;	/* the client went away, or stopped reading */
				if (m == -2)
					spliced = 0;
				if (m <= 0)
					break;
				skip -= (unsigned long long)m;
				ended = last && skip == 0;
			}
			if (ended || (skip && spliced))
				break;	/* the end, or the input ended inside a chunk */
			/* After a big chunk, the next size line is likely another
			 * big chunk's: read only as far as it, the rest is spliced. */
			ssize_t r = read(0, buf, spliced && size >= 16384 ? 32 : cap);
			if (r <= 0)
				break;
			len = (size_t)r;
		}
		if (!ended) {
			alba_warn("the log stream ended before its end");
			if (!skip && !ll && !bad) {
				static const char cut[] = "\n[albatros: internal error: the log ended early]\n";
				alba_respond_chunk(1, cut, sizeof cut - 1);
			}
		}
	}
done:
	if (log)
		access_log(doc, status);
	jv_free(doc);
	free(buf);
	alba_respond_linger(1, 2000);
	return ALBA_OK;
}

int
main(int argc, char *argv[])
{
	size_t body_max = (size_t)4 << 20, max = ALBA_DOC_MAX;
	long timeout_ms = 10000, write_ms = 30000;
	const char *json_member = NULL, *text_member = "job.id", *type = NULL, *file = NULL;
	int ch, respond = 0, stream = 0, log = 0, route_fd = -1, nroutes = 0, member_given = 0;
	char *routes[MAXROUTES];

	alba_prog = "alba-http";
	while ((ch = getopt(argc, argv, "RT:a:b:f:j:lm:o:p:st:w:")) != -1) {
		switch (ch) {
		case 'R':
			respond = 1;
			break;
		case 'T':
			type = optarg;
			break;
		case 'a':
			if (nroutes == MAXROUTES || strchr(optarg, ' ') == NULL)
				alba_dieusage(usage_str);
			routes[nroutes++] = optarg;
			break;
		case 'b':
			if (alba_scan_size(optarg, &body_max) || body_max > ((size_t)1 << 30))
				alba_dieusage(usage_str);
			break;
		case 'f':
			if (file_type(optarg) == NULL)
				alba_dieusage(usage_str);
			file = optarg;
			break;
		case 'j':
			json_member = optarg;
			break;
		case 'l':
			log = 1;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max))
				alba_dieusage(usage_str);
			break;
		case 'o':
			route_fd = atoi(optarg);
			if (route_fd < 3)
				alba_dieusage(usage_str);
			break;
		case 'p':
			text_member = optarg;
			member_given = 1;
			break;
		case 's':
			stream = 1;
			break;
		case 't':
			if (alba_scan_ms(optarg, &timeout_ms) || timeout_ms == 0)
				alba_dieusage(usage_str);
			break;
		case 'w':
			if (alba_scan_ms(optarg, &write_ms))
				alba_dieusage(usage_str);
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (argc != optind)
		alba_dieusage(usage_str);
	if (!respond)
		return request_mode(body_max, timeout_ms, route_fd, routes, nroutes);
	alba_respond_timeout(1, write_ms);
	if (stream)
		return stream_mode(max, log);
	return respond_mode(max, text_member, member_given, json_member, type, file, log);
}
