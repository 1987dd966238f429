/* reloc_builders: relocation growth whatever becomes of the old block, named at the code that
 * grows the buffer (SPEC: a relocation step's site is where its new block was allocated,
 * never where the old block is freed).
 *   build_names, build_values  two builders (malloc + memcpy) that free the old block through
 *                     one shared release() helper: two sites, at the builders, never release
 *                     (+64 bytes a step: linear; doubling: geometric)
 *   jq_builder        a jq-like string: a 16-byte header, then characters; when an append
 *                     does not fit, a new block of 2 x (length + append) + header is
 *                     allocated and only the length is copied, from behind the old header
 *                     (half of the old block, or less); the old blocks are released later, 8
 *                     at a time (a reference count that drops after other allocations)
 *   leaked_builder    the old blocks are never freed
 *   freed_later       copy into a new block, another allocation, then the old block's free
 *   cross_thread      the copy in this thread, the old block's free in another
 *   template_keep     a 64-byte block copied into 2,000 new 256-byte blocks, kept: the first
 *                     copy is a relocation (nothing tells it from growth: a larger new block
 *                     takes what the old one holds), the others are not (a block moved once
 *                     is not a source again)
 *   last_copy         the program's last act, after it printed its truth: a copy into a
 *                     larger new block, neither block freed before the process exits
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
static uint64_t max_steps;

static void consume(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i += 13)
		checksum = checksum * 31 + c[i];
}

static void chain_len(uint64_t steps)
{
	if (steps > max_steps)
		max_steps = steps;
}

/* The one place both builders free through. */
RT_SITE static void release(void *p)
{
	free(p);
}

RT_SITE static void build_names(int steps)
{
	size_t cap = 64;
	unsigned char *buf = malloc(cap);
	memset(buf, 'n', cap);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + 64;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		memcpy(nb, buf, cap + vlen);
		memset(nb + cap, 'N', ncap - cap);
		release(buf);
		rt_reloc_step("build_names", cap, ncap, cap, s == 0);
		buf = nb;
		cap = ncap;
	}
	chain_len(steps);
	consume(buf, cap);
	release(buf);
}

RT_SITE static void build_values(int steps)
{
	size_t cap = 64;
	unsigned char *buf = malloc(cap);
	memset(buf, 'v', cap);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap * 2;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		memcpy(nb, buf, cap + vlen);
		memset(nb + cap, 'V', ncap - cap);
		release(buf);
		rt_reloc_step("build_values", cap, ncap, cap, s == 0);
		buf = nb;
		cap = ncap;
	}
	chain_len(steps);
	consume(buf, cap);
	release(buf);
}

/* ---- jq_builder ---- */

#define JQ_HDR 16
static void *jq_later[8];
static int jq_nlater;

/* Drop a reference: the block goes when 8 have gathered. */
static void jq_unref(void *p)
{
	jq_later[jq_nlater++] = p;
	if (jq_nlater == 8) {
		for (int i = 0; i < 8; i++)
			free(jq_later[i]);
		jq_nlater = 0;
	}
}

RT_SITE static void jq_builder(int appends)
{
	static const char piece[] = "s12345,s12346,s12347,";
	size_t cap = 48, len = 0, steps = 0;
	unsigned char *s = malloc(JQ_HDR + cap + 1);
	memset(s, 0, JQ_HDR);
	for (int a = 0; a < appends; a++) {
		size_t k = 5 + a % 17;
		if (len + k > cap) {
			size_t ncap = 2 * (len + k);
			unsigned char *ns = malloc(JQ_HDR + ncap + 1);
			LAUNDER(ns);
			ns[0] = 1; /* the header, by stores */
			ns[8] = (unsigned char)ncap;
			memcpy(ns + JQ_HDR, s + JQ_HDR, len + vlen);
			/* growprof counts it when the copy reaches across a quarter of what the old
			 * block holds past the header (always, here: len > cap / 2) */
			if (len * 4 >= cap + 1)
				steps += rt_reloc_step("jq_builder", JQ_HDR + cap + 1, JQ_HDR + ncap + 1,
				                       len, steps == 0);
			jq_unref(s);
			s = ns;
			cap = ncap;
		}
		memcpy(s + JQ_HDR + len, piece, k + vlen);
		len += k;
		s[JQ_HDR + len] = 0;
	}
	chain_len(steps);
	consume(s + JQ_HDR, len);
	for (int i = 0; i < jq_nlater; i++)
		free(jq_later[i]);
	jq_nlater = 0;
	free(s);
}

RT_SITE static void leaked_builder(int steps)
{
	size_t cap = 100;
	unsigned char *buf = malloc(cap);
	memset(buf, 'l', cap);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + cap / 2;
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		memcpy(nb, buf, cap + vlen);
		memset(nb + cap, 'L', ncap - cap);
		rt_reloc_step("leaked_builder", cap, ncap, cap, s == 0);
		buf = nb; /* the old block is never freed */
		cap = ncap;
	}
	chain_len(steps);
	consume(buf, cap);
}

RT_SITE static void freed_later(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *a = malloc(64);
		unsigned char *b = malloc(32);
		memset(a, 'a', 64);
		memset(b, 'b', 32);
		unsigned char *nb = malloc(512);
		LAUNDER(nb);
		memcpy(nb, a, vlen + 64);
		rt_reloc_step("freed_later", 64, 512, 64, 1);
		free(b); /* nothing was copied from b */
		unsigned char *later = malloc(16);
		memset(later, 0, 16);
		free(a); /* a goes after another allocation */
		consume(nb, 64);
		free(later);
		free(nb);
	}
	chain_len(1);
}

/* ---- cross_thread: the copy is made in one thread, the old block freed in another (not
 * named *_free: that is what a free helper is called, which a relocation site never is) ---- */

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

RT_SITE static void cross_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, freer, NULL) != 0)
		abort();
	for (int r = 0; r < ROUNDS / 4; r++) {
		unsigned char *old = malloc(96);
		memset(old, 'o', 96);
		unsigned char *nb = malloc(512);
		LAUNDER(nb);
		memcpy(nb, old, vlen + 96);
		rt_reloc_step("cross_thread", 96, 512, 96, 1);
		pthread_mutex_lock(&mu);
		handoff = old;
		done_flag = 0;
		pthread_cond_broadcast(&cv);
		while (!done_flag)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		consume(nb, 96);
		free(nb);
	}
	pthread_mutex_lock(&mu);
	quit_flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
}

RT_SITE static void template_keep(void)
{
	unsigned char *keep = malloc(64);
	memset(keep, 'k', 64);
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *small = malloc(16);
		memset(small, 's', 16);
		unsigned char *nb = malloc(256);
		LAUNDER(nb);
		memcpy(nb, keep, vlen + 64);
		if (r == 0)
			rt_reloc_step("template_keep", 64, 256, 64, 1);
		free(small);
		consume(nb, 64);
		free(nb);
	}
	free(keep);
}

RT_SITE static void last_copy(void)
{
	unsigned char *old = malloc(200);
	memset(old, 'z', 200);
	unsigned char *nb = malloc(400);
	LAUNDER(nb);
	memcpy(nb, old, 200 + vlen);
	LAUNDER(nb);
}

int main(void)
{
	rt_truth.program = "reloc_builders";
	rt_truth.only_listed = 1;
	build_names(20);
	build_values(14);
	jq_builder(20000);
	leaked_builder(20);
	freed_later();
	cross_thread();
	template_keep();
	rt_site("build_names", "relocation")->pattern = "linear";
	rt_site("build_values", "relocation")->pattern = "geometric";
	rt_site("leaked_builder", "relocation")->pattern = "geometric";
	rt_set(rt_reloc_totals(), "max_chain_steps", max_steps);
	rt_reloc_step("last_copy", 200, 400, 200, 1); /* done after the truth is printed */
	printf("checksum %lu\n", checksum);
	rt_print();
	last_copy();
	return 0;
}
