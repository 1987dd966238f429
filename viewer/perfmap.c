/* perfmap.c - read perf maps, look up addresses in them (see perfmap.h). */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "perfmap.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gp_pment {
	uint64_t start, end;
	size_t order; /* line number: the later line wins */
	char *name;
};

struct gp_perfmap {
	struct gp_pment *v; /* sorted by start, then order */
	size_t n;
	/* The longest entry: a lookup never needs to look further back than start - longest. */
	uint64_t longest;
};

/* "START SIZE NAME": hex numbers (with or without 0x), the rest of the line is the name. */
static int parse_line(char *line, struct gp_pment *e)
{
	char *p = line, *end;
	e->start = strtoull(p, &end, 16);
	if (end == p || !isspace((unsigned char)*end))
		return -1;
	p = end;
	uint64_t size = strtoull(p, &end, 16);
	if (end == p || !isspace((unsigned char)*end) || size == 0 || e->start + size < e->start)
		return -1;
	e->end = e->start + size;
	while (*end == ' ' || *end == '\t')
		end++;
	size_t len = strcspn(end, "\r\n");
	if (len == 0)
		return -1;
	end[len] = 0;
	e->name = end;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct gp_pment *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* Append an entry (its name copied). @return 0, -1 out of memory. */
static int add_entry(struct gp_perfmap *m, size_t *cap, uint64_t start, uint64_t end,
                     const char *name, size_t len)
{
	if (GP_GROW(m->v, *cap, m->n + 1, 256))
		return -1;
	struct gp_pment *e = &m->v[m->n];
	e->start = start;
	e->end = end;
	e->order = m->n;
	e->name = strndup(name, len);
	if (!e->name)
		return -1;
	if (end - start > m->longest)
		m->longest = end - start;
	m->n++;
	return 0;
}

/* A jitdump (perf's tools/perf/util/jitdump.h): a 40-byte header whose magic is "JiTD" in
 * the writer's byte order, then records {u32 id, u32 total_size, u64 timestamp, ...};
 * JIT_CODE_LOAD (id 0) continues {u32 pid, u32 tid, u64 vma, u64 code_addr, u64 code_size,
 * u64 code_index, name NUL-terminated, the code}. Other records are skipped; a record cut
 * short ends the reading (a dump being written). Only this machine's byte order is read. */
#define GP_JITDUMP_MAGIC 0x4A695444u
static int read_jitdump(FILE *f, struct gp_perfmap *m, size_t *cap)
{
	unsigned char hdr[40];
	uint32_t magic, hsize;
	if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr)
		return 0;
	memcpy(&magic, hdr, 4);
	memcpy(&hsize, hdr + 8, 4);
	if (magic != GP_JITDUMP_MAGIC || hsize < sizeof hdr ||
	    fseeko(f, (off_t)hsize, SEEK_SET) != 0)
		return 0;
	unsigned char rec[16], load[40];
	char *name = NULL;
	size_t ncap = 0;
	int rc = 0;
	while (rc == 0 && fread(rec, 1, sizeof rec, f) == sizeof rec) {
		uint32_t id, size;
		memcpy(&id, rec, 4);
		memcpy(&size, rec + 4, 4);
		if (size < sizeof rec)
			break;
		size_t body = size - sizeof rec;
		if (id != 0 || body < sizeof load) {
			if (fseeko(f, (off_t)body, SEEK_CUR) != 0)
				break;
			continue;
		}
		uint64_t addr, len;
		if (fread(load, 1, sizeof load, f) != sizeof load)
			break;
		memcpy(&addr, load + 16, 8);
		memcpy(&len, load + 24, 8);
		size_t rest = body - sizeof load; /* name, NUL, code */
		if (GP_GROW(name, ncap, rest, 0)) {
			rc = -1;
			break;
		}
		if (fread(name, 1, rest, f) != rest)
			break;
		size_t nlen = strnlen(name, rest);
		if (nlen == rest || nlen == 0 || len == 0 || addr + len < addr)
			continue;
		rc = add_entry(m, cap, addr, addr + len, name, nlen);
	}
	free(name);
	return rc;
}

struct gp_perfmap *gp_perfmap_load(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	struct gp_perfmap *m = calloc(1, sizeof *m);
	size_t cap = 0;
	int oom = !m;
	uint32_t magic = 0;
	if (!oom && fread(&magic, 1, 4, f) == 4 && magic == GP_JITDUMP_MAGIC) {
		rewind(f);
		oom = read_jitdump(f, m, &cap) != 0;
	} else if (!oom) {
		rewind(f);
		char *line = NULL;
		size_t lcap = 0;
		while (!oom && getline(&line, &lcap, f) > 0) {
			struct gp_pment e = { 0 };
			if (parse_line(line, &e) == 0)
				oom = add_entry(m, &cap, e.start, e.end, e.name, strlen(e.name)) != 0;
		}
		free(line);
	}
	fclose(f);
	if (oom || m->n == 0) {
		gp_perfmap_free(m);
		return NULL;
	}
	qsort(m->v, m->n, sizeof *m->v, cmp_ent);
	return m;
}

/* The map kept beside `trace`: its name without ".zst" plus `suffix`. */
static struct gp_perfmap *load_beside(const char *trace, const char *suffix)
{
	size_t n = strlen(trace), sl = strlen(suffix);
	if (n >= 4 && strcmp(trace + n - 4, ".zst") == 0)
		n -= 4;
	char *kept = malloc(n + sl + 1);
	if (!kept)
		return NULL;
	memcpy(kept, trace, n);
	memcpy(kept + n, suffix, sl + 1);
	struct gp_perfmap *m = gp_perfmap_load(kept);
	free(kept);
	return m;
}

struct gp_perfmap *gp_perfmap_for_trace(const char *trace, uint64_t pid)
{
	struct gp_perfmap *m = NULL;
	if (trace && !(m = load_beside(trace, ".perfmap")))
		m = load_beside(trace, ".jitdump");
	char tmp[64];
	if (!m && pid) {
		snprintf(tmp, sizeof tmp, "/tmp/perf-%llu.map", (unsigned long long)pid);
		m = gp_perfmap_load(tmp);
	}
	if (!m && pid) {
		snprintf(tmp, sizeof tmp, "/tmp/jit-%llu.dump", (unsigned long long)pid);
		m = gp_perfmap_load(tmp);
	}
	return m;
}

const char *gp_perfmap_lookup(const struct gp_perfmap *m, uint64_t addr)
{
	if (!m)
		return NULL;
	size_t lo = 0, hi = m->n; /* first entry starting above addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct gp_pment *best = NULL;
	for (size_t i = lo; i > 0; i--) {
		const struct gp_pment *e = &m->v[i - 1];
		if (addr - e->start >= m->longest)
			break; /* no entry this far back reaches addr */
		if (addr < e->end && (!best || e->order > best->order))
			best = e;
	}
	return best ? best->name : NULL;
}

void gp_perfmap_free(struct gp_perfmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].name);
	free(m->v);
	free(m);
}
