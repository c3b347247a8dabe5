/* ISC license. */
/*
 * watch.c: alba-status -W, the cluster watcher: Nomad's event stream of Job
 * events, each build's end reported once; rescans over REST after a cut.
 * A token the event stream refuses is said once, and the builds are then
 * followed with blocking queries on the jobs list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "alba.h"
#include "buildreport.h"
#include "http.h"
#include "json.h"
#include "ndjson.h"
#include "nomadjson.h"

struct watch {
	struct alba_reporter *r;
	const char *ns;		/* the namespace followed, or "*" */
	jv reported;		/* "ns\nid" -> time reported */
	jv pending;		/* "ns\nid" -> {id, ns, submit, retry} */
	jv queue;		/* batches parsed, not yet handled */
	unsigned long long last;	/* index of the last batch handled */
	unsigned long long asked;	/* the index the stream was opened with */
	struct alba_ndjson nd;	/* the stream's lines */
	double last_byte;
	size_t bytes;		/* of this connection's body */
	char head[96];		/* its first bytes, for a refusal's message */
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

	w->last_byte = alba_mono_s();
	if (w->bytes < sizeof w->head - 1) {
		size_t k = sizeof w->head - 1 - w->bytes;
		memcpy(w->head + w->bytes, data, k < n ? k : n);
		w->head[w->bytes + (k < n ? k : n)] = 0;
	}
	w->bytes += n;
	w->queue = alba_ndjson_feed(&w->nd, data, n, w->queue);
	for (i = 0; i < w->nd.dropped; i++)
		alba_warn("an event stream line over 64 MiB was dropped");
	return n;
}

static void
track(struct watch *w, jv job, const char *ns)
{
	char id[512];
	jv k, sub;

	alba_sgetbuf(job, "ID", id, sizeof id);
	k = key_of(ns, id);
	if (jv_object_has(jv_copy(w->reported), jv_copy(k)) ||
	    jv_object_has(jv_copy(w->pending), jv_copy(k))) {
		jv_free(k);
		return;
	}
	sub = alba_get(jv_copy(job), "SubmitTime");
	if (jv_get_kind(sub) != JV_KIND_NUMBER) {
		jv_free(sub);
		sub = jv_number(alba_now_s() * 1e9);
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

	alba_sgetbuf(job, "ID", id, sizeof id);
	k = key_of(ns, id);
	if (jv_object_has(jv_copy(w->reported), jv_copy(k))) {
		jv_free(k);
		jv_free(job);
		return;
	}
	rc = alba_build_end(w->r, job, ns, index, 0, &posted);
	if (rc == ALBA_TEMP) {
		/* Try again in a while: keep it pending with a retry time. */
		w->pending = jv_object_set(w->pending, k, JV_OBJECT(jv_string("id"),
		    jv_string(id), jv_string("ns"), jv_string(ns), jv_string("submit"),
		    jv_number(0), jv_string("retry"), jv_number(alba_mono_s() + 5)));
		return;
	}
	w->pending = jv_object_delete(w->pending, jv_copy(k));
	w->reported = jv_object_set(w->reported, k, jv_number(alba_mono_s()));
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

		alba_sgetbuf(e, "Topic", topic, sizeof topic);
		del = alba_get(jv_copy(e), "Payload.Deleted");
		job = alba_get(jv_copy(e), "Payload.Job");
		alba_sgetbuf(job, "Status", st, sizeof st);
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
			job = alba_job_purged(job);
			snprintf(st, sizeof st, "dead");
		}
		jv_free(del);
		if (!*alba_sgetbuf(job, "Namespace", ns, sizeof ns) && !*alba_sgetbuf(e, "Namespace", ns, sizeof ns))
			snprintf(ns, sizeof ns, "default");
		jv_free(e);
		if (strcmp(st, "dead") == 0)
			ended(w, job, ns, index);
		else {
			if (strcmp(st, "pending") == 0)
				track(w, job, ns);
			else {
				char id[512];
				untrack(w, ns, alba_sgetbuf(job, "ID", id, sizeof id));
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
	double now = alba_now_s(), mono = alba_mono_s();
	jv due = jv_array();
	int i, n;

	jv_object_foreach(w->pending, k, v) {
		jv sub = alba_get(jv_copy(v), "submit"), retry = alba_get(jv_copy(v), "retry");
		double s = jv_number_value(sub) / 1e9, rt = jv_number_value(retry);
		if ((rt > 0 && mono >= rt) || (rt == 0 && s > 0 && w->r->bound_s > 0 &&
		    now - s > (double)w->r->bound_s))
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

		alba_sgetbuf(v, "id", id, sizeof id);
		alba_sgetbuf(v, "ns", ns, sizeof ns);
		jv_free(v);
		p = alba_job_path(id, "", ns, NULL);
		rc = alba_nomad_json(&w->r->nomad, "GET", p, NULL, 0, &job, NULL, err, sizeof err);
		free(p);
		if (rc == 404) {
			untrack(w, ns, id);
			continue;
		}
		if (rc) {
			alba_warn("%s", err);
			continue;
		}
		alba_sgetbuf(job, "Status", st, sizeof st);
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
 * stream was away).  block (not 0): a blocking query, answered when the
 * list's index passes block or after wait_ms.  Returns the list's index, or
 * 0 on failure.
 */
static unsigned long long
rescan(struct watch *w, unsigned long long since, unsigned long long block, long wait_ms)
{
	static const char filter[] = "ParentID != \"\" and \"REPO_URL\" in Meta and "
	    "\"COMMIT\" in Meta";
	char err[1024], *ef = alba_urlencode(filter), *en = alba_urlencode(w->ns), *p = NULL;
	unsigned long long index = 0;
	jv list;
	int i, n, rc;

	if (ef == NULL || en == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	if (block)
		p = alba_xprintf("/v1/jobs?namespace=%s&meta=true&filter=%s&index=%llu&wait=%ldms",
		    en, ef, block, wait_ms);
	else
		p = alba_xprintf("/v1/jobs?namespace=%s&meta=true&filter=%s", en, ef);
	free(ef);
	free(en);
	rc = alba_nomad_json(&w->r->nomad, "GET", p, NULL, block ? wait_ms + alba_service_timeout_ms() : 0, &list,
	    &index, err, sizeof err);
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
		alba_sgetbuf(s, "Status", st, sizeof st);
		if (!*alba_sgetbuf(s, "Namespace", ns, sizeof ns))
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

/*
 * 1 if the stream that ended was a refusal: 403 (a secret Nomad does not
 * know), 500 "Permission denied" (Nomad 1.6: a token without read-job, or a
 * workload identity, which its event broker does not accept), or, on Nomad
 * 1.11.2 and later, a 200 that ends before its first byte, twice in a row
 * (*empty counts them; once could be a cut).
 */
static int
refused(struct watch *w, long code, int *empty)
{
	if (code == 200 && w->bytes == 0)
		return ++*empty >= 2;
	*empty = 0;
	return code == 403 || (code >= 400 && strncmp(w->head, "Permission denied", 17) == 0);
}

/* Say once which capability the token lacks. */
static void
say_refused(struct watch *w, long code)
{
	char shown[96];

	alba_sanitize(shown, sizeof shown, w->head, strlen(w->head));
	alba_warn("nomad at %s refused the event stream of %s%s (HTTP %ld%s%s): its token needs "
	    "read-job in %s%s (Nomad 1.6 refuses a workload identity whatever its policy); "
	    "following the builds with blocking queries on /v1/jobs instead",
	    w->r->nomad.shown, strcmp(w->ns, "*") ? "namespace " : "every namespace (*)",
	    strcmp(w->ns, "*") ? w->ns : "", code, *shown ? ": " : "", shown,
	    strcmp(w->ns, "*") ? "namespace " : "every namespace",
	    strcmp(w->ns, "*") ? w->ns : " (-N names the builders' one)");
}

/* Follow the builds without the event stream: blocking queries on the jobs
 * list, from index.  Does not return. */
static void
follow_list(struct watch *w, unsigned long long index)
{
	double backoff = 0.5;

	for (;;) {
		unsigned long long got = rescan(w, index + 1, index, 5000);
		check_pending(w);
		if (got == 0) {
			alba_sleep_ms((long)(backoff * 1000));
			backoff = backoff * 2 > 30 ? 30 : backoff * 2;
			continue;
		}
		backoff = 0.5;
		index = got;
	}
}

int
alba_watch(struct alba_reporter *r, const char *ns, double idle_s)
{
	struct watch w;
	double backoff = 0.5;
	CURLM *multi;
	int empty = 0;

	memset(&w, 0, sizeof w);
	alba_ndjson_init(&w.nd, (size_t)64 << 20);
	w.r = r;
	w.ns = ns;
	w.reported = jv_object();
	w.pending = jv_object();
	w.queue = jv_array();
	r->cfg_cache = jv_object();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((multi = curl_multi_init()) == NULL)
		alba_die(ALBA_TEMP, "unable to initialise libcurl");
	while ((w.last = rescan(&w, 0, 0, 0)) == 0) {
		alba_sleep_ms((long)(backoff * 1000));
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
	}
	for (;;) {
		struct alba_request rq = { 0 };
		struct curl_slist *hdrs;
		char *path, *en = alba_urlencode(ns);
		CURL *c;
		long code = 0;
		int running = 1, got = 0;
		double last_check = 0;

		w.asked = w.last + 1;
		if (en == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		path = alba_xprintf("/v1/event/stream?topic=Job&namespace=%s&index=%llu", en,
		    w.asked);
		free(en);
		rq.method = "GET";
		rq.path = path;
		if ((c = alba_http_easy(&r->nomad, &rq, &hdrs)) == NULL)
			alba_die(ALBA_TEMP, "unable to initialise libcurl");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
		alba_ndjson_reset(&w.nd);
		w.bytes = 0;
		w.head[0] = 0;
		w.last_byte = alba_mono_s();
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
			if (alba_mono_s() - last_check >= 0.5) {
				check_pending(&w);
				last_check = alba_mono_s();
			}
			if (running && alba_mono_s() - w.last_byte > idle_s) {
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
		free(path);
		if (refused(&w, code, &empty)) {
			say_refused(&w, code);
			rescan(&w, w.last + 1, 0, 0);
			follow_list(&w, w.last);
		}
		if (got && code == 200)
			backoff = 0.5;
		alba_warn("the event stream of nomad at %s ended (HTTP %ld): resuming from "
		    "index %llu in %.1f s", r->nomad.shown, code, w.last + 1, backoff);
		alba_sleep_ms((long)(backoff * 1000));
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
		/* What ended while the stream was away. */
		rescan(&w, w.last + 1, 0, 0);
	}
	/* NOTREACHED */
	return 0;
}