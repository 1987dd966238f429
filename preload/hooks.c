/*
 * hooks.c - the interposers, and nothing else: find the real function, guard against
 * recursion, keep errno, hand over to the collector.
 *
 * The real allocator is the next definition of each function (gp_next, alloc.h: glibc's,
 * or the jemalloc / tcmalloc / mimalloc the program links or preloads after us), found by
 * the first call of the process. The whole family is interposed, malloc_usable_size
 * included, so that no block goes from one allocator to another.
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "collector.h"
#include "flusher.h"
#include "gp_format.h"
#include "lifecycle.h"
#include "modules.h"
#include "tls.h"
#include "trace.h"

#include <malloc.h>

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)

#define RA() ((uint64_t)(uintptr_t)__builtin_return_address(0))
#define CFA() ((uint64_t)(uintptr_t)__builtin_dwarf_cfa())

/*
 * Is this call to be recorded? Not while the profiler itself is at work on this thread
 * (gp_tls.busy: its nested allocator calls go straight through), and only while tracing is
 * on. The common answer costs two loads; the first call of the process brings the
 * collector up.
 *
 * malloc, calloc and free skip the question on their fast paths (gp_on_alloc, gp_on_free):
 * those only write shadow entries and count, harmless when tracing is off, and they fail
 * for a thread that is not registered, so the first calls still get here. They neither
 * allocate nor touch errno, so busy is set, and errno saved, only around the slow paths and
 * the realloc family. glibc's own malloc and free call nothing of ours (and free keeps
 * errno since glibc 2.33).
 */
static GP_COLD int recording_cold(void)
{
	struct gp_tls *t = &gp_tls;
	if (t->busy || gp_state == GP_STATE_OFF)
		return 0;
	if (gp_state == GP_STATE_ON)
		return 1;
	t->busy = 1;
	int e = errno;
	int on = gp_init();
	errno = e;
	t->busy = 0;
	return on;
}

static inline int recording(void)
{
	if (LIKELY(!gp_tls.busy && gp_state == GP_STATE_ON))
		return 1;
	return recording_cold();
}

/* recording(), and the profiler is at work until leave(). */
static inline int enter(void)
{
	if (!recording())
		return 0;
	gp_tls.busy = 1;
	return 1;
}

static inline void leave(void) { gp_tls.busy = 0; }

/* errno's address: constant for a thread, asked of libc once (a call per hook otherwise). */
static inline int *err_loc(void)
{
	int *p = gp_tls.errp;
	if (__builtin_expect(p == NULL, 0))
		gp_tls.errp = p = &errno;
	return p;
}

/* The slow halves, busy (whatever it was before: the realloc family is busy already) and
 * with errno kept. Each returns what its hook returns, so that the fast paths end in tail
 * calls and save no registers. */
static GP_COLD void *alloc_slow(void *p, size_t n, uint64_t ra, uint64_t cfa)
{
	struct gp_tls *t = &gp_tls;
	int outer = t->busy, *ep = err_loc(), e = *ep;
	t->busy = 1;
	gp_on_alloc_slow(p, n, ra, cfa);
	t->busy = outer;
	*ep = e;
	return p;
}

static __attribute__((noinline)) void free_slow(void *p, uint64_t ra, uint64_t cfa)
{
	struct gp_tls *t = &gp_tls;
	int outer = t->busy, *ep = err_loc(), e = *ep;
	t->busy = 1;
	gp_on_free_slow(p, ra, cfa);
	t->busy = outer;
	*ep = e;
}

/* An allocation the fast path did not take (or NULL): the profiler may be off, or not
 * started yet (the first allocation of the process starts it). */
static GP_COLD void *alloc_miss(void *p, size_t n, uint64_t ra, uint64_t cfa)
{
	if (!p || !recording())
		return p;
	return alloc_slow(p, n, ra, cfa);
}

/*
 * Record allocation p (NULL: failed) of n bytes and @return p. The fast path runs whenever
 * this thread is not inside the profiler, whether tracing is on or not: it only writes the
 * block's shadow entry and counts, which is harmless when off, and it fails for a thread
 * not registered yet (its shadow leaf is unknown), which is how the first allocation of
 * the process and of each thread reach the slow path.
 */
static __attribute__((noinline)) void *record_alloc_foreign(void *p, size_t n, uint64_t ra,
                                                            uint64_t cfa);

static inline __attribute__((always_inline)) void *record_alloc(void *p, size_t n, uint64_t ra,
                                                                 uint64_t cfa)
{
	/* another allocator: its size word is a call away, made out of line (a tail call) so
	 * that glibc's path keeps no more registers than before */
	if (__builtin_expect(!gp_alloc_glibc, 0))
		return record_alloc_foreign(p, n, ra, cfa);
	if (__builtin_expect(p != NULL, 1) && gp_on_alloc(p, n, ra, gp_glibc_word(p)))
		return p;
	return alloc_miss(p, n, ra, cfa);
}

static __attribute__((noinline)) void *record_alloc_foreign(void *p, size_t n, uint64_t ra,
                                                            uint64_t cfa)
{
	if (__builtin_expect(p != NULL, 1) && gp_on_alloc(p, n, ra, gp_alloc_word_foreign(p)))
		return p;
	return alloc_miss(p, n, ra, cfa);
}

/* The same inside the realloc family, which has checked recording() (enter()) already. */
static inline void *record_alloc_entered(void *p, size_t n, uint64_t ra, uint64_t cfa)
{
	if (__builtin_expect(p == NULL, 0) || gp_on_alloc(p, n, ra, gp_alloc_word(p)))
		return p;
	return alloc_slow(p, n, ra, cfa);
}

/* A free the fast path did not take: recorded if the profiler is on, then done. */
static __attribute__((noinline)) GP_HOT void free_miss(void *p, uint64_t ra, uint64_t cfa)
{
	if (recording()) {
		struct gp_tls *t = &gp_tls;
		int *ep = err_loc(), e = *ep;
		t->busy = 1;
		if (!gp_free_chain_fast(p))
			gp_on_free_slow(p, ra, cfa);
		t->busy = 0;
		*ep = e;
	}
	gp_next.free(p);
}

/* Forget the block before the real free: once freed, another thread may get the same
 * address from malloc and record it, and we must not erase that record. */
static inline void record_free(void *p, uint64_t ra, uint64_t cfa)
{
	if (!gp_on_free(p))
		free_slow(p, ra, cfa);
}

EXPORT GP_HOT void *malloc(size_t n)
{
	if (__builtin_expect(gp_tls.busy, 0))
		return gp_next.malloc(n);
	/* n stays on our side of the call: a signal handler may allocate (and use the
	 * thread's watch) before or after glibc's malloc runs */
	return record_alloc(gp_next.malloc(n), n, RA(), CFA());
}

EXPORT GP_HOT void *calloc(size_t n, size_t m)
{
	if (__builtin_expect(gp_tls.busy, 0))
		return gp_next.calloc(n, m);
	/* An overflowing n * m fails inside glibc and is not an allocation. */
	return record_alloc(gp_next.calloc(n, m), n * m, RA(), CFA());
}

EXPORT GP_HOT void free(void *p)
{
	if (__builtin_expect(p != NULL && !gp_tls.busy, 1)) {
		if (__builtin_expect(!gp_on_free(p), 0)) {
			free_miss(p, RA(), CFA());
			return;
		}
	}
	gp_next.free(p);
}

static GP_HOT void *do_realloc(void *p, size_t n, uint64_t ra, uint64_t cfa)
{
	if (!p) { /* realloc(NULL, n) is an allocation */
		void *q = record_alloc_entered(gp_next.realloc(NULL, n), n, ra, cfa);
		leave();
		return q;
	}
	if (n == 0) { /* glibc frees the block and returns NULL: a free, not a step */
		record_free(p, ra, cfa);
		void *q = gp_next.realloc(p, 0);
		if (q) /* another allocator's answer (mimalloc's): a new block of 0 bytes */
			q = record_alloc_entered(q, 0, ra, cfa);
		leave();
		return q;
	}
	struct gp_realloc r;
	int *ep = err_loc(), e = *ep;
	gp_realloc_begin(p, &r);
	*ep = e;
	void *q = gp_next.realloc(p, n);
	e = *ep;
	gp_realloc_end(p, q, n, &r, ra, cfa);
	*ep = e;
	leave();
	return q;
}

EXPORT GP_HOT void *realloc(void *p, size_t n)
{
	if (!enter())
		return gp_next.realloc(p, n);
	return do_realloc(p, n, RA(), CFA());
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, m, &bytes)) {
		/* glibc fails without touching the block: a failed realloc when there is one */
		if (p && enter()) {
			struct gp_realloc r;
			gp_realloc_begin(p, &r);
			gp_realloc_end(p, NULL, 0, &r, RA(), CFA());
			leave();
		}
		errno = ENOMEM;
		return NULL;
	}
	if (!enter())
		return gp_next.realloc(p, bytes);
	return do_realloc(p, bytes, RA(), CFA());
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (!recording())
		return gp_next.memalign(align, n);
	return record_alloc(gp_next.memalign(align, n), n, RA(), CFA());
}

/* The real function checks the alignment, and keeps errno or not, as it does without us. */
EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int on = recording();
	int rc = gp_next.posix_memalign(out, align, n);
	if (rc == 0 && on)
		record_alloc(*out, n, RA(), CFA());
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!recording())
		return gp_next.aligned_alloc(align, n);
	return record_alloc(gp_next.aligned_alloc(align, n), n, RA(), CFA());
}

EXPORT void *valloc(size_t n)
{
	if (!recording())
		return gp_next.valloc(n);
	return record_alloc(gp_next.valloc(n), n, RA(), CFA());
}

EXPORT void *pvalloc(size_t n)
{
	if (!recording())
		return gp_next.pvalloc(n);
	return record_alloc(gp_next.pvalloc(n), n, RA(), CFA());
}

/* What the real allocator answers: a program may write up to it (jemalloc's zmalloc in
 * redis does), so it must come from the allocator that served the block. */
EXPORT size_t malloc_usable_size(void *p) { return gp_next.usable_size(p); }

/* ---- copies: evidence for relocations (malloc + copy + free growth, see tls.h) ---- */

typedef void *(*copy_fn)(void *, const void *, size_t);

/* Until our constructor has found the real functions (other libraries' constructors may
 * copy): plain string instructions, which the compiler cannot turn back into a call. */
static void *slow_copy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	if ((uintptr_t)dst - (uintptr_t)src >= n) { /* forward is safe */
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	} else {
		unsigned char *de = (unsigned char *)dst + n - 1;
		const unsigned char *se = (const unsigned char *)src + n - 1;
		__asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(de), "+S"(se), "+c"(n) : : "memory");
	}
	return dst;
}

static void *mempcpy_fallback(void *dst, const void *src, size_t n)
{
	return (char *)slow_copy(dst, src, n) + n;
}

static copy_fn real_memcpy = slow_copy, real_memmove = slow_copy, real_mempcpy = mempcpy_fallback;

/* The copy lands in this thread's watched block (tls.h): look at it, then copy. Out of
 * line, so that the common path below saves no registers and ends in a tail jump. */
static __attribute__((noinline)) void *copy_noted(copy_fn f, void *dst, const void *src,
                                                  size_t n, uint64_t ra, uint64_t cfa)
{
	gp_reloc_copy((uint64_t)dst, (uint64_t)src, n, ra, cfa);
	return f(dst, src, n);
}

/* Every copy of the process comes through here: a compare, and a jump to libc's. A copy
 * into the watched block is looked at near its start, or when a relocation into it is
 * pending (more of its copies). */
#define COPY_HOOK(real)                                                          \
	do {                                                                     \
		const struct gp_tls *t = &gp_tls;                                \
		uint64_t off_ = (uint64_t)dst - t->rq;                           \
		if (__builtin_expect(off_ < t->rwin, 0) &&                       \
		    (off_ <= GP_RELOC_HDR || t->cold))                           \
			return copy_noted(real, dst, src, n, RA(), CFA());       \
		return real(dst, src, n);                                        \
	} while (0)

EXPORT GP_HOT void *memcpy(void *dst, const void *src, size_t n) { COPY_HOOK(real_memcpy); }

EXPORT GP_HOT void *memmove(void *dst, const void *src, size_t n) { COPY_HOOK(real_memmove); }

EXPORT void *mempcpy(void *dst, const void *src, size_t n) { COPY_HOOK(real_mempcpy); }

/* _FORTIFY_SOURCE builds call these instead. An overflow ends the program as glibc's own
 * check would ("*** buffer overflow detected ***", SIGABRT). */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		__chk_fail();
	return memcpy(dst, src, n);
}

EXPORT void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		__chk_fail();
	return memmove(dst, src, n);
}

/* ---- process lifetime ---- */

__attribute__((constructor(101))) static void gp_ctor(void)
{
	copy_fn f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "memcpy")))
		real_memcpy = f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "memmove")))
		real_memmove = f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "mempcpy")))
		real_mempcpy = f;
	gp_init_late();
}

/* A relocation still pending at the end (tls.h): recorded before the trace is finished. */
static void settle_at_end(void)
{
	struct gp_tls *t = &gp_tls;
	if (!t->cold || t->busy || getpid() != gp_pid) /* gp_pid: not in a vfork child */
		return;
	int e = errno;
	t->busy = 1;
	gp_reloc_settle();
	t->busy = 0;
	errno = e;
}

/* Runs after the program's own destructors and atexit handlers (we were initialized
 * before it), so their allocations are in the trace. */
__attribute__((destructor(101))) static void gp_dtor(void)
{
	settle_at_end();
	gp_finish(GP_END_EXIT);
}

EXPORT void _exit(int status)
{
	settle_at_end();
	gp_finish(GP_END__EXIT); /* does nothing in a vfork child: the pid differs */
	for (;;)
		syscall(SYS_exit_group, status);
}

EXPORT void _Exit(int status) { _exit(status); }

/* RTLD_DEEPBIND would make the library resolve malloc & co. in its own dependencies (libc)
 * before us: its allocations would escape the profiler and its frees would hand us blocks
 * we never saw. Drop the flag, as other preloading profilers do. */
typedef void *(*dlopen_fn)(const char *, int);
EXPORT void *dlopen(const char *file, int flags)
{
	static dlopen_fn real_dlopen;
	if (!real_dlopen)
		real_dlopen = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
	return real_dlopen(file, flags & ~RTLD_DEEPBIND);
}

/* After an object is unloaded another may take its addresses: look before trusting any
 * stack interned before (modules.h). */
typedef int (*dlclose_fn)(void *);
EXPORT int dlclose(void *handle)
{
	static dlclose_fn real_dlclose;
	if (!real_dlclose)
		real_dlclose = (dlclose_fn)dlsym(RTLD_NEXT, "dlclose");
	int rc = real_dlclose(handle);
	__atomic_store_n(&gp_modules_dirty, 1, __ATOMIC_RELEASE);
	return rc;
}

/* exec: what this image recorded is finished under its own name before the exec; the new
 * image (which loads us again) writes a new trace. If exec fails we carry on in a new one. */
#define REAL(name, type) \
	static type real_##name; \
	if (!real_##name) \
		real_##name = (type)dlsym(RTLD_NEXT, #name)

static void before_exec(void) { gp_finish(GP_END_EXEC); }

static int after_exec(int rc)
{
	int e = errno;
	gp_restart_after_exec();
	errno = e;
	return rc;
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve, execve_fn);
	before_exec();
	return after_exec(real_execve(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
	REAL(execv, execv_fn);
	before_exec();
	return after_exec(real_execv(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	REAL(execvp, execv_fn);
	before_exec();
	return after_exec(real_execvp(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe, execve_fn);
	before_exec();
	return after_exec(real_execvpe(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	REAL(fexecve, fexecve_fn);
	before_exec();
	return after_exec(real_fexecve(fd, argv, envp));
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	REAL(execveat, execveat_fn);
	before_exec();
	return after_exec(real_execveat(dirfd, path, argv, envp, flags));
}

/* The execl family: collect the arguments on the stack and use the vector forms. */
#define COLLECT_ARGS(first, ap, argv)                                   \
	size_t argc_ = 1;                                                   \
	va_start(ap, first);                                                \
	while (va_arg(ap, char *))                                          \
		argc_++;                                                        \
	va_end(ap);                                                         \
	char **argv = __builtin_alloca((argc_ + 1) * sizeof(char *));       \
	va_start(ap, first);                                                \
	argv[0] = (char *)(first);                                          \
	for (size_t i_ = 1; i_ <= argc_; i_++)                              \
		argv[i_] = va_arg(ap, char *);

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execv(path, argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

/* ---- namespaces: calls that need the process to be single-threaded ---- */

/*
 * unshare of a user namespace (or of CLONE_THREAD, CLONE_SIGHAND, CLONE_VM) and setns
 * (into a user namespace, or a mount namespace: threads share their fs_struct) fail with
 * EINVAL in a multithreaded process. `unshare -U`, bubblewrap, rootless containers do
 * them in a process that has no other thread, except ours: the flusher steps aside for
 * the call and comes back after. Not in a vfork child: the thread is its parent's.
 */
#define GP_SOLO_FLAGS (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)

static int stepped_aside(void)
{
	if (!gp_flusher_running || getpid() != gp_pid)
		return 0;
	gp_flusher_stop();
	return 1;
}

/* The call, retried a few times on EINVAL: pthread_join may return a moment before the
 * kernel has taken the thread off the process's list. */
static long solo_call(long nr, long a, long b, int aside)
{
	long rc;
	for (int i = 0;; i++) {
		rc = syscall(nr, a, b);
		if (rc == 0 || errno != EINVAL || !aside || i == 50)
			break;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	return rc;
}

static void come_back(int aside)
{
	if (aside) {
		int e = errno;
		gp_flusher_start();
		errno = e;
	}
}

EXPORT int unshare(int flags)
{
	int aside = (flags & GP_SOLO_FLAGS) ? stepped_aside() : 0;
	long rc = solo_call(SYS_unshare, flags, 0, aside);
	come_back(aside);
	return (int)rc;
}

EXPORT int setns(int fd, int nstype)
{
	int aside = stepped_aside();
	long rc = solo_call(SYS_setns, fd, nstype, aside);
	come_back(aside);
	return (int)rc;
}
