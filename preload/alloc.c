/*
 * alloc.c - find the next allocator (alloc.h): the next definition of each function of the
 * malloc family, a bootstrap arena for the calls made while dlsym looks them up, and what we
 * ask of another allocator's blocks.
 *
 * gp_next starts with bootstrap functions: the first call of the process, whichever it is
 * (the dynamic linker allocates before any constructor runs), resolves the whole family at
 * once and then forwards. Calls made meanwhile by the resolving thread (dlsym reporting an
 * error allocates) are served from the arena; other threads wait, so that every block that
 * escapes the arena comes from the allocator finally chosen.
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

/* glibc's entry points: the last resort if dlsym finds nothing (never seen). Not a way to
 * recognize glibc: tcmalloc and mimalloc define __libc_malloc & co. too. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

/* ---- the bootstrap arena ---- */

/* Enough for dlerror's messages; blocks are never reused, so the memory is zero (calloc). */
#define BOOT_SIZE (64 * 1024)
static _Alignas(4096) unsigned char boot[BOOT_SIZE];
static size_t boot_used; /* bytes handed out (atomic) */

int gp_alloc_is_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot < BOOT_SIZE;
}

/* A block of n bytes aligned to `align` (a power of two), its size in the word before it.
 * NULL with ENOMEM when the arena is full. */
static void *boot_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	size_t used = __atomic_load_n(&boot_used, __ATOMIC_RELAXED), start;
	do {
		start = (used + 16 + align - 1) & ~(align - 1);
		if (n > BOOT_SIZE || start > BOOT_SIZE - n) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!__atomic_compare_exchange_n(&boot_used, &used, start + n, 1, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
	((size_t *)(boot + start))[-1] = n;
	return boot + start;
}

static size_t boot_size(const void *p) { return ((const size_t *)p)[-1]; }

/* ---- resolution ---- */

int gp_alloc_glibc = 1;

static struct gp_next real; /* what gp_next forwards to, once found */

enum { UNRESOLVED, RESOLVING, RESOLVED };
static int state;
static __thread int resolving_here __attribute__((tls_model("initial-exec")));

static void *next_fn(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* libc's address range: a function only glibc defines tells which object is libc (not
 * dladdr, which walks a whole symbol table per call). */
static uintptr_t libc_lo, libc_hi;

static int find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t mark = (uintptr_t)data, lo = UINTPTR_MAX, hi = 0;
	int here = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
		lo = a < lo ? a : lo;
		hi = b > hi ? b : hi;
		here |= mark >= a && mark < b;
	}
	if (here) {
		libc_lo = lo;
		libc_hi = hi;
	}
	return here;
}

static int in_libc(void *f)
{
	return (uintptr_t)f >= libc_lo && (uintptr_t)f < libc_hi;
}

/* What another allocator lacks is made of what it has, never taken from glibc: glibc's
 * would be handed the foreign allocator's blocks, or hand out its own. */
static void *derived_calloc(size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = real.malloc(t);
	if (p)
		memset(p, 0, t);
	return p;
}

static int derived_posix_memalign(void **out, size_t align, size_t n)
{
	if (align == 0 || align % sizeof(void *) != 0 || (align & (align - 1)) != 0)
		return EINVAL;
	int e = errno;
	void *p = real.memalign(align, n);
	errno = e;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *derived_memalign(size_t align, size_t n)
{
	void *p = NULL;
	int rc = real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
	if (rc) {
		errno = rc;
		return NULL;
	}
	return p;
}

static void *derived_aligned_alloc(size_t align, size_t n) { return real.memalign(align, n); }

static void *derived_valloc(size_t n) { return real.memalign((size_t)sysconf(_SC_PAGESIZE), n); }

static void *derived_pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), r;
	if (__builtin_add_overflow(n ? n : 1, page - 1, &r)) {
		errno = ENOMEM;
		return NULL;
	}
	return real.memalign(page, r & ~(page - 1));
}

/* Without malloc_usable_size we know no usable size: every block goes to the block table. */
static size_t derived_usable_size(void *p)
{
	(void)p;
	return 0;
}

/* ---- once the arena was used: its blocks are recognized on the way out ---- */

static void boot_aware_free(void *p)
{
	if (!gp_alloc_is_boot(p))
		real.free(p);
}

static void *boot_aware_realloc(void *p, size_t n)
{
	if (!gp_alloc_is_boot(p))
		return real.realloc(p, n);
	if (n == 0) /* freed, as glibc does */
		return NULL;
	void *q = real.malloc(n);
	if (q) {
		size_t o = boot_size(p);
		memcpy(q, p, o < n ? o : n);
	}
	return q;
}

static size_t boot_aware_usable_size(void *p)
{
	return gp_alloc_is_boot(p) ? boot_size(p) : real.usable_size(p);
}

/* Find the family. Called with the profiler marked busy on this thread: what dlsym
 * allocates goes straight through (to the arena) and is not recorded. */
static void find_next(void)
{
#define FIND(field, name) real.field = (__typeof__(real.field))next_fn(name)
	FIND(malloc, "malloc");
	FIND(calloc, "calloc");
	FIND(realloc, "realloc");
	FIND(free, "free");
	FIND(memalign, "memalign");
	FIND(posix_memalign, "posix_memalign");
	FIND(aligned_alloc, "aligned_alloc");
	FIND(valloc, "valloc");
	FIND(pvalloc, "pvalloc");
	FIND(usable_size, "malloc_usable_size");
#undef FIND
	if (!real.malloc || !real.free || !real.realloc || !real.calloc) {
		real.malloc = __libc_malloc;
		real.calloc = __libc_calloc;
		real.realloc = __libc_realloc;
		real.free = __libc_free;
	}
	dl_iterate_phdr(find_libc, (void *)gnu_get_libc_version);
	int glibc = in_libc((void *)real.malloc);
	if (!glibc) {
		/* each missing (or glibc's) function made of the allocator's own */
#define OWN(field) (real.field && !in_libc((void *)real.field))
		if (!OWN(calloc))
			real.calloc = derived_calloc;
		if (!OWN(memalign) && OWN(posix_memalign))
			real.memalign = derived_memalign;
		if (!OWN(memalign)) /* neither: aligned_alloc must do */
			real.memalign = OWN(aligned_alloc) ? real.aligned_alloc : NULL;
		if (!OWN(posix_memalign) && real.memalign)
			real.posix_memalign = derived_posix_memalign;
		if (!OWN(aligned_alloc) && real.memalign)
			real.aligned_alloc = derived_aligned_alloc;
		if (!OWN(valloc) && real.memalign)
			real.valloc = derived_valloc;
		if (!OWN(pvalloc) && real.memalign)
			real.pvalloc = derived_pvalloc;
		if (!OWN(usable_size))
			real.usable_size = derived_usable_size;
#undef OWN
	}
	gp_alloc_glibc = glibc;
}

/* @return 1 once gp_next holds the real functions, 0 on the thread finding them (serve the
 * call from the arena). */
static int resolve(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	if (s == RESOLVED)
		return 1;
	if (resolving_here)
		return 0;
	int expect = UNRESOLVED;
	if (!__atomic_compare_exchange_n(&state, &expect, RESOLVING, 0, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != RESOLVED)
			sched_yield(); /* only at the very start of the process */
		return 1;
	}
	int e = errno, outer = gp_tls.busy;
	resolving_here = 1;
	gp_tls.busy = 1;
	find_next();
	struct gp_next n = real;
	if (__atomic_load_n(&boot_used, __ATOMIC_RELAXED)) {
		n.free = boot_aware_free;
		n.realloc = boot_aware_realloc;
		n.usable_size = boot_aware_usable_size;
	}
	/* a thread reading gp_next meanwhile sees a bootstrap function or the real one: both
	 * forward to the real one */
	__atomic_store_n(&gp_next.malloc, n.malloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.calloc, n.calloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.realloc, n.realloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.free, n.free, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.memalign, n.memalign, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.posix_memalign, n.posix_memalign, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.aligned_alloc, n.aligned_alloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.valloc, n.valloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.pvalloc, n.pvalloc, __ATOMIC_RELAXED);
	__atomic_store_n(&gp_next.usable_size, n.usable_size, __ATOMIC_RELAXED);
	gp_tls.busy = outer;
	resolving_here = 0;
	__atomic_store_n(&state, RESOLVED, __ATOMIC_RELEASE);
	errno = e;
	return 1;
}

/* ---- the bootstrap functions gp_next starts with ---- */

static void *boot_malloc(size_t n)
{
	return resolve() ? gp_next.malloc(n) : boot_alloc(n, 16);
}

static void *boot_calloc(size_t n, size_t m)
{
	if (resolve())
		return gp_next.calloc(n, m);
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return boot_alloc(t, 16);
}

static void *boot_realloc(void *p, size_t n)
{
	if (gp_alloc_is_boot(p) || !resolve()) {
		if (!p)
			return boot_alloc(n, 16);
		if (!gp_alloc_is_boot(p) || n == 0)
			return NULL; /* cannot be: no other block exists before resolving */
		void *q = boot_alloc(n, 16);
		if (q) {
			size_t o = boot_size(p);
			memcpy(q, p, o < n ? o : n);
		}
		return q;
	}
	return gp_next.realloc(p, n);
}

static void boot_free(void *p)
{
	if (!gp_alloc_is_boot(p) && resolve())
		gp_next.free(p);
}

static void *boot_memalign(size_t align, size_t n)
{
	if (resolve())
		return gp_next.memalign(align, n);
	return (align & (align - 1)) == 0 ? boot_alloc(n, align) : NULL;
}

static int boot_posix_memalign(void **out, size_t align, size_t n)
{
	if (resolve())
		return gp_next.posix_memalign(out, align, n);
	if (align == 0 || (align & (align - 1)) != 0)
		return EINVAL;
	void *p = boot_alloc(n, align);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *boot_aligned_alloc(size_t align, size_t n)
{
	return resolve() ? gp_next.aligned_alloc(align, n) : boot_memalign(align, n);
}

static void *boot_valloc(size_t n)
{
	return resolve() ? gp_next.valloc(n) : boot_alloc(n, 4096);
}

static void *boot_pvalloc(size_t n)
{
	return resolve() ? gp_next.pvalloc(n) : boot_alloc((n + 4095) & ~(size_t)4095, 4096);
}

static size_t boot_usable_size(void *p)
{
	if (gp_alloc_is_boot(p))
		return boot_size(p);
	return resolve() ? gp_next.usable_size(p) : 0;
}

struct gp_next gp_next = {
	.malloc = boot_malloc,
	.calloc = boot_calloc,
	.realloc = boot_realloc,
	.free = boot_free,
	.memalign = boot_memalign,
	.posix_memalign = boot_posix_memalign,
	.aligned_alloc = boot_aligned_alloc,
	.valloc = boot_valloc,
	.pvalloc = boot_pvalloc,
	.usable_size = boot_usable_size,
};

/* ---- another allocator's blocks ---- */

uint64_t gp_alloc_word_foreign(const void *p)
{
	uint64_t u = gp_next.usable_size((void *)p);
	if (u < (1u << GP_SH_GRANULE_SHIFT)) /* see gp_alloc_word */
		u += 1ull << 40;
	return (u & ~7ull) + 8;
}
