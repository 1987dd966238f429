/* collector.c - blocks, chains and steps become trace records (see collector.h). */
#define _GNU_SOURCE
#include "collector.h"

#include "gp_format.h"
#include "gp_record.h"
#include "gp_writer.h"
#include "ialloc.h"
#include "modules.h"
#include "shadow.h"
#include "stacks.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int gp_state;
int gp_pid;
unsigned gp_gen = 1;
unsigned gp_depth = 64;

__thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

#define BUF_CAP (1u << 19)   /* raw records between two compressions (two buffers) */
#define ORIGIN_CALLSITE 0x80000000u

/* A spinlock (yielding when the holder is busy compressing): cheaper than a mutex for the
 * few dozen instructions a step holds it. */
static volatile int trace_mu;
static uint8_t *buf;
static size_t buf_len;
static int out_fd = -1;
static int writer_ready;
static struct gp_writer writer;
static char out_pattern[1024] = "growprof.%e.%p.zst";
static char out_path[1200];
static uint64_t t0;
/*
 * Chain ids are recycled slots: a chain's id is free again once its CHAIN_END is written, so
 * the ids of live chains stay small enough to sit in a block's shadow entry next to its
 * slack (no table lookup for a step). Ids past the slots (more than 8M live chains) are
 * never reused and kept in the block table. A chain belongs to this trace if it began in
 * this trace generation (a fork child inherits its parent's blocks, not its chains).
 */
#define SLOT_IDS GP_SH_SLOT_MASK
struct slot_info {
	uint32_t origin, gen;
};
static struct slot_info *slots;
static uint32_t *free_ids;
static uint32_t nfree, capfree;
static uint32_t next_id = 1, overflow_id = SLOT_IDS + 1;
static uint32_t next_tnum;
static uint32_t last_chain; /* chain ids are written as deltas from the previous one */

/* Chain ids in CHAIN, STEP and CHAIN_END records: a zigzag delta from the last one written
 * (steps of a few busy chains interleave; absolute ids cost most of the trace's bytes). */
static inline void put_chain(struct gp_rec *r, uint32_t chain)
{
	gp_rec_z(r, (int64_t)chain - (int64_t)last_chain);
	last_chain = chain;
}
static int fail_reported;
static int late_done;
static uint64_t last_flush;   /* gp_now() of the last flush */
#define FLUSH_EVERY 500000000ull /* ns: a killed process loses at most this much */

/* Cumulative counters of this trace. Relaxed atomics: exact, and no lock on the hot path. */
static uint64_t n_allocs, n_frees, n_failed, n_steps, n_chains;

static inline void add(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline void add_n(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
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

static void thread_gone(void *arg)
{
	struct gp_tls *t = arg;
	pthread_mutex_lock(&threads_mu);
	for (unsigned i = 0; i < nthreads; i++)
		if (threads[i] == t) {
			threads[i] = threads[--nthreads];
			break;
		}
	add_n(&n_allocs, t->allocs);
	add_n(&n_frees, t->frees);
	t->allocs = t->frees = 0;
	t->reg = -1; /* whatever it frees on its way out goes to the globals */
	pthread_mutex_unlock(&threads_mu);
	gp_stacks_thread_exit(); /* runs on the exiting thread itself */
}

void gp_count_slow(int is_free)
{
	struct gp_tls *t = &gp_tls;
	if (t->reg == 0 && have_key) {
		pthread_mutex_lock(&threads_mu);
		if (nthreads < MAX_THREADS && pthread_setspecific(thread_key, t) == 0) {
			threads[nthreads++] = t;
			t->reg = 1;
		} else {
			t->reg = -1;
		}
		pthread_mutex_unlock(&threads_mu);
		if (t->reg > 0) {
			if (is_free)
				gp_count_free();
			else
				gp_count_alloc();
			return;
		}
	}
	add(is_free ? &n_frees : &n_allocs);
}

/* All allocs and frees so far, of every thread. */
static void sum_counts(uint64_t *allocs, uint64_t *frees)
{
	pthread_mutex_lock(&threads_mu);
	uint64_t a = __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
	uint64_t f = __atomic_load_n(&n_frees, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < nthreads; i++) {
		a += __atomic_load_n(&threads[i]->allocs, __ATOMIC_RELAXED);
		f += __atomic_load_n(&threads[i]->frees, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&threads_mu);
	*allocs = a;
	*frees = f;
}

uint64_t gp_now(void)
{
	/* Coarse: a memory read in the vDSO. The precise clock cost as much as unwinding. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0;
}

void gp_trace_lock(void)
{
	unsigned spins = 0;
	while (__atomic_exchange_n(&trace_mu, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&trace_mu, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
}

static uint8_t *pending_claim(size_t *len);
static void pending_done(uint8_t *p, size_t len);

void gp_trace_unlock(void)
{
	size_t len = 0;
	uint8_t *full = pending_claim(&len);
	__atomic_store_n(&trace_mu, 0, __ATOMIC_RELEASE);
	if (full)
		pending_done(full, len);
}

/* ---- allocation-free messages ---- */

static size_t cat(char *dst, size_t pos, size_t cap, const char *s)
{
	while (*s && pos + 1 < cap)
		dst[pos++] = *s++;
	dst[pos] = 0;
	return pos;
}

static size_t cat_u(char *dst, size_t pos, size_t cap, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 23);
	while (n > 0 && pos + 1 < cap)
		dst[pos++] = tmp[--n];
	dst[pos] = 0;
	return pos;
}

void gp_fail(const char *what, int err)
{
	gp_state = GP_STATE_OFF;
	if (__atomic_exchange_n(&fail_reported, 1, __ATOMIC_RELAXED))
		return;
	char msg[1600];
	size_t n = cat(msg, 0, sizeof msg, "growprof: ");
	n = cat(msg, n, sizeof msg, what);
	if (err) {
		n = cat(msg, n, sizeof msg, ": ");
		const char *d = strerrordesc_np(err); /* untranslated: no allocation */
		n = cat(msg, n, sizeof msg, d ? d : "error");
	}
	n = cat(msg, n, sizeof msg, "; profiling stopped, the program continues\n");
	int saved = errno;
	ssize_t wr = write(2, msg, n);
	(void)wr;
	errno = saved;
}

/* ---- the output file ---- */

static size_t exe_name(char *dst, size_t cap)
{
	char path[1024];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return cat(dst, 0, cap, "unknown");
	path[n] = 0;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t k = 0;
	for (; *base && k + 1 < cap; base++) /* keep file names tame */
		dst[k++] = (*base == '/' || *base < ' ') ? '_' : *base;
	dst[k] = 0;
	return k;
}

/* Expand %p, %e and %% of the pattern; `attempt` > 0 adds ".N" before a ".zst" suffix. */
static void expand_path(char *dst, size_t cap, unsigned attempt)
{
	size_t n = 0;
	char exe[256];
	exe_name(exe, sizeof exe);
	for (const char *p = out_pattern; *p && n + 1 < cap; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n = cat_u(dst, n, cap, (uint64_t)gp_pid);
			p++;
		} else if (p[0] == '%' && p[1] == 'e') {
			n = cat(dst, n, cap, exe);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			dst[n++] = '%';
			p++;
		} else {
			dst[n++] = *p;
		}
	}
	dst[n] = 0;
	if (attempt) {
		char suffix[8] = "";
		if (n >= 4 && strcmp(dst + n - 4, ".zst") == 0) {
			n -= 4;
			memcpy(suffix, ".zst", 5);
			dst[n] = 0;
		}
		n = cat(dst, n, cap, ".");
		n = cat_u(dst, n, cap, attempt);
		cat(dst, n, cap, suffix);
	}
}

static void *zalloc(void *opaque, size_t n) { (void)opaque; return gp_ialloc(n); }
static void zfree(void *opaque, void *p) { (void)opaque; gp_ifree(p); }

/* Open the trace file: never over an existing one (an exec'd image with the same name and
 * pid, a fixed GROWPROF_OUTPUT shared by children). @return 0 or -errno. */
static int open_output(void)
{
	int fd = -1;
	for (unsigned attempt = 0; attempt < 1000; attempt++) {
		expand_path(out_path, sizeof out_path, attempt);
		fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	/* Out of the way of the program's own descriptors (it may have closed 0-2). */
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
	if (hi < 0)
		hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	ZSTD_customMem mem = { zalloc, zfree, NULL };
	int rc = gp_writer_init(&writer, fd, 1, mem);
	if (rc) {
		close(fd);
		return rc;
	}
	out_fd = fd;
	writer_ready = 1;
	return 0;
}

static void put_counts(void)
{
	uint8_t *p = buf + buf_len;
	struct gp_rec r;
	gp_rec_begin(&r, p);
	uint64_t allocs, frees;
	sum_counts(&allocs, &frees);
	gp_rec_u(&r, allocs);
	gp_rec_u(&r, frees);
	gp_rec_u(&r, __atomic_load_n(&n_failed, __ATOMIC_RELAXED));
	gp_rec_u(&r, __atomic_load_n(&n_steps, __ATOMIC_RELAXED));
	gp_rec_u(&r, __atomic_load_n(&n_chains, __ATOMIC_RELAXED));
	buf_len += gp_rec_end(&r, GP_TAG_COUNTS);
}

#define COUNTS_MAX (GP_REC_HEADER + 5 * GP_VARINT_MAX)

/* Compress and write the buffer (trace lock held). `end` closes the zstd frame. */
/*
 * Two raw buffers: when one is full it is handed over ("pending") and the thread that filled
 * it compresses it right after releasing the trace lock, while others go on filling the
 * other one. The writer lock keeps compressions one at a time and in order; it is taken
 * after the trace lock, never before.
 */
static uint8_t *spare, *pending;
static size_t pending_len;
static volatile int writer_mu;

static void writer_lock(void)
{
	while (__atomic_exchange_n(&writer_mu, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&writer_mu, __ATOMIC_RELAXED))
			sched_yield(); /* a compression takes milliseconds */
}

static void writer_unlock(void) { __atomic_store_n(&writer_mu, 0, __ATOMIC_RELEASE); }

/* Compress and write raw trace bytes (writer lock held). */
static void write_out(const uint8_t *data, size_t len, int end)
{
	if (gp_state != GP_STATE_ON)
		return;
	if (!writer_ready) {
		int rc = open_output();
		if (rc) {
			char what[1300];
			size_t n = cat(what, 0, sizeof what, "cannot create trace ");
			cat(what, n, sizeof what, out_path);
			gp_fail(what, -rc);
			return;
		}
	}
	int rc = gp_writer_put(&writer, data, len, end);
	if (rc) {
		char what[1300];
		size_t n = cat(what, 0, sizeof what, "cannot write trace ");
		cat(what, n, sizeof what, out_path);
		gp_fail(what, -rc);
	}
}

/* Hand the buffer over for compression, or (end, or no spare buffer) write it out now. Trace
 * lock held. `end` closes the zstd frame. */
static void flush_locked(int end)
{
	if (gp_state != GP_STATE_ON || !buf)
		return;
	if (!late_done && !end)
		return; /* before our constructor we do not know GROWPROF_OUTPUT yet: keep it */
	if (!end) /* the final counts precede the END record (gp_finish) */
		put_counts();
	writer_lock(); /* waits for a compression under way */
	if (pending) { /* not claimed yet: it goes first */
		write_out(pending, pending_len, 0);
		spare = pending;
		pending = NULL;
	}
	if (end || !spare) {
		write_out(buf, buf_len, end);
	} else {
		pending = buf;
		pending_len = buf_len;
		buf = spare;
		spare = NULL;
	}
	buf_len = 0;
	writer_unlock();
	last_flush = gp_now();
}

/* A full buffer waiting for compression, claimed with the writer lock (trace lock held). */
static uint8_t *pending_claim(size_t *len)
{
	uint8_t *p = pending;
	if (!p)
		return NULL;
	writer_lock();
	pending = NULL;
	*len = pending_len;
	return p;
}

/* Compress it (trace lock released, writer lock held) and make it the spare again. */
static void pending_done(uint8_t *p, size_t len)
{
	write_out(p, len, 0);
	spare = p;
	writer_unlock();
}

uint8_t *gp_trace_reserve(size_t max)
{
	if (gp_state != GP_STATE_ON || !buf)
		return NULL;
	if (buf_len + max + COUNTS_MAX > BUF_CAP) {
		flush_locked(0);
		if (gp_state != GP_STATE_ON)
			return NULL;
		if (buf_len + max + COUNTS_MAX > BUF_CAP) {
			/* Still no room: we are before our constructor and must keep everything. */
			gp_fail("trace buffer full before start-up finished", 0);
			return NULL;
		}
	}
	return buf + buf_len;
}

void gp_trace_commit(size_t n) { buf_len += n; }

/* ---- trace start ---- */

static size_t read_file(const char *path, char *dst, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	while (n < cap) {
		ssize_t k = read(fd, dst + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	return n;
}

/* Begin a trace in the (empty) buffer: magic, process, modules. Trace lock held. */
static void start_trace_locked(void)
{
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	t0 = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec;
	gp_pid = getpid();
	buf_len = 0;
	last_chain = 0;
	memcpy(buf, GP_MAGIC, GP_MAGIC_LEN);
	buf[GP_MAGIC_LEN] = GP_FORMAT_VERSION;
	buf_len = GP_MAGIC_LEN + 1;

	static char exe[4096], cmd[65536];
	ssize_t en = readlink("/proc/self/exe", exe, sizeof exe);
	if (en < 0)
		en = 0;
	size_t cn = read_file("/proc/self/cmdline", cmd, sizeof cmd);
	uint8_t *p = gp_trace_reserve(GP_REC_HEADER + 6 * GP_VARINT_MAX + (size_t)en + cn + 2 * GP_VARINT_MAX);
	if (!p)
		return;
	struct gp_rec r;
	gp_rec_begin(&r, p);
	gp_rec_u(&r, (uint64_t)gp_pid);
	gp_rec_u(&r, (uint64_t)getppid());
	gp_rec_u(&r, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
	gp_rec_u(&r, t0);
	gp_rec_bytes(&r, exe, (size_t)en);
	gp_rec_bytes(&r, cmd, cn);
	gp_rec_u(&r, gp_depth);
	gp_trace_commit(gp_rec_end(&r, GP_TAG_PROCESS));
	gp_modules_sync_locked();
}

static void read_env(void)
{
	if (!environ)
		return; /* too early in start-up: gp_init_late reads it again */
	const char *v = getenv("GROWPROF_DISABLE");
	if (v && *v && strcmp(v, "0") != 0)
		gp_state = GP_STATE_OFF;
	v = getenv("GROWPROF_DEPTH");
	if (v && *v) {
		unsigned long d = strtoul(v, NULL, 10);
		gp_depth = d < 1 ? 1 : d > GP_DEPTH_MAX ? GP_DEPTH_MAX : (unsigned)d;
	}
	v = getenv("GROWPROF_OUTPUT");
	if (v && *v) {
		size_t n = strlen(v);
		if (n < sizeof out_pattern)
			memcpy(out_pattern, v, n + 1);
	}
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
	buf = gp_imap(BUF_CAP);
	spare = gp_imap(BUF_CAP); /* without it, flushes simply compress in place */
	if (!buf) {
		gp_fail("out of memory", ENOMEM);
		return 0;
	}
	gp_trace_lock();
	__atomic_store_n(&gp_state, GP_STATE_ON, __ATOMIC_RELEASE);
	start_trace_locked();
	gp_trace_unlock();
	return gp_state == GP_STATE_ON;
}

/* ---- fork ---- */

/* Lock order, everywhere: trace lock, writer lock, threads_mu, block shards, ialloc (a flush
 * sums the threads' counts under the trace lock, then hands the buffer to the writer). */
static void fork_prepare(void)
{
	gp_trace_lock();
	writer_lock(); /* no compression half done in the child's copy */
	pthread_mutex_lock(&threads_mu);
	gp_blocks_lock_all();
	gp_ialloc_lock();
}

static void fork_parent(void)
{
	gp_ialloc_unlock();
	gp_blocks_unlock_all();
	pthread_mutex_unlock(&threads_mu);
	writer_unlock();
	gp_trace_unlock();
}

/* Everything of the parent's trace stays the parent's: the child gets a fresh trace. */
static void new_trace_locked(void)
{
	if (writer_ready)
		gp_writer_release(&writer);
	writer_ready = 0;
	if (out_fd >= 0)
		close(out_fd);
	out_fd = -1;
	n_allocs = n_frees = n_failed = n_steps = n_chains = 0;
	pthread_mutex_lock(&threads_mu);
	for (unsigned i = 0; i < nthreads; i++) /* a new trace counts from zero */
		__atomic_store_n(&threads[i]->allocs, 0, __ATOMIC_RELAXED),
		__atomic_store_n(&threads[i]->frees, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&threads_mu);
	gp_gen++;
	gp_stacks_new_trace();
	gp_modules_new_trace();
	start_trace_locked();
}

static void fork_child(void)
{
	/* Only the forking thread lives on in the child. */
	pthread_mutex_init(&threads_mu, NULL);
	nthreads = 0;
	if (gp_tls.reg > 0)
		threads[nthreads++] = &gp_tls;
	gp_ialloc_unlock();
	gp_blocks_unlock_all();
	trace_mu = 0; /* the forking thread held it across fork() */
	writer_mu = 0;
	if (pending) { /* the parent's records: not ours to write */
		if (!spare)
			spare = pending;
		pending = NULL;
	}
	gp_tls.tnum = 0;
	gp_trace_lock();
	if (gp_state == GP_STATE_ON)
		new_trace_locked();
	gp_trace_unlock();
}

void gp_init_late(void)
{
	gp_init();
	read_env();
	if (gp_state == GP_STATE_OFF)
		return;
	/* Registering may allocate: done here, outside any hook, it counts as the program's
	 * allocation both for us and for any interposer in front of us. */
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (pthread_key_create(&thread_key, thread_gone) == 0)
		have_key = thread_key < 32;
	gp_trace_lock();
	late_done = 1;
	/* Create the file now: an unwritable place is reported at start, and a process killed
	 * early still leaves a readable (cut short) trace. */
	flush_locked(0);
	gp_trace_unlock();
}

void gp_finish(int reason)
{
	gp_trace_lock();
	if (gp_state == GP_STATE_ON && getpid() == gp_pid) {
		late_done = 1;
		uint8_t *p = gp_trace_reserve(GP_REC_HEADER + 2 * GP_VARINT_MAX);
		if (p) {
			put_counts();
			p = buf + buf_len;
			struct gp_rec r;
			gp_rec_begin(&r, p);
			gp_rec_u(&r, (uint64_t)reason);
			gp_rec_u(&r, gp_now());
			gp_trace_commit(gp_rec_end(&r, GP_TAG_END));
		}
		flush_locked(1);
		if (writer_ready)
			gp_writer_release(&writer);
		writer_ready = 0;
		if (out_fd >= 0)
			close(out_fd);
		out_fd = -1;
		gp_state = GP_STATE_OFF;
	}
	gp_trace_unlock();
}

void gp_restart_after_exec(void)
{
	gp_trace_lock();
	if (gp_state == GP_STATE_OFF && buf && getpid() == gp_pid && !fail_reported) {
		gp_state = GP_STATE_ON;
		new_trace_locked();
	}
	gp_trace_unlock();
}

/* ---- the events ---- */

static inline uint32_t tnum(void)
{
	if (!gp_tls.tnum)
		gp_tls.tnum = __atomic_add_fetch(&next_tnum, 1, __ATOMIC_RELAXED);
	return gp_tls.tnum;
}

void gp_on_alloc(void *p, size_t size, uint64_t ra, uint64_t cfa)
{
	gp_tls.rq = (uint64_t)p; /* a candidate destination of a relocation */
	gp_tls.rqsize = size;
	gp_tls.nrecs = 0;
	gp_tls.frees_since = 0;
	gp_tls.rq_mmapped = (int)(((const uint64_t *)p)[-1] & 2);
	int hot;
	uint32_t cs = gp_callsite(ra, &hot);
	uint32_t *sh = gp_shadow_slot((uint64_t)p);
	uint64_t slack = gp_usable(p) - size;
	if (!hot && sh && slack <= GP_SH_SLACK_MAX) {
		/* The common case: four bytes in the shadow, no lock, no hashing. */
		uint32_t csf = cs == GP_CALLSITE_NONE ? 0 : cs + 1;
		*sh = GP_SH_KNOWN | (uint32_t)slack << GP_SH_SLACK_SHIFT | csf;
		return;
	}
	struct gp_block b = { .ptr = (uint64_t)p, .size = size, .ref = ORIGIN_CALLSITE | cs,
	                      .kind = GP_BLOCK_ORIGIN };
	if (hot) {
		struct gp_stack_ref sr;
		gp_stack_get(ra, cfa, gp_depth < GP_ORIGIN_DEPTH ? gp_depth : GP_ORIGIN_DEPTH, &sr);
		uint32_t id = gp_stack_ref_id(&sr);
		if (id)
			b.ref = id;
	}
	if (!sh || gp_blocks_put(&b)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	*sh = GP_SH_SIDE;
}

/*
 * What we know of block `p` whose shadow entry is `e`: from the entry itself, or from the
 * block table (taken out of it if `take`). @return 1 if the block is known.
 */
static int block_read(uint64_t p, uint32_t e, int take, struct gp_block *b)
{
	*b = (struct gp_block){ .ptr = p };
	if (e & GP_SH_SIDE)
		return take ? gp_blocks_take(p, b) : gp_blocks_get(p, b);
	if (!(e & GP_SH_KNOWN))
		return 0;
	b->size = gp_usable((const void *)p) - (e >> GP_SH_SLACK_SHIFT & GP_SH_SLACK_MAX);
	if (e & GP_SH_CHAIN) {
		uint32_t slot = e & GP_SH_SLOT_MASK;
		b->ref = slot + 1;
		b->kind = e & GP_SH_RELOC ? GP_BLOCK_RCHAIN : GP_BLOCK_CHAIN;
		b->origin = slots[slot].origin;
		b->gen = slots[slot].gen;
	} else {
		uint32_t csf = e & GP_SH_PAYLOAD;
		b->ref = ORIGIN_CALLSITE | (csf ? csf - 1 : GP_CALLSITE_NONE);
		b->kind = GP_BLOCK_ORIGIN;
	}
	return 1;
}

/* A new chain id (trace lock held), with its origin noted. */
static uint32_t new_chain_id_locked(uint32_t origin)
{
	uint32_t id;
	if (nfree)
		id = free_ids[--nfree];
	else if (next_id <= SLOT_IDS && (slots || (slots = gp_imap((size_t)SLOT_IDS * sizeof *slots))))
		id = next_id++;
	else
		return overflow_id++;
	slots[id - 1] = (struct slot_info){ origin, gp_gen };
	return id;
}

/* The chain's CHAIN_END was written: its id may serve again (trace lock held). */
static void release_chain_id_locked(uint32_t id)
{
	if (id > SLOT_IDS)
		return;
	if (nfree == capfree) {
		uint32_t cap = capfree ? capfree * 2 : 4096;
		uint32_t *f = gp_ialloc(cap * sizeof *f);
		if (!f)
			return; /* the id is simply not reused */
		if (free_ids)
			memcpy(f, free_ids, nfree * sizeof *f);
		gp_ifree(free_ids);
		free_ids = f;
		capfree = cap;
	}
	free_ids[nfree++] = id;
}

/* Is chain `b` (a chain block) one of this trace's? */
static inline int chain_ours(const struct gp_block *b)
{
	return b->gen == gp_gen;
}

static void end_chain_locked(const struct gp_block *b)
{
	if (!chain_ours(b)) { /* began in the parent's trace (before fork): not in ours */
		release_chain_id_locked(b->ref);
		return;
	}
	uint8_t *p = gp_trace_reserve(GP_REC_HEADER + GP_VARINT_MAX);
	if (p) {
		struct gp_rec r;
		gp_rec_begin(&r, p);
		put_chain(&r, b->ref);
		gp_trace_commit(gp_rec_end(&r, GP_TAG_CHAIN_END));
	}
	release_chain_id_locked(b->ref);
}

static void end_chain(const struct gp_block *b)
{
	gp_trace_lock();
	end_chain_locked(b);
	gp_trace_unlock();
}

/* The origin stack id of a block about to start a chain (trace lock held). */
static uint32_t origin_of_locked(const struct gp_block *b)
{
	if (b->kind != GP_BLOCK_ORIGIN) /* a chain of the other kind, or of before fork */
		return b->origin ? gp_stack_intern_id_locked(b->origin) : 0;
	if (b->ref & ORIGIN_CALLSITE) {
		uint32_t cs = b->ref & ~ORIGIN_CALLSITE;
		if (cs == GP_CALLSITE_NONE)
			return 0;
		uint64_t ra = gp_callsite_heat(cs);
		return gp_stack_intern_locked(&ra, 1);
	}
	uint32_t origin = gp_stack_intern_id_locked(b->ref);
	gp_callsite_chain(gp_stack_first(origin));
	return origin;
}

/* Write a CHAIN record for a new chain (trace lock held). @return its id, and its origin's
 * stack id in *origin_out. */
static uint32_t begin_chain_locked(const struct gp_block *b, unsigned kind, uint32_t *origin_out)
{
	uint32_t origin = origin_of_locked(b);
	uint32_t chain = new_chain_id_locked(origin);
	*origin_out = origin;
	uint8_t *rp = gp_trace_reserve(GP_REC_HEADER + 5 * GP_VARINT_MAX);
	if (rp) {
		struct gp_rec rec;
		gp_rec_begin_small(&rec, rp);
		put_chain(&rec, chain);
		gp_rec_u(&rec, origin);
		gp_rec_u(&rec, b->size);
		gp_rec_u(&rec, gp_now());
		if (kind != GP_CHAIN_REALLOC)
			gp_rec_u(&rec, kind);
		gp_trace_commit(gp_rec_end(&rec, GP_TAG_CHAIN));
	}
	return chain;
}

static void put_step_locked(uint32_t chain, uint32_t sid, uint64_t old, uint64_t n,
                            unsigned flags, const uint64_t *copied)
{
	uint8_t *rp = gp_trace_reserve(GP_REC_HEADER + 8 * GP_VARINT_MAX);
	if (!rp)
		return;
	struct gp_rec rec;
	uint64_t now = gp_now();
	gp_rec_begin_small(&rec, rp); /* 8 varints at most */
	put_chain(&rec, chain);
	gp_rec_u(&rec, sid);
	gp_rec_z(&rec, (int64_t)(n - old));
	gp_rec_u(&rec, flags);
	gp_rec_u(&rec, now);
	gp_rec_u(&rec, tnum());
	if (copied)
		gp_rec_u(&rec, *copied);
	gp_trace_commit(gp_rec_end(&rec, GP_TAG_STEP));
	if (now - last_flush > FLUSH_EVERY)
		flush_locked(0);
}

/*
 * Make `q` (size n) a block of chain `chain` of `kind`, begun at stack `origin`: in its
 * shadow entry when slack and id fit, else in the block table. `side` tells whether q has
 * a block table entry now (to drop it or replace it).
 */
static void chain_block(uint64_t q, uint64_t n, uint32_t chain, uint32_t kind, uint32_t origin,
                        int side)
{
	uint32_t *sh = gp_shadow_slot(q);
	uint64_t slack = gp_usable((const void *)q) - n;
	if (sh && slack <= GP_SH_SLACK_MAX && chain <= SLOT_IDS) {
		if (side) {
			struct gp_block stale;
			gp_blocks_take(q, &stale);
		}
		*sh = GP_SH_KNOWN | GP_SH_CHAIN | (uint32_t)slack << GP_SH_SLACK_SHIFT |
		      (kind == GP_BLOCK_RCHAIN ? GP_SH_RELOC : 0) | (chain - 1);
		return;
	}
	struct gp_block nb = { .ptr = q, .size = n, .ref = chain, .kind = kind, .origin = origin,
	                       .gen = gp_gen };
	if (!sh || gp_blocks_put(&nb)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	*sh = GP_SH_SIDE;
}

void gp_note_copy_slow(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n)
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
	if (i == GP_RELOC_RECS) { /* full: replace the smallest, if this one is bigger */
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

/*
 * Read `n` bytes at `addr` of this process without faulting if they are gone: the watched
 * block may have been handed to another thread and freed there, and glibc unmaps a freed
 * mmapped block at once. @return 0 if all bytes were read.
 */
static int safe_read(void *dst, uint64_t addr, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)addr, n };
	int saved = errno;
	ssize_t got = syscall(SYS_process_vm_readv, (long)gp_pid, &local, 1UL, &remote, 1UL, 0UL);
	errno = saved;
	return got == (ssize_t)n ? 0 : -1;
}

/* Do `a` (in the old block, live) and `b` (in the watched block) hold the same bytes over
 * `n`, checked at both ends (at most 64 bytes each)? */
static int same_bytes(const uint8_t *a, uint64_t b, uint64_t n, int careful)
{
	uint64_t k = n < 64 ? n : 64;
	uint8_t head[64], tail[64];
	if (careful) {
		if (safe_read(head, b, k) || safe_read(tail, b + n - k, k))
			return 0;
	} else {
		memcpy(head, (const void *)b, k);
		memcpy(tail, (const void *)(b + n - k), k);
	}
	return memcmp(a, head, k) == 0 && memcmp(a + n - k, tail, k) == 0;
}

/* Length of the common prefix of q and old (at most n), and whether it holds two different
 * byte values (a zeroed or uniformly filled prefix proves nothing). */
static uint64_t common_prefix(const uint8_t *q, const uint8_t *old, uint64_t n, int *varied)
{
	uint64_t i = 0;
	*varied = 0;
	for (; i < n && q[i] == old[i]; i++)
		if (i && old[i] != old[0])
			*varied = 1;
	return i;
}

/*
 * The thread frees `old` (known as *b) after allocating a larger block `q`. It is a
 * relocation step old -> q when the thread copied data from `old` into `q` (seen through
 * memcpy & co., and still there), or, for copies the compiler inlined, when this is the
 * thread's first free since allocating `q` and `q` starts with most of `old`'s (non-uniform)
 * bytes. @return nonzero if it was one (chains handled).
 */
static int relocation(uint64_t old, const struct gp_block *b, uint64_t ra, uint64_t cfa)
{
	struct gp_tls *t = &gp_tls;
	uint64_t q = t->rq, qsize = t->rqsize, oldsize = b->size, copied = 0;
	if (!oldsize || qsize <= oldsize || q == old)
		return 0;
	uint32_t qe = gp_shadow_get(q);
	if (!qe) { /* q was freed (by another thread: ours clears t->rq) */
		t->rq = 0;
		t->nrecs = 0;
		return 0;
	}
	for (uint32_t i = 0; i < t->nrecs; i++) {
		const struct gp_copy_rec *c = &t->recs[i];
		/* Copies from this block, whose data is still in q: a copy recorded from a block
		 * another thread freed since (and reused for this one) does not match. */
		if (c->src_lo >= old && c->src_hi <= old + oldsize &&
		    same_bytes((const uint8_t *)c->first_src, c->first_src + c->delta, c->first_n,
		               t->rq_mmapped))
			copied += c->bytes;
	}
	if (!copied && t->frees_since == 0 && !t->rq_mmapped) {
		int varied;
		uint64_t m = common_prefix((const uint8_t *)q, (const uint8_t *)old, oldsize, &varied);
		if (varied && m >= (oldsize + 1) / 2)
			copied = m;
	}
	if (!copied)
		return 0;
	t->nrecs = 0;
	t->rq = 0;
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, gp_depth, &sr);
	gp_trace_lock();
	uint32_t chain, origin;
	if (b->kind == GP_BLOCK_RCHAIN && chain_ours(b)) {
		chain = b->ref;
		origin = b->origin;
	} else {
		if (b->kind != GP_BLOCK_ORIGIN) /* a realloc chain (or a parent's) ends here */
			end_chain_locked(b);
		chain = begin_chain_locked(b, GP_CHAIN_RELOCATION, &origin);
	}
	uint32_t sid = gp_stack_ref_id_locked(&sr);
	put_step_locked(chain, sid, oldsize, qsize, GP_STEP_MOVED, &copied);
	gp_trace_unlock();
	/* The new block carries the chain on, instead of whatever it had as a plain block. */
	chain_block(q, qsize, chain, GP_BLOCK_RCHAIN, origin, !!(qe & GP_SH_SIDE));
	return 1;
}

void gp_on_free(void *p, uint64_t ra, uint64_t cfa)
{
	uint64_t old = (uint64_t)p;
	uint32_t *sh = gp_shadow_find(old);
	uint32_t e = sh ? *sh : 0;
	struct gp_block b;
	int have = block_read(old, e, 1, &b);
	struct gp_tls *t = &gp_tls;
	if (old == t->rq) /* the watched block itself goes away */
		t->rq = 0, t->nrecs = 0;
	int reloc = have && t->rq && (t->nrecs || t->frees_since == 0) &&
	            gp_state == GP_STATE_ON && relocation(old, &b, ra, cfa);
	t->frees_since++;
	if (e) /* the block is gone: a relocation watching it from another thread sees that */
		*sh = 0;
	if (!reloc && have && b.kind != GP_BLOCK_ORIGIN)
		end_chain(&b);
}

void gp_realloc_begin(void *p, struct gp_realloc *r)
{
	uint32_t e = gp_shadow_get((uint64_t)p);
	r->e = e;
	if ((uint64_t)p == gp_tls.rq) /* the watched block is resized: no longer a fresh block */
		gp_tls.rq = 0, gp_tls.nrecs = 0;
	/* A table entry is left in place: an in-place step replaces it with one operation. */
	r->known = block_read((uint64_t)p, e, 0, &r->b);
	r->side = !!(e & GP_SH_SIDE) && r->known;
	if (!r->known) {
		/* Not seen allocated (before we were loaded?): the best size we have. */
		r->b.size = malloc_usable_size(p);
		r->b.ref = ORIGIN_CALLSITE | GP_CALLSITE_NONE;
		r->b.kind = GP_BLOCK_ORIGIN;
	}
	/* glibc's chunk header: IS_MMAPPED is bit 1 of the size word before the block. Read it
	 * now: after a move the old block is gone. */
	r->mmapped = (int)(((const size_t *)p)[-1] & 2);
}

void gp_realloc_end(void *p, void *q, size_t n, struct gp_realloc *r, uint64_t ra,
                    uint64_t cfa)
{
	if (!q) { /* failed: the block and its chain go on unchanged */
		add(&n_failed); /* its entries were left as they were */
		return;
	}
	add(&n_steps);
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, gp_depth, &sr);
	uint64_t old = r->b.size;
	unsigned flags = 0;
	if (q != p)
		flags = GP_STEP_MOVED | (r->mmapped ? GP_STEP_REMAP : 0);

	gp_trace_lock();
	uint32_t chain, origin;
	if (r->b.kind == GP_BLOCK_CHAIN && chain_ours(&r->b)) {
		chain = r->b.ref;
		origin = r->b.origin;
	} else {
		if (r->b.kind != GP_BLOCK_ORIGIN) /* a relocation chain, or a parent's chain */
			end_chain_locked(&r->b);
		chain = begin_chain_locked(&r->b, GP_CHAIN_REALLOC, &origin);
		add(&n_chains);
	}
	uint32_t sid = gp_stack_ref_id_locked(&sr);
	put_step_locked(chain, sid, old, n, flags, NULL);
	gp_trace_unlock();
	int side = r->side;
	if (q != p) {
		/* glibc freed p: forget it, unless it was handed out again meanwhile (then its
		 * entries are the new block's). A stale chain entry left at p could later be
		 * read for a block allocated there behind our back and end a live chain. */
		uint32_t *sh = gp_shadow_find((uint64_t)p), e = r->e;
		if (sh && e)
			__atomic_compare_exchange_n(sh, &e, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		if (side)
			gp_blocks_drop(&r->b);
		side = 0;
	}
	chain_block((uint64_t)q, n, chain, GP_BLOCK_CHAIN, origin, side);
}
