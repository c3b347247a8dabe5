/* ISC license. */
/*
 * buildstatus.h: the verdict on a dispatched build from Nomad's job and its
 * allocations (api/nomad.md §3 "Success/failure of a finished batch
 * child"), as the .status member of SPEC §2.  Pure: no I/O.
 */
#ifndef ALBA_BUILDSTATUS_H
#define ALBA_BUILDSTATUS_H

#include <jv.h>

/* Why a build ended, beside its state. */
enum {
	ALBA_BUILD_RUNNING = 0,	/* not ended (pending or running) */
	ALBA_BUILD_SUCCESS,	/* the latest alloc completed, desired run */
	ALBA_BUILD_FAILURE,	/* the build script exited non-zero */
	ALBA_BUILD_STOPPED,	/* stopped or cancelled (DELETE) */
	ALBA_BUILD_NOT_PLACED,	/* not placed within the bound */
	ALBA_BUILD_INFRA	/* lost, driver or setup failure, ... */
};

/*
 * The status {state, exit_code, alloc_id, description, started_at,
 * finished_at} of a build from its job (the full job, an event's job or a
 * jobs-list stub: Status, Stop, SubmitTime are read) and the array of its
 * allocations (stubs or full allocations).  now_s is the current Unix time
 * in seconds; a job still pending with no allocation after bound_s seconds
 * (0: no bound) is an error "not placed within N s".  *why (may be NULL)
 * gets one of the ALBA_BUILD_* values.  Consumes job and allocs.
 */
jv alba_build_status(jv job, jv allocs, double now_s, long bound_s, int *why);

/* The forge state for a status state: running reads pending.  Borrows. */
const char *alba_build_forge_state(const char *state);

#endif
