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

static struct alba_service nomad, consul;
static long bound_s = 300;		/* -n: placement bound */
static long maxage_s = 86400;		/* -a: sync looks this far back */
static int post;			/* -p */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
mono_s(void)
{
	return (double)alba_mono_ms() / 1e3;
}

/* The string at path in v, or "".  Borrows v. */
static const char *
sget(jv v, const char *path, char *buf, size_t n)
{
	const char *s = alba_getstr(v, path, buf, n);

	if (s == NULL && n)
		buf[0] = 0;	/* callers read buf too */
	return s ? s : "";
}

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

/* "/v1/job/<id><suffix>?namespace=<ns><extra>" in a fresh string. */
static char *
job_path(const char *id, const char *suffix, const char *ns, const char *extra)
{
	char *eid = alba_urlencode(id), *ens = alba_urlencode(ns), *p = NULL;

	if (eid && ens && asprintf(&p, "/v1/job/%s%s?namespace=%s%s", eid, suffix, ens,
	    extra ? extra : "") < 0)
		p = NULL;
	free(eid);
	free(ens);
	if (p == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	return p;
}

/* GET a job's allocations. */
static int
get_allocs(const char *id, const char *ns, jv *allocs, char *err, size_t errlen)
{
	char *p = job_path(id, "/allocations", ns, NULL);
	int rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, allocs, NULL, err, errlen);

	free(p);
	return rc;
}

/* The state of a job's build, with a fresh read of its allocations. */
static int
verdict(jv job, const char *ns, jv *status, int *why, char *err, size_t errlen)
{
	char id[512];
	jv allocs;
	int rc;

	*status = jv_invalid();
	sget(job, "ID", id, sizeof id);
	if ((rc = get_allocs(id, ns, &allocs, err, errlen))) {
		jv_free(job);
		return rc;
	}
	*status = alba_build_status(job, allocs, now_s(), bound_s, why);
	return 0;
}

/* The document a report is posted from: doc's config and event, and a build
 * made from the job's meta when doc has no build.commit.  Borrows both. */
static jv
post_doc(jv doc, jv job)
{
	char c[256];
	jv pd = jv_copy(doc), meta;

	if (alba_getstr(doc, "build.commit", c, sizeof c))
		return pd;
	meta = alba_get(jv_copy(job), "Meta");
	if (jv_get_kind(meta) != JV_KIND_OBJECT) {
		jv_free(meta);
		meta = jv_object();
	}
	pd = alba_set(pd, "build", JV_OBJECT(
	    jv_string("repo_url"), jv_object_get(jv_copy(meta), jv_string("REPO_URL")),
	    jv_string("commit"), jv_object_get(jv_copy(meta), jv_string("COMMIT")),
	    jv_string("flavor"), jv_object_get(jv_copy(meta), jv_string("FLAVOR"))));
	jv_free(meta);
	/* Missing members came back invalid: drop them. */
	{
		jv b = alba_get(jv_copy(pd), "build"), keys = jv_keys(jv_copy(b)), nb = jv_object();
		int i, n = jv_array_length(jv_copy(keys));
		for (i = 0; i < n; i++) {
			jv k = jv_array_get(jv_copy(keys), i), v = jv_object_get(jv_copy(b), jv_copy(k));
			if (jv_get_kind(v) == JV_KIND_STRING)
				nb = jv_object_set(nb, k, v);
			else {
				jv_free(k);
				jv_free(v);
			}
		}
		jv_free(keys);
		jv_free(b);
		pd = alba_set(pd, "build", nb);
	}
	return pd;
}

enum { REPORT_POSTED, REPORT_SKIPPED, REPORT_NONE, REPORT_FAILED };

/*
 * Post status for job id to the forge configured in pd.  A stopped build
 * whose status the forge already shows final (a cancel_previous, a stop
 * that posted first) is left as it is; a build not placed within the bound
 * is stopped after its status is posted.  Returns REPORT_*; *rc gets the
 * error code of a failure, err its message.  Borrows pd and status.
 */
/* The dispatch second in a job ID, "<parent>/dispatch-[<prefix>-]<unix>-
 * <8 hex>" (api/nomad.md §2), or -1. */
static long long
dispatch_time(const char *id)
{
	const char *e = strrchr(id, '-'), *p;
	long long t = 0;

	if (strstr(id, "/dispatch-") == NULL || e == NULL || strlen(e + 1) != 8)
		return -1;
	for (p = e; p > id && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p == e || p == id || e - p > 18 || p[-1] != '-')
		return -1;
	for (; p < e; p++)
		t = t * 10 + (*p - '0');
	return t;
}

/*
 * 1 if latest, the forge's newest status of the build's context, is final
 * and speaks for job id or for a build of the same commit dispatched later:
 * then there is nothing to post.  The final status of an earlier build of
 * the commit (a commit pushed to two branches) does not count.  With no
 * link to tell (ALBATROS_URL unset) any final status counts.  Borrows
 * latest.
 */
static int
settled(jv latest, const char *id)
{
	char q[512];
	jv st = alba_get(jv_copy(latest), "state");
	int fin = alba_forge_final(alba_str(st));
	long long mine, theirs;

	jv_free(st);
	if (!fin)
		return 0;
	if (alba_getstr(latest, "job", q, sizeof q) == NULL || strcmp(q, id) == 0)
		return 1;
	mine = dispatch_time(id);
	theirs = dispatch_time(q);
	/* Two builds dispatched in the same second: the greater ID wins, on
	 * every run alike. */
	return mine < 0 || theirs < 0 || theirs > mine ||
	    (theirs == mine && strcmp(q, id) > 0);
}

#define REPEAT_DELAY_MS 2000L

static int
report(jv pd, const char *id, const char *ns, jv status, int why, int *rc,
    char *err, size_t errlen)
{
	char state[32], desc[512];
	int r;

	*rc = 0;
	if (!alba_forge_configured(pd)) {
		snprintf(err, errlen, "no forge configured");
		return REPORT_NONE;
	}
	sget(status, "state", state, sizeof state);
	sget(status, "description", desc, sizeof desc);
	/* The waiter of an idempotent repeat (a redelivery: eval_id "") lets
	 * the first delivery's waiter post, then posts only if nothing did
	 * (the first answer was lost, so no waiter ran for it). */
	int repeat = 0;
	{
		jv ev = alba_get(jv_copy(pd), "job.eval_id");
		repeat = alba_str(ev) && *alba_str(ev) == 0;
		jv_free(ev);
	}
	if (repeat)
		alba_sleep_ms(REPEAT_DELAY_MS);
	if (why == ALBA_BUILD_STOPPED || repeat) {
		jv latest;
		if ((r = alba_forge_latest(pd, &latest, err, errlen))) {
			*rc = r;
			return REPORT_FAILED;
		}
		if (settled(latest, id)) {
			jv st = alba_get(latest, "state");
			snprintf(err, errlen, "the forge already shows %s", alba_str(st));
			jv_free(st);
			return REPORT_SKIPPED;
		}
		jv_free(latest);
	}
	if ((r = alba_forge_status(pd, id, alba_build_forge_state(state), desc, err, errlen))) {
		*rc = r;
		return REPORT_FAILED;
	}
	if (why == ALBA_BUILD_NOT_PLACED) {
		char *p = job_path(id, "", ns, NULL), e2[512];
		if ((r = alba_nomad_json(&nomad, "DELETE", p, NULL, 0, NULL, NULL, e2, sizeof e2)))
			alba_warn("unable to stop %s, not placed in time: %s", id, e2);
		free(p);
	}
	return REPORT_POSTED;
}

static const char *const report_word[] = { "posted", "skipped", "none", "failed" };

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
	rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &list, NULL, err, errlen);
	free(p);
	if (rc)
		return rc;
	len = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < len; i++) {
		jv s = jv_array_get(jv_copy(list), i);
		char sid[512];
		if (strcmp(sget(s, "ID", sid, sizeof sid), id) == 0) {
			sget(s, "Namespace", ns, n);
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

/* A job purged while it was pending or running, as a verdict reads it: a
 * stopped, dead job (its allocations stay until GC).  Consumes job. */
static jv
purged(jv job)
{
	job = jv_object_set(job, jv_string("Stop"), jv_true());
	return jv_object_set(job, jv_string("Status"), jv_string("dead"));
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

	if (get_allocs(id, ns, &allocs, err, sizeof err))
		return 0;
	n = jv_get_kind(allocs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(allocs)) : 0;
	jv_free(allocs);
	return n > 0 || strcmp(sget(seen, "Status", st, sizeof st), "pending") == 0;
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
		p = job_path(id, "", ns, extra);
		rc = alba_nomad_json(&nomad, "GET", p, NULL,
		    wait_ms + alba_service_timeout_ms(), job, &got, err, errlen);
		free(p);
		if (rc == 404 && jv_is_valid(seen) && was_purged(id, ns, seen)) {
			jv_free(*job);
			*job = purged(seen);
			return 0;
		}
		jv_free(seen);
		if (rc)
			return rc;
		seen = jv_copy(*job);
		if (strcmp(sget(*job, "Status", st, sizeof st), "dead") == 0) {
			jv_free(seen);
			return 0;
		}
		left = 0;
		if (strcmp(st, "pending") == 0 && bound_s > 0) {
			jv sub = alba_get(jv_copy(*job), "SubmitTime"), allocs;
			double s = jv_get_kind(sub) == JV_KIND_NUMBER ? jv_number_value(sub) / 1e9 : 0;
			jv_free(sub);
			left = s + (double)bound_s - now_s();
			if (left <= 0) {
				int none;
				if ((rc = get_allocs(id, ns, &allocs, err, errlen))) {
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
	if (alba_service_nomad(&nomad, err, sizeof err))
		alba_doc_fail(doc, 502, "bad_environment", "%s", err);
	if (from_request || alba_getstr(doc, "job.namespace", ns, sizeof ns) == NULL || !*ns) {
		if ((rc = find_namespace(id, ns, sizeof ns, err, sizeof err)) == 404)
			alba_doc_fail(doc, 404, "unknown_job", "%s", err);
		else if (rc)
			nomad_fail(doc, rc, err);
	}
	if (cancel) {
		if ((rc = alba_cancel_previous(&nomad, doc, &cancelled, err, sizeof err)))
			alba_warn("cancel_previous: %s", err);
	}
	if (waiting)
		rc = wait_job(id, ns, &job, err, sizeof err);
	else {
		char *p = job_path(id, "", ns, NULL);
		rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &job, NULL, err, sizeof err);
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
		jv pd = post_doc(doc, job);
		if ((rc = verdict(job, ns, &status, &why, err, sizeof err))) {
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
			int r = report(pd, id, ns, status, why, &rc, err, sizeof err);
			if (r == REPORT_FAILED)
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
	alba_service_free(&nomad);
	if (waiting && (why == ALBA_BUILD_FAILURE || fin) && why != ALBA_BUILD_SUCCESS)
		return ALBA_NO;
	return rc == ALBA_TEMP ? ALBA_TEMP : 0;
}

/* ---- watch and sync: configuration per repository, cached */

static jv cfg_cache;	/* repo_url -> {t, config|null} */

/* The configuration of repo_url; jv_null() if it is not registered.  An
 * error code with err set when Consul fails. */
static int
config_for(const char *repo_url, jv *config, char *err, size_t errlen)
{
	jv e = jv_object_get(jv_copy(cfg_cache), jv_string(repo_url));
	double t = mono_s();
	int rc;

	*config = jv_invalid();
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		jv tv = jv_object_get(jv_copy(e), jv_string("t"));
		if (t - jv_number_value(tv) < 60) {
			jv_free(tv);
			*config = jv_object_get(e, jv_string("c"));
			return 0;
		}
		jv_free(tv);
	}
	jv_free(e);
	rc = alba_config_fetch(&consul, repo_url, config, err, errlen);
	if (rc == 404) {
		*config = jv_null();
		rc = 0;
	}
	if (rc)
		return rc;
	cfg_cache = jv_object_set(cfg_cache, jv_string(repo_url), JV_OBJECT(
	    jv_string("t"), jv_number(t), jv_string("c"), jv_copy(*config)));
	return 0;
}

/* 1 if job (namespace ns) was dispatched from a builder that config names.
 * Borrows both. */
static int
belongs(jv config, jv job, const char *ns)
{
	char parent[512];

	sget(job, "ParentID", parent, sizeof parent);
	return strcmp(alba_config_namespace(config), ns) == 0 &&
	    alba_config_is_builder(config, parent);
}

/*
 * The end of a build found by watch or sync: its verdict, its configuration
 * and the report; one NDJSON line on stdout.  check_forge: skip it when the
 * forge already shows a final status (sync).  Returns 0, or a code to retry
 * later (ALBA_TEMP) or to give up on (ALBA_PERM).  Consumes job.
 */
static int
finish(jv job, const char *ns, unsigned long long index, int check_forge, int *posted)
{
	char id[512], url[2048], err[1024];
	jv status = jv_invalid(), config, pd, line;
	int rc, why = 0, r = REPORT_NONE, prc = 0;
	const char *msg = "";

	*posted = 0;
	sget(job, "ID", id, sizeof id);
	sget(job, "Meta.REPO_URL", url, sizeof url);
	if ((rc = config_for(url, &config, err, sizeof err))) {
		alba_warn("%s: unable to read the configuration of its repository: %s", id, err);
		jv_free(job);
		return ALBA_TEMP;
	}
	if (jv_get_kind(config) == JV_KIND_NULL) {
		msg = "its repository has no configuration (a fork's pull request?)";
		r = REPORT_NONE;
	} else if (!belongs(config, job, ns)) {
		msg = "not dispatched by a builder of its repository's configuration";
		r = REPORT_NONE;
	}
	{
		jv base = JV_OBJECT(jv_string("config"), config);
		pd = post_doc(base, job);
		jv_free(base);
	}
	if (!*msg && check_forge) {
		jv latest;
		if ((rc = alba_forge_latest(pd, &latest, err, sizeof err))) {
			alba_warn("%s: unable to read the forge's status: %s", id, err);
			jv_free(pd);
			jv_free(job);
			return rc;
		}
		int done = settled(latest, id);
		jv_free(latest);
		if (done) {
			jv_free(pd);
			jv_free(job);
			return 0;	/* already reported: nothing to say */
		}
	}
	line = JV_OBJECT(jv_string("index"), jv_number((double)index),
	    jv_string("job"), JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("namespace"), jv_string(ns),
	    jv_string("parent"), alba_get(jv_copy(job), "ParentID")));
	if ((rc = verdict(job, ns, &status, &why, err, sizeof err))) {
		alba_warn("%s: unable to read its allocations: %s", id, err);
		jv_free(pd);
		jv_free(line);
		return ALBA_TEMP;
	}
	if (!*msg) {
		r = report(pd, id, ns, status, why, &prc, err, sizeof err);
		msg = err;
		if (r == REPORT_FAILED)
			alba_warn("%s: unable to report it to the forge: %s", id, err);
		if (r == REPORT_POSTED) {
			msg = "";
			*posted = 1;
		}
	}
	jv_free(pd);
	line = jv_object_set(line, jv_string("status"), status);
	line = jv_object_set(line, jv_string("forge"), jv_string(report_word[r]));
	if (*msg)
		line = jv_object_set(line, jv_string("message"), jv_string(msg));
	{
		jv s = jv_dump_string(line, 0);
		printf("%s\n", jv_string_value(s));
		fflush(stdout);
		jv_free(s);
	}
	return r == REPORT_FAILED ? prc : 0;
}

/* ---- sync */

static int
sync_mode(const char *builder, const char *ns)
{
	char err[1024], *eb = alba_urlencode(builder), *en = alba_urlencode(ns), *qb, *f = NULL;
	char *ef = NULL, *p = NULL;
	jv list;
	int rc, i, n, worst = 0, posted, count = 0;
	double now = now_s();

	qb = alba_bexpr_quote(builder);
	if (!eb || !en || !qb || asprintf(&f, "ParentID == %s and \"REPO_URL\" in Meta and "
	    "\"COMMIT\" in Meta", qb) < 0 || (ef = alba_urlencode(f)) == NULL ||
	    asprintf(&p, "/v1/jobs?prefix=%s%%2Fdispatch-&namespace=%s&meta=true&filter=%s",
	    eb, en, ef) < 0)
		alba_die(ALBA_TEMP, "out of memory");
	free(eb);
	free(en);
	free(qb);
	free(f);
	free(ef);
	rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &list, NULL, err, sizeof err);
	free(p);
	if (rc)
		alba_die(rc == 503 || rc == 504 ? ALBA_TEMP : ALBA_PERM, "%s", err);
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i), sub = alba_get(jv_copy(s), "SubmitTime");
		char st[32], jns[256];
		double t = jv_get_kind(sub) == JV_KIND_NUMBER ? jv_number_value(sub) / 1e9 : 0;
		jv_free(sub);
		sget(s, "Status", st, sizeof st);
		if (!*sget(s, "Namespace", jns, sizeof jns))
			snprintf(jns, sizeof jns, "%s", ns);
		if (maxage_s > 0 && t < now - (double)maxage_s) {
			jv_free(s);
			continue;
		}
		if (strcmp(st, "dead") == 0 ||
		    (strcmp(st, "pending") == 0 && bound_s > 0 && now - t > (double)bound_s)) {
			jv idx = alba_get(jv_copy(s), "ModifyIndex");
			unsigned long long mi = jv_get_kind(idx) == JV_KIND_NUMBER ?
			    (unsigned long long)jv_number_value(idx) : 0;
			jv_free(idx);
			if (strcmp(st, "pending") == 0) {
				/* Only when no allocation ever came: the verdict says. */
				jv alloc_check;
				char id[512];
				sget(s, "ID", id, sizeof id);
				if (get_allocs(id, jns, &alloc_check, err, sizeof err) ||
				    jv_get_kind(alloc_check) != JV_KIND_ARRAY ||
				    jv_array_length(jv_copy(alloc_check)) > 0) {
					jv_free(alloc_check);
					jv_free(s);
					continue;
				}
				jv_free(alloc_check);
			}
			rc = finish(s, jns, mi, 1, &posted);
			count += posted;
			if (rc > worst)
				worst = rc;
		} else
			jv_free(s);
	}
	jv_free(list);
	(void)count;
	return worst;
}

/* ---- watch */

struct watch {
	jv reported;		/* "ns\nid" -> time reported */
	jv pending;		/* "ns\nid" -> {id, ns, submit, retry} */
	jv queue;		/* batches parsed, not yet handled */
	unsigned long long last;	/* index of the last batch handled */
	unsigned long long asked;	/* the index the stream was opened with */
	char *line;
	size_t len, cap;
	int overflow;
	double last_byte;
};

static jv
key_of(const char *ns, const char *id)
{
	return jv_string_fmt("%s\n%s", ns, id);
}

static size_t
on_stream(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watch *w = arg;
	size_t n = size * nmemb, i;

	w->last_byte = mono_s();
	for (i = 0; i < n; i++) {
		char c = data[i];
		if (c != '\n') {
			if (w->overflow)
				continue;
			if (w->len + 1 >= w->cap) {
				size_t nc = w->cap ? w->cap * 2 : 65536;
				char *nl;
				if (nc > ((size_t)64 << 20) || (nl = realloc(w->line, nc)) == NULL) {
					w->overflow = 1;
					continue;
				}
				w->line = nl;
				w->cap = nc;
			}
			w->line[w->len++] = c;
			continue;
		}
		if (w->overflow)
			alba_warn("an event stream line over 64 MiB was dropped");
		else if (w->len > 0) {
			jv v = jv_parse_sized(w->line, (int)w->len);
			if (jv_get_kind(v) == JV_KIND_OBJECT)
				w->queue = jv_array_append(w->queue, v);
			else
				jv_free(v);
		}
		w->len = 0;
		w->overflow = 0;
	}
	return n;
}

static void
track(struct watch *w, jv job, const char *ns)
{
	char id[512];
	jv k, sub;

	sget(job, "ID", id, sizeof id);
	k = key_of(ns, id);
	if (jv_object_has(jv_copy(w->reported), jv_copy(k)) ||
	    jv_object_has(jv_copy(w->pending), jv_copy(k))) {
		jv_free(k);
		return;
	}
	sub = alba_get(jv_copy(job), "SubmitTime");
	if (jv_get_kind(sub) != JV_KIND_NUMBER) {
		jv_free(sub);
		sub = jv_number(now_s() * 1e9);
	}
	w->pending = jv_object_set(w->pending, k, JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("ns"), jv_string(ns), jv_string("submit"), sub,
	    jv_string("retry"), jv_number(0)));
}

static void
untrack(struct watch *w, const char *ns, const char *id)
{
	w->pending = jv_object_delete(w->pending, key_of(ns, id));
}

/* A dead build: report it once.  Consumes job. */
static void
ended(struct watch *w, jv job, const char *ns, unsigned long long index)
{
	char id[512];
	jv k;
	int posted, rc;

	sget(job, "ID", id, sizeof id);
	k = key_of(ns, id);
	if (jv_object_has(jv_copy(w->reported), jv_copy(k))) {
		jv_free(k);
		jv_free(job);
		return;
	}
	rc = finish(job, ns, index, 0, &posted);
	if (rc == ALBA_TEMP) {
		/* Try again in a while: keep it pending with a retry time. */
		w->pending = jv_object_set(w->pending, k, JV_OBJECT(jv_string("id"),
		    jv_string(id), jv_string("ns"), jv_string(ns), jv_string("submit"),
		    jv_number(0), jv_string("retry"), jv_number(mono_s() + 5)));
		return;
	}
	w->pending = jv_object_delete(w->pending, jv_copy(k));
	w->reported = jv_object_set(w->reported, k, jv_number(mono_s()));
}

/* 1 if the job is a build albatros follows: a dispatched child with the
 * meta albatros sets.  Borrows job. */
static int
is_build(jv job)
{
	char b[8];
	jv d = alba_get(jv_copy(job), "Dispatched");
	int r = jv_get_kind(d) == JV_KIND_TRUE &&
	    alba_getstr(job, "ParentID", b, sizeof b) != NULL &&
	    jv_get_kind(d) != JV_KIND_INVALID;
	jv m = alba_get(jv_copy(job), "Meta.REPO_URL"), c = alba_get(jv_copy(job), "Meta.COMMIT");

	r = r && alba_str(m) && alba_str(c);
	if (jv_get_kind(d) != JV_KIND_TRUE) {
		/* Jobs-list stubs carry no Dispatched: a ParentID will do. */
		char p[512];
		r = alba_getstr(job, "ParentID", p, sizeof p) && *p && alba_str(m) && alba_str(c);
	}
	jv_free(d);
	jv_free(m);
	jv_free(c);
	return r;
}

static void
handle_batch(struct watch *w, jv batch)
{
	jv idx = alba_get(jv_copy(batch), "Index"), evs = alba_get(batch, "Events");
	unsigned long long index = jv_get_kind(idx) == JV_KIND_NUMBER ?
	    (unsigned long long)jv_number_value(idx) : 0;
	int i, n;

	jv_free(idx);
	if (index == 0 || jv_get_kind(evs) != JV_KIND_ARRAY) {
		jv_free(evs);	/* {} heartbeat */
		return;
	}
	if (index < w->asked || index <= w->last) {
		jv_free(evs);	/* a replay of what we saw: Nomad's index is inclusive */
		return;
	}
	n = jv_array_length(jv_copy(evs));
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(evs), i), job, del;
		char topic[32] = "", ns[256], st[32] = "";

		sget(e, "Topic", topic, sizeof topic);
		del = alba_get(jv_copy(e), "Payload.Deleted");
		job = alba_get(jv_copy(e), "Payload.Job");
		sget(job, "Status", st, sizeof st);
		/* A deleted job that was dead has been reported (or GC took its
		 * allocations, and with them its verdict); one deleted in flight
		 * was purged: it ends here, no other event will say so. */
		if (strcmp(topic, "Job") || jv_get_kind(job) != JV_KIND_OBJECT ||
		    !is_build(job) || (jv_get_kind(del) == JV_KIND_TRUE && !strcmp(st, "dead"))) {
			jv_free(del);
			jv_free(job);
			jv_free(e);
			continue;
		}
		if (jv_get_kind(del) == JV_KIND_TRUE) {
			job = purged(job);
			snprintf(st, sizeof st, "dead");
		}
		jv_free(del);
		if (!*sget(job, "Namespace", ns, sizeof ns) && !*sget(e, "Namespace", ns, sizeof ns))
			snprintf(ns, sizeof ns, "default");
		jv_free(e);
		if (strcmp(st, "dead") == 0)
			ended(w, job, ns, index);
		else {
			if (strcmp(st, "pending") == 0)
				track(w, job, ns);
			else {
				char id[512];
				untrack(w, ns, sget(job, "ID", id, sizeof id));
			}
			jv_free(job);
		}
	}
	jv_free(evs);
	w->last = index;
}

/*
 * Builds that need a look now: pending past the placement bound, or whose
 * report failed and is due again.
 */
static void
check_pending(struct watch *w)
{
	double now = now_s(), mono = mono_s();
	jv due = jv_array();
	int i, n;

	jv_object_foreach(w->pending, k, v) {
		jv sub = alba_get(jv_copy(v), "submit"), retry = alba_get(jv_copy(v), "retry");
		double s = jv_number_value(sub) / 1e9, r = jv_number_value(retry);
		if ((r > 0 && mono >= r) || (r == 0 && s > 0 && bound_s > 0 &&
		    now - s > (double)bound_s))
			due = jv_array_append(due, jv_copy(v));
		jv_free(sub);
		jv_free(retry);
		jv_free(k);
		jv_free(v);
	}
	n = jv_array_length(jv_copy(due));
	for (i = 0; i < n; i++) {
		jv v = jv_array_get(jv_copy(due), i), job;
		char id[512], ns[256], err[1024], st[32], *p;
		int rc;

		sget(v, "id", id, sizeof id);
		sget(v, "ns", ns, sizeof ns);
		jv_free(v);
		p = job_path(id, "", ns, NULL);
		rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &job, NULL, err, sizeof err);
		free(p);
		if (rc == 404) {
			untrack(w, ns, id);
			continue;
		}
		if (rc) {
			alba_warn("%s", err);
			continue;
		}
		sget(job, "Status", st, sizeof st);
		if (strcmp(st, "running") == 0) {
			untrack(w, ns, id);
			jv_free(job);
		} else
			/* dead, or pending past the bound: the verdict decides. */
			ended(w, job, ns, w->last);
	}
	jv_free(due);
}

/*
 * Read the builds from REST: in flight ones are tracked, dead ones with a
 * ModifyIndex at or after since (not 0) are reported (they ended while the
 * stream was away).  Returns the list's index, or 0 on failure.
 */
static unsigned long long
rescan(struct watch *w, unsigned long long since)
{
	static const char filter[] = "ParentID != \"\" and \"REPO_URL\" in Meta and "
	    "\"COMMIT\" in Meta";
	char err[1024], *ef = alba_urlencode(filter), *p = NULL;
	unsigned long long index = 0;
	jv list;
	int i, n, rc;

	if (ef == NULL || asprintf(&p, "/v1/jobs?namespace=*&meta=true&filter=%s", ef) < 0)
		alba_die(ALBA_TEMP, "out of memory");
	free(ef);
	rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &list, &index, err, sizeof err);
	free(p);
	if (rc) {
		alba_warn("%s", err);
		return 0;
	}
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i), mi = alba_get(jv_copy(s), "ModifyIndex");
		char st[32], ns[256];
		unsigned long long m = jv_get_kind(mi) == JV_KIND_NUMBER ?
		    (unsigned long long)jv_number_value(mi) : 0;
		jv_free(mi);
		sget(s, "Status", st, sizeof st);
		if (!*sget(s, "Namespace", ns, sizeof ns))
			snprintf(ns, sizeof ns, "default");
		if (!is_build(s))
			jv_free(s);
		else if (strcmp(st, "dead") == 0) {
			if (since && m >= since)
				ended(w, s, ns, m);
			else
				jv_free(s);
		} else {
			if (strcmp(st, "pending") == 0)
				track(w, s, ns);
			jv_free(s);
		}
	}
	jv_free(list);
	return index;
}

static int
watch_mode(double idle_s)
{
	struct watch w;
	double backoff = 0.5;
	CURLM *multi;

	memset(&w, 0, sizeof w);
	w.reported = jv_object();
	w.pending = jv_object();
	w.queue = jv_array();
	cfg_cache = jv_object();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((multi = curl_multi_init()) == NULL)
		alba_die(ALBA_TEMP, "unable to initialise libcurl");
	while ((w.last = rescan(&w, 0)) == 0) {
		alba_sleep_ms((long)(backoff * 1000));
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
	}
	for (;;) {
		struct alba_request rq = { 0 };
		struct curl_slist *hdrs;
		char path[128];
		CURL *c;
		long code = 0;
		int running = 1, got = 0;
		double last_check = 0;

		w.asked = w.last + 1;
		snprintf(path, sizeof path, "/v1/event/stream?topic=Job&namespace=*&index=%llu",
		    w.asked);
		rq.method = "GET";
		rq.path = path;
		if ((c = alba_http_easy(&nomad, &rq, &hdrs)) == NULL)
			alba_die(ALBA_TEMP, "unable to initialise libcurl");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
		w.len = 0;
		w.overflow = 0;
		w.last_byte = mono_s();
		curl_multi_add_handle(multi, c);
		while (running) {
			int n;
			curl_multi_perform(multi, &running);
			n = jv_array_length(jv_copy(w.queue));
			if (n > 0) {
				jv q = w.queue;
				int i;
				w.queue = jv_array();
				for (i = 0; i < n; i++)
					handle_batch(&w, jv_array_get(jv_copy(q), i));
				jv_free(q);
				got = 1;
			}
			if (mono_s() - last_check >= 0.5) {
				check_pending(&w);
				last_check = mono_s();
			}
			if (running && mono_s() - w.last_byte > idle_s) {
				alba_warn("nothing from the event stream for %.0f s: reconnecting",
				    idle_s);
				break;
			}
			if (running)
				curl_multi_poll(multi, NULL, 0, 200, NULL);
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(multi, c);
		curl_easy_cleanup(c);
		curl_slist_free_all(hdrs);
		if (got && code == 200)
			backoff = 0.5;
		alba_warn("the event stream of nomad at %s ended (HTTP %ld): resuming from "
		    "index %llu in %.1f s", nomad.shown, code, w.last + 1, backoff);
		alba_sleep_ms((long)(backoff * 1000));
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
		/* What ended while the stream was away. */
		rescan(&w, w.last + 1);
	}
	/* NOTREACHED */
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *builder = "builder", *ns = NULL;
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
			bound_s = ms / 1000;
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
		if (alba_service_nomad(&nomad, err, sizeof err) ||
		    alba_service_consul(&consul, err, sizeof err))
			alba_die(ALBA_PERM, "%s", err);
		post = 1;
		if (mode == 'W')
			return watch_mode(idle && atof(idle) > 0 ? atof(idle) : 75);
		if (ns == NULL)
			ns = getenv("NOMAD_NAMESPACE") && *getenv("NOMAD_NAMESPACE") ?
			    getenv("NOMAD_NAMESPACE") : "ci";
		cfg_cache = jv_object();
		ch = sync_mode(builder, ns);
		jv_free(cfg_cache);
		alba_service_free(&nomad);
		alba_service_free(&consul);
		return ch;
	}
	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	return one_shot(doc, cancel, mode == 'w');
}
