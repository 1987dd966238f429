/*
 * alloc.h - the allocator behind us, and the only questions we ask about its blocks.
 *
 * The program keeps the allocator it would have had: every interposer forwards to the next
 * definition in lookup order (dlsym(RTLD_NEXT)), found by the first allocator call of the
 * process. glibc's malloc is the usual one and the fast path: its chunk header, the size
 * word just before a block, gives the usable size and the IS_MMAPPED bit for one load.
 * Any other allocator (jemalloc, tcmalloc, mimalloc, linked or preloaded after us) owns
 * memory we may not read: its own malloc_usable_size answers, and none of its blocks is
 * ever a remap (SPEC "Allocators").
 *
 * Until the next definitions are known (dlsym may allocate) a small static arena serves the
 * calls; its blocks are never handed to the real allocator.
 *
 * Callers in preload/ ask gp_alloc_word() and what is built on it below, never the memory
 * before a block.
 */
#ifndef GP_ALLOC_H
#define GP_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "shadow.h"

/* The next definitions of the malloc family (never NULL once the first call returned:
 * until then they are bootstrap functions that find them). reallocarray is ours alone:
 * glibc's would hand a foreign block to glibc's realloc from inside libc. */
struct gp_next {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable_size)(void *);
};
/* (hidden: addressed directly, not through the GOT, by every hook) */
extern struct gp_next gp_next __attribute__((visibility("hidden")));

/* Nonzero when the next malloc is glibc's (decided with gp_next, before any block exists). */
extern int gp_alloc_glibc __attribute__((visibility("hidden")));

/* The glibc-like size word of another allocator's block (see gp_alloc_word). */
uint64_t gp_alloc_word_foreign(const void *p);

/* glibc's own size word of live block p, for a caller that knows gp_alloc_glibc is set: the
 * fast paths test it once, up front, and keep a call out of their way otherwise. */
static inline uint64_t gp_glibc_word(const void *p) { return ((const uint64_t *)p)[-1]; }

/* glibc's IS_MMAPPED bit in the size word: such a block is moved by mremap, copying nothing. */
#define GP_CHUNK_MMAPPED 2u

/*
 * The size word of live block p as glibc lays it out: the chunk size (usable size + 8, or
 * + 16 when mmapped) with IS_MMAPPED in bit 1. glibc's own, read before the block; for
 * another allocator one made from its malloc_usable_size, never mmapped. A foreign block
 * smaller than a shadow granule (jemalloc's 8- and 16-byte classes, mimalloc's 24) may share
 * its shadow entry with a neighbour: its word is 2^40 too large, so that its slack never fits
 * an entry and the block table keeps it by address (gp_alloc_entry_shared).
 */
static inline uint64_t gp_alloc_word(const void *p)
{
	if (__builtin_expect(gp_alloc_glibc, 1))
		return gp_glibc_word(p);
	return gp_alloc_word_foreign(p);
}

/* The usable size of a block from its size word `w`. */
static inline uint64_t gp_chunk_usable(uint64_t w)
{
	return (w & ~(uint64_t)7) - ((w & GP_CHUNK_MMAPPED) ? 16 : 8);
}

/* The usable size of live block p (shadow entries keep sizes as slack below it). */
static inline uint64_t gp_usable(const void *p) { return gp_chunk_usable(gp_alloc_word(p)); }

/* The bytes live block p takes, header included: its usable size + 8 or 16. */
static inline uint64_t gp_alloc_span(const void *p) { return gp_alloc_word(p) & ~7ull; }

/* Did glibc serve live block p with mmap of its own? (never for another allocator) */
static inline int gp_alloc_mmapped(const void *p)
{
	return (int)(gp_alloc_word(p) & GP_CHUNK_MMAPPED);
}

/*
 * May the SIDE entry `e` of a block of `size` bytes be cleared when the block goes? Not for
 * another allocator's block smaller than a granule (or one we never knew): a neighbour in
 * the same granule may live on, known through that entry. A stale SIDE entry costs only a
 * look in the block table; the next block allocated there overwrites it.
 */
static inline int gp_alloc_entry_shared(uint32_t e, int known, uint64_t size)
{
	return !gp_alloc_glibc && (e & GP_SH_SIDE) &&
	       (!known || size < (1u << GP_SH_GRANULE_SHIFT));
}

/* Is p a block of the bootstrap arena? */
int gp_alloc_is_boot(const void *p);

#endif
