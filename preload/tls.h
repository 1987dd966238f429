/* tls.h - per-thread state of the preload, initial-exec TLS (no allocation on first use). */
#ifndef GP_TLS_H
#define GP_TLS_H

#include <stdint.h>

#define GP_RELOC_COPIES 4

struct gp_tls {
	int busy;      /* inside the profiler: nested allocator calls go straight through */
	uint32_t tnum; /* small thread number for STEP records, 0 = not assigned yet */
	/* Relocation watch: the block this thread allocated last, and the copies made into it
	 * since (memcpy/memmove). If the thread then frees a smaller block those copies came
	 * from, the data moved house: a relocation step (malloc + copy + free growth). */
	uint64_t allocs, frees; /* this thread's counts while reg > 0 (summed at flush) */
	int reg;                /* 0: not yet registered, 1: registered, -1: use the globals */
	uint64_t rq, rqsize;
	uint32_t ncopies;
	struct {
		uint64_t src, n;
	} copies[GP_RELOC_COPIES];
};

extern __thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

/* A copy of n bytes from src to dst is about to happen (memcpy & co.). Cheap: a compare. */
static inline void gp_note_copy(const void *dst, const void *src, uint64_t n)
{
	struct gp_tls *t = &gp_tls;
	if (t->rq && (uint64_t)dst - t->rq < t->rqsize && n) {
		if (t->ncopies < GP_RELOC_COPIES) {
			t->copies[t->ncopies].src = (uint64_t)src;
			t->copies[t->ncopies].n = n;
			t->ncopies++;
		}
	}
}

#endif
