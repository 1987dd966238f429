/*
 * run.h - the inputs of report, check and diff: trace files and run folders.
 *
 * A run folder is what one `growprof record` wrote: the trace of every process of the tree
 * (growprof.EXE.PID.zst, .N.zst when an exec'd image kept its pid) and, beside a trace,
 * what later symbolization needs (growprof.EXE.PID.perfmap, a runtime's perf map). A run
 * is one thing: it is read whole, and what it holds per process (who grew, who did not)
 * is kept here for the report headers.
 */
#ifndef GP_RUN_H
#define GP_RUN_H

#include <stddef.h>
#include <stdint.h>

struct gp_view;

/* What the inputs said beyond the aggregate, kept in gp_view (v->run). */
struct gp_run {
	uint64_t *reloc_copied; /* per trace (as v->agg.traces): bytes its relocations copied */
	uint64_t *reloc_steps;  /* and its relocation steps */
	unsigned char *damaged; /* and whether it was damaged (read up to the damage, noted) */
	size_t n, cap;
	char **notes;           /* one line each: a damaged trace of a run, what was kept */
	size_t nnotes;
};

/*
 * Read every input into v: a trace file, or every trace of a run folder (by name). A trace
 * that is missing or unreadable, a folder with no trace, always fail. A damaged trace of a
 * run folder fails too unless `lenient`: then what it held before the damage is kept and a
 * note says so (report shows what is whole; check and diff gate only on whole runs). A
 * folder whose every trace is damaged has nothing whole: it fails.
 * @return 0, or -1 with "FILE: what is wrong" in err.
 */
int gp_run_load(struct gp_view *v, char **inputs, int n, int lenient, char *err, size_t cap);

/* Was trace i damaged (its note says how; it is also cut short, and said once)? */
int gp_run_trace_damaged(const struct gp_view *v, size_t i);
/* Bytes copied and steps of trace i, realloc and relocation chains together. */
uint64_t gp_run_trace_copied(const struct gp_view *v, size_t i);
uint64_t gp_run_trace_steps(const struct gp_view *v, size_t i);
/* Did process i grow, i.e. account for at least 1% of the run's copying (of its steps when
 * nothing was copied)? The others are counted in one line, not listed. */
int gp_run_trace_grew(const struct gp_view *v, size_t i);

/*
 * The modules whose frames stay unnamed because they are not on this machine (a run copied
 * elsewhere, a binary rebuilt or deleted since): the files of the sites without a function
 * that cannot be read here, their paths joined by ", " into buf (at most `cap` bytes).
 * @return how many.
 */
size_t gp_run_missing_modules(const struct gp_view *v, char *buf, size_t cap);

/* Create `path` and its missing parents, each 0700 (the umask may only make them
 * stricter). @return 0, or -1 with errno set (EEXIST if `path` itself exists). */
int gp_run_mkdirs(const char *path);

#endif
