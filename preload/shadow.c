/* shadow.c - the direct-mapped block shadow (see shadow.h). */
#include "shadow.h"

#include "ialloc.h"

#include <sys/mman.h>

#define GRANULE_SHIFT GP_SH_GRANULE_SHIFT
#define LEAF_SHIFT GP_SH_LEAF_SHIFT
#define LEAF_ENTRIES GP_SH_LEAF_ENTRIES
#define TOP_ENTRIES GP_SH_TOP_ENTRIES
#define LEAF_BYTES ((uint64_t)LEAF_ENTRIES * 4 + LEAF_ENTRIES / 8) /* entries, then marks */

uint32_t **gp_shadow_top;
#define top gp_shadow_top

static void *reserve(uint64_t bytes)
{
	/* Untouched pages cost nothing: only the shadow of heap actually used is resident. */
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uint32_t **get_top(void)
{
	uint32_t **t = __atomic_load_n(&top, __ATOMIC_ACQUIRE);
	if (t)
		return t;
	t = reserve((uint64_t)TOP_ENTRIES * sizeof *t);
	if (!t)
		return NULL;
	uint32_t **expect = NULL;
	if (!__atomic_compare_exchange_n(&top, &expect, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		munmap(t, (uint64_t)TOP_ENTRIES * sizeof *t);
		t = expect;
	}
	return t;
}

uint32_t *gp_shadow_slot_slow(uint64_t p)
{
	uint32_t **t = get_top();
	if (!t || (p >> LEAF_SHIFT) >= TOP_ENTRIES)
		return NULL;
	uint32_t **slot = &t[p >> LEAF_SHIFT];
	uint32_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!leaf) {
		leaf = reserve(LEAF_BYTES);
		if (!leaf)
			return NULL;
		uint32_t *expect = NULL;
		if (!__atomic_compare_exchange_n(slot, &expect, leaf, 0, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_ACQUIRE)) {
			munmap(leaf, LEAF_BYTES);
			leaf = expect;
		}
	}
	return &leaf[(p >> GRANULE_SHIFT) & (LEAF_ENTRIES - 1)];
}
