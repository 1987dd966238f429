/*
 * floor.so - the pass-through floor of the growprof benchmark.
 *
 *     gcc -O2 -shared -fPIC -ftls-model=initial-exec -fno-builtin -o floor.so floor.c -ldl
 *     LD_PRELOAD=floor.so PROG...
 *
 * Interposes what libgrowprof.so interposes on the hot path (the malloc family, memcpy,
 * memmove, mempcpy and their _chk forms) and does nothing but what any LD_PRELOAD profiler
 * must: a call into the preloaded object, one read of an initial-exec TLS flag (the
 * recursion guard every such profiler needs, set here while the real functions are being
 * found), and a jump through a pointer to the next definition (dlsym(RTLD_NEXT), so it
 * forwards to whatever allocator is under it). The cost of running a program under it is
 * what an LD_PRELOAD design cannot go below; bench/run.py puts its ratio beside growprof's.
 *
 * Built with -DFLOOR_NO_COPIES it interposes the malloc family only.
 *
 * While dlsym runs (it may allocate), allocations come from a small static arena, which is
 * never freed: a free or realloc of an arena block is recognised by its address.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static __thread int busy __attribute__((tls_model("initial-exec")));

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef void *(*memalign_fn)(size_t, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*reallocarray_fn)(void *, size_t, size_t);
typedef void *(*copy_fn)(void *, const void *, size_t);

static malloc_fn real_malloc, real_valloc, real_pvalloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static memalign_fn real_memalign, real_aligned_alloc;
static posix_memalign_fn real_posix_memalign;
static reallocarray_fn real_reallocarray;
static copy_fn real_memcpy, real_memmove, real_mempcpy;

/* ---- before the real functions are known ---- */

static _Alignas(64) unsigned char arena[64 * 1024];
static size_t arena_used;

static int in_arena(const void *p)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
}

static void *arena_alloc(size_t n)
{
	size_t at = (arena_used + 15) & ~(size_t)15;
	if (n > sizeof arena - at)
		return NULL;
	arena_used = at + n;
	return arena + at; /* static storage: already zero */
}

/* Byte loops the compiler may not turn back into memcpy calls (-fno-builtin, and the
 * volatile pointer keeps the loop a loop). */
static void *slow_copy(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const unsigned char *s = src;
	if ((uintptr_t)dst - (uintptr_t)src >= n) {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		for (size_t i = n; i-- > 0;)
			d[i] = s[i];
	}
	return dst;
}

static void resolve(void)
{
	busy = 1;
	int e = errno;
	real_free = (free_fn)dlsym(RTLD_NEXT, "free");
	real_calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
	real_realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
	real_reallocarray = (reallocarray_fn)dlsym(RTLD_NEXT, "reallocarray");
	real_memalign = (memalign_fn)dlsym(RTLD_NEXT, "memalign");
	real_aligned_alloc = (memalign_fn)dlsym(RTLD_NEXT, "aligned_alloc");
	real_posix_memalign = (posix_memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
	real_valloc = (malloc_fn)dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = (malloc_fn)dlsym(RTLD_NEXT, "pvalloc");
	real_memcpy = (copy_fn)dlsym(RTLD_NEXT, "memcpy");
	real_memmove = (copy_fn)dlsym(RTLD_NEXT, "memmove");
	real_mempcpy = (copy_fn)dlsym(RTLD_NEXT, "mempcpy");
	/* last: malloc being set is what says the others are */
	__atomic_store_n(&real_malloc, (malloc_fn)dlsym(RTLD_NEXT, "malloc"), __ATOMIC_RELEASE);
	errno = e;
	busy = 0;
}

/* The slow path of every hook: during resolve() (busy), or before it. */
static __attribute__((noinline, cold)) int ready(void)
{
	if (busy)
		return 0;
	if (!__atomic_load_n(&real_malloc, __ATOMIC_ACQUIRE))
		resolve();
	return 1;
}

#define READY() (__builtin_expect(!busy && real_malloc != NULL, 1) || ready())

/* ---- the hooks: a TLS test and a jump ---- */

EXPORT void *malloc(size_t n)
{
	if (READY())
		return real_malloc(n);
	return arena_alloc(n);
}

EXPORT void *calloc(size_t n, size_t m)
{
	if (READY())
		return real_calloc(n, m);
	size_t b;
	return __builtin_mul_overflow(n, m, &b) ? NULL : arena_alloc(b);
}

EXPORT void free(void *p)
{
	if (__builtin_expect(in_arena(p), 0))
		return;
	if (READY())
		real_free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	if (__builtin_expect(in_arena(p), 0)) { /* copy out of the arena, up to what is left */
		void *q = malloc(n);
		if (q) {
			size_t have = (size_t)(arena + sizeof arena - (unsigned char *)p);
			slow_copy(q, p, n < have ? n : have);
		}
		return q;
	}
	if (READY())
		return real_realloc(p, n);
	return arena_alloc(n);
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t b;
	if (__builtin_mul_overflow(n, m, &b)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!in_arena(p) && READY())
		return real_reallocarray(p, n, m);
	return realloc(p, b);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (READY())
		return real_memalign(align, n);
	return NULL;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (READY())
		return real_aligned_alloc(align, n);
	return NULL;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (READY())
		return real_posix_memalign(out, align, n);
	return ENOMEM;
}

EXPORT void *valloc(size_t n)
{
	if (READY())
		return real_valloc(n);
	return NULL;
}

EXPORT void *pvalloc(size_t n)
{
	if (READY())
		return real_pvalloc(n);
	return NULL;
}

/* Copies: the same TLS read growprof's copy watch makes, then the real function.
 * -DFLOOR_NO_COPIES leaves them out: what interposing the copies costs on its own. */
#ifndef FLOOR_NO_COPIES

EXPORT void *memcpy(void *dst, const void *src, size_t n)
{
	if (READY())
		return real_memcpy(dst, src, n);
	return slow_copy(dst, src, n);
}

EXPORT void *memmove(void *dst, const void *src, size_t n)
{
	if (READY())
		return real_memmove(dst, src, n);
	return slow_copy(dst, src, n);
}

EXPORT void *mempcpy(void *dst, const void *src, size_t n)
{
	if (READY())
		return real_mempcpy(dst, src, n);
	return (char *)slow_copy(dst, src, n) + n;
}

/* What -D_FORTIFY_SOURCE programs call: glibc's check, then the copy. */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (__builtin_expect(n > dstlen, 0))
		__chk_fail();
	return memcpy(dst, src, n);
}

EXPORT void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (__builtin_expect(n > dstlen, 0))
		__chk_fail();
	return memmove(dst, src, n);
}
#endif
