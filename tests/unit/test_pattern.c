/*
 * test_pattern.c - the growth-pattern classifier of SPEC "pattern" (gp_shape_classify) on
 * hand-made chains: how increments scale with size decides, not how regular they are.
 * Each sequence is built here from the rule it follows, and the expected pattern is the
 * rule's: additive (constant, variable 1..20 B, quantized +8/+16) is linear, multiplicative
 * (x2, x1.5, x1.125, x1.5/x2 in turn) geometric, fewer than 3 grows "few", two phases
 * "mixed" with what was seen.
 */
#include "check.h"
#include "gp_agg.h"

#include <math.h>

#define MAXN 4096
static uint64_t sz[MAXN];

/* A deterministic 1..20 (the same numbers on every machine). */
static uint64_t rnd(uint64_t *state, uint64_t lo, uint64_t hi)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return lo + (*state >> 33) % (hi - lo + 1);
}

static enum gp_pattern classify(size_t n, struct gp_shape *sh)
{
	return gp_shape_classify(sz, n, sh);
}

int main(void)
{
	struct gp_shape sh;
	size_t n;

	SECTION("constant +16 from 16 to 3200: linear, delta 16");
	n = 0;
	for (uint64_t s = 16; s <= 3200; s += 16)
		sz[n++] = s;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");
	CHECK_D(sh.delta, 16);
	CHECK_U(sh.grows, n - 1);

	SECTION("constant +1 from 1 to 100: linear");
	n = 0;
	for (uint64_t s = 1; s <= 100; s++)
		sz[n++] = s;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");

	SECTION("variable +1..20 B from 1, 500 appends: linear (additive)");
	uint64_t st = 42;
	n = 0;
	sz[n++] = 1;
	for (int i = 0; i < 500; i++, n++)
		sz[n] = sz[n - 1] + rnd(&st, 1, 20);
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");
	CHECK(sh.delta >= 8 && sh.delta <= 13, "(median delta %g)", sh.delta);

	SECTION("variable +1..20 B from 100, 30 appends: linear");
	n = 0;
	sz[n++] = 100;
	for (int i = 0; i < 30; i++, n++)
		sz[n] = sz[n - 1] + rnd(&st, 1, 20);
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");

	SECTION("quantized +8/+16 (mawk), 300 grows: linear");
	n = 0;
	sz[n++] = 8;
	for (int i = 0; i < 300; i++, n++)
		sz[n] = sz[n - 1] + (rnd(&st, 0, 1) ? 16 : 8);
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");

	SECTION("+100/+140 in turn from 100: linear");
	n = 0;
	sz[n++] = 100;
	for (int i = 0; i < 12; i++, n++)
		sz[n] = sz[n - 1] + (i & 1 ? 140 : 100);
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");

	SECTION("doubling 8 -> 2^19: geometric x2");
	n = 0;
	for (uint64_t s = 8; s <= (1u << 19); s *= 2)
		sz[n++] = s;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "geometric");
	CHECK_D(sh.factor, 2);

	SECTION("x1.125 from 1024, 30 grows: geometric");
	n = 0;
	sz[n++] = 1024;
	for (int i = 0; i < 30; i++, n++)
		sz[n] = sz[n - 1] + sz[n - 1] / 8;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "geometric");
	CHECK(fabs(sh.factor - 1.125) < 0.002, "(factor %g)", sh.factor);

	SECTION("x1.5 / x2 in turn from 64: geometric");
	n = 0;
	sz[n++] = 64;
	for (int i = 0; i < 10; i++, n++)
		sz[n] = i & 1 ? sz[n - 1] * 2 : sz[n - 1] + sz[n - 1] / 2;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "geometric");

	SECTION("CPython list growth (n + n/8 + 6, 8-byte items) to 10^5 items: geometric");
	n = 0;
	for (uint64_t items = 0, cap = 0; items < 100000; items++)
		if (items + 1 > cap) {
			cap = ((items + 1) + ((items + 1) >> 3) + 6) & ~(uint64_t)3;
			sz[n++] = cap * 8;
		}
	enum gp_pattern lp = classify(n, &sh);
	CHECK_S(gp_pattern_name(lp), "geometric", "(%s)", sh.what);

	SECTION("x2 up to 4 KiB, then +4 KiB to 1 MiB: mixed, and it says so");
	n = 0;
	for (uint64_t s = 16; s < 4096; s *= 2)
		sz[n++] = s;
	for (uint64_t s = 4096; s <= (1u << 20); s += 4096)
		sz[n++] = s;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "mixed");
	CHECK_S(sh.what, "x2 up to 4 KiB, then +4 KiB");

	SECTION("+64 B up to 4 KiB, then x2 to 1 MiB: mixed");
	n = 0;
	for (uint64_t s = 64; s < 4096; s += 64)
		sz[n++] = s;
	for (uint64_t s = 4096; s <= (1u << 20); s *= 2)
		sz[n++] = s;
	CHECK_S(gp_pattern_name(classify(n, &sh)), "mixed");
	CHECK_S(sh.what, "+64 B up to 4 KiB, then x2");

	SECTION("erratic 100, 250, 260, 1000, 1010, 5000, 5100: mixed, with its range");
	static const uint64_t erratic[] = { 100, 250, 260, 1000, 1010, 5000, 5100 };
	memcpy(sz, erratic, sizeof erratic);
	CHECK_S(gp_pattern_name(classify(7, &sh)), "mixed");
	CHECK(strstr(sh.what, "per grow") != NULL, "(what: %s)", sh.what);

	SECTION("too few grows: 1 and 2 grows are \"few\", 3 are enough");
	sz[0] = 1000;
	sz[1] = 1016;
	CHECK_S(gp_pattern_name(classify(2, &sh)), "few");
	CHECK_U(sh.grows, 1);
	sz[2] = 1032;
	CHECK_S(gp_pattern_name(classify(3, &sh)), "few");
	sz[3] = 1048;
	CHECK_S(gp_pattern_name(classify(4, &sh)), "linear");
	sz[0] = 8;
	sz[1] = 16;
	sz[2] = 32;
	sz[3] = 64;
	CHECK_S(gp_pattern_name(classify(4, &sh)), "geometric");

	SECTION("shrinks and equal sizes are not grows: +16 with shrink-to-fit steps is linear");
	n = 0;
	for (uint64_t s = 16; s <= 1600; s += 16) {
		sz[n++] = s;
		if (s % 160 == 0) {
			sz[n++] = s - 8;
			sz[n++] = s - 8;
			sz[n++] = s;
		}
	}
	CHECK_S(gp_pattern_name(classify(n, &sh)), "linear");
	sz[0] = 4096;
	sz[1] = 2048;
	sz[2] = 1024;
	CHECK_S(gp_pattern_name(classify(3, &sh)), "few");
	CHECK_U(sh.grows, 0);

	return check_exit("unit-pattern");
}
