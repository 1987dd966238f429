/* tb.c - trace builder for tests (see tb.h). */
#define _GNU_SOURCE /* memfd_create */
#include "tb.h"

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
	b->version = GP_FORMAT_VERSION;
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
	b->version = version;
	tb_raw(b, GP_MAGIC, GP_MAGIC_LEN);
	tb_raw(b, &v, 1);
	item(b, 0);
}

/* A record is built in a scratch buffer by gp_rec_*, as the preload does. */
struct rec {
	struct gp_rec r;
	uint8_t *buf;
};

static void rec_begin(struct rec *x, size_t payload_max)
{
	x->buf = xrealloc(NULL, GP_REC_HEADER + payload_max);
	gp_rec_begin(&x->r, x->buf);
}

static void rec_end(struct tb *b, struct rec *x, unsigned tag)
{
	size_t n = gp_rec_end(&x->r, tag);
	tb_raw(b, x->buf, n);
	item(b, tag);
	free(x->buf);
}

void tb_record(struct tb *b, unsigned tag, const void *payload, size_t len)
{
	struct rec x;
	rec_begin(&x, len);
	memcpy(x.r.p, payload, len);
	x.r.p += len;
	rec_end(b, &x, tag);
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
	struct rec x;
	size_t elen = strlen(exe);
	rec_begin(&x, 6 * GP_VARINT_MAX + elen + cmdlen + 2 * GP_VARINT_MAX);
	gp_rec_u(&x.r, pid);
	gp_rec_u(&x.r, ppid);
	gp_rec_u(&x.r, 1700000000000000000ull); /* start realtime */
	gp_rec_u(&x.r, 123456789);              /* start monotonic */
	gp_rec_bytes(&x.r, exe, elen);
	gp_rec_bytes(&x.r, cmdline, cmdlen);
	gp_rec_u(&x.r, depth);
	rec_end(b, &x, GP_TAG_PROCESS);
}

void tb_module(struct tb *b, uint64_t id, uint64_t bias, uint64_t lo, uint64_t hi,
               const char *path, const void *build_id, size_t build_id_len)
{
	struct rec x;
	size_t plen = strlen(path);
	rec_begin(&x, 6 * GP_VARINT_MAX + plen + build_id_len);
	gp_rec_u(&x.r, id);
	gp_rec_u(&x.r, bias);
	gp_rec_u(&x.r, lo);
	gp_rec_u(&x.r, hi);
	gp_rec_bytes(&x.r, path, plen);
	gp_rec_bytes(&x.r, build_id, build_id_len);
	rec_end(b, &x, GP_TAG_MODULE);
}

void tb_stack(struct tb *b, uint64_t id, unsigned n, const uint64_t *addrs)
{
	struct rec x;
	rec_begin(&x, (2 + (size_t)n) * GP_VARINT_MAX);
	gp_rec_u(&x.r, id);
	gp_rec_u(&x.r, n);
	for (unsigned i = 0; i < n; i++) {
		if (i == 0)
			gp_rec_u(&x.r, addrs[0]);
		else
			gp_rec_z(&x.r, (int64_t)(addrs[i] - addrs[i - 1]));
	}
	rec_end(b, &x, GP_TAG_STACK);
}

/* Chain ids go as zigzag deltas from the previous chain id written (gp_format.h). */
static void put_chain(struct tb *b, struct gp_rec *r, uint64_t chain)
{
	gp_rec_z(r, (int64_t)(chain - b->last_chain));
	b->last_chain = chain;
}

static void chain_rec(struct tb *b, uint64_t id, uint64_t origin_stack, uint64_t size,
                      int with_kind, uint64_t kind)
{
	struct rec x;
	rec_begin(&x, 5 * GP_VARINT_MAX);
	put_chain(b, &x.r, id);
	gp_rec_u(&x.r, origin_stack);
	gp_rec_u(&x.r, size);
	gp_rec_u(&x.r, b->time++);
	if (with_kind)
		gp_rec_u(&x.r, kind);
	rec_end(b, &x, GP_TAG_CHAIN);
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
	struct rec x;
	rec_begin(&x, 8 * GP_VARINT_MAX);
	put_chain(b, &x.r, id);
	if (b->version >= 3) { /* every other step says its time (the writer: when it moved) */
		uint64_t t = b->time++;
		gp_rec_u(&x.r, stack << 3 | flags | (t & 1 ? GP_STEP_TIMED : 0));
		gp_rec_z(&x.r, (int64_t)(new_size - old_size));
		if (t & 1)
			gp_rec_u(&x.r, 1);
	} else {
		gp_rec_u(&x.r, stack);
		gp_rec_z(&x.r, (int64_t)(new_size - old_size)); /* the old size is the chain's */
		gp_rec_u(&x.r, flags);
		gp_rec_u(&x.r, b->time++);
		if (b->version < 2)
			gp_rec_u(&x.r, 4242); /* thread, in STEP up to version 1 */
	}
	if (with_copied)
		gp_rec_u(&x.r, copied);
	rec_end(b, &x, GP_TAG_STEP);
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
	struct rec x;
	rec_begin(&x, GP_VARINT_MAX);
	gp_rec_u(&x.r, thread);
	rec_end(b, &x, GP_TAG_SEGMENT);
	b->last_chain = 0;
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
	struct rec x;
	rec_begin(&x, GP_VARINT_MAX);
	put_chain(b, &x.r, chain);
	rec_end(b, &x, GP_TAG_CHAIN_END);
}

void tb_counts(struct tb *b, uint64_t allocs, uint64_t frees, uint64_t failed, uint64_t steps,
               uint64_t chains)
{
	struct rec x;
	rec_begin(&x, 5 * GP_VARINT_MAX);
	gp_rec_u(&x.r, allocs);
	gp_rec_u(&x.r, frees);
	gp_rec_u(&x.r, failed);
	gp_rec_u(&x.r, steps);
	gp_rec_u(&x.r, chains);
	rec_end(b, &x, GP_TAG_COUNTS);
}

void tb_end(struct tb *b, unsigned reason)
{
	struct rec x;
	rec_begin(&x, 2 * GP_VARINT_MAX);
	gp_rec_u(&x.r, reason);
	gp_rec_u(&x.r, b->time++);
	rec_end(b, &x, GP_TAG_END);
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
