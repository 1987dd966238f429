/*
 * check.c - growprof check: the CI gate. Exit 0 when the traces stay within the copy limits,
 * 1 when a limit is exceeded (each offender printed with its numbers, its limit, where it is
 * and advice), 2 on a usage error, a bad suppressions file or an unreadable trace.
 *
 * What is checked
 *   The limits (--max-amplification X, --max-copied BYTES, --max-moves N) apply to the whole
 *   run by default: its bytes copied, its moves and its amplification (bytes copied / sum of
 *   the peaks of all chains). With --per-site they apply to each call site instead (the
 *   site's bytes copied, moves and amplification, as in `growprof report`). A number fails
 *   when it is greater than its limit; equal passes. At least one limit must be given: on
 *   the command line, or by a `default` or `limit` line of the suppressions file; with none,
 *   check is a usage error (exit 2) rather than a gate that can never fail.
 *
 * Suppressions file (--suppressions FILE)
 *   One entry a line; blank lines and lines starting with '#' are ignored, and " #" starts
 *   a comment at the end of a line. Words are separated by blanks; a value holding blanks
 *   goes in double quotes (\" and \\ inside them).
 *
 *     # known and accepted: not checked, and left out of the whole-run numbers
 *     allow   function=append_linear
 *     allow   file=*third_party*              (a glob: '*' also matches '/')
 *     # own limits for these sites, checked per site in either mode (and they are left out
 *     # of the whole-run numbers); a limit not named is not checked for them
 *     limit   file=parser.c max-amplification=50 max-copied=1MiB
 *     limit   function="std::vector<*>::push_back*" module=libfoo.so* max-moves=1000
 *     # the limits to use when the command line gives none (an option overrides its key)
 *     default max-amplification=4 max-copied=10MB
 *
 *   Match keys (an allow or limit entry needs at least one; all that are given must match):
 *     function=GLOB  the site's function (demangled; C++ names also match without their
 *                    parameter list)
 *     file=GLOB      the source file: its path as recorded, that path normalized, or its
 *                    base name (a site without debug info has no file and does not match)
 *     module=GLOB    the executable or shared object: its path or its base name
 *     line=N         the source line
 *   Limit keys (limit needs at least one, default only these, allow none):
 *     max-amplification=X  max-copied=BYTES  max-moves=N   (as the options)
 *   The first entry that matches a site decides for it. An allow or limit entry that decides
 *   for no site of the traces is reported on stderr as "unused suppression at FILE:LINE" -
 *   a warning only (a trace of one test run need not reach every known site), unless
 *   --fail-on-unused makes it fail the check (exit 1). A malformed line is exit 2 with
 *   "growprof check: FILE:LINE: what is wrong".
 *
 *   In whole-run mode the run's numbers leave out the sites decided by an entry: their bytes
 *   copied and moves are subtracted, and so are the peaks of their chains (a chain that also
 *   stepped at a site still checked stays counted at least through that site's peaks).
 *
 * Output (stdout): a header line naming the limits, one block per offender (first line
 * "LABEL: QUANTITY VALUE exceeds the limit LIMIT", then its numbers, its location and the
 * advice), the sites allowed, then the summary line "growprof check: passed: ..." or
 * "growprof check: FAILED: ...". --github adds GitHub Actions annotations before the summary;
 * --junit FILE writes JUnit XML (one testcase per checked site, or per limit of the run).
 */
#define _GNU_SOURCE
#include "cmds.h"
#include "gate.h"
#include "view.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char check_help[] =
	"usage: growprof check [OPTIONS] RUN|TRACE...\n"
	"\n"
	"Gate CI on realloc copying: exit 1 if the runs (folders from 'growprof record') or\n"
	"traces exceed the limits, 0 if they do not, 2 on a usage error or an unreadable or\n"
	"damaged trace. The limits apply to the whole run (its bytes\n"
	"copied, moves and amplification = bytes copied / sum of the chains' peaks), or with\n"
	"--per-site to each call site. A number greater than its limit fails; equal passes.\n"
	"\n"
	"  --max-amplification X  copy amplification at most X (e.g. 4, 2.5)\n"
	"  --max-copied BYTES     bytes copied at most BYTES (10MB, 512KiB, 3G, 1000)\n"
	"  --max-moves N          moves (steps that returned a new address) at most N\n"
	"  --per-site             apply the limits to each site instead of the whole run\n"
	"  --suppressions FILE    allow known sites or give them their own limits (see below)\n"
	"  --fail-on-unused       an unused suppression fails the check (default: a warning)\n"
	"  --junit FILE           also write the result as JUnit XML to FILE\n"
	"  --github               also print GitHub Actions annotations (::error file=F,line=L::)\n"
	"  --wrapper PATTERN      treat functions matching PATTERN (a glob on the demangled\n"
	"                         name) as allocator wrappers: the site is their caller\n"
	"  --skip-module GLOB     frames of shared objects whose file name matches GLOB (another\n"
	"                         interposer in front of libgrowprof.so) are never a site\n"
	"  -h, --help             this help\n"
	"\n"
	"At least one limit is required: an option above, or a 'default' or 'limit' line of the\n"
	"suppressions file.\n"
	"\n"
	"Suppressions file: one entry a line, '#' starts a comment, values with blanks go in\n"
	"double quotes; the first entry that matches a site decides for it.\n"
	"  allow   function=append_linear            # not checked, left out of the run\n"
	"  allow   file=*/third_party/*             # '*' also matches '/'\n"
	"  limit   file=parser.c max-amplification=50 max-copied=1MiB   # own limits\n"
	"  default max-amplification=4 max-copied=10MB   # used where no option is given\n"
	"Match keys (all given must match): function=GLOB, file=GLOB (path or base name),\n"
	"module=GLOB (path or base name), line=N. Limit keys: max-amplification=X,\n"
	"max-copied=BYTES, max-moves=N. An allow or limit entry that matches no site is\n"
	"reported as \"unused suppression at FILE:LINE\".\n";

/* ---- helpers shared with diff.c (gate.h) ---- */

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

/* The sum of the peaks of the realloc chains (the run amplification's denominator). */
static uint64_t sum_peaks(const struct gp_view *v)
{
	uint64_t peaks = 0;
	for (uint32_t i = 0; i < v->agg.nsites; i++) /* realloc and relocation chains */
		peaks += v->agg.origins[i].peak_bytes + v->agg.rorigins[i].peak_bytes;
	return peaks;
}

void gp_gate_warn_cut_short(const struct gp_view *v, const char *cmd)
{
	for (size_t i = 0; i < v->agg.ntraces; i++)
		if (v->agg.traces[i].cut_short)
			fprintf(stderr, "growprof %s: warning: %s was cut short (the process did not "
			        "finish writing it); numbers cover what it recorded\n", cmd,
			        v->agg.traces[i].file);
}

int gp_gate_misplaced_option(const char *cmd, char **args, int n)
{
	for (int i = 0; i < n; i++)
		if (args[i][0] == '-' && args[i][1] && strcmp(args[i], "--") && access(args[i], F_OK))
			return gp_die_usage(cmd, "'%s': options go before the trace files", args[i]);
	return 0;
}

void gp_gate_json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* ---- limits ---- */

struct limits {
	int has_amp, has_copied, has_moves;
	double amp;
	uint64_t copied, moves;
};

static int any_limit(const struct limits *l)
{
	return l->has_amp || l->has_copied || l->has_moves;
}

/* A non-negative finite number, optionally followed by 'x' ("4", "2.5", "4x"). */
static int parse_amp(const char *s, double *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || errno || !isfinite(x) || x < 0)
		return -1;
	if (*end == 'x' || *end == 'X')
		end++;
	if (*end)
		return -1;
	*out = x;
	return 0;
}

static const char amp_want[] = "a non-negative number (e.g. 4 or 2.5)";
static const char copied_want[] = "a size in bytes (e.g. 10MB, 512KiB, 3G, 1000)";
static const char moves_want[] = "a non-negative whole number";

/* printf at buf + *o (cap bytes in all), advancing *o; output that does not fit is cut. */
static void __attribute__((format(printf, 4, 5)))
appendf(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	if (*o + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (k > 0)
		*o += (size_t)k;
	if (*o >= cap)
		*o = cap - 1;
}

/* Describe the limits: "amplification <= 4x, bytes copied <= 10,000,000 (9.5 MiB)". */
static const char *limits_str(char *buf, size_t cap, const struct limits *l)
{
	char a[32], b[32];
	size_t o = 0;
	buf[0] = 0;
	if (l->has_amp)
		appendf(buf, cap, &o, "%samplification <= %gx", o ? ", " : "", l->amp);
	if (l->has_copied)
		appendf(buf, cap, &o, "%sbytes copied <= %s (%s)", o ? ", " : "",
		        gp_fmt_count(a, sizeof a, l->copied), gp_fmt_bytes(b, sizeof b, (double)l->copied));
	if (l->has_moves)
		appendf(buf, cap, &o, "%smoves <= %s", o ? ", " : "",
		        gp_fmt_count(a, sizeof a, l->moves));
	if (!o)
		snprintf(buf, cap, "none");
	return buf;
}

/* The numbers a limit is compared with. */
struct measure {
	double amp;
	uint64_t copied, moves, steps, peaks;
};

/*
 * Compare m with l; for each limit exceeded append "QUANTITY VALUE exceeds the limit LIMIT"
 * (joined by "; ", followed by `suffix`) to msg. @return the number of limits exceeded.
 */
static int over_limits(const struct limits *l, const struct measure *m, const char *suffix,
                       char *msg, size_t cap)
{
	int over = 0;
	size_t o = 0;
	char a[32], b[32], c[32], d[32];
	msg[0] = 0;
	if (l->has_amp && m->amp > l->amp) {
		/* enough digits that the value visibly exceeds the limit */
		int prec = 2;
		for (; prec < 9; prec++) {
			snprintf(a, sizeof a, "%.*f", prec, m->amp);
			if (strtod(a, NULL) > l->amp)
				break;
		}
		appendf(msg, cap, &o, "%samplification %.*fx exceeds the limit %gx%s",
		        over ? "; " : "", prec, m->amp, l->amp, suffix);
		over++;
	}
	if (l->has_copied && m->copied > l->copied) {
		appendf(msg, cap, &o, "%sbytes copied %s (%s) exceeds the limit %s (%s)%s",
		        over ? "; " : "", gp_fmt_count(a, sizeof a, m->copied),
		        gp_fmt_bytes(b, sizeof b, (double)m->copied), gp_fmt_count(c, sizeof c, l->copied),
		        gp_fmt_bytes(d, sizeof d, (double)l->copied), suffix);
		over++;
	}
	if (l->has_moves && m->moves > l->moves) {
		appendf(msg, cap, &o, "%smoves %s exceeds the limit %s%s", over ? "; " : "",
		        gp_fmt_count(a, sizeof a, m->moves), gp_fmt_count(b, sizeof b, l->moves), suffix);
		over++;
	}
	return over;
}

/* ---- suppressions ---- */

enum entry_kind { ENTRY_ALLOW, ENTRY_LIMIT };

struct entry {
	enum entry_kind kind;
	char *function, *file, *module; /* globs, NULL = any */
	int line;                       /* 0 = any */
	struct limits lim;
	int lineno;
	size_t used;                    /* sites it decided for */
};

struct supp {
	const char *path;
	struct entry *e;
	size_t n;
	struct limits defaults;
	int has_defaults;
};

static void supp_release(struct supp *s)
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
		if (parse_amp(val, &l->amp))
			return supp_error(path, lineno, "max-amplification wants %s, not '%s'",
			                  amp_want, val);
		l->has_amp = 1;
		return 1;
	}
	if (!strcmp(key, "max-copied")) {
		if (gp_parse_bytes(val, &l->copied))
			return supp_error(path, lineno, "max-copied wants %s, not '%s'", copied_want,
			                  val);
		l->has_copied = 1;
		return 1;
	}
	if (!strcmp(key, "max-moves")) {
		if (gp_parse_count(val, &l->moves))
			return supp_error(path, lineno, "max-moves wants %s, not '%s'", moves_want, val);
		l->has_moves = 1;
		return 1;
	}
	return 0;
}

/* Read a suppressions file. @return 0, or 2 after printing what is wrong. */
static int supp_load(struct supp *s, const char *path)
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
		if (s->n == cap) {
			cap = cap ? cap * 2 : 16;
			struct entry *ne = realloc(s->e, cap * sizeof *ne);
			if (!ne) {
				rc = supp_error(path, lineno, "out of memory");
				free(e.function);
				free(e.file);
				free(e.module);
				break;
			}
			s->e = ne;
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
		supp_release(s);
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

static int entry_matches(const struct entry *e, const struct gp_vframe *w)
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

/* ---- output ---- */

/* The file name for a GitHub annotation: normalized, relative to $GITHUB_WORKSPACE (or the
 * current directory) when below it. */
static const char *github_path(char *buf, size_t cap, const char *file)
{
	char norm[4096];
	gp_gate_normpath(norm, sizeof norm, file);
	char cwd[4096];
	const char *root = getenv("GITHUB_WORKSPACE");
	if (!root || !*root)
		root = getcwd(cwd, sizeof cwd);
	if (root && *root) {
		char r[4096];
		gp_gate_normpath(r, sizeof r, root);
		size_t n = strlen(r);
		if (n > 1 && strncmp(norm, r, n) == 0 && norm[n] == '/') {
			snprintf(buf, cap, "%s", norm + n + 1);
			return buf;
		}
	}
	snprintf(buf, cap, "%s", norm);
	return buf;
}

/* Workflow command escaping: data escapes % CR LF; properties also ':' and ','. */
static void gh_escape(FILE *out, const char *s, int property)
{
	for (; s && *s; s++) {
		if (*s == '%')
			fputs("%25", out);
		else if (*s == '\r')
			fputs("%0D", out);
		else if (*s == '\n')
			fputs("%0A", out);
		else if (property && *s == ':')
			fputs("%3A", out);
		else if (property && *s == ',')
			fputs("%2C", out);
		else
			fputc(*s, out);
	}
}

static void gh_annotation(FILE *out, const char *level, const struct gp_vframe *w,
                          const char *msg)
{
	fprintf(out, "::%s ", level);
	if (w && w->file) {
		char rel[4096];
		fputs("file=", out);
		gh_escape(out, github_path(rel, sizeof rel, w->file), 1);
		if (w->line > 0)
			fprintf(out, ",line=%d", w->line);
		fputc(',', out);
	}
	fputs("title=growprof check::", out);
	gh_escape(out, msg, 0);
	fputc('\n', out);
}

/* XML text or attribute: escaped, control characters and bytes that are not UTF-8 as '?'. */
static void xml_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		unsigned c = *p;
		if (c == '&')
			fputs("&amp;", out);
		else if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else if (c == '\'')
			fputs("&apos;", out);
		else if (c == '\n' || c == '\t')
			fputc((int)c, out);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', out);
		else if (c < 0x80)
			fputc((int)c, out);
		else {
			int n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? (c < 0xf0 ? 2 : -1) :
			        c >= 0xc2 ? 1 : -1;
			int ok = n > 0;
			for (int i = 1; ok && i <= n; i++)
				ok = (p[i] & 0xc0) == 0x80;
			if (!ok) {
				fputc('?', out);
			} else {
				fwrite(p, 1, (size_t)n + 1, out);
				p += n;
			}
		}
		p++;
	}
}

/* ---- the check ---- */

/* One checked item: a site (row != NULL), or in whole-run mode the run. */
struct item {
	const struct gp_row *row;
	const struct entry *entry;  /* the suppression entry with its limits, or NULL */
	struct measure m;
	int over;                   /* how many limits it exceeds */
	char msg[1024];             /* "amplification 13.88x exceeds the limit 5x; ..." */
};

#define MAX_CONTRIBUTORS 5

struct check {
	struct gp_view v;
	struct limits lim;          /* of the run, or of each site no entry decides for */
	int per_site, github, fail_unused;
	const char *supp_path, *junit_path;
	struct supp supp;
	struct gp_row *rows;        /* the sites with steps (realloc and relocation), by bytes copied */
	struct gp_totals all;       /* the run: realloc and relocation chains together */
	size_t nrows;
	const struct entry **decided; /* per row: the first entry that matches it, or NULL */
	struct item *items;
	size_t nitems;
	int run_item;               /* index of the run in items, -1 if the run is not checked */
	size_t nallowed, nown, unused;
	size_t failed, failed_sites, checked_sites;
	/* the sites that add most to a run over its limits */
	struct gp_row contrib[MAX_CONTRIBUTORS];
	size_t ncontrib;
};

static struct measure row_measure(const struct gp_row *r)
{
	struct measure m = { r->amplification, r->st->bytes_copied, r->st->moves, r->st->steps,
	                     r->st->peak_bytes };
	return m;
}

/* Where a row's site is: the first frame of its heaviest stack (what report shows). */
static const struct gp_vframe *row_where(const struct gp_row *r)
{
	return r->nstack ? &r->stack[0] : &r->site->where;
}

/* A row's label as the report prints it: "[relocation] " for relocation sites. */
static const char *row_label(char *buf, size_t cap, const struct gp_row *r)
{
	size_t o = 0;
	if (r->kind == GP_KIND_RELOCATION && cap > 14) {
		memcpy(buf, "[relocation] ", 13);
		o = 13;
	}
	gp_gate_label(buf + o, cap - o, row_where(r));
	return buf;
}

/* "copied 13.9 MiB (14,565,164 bytes), 1,211 moves / 16,912 steps, amplification 13.88x" */
static const char *numbers_str(char *buf, size_t cap, const struct measure *m)
{
	char a[32], b[32], c[32], d[32];
	snprintf(buf, cap, "copied %s (%s bytes), %s moves / %s steps, amplification %.2fx",
	         gp_fmt_bytes(a, sizeof a, (double)m->copied), gp_fmt_count(b, sizeof b, m->copied),
	         gp_fmt_count(c, sizeof c, m->moves), gp_fmt_count(d, sizeof d, m->steps), m->amp);
	return buf;
}

/* The numbers, chains, location and advice of a site, each line after `indent`. */
static void print_site_detail(FILE *out, const struct gp_row *r, const char *indent)
{
	char buf[4096], a[32], b[32];
	struct measure m = row_measure(r);
	fprintf(out, "%s%s\n", indent, numbers_str(buf, sizeof buf, &m));
	fprintf(out, "%s%s chain%s, largest block %s, %s\n", indent,
	        gp_fmt_count(a, sizeof a, r->st->chains), r->st->chains == 1 ? "" : "s",
	        gp_fmt_bytes(b, sizeof b, (double)r->st->peak_max), r->pattern_text);
	const struct gp_vframe *w = row_where(r);
	if (w->file)
		fprintf(out, "%sat %s:%d", indent, gp_gate_normpath(buf, sizeof buf, w->file), w->line);
	else
		fprintf(out, "%sat %s+0x%llx", indent, w->module ? w->module : "an unknown module",
		        (unsigned long long)w->addr);
	for (unsigned i = 1; i < r->nstack && i < 3; i++)
		fprintf(out, ", called from %s", r->stack[i].function ? r->stack[i].function : "??");
	fprintf(out, "\n%sadvice: %s\n", indent, r->advice);
}

/* Decide for each site, then measure and compare every item with its limits. */
static void check_evaluate(struct check *c)
{
	/* Which entry decides for each site: the first that matches. */
	for (size_t i = 0; i < c->nrows; i++)
		for (size_t k = 0; k < c->supp.n; k++)
			if (entry_matches(&c->supp.e[k], &c->rows[i].site->where)) {
				c->decided[i] = &c->supp.e[k];
				c->supp.e[k].used++;
				break;
			}
	for (size_t k = 0; k < c->supp.n; k++)
		c->unused += c->supp.e[k].used == 0;

	c->run_item = -1;
	if (!c->per_site && any_limit(&c->lim)) {
		/*
		 * The run without the sites an entry decides for. Bytes copied and moves split
		 * exactly by site; peaks belong to chains, and a chain may step at several sites,
		 * so the peaks left are at least those of the largest site still checked.
		 */
		const struct gp_totals *t = &c->all;
		uint64_t peaks = sum_peaks(&c->v), ex_copied = 0, ex_moves = 0, ex_steps = 0,
		         ex_peaks = 0, rest_peak = 0;
		for (size_t i = 0; i < c->nrows; i++) {
			const struct gp_stats *st = c->rows[i].st;
			if (c->decided[i]) {
				ex_copied += st->bytes_copied;
				ex_moves += st->moves;
				ex_steps += st->steps;
				ex_peaks += st->peak_bytes;
			} else if (st->peak_bytes > rest_peak) {
				rest_peak = st->peak_bytes;
			}
		}
		struct measure run = { 0 };
		run.copied = t->bytes_copied > ex_copied ? t->bytes_copied - ex_copied : 0;
		run.moves = t->moves > ex_moves ? t->moves - ex_moves : 0;
		run.steps = t->steps > ex_steps ? t->steps - ex_steps : 0;
		run.peaks = peaks > ex_peaks ? peaks - ex_peaks : 0;
		if (run.peaks < rest_peak)
			run.peaks = rest_peak;
		run.amp = run.peaks ? (double)run.copied / (double)run.peaks : 0.0;
		c->run_item = (int)c->nitems;
		struct item *it = &c->items[c->nitems++];
		it->m = run;
		it->over = over_limits(&c->lim, &run, "", it->msg, sizeof it->msg);
	}
	for (size_t i = 0; i < c->nrows; i++) {
		const struct entry *e = c->decided[i];
		if (e && e->kind == ENTRY_ALLOW) {
			c->nallowed++;
			continue;
		}
		if (!e && (!c->per_site || !any_limit(&c->lim)))
			continue; /* counted in the run, or not limited at all */
		struct item *it = &c->items[c->nitems++];
		it->row = &c->rows[i];
		it->entry = e;
		it->m = row_measure(&c->rows[i]);
		char suffix[600] = "";
		if (e) {
			snprintf(suffix, sizeof suffix, " (%s:%d)", c->supp.path, e->lineno);
			c->nown++;
		}
		it->over = over_limits(e ? &e->lim : &c->lim, &it->m, suffix, it->msg,
		                       sizeof it->msg);
	}
	for (size_t i = 0; i < c->nitems; i++) {
		c->checked_sites += c->items[i].row != NULL;
		c->failed += c->items[i].over > 0;
		c->failed_sites += c->items[i].row && c->items[i].over;
	}

	/* A run over its limits: which checked sites add most (by moves when only the moves
	 * limit is exceeded, else by bytes copied). */
	if (c->run_item < 0 || !c->items[c->run_item].over)
		return;
	const struct measure *run = &c->items[c->run_item].m;
	int by_moves = !(c->lim.has_amp && run->amp > c->lim.amp) &&
	               !(c->lim.has_copied && run->copied > c->lim.copied);
	size_t nr;
	struct gp_row *r = gp_view_rows_all(&c->v, 0, by_moves ? GP_SORT_MOVES : GP_SORT_COPIED, &nr);
	for (size_t k = 0; r && k < nr && c->ncontrib < MAX_CONTRIBUTORS; k++) {
		int excluded = 0;
		for (size_t j = 0; j < c->nrows; j++)
			if (c->rows[j].site == r[k].site) {
				excluded = c->decided[j] != NULL;
				break;
			}
		if (!excluded && (by_moves ? r[k].st->moves : r[k].st->bytes_copied) > 0)
			c->contrib[c->ncontrib++] = r[k];
	}
	free(r);
}

static void check_print(struct check *c, FILE *out)
{
	char buf[4096], label[1024], a[32], b[32];

	/* What is checked */
	fprintf(out, "growprof check: %zu trace%s, %zu site%s with steps; ", c->v.agg.ntraces,
	        c->v.agg.ntraces == 1 ? "" : "s", c->nrows, c->nrows == 1 ? "" : "s");
	if (any_limit(&c->lim))
		fprintf(out, "limits %s: %s", c->per_site ? "per site" : "for the whole run",
		        limits_str(buf, sizeof buf, &c->lim));
	else
		fprintf(out, "no limits but those of the suppressions");
	if (c->supp_path)
		fprintf(out, "; suppressions %s (%zu entr%s)", c->supp_path, c->supp.n,
		        c->supp.n == 1 ? "y" : "ies");
	fputc('\n', out);

	/* Offenders */
	for (size_t i = 0; i < c->nitems; i++) {
		const struct item *it = &c->items[i];
		if (!it->over)
			continue;
		if (it->row) {
			fprintf(out, "%s: %s\n", row_label(label, sizeof label, it->row),
			        it->msg);
			print_site_detail(out, it->row, "    ");
			continue;
		}
		fprintf(out, "the whole run: %s\n", it->msg);
		fprintf(out, "    %s", numbers_str(buf, sizeof buf, &it->m));
		if (c->nallowed + c->nown)
			fprintf(out, ", without the %zu site%s decided by suppressions",
			        c->nallowed + c->nown, c->nallowed + c->nown == 1 ? "" : "s");
		fputc('\n', out);
		if (c->ncontrib)
			fprintf(out, "    largest contributors:\n");
		for (size_t k = 0; k < c->ncontrib; k++) {
			fprintf(out, "    %zu. %s\n", k + 1,
			        row_label(label, sizeof label, &c->contrib[k]));
			print_site_detail(out, &c->contrib[k], "       ");
		}
	}

	/* Allowed sites, briefly */
	if (c->nallowed)
		fprintf(out, "allowed by %s:\n", c->supp.path);
	for (size_t i = 0, shown = 0; i < c->nrows; i++) {
		if (!c->decided[i] || c->decided[i]->kind != ENTRY_ALLOW)
			continue;
		if (shown++ == 10) {
			fprintf(out, "    ... and %zu more\n", c->nallowed - 10);
			break;
		}
		fprintf(out, "    %s by line %d: copied %s, %s moves, amplification %.2fx\n",
		        row_label(label, sizeof label, &c->rows[i]),
		        c->decided[i]->lineno, gp_fmt_bytes(a, sizeof a,
		        (double)c->rows[i].st->bytes_copied), gp_fmt_count(b, sizeof b,
		        c->rows[i].st->moves), c->rows[i].amplification);
	}
}

static void check_print_github(struct check *c, FILE *out)
{
	char buf[4096], a[32], b[32];
	for (size_t i = 0; i < c->nitems; i++) {
		const struct item *it = &c->items[i];
		if (!it->over)
			continue;
		if (!it->row) {
			snprintf(buf, sizeof buf, "the whole run: %s", it->msg);
			gh_annotation(out, "error", NULL, buf);
			/* point at the code that adds most */
			for (size_t k = 0; k < c->ncontrib; k++) {
				const struct gp_row *r = &c->contrib[k];
				if (!r->site->where.file)
					continue;
				snprintf(buf, sizeof buf, "%s adds to the run over its limits: copied %s, "
				         "%s moves, amplification %.2fx. advice: %s",
				         r->site->where.function ? r->site->where.function : "??",
				         gp_fmt_bytes(a, sizeof a, (double)r->st->bytes_copied),
				         gp_fmt_count(b, sizeof b, r->st->moves), r->amplification, r->advice);
				gh_annotation(out, "warning", &r->site->where, buf);
			}
			continue;
		}
		const struct gp_vframe *w = &it->row->site->where;
		snprintf(buf, sizeof buf, "%s: %s. advice: %s", w->function ? w->function : "??",
		         it->msg, it->row->advice);
		gh_annotation(out, "error", w->file ? w : NULL, buf);
	}
	for (size_t k = 0; c->fail_unused && k < c->supp.n; k++)
		if (!c->supp.e[k].used) {
			snprintf(buf, sizeof buf, "unused suppression at %s:%d", c->supp.path,
			         c->supp.e[k].lineno);
			gh_annotation(out, "error", NULL, buf);
		}
}

/* One <testcase>: name, optional location, and a failure (message + text) or skip. */
static void junit_case(FILE *f, const char *classname, const char *name,
                       const struct gp_vframe *w, const char *failure, const char *text,
                       const char *skipped)
{
	char buf[4096];
	fprintf(f, "    <testcase classname=\"%s\" name=\"", classname);
	xml_str(f, name);
	fputc('"', f);
	if (w && w->file) {
		fputs(" file=\"", f);
		xml_str(f, gp_gate_normpath(buf, sizeof buf, w->file));
		fprintf(f, "\" line=\"%d\"", w->line);
	}
	if (!failure && !skipped) {
		fputs("/>\n", f);
		return;
	}
	fputs(">\n", f);
	if (failure) {
		fputs("      <failure type=\"limit\" message=\"", f);
		xml_str(f, failure);
		fputs("\">", f);
		xml_str(f, text);
		fputs("</failure>\n", f);
	} else {
		fputs("      <skipped message=\"", f);
		xml_str(f, skipped);
		fputs("\"/>\n", f);
	}
	fputs("    </testcase>\n", f);
}

/*
 * JUnit XML: one testcase per limit of the run (whole-run mode), per checked site, per
 * allowed site (skipped) and, with --fail-on-unused, per unused suppression.
 * @return 0, or 2 after printing why the file could not be written.
 */
static int check_write_junit(struct check *c, const char *path)
{
	static const char *const limit_names[] = { "max-amplification", "max-copied",
	                                           "max-moves" };
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "growprof check: %s: cannot write: %s\n", path, strerror(errno));
		return 2;
	}
	/* Per-limit views of the run's limits, for one testcase each. */
	struct limits one[3] = { { 0 } };
	one[0].has_amp = c->lim.has_amp, one[0].amp = c->lim.amp;
	one[1].has_copied = c->lim.has_copied, one[1].copied = c->lim.copied;
	one[2].has_moves = c->lim.has_moves, one[2].moves = c->lim.moves;
	char msg[1024], text[4096], label[1024];

	size_t tests = 0, failures = 0;
	for (size_t i = 0; i < c->nitems; i++)
		for (int k = 0; k < (c->items[i].row ? 1 : 3); k++) {
			if (!c->items[i].row && !any_limit(&one[k]))
				continue;
			tests++;
			failures += c->items[i].row ? c->items[i].over > 0 :
			            over_limits(&one[k], &c->items[i].m, "", msg, sizeof msg) > 0;
		}
	if (c->fail_unused) {
		tests += c->unused;
		failures += c->unused;
	}
	tests += c->nallowed;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<testsuites name=\"growprof check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n"
	        "  <testsuite name=\"growprof check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
	        "skipped=\"%zu\">\n", tests, failures, tests, failures, c->nallowed);

	for (size_t i = 0; i < c->nitems; i++) {
		const struct item *it = &c->items[i];
		if (!it->row) {
			numbers_str(text, sizeof text, &it->m);
			for (int k = 0; k < 3; k++) {
				if (!any_limit(&one[k]))
					continue;
				char full[1100];
				int over = over_limits(&one[k], &it->m, "", msg, sizeof msg);
				snprintf(full, sizeof full, "the whole run: %s", msg);
				snprintf(label, sizeof label, "whole run %s", limit_names[k]);
				junit_case(f, "growprof.check.run", label, NULL, over ? full : NULL, text,
				           NULL);
			}
			continue;
		}
		size_t o = 0;
		numbers_str(text, sizeof text, &it->m);
		o = strlen(text);
		appendf(text, sizeof text, &o, "\nadvice: %s", it->row->advice);
		junit_case(f, "growprof.check.site",
		           gp_gate_label(label, sizeof label, &it->row->site->where),
		           &it->row->site->where, it->over ? it->msg : NULL, text, NULL);
	}
	for (size_t i = 0; i < c->nrows; i++) {
		if (!c->decided[i] || c->decided[i]->kind != ENTRY_ALLOW)
			continue;
		snprintf(msg, sizeof msg, "allowed by %s:%d", c->supp.path, c->decided[i]->lineno);
		junit_case(f, "growprof.check.site",
		           gp_gate_label(label, sizeof label, &c->rows[i].site->where),
		           &c->rows[i].site->where, NULL, NULL, msg);
	}
	for (size_t k = 0; c->fail_unused && k < c->supp.n; k++) {
		if (c->supp.e[k].used)
			continue;
		snprintf(label, sizeof label, "%s:%d", c->supp.path, c->supp.e[k].lineno);
		snprintf(msg, sizeof msg, "unused suppression at %.1000s", label);
		junit_case(f, "growprof.check.suppression", label, NULL, msg, msg, NULL);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	int bad = ferror(f);
	if (fclose(f) || bad) {
		fprintf(stderr, "growprof check: %s: cannot write: %s\n", path, strerror(errno));
		return 2;
	}
	return 0;
}

/* The last line: "growprof check: passed: ..." or "growprof check: FAILED: ...". */
static void check_print_summary(struct check *c, FILE *out, int fail)
{
	char what[512], a[32], b[32];
	size_t o = 0;
	what[0] = 0;
	if (c->run_item >= 0)
		appendf(what, sizeof what, &o, "the whole run%s", c->checked_sites ? " and " : "");
	if (c->checked_sites || c->run_item < 0) {
		const char *sites = c->checked_sites == 1 ? "site" : "sites";
		const char *own = c->per_site ? "" : " with own limits";
		if (c->failed_sites)
			appendf(what, sizeof what, &o, "%zu of %zu %s%s", c->failed_sites,
			        c->checked_sites, sites, own);
		else
			appendf(what, sizeof what, &o, "%zu %s%s", c->checked_sites, sites, own);
	}
	fprintf(out, "growprof check: %s: %s %s the limits (totals: copied %s, %s moves, "
	        "amplification %.2fx", fail ? "FAILED" : "passed", what,
	        c->failed ? "over" : "within",
	        gp_fmt_bytes(a, sizeof a, (double)c->all.bytes_copied),
	        gp_fmt_count(b, sizeof b, c->all.moves),
	        gp_view_amplification(&c->v, GP_KIND_ALL));
	if (c->nallowed)
		fprintf(out, "; %zu site%s allowed", c->nallowed, c->nallowed == 1 ? "" : "s");
	if (c->unused)
		fprintf(out, "; %zu unused suppression%s", c->unused, c->unused == 1 ? "" : "s");
	fputs(")\n", out);
}

/* Parse the options into c. @return 0, -1 after --help, or 2 after a usage error. */
static int check_options(struct check *c, int argc, char **argv)
{
	enum { O_AMP = 1000, O_COPIED, O_MOVES, O_PERSITE, O_SUPP, O_JUNIT, O_GITHUB, O_WRAPPER,
	       O_UNUSED, O_SKIPMOD };
	static const struct option opts[] = {
		{ "max-amplification", required_argument, NULL, O_AMP },
		{ "max-copied", required_argument, NULL, O_COPIED },
		{ "max-moves", required_argument, NULL, O_MOVES },
		{ "per-site", no_argument, NULL, O_PERSITE },
		{ "suppressions", required_argument, NULL, O_SUPP },
		{ "fail-on-unused", no_argument, NULL, O_UNUSED },
		{ "junit", required_argument, NULL, O_JUNIT },
		{ "github", no_argument, NULL, O_GITHUB },
		{ "wrapper", required_argument, NULL, O_WRAPPER },
		{ "skip-module", required_argument, NULL, O_SKIPMOD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct limits *l = &c->lim;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case O_AMP:
			if (parse_amp(optarg, &l->amp))
				return gp_die_usage("check", "--max-amplification wants %s, not '%s'",
				                    amp_want, optarg);
			l->has_amp = 1;
			break;
		case O_COPIED:
			if (gp_parse_bytes(optarg, &l->copied))
				return gp_die_usage("check", "--max-copied wants %s, not '%s'", copied_want,
				                    optarg);
			l->has_copied = 1;
			break;
		case O_MOVES:
			if (gp_parse_count(optarg, &l->moves))
				return gp_die_usage("check", "--max-moves wants %s, not '%s'", moves_want,
				                    optarg);
			l->has_moves = 1;
			break;
		case O_PERSITE:
			c->per_site = 1;
			break;
		case O_SUPP:
			if (c->supp_path)
				return gp_die_usage("check", "--suppressions given twice");
			c->supp_path = optarg;
			break;
		case O_UNUSED:
			c->fail_unused = 1;
			break;
		case O_JUNIT:
			c->junit_path = optarg;
			break;
		case O_GITHUB:
			c->github = 1;
			break;
		case O_WRAPPER:
		case O_SKIPMOD:
			if ((o == O_WRAPPER ? gp_view_add_wrapper : gp_view_add_skip_module)(&c->v, optarg)) {
				fprintf(stderr, "growprof check: out of memory\n");
				return 2;
			}
			break;
		case 'h':
			fputs(check_help, stdout);
			return -1;
		default:
			return gp_die_usage("check", "bad option");
		}
	}
	return 0;
}

int gp_cmd_check(int argc, char **argv)
{
	struct check c;
	memset(&c, 0, sizeof c);
	if (gp_view_init(&c.v)) {
		fprintf(stderr, "growprof check: out of memory\n");
		return 2;
	}
	int rc = check_options(&c, argc, argv);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (c.supp_path && (rc = supp_load(&c.supp, c.supp_path)))
		goto out;

	/* The limits of everything no entry decides for: the options, else the file's
	 * defaults, key by key. */
	struct limits *l = &c.lim, *d = &c.supp.defaults;
	if (!l->has_amp && d->has_amp)
		l->has_amp = 1, l->amp = d->amp;
	if (!l->has_copied && d->has_copied)
		l->has_copied = 1, l->copied = d->copied;
	if (!l->has_moves && d->has_moves)
		l->has_moves = 1, l->moves = d->moves;
	int entry_limits = 0;
	for (size_t i = 0; i < c.supp.n; i++)
		entry_limits |= c.supp.e[i].kind == ENTRY_LIMIT;
	if (!any_limit(l) && !entry_limits) {
		rc = gp_die_usage("check", "no limit given: use --max-amplification, --max-copied or "
		                  "--max-moves (or a 'default' or 'limit' line in a --suppressions "
		                  "file)");
		goto out;
	}

	if ((rc = gp_gate_misplaced_option("check", argv + optind, argc - optind)))
		goto out;
	rc = gp_load_traces(&c.v, argv + optind, argc - optind, "check");
	if (rc)
		goto out;
	gp_gate_warn_cut_short(&c.v, "check");

	c.rows = gp_view_rows_all(&c.v, 0, GP_SORT_COPIED, &c.nrows);
	gp_view_totals_all(&c.v, &c.all);
	c.decided = calloc(c.nrows ? c.nrows : 1, sizeof *c.decided);
	c.items = calloc(c.nrows + 1, sizeof *c.items);
	if (!c.rows || !c.decided || !c.items) {
		fprintf(stderr, "growprof check: out of memory\n");
		rc = 2;
		goto out;
	}
	check_evaluate(&c);

	check_print(&c, stdout);
	for (size_t k = 0; k < c.supp.n; k++)
		if (!c.supp.e[k].used)
			fprintf(stderr, "growprof check: %s: unused suppression at %s:%d (it matches no "
			        "site of the traces)\n", c.fail_unused ? "error" : "warning", c.supp.path,
			        c.supp.e[k].lineno);
	if (c.github)
		check_print_github(&c, stdout);
	if (c.junit_path && (rc = check_write_junit(&c, c.junit_path)))
		goto out;
	int fail = c.failed > 0 || (c.fail_unused && c.unused > 0);
	check_print_summary(&c, stdout, fail);
	if (fflush(stdout)) {
		fprintf(stderr, "growprof check: cannot write the result: %s\n", strerror(errno));
		rc = 2;
		goto out;
	}
	rc = fail ? 1 : 0;
out:
	free(c.items);
	free(c.decided);
	free(c.rows);
	supp_release(&c.supp);
	gp_view_release(&c.v);
	return rc;
}
