/* ISC license. */
/*
 * alba-config: add .config, the repository's configuration from Consul KV,
 * to the document; the repository comes from .build.repo_url, from
 * .job.meta.REPO_URL (a build looked up for /build or /status), from
 * .request.query.repo (/builds and /badge) or from the webhook in .request.  -k prints the key of a URL, -s stores a
 * configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "repoconfig.h"
#include "request.h"

static const char usage_str[] =
    "usage: alba-config [-m maxbytes]\n"
    "       alba-config -k url\n"
    "       alba-config [-m maxbytes] -s url";

/* The webhook payload of a request body: the payload= field of a
 * form-encoded body, else the body itself (SPEC §3: curl -d sends raw JSON
 * with a form content type).  Consumes body; an invalid with a message if
 * it is not a JSON object. */
static jv
payload(jv body)
{
	const char *s = jv_string_value(body);
	size_t len = (size_t)jv_string_length_bytes(jv_copy(body)), n;
	char *dec;
	int r = alba_form_field(s, len, "payload", &dec, &n);
	jv out;

	if (r < 0)
		out = jv_invalid_with_msg(jv_string("the payload field has a bad %-escape"));
	else
		out = r ? alba_doc_parse(dec, n) : alba_doc_parse(s, len);
	free(dec);
	jv_free(body);
	return out;
}

/* The clone URL of a webhook payload (the base repository of a pull
 * request), or an invalid.  Consumes ev. */
static jv
clone_url(jv ev)
{
	jv u = alba_get(jv_copy(ev), "repository.clone_url");

	if (!alba_str(u) || !*alba_str(u)) {
		jv_free(u);
		u = alba_get(jv_copy(ev), "pull_request.base.repo.clone_url");
	}
	jv_free(ev);
	if (!alba_str(u) || !*alba_str(u)) {
		jv_free(u);
		return jv_invalid();
	}
	return u;
}

/* 1 if .job is a dispatched build of this repository's builder in its
 * namespace; else 0 with the message in msg.  Borrows doc and config. */
static int
check_job(jv doc, jv config, char *msg, size_t n)
{
	jv parent = alba_nonempty(doc, "job.parent"), ns = alba_nonempty(doc, "job.namespace");
	jv id = alba_get(jv_copy(doc), "job.id");
	const char *wantns = alba_config_namespace(config);
	char shown[200];
	int ok = 1;

	alba_sanitize(shown, sizeof shown, alba_str(id) ? alba_str(id) : "(no id)",
	    strlen(alba_str(id) ? alba_str(id) : "(no id)"));
	if (!alba_str(parent) || !alba_config_is_builder(config, alba_str(parent)))
		ok = 0;
	else if (!alba_str(ns) || strcmp(alba_str(ns), wantns))
		ok = 0;
	jv_free(parent);
	jv_free(ns);
	jv_free(id);
	if (!ok)
		snprintf(msg, n, "job %s is not a build of this repository: not "
		    "dispatched from its builder in namespace %s", shown, wantns);
	return ok;
}

/* Read all of stdin, at most max bytes; dies on an error or an excess. */
static char *
read_all(size_t max, size_t *outlen)
{
	char *buf = alba_read_all(0, max, outlen);

	if (buf == NULL && errno == EFBIG)
		alba_die(ALBA_PERM, "the configuration is over %zu bytes", max);
	if (buf == NULL)
		alba_die(ALBA_TEMP, "unable to read stdin: %s", strerror(errno));
	return buf;
}

/* -s: store the configuration on stdin, print its key. */
static int
store(const char *url, size_t max)
{
	struct alba_service consul;
	char err[1024], *buf, *key;
	const char *code;
	size_t len;
	int st;
	jv v;

	buf = read_all(max, &len);
	v = alba_doc_parse(buf, len);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		char text[256];
		snprintf(text, sizeof text, "%s", jv_string_value(msg));
		jv_free(msg);
		free(buf);
		alba_die(ALBA_PERM, "the configuration on stdin must be a JSON object: %s", text);
	}
	jv_free(v);
	if (alba_service_consul(&consul, err, sizeof err)) {
		free(buf);
		alba_die(ALBA_PERM, "%s", err);
	}
	st = alba_config_store(&consul, url, buf, len, &code, err, sizeof err);
	alba_service_free(&consul);
	free(buf);
	if (st)
		alba_die(alba_exit_for_status(st), "%s", err);
	if ((key = alba_config_key(url)) == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	printf("%s\n", key);
	free(key);
	return fflush(stdout) ? ALBA_TEMP : ALBA_OK;
}

int
main(int argc, char *argv[])
{
	struct alba_service consul;
	size_t max = ALBA_DOC_MAX;
	const char *key_url = NULL, *store_url = NULL, *code;
	char err[1024];
	int ch, st, from_job = 0;
	jv doc, url, config;

	alba_prog = "alba-config";
	opterr = 0;
	while ((ch = getopt(argc, argv, "k:m:s:")) != -1) {
		switch (ch) {
		case 'k':
			key_url = optarg;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max) == -1)
				alba_dieusage(usage_str);
			break;
		case 's':
			store_url = optarg;
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc || (key_url && store_url))
		alba_dieusage(usage_str);
	if (key_url) {
		char *key = alba_config_key(key_url);
		if (key == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		printf("%s\n", key);
		free(key);
		return fflush(stdout) ? ALBA_TEMP : ALBA_OK;
	}
	if (store_url)
		return store(store_url, max);

	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	url = alba_nonempty(doc, "build.repo_url");
	if (!jv_is_valid(url)) {
		jv_free(url);
		url = alba_nonempty(doc, "job.meta.REPO_URL");
		from_job = jv_is_valid(url);
	}
	if (!jv_is_valid(url)) {
		jv_free(url);
		url = alba_nonempty(doc, "request.query.repo");
	}
	if (!jv_is_valid(url)) {
		jv body = alba_get(jv_copy(doc), "request.body");
		jv_free(url);
		url = jv_invalid();
		if (jv_get_kind(body) == JV_KIND_STRING) {
			jv ev = payload(body);
			if (!jv_is_valid(ev)) {
				jv msg = jv_invalid_get_msg(ev);
				char text[256];
				snprintf(text, sizeof text, "%s", alba_str(msg) ? alba_str(msg) : "");
				jv_free(msg);
				alba_doc_fail(doc, 400, "bad_payload", "webhook payload: %s", text);
			}
			url = clone_url(ev);
		} else if (jv_is_valid(body)) {
			jv_free(body);
			alba_doc_fail(doc, 400, "bad_payload", "webhook payload: .request.body is not a string");
		} else
			jv_free(body);
	}
	if (!jv_is_valid(url)) {
		jv_free(url);
		alba_doc_fail(doc, 400, "no_repository",
		    "no repository URL: the document has no .build.repo_url, no "
		    ".job.meta.REPO_URL, no .request.query.repo and no webhook with "
		    "repository.clone_url in .request");
	}
	if (alba_service_consul(&consul, err, sizeof err)) {
		jv_free(url);
		alba_doc_fail(doc, 502, "bad_environment", "%s", err);
	}
	st = alba_config_fetch_code(&consul, alba_str(url), &config, &code, err, sizeof err);
	alba_service_free(&consul);
	jv_free(url);
	if (st) {
		jv_free(config);
		alba_doc_fail(doc, st, code, "%s", err);
	}
	if (from_job && !check_job(doc, config, err, sizeof err)) {
		jv_free(config);
		alba_doc_fail(doc, 400, "not_a_build", "%s", err);
	}
	alba_doc_write(jv_object_set(doc, jv_string("config"), config));
	return ALBA_OK;
}
