/* ISC license. */
/*
 * fuzz/request.c: the HTTP request reader (lib/request.c) on arbitrary
 * bytes, as a client would send them to alba-http: the input is the whole
 * connection.  Small limits, so that each bound (414, 431, 413) is in
 * reach; the answer, when there is one, must be a JSON document jq can
 * print.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jv.h>

#include "alba.h"
#include "fuzz.h"
#include "request.h"

static int in_fd = -1, cont_fd = -1;

/* fd holding exactly the n bytes of data, read from the start. */
static void
load(int fd, const void *data, size_t n)
{
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, n, 0) != (ssize_t)n ||
	    lseek(fd, 0, SEEK_SET) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct alba_reqlimits lim = { 256, 1024, 16, 4096, 5000 };
	char msg[256];
	jv req;
	int st;

	if (in_fd == -1 && ((in_fd = memfd_create("request", 0)) == -1 ||
	    (cont_fd = memfd_create("continue", 0)) == -1))
		abort();
	load(in_fd, data, size);
	load(cont_fd, "", 0);
	msg[0] = 0;
	st = alba_request_read(in_fd, cont_fd, &lim, &req, msg, sizeof msg);
	if (jv_get_kind(req) != JV_KIND_OBJECT)
		abort();	/* the header promises an object, on failure too */
	if (st == 0) {
		jv s = jv_dump_string(req, 0);
		if (!jv_is_valid(s))
			abort();
		jv_free(s);
	} else {
		if (st < 400 || st > 599 || msg[0] == 0)
			abort();	/* a status and a message */
		jv_free(req);
	}
	return 0;
}
