/* perfmap.c - read perf maps, look up addresses in them (see perfmap.h). */
#define _GNU_SOURCE
#include "perfmap.h"

#include <ctype.h>
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

struct gp_perfmap *gp_perfmap_load(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	struct gp_perfmap *m = calloc(1, sizeof *m);
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	int oom = !m;
	while (!oom && getline(&line, &lcap, f) > 0) {
		struct gp_pment e = { 0 };
		if (parse_line(line, &e) != 0)
			continue;
		if (m->n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct gp_pment *v = realloc(m->v, ncap * sizeof *v);
			if (!v) {
				oom = 1;
				break;
			}
			m->v = v;
			cap = ncap;
		}
		e.order = m->n;
		e.name = strdup(e.name);
		if (!e.name) {
			oom = 1;
			break;
		}
		if (e.end - e.start > m->longest)
			m->longest = e.end - e.start;
		m->v[m->n++] = e;
	}
	free(line);
	fclose(f);
	if (oom || m->n == 0) {
		gp_perfmap_free(m);
		return NULL;
	}
	qsort(m->v, m->n, sizeof *m->v, cmp_ent);
	return m;
}

struct gp_perfmap *gp_perfmap_for_trace(const char *trace, uint64_t pid)
{
	struct gp_perfmap *m = NULL;
	if (trace) {
		size_t n = strlen(trace);
		if (n >= 4 && strcmp(trace + n - 4, ".zst") == 0)
			n -= 4;
		char *kept = malloc(n + sizeof ".perfmap");
		if (kept) {
			memcpy(kept, trace, n);
			memcpy(kept + n, ".perfmap", sizeof ".perfmap");
			m = gp_perfmap_load(kept);
			free(kept);
		}
	}
	if (!m && pid) {
		char tmp[64];
		snprintf(tmp, sizeof tmp, "/tmp/perf-%llu.map", (unsigned long long)pid);
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
