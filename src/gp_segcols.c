/* gp_segcols.c - segments of chain records by columns (see gp_segcols.h, gp_format.h). */
#include "gp_segcols.h"

#include "gp_format.h"
#include "gp_record.h"

#include <string.h>

static inline int chain_tag(unsigned tag)
{
	return tag == GP_TAG_CHAIN || tag == GP_TAG_STEP || tag == GP_TAG_CHAIN_END;
}

/* The bytes of the varint at p (< end), or 0 if it does not end before `end`. */
static inline size_t varint_len(const uint8_t *p, const uint8_t *end)
{
	size_t n = 0;
	while (p + n < end && n < GP_VARINT_MAX) {
		if (!(p[n++] & 0x80))
			return n;
	}
	return 0;
}

/* Where the parts of a SEGCOLS record go, once its header (from `out` on) is written. */
struct layout {
	uint8_t *tags, *nfields, *col[GP_SEGCOLS_COLS], *end;
};

static void layout(uint8_t *out, const uint8_t *thread, size_t thread_len, size_t nrec,
                   const size_t colsz[GP_SEGCOLS_COLS], struct layout *l)
{
	uint8_t *o = out + GP_REC_HEADER;
	memcpy(o, thread, thread_len);
	o += thread_len;
	o += gp_put_varint(o, nrec);
	l->tags = o;
	l->nfields = o + nrec;
	o += 2 * nrec;
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		o += gp_put_varint(o, colsz[i]);
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++) {
		l->col[i] = o;
		o += colsz[i];
	}
	l->end = o;
}

/* The record header, a padded 4-byte length as gp_rec_end writes long records. */
static size_t finish(uint8_t *out, const uint8_t *end)
{
	size_t n = (size_t)(end - out) - GP_REC_HEADER;
	out[0] = GP_TAG_SEGCOLS;
	out[1] = (uint8_t)(n | 0x80);
	out[2] = (uint8_t)((n >> 7) | 0x80);
	out[3] = (uint8_t)((n >> 14) | 0x80);
	out[4] = (uint8_t)((n >> 21) & 0x7f);
	return (size_t)(end - out);
}

size_t gp_segcols_encode(const uint8_t *in, size_t len, uint8_t *out, uint8_t *scratch)
{
	/* The preload's segments: records of one-byte lengths, fields of one byte mostly, so
	 * the fields are split byte by byte (a byte without its top bit ends a field), into
	 * scratch regions of `len` bytes (no column is longer), then copied together. */
	const uint8_t *end = in + len, *p;
	if (len < 3 || in[0] != GP_TAG_SEGMENT || in[1] == 0 || in[1] > GP_VARINT_MAX ||
	    (size_t)in[1] > len - 2 || varint_len(in + 2, in + 2 + in[1]) != in[1])
		return 0;
	const uint8_t *thread = in + 2;
	size_t thread_len = in[1], stride = GP_SEGCOLS_STRIDE(len);
	uint8_t *tags = scratch, *nfields = scratch + stride, *base[GP_SEGCOLS_COLS],
	        *col[GP_SEGCOLS_COLS];
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		base[i] = col[i] = scratch + (2 + i) * stride;
	/* The first three columns of STEP, where most of the bytes go, in registers. */
	uint8_t **sc = col + gp_segcols_col(GP_TAG_STEP, 0);
	uint8_t *s0 = sc[0], *s1 = sc[1], *s2 = sc[2];
	size_t nrec = 0;
	for (p = in + 2 + thread_len; p < end; nrec++) {
		if (end - p < 2)
			return 0;
		unsigned tag = p[0], n = p[1];
		if (!chain_tag(tag) || n > (size_t)(end - p) - 2 || n >= 0x80 ||
		    (n && (p[1 + n] & 0x80)))
			return 0; /* not a chain record, a long length, a field left open */
		const uint8_t *q = p + 2, *qe = q + n;
		unsigned f = 0, step = tag == GP_TAG_STEP;
		uint8_t **c = col + gp_segcols_col(tag, 0);
		if (step && n >= 3 && !((q[0] | q[1] | q[2]) & 0x80)) {
			*s0++ = q[0]; /* three one-byte fields, the common step */
			*s1++ = q[1];
			*s2++ = q[2];
			q += 3;
			f = 3;
			step = 0; /* its other fields do not go to those columns */
		} else if (step) {
			sc[0] = s0, sc[1] = s1, sc[2] = s2;
		}
		for (; q < qe; q++) {
			if (f >= GP_SEGCOLS_FIELDS)
				return 0;
			*c[f]++ = *q;
			f += !(*q & 0x80);
		}
		if (step)
			s0 = sc[0], s1 = sc[1], s2 = sc[2];
		tags[nrec] = (uint8_t)tag;
		nfields[nrec] = (uint8_t)f;
		p += 2 + n;
	}
	sc[0] = s0, sc[1] = s1, sc[2] = s2;

	/* The size: 2 bytes a record against 2 of header in the input, the rest under
	 * GP_SEGCOLS_SLACK. */
	size_t colsz[GP_SEGCOLS_COLS];
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		colsz[i] = (size_t)(col[i] - base[i]);
	struct layout l;
	layout(out, thread, thread_len, nrec, colsz, &l);
	memcpy(l.tags, tags, nrec);
	memcpy(l.nfields, nfields, nrec);
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		memcpy(l.col[i], base[i], colsz[i]);
	return finish(out, l.end);
}

long gp_segcols_decode(const uint8_t *p, size_t len, uint8_t *out)
{
	struct gp_cursor c = { p, p + len, 0 };
	const uint8_t *thread = c.p;
	gp_get_varint(&c);
	size_t thread_len = (size_t)(c.p - thread);
	uint64_t nrec = gp_get_varint(&c);
	if (c.bad || nrec > (uint64_t)(c.end - c.p) / 2)
		return -1;
	const uint8_t *tags = c.p, *nfields = c.p + nrec;
	c.p += 2 * nrec;
	const uint8_t *col[GP_SEGCOLS_COLS], *cend[GP_SEGCOLS_COLS];
	uint64_t colsz[GP_SEGCOLS_COLS];
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		colsz[i] = gp_get_varint(&c);
	if (c.bad)
		return -1;
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++) {
		if (colsz[i] > (uint64_t)(c.end - c.p))
			return -1;
		col[i] = c.p;
		cend[i] = c.p + colsz[i];
		c.p += colsz[i];
	}
	if (c.p != c.end)
		return -1;

	uint8_t *o = out;
	*o++ = GP_TAG_SEGMENT;
	*o++ = (uint8_t)thread_len;
	memcpy(o, thread, thread_len);
	o += thread_len;
	for (uint64_t r = 0; r < nrec; r++) {
		unsigned tag = tags[r], nf = nfields[r];
		if (!chain_tag(tag) || nf > GP_SEGCOLS_FIELDS)
			return -1;
		uint8_t *h = o;
		o += 2; /* at most 6 varints of 10 bytes: a one-byte length */
		for (unsigned f = 0; f < nf; f++) {
			unsigned i = gp_segcols_col(tag, f);
			size_t k = varint_len(col[i], cend[i]);
			if (!k)
				return -1;
			memcpy(o, col[i], k);
			o += k;
			col[i] += k;
		}
		h[0] = (uint8_t)tag;
		h[1] = (uint8_t)(o - h - 2);
	}
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		if (col[i] != cend[i])
			return -1; /* fields no record took */
	return (long)(o - out);
}
