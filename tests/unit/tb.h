/*
 * tb.h - a trace builder for the tests and the fuzz corpus generator.
 *
 * struct tb collects the *decompressed* bytes of a trace (magic, version, records) built
 * with the gp_codec encoders (so with their header layout: a 1-byte length under 128 bytes
 * of payload, else a padded 4-byte one), remembering where each record ends and its tag.
 * tb_compress then runs them through the real gp_writer (on a memfd) the way the preload
 * does, and remembers the compressed offset after each flushed record, so a test can cut the
 * file at a record boundary and know exactly what must still be readable.
 *
 * Out of memory aborts: these are tests.
 */
#ifndef GP_TEST_TB_H
#define GP_TEST_TB_H

#include "gp_codec.h"

#include <stddef.h>
#include <stdint.h>

struct tb {
	uint8_t *buf;
	size_t len, cap;
	/* Item 0 is the header (magic + version), then one item per record. */
	size_t *ends;     /* decompressed offset just after each item */
	unsigned *tags;   /* tag of each item (0 for the header) */
	size_t nitems, capitems;
	uint64_t time;    /* what the next time field shows (an increment from version 2 on) */
	struct gp_codec codec; /* the header's version, and where the deltas stand */
};

void tb_init(struct tb *b);
void tb_release(struct tb *b);

/* Raw bytes, not counted as an item (for damaged streams). */
void tb_raw(struct tb *b, const void *data, size_t len);
/* "GROWPROF" + version byte. */
void tb_header(struct tb *b, unsigned version);
/* A record `tag` with an arbitrary payload (unknown tags, damaged payloads). */
void tb_record(struct tb *b, unsigned tag, const void *payload, size_t len);
/* The same with a minimal length varint (2 bytes from 128 on, where gp_rec_end pads to 4). */
void tb_record_short(struct tb *b, unsigned tag, const void *payload, size_t len);
/* The same with a padded 4-byte length however short the payload (the format allows any
 * varint of 1 to 4 bytes). */
void tb_record_padded(struct tb *b, unsigned tag, const void *payload, size_t len);

/* The records of gp_format.h. `cmdline` is `cmdlen` bytes (arguments joined by NUL). */
void tb_process(struct tb *b, uint64_t pid, uint64_t ppid, const char *exe, const char *cmdline,
                size_t cmdlen, uint64_t depth);
void tb_module(struct tb *b, uint64_t id, uint64_t bias, uint64_t lo, uint64_t hi,
               const char *path, const void *build_id, size_t build_id_len);
void tb_stack(struct tb *b, uint64_t id, unsigned n, const uint64_t *addrs);
/* A realloc chain, without the optional kind field. */
void tb_chain(struct tb *b, uint64_t chain, uint64_t origin_stack, uint64_t size);
/* With the kind field (GP_CHAIN_*). */
void tb_chain_kind(struct tb *b, uint64_t chain, uint64_t origin_stack, uint64_t size,
                   uint64_t kind);
/* A step without the optional copied field. The record holds new_size - old_size: the
 * reader takes the old size from the chain, so old_size must be the chain's current size. */
void tb_step(struct tb *b, uint64_t chain, uint64_t stack, uint64_t old_size, uint64_t new_size,
             unsigned flags);
/* With the copied field (bytes seen copied, for relocation steps). */
void tb_step_copied(struct tb *b, uint64_t chain, uint64_t stack, uint64_t old_size,
                    uint64_t new_size, unsigned flags, uint64_t copied);
void tb_chain_end(struct tb *b, uint64_t chain);
/* A thread's segment begins (version 2): chain ids are deltas from 0 again. */
void tb_segment(struct tb *b, uint64_t thread);
/* The last segment (from its SEGMENT record to here) becomes one SEGCOLS record, as the
 * preload writes it (version 4; gp_segcols_encode). */
void tb_columns(struct tb *b);
void tb_counts(struct tb *b, uint64_t allocs, uint64_t frees, uint64_t failed, uint64_t steps,
               uint64_t chains);
void tb_end(struct tb *b, unsigned reason);

/* How tb_compress cuts the stream into zstd puts. */
enum tb_mode {
	TB_PER_ITEM = 0, /* one flushed put per item, like the preload; one frame */
	TB_ONE_PUT,      /* everything in one put that ends the frame */
	TB_FRAMES,       /* a new zstd frame every 3 items */
};

struct tb_z {
	uint8_t *data;
	size_t len;
	/* TB_PER_ITEM: marks[i] = compressed size once item i was put and flushed. */
	size_t *marks;
	size_t nmarks;
};

/* Compress b's bytes through gp_writer. Bytes added with tb_raw after the last item are
 * put with it. */
void tb_compress(const struct tb *b, enum tb_mode mode, struct tb_z *z);
void tb_z_release(struct tb_z *z);

/* Whole-buffer helpers. @return 0 or -1 (errno set). */
int tb_write_file(const char *path, const void *data, size_t len);
/* Compress arbitrary bytes as one zstd frame with gp_writer. */
void tb_zstd(const void *data, size_t len, struct tb_z *z);

#endif
