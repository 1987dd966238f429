/*
 * gp_segcols.h - a thread's segment of chain records, by columns (GP_TAG_SEGCOLS, format
 * version 4; the layout is in gp_format.h).
 *
 * The preload encodes a segment of its per-thread buffers this way when it is mostly STEPs;
 * the reader decodes it back into the SEGMENT record and the records it stands for, so the
 * rest of the viewer never sees the difference. No I/O, no allocation.
 */
#ifndef GP_SEGCOLS_H
#define GP_SEGCOLS_H

#include <stddef.h>
#include <stdint.h>

#include "gp_format.h"

/* At most this many bytes more than its plain form does a SEGCOLS record take. */
#define GP_SEGCOLS_SLACK 96

/* Column of field f of a record with tag t (GP_TAG_CHAIN, GP_TAG_STEP, GP_TAG_CHAIN_END). */
static inline unsigned gp_segcols_col(unsigned tag, unsigned f)
{
	return (tag - GP_TAG_CHAIN) * GP_SEGCOLS_FIELDS + f;
}

/*
 * Encode the plain segment in[0..len) (a SEGMENT record, then CHAIN, STEP and CHAIN_END
 * records, each with a one-byte length as the preload writes them) as one SEGCOLS record at
 * `out`, which has room for len + GP_SEGCOLS_SLACK bytes, using GP_SEGCOLS_SCRATCH(len)
 * bytes at `scratch`. @return the record's size, or 0 if `in` is not such a segment (a
 * record of another tag or of a longer length, a record of more than GP_SEGCOLS_FIELDS
 * fields): then it is to be written as it is.
 */
size_t gp_segcols_encode(const uint8_t *in, size_t len, uint8_t *out, uint8_t *scratch);

/* The scratch of gp_segcols_encode(): a region of `len` bytes for each column and for the
 * tags and field counts, 3 cache lines further apart than that (regions a multiple of
 * 4 KiB apart would share the same L1 sets as they are written together). */
#define GP_SEGCOLS_STRIDE(len) ((len) + 3 * 64)
#define GP_SEGCOLS_SCRATCH(len) ((size_t)(2 + GP_SEGCOLS_COLS) * GP_SEGCOLS_STRIDE(len))

/* Room gp_segcols_decode() needs for a SEGCOLS payload of `len` bytes. */
static inline size_t gp_segcols_decoded_max(size_t len) { return 3 * len + 32; }

/*
 * Decode the SEGCOLS payload p[0..len) into the SEGMENT record and the records it stands
 * for, at `out` (gp_segcols_decoded_max(len) bytes). @return the bytes written, or -1 if
 * the payload is damaged (inconsistent counts or columns, a bad varint).
 */
long gp_segcols_decode(const uint8_t *p, size_t len, uint8_t *out);

#endif
