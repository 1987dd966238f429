/*
 * shadow.h - four bytes of bookkeeping per 32-byte granule of heap address space.
 *
 * Every malloc'd block needs its requested size (a step's old size) and its call site (the
 * origin if it ever becomes a chain). A hash table of all live blocks costs a cache miss per
 * malloc and per free. glibc chunks are at least 32 bytes apart, so a block's address >> 5
 * is unique among live blocks and can index a direct-mapped shadow whose cache lines cover
 * 512 bytes of heap: neighbouring blocks share them, as they share the heap's.
 *
 * The size is kept as the slack between the block's usable size (alloc.h) and the requested
 * size (at most 31 for glibc's heap chunks), beside the call site of a plain block or the
 * id of a chain block (chain ids are recycled slots, see collector.c), or the id of a plain
 * block's captured origin stack. Blocks whose details do not fit (mmapped chunks' larger
 * slack, chain ids past the slots, stack ids past 2^23) are marked SIDE and live in the
 * block table (blocks.h) instead.
 *
 * An entry is cleared when its block is freed (or moved by realloc).
 */
#ifndef GP_SHADOW_H
#define GP_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#define GP_SH_SIDE        0x80000000u /* details in the block table */
#define GP_SH_KNOWN       0x40000000u /* allocated through us */
#define GP_SH_CHAIN       0x20000000u /* ... and in a chain: the payload is its slot */
#define GP_SH_SLACK_SHIFT 24          /* bits 24..28: usable size - requested size */
#define GP_SH_SLACK_MAX   31u
#define GP_SH_PAYLOAD     0x00ffffffu /* plain block: call site index + 1 (0 = none), */
#define GP_SH_STACK       0x00800000u /* ... or this bit and its captured origin stack's id */
#define GP_SH_STACK_MAX   0x007fffffu
#define GP_SH_RELOC       0x00800000u /* chain block: a relocation chain */
#define GP_SH_SLOT_MASK   0x007fffffu /* chain block: chain id - 1 */

#define GP_SH_GRANULE_SHIFT 5
#define GP_SH_LEAF_SHIFT 26 /* one leaf per 64 MiB of address space */
#define GP_SH_LEAF_ENTRIES (1u << (GP_SH_LEAF_SHIFT - GP_SH_GRANULE_SHIFT))
#define GP_SH_TOP_ENTRIES (1u << (48 - GP_SH_LEAF_SHIFT)) /* user space is below 2^47 */

extern uint32_t **gp_shadow_top; /* GP_SH_TOP_ENTRIES leaf pointers, reserved lazily */

/* @return a pointer to the entry of block `p` if its part of the shadow exists, else NULL
 * (never allocates). */
static inline uint32_t *gp_shadow_find(uint64_t p)
{
	uint32_t **t = __atomic_load_n(&gp_shadow_top, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!t || (p >> GP_SH_LEAF_SHIFT) >= GP_SH_TOP_ENTRIES, 0))
		return NULL;
	uint32_t *leaf = __atomic_load_n(&t[p >> GP_SH_LEAF_SHIFT], __ATOMIC_ACQUIRE);
	return leaf ? &leaf[(p >> GP_SH_GRANULE_SHIFT) & (GP_SH_LEAF_ENTRIES - 1)] : NULL;
}

/*
 * Marks: one bit per entry, after the leaf's entries, set whenever the entry is SIDE or
 * CHAIN (it may also be set for a plain one: a block moved by realloc keeps its mark until a
 * free there clears it, as clearing it then could race with a new block there). A free
 * reads the bit (a 64-byte line covers 16 KiB of heap, and stays cached) instead of the
 * entry, and leaves an unmarked block's entry as it is: the next allocation there writes it.
 */
static inline uint64_t *gp_mark_word(uint32_t *entry, uint64_t p, uint64_t *bit)
{
	uint64_t idx = (p >> GP_SH_GRANULE_SHIFT) & (GP_SH_LEAF_ENTRIES - 1);
	*bit = 1ull << (idx & 63);
	return (uint64_t *)(entry - idx + GP_SH_LEAF_ENTRIES) + (idx >> 6);
}

/* Is block p's entry (at `entry`) marked? */
static inline int gp_marked(uint32_t *entry, uint64_t p)
{
	uint64_t bit;
	return (__atomic_load_n(gp_mark_word(entry, p, &bit), __ATOMIC_RELAXED) & bit) != 0;
}

/* Write block p's entry, marking it if it is SIDE or CHAIN (and unmarking it if not). */
static inline void gp_shadow_put(uint32_t *entry, uint64_t p, uint32_t v, int was_marked)
{
	uint64_t bit, *w = gp_mark_word(entry, p, &bit);
	*entry = v;
	if (v & (GP_SH_SIDE | GP_SH_CHAIN)) {
		/* a chain's block stays marked from step to step: no locked operation then */
		if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
	} else if (was_marked) {
		__atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED);
	}
}

/* The same, reserving that part of the shadow first if needed. */
uint32_t *gp_shadow_slot_slow(uint64_t p);

/* @return a pointer to the entry of block `p`, or NULL if out of memory. */
static inline uint32_t *gp_shadow_slot(uint64_t p)
{
	uint32_t *e = gp_shadow_find(p);
	return __builtin_expect(e != NULL, 1) ? e : gp_shadow_slot_slow(p);
}

/* @return the entry of block `p`, 0 if none was ever written. */
static inline uint32_t gp_shadow_get(uint64_t p)
{
	uint32_t *e = gp_shadow_find(p);
	return e ? *e : 0;
}

#endif
