/*
 * check_supp.c - the suppressions file of growprof check (its grammar is described at the
 * top of check.c): reading it into entries, and matching an entry with a site.
 */
#define _GNU_SOURCE
#include "check.h"
#include "cmds.h"
#include "gp_grow.h"
#include "gate.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

void gp_supp_release(struct supp *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].function);
		free(s->e[i].file);
		free(s->e[i].module);
	}
	free(s->e);
	memset(s, 0, sizeof *s);
}

/* Print "growprof check: FILE:LINE: message". @return 2. */
static int __attribute__((format(printf, 3, 4)))
supp_error(const char *path, int lineno, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "growprof check: %s:%d: ", path, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/*
 * Split the next word off *pp into word (quotes removed, escapes resolved). @return 1 with a
 * word, 0 at the end of the line (or at a comment), -1 on an unterminated quote.
 */
static int next_word(const char **pp, char *word, size_t cap)
{
	const char *p = *pp;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (!*p || *p == '\n' || *p == '#')
		return 0;
	size_t o = 0;
	int quoted = 0;
	for (; *p; p++) {
		char c = *p;
		if (quoted) {
			if (c == '"') {
				quoted = 0;
				continue;
			}
			if (c == '\\' && (p[1] == '"' || p[1] == '\\'))
				c = *++p;
		} else if (c == '"') {
			quoted = 1;
			continue;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			break;
		}
		if (o + 1 < cap)
			word[o++] = c;
	}
	word[o] = 0;
	*pp = p;
	return quoted ? -1 : 1;
}

/* Parse a limit key of a file line into l. @return 1 if it was one, 0 if not a limit key,
 * 2 after printing an error. */
static int limit_key(const char *path, int lineno, const char *key, const char *val,
                     struct limits *l)
{
	if (!strcmp(key, "max-amplification")) {
		if (gp_limits_parse_amp(val, &l->amp))
			return supp_error(path, lineno, "max-amplification wants %s, not '%s'",
			                  gp_limits_amp_want, val);
		l->has_amp = 1;
		return 1;
	}
	if (!strcmp(key, "max-copied")) {
		if (gp_parse_bytes(val, &l->copied))
			return supp_error(path, lineno, "max-copied wants %s, not '%s'", gp_limits_copied_want,
			                  val);
		l->has_copied = 1;
		return 1;
	}
	if (!strcmp(key, "max-moves")) {
		if (gp_parse_count(val, &l->moves))
			return supp_error(path, lineno, "max-moves wants %s, not '%s'", gp_limits_moves_want, val);
		l->has_moves = 1;
		return 1;
	}
	return 0;
}

/* Read a suppressions file. @return 0, or 2 after printing what is wrong. */
int gp_supp_load(struct supp *s, const char *path)
{
	memset(s, 0, sizeof *s);
	s->path = path;
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "growprof check: %s: cannot open: %s\n", path, strerror(errno));
		return 2;
	}
	char *line = NULL;
	size_t linecap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;
	size_t cap = 0;
	while ((len = getline(&line, &linecap, f)) >= 0) {
		lineno++;
		if (memchr(line, 0, (size_t)len)) {
			rc = supp_error(path, lineno, "a NUL byte: not a text file");
			break;
		}
		const char *p = line;
		size_t wcap = (size_t)len + 1;
		char *word = malloc(wcap);
		if (!word) {
			rc = supp_error(path, lineno, "out of memory");
			break;
		}
		int w = next_word(&p, word, wcap);
		if (w == 0) {
			free(word);
			continue;
		}
		if (w < 0) {
			free(word);
			rc = supp_error(path, lineno, "unterminated quote");
			break;
		}
		struct entry e = { 0 };
		e.lineno = lineno;
		int is_default = 0;
		if (!strcmp(word, "allow"))
			e.kind = ENTRY_ALLOW;
		else if (!strcmp(word, "limit"))
			e.kind = ENTRY_LIMIT;
		else if (!strcmp(word, "default"))
			is_default = 1;
		else {
			rc = supp_error(path, lineno, "unknown entry '%s' (allow, limit or default)",
			                word);
			free(word);
			break;
		}
		const char *kind = word[0] == 'a' ? "allow" : word[0] == 'l' ? "limit" : "default";
		int nmatch = 0, nlimits = 0;
		while (!rc && (w = next_word(&p, word, wcap)) != 0) {
			if (w < 0) {
				rc = supp_error(path, lineno, "unterminated quote");
				break;
			}
			char *eq = strchr(word, '=');
			if (!eq || eq == word) {
				rc = supp_error(path, lineno, "expected KEY=VALUE, not '%s'", word);
				break;
			}
			*eq = 0;
			const char *key = word, *val = eq + 1;
			char **glob = !strcmp(key, "function") ? &e.function :
			              !strcmp(key, "file") ? &e.file :
			              !strcmp(key, "module") ? &e.module : NULL;
			if (glob || !strcmp(key, "line")) {
				if (is_default) {
					rc = supp_error(path, lineno, "default takes limits only, not '%s'",
					                key);
					break;
				}
				if (!*val) {
					rc = supp_error(path, lineno, "%s= wants a value", key);
					break;
				}
				if (glob && *glob) {
					rc = supp_error(path, lineno, "%s= given twice", key);
					break;
				}
				if (glob) {
					if (!(*glob = strdup(val))) {
						rc = supp_error(path, lineno, "out of memory");
						break;
					}
				} else {
					uint64_t n;
					if (gp_parse_count(val, &n) || n == 0 || n > 0x7fffffff) {
						rc = supp_error(path, lineno, "line= wants a line number, not '%s'",
						                val);
						break;
					}
					e.line = (int)n;
				}
				nmatch++;
				continue;
			}
			struct limits *l = is_default ? &s->defaults : &e.lim;
			int k = limit_key(path, lineno, key, val, l);
			if (k == 2) {
				rc = 2;
				break;
			}
			if (k == 0) {
				rc = supp_error(path, lineno, "unknown key '%s' (function, file, module, "
				                "line, max-amplification, max-copied, max-moves)", key);
				break;
			}
			if (e.kind == ENTRY_ALLOW && !is_default) {
				rc = supp_error(path, lineno, "allow takes no limits ('%s'): use limit",
				                key);
				break;
			}
			nlimits++;
		}
		free(word);
		if (rc) {
			free(e.function);
			free(e.file);
			free(e.module);
			break;
		}
		if (is_default) {
			if (!nlimits) {
				rc = supp_error(path, lineno, "default wants at least one of "
				                "max-amplification=, max-copied=, max-moves=");
				break;
			}
			s->has_defaults = 1;
			continue;
		}
		if (!nmatch || (e.kind == ENTRY_LIMIT && !nlimits)) {
			rc = supp_error(path, lineno, !nmatch ?
			                "%s wants at least one of function=, file=, module=, line=" :
			                "%s wants at least one of max-amplification=, max-copied=, "
			                "max-moves=", kind);
			free(e.function);
			free(e.file);
			free(e.module);
			break;
		}
		if (GP_GROW(s->e, cap, s->n + 1, 16)) {
			rc = supp_error(path, lineno, "out of memory");
			free(e.function);
			free(e.file);
			free(e.module);
			break;
		}
		s->e[s->n++] = e;
	}
	if (!rc && ferror(f)) {
		fprintf(stderr, "growprof check: %s: cannot read: %s\n", path, strerror(errno));
		rc = 2;
	}
	free(line);
	fclose(f);
	if (rc)
		gp_supp_release(s);
	return rc;
}

/* A glob against a path: as recorded, normalized, or its base name. */
static int match_path(const char *pat, const char *path)
{
	if (!path)
		return 0;
	if (fnmatch(pat, path, 0) == 0)
		return 1;
	char norm[4096];
	if (fnmatch(pat, gp_gate_normpath(norm, sizeof norm, path), 0) == 0)
		return 1;
	return fnmatch(pat, gp_gate_base(path), 0) == 0;
}

static int match_function(const char *pat, const char *fn)
{
	if (!fn)
		return 0;
	if (fnmatch(pat, fn, 0) == 0)
		return 1;
	const char *paren = strchr(fn, '(');
	if (paren && paren > fn) { /* C++: also without the parameter list */
		char base[1024];
		size_t n = (size_t)(paren - fn);
		if (n < sizeof base) {
			memcpy(base, fn, n);
			base[n] = 0;
			return fnmatch(pat, base, 0) == 0;
		}
	}
	return 0;
}

int gp_supp_matches(const struct entry *e, const struct gp_vframe *w)
{
	if (e->function && !match_function(e->function, w->function))
		return 0;
	if (e->file && !match_path(e->file, w->file))
		return 0;
	if (e->module && !match_path(e->module, w->module))
		return 0;
	if (e->line && (!w->file || w->line != e->line))
		return 0;
	return 1;
}
