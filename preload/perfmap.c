/* perfmap.c - copy the process's perf map beside its trace (see perfmap.h). */
#include "perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* dst = a + b + c (truncated: then the copy is not made). @return 0, -1 if it did not fit. */
static int join(char *dst, size_t cap, const char *a, size_t alen, const char *b,
                const char *c)
{
	size_t blen = strlen(b), clen = strlen(c);
	if (alen + blen + clen + 1 > cap)
		return -1;
	memcpy(dst, a, alen);
	memcpy(dst + alen, b, blen);
	memcpy(dst + alen + blen, c, clen + 1);
	return 0;
}

/* Decimal digits of v into buf (NUL-terminated). */
static void utoa(char *buf, unsigned v)
{
	char tmp[16];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
}

/* Copy src to dst (created 0600, never over a file). */
static void copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	int outfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (outfd >= 0) {
		char buf[8192];
		ssize_t n;
		int ok = 1;
		while (ok && (n = read(in, buf, sizeof buf)) != 0) {
			if (n < 0) {
				ok = errno == EINTR;
				continue;
			}
			for (ssize_t off = 0; ok && off < n;) {
				ssize_t w = write(outfd, buf + off, (size_t)(n - off));
				if (w > 0)
					off += w;
				else
					ok = w < 0 && errno == EINTR;
			}
		}
		close(outfd);
		if (!ok) /* a half copy would name frames wrongly: none at all is better */
			unlink(dst);
	}
	close(in);
}

void gp_perfmap_keep(const char *trace_path, int pid)
{
	if (!trace_path || !*trace_path || pid <= 0)
		return;
	int saved = errno;
	char num[16], src[64], dst[1280];
	utoa(num, (unsigned)pid);
	size_t tlen = strlen(trace_path);
	if (tlen >= 4 && strcmp(trace_path + tlen - 4, ".zst") == 0)
		tlen -= 4;
	if (join(src, sizeof src, "/tmp/perf-", 10, num, ".map") == 0 &&
	    join(dst, sizeof dst, trace_path, tlen, ".perfmap", "") == 0)
		copy_file(src, dst);
	/* CPython 3.13 -X perf_jit, and JITs writing for perf inject: a jitdump. */
	if (join(src, sizeof src, "/tmp/jit-", 9, num, ".dump") == 0 &&
	    join(dst, sizeof dst, trace_path, tlen, ".jitdump", "") == 0)
		copy_file(src, dst);
	errno = saved;
}
