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

/* One record header of a plain segment: @return the payload, or NULL if damaged. */
static const uint8_t *next_record(const uint8_t **p, const uint8_t *end, unsigned *tag,
                                  size_t *plen)
{
	if (end - *p < 2)
		return NULL;
	struct gp_cursor c = { *p + 1, end, 0 };
	uint64_t n = gp_get_varint(&c);
	if (c.bad || n > (uint64_t)(end - c.p))
		return NULL;
	*tag = **p;
	*plen = (size_t)n;
	*p = c.p + n;
	return c.p;
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

size_t gp_segcols_put(uint8_t *out, uint64_t thread, size_t nrec, const uint8_t *tags,
                      const uint8_t *nfields, const uint8_t *const col[GP_SEGCOLS_COLS],
                      const size_t colsz[GP_SEGCOLS_COLS])
{
	uint8_t tv[GP_VARINT_MAX];
	struct layout l;
	layout(out, tv, gp_put_varint(tv, thread), nrec, colsz, &l);
	memcpy(l.tags, tags, nrec);
	memcpy(l.nfields, nfields, nrec);
	for (unsigned i = 0; i < GP_SEGCOLS_COLS; i++)
		memcpy(l.col[i], col[i], colsz[i]);
	return finish(out, l.end);
}

size_t gp_segcols_encode(const uint8_t *in, size_t len, uint8_t *out)
{
	const uint8_t *end = in + len, *p = in, *pl;
	unsigned tag;
	size_t plen;
	pl = next_record(&p, end, &tag, &plen);
	if (!pl || tag != GP_TAG_SEGMENT || varint_len(pl, pl + plen) != plen)
		return 0;
	const uint8_t *thread = pl, *first = p;
	size_t thread_len = plen;

	/* Pass 1: every record's fields, and the size of each column. */
	size_t colsz[GP_SEGCOLS_COLS] = { 0 };
	size_t nrec = 0;
	while (p < end) {
		if (!(pl = next_record(&p, end, &tag, &plen)) || !chain_tag(tag))
			return 0;
		const uint8_t *q = pl, *qe = pl + plen;
		for (unsigned f = 0; q < qe; f++) {
			size_t k = varint_len(q, qe);
			if (!k || f >= GP_SEGCOLS_FIELDS)
				return 0;
			colsz[gp_segcols_col(tag, f)] += k;
			q += k;
		}
		nrec++;
	}

	/* Pass 2: scatter the fields. The size: 2 bytes a record against at least 2 of header
	 * in the input, the rest under GP_SEGCOLS_SLACK. */
	struct layout l;
	layout(out, thread, thread_len, nrec, colsz, &l);
	p = first;
	for (size_t r = 0; r < nrec; r++) {
		pl = next_record(&p, end, &tag, &plen);
		const uint8_t *q = pl, *qe = pl + plen;
		unsigned f = 0;
		while (q < qe) {
			size_t k = varint_len(q, qe);
			uint8_t **c = &l.col[gp_segcols_col(tag, f++)];
			memcpy(*c, q, k);
			*c += k;
			q += k;
		}
		l.tags[r] = (uint8_t)tag;
		l.nfields[r] = (uint8_t)f;
	}
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
