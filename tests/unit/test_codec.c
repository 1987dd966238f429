/*
 * test_codec.c - gp_codec: every record kind's bytes, worked out by hand from gp_format.h
 * (not from the codec), decoded back field by field, in each format version; the segment
 * deltas and the TIMED bit; damage the decoder must refuse; and gp_reader_next_rec over a
 * whole trace, whose chain ids and times come back absolute.
 */
#include "check.h"

#include "gp_codec.h"
#include "gp_format.h"
#include "gp_reader.h"
#include "tb.h"

#include <stdint.h>
#include <string.h>

/* Encode `x` with `c`, compare with the `n` expected bytes. */
static void want_bytes(struct gp_codec *c, const struct gp_record *x, const uint8_t *want,
                       size_t n, const char *what)
{
	uint8_t buf[512];
	memset(buf, 0xAA, sizeof buf);
	size_t got = gp_codec_put(c, buf, x);
	CHECK_U(got, n, "(size of %s)", what);
	for (size_t i = 0; i < n; i++)
		CHECK_U(buf[i], want[i], "(byte %zu of %s)", i, what);
}

/* Decode bytes (a whole record: tag, 1-byte length, payload) with `c`. */
static int decode(struct gp_codec *c, const uint8_t *rec, struct gp_record *out)
{
	return gp_codec_decode(c, rec[0], rec + 2, rec[1], out);
}

static void current_version(void)
{
	SECTION("version %d: chain, step, chain-end, segment bytes and deltas", GP_FORMAT_VERSION);
	struct gp_codec e, d;
	gp_codec_init(&e, GP_FORMAT_VERSION);
	gp_codec_init(&d, GP_FORMAT_VERSION);
	struct gp_record x = { .tag = GP_TAG_STEP }, y;

	/* chain 3: zigzag(+3) = 6; stack 2 << 3 | MOVED | TIMED = 0x15; zigzag(+16) = 0x20;
	 * time 5, later than the segment's 0: TIMED, increment 5 */
	x.u.step = (struct gp_step_rec){ .chain = 3, .stack = 2, .delta = 16,
	                                 .flags = GP_STEP_MOVED, .time = 5 };
	static const uint8_t s1[] = { GP_TAG_STEP, 4, 0x06, 0x15, 0x20, 0x05 };
	want_bytes(&e, &x, s1, sizeof s1, "a timed step");
	CHECK_I(decode(&d, s1, &y), 1);
	CHECK_U(y.tag, GP_TAG_STEP);
	CHECK_U(y.u.step.chain, 3);
	CHECK_U(y.u.step.stack, 2);
	CHECK_I(y.u.step.delta, 16);
	CHECK_U(y.u.step.flags, GP_STEP_MOVED);
	CHECK_U(y.u.step.time, 5);
	CHECK_I(y.u.step.with_copied, 0);

	/* same chain (delta 0), same time (not TIMED), zigzag(-8) = 15, copied 200 = c8 01 */
	x.u.step = (struct gp_step_rec){ .chain = 3, .stack = 2, .delta = -8, .time = 5,
	                                 .with_copied = 1, .copied = 200 };
	static const uint8_t s2[] = { GP_TAG_STEP, 5, 0x00, 0x10, 0x0f, 0xc8, 0x01 };
	want_bytes(&e, &x, s2, sizeof s2, "an untimed step with copied");
	CHECK_I(decode(&d, s2, &y), 1);
	CHECK_U(y.u.step.chain, 3);
	CHECK_I(y.u.step.delta, -8);
	CHECK_U(y.u.step.time, 5, "(an untimed step has the segment's last time)");
	CHECK_U(y.u.step.copied, 200);

	/* an earlier time than the segment's: written as no increment, never backwards */
	x.u.step = (struct gp_step_rec){ .chain = 3, .stack = 1, .delta = 1, .time = 2 };
	static const uint8_t s3[] = { GP_TAG_STEP, 3, 0x00, 0x08, 0x02 };
	want_bytes(&e, &x, s3, sizeof s3, "a step with an earlier time");
	CHECK_I(decode(&d, s3, &y), 1);
	CHECK_U(y.u.step.time, 5);

	/* chain 1: zigzag(-2) = 3; origin 7; size 300 = ac 02; time 9: increment 4; kind 1 */
	x.tag = GP_TAG_CHAIN;
	x.u.chain = (struct gp_chain_rec){ .chain = 1, .origin = 7, .size = 300, .time = 9,
	                                   .kind = GP_CHAIN_RELOCATION };
	static const uint8_t c1[] = { GP_TAG_CHAIN, 6, 0x03, 0x07, 0xac, 0x02, 0x04, 0x01 };
	want_bytes(&e, &x, c1, sizeof c1, "a relocation chain");
	CHECK_I(decode(&d, c1, &y), 1);
	CHECK_U(y.u.chain.chain, 1);
	CHECK_U(y.u.chain.origin, 7);
	CHECK_U(y.u.chain.size, 300);
	CHECK_U(y.u.chain.time, 9);
	CHECK_U(y.u.chain.kind, GP_CHAIN_RELOCATION);

	/* a realloc chain leaves its kind out, unless asked */
	x.u.chain = (struct gp_chain_rec){ .chain = 2, .origin = 0, .size = 8, .time = 9 };
	static const uint8_t c2[] = { GP_TAG_CHAIN, 4, 0x02, 0x00, 0x08, 0x00 };
	want_bytes(&e, &x, c2, sizeof c2, "a realloc chain");
	CHECK_I(decode(&d, c2, &y), 1);
	CHECK_U(y.u.chain.kind, GP_CHAIN_REALLOC);
	CHECK_I(y.u.chain.with_kind, 0);
	x.u.chain = (struct gp_chain_rec){ .chain = 2, .size = 8, .time = 9, .with_kind = 1 };
	static const uint8_t c3[] = { GP_TAG_CHAIN, 5, 0x00, 0x00, 0x08, 0x00, 0x00 };
	want_bytes(&e, &x, c3, sizeof c3, "a realloc chain with its kind");
	CHECK_I(decode(&d, c3, &y), 1);
	CHECK_I(y.u.chain.with_kind, 1);

	x.tag = GP_TAG_CHAIN_END;
	x.u.chain_end.chain = 3; /* zigzag(+1) = 2 */
	static const uint8_t e1[] = { GP_TAG_CHAIN_END, 1, 0x02 };
	want_bytes(&e, &x, e1, sizeof e1, "a chain end");
	CHECK_I(decode(&d, e1, &y), 1);
	CHECK_U(y.u.chain_end.chain, 3);

	/* a segment: ids and times count from 0 again, on both sides */
	x.tag = GP_TAG_SEGMENT;
	x.u.segment.thread = 2;
	static const uint8_t g1[] = { GP_TAG_SEGMENT, 1, 0x02 };
	want_bytes(&e, &x, g1, sizeof g1, "a segment");
	CHECK_I(decode(&d, g1, &y), 1);
	CHECK_U(y.u.segment.thread, 2);
	CHECK_U(e.chain, 0);
	CHECK_U(e.time, 0);
	CHECK_U(d.chain, 0);
	CHECK_U(d.time, 0);
	x.tag = GP_TAG_CHAIN_END;
	x.u.chain_end.chain = 3; /* from 0 again: zigzag(+3) = 6 */
	static const uint8_t e2[] = { GP_TAG_CHAIN_END, 1, 0x06 };
	want_bytes(&e, &x, e2, sizeof e2, "a chain end after a segment");
	CHECK_I(decode(&d, e2, &y), 1);
	CHECK_U(y.u.chain_end.chain, 3);

	/* the inline encoders are gp_codec_put's */
	uint8_t buf[GP_STEP_REC_MAX];
	struct gp_step_rec st = { .chain = 3, .stack = 2, .delta = 16, .flags = GP_STEP_MOVED,
	                          .time = 5 };
	gp_codec_init(&e, GP_FORMAT_VERSION);
	CHECK_U(gp_enc_step(buf, &e, &st), sizeof s1);
	CHECK(memcmp(buf, s1, sizeof s1) == 0);
}

static void old_versions(void)
{
	SECTION("versions 1 and 2: STEP with flags and time fields, v1 absolute times");
	struct gp_codec e, d;
	struct gp_record x = { .tag = GP_TAG_STEP }, y;
	x.u.step = (struct gp_step_rec){ .chain = 1, .stack = 2, .delta = 16,
	                                 .flags = GP_STEP_MOVED, .time = 1000,
	                                 .with_copied = 1, .copied = 16, .thread = 4242 };
	/* v2: c 02, v stack 02, z +16 20, v flags 01, t 1000 = e8 07, v copied 10 */
	gp_codec_init(&e, 2);
	gp_codec_init(&d, 2);
	static const uint8_t v2[] = { GP_TAG_STEP, 7, 0x02, 0x02, 0x20, 0x01, 0xe8, 0x07, 0x10 };
	want_bytes(&e, &x, v2, sizeof v2, "a version 2 step");
	CHECK_I(decode(&d, v2, &y), 1);
	CHECK_U(y.u.step.stack, 2);
	CHECK_U(y.u.step.flags, GP_STEP_MOVED);
	CHECK_U(y.u.step.time, 1000);
	CHECK_U(y.u.step.copied, 16);
	/* a second one 500 ns later: v2 writes the increment */
	x.u.step.time = 1500; /* 500 = f4 03 */
	x.u.step.with_copied = 0;
	static const uint8_t v2b[] = { GP_TAG_STEP, 6, 0x00, 0x02, 0x20, 0x01, 0xf4, 0x03 };
	want_bytes(&e, &x, v2b, sizeof v2b, "a second version 2 step");
	CHECK_I(decode(&d, v2b, &y), 1);
	CHECK_U(y.u.step.time, 1500);

	/* v1: the same, time absolute, then the thread (4242 = 92 21) */
	gp_codec_init(&e, 1);
	gp_codec_init(&d, 1);
	x.u.step.time = 1000;
	x.u.step.with_copied = 1;
	static const uint8_t v1[] = { GP_TAG_STEP, 9, 0x02, 0x02, 0x20, 0x01, 0xe8, 0x07,
	                              0x92, 0x21, 0x10 };
	want_bytes(&e, &x, v1, sizeof v1, "a version 1 step");
	CHECK_I(decode(&d, v1, &y), 1);
	CHECK_U(y.u.step.thread, 4242);
	CHECK_U(y.u.step.time, 1000);
	CHECK_U(y.u.step.copied, 16);
	x.u.step.time = 1500; /* absolute again: 1500 = dc 0b */
	x.u.step.with_copied = 0;
	static const uint8_t v1b[] = { GP_TAG_STEP, 8, 0x00, 0x02, 0x20, 0x01, 0xdc, 0x0b,
	                               0x92, 0x21 };
	want_bytes(&e, &x, v1b, sizeof v1b, "a second version 1 step");
	CHECK_I(decode(&d, v1b, &y), 1);
	CHECK_U(y.u.step.time, 1500);
	/* version 1 had no segments */
	static const uint8_t g1[] = { GP_TAG_SEGMENT, 1, 0x01 };
	CHECK_I(decode(&d, g1, &y), -1);
}

static void long_records(void)
{
	SECTION("process, module, stack, counts, end");
	struct gp_codec e, d;
	gp_codec_init(&e, GP_FORMAT_VERSION);
	gp_codec_init(&d, GP_FORMAT_VERSION);
	struct gp_record x, y;

	/* frames 0x401000 (80 a0 80 02), -16 (zigzag 31 = 1f), +32 (zigzag 64 = 40) */
	const uint64_t addrs[] = { 0x401000, 0x400ff0, 0x401010 };
	x.tag = GP_TAG_STACK;
	x.u.stack = (struct gp_stack_rec){ .id = 1, .n = 3, .addrs = addrs };
	static const uint8_t k1[] = { GP_TAG_STACK, 8, 0x01, 0x03, 0x80, 0xa0, 0x80, 0x02,
	                              0x1f, 0x40 };
	want_bytes(&e, &x, k1, sizeof k1, "a stack");
	CHECK_I(decode(&d, k1, &y), 1);
	CHECK_U(y.u.stack.id, 1);
	CHECK_U(y.u.stack.n, 3);
	for (int i = 0; i < 3; i++)
		CHECK_U(gp_stack_rec_next(&y.u.stack), addrs[i], "(frame %d)", i);
	CHECK_I(y.u.stack.frames.bad, 0);
	gp_stack_rec_next(&y.u.stack);
	CHECK_I(y.u.stack.frames.bad, 1, "(a fourth frame of three)");

	/* a process record of 200 + 4 bytes of strings: over 127, a padded 4-byte length */
	char exe[200];
	memset(exe, 'x', sizeof exe);
	x.tag = GP_TAG_PROCESS;
	x.u.process = (struct gp_process_rec){ .pid = 7, .ppid = 1, .start_realtime = 2,
	                                       .start_mono = 3, .exe = (const uint8_t *)exe,
	                                       .exe_len = sizeof exe,
	                                       .cmdline = (const uint8_t *)"a\0b", .cmdline_len = 3,
	                                       .depth = 16 };
	uint8_t buf[512];
	size_t n = gp_codec_put(&e, buf, &x);
	/* 4 varints, 200 = c8 01 + 200 bytes, 03 + 3 bytes, 16: 4 + 202 + 4 + 1 = 211 = 0xd3 */
	CHECK_U(n, 5 + 211);
	static const uint8_t h[] = { GP_TAG_PROCESS, 0xd3, 0x81, 0x80, 0x00, 7, 1, 2, 3, 0xc8, 0x01 };
	for (size_t i = 0; i < sizeof h; i++)
		CHECK_U(buf[i], h[i], "(byte %zu of a long process record)", i);
	CHECK_I(gp_codec_decode(&d, buf[0], buf + 5, 211, &y), 1);
	CHECK_U(y.u.process.pid, 7);
	CHECK_U(y.u.process.ppid, 1);
	CHECK_U(y.u.process.exe_len, 200);
	CHECK(memcmp(y.u.process.exe, exe, 200) == 0);
	CHECK_U(y.u.process.cmdline_len, 3);
	CHECK(memcmp(y.u.process.cmdline, "a\0b", 3) == 0);
	CHECK_U(y.u.process.depth, 16);

	x.tag = GP_TAG_MODULE;
	x.u.module = (struct gp_module_rec){ .id = 2, .bias = 0, .lo = 1, .hi = 0x81,
	                                     .path = (const uint8_t *)"/l", .path_len = 2,
	                                     .build_id = (const uint8_t *)"\x12", .build_id_len = 1 };
	static const uint8_t m1[] = { GP_TAG_MODULE, 10, 0x02, 0x00, 0x01, 0x81, 0x01, 0x02, '/',
	                              'l', 0x01, 0x12 };
	want_bytes(&e, &x, m1, sizeof m1, "a module");
	CHECK_I(decode(&d, m1, &y), 1);
	CHECK_U(y.u.module.hi, 0x81);
	CHECK_U(y.u.module.path_len, 2);
	CHECK_U(y.u.module.build_id_len, 1);
	CHECK_U(y.u.module.build_id[0], 0x12);

	x.tag = GP_TAG_COUNTS;
	x.u.counts = (struct gp_counts_rec){ .allocs = 5, .frees = 4, .failed = 3, .steps = 2,
	                                     .chains = 1 };
	static const uint8_t n1[] = { GP_TAG_COUNTS, 5, 5, 4, 3, 2, 1 };
	want_bytes(&e, &x, n1, sizeof n1, "counts");
	CHECK_I(decode(&d, n1, &y), 1);
	CHECK_U(y.u.counts.allocs, 5);
	CHECK_U(y.u.counts.chains, 1);
	x.u.counts.own = 2;
	x.u.counts.with_own = 1;
	static const uint8_t n2[] = { GP_TAG_COUNTS, 6, 5, 4, 3, 2, 1, 2 };
	want_bytes(&e, &x, n2, sizeof n2, "counts with own");
	CHECK_I(decode(&d, n2, &y), 1);
	CHECK_U(y.u.counts.own, 2);
	x.tag = GP_TAG_END;
	x.u.end = (struct gp_end_rec){ .reason = GP_END_EXEC, .time = 128 };
	static const uint8_t d1[] = { GP_TAG_END, 3, 0x02, 0x80, 0x01 };
	want_bytes(&e, &x, d1, sizeof d1, "an end");
	CHECK_I(decode(&d, d1, &y), 1);
	CHECK_U(y.u.end.reason, GP_END_EXEC);
	CHECK_U(y.u.end.time, 128);
}

static void damage(void)
{
	SECTION("damage the decoder refuses, and what it skips");
	struct gp_codec d;
	struct gp_record y;
	gp_codec_init(&d, GP_FORMAT_VERSION);
	static const uint8_t bad[][8] = {
		{ GP_TAG_STEP, 2, 0x02, 0x0a },             /* no size delta */
		{ GP_TAG_STEP, 3, 0x02, 0x12, 0x20 },       /* REMAP without MOVED */
		{ GP_TAG_STEP, 3, 0x02, 0x0c, 0x20 },       /* TIMED without a time */
		{ GP_TAG_CHAIN, 5, 0x02, 0x00, 0x08, 0x00, 0x02 }, /* kind 2 */
		{ GP_TAG_CHAIN, 3, 0x02, 0x00, 0x08 },      /* no time */
		{ GP_TAG_CHAIN_END, 1, 0x80 },              /* a truncated varint */
		{ GP_TAG_STACK, 3, 0x01, 0x05, 0x10 },      /* 5 frames in 1 byte */
		{ GP_TAG_MODULE, 6, 0x01, 0x00, 0x00, 0x00, 0x05, 'x' }, /* path past the end */
		{ GP_TAG_COUNTS, 2, 0x01, 0x01 },           /* no failed count */
		{ GP_TAG_END, 0 },                          /* no reason */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK_I(decode(&d, bad[i], &y), -1, "(damaged record %zu)", i);
	/* a stack of more frames than the format allows, with the bytes for them */
	static uint8_t big[4 + GP_STACK_FRAMES_MAX + 1];
	big[0] = 0x01;
	big[1] = ((GP_STACK_FRAMES_MAX + 1) & 0x7f) | 0x80; /* 1025 = 81 08 */
	big[2] = (GP_STACK_FRAMES_MAX + 1) >> 7;
	CHECK_I(gp_codec_decode(&d, GP_TAG_STACK, big, sizeof big, &y), -1);
	/* unknown tags are skipped, their payload unread */
	static const uint8_t unk[] = { 42, 2, 0xff, 0xff };
	CHECK_I(decode(&d, unk, &y), 0);
	CHECK_U(y.tag, 42);
	/* counts: three fields, or five, or six (own); steps without chains is damage */
	static const uint8_t n3[] = { GP_TAG_COUNTS, 3, 1, 2, 3 };
	CHECK_I(decode(&d, n3, &y), 1);
	CHECK_U(y.u.counts.failed, 3);
	CHECK_U(y.u.counts.steps, 0);
	CHECK_I(y.u.counts.with_own, 0);
	static const uint8_t n4[] = { GP_TAG_COUNTS, 4, 1, 2, 3, 4 };
	CHECK_I(decode(&d, n4, &y), -1);
	static const uint8_t n6[] = { GP_TAG_COUNTS, 6, 9, 2, 3, 4, 5, 6 };
	CHECK_I(decode(&d, n6, &y), 1);
	CHECK_U(y.u.counts.chains, 5);
	CHECK_I(y.u.counts.with_own, 1);
	CHECK_U(y.u.counts.own, 6);
	/* a trailing field readers never needed may be missing or damaged */
	static const uint8_t d0[] = { GP_TAG_END, 1, 0x01 };
	CHECK_I(decode(&d, d0, &y), 1);
	CHECK_U(y.u.end.time, 0);
	static const uint8_t d2[] = { GP_TAG_END, 2, 0x01, 0x80 };
	CHECK_I(decode(&d, d2, &y), 1);
	CHECK_U(y.u.end.reason, 1);
	CHECK_U(y.u.end.time, 0);
}

static void through_reader(void)
{
	SECTION("gp_reader_next_rec: absolute chain ids and times over segments and columns");
	struct tb b;
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION);
	tb_process(&b, 9, 1, "/bin/x", "x", 1, 8);
	tb_segment(&b, 1);
	/* tb's times: the chain's field 1000 (an increment from 0); then a step whose turn is
	 * odd (1001) says it is 1 ns later, the next (1002) says nothing */
	tb_chain(&b, 40, 0, 16);
	tb_step(&b, 40, 0, 16, 48, GP_STEP_MOVED);
	tb_step(&b, 40, 0, 48, 64, 0);
	tb_columns(&b);
	tb_segment(&b, 2);
	tb_chain(&b, 7, 0, 1);                   /* a new segment: ids and times from 0 */
	tb_chain_end(&b, 40);
	tb_end(&b, GP_END_EXIT);
	struct tb_z z;
	tb_compress(&b, TB_PER_ITEM, &z);
	struct gp_reader *r = gp_reader_open_mem(z.data, z.len);
	CHECK(r && !gp_reader_error(r));
	struct gp_record x;
	static const unsigned tags[] = { GP_TAG_PROCESS, GP_TAG_SEGMENT, GP_TAG_CHAIN, GP_TAG_STEP,
	                                 GP_TAG_STEP, GP_TAG_SEGMENT, GP_TAG_CHAIN,
	                                 GP_TAG_CHAIN_END, GP_TAG_END };
	for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
		CHECK_I(gp_reader_next_rec(r, &x), GP_READ_RECORD, "(record %zu)", i);
		CHECK_U(x.tag, tags[i], "(record %zu)", i);
		switch (i) {
		case 2: CHECK_U(x.u.chain.chain, 40); CHECK_U(x.u.chain.time, 1000); break;
		case 3:
			CHECK_U(x.u.step.chain, 40);
			CHECK_I(x.u.step.delta, 32);
			CHECK_U(x.u.step.time, 1001);
			break;
		case 4: CHECK_U(x.u.step.chain, 40); CHECK_U(x.u.step.time, 1001); break;
		case 6: CHECK_U(x.u.chain.chain, 7); CHECK_U(x.u.chain.time, 1003); break;
		case 7: CHECK_U(x.u.chain_end.chain, 40); break;
		}
	}
	CHECK_I(gp_reader_next_rec(r, &x), GP_READ_END);
	gp_reader_free(r);
	tb_z_release(&z);
	tb_release(&b);

	/* a damaged payload is GP_READ_BAD with its tag, not a reader error */
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION);
	tb_record(&b, GP_TAG_STEP, "\x02\x12\x20", 3); /* REMAP without MOVED */
	tb_compress(&b, TB_ONE_PUT, &z);
	r = gp_reader_open_mem(z.data, z.len);
	CHECK_I(gp_reader_next_rec(r, &x), GP_READ_BAD);
	CHECK_U(x.tag, GP_TAG_STEP);
	CHECK(gp_reader_error(r) == NULL);
	gp_reader_free(r);
	tb_z_release(&z);
	tb_release(&b);
}

int main(void)
{
	current_version();
	old_versions();
	long_records();
	damage();
	through_reader();
	return check_exit("test_codec");
}
