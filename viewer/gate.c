/*
 * gate.c - the helpers that the gate commands (check, diff) and the reports share: paths,
 * site labels, warnings and usage checks common to them (see gate.h).
 */
#define _GNU_SOURCE
#include "gate.h"

#include <stdio.h>
#include <string.h>

const char *gp_gate_base(const char *path)
{
	if (!path)
		return NULL;
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

char *gp_gate_normpath(char *buf, size_t cap, const char *path)
{
	if (!cap)
		return buf;
	buf[0] = 0;
	if (!path)
		return buf;
	size_t o = 0;
	int abs = path[0] == '/';
	size_t floor = 0; /* components before this offset are leading ".." and stay */
	if (abs && cap > 1)
		buf[o++] = '/';
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* "." adds nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.' && o > floor + (size_t)abs) {
			/* drop the last component */
			while (o > (size_t)abs && buf[o - 1] != '/')
				o--;
			if (o > (size_t)abs)
				o--; /* its separator */
		} else if (n == 2 && p[0] == '.' && p[1] == '.' && abs) {
			/* "/.." is "/" */
		} else {
			if (o > (size_t)abs && o + 1 < cap)
				buf[o++] = '/';
			for (size_t i = 0; i < n && o + 1 < cap; i++)
				buf[o++] = p[i];
			if (n == 2 && p[0] == '.' && p[1] == '.')
				floor = o;
		}
		p += n;
	}
	if (o == 0 && cap > 1)
		buf[o++] = '.';
	buf[o] = 0;
	return buf;
}

const char *gp_gate_label(char *buf, size_t cap, const struct gp_vframe *f)
{
	const char *fn = f->function ? f->function : "??";
	if (f->file)
		snprintf(buf, cap, "%s (%s:%d)", fn, gp_gate_base(f->file), f->line);
	else if (f->module)
		snprintf(buf, cap, "%s (%s+0x%llx)", fn, gp_gate_base(f->module),
		         (unsigned long long)f->addr);
	else
		snprintf(buf, cap, "%s (unknown location)", fn);
	return buf;
}

void gp_gate_warn_cut_short(const struct gp_view *v, const char *cmd)
{
	for (size_t i = 0; i < v->agg.ntraces; i++)
		if (v->agg.traces[i].cut_short)
			fprintf(stderr, "growprof %s: warning: %s was cut short (the process did not "
			        "finish writing it); numbers cover what it recorded\n", cmd,
			        v->agg.traces[i].file);
}
