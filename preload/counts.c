/* counts.c - the trace's counters, per thread and global (see counts.h). */
#define _GNU_SOURCE
#include "counts.h"

#include <errno.h>
#include <pthread.h>

uint64_t gp_n_allocs, gp_n_frees, gp_n_failed, gp_n_steps, gp_n_chains;
/* Of gp_n_allocs, those glibc made for the flusher thread (its TLS): an interposer in front
 * of us counts them as the program's, and so do we, but a process that made no allocator
 * call of its own must still be said to (viewer/silent.c). COUNTS carries it. */
static uint64_t n_own;

/*
 * Per-thread counters: each thread registers its gp_tls once; a pthread key's destructor
 * folds its counts into the globals when it exits. Only keys below 32 live in glibc's static
 * array (setspecific allocates for the others), so with a later key every thread just uses
 * the global atomics.
 */
#define MAX_THREADS 4096
static struct gp_tls *threads[MAX_THREADS];
static unsigned nthreads;
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static int have_key;

void gp_counts_thread_gone(struct gp_tls *t)
{
	pthread_mutex_lock(&threads_mu);
	for (unsigned i = 0; i < nthreads; i++)
		if (threads[i] == t) {
			threads[i] = threads[--nthreads];
			break;
		}
	gp_counts_add(&gp_n_allocs, t->allocs);
	gp_counts_add(&gp_n_frees, t->frees);
	gp_counts_add(&gp_n_steps, t->steps);
	gp_counts_add(&gp_n_chains, t->chains);
	gp_counts_add(&gp_n_failed, t->failed);
	t->allocs = t->frees = t->steps = t->chains = t->failed = 0;
	t->reg = -1; /* whatever it frees on its way out goes to the globals */
	t->sh_li = 0; /* ... through the slow paths */
	pthread_mutex_unlock(&threads_mu);
}

void gp_count_slow(int is_free)
{
	struct gp_tls *t = &gp_tls;
	if (t->reg == 0 && have_key) {
		/* pthread_setspecific may allocate: busy, and errno kept (hooks.c calls this
		 * from its fast paths) */
		int outer = t->busy, e = errno;
		t->busy = 1;
		pthread_mutex_lock(&threads_mu);
		if (nthreads < MAX_THREADS && pthread_setspecific(thread_key, t) == 0) {
			threads[nthreads++] = t;
			t->reg = 1;
		} else {
			t->reg = -1;
		}
		pthread_mutex_unlock(&threads_mu);
		t->busy = outer;
		errno = e;
		if (t->reg > 0) {
			if (is_free)
				gp_count_free();
			else
				gp_count_alloc();
			return;
		}
	}
	gp_counts_add(is_free ? &gp_n_frees : &gp_n_allocs, 1);
}

void gp_counts_sum(uint64_t c[5])
{
	pthread_mutex_lock(&threads_mu);
	c[0] = __atomic_load_n(&gp_n_allocs, __ATOMIC_RELAXED);
	c[1] = __atomic_load_n(&gp_n_frees, __ATOMIC_RELAXED);
	c[2] = __atomic_load_n(&gp_n_failed, __ATOMIC_RELAXED);
	c[3] = __atomic_load_n(&gp_n_steps, __ATOMIC_RELAXED);
	c[4] = __atomic_load_n(&gp_n_chains, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < nthreads; i++) {
		c[0] += __atomic_load_n(&threads[i]->allocs, __ATOMIC_RELAXED);
		c[1] += __atomic_load_n(&threads[i]->frees, __ATOMIC_RELAXED);
		c[2] += __atomic_load_n(&threads[i]->failed, __ATOMIC_RELAXED);
		c[3] += __atomic_load_n(&threads[i]->steps, __ATOMIC_RELAXED);
		c[4] += __atomic_load_n(&threads[i]->chains, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&threads_mu);
}

uint64_t gp_counts_own(void) { return __atomic_load_n(&n_own, __ATOMIC_RELAXED); }

void gp_counts_own_add(uint64_t n) { gp_counts_add(&n_own, n); }

void gp_counts_reset(void)
{
	gp_n_allocs = gp_n_frees = gp_n_failed = gp_n_steps = gp_n_chains = n_own = 0;
	pthread_mutex_lock(&threads_mu);
	for (unsigned i = 0; i < nthreads; i++) { /* a new trace counts from zero */
		struct gp_tls *t = threads[i];
		__atomic_store_n(&t->allocs, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->frees, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->steps, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->chains, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->failed, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&threads_mu);
}

void gp_counts_key_create(void (*gone)(void *))
{
	if (pthread_key_create(&thread_key, gone) == 0)
		have_key = thread_key < 32;
}

void gp_counts_lock(void) { pthread_mutex_lock(&threads_mu); }

void gp_counts_unlock(void) { pthread_mutex_unlock(&threads_mu); }

void gp_counts_fork_child(void)
{
	/* Only the forking thread lives on in the child. */
	pthread_mutex_init(&threads_mu, NULL);
	nthreads = 0;
	if (gp_tls.reg > 0)
		threads[nthreads++] = &gp_tls;
}
