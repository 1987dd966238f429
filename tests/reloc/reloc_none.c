/* reloc_none: allocation traffic that is NOT relocation growth. The profiler must find no
 * relocation step in it at all (relocation_totals.steps == 0, no site of kind
 * "relocation"); the only growth is realloc_only's realloc chain.
 *   churn             malloc/calloc/free of random sizes, written with memset, no copies
 *   leftovers         small blocks written only at their two ends, freed and allocated in
 *                     turn: new and freed block may start with the same allocator leftovers
 *   stack_copy        new = malloc(256) + memcpy(new, stack buffer) + free(an older, smaller
 *                     block): the copy did not come from a heap block
 *   strdup_free       strdup + free of an unrelated smaller block; a same-size duplicate
 *                     (strdup / malloc + memcpy) followed by free of its source: not growth
 *   shrink_copy       copy from a larger block into a smaller new one, free the larger one
 *   middle_copy       a block's whole contents, from its start, copied behind a header of a
 *                     larger new block (a message framed: 16, 48 and 128 bytes), or from
 *                     behind its own header into the start of the new one: the offsets differ
 *   prefix_copy       the first 16 bytes (a header) of a 512-byte block copied into the start
 *                     of a larger new block: a field, not the block's contents
 *   template_copy     a live 256-byte template copied into new blocks of its own size
 *   join_lines        100 lines of 100 bytes joined into one new block: the first line's
 *                     copy is no growth of it (the new block is 100 times larger)
 *   realloc_only      realloc growth: glibc copies internally; a realloc site, no relocation
 * Prints its truth (reloc_truth.h). */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <stdlib.h>
#include <string.h>

#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")
#define ROUNDS 2000

static unsigned long checksum;
static volatile size_t vlen; /* a run-time length: copies stay library calls */

static void consume(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i += 13)
		checksum = checksum * 31 + c[i];
}

static unsigned long rng = 12345;
static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)(rng >> 33) % n;
}

RT_SITE static void churn(void)
{
	void *slot[64] = { 0 };
	size_t len[64] = { 0 };
	for (int i = 0; i < 20 * ROUNDS; i++) {
		unsigned k = rnd(64);
		if (slot[k]) {
			consume(slot[k], len[k]);
			free(slot[k]);
			slot[k] = NULL;
		} else {
			size_t n = 1 + rnd(4096);
			slot[k] = rnd(4) ? malloc(n) : calloc(1, n);
			memset(slot[k], (int)k, n);
			len[k] = n;
		}
	}
	for (int k = 0; k < 64; k++)
		free(slot[k]);
}

/* Small blocks written only at their ends, the rest left as malloc found it: a block glibc
 * hands out again holds its free-list pointer (and zeros) at the start, and so may the
 * smaller block freed next. A shared 16-byte prefix is no copy. */
RT_SITE static void leftovers(void)
{
	unsigned char *slot[512] = { 0 };
	for (int i = 0; i < 150 * ROUNDS; i++) {
		unsigned k = rnd(512);
		if (slot[k]) {
			checksum = checksum * 31 + slot[k][0];
			free(slot[k]);
		}
		size_t n = 8 + rnd(40);
		unsigned char *p = malloc(n);
		p[0] = (unsigned char)rnd(4);
		p[n - 1] = (unsigned char)i;
		slot[k] = p;
	}
	for (int k = 0; k < 512; k++)
		free(slot[k]);
}

RT_SITE static void stack_copy(void)
{
	unsigned char stackbuf[256];
	for (int i = 0; i < 256; i++)
		stackbuf[i] = (unsigned char)i;
	LAUNDER(stackbuf[0]);
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *older = malloc(32);
		memset(older, 1, 32);
		unsigned char *nb = (r & 1) ? malloc(256) : calloc(1, 256);
		LAUNDER(nb);
		memcpy(nb, stackbuf, vlen + 200);
		memmove(nb + 200, stackbuf + 10, vlen + 40);
		free(older);
		consume(nb, 256);
		free(nb);
	}
}

RT_SITE static void strdup_free(void)
{
	static const char text[] =
		"a string long enough not to be a trivial copy: 0123456789abcdefghijklmnopqrstuvwxyz";
	for (int r = 0; r < ROUNDS; r++) {
		char *unrelated = malloc(8);
		memset(unrelated, 'u', 8);
		char *d = strdup(text);
		free(unrelated);
		/* same-size duplicates of a heap string, then the source is freed */
		char *d2 = strdup(d);
		free(d);
		size_t n = strlen(d2) + 1;
		char *d3 = malloc(n);
		LAUNDER(d3);
		memcpy(d3, d2, n + vlen);
		free(d2);
		consume(d3, n);
		free(d3);
	}
}

RT_SITE static void shrink_copy(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *big = malloc(1000);
		memset(big, 'B', 1000);
		unsigned char *nb = malloc(100);
		LAUNDER(nb);
		memcpy(nb, big + 50, vlen + 100);
		free(big);
		unsigned char *same = malloc(100);
		LAUNDER(same);
		memcpy(same, nb, vlen + 100); /* same size: not growth */
		free(nb);
		consume(same, 100);
		free(same);
	}
}

RT_SITE static void middle_copy(void)
{
	static const size_t hdr[] = { 16, 48, 128 };
	for (int r = 0; r < ROUNDS; r++) {
		size_t h = hdr[r % 3], n = 200 + r % 50;
		unsigned char *old = malloc(n);
		memset(old, 'm', n);
		unsigned char *nb = malloc(h + n);
		LAUNDER(nb);
		memset(nb, 'H', h);
		memcpy(nb + h, old, n + vlen); /* old's contents, behind nb's header */
		free(old);
		consume(nb, h + n);
		/* and the other way: what follows old2's header, at the start of nb2 */
		unsigned char *old2 = malloc(h + n);
		memset(old2, 'o', h + n);
		unsigned char *nb2 = malloc(h + 2 * n);
		LAUNDER(nb2);
		memcpy(nb2, old2 + h, n + vlen);
		memset(nb2 + n, 'n', h + n);
		free(old2);
		consume(nb2, n);
		free(nb2);
		free(nb);
	}
}

RT_SITE static void prefix_copy(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *big = malloc(512);
		memset(big, 'p', 512);
		unsigned char *nb = malloc(1024);
		LAUNDER(nb);
		memcpy(nb, big, 16 + vlen);
		memset(nb + 16, 'q', 1024 - 16);
		free(big);
		consume(nb, 1024);
		free(nb);
	}
}

RT_SITE static void template_copy(void)
{
	unsigned char *tmpl = malloc(256);
	memset(tmpl, 't', 256);
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *nb = malloc(256);
		LAUNDER(nb);
		memcpy(nb, tmpl, 256 + vlen);
		nb[r % 256] = 'x';
		consume(nb, 256);
		free(nb);
	}
	free(tmpl);
}

RT_SITE static void join_lines(void)
{
	unsigned char *line[100];
	for (int i = 0; i < 100; i++) {
		line[i] = malloc(100);
		memset(line[i], 'a' + i % 26, 100);
	}
	for (int r = 0; r < ROUNDS / 10; r++) {
		unsigned char *all = malloc(100 * 100);
		LAUNDER(all);
		for (int i = 0; i < 100; i++)
			memcpy(all + 100 * i, line[i], 100 + vlen);
		consume(all, 100 * 100);
		free(all);
	}
	for (int i = 0; i < 100; i++)
		free(line[i]);
}

RT_SITE static void realloc_only(int steps)
{
	size_t cap = 32;
	unsigned char *buf = malloc(cap);
	memset(buf, 'r', cap);
	struct rt_entry *s = rt_site("realloc_only", "realloc");
	for (int i = 0; i < steps; i++) {
		size_t ncap = cap * 3 / 2;
		unsigned char *nb = realloc(buf, ncap);
		if (!nb)
			abort();
		memset(nb + cap, 'R', ncap - cap);
		rt_add(s, "steps", 1);
		rt_add(s, "grows", 1);
		rt_add(rt_realloc_totals(), "steps", 1);
		rt_add(rt_realloc_totals(), "grows", 1);
		buf = nb;
		cap = ncap;
	}
	rt_add(s, "chains", 1);
	rt_add(rt_realloc_totals(), "chains", 1);
	s->pattern = "geometric";
	consume(buf, cap);
	free(buf);
}

int main(void)
{
	rt_truth.program = "reloc_none";
	rt_truth.only_listed = 1;
	churn();
	leftovers();
	stack_copy();
	strdup_free();
	shrink_copy();
	middle_copy();
	prefix_copy();
	template_copy();
	join_lines();
	realloc_only(30);
	struct rt_entry *t = rt_reloc_totals();
	rt_set(t, "steps", 0);
	rt_set(t, "grows", 0);
	rt_set(t, "moves", 0);
	rt_set(t, "bytes_copied", 0);
	rt_set(t, "chains", 0);
	rt_set(t, "max_chain_steps", 0);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
