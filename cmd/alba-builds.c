/* ISC license. */
/*
 * alba-builds: a repository's recent builds (.builds), or the badge of its
 * latest finished one (.badge), read from Nomad's jobs and their meta: the
 * builder's dispatched children whose REPO_URL is the repository.  With -s,
 * the one build alba-status looked up, in the same shape, for the page of
 * /build.  Stateless: two Nomad requests at most, whatever the number of
 * builds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alba.h"
#include "buildstatus.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"
#include "repoconfig.h"

static const char usage_str[] =
    "usage: alba-builds [-bs] [-m maxbytes] [-n count]";

#define MAXBUILDERS 16
#define BOUND_S 300	/* as alba-status -n: pending with no node this long is an error */

static struct alba_service nomad;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
nomad_fail(jv doc, int rc, const char *err)
{
	if (rc == 503 || rc == 504)
		alba_doc_fail(doc, 503, "nomad_unreachable", "%s", err);
	alba_doc_fail(doc, 502, "nomad_error", "%s", err);
}

/* s appended to *buf (a fresh string, freed and replaced). */
static void
cat(char **buf, const char *s)
{
	char *n = alba_xprintf("%s%s", *buf ? *buf : "", s);

	free(*buf);
	*buf = n;
}

/* " and \"K\" in Meta and Meta.K == \"v\"" onto *f. */
static void
meta_is(char **f, const char *key, const char *v)
{
	char *q = alba_bexpr_quote(v);

	if (q == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	cat(f, " and \"");
	cat(f, key);
	cat(f, "\" in Meta and Meta.");
	cat(f, key);
	cat(f, " == ");
	cat(f, q);
	free(q);
}

/* list sorted by SubmitTime, then ID (the dispatch time is in it), the
 * newest first.  Consumes list. */
static jv
newest_first(jv list)
{
	jv keys = jv_array(), sorted, out = jv_array();
	int i, n = jv_array_length(jv_copy(list));

	for (i = 0; i < n; i++) {
		jv j = jv_array_get(jv_copy(list), i);
		jv t = alba_get(jv_copy(j), "SubmitTime"), id = alba_get(j, "ID");
		keys = jv_array_append(keys, JV_ARRAY(jv_get_kind(t) == JV_KIND_NUMBER ? t :
		    (jv_free(t), jv_number(0)), jv_get_kind(id) == JV_KIND_STRING ? id :
		    (jv_free(id), jv_string(""))));
	}
	sorted = jv_sort(list, keys);
	for (i = jv_array_length(jv_copy(sorted)) - 1; i >= 0; i--)
		out = jv_array_append(out, jv_array_get(jv_copy(sorted), i));
	jv_free(sorted);
	return out;
}

/*
 * The repository's children, newest first: one GET /v1/jobs with a
 * filter on the full job (ParentID one of the repository's builders, meta
 * REPO_URL, and BRANCH and FLAVOR when given), prefix-narrowed when there
 * is one builder.  Nomad lists jobs in ID order only (its paginator cannot
 * reverse the jobs table, api/nomad.md), so the list is read whole and
 * sorted here.  Borrows doc and config; exits on failure.
 */
static jv
children(jv doc, jv config, const char *ns, const char *repo, const char *branch,
    const char *flavor)
{
	const char *builders[MAXBUILDERS];
	char *f = NULL, *p, *ef, *en, *eb = NULL, err[1024];
	jv list, b = alba_get(jv_copy(config), "builder"), fl = alba_get(jv_copy(config), "flavors");
	int nb = 0, i, rc;

	builders[nb++] = alba_str(b) && *alba_str(b) ? alba_str(b) : "builder";
	if (jv_get_kind(fl) == JV_KIND_OBJECT)
		jv_object_foreach(fl, k, v) {
			int dup = 0;
			if (alba_str(v) && *alba_str(v)) {
				for (i = 0; i < nb; i++)
					dup |= strcmp(builders[i], alba_str(v)) == 0;
				if (!dup && nb < MAXBUILDERS)
					builders[nb++] = alba_str(v);	/* lives in config */
			}
			jv_free(k);
			jv_free(v);
		}
	cat(&f, "(");
	for (i = 0; i < nb; i++) {
		char *q = alba_bexpr_quote(builders[i]);
		if (q == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		cat(&f, i ? " or ParentID == " : "ParentID == ");
		cat(&f, q);
		free(q);
	}
	cat(&f, ")");
	meta_is(&f, "REPO_URL", repo);
	if (branch)
		meta_is(&f, "BRANCH", branch);
	if (flavor)
		meta_is(&f, "FLAVOR", flavor);
	ef = alba_urlencode(f);
	en = alba_urlencode(ns);
	if (nb == 1)
		eb = alba_urlencode(builders[0]);
	if (ef == NULL || en == NULL || (nb == 1 && eb == NULL))
		alba_die(ALBA_TEMP, "out of memory");
	p = nb == 1 ?
	    alba_xprintf("/v1/jobs?prefix=%s%%2Fdispatch-&namespace=%s&meta=true&filter=%s", eb, en, ef) :
	    alba_xprintf("/v1/jobs?namespace=%s&meta=true&filter=%s", en, ef);
	free(f);
	free(ef);
	free(en);
	free(eb);
	jv_free(b);
	rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &list, NULL, err, sizeof err);
	free(p);
	jv_free(fl);
	if (rc)
		nomad_fail(jv_copy(doc), rc, err);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		alba_doc_fail(jv_copy(doc), 502, "nomad_error", "nomad's jobs list is not an array");
	}
	return newest_first(list);
}

/* Unix nanoseconds as RFC 3339 (UTC, seconds), or null. */
static jv
rfc3339(jv ns)
{
	char buf[32];
	time_t t;
	struct tm tm;

	if (jv_get_kind(ns) != JV_KIND_NUMBER || jv_number_value(ns) <= 0) {
		jv_free(ns);
		return jv_null();
	}
	t = (time_t)(jv_number_value(ns) / 1e9);
	jv_free(ns);
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return jv_null();
	return jv_string(buf);
}

/* meta[k], or null.  Borrows meta. */
static jv
meta_get(jv meta, const char *k)
{
	jv v = jv_get_kind(meta) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(meta), jv_string(k)) : jv_invalid();

	if (jv_get_kind(v) == JV_KIND_STRING)
		return v;
	jv_free(v);
	return jv_null();
}

/* The member k of status, or null.  Borrows status. */
static jv
status_get(jv status, const char *k)
{
	jv v = alba_get(jv_copy(status), k);

	if (jv_is_valid(v))
		return v;
	jv_free(v);
	return jv_null();
}

/*
 * One build as the pages show it: its job ID and the link to its page,
 * the meta it was dispatched with, its state and times.  Consumes meta,
 * submitted and status; borrows id and ns.
 */
static jv
row(const char *id, const char *ns, jv meta, jv submitted, jv status)
{
	char *eid = alba_urlencode(id);
	jv r;

	if (eid == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	r = JV_OBJECT(jv_string("id"), jv_string(id), jv_string("namespace"), jv_string(ns),
	    jv_string("url"), jv_string_fmt("/build?job=%s&log=stderr", eid),
	    jv_string("state"), status_get(status, "state"),
	    jv_string("description"), status_get(status, "description"),
	    jv_string("exit_code"), status_get(status, "exit_code"),
	    jv_string("alloc_id"), status_get(status, "alloc_id"));
	r = jv_object_set(r, jv_string("commit"), meta_get(meta, "COMMIT"));
	r = jv_object_set(r, jv_string("branch"), meta_get(meta, "BRANCH"));
	r = jv_object_set(r, jv_string("flavor"), meta_get(meta, "FLAVOR"));
	/* Nomad keeps only the meta a builder declares: SENDER if it does. */
	r = jv_object_set(r, jv_string("sender"), meta_get(meta, "SENDER"));
	r = jv_object_set(r, jv_string("submitted_at"), submitted);
	r = jv_object_set(r, jv_string("started_at"), status_get(status, "started_at"));
	r = jv_object_set(r, jv_string("finished_at"), status_get(status, "finished_at"));
	free(eid);
	jv_free(meta);
	jv_free(status);
	return r;
}

/* The row of a jobs-list stub with its allocations.  Consumes both. */
static jv
stub_row(jv stub, jv allocs, const char *ns)
{
	char id[512];
	jv meta = alba_get(jv_copy(stub), "Meta"), sub = alba_get(jv_copy(stub), "SubmitTime");

	if (!alba_getstr(stub, "ID", id, sizeof id))
		id[0] = 0;
	return row(id, ns, meta, rfc3339(sub),
	    alba_build_status(stub, allocs, now_s(), BOUND_S, NULL));
}

/*
 * The allocations of the jobs in list, in one GET /v1/allocations with a
 * filter naming them, as an object job ID -> array.  Borrows list.
 */
static jv
allocs_of(jv doc, jv list, const char *ns)
{
	char *f = NULL, *ef, *en, *p, err[1024];
	jv all, by = jv_object();
	int i, n = jv_array_length(jv_copy(list)), rc;

	if (n == 0)
		return by;
	for (i = 0; i < n; i++) {
		jv id = alba_get(jv_array_get(jv_copy(list), i), "ID");
		char *q = alba_str(id) ? alba_bexpr_quote(alba_str(id)) : NULL;
		if (q == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		cat(&f, i ? " or JobID == " : "JobID == ");
		cat(&f, q);
		free(q);
		jv_free(id);
	}
	ef = alba_urlencode(f);
	en = alba_urlencode(ns);
	if (ef == NULL || en == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	p = alba_xprintf("/v1/allocations?namespace=%s&filter=%s", en, ef);
	free(f);
	free(ef);
	free(en);
	rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &all, NULL, err, sizeof err);
	free(p);
	if (rc) {
		jv_free(by);
		nomad_fail(jv_copy(doc), rc, err);
	}
	n = jv_get_kind(all) == JV_KIND_ARRAY ? jv_array_length(jv_copy(all)) : 0;
	for (i = 0; i < n; i++) {
		jv a = jv_array_get(jv_copy(all), i), jid = alba_get(jv_copy(a), "JobID");
		if (jv_get_kind(jid) == JV_KIND_STRING) {
			jv have = jv_object_get(jv_copy(by), jv_copy(jid));
			if (!jv_is_valid(have)) {
				jv_free(have);
				have = jv_array();
			}
			by = jv_object_set(by, jid, jv_array_append(have, a));
		} else {
			jv_free(jid);
			jv_free(a);
		}
	}
	jv_free(all);
	return by;
}

/* The query parameter k of the request, or NULL.  Borrows doc. */
static const char *
query(jv doc, const char *k, char *buf, size_t n)
{
	char path[64];

	snprintf(path, sizeof path, "request.query.%s", k);
	return alba_getstr(doc, path, buf, n) && *buf ? buf : NULL;
}

/* The list: a page of count builds, newest first, before the build
 * ?before=ID when given; "next" is the cursor of the next page. */
static jv
list_mode(jv doc, jv config, const char *ns, const char *repo, int count)
{
	char branch[256], flavor[256], before[512];
	const char *b = query(doc, "branch", branch, sizeof branch);
	const char *f = query(doc, "flavor", flavor, sizeof flavor);
	const char *cursor = query(doc, "before", before, sizeof before);
	jv list = children(doc, config, ns, repo, b, f), page = jv_array(), by, rows = jv_array();
	jv next = jv_null();
	int i, n = jv_array_length(jv_copy(list)), skipping = cursor != NULL;

	for (i = 0; i < n; i++) {
		jv j = jv_array_get(jv_copy(list), i), id = alba_get(jv_copy(j), "ID");
		int here = alba_str(id) && cursor && strcmp(alba_str(id), cursor) == 0;
		if (skipping) {
			skipping = !here;
			jv_free(j);
		} else if (jv_array_length(jv_copy(page)) == count) {
			/* More to show: the next page starts after the last one. */
			jv_free(next);
			next = alba_get(jv_array_get(jv_copy(page), count - 1), "ID");
			jv_free(j);
			jv_free(id);
			break;
		} else
			page = jv_array_append(page, j);
		jv_free(id);
	}
	jv_free(list);
	by = allocs_of(doc, page, ns);
	n = jv_array_length(jv_copy(page));
	for (i = 0; i < n; i++) {
		jv j = jv_array_get(jv_copy(page), i), id = alba_get(jv_copy(j), "ID");
		jv a = alba_str(id) ? jv_object_get(jv_copy(by), jv_copy(id)) : jv_invalid();
		if (!jv_is_valid(a)) {
			jv_free(a);
			a = jv_array();
		}
		rows = jv_array_append(rows, stub_row(j, a, ns));
		jv_free(id);
	}
	jv_free(by);
	jv_free(page);
	return JV_OBJECT(jv_string("repo"), jv_string(repo),
	    jv_string("branch"), alba_jstr(b), jv_string("flavor"), alba_jstr(f),
	    jv_string("builds"), rows, jv_string("next"), next);
}

/* The badge of a state: its word, its colour, the width of the word. */
static const struct badge {
	const char *state, *word, *colour;
	int width;
} badges[] = {
	{ "success", "passing", "#2da44e", 54 },
	{ "failure", "failing", "#cf222e", 48 },
	{ "error", "error", "#bc4c00", 40 },
	{ "running", "running", "#0969da", 56 },
	{ "unknown", "unknown", "#6e7781", 62 },
};

/* An SVG badge "build | word", of fixed strings only. */
static jv
badge_svg(const struct badge *b)
{
	int lw = 38, w = lw + b->width;

	return jv_string_fmt(
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" "
	    "role=\"img\" aria-label=\"build: %s\"><title>build: %s</title>"
	    "<linearGradient id=\"s\" x2=\"0\" y2=\"100%%\"><stop offset=\"0\" "
	    "stop-color=\"#bbb\" stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/>"
	    "</linearGradient><clipPath id=\"r\"><rect width=\"%d\" height=\"20\" rx=\"3\" "
	    "fill=\"#fff\"/></clipPath><g clip-path=\"url(#r)\"><rect width=\"%d\" "
	    "height=\"20\" fill=\"#555\"/><rect x=\"%d\" width=\"%d\" height=\"20\" "
	    "fill=\"%s\"/><rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/></g>"
	    "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,"
	    "DejaVu Sans,sans-serif\" font-size=\"11\"><text x=\"%d\" y=\"14\">build</text>"
	    "<text x=\"%d\" y=\"14\">%s</text></g></svg>\n",
	    w, b->word, b->word, w, lw, lw, b->width, b->colour, w, lw / 2,
	    lw + b->width / 2, b->word);
}

/* The badge: the latest finished build of the repository (on ?branch,
 * ?flavor), else running if one runs, else unknown. */
static jv
badge_mode(jv doc, jv config, const char *ns, const char *repo)
{
	char branch[256], flavor[256], err[1024], jid[512] = "";
	const char *b = query(doc, "branch", branch, sizeof branch);
	const char *f = query(doc, "flavor", flavor, sizeof flavor);
	jv list = children(doc, config, ns, repo, b, f), job = jv_invalid(), st;
	const char *state = jv_array_length(jv_copy(list)) ? "running" : "unknown";
	int i, n = jv_array_length(jv_copy(list));
	size_t k;

	for (i = 0; i < n && !jv_is_valid(job); i++) {
		jv j = jv_array_get(jv_copy(list), i), s = alba_get(jv_copy(j), "Status");
		if (alba_str(s) && strcmp(alba_str(s), "dead") == 0)
			job = j;
		else
			jv_free(j);
		jv_free(s);
	}
	jv_free(list);
	st = jv_null();
	if (jv_is_valid(job) && alba_getstr(job, "ID", jid, sizeof jid)) {
		char *eid = alba_urlencode(jid), *en = alba_urlencode(ns), *p;
		jv allocs;
		int rc;
		if (eid == NULL || en == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		p = alba_xprintf("/v1/job/%s/allocations?namespace=%s", eid, en);
		free(eid);
		free(en);
		rc = alba_nomad_json(&nomad, "GET", p, NULL, 0, &allocs, NULL, err, sizeof err);
		free(p);
		if (rc) {
			jv_free(job);
			nomad_fail(jv_copy(doc), rc, err);
		}
		st = alba_get(alba_build_status(job, allocs, now_s(), BOUND_S, NULL), "state");
		state = alba_str(st) ? alba_str(st) : "error";
	} else
		jv_free(job);
	for (k = 0; k < sizeof badges / sizeof *badges - 1; k++)
		if (strcmp(badges[k].state, state) == 0)
			break;
	jv out = JV_OBJECT(jv_string("state"), jv_string(badges[k].word),
	    jv_string("job"), *jid ? jv_string(jid) : jv_null(),
	    jv_string("svg"), badge_svg(&badges[k]));
	jv_free(st);
	return out;
}

/* -s: the build alba-status looked up (.job, .status) as one row.  Consumes
 * doc. */
static jv
one_mode(jv doc)
{
	char id[512], ns[256];
	jv meta = alba_get(jv_copy(doc), "job.meta"), status = alba_get(jv_copy(doc), "status");

	if (!alba_getstr(doc, "job.id", id, sizeof id) || !jv_is_valid(status)) {
		jv_free(meta);
		jv_free(status);
		alba_doc_fail(doc, 400, "no_build", "the document has no .job.id and .status "
		    "(alba-status writes them)");
	}
	if (!alba_getstr(doc, "job.namespace", ns, sizeof ns))
		ns[0] = 0;
	if (!jv_is_valid(meta)) {
		jv_free(meta);
		meta = jv_null();
	}
	jv_free(doc);	/* id and ns are copies */
	return JV_OBJECT(jv_string("builds"), JV_ARRAY(row(id, ns, meta, jv_null(), status)),
	    jv_string("next"), jv_null());
}

int
main(int argc, char *argv[])
{
	size_t max = ALBA_DOC_MAX, count = 25;
	int ch, badge = 0, one = 0;
	char repo[2048], err[1024];
	jv doc, config, out;

	alba_prog = "alba-builds";
	while ((ch = getopt(argc, argv, "bm:n:s")) != -1) {
		switch (ch) {
		case 'b':
			badge = 1;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max))
				alba_dieusage(usage_str);
			break;
		case 'n':
			if (alba_scan_size(optarg, &count) || count == 0 || count > 500)
				alba_dieusage(usage_str);
			break;
		case 's':
			one = 1;
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (argc != optind || (badge && one))
		alba_dieusage(usage_str);
	doc = alba_doc_read(max);
	if (alba_doc_has_error(doc))
		alba_doc_pass(doc);
	if (one) {
		out = one_mode(jv_copy(doc));
		alba_doc_write(jv_object_set(doc, jv_string("builds"), out));
		return ALBA_OK;
	}
	config = alba_get(jv_copy(doc), "config");
	if (jv_get_kind(config) != JV_KIND_OBJECT || !query(doc, "repo", repo, sizeof repo)) {
		jv_free(config);
		alba_doc_fail(doc, 400, "no_repository", "the document has no .config and no "
		    ".request.query.repo (alba-config adds the first from the second)");
	}
	if (alba_service_nomad(&nomad, err, sizeof err)) {
		jv_free(config);
		alba_doc_fail(doc, 502, "bad_environment", "%s", err);
	}
	if (badge)
		out = badge_mode(doc, config, alba_config_namespace(config), repo);
	else
		out = list_mode(doc, config, alba_config_namespace(config), repo, (int)count);
	jv_free(config);
	alba_service_free(&nomad);
	alba_doc_write(jv_object_set(doc, jv_string(badge ? "badge" : "builds"), out));
	return ALBA_OK;
}
