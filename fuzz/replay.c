/* ISC license. */
/*
 * replay.c: the main() of bin/alba-fuzz-<name>, the gcc build of a harness:
 * each argument is a corpus file, or a directory whose files are read in
 * turn, and each file's bytes go once through LLVMFuzzerTestOneInput.  A
 * crash crashes it, naming the file on stderr (valgrind or ASan say
 * where); otherwise it prints how many inputs it ran on stdout and exits
 * 0.  No libFuzzer needed.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alba.h"
#include "fuzz.h"

static const char usage_str[] = "usage: alba-fuzz-<harness> file|dir ...";
static const char *current;	/* the file being run */

/* Name the input that crashed, then crash as before. */
static void
on_crash(int sig)
{
	static const char m1[] = ": fatal: crashed on ";
	(void)!write(2, alba_prog, strlen(alba_prog));
	(void)!write(2, m1, sizeof m1 - 1);
	(void)!write(2, current, strlen(current));
	(void)!write(2, "\n", 1);
	raise(sig);
}

/* Read the whole file into a fresh buffer (a 0-byte file gives a 1-byte
 * buffer of length 0). */
static unsigned char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, len = 0, r;

	if (f == NULL)
		alba_die(ALBA_PERM, "%s: %s", path, strerror(errno));
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL)
				alba_die(ALBA_TEMP, "out of memory");
			buf = nb;
		}
		r = fread(buf + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	if (ferror(f))
		alba_die(ALBA_TEMP, "%s: read error", path);
	fclose(f);
	*n = len;
	return buf;
}

static long
run_file(const char *path)
{
	size_t n;
	unsigned char *buf = slurp(path, &n);

	current = path;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 1;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a directory, in name order. */
static long
run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, *p;
	size_t n = 0, i;
	long count = 0;

	if (d == NULL)
		alba_die(ALBA_PERM, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((names = realloc(names, (n + 1) * sizeof *names)) == NULL ||
		    asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			alba_die(ALBA_TEMP, "out of memory");
		names[n++] = p;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	for (i = 0; i < n; i++) {
		count += run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char *argv[])
{
	struct stat st;
	long count = 0;
	int i;

	alba_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc < 2)
		alba_dieusage(usage_str);
	struct sigaction sa = { .sa_handler = on_crash, .sa_flags = SA_RESETHAND };
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1)
			alba_die(ALBA_PERM, "%s: %s", argv[i], strerror(errno));
		count += S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
	}
	printf("%ld inputs\n", count);
	return ALBA_OK;
}
