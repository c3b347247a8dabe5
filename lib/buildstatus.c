/* ISC license. */
/*
 * buildstatus.c: a build's state from its Nomad job and allocations: the
 * latest allocation (empty NextAllocation), complete and desired run is
 * success, failed with a Terminated event after the last Started is a
 * failure with that exit code, everything else that ends is an error.
 * The caller's jv values are consumed.
 */
#include <stdio.h>
#include <string.h>

#include "buildstatus.h"
#include "json.h"

/* The string member k of o, or "".  Borrows o. */
static const char *
str(jv o, const char *k)
{
	const char *s;
	jv v;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return "";
	v = jv_object_get(jv_copy(o), jv_string(k));
	/* The string lives in o, which the caller keeps. */
	s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
	jv_free(v);
	return s;
}

static double
num(jv o, const char *k)
{
	double d = 0;
	jv v;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return 0;
	v = jv_object_get(jv_copy(o), jv_string(k));
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		d = jv_number_value(v);
	jv_free(v);
	return d;
}

/* The member k of o or null.  Borrows o. */
static jv
get(jv o, const char *k)
{
	jv v;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(o), jv_string(k));
	if (jv_is_valid(v))
		return v;
	jv_free(v);
	return jv_null();
}

/* s in lower case, in out (size n). */
static const char *
lower(const char *s, char *out, size_t n)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < n; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	out[i] = 0;
	return out;
}

const char *
alba_build_forge_state(const char *state)
{
	return strcmp(state, "running") == 0 ? "pending" : state;
}

/* The main task's state of alloc a: "executor" if there is one, else the
 * first failed task, else the first task; null if none.  Borrows a. */
static jv
main_task(jv a)
{
	jv ts = get(a, "TaskStates"), t = jv_null();
	int i, n;

	if (jv_get_kind(ts) != JV_KIND_OBJECT) {
		jv_free(ts);
		return jv_null();
	}
	t = jv_object_get(jv_copy(ts), jv_string("executor"));
	if (jv_is_valid(t)) {
		jv_free(ts);
		return t;
	}
	jv_free(t);
	t = jv_null();
	jv keys = jv_keys(jv_copy(ts));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n; i++) {
		jv x = jv_object_get(jv_copy(ts), jv_array_get(jv_copy(keys), i));
		jv f = get(x, "Failed");
		int failed = jv_get_kind(f) == JV_KIND_TRUE;
		jv_free(f);
		if (jv_get_kind(t) == JV_KIND_NULL || failed) {
			jv_free(t);
			t = x;
			if (failed)
				break;
		} else
			jv_free(x);
	}
	jv_free(keys);
	jv_free(ts);
	return t;
}

static jv
status(const char *state, jv exit_code, jv alloc_id, jv desc, jv started, jv finished)
{
	return JV_OBJECT(jv_string("state"), jv_string(state),
	    jv_string("exit_code"), exit_code, jv_string("alloc_id"), alloc_id,
	    jv_string("description"), desc, jv_string("started_at"), started,
	    jv_string("finished_at"), finished);
}

jv
alba_build_status(jv job, jv allocs, double now_s, long bound_s, int *why)
{
	jv latest = jv_null(), task, events, out;
	jv exit_code = jv_null(), started, finished, alloc_id;
	int i, n, last_started = -1, last_term = -1, last_fail = -1, w;
	const char *jstatus = str(job, "Status"), *cs, *ds;
	jv stopv = get(job, "Stop");
	int stop = jv_get_kind(stopv) == JV_KIND_TRUE;
	double best = -1;

	if (jv_get_kind(allocs) != JV_KIND_ARRAY) {
		jv_free(allocs);
		allocs = jv_array();
	}
	n = jv_array_length(jv_copy(allocs));
	for (i = 0; i < n; i++) {
		jv a = jv_array_get(jv_copy(allocs), i);
		double ci = num(a, "CreateIndex");
		if (*str(a, "NextAllocation") == 0 && ci > best) {
			best = ci;
			jv_free(latest);
			latest = a;
		} else
			jv_free(a);
	}
	alloc_id = get(latest, "ID");
	task = main_task(latest);
	started = get(task, "StartedAt");
	finished = get(task, "FinishedAt");
	events = get(task, "Events");
	if (jv_get_kind(events) == JV_KIND_ARRAY) {
		int m = jv_array_length(jv_copy(events));
		for (i = 0; i < m; i++) {
			jv e = jv_array_get(jv_copy(events), i);
			const char *t = str(e, "Type");
			jv fails = get(e, "FailsTask");
			if (strcmp(t, "Started") == 0)
				last_started = i;
			else if (strcmp(t, "Terminated") == 0)
				last_term = i;
			if (jv_get_kind(fails) == JV_KIND_TRUE || strcmp(t, "Driver Failure") == 0 ||
			    strcmp(t, "Setup Failure") == 0)
				if (strcmp(t, "Not Restarting") || last_fail < 0)
					last_fail = i;
			jv_free(fails);
			jv_free(e);
		}
	}
	if (last_term >= 0) {
		jv e = jv_array_get(jv_copy(events), last_term);
		jv_free(exit_code);
		exit_code = get(e, "ExitCode");
		jv_free(e);
	}
	cs = str(latest, "ClientStatus");
	ds = str(latest, "DesiredStatus");

	if (strcmp(jstatus, "dead") != 0) {
		w = ALBA_BUILD_RUNNING;
		if (jv_get_kind(latest) == JV_KIND_NULL) {
			double submit = num(job, "SubmitTime") / 1e9;
			if (!stop && bound_s > 0 && submit > 0 && now_s - submit > (double)bound_s) {
				w = ALBA_BUILD_NOT_PLACED;
				out = status("error", exit_code, alloc_id,
				    jv_string_fmt("not placed within %ld s", bound_s), started, finished);
			} else
				out = status("pending", exit_code, alloc_id,
				    jv_string("waiting for a node"), started, finished);
		} else if (strcmp(cs, "pending") == 0)
			out = status("pending", exit_code, alloc_id, jv_string("starting"),
			    started, finished);
		else
			out = status("running", exit_code, alloc_id, jv_string("running"),
			    started, finished);
	} else if (jv_get_kind(latest) == JV_KIND_NULL) {
		w = stop ? ALBA_BUILD_STOPPED : ALBA_BUILD_NOT_PLACED;
		out = status("error", exit_code, alloc_id, jv_string(stop ?
		    "stopped before it was placed" : "not placed"), started, finished);
	} else if (strcmp(cs, "lost") == 0) {
		const char *d = str(latest, "ClientDescription");
		w = ALBA_BUILD_INFRA;
		out = status("error", exit_code, alloc_id, *d ?
		    jv_string_fmt("allocation lost: %s", d) : jv_string("allocation lost"),
		    started, finished);
	} else if ((strcmp(ds, "stop") == 0 || strcmp(ds, "evict") == 0 ||
	    (stop && (strcmp(cs, "pending") == 0 || strcmp(cs, "running") == 0))) &&
	    strcmp(cs, "failed") != 0) {
		/* Told to stop, or its job stopped (or purged) before the
		 * scheduler got to the allocation. */
		w = ALBA_BUILD_STOPPED;
		out = status("error", exit_code, alloc_id, jv_string("stopped"), started,
		    finished);
	} else if (strcmp(cs, "complete") == 0) {
		w = ALBA_BUILD_SUCCESS;
		if (jv_get_kind(exit_code) == JV_KIND_NULL) {
			jv_free(exit_code);
			exit_code = jv_number(0);
		}
		out = status("success", exit_code, alloc_id, jv_string("build succeeded"),
		    started, finished);
	} else if (strcmp(cs, "failed") == 0 && last_started >= 0 && last_term > last_started) {
		/* The last run ended with an exit code: the build's own verdict. */
		int code = (int)jv_number_value(exit_code);
		w = ALBA_BUILD_FAILURE;
		out = status("failure", exit_code, alloc_id,
		    jv_string_fmt("build failed: exit code %d", code), started, finished);
	} else if (strcmp(cs, "failed") == 0) {
		/* Failed without an exit code after its last start: the driver, the
		 * setup, a hook: not the build's fault. */
		jv e = last_fail >= 0 ? jv_array_get(jv_copy(events), last_fail) : jv_null();
		const char *t = str(e, "Type"), *msg = str(e, "DriverError");
		char low[64];
		if (!*msg)
			msg = str(e, "DisplayMessage");
		w = ALBA_BUILD_INFRA;
		if (*t)
			out = status("error", exit_code, alloc_id, *msg ?
			    jv_string_fmt("%s: %s", lower(t, low, sizeof low), msg) :
			    jv_string(lower(t, low, sizeof low)), started, finished);
		else
			out = status("error", exit_code, alloc_id, jv_string("allocation failed"),
			    started, finished);
		jv_free(e);
	} else {
		w = ALBA_BUILD_INFRA;
		out = status("error", exit_code, alloc_id, jv_string_fmt("allocation %s", *cs ?
		    cs : "ended"), started, finished);
	}
	if (why)
		*why = w;
	jv_free(stopv);
	jv_free(events);
	jv_free(task);
	jv_free(latest);
	jv_free(allocs);
	jv_free(job);
	return out;
}
