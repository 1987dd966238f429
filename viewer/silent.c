/* silent.c - processes that made no allocator calls at all (see silent.h). */
#include "silent.h"

#include "gate.h"

uint64_t gp_silent_calls(const struct gp_trace_info *ti)
{
	const struct gp_totals *t = &ti->totals;
	/* the profiler's own flusher thread's TLS is no call of the program's */
	return t->allocs - ti->own_allocs + t->frees + t->steps + t->failed;
}

void gp_silent_note(FILE *out, const char *prefix, const struct gp_agg *a)
{
	/* Only where the report would otherwise read as an empty success: when other processes
	 * of the run grew, the silent ones (a wrapper script's `true`, which never allocates)
	 * are among those the header counts as having little or no growth. */
	if (a->totals.steps || a->reloc_totals.steps)
		return;
	size_t n = 0;
	for (size_t i = 0; i < a->ntraces; i++)
		n += gp_silent_calls(&a->traces[i]) == 0;
	if (!n)
		return;
	fprintf(out, "%s", prefix);
	size_t shown = 0;
	for (size_t i = 0; i < a->ntraces && shown < 4; i++) {
		const struct gp_trace_info *ti = &a->traces[i];
		if (gp_silent_calls(ti))
			continue;
		const char *exe = ti->exe ? gp_gate_base(ti->exe) : NULL;
		fprintf(out, "%s%s[%llu]", shown++ ? ", " : "", exe ? exe : "?",
		        (unsigned long long)ti->pid);
	}
	fprintf(out, "%s made no allocator calls at all (an allocator linked into the program, "
	        "as Go's, static musl's or some Rust's, is out of LD_PRELOAD's reach: none of "
	        "%s growth was measured)\n", n > shown ? ", ..." : "", n == 1 ? "its" : "their");
}
