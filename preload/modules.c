/* modules.c - mapped objects -> MODULE records (see modules.h). */
#define _GNU_SOURCE
#include "modules.h"

#include "trace.h"
#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"

#include <elf.h>
#include <stddef.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODULES 4096

struct mod {
	uint64_t bias, lo, hi;
	uint64_t ident;   /* hash of path and build id: another object may reuse a range */
	uint32_t id;
	unsigned gen;     /* trace generation its record was written in */
	int seen;         /* still mapped at the last scan */
};

static struct mod mods[MAX_MODULES];
static unsigned nmods;
static uint32_t next_id = 1;

static void self_marker(void) {}

struct self_find {
	uintptr_t addr, lo, hi;
};

static void ranges(const struct dl_phdr_info *info, uint64_t *lo, uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
		if (a < *lo)
			*lo = a;
		if (b > *hi)
			*hi = b;
	}
	if (*lo > *hi)
		*lo = *hi = 0;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct self_find *f = data;
	uint64_t lo, hi;
	ranges(info, &lo, &hi);
	if (f->addr >= lo && f->addr < hi) {
		f->lo = lo;
		f->hi = hi;
		return 1;
	}
	return 0;
}

void gp_modules_self(uintptr_t *lo, uintptr_t *hi)
{
	struct self_find f = { (uintptr_t)&self_marker, 0, 0 };
	dl_iterate_phdr(find_self, &f);
	*lo = f.lo;
	*hi = f.hi;
}

/* The GNU build id from the object's PT_NOTE segments, as mapped. */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
			const uint8_t *d = p + sizeof *nh + name;
			if (d + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + sizeof *nh, "GNU", 4) == 0) {
				*out = d;
				return nh->n_descsz;
			}
			p = d + desc;
		}
	}
	*out = NULL;
	return 0;
}

int gp_modules_dirty;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int sync_one(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	int *replaced = data;
	uint64_t lo, hi;
	ranges(info, &lo, &hi);
	if (lo == hi)
		return 0;
	const uint8_t *bid0;
	size_t blen0 = build_id(info, &bid0);
	uint64_t ident = fnv(0xcbf29ce484222325ull, info->dlpi_name ? info->dlpi_name : "",
	                     info->dlpi_name ? strlen(info->dlpi_name) : 0);
	ident = fnv(ident, bid0, blen0);
	struct mod *m = NULL;
	for (unsigned i = 0; i < nmods; i++)
		if (mods[i].bias == info->dlpi_addr && mods[i].lo == lo && mods[i].hi == hi &&
		    mods[i].ident == ident) {
			m = &mods[i];
			break;
		}
	if (m && m->gen == gp_gen) {
		m->seen = 1;
		return 0;
	}
	if (!m) {
		/* Forget modules overlapping this one: they were unloaded (their records stay in
		 * the trace, so old addresses still symbolize). */
		for (unsigned i = 0; i < nmods;)
			if (mods[i].lo < hi && lo < mods[i].hi) {
				mods[i] = mods[--nmods];
				*replaced = 1; /* addresses there now mean something else */
			} else {
				i++;
			}
		if (nmods == MAX_MODULES)
			return 0;
		m = &mods[nmods++];
		m->bias = info->dlpi_addr;
		m->lo = lo;
		m->hi = hi;
		m->ident = ident;
	}
	m->id = next_id++;
	m->gen = gp_gen;
	m->seen = 1;

	static char exe[4096];
	const char *path = info->dlpi_name;
	size_t plen = path ? strlen(path) : 0;
	if (plen == 0) { /* the main program */
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
		path = exe;
		plen = n > 0 ? (size_t)n : 0;
	}
	if (plen > 4096)
		plen = 4096;
	const uint8_t *bid;
	size_t blen = build_id(info, &bid);
	if (blen > 64)
		blen = 64;
	uint8_t *p = gp_trace_reserve(GP_MODULE_REC_MAX(plen, blen));
	if (!p)
		return 1;
	struct gp_module_rec x = {
		.id = m->id, .bias = info->dlpi_addr, .lo = lo, .hi = hi,
		.path = (const uint8_t *)path, .path_len = plen, .build_id = bid, .build_id_len = blen,
	};
	gp_trace_commit(gp_enc_module(p, &x));
	return 0;
}

static unsigned long long seen_adds, seen_subs;

static int read_counts(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
	}
	return 1; /* the first object is enough: the counters are global */
}

int gp_modules_sync_locked(void)
{
	unsigned long long c[2] = { 0, 0 };
	int replaced = 0;
	gp_modules_dirty = 0;
	dl_iterate_phdr(read_counts, c);
	seen_adds = c[0];
	seen_subs = c[1];
	dl_iterate_phdr(sync_one, &replaced);
	return replaced;
}

int gp_modules_changed_locked(void)
{
	unsigned long long c[2] = { 0, 0 };
	dl_iterate_phdr(read_counts, c);
	return c[0] != seen_adds || c[1] != seen_subs;
}

int gp_modules_known_locked(uint64_t addr)
{
	/* A stack's frames come in runs of one module: the one found last is tried first. */
	static unsigned last;
	if (last < nmods && addr > mods[last].lo && addr <= mods[last].hi && mods[last].gen == gp_gen)
		return 1;
	for (unsigned i = 0; i < nmods; i++)
		if (addr > mods[i].lo && addr <= mods[i].hi && mods[i].gen == gp_gen) {
			last = i;
			return 1;
		}
	return 0;
}

void gp_modules_new_trace(void)
{
	/* Every module is written again in the new trace (gen no longer matches). */
}
