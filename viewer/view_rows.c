/*
 * view_rows.c - what the reports print for each site and origin: the numbers' formats, the
 * pattern's description and the advice, the heaviest stack, and the rows sorted by a key
 * (view.h).
 */
#define _GNU_SOURCE
#include "view.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers ---- */

const char *gp_fmt_count(char *buf, size_t cap, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	size_t o = 0;
	for (int i = 0; i < n && o + 1 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0 && o + 2 < cap)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

const char *gp_fmt_bytes(char *buf, size_t cap, double v)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%.0f B", v);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

int gp_parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	double x = strtod(s, &end);
	if (end == s || !isfinite(x) || x < 0)
		return -1;
	while (*end == ' ')
		end++;
	double mul = 1;
	char u[8] = "";
	size_t k = 0;
	while (*end && k < sizeof u - 1)
		u[k++] = (char)tolower((unsigned char)*end++);
	if (*end)
		return -1;
	static const struct { const char *s; double m; } units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1e3 }, { "kb", 1e3 }, { "kib", 1024.0 },
		{ "m", 1e6 }, { "mb", 1e6 }, { "mib", 1048576.0 },
		{ "g", 1e9 }, { "gb", 1e9 }, { "gib", 1073741824.0 },
		{ "t", 1e12 }, { "tb", 1e12 }, { "tib", 1099511627776.0 },
	};
	size_t i;
	for (i = 0; i < sizeof units / sizeof *units; i++)
		if (strcmp(u, units[i].s) == 0) {
			mul = units[i].m;
			break;
		}
	if (i == sizeof units / sizeof *units)
		return -1;
	x *= mul;
	if (x >= 18446744073709551615.0)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

int gp_sort_parse(const char *s, enum gp_sort *out)
{
	static const char *names[] = { "copied", "moves", "steps", "amplification" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum gp_sort)i;
			return 0;
		}
	if (strcmp(s, "bytes_copied") == 0) {
		*out = GP_SORT_COPIED;
		return 0;
	}
	return -1;
}

/* The function to name in advice: the site of the row's stack, never a free path. */
static const char *code_name(const struct gp_row *r)
{
	const struct gp_vframe *w = r->nstack ? &r->stack[0] : &r->site->where;
	if (!w->function || (r->kind == GP_KIND_RELOCATION && gp_view_is_free_path(w->function)))
		return "the code that grows it";
	return w->function;
}

/* The details of a row's pattern: its heaviest chain of that pattern, or the pooled grows
 * of chains too short to tell on their own. */
static const struct gp_shape *main_shape(const struct gp_row *r, int *pooled)
{
	const struct gp_shapes *sh = &r->st->shapes;
	*pooled = r->pattern != GP_PATTERN_FEW && !sh->have_top[r->pattern];
	return *pooled ? &sh->pooled : &sh->top[r->pattern];
}

static void shape_words(char *what, size_t cap, enum gp_pattern p, const struct gp_shape *t)
{
	char b[32];
	switch (p) {
	case GP_PATTERN_LINEAR:
		snprintf(what, cap, "linear (+%s a grow)", gp_fmt_bytes(b, sizeof b, t->delta));
		break;
	case GP_PATTERN_GEOMETRIC:
		snprintf(what, cap, "geometric (x%.3g)", t->factor);
		break;
	case GP_PATTERN_FEW:
		snprintf(what, cap, "too few grows to tell (under %d a chain)", GP_SHAPE_MIN_GROWS);
		break;
	default:
		snprintf(what, cap, "mixed: %s", t->what);
	}
}

/* The pattern in words, and the other shapes seen at the same site (SPEC: reported, not
 * averaged). */
static void describe(struct gp_row *r)
{
	const struct gp_shapes *sh = &r->st->shapes;
	char *out = r->pattern_text;
	size_t cap = sizeof r->pattern_text, o = 0;
	uint64_t copied = 0, chains = 0;
	for (int p = 0; p < GP_PATTERN_N; p++) {
		copied += sh->copied[p];
		chains += sh->chains[p];
	}
	int pooled;
	const struct gp_shape *m = main_shape(r, &pooled);
	char what[200], n[32];
	shape_words(what, sizeof what, r->pattern, m);
	o += (size_t)snprintf(out, cap, "%s", what);
	if (pooled && o < cap)
		o += (size_t)snprintf(out + o, cap - o, ", from the grows of %s chains of 2 grows",
		                      gp_fmt_count(n, sizeof n, sh->chains[GP_PATTERN_FEW]));
	for (int p = 0; p < GP_PATTERN_N && o < cap; p++) {
		if (p == (int)r->pattern || !sh->have_top[p] || (pooled && p == GP_PATTERN_FEW))
			continue;
		/* Other shapes: only those that hold a twentieth of the bytes (or chains). */
		double share = copied ? (double)sh->copied[p] / (double)copied
		                      : chains ? (double)sh->chains[p] / (double)chains : 0;
		if (share < 0.05)
			continue;
		shape_words(what, sizeof what, (enum gp_pattern)p, &sh->top[p]);
		o += (size_t)snprintf(out + o, cap - o, "; also %s in %s chain%s (%.0f%% of %s)",
		                      what, gp_fmt_count(n, sizeof n, sh->chains[p]),
		                      sh->chains[p] == 1 ? "" : "s", 100 * share,
		                      copied ? "bytes copied" : "chains");
	}
}

/*
 * Advice with numbers (SPEC "advice"): only where it saves (at least one copy and more than
 * 0 bytes, both stated), in the words of the code it names; amortized growth says so and
 * stops. Reserving the final size up front (or building from parts) copies nothing, so it
 * saves every copy the site made.
 */
static void advise(struct gp_row *r, int origin)
{
	const struct gp_stats *st = r->st;
	uint64_t copies = st->moves - st->remaps;
	char *adv = r->advice;
	size_t cap = sizeof r->advice;
	if (copies == 0 || st->bytes_copied == 0) {
		snprintf(adv, cap, "%s", st->remaps ? "no copies: the moves were mremaps of mmapped blocks"
		                     : copies ? "no bytes copied: nothing to save"
		                              : "no copies: every step grew or shrank in place");
		return;
	}
	char peak[32], copied[32], ncopies[32], delta[32], geo[32], gsave[32];
	gp_fmt_bytes(copied, sizeof copied, (double)st->bytes_copied);
	gp_fmt_bytes(peak, sizeof peak, (double)st->peak_max);
	gp_fmt_count(ncopies, sizeof ncopies, copies);
	const char *name = code_name(r);
	unsigned fl = r->site->flavor;
	char saves[96];
	snprintf(saves, sizeof saves, "saves %s cop%s / %s", ncopies, copies == 1 ? "y" : "ies",
	         copied);

	/* CPython bytes and str cannot grow: every += builds a new object (whatever the
	 * pattern), so the fix is to build from parts. */
	if (fl & GP_FLAVOR_PY_BYTES) {
		snprintf(adv, cap, "bytes += copies the whole object each time (bytes cannot grow): "
		         "collect the parts and b\"\".join() them, or append to a bytearray or an "
		         "io.BytesIO (%s)", saves);
		return;
	}
	if (fl & GP_FLAVOR_PY_STR && r->pattern != GP_PATTERN_GEOMETRIC) {
		snprintf(adv, cap, "str += copies the string as it grows: collect the parts and "
		         "\"\".join() them, or write to an io.StringIO (%s)", saves);
		return;
	}
	int pooled;
	const struct gp_shape *m = main_shape(r, &pooled);
	if (r->pattern == GP_PATTERN_GEOMETRIC) {
		snprintf(adv, cap, "geometric (x%.3g): copying is already amortized (%.2fx the chains' "
		         "peaks); nothing to change", m->factor, r->amplification);
		return;
	}
	if (fl & (GP_FLAVOR_CXX_VECTOR | GP_FLAVOR_CXX_STRING)) {
		snprintf(adv, cap, "call reserve() on the %s in %s before it grows (to ~%s, the "
		         "largest it reached): %s", fl & GP_FLAVOR_CXX_VECTOR ? "std::vector"
		         : "std::string", name, peak, saves);
		return;
	}
	if (fl & (GP_FLAVOR_RUST_VEC | GP_FLAVOR_RUST_STRING)) {
		snprintf(adv, cap, "create it with %s::with_capacity() in %s (~%s, the largest it "
		         "reached): %s", fl & GP_FLAVOR_RUST_VEC ? "Vec" : "String", name, peak, saves);
		return;
	}
	/* A C realloc (or malloc + copy) loop. Doubling copies at most about the final size
	 * once per chain: the sum of the chains' peaks. */
	double after = (double)st->peak_bytes;
	double gs = (double)st->bytes_copied - after;
	gp_fmt_bytes(geo, sizeof geo, after);
	gp_fmt_bytes(gsave, sizeof gsave, gs);
	char lead[200] = "";
	if (r->pattern == GP_PATTERN_LINEAR)
		snprintf(lead, sizeof lead, "grows +%s a step: ",
		         gp_fmt_bytes(delta, sizeof delta, m->delta));
	else if (r->pattern == GP_PATTERN_MIXED)
		snprintf(lead, sizeof lead, "grows %s: ", m->what);
	if (r->pattern != GP_PATTERN_FEW && gs >= 1 && gs >= 0.1 * (double)st->bytes_copied)
		snprintf(adv, cap, "%sgrow the capacity geometrically (x1.5-x2) in %s to copy ~%s "
		         "instead of %s (saves ~%s), or reserve ~%s up front %s(%s)", lead, name, geo,
		         copied, gsave, peak, origin ? "where it is allocated " : "", saves);
	else
		snprintf(adv, cap, "%sreserve ~%s up front in %s (%s)", lead, peak, name, saves);
}

static enum gp_sort sort_key;

/* A stack's weight by the sort key, as a site's stack (steps there) or an origin's (chains
 * begun there). Amplification has no per-stack meaning: bytes copied decide. */
static double stack_weight(const struct gp_stack *s, int origin, enum gp_sort key)
{
	if (origin)
		switch (key) {
		case GP_SORT_MOVES:
		case GP_SORT_STEPS: return (double)s->osteps;
		default: return (double)s->obytes_copied;
		}
	switch (key) {
	case GP_SORT_MOVES: return (double)s->moves;
	case GP_SORT_STEPS: return (double)s->steps;
	default: return (double)s->bytes_copied;
	}
}

/* Give each site its heaviest stack of each kind, as a site and as an origin, by `key`. */
static void pick_heavy(struct gp_view *v, enum gp_sort key)
{
	size_t nslots = (size_t)v->nsites * 4;
	size_t *best = malloc((nslots ? nslots : 1) * sizeof *best);
	double *bw = malloc((nslots ? nslots : 1) * sizeof *bw);
	if (!best || !bw)
		abort();
	for (size_t i = 0; i < nslots; i++)
		best[i] = SIZE_MAX;
	const struct gp_agg *a = &v->agg;
	for (size_t i = 0; i < a->nstacks; i++) {
		const struct gp_stack *s = &a->stacks[i];
		for (int origin = 0; origin < 2; origin++) {
			if (origin ? !s->ochains : !s->steps)
				continue;
			int kind = origin ? s->okind : s->kind;
			uint32_t id = !origin && kind == GP_KIND_RELOCATION ? s->rsite : s->site;
			if (id >= v->nsites)
				continue;
			size_t slot = (size_t)id * 4 + (size_t)(origin * 2 + kind);
			double w = stack_weight(s, origin, key);
			const struct gp_stack *o = best[slot] == SIZE_MAX ? NULL : &a->stacks[best[slot]];
			/* Ties: more steps, then the first seen (reports are reproducible). */
			if (!o || w > bw[slot] ||
			    (w == bw[slot] && (origin ? s->osteps > o->osteps : s->steps > o->steps))) {
				best[slot] = i;
				bw[slot] = w;
			}
		}
	}
	for (uint32_t id = 0; id < v->nsites; id++) {
		struct gp_site *site = v->sites[id];
		if (site->have_heavy[key])
			continue;
		site->have_heavy[key] = 1;
		for (int slot = 0; slot < 4; slot++) {
			size_t bi = best[(size_t)id * 4 + (size_t)slot];
			if (bi == SIZE_MAX)
				continue;
			const struct gp_stack *s = &a->stacks[bi];
			unsigned fi;
			int si;
			gp_view_site_frame(v, s->frames, s->n, slot == 1 ? GP_KIND_RELOCATION
			                                                  : GP_KIND_REALLOC, &fi, &si);
			if (fi < s->n)
				site->heavy[key][slot] = gp_view_vframes(v, s->frames, s->n, fi, si,
				                                      &site->nheavy[key][slot]);
		}
	}
	free(best);
	free(bw);
}

static double key_of(const struct gp_row *r)
{
	switch (sort_key) {
	case GP_SORT_MOVES: return (double)r->st->moves;
	case GP_SORT_STEPS: return (double)r->st->steps;
	case GP_SORT_AMPLIFICATION: return r->amplification;
	default: return (double)r->st->bytes_copied;
	}
}

static int cmp_rows(const void *a, const void *b)
{
	const struct gp_row *x = a, *y = b;
	double kx = key_of(x), ky = key_of(y);
	if (kx != ky)
		return kx < ky ? 1 : -1;
	if (x->st->bytes_copied != y->st->bytes_copied)
		return x->st->bytes_copied < y->st->bytes_copied ? 1 : -1;
	if (x->st->steps != y->st->steps)
		return x->st->steps < y->st->steps ? 1 : -1;
	return x->site->id < y->site->id ? -1 : x->site->id > y->site->id;
}

static struct gp_row *rows_of(struct gp_view *v, int origins, int kinds, enum gp_sort key,
                              size_t *n)
{
	struct gp_row *rows = calloc(2 * (size_t)(v->nsites ? v->nsites : 1), sizeof *rows);
	if (!rows)
		return NULL;
	pick_heavy(v, key);
	size_t k = 0;
	for (int kind = 0; kind < 2; kind++) {
		if (!(kinds & (1 << kind)))
			continue;
		const struct gp_stats *arr = kind == GP_KIND_RELOCATION
			? (origins ? v->agg.rorigins : v->agg.rsites)
			: (origins ? v->agg.origins : v->agg.sites);
		for (uint32_t i = 0; i < v->nsites && i < v->agg.nsites; i++) {
			const struct gp_stats *st = &arr[i];
			if (!st->used || (origins ? st->chains == 0 : st->steps == 0))
				continue;
			struct gp_row *r = &rows[k++];
			r->site = v->sites[i];
			r->kind = kind;
			r->st = st;
			r->amplification = gp_stats_amplification(st);
			r->factor_median = gp_samples_median(&st->factors);
			r->delta_median = gp_samples_median(&st->deltas);
			r->pattern = gp_stats_pattern(st);
			int slot = origins * 2 + kind;
			if (r->site->nheavy[key][slot]) {
				r->stack = r->site->heavy[key][slot];
				r->nstack = r->site->nheavy[key][slot];
			} else {
				r->stack = r->site->stack;
				r->nstack = r->site->nstack;
			}
			describe(r);
			advise(r, origins);
		}
	}
	sort_key = key;
	qsort(rows, k, sizeof *rows, cmp_rows);
	*n = k;
	return rows;
}

struct gp_row *gp_view_rows(struct gp_view *v, int origins, enum gp_sort key, size_t *n)
{
	return rows_of(v, origins, 1 << GP_KIND_REALLOC, key, n);
}

struct gp_row *gp_view_rows_all(struct gp_view *v, int origins, enum gp_sort key, size_t *n)
{
	return rows_of(v, origins, 1 << GP_KIND_REALLOC | 1 << GP_KIND_RELOCATION, key, n);
}

double gp_view_amplification(const struct gp_view *v, int kind)
{
	uint64_t peaks = 0, copied = 0;
	for (int k = 0; k < 2; k++) {
		if (kind != GP_KIND_ALL && kind != k)
			continue;
		const struct gp_stats *o = k == GP_KIND_RELOCATION ? v->agg.rorigins : v->agg.origins;
		for (uint32_t i = 0; i < v->agg.nsites; i++)
			peaks += o[i].peak_bytes;
		copied += (k == GP_KIND_RELOCATION ? &v->agg.reloc_totals : &v->agg.totals)->bytes_copied;
	}
	return peaks ? (double)copied / (double)peaks : 0;
}

void gp_view_totals_all(const struct gp_view *v, struct gp_totals *out)
{
	const struct gp_totals *a = &v->agg.totals, *r = &v->agg.reloc_totals;
	*out = *a;
	out->steps += r->steps;
	out->grows += r->grows;
	out->shrinks += r->shrinks;
	out->moves += r->moves;
	out->remaps += r->remaps;
	out->bytes_copied += r->bytes_copied;
	out->chains += r->chains;
	if (r->max_chain_steps > out->max_chain_steps)
		out->max_chain_steps = r->max_chain_steps;
}
