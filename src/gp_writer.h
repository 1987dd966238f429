/*
 * gp_writer.h - compress trace bytes into a zstd stream on a raw file descriptor.
 *
 * Made for the preload: no stdio, no allocation through malloc (zstd gets the caller's
 * allocator), write(2) retried on EINTR and short writes. Each gp_writer_put flushes a whole
 * zstd block, so everything put so far can be decoded even if the process dies right after.
 */
#ifndef GP_WRITER_H
#define GP_WRITER_H

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem */
#include <stddef.h>
#include <zstd.h>

struct gp_writer {
	int fd;
	ZSTD_CCtx *cctx;
	unsigned char *out;
	size_t out_cap;
	unsigned long long bytes_out; /* compressed bytes written so far */
	ZSTD_customMem mem;
};

/*
 * Prepare `w` to write to `fd` at zstd `level`, allocating through `mem` (use ZSTD_defaultCMem
 * outside the preload). @return 0, or -ENOMEM.
 */
int gp_writer_init(struct gp_writer *w, int fd, int level, ZSTD_customMem mem);

/*
 * Compress `len` bytes and write them out, flushed (`end` = 0) or ending the zstd frame
 * (`end` = 1; later puts start a new frame, which zstd readers accept).
 * @return 0, or a negative errno (-ENOSPC, -EBADF, -EIO for a compression error...).
 */
int gp_writer_put(struct gp_writer *w, const void *data, size_t len, int end);

/* Free the compression context and buffer (the fd is the caller's). */
void gp_writer_release(struct gp_writer *w);

/* write(2) all of `len` bytes, retrying EINTR and short writes. @return 0 or -errno. */
int gp_write_all(int fd, const void *data, size_t len);

#endif
