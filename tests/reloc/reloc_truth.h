/* reloc_truth.h - how the relocation test programs state their own truth.
 *
 * A program does its growth in named, never-inlined functions and counts, as it goes, what
 * it did: per function and kind ("relocation" for malloc + copy + free growth, "realloc"
 * for realloc growth) the steps, grows, moves, bytes copied and chains; in total the
 * relocation steps etc.  The bookkeeping never calls the allocator nor memcpy/memmove (the
 * tables are static, the counters plain integers), so it does not disturb what is measured.
 * At the end rt_print() writes one JSON line to stdout (check_reloc.py reads its last line;
 * the same line must come out of a plain and of a profiled run):
 *
 *   {"program": NAME,
 *    "relocation_totals": {KEY: N | [LO, HI], ...},
 *    "realloc_totals": {KEY: N, ...},
 *    "sites": [{"function", "kind", "pattern"?, KEY: N...}...],
 *    "origins": [{"function", "kind", KEY: N...}...],
 *    "only_listed": true|false}
 *
 * "only_listed": every site of the report (of either kind) must be one of those listed.
 */
#ifndef RELOC_TRUTH_H
#define RELOC_TRUTH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__clang__)
#define RT_SITE __attribute__((noinline, used))
#else
#define RT_SITE __attribute__((noipa, used))
#endif

#ifdef __cplusplus
#define RT_INLINE static inline
#else
#define RT_INLINE static inline
#endif

#define RT_MAXE 32
#define RT_MAXK 12

struct rt_entry {
	const char *function, *kind, *pattern;
	int nkeys;
	const char *key[RT_MAXK];
	uint64_t val[RT_MAXK];
};

struct rt_truth {
	const char *program;
	int only_listed;
	struct rt_entry reloc_totals, realloc_totals;
	int has_reloc_totals, has_realloc_totals;
	struct rt_entry sites[RT_MAXE], origins[RT_MAXE];
	int nsites, norigins;
	/* ranges for relocation_totals (lo, hi) */
	const char *range_key[4];
	uint64_t range_lo[4], range_hi[4];
	int nranges;
};

static struct rt_truth rt_truth;

RT_INLINE struct rt_entry *rt_find(struct rt_entry *tab, int *n, const char *fn, const char *kind)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(tab[i].function, fn) == 0 && strcmp(tab[i].kind, kind) == 0)
			return &tab[i];
	if (*n >= RT_MAXE)
		return NULL;
	struct rt_entry *e = &tab[(*n)++];
	e->function = fn;
	e->kind = kind;
	e->pattern = NULL;
	e->nkeys = 0;
	return e;
}

RT_INLINE void rt_set(struct rt_entry *e, const char *key, uint64_t v)
{
	for (int i = 0; i < e->nkeys; i++)
		if (strcmp(e->key[i], key) == 0) {
			e->val[i] = v;
			return;
		}
	if (e->nkeys < RT_MAXK) {
		e->key[e->nkeys] = key;
		e->val[e->nkeys++] = v;
	}
}

RT_INLINE void rt_add(struct rt_entry *e, const char *key, uint64_t v)
{
	for (int i = 0; i < e->nkeys; i++)
		if (strcmp(e->key[i], key) == 0) {
			e->val[i] += v;
			return;
		}
	rt_set(e, key, v);
}

RT_INLINE struct rt_entry *rt_site(const char *fn, const char *kind)
{
	return rt_find(rt_truth.sites, &rt_truth.nsites, fn, kind);
}

RT_INLINE struct rt_entry *rt_origin(const char *fn, const char *kind)
{
	return rt_find(rt_truth.origins, &rt_truth.norigins, fn, kind);
}

RT_INLINE struct rt_entry *rt_reloc_totals(void)
{
	rt_truth.has_reloc_totals = 1;
	return &rt_truth.reloc_totals;
}

RT_INLINE struct rt_entry *rt_realloc_totals(void)
{
	rt_truth.has_realloc_totals = 1;
	return &rt_truth.realloc_totals;
}

RT_INLINE void rt_reloc_range(const char *key, uint64_t lo, uint64_t hi)
{
	if (rt_truth.nranges < 4) {
		rt_truth.range_key[rt_truth.nranges] = key;
		rt_truth.range_lo[rt_truth.nranges] = lo;
		rt_truth.range_hi[rt_truth.nranges++] = hi;
	}
	rt_truth.has_reloc_totals = 1;
}

/* growprof follows a relocation only from an old block of at least this many bytes, whose
 * copies reach across at least as many (GP_RELOC_MIN): copying fewer costs less than
 * following them. */
#define RT_RELOC_MIN 64
/* ... and only into a new block of at most this many times the old one's size (a larger
 * one is a join's, GP_RELOC_RATIO). */
#define RT_RELOC_RATIO 8

/* A relocation step of `fn` from oldsize to newsize bytes, `copied` of them copied in one
 * range; `first` if it is the first step of its chain that counts. Also counts into the
 * relocation totals. @return 1 if it counts (old block and copies of at least RT_RELOC_MIN
 * bytes, new block at most RT_RELOC_RATIO times larger), else 0 (nothing is added). */
RT_INLINE int rt_reloc_step(const char *fn, uint64_t oldsize, uint64_t newsize, uint64_t copied,
                            int first)
{
	if (oldsize < RT_RELOC_MIN || copied < RT_RELOC_MIN || newsize > RT_RELOC_RATIO * oldsize)
		return 0;
	struct rt_entry *s = rt_site(fn, "relocation");
	struct rt_entry *t = rt_reloc_totals();
	rt_add(s, "steps", 1);
	rt_add(t, "steps", 1);
	if (newsize > oldsize) {
		rt_add(s, "grows", 1);
		rt_add(t, "grows", 1);
	}
	rt_add(s, "moves", 1);
	rt_add(t, "moves", 1);
	rt_add(s, "bytes_copied", copied);
	rt_add(t, "bytes_copied", copied);
	if (first) {
		rt_add(s, "chains", 1);
		rt_add(t, "chains", 1);
	}
	return 1;
}

RT_INLINE void rt_json_entry(FILE *out, const struct rt_entry *e, int with_names)
{
	fputc('{', out);
	int comma = 0;
	if (with_names) {
		fprintf(out, "\"function\": \"%s\", \"kind\": \"%s\"", e->function, e->kind);
		if (e->pattern)
			fprintf(out, ", \"pattern\": \"%s\"", e->pattern);
		comma = 1;
	}
	for (int i = 0; i < e->nkeys; i++) {
		fprintf(out, "%s\"%s\": %llu", comma ? ", " : "", e->key[i],
		        (unsigned long long)e->val[i]);
		comma = 1;
	}
	fputc('}', out);
}

/* Print the truth: one JSON line on stdout. */
RT_INLINE void rt_print(void)
{
	struct rt_truth *t = &rt_truth;
	printf("{\"program\": \"%s\", \"only_listed\": %s", t->program,
	       t->only_listed ? "true" : "false");
	if (t->has_reloc_totals) {
		printf(", \"relocation_totals\": ");
		struct rt_entry e = t->reloc_totals;
		/* keys with a range replace their exact value */
		fputc('{', stdout);
		int comma = 0;
		for (int i = 0; i < e.nkeys; i++) {
			int ranged = 0;
			for (int r = 0; r < t->nranges; r++)
				ranged |= strcmp(t->range_key[r], e.key[i]) == 0;
			if (ranged)
				continue;
			printf("%s\"%s\": %llu", comma ? ", " : "", e.key[i],
			       (unsigned long long)e.val[i]);
			comma = 1;
		}
		for (int r = 0; r < t->nranges; r++) {
			printf("%s\"%s\": [%llu, %llu]", comma ? ", " : "", t->range_key[r],
			       (unsigned long long)t->range_lo[r], (unsigned long long)t->range_hi[r]);
			comma = 1;
		}
		fputc('}', stdout);
	}
	if (t->has_realloc_totals) {
		printf(", \"realloc_totals\": ");
		rt_json_entry(stdout, &t->realloc_totals, 0);
	}
	printf(", \"sites\": [");
	for (int i = 0; i < t->nsites; i++) {
		if (i)
			printf(", ");
		rt_json_entry(stdout, &t->sites[i], 1);
	}
	printf("], \"origins\": [");
	for (int i = 0; i < t->norigins; i++) {
		if (i)
			printf(", ");
		rt_json_entry(stdout, &t->origins[i], 1);
	}
	printf("]}\n");
	fflush(stdout);
}

#endif
