/*
 * shadow.h - four bytes of bookkeeping per 32-byte granule of heap address space.
 *
 * Every malloc'd block needs its requested size (a step's old size) and its call site (the
 * origin if it ever becomes a chain). A hash table of all live blocks costs a cache miss per
 * malloc and per free. glibc chunks are at least 32 bytes apart, so a block's address >> 5
 * is unique among live blocks and can index a direct-mapped shadow whose cache lines cover
 * 512 bytes of heap: neighbouring blocks share them, as they share the heap's.
 *
 * The size is kept as the slack between glibc's usable size (from the chunk header) and the
 * requested size; blocks whose details do not fit (chains, captured origin stacks, huge
 * slack) are marked SIDE and live in the block table (blocks.h) instead.
 *
 * Entries are never cleared on free: the next allocation at that address overwrites them.
 */
#ifndef GP_SHADOW_H
#define GP_SHADOW_H

#include <stdint.h>

#define GP_SH_SIDE       0x80000000u /* details in the block table */
#define GP_SH_KNOWN      0x40000000u /* allocated through us */
#define GP_SH_CS_SHIFT   16          /* bits 16..29: call site index + 1 (0 = none) */
#define GP_SH_CS_MASK    0x3fffu
#define GP_SH_SLACK_MASK 0xffffu     /* bits 0..15: usable size - requested size */

/* @return a pointer to the entry of block `p`, or NULL if out of memory. */
uint32_t *gp_shadow_slot(uint64_t p);
/* @return the entry of block `p`, 0 if none was ever written. */
uint32_t gp_shadow_get(uint64_t p);
/* @return a pointer to the entry of block `p` if its part of the shadow exists, else NULL
 * (never allocates). */
uint32_t *gp_shadow_find(uint64_t p);

/* glibc's usable size of an allocated block, read from its chunk header. */
static inline uint64_t gp_usable(const void *p)
{
	uint64_t h = ((const uint64_t *)p)[-1];
	return (h & ~(uint64_t)7) - ((h & 2) ? 16 : 8);
}

#endif
