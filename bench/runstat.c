/*
 * runstat - run a command and measure all of it, for bench/run.py.
 *
 *     runstat [-e NAME=VALUE]... RESULT_FILE PROG ARGS...
 *
 * -e sets a variable in PROG's environment only (LD_PRELOAD: the helper itself must not run
 * under the profiler it measures). Becomes a child subreaper, forks, execs PROG, then reaps every process of the run: the
 * child and every descendant that outlives its parent (heaptrack's interpreter outlives the
 * heaptrack script). Writes one line to RESULT_FILE:
 *
 *     <exit code of PROG, or -signal> <user s> <sys s> <wall s> <max maxrss KiB> <processes>
 *
 * user/sys are summed over every reaped process (each one's rusage covers the descendants it
 * waited for itself); maxrss is the largest. Why a helper rather than wait4() in Python: a
 * process forked from the Python interpreter starts with the interpreter's resident set, and
 * Linux keeps that high-water mark in ru_maxrss across exec. Forked from this small program,
 * the baseline is about a megabyte and the same for every mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

int main(int argc, char **argv)
{
	int a = 1;
	while (a + 1 < argc && strcmp(argv[a], "-e") == 0)
		a += 2;
	if (argc - a < 2) {
		fprintf(stderr, "usage: runstat [-e NAME=VALUE]... RESULT_FILE PROG ARGS...\n");
		return 125;
	}
	const char *result = argv[a];
	char **prog = argv + a + 1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		perror("runstat: PR_SET_CHILD_SUBREAPER (orphans will not be counted)");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 125;
	}
	if (pid == 0) {
		for (int i = 1; i < a; i += 2)
			if (putenv(argv[i + 1]) != 0)
				_exit(126);
		execvp(prog[0], prog);
		fprintf(stderr, "runstat: exec %s: %s\n", prog[0], strerror(errno));
		_exit(127);
	}
	double user = 0, sys = 0;
	long maxrss = 0, procs = 0;
	int rc = 125;
	for (;;) {
		int st;
		struct rusage ru;
		pid_t w = wait4(-1, &st, 0, &ru);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: everything reaped */
		}
		user += tv(ru.ru_utime);
		sys += tv(ru.ru_stime);
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
		procs++;
		if (w == pid)
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	FILE *f = fopen(result, "w");
	if (!f) {
		perror("runstat: result file");
		return 125;
	}
	fprintf(f, "%d %.6f %.6f %.6f %ld %ld\n", rc, user, sys, wall, maxrss, procs);
	return fclose(f) == 0 ? 0 : 125;
}
