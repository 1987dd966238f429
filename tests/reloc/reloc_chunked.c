/* reloc_chunked: relocations whose data moves in more than a few copies.
 *   records_builder   an array of 32-byte records grown by 8 records at a time; each growth
 *                     copies the old records one memcpy per record (8, 16, ... 160 copies)
 *                     -> 20 steps, bytes copied = all the records copied, linear
 *   prefixed_builder  each growth first writes a 4-field header into the new block from a
 *                     stack buffer (4 small memcpy calls), then copies the payload from the
 *                     old block with one memcpy -> 20 steps, bytes copied = the payloads
 * By the feature's definition (bytes copied = what memcpy/memmove copied from the old block
 * into the new one), every copy counts, however many calls it took.
 * Prints its truth (reloc_truth.h). */
#define _GNU_SOURCE
#include "reloc_truth.h"

#include <stdlib.h>
#include <string.h>

#define LAUNDER(p) __asm__ volatile("" : "+r"(p) : : "memory")

static unsigned long checksum;
static volatile size_t record_len = 32; /* volatile: the copies stay memcpy calls */
static volatile size_t field_len = 4;

static void consume(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 61)
		checksum = checksum * 31 + p[i];
}

RT_SITE static void records_builder(int steps)
{
	size_t rl = record_len;
	size_t n = 8;
	unsigned char *buf = malloc(n * rl);
	memset(buf, 1, n * rl);
	for (int s = 0; s < steps; s++) {
		size_t nn = n + 8;
		unsigned char *nb = malloc(nn * rl);
		LAUNDER(nb);
		for (size_t i = 0; i < n; i++)
			memcpy(nb + i * rl, buf + i * rl, record_len);
		memset(nb + n * rl, s & 0xff, 8 * rl);
		free(buf);
		rt_reloc_step("records_builder", n * rl, nn * rl, n * rl, s == 0);
		buf = nb;
		n = nn;
	}
	consume(buf, n * rl);
	free(buf);
}

RT_SITE static void prefixed_builder(int steps)
{
	size_t cap = 16 + 64;
	unsigned char *buf = malloc(cap);
	memset(buf, 2, cap);
	for (int s = 0; s < steps; s++) {
		size_t ncap = cap + 64;
		unsigned char hdr[16];
		for (int i = 0; i < 16; i++)
			hdr[i] = (unsigned char)(s + i);
		LAUNDER(hdr[0]);
		unsigned char *nb = malloc(ncap);
		LAUNDER(nb);
		for (size_t f = 0; f < 4; f++)
			memcpy(nb + f * 4, hdr + f * 4, field_len);
		memcpy(nb + 16, buf + 16, cap - 16);
		memset(nb + cap, 3, 64);
		free(buf);
		rt_reloc_step("prefixed_builder", cap, ncap, cap - 16, s == 0);
		buf = nb;
		cap = ncap;
	}
	consume(buf, cap);
	free(buf);
}

int main(void)
{
	rt_truth.program = "reloc_chunked";
	rt_truth.only_listed = 1;
	records_builder(20);
	prefixed_builder(20);
	rt_site("records_builder", "relocation")->pattern = "linear";
	rt_site("prefixed_builder", "relocation")->pattern = "linear";
	rt_set(rt_reloc_totals(), "max_chain_steps", 20);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
