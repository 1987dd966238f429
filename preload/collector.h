/*
 * collector.h - the profiler's logic behind the interposers: blocks, chains and steps become
 * trace records. hooks.c calls these after guarding against recursion; everything here can
 * be driven without LD_PRELOAD.
 *
 * Rule for every entry point: never call malloc & co. (use ialloc.h), never print through
 * stdio, leave errno as it was.
 */
#ifndef GP_COLLECTOR_H
#define GP_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "blocks.h"
#include "counts.h"
#include "shadow.h"
#include "stacks.h"
#include "tls.h"
#include "trace.h"

/*
 * Every entry point gets the return address `ra` and stack pointer `cfa` of the program's
 * call into the allocator (__builtin_return_address(0), __builtin_dwarf_cfa() in the hook):
 * the call site, and the key of the per-thread unwind cache (stacks.h).
 */

/*
 * An allocation of `size` bytes at `p` by a successful call, and a free of `p` (not NULL,
 * before the real free, so that the address cannot be handed out again to another thread
 * before we forget it). Each has an inline fast path for the common case, which neither
 * locks, nor allocates, nor touches errno, and counts the call: @return 1 if done, 0 if
 * the slow path must do it all (counting included). The slow paths are to be called with
 * gp_tls.busy set (they may unwind, take locks and write) and errno saved.
 */
void gp_on_alloc_slow(void *p, size_t size, uint64_t ra, uint64_t cfa);
void gp_on_free_slow(void *p, uint64_t ra, uint64_t cfa);

/* An allocation becomes the thread's watched block (tls.h), unless it is one of the first
 * few too small to be a relocation's new block: a runtime that grows a buffer may allocate
 * its bookkeeping (Node: 3 blocks) between the new buffer and the copy into it. */
static inline void gp_watch_alloc(struct gp_tls *t, void *p, size_t size)
{
	if (__builtin_expect(size <= GP_RELOC_MIN && t->rkeep, 0)) {
		t->rkeep--;
		return;
	}
	t->rq = (uint64_t)p;
	t->rqsize = size;
	t->rwin = size > GP_RELOC_MIN ? size : 0;
	t->rkeep = GP_RELOC_KEEP;
}

/*
 * Relocations (tls.h has the watch): a copy of n bytes from src into the watched block at
 * dst, seen by a copy hook whose caller returns to ra with its stack pointer at cfa (the
 * stack of a relocation step: the code that copies into the block it grew). Out of line,
 * for copies into the watched block only.
 */
void gp_reloc_copy(uint64_t dst, uint64_t src, uint64_t n, uint64_t ra, uint64_t cfa);
/* Record the thread's pending candidate, if it still holds (busy set, errno saved). */
void gp_reloc_settle_slow(void);
static inline void gp_reloc_settle(void)
{
	if (__builtin_expect(gp_tls.cold != 0, 0))
		gp_reloc_settle_slow();
}

/* The shadow leaf (shadow.h) of block p, or NULL if that part of the shadow is not reserved
 * yet or the thread is not registered. A thread nearly always stays in one leaf (its arena's
 * 64 MiB), kept in its TLS: one compare; another leaf takes the two-level lookup. */
static inline __attribute__((always_inline)) uint32_t *gp_leaf(struct gp_tls *t, uint64_t p)
{
	uint64_t li = (p >> GP_SH_LEAF_SHIFT) + 1;
	if (__builtin_expect(li == t->sh_li, 1)) {
		uint32_t *leaf = t->sh_leaf;
		if (!leaf) /* never: sh_li != 0 comes with its leaf */
			__builtin_unreachable();
		return leaf;
	}
	uint32_t **top = __atomic_load_n(&gp_shadow_top, __ATOMIC_ACQUIRE);
	if (!top || li > GP_SH_TOP_ENTRIES || t->reg <= 0)
		return NULL;
	if (t->cold) { /* a relocation to settle: the slow paths do (tls.h) */
		if (gp_state != GP_STATE_ON) /* ... unless tracing is over */
			t->cold = 0;
		return NULL;
	}
	uint32_t *leaf = __atomic_load_n(&top[li - 1], __ATOMIC_ACQUIRE);
	if (leaf) {
		t->sh_li = li;
		t->sh_leaf = leaf;
	}
	return leaf;
}
static inline uint32_t *gp_leaf_entry(uint32_t *leaf, uint64_t p)
{
	return leaf + ((p >> GP_SH_GRANULE_SHIFT) & (GP_SH_LEAF_ENTRIES - 1));
}
/* gp_shadow_find() and gp_shadow_slot() through the thread's last leaf. */
static inline uint32_t *gp_shadow_find_t(struct gp_tls *t, uint64_t p)
{
	uint32_t *leaf = gp_leaf(t, p);
	return leaf ? gp_leaf_entry(leaf, p) : gp_shadow_find(p);
}
static inline uint32_t *gp_shadow_slot_t(struct gp_tls *t, uint64_t p)
{
	uint32_t *leaf = gp_leaf(t, p);
	return leaf ? gp_leaf_entry(leaf, p) : gp_shadow_slot(p);
}
/* gp_marked() of that entry: the leaf's marks follow its entries. */
static inline int gp_leaf_marked(const uint32_t *leaf, uint64_t p)
{
	uint64_t idx = (p >> GP_SH_GRANULE_SHIFT) & (GP_SH_LEAF_ENTRIES - 1);
	const uint64_t *marks = (const uint64_t *)(leaf + GP_SH_LEAF_ENTRIES);
	return (__atomic_load_n(&marks[idx >> 6], __ATOMIC_RELAXED) >> (idx & 63)) & 1;
}

/* The common allocation: a heap chunk (not mapped on its own) of at most 31 bytes of slack,
 * in the thread's last shadow leaf, from a call site in this thread's cache whose
 * allocations need no stack now: a 4-byte shadow entry. `h` is the block's size word
 * (gp_alloc_word, or gp_glibc_word where glibc is known to serve it). */
static inline __attribute__((always_inline)) int gp_on_alloc(void *p, size_t size, uint64_t ra,
                                                          uint64_t h)
{
	struct gp_tls *t = &gp_tls;
	gp_watch_alloc(t, p, size);
	/* the cache entry by index, not by pointer: the compiler then addresses it from the
	 * thread pointer as it does the rest of gp_tls */
	unsigned slot = gp_cs_slot(ra);
	uint64_t slack = (h & ~(uint64_t)7) - 8 - size; /* for a heap chunk */
	uint32_t left = t->cs[slot].left;
	uint32_t *leaf = gp_leaf(t, (uint64_t)p);
	if (__builtin_expect(leaf == NULL, 0))
		return 0;
	if (__builtin_expect(t->cs[slot].ra != ra, 0))
		return 0;
	if (__builtin_expect(left <= 1, 0))
		return 0;
	if (__builtin_expect((slack | (h & GP_CHUNK_MMAPPED) << 5) > GP_SH_SLACK_MAX, 0))
		return 0;
	t->cs[slot].left = left - 1;
	/* a cached call site is never GP_CALLSITE_NONE */
	*gp_leaf_entry(leaf, (uint64_t)p) =
		GP_SH_KNOWN | (uint32_t)slack << GP_SH_SLACK_SHIFT | t->cs[slot].pl;
	gp_tls_bump(&t->allocs);
	return 1;
}

/*
 * The common free: an unmarked block in the thread's last shadow leaf. @return 1 if done
 * (counted), 0 if the slow path must do it all.
 */
static inline __attribute__((always_inline)) int gp_on_free(void *p)
{
	struct gp_tls *t = &gp_tls;
	uint64_t old = (uint64_t)p;
	if (old == t->rq) /* the watched block itself goes away (a temporary, often) */
		gp_watch_reset(t);
	uint32_t *leaf = gp_leaf(t, old);
	if (__builtin_expect(leaf == NULL || gp_leaf_marked(leaf, old), 0))
		return 0;
	gp_tls_bump(&t->frees);
	return 1;
}
/* gp_on_free()'s 0, when tracing: the common end of a chain, a free of a chain block of
 * this trace whose entry says it all, while no relocation is pending (tls.h) and its last
 * records are in this thread's buffer or the trace. To be called with gp_tls.busy set and errno saved (it may
 * write the trace). @return 1 if done (counted), 0 if gp_on_free_slow must do it all. */
int gp_free_chain_fast(void *p);

/* realloc(p, n) with p != NULL and n > 0, in two halves around the real call. */
struct gp_realloc {
	struct gp_block b; /* unless lazy */
	int lazy;    /* p's entry holds all there is to know of it (KNOWN, not SIDE): only
	              * b.size is filled in; the rest is read from e when needed */
	int known;   /* p is in the block table (copied to b, left there) */
	int side;    /* ... in the block table rather than only in its shadow entry */
	uint32_t e;  /* p's shadow entry at the start */
	int mmapped; /* glibc had served the block with mmap (gp_alloc_mmapped) */
};
void gp_realloc_begin(void *p, struct gp_realloc *r);
/* q = what the real realloc returned (NULL: failed, p is unchanged). */
void gp_realloc_end(void *p, void *q, size_t n, struct gp_realloc *r, uint64_t ra,
                    uint64_t cfa);

#endif
