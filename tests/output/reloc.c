/*
 * gp-output-reloc - growth without realloc: grow_by_copy() moves a buffer into a bigger
 * malloc'd block, copies it and frees the old one, 100 bytes more each time (a relocation
 * chain, linear). main() also grows a block by realloc, for a realloc chain beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *grow_by_copy(char *old, size_t oldn, size_t n)
{
	char *p = malloc(n);
	if (!p)
		abort();
	if (old) {
		memcpy(p, old, oldn);
		free(old);
	}
	return p;
}

__attribute__((noinline)) static size_t build_by_copy(int pieces)
{
	char *b = NULL;
	size_t n = 0;
	for (int i = 0; i < pieces; i++) {
		b = grow_by_copy(b, n, n + 100);
		memset(b + n, 'x', 100);
		n += 100;
	}
	free(b);
	return n;
}

int main(void)
{
	size_t n = build_by_copy(500);
	char *r = NULL;
	for (int i = 1; i < 300; i++) {
		char *q = realloc(r, (size_t)i * 32);
		if (!q)
			abort();
		r = q;
		r[(size_t)i * 32 - 1] = 0;
	}
	free(r);
	printf("%zu\n", n);
	return 0;
}
