/* ISC license. */
/*
 * alba-status: a build's state from Nomad (.status), and its report to the
 * forge.  One-shot (default) reads the job and its allocations; -w waits
 * for the end with blocking queries; -W follows the event stream of the
 * whole cluster and reports every build's end; -S reconciles the recent
 * builds of a builder with the forge, for cron.  Stateless: what was
 * reported is read back from the forge, what ran from Nomad.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alba.h"
#include "buildreport.h"
#include "buildstatus.h"
#include "cancel.h"
#include "doc.h"
#include "forge.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"
#include "repoconfig.h"

static const char usage_str[] =
    "usage: alba-status [-cpSWw] [-a seconds] [-b builder] [-m maxbytes]"
    " [-N namespace] [-n seconds] [-t seconds]";

static struct alba_reporter rep = { .bound_s = 300 };	/* -n: placement bound */
static int post;			/* -p */


/* A dispatched job ID: "<parent>/dispatch-<suffix>", printable ASCII, the
 * parent without '/', the suffix of [A-Za-z0-9._-]. */
static int
job_id_ok(const char *s)
{
	const char *d = strstr(s, "/dispatch-"), *p;

	if (d == NULL || d == s || strlen(s) > 300 || d[10] == 0)
		return 0;
	for (p = s; p < d; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '/')
			return 0;
	for (p = d + 10; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

/* ---- one-shot and wait */

/* Find the namespace of job id: GET /v1/jobs?prefix=<id>&namespace=*. */
static int
find_namespace(const char *id, char *ns, size_t n, char *err, size_t errlen)
{
	char *eid = alba_urlencode(id), *p = NULL;
	jv list;
	int rc, i, len;

	if (eid == NULL || asprintf(&p, "/v1/jobs?prefix=%s&namespace=*", eid) < 0)
		alba_die(ALBA_TEMP, "out of memory");
	free(eid);
	rc = alba_nomad_json(&rep.nomad, "GET", p, NULL, 0, &list, NULL, err, errlen);
	free(p);
	if (rc)
		return rc;
	len = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < len; i++) {
		jv s = jv_array_get(jv_copy(list), i);
		char sid[512];
		if (strcmp(alba_sgetbuf(s, "ID", sid, sizeof sid), id) == 0) {
			alba_sgetbuf(s, "Namespace", ns, n);
			if (!*ns)
				snprintf(ns, n, "default");
			jv_free(s);
			jv_free(list);
			return 0;
		}
		jv_free(s);
	}
	jv_free(list);
	snprintf(err, errlen, "no job %s in any namespace", id);
	return 404;
}

static void
nomad_fail(jv doc, int rc, const char *err)
{
	if (rc == 503 || rc == 504)
		alba_doc_fail(doc, 503, "nomad_unreachable", "%s", err);
	alba_doc_fail(doc, 502, "nomad_error", "%s", err);
}


/* 1 if job id, gone after it was seen (seen: its last state, not dead),
 * was purged rather than collected: its allocations are still listed, or
 * it never had one.  A job collected by GC takes its allocations, and its
 * verdict, with it.  Borrows seen. */
static int
was_purged(const char *id, const char *ns, jv seen)
{
	char st[32], err[256];
	jv allocs;
	int n;

	if (alba_job_allocs(&rep, id, ns, &allocs, err, sizeof err))
		return 0;
	n = jv_get_kind(allocs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(allocs)) : 0;
	jv_free(allocs);
	return n > 0 || strcmp(alba_sgetbuf(seen, "Status", st, sizeof st), "pending") == 0;
}

/* Block until job id is dead, or pending without an allocation past the
 * placement bound, or purged (gone after it was seen); *job is its last
 * state.  Returns 0 or an error status. */
static int
wait_job(const char *id, const char *ns, jv *job, char *err, size_t errlen)
{
	unsigned long long index = 0, got = 0;
	double left = 0;
	int rc;
	jv seen = jv_invalid();

	*job = jv_invalid();
	for (;;) {
		char st[32], extra[80] = "", *p;
		long wait_ms = 300000;

		if (index) {
			/* Wake up in time to judge the placement bound. */
			if (left > 0 && left * 1000 + 100 < wait_ms)
				wait_ms = (long)(left * 1000) + 100;
			snprintf(extra, sizeof extra, "&index=%llu&wait=%ldms", index, wait_ms);
		}
		jv_free(*job);
		p = alba_job_path(id, "", ns, extra);
		rc = alba_nomad_json(&rep.nomad, "GET", p, NULL,
		    wait_ms + alba_service_timeout_ms(), job, &got, err, errlen);
		free(p);
		if (rc == 404 && jv_is_valid(seen) && was_purged(id, ns, seen)) {
			jv_free(*job);
			*job = alba_job_purged(seen);
			return 0;
		}
		jv_free(seen);
		if (rc)
			return rc;
		seen = jv_copy(*job);
		if (strcmp(alba_sgetbuf(*job, "Status", st, sizeof st), "dead") == 0) {
			jv_free(seen);
			return 0;
		}
		left = 0;
		if (strcmp(st, "pending") == 0 && rep.bound_s > 0) {
			jv sub = alba_get(jv_copy(*job), "SubmitTime"), allocs;
			double s = jv_get_kind(sub) == JV_KIND_NUMBER ? jv_number_value(sub) / 1e9 : 0;
			jv_free(sub);
			left = s + (double)rep.bound_s - alba_now_s();
			if (left <= 0) {
				int none;
				if ((rc = alba_job_allocs(&rep, id, ns, &allocs, err, errlen))) {
					jv_free(seen);
					return rc;
				}
				none = jv_get_kind(allocs) == JV_KIND_ARRAY &&
				    jv_array_length(jv_copy(allocs)) == 0;
				jv_free(allocs);
				if (none) {
					jv_free(seen);
					return 0;
				}
			}
		}
		/* A smaller index than ours: Nomad's state went back; start over. */
		index = got < index ? 0 : got;
	}
}

static int
one_shot(jv doc, int cancel, int waiting)
{
	char id[512], ns[256], err[1024], q[512];
	int from_request = 0, rc, why = 0, fin;
	jv job, status, cancelled = jv_invalid();

	if (alba_getstr(doc, "job.id", id, sizeof id) == NULL) {
		jv qj = alba_get(jv_copy(doc), "request.query.job");
		if (jv_get_kind(qj) == JV_KIND_INVALID) {
			jv_free(qj);
			alba_doc_fail(doc, 400, "no_job", "no .job.id and no job parameter");
		}
		if (alba_str(qj) == NULL || strlen(alba_str(qj)) >= sizeof q ||
		    !job_id_ok(alba_str(qj))) {
			jv_free(qj);
			alba_doc_fail(doc, 400, "bad_job", "the job parameter is not a "
			    "dispatched job ID (<builder>/dispatch-...)");
		}
		snprintf(id, sizeof id, "%s", alba_str(qj));
		jv_free(qj);
		from_request = 1;
	} else if (!job_id_ok(id))
		alba_doc_fail(doc, 400, "bad_job", ".job.id is not a dispatched job ID");
	if (alba_service_nomad(&rep.nomad, err, sizeof err))
		alba_doc_fail(doc, 502, "bad_environment", "%s", err);
	if (from_request || alba_getstr(doc, "job.namespace", ns, sizeof ns) == NULL || !*ns) {
		if ((rc = find_namespace(id, ns, sizeof ns, err, sizeof err)) == 404)
			alba_doc_fail(doc, 404, "unknown_job", "%s", err);
		else if (rc)
			nomad_fail(doc, rc, err);
	}
	if (cancel) {
		if ((rc = alba_cancel_previous(&rep.nomad, doc, &cancelled, err, sizeof err)))
			alba_warn("cancel_previous: %s", err);
	}
	if (waiting)
		rc = wait_job(id, ns, &job, err, sizeof err);
	else {
		char *p = alba_job_path(id, "", ns, NULL);
		rc = alba_nomad_json(&rep.nomad, "GET", p, NULL, 0, &job, NULL, err, sizeof err);
		free(p);
	}
	if (rc == 404) {
		jv_free(cancelled);
		alba_doc_fail(doc, 404, "unknown_job", "no job %s in namespace %s", id, ns);
	}
	if (rc) {
		jv_free(cancelled);
		nomad_fail(doc, rc, err);
	}
	{
		jv d = alba_get(jv_copy(job), "Dispatched"), par = alba_get(jv_copy(job), "ParentID");
		int ok = jv_get_kind(d) == JV_KIND_TRUE && alba_str(par) && *alba_str(par);
		jv_free(d);
		if (!ok) {
			jv_free(par);
			jv_free(job);
			jv_free(cancelled);
			alba_doc_fail(doc, 400, "not_a_build", "job %s is not a dispatched build", id);
		}
		if (from_request)
			doc = jv_object_set(doc, jv_string("job"), JV_OBJECT(
			    jv_string("id"), jv_string(id), jv_string("namespace"), jv_string(ns),
			    jv_string("parent"), par,
			    jv_string("meta"), alba_get(jv_copy(job), "Meta")));
		else
			jv_free(par);
	}
	{
		jv pd = alba_report_doc(doc, job);
		if ((rc = alba_build_verdict(&rep, job, ns, &status, &why, err, sizeof err))) {
			jv_free(pd);
			jv_free(cancelled);
			nomad_fail(doc, rc, err);
		}
		{
			jv st = alba_get(jv_copy(status), "state");
			fin = alba_forge_final(alba_str(st));
			jv_free(st);
		}
		if (post && (fin || !waiting)) {
			int r = alba_report(&rep, pd, id, ns, status, why, &rc, err, sizeof err);
			if (r == ALBA_REPORT_FAILED)
				alba_warn("unable to report %s to the forge: %s", id, err);
		}
		jv_free(pd);
	}
	if (jv_is_valid(cancelled))
		status = jv_object_set(status, jv_string("cancelled"), cancelled);
	else
		jv_free(cancelled);
	doc = jv_object_set(doc, jv_string("status"), status);
	alba_doc_write(doc);
	alba_service_free(&rep.nomad);
	if (waiting && (why == ALBA_BUILD_FAILURE || fin) && why != ALBA_BUILD_SUCCESS)
		return ALBA_NO;
	return rc == ALBA_TEMP ? ALBA_TEMP : 0;
}

int
main(int argc, char *argv[])
{
	const char *builder = "builder", *ns = NULL;
	long maxage_s = 86400;	/* -a: sync looks this far back */
	size_t max = ALBA_DOC_MAX;
	long ms;
	int ch, cancel = 0, mode = 0;
	jv doc;

	alba_prog = "alba-status";
	while ((ch = getopt(argc, argv, "a:b:cm:N:n:pSt:Ww")) != -1) {
		switch (ch) {
		case 'a':
			if (alba_scan_ms(optarg, &ms))
				alba_dieusage(usage_str);
			maxage_s = ms / 1000;
			break;
		case 'b':
			builder = optarg;
			break;
		case 'c':
			cancel = 1;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max))
				alba_dieusage(usage_str);
			break;
		case 'N':
			ns = optarg;
			break;
		case 'n':
			if (alba_scan_ms(optarg, &ms))
				alba_dieusage(usage_str);
			rep.bound_s = ms / 1000;
			break;
		case 'p':
			post = 1;
			break;
		case 'S':
		case 'W':
		case 'w':
			if (mode && mode != ch)
				alba_dieusage(usage_str);
			mode = ch;
			break;
		case 't':
			if (alba_scan_ms(optarg, &ms) || ms <= 0)
				alba_dieusage(usage_str);
			alba_forge_timeout_ms = ms;
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc || (cancel && (mode == 'S' || mode == 'W')))
		alba_dieusage(usage_str);
	if (mode == 'S' || mode == 'W') {
		char err[1024];
		const char *idle = getenv("ALBA_EVENT_IDLE");
		if (alba_service_nomad(&rep.nomad, err, sizeof err) ||
		    alba_service_consul(&rep.consul, err, sizeof err))
			alba_die(ALBA_PERM, "%s", err);
		post = 1;
		if (ns == NULL)
			ns = getenv("NOMAD_NAMESPACE") && *getenv("NOMAD_NAMESPACE") ?
			    getenv("NOMAD_NAMESPACE") : mode == 'W' ? "*" : "ci";
		if (mode == 'W')
			return alba_watch(&rep, ns, idle && atof(idle) > 0 ? atof(idle) : 75);
		rep.cfg_cache = jv_object();
		ch = alba_sync(&rep, builder, ns, maxage_s);
		jv_free(rep.cfg_cache);
		alba_service_free(&rep.nomad);
		alba_service_free(&rep.consul);
		return ch;
	}
	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	return one_shot(doc, cancel, mode == 'w');
}
