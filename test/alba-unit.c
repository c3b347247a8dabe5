/* ISC license. */
/*
 * alba-unit: the lib/ functions as a command line, for test/unit.bats.
 * Not installed.  Each verb prints its result on stdout; failures exit with
 * the library's code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "crypto.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "mask.h"
#include "refname.h"

static const char usage_str[] =
    "usage: alba-unit hmac key | b64enc std|url|raw | b64dec std|url|raw | b64lines std|url|raw |"
    " cteq a b | refname s | mask inject [piece|each] | read max | pass | get path | set path json | del path |"
    " jq prog | http [-m max] [-r retries] [-t ms] [-d body] method service path |"
    " stream service path";

static char *
slurp(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	ssize_t r;

	while (b && (r = read(0, b + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	if (b == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	b[n < cap ? n : cap - 1] = 0;
	*len = n;
	return b;
}

static int
b64flags(const char *s)
{
	if (strcmp(s, "std") == 0)
		return ALBA_B64_STD;
	if (strcmp(s, "url") == 0)
		return ALBA_B64_URL;
	if (strcmp(s, "raw") == 0)
		return ALBA_B64_URL | ALBA_B64_NOPAD;
	alba_dieusage(usage_str);
}

static int
service(const char *name, struct alba_service *svc)
{
	char err[256];
	int r;

	if (strcmp(name, "nomad") == 0)
		r = alba_service_nomad(svc, err, sizeof err);
	else if (strcmp(name, "consul") == 0)
		r = alba_service_consul(svc, err, sizeof err);
	else
		r = alba_service_forge(svc, "forge", name, getenv("FORGE_AUTH"), err, sizeof err);
	if (r)
		alba_die(r, "%s", err);
	return 0;
}

static int
print_chunk(void *arg, const char *data, size_t len)
{
	(void)arg;
	fwrite(data, 1, len, stdout);
	fflush(stdout);
	return 0;
}

static int
http(int argc, char **argv, int stream)
{
	struct alba_request rq = { 0 };
	struct alba_response rs;
	struct alba_service svc;
	int ch, rc;

	optind = 1;
	while ((ch = getopt(argc, argv, "d:m:r:t:")) != -1) {
		switch (ch) {
		case 'd': rq.body = optarg; rq.bodylen = strlen(optarg); break;
		case 'm': if (alba_scan_size(optarg, &rq.max)) alba_dieusage(usage_str); break;
		case 'r': rq.retries = atoi(optarg); break;
		case 't': rq.timeout_ms = atol(optarg); break;
		default: alba_dieusage(usage_str);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != (stream ? 2 : 3))
		alba_dieusage(usage_str);
	rq.method = stream ? "GET" : argv[0];
	service(argv[stream ? 0 : 1], &svc);
	rq.path = argv[stream ? 1 : 2];
	rc = stream ? alba_http_stream(&svc, &rq, print_chunk, NULL, &rs) :
	    alba_http(&svc, &rq, &rs);
	alba_service_free(&svc);
	if (rc) {
		alba_response_free(&rs);
		alba_die(rc, "%s", rs.error);
	}
	if (!stream)
		printf("status %ld\nindex %llu\n%s", rs.status, rs.index,
		    rs.body ? rs.body : "");
	else if (rs.status < 200 || rs.status >= 300)
		printf("status %ld\n%s", rs.status, rs.body ? rs.body : "");
	alba_response_free(&rs);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *verb;
	size_t len, max;
	char *in;

	alba_prog = "alba-unit";
	if (argc < 2)
		alba_dieusage(usage_str);
	verb = argv[1];
	if (strcmp(verb, "hmac") == 0 && argc == 3) {
		unsigned char mac[ALBA_SHA256_LEN];
		char hex[2 * ALBA_SHA256_LEN + 1];
		in = slurp(&len);
		alba_hmac_sha256(argv[2], strlen(argv[2]), in, len, mac);
		alba_hex(mac, sizeof mac, hex);
		puts(hex);
		free(in);
	} else if (strcmp(verb, "b64enc") == 0 && argc == 3) {
		int f = b64flags(argv[2]);
		in = slurp(&len);
		char *out = malloc(alba_b64_enclen(len, f) + 1);
		size_t n = alba_b64_encode(in, len, out, f);
		if (n != alba_b64_enclen(len, f))
			alba_die(101, "encoded length %zu, expected %zu", n, alba_b64_enclen(len, f));
		puts(out);
		free(out);
		free(in);
	} else if (strcmp(verb, "b64dec") == 0 && argc == 3) {
		int f = b64flags(argv[2]);
		in = slurp(&len);
		while (len && (in[len - 1] == '\n'))
			len--;
		unsigned char *out = malloc(len / 4 * 3 + 3);
		size_t n = alba_b64_decode(in, len, out, f);
		free(in);
		if (n == (size_t)-1) {
			free(out);
			alba_die(ALBA_PERM, "not base64");
		}
		fwrite(out, 1, n, stdout);
		free(out);
	} else if (strcmp(verb, "b64lines") == 0 && argc == 3) {
		/* Each line decoded alone: "ok" or "bad" for each. */
		int f = b64flags(argv[2]);
		char *line = NULL;
		size_t cap = 0;
		ssize_t ll;
		while ((ll = getline(&line, &cap, stdin)) > 0) {
			unsigned char *out;
			if (line[ll - 1] == '\n')
				ll--;
			if ((out = malloc((size_t)ll / 4 * 3 + 3)) == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			puts(alba_b64_decode(line, (size_t)ll, out, f) == (size_t)-1 ? "bad" : "ok");
			free(out);
		}
		free(line);
	} else if (strcmp(verb, "cteq") == 0 && argc == 4) {
		return alba_ct_streq(argv[2], strlen(argv[2]), argv[3], strlen(argv[3])) ?
		    0 : ALBA_NO;
	} else if (strcmp(verb, "refname") == 0 && argc == 3) {
		const char *why = alba_bad_refname(argv[2]);
		if (why)
			printf("%s\n", why);
		return why ? ALBA_NO : ALBA_OK;
	} else if (strcmp(verb, "mask") == 0 && (argc == 3 || argc == 4)) {
		/* mask inject [piece|each]: the input fed piece bytes at a time;
		 * each: once per piece size from 1 to the whole, one after the
		 * other (many cases in one process, for valgrind's sake). */
		struct alba_mask m;
		size_t outlen, rawlen, piece = 0, off, k, last;
		const unsigned char *out;
		int each = argc == 4 && strcmp(argv[3], "each") == 0;

		if (argc == 4 && !each && (alba_scan_size(argv[3], &piece) || piece == 0))
			alba_dieusage(usage_str);
		in = alba_read_all(0, (size_t)1 << 20, &len);
		if (in == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		last = each ? (len ? len : 1) : piece;
		for (piece = each ? 1 : piece; piece <= last; piece++) {
			if (alba_mask_init(&m, argv[2], strlen(argv[2])))
				alba_die(ALBA_TEMP, "out of memory");
			off = 0;
			do {
				k = piece && len - off > piece ? piece : len - off;
				out = alba_mask_feed(&m, (const unsigned char *)in + off, k,
				    off + k == len, &outlen, &rawlen);
				if (out == NULL)
					alba_die(ALBA_TEMP, "out of memory");
				fwrite(out, 1, outlen, stdout);
				off += k;
			} while (off < len);
			alba_mask_free(&m);
			if (!each)
				break;
		}
		free(in);
		return ALBA_OK;
	} else if (strcmp(verb, "read") == 0 && argc == 3) {
		if (alba_scan_size(argv[2], &max))
			alba_dieusage(usage_str);
		alba_doc_write(alba_doc_read(max));
	} else if (strcmp(verb, "pass") == 0 && argc == 2) {
		jv doc = alba_doc_read(ALBA_DOC_MAX);
		if (alba_doc_has_error(doc))
			alba_doc_pass(doc);
		alba_doc_write(alba_set(doc, "unit.seen", jv_true()));
	} else if (strcmp(verb, "get") == 0 && argc == 3) {
		jv v = alba_get(alba_doc_read(ALBA_DOC_MAX), argv[2]);
		if (!jv_is_valid(v)) {
			jv_free(v);
			return ALBA_NO;
		}
		jv_dumpf(v, stdout, 0);
		putchar('\n');
	} else if (strcmp(verb, "set") == 0 && argc == 4) {
		jv x = jv_parse(argv[3]);
		if (!jv_is_valid(x)) {
			jv_free(x);
			alba_dieusage(usage_str);
		}
		alba_doc_write(alba_set(alba_doc_read(ALBA_DOC_MAX), argv[2], x));
	} else if (strcmp(verb, "del") == 0 && argc == 3) {
		alba_doc_write(alba_del(alba_doc_read(ALBA_DOC_MAX), argv[2]));
	} else if (strcmp(verb, "jq") == 0 && argc == 3) {
		jv r = alba_jq(argv[2], alba_doc_read(ALBA_DOC_MAX));
		if (!jv_is_valid(r)) {
			jv msg = jv_invalid_get_msg(r);
			fprintf(stderr, "alba-unit: fatal: %s\n", jv_string_value(msg));
			jv_free(msg);
			return ALBA_NO;
		}
		jv_dumpf(r, stdout, 0);
		putchar('\n');
	} else if (strcmp(verb, "http") == 0) {
		return http(argc - 1, argv + 1, 0);
	} else if (strcmp(verb, "stream") == 0) {
		return http(argc - 1, argv + 1, 1);
	} else
		alba_dieusage(usage_str);
	return 0;
}
