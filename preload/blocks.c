/* blocks.c - sharded open-addressing table of live blocks (see blocks.h). */
#include "blocks.h"

#include "ialloc.h"

#include <sched.h>
#include <stddef.h>

#define SHARD_BITS 7
#define NSHARD (1u << SHARD_BITS)
#define INIT_CAP 64

struct shard {
	volatile int lock;
	uint32_t cap, count;  /* cap is a power of two */
	struct gp_block *slot;
	char pad[64 - 24];    /* one shard per cache line: threads do not contend on neighbours */
};

static struct shard shards[NSHARD] __attribute__((aligned(64)));

static inline uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static inline void shard_lock(struct shard *s)
{
	unsigned spins = 0;
	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED)) {
			if (++spins < 256)
				__builtin_ia32_pause();
			else
				sched_yield(); /* the holder was preempted: let it run */
		}
	}
}

static inline void shard_unlock(struct shard *s) { __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE); }

/*
 * Placement keeps locality: blocks within one 64 KiB window of the address space share a
 * shard and land in neighbouring slots (offset by their address within the window), while
 * the windows themselves are spread by a hash. Allocations close in time are mostly close in
 * address, so consecutive operations touch the same cache lines instead of missing each time.
 */
#define WINDOW_SHIFT 16
static inline uint64_t window_hash(uint64_t ptr) { return mix(ptr >> WINDOW_SHIFT); }
static inline uint32_t home(uint64_t ptr, uint32_t mask)
{
	return (uint32_t)(window_hash(ptr) + ((ptr >> 4) & ((1u << (WINDOW_SHIFT - 4)) - 1))) & mask;
}
static inline struct shard *shard_of(uint64_t ptr) { return &shards[window_hash(ptr) >> (64 - SHARD_BITS)]; }

static void insert_slot(struct gp_block *slot, uint32_t mask, const struct gp_block *b)
{
	uint32_t i = home(b->ptr, mask);
	while (slot[i].ptr)
		i = (i + 1) & mask;
	slot[i] = *b;
}

/* Double the shard (or create it). Called with the shard locked. */
static int grow(struct shard *s)
{
	uint32_t ncap = s->cap ? s->cap * 2 : INIT_CAP;
	struct gp_block *n = gp_imap((size_t)ncap * sizeof *n);
	if (!n)
		return -1;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->slot[i].ptr)
			insert_slot(n, ncap - 1, &s->slot[i]);
	gp_iunmap(s->slot, (size_t)s->cap * sizeof *n);
	s->slot = n;
	s->cap = ncap;
	return 0;
}

int gp_blocks_put(const struct gp_block *b)
{
	struct shard *s = shard_of(b->ptr);
	shard_lock(s);
	if ((s->count + 1) * 4 > s->cap * 3 && grow(s)) {
		shard_unlock(s);
		return -1;
	}
	uint32_t mask = s->cap - 1, i = home(b->ptr, mask);
	while (s->slot[i].ptr && s->slot[i].ptr != b->ptr)
		i = (i + 1) & mask;
	if (!s->slot[i].ptr)
		s->count++;
	s->slot[i] = *b;
	shard_unlock(s);
	return 0;
}

/* Find `ptr` in its shard (locked). @return its slot index, or -1. */
static int64_t find(struct shard *s, uint64_t ptr)
{
	if (!s->cap)
		return -1;
	uint32_t mask = s->cap - 1, i = home(ptr, mask);
	while (s->slot[i].ptr != ptr) {
		if (!s->slot[i].ptr)
			return -1;
		i = (i + 1) & mask;
	}
	return i;
}

int gp_blocks_get(uint64_t ptr, struct gp_block *out)
{
	struct shard *s = shard_of(ptr);
	shard_lock(s);
	int64_t i = find(s, ptr);
	if (i >= 0)
		*out = s->slot[i];
	shard_unlock(s);
	return i >= 0;
}

/* Remove slot i of a locked shard. */
static void remove_at(struct shard *s, uint32_t i);

void gp_blocks_drop(const struct gp_block *b)
{
	struct shard *s = shard_of(b->ptr);
	shard_lock(s);
	int64_t i = find(s, b->ptr);
	if (i >= 0 && s->slot[i].ref == b->ref && s->slot[i].kind == b->kind)
		remove_at(s, (uint32_t)i);
	shard_unlock(s);
}

int gp_blocks_take(uint64_t ptr, struct gp_block *out)
{
	struct shard *s = shard_of(ptr);
	shard_lock(s);
	int64_t i = find(s, ptr);
	if (i < 0) {
		shard_unlock(s);
		return 0;
	}
	*out = s->slot[i];
	remove_at(s, (uint32_t)i);
	shard_unlock(s);
	return 1;
}

static void remove_at(struct shard *s, uint32_t i)
{
	uint32_t mask = s->cap - 1;
	/* Backward-shift deletion keeps probe sequences intact without tombstones. */
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!s->slot[j].ptr)
			break;
		uint32_t h = home(s->slot[j].ptr, mask);
		/* Move slot j into the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		s->slot[i] = s->slot[j];
		i = j;
	}
	s->slot[i].ptr = 0;
	s->count--;
}

void gp_blocks_lock_all(void)
{
	for (unsigned i = 0; i < NSHARD; i++)
		shard_lock(&shards[i]);
}

void gp_blocks_unlock_all(void)
{
	for (unsigned i = 0; i < NSHARD; i++)
		shard_unlock(&shards[i]);
}

uint64_t gp_blocks_count(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < NSHARD; i++)
		n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
	return n;
}
