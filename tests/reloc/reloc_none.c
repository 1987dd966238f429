/* reloc_none: allocation traffic that is NOT relocation growth. The profiler must find no
 * relocation step in it at all (relocation_totals.steps == 0, no site of kind
 * "relocation"); the only growth is realloc_only's realloc chain.
 *   churn             malloc/calloc/free of random sizes, written with memset, no copies
 *   leftovers         small blocks written only at their two ends, freed and allocated in
 *                     turn: new and freed block may start with the same allocator leftovers
 *   stack_copy        new = malloc(256) + memcpy(new, stack buffer) + free(an older, smaller
 *                     block): the copy did not come from the freed block
 *   strdup_free       strdup + free of an unrelated smaller block; a same-size duplicate
 *                     (strdup / malloc + memcpy) followed by free of its source: not growth
 *   copy_keep         a copy into the new block from a block that is NOT then freed (it is
 *                     freed later, after other allocations), and a free of another block
 *   shrink_copy       copy from a larger block into a smaller new one, free the larger one
 *   field_copy        an interpreter's string concatenation: a new, larger object whose
 *                     header is written and whose characters (a short tail of the old
 *                     object, after its 48-byte header) are copied from the old one, which
 *                     is then freed: a field taken out of a block, not the block's contents
 *   thread_free       thread A: new = malloc + memcpy(new, old); thread B frees old
 *   realloc_only      realloc growth: glibc copies internally; a realloc site, no relocation
 * Prints its truth (reloc_truth.h). */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <pthread.h>
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

RT_SITE static void copy_keep(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *a = malloc(64);
		unsigned char *b = malloc(32);
		memset(a, 'a', 64);
		memset(b, 'b', 32);
		unsigned char *nb = malloc(512);
		LAUNDER(nb);
		memcpy(nb, a, vlen + 64); /* from a, which is not freed now */
		free(b);                  /* b: nothing was copied from it */
		unsigned char *later = malloc(16);
		memset(later, 0, 16);
		free(a); /* a goes only after another allocation */
		consume(nb, 64);
		free(later);
		free(nb);
	}
	/* and one where the source outlives everything */
	unsigned char *keep = malloc(64);
	memset(keep, 'k', 64);
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *small = malloc(16);
		memset(small, 's', 16);
		unsigned char *nb = malloc(1024);
		LAUNDER(nb);
		memcpy(nb, keep, vlen + 64);
		free(small);
		consume(nb, 64);
		free(nb);
	}
	free(keep);
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

RT_SITE static void field_copy(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		size_t len = 1 + r % 20; /* characters: less than the header */
		unsigned char *old = malloc(48 + len);
		memset(old, 'h', 48);
		memset(old + 48, 'c', len);
		unsigned char *nb = malloc(48 + len + 1);
		LAUNDER(nb);
		memset(nb, 'H', 48);
		memcpy(nb + 48, old + 48, vlen + len);
		nb[48 + len] = 'x';
		free(old);
		consume(nb, 48 + len + 1);
		free(nb);
	}
}

/* ---- thread_free: the copy is made in one thread, the old block freed in another ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *handoff; /* a block for the freeing thread */
static int done_flag, quit_flag;

static void *freer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!handoff && !quit_flag)
			pthread_cond_wait(&cv, &mu);
		if (handoff) {
			free(handoff);
			handoff = NULL;
			done_flag = 1;
			pthread_cond_broadcast(&cv);
		} else if (quit_flag) {
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

RT_SITE static void thread_free(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, freer, NULL) != 0)
		abort();
	for (int r = 0; r < ROUNDS / 4; r++) {
		unsigned char *old = malloc(64);
		memset(old, 'o', 64);
		unsigned char *nb = malloc(1024);
		LAUNDER(nb);
		memcpy(nb, old, vlen + 64);
		pthread_mutex_lock(&mu);
		handoff = old;
		done_flag = 0;
		pthread_cond_broadcast(&cv);
		while (!done_flag)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		consume(nb, 64);
		free(nb);
	}
	pthread_mutex_lock(&mu);
	quit_flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
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
	copy_keep();
	shrink_copy();
	field_copy();
	thread_free();
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
