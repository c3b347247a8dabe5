/* ISC license. */
/*
 * sync.c: alba-status -S, the reconciliation for cron: the recent builds of
 * one builder whose end the forge does not show yet are reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "buildreport.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"

int
alba_sync(struct alba_reporter *r, const char *builder, const char *ns, long maxage_s)
{
	char err[1024], *eb = alba_urlencode(builder), *en = alba_urlencode(ns), *qb, *f = NULL;
	char *ef = NULL, *p = NULL;
	jv list;
	int rc, i, n, worst = 0, posted, count = 0;
	double now = alba_now_s();

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
	rc = alba_nomad_json(&r->nomad, "GET", p, NULL, 0, &list, NULL, err, sizeof err);
	free(p);
	if (rc)
		alba_die(rc == 503 || rc == 504 ? ALBA_TEMP : ALBA_PERM, "%s", err);
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i), sub = alba_get(jv_copy(s), "SubmitTime");
		char st[32], jns[256];
		double t = jv_get_kind(sub) == JV_KIND_NUMBER ? jv_number_value(sub) / 1e9 : 0;
		jv_free(sub);
		alba_sgetbuf(s, "Status", st, sizeof st);
		if (!*alba_sgetbuf(s, "Namespace", jns, sizeof jns))
			snprintf(jns, sizeof jns, "%s", ns);
		if (maxage_s > 0 && t < now - (double)maxage_s) {
			jv_free(s);
			continue;
		}
		if (strcmp(st, "dead") == 0 ||
		    (strcmp(st, "pending") == 0 && r->bound_s > 0 && now - t > (double)r->bound_s)) {
			jv idx = alba_get(jv_copy(s), "ModifyIndex");
			unsigned long long mi = jv_get_kind(idx) == JV_KIND_NUMBER ?
			    (unsigned long long)jv_number_value(idx) : 0;
			jv_free(idx);
			if (strcmp(st, "pending") == 0) {
				/* Only when no allocation ever came: the verdict says. */
				jv alloc_check;
				char id[512];
				alba_sgetbuf(s, "ID", id, sizeof id);
				if (alba_job_allocs(r, id, jns, &alloc_check, err, sizeof err) ||
				    jv_get_kind(alloc_check) != JV_KIND_ARRAY ||
				    jv_array_length(jv_copy(alloc_check)) > 0) {
					jv_free(alloc_check);
					jv_free(s);
					continue;
				}
				jv_free(alloc_check);
			}
			rc = alba_build_end(r, s, jns, mi, 1, &posted);
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