/* ISC license. */
/*
 * alba-dispatch: dispatch the repository's builder job on Nomad for .build
 * (SPEC §5) and add .job; then post the pending commit status and, with
 * cancel_previous, stop the branch's older builds.  The injected secrets
 * (config.inject) leave only in the request body, and only for a trusted
 * build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "cancel.h"
#include "crypto.h"
#include "doc.h"
#include "forge.h"
#include "http.h"
#include "json.h"
#include "repoconfig.h"

#define PAYLOAD_LIMIT 16384	/* Nomad's DispatchPayloadSizeLimit, decoded */

static const char usage_str[] = "usage: alba-dispatch [-m maxbytes]";

/* Nomad's EvalID ("" on an idempotent repeat), or null.  Borrows reply. */
static jv
eval_id(jv reply)
{
	jv v = alba_get(jv_copy(reply), "EvalID");

	if (jv_get_kind(v) == JV_KIND_STRING)
		return v;
	jv_free(v);
	return jv_null();
}

/* The job to dispatch: config.flavors[flavor], else config.builder, else
 * "builder".  Borrows config. */
static jv
builder_of(jv config, const char *flavor)
{
	jv fl = alba_get(jv_copy(config), "flavors"), b;

	if (jv_get_kind(fl) == JV_KIND_OBJECT) {
		b = jv_object_get(fl, jv_string(flavor));
		if (alba_str(b) && *alba_str(b))
			return b;
		jv_free(b);
		if (strcmp(flavor, "default")) {
			char shown[100];
			alba_sanitize(shown, sizeof shown, flavor, strlen(flavor));
			alba_warn("flavor %s has no entry in config.flavors: "
			    "dispatching the builder", shown);
		}
	} else
		jv_free(fl);
	b = alba_nonempty(config, "builder");
	return jv_is_valid(b) ? b : (jv_free(b), jv_string("builder"));
}

/* The request body: Meta, Payload (trusted only), IdempotencyToken.
 * Consumes build; dies before anything reaches Nomad on a bad inject. */
static jv
request_body(jv doc, jv config, jv build, const char *flavor)
{
	jv meta = JV_OBJECT(
	    jv_string("REPO_URL"), alba_get(jv_copy(build), "repo_url"),
	    jv_string("COMMIT"), alba_get(jv_copy(build), "commit"),
	    jv_string("BRANCH"), alba_get(jv_copy(build), "branch"),
	    jv_string("FLAVOR"), jv_string(flavor));
	jv body = JV_OBJECT(jv_string("Meta"), meta);
	jv trusted = alba_get(jv_copy(build), "trusted");
	jv delivery = alba_nonempty(build, "delivery");

	if (jv_get_kind(trusted) == JV_KIND_TRUE) {
		jv inject = alba_get(jv_copy(config), "inject");
		if (jv_is_valid(inject) && jv_get_kind(inject) != JV_KIND_STRING &&
		    jv_get_kind(inject) != JV_KIND_NULL) {
			jv_free(inject);
			jv_free(body);
			jv_free(delivery);
			jv_free(build);
			alba_doc_fail(doc, 502, "bad_config", "config.inject is not a string");
		}
		if (alba_str(inject) && *alba_str(inject)) {
			size_t n = (size_t)jv_string_length_bytes(jv_copy(inject));
			if (n > PAYLOAD_LIMIT) {
				jv_free(inject);
				jv_free(body);
				jv_free(delivery);
				jv_free(build);
				alba_doc_fail(doc, 502, "payload_too_large",
				    "config.inject is %zu bytes, over Nomad's dispatch "
				    "payload limit of %d bytes", n, PAYLOAD_LIMIT);
			}
			char *b64 = malloc(alba_b64_enclen(n, ALBA_B64_STD) + 1);
			if (b64 == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			alba_b64_encode(alba_str(inject), n, b64, ALBA_B64_STD);
			body = jv_object_set(body, jv_string("Payload"), jv_string(b64));
			free(b64);
		}
		jv_free(inject);
	}
	jv_free(trusted);
	/* The token goes in the body, not ?idempotency_token=: the request
	 * line then carries no forge data (access logs, proxies). */
	if (jv_is_valid(delivery))
		body = jv_object_set(body, jv_string("IdempotencyToken"), delivery);
	else
		jv_free(delivery);
	jv_free(build);
	return body;
}

/*
 * What follows a fresh dispatch: the pending status (SPEC §6) and
 * cancel_previous.  Neither undoes the dispatch when it fails: the answer
 * still carries the job ID, and stderr says what failed.  Borrows doc.
 */
static void
after_dispatch(const struct alba_service *nomad, jv doc)
{
	char err[512], id[512];

	if (!alba_getstr(doc, "job.id", id, sizeof id))
		return;
	if (alba_forge_configured(doc) &&
	    alba_forge_status(doc, id, "pending", "build dispatched to nomad",
	    err, sizeof err))
		alba_warn("unable to post the pending status: %s", err);
	jv cp = alba_get(jv_copy(doc), "config.cancel_previous");
	int cancel = jv_get_kind(cp) == JV_KIND_TRUE;
	jv_free(cp);
	if (cancel && alba_cancel_previous(nomad, doc, NULL, err, sizeof err))
		alba_warn("unable to cancel the previous builds: %s", err);
}

int
main(int argc, char *argv[])
{
	struct alba_service nomad;
	struct alba_request rq;
	struct alba_response r;
	size_t max = ALBA_DOC_MAX;
	char err[1024], text[400], *path, *ejob, *ens, *ereg = NULL;
	const char *missing = NULL;
	int ch, rc;
	jv doc, build, config, builder, ns, flavor, body, reply;

	alba_prog = "alba-dispatch";
	/* The pending status, its retries included, must not hold the
	 * webhook's answer past the forge's delivery timeout (Gitea 5 s). */
	alba_forge_budget_ms = 3000;
	opterr = 0;
	while ((ch = getopt(argc, argv, "m:")) != -1) {
		switch (ch) {
		case 'm':
			if (alba_scan_size(optarg, &max) == -1)
				alba_dieusage(usage_str);
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc)
		alba_dieusage(usage_str);

	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	build = alba_get(jv_copy(doc), "build");
	if (jv_get_kind(build) != JV_KIND_OBJECT)
		missing = "the document has no .build object";
	else {
		static const char *const need[] = { "repo_url", "commit", "branch" };
		size_t i;
		for (i = 0; i < 3 && !missing; i++) {
			jv v = alba_nonempty(build, need[i]);
			if (!jv_is_valid(v))
				missing = i == 0 ? ".build.repo_url is missing or empty" :
				    i == 1 ? ".build.commit is missing or empty" :
				    ".build.branch is missing or empty";
			jv_free(v);
		}
	}
	if (missing) {
		jv_free(build);
		alba_doc_fail(doc, 400, "bad_build", "%s", missing);
	}
	config = alba_get(jv_copy(doc), "config");
	if (jv_get_kind(config) != JV_KIND_OBJECT) {
		jv_free(build);
		jv_free(config);
		alba_doc_fail(doc, 400, "no_config",
		    "the document has no .config object: run alba-config first");
	}
	flavor = alba_nonempty(build, "flavor");
	if (!jv_is_valid(flavor)) {
		jv_free(flavor);
		flavor = jv_string("default");
	}
	builder = builder_of(config, alba_str(flavor));
	ns = jv_string(alba_config_namespace(config));
	body = request_body(doc, config, build, alba_str(flavor));
	jv_free(flavor);
	jv_free(config);

	if (alba_service_nomad(&nomad, err, sizeof err)) {
		jv_free(body);
		jv_free(builder);
		jv_free(ns);
		alba_doc_fail(doc, 502, "bad_environment", "%s", err);
	}
	ejob = alba_urlencode(alba_str(builder));
	ens = alba_urlencode(alba_str(ns));
	if (nomad.region)
		ereg = alba_urlencode(nomad.region);
	if (ejob == NULL || ens == NULL || (nomad.region && ereg == NULL) ||
	    asprintf(&path, "/v1/job/%s/dispatch?namespace=%s%s%s", ejob, ens,
	    ereg ? "&region=" : "", ereg ? ereg : "") < 0)
		alba_die(ALBA_TEMP, "out of memory");
	free(ejob);
	free(ens);
	free(ereg);

	jv dumped = jv_dump_string(body, 0);
	size_t blen = (size_t)jv_string_length_bytes(jv_copy(dumped));
	char *sendbuf = malloc(blen + 1);
	if (sendbuf == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memcpy(sendbuf, jv_string_value(dumped), blen + 1);
	jv_free(dumped);
	memset(&rq, 0, sizeof rq);
	rq.method = "POST";
	rq.path = path;
	rq.body = sendbuf;
	rq.bodylen = blen;
	rq.retries = -1;	/* a POST is never retried */
	rc = alba_http(&nomad, &rq, &r);
	explicit_bzero(sendbuf, blen);
	free(sendbuf);
	free(path);

	alba_response_line(&r, text, sizeof text, "(no text)");
	if (rc) {
		snprintf(err, sizeof err, "%s", r.error);
		alba_response_free(&r);
		alba_service_free(&nomad);
		jv_free(builder);
		jv_free(ns);
		alba_doc_fail(doc, rc == ALBA_TEMP ? 503 : 502, "nomad_unreachable", "%s", err);
	}
	if (r.status != 200) {
		int st = 502;
		const char *code = "nomad_rejected";
		if (r.status == 403)
			snprintf(err, sizeof err, "nomad refused: permission denied "
			    "(%s): check NOMAD_TOKEN", text);
		else if (r.status > 500) {
			st = 503;
			code = "nomad_unreachable";
			snprintf(err, sizeof err, "nomad at %s answered %ld: %s",
			    nomad.shown, r.status, text);
		} else if (r.status == 500 && strstr(text, "No cluster leader")) {
			st = 503;
			code = "nomad_unreachable";
			snprintf(err, sizeof err, "nomad at %s has no leader: %s",
			    nomad.shown, text);
		} else if (r.status == 400 || r.status == 500)
			snprintf(err, sizeof err, "nomad refused the dispatch of %s: %s",
			    alba_str(builder), text);
		else
			snprintf(err, sizeof err, "nomad refused the dispatch of %s: "
			    "HTTP %ld %s", alba_str(builder), r.status, text);
		if (r.status == 403)
			code = "nomad_denied";
		alba_response_free(&r);
		alba_service_free(&nomad);
		jv_free(builder);
		jv_free(ns);
		alba_doc_fail(doc, st, code, "%s", err);
	}
	reply = jv_parse_sized(r.body ? r.body : "", (int)r.len);
	alba_response_free(&r);
	jv id = jv_get_kind(reply) == JV_KIND_OBJECT ?
	    alba_nonempty(reply, "DispatchedJobID") : jv_invalid();
	if (!jv_is_valid(id)) {
		alba_service_free(&nomad);
		jv_free(id);
		jv_free(reply);
		jv_free(builder);
		jv_free(ns);
		alba_doc_fail(doc, 502, "nomad_rejected",
		    "nomad's answer to the dispatch has no DispatchedJobID");
	}
	jv ev = eval_id(reply);
	/* An idempotent repeat (EvalID "") dispatched nothing new: its build
	 * may have ended already, so post nothing and cancel nothing. */
	int fresh = !(alba_str(ev) && *alba_str(ev) == 0);
	jv job = JV_OBJECT(
	    jv_string("id"), id,
	    jv_string("namespace"), ns,
	    jv_string("eval_id"), ev,
	    jv_string("parent"), builder,
	    jv_string("nomad"), reply);
	doc = jv_object_set(doc, jv_string("job"), job);
	if (fresh)
		after_dispatch(&nomad, doc);
	alba_service_free(&nomad);
	alba_doc_write(doc);
	return ALBA_OK;
}
