/* ISC license. */
/*
 * bench/runs N INPUT CMD [ARG...]: run CMD N times, each with INPUT on its
 * stdin and /dev/null on its stdout, one after the other, and print
 * "min_ms=W median_ms=W cpu_ms=C": its start-to-exit wall time (fork to
 * reaped), fastest and median, and its mean user+system CPU time (from
 * wait4, so a loaded machine's waiting is not counted).  hyperfine 1.15
 * cannot give a command stdin without a shell in between.  Not part of
 * albatros.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	double *wall, cpu = 0;
	int n, i;

	if (argc < 4 || (n = atoi(argv[1])) < 1) {
		fputs("usage: runs n input cmd [arg...]\n", stderr);
		return 100;
	}
	if ((wall = calloc((size_t)n, sizeof *wall)) == NULL)
		return 111;
	for (i = 0; i < n; i++) {
		struct timespec t0, t1;
		struct rusage ru;
		int st;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((pid = fork()) == 0) {
			int in = open(argv[2], O_RDONLY), out = open("/dev/null", O_WRONLY);
			if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
				_exit(127);
			execvp(argv[3], argv + 3);
			_exit(127);
		}
		if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
			return 111;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		wall[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		cpu += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	}
	qsort(wall, (size_t)n, sizeof *wall, cmp);
	printf("min_ms=%.2f median_ms=%.2f cpu_ms=%.2f\n", wall[0], wall[n / 2], cpu / n);
	return 0;
}
