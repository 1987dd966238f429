/* gp_agg.c - records -> totals, sites and origins (see gp_agg.h). */
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

/* Fraction of samples within relative distance `tol` of `m`. */
static double share_near(const struct gp_samples *s, double m, double tol)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (fabs(s->v[i] - m) <= tol)
			k++;
	return s->n ? (double)k / s->n : 0;
}

enum gp_pattern gp_stats_pattern(const struct gp_stats *s)
{
	if (s->factors.n == 0)
		return GP_PATTERN_MIXED;
	double f = gp_samples_median(&s->factors);
	double d = gp_samples_median(&s->deltas);
	/* "near-constant": 80% of the grows within 10% of the median increment, or within 5%
	 * of the median factor. */
	double lin = share_near(&s->deltas, d, d * 0.10 > 1 ? d * 0.10 : 1);
	double geo = share_near(&s->factors, f, f * 0.05);
	int is_lin = lin >= 0.8, is_geo = geo >= 0.8 && f >= 1.05;
	if (is_geo && is_lin) /* too few grows to tell apart: a big factor means geometric */
		return f >= 1.5 ? GP_PATTERN_GEOMETRIC : GP_PATTERN_LINEAR;
	if (is_geo)
		return GP_PATTERN_GEOMETRIC;
	if (is_lin)
		return GP_PATTERN_LINEAR;
	return GP_PATTERN_MIXED;
}

const char *gp_pattern_name(enum gp_pattern p)
{
	switch (p) {
	case GP_PATTERN_LINEAR: return "linear";
	case GP_PATTERN_GEOMETRIC: return "geometric";
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

static uint32_t site_of_stack(struct trace_state *t, uint64_t id, struct gp_stack **st)
{
	struct stack_ent *s = NULL;
	if (id)
		HASH_FIND(hh, t->stacks, &id, sizeof id, s);
	if (st)
		*st = s ? &t->a->stacks[s->idx] : NULL;
	return s ? s->site : unknown_site(t) | GP_SITE_WEAK;
}

static void series_add(struct gp_series *s, uint64_t size, uint32_t flags, uint32_t step)
{
	if (!s->stride)
		s->stride = 1;
	/* A point stands for the steps up to the next one: it keeps their moves in its flags,
	 * so a chart still shows that they happened. */
	if (step % s->stride) {
		if (s->n)
			s->pts[s->n - 1].flags |= flags;
		return;
	}
	if (s->n == GP_SERIES_MAX) { /* full: keep every other point, sample half as often */
		uint32_t k = 0;
		for (uint32_t i = 0; i < s->n; i += 2) {
			s->pts[k] = s->pts[i];
			if (i + 1 < s->n)
				s->pts[k].flags |= s->pts[i + 1].flags;
			k++;
		}
		s->n = k;
		s->stride *= 2;
		if (step % s->stride) {
			s->pts[s->n - 1].flags |= flags;
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
			size_t cap = t->chain_cap ? t->chain_cap : 1024;
			while (cap <= c->id)
				cap *= 2;
			struct chain_ent **a = realloc(t->chain_arr, cap * sizeof *a);
			if (!a)
				return -1;
			memset(a + t->chain_cap, 0, (cap - t->chain_cap) * sizeof *a);
			t->chain_arr = a;
			t->chain_cap = cap;
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
		for (uint32_t i = 0; i < c->nsites; i++) {
			struct gp_stats *s = &sites[c->sites[i]];
			s->chains++;
			s->peak_bytes += c->peak;
			if (c->peak > s->peak_max)
				s->peak_max = c->peak;
			keep_worst(s, c);
		}
		struct gp_stats *o = &origins[c->origin];
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
	if (t->nactive == t->capactive) {
		size_t cap = t->capactive ? t->capactive * 2 : 64;
		const struct gp_module **a = realloc(t->active, cap * sizeof *a);
		if (!a)
			return -2;
		t->active = a;
		t->capactive = cap;
	}
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
	if (n > t->frames_cap) {
		struct gp_frame *f = realloc(t->frames, n * sizeof *f);
		if (!f)
			return -2;
		t->frames = f;
		t->frames_cap = n;
	}
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
	if (a->nstacks == a->capstacks) {
		size_t cap = a->capstacks ? a->capstacks * 2 : 256;
		struct gp_stack *ns = realloc(a->stacks, cap * sizeof *ns);
		if (!ns)
			return -2;
		a->stacks = ns;
		a->capstacks = cap;
	}
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
	s->idx = a->nstacks++;
	a->stacks[s->idx] = (struct gp_stack){ .frames = copy, .n = (unsigned)n,
	                                       .site = s->site & ~GP_SITE_WEAK };
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
	uint32_t site = site_of_stack(t, origin, NULL);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (ensure_site(t->a, site))
		return -2;
	struct chain_ent *ch = chain_new(t, id, site, size, (int)kind);
	if (!ch)
		return -2;
	ch->weak_origin = weak;
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
	uint32_t site = site_of_stack(t, stack, &st);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (ensure_site(a, site))
		return -2;
	if (ch->weak_origin && ch->steps == 0 && !weak) {
		ch->origin = site; /* see gp_site_fn */
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
	series_add(&ch->series, new, (uint32_t)flags, (uint32_t)ch->steps);
	return chain_add_site(ch, site) ? -2 : 0;
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
	/* What a killed process's trace lacks: the ends (and maybe more steps) of these. */
	ti->open_chains = ti->complete ? 0 : t.nchains;

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
