/* gp_record.c - varint fields of trace records. */
#include "gp_record.h"

#include <string.h>

uint64_t gp_get_varint(struct gp_cursor *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			break;
		uint8_t b = *c->p++;
		if (shift == 63 && (b & 0x7e))
			break; /* a tenth byte may only carry the 64th bit */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	c->bad = 1;
	c->p = c->end;
	return 0;
}

int64_t gp_get_zvarint(struct gp_cursor *c) { return gp_unzigzag(gp_get_varint(c)); }

const uint8_t *gp_get_bytes(struct gp_cursor *c, size_t *len)
{
	uint64_t n = gp_get_varint(c);
	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		c->p = c->end;
		*len = 0;
		return NULL;
	}
	const uint8_t *s = c->p;
	c->p += n;
	*len = (size_t)n;
	return s;
}

void gp_rec_bytes(struct gp_rec *r, const void *data, size_t len)
{
	gp_rec_u(r, len);
	memcpy(r->p, data, len);
	r->p += len;
}

size_t gp_rec_end(struct gp_rec *r, unsigned tag)
{
	uint8_t *h = r->base;
	if (r->small)
		return gp_rec_end_small(r, tag);
	size_t len = (size_t)(r->p - r->base) - GP_REC_HEADER;
	if (len < 128) { /* most records: a one-byte length, the payload moves 3 bytes down */
		h[0] = (uint8_t)tag;
		h[1] = (uint8_t)len;
		memmove(h + 2, h + GP_REC_HEADER, len);
		r->p = h + 2 + len;
		return 2 + len;
	}
	h[0] = (uint8_t)tag;
	/* Always 4 length bytes (continuation bits padded): records are < 2^28 bytes. */
	h[1] = (uint8_t)(len | 0x80);
	h[2] = (uint8_t)((len >> 7) | 0x80);
	h[3] = (uint8_t)((len >> 14) | 0x80);
	h[4] = (uint8_t)((len >> 21) & 0x7f);
	return (size_t)(r->p - r->base);
}
