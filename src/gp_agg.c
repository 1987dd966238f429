/* gp_agg.c - records -> totals, sites and origins (see gp_agg.h). */
#include "gp_grow.h"
#include "gp_agg.h"

#include "gp_format.h"
#include "gp_reader.h"
#include "gp_record.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* ---- samples ------------------------------------------------------------------------- */

static void samples_add(struct gp_samples *s, double x)
{
	s->seen++;
	if (!s->v) {
		s->v = malloc(GP_SAMPLES_MAX * sizeof *s->v);
		if (!s->v)
			return;
	}
	if (s->n < GP_SAMPLES_MAX) {
		s->v[s->n++] = x;
		return;
	}
	/* Reservoir sampling with a fixed-seed generator: reports are reproducible. */
	uint64_t z = s->seen * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z ^= z >> 31;
	uint64_t j = z % s->seen;
	if (j < GP_SAMPLES_MAX)
		s->v[j] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double gp_samples_median(const struct gp_samples *s)
{
	if (!s->n)
		return 0;
	/* Sorting in place is fine: order does not matter to a sample. */
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	if (s->n & 1)
		return s->v[s->n / 2];
	return (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

/* ---- patterns ------------------------------------------------------------------------ */

/* Human bytes for a pattern's description ("4 KiB", "16 B"): the core never prints, but it
 * may describe. */
static void shape_bytes(char *buf, size_t cap, double v)
{
	if (v > 1e18)
		v = 1e18;
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 100 || v == (double)(uint64_t)v)
		snprintf(buf, cap, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

/* Sums over a range of grows, for least squares in O(1) per range. */
struct shape_sums {
	double *x, *y, *z; /* prefix sums of ln old, ln delta, ln (delta / old) */
	double *yy, *zz, *xy;
};

static double range_var(const double *s, const double *ss, size_t a, size_t b)
{
	double n = (double)(b - a), m = (s[b] - s[a]) / n;
	double v = (ss[b] - ss[a]) / n - m * m;
	return v > 0 ? v : 0;
}

/* Median of v[a..b) (sorts a copy in tmp). */
static double range_median(const double *v, size_t a, size_t b, double *tmp)
{
	size_t n = b - a;
	memcpy(tmp, v + a, n * sizeof *tmp);
	qsort(tmp, n, sizeof *tmp, cmp_double);
	return n & 1 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static const char *phase(char *buf, size_t cap, int geometric, double factor, double delta)
{
	if (geometric) {
		snprintf(buf, cap, "x%.3g", factor);
	} else {
		char b[32];
		shape_bytes(b, sizeof b, delta);
		snprintf(buf, cap, "+%s", b);
	}
	return buf;
}

enum gp_pattern gp_shape_classify(const uint64_t *sizes, size_t n, struct gp_shape *out)
{
	uint64_t (*pairs)[2] = malloc((n ? n : 1) * sizeof *pairs);
	if (!pairs) {
		if (out) {
			memset(out, 0, sizeof *out);
			snprintf(out->what, sizeof out->what, "out of memory");
		}
		return GP_PATTERN_MIXED;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		pairs[i][0] = sizes[i];
		pairs[i][1] = sizes[i + 1];
	}
	enum gp_pattern p = gp_shape_classify_pairs((const uint64_t (*)[2])pairs, n ? n - 1 : 0, out);
	free(pairs);
	return p;
}

enum gp_pattern gp_shape_classify_pairs(const uint64_t (*pairs)[2], size_t n,
                                        struct gp_shape *out)
{
	struct gp_shape sh;
	memset(&sh, 0, sizeof sh);
	for (size_t i = 0; i < n; i++)
		if (pairs[i][1] > pairs[i][0] && pairs[i][0] > 0)
			sh.grows++;
	size_t g = sh.grows;
	if (g < GP_SHAPE_MIN_GROWS) {
		/* Too few grows to say how increments scale; still keep what they were. */
		for (size_t i = 0; i < n; i++)
			if (pairs[i][1] > pairs[i][0] && pairs[i][0] > 0) {
				sh.delta = (double)(pairs[i][1] - pairs[i][0]);
				sh.factor = (double)pairs[i][1] / (double)pairs[i][0];
			}
		sh.pattern = GP_PATTERN_FEW;
		if (out)
			*out = sh;
		return sh.pattern;
	}
	/* x = ln old size, y = ln increment, z = y - x = ln (factor - 1). Additive growth keeps
	 * y flat as x rises (slope 0), multiplicative growth keeps z flat (slope 1). */
	double *buf = malloc((g * 6 + 6 * (g + 1)) * sizeof *buf);
	if (!buf) {
		sh.pattern = GP_PATTERN_MIXED;
		snprintf(sh.what, sizeof sh.what, "out of memory");
		if (out)
			*out = sh;
		return sh.pattern;
	}
	double *x = buf, *y = x + g, *z = y + g, *d = z + g, *f = d + g, *tmp = f + g;
	struct shape_sums ps = { tmp + g, tmp + g + (g + 1), tmp + g + 2 * (g + 1),
	                         tmp + g + 3 * (g + 1), tmp + g + 4 * (g + 1),
	                         tmp + g + 5 * (g + 1) };
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (pairs[i][1] > pairs[i][0] && pairs[i][0] > 0) {
			double o = (double)pairs[i][0], nw = (double)pairs[i][1];
			d[k] = nw - o;
			f[k] = nw / o;
			x[k] = log(o);
			y[k] = log(d[k]);
			z[k] = y[k] - x[k];
			k++;
		}
	ps.x[0] = ps.y[0] = ps.z[0] = ps.yy[0] = ps.zz[0] = ps.xy[0] = 0;
	for (size_t i = 0; i < g; i++) {
		ps.x[i + 1] = ps.x[i] + x[i];
		ps.y[i + 1] = ps.y[i] + y[i];
		ps.z[i + 1] = ps.z[i] + z[i];
		ps.yy[i + 1] = ps.yy[i] + y[i] * y[i];
		ps.zz[i + 1] = ps.zz[i] + z[i] * z[i];
		ps.xy[i + 1] = ps.xy[i] + x[i] * y[i];
	}
	sh.delta = range_median(d, 0, g, tmp);
	sh.factor = range_median(f, 0, g, tmp);
	double mx = ps.x[g] / (double)g, my = ps.y[g] / (double)g;
	double vx = 0;
	for (size_t i = 0; i < g; i++)
		vx += (x[i] - mx) * (x[i] - mx);
	vx /= (double)g;
	double cov = ps.xy[g] / (double)g - mx * my;
	double vy = range_var(ps.y, ps.yy, 0, g), vz = range_var(ps.z, ps.zz, 0, g);

	if (vx < 1e-3) {
		/* The size hardly changed: increments cannot be seen to scale with it. Small
		 * steps relative to the size add, large ones multiply. */
		sh.pattern = sh.factor >= 1.5 ? GP_PATTERN_GEOMETRIC : GP_PATTERN_LINEAR;
	} else {
		double slope = cov / vx;
		/* How well each model explains the increments (variance of what it holds
		 * constant): additive noise of +1..20 B is about 0.6, factors between x1.5 and
		 * x2 about 0.1. */
		if (slope < 0.35 && vy <= 1.5 && vy <= vz)
			sh.pattern = GP_PATTERN_LINEAR;
		else if (slope > 0.7 && slope < 1.3 && vz <= 0.5 && vz <= vy && sh.factor > 1.01)
			sh.pattern = GP_PATTERN_GEOMETRIC;
		else
			sh.pattern = GP_PATTERN_MIXED;
	}
	/* Two phases, one of each kind (x2 up to a size, then a constant increment, or the
	 * other way round)? Take the split that leaves the least unexplained, each phase at least
	 * GP_SHAPE_MIN_GROWS grows over a 32-fold range of sizes (a list's first few additive
	 * grows before its factor takes over are not a phase). A chain that one model already
	 * explains well stays what it is (CPython's list, +6 items then x1.125, leaves a
	 * fifth of its variance unexplained by two phases: geometric). */
	double single = sh.pattern == GP_PATTERN_LINEAR ? vy
	                : sh.pattern == GP_PATTERN_GEOMETRIC ? vz : INFINITY;
	double best = INFINITY;
	size_t bk = 0;
	int bgeo_first = 0;
	if (single > 0.03)
		for (size_t s = GP_SHAPE_MIN_GROWS; s + GP_SHAPE_MIN_GROWS <= g; s++) {
			if (x[s - 1] - x[0] < 5 * M_LN2 || x[g - 1] - x[s] < 5 * M_LN2)
				continue;
			for (int geo_first = 0; geo_first < 2; geo_first++) {
				double l = geo_first ? range_var(ps.z, ps.zz, 0, s) : range_var(ps.y, ps.yy, 0, s);
				double r = geo_first ? range_var(ps.y, ps.yy, s, g) : range_var(ps.z, ps.zz, s, g);
				double sse = l * (double)s + r * (double)(g - s);
				if (sse < best) {
					best = sse;
					bk = s;
					bgeo_first = geo_first;
				}
			}
		}
	char a[40], b[40], at[32];
	if (bk && best / (double)g <= 0.02 && best / (double)g <= 0.1 * single) {
		sh.pattern = GP_PATTERN_MIXED;
		double fa = range_median(f, 0, bk, tmp), da = range_median(d, 0, bk, tmp);
		double fb = range_median(f, bk, g, tmp), db = range_median(d, bk, g, tmp);
		shape_bytes(at, sizeof at, round(exp(x[bk])));
		snprintf(sh.what, sizeof sh.what, "%s up to %s, then %s",
		         phase(a, sizeof a, bgeo_first, fa, da), at,
		         phase(b, sizeof b, !bgeo_first, fb, db));
	} else if (sh.pattern == GP_PATTERN_MIXED) {
		qsort(d, g, sizeof *d, cmp_double);
		qsort(f, g, sizeof *f, cmp_double);
		shape_bytes(a, sizeof a, d[g / 10]);
		shape_bytes(b, sizeof b, d[g - 1 - g / 10]);
		snprintf(sh.what, sizeof sh.what, "+%s to +%s per grow (x%.3g to x%.3g)", a, b,
		         f[g / 10], f[g - 1 - g / 10]);
	}
	free(buf);
	if (out)
		*out = sh;
	return sh.pattern;
}

/* Count a finished chain's shape at a site or origin; `pairs` are its grows there. */
static void shapes_add(struct gp_shapes *s, const struct gp_shape *sh, uint64_t copied,
                       const uint64_t (*pairs)[2], size_t npairs)
{
	enum gp_pattern p = sh->pattern;
	/* A single grow says nothing about how increments scale: only chains of two are
	 * pooled. */
	if (p == GP_PATTERN_FEW && sh->grows >= 2 && s->npool < GP_POOL_MAX) {
		uint32_t before = s->npool;
		for (size_t i = 0; i < npairs && s->npool < GP_POOL_MAX; i++)
			if (pairs[i][1] > pairs[i][0] && pairs[i][0] > 0) {
				s->pool[s->npool][0] = pairs[i][0];
				s->pool[s->npool][1] = pairs[i][1];
				s->npool++;
			}
		if (s->npool != before)
			gp_shape_classify_pairs((const uint64_t (*)[2])s->pool, s->npool, &s->pooled);
	}
	s->copied[p] += copied;
	s->chains[p]++;
	if (!s->have_top[p] || copied > s->top_copied[p]) {
		s->top[p] = *sh;
		s->top_copied[p] = copied;
		s->have_top[p] = 1;
	}
}

enum gp_pattern gp_stats_pattern(const struct gp_stats *s)
{
	const struct gp_shapes *sh = &s->shapes;
	uint64_t copied = 0;
	for (int p = 0; p < GP_PATTERN_N; p++)
		copied += sh->copied[p];
	const uint64_t *w = copied ? sh->copied : sh->chains;
	enum gp_pattern best = GP_PATTERN_FEW;
	for (int p = 0; p < GP_PATTERN_N; p++)
		if (w[p] > w[best] || (w[p] == w[best] && w[p] && p != (int)best &&
		                       sh->chains[p] > sh->chains[best]))
			best = (enum gp_pattern)p;
	if (best == GP_PATTERN_FEW && sh->chains[GP_PATTERN_FEW] > 1 &&
	    (sh->pooled.pattern == GP_PATTERN_LINEAR || sh->pooled.pattern == GP_PATTERN_GEOMETRIC))
		return sh->pooled.pattern;
	return best;
}

const char *gp_pattern_name(enum gp_pattern p)
{
	switch (p) {
	case GP_PATTERN_LINEAR: return "linear";
	case GP_PATTERN_GEOMETRIC: return "geometric";
	case GP_PATTERN_FEW: return "few";
	default: return "mixed";
	}
}

double gp_stats_amplification(const struct gp_stats *s)
{
	return s->peak_bytes ? (double)s->bytes_copied / (double)s->peak_bytes : 0;
}

/* ---- per-trace state ----------------------------------------------------------------- */

struct stack_ent {
	uint64_t id;
	uint32_t site;    /* may carry GP_SITE_WEAK */
	uint32_t rsite;   /* the same for relocation steps */
	size_t idx; /* in a->stacks */
	UT_hash_handle hh;
};

/* A live chain. There can be millions at once (every resized CPython list and dict), so it
 * is kept small: no hash handle (chains are found by id in an array, see chain_find). */
struct chain_ent {
	uint64_t id;
	uint64_t peak, steps, copied;
	uint64_t cur;     /* current size: the old size of its next step */
	struct gp_series series;
	uint32_t origin;  /* site id of the origin */
	uint32_t ostack;  /* index + 1 in a->stacks of the origin's stack, 0 if unknown */
	uint8_t weak_origin; /* ... only a wrapper's: replaced by the first step's site */
	uint8_t kind;     /* GP_KIND_* */
	uint16_t nsites, capsites;
	uint32_t site0;   /* inline storage for the first site */
	uint32_t *sites;  /* distinct sites of its steps; almost always 1 */
};

/* Ids of live chains are small (the writer recycles them): an array indexed by id holds
 * them; a damaged or foreign trace's large ids fall back to a hash. */
#define CHAIN_DIRECT (1u << 24)
struct chain_far {
	uint64_t id;
	struct chain_ent *c;
	UT_hash_handle hh;
};

struct mod_ent {
	uint64_t id;
	struct gp_module *mod;
	int active;
	UT_hash_handle hh;
};

struct trace_state {
	struct gp_agg *a;
	struct gp_trace_info *info;
	struct stack_ent *stacks;
	struct chain_ent **chain_arr; /* by id, below CHAIN_DIRECT */
	size_t chain_cap;
	struct chain_far *chain_far;  /* the others */
	size_t nchains;               /* live */
	struct mod_ent *mods;
	/* The active modules (no two overlap), sorted by start address, for binary search. */
	const struct gp_module **active;
	size_t nactive, capactive;
	struct gp_frame *frames; /* scratch for the resolver */
	size_t frames_cap;
	uint32_t unknown_site;   /* site of stack id 0 / undefined stacks */
	uint64_t last_chain;     /* chain ids come as deltas (gp_format.h) */
	unsigned version;        /* of the file's format */
	int have_unknown;
};

static int agg_fail(struct gp_agg *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof a->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Make sure both stats arrays hold `site`. @return 0, -1 out of memory. */
static int ensure_site(struct gp_agg *a, uint32_t site)
{
	if (site < a->nsites)
		return 0;
	if (site >= (1u << 28)) /* a resolver bug, not a real number of sites */
		return -1;
	uint32_t n = a->nsites ? a->nsites : 64;
	while (n <= site)
		n *= 2;
	struct gp_stats *s = realloc(a->sites, n * sizeof *s);
	if (!s)
		return -1;
	a->sites = s;
	struct gp_stats *o = realloc(a->origins, n * sizeof *o);
	if (!o)
		return -1;
	a->origins = o;
	struct gp_stats *rs = realloc(a->rsites, n * sizeof *rs);
	if (!rs)
		return -1;
	a->rsites = rs;
	struct gp_stats *ro = realloc(a->rorigins, n * sizeof *ro);
	if (!ro)
		return -1;
	a->rorigins = ro;
	memset(a->sites + a->nsites, 0, (n - a->nsites) * sizeof *s);
	memset(a->origins + a->nsites, 0, (n - a->nsites) * sizeof *o);
	memset(a->rsites + a->nsites, 0, (n - a->nsites) * sizeof *rs);
	memset(a->rorigins + a->nsites, 0, (n - a->nsites) * sizeof *ro);
	a->nsites = n;
	return 0;
}

static uint32_t unknown_site(struct trace_state *t)
{
	if (!t->have_unknown) {
		t->unknown_site = t->a->site_fn(t->a->site_ctx, NULL, 0);
		t->have_unknown = 1;
	}
	return t->unknown_site;
}

static uint32_t site_of_stack(struct trace_state *t, uint64_t id, struct gp_stack **st,
                              int reloc)
{
	struct stack_ent *s = NULL;
	if (id)
		HASH_FIND(hh, t->stacks, &id, sizeof id, s);
	if (st)
		*st = s ? &t->a->stacks[s->idx] : NULL;
	return s ? (reloc ? s->rsite : s->site) : unknown_site(t) | GP_SITE_WEAK;
}

static void series_add(struct gp_series *s, uint64_t size, uint32_t flags, uint32_t step)
{
	if (!s->stride)
		s->stride = 1;
	/* A point stands for the steps up to the next one: it keeps their moves in its flags,
	 * so a chart still shows that they happened. */
	if (step % s->stride) {
		if (s->n)
			s->pts[s->n - 1].flags |= flags & GP_POINT_FLAGS;
		return;
	}
	if (s->n == GP_SERIES_MAX) { /* full: keep every other point, sample half as often */
		uint32_t k = 0;
		for (uint32_t i = 0; i < s->n; i += 2) {
			s->pts[k] = s->pts[i];
			if (i + 1 < s->n)
				s->pts[k].flags |= s->pts[i + 1].flags & GP_POINT_FLAGS;
			k++;
		}
		s->n = k;
		s->stride *= 2;
		if (step % s->stride) {
			s->pts[s->n - 1].flags |= flags & GP_POINT_FLAGS;
			return;
		}
	}
	if (!s->pts || (s->n & (s->n - 1)) == 0) { /* grow at powers of two */
		uint32_t cap = s->n ? s->n * 2 : 2; /* most chains have a step or two */
		if (cap > GP_SERIES_MAX)
			cap = GP_SERIES_MAX;
		struct gp_point *p = realloc(s->pts, cap * sizeof *p);
		if (!p)
			return;
		s->pts = p;
	}
	s->pts[s->n++] = (struct gp_point){ size, flags, step };
}

/* Keep the chain's series at `st` if it copied more than the one kept there. */
static struct chain_ent *chain_find(struct trace_state *t, uint64_t id)
{
	if (id < CHAIN_DIRECT)
		return id < t->chain_cap ? t->chain_arr[id] : NULL;
	struct chain_far *f;
	HASH_FIND(hh, t->chain_far, &id, sizeof id, f);
	return f ? f->c : NULL;
}

/* @return 0, -1 out of memory. */
static int chain_put(struct trace_state *t, struct chain_ent *c)
{
	if (c->id < CHAIN_DIRECT) {
		if (c->id >= t->chain_cap) {
			size_t had = t->chain_cap;
			if (GP_GROW(t->chain_arr, t->chain_cap, (size_t)c->id + 1, 1024))
				return -1;
			memset(t->chain_arr + had, 0, (t->chain_cap - had) * sizeof *t->chain_arr);
		}
		t->chain_arr[c->id] = c;
	} else {
		struct chain_far *f = malloc(sizeof *f);
		if (!f)
			return -1;
		f->id = c->id;
		f->c = c;
		HASH_ADD(hh, t->chain_far, id, sizeof f->id, f);
	}
	t->nchains++;
	return 0;
}

static void chain_remove(struct trace_state *t, struct chain_ent *c)
{
	if (c->id < CHAIN_DIRECT) {
		t->chain_arr[c->id] = NULL;
	} else {
		struct chain_far *f;
		HASH_FIND(hh, t->chain_far, &c->id, sizeof c->id, f);
		if (f) {
			HASH_DEL(t->chain_far, f);
			free(f);
		}
	}
	t->nchains--;
}

static void keep_worst(struct gp_stats *st, const struct chain_ent *c)
{
	if (st->worst.pts && st->worst.bytes_copied >= c->copied)
		return;
	struct gp_point *p = malloc((c->series.n ? c->series.n : 1) * sizeof *p);
	if (!p)
		return;
	memcpy(p, c->series.pts, c->series.n * sizeof *p);
	free(st->worst.pts);
	st->worst = c->series;
	st->worst.pts = p;
	st->worst.bytes_copied = c->copied;
}

/* The shape of chain c's grows at its site number `site`, or at all (UINT32_MAX); the
 * grows in pairs (GP_SERIES_MAX of them). @return how many. */
static size_t chain_shape(const struct chain_ent *c, uint32_t site, struct gp_shape *out,
                          uint64_t (*pairs)[2])
{
	size_t n = 0;
	for (uint32_t i = 1; i < c->series.n; i++)
		if (site == UINT32_MAX || c->series.pts[i].flags >> GP_POINT_SITE_SHIFT == site) {
			pairs[n][0] = c->series.pts[i - 1].size;
			pairs[n][1] = c->series.pts[i].size;
			n++;
		}
	gp_shape_classify_pairs((const uint64_t (*)[2])pairs, n, out);
	if (c->series.stride > 1) { /* decimated: a point stands for `stride` steps */
		out->delta /= c->series.stride;
		out->factor = pow(out->factor, 1.0 / c->series.stride);
	}
	return n;
}

static void chain_finish(struct trace_state *t, struct chain_ent *c)
{
	struct gp_agg *a = t->a;
	if (c->steps > 0) {
		struct gp_totals *tt = c->kind ? &a->reloc_totals : &t->info->totals;
		struct gp_stats *sites = c->kind ? a->rsites : a->sites;
		struct gp_stats *origins = c->kind ? a->rorigins : a->origins;
		tt->chains++;
		if (c->steps > tt->max_chain_steps)
			tt->max_chain_steps = c->steps;
		/* The chain's pattern, from the sizes it went through (SPEC: decided per chain);
		 * at each of its sites from the grows made there (a block grown +24 by one
		 * function and doubled by another is linear at the first, geometric at the
		 * second). */
		struct gp_shape shape;
		static uint64_t all[GP_SERIES_MAX][2], here_pairs[GP_SERIES_MAX][2];
		size_t nall = chain_shape(c, UINT32_MAX, &shape, all);
		if (c->ostack) {
			struct gp_stack *os = &a->stacks[c->ostack - 1];
			os->okind = c->kind;
			os->ochains++;
			os->osteps += c->steps;
			os->obytes_copied += c->copied;
		}
		for (uint32_t i = 0; i < c->nsites; i++) {
			struct gp_stats *s = &sites[c->sites[i]];
			struct gp_shape here;
			size_t nhere = 0;
			if (c->nsites > 1)
				nhere = chain_shape(c, i, &here, here_pairs);
			if (c->nsites > 1)
				shapes_add(&s->shapes, &here, c->copied, (const uint64_t (*)[2])here_pairs, nhere);
			else
				shapes_add(&s->shapes, &shape, c->copied, (const uint64_t (*)[2])all, nall);
			s->chains++;
			s->peak_bytes += c->peak;
			if (c->peak > s->peak_max)
				s->peak_max = c->peak;
			keep_worst(s, c);
		}
		struct gp_stats *o = &origins[c->origin];
		shapes_add(&o->shapes, &shape, c->copied, (const uint64_t (*)[2])all, nall);
		o->chains++;
		o->used = 1;
		o->peak_bytes += c->peak;
		if (c->peak > o->peak_max)
			o->peak_max = c->peak;
		keep_worst(o, c);
	}
	chain_remove(t, c);
	if (c->sites != &c->site0)
		free(c->sites);
	free(c->series.pts);
	free(c);
}

static struct chain_ent *chain_new(struct trace_state *t, uint64_t id, uint32_t origin,
                                   uint64_t size, int kind)
{
	struct chain_ent *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->id = id;
	c->origin = origin;
	c->kind = kind;
	c->peak = size;
	c->cur = size;
	c->sites = &c->site0;
	c->capsites = 1;
	series_add(&c->series, size, 0, 0);
	if (chain_put(t, c)) {
		free(c->series.pts);
		free(c);
		return NULL;
	}
	return c;
}

static int chain_add_site(struct chain_ent *c, uint32_t site)
{
	for (uint32_t i = 0; i < c->nsites; i++)
		if (c->sites[i] == site)
			return 0;
	if (c->nsites == UINT16_MAX)
		return 0; /* a chain stepping at 65535 different sites: count it at those */
	if (c->nsites == c->capsites) {
		uint32_t cap = (uint32_t)c->capsites * 4;
		if (cap > UINT16_MAX)
			cap = UINT16_MAX;
		uint32_t *p = malloc(cap * sizeof *p);
		if (!p)
			return -1;
		memcpy(p, c->sites, c->nsites * sizeof *p);
		if (c->sites != &c->site0)
			free(c->sites);
		c->sites = p;
		c->capsites = (uint16_t)cap;
	}
	c->sites[c->nsites++] = site;
	return 0;
}

static void count_step(struct gp_stats *s, uint64_t old, uint64_t new, unsigned flags,
                       uint64_t copied)
{
	s->used = 1;
	s->steps++;
	if (new > old) {
		s->grows++;
		if (old > 0) {
			samples_add(&s->factors, (double)new / (double)old);
			samples_add(&s->deltas, (double)(new - old));
		}
	} else if (new < old) {
		s->shrinks++;
	}
	if (flags & GP_STEP_MOVED) {
		s->moves++;
		if (flags & GP_STEP_REMAP)
			s->remaps++;
		else
			s->bytes_copied += copied;
	} else {
		s->in_place++;
	}
}

static const struct gp_module *module_of(struct trace_state *t, uint64_t addr)
{
	size_t lo = 0, hi = t->nactive;
	while (lo < hi) { /* the last module starting at or below addr */
		size_t mid = lo + (hi - lo) / 2;
		if (t->active[mid]->lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct gp_module *m = t->active[lo - 1];
	return addr < m->hi ? m : NULL;
}

/* Make `m` active, dropping the active modules it overlaps. @return 0, -2 out of memory. */
static int activate(struct trace_state *t, const struct gp_module *m)
{
	size_t k = 0;
	for (size_t i = 0; i < t->nactive; i++)
		if (!(m->lo < t->active[i]->hi && t->active[i]->lo < m->hi))
			t->active[k++] = t->active[i];
	t->nactive = k;
	if (GP_GROW(t->active, t->capactive, t->nactive + 1, 64))
		return -2;
	size_t pos = t->nactive;
	while (pos > 0 && t->active[pos - 1]->lo > m->lo) {
		t->active[pos] = t->active[pos - 1];
		pos--;
	}
	t->active[pos] = m;
	t->nactive++;
	return 0;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

/* ---- records ------------------------------------------------------------------------- */

static int on_process(struct trace_state *t, struct gp_cursor *c)
{
	struct gp_trace_info *ti = t->info;
	ti->pid = gp_get_varint(c);
	ti->ppid = gp_get_varint(c);
	gp_get_varint(c); /* start realtime */
	gp_get_varint(c); /* start monotonic */
	size_t n;
	const uint8_t *exe = gp_get_bytes(c, &n);
	if (c->bad)
		return -1;
	free(ti->exe);
	ti->exe = dup_bytes(exe, n);
	const uint8_t *cmd = gp_get_bytes(c, &n);
	if (c->bad)
		return -1;
	free(ti->cmdline);
	ti->cmdline = dup_bytes(cmd, n);
	if (ti->cmdline) {
		while (n > 0 && ti->cmdline[n - 1] == 0)
			n--; /* the last argument's terminator */
		ti->cmdline[n] = 0;
		for (size_t i = 0; i < n; i++)
			if (ti->cmdline[i] == 0)
				ti->cmdline[i] = ' ';
	}
	return 0;
}

static int on_module(struct trace_state *t, struct gp_cursor *c)
{
	struct gp_agg *a = t->a;
	uint64_t id = gp_get_varint(c), bias = gp_get_varint(c);
	uint64_t lo = gp_get_varint(c), hi = gp_get_varint(c);
	size_t plen, blen;
	const uint8_t *path = gp_get_bytes(c, &plen);
	const uint8_t *bid = gp_get_bytes(c, &blen);
	if (c->bad || lo > hi)
		return -1;
	struct mod_ent *e;
	HASH_FIND(hh, t->mods, &id, sizeof id, e);
	if (e)
		return -1; /* ids are never reused within a trace */
	/* A module mapped over an older one's range replaces it from here on (activate). */
	struct gp_module *m = calloc(1, sizeof *m);
	struct gp_module **mods = realloc(a->modules, (a->nmodules + 1) * sizeof *mods);
	e = calloc(1, sizeof *e);
	if (!m || !mods || !e) {
		free(m);
		free(e);
		if (mods)
			a->modules = mods;
		return -2;
	}
	a->modules = mods;
	m->id = id;
	m->bias = bias;
	m->lo = lo;
	m->hi = hi;
	m->path = dup_bytes(path, plen);
	m->build_id = (uint8_t *)dup_bytes(bid, blen);
	m->build_id_len = blen;
	a->modules[a->nmodules++] = m;
	e->id = id;
	e->mod = m;
	e->active = 1;
	HASH_ADD(hh, t->mods, id, sizeof e->id, e);
	return lo < hi ? activate(t, m) : 0;
}

static int on_stack(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t id = gp_get_varint(c), n = gp_get_varint(c);
	if (c->bad || id == 0 || n > (uint64_t)(c->end - c->p) || n > GP_STACK_FRAMES_MAX)
		return -1; /* every frame takes at least one byte; the writer caps depth */
	struct stack_ent *s;
	HASH_FIND(hh, t->stacks, &id, sizeof id, s);
	if (s)
		return -1;
	if (GP_GROW(t->frames, t->frames_cap, n, 0))
		return -2;
	uint64_t addr = 0;
	for (uint64_t i = 0; i < n; i++) {
		addr = i == 0 ? gp_get_varint(c) : addr + (uint64_t)gp_get_zvarint(c);
		/* Every frame is a return address: look up the call instruction before it. */
		uint64_t look = addr ? addr - 1 : 0;
		const struct gp_module *m = module_of(t, look);
		t->frames[i].mod = m;
		t->frames[i].raw = addr;
		t->frames[i].addr = m ? look - m->bias : look;
	}
	if (c->bad)
		return -1;
	struct gp_agg *a = t->a;
	if (GP_GROW(a->stacks, a->capstacks, a->nstacks + 1, 256))
		return -2;
	s = calloc(1, sizeof *s);
	struct gp_frame *copy = malloc((n ? n : 1) * sizeof *copy);
	if (!s || !copy) {
		free(s);
		free(copy);
		return -2;
	}
	if (n)
		memcpy(copy, t->frames, n * sizeof *copy);
	s->id = id;
	s->site = a->site_fn(a->site_ctx, t->frames, (unsigned)n);
	s->rsite = a->reloc_site_fn ? a->reloc_site_fn(a->site_ctx, t->frames, (unsigned)n) : s->site;
	s->idx = a->nstacks++;
	a->stacks[s->idx] = (struct gp_stack){ .frames = copy, .n = (unsigned)n,
	                                       .site = s->site & ~GP_SITE_WEAK,
	                                       .rsite = s->rsite & ~GP_SITE_WEAK };
	HASH_ADD(hh, t->stacks, id, sizeof s->id, s);
	return 0;
}

/* A chain id: a delta from the last one read. */
static uint64_t get_chain(struct trace_state *t, struct gp_cursor *c)
{
	int64_t d = gp_get_zvarint(c);
	t->last_chain += (uint64_t)d;
	return t->last_chain;
}

static int on_chain(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t id = get_chain(t, c), origin = gp_get_varint(c), size = gp_get_varint(c);
	gp_get_varint(c); /* time */
	uint64_t kind = c->p < c->end ? gp_get_varint(c) : GP_CHAIN_REALLOC;
	if (c->bad || id == 0 || kind > GP_CHAIN_RELOCATION)
		return -1;
	struct chain_ent *e = chain_find(t, id);
	if (e)
		return -1;
	struct gp_stack *ost;
	uint32_t site = site_of_stack(t, origin, &ost, 0);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (ensure_site(t->a, site))
		return -2;
	struct chain_ent *ch = chain_new(t, id, site, size, (int)kind);
	if (!ch)
		return -2;
	ch->weak_origin = weak;
	ch->ostack = ost ? (uint32_t)(ost - t->a->stacks) + 1 : 0;
	return 0;
}

static int on_step(struct trace_state *t, struct gp_cursor *c)
{
	struct gp_agg *a = t->a;
	uint64_t id = get_chain(t, c), stack, flags;
	int64_t delta;
	if (t->version >= 3) {
		uint64_t sf = gp_get_varint(c);
		stack = sf >> 3;
		flags = sf & (GP_STEP_MOVED | GP_STEP_REMAP);
		delta = gp_get_zvarint(c);
		if (sf & GP_STEP_TIMED)
			gp_get_varint(c); /* time */
	} else {
		stack = gp_get_varint(c);
		delta = gp_get_zvarint(c);
		flags = gp_get_varint(c);
		gp_get_varint(c); /* time */
		if (t->version < 2)
			gp_get_varint(c); /* thread */
	}
	int have_copied = c->p < c->end;
	uint64_t copied = have_copied ? gp_get_varint(c) : 0;
	if (c->bad || id == 0 || (flags & GP_STEP_REMAP && !(flags & GP_STEP_MOVED)))
		return -1;
	struct chain_ent *ch = chain_find(t, id);
	if (!ch)
		return -1; /* a step of a chain that never began */
	uint64_t old = ch->cur, new = old + (uint64_t)delta;
	if (delta < 0 ? (uint64_t)-delta > old : new < old)
		return -1; /* a size below 0 or past 2^64 */
	ch->cur = new;
	if (!have_copied)
		copied = old < new ? old : new;
	struct gp_stack *st;
	uint32_t site = site_of_stack(t, stack, &st, ch->kind == GP_KIND_RELOCATION);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (ensure_site(a, site))
		return -2;
	if (ch->weak_origin && ch->steps == 0 && !weak) {
		ch->origin = site; /* see gp_site_fn */
		ch->ostack = st ? (uint32_t)(st - a->stacks) + 1 : 0;
		ch->weak_origin = 0;
	}
	if (!(flags & GP_STEP_MOVED) || (flags & GP_STEP_REMAP))
		copied = 0;
	struct gp_totals *tt = ch->kind ? &a->reloc_totals : &t->info->totals;
	tt->steps++;
	if (new > old)
		tt->grows++;
	else if (new < old)
		tt->shrinks++;
	if (flags & GP_STEP_MOVED) {
		tt->moves++;
		if (flags & GP_STEP_REMAP)
			tt->remaps++;
		tt->bytes_copied += copied;
	}
	if (st) {
		st->kind = ch->kind;
		st->steps++;
		st->moves += !!(flags & GP_STEP_MOVED);
		st->remaps += !!(flags & GP_STEP_REMAP);
		st->bytes_copied += copied;
	}
	count_step(ch->kind ? &a->rsites[site] : &a->sites[site], old, new, (unsigned)flags, copied);
	count_step(ch->kind ? &a->rorigins[ch->origin] : &a->origins[ch->origin], old, new,
	           (unsigned)flags, copied);
	ch->steps++;
	ch->copied += copied;
	if (new > ch->peak)
		ch->peak = new;
	if (old > ch->peak)
		ch->peak = old;
	if (chain_add_site(ch, site))
		return -2;
	uint32_t si = 0;
	while (si + 1 < ch->nsites && ch->sites[si] != site)
		si++;
	series_add(&ch->series, new, (uint32_t)flags | si << GP_POINT_SITE_SHIFT, (uint32_t)ch->steps);
	return 0;
}

static int on_chain_end(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t id = get_chain(t, c);
	if (c->bad)
		return -1;
	struct chain_ent *ch = chain_find(t, id);
	if (!ch)
		return -1;
	chain_finish(t, ch);
	return 0;
}

/* A thread's segment of chain records begins (version 2): chain ids count from 0 again. */
static int on_segment(struct trace_state *t, struct gp_cursor *c)
{
	gp_get_varint(c); /* thread */
	if (c->bad || t->version < 2)
		return -1;
	t->last_chain = 0;
	return 0;
}

static int on_counts(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t allocs = gp_get_varint(c), frees = gp_get_varint(c), failed = gp_get_varint(c);
	if (c->bad)
		return -1;
	t->info->totals.allocs = allocs;
	t->info->totals.frees = frees;
	t->info->totals.failed = failed;
	return 0;
}

static int on_end(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t reason = gp_get_varint(c);
	if (c->bad)
		return -1;
	t->info->complete = 1;
	t->info->end_reason = (int)reason;
	return 0;
}

static const char *tag_name(unsigned tag)
{
	static const char *names[] = { "?", "process", "module", "stack", "chain", "step",
	                               "chain-end", "counts", "end", "segment" };
	return tag < sizeof names / sizeof *names ? names[tag] : "?";
}

static int read_all(struct gp_agg *a, struct gp_reader *r, const char *name)
{
	if (!r)
		return agg_fail(a, "out of memory");
	if (gp_reader_error(r))
		return agg_fail(a, "%s", gp_reader_error(r));

	struct gp_trace_info *ti = realloc(a->traces, (a->ntraces + 1) * sizeof *ti);
	if (!ti)
		return agg_fail(a, "out of memory");
	a->traces = ti;
	ti = &a->traces[a->ntraces++];
	memset(ti, 0, sizeof *ti);
	ti->file = strdup(name);

	struct trace_state t = { .a = a, .info = ti, .version = gp_reader_version(r) };
	int rc = 0, seen_process = 0;
	uint64_t nrec = 0;
	unsigned tag;
	const uint8_t *p;
	size_t len;
	int st;
	while ((st = gp_reader_next(r, &tag, &p, &len)) == GP_READ_RECORD) {
		struct gp_cursor c = { p, p + len, 0 };
		if (ti->complete) {
			rc = agg_fail(a, "corrupt trace: data after the end record");
			break;
		}
		if (!seen_process && tag != GP_TAG_PROCESS) {
			rc = agg_fail(a, "corrupt trace: first record is not a process record");
			break;
		}
		switch (tag) {
		case GP_TAG_PROCESS: rc = seen_process ? -1 : on_process(&t, &c); seen_process = 1; break;
		case GP_TAG_MODULE: rc = on_module(&t, &c); break;
		case GP_TAG_STACK: rc = on_stack(&t, &c); break;
		case GP_TAG_CHAIN: rc = on_chain(&t, &c); break;
		case GP_TAG_STEP: rc = on_step(&t, &c); break;
		case GP_TAG_CHAIN_END: rc = on_chain_end(&t, &c); break;
		case GP_TAG_COUNTS: rc = on_counts(&t, &c); break;
		case GP_TAG_END: rc = on_end(&t, &c); break;
		case GP_TAG_SEGMENT: rc = on_segment(&t, &c); break;
		default: break; /* a newer minor addition: skip it */
		}
		if (rc == -2) {
			rc = agg_fail(a, "out of memory");
			break;
		}
		if (rc) {
			rc = agg_fail(a, "corrupt trace: bad %s record #%llu", tag_name(tag),
			              (unsigned long long)nrec + 1);
			break;
		}
		if ((++nrec & 0xffff) == 0 && a->progress)
			a->progress(a->progress_ctx, gp_reader_offset(r), gp_reader_size(r));
	}
	if (st == GP_READ_ERROR)
		rc = agg_fail(a, "%s", gp_reader_error(r));
	if (rc == 0 && !seen_process)
		rc = agg_fail(a, "trace cut short before its process record");
	ti->cut_short = gp_reader_cut_short(r) || !ti->complete;

	/* Chains still alive end with the process. */
	for (size_t i = 0; i < t.chain_cap && t.nchains; i++)
		if (t.chain_arr[i])
			chain_finish(&t, t.chain_arr[i]);
	while (t.chain_far)
		chain_finish(&t, t.chain_far->c);
	free(t.chain_arr);
	struct stack_ent *s, *stmp;
	HASH_ITER(hh, t.stacks, s, stmp) {
		HASH_DEL(t.stacks, s);
		free(s);
	}
	struct mod_ent *m, *mtmp;
	HASH_ITER(hh, t.mods, m, mtmp) {
		HASH_DEL(t.mods, m);
		free(m);
	}
	free(t.frames);
	free(t.active);

	struct gp_totals *x = &a->totals, *y = &ti->totals;
	x->allocs += y->allocs;
	x->frees += y->frees;
	x->steps += y->steps;
	x->failed += y->failed;
	x->grows += y->grows;
	x->shrinks += y->shrinks;
	x->moves += y->moves;
	x->remaps += y->remaps;
	x->bytes_copied += y->bytes_copied;
	x->chains += y->chains;
	if (y->max_chain_steps > x->max_chain_steps)
		x->max_chain_steps = y->max_chain_steps;
	return rc;
}

void gp_agg_init(struct gp_agg *a, gp_site_fn fn, void *ctx)
{
	memset(a, 0, sizeof *a);
	a->site_fn = fn;
	a->site_ctx = ctx;
}

int gp_agg_add_file(struct gp_agg *a, const char *path)
{
	struct gp_reader *r = gp_reader_open(path);
	int rc = read_all(a, r, path);
	gp_reader_free(r);
	return rc;
}

int gp_agg_add_mem(struct gp_agg *a, const char *name, const void *data, size_t len)
{
	struct gp_reader *r = gp_reader_open_mem(data, len);
	int rc = read_all(a, r, name);
	gp_reader_free(r);
	return rc;
}

static void stats_release(struct gp_stats *s)
{
	free(s->factors.v);
	free(s->deltas.v);
	free(s->worst.pts);
}

void gp_agg_release(struct gp_agg *a)
{
	for (uint32_t i = 0; i < a->nsites; i++) {
		stats_release(&a->sites[i]);
		stats_release(&a->origins[i]);
		stats_release(&a->rsites[i]);
		stats_release(&a->rorigins[i]);
	}
	free(a->sites);
	free(a->origins);
	free(a->rsites);
	free(a->rorigins);
	for (size_t i = 0; i < a->nstacks; i++)
		free(a->stacks[i].frames);
	free(a->stacks);
	for (size_t i = 0; i < a->ntraces; i++) {
		free(a->traces[i].file);
		free(a->traces[i].exe);
		free(a->traces[i].cmdline);
	}
	free(a->traces);
	for (size_t i = 0; i < a->nmodules; i++) {
		free(a->modules[i]->path);
		free(a->modules[i]->build_id);
		free(a->modules[i]);
	}
	free(a->modules);
	memset(a, 0, sizeof *a);
}
