/* blocks.c - sharded open-addressing table of live blocks (see blocks.h). */
#include "blocks.h"

#include "ialloc.h"

#include <sched.h>
#include <stddef.h>

#define SHARD_BITS 7
#define NSHARD (1u << SHARD_BITS)
#define INIT_CAP 512

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

static inline struct shard *shard_of(uint64_t h) { return &shards[h >> (64 - SHARD_BITS)]; }

static void insert_slot(struct gp_block *slot, uint32_t mask, const struct gp_block *b, uint64_t h)
{
	uint32_t i = (uint32_t)h & mask;
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
			insert_slot(n, ncap - 1, &s->slot[i], mix(s->slot[i].ptr));
	gp_iunmap(s->slot, (size_t)s->cap * sizeof *n);
	s->slot = n;
	s->cap = ncap;
	return 0;
}

int gp_blocks_put(const struct gp_block *b)
{
	uint64_t h = mix(b->ptr);
	struct shard *s = shard_of(h);
	shard_lock(s);
	if ((s->count + 1) * 4 > s->cap * 3 && grow(s)) {
		shard_unlock(s);
		return -1;
	}
	uint32_t mask = s->cap - 1, i = (uint32_t)h & mask;
	while (s->slot[i].ptr && s->slot[i].ptr != b->ptr)
		i = (i + 1) & mask;
	if (!s->slot[i].ptr)
		s->count++;
	s->slot[i] = *b;
	shard_unlock(s);
	return 0;
}

int gp_blocks_take(uint64_t ptr, struct gp_block *out)
{
	uint64_t h = mix(ptr);
	struct shard *s = shard_of(h);
	shard_lock(s);
	if (!s->cap) {
		shard_unlock(s);
		return 0;
	}
	uint32_t mask = s->cap - 1, i = (uint32_t)h & mask;
	while (s->slot[i].ptr != ptr) {
		if (!s->slot[i].ptr) {
			shard_unlock(s);
			return 0;
		}
		i = (i + 1) & mask;
	}
	*out = s->slot[i];
	/* Backward-shift deletion keeps probe sequences intact without tombstones. */
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!s->slot[j].ptr)
			break;
		uint32_t home = (uint32_t)mix(s->slot[j].ptr) & mask;
		/* Move slot j into the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		s->slot[i] = s->slot[j];
		i = j;
	}
	s->slot[i].ptr = 0;
	s->count--;
	shard_unlock(s);
	return 1;
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
