/* gp_reader.c - stream a trace's records out of its zstd frames (see gp_reader.h). */
#include "gp_reader.h"

#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "gp_segcols.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

struct gp_reader {
	int fd;                   /* -1 when reading from memory */
	const uint8_t *mem;       /* memory input */
	size_t mem_len, mem_pos;
	uint64_t consumed, size;  /* compressed bytes */

	ZSTD_DStream *ds;
	uint8_t *cbuf;            /* compressed input not yet consumed: [cpos, clen) */
	size_t ccap, cpos, clen;
	int eof;                  /* no more compressed input */
	size_t frame_left;        /* last ZSTD_decompressStream hint: 0 = at a frame boundary */

	uint8_t *dbuf;            /* decompressed bytes not yet parsed: [dpos, dlen) */
	size_t dcap, dpos, dlen;

	uint8_t *xbuf;            /* a SEGCOLS record expanded: records [xpos, xlen) to come */
	size_t xcap, xpos, xlen;

	unsigned version;
	struct gp_codec codec;    /* gp_reader_next_rec's deltas */
	int cut_short;
	int failed;
	char err[160];
};

static int fail(struct gp_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	r->failed = 1;
	return GP_READ_ERROR;
}

/* Pull more compressed input. @return bytes added, 0 at end of input, -1 on error. */
static ssize_t read_more(struct gp_reader *r)
{
	if (r->cpos > 0 && r->cpos == r->clen)
		r->cpos = r->clen = 0;
	if (r->fd < 0) {
		size_t n = r->mem_len - r->mem_pos;
		if (n > r->ccap - r->clen)
			n = r->ccap - r->clen;
		memcpy(r->cbuf + r->clen, r->mem + r->mem_pos, n);
		r->mem_pos += n;
		r->clen += n;
		return (ssize_t)n;
	}
	for (;;) {
		ssize_t n = read(r->fd, r->cbuf + r->clen, r->ccap - r->clen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(r, "read error: %s", strerror(errno));
			return -1;
		}
		r->clen += (size_t)n;
		return n;
	}
}

/*
 * Make at least `want` decompressed bytes available at dbuf + dpos.
 * @return 1 if they are, 0 if the stream ended before, GP_READ_ERROR on damage.
 */
static int need(struct gp_reader *r, size_t want)
{
	while (r->dlen - r->dpos < want) {
		if (r->dpos > 0) { /* slide what is left to the front */
			memmove(r->dbuf, r->dbuf + r->dpos, r->dlen - r->dpos);
			r->dlen -= r->dpos;
			r->dpos = 0;
		}
		if (want > r->dcap) {
			size_t cap = r->dcap;
			while (cap < want)
				cap *= 2;
			uint8_t *p = realloc(r->dbuf, cap);
			if (!p)
				return fail(r, "out of memory");
			r->dbuf = p;
			r->dcap = cap;
		}
		if (r->cpos == r->clen && !r->eof) {
			ssize_t n = read_more(r);
			if (n < 0)
				return GP_READ_ERROR;
			if (n == 0)
				r->eof = 1;
		}
		/* Even with all the input consumed, zstd may hold decoded bytes that did not fit
		 * the output yet (a frame flushed but not ended, as a killed process's trace
		 * is): call it until it has nothing more to give. */
		ZSTD_inBuffer in = { r->cbuf, r->clen, r->cpos };
		ZSTD_outBuffer out = { r->dbuf, r->dcap, r->dlen };
		size_t ret = ZSTD_decompressStream(r->ds, &out, &in);
		int progress = in.pos != r->cpos || out.pos != r->dlen;
		r->consumed += in.pos - r->cpos;
		r->cpos = in.pos;
		r->dlen = out.pos;
		if (ZSTD_isError(ret)) {
			ZSTD_ErrorCode code = ZSTD_getErrorCode(ret);
			if (code == ZSTD_error_prefix_unknown && r->version == 0)
				return fail(r, "not a growprof trace (not zstd-compressed)");
			return fail(r, "corrupt trace data (%s)", ZSTD_getErrorName(ret));
		}
		if (progress) {
			r->frame_left = ret; /* its hint: 0 at a frame's end */
		} else if (r->eof) {
			if (r->frame_left != 0)
				r->cut_short = 1; /* the stream stops inside a zstd frame */
			return 0;
		}
	}
	return 1;
}

static struct gp_reader *reader_new(void)
{
	struct gp_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->fd = -1;
	r->ccap = ZSTD_DStreamInSize();
	r->cbuf = malloc(r->ccap);
	r->dcap = 1 << 16;
	r->dbuf = malloc(r->dcap);
	r->ds = ZSTD_createDStream();
	if (!r->cbuf || !r->dbuf || !r->ds) {
		gp_reader_free(r);
		return NULL;
	}
	/* A hostile frame header must not make us allocate a huge window. */
	ZSTD_DCtx_setParameter(r->ds, ZSTD_d_windowLogMax, 27);
	return r;
}

static void read_header(struct gp_reader *r)
{
	int ok = need(r, GP_MAGIC_LEN + 1);
	if (ok < 0)
		return;
	if (ok == 0) {
		if (r->dlen == 0 && r->consumed == 0)
			fail(r, "empty file, not a growprof trace");
		else if (r->dlen == 0)
			fail(r, "trace cut short before its header");
		else if (memcmp(r->dbuf, GP_MAGIC, r->dlen < GP_MAGIC_LEN ? r->dlen : GP_MAGIC_LEN))
			fail(r, "not a growprof trace (bad magic)");
		else
			fail(r, "trace cut short before its header");
		return;
	}
	if (memcmp(r->dbuf, GP_MAGIC, GP_MAGIC_LEN) != 0) {
		fail(r, "not a growprof trace (bad magic)");
		return;
	}
	unsigned v = r->dbuf[GP_MAGIC_LEN];
	if (v == 0) {
		fail(r, "unsupported trace format version 0 (damaged header?)");
		return;
	}
	if (v > GP_FORMAT_VERSION) {
		fail(r, "trace format version %u is newer than this growprof reads (%u); "
		        "upgrade growprof", v, GP_FORMAT_VERSION);
		return;
	}
	r->version = v;
	gp_codec_init(&r->codec, v);
	r->dpos = GP_MAGIC_LEN + 1;
}

struct gp_reader *gp_reader_open(const char *path)
{
	struct gp_reader *r = reader_new();
	if (!r)
		return NULL;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		fail(r, "cannot open: %s", strerror(errno));
		return r;
	}
	struct stat st;
	if (fstat(r->fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			fail(r, "is a directory, not a trace");
			return r;
		}
		r->size = (uint64_t)st.st_size;
	}
	read_header(r);
	return r;
}

struct gp_reader *gp_reader_open_mem(const void *data, size_t len)
{
	struct gp_reader *r = reader_new();
	if (!r)
		return NULL;
	r->mem = data;
	r->mem_len = len;
	r->size = len;
	read_header(r);
	return r;
}

/* The next record of an expanded SEGCOLS (well formed: gp_segcols_decode wrote it). */
static int next_expanded(struct gp_reader *r, unsigned *tag, const uint8_t **payload,
                         size_t *len)
{
	const uint8_t *p = r->xbuf + r->xpos;
	*tag = p[0];
	*len = p[1];
	*payload = p + 2;
	r->xpos += 2 + (size_t)p[1];
	return GP_READ_RECORD;
}

/* A SEGCOLS record (version 4): expand it, and @return its first record. */
static int expand(struct gp_reader *r, const uint8_t *payload, size_t len, unsigned *tag,
                  const uint8_t **out, size_t *outlen)
{
	size_t need_cap = gp_segcols_decoded_max(len);
	if (need_cap > r->xcap) {
		uint8_t *x = realloc(r->xbuf, need_cap);
		if (!x)
			return fail(r, "out of memory");
		r->xbuf = x;
		r->xcap = need_cap;
	}
	long n = gp_segcols_decode(payload, len, r->xbuf);
	if (n < 0)
		return fail(r, "corrupt trace: damaged column segment");
	r->xpos = 0;
	r->xlen = (size_t)n;
	return next_expanded(r, tag, out, outlen);
}

static int next_record(struct gp_reader *r, unsigned *tag, const uint8_t **payload,
                       size_t *len);

int gp_reader_next(struct gp_reader *r, unsigned *tag, const uint8_t **payload, size_t *len)
{
	if (r->failed)
		return GP_READ_ERROR;
	if (r->xpos < r->xlen)
		return next_expanded(r, tag, payload, len);
	int rc = next_record(r, tag, payload, len);
	if (rc == GP_READ_RECORD && *tag == GP_TAG_SEGCOLS && r->version >= 4)
		return expand(r, *payload, *len, tag, payload, len);
	return rc;
}

static int next_record(struct gp_reader *r, unsigned *tag, const uint8_t **payload,
                       size_t *len)
{
	int ok = need(r, 1);
	if (ok <= 0)
		return ok;
	/* Header: tag + varint length, read byte by byte so a short last record is found. */
	ok = need(r, 2);
	while (ok > 0) {
		struct gp_cursor c = { r->dbuf + r->dpos + 1, r->dbuf + r->dlen, 0 };
		uint64_t n = gp_get_varint(&c);
		if (!c.bad) {
			if (n > GP_RECORD_MAX)
				return fail(r, "corrupt trace: record of %llu bytes", (unsigned long long)n);
			size_t hdr = (size_t)(c.p - (r->dbuf + r->dpos));
			ok = need(r, hdr + (size_t)n);
			if (ok <= 0)
				break;
			*tag = r->dbuf[r->dpos];
			*payload = r->dbuf + r->dpos + hdr;
			*len = (size_t)n;
			r->dpos += hdr + (size_t)n;
			return GP_READ_RECORD;
		}
		if (r->dlen - r->dpos >= 1 + GP_VARINT_MAX)
			return fail(r, "corrupt trace: bad record length");
		ok = need(r, r->dlen - r->dpos + 1);
	}
	if (ok < 0)
		return ok;
	/* The data stops inside a record: the writer was killed mid-flush. */
	r->cut_short = 1;
	r->dpos = r->dlen;
	return GP_READ_END;
}

int gp_reader_next_rec(struct gp_reader *r, struct gp_record *rec)
{
	unsigned tag;
	const uint8_t *p;
	size_t len;
	int rc = gp_reader_next(r, &tag, &p, &len);
	if (rc != GP_READ_RECORD)
		return rc;
	return gp_codec_decode(&r->codec, tag, p, len, rec) < 0 ? GP_READ_BAD : GP_READ_RECORD;
}

const char *gp_reader_error(const struct gp_reader *r) { return r->failed ? r->err : NULL; }
int gp_reader_cut_short(const struct gp_reader *r) { return r->cut_short; }
unsigned gp_reader_version(const struct gp_reader *r) { return r->version; }
uint64_t gp_reader_offset(const struct gp_reader *r) { return r->consumed; }
uint64_t gp_reader_size(const struct gp_reader *r) { return r->size; }

void gp_reader_free(struct gp_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDStream(r->ds);
	free(r->cbuf);
	free(r->dbuf);
	free(r->xbuf);
	free(r);
}
