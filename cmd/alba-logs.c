/* ISC license. */
/*
 * alba-logs: stream a build's stdout or stderr from Nomad, live, complete
 * and with the injected secrets masked (SPEC §2, §3 GET /build; issue 6).
 *
 * Finds the job's first allocation (blocking queries), follows task
 * executor's log with follow=true while a second transfer blocks on the
 * allocation; once the task is dead, the follow stream is closed and the
 * rest is read with follow=false from the byte count received.  Cut
 * connections resume at that count; rotation and truncation are followed;
 * a rescheduled allocation is followed to the next one.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "logframe.h"
#include "mask.h"
#include "utf8.h"

static const char usage_str[] =
    "usage: alba-logs [-Fr] [-m maxbytes] [-t stdout|stderr] [-w seconds]";

#define TASK "executor"
#define WATCH_WAIT "30s"
#define WATCH_TIMEOUT_MS 45000L
#define IDLE_MS 30000L		/* a log stream with no byte (heartbeats: 1 s) */
#define DRAIN_MS 300		/* task dead -> follow=false read */
#define MAX_FAILS 8		/* consecutive failures without progress */
#define RING 256		/* finished log files remembered */

/* ---- output */

struct out {
	int raw;
	const char *stream;
	char alloc[64];
	unsigned long long rawpos;	/* log bytes delivered (offset member) */
	unsigned char hold[4];		/* incomplete UTF-8 sequence */
	size_t holdlen;
	int started, lastnl;
	char *buf;
	size_t cap;
};

static void
wr(const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(1, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			alba_die(ALBA_TEMP, "unable to write stdout: %s", strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

static char *
out_room(struct out *o, size_t need)
{
	if (need > o->cap) {
		char *nb = realloc(o->buf, need);
		if (nb == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		o->buf = nb;
		o->cap = need;
	}
	return o->buf;
}

/* Log bytes after masking; rawlen: the log bytes they stand for. */
static void
out_data(struct out *o, const unsigned char *p, size_t n, size_t rawlen, int final)
{
	if (o->raw) {
		if (n) {
			wr((const char *)p, n);
			o->lastnl = p[n - 1] == '\n';
			o->started = 1;
		}
		return;
	}
	unsigned char tmp[4 + 4];
	const unsigned char *src = p;
	size_t srcn = n, h0 = o->holdlen, used, dl;
	unsigned char *joined = NULL;
	char *d;

	if (h0) {
		/* Rare: join the held bytes and the new ones. */
		if (n <= 4) {
			memcpy(tmp, o->hold, h0);
			if (n)
				memcpy(tmp + h0, p, n);
			src = tmp;
		} else {
			if ((joined = malloc(h0 + n)) == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			memcpy(joined, o->hold, h0);
			if (n)
				memcpy(joined + h0, p, n);
			src = joined;
		}
		srcn = h0 + n;
	}
	d = out_room(o, srcn * 6 + 256);
	dl = (size_t)snprintf(d, 64, "{\"stream\":\"%s\",\"data\":\"", o->stream);
	size_t start = dl;
	used = alba_json_text(d, &dl, src, srcn, final);
	o->holdlen = srcn - used;
	memcpy(o->hold, src + used, o->holdlen);
	if (dl > start) {
		int m = o->alloc[0] ?
		    snprintf(d + dl, 128, "\",\"alloc\":\"%s\",\"offset\":%llu}\n", o->alloc, o->rawpos) :
		    snprintf(d + dl, 128, "\",\"alloc\":null,\"offset\":%llu}\n", o->rawpos);
		dl += (size_t)m;
		wr(d, dl);
		o->started = 1;
		o->lastnl = src[used - 1] == '\n';
	}
	o->rawpos += h0 + rawlen - o->holdlen;
	free(joined);
}

static void
out_separator(struct out *o, const char *alloc, int attempt)
{
	char text[160];
	int n = snprintf(text, sizeof text, "%s--- albatros: allocation %.8s (attempt %d) ---\n",
	    o->started && !o->lastnl ? "\n" : "", alloc, attempt);

	if (o->raw)
		wr(text, (size_t)n);
	else {
		size_t dl;
		char *d = out_room(o, 1024);
		dl = (size_t)snprintf(d, 64, "{\"stream\":\"%s\",\"data\":\"", o->stream);
		alba_json_text(d, &dl, (const unsigned char *)text, (size_t)n, 1);
		dl += (size_t)snprintf(d + dl, 160, "\",\"alloc\":\"%s\",\"separator\":true}\n", alloc);
		wr(d, dl);
	}
	o->started = 1;
	o->lastnl = 1;
}

/* ---- state */

struct filerec {
	long idx;
	long long size;
	int deleted;
};

static struct {
	jv doc;			/* the input document (json mode) */
	int frames;		/* -F */
	struct out out;
	struct alba_mask mask;
	struct alba_framer fr;
	struct alba_service svc;
	char *job_enc, *ns_enc, *region_q;
	char ns[256];
	const char *type;
	/* the allocation being read */
	char alloc[64];
	int max_files;
	/* log file position */
	int have_cur, cur_deleted, resumed;
	long cur, lo, lo_eff, from;
	int recal;
	char curname[ALBA_FRAME_MAXSTR];
	long long pos;
	struct filerec ring[RING];
	size_t nring;
	int stop;		/* the log callback asked to reconnect */
	int progress;		/* frames applied in this response */
	int fatal_status;
	char fatal_code[32], fatal_msg[600];
} g;

static void
fatal(int status, const char *code, const char *fmt, ...) ALBA_PRINTF(3, 4) ALBA_NORETURN;

static void
fatal(int status, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	alba_mask_str(&g.mask, msg);
	if (!g.out.raw && !g.out.started && !g.frames)
		alba_doc_fail(g.doc, status, code, "%s", msg);
	if (!g.out.raw) {
		jv e = JV_OBJECT(jv_string("error"), JV_OBJECT(jv_string("status"), jv_number(status),
		    jv_string("code"), jv_string(code), jv_string("message"), jv_string(msg)));
		jv s = jv_dump_string(e, 0);
		char line[1024];
		int n = snprintf(line, sizeof line, "%s\n", jv_string_value(s));
		jv_free(s);
		wr(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	}
	alba_die(alba_exit_for_status(status), "%s", msg);
}

/* ---- applying frames */

static long
file_index(const char *name)
{
	const char *dot = strrchr(name, '.');
	char *end;
	long v;

	if (dot == NULL || dot[1] < '0' || dot[1] > '9')
		return -1;
	v = strtol(dot + 1, &end, 10);
	return *end ? -1 : v;
}

static void
ring_push(long idx, long long size, int deleted)
{
	struct filerec *r = &g.ring[g.nring % RING];

	r->idx = idx;
	r->size = size;
	r->deleted = deleted;
	g.nring++;
}

/* The byte offset to ask for (origin=start): the sizes of the finished
 * files assumed to exist still, plus the position in the current one.
 * Files below lo_eff, or max_files below the current one (the task's
 * LogConfig), are assumed deleted; the first frame of the answer corrects
 * a wrong guess (on_frame). */
static long long
resume_offset(void)
{
	long long off = g.pos;
	size_t i, n = g.nring < RING ? g.nring : RING;
	long from = g.lo_eff;

	if (g.max_files > 0 && g.cur - g.max_files + 1 > from)
		from = g.cur - g.max_files + 1;
	g.from = from;
	for (i = 0; i < n; i++) {
		const struct filerec *r = &g.ring[i];
		if (!r->deleted && r->idx >= from && r->idx < g.cur)
			off += r->size;
	}
	return off;
}

/* The answer to a resumed request starts elsewhere than where we asked:
 * before it (back: in an earlier file, or earlier in the current one) or
 * after it.  Correct the guess and ask again (1), or give up on exactness
 * (0). */
static int
misplaced(int back, const char *shown)
{
	if (++g.recal > 2 * RING)
		fatal(502, "bad_frames", "unable to resume the log stream at the right place");
	if (back) {
		/* Files assumed deleted are still there. */
		if (g.from <= g.lo)
			fatal(502, "bad_frames", "the log stream went back from file %ld to %s",
			    g.cur, shown);
		g.max_files = 0;
		g.lo_eff = g.lo;
	} else {
		/* Older files were rotated away meanwhile. */
		if (g.from + 1 > g.cur) {
			alba_warn("part of the log was rotated away before it was read "
			    "(resumed in %s)", shown);
			return 0;
		}
		g.lo_eff = g.from + 1;
	}
	g.stop = 1;
	return 1;
}

/* Where the first frame of an answer started, against pos, the position
 * asked for in its file: -1 before, 1 after, 0 as asked (or unknown).
 * Offsets are not counted on (they go back, issue 10), but the first frame
 * of an answer is exact: Nomad gives it the offset after its first chunk,
 * so it started at Offset - n for some 0 < n <= its length. */
static int
first_frame_place(const struct alba_frame *f, long long pos)
{
	if (f->len == 0 || f->offset < 0)
		return 0;
	if (f->offset <= pos)
		return -1;
	return f->offset - (long long)f->len > pos ? 1 : 0;
}

static void
emit(const unsigned char *p, size_t n, int final)
{
	size_t ol, rl;
	const unsigned char *m = alba_mask_feed(&g.mask, p, n, final, &ol, &rl);

	if (m == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	out_data(&g.out, m, ol, rl, final);
}

static int
on_frame(void *arg, const struct alba_frame *f)
{
	long j;
	int truncated = strcmp(f->event, "file truncated") == 0;
	char shown[128];

	(void)arg;
	g.progress = 1;
	if (*f->file == 0 && f->len == 0)
		return 0;	/* heartbeat */
	alba_sanitize(shown, sizeof shown, f->file, strlen(f->file));
	if (*f->file && (!g.have_cur || strcmp(f->file, g.curname) != 0)) {
		j = file_index(f->file);
		if (j < 0)
			j = g.have_cur ? g.cur + 1 : 0;
		if (!g.have_cur) {
			g.have_cur = 1;
			g.cur = g.lo = g.lo_eff = j;
		} else if (g.resumed && (j < g.cur || (f->len &&
		    (j > g.cur + 1 || first_frame_place(f, 0) > 0)))) {
			if (misplaced(j < g.cur, shown))
				return 1;
			goto next_file;
		} else if (j < g.cur) {
			fatal(502, "bad_frames", "the log stream went back from file %ld to %s", g.cur, shown);
		} else {
			if (j > g.cur + 1)
				alba_warn("log files %ld to %ld were deleted before they were read",
				    g.cur + 1, j - 1);
		next_file:
			ring_push(g.cur, g.pos, g.cur_deleted);
			g.cur = j;
			g.pos = 0;
			g.cur_deleted = 0;
		}
		snprintf(g.curname, sizeof g.curname, "%s", f->file);
	} else if (g.resumed && !truncated && first_frame_place(f, g.pos)) {
		/* The answer starts in the current file, elsewhere than asked. */
		if (misplaced(first_frame_place(f, g.pos) < 0, shown))
			return 1;
	}
	g.resumed = 0;
	if (strcmp(f->event, "file deleted") == 0) {
		g.cur_deleted = 1;
		return 0;
	}
	/* The position is the bytes received in the file (rotation goes by
	 * its name), never Offset arithmetic. */
	if (truncated)
		g.pos = 0;
	if (f->len) {
		emit(f->data, f->len, 0);
		g.pos += (long long)f->len;
	}
	return 0;
}

/* ---- -F: frames on stdin */

static int
run_frames(void)
{
	static char buf[65536];
	ssize_t r;

	for (;;) {
		r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fatal(503, "read_error", "unable to read stdin: %s", strerror(errno));
		if (r == 0)
			break;
		if (alba_framer_feed(&g.fr, buf, (size_t)r, on_frame, NULL) < 0)
			fatal(502, "bad_frames", "%s", g.fr.error);
	}
	if (alba_framer_end(&g.fr) < 0)
		fatal(502, "bad_frames", "%s", g.fr.error);
	emit(NULL, 0, 1);
	return 0;
}

/* ---- Nomad */

/* A GET answered whole; dies on a transport failure. */
static void
get(const char *path, struct alba_response *resp, long timeout_ms)
{
	struct alba_request req = { .method = "GET", .path = path, .timeout_ms = timeout_ms,
	    .max = (size_t)16 << 20 };
	char msg[600];

	if (alba_http(&g.svc, &req, resp)) {
		snprintf(msg, sizeof msg, "%s", resp->error);
		alba_response_free(resp);
		fatal(503, "nomad_unavailable", "%s", msg);
	}
}

static void
nomad_error(const char *what, struct alba_response *resp)
{
	char text[256];

	alba_sanitize(text, sizeof text, resp->body ? resp->body : "", resp->len);
	long st = resp->status;
	alba_response_free(resp);
	fatal(502, "nomad_error", "nomad answered %ld to %s: %s", st, what, text);
}

static jv
parse_body(const char *what, struct alba_response *resp)
{
	jv v = jv_parse_sized(resp->body ? resp->body : "", (int)resp->len);

	if (!jv_is_valid(v)) {
		jv_free(v);
		alba_response_free(resp);
		fatal(502, "nomad_error", "nomad's answer to %s is not JSON", what);
	}
	return v;
}

/* The job's first allocation (lowest CreateIndex), waiting up to wait_ms
 * for one to be placed. */
static void
first_alloc(const char *jobid, long wait_ms)
{
	struct alba_response resp;
	unsigned long long index = 0;
	long long deadline = alba_mono_ms() + wait_ms;
	char *path;

	path = alba_xprintf("/v1/job/%s?namespace=%s%s", g.job_enc, g.ns_enc, g.region_q);
	get(path, &resp, 0);
	free(path);
	if (resp.status == 404) {
		alba_response_free(&resp);
		fatal(404, "unknown_job", "no job %s in namespace %s", jobid, g.ns);
	}
	if (resp.status != 200)
		nomad_error("the job lookup", &resp);
	alba_response_free(&resp);
	for (;;) {
		long long left = deadline - alba_mono_ms();
		jv list, best = jv_null();
		double bi = 0;
		if (left < 10)
			left = 10;
		path = index ?
		    alba_xprintf("/v1/job/%s/allocations?namespace=%s%s&index=%llu&wait=%lldms",
			g.job_enc, g.ns_enc, g.region_q, index, left) :
		    alba_xprintf("/v1/job/%s/allocations?namespace=%s%s", g.job_enc, g.ns_enc, g.region_q);
		get(path, &resp, left + 30000);
		free(path);
		if (resp.status != 200)
			nomad_error("the allocation list", &resp);
		index = resp.index < index ? 0 : resp.index;
		list = parse_body("the allocation list", &resp);
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
			if (alba_getstr(best, "ID", g.alloc, sizeof g.alloc) == NULL) {
				jv_free(best);
				fatal(502, "nomad_error", "an allocation of job %s has no ID", jobid);
			}
			jv_free(best);
			return;
		}
		jv_free(best);
		if (alba_mono_ms() >= deadline)
			fatal(504, "no_allocation", "job %s has no allocation after %g s", jobid,
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
alloc_state(jv a, struct astate *st)
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
							g.max_files = (int)jv_number_value(mf);
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
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
	if (x->kind == X_LOG && status >= 200 && status < 300) {
		int r = alba_framer_feed(&g.fr, data, n, on_frame, NULL);
		if (r < 0)
			fatal(502, "bad_frames", "%s", g.fr.error);
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
x_start(CURLM *m, struct xfer *x, int kind, const char *path, long timeout_ms)
{
	struct alba_request req = { .method = "GET", .path = path, .timeout_ms = timeout_ms };

	if (kind == X_LOG)
		req.idle_ms = IDLE_MS;
	memset(x, 0, sizeof *x);
	x->kind = kind;
	x->max = kind == X_LOG ? 4096 : (size_t)16 << 20;
	if ((x->c = alba_http_easy(&g.svc, &req, &x->hdrs)) == NULL)
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
log_start(CURLM *m, struct xfer *x, int follow)
{
	long long off = resume_offset();
	char *path = alba_xprintf("/v1/client/fs/logs/%s?task=" TASK "&type=%s&follow=%s"
	    "&origin=start&offset=%lld&namespace=%s%s", g.alloc, g.type,
	    follow ? "true" : "false", off, g.ns_enc, g.region_q);

	alba_framer_reset(&g.fr);
	g.resumed = off > 0 || g.have_cur;
	g.stop = g.progress = 0;
	x_start(m, x, X_LOG, path, 0);
	x->follow = follow;
	free(path);
}

static void
watch_start(CURLM *m, struct xfer *x, unsigned long long index)
{
	char *path = index ?
	    alba_xprintf("/v1/allocation/%s?namespace=%s%s&index=%llu&wait=" WATCH_WAIT,
		g.alloc, g.ns_enc, g.region_q, index) :
	    alba_xprintf("/v1/allocation/%s?namespace=%s%s", g.alloc, g.ns_enc, g.region_q);

	x_start(m, x, X_WATCH, path, WATCH_TIMEOUT_MS);
	x->index = 0;
	free(path);
}

/* Stream the log of allocation g.alloc to its end; st gets its last state. */
static void
follow_alloc(struct astate *st)
{
	CURLM *m = curl_multi_init();
	struct xfer lx = { 0 }, wx = { 0 };
	long long drain_at = -1, retry_at = 0, wretry_at = 0;
	int log_fails = 0, watch_fails = 0, log_done = 0;
	unsigned long long windex = 0;

	if (m == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	memset(st, 0, sizeof *st);
	g.have_cur = g.cur_deleted = g.resumed = g.recal = 0;
	g.pos = 0;
	g.nring = 0;
	g.max_files = 0;
	g.curname[0] = 0;
	watch_start(m, &wx, 0);
	while (!log_done) {
		long long now = alba_mono_ms();
		int running, nq;
		CURLMsg *msg;

		if (lx.c == NULL && st->started && now >= retry_at)
			log_start(m, &lx, !st->dead);
		if (lx.c && lx.follow && drain_at >= 0 && now >= drain_at) {
			/* The task is dead: read the rest without follow. */
			x_end(m, &lx);
			log_start(m, &lx, 0);
		}
		if (wx.c == NULL && !st->dead && now >= wretry_at)
			watch_start(m, &wx, windex);
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
						fatal(503, "nomad_unavailable", "unable to reach nomad at %s: %s",
						    g.svc.shown, *wx.errbuf ? wx.errbuf : curl_easy_strerror(rc));
					wretry_at = alba_mono_ms() + 1000;
				} else if (status != 200) {
					struct alba_response r = { .status = status, .body = wx.body, .len = wx.len };
					wx.body = NULL;
					x_end(m, &wx);
					nomad_error("the allocation lookup", &r);
				} else {
					jv a = jv_parse_sized(wx.body ? wx.body : "", (int)wx.len);
					watch_fails = 0;
					if (!jv_is_valid(a)) {
						jv_free(a);
						fatal(502, "nomad_error", "nomad's allocation is not JSON");
					}
					alloc_state(a, st);
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
				nomad_error("the log request", &r);
			}
			if (g.stop) {		/* resumed at the wrong place: again */
				x_end(m, &lx);
				continue;
			}
			if (rc == CURLE_OK) {
				if (alba_framer_end(&g.fr) < 0)
					fatal(502, "bad_frames", "%s", g.fr.error);
				if (!lx.follow) {
					log_done = 1;
					x_end(m, &lx);
					continue;
				}
			} else if (g.fr.taillen) {
				alba_framer_end(&g.fr);
				fatal(502, "nomad_error", "%s", g.fr.error);
			}
			/* Cut (or a follow stream that ended): resume. */
			if (g.progress)
				log_fails = 0;
			if (++log_fails > MAX_FAILS)
				fatal(503, "nomad_unavailable", "the log stream of allocation %.8s keeps "
				    "failing: %s", g.alloc, *lx.errbuf ? lx.errbuf : curl_easy_strerror(rc));
			retry_at = alba_mono_ms() + (log_fails > 1 ? 100L << (log_fails - 2) : 0);
			x_end(m, &lx);
		}
		if (log_done)
			break;
		now = alba_mono_ms();
		long t = 200;
		if (drain_at >= 0 && lx.follow && drain_at - now < t)
			t = (long)(drain_at - now);
		if (lx.c == NULL && retry_at - now < t)
			t = (long)(retry_at - now);
		if (t < 0)
			t = 0;
		curl_multi_poll(m, NULL, 0, (int)t, NULL);
	}
	x_end(m, &lx);
	x_end(m, &wx);
	curl_multi_cleanup(m);
	emit(NULL, 0, 1);	/* flush what masking and UTF-8 held back */
}

/* After a failed allocation with a follow-up evaluation: wait until
 * st->next names the next one, or the job ends without one. */
static void
wait_next(struct astate *st)
{
	unsigned long long index = st->index;
	struct alba_response resp;
	char *path;

	for (;;) {
		path = alba_xprintf("/v1/allocation/%s?namespace=%s%s&index=%llu&wait=" WATCH_WAIT,
		    g.alloc, g.ns_enc, g.region_q, index);
		get(path, &resp, WATCH_TIMEOUT_MS);
		free(path);
		if (resp.status != 200)
			nomad_error("the allocation lookup", &resp);
		index = resp.index < index ? 0 : resp.index;
		jv a = parse_body("the allocation lookup", &resp);
		alba_response_free(&resp);
		alloc_state(a, st);
		jv_free(a);
		if (*st->next)
			return;
		path = alba_xprintf("/v1/job/%s?namespace=%s%s", g.job_enc, g.ns_enc, g.region_q);
		get(path, &resp, 0);
		free(path);
		if (resp.status == 200) {
			jv j = parse_body("the job lookup", &resp);
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

static void
run_nomad(const char *jobid, long wait_ms)
{
	struct astate st;
	int attempt = 1;

	first_alloc(jobid, wait_ms);
	for (;;) {
		snprintf(g.out.alloc, sizeof g.out.alloc, "%s", g.alloc);
		g.out.rawpos = 0;
		follow_alloc(&st);
		if (!*st.next && st.failed && *st.followup)
			wait_next(&st);
		if (!*st.next)
			break;
		snprintf(g.alloc, sizeof g.alloc, "%s", st.next);
		out_separator(&g.out, g.alloc, ++attempt);
	}
}

int
main(int argc, char *argv[])
{
	size_t max = ALBA_DOC_MAX;
	long wait_ms = 300000;
	const char *type = NULL;
	char jobid[512], ns[256], err[512], qlog[16];
	int ch;

	alba_prog = "alba-logs";
	while ((ch = getopt(argc, argv, "Fm:rt:w:")) != -1) {
		switch (ch) {
		case 'F':
			g.frames = 1;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max) == -1)
				alba_dieusage(usage_str);
			break;
		case 'r':
			g.out.raw = 1;
			break;
		case 't':
			if (strcmp(optarg, "stdout") && strcmp(optarg, "stderr"))
				alba_dieusage(usage_str);
			type = optarg;
			break;
		case 'w':
			if (alba_scan_ms(optarg, &wait_ms) == -1)
				alba_dieusage(usage_str);
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc)
		alba_dieusage(usage_str);
	signal(SIGPIPE, SIG_IGN);
	alba_framer_init(&g.fr);
	g.out.lastnl = 1;
	g.doc = jv_null();
	if (g.frames) {
		g.out.stream = g.type = type ? type : "stderr";
		alba_mask_init(&g.mask, NULL, 0);
		run_frames();
		alba_framer_free(&g.fr);
		free(g.out.buf);
		return 0;
	}
	g.doc = alba_doc_read(max);
	if (alba_doc_has_error(g.doc))
		alba_doc_pass(g.doc);
	{
		jv inj = alba_get(jv_copy(g.doc), "config.inject");
		int r = jv_get_kind(inj) == JV_KIND_STRING ?
		    alba_mask_init(&g.mask, jv_string_value(inj), (size_t)jv_string_length_bytes(jv_copy(inj))) :
		    alba_mask_init(&g.mask, NULL, 0);
		jv_free(inj);
		if (r)
			alba_die(ALBA_TEMP, "out of memory");
	}
	if (type == NULL && alba_getstr(g.doc, "request.query.log", qlog, sizeof qlog)) {
		if (strcmp(qlog, "stdout") && strcmp(qlog, "stderr"))
			fatal(400, "bad_request", "log must be stdout or stderr");
		type = strcmp(qlog, "stdout") == 0 ? "stdout" : "stderr";
	}
	g.out.stream = g.type = type ? type : "stderr";
	if (alba_getstr(g.doc, "job.id", jobid, sizeof jobid) == NULL || !*jobid)
		fatal(400, "bad_document", "the document has no job.id");
	if (alba_service_nomad(&g.svc, err, sizeof err))
		fatal(502, "bad_environment", "%s", err);
	if (alba_getstr(g.doc, "job.namespace", ns, sizeof ns) == NULL || !*ns)
		snprintf(ns, sizeof ns, "%s", g.svc.namespace ? g.svc.namespace : "default");
	g.job_enc = alba_urlencode(jobid);
	g.ns_enc = alba_urlencode(ns);
	snprintf(g.ns, sizeof g.ns, "%s", ns);
	if (g.svc.region) {
		char *r = alba_urlencode(g.svc.region);
		g.region_q = alba_xprintf("&region=%s", r ? r : "");
		free(r);
	} else
		g.region_q = alba_xprintf("%s", "");
	if (g.job_enc == NULL || g.ns_enc == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	run_nomad(jobid, wait_ms);
	free(g.job_enc);
	free(g.ns_enc);
	free(g.region_q);
	alba_service_free(&g.svc);
	alba_mask_free(&g.mask);
	alba_framer_free(&g.fr);
	free(g.out.buf);
	jv_free(g.doc);
	return 0;
}
