/* tb.c - trace builder for tests (see tb.h). */
#define _GNU_SOURCE /* memfd_create */
#include "tb.h"

#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "gp_segcols.h"
#include "gp_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "tb: out of memory\n");
		abort();
	}
	return p;
}

void tb_init(struct tb *b)
{
	memset(b, 0, sizeof *b);
	b->time = 1000;
	gp_codec_init(&b->codec, GP_FORMAT_VERSION);
}

void tb_release(struct tb *b)
{
	free(b->buf);
	free(b->ends);
	free(b->tags);
	memset(b, 0, sizeof *b);
}

void tb_raw(struct tb *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len)
			cap *= 2;
		b->buf = xrealloc(b->buf, cap);
		b->cap = cap;
	}
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
}

static void item(struct tb *b, unsigned tag)
{
	if (b->nitems == b->capitems) {
		b->capitems = b->capitems ? 2 * b->capitems : 32;
		b->ends = xrealloc(b->ends, b->capitems * sizeof *b->ends);
		b->tags = xrealloc(b->tags, b->capitems * sizeof *b->tags);
	}
	b->ends[b->nitems] = b->len;
	b->tags[b->nitems] = tag;
	b->nitems++;
}

void tb_header(struct tb *b, unsigned version)
{
	uint8_t v = (uint8_t)version;
	gp_codec_init(&b->codec, version);
	tb_raw(b, GP_MAGIC, GP_MAGIC_LEN);
	tb_raw(b, &v, 1);
	item(b, 0);
}

/* A record is encoded by gp_codec into a scratch buffer of `room` bytes. */
static void put_rec(struct tb *b, const struct gp_record *x, size_t room)
{
	uint8_t *buf = xrealloc(NULL, room);
	size_t n = gp_codec_put(&b->codec, buf, x);
	tb_raw(b, buf, n);
	item(b, x->tag);
	free(buf);
}

void tb_record(struct tb *b, unsigned tag, const void *payload, size_t len)
{
	uint8_t *buf = xrealloc(NULL, GP_REC_HEADER + len);
	struct gp_rec r;
	gp_rec_begin(&r, buf);
	memcpy(r.p, payload, len);
	r.p += len;
	tb_raw(b, buf, gp_rec_end(&r, tag));
	item(b, tag);
	free(buf);
}

void tb_record_short(struct tb *b, unsigned tag, const void *payload, size_t len)
{
	uint8_t h[1 + GP_VARINT_MAX];
	h[0] = (uint8_t)tag;
	size_t n = 1 + gp_put_varint(h + 1, len);
	tb_raw(b, h, n);
	tb_raw(b, payload, len);
	item(b, tag);
}

void tb_record_padded(struct tb *b, unsigned tag, const void *payload, size_t len)
{
	const uint8_t h[5] = { (uint8_t)tag, (uint8_t)(len | 0x80), (uint8_t)((len >> 7) | 0x80),
	                       (uint8_t)((len >> 14) | 0x80), (uint8_t)((len >> 21) & 0x7f) };
	tb_raw(b, h, sizeof h);
	tb_raw(b, payload, len);
	item(b, tag);
}

void tb_process(struct tb *b, uint64_t pid, uint64_t ppid, const char *exe, const char *cmdline,
                size_t cmdlen, uint64_t depth)
{
	size_t elen = strlen(exe);
	struct gp_record x = { .tag = GP_TAG_PROCESS, .u.process = {
		.pid = pid, .ppid = ppid,
		.start_realtime = 1700000000000000000ull, .start_mono = 123456789,
		.exe = (const uint8_t *)exe, .exe_len = elen,
		.cmdline = (const uint8_t *)cmdline, .cmdline_len = cmdlen, .depth = depth } };
	put_rec(b, &x, GP_PROCESS_REC_MAX(elen, cmdlen));
}

void tb_module(struct tb *b, uint64_t id, uint64_t bias, uint64_t lo, uint64_t hi,
               const char *path, const void *build_id, size_t build_id_len)
{
	size_t plen = strlen(path);
	struct gp_record x = { .tag = GP_TAG_MODULE, .u.module = {
		.id = id, .bias = bias, .lo = lo, .hi = hi,
		.path = (const uint8_t *)path, .path_len = plen,
		.build_id = build_id, .build_id_len = build_id_len } };
	put_rec(b, &x, GP_MODULE_REC_MAX(plen, build_id_len));
}

void tb_stack(struct tb *b, uint64_t id, unsigned n, const uint64_t *addrs)
{
	struct gp_record x = { .tag = GP_TAG_STACK, .u.stack = { .id = id, .n = n, .addrs = addrs } };
	put_rec(b, &x, GP_STACK_REC_MAX(n));
}

/*
 * The time of the next chain record: b->time is the value its time field shows (1000, 1001,
 * ... as these fixtures always had), which from version 2 on is an increment over the
 * segment's last time.
 */
static uint64_t next_time(struct tb *b)
{
	uint64_t t = b->time++;
	return b->codec.version >= 2 ? b->codec.time + t : t;
}

static void chain_rec(struct tb *b, uint64_t id, uint64_t origin_stack, uint64_t size,
                      int with_kind, uint64_t kind)
{
	struct gp_record x = { .tag = GP_TAG_CHAIN, .u.chain = {
		.chain = id, .origin = origin_stack, .size = size, .time = next_time(b),
		.kind = (unsigned)kind, .with_kind = with_kind } };
	put_rec(b, &x, GP_CHAIN_REC_MAX);
}

void tb_chain(struct tb *b, uint64_t id, uint64_t origin_stack, uint64_t size)
{
	chain_rec(b, id, origin_stack, size, 0, 0);
}

void tb_chain_kind(struct tb *b, uint64_t id, uint64_t origin_stack, uint64_t size,
                   uint64_t kind)
{
	chain_rec(b, id, origin_stack, size, 1, kind);
}

static void step_rec(struct tb *b, uint64_t id, uint64_t stack, uint64_t old_size,
                     uint64_t new_size, unsigned flags, int with_copied, uint64_t copied)
{
	struct gp_record x = { .tag = GP_TAG_STEP, .u.step = {
		.chain = id, .stack = stack, .delta = (int64_t)(new_size - old_size), .flags = flags,
		.with_copied = with_copied, .copied = copied, .thread = 4242 } };
	if (b->codec.version >= 3) { /* every other step says its time (the writer: when it moved) */
		uint64_t t = b->time++;
		x.u.step.time = b->codec.time + (t & 1);
	} else {
		x.u.step.time = next_time(b);
	}
	put_rec(b, &x, GP_STEP_REC_MAX);
}

void tb_step(struct tb *b, uint64_t id, uint64_t stack, uint64_t old_size, uint64_t new_size,
             unsigned flags)
{
	step_rec(b, id, stack, old_size, new_size, flags, 0, 0);
}

void tb_step_copied(struct tb *b, uint64_t id, uint64_t stack, uint64_t old_size,
                    uint64_t new_size, unsigned flags, uint64_t copied)
{
	step_rec(b, id, stack, old_size, new_size, flags, 1, copied);
}

void tb_segment(struct tb *b, uint64_t thread)
{
	struct gp_record x = { .tag = GP_TAG_SEGMENT, .u.segment = { .thread = thread } };
	put_rec(b, &x, GP_SEGMENT_REC_MAX);
}

void tb_columns(struct tb *b)
{
	size_t i = b->nitems;
	while (i > 1 && b->tags[i - 1] != GP_TAG_SEGMENT)
		i--;
	if (i <= 1) {
		fprintf(stderr, "tb: tb_columns without a segment\n");
		abort();
	}
	size_t from = b->ends[i - 2], len = b->len - from; /* the SEGMENT item starts there */
	uint8_t *out = xrealloc(NULL, len + GP_SEGCOLS_SLACK);
	uint8_t *scratch = xrealloc(NULL, GP_SEGCOLS_SCRATCH(len));
	size_t n = gp_segcols_encode(b->buf + from, len, out, scratch);
	free(scratch);
	if (!n) {
		fprintf(stderr, "tb: gp_segcols_encode refused the segment\n");
		abort();
	}
	b->len = from;
	b->nitems = i - 1;
	tb_raw(b, out, n);
	item(b, GP_TAG_SEGCOLS);
	free(out);
}

void tb_chain_end(struct tb *b, uint64_t chain)
{
	struct gp_record x = { .tag = GP_TAG_CHAIN_END, .u.chain_end = { .chain = chain } };
	put_rec(b, &x, GP_CHAIN_END_REC_MAX);
}

void tb_counts(struct tb *b, uint64_t allocs, uint64_t frees, uint64_t failed, uint64_t steps,
               uint64_t chains)
{
	struct gp_record x = { .tag = GP_TAG_COUNTS, .u.counts = {
		.allocs = allocs, .frees = frees, .failed = failed, .steps = steps,
		.chains = chains } };
	put_rec(b, &x, GP_COUNTS_REC_MAX);
}

void tb_end(struct tb *b, unsigned reason)
{
	struct gp_record x = { .tag = GP_TAG_END, .u.end = { .reason = reason, .time = b->time++ } };
	put_rec(b, &x, GP_END_REC_MAX);
}

/* ---- compression ---------------------------------------------------------------------- */

static void slurp_fd(int fd, struct tb_z *z)
{
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		perror("tb: lseek");
		abort();
	}
	z->data = xrealloc(NULL, (size_t)size);
	z->len = (size_t)size;
	size_t got = 0;
	while (got < z->len) {
		ssize_t n = read(fd, z->data + got, z->len - got);
		if (n <= 0) {
			perror("tb: read");
			abort();
		}
		got += (size_t)n;
	}
}

static int tmp_fd(void)
{
	int fd = memfd_create("tb", MFD_CLOEXEC);
	if (fd < 0) {
		perror("tb: memfd_create");
		abort();
	}
	return fd;
}

static void put(struct gp_writer *w, const void *data, size_t len, int end)
{
	int rc = gp_writer_put(w, data, len, end);
	if (rc) {
		fprintf(stderr, "tb: gp_writer_put: %s\n", strerror(-rc));
		abort();
	}
}

void tb_compress(const struct tb *b, enum tb_mode mode, struct tb_z *z)
{
	memset(z, 0, sizeof *z);
	int fd = tmp_fd();
	struct gp_writer w;
	ZSTD_customMem mem;
	memset(&mem, 0, sizeof mem);
	if (gp_writer_init(&w, fd, 3, mem)) {
		fprintf(stderr, "tb: gp_writer_init failed\n");
		abort();
	}
	z->marks = xrealloc(NULL, (b->nitems + 1) * sizeof *z->marks);
	size_t from = 0;
	for (size_t i = 0; i < b->nitems; i++) {
		size_t to = i + 1 == b->nitems ? b->len : b->ends[i];
		switch (mode) {
		case TB_PER_ITEM:
			put(&w, b->buf + from, to - from, 0);
			z->marks[z->nmarks++] = (size_t)w.bytes_out;
			from = to;
			break;
		case TB_ONE_PUT:
			break;
		case TB_FRAMES:
			if (i % 3 == 2 || i + 1 == b->nitems) {
				put(&w, b->buf + from, to - from, 1);
				from = to;
			}
			break;
		}
	}
	if (b->nitems == 0 || mode == TB_ONE_PUT)
		put(&w, b->buf, b->len, 1);
	else if (mode == TB_PER_ITEM)
		put(&w, NULL, 0, 1); /* end the frame: its checksum */
	gp_writer_release(&w);
	slurp_fd(fd, z);
	close(fd);
}

void tb_zstd(const void *data, size_t len, struct tb_z *z)
{
	memset(z, 0, sizeof *z);
	int fd = tmp_fd();
	struct gp_writer w;
	ZSTD_customMem mem;
	memset(&mem, 0, sizeof mem);
	if (gp_writer_init(&w, fd, 3, mem)) {
		fprintf(stderr, "tb: gp_writer_init failed\n");
		abort();
	}
	put(&w, data, len, 1);
	gp_writer_release(&w);
	slurp_fd(fd, z);
	close(fd);
}

void tb_z_release(struct tb_z *z)
{
	free(z->data);
	free(z->marks);
	memset(z, 0, sizeof *z);
}

int tb_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = gp_write_all(fd, data, len);
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
