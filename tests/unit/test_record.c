/*
 * test_record.c - the field codec of gp_record.h: varints, zigzag, byte strings and the
 * record header of gp_rec_end (1-byte length under 128 bytes, else a padded 4-byte one).
 */
#include "check.h"

#include "gp_format.h"
#include "gp_record.h"

#include <stdint.h>
#include <string.h>

static struct gp_cursor cur(const uint8_t *p, size_t n)
{
	struct gp_cursor c = { p, p + n, 0 };
	return c;
}

/* Encode v, compare with the expected bytes (if any), decode it back. */
static void roundtrip(uint64_t v, size_t want_len, const uint8_t *want)
{
	uint8_t buf[GP_VARINT_MAX + 4];
	memset(buf, 0xAA, sizeof buf);
	size_t n = gp_put_varint(buf, v);
	CHECK_U(n, want_len);
	CHECK(buf[n] == 0xAA, "(wrote past its length for %" PRIu64 ")", v);
	if (want)
		CHECK(memcmp(buf, want, n) == 0, "(encoding of %" PRIu64 ")", v);
	struct gp_cursor c = cur(buf, n);
	CHECK_U(gp_get_varint(&c), v);
	CHECK_I(c.bad, 0);
	CHECK(c.p == buf + n, "(decoder consumed exactly the encoding of %" PRIu64 ")", v);
}

static void test_varint(void)
{
	SECTION("varint round trips: 0, 1, 127, 128, 2^14-1, 2^14, 2^32, 2^63, UINT64_MAX");
	roundtrip(0, 1, (const uint8_t[]){ 0x00 });
	roundtrip(1, 1, (const uint8_t[]){ 0x01 });
	roundtrip(127, 1, (const uint8_t[]){ 0x7f });
	roundtrip(128, 2, (const uint8_t[]){ 0x80, 0x01 });
	roundtrip(300, 2, (const uint8_t[]){ 0xac, 0x02 });
	roundtrip(16383, 2, (const uint8_t[]){ 0xff, 0x7f });
	roundtrip(16384, 3, (const uint8_t[]){ 0x80, 0x80, 0x01 });
	roundtrip(1ull << 32, 5, (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x10 });
	roundtrip((1ull << 32) - 1, 5, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x0f });
	roundtrip(1ull << 63, 10,
	          (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 });
	roundtrip(UINT64_MAX, 10,
	          (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 });

	SECTION("varint length is ceil(bits/7) for every power of two and its neighbours");
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t p = 1ull << bit;
		uint64_t vals[3] = { p - 1, p, p + 1 };
		for (int k = 0; k < 3; k++) {
			uint64_t v = vals[k];
			unsigned bits = 0;
			for (uint64_t x = v; x; x >>= 1)
				bits++;
			size_t want = bits ? (bits + 6) / 7 : 1;
			roundtrip(v, want, NULL);
		}
	}

	SECTION("a run of varints decodes in sequence and ends exactly at the end");
	{
		uint64_t vals[] = { 0, 1, 127, 128, 1ull << 32, UINT64_MAX, 42 };
		size_t nv = sizeof vals / sizeof *vals;
		uint8_t buf[sizeof vals / sizeof *vals * GP_VARINT_MAX];
		size_t n = 0;
		for (size_t i = 0; i < nv; i++)
			n += gp_put_varint(buf + n, vals[i]);
		CHECK_U(n, 1 + 1 + 1 + 2 + 5 + 10 + 1);
		struct gp_cursor c = cur(buf, n);
		for (size_t i = 0; i < nv; i++)
			CHECK_U(gp_get_varint(&c), vals[i]);
		CHECK_I(c.bad, 0);
		CHECK(c.p == c.end);
		SECTION("reading past the end yields 0 and sets bad, and bad sticks");
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
	}

	SECTION("padded (non-minimal) varints decode: the record header's 4-byte lengths");
	{
		const uint8_t pad16[] = { 0x90, 0x80, 0x80, 0x00 };
		struct gp_cursor c = cur(pad16, sizeof pad16);
		CHECK_U(gp_get_varint(&c), 16);
		CHECK_I(c.bad, 0);
		CHECK(c.p == c.end);
		const uint8_t pad0[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
		c = cur(pad0, sizeof pad0); /* 10 bytes, the longest allowed */
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 0);
		CHECK(c.p == c.end);
	}
}

static void test_varint_bad(void)
{
	SECTION("truncated varints: empty, 0x80, 9 x 0xff, 2^32 cut before its last byte");
	{
		struct gp_cursor c = cur(NULL, 0);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
	}
	{
		const uint8_t b[] = { 0x80 };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
	}
	{
		const uint8_t b[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
	}
	{
		uint8_t b[GP_VARINT_MAX];
		size_t n = gp_put_varint(b, 1ull << 32);
		for (size_t cut = 0; cut < n; cut++) {
			struct gp_cursor c = cur(b, cut);
			CHECK_U(gp_get_varint(&c), 0);
			CHECK_I(c.bad, 1, "(cut at %zu of %zu)", cut, n);
		}
		/* ... and for UINT64_MAX, cut anywhere */
		n = gp_put_varint(b, UINT64_MAX);
		for (size_t cut = 0; cut < n; cut++) {
			struct gp_cursor c = cur(b, cut);
			CHECK_U(gp_get_varint(&c), 0);
			CHECK_I(c.bad, 1, "(cut at %zu of %zu)", cut, n);
		}
	}

	SECTION("overlong varints (11+ bytes) set bad and consume the rest");
	{
		const uint8_t b[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
		                      0x05 };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
	}
	{
		uint8_t b[40];
		memset(b, 0xff, sizeof b);
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
	}
}

static void test_zigzag(void)
{
	SECTION("zigzag: 0->0, -1->1, 1->2, -2->3, 2->4, INT64_MAX, INT64_MIN; round trips");
	CHECK_U(gp_zigzag(0), 0);
	CHECK_U(gp_zigzag(-1), 1);
	CHECK_U(gp_zigzag(1), 2);
	CHECK_U(gp_zigzag(-2), 3);
	CHECK_U(gp_zigzag(2), 4);
	CHECK_U(gp_zigzag(-64), 127);
	CHECK_U(gp_zigzag(64), 128);
	CHECK_U(gp_zigzag(INT64_MAX), UINT64_MAX - 1);
	CHECK_U(gp_zigzag(INT64_MIN), UINT64_MAX);
	int64_t vals[] = { 0, 1, -1, 63, -64, 64, -65, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN,
	                   INT64_MAX, INT64_MIN, INT64_MIN + 1, 0x7f0000001234ll,
	                   -0x7f0000001234ll };
	for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
		CHECK_I(gp_unzigzag(gp_zigzag(vals[i])), vals[i]);
		uint8_t b[GP_VARINT_MAX];
		size_t n = gp_put_varint(b, gp_zigzag(vals[i]));
		struct gp_cursor c = cur(b, n);
		CHECK_I(gp_get_zvarint(&c), vals[i]);
		CHECK_I(c.bad, 0);
	}
	SECTION("small deltas stay 1 byte: |d| <= 63");
	{
		uint8_t b[GP_VARINT_MAX];
		CHECK_U(gp_put_varint(b, gp_zigzag(-64)), 1);
		CHECK_U(gp_put_varint(b, gp_zigzag(63)), 1);
		CHECK_U(gp_put_varint(b, gp_zigzag(64)), 2);
	}
	SECTION("a truncated zvarint yields 0 with bad set");
	{
		const uint8_t b[] = { 0x81 };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_I(gp_get_zvarint(&c), 0);
		CHECK_I(c.bad, 1);
	}
}

static void test_bytes(void)
{
	SECTION("gp_get_bytes: exact fit, empty string, one byte short, huge length, bad length");
	{
		const uint8_t b[] = { 3, 'a', 'b', 'c', 7 };
		struct gp_cursor c = cur(b, sizeof b);
		size_t len = 99;
		const uint8_t *s = gp_get_bytes(&c, &len);
		CHECK(s == b + 1);
		CHECK_U(len, 3);
		CHECK_I(c.bad, 0);
		CHECK_U(gp_get_varint(&c), 7);
		CHECK(c.p == c.end);
	}
	{
		const uint8_t b[] = { 3, 'a', 'b', 'c' }; /* ends right after the string */
		struct gp_cursor c = cur(b, sizeof b);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == b + 1);
		CHECK_U(len, 3);
		CHECK_I(c.bad, 0);
		CHECK(c.p == c.end);
	}
	{
		const uint8_t b[] = { 0, 9 };
		struct gp_cursor c = cur(b, sizeof b);
		size_t len = 99;
		const uint8_t *s = gp_get_bytes(&c, &len);
		CHECK(s != NULL, "(an empty string is not an error)");
		CHECK_U(len, 0);
		CHECK_I(c.bad, 0);
		CHECK_U(gp_get_varint(&c), 9);
	}
	{
		const uint8_t b[] = { 4, 'a', 'b', 'c' };
		struct gp_cursor c = cur(b, sizeof b);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_U(len, 0);
		CHECK_I(c.bad, 1);
		CHECK(c.p == c.end);
	}
	{
		/* a length of UINT64_MAX must not wrap the bounds check */
		uint8_t b[GP_VARINT_MAX + 4];
		size_t n = gp_put_varint(b, UINT64_MAX);
		memcpy(b + n, "abcd", 4);
		struct gp_cursor c = cur(b, n + 4);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_U(len, 0);
		CHECK_I(c.bad, 1);
		/* ... nor one of SIZE_MAX - 1 */
		n = gp_put_varint(b, (uint64_t)SIZE_MAX - 1);
		memcpy(b + n, "abcd", 4);
		c = cur(b, n + 4);
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_I(c.bad, 1);
	}
	{
		const uint8_t b[] = { 0x83 }; /* the length itself is truncated */
		struct gp_cursor c = cur(b, sizeof b);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_U(len, 0);
		CHECK_I(c.bad, 1);
	}
	{
		struct gp_cursor c = cur(NULL, 0);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_U(len, 0);
		CHECK_I(c.bad, 1);
	}
	SECTION("gp_get_bytes after an earlier error stays NULL");
	{
		const uint8_t b[] = { 0x80 };
		struct gp_cursor c = cur(b, sizeof b);
		gp_get_varint(&c);
		size_t len = 99;
		CHECK(gp_get_bytes(&c, &len) == NULL);
		CHECK_U(len, 0);
		CHECK_I(c.bad, 1);
	}
}

/* Build a record with `plen` payload bytes, check its header (`hlen` bytes) and payload. */
static void header_case(unsigned tag, size_t plen, size_t hlen, const uint8_t *want_hdr)
{
	uint8_t *buf = malloc(GP_REC_HEADER + plen + 1);
	CHECK(buf != NULL);
	struct gp_rec r;
	gp_rec_begin(&r, buf);
	CHECK(r.p == buf + GP_REC_HEADER);
	for (size_t i = 0; i < plen; i++)
		r.p[i] = (uint8_t)(i * 7 + 1);
	r.p += plen;
	size_t total = gp_rec_end(&r, tag);
	CHECK_U(total, hlen + plen, "(a %zu-byte payload)", plen);
	CHECK(r.p == buf + total, "(r.p left at the record's end)");
	CHECK(memcmp(buf, want_hdr, hlen) == 0,
	      "(header of a %zu-byte payload: %02x %02x %02x %02x %02x)", plen, buf[0], buf[1],
	      buf[2], buf[3], buf[4]);
	/* The header decodes as tag + varint length. */
	struct gp_cursor c = cur(buf + 1, total - 1);
	CHECK_U(gp_get_varint(&c), plen);
	CHECK_I(c.bad, 0);
	CHECK(c.p == buf + hlen);
	for (size_t i = 0; i < plen; i++)
		if (buf[hlen + i] != (uint8_t)(i * 7 + 1))
			CHECK(0, "(payload byte %zu of %zu damaged)", i, plen);
	free(buf);
}

static void test_rec(void)
{
	SECTION("gp_rec_end: payload < 128 bytes: tag + 1-byte length, the payload moved down");
	header_case(GP_TAG_STEP, 0, 2, (const uint8_t[]){ 5, 0x00 });
	header_case(GP_TAG_END, 1, 2, (const uint8_t[]){ 8, 0x01 });
	header_case(GP_TAG_CHAIN, 10, 2, (const uint8_t[]){ 4, 0x0a });
	header_case(GP_TAG_STACK, 127, 2, (const uint8_t[]){ 3, 0x7f });
	SECTION("gp_rec_end: payload >= 128 bytes: tag + 4-byte padded length, in place");
	header_case(GP_TAG_STACK, 128, 5, (const uint8_t[]){ 3, 0x80, 0x81, 0x80, 0x00 });
	header_case(GP_TAG_MODULE, 300, 5, (const uint8_t[]){ 2, 0xac, 0x82, 0x80, 0x00 });
	header_case(GP_TAG_CHAIN, 16384, 5, (const uint8_t[]){ 4, 0x80, 0x80, 0x81, 0x00 });
	header_case(200, (1u << 21) + 5, 5, (const uint8_t[]){ 200, 0x85, 0x80, 0x80, 0x01 });
	header_case(GP_TAG_PROCESS, GP_RECORD_MAX, 5,
	            (const uint8_t[]){ 1, 0x80, 0x80, 0x80, 0x08 });

	SECTION("gp_rec_begin_small: a 2-byte header written in place, no move");
	for (size_t plen = 0; plen < 128; plen += 127) {
		uint8_t buf[2 + 128];
		struct gp_rec r;
		gp_rec_begin_small(&r, buf);
		CHECK(r.p == buf + 2);
		for (size_t i = 0; i < plen; i++)
			*r.p++ = (uint8_t)(i + 3);
		size_t total = gp_rec_end(&r, GP_TAG_STEP);
		CHECK_U(total, 2 + plen);
		CHECK_U(buf[0], GP_TAG_STEP);
		CHECK_U(buf[1], plen);
		for (size_t i = 0; i < plen; i++)
			CHECK_U(buf[2 + i], i + 3);
		/* ... and the same bytes as the general path */
		uint8_t big[GP_REC_HEADER + 128];
		gp_rec_begin(&r, big);
		for (size_t i = 0; i < plen; i++)
			*r.p++ = (uint8_t)(i + 3);
		CHECK_U(gp_rec_end(&r, GP_TAG_STEP), total);
		CHECK(memcmp(big, buf, total) == 0);
	}

	SECTION("gp_rec_u / gp_rec_z / gp_rec_bytes append decodable fields");
	{
		uint8_t buf[128];
		struct gp_rec r;
		gp_rec_begin(&r, buf);
		gp_rec_u(&r, 300);
		gp_rec_z(&r, -3);
		gp_rec_bytes(&r, "hello", 5);
		gp_rec_bytes(&r, "", 0);
		gp_rec_u(&r, UINT64_MAX);
		size_t total = gp_rec_end(&r, GP_TAG_PROCESS);
		CHECK_U(total, 2 + 2 + 1 + 6 + 1 + 10);
		const uint8_t want[] = { 1, 20, 0xac, 0x02, 0x05, 5, 'h', 'e', 'l', 'l', 'o', 0,
		                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
		CHECK_U(sizeof want, total);
		CHECK(memcmp(buf, want, sizeof want) == 0);
		struct gp_cursor c = cur(buf + 2, total - 2);
		CHECK_U(gp_get_varint(&c), 300);
		CHECK_I(gp_get_zvarint(&c), -3);
		size_t len;
		const uint8_t *s = gp_get_bytes(&c, &len);
		CHECK(s && len == 5 && memcmp(s, "hello", 5) == 0);
		s = gp_get_bytes(&c, &len);
		CHECK(s && len == 0);
		CHECK_U(gp_get_varint(&c), UINT64_MAX);
		CHECK_I(c.bad, 0);
		CHECK(c.p == c.end);
	}
}

static void test_varint_65_bits(void)
{
	SECTION("a 10-byte varint carrying more than 64 bits sets bad (its 10th byte > 1)");
	/* gp_record.h: "0 with c->bad set if it is ... longer than 64 bits" */
	{
		const uint8_t b[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1, "(9 x 0xff + 0x7f is 70 bits)");
		CHECK(c.p == c.end);
	}
	{
		const uint8_t b[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02 };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 0);
		CHECK_I(c.bad, 1, "(9 x 0x80 + 0x02 is 2^64)");
	}
	{
		/* ... while 0x01 there is the 64th bit: 2^63 */
		const uint8_t b[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
		struct gp_cursor c = cur(b, sizeof b);
		CHECK_U(gp_get_varint(&c), 1ull << 63);
		CHECK_I(c.bad, 0);
	}
}

int main(void)
{
	test_varint();
	test_varint_bad();
	test_varint_65_bits();
	test_zigzag();
	test_bytes();
	test_rec();
	return check_exit("test_record");
}
