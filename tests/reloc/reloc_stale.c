/* reloc_stale: thread A copies block `old` (64 bytes) into a new, larger block: a relocation,
 * one chain per round (SPEC: the old block may be freed at once, later or never). Thread B
 * then frees `old` and allocates a block of the same size, which glibc serves at old's
 * address, and hands it back; thread A frees it. Nothing was ever copied from that second
 * block: it adds nothing, and the relocation A made is counted once, whatever B did with
 * the old block's address before A's next allocator call.
 * Prints its truth (reloc_truth.h); how often the address was reused goes to stderr. */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")
#define ROUNDS 500

static unsigned long checksum;
static volatile size_t vlen;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *to_b, *to_a;
static int quit_flag;

static void *thread_b(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!to_b && !quit_flag)
			pthread_cond_wait(&cv, &mu);
		if (!to_b)
			break;
		free(to_b);
		to_b = NULL;
		unsigned char *x = malloc(64); /* usually at the address just freed */
		memset(x, 'x', 64);
		to_a = x;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

RT_SITE static int stale_rounds(void)
{
	int reused = 0;
	pthread_t t;
	if (pthread_create(&t, NULL, thread_b, NULL) != 0)
		abort();
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *old = malloc(64);
		memset(old, 'o', 64);
		unsigned char *nb = malloc(256);
		LAUNDER(nb);
		memcpy(nb, old, vlen + 64);
		rt_reloc_step("stale_rounds", 64, 256, 64, 1);
		pthread_mutex_lock(&mu);
		to_b = old;
		pthread_cond_broadcast(&cv);
		while (!to_a)
			pthread_cond_wait(&cv, &mu);
		unsigned char *x = to_a;
		to_a = NULL;
		pthread_mutex_unlock(&mu);
		reused += (void *)x == (void *)old;
		checksum = checksum * 31 + x[5] + nb[7];
		free(x); /* never copied from */
		free(nb);
	}
	pthread_mutex_lock(&mu);
	quit_flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	return reused;
}

int main(void)
{
	rt_truth.program = "reloc_stale";
	rt_truth.only_listed = 1;
	int reused = stale_rounds();
	fprintf(stderr, "reloc_stale: %d of %d rounds got the freed address back\n", reused,
	        ROUNDS);
	rt_set(rt_reloc_totals(), "max_chain_steps", 1);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
