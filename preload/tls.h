/* tls.h - per-thread state of the preload, initial-exec TLS (no allocation on first use). */
#ifndef GP_TLS_H
#define GP_TLS_H

#include <stdint.h>

#define GP_RELOC_RECS 6
/* A relocation's old block holds at least this many bytes: copying fewer costs less than
 * following them (an interpreter makes hundreds of thousands of such small moves). So a
 * new block of at most this many bytes is not watched at all. */
#define GP_RELOC_MIN 64
/* Copies into one watched block that did not continue a record (new translations, kept or
 * not) before the watch stops looking at copies into it: a block assembled from many pieces
 * (a join, a formatted string) costs a bounded number of notes. */
#define GP_RELOC_NOTES 32

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

/* Copies into the watched block, merged by translation: element-wise moves of one old block
 * (same dst - src, kept apart in gp_tls.rdelta for a one-line scan) make one record however
 * many calls they take. */
struct gp_copy_rec {
	uint64_t src_lo, src_hi; /* the source range covered */
	uint64_t bytes;          /* bytes copied with this translation */
	uint64_t first_src, first_n; /* the first copy, re-checked before believing the record */
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
	/* Relocation watch: the block this thread allocated last, and the copies made into it
	 * since (memcpy/memmove). If the thread then frees a smaller block those copies came
	 * from, the data moved house: a relocation step (malloc + copy + free growth). */
	uint64_t rq, rqsize;
	uint64_t rwin; /* copies to [rq, rq + rwin) are noted: rqsize, or 0 once watching stops */
	/* A freed block that starts after rmaxlo (the highest start of a recorded source) or
	 * ends before rminhi (the lowest end of one) holds no record's whole source: it
	 * cannot be a relocation's. The free's fast path. rmaxlo = 0: no copies recorded, and
	 * nrecs, rnotes, rmin, rspan and the records are stale (an allocation writes only
	 * rmaxlo). */
	uint64_t rmaxlo, rminhi;
	/* The sum of the records' source spans (src_hi - src_lo): copies from one block reach
	 * across no more of it than this, and a relocation's must reach across half of it. */
	uint64_t rspan;
	uint32_t nrecs;
	uint32_t rnotes; /* copies that started a record or were dropped (GP_RELOC_NOTES) */
	uint32_t rmin;  /* when all records are taken: the smallest, */
	uint64_t rminb; /* and its bytes */
	/* rq if glibc mapped it on its own (freed elsewhere, it is unmapped at once): set by the
	 * allocation's slow path, which takes every mapped chunk. */
	uint64_t rq_mm;
	uint64_t rdelta[GP_RELOC_RECS]; /* dst - src of each record */
	struct gp_copy_rec recs[GP_RELOC_RECS];
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

/* Stop watching: the block is gone, resized, or its copies were a relocation. */
static inline void gp_watch_reset(struct gp_tls *t)
{
	t->rq = 0;
	t->rwin = 0;
	t->rmaxlo = 0;
}

/* A record's source range [lo, hi) joins the bounds a freed block must reach across to
 * hold some record's whole source. */
static inline void gp_watch_bound(struct gp_tls *t, uint64_t lo, uint64_t hi)
{
	if (!t->rmaxlo) {
		t->rmaxlo = lo;
		t->rminhi = hi;
		return;
	}
	if (lo > t->rmaxlo)
		t->rmaxlo = lo;
	if (hi < t->rminhi)
		t->rminhi = hi;
}

/* The smallest record, which a bigger new one replaces when all are taken. */
static inline void gp_watch_min(struct gp_tls *t)
{
	uint32_t m = 0;
	for (uint32_t j = 1; j < GP_RELOC_RECS; j++)
		if (t->recs[j].bytes < t->recs[m].bytes)
			m = j;
	t->rmin = m;
	t->rminb = t->recs[m].bytes;
}

/* Record a copy into the watched block (which has records: rmaxlo != 0): merged with a record of the same translation, else a
 * new record (when all are taken, it replaces the smallest if it is bigger). */
static inline void gp_note_copy_slow(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n)
{
	uint64_t delta = dst - src;
	uint32_t nr = t->nrecs;
	for (uint32_t i = 0; i < nr; i++) {
		if (t->rdelta[i] == delta) {
			struct gp_copy_rec *c = &t->recs[i];
			if (src < c->src_lo || src + n > c->src_hi) {
				t->rspan -= c->src_hi - c->src_lo;
				if (src < c->src_lo)
					c->src_lo = src;
				if (src + n > c->src_hi)
					c->src_hi = src + n;
				t->rspan += c->src_hi - c->src_lo;
				gp_watch_bound(t, c->src_lo, c->src_hi);
			}
			c->bytes += n;
			if (nr == GP_RELOC_RECS && i == t->rmin)
				gp_watch_min(t);
			return;
		}
	}
	if (++t->rnotes >= GP_RELOC_NOTES)
		t->rwin = 0; /* an assembly of pieces: enough */
	uint32_t i = nr;
	if (i == GP_RELOC_RECS) {
		if (t->rminb >= n)
			return;
		i = t->rmin;
		t->rspan -= t->recs[i].src_hi - t->recs[i].src_lo;
	} else {
		t->nrecs = nr + 1;
	}
	t->rspan += n;
	t->rdelta[i] = delta;
	t->recs[i] = (struct gp_copy_rec){ src, src + n, n, src, n };
	gp_watch_bound(t, src, src + n);
	if (t->nrecs == GP_RELOC_RECS) /* just taken all, or replaced the smallest */
		gp_watch_min(t);
}

/* The first copy (n > 0) into the watched block: the common case, as a new block is filled,
 * inline in the copy hooks. */
static inline void gp_note_first(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n)
{
	t->rnotes = 1;
	t->nrecs = 1;
	t->rdelta[0] = dst - src;
	t->recs[0] = (struct gp_copy_rec){ src, src + n, n, src, n };
	t->rmaxlo = src; /* the first bounds: gp_watch_bound(t, src, src + n) */
	t->rminhi = src + n;
	t->rspan = n;
}

/* A copy of n bytes from src to dst is about to happen (memcpy & co.). Cheap: a compare. */
static inline void gp_note_copy(const void *dst, const void *src, uint64_t n)
{
	struct gp_tls *t = &gp_tls;
	if ((uint64_t)dst - t->rq < t->rwin && n) {
		if (t->rmaxlo)
			gp_note_copy_slow(t, (uint64_t)dst, (uint64_t)src, n);
		else
			gp_note_first(t, (uint64_t)dst, (uint64_t)src, n);
	}
}

#endif
