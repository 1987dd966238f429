/*
 * gp_pattern.c - what a chain's growth looks like: the samples of growth factors, the
 * pattern classifier (linear, geometric, ...) and its description, and the per-site pooling
 * of chain shapes (gp_agg.h). Pure: sizes in, a shape out; unit-tested in tests/unit.
 */
#include "gp_agg.h"
#include "gp_agg_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- samples ------------------------------------------------------------------------- */

void gp_samples_add(struct gp_samples *s, double x)
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
void gp_shapes_add(struct gp_shapes *s, const struct gp_shape *sh, uint64_t copied,
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
