/* ISC license. */
/*
 * logpos.h: the frame loop of alba-logs: each decoded frame of one
 * allocation's log (logframe.h) is placed in the log, counted, masked and
 * written (logout.h).  The position is the number of bytes received per
 * file, rotation goes by the file names (executor.stderr.N), and a resumed
 * request asks for the offset resume_offset computes.  Frame Offsets are
 * not counted on (alba-logs(1) Frames).  Borrows the masker and the writer.
 */
#ifndef ALBA_LOGPOS_H
#define ALBA_LOGPOS_H

#include "logframe.h"
#include "logout.h"
#include "mask.h"

#define ALBA_LOGPOS_RING 256	/* finished log files remembered */

struct alba_logpos {
	struct alba_mask *mask;
	struct alba_logout *out;
	int max_files;		/* the task's LogConfig.MaxFiles, 0 unknown */
	int stop;		/* a resumed answer is misplaced: ask again */
	int progress;		/* frames applied in this response */
	/* private */
	int have_cur, cur_deleted, resumed, recal;
	long cur, lo, lo_eff, from;
	char curname[ALBA_FRAME_MAXSTR];
	long long pos;
	struct { long idx; long long size; int deleted; } ring[ALBA_LOGPOS_RING];
	size_t nring;
};

/* A new allocation's log (keeps the masker and the writer). */
void alba_logpos_reset(struct alba_logpos *p);
/* The offset (origin=start) to ask for next, and mark the next answer as
 * resumed; clears stop and progress. */
long long alba_logpos_request(struct alba_logpos *p);
/* The frame callback (arg: the alba_logpos).  1 when the answer is
 * misplaced (stop is set; ask again); dies on frames that cannot be
 * placed. */
int alba_logpos_frame(void *arg, const struct alba_frame *f);
/* Mask and write n log bytes; final flushes what masking and UTF-8 hold. */
void alba_logpos_emit(struct alba_logpos *p, const unsigned char *d, size_t n, int final);

#endif
