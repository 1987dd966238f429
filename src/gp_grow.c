/* gp_grow.c - array growth (gp_grow.h). */
#include "gp_grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int gp_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap > SIZE_MAX / 2 ? need : *cap * 2;
	if (n < first)
		n = first;
	if (n < need)
		n = need;
	if (size && n > SIZE_MAX / size)
		return -1;
	void *p;
	memcpy(&p, pp, sizeof p); /* pp points at some T *: read it without type punning */
	p = realloc(p, n * size);
	if (!p)
		return -1;
	memcpy(pp, &p, sizeof p);
	*cap = n;
	return 0;
}
