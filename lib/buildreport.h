/* ISC license. */
/*
 * buildreport.h: a dispatched build's verdict from Nomad and its report to
 * the forge, shared by alba-status's four modes (one-shot, wait, watch,
 * sync).  Ownership follows json.h: a function consumes the jv it is given
 * unless it says it borrows.
 */
#ifndef ALBA_BUILDREPORT_H
#define ALBA_BUILDREPORT_H

#include <stddef.h>

#include <jv.h>

#include "http.h"

/* What the modes share: the services, the placement bound and, for watch
 * and sync, the repository configurations read from Consul. */
struct alba_reporter {
	struct alba_service nomad, consul;
	long bound_s;		/* placement bound (-n); 0: none */
	jv cfg_cache;		/* repo_url -> {t, c: config|null}; set by watch and sync */
};

enum { ALBA_REPORT_POSTED, ALBA_REPORT_SKIPPED, ALBA_REPORT_NONE, ALBA_REPORT_FAILED };
/* "posted", "skipped", "none", "failed", by ALBA_REPORT_*. */
extern const char *const alba_report_word[];

/* The Unix time, and the monotonic clock, in seconds. */
double alba_now_s(void);
double alba_mono_s(void);
/* The string at path in v copied into buf, or "" (buf too).  Borrows v. */
const char *alba_sgetbuf(jv v, const char *path, char *buf, size_t n);
/* "/v1/job/<id><suffix>?namespace=<ns><extra>" in a fresh string; extra
 * may be NULL.  Dies with ALBA_TEMP when out of memory. */
char *alba_job_path(const char *id, const char *suffix, const char *ns, const char *extra);
/* GET a job's allocations into *allocs: 0 or an error status, err set. */
int alba_job_allocs(const struct alba_reporter *r, const char *id, const char *ns,
    jv *allocs, char *err, size_t errlen);
/* A job purged while it was pending or running, as a verdict reads it: a
 * stopped, dead job.  Consumes job. */
jv alba_job_purged(jv job);
/* The state of a build, with a fresh read of its allocations: 0 with
 * *status and *why (ALBA_BUILD_*), or an error status with err set.
 * Consumes job. */
int alba_build_verdict(const struct alba_reporter *r, jv job, const char *ns,
    jv *status, int *why, char *err, size_t errlen);
/* The document a report is posted from: doc's config and event, and a build
 * made from the job's meta when doc has no build.commit.  Borrows both. */
jv alba_report_doc(jv doc, jv job);
/*
 * 1 if latest, the forge's newest status of the build's context, is final
 * and speaks for job id or for a build of the same commit dispatched later:
 * then there is nothing to post.  Borrows latest.
 */
int alba_report_settled(jv latest, const char *id);
/*
 * Post status for job id to the forge configured in pd.  A stopped build
 * whose status the forge already shows final is left as it is; a build not
 * placed within the bound is stopped after its status is posted.  Returns
 * ALBA_REPORT_*; *rc gets the error code of a failure, err its message.
 * Borrows pd and status.
 */
int alba_report(const struct alba_reporter *r, jv pd, const char *id, const char *ns,
    jv status, int why, int *rc, char *err, size_t errlen);
/*
 * The end of a build found by watch or sync: its verdict, its repository's
 * configuration (r->cfg_cache, a minute) and the report; one NDJSON line on
 * stdout.  check_forge: skip it when the forge already shows a final status
 * (sync).  *posted is 1 when a status was posted.  Returns 0, or a code to
 * retry later (ALBA_TEMP) or to give up on (ALBA_PERM).  Consumes job.
 */
int alba_build_end(struct alba_reporter *r, jv job, const char *ns,
    unsigned long long index, int check_forge, int *posted);

/* Watch mode (-W, watch.c): follow the event stream of namespace ns ("*":
 * every namespace) and report every build's end.  idle_s: reconnect after
 * this long without a byte.  Does not return. */
int alba_watch(struct alba_reporter *r, const char *ns, double idle_s);
/* Sync mode (-S, sync.c): reconcile once the builds of builder in namespace ns
 * submitted at most maxage_s ago (0: all).  Returns the worst code. */
int alba_sync(struct alba_reporter *r, const char *builder, const char *ns, long maxage_s);

#endif
