/*
 * counts.h - the trace's COUNTS: allocations, frees, failed reallocs, steps and chains.
 * Each thread counts in its own gp_tls (no atomic operation on the hot path) once it is
 * registered; a thread that is not (yet), or is exiting, counts in the globals here. A
 * flush sums them (gp_counts_sum).
 */
#ifndef GP_COUNTS_H
#define GP_COUNTS_H

#include <stdint.h>

#include "tls.h"

/* Declared hidden as they are defined (-fvisibility=hidden): reached directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

/* Cumulative counters of this trace, of threads that have none of their own. Relaxed
 * atomics: exact, and no lock. */
extern uint64_t gp_n_allocs, gp_n_frees, gp_n_failed, gp_n_steps, gp_n_chains;

static inline void gp_counts_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Count one step, chain or failed realloc: in the thread's own counter when it has one. */
#define COUNT(field)                                                                   \
	do {                                                                           \
		if (__builtin_expect(gp_tls.reg > 0, 1))                               \
			gp_tls_bump(&gp_tls.field);                                    \
		else                                                                   \
			gp_counts_add(&gp_n_##field, 1);                               \
	} while (0)

/* Counters for allocations and frees that need no record: per thread, no atomic operation
 * on the hot path (summed when the trace is flushed). The slow path registers the thread. */
void gp_count_slow(int free);
static inline void gp_count_alloc(void)
{
	if (__builtin_expect(gp_tls.reg > 0, 1))
		gp_tls_bump(&gp_tls.allocs);
	else
		gp_count_slow(0);
}
static inline void gp_count_free(void)
{
	if (__builtin_expect(gp_tls.reg > 0, 1))
		gp_tls_bump(&gp_tls.frees);
	else
		gp_count_slow(1);
}

/* The counters so far, of every thread: allocs, frees, failed, steps, chains. */
void gp_counts_sum(uint64_t c[5]);
/* Of the allocations, those glibc made for the flusher thread (COUNTS' own). */
uint64_t gp_counts_own(void);
void gp_counts_own_add(uint64_t n);
/* A new trace counts from zero. */
void gp_counts_reset(void);

/* Registration goes through a pthread key whose destructor (`gone`, on the exiting thread)
 * must call gp_counts_thread_gone with its argument. Registering may allocate: called
 * outside every hook. */
void gp_counts_key_create(void (*gone)(void *));
/* Fold the exiting thread's counters into the globals; it counts there from now on. */
void gp_counts_thread_gone(struct gp_tls *t);

/* fork: the registry's lock around it; in the child only the forking thread lives on. */
void gp_counts_lock(void);
void gp_counts_unlock(void);
void gp_counts_fork_child(void);

#pragma GCC visibility pop

#endif
