/* ISC license. */
/*
 * bench/exitmem CMD [ARG...]: run CMD, stop it as it exits (ptrace's
 * PTRACE_EVENT_EXIT: its memory is still mapped), and print the lines of
 * its /proc/PID/smaps_rollup that count (Rss, Pss, Private_Clean,
 * Private_Dirty) and one line "private KiB" (Private_Clean +
 * Private_Dirty), to stderr.  CMD's stdin and stdout are left alone.
 * Exits with CMD's status.  Not part of albatros.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	pid_t pid;
	int st;

	if (argc < 2) {
		fputs("usage: exitmem cmd [arg...]\n", stderr);
		return 100;
	}
	if ((pid = fork()) == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_TRACEEXIT);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	for (;;) {
		int sig = 0;

		if (waitpid(pid, &st, 0) < 0)
			return 111;
		if (WIFEXITED(st))
			return WEXITSTATUS(st);
		if (WIFSIGNALED(st))
			return 128 + WTERMSIG(st);
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			char path[64], line[256];
			long priv = 0, v;
			FILE *f;

			snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
			if ((f = fopen(path, "r")) != NULL) {
				while (fgets(line, sizeof line, f)) {
					if (strncmp(line, "Rss:", 4) == 0 || strncmp(line, "Pss:", 4) == 0 ||
					    strncmp(line, "Private_", 8) == 0)
						fputs(line, stderr);
					if (sscanf(line, "Private_Clean: %ld", &v) == 1 ||
					    sscanf(line, "Private_Dirty: %ld", &v) == 1)
						priv += v;
				}
				fclose(f);
			}
			fprintf(stderr, "private %ld KiB\n", priv);
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) != SIGTRAP)
			sig = WSTOPSIG(st);
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
}
