/* ISC license. */
/* logpos.c: placing frames in the log (logpos.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "logpos.h"

#define RING ALBA_LOGPOS_RING

void
alba_logpos_reset(struct alba_logpos *p)
{
	p->have_cur = p->cur_deleted = p->resumed = p->recal = 0;
	p->pos = 0;
	p->nring = 0;
	p->max_files = 0;
	p->curname[0] = 0;
	p->stop = p->progress = 0;
}

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
ring_push(struct alba_logpos *p, long idx, long long size, int deleted)
{
	size_t i = p->nring % RING;

	p->ring[i].idx = idx;
	p->ring[i].size = size;
	p->ring[i].deleted = deleted;
	p->nring++;
}

/* The byte offset to ask for (origin=start): the sizes of the finished
 * files assumed to exist still, plus the position in the current one.
 * Files below lo_eff, or max_files below the current one (the task's
 * LogConfig), are assumed deleted; the first frame of the answer corrects
 * a wrong guess (alba_logpos_frame). */
long long
alba_logpos_request(struct alba_logpos *p)
{
	long long off = p->pos;
	size_t i, n = p->nring < RING ? p->nring : RING;
	long from = p->lo_eff;

	if (p->max_files > 0 && p->cur - p->max_files + 1 > from)
		from = p->cur - p->max_files + 1;
	p->from = from;
	for (i = 0; i < n; i++)
		if (!p->ring[i].deleted && p->ring[i].idx >= from && p->ring[i].idx < p->cur)
			off += p->ring[i].size;
	p->resumed = off > 0 || p->have_cur;
	p->stop = p->progress = 0;
	return off;
}

/* The answer to a resumed request starts elsewhere than where we asked:
 * before it (back: in an earlier file, or earlier in the current one) or
 * after it.  Correct the guess and ask again (1), or give up on exactness
 * (0). */
static int
misplaced(struct alba_logpos *p, int back, const char *shown)
{
	if (++p->recal > 2 * RING)
		alba_logout_fatal(p->out, 502, "bad_frames",
		    "unable to resume the log stream at the right place");
	if (back) {
		/* Files assumed deleted are still there. */
		if (p->from <= p->lo)
			alba_logout_fatal(p->out, 502, "bad_frames",
			    "the log stream went back from file %ld to %s", p->cur, shown);
		p->max_files = 0;
		p->lo_eff = p->lo;
	} else {
		/* Older files were rotated away meanwhile. */
		if (p->from + 1 > p->cur) {
			alba_warn("part of the log was rotated away before it was read "
			    "(resumed in %s)", shown);
			return 0;
		}
		p->lo_eff = p->from + 1;
	}
	p->stop = 1;
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

void
alba_logpos_emit(struct alba_logpos *p, const unsigned char *d, size_t n, int final)
{
	size_t ol, rl;
	const unsigned char *m = alba_mask_feed(p->mask, d, n, final, &ol, &rl);

	if (m == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	alba_logout_data(p->out, m, ol, rl, final);
}

int
alba_logpos_frame(void *arg, const struct alba_frame *f)
{
	struct alba_logpos *p = arg;
	int truncated = strcmp(f->event, "file truncated") == 0;
	char shown[128];
	long j;

	p->progress = 1;
	if (*f->file == 0 && f->len == 0)
		return 0;	/* heartbeat */
	alba_sanitize(shown, sizeof shown, f->file, strlen(f->file));
	if (*f->file && (!p->have_cur || strcmp(f->file, p->curname) != 0)) {
		j = file_index(f->file);
		if (j < 0)
			j = p->have_cur ? p->cur + 1 : 0;
		if (!p->have_cur) {
			p->have_cur = 1;
			p->cur = p->lo = p->lo_eff = j;
		} else if (p->resumed && (j < p->cur || (f->len &&
		    (j > p->cur + 1 || first_frame_place(f, 0) > 0)))) {
			if (misplaced(p, j < p->cur, shown))
				return 1;
			goto next_file;
		} else if (j < p->cur) {
			alba_logout_fatal(p->out, 502, "bad_frames",
			    "the log stream went back from file %ld to %s", p->cur, shown);
		} else {
			if (j > p->cur + 1)
				alba_warn("log files %ld to %ld were deleted before they were read",
				    p->cur + 1, j - 1);
		next_file:
			ring_push(p, p->cur, p->pos, p->cur_deleted);
			p->cur = j;
			p->pos = 0;
			p->cur_deleted = 0;
		}
		snprintf(p->curname, sizeof p->curname, "%s", f->file);
	} else if (p->resumed && !truncated && first_frame_place(f, p->pos)) {
		/* The answer starts in the current file, elsewhere than asked. */
		if (misplaced(p, first_frame_place(f, p->pos) < 0, shown))
			return 1;
	}
	p->resumed = 0;
	if (strcmp(f->event, "file deleted") == 0) {
		p->cur_deleted = 1;
		return 0;
	}
	/* The position is the bytes received in the file, never Offset
	 * arithmetic. */
	if (truncated)
		p->pos = 0;
	if (f->len) {
		alba_logpos_emit(p, f->data, f->len, 0);
		p->pos += (long long)f->len;
	}
	return 0;
}
