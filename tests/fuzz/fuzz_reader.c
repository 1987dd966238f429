/*
 * fuzz_reader.c - libFuzzer target: any bytes through gp_agg_add_mem (and so gp_reader and
 * gp_record). The contract under test: damage never crashes, never hangs, never leaks; a
 * rejected input has a one-line message; what was read adds up (totals = sum of sites =
 * sum of origins, for realloc and for relocation chains), also after an error.
 *
 * An input that starts with the magic "GROWPROF" is a decompressed trace: it is also
 * compressed here and fed again, so the fuzzer can work on records directly instead of
 * fighting zstd checksums. The corpus holds both kinds.
 *
 * Built by build.sh with clang -fsanitize=fuzzer,...; fuzz_replay.c gives it a main() for
 * the meson test that replays the corpus without clang.
 */
#include "gp_agg.h"
#include "gp_format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A few sites from the innermost address, so that sites, origins and chains spread out;
 * some weak (an allocator wrapper's), so that origins move to their first step's site. */
static uint32_t resolve(void *ctx, const struct gp_frame *f, unsigned n)
{
	(void)ctx;
	if (n == 0)
		return 0;
	uint32_t site = 1 + (uint32_t)(f[0].raw & 7) + (f[0].mod ? 8 : 0);
	return f[0].raw & 0x10 ? site | GP_SITE_WEAK : site;
}

#define INVARIANT(c)                                                                       \
	do {                                                                                   \
		if (!(c))                                                                          \
			__builtin_trap();                                                              \
	} while (0)

static void check_series(const struct gp_series *w)
{
	INVARIANT(w->n <= GP_SERIES_MAX);
	for (uint32_t i = 1; i < w->n; i++)
		INVARIANT(w->pts[i].step > w->pts[i - 1].step);
}

/* Sites and origins of one kind of chain must add up to that kind's totals. */
static void check_stats(const struct gp_stats *sites, const struct gp_stats *origins,
                        uint32_t nsites, const struct gp_totals *t)
{
	uint64_t steps = 0, osteps = 0, ochains = 0, copied = 0, ocopied = 0, moves = 0;
	for (uint32_t i = 0; i < nsites; i++) {
		const struct gp_stats *s = &sites[i], *o = &origins[i];
		INVARIANT(s->moves + s->in_place == s->steps);
		INVARIANT(o->moves + o->in_place == o->steps);
		INVARIANT(s->grows + s->shrinks <= s->steps);
		INVARIANT(s->remaps <= s->moves);
		INVARIANT(s->peak_max <= s->peak_bytes);
		INVARIANT(o->peak_max <= o->peak_bytes);
		INVARIANT(s->factors.n <= s->grows && s->factors.n <= GP_SAMPLES_MAX);
		check_series(&s->worst);
		check_series(&o->worst);
		steps += s->steps;
		osteps += o->steps;
		ochains += o->chains;
		copied += s->bytes_copied;
		ocopied += o->bytes_copied;
		moves += s->moves;
		/* exercise the summaries */
		(void)gp_pattern_name(gp_stats_pattern(s));
		(void)gp_stats_amplification(s);
		(void)gp_samples_median(&o->deltas);
	}
	INVARIANT(steps == t->steps);
	INVARIANT(osteps == t->steps);
	INVARIANT(ochains == t->chains);
	INVARIANT(copied == t->bytes_copied);
	INVARIANT(ocopied == t->bytes_copied);
	INVARIANT(moves == t->moves);
	INVARIANT(t->max_chain_steps <= t->steps);
	INVARIANT(t->grows + t->shrinks <= t->steps);
	INVARIANT(t->remaps <= t->moves);
}

static void check(struct gp_agg *a, int rc)
{
	if (rc) {
		/* one line, not empty */
		INVARIANT(a->err[0] != 0);
		INVARIANT(strchr(a->err, '\n') == NULL);
	}
	/* gp_agg.h: even after -1, totals, sites and origins agree with each other */
	check_stats(a->sites, a->origins, a->nsites, &a->totals);
	check_stats(a->rsites, a->rorigins, a->nsites, &a->reloc_totals);
	uint64_t ssteps = 0;
	for (size_t i = 0; i < a->nstacks; i++) {
		const struct gp_stack *st = &a->stacks[i];
		INVARIANT(st->moves <= st->steps && st->remaps <= st->moves);
		ssteps += st->steps;
	}
	INVARIANT(ssteps <= a->totals.steps + a->reloc_totals.steps);
	for (size_t i = 0; i < a->ntraces; i++)
		INVARIANT(a->traces[i].complete || a->traces[i].cut_short);
}

static void feed(const uint8_t *data, size_t size)
{
	struct gp_agg a;
	gp_agg_init(&a, resolve, NULL);
	int rc = gp_agg_add_mem(&a, "fuzz", data, size);
	INVARIANT(rc == 0 || rc == -1);
	check(&a, rc);
	gp_agg_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed(data, size);
	if (size >= GP_MAGIC_LEN && memcmp(data, GP_MAGIC, GP_MAGIC_LEN) == 0 && size < (1u << 20)) {
		size_t cap = ZSTD_compressBound(size);
		uint8_t *z = malloc(cap);
		if (z) {
			size_t n = ZSTD_compress(z, cap, data, size, 1);
			if (!ZSTD_isError(n))
				feed(z, n);
			free(z);
		}
	}
	return 0;
}
