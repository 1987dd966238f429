/* reloc_c: C code growing buffers by hand, malloc(new) + memcpy/memmove/mempcpy + free(old).
 * Each builder is a relocation chain whose site (and origin) is the builder itself:
 *   linear_builder    +64 bytes per growth, 200 growths, run twice (2 chains) -> linear
 *   doubling_builder  x2 per growth from 16 bytes, 16 growths, memmove      -> geometric
 *                     (the first two, from 16 and 32 bytes, are under RT_RELOC_MIN)
 *   mempcpy_builder   +32 bytes per growth, 50 growths, mempcpy             -> linear
 *                     (the first, from 32 bytes, is under RT_RELOC_MIN)
 *   realloc_grower    plain realloc growth +16 x 100: a realloc site, no relocation.
 * Prints its truth (reloc_truth.h). */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <stdlib.h>
#include <string.h>

/* Hide a pointer from the optimizer (no malloc/free elision, no memcpy folding). */
#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")

static unsigned long checksum;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static void consume(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 61)
		checksum = checksum * 31 + p[i];
}

RT_SITE static void linear_builder(int steps, size_t k)
{
	size_t cap = k;
	unsigned char *buf = malloc(cap);
	fill(buf, cap, 1);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + k;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		memcpy(nb, buf, cap);
		fill(nb + cap, k, (unsigned)s);
		free(buf);
		rt_reloc_step("linear_builder", cap, ncap, cap, s == 0);
		buf = nb;
		cap = ncap;
	}
	consume(buf, cap);
	free(buf);
}

RT_SITE static int doubling_builder(int steps)
{
	int counted = 0;
	size_t cap = 16;
	unsigned char *buf = malloc(cap);
	fill(buf, cap, 2);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap * 2;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		memmove(nb, buf, cap);
		fill(nb + cap, cap, (unsigned)s);
		free(buf);
		counted += rt_reloc_step("doubling_builder", cap, ncap, cap, counted == 0);
		buf = nb;
		cap = ncap;
	}
	consume(buf, cap);
	free(buf);
	return counted;
}

RT_SITE static int mempcpy_builder(int steps, size_t k)
{
	int counted = 0;
	size_t cap = k;
	unsigned char *buf = malloc(cap);
	fill(buf, cap, 3);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + k;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		unsigned char *end = mempcpy(nb, buf, cap);
		LAUNDER(end);
		fill(end, k, (unsigned)s);
		free(buf);
		counted += rt_reloc_step("mempcpy_builder", cap, ncap, cap, counted == 0);
		buf = nb;
		cap = ncap;
	}
	consume(buf, cap);
	free(buf);
	return counted;
}

RT_SITE static void realloc_grower(int steps)
{
	size_t cap = 16;
	unsigned char *buf = malloc(cap);
	fill(buf, cap, 5);
	struct rt_entry *r = rt_site("realloc_grower", "realloc");
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + 16;
		unsigned char *nb = realloc(buf, ncap);
		if (!nb)
			abort();
		LAUNDER(nb);
		fill(nb + cap, 16, (unsigned)s);
		rt_add(r, "steps", 1);
		rt_add(r, "grows", 1);
		rt_add(rt_realloc_totals(), "steps", 1);
		rt_add(rt_realloc_totals(), "grows", 1);
		buf = nb;
		cap = ncap;
	}
	rt_add(r, "chains", 1);
	rt_add(rt_realloc_totals(), "chains", 1);
	r->pattern = "linear";
	consume(buf, cap);
	free(buf);
}

int main(void)
{
	rt_truth.program = "reloc_c";
	rt_truth.only_listed = 1;
	linear_builder(200, 64);
	linear_builder(200, 64);
	int dsteps = doubling_builder(16);
	int msteps = mempcpy_builder(50, 32);
	realloc_grower(100);

	rt_site("linear_builder", "relocation")->pattern = "linear";
	rt_site("doubling_builder", "relocation")->pattern = "geometric";
	rt_site("mempcpy_builder", "relocation")->pattern = "linear";
	/* origins: each chain began at the builder's first malloc */
	rt_add(rt_origin("linear_builder", "relocation"), "chains", 2);
	rt_add(rt_origin("linear_builder", "relocation"), "steps", 400);
	rt_add(rt_origin("doubling_builder", "relocation"), "chains", 1);
	rt_add(rt_origin("doubling_builder", "relocation"), "steps", (uint64_t)dsteps);
	rt_add(rt_origin("mempcpy_builder", "relocation"), "chains", 1);
	rt_add(rt_origin("mempcpy_builder", "relocation"), "steps", (uint64_t)msteps);
	rt_add(rt_origin("realloc_grower", "realloc"), "chains", 1);
	rt_add(rt_origin("realloc_grower", "realloc"), "steps", 100);
	rt_set(rt_reloc_totals(), "max_chain_steps", 200);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
