/*
 * gp_agg_state.h - inside the aggregator (gp_agg.c reads the records, gp_agg_chain.c keeps
 * chains and sites, gp_pattern.c classifies shapes): the per-trace state they share. Not
 * for the viewer: it includes gp_agg.h only.
 */
#ifndef GP_AGG_STATE_H
#define GP_AGG_STATE_H

#include "gp_agg.h"

#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

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
	int have_unknown;
};

/* ---- gp_pattern.c ---- */

void gp_samples_add(struct gp_samples *s, double x);

/* Count a finished chain's shape at a site or origin; `pairs` are its grows there. */
void gp_shapes_add(struct gp_shapes *s, const struct gp_shape *sh, uint64_t copied,
                   const uint64_t (*pairs)[2], size_t npairs);

/* ---- gp_agg_chain.c ---- */

/* Make sure the stats arrays hold `site`. @return 0, -1 out of memory. */
int gp_agg_ensure_site(struct gp_agg *a, uint32_t site);

/* The site (reloc: the relocation site) of stack `id`, and the stack in *st (or NULL). */
uint32_t gp_agg_site_of_stack(struct trace_state *t, uint64_t id, struct gp_stack **st,
                              int reloc);

/* Append a step's size to a chain's series (capped at GP_SERIES_MAX points). */
void gp_series_add(struct gp_series *s, uint64_t size, uint32_t flags, uint32_t step);

/* The live chain `id`, or NULL. */
struct chain_ent *gp_chain_find(struct trace_state *t, uint64_t id);

/* A chain ends: count its peak and shape at its origin and sites, then forget it. */
void gp_chain_finish(struct trace_state *t, struct chain_ent *c);

/* A new live chain. @return it, or NULL out of memory. */
struct chain_ent *gp_chain_new(struct trace_state *t, uint64_t id, uint32_t origin,
                               uint64_t size, int kind);

/* Remember that chain c stepped at site. @return 0, -1 out of memory. */
int gp_chain_add_site(struct chain_ent *c, uint32_t site);

/* Count one step (old -> new size, flags, bytes copied) in s. */
void gp_stats_count_step(struct gp_stats *s, uint64_t old, uint64_t new, unsigned flags,
                         uint64_t copied);

/* The active module holding addr, or NULL. */
const struct gp_module *gp_module_of(struct trace_state *t, uint64_t addr);

/* Make `m` active, dropping the active modules it overlaps. @return 0, -2 out of memory. */
int gp_module_activate(struct trace_state *t, const struct gp_module *m);

/* n bytes as a NUL-terminated string (malloc'd), or NULL. */
char *gp_dup_bytes(const uint8_t *p, size_t n);

#endif
