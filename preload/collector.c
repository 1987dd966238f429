/* collector.c - blocks, chains and steps become trace records (see collector.h). */
#define _GNU_SOURCE
#include "collector.h"

#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "gp_segcols.h"
#include "gp_writer.h"
#include "flusher.h"
#include "ialloc.h"
#include "modules.h"
#include "perfmap.h"
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int gp_state;
int gp_pid;
unsigned gp_gen = 1;
unsigned gp_depth = 64;

__thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

#define BUF_CAP (1u << 17)   /* raw records between two compressions (two buffers) */
#define ORIGIN_CALLSITE 0x80000000u

/* A spinlock (yielding when the holder is busy compressing): cheaper than a mutex for the
 * few dozen instructions a step holds it. */
static volatile int trace_mu;
static uint8_t *buf;
static size_t buf_len;
static int out_fd = -1;
static dev_t out_dev;  /* the trace file out_fd was opened on: a program may close every */
static ino_t out_ino;  /* descriptor (a subprocess child before exec) and reuse the number */
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
struct slot_info { /* 8 bytes: a million live chains take 8 MiB */
	uint32_t origin;
	uint16_t gen;   /* low bits of the trace generation */
	uint16_t where; /* (buffer its last record went to: index + 1, 0 for none) << 4 | the low
	                 * 4 bits of that buffer's seq then (a match may be stale: harmless) */
};
#define WHERE(tb) ((uint16_t)(((tb)->idx + 1) << 4 | ((tb)->seq & 15)))
static struct slot_info *slots;
static uint32_t next_tnum;
static int fail_reported;
static int late_done;
static uint64_t last_flush;   /* gp_now() of the last flush */
/* ns: how often the program's own threads flush the trace when the flusher (flusher.h) is
 * not running; with it, they leave that to it. */
#define FLUSH_EVERY 500000000ull
/* ns: a thread's buffer older than this moves to the trace on its next record, in case the
 * flusher keeps finding it busy. */
#define TB_MAX_AGE ((uint64_t)GP_FLUSH_TICK / 2)

/* Cumulative counters of this trace, of threads that have none of their own (see below).
 * Relaxed atomics: exact, and no lock. */
static uint64_t n_allocs, n_frees, n_failed, n_steps, n_chains;
/* Of n_allocs, those glibc made for the flusher thread (its TLS): an interposer in front of
 * us counts them as the program's, and so do we, but a process that made no allocator call
 * of its own must still be said to (viewer/silent.c). COUNTS carries it. */
static uint64_t n_own;

static inline void add_n(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

/* Count one step, chain or failed realloc: in the thread's own counter when it has one. */
#define COUNT(field)                                                                   \
	do {                                                                           \
		if (__builtin_expect(gp_tls.reg > 0, 1))                               \
			gp_tls_bump(&gp_tls.field);                                    \
		else                                                                   \
			add_n(&n_##field, 1);                                          \
	} while (0)

/* A spinlock that yields when the holder is slow (it may be compressing). */
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

static void tb_thread_exit(void);
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
	tb_thread_exit();
	pthread_mutex_lock(&threads_mu);
	for (unsigned i = 0; i < nthreads; i++)
		if (threads[i] == t) {
			threads[i] = threads[--nthreads];
			break;
		}
	add_n(&n_allocs, t->allocs);
	add_n(&n_frees, t->frees);
	add_n(&n_steps, t->steps);
	add_n(&n_chains, t->chains);
	add_n(&n_failed, t->failed);
	t->allocs = t->frees = t->steps = t->chains = t->failed = 0;
	t->reg = -1; /* whatever it frees on its way out goes to the globals */
	t->sh_li = 0; /* ... through the slow paths */
	pthread_mutex_unlock(&threads_mu);
	gp_stacks_thread_exit(); /* runs on the exiting thread itself */
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
	add_n(is_free ? &n_frees : &n_allocs, 1);
}

/* The counters so far, of every thread: allocs, frees, failed, steps, chains. */
static void sum_counts(uint64_t c[5])
{
	pthread_mutex_lock(&threads_mu);
	c[0] = __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
	c[1] = __atomic_load_n(&n_frees, __ATOMIC_RELAXED);
	c[2] = __atomic_load_n(&n_failed, __ATOMIC_RELAXED);
	c[3] = __atomic_load_n(&n_steps, __ATOMIC_RELAXED);
	c[4] = __atomic_load_n(&n_chains, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < nthreads; i++) {
		c[0] += __atomic_load_n(&threads[i]->allocs, __ATOMIC_RELAXED);
		c[1] += __atomic_load_n(&threads[i]->frees, __ATOMIC_RELAXED);
		c[2] += __atomic_load_n(&threads[i]->failed, __ATOMIC_RELAXED);
		c[3] += __atomic_load_n(&threads[i]->steps, __ATOMIC_RELAXED);
		c[4] += __atomic_load_n(&threads[i]->chains, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&threads_mu);
}

uint64_t gp_now(void)
{
	/* Coarse: a memory read in the vDSO. The precise clock cost as much as unwinding. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0;
}

void gp_trace_lock(void) { spin_lock(&trace_mu); }

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

/*
 * GROWPROF_OUTPUT naming a folder (a trailing '/', or an existing directory): the trace goes
 * in it under its default name, the folder and its missing parents created 0700 (a run
 * folder is private). Syscalls only: this runs in the program, maybe from a malloc.
 */
static size_t into_folder(char *dst, size_t n, size_t cap, const char *exe)
{
	struct stat st;
	int slash = n > 0 && dst[n - 1] == '/', saved = errno;
	/* errno kept: a fork child opens its trace inside fork(), where ENOENT must not leak */
	int dir = slash || (stat(dst, &st) == 0 && S_ISDIR(st.st_mode));
	for (size_t i = 1; slash && i < n; i++)
		if (dst[i] == '/') {
			dst[i] = 0;
			mkdir(dst, 0700); /* EEXIST for all but the missing ones */
			dst[i] = '/';
		}
	errno = saved;
	if (!dir)
		return n;
	if (!slash)
		n = cat(dst, n, cap, "/");
	n = cat(dst, n, cap, "growprof.");
	n = cat(dst, n, cap, exe);
	n = cat(dst, n, cap, ".");
	n = cat_u(dst, n, cap, (uint64_t)gp_pid);
	return cat(dst, n, cap, ".zst");
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
	n = into_folder(dst, n, cap, exe);
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
		/* Private (it holds the command line): 0600, which a umask can only make
		 * stricter; O_EXCL never opens an existing file nor follows a symlink. */
		fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	struct stat st;
	if (fstat(fd, &st) == 0) {
		out_dev = st.st_dev;
		out_ino = st.st_ino;
	}
	writer_ready = 1;
	return 0;
}

/* Is out_fd still our trace file? */
static int fd_ours(void)
{
	struct stat st;
	return out_fd >= 0 && fstat(out_fd, &st) == 0 && st.st_dev == out_dev &&
	       st.st_ino == out_ino;
}

/* The program closed our descriptor (a fork child closing all before exec): open the same
 * file again, by its path, never a file put in its place. In a program's thread only: the
 * flusher opens nothing (flusher.h). @return 0 or -errno. */
static int reopen_output(void)
{
	int fd = open(out_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_dev != out_dev || st.st_ino != out_ino) {
		close(fd);
		return -ESTALE;
	}
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	out_fd = fd;
	writer.fd = fd;
	return 0;
}

/* Close out_fd if it is still ours (never a descriptor of the program's). */
static void close_output(void)
{
	if (fd_ours())
		close(out_fd);
	out_fd = -1;
}

static uint64_t put_c[5]; /* the counts last written (trace lock) */

static void put_counts(void)
{
	uint64_t *c = put_c;
	sum_counts(c);
	struct gp_counts_rec x = {
		.allocs = c[0], .frees = c[1], .failed = c[2], .steps = c[3], .chains = c[4],
		.own = __atomic_load_n(&n_own, __ATOMIC_RELAXED), .with_own = 1,
	};
	buf_len += gp_enc_counts(buf + buf_len, &x);
}

#define COUNTS_MAX GP_COUNTS_REC_MAX

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
static void write_out_cancellable(const uint8_t *data, size_t len, int end);

/* open() and write() are cancellation points: a thread cancelled there would leave the trace
 * and writer locks held for good. */
static void write_out(const uint8_t *data, size_t len, int end)
{
	int old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	write_out_cancellable(data, len, end);
	pthread_setcancelstate(old, NULL);
}

static void write_out_cancellable(const uint8_t *data, size_t len, int end)
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
	if (!fd_ours()) {
		/* Our descriptor is gone. The flusher leaves this to the program's thread that
		 * flushes next (or finishes at exec): what it drops here never reached the
		 * compressor, so the file stays a valid stream. */
		if (gp_flusher_self())
			return;
		int rc = reopen_output();
		if (rc) {
			char what[1300];
			size_t n = cat(what, 0, sizeof what, "cannot reopen trace ");
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

/* The flusher stopped for a fork comes back (flusher.h): only inside the profiler, where
 * what pthread_create might allocate goes straight to the allocator, never to our locks
 * (a failed exec's new trace, outside, holds the trace lock). */
static inline void flusher_due(void)
{
	if (gp_tls.busy)
		gp_flusher_due();
}

uint8_t *gp_trace_reserve(size_t max)
{
	if (gp_state != GP_STATE_ON || !buf)
		return NULL;
	flusher_due();
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

/* ---- per-thread buffers of chain records ---- */

/*
 * CHAIN, STEP and CHAIN_END records are written to a buffer of the thread's own, under a lock
 * only it takes in the common case, and move to the trace in segments (a SEGMENT record
 * naming the thread, then its records) when the buffer fills, when its oldest record is
 * FLUSH_EVERY old, and when the trace is flushed or finished. Other records (STACK, MODULE,
 * COUNTS...) go to the trace at once, so whatever a chain record refers to precedes it.
 *
 * The records of one chain must stay in order, and a chain id must not begin again before
 * its CHAIN_END. So each chain slot remembers the buffer its last record went to and that
 * buffer's seq then: a thread about to write of a chain whose last record may still sit in
 * another thread's buffer moves that buffer to the trace first (claim), and a freed id is
 * reused by the thread that freed it, or by anyone once its buffer has moved.
 *
 * Lock order: a buffer's lock, then the trace lock (others' buffers only by trylock then);
 * never two buffer locks at once. Threads without a buffer of their own (exiting, too many)
 * share tbufs[0], which moves to the trace whenever another thread starts writing to it.
 */
#define TB_CAP (16u << 10)
#define TB_IDS 256
#define MAX_TB 4095 /* index + 1 fits 12 bits (struct slot_info) */

struct gp_tbuf {
	volatile int mu;
	uint32_t idx;          /* tbufs[idx] */
	uint32_t seq;          /* bumped every time its records move to the trace */
	uint32_t tnum;         /* the thread of the current segment */
	int used;              /* a thread owns it (tbufs[0]: always) */
	struct gp_codec codec; /* of the segment: chain ids and times are deltas */
	uint64_t now, first_time;
	size_t len;
	uint32_t nrec, nstep;  /* records of the segment, and of them STEPs */
	uint32_t nids;         /* free chain ids this buffer's threads may reuse */
	uint32_t ids[TB_IDS];
	uint8_t data[TB_CAP];
};
static struct gp_tbuf *tbufs[MAX_TB];
static uint32_t ntbufs;  /* trace lock */
static int tb_off;       /* chain slots ran out: everyone writes to tbufs[0] */
static int finishing;    /* gp_finish is moving the buffers out: write no more */

/* Free chain ids of no buffer, a list threaded through their own (unused) slots: the next
 * free id is in the slot's origin field. ids_mu is a leaf lock. */
static volatile int ids_mu;
static uint32_t free_head; /* 0: none */
static uint32_t next_id = 1, overflow_id = SLOT_IDS + 1;

static inline uint32_t tnum(void)
{
	if (!gp_tls.tnum)
		gp_tls.tnum = __atomic_add_fetch(&next_tnum, 1, __ATOMIC_RELAXED);
	return gp_tls.tnum;
}

static void ids_give(const uint32_t *ids, uint32_t n)
{
	spin_lock(&ids_mu);
	for (uint32_t i = 0; i < n; i++) {
		slots[ids[i] - 1] = (struct slot_info){ .origin = free_head };
		free_head = ids[i];
	}
	spin_unlock(&ids_mu);
}

/* The scratch of gp_segcols_encode, for a buffer's segment (trace lock held): its pages
 * are only touched as far as the columns reach. */
static uint8_t *scratch;
static int segcols_scratch(void)
{
	if (!scratch)
		scratch = gp_imap(GP_SEGCOLS_SCRATCH(TB_CAP));
	return scratch != NULL;
}

/*
 * Move the buffer's records to the trace (its lock and the trace lock held). A segment of
 * mostly STEPs (long chains growing in turn: a synthetic's string builders) goes by
 * columns, which zstd compresses about twice as fast as the records one after the other,
 * where every chain id breaks the matches between steps; other segments (short chains
 * begun, stepped and ended over and over: an interpreter's, a database's) stay as they
 * are: their records repeat whole, and compress to half the bytes of their columns.
 */
static void tb_move_locked(struct gp_tbuf *tb)
{
	if (tb->len) {
		int cols = (uint64_t)tb->nstep * 4 >= (uint64_t)tb->nrec * 3 && segcols_scratch();
		uint8_t *p = gp_trace_reserve(tb->len + (cols ? GP_SEGCOLS_SLACK : 0));
		if (p) {
			size_t n = cols ? gp_segcols_encode(tb->data, tb->len, p, scratch) : 0;
			if (!n) {
				memcpy(p, tb->data, tb->len);
				n = tb->len;
			}
			gp_trace_commit(n);
		}
		tb->len = 0;
		tb->nrec = tb->nstep = 0;
	}
	__atomic_store_n(&tb->seq, tb->seq + 1, __ATOMIC_RELEASE);
}

/* Trace lock held: move every other idle buffer holding records, then flush the trace. */
static void flush_all_locked(struct gp_tbuf *self)
{
	for (uint32_t i = 0; i < ntbufs; i++) {
		struct gp_tbuf *t = tbufs[i];
		if (t == self || !__atomic_load_n(&t->len, __ATOMIC_RELAXED) || !spin_trylock(&t->mu))
			continue;
		tb_move_locked(t);
		spin_unlock(&t->mu);
	}
	flush_locked(0);
}

/* Move the buffer's records to the trace (its lock held); flush the trace when due. */
static void tb_move(struct gp_tbuf *tb)
{
	gp_trace_lock();
	tb_move_locked(tb);
	if (late_done && !gp_flusher_running && gp_now() - last_flush > FLUSH_EVERY)
		flush_all_locked(tb);
	gp_trace_unlock();
}

#define ALWAYS_INLINE inline __attribute__((always_inline))

static GP_COLD struct gp_tbuf *tb_get_slow(void)
{
	struct gp_tls *t = &gp_tls;
	if (!t->tb && !t->tb_gone && !tb_off && tbufs[0]) {
		uint32_t me = tnum();
		gp_trace_lock();
		struct gp_tbuf *nb = NULL;
		for (uint32_t i = 1; i < ntbufs && !nb; i++)
			if (!tbufs[i]->used)
				nb = tbufs[i];
		if (!nb && ntbufs < MAX_TB && (nb = gp_ialloc(sizeof *nb))) {
			memset(nb, 0, offsetof(struct gp_tbuf, data));
			gp_codec_init(&nb->codec, GP_FORMAT_VERSION);
			nb->idx = ntbufs;
			tbufs[ntbufs++] = nb;
		}
		if (nb) {
			nb->used = 1;
			nb->tnum = me;
		}
		gp_trace_unlock();
		t->tb = nb;
		if (nb)
			return nb;
	}
	return tbufs[0];
}

/* The calling thread's buffer (not locked), or the shared one. */
static ALWAYS_INLINE struct gp_tbuf *tb_get(void)
{
	struct gp_tls *t = &gp_tls;
	if (__builtin_expect(t->tb != NULL, 1) && !tb_off)
		return t->tb;
	return tb_get_slow();
}

/* The shared buffer: one thread per segment. */
static GP_COLD void tb_enter_shared(struct gp_tbuf *tb)
{
	uint32_t me = tnum();
	if (tb->tnum != me) {
		if (tb->len)
			tb_move(tb);
		tb->tnum = me;
	}
}

/* Lock the buffer to write records. @return 0 (unlocked) if tracing is off or finishing. */
static ALWAYS_INLINE int tb_enter(struct gp_tbuf *tb)
{
	if (!tb)
		return 0;
	spin_lock(&tb->mu);
	if (__builtin_expect(gp_state != GP_STATE_ON || finishing, 0)) {
		spin_unlock(&tb->mu);
		return 0;
	}
	tb->now = gp_now();
	if (__builtin_expect(tb->idx == 0, 0))
		tb_enter_shared(tb);
	return 1;
}

static ALWAYS_INLINE void tb_leave(struct gp_tbuf *tb)
{
	if (__builtin_expect(tb->now - tb->first_time > TB_MAX_AGE || (tb_off && tb->idx), 0) &&
	    tb->len)
		tb_move(tb);
	spin_unlock(&tb->mu);
}

static GP_COLD uint8_t *tb_room_slow(struct gp_tbuf *tb, size_t max)
{
	flusher_due(); /* stopped for a fork: the first record after it brings it back */
	if (tb->len + max > TB_CAP)
		tb_move(tb);
	if (!tb->len) {
		tb->len = gp_enc_segment(tb->data, &tb->codec, tb->tnum);
		tb->first_time = tb->now;
	}
	return tb->data + tb->len;
}

/* Room for a record of at most `max` bytes (lock held); a segment begins if it is empty. */
static ALWAYS_INLINE uint8_t *tb_room(struct gp_tbuf *tb, size_t max)
{
	if (__builtin_expect(tb->len && tb->len + max <= TB_CAP, 1))
		return tb->data + tb->len;
	return tb_room_slow(tb, max);
}

/* A record of `chain` is written to `tb`: notes where the chain's records are. */
static inline void note_chain(struct gp_tbuf *tb, uint32_t chain)
{
	if (chain <= SLOT_IDS) {
		/* written once per segment, not per record: slots of two threads' chains share
		 * cache lines */
		uint16_t w = WHERE(tb);
		if (slots[chain - 1].where != w)
			slots[chain - 1].where = w;
	}
}

/*
 * The chain's last record may still be in another buffer: move that one to the trace first.
 * Called holding no buffer lock. A chain is used by one thread at a time (the program hands
 * a block over), so nobody adds to its records meanwhile.
 */
static GP_COLD void claim_slow(uint32_t where)
{
	struct gp_tbuf *o = tbufs[(where >> 4) - 1];
	if ((__atomic_load_n(&o->seq, __ATOMIC_ACQUIRE) & 15) != (where & 15))
		return; /* it moved since */
	spin_lock(&o->mu);
	if ((o->seq & 15) == (where & 15) && o->len)
		tb_move(o);
	spin_unlock(&o->mu);
}

static ALWAYS_INLINE void claim(const struct gp_tbuf *mine, uint32_t chain)
{
	if (chain == 0 || chain > SLOT_IDS || !mine)
		return;
	uint32_t where = slots[chain - 1].where, t = where >> 4;
	if (__builtin_expect(!t || t == mine->idx + 1 || t > ntbufs, 1))
		return;
	claim_slow(where);
}

/* A new chain id for a chain begun at `origin` (buffer lock held). */
static uint32_t chain_id_new(struct gp_tbuf *tb, uint32_t origin)
{
	uint32_t id = 0;
	if (tb->nids) {
		id = tb->ids[--tb->nids];
	} else {
		spin_lock(&ids_mu);
		if (free_head) {
			id = free_head;
			free_head = slots[id - 1].origin;
		}
		else if (next_id <= SLOT_IDS &&
		         (slots || (slots = gp_imap((size_t)SLOT_IDS * sizeof *slots))))
			id = next_id++;
		spin_unlock(&ids_mu);
	}
	if (id) {
		slots[id - 1] = (struct slot_info){ .origin = origin, .gen = gp_gen };
		return id;
	}
	/* Out of slots (8M live chains): ids are never reused, and the chains' blocks keep
	 * them in the block table, which has no room for where their records are. From now
	 * on every record goes through the shared buffer, and this one goes now. */
	__atomic_store_n(&tb_off, 1, __ATOMIC_RELAXED);
	return __atomic_fetch_add(&overflow_id, 1, __ATOMIC_RELAXED);
}

/* The chain's CHAIN_END (if any) is in the buffer: its id may serve again (lock held). */
static GP_HOT void chain_id_release(struct gp_tbuf *tb, uint32_t id)
{
	if (id > SLOT_IDS)
		return;
	if (tb->nids == TB_IDS) {
		/* Ids go to everyone only once their CHAIN_END records are in the trace. */
		tb_move(tb);
		ids_give(tb->ids + TB_IDS / 2, TB_IDS / 2);
		tb->nids = TB_IDS / 2;
	}
	tb->ids[tb->nids++] = id;
}

/* The thread exits: its records go to the trace, its buffer to the next thread. */
static void tb_thread_exit(void)
{
	struct gp_tbuf *tb = gp_tls.tb;
	gp_tls.tb_gone = 1;
	if (!tb)
		return;
	spin_lock(&tb->mu);
	tb_move(tb);
	ids_give(tb->ids, tb->nids);
	tb->nids = 0;
	gp_tls.tb = NULL;
	__atomic_store_n(&tb->used, 0, __ATOMIC_RELEASE);
	spin_unlock(&tb->mu);
}

/*
 * The flusher's tick (flusher.h): every buffer holding records goes to the trace, unless its
 * thread is writing to it right now (that thread moves it itself once it is TB_MAX_AGE
 * old), and the trace goes to the file if it holds anything new, records or counts. What a
 * process recorded is then in the file within about one tick, busy or idle.
 */
void gp_trace_drain(void)
{
	if (__atomic_load_n(&gp_state, __ATOMIC_ACQUIRE) != GP_STATE_ON || !late_done)
		return;
	if (gp_flusher_self() && writer_ready && !fd_ours())
		return; /* the program closed it: its next flush reopens (write_out) */
	uint32_t n = __atomic_load_n(&ntbufs, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		struct gp_tbuf *t = __atomic_load_n(&tbufs[i], __ATOMIC_ACQUIRE);
		if (!t || !__atomic_load_n(&t->len, __ATOMIC_RELAXED))
			continue;
		int locked = 0;
		for (int spins = 0; spins < 256 && !(locked = spin_trylock(&t->mu)); spins++)
			__builtin_ia32_pause(); /* its thread holds it for one record: wait a bit */
		if (!locked)
			continue;
		if (t->len && !finishing) {
			gp_trace_lock();
			tb_move_locked(t);
			gp_trace_unlock();
		}
		spin_unlock(&t->mu);
	}
	gp_trace_lock();
	if (gp_state == GP_STATE_ON && !finishing) {
		int due = buf_len > 0;
		if (!due) {
			uint64_t c[5];
			sum_counts(c);
			due = memcmp(c, put_c, sizeof c) != 0;
		}
		if (due)
			flush_locked(0);
	}
	gp_trace_unlock(); /* compresses what flush_locked handed over */
}

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
	memcpy(buf, GP_MAGIC, GP_MAGIC_LEN);
	buf[GP_MAGIC_LEN] = GP_FORMAT_VERSION;
	buf_len = GP_MAGIC_LEN + 1;

	static char exe[4096], cmd[65536];
	ssize_t en = readlink("/proc/self/exe", exe, sizeof exe);
	if (en < 0)
		en = 0;
	size_t cn = read_file("/proc/self/cmdline", cmd, sizeof cmd);
	uint8_t *p = gp_trace_reserve(GP_PROCESS_REC_MAX((size_t)en, cn));
	if (!p)
		return;
	struct gp_process_rec x = {
		.pid = (uint64_t)gp_pid, .ppid = (uint64_t)getppid(),
		.start_realtime = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec,
		.start_mono = t0,
		.exe = (const uint8_t *)exe, .exe_len = (size_t)en,
		.cmdline = (const uint8_t *)cmd, .cmdline_len = cn,
		.depth = gp_depth,
	};
	gp_trace_commit(gp_enc_process(p, &x));
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
	tbufs[0] = gp_ialloc(sizeof *tbufs[0]); /* the shared buffer */
	if (!buf || !tbufs[0]) {
		gp_fail("out of memory", ENOMEM);
		return 0;
	}
	memset(tbufs[0], 0, offsetof(struct gp_tbuf, data));
	gp_codec_init(&tbufs[0]->codec, GP_FORMAT_VERSION);
	tbufs[0]->used = 1;
	ntbufs = 1;
	gp_trace_lock();
	__atomic_store_n(&gp_state, GP_STATE_ON, __ATOMIC_RELEASE);
	start_trace_locked();
	gp_trace_unlock();
	return gp_state == GP_STATE_ON;
}

/* ---- fork ---- */

/* Lock order, everywhere: a thread buffer's lock, trace lock, writer lock, threads_mu, block
 * shards, free ids, ialloc (a flush sums the threads' counts under the trace lock, then
 * hands the buffer to the writer). Buffer locks are not taken for fork: the child starts
 * every buffer afresh. */
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
	writer_lock(); /* no compression half done in the child's copy */
	pthread_mutex_lock(&threads_mu);
	gp_blocks_lock_all();
	spin_lock(&ids_mu);
	gp_ialloc_lock();
}

static void fork_parent(void)
{
	gp_ialloc_unlock();
	spin_unlock(&ids_mu);
	gp_blocks_unlock_all();
	pthread_mutex_unlock(&threads_mu);
	writer_unlock();
	gp_trace_unlock();
	gp_stacks_fork_done(0);
}

/* Everything of the parent's trace stays the parent's: the child gets a fresh trace. */
static void new_trace_locked(void)
{
	if (writer_ready)
		gp_writer_release(&writer);
	writer_ready = 0;
	close_output();
	n_allocs = n_frees = n_failed = n_steps = n_chains = n_own = 0;
	memset(put_c, 0, sizeof put_c);
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
	gp_gen++;
	gp_stacks_new_trace();
	gp_modules_new_trace();
	start_trace_locked();
}

/* Start the flusher, noting the allocations glibc makes for it (n_own). */
static void flusher_start_counted(void)
{
	uint64_t before[5], after[5];
	sum_counts(before);
	gp_flusher_start();
	sum_counts(after);
	add_n(&n_own, after[0] - before[0]);
}

static void fork_child(void)
{
	int saved_errno = errno; /* the child's trace is opened and begun here, inside fork() */
	/* Only the forking thread lives on in the child. */
	pthread_mutex_init(&threads_mu, NULL);
	nthreads = 0;
	if (gp_tls.reg > 0)
		threads[nthreads++] = &gp_tls;
	gp_ialloc_unlock();
	ids_mu = 0;
	gp_blocks_unlock_all();
	gp_tls.tnum = 0;
	gp_tls.cold = 0; /* a relocation the parent records */
	/* The buffers hold the parent's records, and the other threads are gone: their
	 * buffers are free, and so are the ids they kept. */
	for (uint32_t i = 0; i < ntbufs; i++) {
		struct gp_tbuf *t = tbufs[i];
		t->mu = 0;
		t->len = 0;
		t->nrec = t->nstep = 0;
		t->seq++;
		if (i && t != gp_tls.tb) {
			ids_give(t->ids, t->nids);
			t->nids = 0;
			t->used = 0;
		}
	}
	if (gp_tls.tb)
		gp_tls.tb->tnum = tnum();
	trace_mu = 0; /* the forking thread held it across fork() */
	gp_stacks_fork_done(1);
	writer_mu = 0;
	if (pending) { /* the parent's records: not ours to write */
		if (!spare)
			spare = pending;
		pending = NULL;
	}
	gp_flusher_forget();
	gp_trace_lock();
	if (gp_state == GP_STATE_ON) {
		new_trace_locked();
		/* The child's trace exists from its first moment: a pool worker terminated
		 * before it recorded much still leaves one. */
		flush_locked(0);
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
		finishing = 1;
	gp_trace_unlock();
	for (uint32_t i = 0; mine && i < ntbufs; i++) {
		spin_lock(&tbufs[i]->mu);
		tb_move(tbufs[i]);
		spin_unlock(&tbufs[i]->mu);
	}
	gp_trace_lock();
	if (mine && gp_state == GP_STATE_ON) {
		late_done = 1;
		uint8_t *p = gp_trace_reserve(GP_END_REC_MAX);
		if (p) {
			put_counts();
			struct gp_end_rec x = { .reason = (uint64_t)reason, .time = gp_now() };
			gp_trace_commit(gp_enc_end(buf + buf_len, &x));
		}
		flush_locked(1);
		if (writer_ready)
			gp_writer_release(&writer);
		writer_ready = 0;
		close_output();
		gp_perfmap_keep(out_path, gp_pid); /* JIT and interpreter frames' names */
		gp_state = GP_STATE_OFF;
	}
	finishing = 0; /* tracing is off now (or was not ours to finish) */
	gp_trace_unlock();
}

void gp_restart_after_exec(void)
{
	gp_trace_lock();
	if (gp_state == GP_STATE_OFF && buf && getpid() == gp_pid && !fail_reported) {
		gp_state = GP_STATE_ON;
		new_trace_locked();
		flush_locked(0); /* the new trace exists at once, as every trace does */
	}
	gp_trace_unlock();
}

/* ---- the events ---- */

/* The origin stack of an allocation at a hot call site. Out of line: its 4 KiB frame (the
 * unwound stack) stays off the common path. */
static __attribute__((noinline)) uint32_t origin_capture(uint64_t ra, uint64_t cfa)
{
	unsigned depth = gp_depth < GP_ORIGIN_DEPTH ? gp_depth : GP_ORIGIN_DEPTH;
	uint32_t id = gp_stack_hit(ra, cfa, depth);
	if (id)
		return id;
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, depth, &sr);
	return gp_stack_ref_id(&sr);
}

/* The stack of a step (gp_depth frames): the thread's cache, else the unwinder. Out of line
 * for the latter: its 4 KiB frame stays off the common path. */
static GP_COLD uint32_t step_stack_slow(uint64_t ra, uint64_t cfa)
{
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, gp_depth, &sr);
	return gp_stack_ref_id(&sr);
}

static inline uint32_t step_stack(uint64_t ra, uint64_t cfa)
{
	uint32_t id = gp_stack_hit(ra, cfa, gp_depth);
	return id ? id : step_stack_slow(ra, cfa);
}

/* gp_on_alloc's other cases (collector.h has the common one): a call site to look up, an
 * origin stack to capture, a part of the shadow to reserve, details that do not fit the
 * entry, or a thread yet to be counted. */
void gp_on_alloc_slow(void *p, size_t size, uint64_t ra, uint64_t cfa)
{
	gp_count_alloc();
	gp_reloc_settle();
	uint32_t csh = gp_callsite(ra);
	uint32_t cs = csh & ~GP_CALLSITE_HOT;
	int hot = !!(csh & GP_CALLSITE_HOT);
	uint32_t *sh = gp_shadow_slot_t(&gp_tls, (uint64_t)p);
	uint64_t slack = gp_usable(p) - size;
	uint32_t id = hot ? origin_capture(ra, cfa) : 0;
	if (sh && slack <= GP_SH_SLACK_MAX && id <= GP_SH_STACK_MAX) {
		/* The common case: four bytes in the shadow, no lock, no hashing. */
		uint32_t payload = id ? GP_SH_STACK | id : cs == GP_CALLSITE_NONE ? 0 : cs + 1;
		*sh = GP_SH_KNOWN | (uint32_t)slack << GP_SH_SLACK_SHIFT | payload;
		return;
	}
	struct gp_block b = { .ptr = (uint64_t)p, .size = size,
	                      .ref = id ? id : ORIGIN_CALLSITE | cs, .kind = GP_BLOCK_ORIGIN };
	if (!sh || gp_blocks_put(&b)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, (uint64_t)p, GP_SH_SIDE, 0);
}

/* What block_read() says of block p whose entry e is KNOWN and not SIDE, from e and the
 * block's size (the block itself may be gone by now). */
static void block_of_entry(uint64_t p, uint32_t e, uint64_t size, struct gp_block *b)
{
	*b = (struct gp_block){ .ptr = p, .size = size };
	if (e & GP_SH_CHAIN) {
		uint32_t slot = e & GP_SH_SLOT_MASK;
		b->ref = slot + 1;
		b->kind = e & GP_SH_RELOC ? GP_BLOCK_RCHAIN : GP_BLOCK_CHAIN;
		b->origin = slots[slot].origin;
		b->gen = slots[slot].gen;
	} else {
		uint32_t payload = e & GP_SH_PAYLOAD;
		if (payload & GP_SH_STACK)
			b->ref = payload & GP_SH_STACK_MAX;
		else
			b->ref = ORIGIN_CALLSITE | (payload ? payload - 1 : GP_CALLSITE_NONE);
		b->kind = GP_BLOCK_ORIGIN;
	}
}

/*
 * What we know of block `p` whose shadow entry is `e`: from the entry itself, or from the
 * block table (taken out of it if `take`). @return 1 if the block is known.
 */
static int block_read(uint64_t p, uint32_t e, int take, struct gp_block *b)
{
	if (e & GP_SH_SIDE) {
		*b = (struct gp_block){ .ptr = p };
		return take ? gp_blocks_take(p, b) : gp_blocks_get(p, b);
	}
	if (!(e & GP_SH_KNOWN)) {
		*b = (struct gp_block){ .ptr = p };
		return 0;
	}
	block_of_entry(p, e, gp_usable((const void *)p) - (e >> GP_SH_SLACK_SHIFT & GP_SH_SLACK_MAX), b);
	return 1;
}

/* Is chain `b` (a chain block) one of this trace's? */
static inline int chain_ours(const struct gp_block *b)
{
	return (uint16_t)b->gen == (uint16_t)gp_gen;
}

/* Write the CHAIN_END of chain block `b` (if it is this trace's) and free its id. */
static void end_chain_in(struct gp_tbuf *tb, const struct gp_block *b)
{
	if (chain_ours(b)) { /* else it began in the parent's trace (before fork) */
		uint8_t *p = tb_room(tb, GP_CHAIN_END_REC_MAX);
		tb->len += gp_enc_chain_end(p, &tb->codec, b->ref);
		note_chain(tb, b->ref);
		tb->nrec++;
	}
	chain_id_release(tb, b->ref);
}

static void end_chain(const struct gp_block *b)
{
	struct gp_tbuf *tb = tb_get();
	claim(tb, b->ref);
	if (!tb_enter(tb))
		return;
	end_chain_in(tb, b);
	tb_leave(tb);
}

/* The origin stack id of a block about to start a chain (no lock held). */
static uint32_t origin_of(const struct gp_block *b)
{
	uint32_t origin;
	if (b->kind != GP_BLOCK_ORIGIN) { /* a chain of the other kind, or of before fork */
		if (!b->origin || chain_ours(b))
			return b->origin; /* written in this trace when its chain began */
		gp_trace_lock();
		origin = gp_stack_intern_id_locked(b->origin);
		gp_trace_unlock();
		return origin;
	}
	if (b->ref & ORIGIN_CALLSITE) {
		uint32_t cs = b->ref & ~ORIGIN_CALLSITE;
		if (cs == GP_CALLSITE_NONE)
			return 0;
		return gp_callsite_origin(cs);
	}
	gp_trace_lock();
	origin = gp_stack_intern_id_locked(b->ref);
	gp_callsite_chain(gp_stack_first(origin));
	gp_trace_unlock();
	return origin;
}

/* Write a CHAIN record for a new chain of a block of `size` bytes (lock held). @return its
 * id. */
static GP_HOT uint32_t begin_chain_in(struct gp_tbuf *tb, uint64_t size, unsigned kind,
                                      uint32_t origin)
{
	uint32_t chain = chain_id_new(tb, origin);
	struct gp_chain_rec x = {
		.chain = chain, .origin = origin, .size = size, .time = tb->now, .kind = kind,
	};
	uint8_t *p = tb_room(tb, GP_CHAIN_REC_MAX);
	tb->len += gp_enc_chain(p, &tb->codec, &x);
	note_chain(tb, chain);
	tb->nrec++;
	return chain;
}

static ALWAYS_INLINE void put_step_in(struct gp_tbuf *tb, uint32_t chain, uint32_t sid, uint64_t old,
                        uint64_t n, unsigned flags, const uint64_t *copied)
{
	struct gp_step_rec x = {
		.chain = chain, .stack = sid, .delta = (int64_t)(n - old), .flags = flags,
		.time = tb->now, .with_copied = copied != NULL, .copied = copied ? *copied : 0,
	};
	uint8_t *p = tb_room(tb, GP_STEP_REC_MAX);
	tb->len += gp_enc_step(p, &tb->codec, &x);
	note_chain(tb, chain);
	tb->nrec++;
	tb->nstep++;
}

/*
 * A step of block `b` (now `n` bytes) by the call whose stack is `sid`: of its chain of `kind`
 * if it has one of this trace, else of a new one (ending a chain of the other kind).
 * @return the chain id and its origin in *origin, or 0 if tracing stopped.
 */
static GP_COLD uint32_t record_step(const struct gp_block *b, unsigned kind, uint32_t sid,
                            uint64_t n, unsigned flags, const uint64_t *copied,
                            uint32_t *origin)
{
	uint32_t bkind = kind == GP_CHAIN_REALLOC ? GP_BLOCK_CHAIN : GP_BLOCK_RCHAIN;
	int cont = b->kind == bkind && chain_ours(b);
	*origin = cont ? b->origin : origin_of(b);
	struct gp_tbuf *tb = tb_get();
	if (b->kind != GP_BLOCK_ORIGIN)
		claim(tb, b->ref);
	if (!tb_enter(tb))
		return 0;
	uint32_t chain;
	if (cont) {
		chain = b->ref;
	} else {
		if (b->kind != GP_BLOCK_ORIGIN) /* a chain of the other kind, or a parent's */
			end_chain_in(tb, b);
		chain = begin_chain_in(tb, b->size, kind, *origin);
	}
	put_step_in(tb, chain, sid, b->size, n, flags, copied);
	tb_leave(tb);
	if (!cont && kind == GP_CHAIN_REALLOC)
		COUNT(chains);
	return chain;
}

/*
 * Make `q` (size n) a block of chain `chain` of `kind`, begun at stack `origin`: in its
 * shadow entry when slack and id fit, else in the block table. `side` tells whether q has
 * a block table entry now (to drop it or replace it).
 */
static GP_COLD void chain_block(uint64_t q, uint64_t n, uint32_t chain, uint32_t kind,
                                uint32_t origin,
                        int side)
{
	uint32_t *sh = gp_shadow_slot_t(&gp_tls, q);
	uint64_t slack = gp_usable((const void *)q) - n;
	if (sh && slack <= GP_SH_SLACK_MAX && chain <= SLOT_IDS) {
		if (side) {
			struct gp_block stale;
			gp_blocks_take(q, &stale);
		}
		gp_shadow_put(sh, q,
		              GP_SH_KNOWN | GP_SH_CHAIN | (uint32_t)slack << GP_SH_SLACK_SHIFT |
		                      (kind == GP_BLOCK_RCHAIN ? GP_SH_RELOC : 0) | (chain - 1),
		              0);
		return;
	}
	struct gp_block nb = { .ptr = q, .size = n, .ref = chain, .kind = kind, .origin = origin,
	                       .gen = gp_gen };
	if (!sh || gp_blocks_put(&nb)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, q, GP_SH_SIDE, 0);
}

/*
 * Relocations, seen at the copy. A copy into the thread's watched block q (the one it
 * allocated last) at offset off <= GP_RELOC_HDR, from the same offset of a live block old
 * that is smaller than q and holds at least GP_RELOC_MIN bytes, is a candidate: the data
 * moves house, whether old is freed now (malloc + memcpy + free), later (a garbage
 * collector, a reference count) or never. The stack is taken then, at the copy: the code
 * that grows the buffer, never the free path. Copies with the same translation add to it
 * (element-wise moves: a std::vector<std::string> moves each short string's characters,
 * a few bytes out of every 32); once they reach across a quarter of what old holds past
 * off (jq copies a string's length into twice as much room: half of its old block, less
 * its header), 64 bytes at least, the thread's next allocator call records it. A
 * candidate that never gets there is dropped. A copy to another offset
 * than it came from (a payload framed behind a header) is not one, nor a copy into a
 * block of no more bytes than its source (a duplicate), nor a few bytes taken from a
 * larger block, nor the first piece of a join (the new block is more than GP_RELOC_RATIO
 * times larger: growth multiplies a size by 2 or 4, and a join of a hundred lines by a
 * hundred). Once moved, old is no source again (reloc_forget): copied again, it is a
 * template, not a buffer that grows.
 */
/* Do copies that reach across `span` bytes of an old block move what it holds past their
 * offset, `held` bytes? A quarter of it, and at least GP_RELOC_MIN bytes: an interpreter
 * building a string from pieces (a path, an f-string) copies a few bytes out of an object
 * it keeps, a hundred times at start-up. */
static inline int reloc_reach(uint64_t span, uint64_t held)
{
	return span * 4 >= held && span >= GP_RELOC_MIN;
}

/* A plain block of no known call site: one whose data moved (reloc_forget), or one the
 * call-site table had no room for. */
#define REF_MOVED (ORIGIN_CALLSITE | GP_CALLSITE_NONE)

/* old's data moved into a new block: old stays a plain block, its size exact (for a realloc
 * of it later), of no known origin, which also says that it is not a relocation's source
 * again. Its entry at sh was e, known as *b. */
static void reloc_forget(uint64_t old, uint32_t *sh, uint32_t e, const struct gp_block *b)
{
	if (e & GP_SH_SIDE) {
		struct gp_block gone, plain = { .ptr = old, .size = b->size, .ref = REF_MOVED,
		                                .kind = GP_BLOCK_ORIGIN };
		if (gp_blocks_take(old, &gone) && gp_blocks_put(&plain))
			gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, old, GP_SH_KNOWN | (e & GP_SH_SLACK_MAX << GP_SH_SLACK_SHIFT),
	              gp_marked(sh, old));
}

/* A relocation chain's block old (entry at sh, known as *b) moves into the watched block
 * now, at the copy, rather than when the step is settled: a garbage collector on another
 * thread may free old before that, and would end the chain. The copy alone already makes
 * it a relocation (its span only grows). */
static void reloc_move_chain(struct gp_tls *t, uint32_t *sh, const struct gp_block *b)
{
	uint32_t *qsh = gp_shadow_find(t->rq), qe = qsh ? *qsh : 0;
	if (!(qe & GP_SH_SIDE) && (qe & (GP_SH_KNOWN | GP_SH_CHAIN)) != GP_SH_KNOWN)
		return;
	reloc_forget(t->cold, sh, t->ce, b);
	chain_block(t->rq, t->rqsize, b->ref, GP_BLOCK_RCHAIN, b->origin, !!(qe & GP_SH_SIDE));
	t->cmoved = 1;
}

/* The candidate's copies reach across enough of old (reloc_reach) with this one, whose
 * caller returns to ra with its stack pointer at cfa: its stack is the step's (taken only
 * now: most candidates of an interpreter never get there), and a relocation chain moves. */
static GP_COLD void reloc_reached(struct gp_tls *t, uint32_t *sh, uint64_t ra, uint64_t cfa)
{
	int *ep = &errno, err = *ep;
	t->busy = 1;
	t->csid = step_stack(ra, cfa);
	t->sh_li = 0; /* the next allocator call takes its slow path, which settles it */
	if (t->cb.kind == GP_BLOCK_RCHAIN && chain_ours(&t->cb) && sh)
		reloc_move_chain(t, sh, &t->cb);
	t->busy = 0;
	*ep = err;
}

static GP_COLD void reloc_candidate(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n,
                                    uint64_t ra, uint64_t cfa)
{
	uint64_t off = dst - t->rq, old = src - off;
	if ((old & 15) || old == t->rq || src < off)
		return;
	uint32_t *sh = gp_shadow_find_t(t, old), e = sh ? *sh : 0;
	if (!(e & (GP_SH_KNOWN | GP_SH_SIDE)))
		return;
	struct gp_block b;
	if (!block_read(old, e, 0, &b) || b.ref == REF_MOVED || b.size < GP_RELOC_MIN ||
	    b.size >= t->rqsize || t->rqsize / GP_RELOC_RATIO > b.size || src + n > old + b.size)
		return;
	t->cold = old;
	t->cb = b;
	t->coldsize = b.size;
	t->ce = e;
	t->cq = t->rq;
	t->cqsize = t->rqsize;
	t->coff = off;
	t->cdelta = dst - src;
	t->cbytes = n;
	t->clo = src;
	t->chi = src + n;
	t->csid = 0;
	t->cmoved = 0;
	if (reloc_reach(n, b.size - off))
		reloc_reached(t, sh, ra, cfa);
}

GP_HOT void gp_reloc_copy(uint64_t dst, uint64_t src, uint64_t n, uint64_t ra, uint64_t cfa)
{
	struct gp_tls *t = &gp_tls;
	if (!n || t->busy)
		return;
	if (t->cold) {
		if (t->cq == t->rq) { /* more of the candidate's copies? */
			if (dst - src == t->cdelta && src >= t->cold &&
			    src + n <= t->cold + t->coldsize) {
				t->cbytes += n;
				t->clo = src < t->clo ? src : t->clo;
				t->chi = src + n > t->chi ? src + n : t->chi;
				if (!t->csid && reloc_reach(t->chi - t->clo, t->coldsize - t->coff))
					reloc_reached(t, gp_shadow_find(t->cold), ra, cfa);
			}
			return;
		}
		if (!t->csid) /* an earlier block's, that never reached far enough: gone */
			t->cold = 0;
	}
	if (dst - t->rq > GP_RELOC_HDR)
		return;
	if (t->rnq != t->rq) { /* the first copy into this block */
		t->rnq = t->rq;
		t->rnotes = 0;
	}
	if (++t->rnotes >= GP_RELOC_NOTES)
		t->rwin = 0; /* an assembly of pieces: enough */
	if (t->cold || gp_state != GP_STATE_ON) /* one of an earlier block, not settled yet */
		return;
	reloc_candidate(t, dst, src, n, ra, cfa);
}

GP_COLD void gp_reloc_settle_slow(void)
{
	struct gp_tls *t = &gp_tls;
	uint64_t old = t->cold, q = t->cq, copied = t->cbytes;
	t->cold = 0;
	uint32_t origin;
	if (!t->csid) /* its copies never reached across enough of old */
		return;
	if (t->cmoved) { /* the chain is in q already: only its step to write */
		if (gp_state == GP_STATE_ON)
			record_step(&t->cb, GP_CHAIN_RELOCATION, t->csid, t->cqsize, GP_STEP_MOVED,
			            &copied, &origin);
		return;
	}
	if (gp_state != GP_STATE_ON || !reloc_reach(t->chi - t->clo, t->coldsize - t->coff))
		return;
	/* q as it was at the copy: another thread may have freed it since. */
	uint32_t qe = gp_shadow_get(q);
	if (!((qe & GP_SH_SIDE) || (qe & (GP_SH_KNOWN | GP_SH_CHAIN)) == GP_SH_KNOWN))
		return;
	/* old is forgotten, if it is still there; if another thread freed it since (and its
	 * address may hold another block now), the copy moved it all the same, unless it was
	 * a chain's: that thread ended the chain. */
	struct gp_block b = t->cb;
	uint32_t *sh = gp_shadow_find(old);
	if (sh && *sh == t->ce) /* (its header is not read again: b has its size) */
		reloc_forget(old, sh, t->ce, &b);
	else if (b.kind != GP_BLOCK_ORIGIN)
		return;
	uint32_t chain = record_step(&b, GP_CHAIN_RELOCATION, t->csid, t->cqsize, GP_STEP_MOVED,
	                             &copied, &origin);
	if (chain) /* the new block carries the chain on */
		chain_block(q, t->cqsize, chain, GP_BLOCK_RCHAIN, origin, !!(qe & GP_SH_SIDE));
}

GP_HOT int gp_free_chain_fast(void *p)
{
	struct gp_tls *t = &gp_tls;
	uint64_t old = (uint64_t)p;
	struct gp_tbuf *tb = t->tb;
	if (!tb || tb_off || t->cold || t->reg <= 0)
		return 0;
	uint32_t *leaf = gp_leaf(t, old);
	if (!leaf)
		return 0;
	uint32_t *sh = gp_leaf_entry(leaf, old), e = *sh;
	if ((e & (GP_SH_KNOWN | GP_SH_CHAIN | GP_SH_SIDE)) != (GP_SH_KNOWN | GP_SH_CHAIN))
		return 0;
	uint32_t slot = e & GP_SH_SLOT_MASK, where = slots[slot].where >> 4;
	if (slots[slot].gen != (uint16_t)gp_gen ||
	    (where && where != tb->idx + 1 && where <= ntbufs))
		return 0; /* a parent's chain, or claim() needed */
	if (!tb_enter(tb))
		return 0;
	uint8_t *rec = tb_room(tb, GP_CHAIN_END_REC_MAX);
	tb->len += gp_enc_chain_end(rec, &tb->codec, slot + 1);
	note_chain(tb, slot + 1);
	tb->nrec++;
	chain_id_release(tb, slot + 1);
	tb_leave(tb);
	if (old == t->rq)
		gp_watch_reset(t);
	gp_shadow_put(sh, old, 0, 1); /* before the real free: see record_free() */
	gp_tls_bump(&t->frees);
	return 1;
}

void gp_on_free_slow(void *p, uint64_t ra, uint64_t cfa)
{
	(void)ra;
	(void)cfa;
	gp_count_free();
	uint64_t old = (uint64_t)p;
	struct gp_tls *t = &gp_tls;
	gp_reloc_settle(); /* first: it may move a chain off this very block */
	if (old == t->rq) /* the watched block itself goes away */
		gp_watch_reset(t);
	uint32_t *sh = gp_shadow_find_t(t, old);
	if (!sh) /* never seen */
		return;
	int marked = gp_marked(sh, old);
	if (!marked)
		return; /* the common case, a plain block: nothing to record, and its entry is
		         * left for the next allocation there to overwrite */
	uint32_t e = *sh;
	struct gp_block b;
	int have = block_read(old, e, 1, &b);
	/* the block is gone: a relocation from another thread sees that */
	if (e && !gp_alloc_entry_shared(e, have, b.size))
		gp_shadow_put(sh, old, 0, marked);
	if (have && b.kind != GP_BLOCK_ORIGIN)
		end_chain(&b);
}

/* gp_realloc_begin of block p whose size word (alloc.h) is h. */
static inline __attribute__((always_inline)) void realloc_begin(void *p, struct gp_realloc *r,
                                                                 uint64_t h)
{
	struct gp_tls *t = &gp_tls;
	if ((uint64_t)p == t->rq) { /* the watched block is resized: no longer a fresh block */
		gp_reloc_settle(); /* (first: a relocation may have moved into it) */
		gp_watch_reset(t);
	}
	uint32_t *she = gp_shadow_find_t(t, (uint64_t)p), e = she ? *she : 0;
	r->e = e;
	/* glibc's IS_MMAPPED bit (never another allocator's). Read it now: after a move the old
	 * block is gone. */
	r->mmapped = (int)(h & GP_CHUNK_MMAPPED);
	if ((e & (GP_SH_KNOWN | GP_SH_SIDE)) == GP_SH_KNOWN) { /* the common case */
		r->lazy = 1;
		r->known = 1;
		r->side = 0;
		r->b.size = gp_chunk_usable(h) - (e >> GP_SH_SLACK_SHIFT & GP_SH_SLACK_MAX);
		return;
	}
	r->lazy = 0;
	/* A table entry is left in place: an in-place step replaces it with one operation. */
	r->known = block_read((uint64_t)p, e, 0, &r->b);
	r->side = !!(e & GP_SH_SIDE) && r->known;
	if (!r->known) {
		/* Not seen allocated (before we were loaded?): the best size we have. */
		r->b.size = gp_usable(p);
		r->b.ref = ORIGIN_CALLSITE | GP_CALLSITE_NONE;
		r->b.kind = GP_BLOCK_ORIGIN;
	}
}

static __attribute__((noinline)) void realloc_begin_foreign(void *p, struct gp_realloc *r)
{
	realloc_begin(p, r, gp_alloc_word_foreign(p));
}

/* Another allocator's size word is a call away: asked out of line (a tail call), so that
 * glibc's path stays as it was. */
GP_HOT void gp_realloc_begin(void *p, struct gp_realloc *r)
{
	if (__builtin_expect(!gp_alloc_glibc, 0)) {
		realloc_begin_foreign(p, r);
		return;
	}
	realloc_begin(p, r, gp_glibc_word(p));
}

/*
 * The common step, in one go: p's entry says everything (a chain of this trace whose last
 * records are in this thread's buffer or in the trace, or a plain block whose call site is
 * known), and q's entry can say it all too. @return 1 if done, 0 if nothing was written
 * and the general path must do it.
 */
static int step_fast(uint64_t p, uint64_t q, uint64_t n, const struct gp_realloc *r,
                     uint32_t sid)
{
	struct gp_tls *t = &gp_tls;
	struct gp_tbuf *tb = t->tb;
	uint32_t e = r->e, chain, origin;
	if (__builtin_expect(!tb || tb_off, 0))
		return 0;
	uint32_t *qsh = gp_shadow_slot_t(t, q);
	uint64_t qslack = gp_usable((const void *)q) - n;
	if (__builtin_expect(!qsh || qslack > GP_SH_SLACK_MAX, 0))
		return 0;
	if (e & GP_SH_CHAIN) {
		uint32_t slot = e & GP_SH_SLOT_MASK, where = slots[slot].where >> 4;
		if (__builtin_expect((e & GP_SH_RELOC) || slots[slot].gen != (uint16_t)gp_gen, 0))
			return 0;
		if (__builtin_expect(where && where != tb->idx + 1 && where <= ntbufs, 0))
			return 0; /* another thread's buffer may hold its last records: claim() */
		chain = slot + 1;
		origin = slots[slot].origin;
	} else {
		uint32_t pl = e & GP_SH_PAYLOAD;
		if (__builtin_expect(!pl || (pl & GP_SH_STACK), 0))
			return 0;
		chain = 0;
		origin = gp_callsite_origin(pl - 1);
	}
	if (!tb_enter(tb))
		return 0;
	int begun = !chain;
	if (begun)
		chain = begin_chain_in(tb, r->b.size, GP_CHAIN_REALLOC, origin);
	unsigned flags = q == p ? 0 : GP_STEP_MOVED | (r->mmapped ? GP_STEP_REMAP : 0);
	put_step_in(tb, chain, sid, r->b.size, n, flags, NULL);
	tb_leave(tb);
	if (begun)
		COUNT(chains);
	if (q != p) {
		/* glibc freed p: forget it, unless it was handed out again meanwhile (see
		 * gp_realloc_end) */
		uint32_t *sh = gp_shadow_find_t(t, p), old = e;
		if (sh)
			__atomic_compare_exchange_n(sh, &old, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	if (__builtin_expect(chain <= SLOT_IDS, 1))
		gp_shadow_put(qsh, q, GP_SH_KNOWN | GP_SH_CHAIN | (uint32_t)qslack << GP_SH_SLACK_SHIFT |
		                              (chain - 1), 0);
	else /* out of slots: the block table */
		chain_block(q, n, chain, GP_BLOCK_CHAIN, origin, 0);
	return 1;
}

GP_HOT void gp_realloc_end(void *p, void *q, size_t n, struct gp_realloc *r, uint64_t ra,
                    uint64_t cfa)
{
	if (!q) { /* failed: the block and its chain go on unchanged */
		COUNT(failed); /* its entries were left as they were */
		return;
	}
	COUNT(steps);
	uint32_t sid = step_stack(ra, cfa);
	if (r->lazy) {
		if (step_fast((uint64_t)p, (uint64_t)q, n, r, sid))
			return;
		block_of_entry((uint64_t)p, r->e, r->b.size, &r->b);
	}
	unsigned flags = 0;
	if (q != p)
		flags = GP_STEP_MOVED | (r->mmapped ? GP_STEP_REMAP : 0);
	uint32_t origin;
	uint32_t chain = record_step(&r->b, GP_CHAIN_REALLOC, sid, n, flags, NULL, &origin);
	int side = r->side;
	if (q != p) {
		/* glibc freed p: forget it, unless it was handed out again meanwhile (then its
		 * entries are the new block's). A stale chain entry left at p could later be
		 * read for a block allocated there behind our back and end a live chain. */
		uint32_t *sh = gp_shadow_find_t(&gp_tls, (uint64_t)p), e = r->e;
		if (sh && e && !gp_alloc_entry_shared(e, r->known, r->b.size)) /* its mark stays: a
			 * spare mark only costs that free a look */
			__atomic_compare_exchange_n(sh, &e, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		if (side)
			gp_blocks_drop(&r->b);
		side = 0;
	}
	if (!chain) { /* tracing stopped: q is just a block we know nothing of */
		uint32_t *sh = gp_shadow_find((uint64_t)q);
		if (side)
			gp_blocks_drop(&r->b);
		if (sh)
			gp_shadow_put(sh, (uint64_t)q, 0, 1);
		return;
	}
	chain_block((uint64_t)q, n, chain, GP_BLOCK_CHAIN, origin, side);
}
