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
 * requested size (at most 31 for heap chunks), beside the call site of a plain block or the
 * id of a chain block (chain ids are recycled slots, see collector.c). Blocks whose details
 * do not fit (captured origin stacks, mmapped chunks' larger slack, chain ids past the slots)
 * are marked SIDE and live in the block table (blocks.h) instead.
 *
 * Entries are never cleared on free: the next allocation at that address overwrites them.
 */
#ifndef GP_SHADOW_H
#define GP_SHADOW_H

#include <stdint.h>

#define GP_SH_SIDE        0x80000000u /* details in the block table */
#define GP_SH_KNOWN       0x40000000u /* allocated through us */
#define GP_SH_CHAIN       0x20000000u /* ... and in a chain: the payload is its slot */
#define GP_SH_SLACK_SHIFT 24          /* bits 24..28: usable size - requested size */
#define GP_SH_SLACK_MAX   31u
#define GP_SH_PAYLOAD     0x00ffffffu /* plain block: call site index + 1 (0 = none) */
#define GP_SH_RELOC       0x00800000u /* chain block: a relocation chain */
#define GP_SH_SLOT_MASK   0x007fffffu /* chain block: chain id - 1 */

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
