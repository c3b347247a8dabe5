/* ISC license. */
/*
 * alba-logs: stream a build's stdout or stderr from Nomad, live, complete
 * and with the injected secrets masked (SPEC §2, §3 GET /build; issue 6).
 * The allocation follower is lib/allocfollow.c, the frame loop
 * lib/logpos.c, the output lib/logout.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "allocfollow.h"
#include "doc.h"
#include "json.h"
#include "logframe.h"
#include "logout.h"
#include "logpos.h"
#include "mask.h"

static const char usage_str[] =
    "usage: alba-logs [-Fcr] [-m maxbytes] [-t stdout|stderr] [-w seconds]";

/* -F: frames on stdin. */
static void
run_frames(struct alba_logpos *pos, struct alba_logout *out)
{
	static char buf[65536];
	struct alba_framer fr;
	ssize_t r;

	alba_framer_init(&fr);
	for (;;) {
		r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			alba_logout_fatal(out, 503, "read_error", "unable to read stdin: %s",
			    strerror(errno));
		if (r == 0)
			break;
		if (alba_framer_feed(&fr, buf, (size_t)r, alba_logpos_frame, pos) < 0)
			alba_logout_fatal(out, 502, "bad_frames", "%s", fr.error);
	}
	if (alba_framer_end(&fr) < 0)
		alba_logout_fatal(out, 502, "bad_frames", "%s", fr.error);
	alba_logpos_emit(pos, NULL, 0, 1);
	alba_framer_free(&fr);
}

int
main(int argc, char *argv[])
{
	size_t max = ALBA_DOC_MAX;
	long wait_ms = 300000;
	const char *type = NULL;
	char jobid[512], ns[256] = "", qlog[16];
	int ch, frames = 0, mode = ALBA_LOGOUT_NDJSON, r;
	struct alba_mask mask;
	struct alba_logout out;
	struct alba_logpos pos = { 0 };
	struct alba_follow fw;
	jv doc = jv_null(), inj;

	alba_prog = "alba-logs";
	while ((ch = getopt(argc, argv, "Fcm:rt:w:")) != -1) {
		switch (ch) {
		case 'F':
			frames = 1;
			break;
		case 'c':
			mode = ALBA_LOGOUT_CHUNKED;
			break;
		case 'm':
			if (alba_scan_size(optarg, &max) == -1)
				alba_dieusage(usage_str);
			break;
		case 'r':
			mode = ALBA_LOGOUT_RAW;
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
	if (!frames) {
		doc = alba_doc_read(max);
		if (alba_doc_has_error(doc))
			alba_doc_pass(doc);
	}
	inj = alba_get(jv_copy(doc), "config.inject");
	r = jv_get_kind(inj) == JV_KIND_STRING ?
	    alba_mask_init(&mask, jv_string_value(inj), (size_t)jv_string_length_bytes(jv_copy(inj))) :
	    alba_mask_init(&mask, NULL, 0);
	jv_free(inj);
	if (r)
		alba_die(ALBA_TEMP, "out of memory");
	alba_logout_init(&out, mode, "stderr", &mask);
	out.doc = doc;
	out.frames = frames;
	pos.mask = &mask;
	pos.out = &out;
	if (type == NULL && alba_getstr(doc, "request.query.log", qlog, sizeof qlog)) {
		if (strcmp(qlog, "stdout") && strcmp(qlog, "stderr"))
			alba_logout_fatal(&out, 400, "bad_request", "log must be stdout or stderr");
		type = strcmp(qlog, "stdout") == 0 ? "stdout" : "stderr";
	}
	out.stream = type ? type : "stderr";
	if (frames)
		run_frames(&pos, &out);
	else {
		if (alba_getstr(doc, "job.id", jobid, sizeof jobid) == NULL || !*jobid)
			alba_logout_fatal(&out, 400, "bad_document", "the document has no job.id");
		alba_getstr(doc, "job.namespace", ns, sizeof ns);
		alba_follow_open(&fw, ns, out.stream, &pos, &out);
		alba_follow_run(&fw, jobid, wait_ms);
		alba_follow_free(&fw);
	}
	alba_logout_end(&out);
	alba_logout_free(&out);
	alba_mask_free(&mask);
	jv_free(doc);
	return 0;
}
