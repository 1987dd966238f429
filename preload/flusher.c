/* flusher.c - the thread that drains the trace buffers on a timer (see flusher.h). */
#define _GNU_SOURCE
#include "flusher.h"

#include "tls.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int gp_flusher_running;
/* Start and stop one at a time (a record's resume against unshare's stop). A leaf lock
 * held across the join: so gp_flusher_resume, which may run with any of our locks held
 * (the thread may be waiting for one of them), only tries it. */
static pthread_mutex_t flusher_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t flusher;
static int stop_word;     /* futex: 1 asks the thread to end */
static int stat_fd = -1;  /* /proc/<pid>/stat, for alone() */
static __thread int is_flusher __attribute__((tls_model("initial-exec")));

static void (*tick)(void); /* what it does every GP_FLUSH_TICK (gp_flusher_set_tick) */

int gp_flusher_self(void) { return is_flusher; }

void gp_flusher_set_tick(void (*fn)(void)) { tick = fn; }

/*
 * Is the flusher the last thread of the process? glibc ends a process whose last thread
 * exits (exit(0) in that thread), but counts ours among them: without this check a program
 * whose main thread called pthread_exit would never end. /proc/<pid>/stat has the number
 * of threads (field 20), the exited main thread among them as a zombie (state Z, field 3)
 * until the whole group is gone. Read with pread on a descriptor opened beforehand: this
 * thread opens nothing.
 */
static int alone(void)
{
	char s[512];
	if (stat_fd < 0)
		return 0;
	ssize_t n = pread(stat_fd, s, sizeof s - 1, 0);
	if (n <= 0)
		return 0;
	s[n] = 0;
	char *p = strrchr(s, ')'); /* the command name may hold anything */
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	char state = *p;
	for (int field = 3; field < 20 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return 0;
	long threads = strtol(p, NULL, 10);
	return threads == 1 || (threads == 2 && state == 'Z');
}

static void *flusher_main(void *arg)
{
	(void)arg;
	gp_tls.busy = 1; /* nothing it might allocate is the program's */
	is_flusher = 1;
	prctl(PR_SET_NAME, "growprof", 0, 0, 0);
	for (;;) {
		struct timespec ts = { GP_FLUSH_TICK / 1000000000, GP_FLUSH_TICK % 1000000000 };
		syscall(SYS_futex, &stop_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		if (__atomic_load_n(&stop_word, __ATOMIC_ACQUIRE))
			break;
		tick();
		if (alone()) {
			/* What glibc does when the last thread exits: the program's atexit
			 * handlers and our destructor (which finishes the trace) run here. */
			gp_tls.busy = 0;
			exit(0);
		}
	}
	return NULL;
}

static int start_locked(void);

int gp_flusher_start(void)
{
	pthread_mutex_lock(&flusher_mu);
	int rc = start_locked();
	pthread_mutex_unlock(&flusher_mu);
	return rc;
}

static int start_locked(void)
{
	if (gp_flusher_running)
		return 1;
	if (stat_fd < 0) {
		char path[64] = "/proc/";
		size_t n = strlen(path);
		pid_t pid = getpid();
		char d[16];
		int k = 0;
		do
			d[k++] = (char)('0' + pid % 10);
		while ((pid /= 10) && k < 15);
		while (k)
			path[n++] = d[--k];
		memcpy(path + n, "/stat", 6);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) { /* out of the way of the program's descriptors */
			int hi = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
			if (hi >= 0) {
				close(fd);
				fd = hi;
			}
		}
		stat_fd = fd;
	}
	pthread_attr_t attr;
	if (pthread_attr_init(&attr))
		return 0;
	/* Born with every signal blocked (a new thread inherits its creator's mask), so the
	 * program's signals always go to its own threads. The caller's mask is back as it was
	 * before pthread_create returns; a signal arriving meanwhile waits those microseconds
	 * (glibc blocks them all around the clone anyway). Not pthread_attr_setsigmask_np: it
	 * allocates, in a fork child before an interposer in front of us resets its counts. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_setstacksize(&attr, 256 << 10);
	__atomic_store_n(&stop_word, 0, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&flusher, &attr, flusher_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	gp_flusher_running = rc == 0;
	return gp_flusher_running;
}

int gp_flusher_wanted;

static void stop_locked(void);

void gp_flusher_pause(void)
{
	pthread_mutex_lock(&flusher_mu);
	if (gp_flusher_running) {
		stop_locked();
		__atomic_store_n(&gp_flusher_wanted, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&flusher_mu);
}

void gp_flusher_resume(void)
{
	if (!__atomic_exchange_n(&gp_flusher_wanted, 0, __ATOMIC_ACQ_REL))
		return;
	if (pthread_mutex_trylock(&flusher_mu)) { /* a start or stop under way: next time */
		__atomic_store_n(&gp_flusher_wanted, 1, __ATOMIC_RELEASE);
		return;
	}
	start_locked();
	pthread_mutex_unlock(&flusher_mu);
}

void gp_flusher_forget(void)
{
	pthread_mutex_init(&flusher_mu, NULL); /* the parent's thread that held it is gone */
	gp_flusher_running = 0;
	gp_flusher_wanted = 0;
	if (stat_fd >= 0)
		close(stat_fd); /* the parent's /proc entry */
	stat_fd = -1;
}

void gp_flusher_stop(void)
{
	pthread_mutex_lock(&flusher_mu);
	stop_locked();
	pthread_mutex_unlock(&flusher_mu);
}

static void stop_locked(void)
{
	if (!gp_flusher_running)
		return;
	__atomic_store_n(&stop_word, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &stop_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(flusher, NULL); /* returns once the kernel has let the thread go */
	gp_flusher_running = 0;
}
