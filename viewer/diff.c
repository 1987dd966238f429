/*
 * diff.c - growprof diff: compare two runs site by site.
 *
 *   growprof diff [--fail-on-increase PCT] [--min-increase BYTES] [--top N]
 *                 [--format text|json] [--wrapper PAT] BASE... -- NEW...
 *
 * Each side's traces aggregate into one view, as in `growprof report`. Sites are matched
 * by function + source file + line: first with the file path normalized, then, for sites
 * still unmatched, by the file's base name (two checkouts or build directories of the same
 * code), and sites without a function, file or line by module base name + address. Sites
 * of one side that share a key are summed (one source line may call realloc from several
 * addresses). A site only in NEW is "new", one only in BASE "vanished".
 *
 * Sites are listed by the change in bytes copied, largest increase first (new sites count
 * from 0, vanished ones go to 0). --fail-on-increase PCT makes the exit code 1 when the total
 * bytes copied, or any site's, grew by more than PCT percent (a new site that copies grew
 * from nothing: by more than any PCT); each such increase is named. --min-increase BYTES
 * ignores increases of fewer bytes (noise). Exit 0 otherwise, 2 on a usage error or an
 * unreadable trace.
 */
#define _GNU_SOURCE
#include "cmds.h"
#include "gate.h"
#include "json.h"
#include "view.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

static const char diff_help[] =
	"usage: growprof diff [OPTIONS] BASE_TRACE... -- NEW_TRACE...\n"
	"\n"
	"(Run folders from 'growprof record' or trace files, on either side.)\n"
	"Compare two runs site by site: the change in bytes copied, moves and amplification of\n"
	"each call site, new and vanished sites, largest increase in bytes copied first. Sites\n"
	"match by function, source file and line (else module and address).\n"
	"\n"
	"  --fail-on-increase PCT  exit 1 if the total bytes copied, or any site's, grew by more\n"
	"                          than PCT percent (0: any increase; a new site that copies\n"
	"                          always counts)\n"
	"  --min-increase BYTES    ignore increases smaller than BYTES for --fail-on-increase\n"
	"                          (e.g. 64KiB; default 0)\n"
	"  --top N                 list the N largest changes (text default 10, json all)\n"
	"  --format FMT            text (default) or json\n"
	"  --wrapper PATTERN       treat functions matching PATTERN as allocator wrappers\n"
	"  --skip-module GLOB      frames of shared objects whose file name matches GLOB are\n"
	"                          never a site (another interposer in front of libgrowprof.so)\n"
	"  -h, --help              this help\n"
	"\n"
	"Exit status: 0, or 1 when --fail-on-increase is exceeded; 2 on a usage error or an\n"
	"unreadable trace.\n";

/* One site of one side (sites sharing a key summed). */
struct dsite {
	char *key;                     /* function|path|line, or module|address */
	char *key2;                    /* function|base name|line, NULL without file and line */
	const struct gp_vframe *where; /* of the first site with this key (its heaviest stack's) */
	int kind;                      /* GP_KIND_*: a realloc and a relocation site stay apart */
	uint64_t copied, moves, steps, chains, peaks;
	uint64_t peak_max;             /* the largest block of its chains (SPEC "peak") */
	struct dsite *other;           /* the matching site of the other side */
	UT_hash_handle hh, hh2;
};

struct side {
	struct gp_view v;
	struct dsite *sites;
	size_t n;
	struct dsite *by_key, *by_key2;
	double amp;                    /* the run's amplification */
	struct gp_totals all;          /* the run: realloc and relocation chains together */
};

/* One line of the comparison: base and/or new. */
struct pair {
	const struct dsite *b, *n;
	double delta;                  /* new - base bytes copied */
};

static double amp_of(const struct dsite *s)
{
	return s && s->peaks ? (double)s->copied / (double)s->peaks : 0.0;
}

static char *site_key(const struct gp_vframe *w, int kind, int second)
{
	char norm[4096], *k = NULL;
	int rc;
	char kc = kind == GP_KIND_RELOCATION ? 'r' : 'a';
	if (w->function && w->file && w->line > 0)
		rc = asprintf(&k, "%c%c|%s|%s|%d", second ? 'S' : 'F', kc, w->function,
		              second ? gp_gate_base(w->file) : gp_gate_normpath(norm, sizeof norm,
		                                                                  w->file), w->line);
	else if (second)
		return NULL;
	else
		rc = asprintf(&k, "A%c|%s|%llx", kc, w->module ? gp_gate_base(w->module) : "?",
		              (unsigned long long)w->addr);
	return rc < 0 ? NULL : k;
}

/* Fill s->sites from its view. @return 0, -1 out of memory. */
static int side_build(struct side *s)
{
	size_t nrows;
	struct gp_row *rows = gp_view_rows_all(&s->v, 0, GP_SORT_COPIED, &nrows);
	if (!rows)
		return -1;
	s->sites = calloc(nrows ? nrows : 1, sizeof *s->sites);
	if (!s->sites) {
		free(rows);
		return -1;
	}
	for (size_t i = 0; i < nrows; i++) {
		/* The site as report prints it: its heaviest stack's first frame (kept by the
		 * view, so it outlives rows). */
		const struct gp_vframe *w = rows[i].nstack ? &rows[i].stack[0] : &rows[i].site->where;
		char *key = site_key(w, rows[i].kind, 0);
		if (!key)
			goto oom;
		struct dsite *d;
		HASH_FIND_STR(s->by_key, key, d);
		if (d) {
			free(key);
		} else {
			d = &s->sites[s->n++];
			d->key = key;
			d->key2 = site_key(w, rows[i].kind, 1);
			d->where = w;
			d->kind = rows[i].kind;
			HASH_ADD_KEYPTR(hh, s->by_key, d->key, strlen(d->key), d);
			if (d->key2) {
				struct dsite *d2;
				HASH_FIND(hh2, s->by_key2, d->key2, strlen(d->key2), d2);
				if (!d2) /* the first of several with the same base name wins */
					HASH_ADD_KEYPTR(hh2, s->by_key2, d->key2, strlen(d->key2), d);
			}
		}
		const struct gp_stats *st = rows[i].st;
		d->copied += st->bytes_copied;
		d->moves += st->moves;
		d->steps += st->steps;
		d->chains += st->chains;
		d->peaks += st->peak_bytes;
		if (st->peak_max > d->peak_max)
			d->peak_max = st->peak_max;
	}
	free(rows);
	s->amp = gp_view_amplification(&s->v, GP_KIND_ALL);
	gp_view_totals_all(&s->v, &s->all);
	return 0;
oom:
	free(rows);
	return -1;
}

static void side_release(struct side *s)
{
	HASH_CLEAR(hh, s->by_key);
	HASH_CLEAR(hh2, s->by_key2);
	for (size_t i = 0; i < s->n; i++) {
		free(s->sites[i].key);
		free(s->sites[i].key2);
	}
	free(s->sites);
	gp_view_release(&s->v);
}

/* Pair the sites of the two sides: by key, then unmatched ones by key2. */
static struct pair *match(struct side *b, struct side *n, size_t *npairs)
{
	struct pair *p = calloc(b->n + n->n + 1, sizeof *p);
	if (!p)
		return NULL;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n->n; i++) {
			struct dsite *x = &n->sites[i], *y = NULL;
			if (x->other)
				continue;
			if (pass == 0)
				HASH_FIND_STR(b->by_key, x->key, y);
			else if (x->key2)
				HASH_FIND(hh2, b->by_key2, x->key2, strlen(x->key2), y);
			if (y && !y->other) {
				x->other = y;
				y->other = x;
			}
		}
	size_t k = 0;
	for (size_t i = 0; i < n->n; i++)
		p[k++] = (struct pair){ n->sites[i].other, &n->sites[i], 0 };
	for (size_t i = 0; i < b->n; i++)
		if (!b->sites[i].other)
			p[k++] = (struct pair){ &b->sites[i], NULL, 0 };
	for (size_t i = 0; i < k; i++)
		p[i].delta = (p[i].n ? (double)p[i].n->copied : 0) -
		             (p[i].b ? (double)p[i].b->copied : 0);
	*npairs = k;
	return p;
}

static int cmp_pairs(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	if (a->delta != b->delta)
		return a->delta < b->delta ? 1 : -1;
	uint64_t an = a->n ? a->n->copied : 0, bn = b->n ? b->n->copied : 0;
	if (an != bn)
		return an < bn ? 1 : -1;
	uint64_t ab = a->b ? a->b->copied : 0, bb = b->b ? b->b->copied : 0;
	if (ab != bb)
		return ab < bb ? 1 : -1;
	const struct dsite *sa = a->n ? a->n : a->b, *sb = b->n ? b->n : b->b;
	return strcmp(sa->key, sb->key);
}

/* The percent change from a to b: +inf when a is 0 and b is not, 0 when both are 0. */
static double pct(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b ? INFINITY : 0.0;
	return 100.0 * ((double)b - (double)a) / (double)a;
}

static const char *fmt_pct(char *buf, size_t cap, double p)
{
	if (isinf(p))
		snprintf(buf, cap, "new");
	else
		snprintf(buf, cap, "%+.1f%%", p);
	return buf;
}

/* "73.0%" for "grew by" */
static const char *fmt_grew(char *buf, size_t cap, double p)
{
	snprintf(buf, cap, "%.1f%%", p);
	return buf;
}

/* "+1,234" / "-1,234" / "0" */
static const char *fmt_delta(char *buf, size_t cap, uint64_t a, uint64_t b)
{
	char n[32];
	if (b >= a)
		snprintf(buf, cap, "%s%s", b > a ? "+" : "", gp_fmt_count(n, sizeof n, b - a));
	else
		snprintf(buf, cap, "-%s", gp_fmt_count(n, sizeof n, a - b));
	return buf;
}

static const char *fmt_delta_bytes(char *buf, size_t cap, uint64_t a, uint64_t b)
{
	char n[32];
	if (b >= a)
		snprintf(buf, cap, "%s%s", b > a ? "+" : "",
		         gp_fmt_bytes(n, sizeof n, (double)(b - a)));
	else
		snprintf(buf, cap, "-%s", gp_fmt_bytes(n, sizeof n, (double)(a - b)));
	return buf;
}

static const char *status_of(const struct pair *p)
{
	if (!p->b)
		return "new";
	if (!p->n)
		return "vanished";
	if (p->b->copied == p->n->copied && p->b->moves == p->n->moves &&
	    p->b->steps == p->n->steps)
		return "same";
	return "changed";
}

struct opts {
	int fail, json;
	double fail_pct;
	uint64_t min_increase, top;
	int have_top;
};

/* Does a change from a to b bytes copied exceed --fail-on-increase? */
static int regressed(const struct opts *o, uint64_t a, uint64_t b)
{
	return o->fail && b > a && b - a >= o->min_increase && pct(a, b) > o->fail_pct;
}

static void traces_text(FILE *out, const struct side *s)
{
	const struct gp_agg *a = &s->v.agg;
	fprintf(out, "%zu trace%s", a->ntraces, a->ntraces == 1 ? "" : "s");
	for (size_t i = 0; i < a->ntraces && i < 3; i++)
		fprintf(out, "%s%s[%llu]", i ? ", " : " (", a->traces[i].exe ?
		        gp_gate_base(a->traces[i].exe) : "?", (unsigned long long)a->traces[i].pid);
	if (a->ntraces > 3)
		fputs(", ...", out);
	if (a->ntraces)
		fputc(')', out);
}

/* The failure lines: "growprof diff: FAILED: ... grew by X%, more than PCT%". @return how
 * many increases exceed the limit. */
static size_t print_regressions(FILE *out, const struct opts *o, const struct side *b,
                                const struct side *n, const struct pair *p, size_t np)
{
	char a1[32], a2[32], a3[32], label[1024];
	size_t bad = 0;
	const struct gp_totals *tb = &b->all, *tn = &n->all;
	if (regressed(o, tb->bytes_copied, tn->bytes_copied)) {
		bad++;
		fprintf(out, "growprof diff: FAILED: total bytes copied grew by %s (%s -> %s), more "
		        "than %g%%\n", fmt_grew(a1, sizeof a1, pct(tb->bytes_copied, tn->bytes_copied)),
		        gp_fmt_count(a2, sizeof a2, tb->bytes_copied),
		        gp_fmt_count(a3, sizeof a3, tn->bytes_copied), o->fail_pct);
	}
	for (size_t i = 0; i < np; i++) {
		uint64_t x = p[i].b ? p[i].b->copied : 0, y = p[i].n ? p[i].n->copied : 0;
		if (!regressed(o, x, y))
			continue;
		if (++bad > 21)
			continue;
		size_t o0 = 0;
		if (p[i].n->kind == GP_KIND_RELOCATION) {
			memcpy(label, "[relocation] ", 13);
			o0 = 13;
		}
		gp_gate_label(label + o0, sizeof label - o0, p[i].n->where);
		if (bad == 21) {
			fprintf(out, "growprof diff: FAILED: and more sites\n");
			continue;
		}
		if (!p[i].b)
			fprintf(out, "growprof diff: FAILED: %s: new site copying %s bytes (%s)\n", label,
			        gp_fmt_count(a2, sizeof a2, y), gp_fmt_bytes(a3, sizeof a3, (double)y));
		else
			fprintf(out, "growprof diff: FAILED: %s: bytes copied grew by %s (%s -> %s), "
			        "more than %g%%\n", label, fmt_grew(a1, sizeof a1, pct(x, y)),
			        gp_fmt_count(a2, sizeof a2, x), gp_fmt_count(a3, sizeof a3, y),
			        o->fail_pct);
	}
	return bad;
}

static void print_text(FILE *out, const struct opts *o, const struct side *b,
                       const struct side *n, const struct pair *p, size_t np)
{
	const struct gp_totals *tb = &b->all, *tn = &n->all;
	char a1[32], a2[32], a3[32], a4[32], label[1024];
	fputs("growprof diff: base ", out);
	traces_text(out, b);
	fputs(", new ", out);
	traces_text(out, n);
	fputc('\n', out);
	fprintf(out, "  %-14s %15s %15s %15s\n", "", "base", "new", "change");
	const char *names[] = { "bytes copied", "moves", "steps" };
	const uint64_t vb[] = { tb->bytes_copied, tb->moves, tb->steps };
	const uint64_t vn[] = { tn->bytes_copied, tn->moves, tn->steps };
	for (int k = 0; k < 3; k++)
		fprintf(out, "  %-14s %15s %15s %15s (%s)\n", names[k],
		        gp_fmt_count(a1, sizeof a1, vb[k]), gp_fmt_count(a2, sizeof a2, vn[k]),
		        fmt_delta(a3, sizeof a3, vb[k], vn[k]),
		        isinf(pct(vb[k], vn[k])) ? "from 0" :
		                                   fmt_pct(a4, sizeof a4, pct(vb[k], vn[k])));
	snprintf(a1, sizeof a1, "%.2fx", b->amp);
	snprintf(a2, sizeof a2, "%.2fx", n->amp);
	snprintf(a3, sizeof a3, "%+.2fx", n->amp - b->amp);
	fprintf(out, "  %-14s %15s %15s %15s\n", "amplification", a1, a2, a3);

	size_t nnew = 0, ngone = 0, nsame = 0;
	for (size_t i = 0; i < np; i++) {
		nnew += !p[i].b;
		ngone += !p[i].n;
		nsame += !strcmp(status_of(&p[i]), "same");
	}
	size_t top = o->have_top ? (size_t)o->top : 10;
	fprintf(out, "\nSites by change in bytes copied");
	if (np > top)
		fprintf(out, " (top %zu of %zu)", top, np);
	fprintf(out, ": %zu matched (%zu unchanged), %zu new, %zu vanished\n", np - nnew - ngone,
	        nsame, nnew, ngone);
	if (np == 0)
		fprintf(out, "  none: no realloc step in either run\n");
	for (size_t i = 0; i < np && i < top; i++) {
		const struct pair *q = &p[i];
		const struct dsite *s = q->n ? q->n : q->b;
		const char *st = status_of(q);
		fprintf(out, "%3zu. %s%s", i + 1, s->kind == GP_KIND_RELOCATION ? "[relocation] " : "",
		        gp_gate_label(label, sizeof label, s->where));
		if (strcmp(st, "changed"))
			fprintf(out, "  [%s]", st);
		fputc('\n', out);
		uint64_t cb = q->b ? q->b->copied : 0, cn = q->n ? q->n->copied : 0;
		uint64_t mb = q->b ? q->b->moves : 0, mn = q->n ? q->n->moves : 0;
		fprintf(out, "     copied %s -> %s (%s",
		        q->b ? gp_fmt_bytes(a1, sizeof a1, (double)cb) : "-",
		        q->n ? gp_fmt_bytes(a2, sizeof a2, (double)cn) : "-",
		        fmt_delta_bytes(a3, sizeof a3, cb, cn));
		if (q->b && cb)
			fprintf(out, ", %s", fmt_pct(a4, sizeof a4, pct(cb, cn)));
		fprintf(out, "), moves %s -> %s (%s)", q->b ? gp_fmt_count(a1, sizeof a1, mb) : "-",
		        q->n ? gp_fmt_count(a2, sizeof a2, mn) : "-", fmt_delta(a3, sizeof a3, mb, mn));
		fprintf(out, ", amplification ");
		if (q->b)
			fprintf(out, "%.2fx", amp_of(q->b));
		else
			fputc('-', out);
		fputs(" -> ", out);
		if (q->n)
			fprintf(out, "%.2fx\n", amp_of(q->n));
		else
			fputs("-\n", out);
	}
}

static void json_side(FILE *out, const char *name, const struct side *s)
{
	const struct gp_totals *t = &s->all;
	fprintf(out, "\"%s\": {\"traces\": [", name);
	for (size_t i = 0; i < s->v.agg.ntraces; i++) {
		if (i)
			fputs(", ", out);
		gp_json_str(out, s->v.agg.traces[i].file);
	}
	fprintf(out, "], \"totals\": {\"bytes_copied\": %llu, \"moves\": %llu, \"steps\": %llu, "
	        "\"chains\": %llu, \"amplification\": %.6g}}", (unsigned long long)t->bytes_copied,
	        (unsigned long long)t->moves, (unsigned long long)t->steps,
	        (unsigned long long)t->chains, isfinite(s->amp) ? s->amp : 0.0);
}

static void json_dsite(FILE *out, const struct dsite *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"bytes_copied\": %llu, \"moves\": %llu, \"steps\": %llu, \"chains\": %llu, "
	        "\"peak_bytes\": %llu, \"peak_sum_bytes\": %llu, \"amplification\": %.6g}",
	        (unsigned long long)s->copied, (unsigned long long)s->moves,
	        (unsigned long long)s->steps, (unsigned long long)s->chains,
	        (unsigned long long)s->peak_max, (unsigned long long)s->peaks, amp_of(s));
}

static void print_json(FILE *out, const struct opts *o, const struct side *b,
                       const struct side *n, const struct pair *p, size_t np, size_t nbad)
{
	const struct gp_totals *tb = &b->all, *tn = &n->all;
	fputs("{\"growprof_diff\": 1,\n", out);
	json_side(out, "base", b);
	fputs(",\n", out);
	json_side(out, "new", n);
	fprintf(out, ",\n\"change\": {\"bytes_copied\": %.0f, \"bytes_copied_pct\": ",
	        (double)tn->bytes_copied - (double)tb->bytes_copied);
	gp_json_num_or_null(out, pct(tb->bytes_copied, tn->bytes_copied));
	fprintf(out, ", \"moves\": %.0f, \"moves_pct\": ", (double)tn->moves - (double)tb->moves);
	gp_json_num_or_null(out, pct(tb->moves, tn->moves));
	fprintf(out, ", \"amplification\": %.6g},\n\"sites\": [", n->amp - b->amp);
	size_t top = o->have_top ? (size_t)o->top : SIZE_MAX;
	for (size_t i = 0; i < np && i < top; i++) {
		const struct pair *q = &p[i];
		const struct dsite *s = q->n ? q->n : q->b;
		const struct gp_vframe *w = s->where;
		fputs(i ? ",\n  {" : "\n  {", out);
		fputs("\"status\": ", out);
		gp_json_str(out, status_of(q));
		fputs(", \"kind\": ", out);
		gp_json_str(out, s->kind == GP_KIND_RELOCATION ? "relocation" : "realloc");
		fputs(", ", out);
		gp_json_frame_fields(out, w);
		fprintf(out, ", \"address\": \"0x%llx\", \"base\": ", (unsigned long long)w->addr);
		json_dsite(out, q->b);
		fputs(", \"new\": ", out);
		json_dsite(out, q->n);
		uint64_t cb = q->b ? q->b->copied : 0, cn = q->n ? q->n->copied : 0;
		uint64_t mb = q->b ? q->b->moves : 0, mn = q->n ? q->n->moves : 0;
		fprintf(out, ", \"change\": {\"bytes_copied\": %.0f, \"bytes_copied_pct\": ", q->delta);
		gp_json_num_or_null(out, pct(cb, cn));
		fprintf(out, ", \"moves\": %.0f, \"amplification\": %.6g}, \"regressed\": %s}",
		        (double)mn - (double)mb, amp_of(q->n) - amp_of(q->b),
		        regressed(o, cb, cn) ? "true" : "false");
	}
	fputs(np && top ? "\n],\n" : "],\n", out);
	fputs("\"fail_on_increase\": ", out);
	if (o->fail)
		fprintf(out, "%.6g", o->fail_pct);
	else
		fputs("null", out);
	fprintf(out, ", \"min_increase\": %llu, \"total_regressed\": %s, \"failed\": %s}\n",
	        (unsigned long long)o->min_increase,
	        regressed(o, tb->bytes_copied, tn->bytes_copied) ? "true" : "false",
	        nbad ? "true" : "false");
}

int gp_cmd_diff(int argc, char **argv)
{
	enum { O_FAIL = 1000, O_MIN, O_TOP, O_FORMAT, O_WRAPPER, O_SKIPMOD };
	static const struct option lopts[] = {
		{ "fail-on-increase", required_argument, NULL, O_FAIL },
		{ "min-increase", required_argument, NULL, O_MIN },
		{ "top", required_argument, NULL, O_TOP },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "wrapper", required_argument, NULL, O_WRAPPER },
		{ "skip-module", required_argument, NULL, O_SKIPMOD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct side b, n;
	memset(&b, 0, sizeof b);
	memset(&n, 0, sizeof n);
	if (gp_view_init(&b.v) || gp_view_init(&n.v)) {
		fprintf(stderr, "growprof diff: out of memory\n");
		gp_view_release(&b.v);
		gp_view_release(&n.v);
		return 2;
	}
	struct opts o = { 0 };
	struct pair *p = NULL;
	int rc = 0, c;
	/* Options come before BASE; the first "--" separates BASE from NEW, so getopt must
	 * not see it (it would swallow a "--" that follows the options directly). */
	int sep = -1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			sep = i;
			break;
		}
	int optc = sep < 0 ? argc : sep;
	optind = 1;
	while ((c = getopt_long(optc, argv, "+h", lopts, NULL)) != -1) {
		switch (c) {
		case O_FAIL: {
			char *end;
			errno = 0;
			double x = strtod(optarg, &end);
			if (*end == '%')
				end++;
			if (end == optarg || *end || errno || !isfinite(x) || x < 0 || optarg[0] == '-') {
				rc = gp_die_usage("diff", "--fail-on-increase wants a non-negative percentage "
				                  "(e.g. 10 or 2.5), not '%s'", optarg);
				goto out;
			}
			o.fail = 1;
			o.fail_pct = x;
			break;
		}
		case O_MIN:
			if (gp_parse_bytes(optarg, &o.min_increase)) {
				rc = gp_die_usage("diff", "--min-increase wants a size in bytes (e.g. 64KiB, "
				                  "1MB, 1000), not '%s'", optarg);
				goto out;
			}
			break;
		case O_TOP:
			if (gp_parse_count(optarg, &o.top) || o.top == 0) {
				rc = gp_die_usage("diff", "--top wants a positive number, not '%s'", optarg);
				goto out;
			}
			o.have_top = 1;
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "json"))
				o.json = 1;
			else if (!strcmp(optarg, "text"))
				o.json = 0;
			else {
				rc = gp_die_usage("diff", "unknown --format '%s' (text, json)", optarg);
				goto out;
			}
			break;
		case O_WRAPPER:
		case O_SKIPMOD: {
			int (*add)(struct gp_view *, const char *) =
				c == O_WRAPPER ? gp_view_add_wrapper : gp_view_add_skip_module;
			if (add(&b.v, optarg) || add(&n.v, optarg)) {
				fprintf(stderr, "growprof diff: out of memory\n");
				rc = 2;
				goto out;
			}
			break;
		}
		case 'h':
			fputs(diff_help, stdout);
			goto out;
		default:
			rc = gp_die_usage("diff", "bad option");
			goto out;
		}
	}
	if (sep < 0) {
		rc = gp_die_usage("diff", "missing '--' between the base and the new traces");
		goto out;
	}
	if (optind >= sep) {
		rc = gp_die_usage("diff", "no base trace before '--'");
		goto out;
	}
	if (sep + 1 >= argc) {
		rc = gp_die_usage("diff", "no new trace after '--'");
		goto out;
	}
	if ((rc = gp_misplaced_option("diff", argv + optind, argc - optind)) ||
	    (rc = gp_load_traces(&b.v, argv + optind, sep - optind, "diff")) ||
	    (rc = gp_load_traces(&n.v, argv + sep + 1, argc - sep - 1, "diff")))
		goto out;
	gp_gate_warn_cut_short(&b.v, "diff");
	gp_gate_warn_cut_short(&n.v, "diff");

	size_t np = 0;
	if (side_build(&b) || side_build(&n) || !(p = match(&b, &n, &np))) {
		fprintf(stderr, "growprof diff: out of memory\n");
		rc = 2;
		goto out;
	}
	qsort(p, np, sizeof *p, cmp_pairs);

	size_t nbad;
	if (o.json) {
		/* the verdict is in the JSON; the failure lines go to stderr */
		nbad = print_regressions(stderr, &o, &b, &n, p, np);
		print_json(stdout, &o, &b, &n, p, np, nbad);
	} else {
		print_text(stdout, &o, &b, &n, p, np);
		const struct gp_totals *tb = &b.all, *tn = &n.all;
		char a1[32];
		nbad = print_regressions(stdout, &o, &b, &n, p, np);
		const char *total = tb->bytes_copied == tn->bytes_copied ? "unchanged" :
		                    isinf(pct(tb->bytes_copied, tn->bytes_copied)) ? "from 0" :
		                    fmt_pct(a1, sizeof a1, pct(tb->bytes_copied, tn->bytes_copied));
		if (!o.fail)
			printf("growprof diff: total bytes copied %s\n", total);
		else if (!nbad)
			printf("growprof diff: passed: neither the total nor any site's bytes copied grew "
			       "by more than %g%% (total %s)\n", o.fail_pct, total);
	}
	if (fflush(stdout)) {
		fprintf(stderr, "growprof diff: cannot write the result: %s\n", strerror(errno));
		rc = 2;
		goto out;
	}
	rc = nbad ? 1 : 0;
out:
	free(p);
	side_release(&b);
	side_release(&n);
	return rc;
}
