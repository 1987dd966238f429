/* gp_agg.c - records -> totals, sites and origins (see gp_agg.h): reading a trace's records
 * and handing each to the bookkeeping of gp_agg_chain.c. */
#include "gp_agg.h"
#include "gp_grow.h"
#include "gp_agg_state.h"

#include "gp_codec.h"
#include "gp_format.h"
#include "gp_reader.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

static int agg_fail(struct gp_agg *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof a->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- records ------------------------------------------------------------------------- */

static int on_process(struct trace_state *t, const struct gp_process_rec *x)
{
	struct gp_trace_info *ti = t->info;
	ti->pid = x->pid;
	ti->ppid = x->ppid;
	free(ti->exe);
	ti->exe = gp_dup_bytes(x->exe, x->exe_len);
	size_t n = x->cmdline_len;
	free(ti->cmdline);
	ti->cmdline = gp_dup_bytes(x->cmdline, n);
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

static int on_module(struct trace_state *t, const struct gp_module_rec *x)
{
	struct gp_agg *a = t->a;
	uint64_t id = x->id, lo = x->lo, hi = x->hi;
	if (lo > hi)
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
	m->bias = x->bias;
	m->lo = lo;
	m->hi = hi;
	m->path = gp_dup_bytes(x->path, x->path_len);
	m->build_id = (uint8_t *)gp_dup_bytes(x->build_id, x->build_id_len);
	m->build_id_len = x->build_id_len;
	a->modules[a->nmodules++] = m;
	e->id = id;
	e->mod = m;
	e->active = 1;
	HASH_ADD(hh, t->mods, id, sizeof e->id, e);
	return lo < hi ? gp_module_activate(t, m) : 0;
}

static int on_stack(struct trace_state *t, struct gp_stack_rec *x)
{
	uint64_t id = x->id, n = x->n;
	if (id == 0)
		return -1;
	struct stack_ent *s;
	HASH_FIND(hh, t->stacks, &id, sizeof id, s);
	if (s)
		return -1;
	if (GP_GROW(t->frames, t->frames_cap, n, 0))
		return -2;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t addr = gp_stack_rec_next(x);
		/* Every frame is a return address: look up the call instruction before it. */
		uint64_t look = addr ? addr - 1 : 0;
		const struct gp_module *m = gp_module_of(t, look);
		t->frames[i].mod = m;
		t->frames[i].raw = addr;
		t->frames[i].addr = m ? look - m->bias : look;
	}
	if (x->frames.bad)
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

static int on_chain(struct trace_state *t, const struct gp_chain_rec *x)
{
	uint64_t id = x->chain, origin = x->origin, size = x->size;
	unsigned kind = x->kind;
	if (id == 0)
		return -1;
	struct chain_ent *e = gp_chain_find(t, id);
	if (e)
		return -1;
	struct gp_stack *ost;
	uint32_t site = gp_agg_site_of_stack(t, origin, &ost, 0);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (gp_agg_ensure_site(t->a, site))
		return -2;
	struct chain_ent *ch = gp_chain_new(t, id, site, size, (int)kind);
	if (!ch)
		return -2;
	ch->weak_origin = weak;
	ch->ostack = ost ? (uint32_t)(ost - t->a->stacks) + 1 : 0;
	return 0;
}

static int on_step(struct trace_state *t, const struct gp_step_rec *x)
{
	struct gp_agg *a = t->a;
	uint64_t id = x->chain, stack = x->stack, flags = x->flags, copied = x->copied;
	int64_t delta = x->delta;
	if (id == 0)
		return -1;
	struct chain_ent *ch = gp_chain_find(t, id);
	if (!ch)
		return -1; /* a step of a chain that never began */
	uint64_t old = ch->cur, new = old + (uint64_t)delta;
	if (delta < 0 ? (uint64_t)-delta > old : new < old)
		return -1; /* a size below 0 or past 2^64 */
	ch->cur = new;
	if (!x->with_copied)
		copied = old < new ? old : new;
	struct gp_stack *st;
	uint32_t site = gp_agg_site_of_stack(t, stack, &st, ch->kind == GP_KIND_RELOCATION);
	int weak = !!(site & GP_SITE_WEAK);
	site &= ~GP_SITE_WEAK;
	if (gp_agg_ensure_site(a, site))
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
	gp_stats_count_step(ch->kind ? &a->rsites[site] : &a->sites[site], old, new, (unsigned)flags, copied);
	gp_stats_count_step(ch->kind ? &a->rorigins[ch->origin] : &a->origins[ch->origin], old, new,
	           (unsigned)flags, copied);
	ch->steps++;
	ch->copied += copied;
	if (new > ch->peak)
		ch->peak = new;
	if (old > ch->peak)
		ch->peak = old;
	if (gp_chain_add_site(ch, site))
		return -2;
	uint32_t si = 0;
	while (si + 1 < ch->nsites && ch->sites[si] != site)
		si++;
	gp_series_add(&ch->series, new, (uint32_t)flags | si << GP_POINT_SITE_SHIFT, (uint32_t)ch->steps);
	return 0;
}

static int on_chain_end(struct trace_state *t, uint64_t id)
{
	struct chain_ent *ch = gp_chain_find(t, id);
	if (!ch)
		return -1;
	gp_chain_finish(t, ch);
	return 0;
}

static int on_counts(struct trace_state *t, const struct gp_counts_rec *x)
{
	if (x->own > x->allocs)
		return -1;
	t->info->own_allocs = x->own;
	t->info->totals.allocs = x->allocs;
	t->info->totals.frees = x->frees;
	t->info->totals.failed = x->failed;
	return 0;
}

static int on_end(struct trace_state *t, const struct gp_end_rec *x)
{
	t->info->complete = 1;
	t->info->end_reason = (int)x->reason;
	return 0;
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

	struct trace_state t = { .a = a, .info = ti };
	int rc = 0, seen_process = 0;
	uint64_t nrec = 0;
	struct gp_record rec;
	int st;
	while ((st = gp_reader_next_rec(r, &rec)) == GP_READ_RECORD || st == GP_READ_BAD) {
		unsigned tag = rec.tag;
		if (ti->complete) {
			rc = agg_fail(a, "corrupt trace: data after the end record");
			break;
		}
		if (!seen_process && tag != GP_TAG_PROCESS) {
			rc = agg_fail(a, "corrupt trace: first record is not a process record");
			break;
		}
		if (st == GP_READ_BAD)
			rc = -1;
		else switch (tag) {
		case GP_TAG_PROCESS:
			rc = seen_process ? -1 : on_process(&t, &rec.u.process);
			seen_process = 1;
			break;
		case GP_TAG_MODULE: rc = on_module(&t, &rec.u.module); break;
		case GP_TAG_STACK: rc = on_stack(&t, &rec.u.stack); break;
		case GP_TAG_CHAIN: rc = on_chain(&t, &rec.u.chain); break;
		case GP_TAG_STEP: rc = on_step(&t, &rec.u.step); break;
		case GP_TAG_CHAIN_END: rc = on_chain_end(&t, rec.u.chain_end.chain); break;
		case GP_TAG_COUNTS: rc = on_counts(&t, &rec.u.counts); break;
		case GP_TAG_END: rc = on_end(&t, &rec.u.end); break;
		default: break; /* SEGMENT (the codec's), or a newer minor addition: skip it */
		}
		if (rc == -2) {
			rc = agg_fail(a, "out of memory");
			break;
		}
		if (rc) {
			rc = agg_fail(a, "corrupt trace: bad %s record #%llu", gp_codec_tag_name(tag),
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
			gp_chain_finish(&t, t.chain_arr[i]);
	while (t.chain_far)
		gp_chain_finish(&t, t.chain_far->c);
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
