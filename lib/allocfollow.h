/* ISC license. */
/*
 * allocfollow.h: the allocation follower of alba-logs: finds a build's
 * allocation, reads task executor's log from Nomad live (follow=true while
 * the task runs, then follow=false from the bytes received), resumes cut
 * streams, follows a rescheduled allocation to the next one, and hands
 * every frame to the frame loop (logpos.h).  Errors end the program through
 * alba_logout_fatal.  Borrows pos and out.
 */
#ifndef ALBA_ALLOCFOLLOW_H
#define ALBA_ALLOCFOLLOW_H

#include "http.h"
#include "logframe.h"
#include "logout.h"
#include "logpos.h"

struct alba_follow {
	struct alba_service svc;
	char ns[256];
	char *job_enc, *ns_enc, *region_q;
	const char *type;	/* "stdout" or "stderr" */
	char alloc[64];		/* the allocation being read */
	struct alba_framer fr;
	struct alba_logpos *pos;
	struct alba_logout *out;
};

/* Nomad from the environment (NOMAD_ADDR...); ns NULL or "" for
 * NOMAD_NAMESPACE, else default. */
void alba_follow_open(struct alba_follow *fw, const char *ns, const char *type,
    struct alba_logpos *pos, struct alba_logout *out);
/* Stream the log of job jobid's allocations to the end of the last one,
 * waiting up to wait_ms for the first to be placed. */
void alba_follow_run(struct alba_follow *fw, const char *jobid, long wait_ms);
void alba_follow_free(struct alba_follow *fw);

#endif
