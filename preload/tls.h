/* tls.h - per-thread state of the preload, initial-exec TLS (no allocation on first use). */
#ifndef GP_TLS_H
#define GP_TLS_H

#include <stdint.h>

#include "blocks.h"

/* A relocation's old block holds at least this many bytes: copying fewer costs less than
 * following them (an interpreter makes hundreds of thousands of such small moves). So a
 * new block of at most this many bytes is not watched at all. */
#define GP_RELOC_MIN 64
/* A relocation's copy lands in the new block at the offset it comes from in the old one,
 * at most this far from the starts: what is behind a header the program writes itself
 * (jq's string header is 16 bytes, a CPython bytes object's 32). */
#define GP_RELOC_HDR 64
/* A relocation's new block holds at most this many times what its old one holds. */
#define GP_RELOC_RATIO 8
/* Copies into one watched block looked at before the watch stops looking: a block
 * assembled from many pieces (a join, a formatted string) costs a bounded number of
 * calls. */
#define GP_RELOC_NOTES 32
/* A watched block stays watched through the next GP_RELOC_KEEP allocations of at most
 * GP_RELOC_MIN bytes (which no relocation can move into). */
#define GP_RELOC_KEEP 4

struct gp_tbuf;

/* The call sites this thread allocated from lately (stacks.h): `left` counts down the
 * allocations until the shared table is consulted again. */
#define GP_CS_TCACHE_BITS 8
#define GP_CS_TCACHE (1u << GP_CS_TCACHE_BITS)
struct gp_cs_tcache {
	uint64_t ra;
	uint32_t pl;   /* its index in the table + 1: the shadow entry's payload */
	uint32_t left;
};

struct gp_tls {
	/* First: the hooks address it with no offset to add. */
	struct gp_cs_tcache cs[GP_CS_TCACHE];
	int busy;      /* inside the profiler: nested allocator calls go straight through */
	int *errp;     /* &errno of this thread, once known */
	uint32_t tnum; /* small thread number for SEGMENT records, 0 = not assigned yet */
	/* This thread's counts while reg > 0 (summed at flush). */
	uint64_t allocs, frees, steps, chains, failed;
	int reg;                /* 0: not yet registered, 1: registered, -1: use the globals */
	/* The shadow leaf (shadow.h) this thread used last, for the fast paths: (address >>
	 * GP_SH_LEAF_SHIFT) + 1 of the 64 MiB it covers, 0 while reg <= 0. */
	uint64_t sh_li;
	uint32_t *sh_leaf;
	struct gp_tbuf *tb;     /* this thread's own buffer of chain records (collector.c) */
	int tb_gone;            /* the thread is exiting: it writes to the shared buffer */
	/* Relocation watch: the block this thread allocated last. A copy into it of what a live,
	 * smaller block holds, from the same offset near both starts, makes a candidate
	 * (collector.c gp_reloc_copy): the data moved house, whether the old block goes now,
	 * later or never. */
	uint64_t rq, rqsize;
	uint64_t rwin;   /* copies to [rq, rq + rwin) are looked at: rqsize, or 0 once not */
	uint64_t rnq;    /* the watched block rnotes counts the copies into (GP_RELOC_NOTES) */
	uint32_t rnotes;
	uint32_t rkeep;  /* small allocations it may stay watched through (GP_RELOC_KEEP) */
	/* The candidate (cold != 0): old block cold (coldsize bytes, shadow entry ce, known as
	 * cb) into cq (cqsize bytes) at offset coff, cbytes copied so far with translation
	 * cdelta = cq - cold from [clo, chi) of old. Later copies into cq with that translation
	 * add to it. Once they reach far enough it has the stack csid of the copy, and the
	 * thread's next allocator call settles it (gp_reloc_settle): while one is pending,
	 * sh_li = 0 and gp_leaf() fails, so that every fast path takes its slow one. */
	uint64_t cold, coldsize, cq, cqsize, coff, cdelta, cbytes, clo, chi;
	uint32_t ce, csid;
	struct gp_block cb; /* what the entry said of old then */
	int cmoved;         /* old's relocation chain is in cq already */
};

extern __thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

/* Count one in a counter of this thread's that other threads read: one instruction, whose
 * store is single-copy atomic (an aligned 8 bytes) for them. */
static inline void gp_tls_bump(uint64_t *c)
{
#if defined(__x86_64__)
	__asm__("addq $1, %0" : "+m"(*c));
#else
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
#endif
}

/* Stop watching: the block is gone or resized. */
static inline void gp_watch_reset(struct gp_tls *t)
{
	t->rq = 0;
	t->rwin = 0;
}

#endif
