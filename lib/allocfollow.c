/* ISC license. */
/*
 * allocfollow.c: follow a build's allocations and read their log from
 * Nomad (allocfollow.h).  Finds the job's first allocation (blocking
 * queries), follows task executor's log with follow=true while a second
 * transfer blocks on the allocation; once the task is dead, the follow
 * stream is closed and the rest is read with follow=false from the byte
 * count received.  Cut connections resume at that count; a rescheduled
 * allocation is followed to the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alba.h"
#include "allocfollow.h"
#include "http.h"
#include "json.h"

#define TASK "executor"
#define WATCH_WAIT "30s"
#define WATCH_TIMEOUT_MS 45000L
#define IDLE_MS 30000L		/* a log stream with no byte (heartbeats: 1 s) */
#define DRAIN_MS 300		/* task dead -> follow=false read */
#define MAX_FAILS 8		/* consecutive failures without progress */


/* A GET answered whole; dies on a transport failure. */
static void
get(struct alba_follow *fw, const char *path, struct alba_response *resp, long timeout_ms)
{
	struct alba_request req = { .method = "GET", .path = path, .timeout_ms = timeout_ms,
	    .max = (size_t)16 << 20 };
	char msg[600];

	if (alba_http(&fw->svc, &req, resp)) {
		snprintf(msg, sizeof msg, "%s", resp->error);
		alba_response_free(resp);
		alba_logout_fatal(fw->out, 503, "nomad_unavailable", "%s", msg);
	}
}

static void
nomad_error(struct alba_follow *fw, const char *what, struct alba_response *resp)
{
	char text[256];

	alba_sanitize(text, sizeof text, resp->body ? resp->body : "", resp->len);
	long st = resp->status;
	alba_response_free(resp);
	alba_logout_fatal(fw->out, 502, "nomad_error", "nomad answered %ld to %s: %s", st, what, text);
}

static jv
parse_body(struct alba_follow *fw, const char *what, struct alba_response *resp)
{
	jv v = jv_parse_sized(resp->body ? resp->body : "", (int)resp->len);

	if (!jv_is_valid(v)) {
		jv_free(v);
		alba_response_free(resp);
		alba_logout_fatal(fw->out, 502, "nomad_error", "nomad's answer to %s is not JSON", what);
	}
	return v;
}

/* The job's first allocation (lowest CreateIndex), waiting up to wait_ms
 * for one to be placed. */
static void
first_alloc(struct alba_follow *fw, const char *jobid, long wait_ms)
{
	struct alba_response resp;
	unsigned long long index = 0;
	long long deadline = alba_mono_ms() + wait_ms;
	char *path;

	path = alba_xprintf("/v1/job/%s?namespace=%s%s", fw->job_enc, fw->ns_enc, fw->region_q);
	get(fw, path, &resp, 0);
	free(path);
	if (resp.status == 404) {
		alba_response_free(&resp);
		alba_logout_fatal(fw->out, 404, "unknown_job", "no job %s in namespace %s", jobid, fw->ns);
	}
	if (resp.status != 200)
		nomad_error(fw, "the job lookup", &resp);
	alba_response_free(&resp);
	for (;;) {
		long long left = deadline - alba_mono_ms();
		jv list, best = jv_null();
		double bi = 0;
		if (left < 10)
			left = 10;
		path = index ?
		    alba_xprintf("/v1/job/%s/allocations?namespace=%s%s&index=%llu&wait=%lldms",
			fw->job_enc, fw->ns_enc, fw->region_q, index, left) :
		    alba_xprintf("/v1/job/%s/allocations?namespace=%s%s", fw->job_enc, fw->ns_enc, fw->region_q);
		get(fw, path, &resp, left + 30000);
		free(path);
		if (resp.status != 200)
			nomad_error(fw, "the allocation list", &resp);
		index = resp.index < index ? 0 : resp.index;
		list = parse_body(fw, "the allocation list", &resp);
		alba_response_free(&resp);
		if (jv_get_kind(list) == JV_KIND_ARRAY) {
			jv_array_foreach(list, i, a) {
				jv ci = alba_get(jv_copy(a), "CreateIndex");
				double v = jv_get_kind(ci) == JV_KIND_NUMBER ? jv_number_value(ci) : 0;
				jv_free(ci);
				if (jv_get_kind(best) == JV_KIND_NULL || v < bi) {
					jv_free(best);
					best = jv_copy(a);
					bi = v;
				}
				jv_free(a);
			}
		}
		jv_free(list);
		if (jv_get_kind(best) == JV_KIND_OBJECT) {
			if (alba_getstr(best, "ID", fw->alloc, sizeof fw->alloc) == NULL) {
				jv_free(best);
				alba_logout_fatal(fw->out, 502, "nomad_error", "an allocation of job %s has no ID", jobid);
			}
			jv_free(best);
			return;
		}
		jv_free(best);
		if (alba_mono_ms() >= deadline)
			alba_logout_fatal(fw->out, 504, "no_allocation", "job %s has no allocation after %g s", jobid,
			    wait_ms / 1000.0);
		if (index == 0)
			alba_sleep_ms(200);	/* never loop with index 0 */
	}
}

/* What the watcher knows of the allocation. */
struct astate {
	int started, dead, failed;
	char next[64], followup[64];
	unsigned long long index;
};

static void
alloc_state(struct alba_follow *fw, jv a, struct astate *st)
{
	char cs[32] = "", ts[32] = "";
	jv v;

	alba_getstr(a, "ClientStatus", cs, sizeof cs);
	alba_getstr(a, "TaskStates." TASK ".State", ts, sizeof ts);
	v = alba_get(jv_copy(a), "TaskStates." TASK ".StartedAt");
	st->started = jv_get_kind(v) == JV_KIND_STRING;
	jv_free(v);
	st->dead = strcmp(ts, "dead") == 0 || strcmp(cs, "complete") == 0 ||
	    strcmp(cs, "failed") == 0 || strcmp(cs, "lost") == 0;
	st->failed = strcmp(cs, "failed") == 0 || strcmp(cs, "lost") == 0;
	if (alba_getstr(a, "NextAllocation", st->next, sizeof st->next) == NULL)
		st->next[0] = 0;
	if (alba_getstr(a, "FollowupEvalID", st->followup, sizeof st->followup) == NULL)
		st->followup[0] = 0;
	/* LogConfig.MaxFiles of the task, for resuming across rotations. */
	v = alba_get(jv_copy(a), "Job.TaskGroups");
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, tg) {
			jv tasks = alba_get(tg, "Tasks");
			if (jv_get_kind(tasks) == JV_KIND_ARRAY) {
				jv_array_foreach(tasks, k, t) {
					char name[64];
					if (alba_getstr(t, "Name", name, sizeof name) &&
					    strcmp(name, TASK) == 0) {
						jv mf = alba_get(jv_copy(t), "LogConfig.MaxFiles");
						if (jv_get_kind(mf) == JV_KIND_NUMBER)
							fw->pos->max_files = (int)jv_number_value(mf);
						jv_free(mf);
					}
					jv_free(t);
				}
			}
			jv_free(tasks);
		}
	}
	jv_free(v);
}

/* ---- the two transfers of one allocation */

enum { X_LOG, X_WATCH };

struct xfer {
	struct alba_follow *fw;
	int kind;
	CURL *c;
	struct curl_slist *hdrs;
	char *body;
	size_t len, max;
	unsigned long long index;
	int follow;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
x_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	struct alba_follow *fw = x->fw;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
	if (x->kind == X_LOG && status >= 200 && status < 300) {
		int r = alba_framer_feed(&fw->fr, data, n, alba_logpos_frame, fw->pos);
		if (r < 0)
			alba_logout_fatal(fw->out, 502, "bad_frames", "%s", fw->fr.error);
		return r ? 0 : n;
	}
	if (x->len + n > x->max)
		return 0;
	char *nb = realloc(x->body, x->len + n + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + x->len, data, n);
	x->len += n;
	nb[x->len] = 0;
	x->body = nb;
	return n;
}

static size_t
x_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;

	if (n > 14 && strncasecmp(data, "x-nomad-index:", 14) == 0)
		x->index = strtoull(data + 14, NULL, 10);
	return n;
}

static void
x_start(struct alba_follow *fw, CURLM *m, struct xfer *x, int kind, const char *path, long timeout_ms)
{
	struct alba_request req = { .method = "GET", .path = path, .timeout_ms = timeout_ms };

	if (kind == X_LOG)
		req.idle_ms = IDLE_MS;
	memset(x, 0, sizeof *x);
	x->fw = fw;
	x->kind = kind;
	x->max = kind == X_LOG ? 4096 : (size_t)16 << 20;
	if ((x->c = alba_http_easy(&fw->svc, &req, &x->hdrs)) == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, x_body);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_HEADERFUNCTION, x_header);
	curl_easy_setopt(x->c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->c, CURLOPT_PRIVATE, x);
	if (kind == X_LOG)
		curl_easy_setopt(x->c, CURLOPT_BUFFERSIZE, 131072L);
	curl_multi_add_handle(m, x->c);
}

static void
x_end(CURLM *m, struct xfer *x)
{
	if (x->c == NULL)
		return;
	curl_multi_remove_handle(m, x->c);
	curl_easy_cleanup(x->c);
	curl_slist_free_all(x->hdrs);
	free(x->body);
	x->c = NULL;
	x->hdrs = NULL;
	x->body = NULL;
}

static void
log_start(struct alba_follow *fw, CURLM *m, struct xfer *x, int follow)
{
	long long off = alba_logpos_request(fw->pos);
	char *path = alba_xprintf("/v1/client/fs/logs/%s?task=" TASK "&type=%s&follow=%s"
	    "&origin=start&offset=%lld&namespace=%s%s", fw->alloc, fw->type,
	    follow ? "true" : "false", off, fw->ns_enc, fw->region_q);

	alba_framer_reset(&fw->fr);
	x_start(fw, m, x, X_LOG, path, 0);
	x->follow = follow;
	free(path);
}

static void
watch_start(struct alba_follow *fw, CURLM *m, struct xfer *x, unsigned long long index)
{
	char *path = index ?
	    alba_xprintf("/v1/allocation/%s?namespace=%s%s&index=%llu&wait=" WATCH_WAIT,
		fw->alloc, fw->ns_enc, fw->region_q, index) :
	    alba_xprintf("/v1/allocation/%s?namespace=%s%s", fw->alloc, fw->ns_enc, fw->region_q);

	x_start(fw, m, x, X_WATCH, path, WATCH_TIMEOUT_MS);
	x->index = 0;
	free(path);
}

/* Stream the log of allocation fw->alloc to its end; st gets its last state. */
static void
follow_alloc(struct alba_follow *fw, struct astate *st)
{
	CURLM *m = curl_multi_init();
	struct xfer lx = { 0 }, wx = { 0 };
	long long drain_at = -1, retry_at = 0, wretry_at = 0;
	int log_fails = 0, watch_fails = 0, log_done = 0;
	unsigned long long windex = 0;

	if (m == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memset(st, 0, sizeof *st);
	alba_logpos_reset(fw->pos);
	watch_start(fw, m, &wx, 0);
	while (!log_done) {
		long long now = alba_mono_ms();
		int running, nq;
		CURLMsg *msg;

		if (lx.c == NULL && st->started && now >= retry_at)
			log_start(fw, m, &lx, !st->dead);
		if (lx.c && lx.follow && drain_at >= 0 && now >= drain_at) {
			/* The task is dead: read the rest without follow. */
			x_end(m, &lx);
			log_start(fw, m, &lx, 0);
		}
		if (wx.c == NULL && !st->dead && now >= wretry_at)
			watch_start(fw, m, &wx, windex);
		if (wx.c == NULL && st->dead && !st->started) {
			/* Never started (driver failure...): no log. */
			break;
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &nq))) {
			struct xfer *x;
			long status = 0;
			CURLcode rc = msg->data.result;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (x == &wx) {
				if (rc != CURLE_OK) {
					if (++watch_fails > MAX_FAILS)
						alba_logout_fatal(fw->out, 503, "nomad_unavailable", "unable to reach nomad at %s: %s",
						    fw->svc.shown, *wx.errbuf ? wx.errbuf : curl_easy_strerror(rc));
					wretry_at = alba_mono_ms() + 1000;
				} else if (status != 200) {
					struct alba_response r = { .status = status, .body = wx.body, .len = wx.len };
					wx.body = NULL;
					x_end(m, &wx);
					nomad_error(fw, "the allocation lookup", &r);
				} else {
					jv a = jv_parse_sized(wx.body ? wx.body : "", (int)wx.len);
					watch_fails = 0;
					if (!jv_is_valid(a)) {
						jv_free(a);
						alba_logout_fatal(fw->out, 502, "nomad_error", "nomad's allocation is not JSON");
					}
					alloc_state(fw, a, st);
					jv_free(a);
					windex = wx.index < windex ? 0 : wx.index;
					st->index = windex;
					if (windex == 0)
						wretry_at = alba_mono_ms() + 200;
					if (st->dead && drain_at < 0)
						drain_at = alba_mono_ms() + DRAIN_MS;
				}
				x_end(m, &wx);
				continue;
			}
			/* the log transfer */
			if (status && (status < 200 || status > 299)) {
				if (status == 404 && lx.body && strstr(lx.body, "not started yet")) {
					x_end(m, &lx);
					retry_at = alba_mono_ms() + 250;
					continue;
				}
				struct alba_response r = { .status = status, .body = lx.body, .len = lx.len };
				lx.body = NULL;
				x_end(m, &lx);
				nomad_error(fw, "the log request", &r);
			}
			if (fw->pos->stop) {		/* resumed at the wrong place: again */
				x_end(m, &lx);
				continue;
			}
			if (rc == CURLE_OK) {
				if (alba_framer_end(&fw->fr) < 0)
					alba_logout_fatal(fw->out, 502, "bad_frames", "%s", fw->fr.error);
				if (!lx.follow) {
					log_done = 1;
					x_end(m, &lx);
					continue;
				}
			} else if (fw->fr.taillen) {
				alba_framer_end(&fw->fr);
				alba_logout_fatal(fw->out, 502, "nomad_error", "%s", fw->fr.error);
			}
			/* Cut (or a follow stream that ended): resume. */
			if (fw->pos->progress)
				log_fails = 0;
			if (++log_fails > MAX_FAILS)
				alba_logout_fatal(fw->out, 503, "nomad_unavailable", "the log stream of allocation %.8s keeps "
				    "failing: %s", fw->alloc, *lx.errbuf ? lx.errbuf : curl_easy_strerror(rc));
			retry_at = alba_mono_ms() + (log_fails > 1 ? 100L << (log_fails - 2) : 0);
			x_end(m, &lx);
		}
		if (log_done)
			break;
		now = alba_mono_ms();
		long t = 200;
		if (drain_at >= 0 && lx.follow && drain_at - now < t)
			t = (long)(drain_at - now);
		/* The log's retry time counts once the task has started:
		 * before, it is the allocation watch that wakes us. */
		if (lx.c == NULL && st->started && retry_at - now < t)
			t = (long)(retry_at - now);
		if (t < 0)
			t = 0;
		curl_multi_poll(m, NULL, 0, (int)t, NULL);
	}
	x_end(m, &lx);
	x_end(m, &wx);
	curl_multi_cleanup(m);
	alba_logpos_emit(fw->pos, NULL, 0, 1);	/* flush what masking and UTF-8 held back */
}

/* After a failed allocation with a follow-up evaluation: wait until
 * st->next names the next one, or the job ends without one. */
static void
wait_next(struct alba_follow *fw, struct astate *st)
{
	unsigned long long index = st->index;
	struct alba_response resp;
	char *path;

	for (;;) {
		path = alba_xprintf("/v1/allocation/%s?namespace=%s%s&index=%llu&wait=" WATCH_WAIT,
		    fw->alloc, fw->ns_enc, fw->region_q, index);
		get(fw, path, &resp, WATCH_TIMEOUT_MS);
		free(path);
		if (resp.status != 200)
			nomad_error(fw, "the allocation lookup", &resp);
		index = resp.index < index ? 0 : resp.index;
		jv a = parse_body(fw, "the allocation lookup", &resp);
		alba_response_free(&resp);
		alloc_state(fw, a, st);
		jv_free(a);
		if (*st->next)
			return;
		path = alba_xprintf("/v1/job/%s?namespace=%s%s", fw->job_enc, fw->ns_enc, fw->region_q);
		get(fw, path, &resp, 0);
		free(path);
		if (resp.status == 200) {
			jv j = parse_body(fw, "the job lookup", &resp);
			char status[32] = "";
			alba_getstr(j, "Status", status, sizeof status);
			jv_free(j);
			if (strcmp(status, "dead") == 0) {
				alba_response_free(&resp);
				return;
			}
		}
		alba_response_free(&resp);
		if (index == 0)
			alba_sleep_ms(200);
	}
}

void
alba_follow_run(struct alba_follow *fw, const char *jobid, long wait_ms)
{
	struct astate st;
	int attempt = 1;

	free(fw->job_enc);
	if ((fw->job_enc = alba_urlencode(jobid)) == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	first_alloc(fw, jobid, wait_ms);
	for (;;) {
		snprintf(fw->out->alloc, sizeof fw->out->alloc, "%s", fw->alloc);
		fw->out->rawpos = 0;
		follow_alloc(fw, &st);
		if (!*st.next && st.failed && *st.followup)
			wait_next(fw, &st);
		if (!*st.next)
			break;
		snprintf(fw->alloc, sizeof fw->alloc, "%s", st.next);
		alba_logout_separator(fw->out, fw->alloc, ++attempt);
	}
}


void
alba_follow_open(struct alba_follow *fw, const char *ns, const char *type,
    struct alba_logpos *pos, struct alba_logout *out)
{
	char err[512];

	memset(fw, 0, sizeof *fw);
	fw->pos = pos;
	fw->out = out;
	fw->type = type;
	alba_framer_init(&fw->fr);
	if (alba_service_nomad(&fw->svc, err, sizeof err))
		alba_logout_fatal(out, 502, "bad_environment", "%s", err);
	snprintf(fw->ns, sizeof fw->ns, "%s", ns && *ns ? ns :
	    fw->svc.namespace ? fw->svc.namespace : "default");
	fw->ns_enc = alba_urlencode(fw->ns);
	if (fw->svc.region) {
		char *r = alba_urlencode(fw->svc.region);
		fw->region_q = alba_xprintf("&region=%s", r ? r : "");
		free(r);
	} else
		fw->region_q = alba_xprintf("%s", "");
	if (fw->ns_enc == NULL)
		alba_die(ALBA_TEMP, "out of memory");
}

void
alba_follow_free(struct alba_follow *fw)
{
	free(fw->job_enc);
	free(fw->ns_enc);
	free(fw->region_q);
	alba_service_free(&fw->svc);
	alba_framer_free(&fw->fr);
}
