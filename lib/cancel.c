/* ISC license. */
/*
 * cancel.c: cancel_previous: find the branch's earlier running builds in
 * Nomad (jobs list, prefix and a bexpr filter that names each meta key
 * before reading it), post their final "cancelled by" status, stop them.
 * The caller keeps its document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "cancel.h"
#include "forge.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"

/* The string at path in v, or "".  Borrows v. */
static const char *
sget(jv v, const char *path, char *buf, size_t n)
{
	const char *s = alba_getstr(v, path, buf, n);

	return s ? s : "";
}

int
alba_cancel_previous(const struct alba_service *nomad, jv doc, jv *cancelled,
    char *err, size_t errlen)
{
	char id[512], parent[512], ns[256], url[2048], branch[1024], path[8192];
	char *qp = NULL, *qu = NULL, *qb = NULL, *filter = NULL, *ef = NULL, *ep = NULL, *en = NULL;
	jv on = alba_get(jv_copy(doc), "config.cancel_previous"), list = jv_invalid();
	double mine = -1;
	int rc = 0, r, i, n;

	if (cancelled)
		*cancelled = jv_array();
	if (jv_get_kind(on) != JV_KIND_TRUE) {
		jv_free(on);
		return 0;
	}
	jv_free(on);
	sget(doc, "job.id", id, sizeof id);
	sget(doc, "job.parent", parent, sizeof parent);
	sget(doc, "job.namespace", ns, sizeof ns);
	sget(doc, "build.repo_url", url, sizeof url);
	sget(doc, "build.branch", branch, sizeof branch);
	if (!*parent && strstr(id, "/dispatch-"))
		snprintf(parent, sizeof parent, "%.*s", (int)(strstr(id, "/dispatch-") - id), id);
	if (!*ns)
		snprintf(ns, sizeof ns, "default");
	if (!*id || !*parent || !*url || !*branch) {
		alba_warn("cancel_previous: no job.id, job.parent, build.repo_url or "
		    "build.branch: nothing cancelled");
		return 0;
	}
	{
		jv ci = alba_get(jv_copy(doc), "job.nomad.JobCreateIndex");
		if (jv_get_kind(ci) == JV_KIND_NUMBER && jv_number_value(ci) > 0)
			mine = jv_number_value(ci);
		jv_free(ci);
	}
	if (mine < 0) {
		jv job;
		char *eid = alba_urlencode(id);
		en = alba_urlencode(ns);
		if (eid == NULL || en == NULL) {
			free(eid);
			rc = 503;
			snprintf(err, errlen, "out of memory");
			goto done;
		}
		snprintf(path, sizeof path, "/v1/job/%s?namespace=%s", eid, en);
		free(eid);
		if ((rc = alba_nomad_json(nomad, "GET", path, NULL, 0, &job, NULL, err, errlen)))
			goto done;
		jv ci = alba_get(job, "CreateIndex");
		mine = jv_get_kind(ci) == JV_KIND_NUMBER ? jv_number_value(ci) : 0;
		jv_free(ci);
	}
	qp = alba_bexpr_quote(parent);
	qu = alba_bexpr_quote(url);
	qb = alba_bexpr_quote(branch);
	if (qp && qu && qb && asprintf(&filter, "ParentID == %s and \"REPO_URL\" in Meta and "
	    "Meta.REPO_URL == %s and \"BRANCH\" in Meta and Meta.BRANCH == %s", qp, qu, qb) < 0)
		filter = NULL;
	if (filter)
		ef = alba_urlencode(filter);
	if (en == NULL)
		en = alba_urlencode(ns);
	ep = alba_urlencode(parent);
	if (ef == NULL || en == NULL || ep == NULL ||
	    (size_t)snprintf(path, sizeof path, "/v1/jobs?prefix=%s%%2Fdispatch-&namespace=%s"
	    "&meta=true&filter=%s", ep, en, ef) >= sizeof path) {
		rc = 503;
		snprintf(err, errlen, "cancel_previous: the filter is too long");
		goto done;
	}
	if ((rc = alba_nomad_json(nomad, "GET", path, NULL, 0, &list, NULL, err, errlen)))
		goto done;
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i), stop, ci, pd;
		char oid[512], st[32], mu[2048], mb[1024], commit[128], flavor[256], desc[700];
		char ferr[512], *eid;
		int skip;

		sget(s, "ID", oid, sizeof oid);
		sget(s, "Status", st, sizeof st);
		sget(s, "Meta.REPO_URL", mu, sizeof mu);
		sget(s, "Meta.BRANCH", mb, sizeof mb);
		stop = alba_get(jv_copy(s), "Stop");
		ci = alba_get(jv_copy(s), "CreateIndex");
		skip = !*oid || strcmp(oid, id) == 0 || strcmp(st, "dead") == 0 ||
		    jv_get_kind(stop) == JV_KIND_TRUE || jv_get_kind(ci) != JV_KIND_NUMBER ||
		    jv_number_value(ci) >= mine || strcmp(mu, url) || strcmp(mb, branch);
		jv_free(stop);
		jv_free(ci);
		if (skip) {
			jv_free(s);
			continue;
		}
		pd = JV_OBJECT(jv_string("config"), alba_get(jv_copy(doc), "config"),
		    jv_string("build"), JV_OBJECT(jv_string("repo_url"), jv_string(mu),
		    jv_string("commit"), jv_string(sget(s, "Meta.COMMIT", commit, sizeof commit)),
		    jv_string("flavor"), jv_string(sget(s, "Meta.FLAVOR", flavor, sizeof flavor))));
		{
			jv ev = alba_get(jv_copy(doc), "event");
			if (jv_is_valid(ev))
				pd = jv_object_set(pd, jv_string("event"), ev);
			else
				jv_free(ev);
		}
		snprintf(desc, sizeof desc, "cancelled by %s", id);
		if (alba_forge_status(pd, oid, "error", desc, ferr, sizeof ferr))
			alba_warn("cancel_previous: unable to post the status of %s: %s", oid, ferr);
		jv_free(pd);
		jv_free(s);
		if ((eid = alba_urlencode(oid)) == NULL)
			continue;
		snprintf(path, sizeof path, "/v1/job/%s?namespace=%s", eid, en);
		free(eid);
		if ((r = alba_nomad_json(nomad, "DELETE", path, NULL, 0, NULL, NULL, err, errlen))) {
			rc = r;
			continue;
		}
		if (cancelled)
			*cancelled = jv_array_append(*cancelled, jv_string(oid));
	}
done:
	jv_free(list);
	free(qp);
	free(qu);
	free(qb);
	free(filter);
	free(ef);
	free(ep);
	free(en);
	return rc;
}
