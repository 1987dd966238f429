/* gp_agg.c - records -> totals, sites and origins (see gp_agg.h): reading a trace's records
 * and handing each to the bookkeeping of gp_agg_chain.c. */
#include "gp_agg.h"
#include "gp_grow.h"
#include "gp_agg_state.h"

#include "gp_format.h"
#include "gp_reader.h"
#include "gp_record.h"

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
	ti->exe = gp_dup_bytes(exe, n);
	const uint8_t *cmd = gp_get_bytes(c, &n);
	if (c->bad)
		return -1;
	free(ti->cmdline);
	ti->cmdline = gp_dup_bytes(cmd, n);
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
	m->path = gp_dup_bytes(path, plen);
	m->build_id = (uint8_t *)gp_dup_bytes(bid, blen);
	m->build_id_len = blen;
	a->modules[a->nmodules++] = m;
	e->id = id;
	e->mod = m;
	e->active = 1;
	HASH_ADD(hh, t->mods, id, sizeof e->id, e);
	return lo < hi ? gp_module_activate(t, m) : 0;
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
		const struct gp_module *m = gp_module_of(t, look);
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
	struct chain_ent *ch = gp_chain_find(t, id);
	if (!ch)
		return -1; /* a step of a chain that never began */
	uint64_t old = ch->cur, new = old + (uint64_t)delta;
	if (delta < 0 ? (uint64_t)-delta > old : new < old)
		return -1; /* a size below 0 or past 2^64 */
	ch->cur = new;
	if (!have_copied)
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

static int on_chain_end(struct trace_state *t, struct gp_cursor *c)
{
	uint64_t id = get_chain(t, c);
	if (c->bad)
		return -1;
	struct chain_ent *ch = gp_chain_find(t, id);
	if (!ch)
		return -1;
	gp_chain_finish(t, ch);
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
