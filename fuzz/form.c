/* ISC license. */
/*
 * fuzz/form.c: the form reader (alba_form_field, alba_urldecode in
 * lib/request.c) on arbitrary bodies.  Input: a field name, a NUL, the
 * body; with no NUL the whole input is the body and the name is "payload",
 * the field alba-verify asks for.  A value found must be what the
 * field's bytes decode to, NUL-free.
 */
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "fuzz.h"
#include "request.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nul = memchr(in, 0, size);
	char name[64] = "payload", *body, *out, *copy;
	size_t blen = size, outlen;
	long n;
	int r;

	if (nul && (size_t)(nul - in) < sizeof name) {
		memcpy(name, in, (size_t)(nul - in));
		name[nul - in] = 0;
		blen = size - (size_t)(nul - in) - 1;
		in = nul + 1;
	}
	/* A copy of exactly blen bytes, so ASan sees any read past it. */
	if ((body = malloc(blen ? blen : 1)) == NULL)
		abort();
	memcpy(body, in, blen);
	r = alba_form_field(body, blen, name, &out, &outlen);
	if (r == 1) {
		if (out == NULL || out[outlen] != 0 || strlen(out) != outlen)
			abort();
		free(out);
	} else if (out != NULL || outlen != 0 || r < -1 || r > 1)
		abort();
	/* The whole body as one %-encoded value, both ways of reading '+'. */
	if ((copy = malloc(blen + 1)) == NULL)
		abort();
	memcpy(copy, body, blen);
	n = alba_urldecode(copy, blen, 0);
	if (n >= 0 && ((size_t)n > blen || strlen(copy) != (size_t)n))
		abort();
	memcpy(copy, body, blen);
	n = alba_urldecode(copy, blen, 1);
	if (n >= 0 && ((size_t)n > blen || strlen(copy) != (size_t)n ||
	    (strchr(copy, '+') && !memchr(body, '%', blen))))
		abort();	/* '+' is a space: only %2B makes one */
	free(copy);
	free(body);
	return 0;
}
