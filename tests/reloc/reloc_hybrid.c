/* reloc_hybrid: one buffer grown first by relocation (malloc + memcpy + free, 3 times), then
 * by realloc (3 times), then by relocation again (2 times), all in hybrid_builder, whose
 * malloc allocated every block involved.
 *   - relocation steps 5 (bytes copied 100+200+300 + 700+800 = 2,100), realloc steps 3:
 *     each kind at hybrid_builder;
 *   - realloc "totals" stay realloc only (the counter's);
 *   - every chain's origin is hybrid_builder (each chain's first block was malloc'ed
 *     there), whatever the split into chains; the number of chains is not pinned.
 * Prints its truth (reloc_truth.h). */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <stdlib.h>
#include <string.h>

#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")

static unsigned long checksum;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static void consume(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 61)
		checksum = checksum * 31 + p[i];
}

/* One relocation of buf (cap bytes) to cap + 100 bytes: a macro, so that the malloc, the
 * memcpy and the free are hybrid_builder's own lines (an inlined function would be a frame
 * of its own for the report, and the site). */
#define RELOCATE(buf, cap)                                                 \
	do {                                                               \
		size_t ncap_ = (cap) + 100;                                \
		unsigned char *nb_ = malloc(ncap_);                        \
		LAUNDER(nb_);                                              \
		memcpy(nb_, (buf), (cap));                                 \
		fill(nb_ + (cap), 100, (unsigned)ncap_);                   \
		free(buf);                                                 \
		rt_reloc_step("hybrid_builder", (cap), ncap_, (cap), 0);   \
		(cap) = ncap_;                                             \
		(buf) = nb_;                                               \
	} while (0)

RT_SITE static void hybrid_builder(void)
{
	size_t cap = 100;
	unsigned char *buf = malloc(cap);
	fill(buf, cap, 4);
	for (int s = 0; s < 3; s++)
		RELOCATE(buf, cap);
	struct rt_entry *r = rt_site("hybrid_builder", "realloc");
	for (int s = 0; s < 3; s++) {
		size_t ncap = cap + 100;
		unsigned char *nb = realloc(buf, ncap);
		if (!nb)
			abort();
		LAUNDER(nb);
		fill(nb + cap, 100, (unsigned)s);
		rt_add(r, "steps", 1);
		rt_add(r, "grows", 1);
		rt_add(rt_realloc_totals(), "steps", 1);
		rt_add(rt_realloc_totals(), "grows", 1);
		buf = nb;
		cap = ncap;
	}
	rt_add(rt_realloc_totals(), "chains", 1);
	rt_add(r, "chains", 1);
	rt_set(rt_realloc_totals(), "max_chain_steps", 3);
	for (int s = 0; s < 2; s++)
		RELOCATE(buf, cap);
	consume(buf, cap);
	free(buf);
}

int main(void)
{
	rt_truth.program = "reloc_hybrid";
	rt_truth.only_listed = 1;
	hybrid_builder();
	struct rt_entry *s = rt_site("hybrid_builder", "relocation");
	struct rt_entry *o = rt_origin("hybrid_builder", "relocation");
	for (int i = 0; i < s->nkeys; i++)
		if (strcmp(s->key[i], "steps") == 0 || strcmp(s->key[i], "bytes_copied") == 0)
			rt_set(o, s->key[i], s->val[i]);
	rt_set(rt_origin("hybrid_builder", "realloc"), "steps", 3);
	rt_reloc_range("chains", 1, 2);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
