/* ISC license. */
/*
 * logframe.h: an incremental decoder of Nomad's log stream frames
 * (api/nomad.md §5): concatenated JSON objects {"Offset":N,"Data":"<base64>",
 * "File":"...","FileEvent":"..."} with no separator, {} heartbeats, and a
 * plain-text error tail.  Bytes go in as they arrive, in pieces of any size;
 * each complete frame comes out through a callback, its Data decoded.
 * Memory is bounded: a frame's Data may hold at most ALBA_FRAME_MAXB64
 * characters of base64.  The decoder owns its buffers; a frame passed to the
 * callback lives until the callback returns.
 * The decoder gives each frame's Offset as Nomad wrote it and judges
 * nothing by it: Nomad's StreamFramer gives a frame the offset after the
 * first chunk merged into it, inflated by each 64 KiB flush and reset by
 * the 200 ms one, so Offsets may go back within a file (issue 10).
 */
#ifndef ALBA_LOGFRAME_H
#define ALBA_LOGFRAME_H

#include <stddef.h>

#define ALBA_FRAME_MAXB64 ((size_t)1 << 20)	/* Nomad's frames: <= 64 KiB raw */
#define ALBA_FRAME_MAXSTR 1024			/* File, FileEvent */

struct alba_frame {
	long long offset;	/* -1 when absent */
	const unsigned char *data; /* decoded Data (NULL when len is 0) */
	size_t len;
	const char *file;	/* "" when absent */
	const char *event;	/* "" when absent */
};

/* Return 0 to go on, non-zero to stop the decoder (alba_framer_feed then
 * returns that value). */
typedef int alba_frame_fn(void *arg, const struct alba_frame *f);

struct alba_framer {
	int state, sub;
	int key;		/* which member the value belongs to */
	char keybuf[16];
	size_t keylen;
	long long offset;
	int has_offset, ndigits;
	unsigned char *data;	/* decoded Data of the current frame */
	size_t len, cap, nb64;
	char quad[4];
	int nquad, padded;
	char file[ALBA_FRAME_MAXSTR], event[64];
	size_t flen, elen;
	char *strp; size_t strmax, *strlen_p; /* the string being read */
	int esc;
	int hasdata;		/* a frame is being read */
	char tail[512];		/* a non-JSON tail: Nomad's error text */
	size_t taillen;
	char error[512];	/* why the stream was refused */
};

void alba_framer_init(struct alba_framer *fr);
/* Forget the parse state (a new response); keeps the buffers. */
void alba_framer_reset(struct alba_framer *fr);
void alba_framer_free(struct alba_framer *fr);
/* Feed n bytes.  0: go on; -1: a malformed stream (fr->error says why);
 * else the callback's non-zero return.  A non-JSON tail is not an error
 * here: it is collected in fr->tail, and alba_framer_end reports it. */
int alba_framer_feed(struct alba_framer *fr, const char *buf, size_t n,
    alba_frame_fn *fn, void *arg);
/* The stream ended: 0 if it ended between frames with no tail, -1 with
 * fr->error set otherwise (a frame that never ends, an error tail). */
int alba_framer_end(struct alba_framer *fr);
/* 1 when the decoder is between frames (nothing partial held). */
int alba_framer_idle(const struct alba_framer *fr);

#endif
