/*
 * cmds.c - the helpers the subcommands share (cmds.h): usage errors, counts, loading the
 * inputs. Here rather than in main.c so that the subcommands depend on them and main.c on
 * the subcommands, never the other way round.
 */
#define _GNU_SOURCE
#include "cmds.h"
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gp_die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "growprof%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'growprof %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
	return 2;
}

int gp_parse_count(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int gp_load_traces(struct gp_view *v, char **files, int n, const char *cmd)
{
	if (n == 0)
		return gp_die_usage(cmd, "no trace file or run folder given");
	/* report shows what is whole of a damaged run and says what is not; check and diff gate
	 * CI, where a run read in part could pass a limit it breaks. */
	char err[1024];
	if (gp_run_load(v, files, n, strcmp(cmd, "report") == 0, err, sizeof err)) {
		fprintf(stderr, "growprof %s: %s\n", cmd, err);
		return 2;
	}
	return 0;
}

int gp_misplaced_option(const char *cmd, char **args, int n)
{
	for (int i = 0; i < n; i++)
		if (args[i][0] == '-' && args[i][1] && strcmp(args[i], "--") && access(args[i], F_OK))
			return gp_die_usage(cmd, "'%s': options go before the trace files", args[i]);
	return 0;
}
