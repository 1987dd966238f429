/* trace.c - the trace: its shared buffer, flushing, compression onto the trace file, the
 * file itself, and the trace's state (see trace.h). */
#define _GNU_SOURCE
#include "trace.h"

#include "counts.h"
#include "flusher.h"
#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "gp_writer.h"
#include "ialloc.h"
#include "options.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int gp_state;
int gp_pid;
unsigned gp_gen = 1;

#define BUF_CAP (1u << 17)   /* raw records between two compressions (two buffers) */

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
static char out_path[1200];
uint64_t gp_t0;
static int fail_reported;
static int late_done;
static uint64_t last_flush;   /* gp_now() of the last flush */
/* ns: how often the program's own threads flush the trace when the flusher (flusher.h) is
 * not running; with it, they leave that to it. */
#define FLUSH_EVERY 500000000ull

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
	for (const char *p = gp_out_pattern; *p && n + 1 < cap; p++) {
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
	gp_counts_sum(c);
	struct gp_counts_rec x = {
		.allocs = c[0], .frees = c[1], .failed = c[2], .steps = c[3], .chains = c[4],
		.own = gp_counts_own(), .with_own = 1,
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

void gp_trace_writer_lock(void)
{
	while (__atomic_exchange_n(&writer_mu, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&writer_mu, __ATOMIC_RELAXED))
			sched_yield(); /* a compression takes milliseconds */
}

void gp_trace_writer_unlock(void) { __atomic_store_n(&writer_mu, 0, __ATOMIC_RELEASE); }

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
void gp_trace_flush_locked(int end)
{
	if (gp_state != GP_STATE_ON || !buf)
		return;
	if (!late_done && !end)
		return; /* before our constructor we do not know GROWPROF_OUTPUT yet: keep it */
	if (!end) /* the final counts precede the END record (gp_finish) */
		put_counts();
	gp_trace_writer_lock(); /* waits for a compression under way */
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
	gp_trace_writer_unlock();
	last_flush = gp_now();
}

/* A full buffer waiting for compression, claimed with the writer lock (trace lock held). */
static uint8_t *pending_claim(size_t *len)
{
	uint8_t *p = pending;
	if (!p)
		return NULL;
	gp_trace_writer_lock();
	pending = NULL;
	*len = pending_len;
	return p;
}

/* Compress it (trace lock released, writer lock held) and make it the spare again. */
static void pending_done(uint8_t *p, size_t len)
{
	write_out(p, len, 0);
	spare = p;
	gp_trace_writer_unlock();
}

uint8_t *gp_trace_reserve(size_t max)
{
	if (gp_state != GP_STATE_ON || !buf)
		return NULL;
	gp_trace_flusher_due();
	if (buf_len + max + COUNTS_MAX > BUF_CAP) {
		gp_trace_flush_locked(0);
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

/* ---- the trace's life: begin, new (fork, failed exec), end ---- */

int gp_trace_init(void)
{
	buf = gp_imap(BUF_CAP);
	spare = gp_imap(BUF_CAP); /* without it, flushes simply compress in place */
	return buf != NULL;
}

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

/* Begin a trace in the (empty) buffer: magic, process. Trace lock held. @return 0 if
 * tracing stopped. */
int gp_trace_begin_locked(void)
{
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	gp_t0 = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec;
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
		return 0;
	struct gp_process_rec x = {
		.pid = (uint64_t)gp_pid, .ppid = (uint64_t)getppid(),
		.start_realtime = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec,
		.start_mono = gp_t0,
		.exe = (const uint8_t *)exe, .exe_len = (size_t)en,
		.cmdline = (const uint8_t *)cmd, .cmdline_len = cn,
		.depth = gp_depth,
	};
	gp_trace_commit(gp_enc_process(p, &x));
	return 1;
}

/* Everything of the old trace stays the old one's: the writer and the file go, the counts
 * begin again, and the generation changes (trace lock held). */
void gp_trace_new_locked(void)
{
	if (writer_ready)
		gp_writer_release(&writer);
	writer_ready = 0;
	close_output();
	memset(put_c, 0, sizeof put_c);
	gp_gen++;
}

void gp_trace_end_locked(int reason)
{
	late_done = 1;
	uint8_t *p = gp_trace_reserve(GP_END_REC_MAX);
	if (p) {
		put_counts();
		struct gp_end_rec x = { .reason = (uint64_t)reason, .time = gp_now() };
		gp_trace_commit(gp_enc_end(buf + buf_len, &x));
	}
	gp_trace_flush_locked(1);
	if (writer_ready)
		gp_writer_release(&writer);
	writer_ready = 0;
	close_output();
}

const char *gp_trace_path(void) { return out_path; }

void gp_trace_late_done(void) { late_done = 1; }

int gp_trace_started(void)
{
	return __atomic_load_n(&gp_state, __ATOMIC_ACQUIRE) == GP_STATE_ON && late_done;
}

int gp_trace_can_restart(void) { return buf && !fail_reported; }

int gp_trace_fd_lost(void) { return writer_ready && !fd_ours(); }

int gp_trace_flush_due(void)
{
	return late_done && !gp_flusher_running && gp_now() - last_flush > FLUSH_EVERY;
}

void gp_trace_flush_new_locked(void)
{
	int due = buf_len > 0;
	if (!due) {
		uint64_t c[5];
		gp_counts_sum(c);
		due = memcmp(c, put_c, sizeof c) != 0;
	}
	if (due)
		gp_trace_flush_locked(0);
}

void gp_trace_fork_child(void)
{
	trace_mu = 0; /* the forking thread held it across fork() */
	writer_mu = 0;
	if (pending) { /* the parent's records: not ours to write */
		if (!spare)
			spare = pending;
		pending = NULL;
	}
}
