/*
 * growdemo - two ways to build the same 1 MiB of text.
 *
 * append_linear() grows its buffer by a constant 64 bytes: every time the allocator cannot
 * extend the block in place, realloc copies everything built so far - O(n^2) bytes copied.
 * append_doubling() doubles the capacity: the total copied stays below the final size.
 * Run it under growprof and the report shows the first as a linear hotspot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb {
	char *data;
	size_t len, cap;
};

static const char piece[] = "The quick brown fox jumps over the lazy dog, again and again. ";

/* Grows by exactly what is needed: the trap. */
__attribute__((noinline)) static void append_linear(struct sb *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = b->len + n;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

/* Grows geometrically: amortized O(1) per byte. */
__attribute__((noinline)) static void append_doubling(struct sb *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (!b->data)
			abort();
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

/* Several builders grow side by side, as in a program that assembles many strings at once:
 * each one's neighbours keep realloc from extending it in place. */
#define BUILDERS 16

__attribute__((noinline)) static size_t build(void (*append)(struct sb *, const char *, size_t),
                                              size_t target)
{
	struct sb b[BUILDERS] = { { 0 } };
	size_t total = 0;
	for (size_t len = 0; len < target; len += sizeof piece - 1)
		for (int i = 0; i < BUILDERS; i++)
			append(&b[i], piece, sizeof piece - 1);
	for (int i = 0; i < BUILDERS; i++) {
		total += b[i].len;
		free(b[i].data);
	}
	return total;
}

int main(int argc, char **argv)
{
	size_t target = argc > 1 ? strtoul(argv[1], NULL, 0) : (size_t)64 << 10;
	size_t a = build(append_linear, target);
	size_t b = build(append_doubling, target);
	printf("built %zu bytes linearly and %zu bytes by doubling\n", a, b);
	return 0;
}
