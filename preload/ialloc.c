/* ialloc.c - size-class allocator over mmap for the preload's own data (see ialloc.h). */
#include "ialloc.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define NCLASS 12          /* 16 B .. 32 KiB */
#define MIN_SHIFT 4
#define CHUNK (1u << 20)   /* carve small blocks out of 1 MiB mappings */
#define HDR 16             /* every block starts with its size class / mapping size */

struct freeblk { struct freeblk *next; };

static struct freeblk *freelist[NCLASS];
static char *bump, *bump_end;
static volatile int lock;

void gp_ialloc_lock(void)
{
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

void gp_ialloc_unlock(void) { __atomic_store_n(&lock, 0, __ATOMIC_RELEASE); }
void gp_ialloc_atfork_child(void) { lock = 0; }

void *gp_imap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void gp_iunmap(void *p, size_t n)
{
	if (p)
		munmap(p, n);
}

void *gp_ialloc(size_t n)
{
	size_t need = n + HDR;
	if (need > ((size_t)1 << (MIN_SHIFT + NCLASS - 1))) {
		size_t len = (need + 4095) & ~(size_t)4095;
		uint64_t *p = gp_imap(len);
		if (!p)
			return NULL;
		p[0] = len; /* > any class index: a direct mapping */
		return (char *)p + HDR;
	}
	unsigned c = 0;
	while (((size_t)1 << (MIN_SHIFT + c)) < need)
		c++;
	size_t sz = (size_t)1 << (MIN_SHIFT + c);
	gp_ialloc_lock();
	uint64_t *p = (uint64_t *)freelist[c];
	if (p) {
		freelist[c] = ((struct freeblk *)p)->next;
		gp_ialloc_unlock();
		memset(p, 0, sz);
	} else {
		if (bump + sz > bump_end) {
			char *m = gp_imap(CHUNK);
			if (!m) {
				gp_ialloc_unlock();
				return NULL;
			}
			bump = m;
			bump_end = m + CHUNK;
		}
		p = (uint64_t *)bump; /* fresh mmap memory is already zero */
		bump += sz;
		gp_ialloc_unlock();
	}
	p[0] = c;
	return (char *)p + HDR;
}

void gp_ifree(void *ptr)
{
	if (!ptr)
		return;
	uint64_t *p = (uint64_t *)((char *)ptr - HDR);
	if (p[0] >= NCLASS) {
		gp_iunmap(p, p[0]);
		return;
	}
	unsigned c = (unsigned)p[0];
	gp_ialloc_lock();
	((struct freeblk *)p)->next = freelist[c];
	freelist[c] = (struct freeblk *)p;
	gp_ialloc_unlock();
}
