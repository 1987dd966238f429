/*
 * attr_c: growth whose site, pattern and advice a user must be told right (issue 21). Each
 * builder is a never-inlined function; the program counts what it does and prints its truth
 * as one JSON line (see check_attr.py):
 *   build_a, build_b   malloc + memcpy + free through a shared release() helper, +48 B from
 *                      64 B, 150 growths each: two relocation sites (never "release"), linear
 *   grow_const         realloc +16 B x 300 from 16          -> linear
 *   grow_var           realloc +1..20 B x 500 from 1        -> linear (variable additive)
 *   grow_quant         realloc +8 or +16 B x 400 from 8     -> linear (quantized)
 *   grow_double        realloc x2 from 16 to 64 KiB         -> geometric (amortized)
 *   grow_few           realloc 2 grows                      -> few
 * Sizes stay below glibc's mmap threshold, so no move is a remap: bytes copied by a move are
 * min(old, new).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define SITE __attribute__((noinline, used))
#else
#define SITE __attribute__((noipa, used))
#endif
/* Hide a pointer from the optimizer (no malloc/free elision, no memcpy folding). */
#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")

struct truth {
	const char *fn, *kind, *pattern;
	uint64_t steps, moves, copied;
};
static struct truth tr[16];
static int ntr;
static unsigned long sink;

static struct truth *entry(const char *fn, const char *kind, const char *pattern)
{
	struct truth *t = &tr[ntr++];
	t->fn = fn;
	t->kind = kind;
	t->pattern = pattern;
	return t;
}

/* The free path two builders share: never a site. */
SITE static void release(void *p)
{
	free(p);
}

/* One relocation builder: +48 B from 64 B, `n` growths, the old block freed by release(). */
#define BUILDER(name)                                                                      \
	SITE static void name(int n)                                                           \
	{                                                                                      \
		struct truth *t = entry(#name, "relocation", "linear");                            \
		size_t cap = 64;                                                                   \
		unsigned char *buf = malloc(cap);                                                  \
		memset(buf, 1, cap);                                                               \
		for (int i = 0; i < n; i++) {                                                      \
			unsigned char *nb = malloc(cap + 48);                                          \
			LAUNDER(nb);                                                                   \
			memcpy(nb, buf, cap);                                                          \
			memset(nb + cap, (int)i, 48);                                                  \
			release(buf);                                                                  \
			t->steps++;                                                                    \
			t->moves++;                                                                    \
			t->copied += cap;                                                              \
			buf = nb;                                                                      \
			cap += 48;                                                                     \
		}                                                                                  \
		sink += buf[cap - 1];                                                              \
		release(buf);                                                                      \
	}
BUILDER(build_a)
BUILDER(build_b)

/* A realloc step of `t`, counted from what the program sees (a macro: the realloc call is
 * in the grower, which is its site). */
#define STEP(t, p, old, n)                                                                 \
	do {                                                                                   \
		uintptr_t was_ = (uintptr_t)(p);                                                   \
		unsigned char *q_ = realloc((p), (n));                                             \
		if (!q_)                                                                           \
			abort();                                                                       \
		(t)->steps++;                                                                      \
		if ((uintptr_t)q_ != was_) {                                                       \
			(t)->moves++;                                                                  \
			(t)->copied += (old) < (n) ? (old) : (n);                                      \
		}                                                                                  \
		(p) = q_;                                                                          \
	} while (0)

static uint64_t rng = 88172645463325252ull;
static size_t rnd(size_t lo, size_t hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (size_t)(rng % (hi - lo + 1));
}

/* Each grower interleaves a small allocation that stays, so that realloc must move now and
 * then (the block cannot always grow into free space). */
#define GROWER(name, pattern, start, count, next)                                          \
	SITE static void name(void)                                                            \
	{                                                                                      \
		struct truth *t = entry(#name, "realloc", pattern);                                \
		size_t cap = start;                                                                \
		unsigned char *p = malloc(cap);                                                    \
		void *keep[count];                                                                 \
		for (int i = 0; i < (count); i++) {                                                \
			size_t n = next;                                                               \
			STEP(t, p, cap, n);                                                            \
			p[n - 1] = (unsigned char)i;                                                   \
			cap = n;                                                                       \
			keep[i] = malloc(24);                                                          \
		}                                                                                  \
		sink += p[cap - 1];                                                                \
		free(p);                                                                           \
		for (int i = 0; i < (count); i++)                                                  \
			free(keep[i]);                                                                 \
	}
GROWER(grow_const, "linear", 16, 300, cap + 16)
GROWER(grow_var, "linear", 1, 500, cap + rnd(1, 20))
GROWER(grow_quant, "linear", 8, 400, cap + (rnd(0, 1) ? 16 : 8))
GROWER(grow_double, "geometric", 16, 12, cap * 2)
GROWER(grow_few, "few", 100, 2, cap + 100)

int main(void)
{
	build_a(150);
	build_b(150);
	grow_const();
	grow_var();
	grow_quant();
	grow_double();
	grow_few();
	printf("{\"program\": \"attr_c\", \"file\": \"attr_c.c\", \"sites\": [");
	for (int i = 0; i < ntr; i++)
		printf("%s{\"function\": \"%s\", \"kind\": \"%s\", \"pattern\": \"%s\", \"steps\": %llu, "
		       "\"moves\": %llu, \"bytes_copied\": %llu}", i ? ", " : "", tr[i].fn, tr[i].kind,
		       tr[i].pattern, (unsigned long long)tr[i].steps, (unsigned long long)tr[i].moves,
		       (unsigned long long)tr[i].copied);
	printf("], \"free_paths\": [\"release\", \"free\"], \"sink\": %lu}\n", sink & 1);
	return 0;
}
