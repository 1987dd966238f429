/* lifecycle.c - start, fork, exec and exit of the traced process (see lifecycle.h). */
#define _GNU_SOURCE
#include "lifecycle.h"

#include "blocks.h"
#include "counts.h"
#include "flusher.h"
#include "ialloc.h"
#include "modules.h"
#include "options.h"
#include "perfmap.h"
#include "stacks.h"
#include "tbuf.h"
#include "tls.h"
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

static void read_env(void)
{
	if (gp_options_read() > 0)
		gp_state = GP_STATE_OFF;
}

/* Begin a trace in the (empty) buffer: magic, process, modules. Trace lock held. */
static void start_trace_locked(void)
{
	if (gp_trace_begin_locked())
		gp_modules_sync_locked();
}

int gp_init(void)
{
	int s = __atomic_load_n(&gp_state, __ATOMIC_ACQUIRE);
	if (s == GP_STATE_ON)
		return 1;
	if (s == GP_STATE_OFF)
		return 0;
	int expect = GP_STATE_UNINIT;
	if (!__atomic_compare_exchange_n(&gp_state, &expect, GP_STATE_INITING, 0,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* Another thread is initializing: wait for it (only possible at the very start). */
		while (__atomic_load_n(&gp_state, __ATOMIC_ACQUIRE) == GP_STATE_INITING)
			sched_yield();
		return __atomic_load_n(&gp_state, __ATOMIC_ACQUIRE) == GP_STATE_ON;
	}
	read_env();
	if (gp_state == GP_STATE_OFF)
		return 0;
	uintptr_t lo, hi;
	gp_modules_self(&lo, &hi);
	gp_stacks_init(lo, hi);
	int ok = gp_trace_init();
	ok &= gp_tbuf_init();
	if (!ok) {
		gp_fail("out of memory", ENOMEM);
		return 0;
	}
	gp_trace_lock();
	__atomic_store_n(&gp_state, GP_STATE_ON, __ATOMIC_RELEASE);
	start_trace_locked();
	gp_trace_unlock();
	return gp_state == GP_STATE_ON;
}

/* A thread exits (the counts' pthread key destructor, on that thread). */
static void thread_gone(void *arg)
{
	gp_tbuf_thread_exit();
	gp_counts_thread_gone(arg);
	gp_stacks_thread_exit(); /* runs on the exiting thread itself */
}

/* ---- fork ---- */

/* Lock order, everywhere: a thread buffer's lock, trace lock, writer lock, the counts'
 * registry, block shards, free ids, ialloc (a flush sums the threads' counts under the
 * trace lock, then hands the buffer to the writer). Buffer locks are not taken for fork:
 * the child starts every buffer afresh. */
static void fork_prepare(void)
{
	/* Everything recorded goes to the file, and the flusher out of the way (flusher.h);
	 * the trace lock is not held yet. Not in a child of vfork: no handlers run there. */
	if (gp_flusher_running && getpid() == gp_pid && !gp_tls.busy) {
		gp_trace_drain();
		gp_flusher_pause();
	}
	gp_stacks_fork_prepare(); /* unwinding holds none of our locks */
	gp_trace_lock();
	gp_trace_writer_lock(); /* no compression half done in the child's copy */
	gp_counts_lock();
	gp_blocks_lock_all();
	gp_tbuf_ids_lock();
	gp_ialloc_lock();
}

static void fork_parent(void)
{
	gp_ialloc_unlock();
	gp_tbuf_ids_unlock();
	gp_blocks_unlock_all();
	gp_counts_unlock();
	gp_trace_writer_unlock();
	gp_trace_unlock();
	gp_stacks_fork_done(0);
}

/* Everything of the parent's trace stays the parent's: the child gets a fresh trace. */
static void new_trace_locked(void)
{
	gp_trace_new_locked();
	gp_counts_reset();
	gp_stacks_new_trace();
	gp_modules_new_trace();
	start_trace_locked();
}

/* Start the flusher, noting the allocations glibc makes for it (COUNTS' own). */
static void flusher_start_counted(void)
{
	uint64_t before[5], after[5];
	gp_counts_sum(before);
	gp_flusher_start();
	gp_counts_sum(after);
	gp_counts_own_add(after[0] - before[0]);
}

static void fork_child(void)
{
	int saved_errno = errno; /* the child's trace is opened and begun here, inside fork() */
	gp_counts_fork_child();
	gp_ialloc_unlock();
	gp_blocks_unlock_all();
	gp_tls.tnum = 0;
	gp_tls.cold = 0; /* a relocation the parent records */
	gp_tbuf_fork_child();
	gp_trace_fork_child();
	gp_stacks_fork_done(1);
	gp_flusher_forget();
	gp_trace_lock();
	if (gp_state == GP_STATE_ON) {
		new_trace_locked();
		/* The child's trace exists from its first moment: a pool worker terminated
		 * before it recorded much still leaves one. */
		gp_trace_flush_locked(0);
	}
	int on = gp_state == GP_STATE_ON;
	gp_trace_unlock();
	if (on)
		flusher_start_counted();
	errno = saved_errno;
}

void gp_init_late(void)
{
	gp_init();
	read_env();
	if (gp_state == GP_STATE_OFF)
		return;
	gp_flusher_set_tick(gp_trace_drain);
	/* Registering may allocate: done here, outside any hook, it counts as the program's
	 * allocation both for us and for any interposer in front of us. */
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	gp_counts_key_create(thread_gone);
	gp_trace_lock();
	gp_trace_late_done();
	/* Create the file now: an unwritable place is reported at start, and a process killed
	 * early still leaves a readable (cut short) trace. */
	gp_trace_flush_locked(0);
	int on = gp_state == GP_STATE_ON;
	gp_trace_unlock();
	if (on)
		flusher_start_counted();
}

void gp_finish(int reason)
{
	/* Inside the profiler (a signal handler calling _exit or exec): the locks may be ours,
	 * so the trace stays cut short rather than the process hanging. */
	if (gp_tls.busy)
		return;
	gp_trace_lock();
	int mine = gp_state == GP_STATE_ON && getpid() == gp_pid;
	if (mine) /* no more records: the buffers can be emptied for good */
		gp_tb_finishing = 1;
	gp_trace_unlock();
	if (mine)
		gp_tbuf_move_all();
	gp_trace_lock();
	if (mine && gp_state == GP_STATE_ON) {
		gp_trace_end_locked(reason);
		gp_perfmap_keep(gp_trace_path(), gp_pid); /* JIT and interpreter frames' names */
		gp_state = GP_STATE_OFF;
	}
	gp_tb_finishing = 0; /* tracing is off now (or was not ours to finish) */
	gp_trace_unlock();
}

void gp_restart_after_exec(void)
{
	gp_trace_lock();
	if (gp_state == GP_STATE_OFF && gp_trace_can_restart() && getpid() == gp_pid) {
		gp_state = GP_STATE_ON;
		new_trace_locked();
		gp_trace_flush_locked(0); /* the new trace exists at once, as every trace does */
	}
	gp_trace_unlock();
}
