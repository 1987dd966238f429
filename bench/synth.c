/*
 * synth - the realloc-heavy synthetic of the growprof benchmark.
 *
 *     synth THREADS SIZE
 *
 * Each thread runs SIZE rounds over its own pools. One round:
 *   - appends 24 bytes to one of 48 string builders that grow by exactly +24 bytes
 *     (cap = len + 24: one realloc per append, the quadratic trap growprof looks for);
 *     a builder that passes its random limit (1-24 KiB) is checked and freed;
 *   - pushes one 8-byte element on one of 16 vectors that double their capacity
 *     (a realloc every power of two); a vector past its limit (64-16384 elements) is
 *     checked and freed;
 *   - replaces two of 512 small objects (free + malloc of 8-320 bytes, some calloc).
 *
 * Everything is driven by a per-thread xorshift seeded by the thread number, so the work and
 * the output (one checksum line per thread, then a total) are the same on every run and
 * under any preload. No addresses go into the checksums.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTR 48
#define NVEC 16
#define NSMALL 512

struct sb {
	char *data;
	size_t len, cap, limit;
};

struct vec {
	uint64_t *data;
	size_t len, cap, limit;
};

struct job {
	int id;
	long rounds;
	uint64_t sum;
	uint64_t reallocs;
};

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *xrealloc_(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		fputs("synth: out of memory\n", stderr);
		exit(2);
	}
	return q;
}

/* Grows by exactly what is needed: +24 bytes per append. */
__attribute__((noinline)) static void sb_append(struct sb *b, const char *s, size_t n,
						 uint64_t *reallocs)
{
	if (b->len + n > b->cap) {
		b->cap = b->len + n;
		b->data = xrealloc_(b->data, b->cap);
		++*reallocs;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

/* Doubles its capacity. */
__attribute__((noinline)) static void vec_push(struct vec *v, uint64_t x, uint64_t *reallocs)
{
	if (v->len == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->data = xrealloc_(v->data, v->cap * sizeof *v->data);
		++*reallocs;
	}
	v->data[v->len++] = x;
}

__attribute__((noinline)) static void *small_new(uint64_t r)
{
	size_t n = 8 + (size_t)(r % 313);
	unsigned char *p = (r >> 20) % 8 == 0 ? calloc(1, n) : malloc(n);
	if (!p) {
		fputs("synth: out of memory\n", stderr);
		exit(2);
	}
	p[0] = (unsigned char)r;
	p[n - 1] = (unsigned char)(r >> 8);
	return p;
}

static uint64_t fold(uint64_t h, uint64_t x)
{
	h ^= x;
	h *= 0x100000001b3ull;
	return h;
}

static void *work(void *arg)
{
	struct job *j = arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(j->id + 1);
	uint64_t h = 0xcbf29ce484222325ull;
	struct sb str[NSTR] = {{0}};
	struct vec vec[NVEC] = {{0}};
	unsigned char *small[NSMALL] = {0};
	char piece[24];

	for (int i = 0; i < NSTR; i++)
		str[i].limit = 1024 + next(&s) % (23 * 1024);
	for (int i = 0; i < NVEC; i++)
		vec[i].limit = (size_t)64 << (next(&s) % 9);

	for (long r = 0; r < j->rounds; r++) {
		uint64_t x = next(&s);

		struct sb *b = &str[x % NSTR];
		for (int k = 0; k < 24; k++)
			piece[k] = (char)('a' + (x >> (k % 8 * 3)) % 26);
		sb_append(b, piece, sizeof piece, &j->reallocs);
		if (b->len >= b->limit) {
			/* Check the content survived every move: the first and last pieces. */
			for (size_t k = 0; k < b->len; k += 997)
				h = fold(h, (unsigned char)b->data[k]);
			h = fold(h, b->len);
			free(b->data);
			b->data = NULL;
			b->len = b->cap = 0;
			b->limit = 1024 + next(&s) % (23 * 1024);
		}

		struct vec *v = &vec[(x >> 8) % NVEC];
		vec_push(v, x ^ r, &j->reallocs);
		if (v->len >= v->limit) {
			uint64_t t = 0;
			for (size_t k = 0; k < v->len; k++)
				t += v->data[k];
			h = fold(h, t);
			free(v->data);
			v->data = NULL;
			v->len = v->cap = 0;
			v->limit = (size_t)64 << (next(&s) % 9);
		}

		for (int k = 0; k < 2; k++) {
			uint64_t y = next(&s);
			unsigned char **slot = &small[y % NSMALL];
			if (*slot)
				h = fold(h, (*slot)[0]);
			free(*slot);
			*slot = small_new(y >> 9);
		}
	}

	for (int i = 0; i < NSTR; i++) {
		h = fold(h, str[i].len);
		free(str[i].data);
	}
	for (int i = 0; i < NVEC; i++) {
		h = fold(h, vec[i].len);
		free(vec[i].data);
	}
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	j->sum = h;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s THREADS SIZE\n", argv[0]);
		return 2;
	}
	int threads = atoi(argv[1]);
	long rounds = atol(argv[2]);
	if (threads < 1 || threads > 64 || rounds < 1) {
		fprintf(stderr, "synth: THREADS in 1..64, SIZE >= 1\n");
		return 2;
	}
	struct job jobs[64];
	pthread_t tid[64];
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){.id = i, .rounds = rounds};
		if (threads == 1)
			continue;
		if (pthread_create(&tid[i], NULL, work, &jobs[i]) != 0) {
			fputs("synth: pthread_create failed\n", stderr);
			return 2;
		}
	}
	if (threads == 1)
		work(&jobs[0]);
	uint64_t total = 0, reallocs = 0;
	for (int i = 0; i < threads; i++) {
		if (threads > 1)
			pthread_join(tid[i], NULL);
		printf("thread %d: checksum %016llx reallocs %llu\n", i,
		       (unsigned long long)jobs[i].sum, (unsigned long long)jobs[i].reallocs);
		total ^= jobs[i].sum;
		reallocs += jobs[i].reallocs;
	}
	printf("total: checksum %016llx reallocs %llu\n", (unsigned long long)total,
	       (unsigned long long)reallocs);
	return 0;
}
