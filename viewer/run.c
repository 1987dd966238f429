/* run.c - trace files and run folders as inputs (see run.h). */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "run.h"
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int note(struct gp_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(struct gp_run *r, const char *fmt, ...)
{
	char **n = realloc(r->notes, (r->nnotes + 1) * sizeof *n);
	if (!n)
		return -1;
	r->notes = n;
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(&n[r->nnotes], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	r->nnotes++;
	return 0;
}

/* Read one trace, and remember what its relocations did (the aggregate sums them over the
 * run only). @return 0, -1 with the reader's message in v->agg.err. */
static int load_trace(struct gp_view *v, const char *path)
{
	struct gp_run *r = &v->run;
	struct gp_totals before = v->agg.reloc_totals;
	size_t had = v->agg.ntraces;
	int rc = gp_view_load(v, path);
	if (v->agg.ntraces == had)
		return rc; /* not a trace at all: nothing was added */
	/* Three arrays of one capacity: r->cap moves only once all three hold it. */
	size_t c1 = r->cap, c2 = r->cap, c3 = r->cap;
	if (GP_GROW(r->reloc_copied, c1, r->n + 1, 16) || GP_GROW(r->reloc_steps, c2, c1, 0) ||
	    GP_GROW(r->damaged, c3, c1, 0)) {
		snprintf(v->agg.err, sizeof v->agg.err, "out of memory");
		return -1;
	}
	r->cap = c1;
	r->reloc_copied[r->n] = v->agg.reloc_totals.bytes_copied - before.bytes_copied;
	r->reloc_steps[r->n] = v->agg.reloc_totals.steps - before.steps;
	r->damaged[r->n] = rc != 0;
	r->n++;
	return rc;
}

/*
 * The traces of a run folder, sorted by name, into *names (malloc'd paths). Perf maps are
 * companions, not traces; other files are not the run's and are left alone, but a folder
 * with no trace at all is not a run.
 */
static int list_folder(const char *dir, char ***names, size_t *n, char *err, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return fail(err, cap, "%s: cannot open the folder: %s", dir, strerror(errno));
	char **list = NULL, other[256] = "", run[PATH_MAX + 256] = "";
	size_t count = 0, nother = 0, nmaps = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (ends_with(name, ".perfmap") || ends_with(name, ".jitdump")) {
			nmaps++;
			continue;
		}
		if (!ends_with(name, ".zst")) {
			struct stat st;
			char sub[PATH_MAX];
			snprintf(sub, sizeof sub, "%s/%s", dir, name);
			if (!*run && !strncmp(name, "growprof.", 9) && stat(sub, &st) == 0 &&
			    S_ISDIR(st.st_mode))
				snprintf(run, sizeof run, "%s", sub);
			else if (!nother++)
				snprintf(other, sizeof other, "%s", name);
			continue;
		}
		char **l = realloc(list, (count + 1) * sizeof *l);
		if (!l || asprintf(&l[count], "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", name) < 0) {
			list = l ? l : list;
			rc = fail(err, cap, "%s: out of memory", dir);
			break;
		}
		list = l;
		count++;
	}
	closedir(d);
	if (rc == 0 && count == 0) {
		if (*run) /* the folder `record` was run in, not the run */
			rc = fail(err, cap, "%s: no trace in it, but run folders: name one (%s)", dir, run);
		else if (nother)
			rc = fail(err, cap, "%s: not a growprof run: no trace (*.zst) in it, only other "
			          "files (%s%s)", dir, other, nother > 1 ? ", ..." : "");
		else
			rc = fail(err, cap, "%s: no trace in this folder%s", dir,
			          nmaps ? " (only perf maps)" : " (it is empty)");
	}
	if (rc) {
		for (size_t i = 0; i < count; i++)
			free(list[i]);
		free(list);
		return rc;
	}
	qsort(list, count, sizeof *list, by_name);
	*names = list;
	*n = count;
	return 0;
}

/* A trace of a run folder: it must be readable (a file the user cannot read is never
 * skipped quietly); what it holds may be damaged (lenient: kept up to the damage, and
 * *whole is left alone). */
static int load_member(struct gp_view *v, const char *path, int lenient, size_t *whole,
                       char *err, size_t cap)
{
	struct stat st;
	if (stat(path, &st))
		return fail(err, cap, "%s: cannot read: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, cap, "%s: not a regular file", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, cap, "%s: cannot read: %s", path, strerror(errno));
	close(fd);
	size_t had = v->agg.ntraces;
	if (load_trace(v, path) == 0) {
		(*whole)++;
		return 0;
	}
	if (!lenient || strcmp(v->agg.err, "out of memory") == 0)
		return fail(err, cap, "%s: %s", path, v->agg.err);
	int kept = v->agg.ntraces > had;
	if (note(&v->run, "%s: %s; %s", path, v->agg.err,
	         kept ? "counted up to the damage" : "not counted"))
		return fail(err, cap, "%s: out of memory", path);
	return 0;
}

int gp_run_load(struct gp_view *v, char **inputs, int n, int lenient, char *err, size_t cap)
{
	if (n == 0)
		return fail(err, cap, "no trace file or run folder given");
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			char **names = NULL;
			size_t count = 0;
			if (list_folder(inputs[i], &names, &count, err, cap))
				return -1;
			size_t whole = 0, notes = v->run.nnotes;
			int rc = 0;
			for (size_t k = 0; k < count && !rc; k++)
				rc = load_member(v, names[k], lenient, &whole, err, cap);
			for (size_t k = 0; k < count; k++)
				free(names[k]);
			free(names);
			if (rc)
				return -1;
			if (!whole) /* every trace foreign or damaged */
				return fail(err, cap, "%s: no readable trace in this run folder (%s)",
				            inputs[i], v->run.notes[notes]);
			continue;
		}
		if (load_trace(v, inputs[i]))
			return fail(err, cap, "%s: %s", inputs[i], v->agg.err);
	}
	return 0;
}

int gp_run_trace_damaged(const struct gp_view *v, size_t i)
{
	return i < v->run.n && v->run.damaged[i];
}

uint64_t gp_run_trace_copied(const struct gp_view *v, size_t i)
{
	uint64_t r = i < v->run.n ? v->run.reloc_copied[i] : 0;
	return v->agg.traces[i].totals.bytes_copied + r;
}

uint64_t gp_run_trace_steps(const struct gp_view *v, size_t i)
{
	uint64_t r = i < v->run.n ? v->run.reloc_steps[i] : 0;
	return v->agg.traces[i].totals.steps + r;
}

/* 1%: a process below it cannot hold a hotspot worth reading, and the shells and `env` of a
 * wrapper script do a few small reallocs of their own. */
int gp_run_trace_grew(const struct gp_view *v, size_t i)
{
	uint64_t copied = 0, steps = 0;
	for (size_t k = 0; k < v->agg.ntraces; k++) {
		copied += gp_run_trace_copied(v, k);
		steps += gp_run_trace_steps(v, k);
	}
	uint64_t mine = copied ? gp_run_trace_copied(v, i) : gp_run_trace_steps(v, i);
	uint64_t all = copied ? copied : steps;
	return mine > 0 && mine * 100 >= all;
}

size_t gp_run_missing_modules(const struct gp_view *v, char *buf, size_t cap)
{
	size_t n = 0, len = 0;
	buf[0] = 0;
	const char **seen = calloc(v->nsites + 1, sizeof *seen);
	for (uint32_t i = 0; seen && i < v->nsites; i++) {
		const char *m = v->sites[i]->where.module;
		if (!m || v->sites[i]->where.function || access(m, R_OK) == 0)
			continue;
		size_t k = 0;
		while (k < n && strcmp(seen[k], m))
			k++;
		if (k < n)
			continue;
		seen[n++] = m;
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", n > 1 ? ", " : "", m);
	}
	free(seen);
	return n;
}

int gp_run_mkdirs(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -1;
	/* Each missing parent in turn, then the folder itself (its EEXIST is the caller's). */
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdir(p, 0700) && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, 0700);
	int e = errno;
	free(p);
	errno = e;
	return rc;
}
