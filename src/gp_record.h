/*
 * gp_record.h - encode and decode the fields of trace records (gp_format.h). No I/O, no
 * allocation: the preload encodes into its own buffers, the reader decodes from its own.
 */
#ifndef GP_RECORD_H
#define GP_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* Longest encoding of one varint. */
#define GP_VARINT_MAX 10

/* Write `v` as a LEB128 varint at `p`; @return the number of bytes written (1..10). */
static inline size_t gp_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline uint64_t gp_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t gp_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* A read cursor over one record's payload. Reads past the end set `bad` and yield 0. */
struct gp_cursor {
	const uint8_t *p, *end;
	int bad;
};

/* @return the next varint, or 0 with c->bad set if it is truncated or longer than 64 bits. */
uint64_t gp_get_varint(struct gp_cursor *c);
/* @return the next zigzag varint. */
int64_t gp_get_zvarint(struct gp_cursor *c);
/* Read a length-prefixed byte string: sets *len and @return a pointer into the payload (not
 * NUL-terminated), or NULL with c->bad set if it does not fit. */
const uint8_t *gp_get_bytes(struct gp_cursor *c, size_t *len);

/*
 * A record under construction in a caller-owned buffer: gp_rec_begin reserves room for the
 * header, the gp_rec_* calls append fields, gp_rec_end writes the header and @return the
 * record's total size. The caller guarantees `cap` bytes of room (see GP_REC_*_MAX).
 */
struct gp_rec {
	uint8_t *base, *p;
	int small; /* the payload is known to stay under 128 bytes: a 2-byte header */
};

/* Header room reserved before the payload: tag + a length varint of at most 4 bytes. */
#define GP_REC_HEADER 5

static inline void gp_rec_begin(struct gp_rec *r, uint8_t *buf)
{
	r->base = buf;
	r->p = buf + GP_REC_HEADER;
	r->small = 0;
}

/* For a record whose payload the caller knows is < 128 bytes (e.g. at most 12 varints). */
static inline void gp_rec_begin_small(struct gp_rec *r, uint8_t *buf)
{
	r->base = buf;
	r->p = buf + 2;
	r->small = 1;
}
/* always_inline: the preload's hot encoders (gp_codec.h) must stay calls-free. */
static inline __attribute__((always_inline)) void gp_rec_u(struct gp_rec *r, uint64_t v) { r->p += gp_put_varint(r->p, v); }
static inline __attribute__((always_inline)) void gp_rec_z(struct gp_rec *r, int64_t v) { r->p += gp_put_varint(r->p, gp_zigzag(v)); }
void gp_rec_bytes(struct gp_rec *r, const void *data, size_t len);
/* Finish the record with `tag`: a payload under 128 bytes gets a one-byte length (and moves
 * down), a longer one a padded 4-byte length in place. @return total bytes from buf. */
size_t gp_rec_end(struct gp_rec *r, unsigned tag);

/* gp_rec_end of a record begun with gp_rec_begin_small, inline (the preload's hot path: the
 * record can then stay in registers). */
static inline size_t gp_rec_end_small(struct gp_rec *r, unsigned tag)
{
	uint8_t *h = r->base;
	h[0] = (uint8_t)tag;
	h[1] = (uint8_t)(r->p - h - 2);
	return (size_t)(r->p - h);
}

#endif
