/*
 * flusher.h - the profiler's one thread of its own: it moves what the program's threads
 * recorded to the trace file every GP_FLUSH_TICK, so that a process killed by a signal
 * (SIGKILL, SIGTERM's default action, a pool's terminate()) or one that sits idle for good
 * loses at most the last ~50 ms of its events. What is written(2) survives the process: the
 * kernel keeps it.
 *
 * Invisible to the program as far as a thread can be: it blocks every signal, allocates
 * nothing through malloc once running, opens no file descriptor (the program may be about
 * to open 0, 1 or 2), and never keeps the process alive: when it is the last thread left
 * (the main thread called pthread_exit, then the others ended) it calls exit(0) as glibc's
 * last thread would have.
 */
#ifndef GP_FLUSHER_H
#define GP_FLUSHER_H

#ifndef GP_FLUSH_TICK
#define GP_FLUSH_TICK 50000000 /* ns between two drains */
#endif

/* What the thread does on every tick (the layer above's drain): set before the first start. */
void gp_flusher_set_tick(void (*fn)(void));

/* Start the thread (from the constructor, and in a fork child, which has none: threads do
 * not survive fork). Called outside every lock of ours and with gp_tls.busy clear: what
 * pthread_create allocates is the program's for us and for any interposer in front of us.
 * @return nonzero if it runs. */
int gp_flusher_start(void);

/* In a fork child, before gp_flusher_start: the parent's thread is not there. */
void gp_flusher_forget(void);

/* Stop the thread and wait until it is gone (unshare and setns of a user namespace need a
 * single-threaded process). Later gp_flusher_start() brings it back. */
void gp_flusher_stop(void);

/* Nonzero if the calling thread is the flusher. */
int gp_flusher_self(void);

/* Nonzero while the thread runs: the program's threads leave periodic flushes to it. */
extern int gp_flusher_running;

/*
 * fork: the parent stops the thread before forking (after moving every buffer to the file)
 * and starts it again with the first record it writes after: a runtime that counts its
 * threads right after fork (CPython 3.12 warns "This process is multi-threaded, use of
 * fork() may lead to deadlocks" from /proc/self/stat) sees only its own, and nothing
 * recorded waits without the thread. gp_flusher_resume() may be called anywhere (locks
 * held, gp_tls.busy set): it usually reuses the stopped thread's cached stack, so creating
 * it allocates nothing.
 */
void gp_flusher_pause(void);
extern int gp_flusher_wanted;
void gp_flusher_resume(void);
static inline void gp_flusher_due(void)
{
	if (__builtin_expect(__atomic_load_n(&gp_flusher_wanted, __ATOMIC_RELAXED), 0))
		gp_flusher_resume();
}

#endif
