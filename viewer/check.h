/*
 * check.h - the parts of growprof check (check.c: options and decisions; check_limits.c:
 * limits; check_supp.c: the suppressions file; check_report.c: what it prints). Internal to
 * the check command: nothing else includes it.
 */
#ifndef GP_CHECK_H
#define GP_CHECK_H

#include "view.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct limits {
	int has_amp, has_copied, has_moves;
	double amp;
	uint64_t copied, moves;
};

/* The numbers a limit is compared with. */
struct measure {
	double amp;
	uint64_t copied, moves, steps, peaks;
};

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

/* ---- limits (check_limits.c) ---- */

extern const char gp_limits_amp_want[], gp_limits_copied_want[], gp_limits_moves_want[];

int gp_limits_any(const struct limits *l);

/* A non-negative finite number, optionally followed by 'x' ("4", "2.5", "4x"). @return 0 or -1. */
int gp_limits_parse_amp(const char *s, double *out);

/* printf at buf + *o (cap bytes in all), advancing *o; output that does not fit is cut. */
void __attribute__((format(printf, 4, 5)))
gp_check_appendf(char *buf, size_t cap, size_t *o, const char *fmt, ...);

/* Describe the limits: "amplification <= 4x, bytes copied <= 10,000,000 (9.5 MiB)". */
const char *gp_limits_str(char *buf, size_t cap, const struct limits *l);

/*
 * Compare m with l; for each limit exceeded append "QUANTITY VALUE exceeds the limit LIMIT"
 * (joined by "; ", followed by `suffix`) to msg. @return the number of limits exceeded.
 */
int gp_limits_over(const struct limits *l, const struct measure *m, const char *suffix,
                   char *msg, size_t cap);

/* ---- suppressions (check_supp.c) ---- */

/* Read a suppressions file. @return 0, or 2 after printing what is wrong. */
int gp_supp_load(struct supp *s, const char *path);
void gp_supp_release(struct supp *s);
/* Whether entry e matches the site at w (all its match keys). */
int gp_supp_matches(const struct entry *e, const struct gp_vframe *w);

/* ---- output (check_report.c) ---- */

struct measure gp_check_row_measure(const struct gp_row *r);
void gp_check_print(struct check *c, FILE *out);
void gp_check_print_github(struct check *c, FILE *out);
/* JUnit XML into path. @return 0, or 2 after printing why the file could not be written. */
int gp_check_write_junit(struct check *c, const char *path);
/* The last line: "growprof check: passed: ..." or "growprof check: FAILED: ...". */
void gp_check_print_summary(struct check *c, FILE *out, int fail);

#endif
