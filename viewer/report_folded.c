/*
 * report_folded.c - collapsed stacks ("frame;frame;frame N", outermost first) for
 * flamegraph.pl, inferno and speedscope, and the stack walk every visual output shares
 * (see outputs.h).
 */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "outputs.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_INLINE 32

int gp_weight_parse(const char *s, enum gp_weight *out)
{
	if (!strcmp(s, "bytes_copied") || !strcmp(s, "copied") || !strcmp(s, "bytes"))
		*out = GP_WEIGHT_BYTES_COPIED;
	else if (!strcmp(s, "moves"))
		*out = GP_WEIGHT_MOVES;
	else if (!strcmp(s, "steps"))
		*out = GP_WEIGHT_STEPS;
	else
		return -1;
	return 0;
}

uint64_t gp_weights_get(const struct gp_weights *w, enum gp_weight which)
{
	switch (which) {
	case GP_WEIGHT_MOVES: return w->moves;
	case GP_WEIGHT_STEPS: return w->steps;
	default: return w->bytes_copied;
	}
}

static const char *mod_path(const struct gp_frame *f)
{
	return f->mod ? f->mod->path : NULL;
}

static int in_profiler(const struct gp_frame *f)
{
	return f->mod && f->mod->path && strstr(f->mod->path, "libgrowprof");
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

struct gp_lframe *gp_stack_frames(struct gp_view *v, const struct gp_stack *s, size_t *n)
{
	size_t cap = s->n + 8, k = 0;
	struct gp_lframe *all = malloc(cap * sizeof *all);
	if (!all)
		return NULL;
	struct gp_sym syms[MAX_INLINE];
	for (unsigned i = 0; i < s->n; i++) {
		const struct gp_frame *f = &s->frames[i];
		if (in_profiler(f))
			continue;
		int ns = gp_view_symbolize(v, f, syms, MAX_INLINE);
		if (ns < 1) {
			syms[0] = (struct gp_sym){ NULL, NULL, 0 };
			ns = 1;
		}
		if (GP_GROW(all, cap, k + (size_t)ns, 0)) {
			free(all);
			return NULL;
		}
		for (int j = 0; j < ns; j++)
			all[k++] = (struct gp_lframe){ syms[j].function, syms[j].file, syms[j].line, f, j };
	}

	/* Start at the site: the logical frame the resolver chose for this stack (view.c chooses,
	 * for every output). */
	unsigned fi;
	int si;
	gp_view_site_frame(v, s->frames, s->n, s->kind, &fi, &si);
	size_t start = k;
	for (size_t i = 0; i < k && start == k; i++)
		if (all[i].phys == &s->frames[fi < s->n ? fi : 0] && all[i].level == si)
			start = i;
	if (start == k) /* no frame outside the profiler: skip the C library at least */
		for (start = 0; start < k && gp_view_skip_module(v, mod_path(all[start].phys)); start++)
			;
	/* Drop what runs the program rather than what it does: __libc_start_main, _start. */
	size_t end = k;
	while (end > start + 1 && (gp_view_skip_module(v, mod_path(all[end - 1].phys)) ||
	                           same_str(all[end - 1].function, "_start")))
		end--;
	memmove(all, all + start, (end - start) * sizeof *all);
	*n = end - start;
	return all;
}

const char *gp_lframe_name(const struct gp_lframe *f, char *buf, size_t cap)
{
	if (f->function)
		return f->function;
	const struct gp_frame *p = f->phys;
	if (p && p->mod && p->mod->path) {
		const char *b = strrchr(p->mod->path, '/');
		snprintf(buf, cap, "%s+0x%llx", b ? b + 1 : p->mod->path, (unsigned long long)p->addr);
	} else {
		snprintf(buf, cap, "0x%llx", (unsigned long long)(p ? p->raw : 0));
	}
	return buf;
}

struct gp_weights gp_unknown_weights(const struct gp_view *v, int kind)
{
	const struct gp_agg *a = &v->agg;
	const struct gp_totals *t = kind == GP_KIND_RELOCATION ? &a->reloc_totals : &a->totals;
	struct gp_weights known = { 0, 0, 0 }, rest;
	for (size_t i = 0; i < a->nstacks; i++) {
		const struct gp_stack *s = &a->stacks[i];
		if (s->kind != kind)
			continue;
		known.bytes_copied += s->bytes_copied;
		known.moves += s->moves;
		known.steps += s->steps;
	}
	rest.bytes_copied = t->bytes_copied > known.bytes_copied ? t->bytes_copied - known.bytes_copied : 0;
	rest.moves = t->moves > known.moves ? t->moves - known.moves : 0;
	rest.steps = t->steps > known.steps ? t->steps - known.steps : 0;
	return rest;
}

/* ---- collapsed stacks ---- */

struct fold_ent {
	struct gp_folded f;
	UT_hash_handle hh;
};

/* Append a frame name to a growing string, with ';' and line breaks made harmless. */
static int append(char **s, size_t *len, size_t *cap, const char *name, int sep)
{
	if (GP_GROW(*s, *cap, *len + strlen(name) + 2, 0))
		return -1;
	if (sep)
		(*s)[(*len)++] = ';';
	for (const char *p = name; *p; p++)
		(*s)[(*len)++] = *p == ';' ? ':' : (*p == '\n' || *p == '\r') ? ' ' : *p;
	(*s)[*len] = 0;
	return 0;
}

static int add_entry(struct fold_ent **h, char *stack, const struct gp_weights *w, int kind)
{
	struct fold_ent *e;
	HASH_FIND_STR(*h, stack, e);
	if (e) {
		free(stack);
	} else {
		e = calloc(1, sizeof *e);
		if (!e) {
			free(stack);
			return -1;
		}
		e->f.stack = stack;
		e->f.kind = kind;
		HASH_ADD_KEYPTR(hh, *h, e->f.stack, strlen(e->f.stack), e);
	}
	e->f.w.bytes_copied += w->bytes_copied;
	e->f.w.moves += w->moves;
	e->f.w.steps += w->steps;
	return 0;
}

static int cmp_folded(const void *a, const void *b)
{
	const struct gp_folded *x = a, *y = b;
	if (x->w.bytes_copied != y->w.bytes_copied)
		return x->w.bytes_copied < y->w.bytes_copied ? 1 : -1;
	if (x->w.moves != y->w.moves)
		return x->w.moves < y->w.moves ? 1 : -1;
	if (x->w.steps != y->w.steps)
		return x->w.steps < y->w.steps ? 1 : -1;
	return strcmp(x->stack, y->stack);
}

void gp_folded_free(struct gp_folded *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		free(f[i].stack);
	free(f);
}

int gp_folded_collect(struct gp_view *v, struct gp_folded **out, size_t *n)
{
	const struct gp_agg *a = &v->agg;
	struct fold_ent *h = NULL, *e, *tmp;
	int rc = 0;
	for (size_t i = 0; i < a->nstacks && rc == 0; i++) {
		const struct gp_stack *s = &a->stacks[i];
		if (!s->steps)
			continue;
		size_t nf;
		struct gp_lframe *fr = gp_stack_frames(v, s, &nf);
		if (!fr) {
			rc = -1;
			break;
		}
		char *str = NULL, buf[512];
		size_t len = 0, cap = 0;
		for (size_t j = nf; j-- > 0 && rc == 0;)
			rc = append(&str, &len, &cap, gp_lframe_name(&fr[j], buf, sizeof buf), j + 1 < nf);
		free(fr);
		if (rc == 0 && nf == 0)
			rc = append(&str, &len, &cap, GP_UNKNOWN_FRAME, 0);
		if (rc == 0 && s->kind == GP_KIND_RELOCATION)
			rc = append(&str, &len, &cap, GP_RELOCATION_FRAME, 1);
		struct gp_weights w = { s->bytes_copied, s->moves, s->steps };
		if (rc == 0)
			rc = add_entry(&h, str, &w, s->kind);
		else
			free(str);
	}
	/* Steps whose stack the trace did not have: one frame, so the sums stay exact. */
	for (int kind = GP_KIND_REALLOC; kind <= GP_KIND_RELOCATION && rc == 0; kind++) {
		struct gp_weights w = gp_unknown_weights(v, kind);
		if (!w.steps && !w.moves && !w.bytes_copied)
			continue;
		char *str = strdup(kind == GP_KIND_RELOCATION ? GP_UNKNOWN_FRAME ";" GP_RELOCATION_FRAME
		                                             : GP_UNKNOWN_FRAME);
		rc = str ? add_entry(&h, str, &w, kind) : -1;
	}
	size_t k = 0, cnt = HASH_COUNT(h);
	struct gp_folded *arr = rc ? NULL : malloc((cnt ? cnt : 1) * sizeof *arr);
	if (!arr)
		rc = -1;
	HASH_ITER(hh, h, e, tmp) {
		HASH_DEL(h, e);
		if (arr)
			arr[k++] = e->f;
		else
			free(e->f.stack);
		free(e);
	}
	if (rc)
		return -1;
	qsort(arr, k, sizeof *arr, cmp_folded);
	*out = arr;
	*n = k;
	return 0;
}

int gp_report_folded(FILE *out, struct gp_view *v, enum gp_weight weight)
{
	struct gp_folded *f;
	size_t n;
	if (gp_folded_collect(v, &f, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t w = gp_weights_get(&f[i].w, weight);
		if (w)
			fprintf(out, "%s %llu\n", f[i].stack, (unsigned long long)w);
	}
	gp_folded_free(f, n);
	return 0;
}
