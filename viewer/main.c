/*
 * main.c - the growprof command: argument parsing, subcommands, exit codes. The only place
 * that prints errors.
 */
#define _GNU_SOURCE
#include "cmds.h"
#include "outputs.h"
#include "run.h"
#include "view.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: growprof COMMAND [OPTIONS] ...\n"
	"\n"
	"Find realloc-driven growth that copies: where a program's buffers grow a little at a\n"
	"time and pay O(n^2) copying.\n"
	"\n"
	"Start with:\n"
	"  growprof record -- ./app args     one run folder: ./growprof.app.PID/\n"
	"  growprof report growprof.app.PID  its growth hotspots\n"
	"\n"
	"commands:\n"
	"  record [-o DIR] -- PROG ARGS...    run PROG and every process it starts under the\n"
	"                                     profiler, into one run folder; print a summary\n"
	"  report [OPTIONS] RUN|TRACE...      growth hotspots of runs or trace files\n"
	"  check  [OPTIONS] RUN|TRACE...      exit 1 if copying exceeds the limits (for CI)\n"
	"  diff   [OPTIONS] BASE... -- NEW... compare two runs site by site\n"
	"\n"
	"RUN is a folder written by record; TRACE a .zst trace file. Without record:\n"
	"LD_PRELOAD=/path/to/libgrowprof.so PROG writes ./growprof.PROG.PID.zst\n"
	"Run 'growprof COMMAND --help' for the options of a command.\n";

static const char report_help[] =
	"usage: growprof report [OPTIONS] RUN|TRACE...\n"
	"\n"
	"Aggregate run folders (what 'growprof record' wrote) and trace files (a process and its\n"
	"children) and print the growth hotspots: per call site and per chain origin, steps,\n"
	"moves, bytes copied, copy amplification, growth pattern and advice. The header names\n"
	"the processes that grew and counts the others in one line; a damaged trace of a run is\n"
	"read up to the damage and named in a warning.\n"
	"\n"
	"  --top N               show the N first sites and origins (text default 10, json all,\n"
	"                        html 20)\n"
	"  --sort KEY            copied (default), moves, steps or amplification\n"
	"  --format FMT          text (default), json, folded, pprof or html:\n"
	"                          folded  collapsed stacks 'outer;...;site N' for flamegraph.pl,\n"
	"                                  inferno or speedscope (N: see --weight)\n"
	"                          pprof   a gzipped profile.proto for 'pprof' (binary: needs -o\n"
	"                                  or a redirection), samples bytes_copied, moves, steps\n"
	"                          html    one self-contained page: totals, hotspot tables, a\n"
	"                                  flame graph, the block size per step of the top sites\n"
	"  --weight W            what folded counts: bytes_copied (default), moves or steps\n"
	"  --wrapper PATTERN     treat functions matching PATTERN (a glob on the demangled name)\n"
	"                        as allocator wrappers: the site is their caller (repeatable)\n"
	"  --skip-module GLOB    frames of shared objects whose file name matches GLOB (another\n"
	"                        interposer stacked in front of libgrowprof.so) are never a\n"
	"                        site, as the C library's are not (repeatable)\n"
	"  -o FILE               write the report to FILE instead of standard output\n"
	"  -h, --help            this help\n"
	"\n"
	"Relocation chains (growth by a new block and a copy of the old one) are reported beside\n"
	"realloc chains; in stacks they end with a '[relocation]' frame. A progress line is shown\n"
	"on stderr while large traces are read, when stderr is a terminal.\n"
	"A site is never a free path (free, _PyObject_Free, Py_DECREF, a destructor, release());\n"
	"each site shows its heaviest stack by the --sort key. Patterns, per chain: linear\n"
	"(increments that do not grow with the size), geometric (a factor > 1), few (under 3\n"
	"grows) or mixed (with what was seen). 'largest block' (JSON peak_bytes) is the largest\n"
	"size one of a site's chains reached.\n"
	"\n"
	"Stripped binaries are named from their debug files (/usr/lib/debug, $GROWPROF_DEBUG_DIR,\n"
	"debuginfod when $DEBUGINFOD_URLS is set), else their symbol tables; JIT and interpreter\n"
	"code from the perf map or jitdump kept beside the trace (.perfmap, .jitdump) or /tmp.\n";

/*
 * Progress while report reads traces (stderr is a terminal: v->progress). The reader calls
 * back every 64 Ki records, which can be a hundred times a second: show nothing for a read
 * that ends within 300 ms, then redraw at most every 100 ms, and only when the percentage
 * changed.
 */
static struct timespec progress_start, progress_last;
static int progress_pct = -1;

static double seconds_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void report_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct gp_view *v = ctx;
	if (!v->progress || !total || seconds_since(&progress_start) < 0.3 ||
	    seconds_since(&progress_last) < 0.1)
		return;
	int pct = (int)(100.0 * (double)done / (double)total);
	if (pct == progress_pct)
		return;
	progress_pct = pct;
	clock_gettime(CLOCK_MONOTONIC, &progress_last);
	fprintf(stderr, "\rgrowprof report: reading %3d%%", pct > 100 ? 100 : pct);
}

static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "top", required_argument, NULL, 't' },
		{ "sort", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "wrapper", required_argument, NULL, 'w' },
		{ "skip-module", required_argument, NULL, 'S' },
		{ "weight", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gp_view v;
	if (gp_view_init(&v)) {
		fprintf(stderr, "growprof report: out of memory\n");
		return 2;
	}
	uint64_t top = 0;
	int have_top = 0, rc = 0;
	enum gp_sort key = GP_SORT_COPIED;
	enum gp_weight weight = GP_WEIGHT_BYTES_COPIED;
	const char *format = "text", *outpath = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (gp_parse_count(optarg, &top) || top == 0) {
				rc = gp_die_usage("report", "--top wants a positive number, not '%s'", optarg);
				goto out;
			}
			have_top = 1;
			break;
		case 's':
			if (gp_sort_parse(optarg, &key)) {
				rc = gp_die_usage("report", "unknown --sort key '%s' (copied, moves, steps, amplification)", optarg);
				goto out;
			}
			break;
		case 'f':
			format = optarg;
			if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "folded") &&
			    strcmp(format, "pprof") && strcmp(format, "html")) {
				rc = gp_die_usage("report", "unknown --format '%s' (text, json, folded, pprof, html)",
				                  optarg);
				goto out;
			}
			break;
		case 'W':
			if (gp_weight_parse(optarg, &weight)) {
				rc = gp_die_usage("report", "unknown --weight '%s' (bytes_copied, moves, steps)",
				                  optarg);
				goto out;
			}
			break;
		case 'w':
		case 'S':
			if ((c == 'w' ? gp_view_add_wrapper : gp_view_add_skip_module)(&v, optarg)) {
				fputs("growprof report: out of memory\n", stderr);
				rc = 2;
				goto out;
			}
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'h':
			fputs(report_help, stdout);
			goto out;
		default:
			rc = gp_die_usage("report", "bad option");
			goto out;
		}
	}
	int binary = strcmp(format, "pprof") == 0;
	if (binary && !outpath && isatty(1)) {
		rc = gp_die_usage("report", "refusing to write a binary pprof profile to a terminal: "
		                  "use -o FILE or redirect standard output");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &progress_start);
	v.agg.progress = report_progress;
	v.agg.progress_ctx = &v;
	rc = gp_load_traces(&v, argv + optind, argc - optind, "report");
	if (rc)
		goto out;
	FILE *out = stdout;
	if (outpath && !(out = fopen(outpath, binary ? "wb" : "w"))) {
		fprintf(stderr, "growprof report: %s: %s\n", outpath, strerror(errno));
		rc = 2;
		goto out;
	}
	char err[256] = "out of memory";
	int failed = 0;
	if (strcmp(format, "json") == 0)
		gp_report_json(out, &v, key, have_top ? (size_t)top : SIZE_MAX);
	else if (strcmp(format, "folded") == 0)
		failed = gp_report_folded(out, &v, weight);
	else if (binary)
		failed = gp_report_pprof(out, &v, err, sizeof err);
	else if (strcmp(format, "html") == 0)
		failed = gp_report_html(out, &v, key, have_top ? (size_t)top : 20);
	else
		gp_report_text(out, &v, key, have_top ? (size_t)top : 10);
	if (failed) {
		fprintf(stderr, "growprof report: cannot make the %s report: %s\n", format, err);
		if (out != stdout) {
			fclose(out);
			remove(outpath); /* no half-written file left behind */
		}
		rc = 2;
	} else if (fflush(out) || (out != stdout && fclose(out))) {
		fprintf(stderr, "growprof report: cannot write the report: %s\n", strerror(errno));
		rc = 2;
	}
out:
	gp_view_release(&v);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		puts("growprof " GP_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return gp_cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return gp_cmd_diff(argc - 1, argv + 1);
	if (!strcmp(cmd, "record"))
		return gp_cmd_record(argc - 1, argv + 1);
	fprintf(stderr, "growprof: unknown command '%s' (see 'growprof --help')\n", cmd);
	return 2;
}
