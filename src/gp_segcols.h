/*
 * gp_segcols.h - a thread's segment of chain records, by columns (GP_TAG_SEGCOLS, format
 * version 4; the layout is in gp_format.h).
 *
 * The preload encodes each segment of its per-thread buffers before it joins the trace;
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

/* The most bytes a SEGCOLS record of `nrec` records with columns of colsz[] bytes takes. */
static inline size_t gp_segcols_max(size_t nrec, const size_t colsz[GP_SEGCOLS_COLS])
{
	size_t n = GP_SEGCOLS_SLACK + 2 * nrec;
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		n += colsz[i];
	return n;
}

/* Column of field f of a record with tag t (GP_TAG_CHAIN, GP_TAG_STEP, GP_TAG_CHAIN_END). */
static inline unsigned gp_segcols_col(unsigned tag, unsigned f)
{
	return (tag - GP_TAG_CHAIN) * GP_SEGCOLS_FIELDS + f;
}

/*
 * Write the SEGCOLS record of thread `thread` at `out` (gp_segcols_max() bytes): `nrec`
 * records, their tags and field counts, and the columns col[i] of colsz[i] bytes (the
 * preload keeps them apart as it writes). @return the record's size.
 */
size_t gp_segcols_put(uint8_t *out, uint64_t thread, size_t nrec, const uint8_t *tags,
                      const uint8_t *nfields, const uint8_t *const col[GP_SEGCOLS_COLS],
                      const size_t colsz[GP_SEGCOLS_COLS]);

/*
 * Encode the plain segment in[0..len) (a SEGMENT record, then CHAIN, STEP and CHAIN_END
 * records) as one SEGCOLS record at `out`, which has room for len + GP_SEGCOLS_SLACK bytes.
 * @return the record's size, or 0 if `in` is not such a segment (a record of another tag,
 * a record of more than GP_SEGCOLS_FIELDS fields): then it is to be written as it is.
 * (The preload writes its columns apart from the start; tests and tools use this.)
 */
size_t gp_segcols_encode(const uint8_t *in, size_t len, uint8_t *out);

/* Room gp_segcols_decode() needs for a SEGCOLS payload of `len` bytes. */
static inline size_t gp_segcols_decoded_max(size_t len) { return 3 * len + 32; }

/*
 * Decode the SEGCOLS payload p[0..len) into the SEGMENT record and the records it stands
 * for, at `out` (gp_segcols_decoded_max(len) bytes). @return the bytes written, or -1 if
 * the payload is damaged (inconsistent counts or columns, a bad varint).
 */
long gp_segcols_decode(const uint8_t *p, size_t len, uint8_t *out);

#endif
