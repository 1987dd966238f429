/*
 * trace.h - the trace: a shared raw buffer of records under the trace lock, flushed
 * (compressed by src/gp_writer) onto the trace file, which it names, opens and reopens; and
 * the state every layer above reads: on or off, the pid it belongs to, its generation.
 * The bottom of the preload's writing side: it calls nothing above it (counts.h and
 * flusher.h are beside it, below).
 *
 * Rule for every function: never call malloc & co. (ialloc.h), never print through stdio,
 * leave errno as it was.
 */
#ifndef GP_TRACE_H
#define GP_TRACE_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "flusher.h"
#include "tls.h"

/* Declared hidden as they are defined (-fvisibility=hidden): reached directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

/* The hot paths (every allocation, free, copy and step) are kept together in .text.hot, and
 * the slow ones out of their way in .text.unlikely: the program's own code competes with
 * ours for the instruction cache (sqlite's misses it 44% more often under the preload,
 * cachegrind says). */
#define GP_HOT __attribute__((hot))
#define GP_COLD __attribute__((cold, noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))

enum gp_state {
	GP_STATE_UNINIT = 0,
	GP_STATE_INITING,
	GP_STATE_ON,
	GP_STATE_OFF, /* disabled, failed, or finished: the program runs on untouched */
};

extern int gp_state;
/* The pid the current trace belongs to (a vfork child has another and must not write). */
extern int gp_pid;
/* The current trace generation (bumped by every new trace in the same process). */
extern unsigned gp_gen;

/* A spinlock that yields when the holder is slow (it may be compressing): cheaper than a
 * mutex for the few dozen instructions a step holds it. */
static inline void spin_lock(volatile int *mu)
{
	unsigned spins = 0;
	while (__atomic_exchange_n(mu, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(mu, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
}
static inline int spin_trylock(volatile int *mu)
{
	return !__atomic_load_n(mu, __ATOMIC_RELAXED) &&
	       !__atomic_exchange_n(mu, 1, __ATOMIC_ACQUIRE);
}
static inline void spin_unlock(volatile int *mu) { __atomic_store_n(mu, 0, __ATOMIC_RELEASE); }

/* ---- records, for the layers above (tbuf, stacks, modules) ---- */
void gp_trace_lock(void);
/* Releases the lock, then compresses a buffer that filled meanwhile. */
void gp_trace_unlock(void);
/* Room for a record of at most `max` bytes, or NULL if tracing stopped. Trace lock held. */
uint8_t *gp_trace_reserve(size_t max);
void gp_trace_commit(size_t n);
/* CLOCK_MONOTONIC when the trace began. */
extern uint64_t gp_t0;
/* Nanoseconds since the trace began. Inline: every chain record takes the time. */
static inline uint64_t gp_now(void)
{
	/* Coarse: a memory read in the vDSO. The precise clock cost as much as unwinding. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - gp_t0;
}
/* Report a problem once on stderr (allocation-free) and stop tracing. */
void gp_fail(const char *what, int err);

/* The flusher stopped for a fork comes back (flusher.h): only inside the profiler, where
 * what pthread_create might allocate goes straight to the allocator, never to our locks
 * (a failed exec's new trace, outside, holds the trace lock). */
static inline void gp_trace_flusher_due(void)
{
	if (gp_tls.busy)
		gp_flusher_due();
}

/* ---- flushing (trace lock held unless said) ---- */
/* Hand the buffer over for compression, or (end, or no spare buffer) write it out now, the
 * counts before it. `end` closes the zstd frame. Before gp_trace_late_done nothing is
 * written (the output is not known yet), unless `end`. */
void gp_trace_flush_locked(int end);
/* Flush if the buffer holds records or the counts changed since the last flush. */
void gp_trace_flush_new_locked(void);
/* Is a periodic flush due (no flusher thread, FLUSH_EVERY since the last)? Any lock. */
int gp_trace_flush_due(void);
/* Tracing is on and the constructor has run (the output is known). Any lock. */
int gp_trace_started(void);
/* The program closed our trace file (the next program's thread to flush reopens it). */
int gp_trace_fd_lost(void);

/* ---- the trace's life, for lifecycle.c ---- */
/* The shared buffers. @return 0 if out of memory. */
int gp_trace_init(void);
/* The constructor ran: GROWPROF_OUTPUT is known, the file may be created. */
void gp_trace_late_done(void);
/* Magic and PROCESS record in the empty buffer; t0 and gp_pid set. @return 0 if tracing
 * stopped. */
int gp_trace_begin_locked(void);
/* Drop the old trace's writer and file, zero the last counts written, bump gp_gen. */
void gp_trace_new_locked(void);
/* The final counts, the END record, the last frame; the file closed. */
void gp_trace_end_locked(int reason);
/* The trace file's path (for the perf map beside it). */
const char *gp_trace_path(void);
/* May a failed exec start a new trace (buffers there, no failure reported)? */
int gp_trace_can_restart(void);
/* The writer lock (compressions one at a time; taken after the trace lock), for fork. */
void gp_trace_writer_lock(void);
void gp_trace_writer_unlock(void);
/* In a fork child: both locks free, the parent's pending buffer not written. */
void gp_trace_fork_child(void);

#pragma GCC visibility pop

#endif
