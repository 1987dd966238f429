/* copycount.so: an independent count of the large copies a program makes, for the
 * relocation tests of real runtimes (check_runtime.py).
 *
 *     LD_PRELOAD="libgrowprof.so copycount.so" COPYCOUNT_OUTPUT=DIR/copies.%p prog
 *
 * Behind the profiler (whose copy hooks forward to the next memcpy: this one), it counts
 * every memcpy, memmove and mempcpy call (and their _chk forms) of at least COPYCOUNT_MIN
 * bytes (default 4096) and the bytes they copy, and writes "calls bytes\n" at exit. It
 * knows nothing of blocks or growth: a quadratic builder's copies are large, the rest of a
 * program's mostly small, so the count bounds what growprof's relocations copied.
 * Never allocates, never uses stdio.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *(*copy_fn)(void *, const void *, size_t);

static uint64_t calls, bytes, min_n = 4096;

/* Until the real functions are found (dlsym may copy): string instructions. */
static void *slow_copy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	if ((uintptr_t)dst - (uintptr_t)src >= n) {
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	} else {
		unsigned char *de = (unsigned char *)dst + n - 1;
		const unsigned char *se = (const unsigned char *)src + n - 1;
		__asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(de), "+S"(se), "+c"(n) : : "memory");
	}
	return dst;
}

static void *slow_pcopy(void *dst, const void *src, size_t n)
{
	return (char *)slow_copy(dst, src, n) + n;
}

static copy_fn real_memcpy = slow_copy, real_memmove = slow_copy, real_mempcpy = slow_pcopy;

static inline void count(size_t n)
{
	if (n >= min_n) {
		__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&bytes, n, __ATOMIC_RELAXED);
	}
}

__attribute__((visibility("default"))) void *memcpy(void *d, const void *s, size_t n)
{
	count(n);
	return real_memcpy(d, s, n);
}

__attribute__((visibility("default"))) void *memmove(void *d, const void *s, size_t n)
{
	count(n);
	return real_memmove(d, s, n);
}

__attribute__((visibility("default"))) void *mempcpy(void *d, const void *s, size_t n)
{
	count(n);
	return real_mempcpy(d, s, n);
}

__attribute__((visibility("default"))) void *__memcpy_chk(void *d, const void *s, size_t n,
                                                          size_t dl)
{
	(void)dl;
	return memcpy(d, s, n);
}

__attribute__((visibility("default"))) void *__memmove_chk(void *d, const void *s, size_t n,
                                                           size_t dl)
{
	(void)dl;
	return memmove(d, s, n);
}

static size_t put_u(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		p[i++] = tmp[--n];
	return i;
}

__attribute__((constructor)) static void cc_init(void)
{
	copy_fn f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "memcpy")))
		real_memcpy = f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "memmove")))
		real_memmove = f;
	if ((f = (copy_fn)dlsym(RTLD_NEXT, "mempcpy")))
		real_mempcpy = f;
	const char *m = getenv("COPYCOUNT_MIN");
	if (m)
		min_n = strtoull(m, NULL, 10);
}

__attribute__((destructor)) static void cc_fini(void)
{
	const char *pat = getenv("COPYCOUNT_OUTPUT");
	if (!pat)
		return;
	char path[4096], line[64];
	size_t o = 0;
	for (const char *c = pat; *c && o < sizeof path - 24; c++) {
		if (c[0] == '%' && c[1] == 'p') {
			o += put_u(path + o, (uint64_t)getpid());
			c++;
		} else {
			path[o++] = *c;
		}
	}
	path[o] = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	size_t n = put_u(line, calls);
	line[n++] = ' ';
	n += put_u(line + n, bytes);
	line[n++] = '\n';
	if (write(fd, line, n) < 0) { /* nothing to be done */
	}
	close(fd);
}
