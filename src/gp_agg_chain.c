/*
 * gp_agg_chain.c - the aggregator's per-trace bookkeeping: sites' stats arrays, live chains
 * (found by id), the steps they count and the shape each leaves when it ends, and the
 * modules mapped at the time (gp_agg_state.h). The record handlers of gp_agg.c call it.
 */
#include "gp_grow.h"
#include "gp_agg.h"
#include "gp_agg_state.h"
#include "gp_format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* Make sure the four stats arrays hold `site`. @return 0, -1 out of memory. */
int gp_agg_ensure_site(struct gp_agg *a, uint32_t site)
{
	if (site < a->nsites)
		return 0;
	if (site >= (1u << 28)) /* a resolver bug, not a real number of sites */
		return -1;
	uint32_t n = a->nsites ? a->nsites : 64;
	while (n <= site)
		n *= 2;
	/* Four arrays of one length: each grown and its new entries cleared in turn (a failure
	 * leaves a->nsites as it was, which every array still holds). */
	struct gp_stats **arr[] = { &a->sites, &a->origins, &a->rsites, &a->rorigins };
	for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
		size_t cap = a->nsites;
		if (GP_GROW(*arr[i], cap, n, 0))
			return -1;
		memset(*arr[i] + a->nsites, 0, (n - a->nsites) * sizeof **arr[i]);
	}
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

uint32_t gp_agg_site_of_stack(struct trace_state *t, uint64_t id, struct gp_stack **st,
                              int reloc)
{
	struct stack_ent *s = NULL;
	if (id)
		HASH_FIND(hh, t->stacks, &id, sizeof id, s);
	if (st)
		*st = s ? &t->a->stacks[s->idx] : NULL;
	return s ? (reloc ? s->rsite : s->site) : unknown_site(t) | GP_SITE_WEAK;
}

void gp_series_add(struct gp_series *s, uint64_t size, uint32_t flags, uint32_t step)
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
struct chain_ent *gp_chain_find(struct trace_state *t, uint64_t id)
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

void gp_chain_finish(struct trace_state *t, struct chain_ent *c)
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
				gp_shapes_add(&s->shapes, &here, c->copied, (const uint64_t (*)[2])here_pairs, nhere);
			else
				gp_shapes_add(&s->shapes, &shape, c->copied, (const uint64_t (*)[2])all, nall);
			s->chains++;
			s->peak_bytes += c->peak;
			if (c->peak > s->peak_max)
				s->peak_max = c->peak;
			keep_worst(s, c);
		}
		struct gp_stats *o = &origins[c->origin];
		gp_shapes_add(&o->shapes, &shape, c->copied, (const uint64_t (*)[2])all, nall);
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

struct chain_ent *gp_chain_new(struct trace_state *t, uint64_t id, uint32_t origin,
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
	gp_series_add(&c->series, size, 0, 0);
	if (chain_put(t, c)) {
		free(c->series.pts);
		free(c);
		return NULL;
	}
	return c;
}

int gp_chain_add_site(struct chain_ent *c, uint32_t site)
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

void gp_stats_count_step(struct gp_stats *s, uint64_t old, uint64_t new, unsigned flags,
                         uint64_t copied)
{
	s->used = 1;
	s->steps++;
	if (new > old) {
		s->grows++;
		if (old > 0) {
			gp_samples_add(&s->factors, (double)new / (double)old);
			gp_samples_add(&s->deltas, (double)(new - old));
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

const struct gp_module *gp_module_of(struct trace_state *t, uint64_t addr)
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
int gp_module_activate(struct trace_state *t, const struct gp_module *m)
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

char *gp_dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}
