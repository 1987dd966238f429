/*
 * family.c - the whole malloc family, as a program trusting its allocator uses it.
 *
 * Built plain (glibc) and linked with jemalloc, tcmalloc and mimalloc; run with and without
 * growprof (check_alloc.py), and with each allocator preloaded after it. Its stdout must not
 * change under the profiler: it prints what the allocator answered (usable sizes, alignment,
 * error codes, errno, contents), never an address. It writes every block up to its
 * malloc_usable_size, as redis's zmalloc does: a wrong answer writes past the block.
 *
 * The last line is its own truth, the counts of SPEC's words it knows it caused: steps,
 * grows, shrinks, failed, chains, max_chain_steps (allocs and frees also come from libc's
 * stdio, so counter.so is their truth).
 *
 *     family [--pvalloc] [--threads N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct truth {
	long steps, grows, shrinks, failed, chains, max_chain_steps;
};

static pthread_mutex_t truth_mu = PTHREAD_MUTEX_INITIALIZER;
static struct truth all;
static int all_ok = 1;

/* A block the program grows, with what it knows of its chain. */
struct buf {
	unsigned char *p;
	size_t size;
	long steps; /* of its chain so far */
};

/* Everything up to the usable size is the program's: write it all, then check the bytes
 * the program asked for survived the last move. */
static int use(struct buf *b, unsigned char fill)
{
	size_t u = malloc_usable_size(b->p);
	if (u < b->size)
		return 0;
	memset(b->p + b->size, fill, u - b->size);
	return 1;
}

/* realloc(b, n), n > 0: a step, or a failure. @return 1 if the block was resized. */
static int step(struct truth *t, struct buf *b, size_t n, int *ok)
{
	unsigned char *q = realloc(b->p, n);
	if (!q) {
		t->failed++;
		return 0;
	}
	t->steps++;
	if (n > b->size) {
		t->grows++;
		memset(q + b->size, 0x5a, n - b->size);
	} else if (n < b->size) {
		t->shrinks++;
	}
	if (b->steps++ == 0)
		t->chains++;
	if (b->steps > t->max_chain_steps)
		t->max_chain_steps = b->steps;
	b->p = q;
	b->size = n;
	*ok &= use(b, 0x77);
	return 1;
}

static struct buf fresh(void *p, size_t n) { return (struct buf){ p, n, 0 }; }

/* Growth the profiler must see: +13 B a step, doubling, a shrink, small blocks side by
 * side. Run by each thread. */
static void growth(struct truth *t, int *ok)
{
	struct buf s = fresh(malloc(1), 1);
	s.p[0] = 'x';
	for (size_t n = 14; n < 6000; n += 13)
		step(t, &s, n, ok);
	*ok &= s.p[0] == 'x' && s.p[1] == 0x5a;
	for (size_t n = s.size; n > 100; n /= 2) /* shrinks */
		step(t, &s, n / 2, ok);
	free(s.p);

	struct buf v = fresh(calloc(2, 8), 16);
	for (size_t i = 0; i < 16; i++)
		*ok &= v.p[i] == 0;
	for (size_t n = 32; n <= (2u << 20); n *= 2) /* past glibc's mmap threshold */
		step(t, &v, n, ok);
	free(v.p);

	/* 600 small blocks of 1..24 bytes, neighbours in their allocator's smallest classes,
	 * every third grown twice, freed in another order */
	enum { NSMALL = 600 };
	static __thread struct buf small[NSMALL];
	for (int i = 0; i < NSMALL; i++) {
		size_t n = 1 + i % 24;
		small[i] = fresh(malloc(n), n);
		memset(small[i].p, i & 0xff, n);
		*ok &= use(&small[i], 0x33);
	}
	for (int i = 0; i < NSMALL; i += 3) {
		step(t, &small[i], small[i].size + 5, ok);
		step(t, &small[i], small[i].size + 40, ok);
	}
	for (int i = 0; i < NSMALL; i++)
		*ok &= small[i].p[0] == (i & 0xff);
	for (int i = 1; i < NSMALL; i += 2)
		free(small[i].p);
	for (int i = 0; i < NSMALL; i += 2)
		free(small[i].p);
}

static void *thread_main(void *arg)
{
	(void)arg;
	struct truth t = { 0 };
	int ok = 1;
	growth(&t, &ok);
	pthread_mutex_lock(&truth_mu);
	all.steps += t.steps;
	all.grows += t.grows;
	all.shrinks += t.shrinks;
	all.failed += t.failed;
	all.chains += t.chains;
	if (t.max_chain_steps > all.max_chain_steps)
		all.max_chain_steps = t.max_chain_steps;
	all_ok &= ok;
	pthread_mutex_unlock(&truth_mu);
	return NULL;
}

/* Sizes no allocator serves, out of the compiler's sight (it warns of them otherwise). */
static volatile size_t huge = SIZE_MAX / 2, huge_count = SIZE_MAX / 8;

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* The rest of the family, once, printing what the allocator answered. */
static void family(struct truth *t, int *ok, int with_pvalloc)
{
	static const size_t sizes[] = { 1, 8, 17, 100, 1000, 5000, 70000, 300000 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		void *p = malloc(sizes[i]);
		printf("malloc(%zu): usable %zu\n", sizes[i], malloc_usable_size(p));
		free(p);
	}

	/* reallocarray: a growing array of 24-byte records, and an overflowing product */
	struct buf a = fresh(reallocarray(NULL, 4, 24), 96);
	for (size_t n = 8; n <= 4096; n *= 2) {
		unsigned char *q = reallocarray(a.p, n, 24);
		if (!q) {
			*ok = 0;
			break;
		}
		t->steps++;
		t->grows++;
		if (a.steps++ == 0)
			t->chains++;
		if (a.steps > t->max_chain_steps)
			t->max_chain_steps = a.steps;
		a.p = q;
		a.size = n * 24;
		*ok &= use(&a, 0x11);
	}
	errno = 0;
	void *old = a.p;
	__asm__ volatile("" : "+r"(old)); /* the same block: the compiler need not know */
	void *o = reallocarray(old, huge_count, 16);
	printf("reallocarray overflow: %s, errno %s\n", o ? "block" : "NULL",
	       errno == ENOMEM ? "ENOMEM" : "other");
	t->failed++; /* the block and its chain go on */
	free(a.p);

	/* aligned allocations, written to their usable size and grown */
	void *p = NULL;
	int rc = posix_memalign(&p, 64, 1000);
	printf("posix_memalign(64, 1000): %d, aligned %d, usable >= 1000 %d\n", rc, aligned(p, 64),
	       malloc_usable_size(p) >= 1000);
	struct buf pb = fresh(p, 1000);
	*ok &= use(&pb, 1);
	step(t, &pb, 3000, ok);
	free(pb.p);
	p = (void *)1;
	rc = posix_memalign(&p, 24, 100); /* not a power of two */
	printf("posix_memalign(24, 100): %s, untouched %d\n", rc == EINVAL ? "EINVAL" : "other",
	       p == (void *)1);
	p = aligned_alloc(4096, 8192);
	printf("aligned_alloc(4096, 8192): aligned %d\n", p && aligned(p, 4096));
	pb = fresh(p, 8192);
	*ok &= use(&pb, 2);
	free(p);
	p = memalign(256, 10);
	printf("memalign(256, 10): aligned %d\n", p && aligned(p, 256));
	pb = fresh(p, 10);
	*ok &= use(&pb, 3);
	step(t, &pb, 500, ok);
	free(pb.p);
	p = valloc(100);
	printf("valloc(100): page aligned %d\n", p && aligned(p, (size_t)sysconf(_SC_PAGESIZE)));
	free(p);
	if (with_pvalloc) {
		p = pvalloc(100);
		printf("pvalloc(100): page aligned %d, usable >= page %d\n",
		       p && aligned(p, (size_t)sysconf(_SC_PAGESIZE)),
		       malloc_usable_size(p) >= (size_t)sysconf(_SC_PAGESIZE));
		free(p);
	}

	/* failures: not allocations, not steps; the block goes on */
	errno = 0;
	p = malloc(huge);
	printf("malloc(huge): %s, errno %s\n", p ? "block" : "NULL", errno == ENOMEM ? "ENOMEM" : "other");
	free(p);
	errno = 0;
	p = calloc(huge_count, 16);
	printf("calloc(overflow): %s, errno %s\n", p ? "block" : "NULL", errno == ENOMEM ? "ENOMEM" : "other");
	free(p);
	struct buf f = fresh(malloc(200), 200);
	memset(f.p, 9, 200);
	if (!step(t, &f, huge, ok))
		printf("realloc(huge): NULL, block intact %d\n", f.p[199] == 9);
	step(t, &f, 400, ok);
	free(f.p);

	/* realloc(NULL, n) allocates; realloc(p, 0) frees (or, for some, gives a new block) */
	f = fresh(realloc(NULL, 50), 50);
	*ok &= use(&f, 4);
	void *z = realloc(f.p, 0);
	printf("realloc(p, 0): %s\n", z ? "a block" : "NULL");
	free(z);
	free(NULL);

	/* errno across calls that succeed */
	errno = EDOM;
	f = fresh(malloc(64), 64);
	step(t, &f, 128, ok);
	free(f.p);
	printf("errno kept: %d\n", errno == EDOM);
}

int main(int argc, char **argv)
{
	int with_pvalloc = 0, nthreads = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pvalloc"))
			with_pvalloc = 1;
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
	}
	struct truth t = { 0 };
	int ok = 1;
	family(&t, &ok, with_pvalloc);
	all = t;
	all_ok = ok;
	if (nthreads > 0) {
		pthread_t th[16];
		if (nthreads > 16)
			nthreads = 16;
		for (int i = 0; i < nthreads; i++)
			pthread_create(&th[i], NULL, thread_main, NULL);
		for (int i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
	} else {
		thread_main(NULL);
	}
	printf("usable sizes held: %d\n", all_ok);
	printf("truth steps=%ld grows=%ld shrinks=%ld failed=%ld chains=%ld max_chain_steps=%ld\n",
	       all.steps, all.grows, all.shrinks, all.failed, all.chains, all.max_chain_steps);
	return all_ok ? 0 : 1;
}
