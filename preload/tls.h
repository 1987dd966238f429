/* tls.h - per-thread state of the preload, initial-exec TLS (no allocation on first use). */
#ifndef GP_TLS_H
#define GP_TLS_H

#include <stdint.h>

#define GP_RELOC_RECS 6

struct gp_tbuf;

/* Copies into the watched block, merged by translation: element-wise moves of one old block
 * (same dst - src) make one record however many calls they take. */
struct gp_copy_rec {
	uint64_t delta;          /* dst - src */
	uint64_t src_lo, src_hi; /* the source range covered */
	uint64_t bytes;          /* bytes copied with this translation */
	uint64_t first_src, first_n; /* the first copy, re-checked before believing the record */
};

struct gp_tls {
	int busy;      /* inside the profiler: nested allocator calls go straight through */
	int *errp;     /* &errno of this thread, once known */
	uint32_t tnum; /* small thread number for SEGMENT records, 0 = not assigned yet */
	/* This thread's counts while reg > 0 (summed at flush). */
	uint64_t allocs, frees, steps, chains, failed;
	int reg;                /* 0: not yet registered, 1: registered, -1: use the globals */
	struct gp_tbuf *tb;     /* this thread's own buffer of chain records (collector.c) */
	int tb_gone;            /* the thread is exiting: it writes to the shared buffer */
	/* Relocation watch: the block this thread allocated last, and the copies made into it
	 * since (memcpy/memmove). If the thread then frees a smaller block those copies came
	 * from, the data moved house: a relocation step (malloc + copy + free growth). */
	uint64_t rq, rqsize;
	uint32_t nrecs;
	int rq_mmapped; /* glibc mapped it on its own: freed elsewhere, it is unmapped at once */
	struct gp_copy_rec recs[GP_RELOC_RECS];
};

extern __thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

/* Record a copy into the watched block: merged with a record of the same translation, else a
 * new record (when all are taken, it replaces the smallest if it is bigger). */
static inline void gp_note_copy_slow(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n)
{
	uint64_t delta = dst - src;
	for (uint32_t i = 0; i < t->nrecs; i++) {
		struct gp_copy_rec *c = &t->recs[i];
		if (c->delta == delta) {
			if (src < c->src_lo)
				c->src_lo = src;
			if (src + n > c->src_hi)
				c->src_hi = src + n;
			c->bytes += n;
			return;
		}
	}
	uint32_t i = t->nrecs;
	if (i == GP_RELOC_RECS) {
		i = 0;
		for (uint32_t j = 1; j < GP_RELOC_RECS; j++)
			if (t->recs[j].bytes < t->recs[i].bytes)
				i = j;
		if (t->recs[i].bytes >= n)
			return;
	} else {
		t->nrecs++;
	}
	t->recs[i] = (struct gp_copy_rec){ delta, src, src + n, n, src, n };
}

/* A copy of n bytes from src to dst is about to happen (memcpy & co.). Cheap: a compare. */
static inline void gp_note_copy(const void *dst, const void *src, uint64_t n)
{
	struct gp_tls *t = &gp_tls;
	if (t->rq && (uint64_t)dst - t->rq < t->rqsize && n)
		gp_note_copy_slow(t, (uint64_t)dst, (uint64_t)src, n);
}

#endif
