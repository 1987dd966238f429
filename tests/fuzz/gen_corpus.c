/*
 * gen_corpus.c - writes the seed corpus of fuzz_reader into a directory (by default
 * tests/fuzz/corpus/, see build.sh): small valid traces, compressed as the preload writes
 * them (*.zst) and decompressed (*.raw, which fuzz_reader compresses itself so the fuzzer
 * can mutate records rather than zstd blocks). Crash regressions found by the fuzzer are kept
 * in the same directory under crash-* names; this program does not touch them.
 */
#include "tb.h"

#include "gp_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static size_t total;
static unsigned files;

static void out(const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (tb_write_file(path, data, len)) {
		perror(path);
		exit(1);
	}
	printf("%-28s %6zu bytes\n", name, len);
	total += len;
	files++;
}

static void out_zst(const char *name, const struct tb *b, enum tb_mode mode)
{
	struct tb_z z;
	tb_compress(b, mode, &z);
	out(name, z.data, z.len);
	tb_z_release(&z);
}

static void head_v(struct tb *b, unsigned version)
{
	tb_init(b);
	tb_header(b, version);
	tb_process(b, 100, 1, "/usr/bin/app", "app\0-v", 7, 16);
	tb_module(b, 1, 0x400000, 0x400000, 0x410000, "/usr/bin/app", "\x12\x34", 2);
	tb_module(b, 2, 0x7f0000000000, 0x7f0000000000, 0x7f0000100000, "/lib/libc.so.6", "", 0);
}

static void head(struct tb *b) { head_v(b, GP_FORMAT_VERSION); }

/* Two realloc chains at two sites (a +16 builder, a doubling vector that moves across sites)
 * and a relocation chain. */
static void basic(struct tb *b, int end)
{
	head(b);
	tb_stack(b, 1, 2, (const uint64_t[]){ 0x401010, 0x7f0000001234 });
	tb_stack(b, 2, 3, (const uint64_t[]){ 0x402020, 0x401100, 0x400800 });
	tb_stack(b, 3, 1, (const uint64_t[]){ 0x403030 });
	tb_counts(b, 5, 1, 0, 0, 0);
	tb_chain(b, 1, 3, 16);
	tb_chain(b, 2, 0, 8);
	for (unsigned i = 1; i <= 8; i++) {
		tb_step(b, 1, 1, 16 * i, 16 * (i + 1), i & 1 ? GP_STEP_MOVED : 0);
		if (i <= 5)
			tb_step(b, 2, 2, 8u << (i - 1), 8u << i, GP_STEP_MOVED);
	}
	tb_step(b, 2, 1, 256, 300000, GP_STEP_MOVED);
	tb_step(b, 2, 2, 300000, 600000, GP_STEP_MOVED | GP_STEP_REMAP);
	tb_step(b, 2, 2, 600000, 64, GP_STEP_MOVED);
	tb_chain_end(b, 1);
	/* a relocation chain (malloc + copy + free), with and without the copied field */
	tb_chain_kind(b, 3, 1, 100, GP_CHAIN_RELOCATION);
	tb_step_copied(b, 3, 1, 100, 200, GP_STEP_MOVED, 100);
	tb_step(b, 3, 2, 200, 400, GP_STEP_MOVED);
	tb_chain_end(b, 3);
	tb_record(b, 42, "future", 6);
	tb_counts(b, 20, 12, 2, 16, 2);
	if (end)
		tb_end(b, GP_END_EXIT);
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "corpus";
	struct tb b;

	basic(&b, 1);
	out_zst("basic.zst", &b, TB_PER_ITEM);
	out("basic.raw", b.buf, b.len);
	out_zst("basic-frames.zst", &b, TB_FRAMES);
	tb_release(&b);

	basic(&b, 0); /* killed: no END, and the frame cut after the last flushed record */
	{
		struct tb_z z;
		tb_compress(&b, TB_PER_ITEM, &z);
		out("killed.zst", z.data, z.marks[z.nmarks - 1]);
		tb_z_release(&z);
	}
	out("killed-midrecord.raw", b.buf, b.len - 3);
	tb_release(&b);

	/* modules replaced by overlapping ones, stacks before and after, an unknown stack */
	head(&b);
	tb_stack(&b, 1, 1, (const uint64_t[]){ 0x7f0000002000 });
	tb_module(&b, 3, 0x7f0000000000, 0x7f0000000000, 0x7f0000080000, "/opt/p.so", "\1", 1);
	tb_stack(&b, 2, 2, (const uint64_t[]){ 0x7f0000002000, 0x7f0000002000 });
	tb_stack(&b, 3, 0, NULL);
	tb_chain(&b, 7, 99, 0); /* origin: a stack never defined */
	tb_step(&b, 7, 0, 0, 10, 0);
	tb_step(&b, 7, 3, 10, 5, GP_STEP_MOVED);
	tb_chain_end(&b, 7);
	tb_chain(&b, 7, 2, 5); /* a chain id used again after its end */
	tb_step(&b, 7, 1, 5, 6, GP_STEP_MOVED);
	tb_end(&b, GP_END_EXEC);
	out("modules.raw", b.buf, b.len);
	tb_release(&b);

	/* segments (versions 2 and 3, whose STEPs differ, and the current one, by columns): two
	 * threads' records interleaved, a chain that changes threads, ids counted from 0 again
	 * in each segment */
	for (unsigned v = 2; v <= 4; v++) {
		int cols = v >= 4; /* each segment becomes a SEGCOLS record where it ends */
		head_v(&b, v);
		tb_stack(&b, 1, 1, (const uint64_t[]){ 0x401010 });
		tb_stack(&b, 2, 1, (const uint64_t[]){ 0x402020 });
		tb_segment(&b, 1);
		tb_chain(&b, 4, 1, 16);
		tb_step(&b, 4, 1, 16, 32, GP_STEP_MOVED);
		if (cols)
			tb_columns(&b);
		tb_segment(&b, 2);
		tb_chain(&b, 9, 2, 8);
		tb_step(&b, 9, 2, 8, 16, 0);
		tb_step(&b, 4, 2, 32, 64, GP_STEP_MOVED); /* chain 4 went to thread 2 */
		if (cols)
			tb_columns(&b);
		tb_segment(&b, 1);
		tb_chain_end(&b, 9);
		tb_chain(&b, 9, 1, 100); /* its id again, after its end */
		tb_step(&b, 9, 1, 100, 150, GP_STEP_MOVED);
		tb_chain_kind(&b, 5, 1, 40, GP_CHAIN_RELOCATION);
		tb_step_copied(&b, 5, 2, 40, 80, GP_STEP_MOVED, 40);
		if (cols)
			tb_columns(&b);
		tb_segment(&b, 3); /* an empty segment */
		if (cols)
			tb_columns(&b);
		tb_segment(&b, 2);
		tb_chain_end(&b, 4);
		if (cols)
			tb_columns(&b);
		tb_end(&b, GP_END_EXIT);
		char name[64];
		snprintf(name, sizeof name, v == GP_FORMAT_VERSION ? "segments.raw" : "segments-v%u.raw", v);
		out(name, b.buf, b.len);
		snprintf(name, sizeof name, v == GP_FORMAT_VERSION ? "segments.zst" : "segments-v%u.zst", v);
		out_zst(name, &b, TB_PER_ITEM);
		tb_release(&b);
	}

	/* version 1: no segments, a thread in every STEP, chain ids deltas over the file */
	tb_init(&b);
	tb_header(&b, 1);
	tb_process(&b, 100, 1, "/usr/bin/app", "app", 3, 16);
	tb_stack(&b, 1, 1, (const uint64_t[]){ 0x401010 });
	tb_chain(&b, 3, 1, 16);
	tb_chain(&b, 5, 1, 16);
	for (unsigned i = 1; i <= 4; i++) {
		tb_step(&b, 3, 1, 16 * i, 16 * (i + 1), GP_STEP_MOVED);
		tb_step(&b, 5, 1, 16 * i, 16 * (i + 1), 0);
	}
	tb_chain_end(&b, 3);
	tb_end(&b, GP_END_EXIT);
	out("v1.raw", b.buf, b.len);
	tb_release(&b);

	/* growth patterns: linear, geometric, 1.125x */
	head(&b);
	tb_stack(&b, 1, 1, (const uint64_t[]){ 0x401001 });
	tb_stack(&b, 2, 1, (const uint64_t[]){ 0x401002 });
	tb_stack(&b, 3, 1, (const uint64_t[]){ 0x401003 });
	tb_chain(&b, 1, 1, 16);
	for (uint64_t n = 16; n < 640; n += 16)
		tb_step(&b, 1, 1, n, n + 16, GP_STEP_MOVED);
	tb_chain(&b, 2, 2, 8);
	for (uint64_t n = 8; n < 65536; n *= 2)
		tb_step(&b, 2, 2, n, 2 * n, GP_STEP_MOVED);
	tb_chain(&b, 3, 3, 1024);
	for (uint64_t n = 1024, i = 0; i < 20; i++, n += n / 8)
		tb_step(&b, 3, 3, n, n + n / 8, i & 1 ? 0 : GP_STEP_MOVED);
	tb_end(&b, GP_END__EXIT);
	out("patterns.raw", b.buf, b.len);
	out_zst("patterns.zst", &b, TB_ONE_PUT);
	tb_release(&b);

	/* padded 4-byte lengths on short records, unknown tags, tag 0, an empty process */
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION);
	tb_record_padded(&b, GP_TAG_PROCESS, "\x01\x00\x00\x00\x00\x00\x00", 7);
	tb_record_padded(&b, 0, "", 0);
	tb_record_padded(&b, 200, "\xff\xff\xff\xff", 4);
	tb_record_padded(&b, GP_TAG_CHAIN, "\x01\x00\x10\x00", 4);
	tb_record_padded(&b, GP_TAG_STEP, "\x01\x00\x20\x01\x00\x00", 6); /* +16, moved */
	tb_record_padded(&b, GP_TAG_CHAIN_END, "\x01", 1);
	tb_record_padded(&b, GP_TAG_COUNTS, "\x01\x01\x00\x01\x01", 5);
	tb_end(&b, GP_END_EXIT);
	out("padded-headers.raw", b.buf, b.len);
	tb_release(&b);

	/* the header alone, and a newer version */
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION);
	out("header-only.raw", b.buf, b.len);
	tb_release(&b);
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION + 1);
	tb_process(&b, 1, 0, "x", "x", 1, 8);
	out_zst("newer-version.zst", &b, TB_ONE_PUT);
	tb_release(&b);

	printf("%u files, %zu bytes\n", files, total);
	return 0;
}
