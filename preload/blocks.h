/*
 * blocks.h - every live block the program holds: its requested size and where it came from.
 *
 * Needed for exact numbers: a step's old size is the size the program asked for, which glibc
 * does not keep. A sharded open-addressing table; each shard has its own spinlock, held only
 * for the table operation itself (never across unwinding or I/O).
 */
#ifndef GP_BLOCKS_H
#define GP_BLOCKS_H

#include <stdint.h>

enum gp_block_kind {
	GP_BLOCK_ORIGIN = 0, /* ref = origin reference (see stacks.h) */
	GP_BLOCK_CHAIN = 1,  /* ref = id of the realloc chain this block belongs to */
	GP_BLOCK_RCHAIN = 2, /* ref = id of the relocation chain this block belongs to */
};

struct gp_block {
	uint64_t ptr;  /* 0 = empty slot */
	uint64_t size;
	uint32_t ref;
	uint32_t kind;
	uint32_t origin; /* chains: the stack id of their origin (0 = unknown), kept so a chain
	                  * that changes kind (realloc <-> relocation) keeps it */
	uint32_t gen;    /* chains: the trace generation they began in (older: before fork) */
};

/* Record a new block (replacing a stale entry for the same address). @return 0, -1 no memory. */
int gp_blocks_put(const struct gp_block *b);
/* Remove the block at `ptr` and copy it to *out. @return 1 if it was there, 0 if not. */
int gp_blocks_take(uint64_t ptr, struct gp_block *out);
/* Copy the block at `ptr` to *out, leaving it in place. @return 1 if it was there. */
int gp_blocks_get(uint64_t ptr, struct gp_block *out);
/* Remove the block at `ptr` only if it still is `b` (same ref and kind): the address may have
 * been freed and handed to another thread, whose entry must stay. */
void gp_blocks_drop(const struct gp_block *b);

/* fork: hold every shard across fork() so the child's copy is consistent. */
void gp_blocks_lock_all(void);
void gp_blocks_unlock_all(void);
/* @return the number of live blocks (approximate while threads run). */
uint64_t gp_blocks_count(void);

#endif
