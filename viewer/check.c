/*
 * check.c - growprof check: the CI gate. Exit 0 when the traces stay within the copy limits,
 * 1 when a limit is exceeded (each offender printed with its numbers, its limit, where it is
 * and advice), 2 on a usage error, a bad suppressions file or an unreadable trace.
 *
 * What is checked
 *   The limits (--max-amplification X, --max-copied BYTES, --max-moves N) apply to the whole
 *   run by default: its bytes copied, its moves and its amplification (bytes copied / sum of
 *   the peaks of all chains). With --per-site they apply to each call site instead (the
 *   site's bytes copied, moves and amplification, as in `growprof report`). A number fails
 *   when it is greater than its limit; equal passes. At least one limit must be given: on
 *   the command line, or by a `default` or `limit` line of the suppressions file; with none,
 *   check is a usage error (exit 2) rather than a gate that can never fail.
 *
 * Suppressions file (--suppressions FILE)
 *   One entry a line; blank lines and lines starting with '#' are ignored, and " #" starts
 *   a comment at the end of a line. Words are separated by blanks; a value holding blanks
 *   goes in double quotes (\" and \\ inside them).
 *
 *     # known and accepted: not checked, and left out of the whole-run numbers
 *     allow   function=append_linear
 *     allow   file=*third_party*              (a glob: '*' also matches '/')
 *     # own limits for these sites, checked per site in either mode (and they are left out
 *     # of the whole-run numbers); a limit not named is not checked for them
 *     limit   file=parser.c max-amplification=50 max-copied=1MiB
 *     limit   function="std::vector<*>::push_back*" module=libfoo.so* max-moves=1000
 *     # the limits to use when the command line gives none (an option overrides its key)
 *     default max-amplification=4 max-copied=10MB
 *
 *   Match keys (an allow or limit entry needs at least one; all that are given must match):
 *     function=GLOB  the site's function (demangled; C++ names also match without their
 *                    parameter list)
 *     file=GLOB      the source file: its path as recorded, that path normalized, or its
 *                    base name (a site without debug info has no file and does not match)
 *     module=GLOB    the executable or shared object: its path or its base name
 *     line=N         the source line
 *   Limit keys (limit needs at least one, default only these, allow none):
 *     max-amplification=X  max-copied=BYTES  max-moves=N   (as the options)
 *   The first entry that matches a site decides for it. An allow or limit entry that decides
 *   for no site of the traces is reported on stderr as "unused suppression at FILE:LINE" -
 *   a warning only (a trace of one test run need not reach every known site), unless
 *   --fail-on-unused makes it fail the check (exit 1). A malformed line is exit 2 with
 *   "growprof check: FILE:LINE: what is wrong".
 *
 *   In whole-run mode the run's numbers leave out the sites decided by an entry: their bytes
 *   copied and moves are subtracted, and so are the peaks of their chains (a chain that also
 *   stepped at a site still checked stays counted at least through that site's peaks).
 *
 * Output (stdout): a header line naming the limits, one block per offender (first line
 * "LABEL: QUANTITY VALUE exceeds the limit LIMIT", then its numbers, its location and the
 * advice), the sites allowed, then the summary line "growprof check: passed: ..." or
 * "growprof check: FAILED: ...". --github adds GitHub Actions annotations before the summary;
 * --junit FILE writes JUnit XML (one testcase per checked site, or per limit of the run).
 */
#define _GNU_SOURCE
#include "check.h"
#include "cmds.h"
#include "gate.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char check_help[] =
	"usage: growprof check [OPTIONS] RUN|TRACE...\n"
	"\n"
	"Gate CI on realloc copying: exit 1 if the runs (folders from 'growprof record') or\n"
	"traces exceed the limits, 0 if they do not, 2 on a usage error or an unreadable or\n"
	"damaged trace. The limits apply to the whole run (its bytes\n"
	"copied, moves and amplification = bytes copied / sum of the chains' peaks), or with\n"
	"--per-site to each call site. A number greater than its limit fails; equal passes.\n"
	"\n"
	"  --max-amplification X  copy amplification at most X (e.g. 4, 2.5)\n"
	"  --max-copied BYTES     bytes copied at most BYTES (10MB, 512KiB, 3G, 1000)\n"
	"  --max-moves N          moves (steps that returned a new address) at most N\n"
	"  --per-site             apply the limits to each site instead of the whole run\n"
	"  --suppressions FILE    allow known sites or give them their own limits (see below)\n"
	"  --fail-on-unused       an unused suppression fails the check (default: a warning)\n"
	"  --junit FILE           also write the result as JUnit XML to FILE\n"
	"  --github               also print GitHub Actions annotations (::error file=F,line=L::)\n"
	"  --wrapper PATTERN      treat functions matching PATTERN (a glob on the demangled\n"
	"                         name) as allocator wrappers: the site is their caller\n"
	"  --skip-module GLOB     frames of shared objects whose file name matches GLOB (another\n"
	"                         interposer in front of libgrowprof.so) are never a site\n"
	"  -h, --help             this help\n"
	"\n"
	"At least one limit is required: an option above, or a 'default' or 'limit' line of the\n"
	"suppressions file.\n"
	"\n"
	"Suppressions file: one entry a line, '#' starts a comment, values with blanks go in\n"
	"double quotes; the first entry that matches a site decides for it.\n"
	"  allow   function=append_linear            # not checked, left out of the run\n"
	"  allow   file=*/third_party/*             # '*' also matches '/'\n"
	"  limit   file=parser.c max-amplification=50 max-copied=1MiB   # own limits\n"
	"  default max-amplification=4 max-copied=10MB   # used where no option is given\n"
	"Match keys (all given must match): function=GLOB, file=GLOB (path or base name),\n"
	"module=GLOB (path or base name), line=N. Limit keys: max-amplification=X,\n"
	"max-copied=BYTES, max-moves=N. An allow or limit entry that matches no site is\n"
	"reported as \"unused suppression at FILE:LINE\".\n";

/* The sum of the peaks of the realloc chains (the run amplification's denominator). */
static uint64_t sum_peaks(const struct gp_view *v)
{
	uint64_t peaks = 0;
	for (uint32_t i = 0; i < v->agg.nsites; i++) /* realloc and relocation chains */
		peaks += v->agg.origins[i].peak_bytes + v->agg.rorigins[i].peak_bytes;
	return peaks;
}

static void check_evaluate(struct check *c)
{
	/* Which entry decides for each site: the first that matches. */
	for (size_t i = 0; i < c->nrows; i++)
		for (size_t k = 0; k < c->supp.n; k++)
			if (gp_supp_matches(&c->supp.e[k], &c->rows[i].site->where)) {
				c->decided[i] = &c->supp.e[k];
				c->supp.e[k].used++;
				break;
			}
	for (size_t k = 0; k < c->supp.n; k++)
		c->unused += c->supp.e[k].used == 0;

	c->run_item = -1;
	if (!c->per_site && gp_limits_any(&c->lim)) {
		/*
		 * The run without the sites an entry decides for. Bytes copied and moves split
		 * exactly by site; peaks belong to chains, and a chain may step at several sites,
		 * so the peaks left are at least those of the largest site still checked.
		 */
		const struct gp_totals *t = &c->all;
		uint64_t peaks = sum_peaks(&c->v), ex_copied = 0, ex_moves = 0, ex_steps = 0,
		         ex_peaks = 0, rest_peak = 0;
		for (size_t i = 0; i < c->nrows; i++) {
			const struct gp_stats *st = c->rows[i].st;
			if (c->decided[i]) {
				ex_copied += st->bytes_copied;
				ex_moves += st->moves;
				ex_steps += st->steps;
				ex_peaks += st->peak_bytes;
			} else if (st->peak_bytes > rest_peak) {
				rest_peak = st->peak_bytes;
			}
		}
		struct measure run = { 0 };
		run.copied = t->bytes_copied > ex_copied ? t->bytes_copied - ex_copied : 0;
		run.moves = t->moves > ex_moves ? t->moves - ex_moves : 0;
		run.steps = t->steps > ex_steps ? t->steps - ex_steps : 0;
		run.peaks = peaks > ex_peaks ? peaks - ex_peaks : 0;
		if (run.peaks < rest_peak)
			run.peaks = rest_peak;
		run.amp = run.peaks ? (double)run.copied / (double)run.peaks : 0.0;
		c->run_item = (int)c->nitems;
		struct item *it = &c->items[c->nitems++];
		it->m = run;
		it->over = gp_limits_over(&c->lim, &run, "", it->msg, sizeof it->msg);
	}
	for (size_t i = 0; i < c->nrows; i++) {
		const struct entry *e = c->decided[i];
		if (e && e->kind == ENTRY_ALLOW) {
			c->nallowed++;
			continue;
		}
		if (!e && (!c->per_site || !gp_limits_any(&c->lim)))
			continue; /* counted in the run, or not limited at all */
		struct item *it = &c->items[c->nitems++];
		it->row = &c->rows[i];
		it->entry = e;
		it->m = gp_check_row_measure(&c->rows[i]);
		char suffix[600] = "";
		if (e) {
			snprintf(suffix, sizeof suffix, " (%s:%d)", c->supp.path, e->lineno);
			c->nown++;
		}
		it->over = gp_limits_over(e ? &e->lim : &c->lim, &it->m, suffix, it->msg,
		                       sizeof it->msg);
	}
	for (size_t i = 0; i < c->nitems; i++) {
		c->checked_sites += c->items[i].row != NULL;
		c->failed += c->items[i].over > 0;
		c->failed_sites += c->items[i].row && c->items[i].over;
	}

	/* A run over its limits: which checked sites add most (by moves when only the moves
	 * limit is exceeded, else by bytes copied). */
	if (c->run_item < 0 || !c->items[c->run_item].over)
		return;
	const struct measure *run = &c->items[c->run_item].m;
	int by_moves = !(c->lim.has_amp && run->amp > c->lim.amp) &&
	               !(c->lim.has_copied && run->copied > c->lim.copied);
	size_t nr;
	struct gp_row *r = gp_view_rows_all(&c->v, 0, by_moves ? GP_SORT_MOVES : GP_SORT_COPIED, &nr);
	for (size_t k = 0; r && k < nr && c->ncontrib < MAX_CONTRIBUTORS; k++) {
		int excluded = 0;
		for (size_t j = 0; j < c->nrows; j++)
			if (c->rows[j].site == r[k].site) {
				excluded = c->decided[j] != NULL;
				break;
			}
		if (!excluded && (by_moves ? r[k].st->moves : r[k].st->bytes_copied) > 0)
			c->contrib[c->ncontrib++] = r[k];
	}
	free(r);
}

static int check_options(struct check *c, int argc, char **argv)
{
	enum { O_AMP = 1000, O_COPIED, O_MOVES, O_PERSITE, O_SUPP, O_JUNIT, O_GITHUB, O_WRAPPER,
	       O_UNUSED, O_SKIPMOD };
	static const struct option opts[] = {
		{ "max-amplification", required_argument, NULL, O_AMP },
		{ "max-copied", required_argument, NULL, O_COPIED },
		{ "max-moves", required_argument, NULL, O_MOVES },
		{ "per-site", no_argument, NULL, O_PERSITE },
		{ "suppressions", required_argument, NULL, O_SUPP },
		{ "fail-on-unused", no_argument, NULL, O_UNUSED },
		{ "junit", required_argument, NULL, O_JUNIT },
		{ "github", no_argument, NULL, O_GITHUB },
		{ "wrapper", required_argument, NULL, O_WRAPPER },
		{ "skip-module", required_argument, NULL, O_SKIPMOD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct limits *l = &c->lim;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case O_AMP:
			if (gp_limits_parse_amp(optarg, &l->amp))
				return gp_die_usage("check", "--max-amplification wants %s, not '%s'",
				                    gp_limits_amp_want, optarg);
			l->has_amp = 1;
			break;
		case O_COPIED:
			if (gp_parse_bytes(optarg, &l->copied))
				return gp_die_usage("check", "--max-copied wants %s, not '%s'", gp_limits_copied_want,
				                    optarg);
			l->has_copied = 1;
			break;
		case O_MOVES:
			if (gp_parse_count(optarg, &l->moves))
				return gp_die_usage("check", "--max-moves wants %s, not '%s'", gp_limits_moves_want,
				                    optarg);
			l->has_moves = 1;
			break;
		case O_PERSITE:
			c->per_site = 1;
			break;
		case O_SUPP:
			if (c->supp_path)
				return gp_die_usage("check", "--suppressions given twice");
			c->supp_path = optarg;
			break;
		case O_UNUSED:
			c->fail_unused = 1;
			break;
		case O_JUNIT:
			c->junit_path = optarg;
			break;
		case O_GITHUB:
			c->github = 1;
			break;
		case O_WRAPPER:
		case O_SKIPMOD:
			if ((o == O_WRAPPER ? gp_view_add_wrapper : gp_view_add_skip_module)(&c->v, optarg)) {
				fprintf(stderr, "growprof check: out of memory\n");
				return 2;
			}
			break;
		case 'h':
			fputs(check_help, stdout);
			return -1;
		default:
			return gp_die_usage("check", "bad option");
		}
	}
	return 0;
}

int gp_cmd_check(int argc, char **argv)
{
	struct check c;
	memset(&c, 0, sizeof c);
	if (gp_view_init(&c.v)) {
		fprintf(stderr, "growprof check: out of memory\n");
		return 2;
	}
	int rc = check_options(&c, argc, argv);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (c.supp_path && (rc = gp_supp_load(&c.supp, c.supp_path)))
		goto out;

	/* The limits of everything no entry decides for: the options, else the file's
	 * defaults, key by key. */
	struct limits *l = &c.lim, *d = &c.supp.defaults;
	if (!l->has_amp && d->has_amp)
		l->has_amp = 1, l->amp = d->amp;
	if (!l->has_copied && d->has_copied)
		l->has_copied = 1, l->copied = d->copied;
	if (!l->has_moves && d->has_moves)
		l->has_moves = 1, l->moves = d->moves;
	int entry_limits = 0;
	for (size_t i = 0; i < c.supp.n; i++)
		entry_limits |= c.supp.e[i].kind == ENTRY_LIMIT;
	if (!gp_limits_any(l) && !entry_limits) {
		rc = gp_die_usage("check", "no limit given: use --max-amplification, --max-copied or "
		                  "--max-moves (or a 'default' or 'limit' line in a --suppressions "
		                  "file)");
		goto out;
	}

	if ((rc = gp_misplaced_option("check", argv + optind, argc - optind)))
		goto out;
	rc = gp_load_traces(&c.v, argv + optind, argc - optind, "check");
	if (rc)
		goto out;
	gp_gate_warn_cut_short(&c.v, "check");

	c.rows = gp_view_rows_all(&c.v, 0, GP_SORT_COPIED, &c.nrows);
	gp_view_totals_all(&c.v, &c.all);
	c.decided = calloc(c.nrows ? c.nrows : 1, sizeof *c.decided);
	c.items = calloc(c.nrows + 1, sizeof *c.items);
	if (!c.rows || !c.decided || !c.items) {
		fprintf(stderr, "growprof check: out of memory\n");
		rc = 2;
		goto out;
	}
	check_evaluate(&c);

	gp_check_print(&c, stdout);
	for (size_t k = 0; k < c.supp.n; k++)
		if (!c.supp.e[k].used)
			fprintf(stderr, "growprof check: %s: unused suppression at %s:%d (it matches no "
			        "site of the traces)\n", c.fail_unused ? "error" : "warning", c.supp.path,
			        c.supp.e[k].lineno);
	if (c.github)
		gp_check_print_github(&c, stdout);
	if (c.junit_path && (rc = gp_check_write_junit(&c, c.junit_path)))
		goto out;
	int fail = c.failed > 0 || (c.fail_unused && c.unused > 0);
	gp_check_print_summary(&c, stdout, fail);
	if (fflush(stdout)) {
		fprintf(stderr, "growprof check: cannot write the result: %s\n", strerror(errno));
		rc = 2;
		goto out;
	}
	rc = fail ? 1 : 0;
out:
	free(c.items);
	free(c.decided);
	free(c.rows);
	gp_supp_release(&c.supp);
	gp_view_release(&c.v);
	return rc;
}
