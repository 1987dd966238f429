/* gp_writer.c - zstd stream writer on a raw fd (see gp_writer.h). */
#include "gp_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void *std_alloc(void *opaque, size_t n) { (void)opaque; return malloc(n); }
static void std_free(void *opaque, void *p) { (void)opaque; free(p); }

int gp_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) /* a signal (e.g. an itimer) interrupted us: go on */
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int gp_writer_init(struct gp_writer *w, int fd, int level, ZSTD_customMem mem)
{
	w->fd = fd;
	w->bytes_out = 0;
	if (!mem.customAlloc) { /* outside the preload: plain malloc */
		mem.customAlloc = std_alloc;
		mem.customFree = std_free;
	}
	w->mem = mem;
	w->cctx = ZSTD_createCCtx_advanced(mem);
	if (!w->cctx)
		return -ENOMEM;
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	/* A 128 KiB window instead of level 1's 512 KiB: 384 KiB less of the profiled
	 * process's memory, for traces about 1-5% larger (the records repeat locally). */
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, 17);
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = mem.customAlloc(mem.opaque, w->out_cap);
	if (!w->out) {
		ZSTD_freeCCtx(w->cctx);
		w->cctx = NULL;
		return -ENOMEM;
	}
	return 0;
}

int gp_writer_put(struct gp_writer *w, const void *data, size_t len, int end)
{
	ZSTD_inBuffer in = { data, len, 0 };
	ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_flush;
	for (;;) {
		ZSTD_outBuffer out = { w->out, w->out_cap, 0 };
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(left))
			return -EIO;
		if (out.pos) {
			int rc = gp_write_all(w->fd, w->out, out.pos);
			if (rc)
				return rc;
			w->bytes_out += out.pos;
		}
		if (left == 0 && in.pos == in.size)
			return 0;
	}
}

void gp_writer_release(struct gp_writer *w)
{
	if (w->out)
		w->mem.customFree(w->mem.opaque, w->out);
	w->out = NULL;
	ZSTD_freeCCtx(w->cctx); /* accepts NULL */
	w->cctx = NULL;
}
