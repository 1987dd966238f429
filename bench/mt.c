/*
 * mt - the many-thread allocation workload of the growprof benchmark.
 *
 *     mt THREADS SIZE
 *
 * THREADS threads (8 in bench/run.py) run SIZE rounds each, all at once, over their own
 * pools. One round:
 *   - appends 16-48 bytes to one of 16 string builders that grow by exactly what the append
 *     needs (one realloc per append: the quadratic pattern), up to a random 256 B - 8 KiB;
 *   - pushes one element on one of 8 vectors that grow by half (cap * 3 / 2);
 *   - replaces six of 1024 small objects (free + malloc of 8-512 bytes, one in eight calloc):
 *     the plain malloc/free churn of a server's request handling;
 *   - every 8th round, sends a 64 B - 1 KiB message (malloc'd and filled here) to the next
 *     thread's mailbox and frees the messages in its own: blocks freed by a thread other
 *     than the one that allocated them, as between a server's threads.
 *
 * Deterministic: a per-thread xorshift seeded by the thread number drives the work, and what
 * a thread receives is folded in by addition, so the order in which messages arrive does not
 * change the output (one line per thread, then a total). No addresses in the checksums.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTR 16
#define NVEC 8
#define NSMALL 1024
#define MAXT 64

struct sb {
	char *data;
	size_t len, cap, limit;
};

struct vec {
	uint32_t *data;
	size_t len, cap, limit;
};

/* A message: its header lives in the block it sends. */
struct msg {
	struct msg *next;
	size_t n;
	unsigned char body[];
};

struct mailbox {
	pthread_mutex_t lock;
	struct msg *head;
	char pad[64];
};

struct job {
	int id, threads;
	long rounds;
	uint64_t sum, recv;
	uint64_t reallocs, allocs;
};

static struct mailbox box[MAXT];
static pthread_barrier_t done_sending;

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *xcheck(void *p)
{
	if (!p) {
		fputs("mt: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

static uint64_t fold(uint64_t h, uint64_t x)
{
	h ^= x;
	h *= 0x100000001b3ull;
	return h;
}

__attribute__((noinline)) static void sb_append(struct sb *b, const char *s, size_t n,
						 struct job *j)
{
	if (b->len + n > b->cap) {
		b->cap = b->len + n;
		b->data = xcheck(realloc(b->data, b->cap));
		j->reallocs++;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

__attribute__((noinline)) static void vec_push(struct vec *v, uint32_t x, struct job *j)
{
	if (v->len == v->cap) {
		v->cap = v->cap ? v->cap + v->cap / 2 : 8;
		v->data = xcheck(realloc(v->data, v->cap * sizeof *v->data));
		j->reallocs++;
	}
	v->data[v->len++] = x;
}

__attribute__((noinline)) static void *small_new(uint64_t r, struct job *j)
{
	size_t n = 8 + (size_t)(r % 505);
	unsigned char *p = xcheck((r >> 20) % 8 == 0 ? calloc(1, n) : malloc(n));
	p[0] = (unsigned char)r;
	p[n - 1] = (unsigned char)(r >> 8);
	j->allocs++;
	return p;
}

__attribute__((noinline)) static void msg_send(int to, uint64_t r, struct job *j)
{
	size_t n = 64 + (size_t)(r % 961);
	struct msg *m = xcheck(malloc(sizeof *m + n));
	m->n = n;
	memset(m->body, (int)(r & 0xff), n);
	m->body[0] = (unsigned char)(r >> 8);
	j->allocs++;
	pthread_mutex_lock(&box[to].lock);
	m->next = box[to].head;
	box[to].head = m;
	pthread_mutex_unlock(&box[to].lock);
}

/* Frees what others sent; folded by addition: arrival order does not matter. */
__attribute__((noinline)) static void drain(struct job *j)
{
	pthread_mutex_lock(&box[j->id].lock);
	struct msg *m = box[j->id].head;
	box[j->id].head = NULL;
	pthread_mutex_unlock(&box[j->id].lock);
	while (m) {
		struct msg *n = m->next;
		j->recv += m->n * 257 + m->body[0] + m->body[m->n - 1];
		free(m);
		m = n;
	}
}

static void *work(void *arg)
{
	struct job *j = arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(j->id + 1);
	uint64_t h = 0xcbf29ce484222325ull;
	struct sb *str = xcheck(calloc(NSTR, sizeof *str));
	struct vec *vec = xcheck(calloc(NVEC, sizeof *vec));
	unsigned char **small = xcheck(calloc(NSMALL, sizeof *small));
	char piece[48];
	int to = (j->id + 1) % j->threads;

	for (int i = 0; i < NSTR; i++)
		str[i].limit = 256 + next(&s) % (8 * 1024 - 256);
	for (int i = 0; i < NVEC; i++)
		vec[i].limit = (size_t)64 << (next(&s) % 8);

	for (long r = 0; r < j->rounds; r++) {
		uint64_t x = next(&s);

		struct sb *b = &str[x % NSTR];
		size_t n = 16 + (x >> 40) % 33;
		for (size_t k = 0; k < n; k++)
			piece[k] = (char)('a' + (x >> (k % 8 * 3)) % 26);
		sb_append(b, piece, n, j);
		if (b->len >= b->limit) {
			for (size_t k = 0; k < b->len; k += 499)
				h = fold(h, (unsigned char)b->data[k]);
			h = fold(h, b->len);
			free(b->data);
			b->data = NULL;
			b->len = b->cap = 0;
			b->limit = 256 + next(&s) % (8 * 1024 - 256);
		}

		struct vec *v = &vec[(x >> 8) % NVEC];
		vec_push(v, (uint32_t)(x ^ (uint64_t)r), j);
		if (v->len >= v->limit) {
			uint64_t t = 0;
			for (size_t k = 0; k < v->len; k++)
				t += v->data[k];
			h = fold(h, t);
			free(v->data);
			v->data = NULL;
			v->len = v->cap = 0;
			v->limit = (size_t)64 << (next(&s) % 8);
		}

		for (int k = 0; k < 6; k++) {
			uint64_t y = next(&s);
			unsigned char **slot = &small[y % NSMALL];
			if (*slot)
				h = fold(h, (*slot)[0]);
			free(*slot);
			*slot = small_new(y >> 10, j);
		}

		if (r % 8 == 7) {
			msg_send(to, next(&s), j);
			drain(j);
		}
	}

	pthread_barrier_wait(&done_sending);
	drain(j);
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
	free(small);
	free(vec);
	free(str);
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
	if (threads < 1 || threads > MAXT || rounds < 1) {
		fprintf(stderr, "mt: THREADS in 1..%d, SIZE >= 1\n", MAXT);
		return 2;
	}
	static struct job jobs[MAXT];
	pthread_t tid[MAXT];
	pthread_barrier_init(&done_sending, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		pthread_mutex_init(&box[i].lock, NULL);
		jobs[i] = (struct job){.id = i, .threads = threads, .rounds = rounds};
	}
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, work, &jobs[i]) != 0) {
			fputs("mt: pthread_create failed\n", stderr);
			return 2;
		}
	uint64_t total = 0, reallocs = 0, allocs = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		printf("thread %d: checksum %016llx received %016llx reallocs %llu allocs %llu\n", i,
		       (unsigned long long)jobs[i].sum, (unsigned long long)jobs[i].recv,
		       (unsigned long long)jobs[i].reallocs, (unsigned long long)jobs[i].allocs);
		total ^= jobs[i].sum ^ jobs[i].recv;
		reallocs += jobs[i].reallocs;
		allocs += jobs[i].allocs;
	}
	printf("total: checksum %016llx reallocs %llu allocs %llu\n", (unsigned long long)total,
	       (unsigned long long)reallocs, (unsigned long long)allocs);
	return 0;
}
