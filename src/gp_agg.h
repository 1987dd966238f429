/*
 * gp_agg.h - turn trace records into the numbers of ../shared/SPEC.md.
 *
 * One gp_agg reads any number of traces and sums them: run totals, and per-site and
 * per-origin statistics. What a "site" is (the innermost frame outside the profiler, libc
 * and allocator wrappers) needs symbols, which only the viewer has, so the caller supplies a
 * resolver that maps a stack to a site id of its own choosing; gp_agg keeps statistics in
 * arrays indexed by those ids.
 *
 * Memory is bounded by the number of distinct stacks, sites and live chains, never by the
 * number of events: a chain's state is dropped when its CHAIN_END is read.
 */
#ifndef GP_AGG_H
#define GP_AGG_H

#include <stddef.h>
#include <stdint.h>

/* The totals of SPEC "Totals per run". */
struct gp_totals {
	uint64_t allocs, frees, steps, failed, grows, shrinks, moves, remaps, bytes_copied,
		chains, max_chain_steps;
};

/* A bounded sample of values (reservoir), exact while fewer than GP_SAMPLES_MAX were seen. */
#define GP_SAMPLES_MAX 2048
struct gp_samples {
	double *v;
	uint32_t n;
	uint64_t seen;
};

/* The sizes one chain went through, step by step (decimated past GP_SERIES_MAX points). */
#define GP_SERIES_MAX 1024
struct gp_point {
	uint64_t size;  /* the block's size after the step (the first point: before any step) */
	uint32_t flags; /* GP_STEP_* of that step (GP_POINT_FLAGS), and above GP_POINT_SITE_SHIFT
	                 * the index of its site among the chain's sites */
	uint32_t step;  /* its index in the chain, 0 for the starting size */
};
#define GP_POINT_FLAGS 0xffffu
#define GP_POINT_SITE_SHIFT 16
struct gp_series {
	struct gp_point *pts;
	uint32_t n, stride;
	uint64_t bytes_copied; /* of the whole chain */
};

/*
 * The growth patterns of SPEC "pattern", decided per chain by how its increments scale with
 * its size: additive (the bytes added per grow do not grow with the size: +16, +1..20,
 * +8/+16) is linear, multiplicative (a roughly constant factor > 1) is geometric, fewer than
 * GP_SHAPE_MIN_GROWS grows cannot tell, and mixed is neither (then `what` says what it saw).
 */
enum gp_pattern { GP_PATTERN_MIXED = 0, GP_PATTERN_LINEAR, GP_PATTERN_GEOMETRIC,
	          GP_PATTERN_FEW, GP_PATTERN_N };
#define GP_SHAPE_MIN_GROWS 3

/* The shape of one chain. */
struct gp_shape {
	enum gp_pattern pattern;
	uint32_t grows;      /* grows with a known old size > 0 */
	double delta;        /* median increment, bytes */
	double factor;       /* median growth factor */
	char what[160];      /* mixed: what it saw, e.g. "x2 up to 4 KiB, then +4 KiB" */
};

/*
 * Classify the grows of a sequence of sizes (a chain's sizes in step order; shrinks and
 * equal sizes are skipped). @return the pattern, with the details in *out (may be NULL).
 */
enum gp_pattern gp_shape_classify(const uint64_t *sizes, size_t n, struct gp_shape *out);
/* The same for `n` grows given as (old size, new size) pairs (not grows are skipped). */
enum gp_pattern gp_shape_classify_pairs(const uint64_t (*pairs)[2], size_t n,
                                        struct gp_shape *out);

/* A site's chains by pattern (weighted by bytes copied: SPEC), and the heaviest one's
 * details for each pattern. */
#define GP_POOL_MAX 12
struct gp_shapes {
	uint64_t copied[GP_PATTERN_N], chains[GP_PATTERN_N];
	struct gp_shape top[GP_PATTERN_N]; /* of the chain that copied most, per pattern */
	uint64_t top_copied[GP_PATTERN_N];
	int have_top[GP_PATTERN_N];
	/* The first grows of chains with two grows (too few to tell), pooled: 20,000 chains
	 * that each double twice are geometric together. `pooled` is their shape (FEW until it
	 * tells). */
	uint64_t pool[GP_POOL_MAX][2];
	uint32_t npool;
	struct gp_shape pooled;
};

/* Statistics of one site, or of one chain origin. */
struct gp_stats {
	uint64_t steps, grows, shrinks, moves, in_place, remaps, bytes_copied;
	uint64_t chains;     /* chains with a step here (site) / begun here (origin) */
	uint64_t peak_bytes; /* sum of those chains' peaks: amplification = copied / peak_bytes */
	uint64_t peak_max;   /* the largest of those peaks */
	struct gp_samples factors; /* n / old size of each grow */
	struct gp_samples deltas;  /* n - old size of each grow */
	int used;            /* set once anything was counted here */
	struct gp_series worst; /* the chain that copied most here (for charts) */
	struct gp_shapes shapes; /* its chains' patterns */
};

/* One distinct stack of one trace with what was counted at it (for flame graphs). */
struct gp_stack {
	struct gp_frame *frames; /* innermost first; frames[i].mod stays valid with the agg */
	unsigned n;
	uint32_t site;
	uint32_t rsite;          /* the site of relocation steps at it (reloc_site_fn) */
	int kind;                /* GP_KIND_* of its steps */
	uint64_t steps, moves, remaps, bytes_copied;
	/* As the origin of chains (of kind okind): how many, their steps and bytes copied (to
	 * show an origin's heaviest stack). */
	int okind;
	uint64_t ochains, osteps, obytes_copied;
};

enum gp_kind { GP_KIND_REALLOC = 0, GP_KIND_RELOCATION = 1 };

/* A loaded module as recorded (addresses are of the profiled process). */
struct gp_module {
	uint64_t id, bias, lo, hi;
	char *path;
	uint8_t *build_id;
	size_t build_id_len;
};

/* One frame handed to the resolver. */
struct gp_frame {
	const struct gp_module *mod; /* NULL if the address is in no recorded module */
	uint64_t addr;               /* module-relative: raw - mod->bias (raw if mod is NULL),
	                              * already moved back into the call instruction for return
	                              * addresses */
	uint64_t raw;                /* the address as recorded */
};

/*
 * Map a stack (innermost first, n may be 0 for an unknown stack) to a site id >= 0, or'ed
 * with GP_SITE_WEAK when the stack holds no frame outside the profiler, libc and allocator
 * wrappers (the id is then that of the innermost of them). Called once per distinct stack
 * of each trace.
 *
 * A chain whose recorded origin is weak (typically a lone return address inside
 * operator new or xmalloc: the profiler keeps full stacks only for some call sites) takes
 * the site of its first step as its origin instead: the code that grows a buffer is almost
 * always the code that allocated it.
 */
typedef uint32_t (*gp_site_fn)(void *ctx, const struct gp_frame *frames, unsigned n);
#define GP_SITE_WEAK 0x80000000u

/* What one trace file said about its process. */
struct gp_trace_info {
	char *file;
	uint64_t pid, ppid;
	char *exe;
	char *cmdline;      /* arguments joined by spaces */
	int complete;       /* an END record was read */
	int cut_short;      /* the data stopped mid-frame or mid-record */
	int end_reason;     /* GP_END_* when complete */
	uint64_t open_chains; /* chains still open where a cut-short trace stops (else 0) */
	uint64_t own_allocs;  /* of totals.allocs, made for the profiler's flusher thread */
	struct gp_totals totals;
};

struct gp_agg {
	struct gp_totals totals;     /* summed over all traces */
	struct gp_stats *sites;      /* indexed by site id */
	struct gp_stats *origins;    /* indexed by site id of the chain's origin */
	/* The same for relocation chains (malloc + copy + free growth, not realloc). */
	struct gp_stats *rsites, *rorigins;
	struct gp_totals reloc_totals;
	uint32_t nsites;             /* all four arrays hold this many entries */
	struct gp_stack *stacks;     /* every stack that had steps, of every trace */
	size_t nstacks, capstacks;
	struct gp_trace_info *traces;
	size_t ntraces;
	gp_site_fn site_fn;
	/* The site of a relocation step's stack (may be NULL: site_fn): such a stack may have
	 * been taken where the old block was freed, so free paths are passed over too. */
	gp_site_fn reloc_site_fn;
	void *site_ctx;
	/* The modules of the trace being read, then of all traces (kept for symbolizing). */
	struct gp_module **modules;
	size_t nmodules;
	/* Called now and then while reading (may be NULL): bytes read, file size. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	char err[256];
};

/* Prepare an empty aggregate that resolves sites with `fn(ctx, ...)`. */
void gp_agg_init(struct gp_agg *a, gp_site_fn fn, void *ctx);
void gp_agg_release(struct gp_agg *a);

/*
 * Read the trace at `path` into the aggregate.
 * @return 0 on success (also for a trace cut short: see the trace's info), -1 if the file is
 * missing, unreadable, not a trace, of a newer version or damaged; a one-line message is in
 * a->err (without the file name). On -1 the aggregate holds what was read before the damage
 * (totals, sites and origins agree with each other); callers report the file as unreadable
 * and print no report.
 */
int gp_agg_add_file(struct gp_agg *a, const char *path);

/* Same for a trace in memory (tests, fuzzer); `name` is stored as its file name. */
int gp_agg_add_mem(struct gp_agg *a, const char *name, const void *data, size_t len);

/* copied / peak_bytes, 0 when there is no peak. */
double gp_stats_amplification(const struct gp_stats *s);
/* Median of a sample, 0 if empty. */
double gp_samples_median(const struct gp_samples *s);

/* The pattern of a site or origin: that of its chains weighted by bytes copied (by chains
 * where nothing was copied); where chains have too few grows each, that of their grows
 * pooled if it tells (then shapes.pooled holds its details). */
enum gp_pattern gp_stats_pattern(const struct gp_stats *s);
/* "linear", "geometric", "mixed", "few" (fewer than GP_SHAPE_MIN_GROWS grows). */
const char *gp_pattern_name(enum gp_pattern p);

#endif
