/* ISC license. */
/*
 * buildreport.c: a build's verdict from Nomad and its report to the forge,
 * for every mode of alba-status.  Stateless: what was reported is read back
 * from the forge, what ran from Nomad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alba.h"
#include "buildreport.h"
#include "buildstatus.h"
#include "forge.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"
#include "repoconfig.h"

double
alba_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double
alba_mono_s(void)
{
	return (double)alba_mono_ms() / 1e3;
}

const char *
alba_sgetbuf(jv v, const char *path, char *buf, size_t n)
{
	const char *s = alba_getstr(v, path, buf, n);

	if (s == NULL && n)
		buf[0] = 0;	/* callers read buf too */
	return s ? s : "";
}

char *
alba_job_path(const char *id, const char *suffix, const char *ns, const char *extra)
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
int
alba_job_allocs(const struct alba_reporter *r, const char *id, const char *ns, jv *allocs,
    char *err, size_t errlen)
{
	char *p = alba_job_path(id, "/allocations", ns, NULL);
	int rc = alba_nomad_json(&r->nomad, "GET", p, NULL, 0, allocs, NULL, err, errlen);

	free(p);
	return rc;
}

/* The state of a job's build, with a fresh read of its allocations. */
int
alba_build_verdict(const struct alba_reporter *r, jv job, const char *ns, jv *status, int *why,
    char *err, size_t errlen)
{
	char id[512];
	jv allocs;
	int rc;

	*status = jv_invalid();
	alba_sgetbuf(job, "ID", id, sizeof id);
	if ((rc = alba_job_allocs(r, id, ns, &allocs, err, errlen))) {
		jv_free(job);
		return rc;
	}
	*status = alba_build_status(job, allocs, alba_now_s(), r->bound_s, why);
	return 0;
}

/* The document a report is posted from: doc's config and event, and a build
 * made from the job's meta when doc has no build.commit.  Borrows both. */
jv
alba_report_doc(jv doc, jv job)
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
int
alba_report_settled(jv latest, const char *id)
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

/* A stopped build whose status the forge already shows final (a
 * cancel_previous, a stop that posted first) is left as it is. */
int
alba_report(const struct alba_reporter *r, jv pd, const char *id, const char *ns, jv status,
    int why, int *rc, char *err, size_t errlen)
{
	char state[32], desc[512], evid[64];
	int e, repeat;

	*rc = 0;
	if (!alba_forge_configured(pd)) {
		snprintf(err, errlen, "no forge configured");
		return ALBA_REPORT_NONE;
	}
	alba_sgetbuf(status, "state", state, sizeof state);
	alba_sgetbuf(status, "description", desc, sizeof desc);
	/* The waiter of an idempotent repeat (a redelivery: job.eval_id "")
	 * lets the first delivery's waiter post, then posts only if nothing
	 * did (the first answer was lost, so no waiter ran for it). */
	if ((repeat = alba_getstr(pd, "job.eval_id", evid, sizeof evid) && !*evid))
		alba_sleep_ms(REPEAT_DELAY_MS);
	if (why == ALBA_BUILD_STOPPED || repeat) {
		jv latest;
		if ((e = alba_forge_latest(pd, &latest, err, errlen))) {
			*rc = e;
			return ALBA_REPORT_FAILED;
		}
		if (alba_report_settled(latest, id)) {
			jv st = alba_get(latest, "state");
			snprintf(err, errlen, "the forge already shows %s", alba_str(st));
			jv_free(st);
			return ALBA_REPORT_SKIPPED;
		}
		jv_free(latest);
	}
	if ((e = alba_forge_status(pd, id, alba_build_forge_state(state), desc, err, errlen))) {
		*rc = e;
		return ALBA_REPORT_FAILED;
	}
	if (why == ALBA_BUILD_NOT_PLACED) {
		char *p = alba_job_path(id, "", ns, NULL), e2[512];
		if ((e = alba_nomad_json(&r->nomad, "DELETE", p, NULL, 0, NULL, NULL, e2, sizeof e2)))
			alba_warn("unable to stop %s, not placed in time: %s", id, e2);
		free(p);
	}
	return ALBA_REPORT_POSTED;
}

const char *const alba_report_word[] = { "posted", "skipped", "none", "failed" };

jv
alba_job_purged(jv job)
{
	job = jv_object_set(job, jv_string("Stop"), jv_true());
	return jv_object_set(job, jv_string("Status"), jv_string("dead"));
}

/* ---- watch and sync: configuration per repository, cached */


/* The configuration of repo_url; jv_null() if it is not registered.  An
 * error code with err set when Consul fails. */
static int
config_for(struct alba_reporter *r, const char *repo_url, jv *config, char *err, size_t errlen)
{
	jv e = jv_object_get(jv_copy(r->cfg_cache), jv_string(repo_url));
	double t = alba_mono_s();
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
	rc = alba_config_fetch(&r->consul, repo_url, config, err, errlen);
	if (rc == 404) {
		*config = jv_null();
		rc = 0;
	}
	if (rc)
		return rc;
	r->cfg_cache = jv_object_set(r->cfg_cache, jv_string(repo_url), JV_OBJECT(
	    jv_string("t"), jv_number(t), jv_string("c"), jv_copy(*config)));
	return 0;
}

/* 1 if job (namespace ns) was dispatched from a builder that config names.
 * Borrows both. */
static int
belongs(jv config, jv job, const char *ns)
{
	char parent[512];

	alba_sgetbuf(job, "ParentID", parent, sizeof parent);
	return strcmp(alba_config_namespace(config), ns) == 0 &&
	    alba_config_is_builder(config, parent);
}

/*
 * The end of a build found by watch or sync: its verdict, its configuration
 * and the report; one NDJSON line on stdout.  check_forge: skip it when the
 * forge already shows a final status (sync).  Returns 0, or a code to retry
 * later (ALBA_TEMP) or to give up on (ALBA_PERM).  Consumes job.
 */
int
alba_build_end(struct alba_reporter *r, jv job, const char *ns, unsigned long long index,
    int check_forge, int *posted)
{
	char id[512], url[2048], err[1024];
	jv status = jv_invalid(), config, pd, line;
	int rc, why = 0, res = ALBA_REPORT_NONE, prc = 0;
	const char *msg = "";

	*posted = 0;
	alba_sgetbuf(job, "ID", id, sizeof id);
	alba_sgetbuf(job, "Meta.REPO_URL", url, sizeof url);
	if ((rc = config_for(r, url, &config, err, sizeof err))) {
		alba_warn("%s: unable to read the configuration of its repository: %s", id, err);
		jv_free(job);
		return ALBA_TEMP;
	}
	if (jv_get_kind(config) == JV_KIND_NULL) {
		msg = "its repository has no configuration (a fork's pull request?)";
		res = ALBA_REPORT_NONE;
	} else if (!belongs(config, job, ns)) {
		msg = "not dispatched by a builder of its repository's configuration";
		res = ALBA_REPORT_NONE;
	}
	{
		jv base = JV_OBJECT(jv_string("config"), config);
		pd = alba_report_doc(base, job);
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
		int done = alba_report_settled(latest, id);
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
	if ((rc = alba_build_verdict(r, job, ns, &status, &why, err, sizeof err))) {
		alba_warn("%s: unable to read its allocations: %s", id, err);
		jv_free(pd);
		jv_free(line);
		return ALBA_TEMP;
	}
	if (!*msg) {
		res = alba_report(r, pd, id, ns, status, why, &prc, err, sizeof err);
		msg = err;
		if (res == ALBA_REPORT_FAILED)
			alba_warn("%s: unable to report it to the forge: %s", id, err);
		if (res == ALBA_REPORT_POSTED) {
			msg = "";
			*posted = 1;
		}
	}
	jv_free(pd);
	line = jv_object_set(line, jv_string("status"), status);
	line = jv_object_set(line, jv_string("forge"), jv_string(alba_report_word[res]));
	if (*msg)
		line = jv_object_set(line, jv_string("message"), jv_string(msg));
	{
		jv s = jv_dump_string(line, 0);
		printf("%s\n", jv_string_value(s));
		fflush(stdout);
		jv_free(s);
	}
	return res == ALBA_REPORT_FAILED ? prc : 0;
}