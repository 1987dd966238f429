/*
 * view.h - what every viewer command works on: traces read and aggregated, stacks turned
 * into symbolized sites, and the derived numbers (amplification, pattern, advice).
 */
#ifndef GP_VIEW_H
#define GP_VIEW_H

#include "gp_agg.h"
#include "run.h"
#include "symbolize.h"

#include <stdint.h>
#include <stdio.h>

/* One logical frame of a site's stack. */
struct gp_vframe {
	const char *function; /* NULL if unknown */
	const char *file;     /* NULL if no debug info */
	int line;             /* 0 if unknown */
	const char *module;   /* path, NULL if the address is in no known module */
	uint64_t addr;        /* module-relative */
};

/* What the code that grows is (from the frames passed over and the site): advice speaks
 * its words. */
enum {
	GP_FLAVOR_CXX_VECTOR = 1 << 0, /* a std::vector's growth helpers were passed over */
	GP_FLAVOR_CXX_STRING = 1 << 1, /* a std::basic_string's */
	GP_FLAVOR_RUST_VEC = 1 << 2,   /* alloc::raw_vec / alloc::vec */
	GP_FLAVOR_RUST_STRING = 1 << 3,
	GP_FLAVOR_PY_BYTES = 1 << 4,   /* the site is in CPython's Objects/bytesobject.c */
	GP_FLAVOR_PY_STR = 1 << 5,     /* ... Objects/unicodeobject.c */
	GP_FLAVOR_RUST = 1 << 6,       /* the site is in a .rs file */
	GP_FLAVOR_CXX = 1 << 7,        /* ... in a C++ file */
};

struct gp_site {
	uint32_t id;
	struct gp_vframe where; /* the site itself */
	struct gp_vframe *stack; /* where, then its callers outward (of the first stack seen) */
	unsigned nstack;
	unsigned flavor;        /* GP_FLAVOR_* */
	/* The heaviest stack of each kind, as a site [0..1] and as an origin [2..3], by each sort
	 * key (enum gp_sort), made when rows are first asked for by that key. */
	struct gp_vframe *heavy[4][4];
	unsigned nheavy[4][4];
	int have_heavy[4];
};

struct gp_view {
	struct gp_agg agg;
	struct gp_symbolizer *sym;
	struct gp_site **sites; /* by site id */
	uint32_t nsites, capsites;
	void *site_index;       /* hash of site keys (view.c) */
	void *paths;            /* source paths, normalized once (view.c) */
	const char **wrappers;  /* glob patterns of allocator wrappers' function names */
	size_t nwrappers;
	const char **skipmods;  /* glob patterns of file names of modules that are never a site */
	size_t nskipmods;
	int progress;           /* show progress on stderr */
	struct gp_run run;      /* per process, and notes on damaged inputs (run.c) */
	struct gp_perfmap **perfmaps; /* by trace: its perf map or NULL (perfmap.h) */
	size_t nperfmaps;       /* traces whose map was looked for */
	int loading;            /* inside gp_view_load: frames are of the last trace */
};

/* Prepare a view with the default wrapper list. @return 0, -1 out of memory. */
int gp_view_init(struct gp_view *v);
void gp_view_release(struct gp_view *v);
/* Add a wrapper pattern (fnmatch glob on the demangled function name). */
int gp_view_add_wrapper(struct gp_view *v, const char *pattern);
/* Add a pattern (fnmatch glob on a module's file name, without its directory) of modules
 * whose frames are never a site, like the profiler's and the C library's: another
 * interposer stacked in front of libgrowprof.so. @return 0, -1 out of memory. */
int gp_view_add_skip_module(struct gp_view *v, const char *pattern);
/* Is `path` the profiler, the C library, the dynamic linker or a module added above? */
int gp_view_skip_module(const struct gp_view *v, const char *path);
/* Is `fn` a free path (free, _PyObject_Free, Py_DECREF, operator delete, a destructor, a
 * release() helper...)? Never a site, never named in advice. */
int gp_view_is_free_path(const char *fn);
/*
 * Where the site of a stack of steps of `kind` (GP_KIND_*) is (the one place that chooses
 * it): its physical frame *fi and inline level *si. @return 0, or -1 when no frame qualifies
 * (then *fi is the innermost frame outside the profiler, or n).
 */
int gp_view_site_frame(struct gp_view *v, const struct gp_frame *frames, unsigned n, int kind,
                       unsigned *fi, int *si);
/* Read one trace. @return 0, or -1 with the message in v->agg.err. */
int gp_view_load(struct gp_view *v, const char *path);
/* The logical frames of one recorded frame, innermost first, like gp_symbolize; code in no
 * module is named from its process's perf map. @return the number filled (>= 1 if max > 0). */
int gp_view_symbolize(struct gp_view *v, const struct gp_frame *f, struct gp_sym *out, int max);
/* The logical frames of a stack from physical frame fi, inline level si, outward (malloc'd,
 * *count of them). */
struct gp_vframe *gp_view_vframes(struct gp_view *v, const struct gp_frame *frames,
                                  unsigned n, unsigned fi, int si, unsigned *count);

/* A site's or origin's statistics with what the reports derive from them. */
struct gp_row {
	const struct gp_site *site;
	int kind;              /* GP_KIND_REALLOC or GP_KIND_RELOCATION */
	const struct gp_stats *st;
	double amplification;
	double factor_median;  /* median growth factor of the grows, 0 if none */
	double delta_median;   /* median increment of the grows, bytes */
	enum gp_pattern pattern;
	char pattern_text[200]; /* the pattern in words: "linear (+16 B)", "mixed (x2 up to
	                         * 4 KiB, then +4 KiB)", and the other shapes seen there */
	char advice[768];
	/* The heaviest stack of this site (or origin) and kind by the sort key (SPEC: not the
	 * first seen): stack[0] is the site, then its callers outward. Held by the view. */
	const struct gp_vframe *stack;
	unsigned nstack;
};

enum gp_sort { GP_SORT_COPIED, GP_SORT_MOVES, GP_SORT_STEPS, GP_SORT_AMPLIFICATION };
/* Parse a --sort key. @return 0, -1 if unknown. */
int gp_sort_parse(const char *s, enum gp_sort *out);

/*
 * The rows of the sites (origins = 0) or of the chain origins (origins = 1) that have
 * anything, sorted by `key` descending. @return a malloc'd array (free it) of *n rows, or
 * NULL if out of memory.
 */
struct gp_row *gp_view_rows(struct gp_view *v, int origins, enum gp_sort key, size_t *n);
/* The same with relocation chains' rows too (row->kind tells them apart), sorted together. */
struct gp_row *gp_view_rows_all(struct gp_view *v, int origins, enum gp_sort key, size_t *n);
/* Run amplification: bytes copied / sum of the chains' peaks, of one kind or of both
 * (GP_KIND_ALL). */
#define GP_KIND_ALL 2
double gp_view_amplification(const struct gp_view *v, int kind);
/* The run's totals of realloc and relocation chains together (allocs, frees and failed are
 * the realloc totals'). What check and diff gate on. */
void gp_view_totals_all(const struct gp_view *v, struct gp_totals *out);

/* Human numbers: "1,234,567", "12.3 MiB" (into buf, returned). */
const char *gp_fmt_count(char *buf, size_t cap, uint64_t v);
const char *gp_fmt_bytes(char *buf, size_t cap, double v);
/* Parse "10MB", "512KiB", "3G", "1000": @return 0, -1 if not a size. */
int gp_parse_bytes(const char *s, uint64_t *out);

/* Reports (one file each). */
void gp_report_text(FILE *out, struct gp_view *v, enum gp_sort key, size_t top);
void gp_report_json(FILE *out, struct gp_view *v, enum gp_sort key, size_t top);

#endif
