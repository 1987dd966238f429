/* report_json.c - the JSON report of ../shared/SPEC.md. */
#include "json.h"
#include "view.h"
#include "silent.h"

#include <stdlib.h>

static void totals(FILE *out, const struct gp_totals *t)
{
	fprintf(out, "{\"allocs\": %llu, \"frees\": %llu, \"steps\": %llu, \"failed\": %llu, "
	        "\"grows\": %llu, \"shrinks\": %llu, \"moves\": %llu, \"remaps\": %llu, "
	        "\"bytes_copied\": %llu, \"chains\": %llu, \"max_chain_steps\": %llu}",
	        (unsigned long long)t->allocs, (unsigned long long)t->frees,
	        (unsigned long long)t->steps, (unsigned long long)t->failed,
	        (unsigned long long)t->grows, (unsigned long long)t->shrinks,
	        (unsigned long long)t->moves, (unsigned long long)t->remaps,
	        (unsigned long long)t->bytes_copied, (unsigned long long)t->chains,
	        (unsigned long long)t->max_chain_steps);
}

static void rows(FILE *out, struct gp_view *v, int origins, enum gp_sort key, size_t top)
{
	size_t n;
	struct gp_row *r = gp_view_rows_all(v, origins, key, &n);
	fputc('[', out);
	for (size_t i = 0; r && i < n && i < top; i++) {
		const struct gp_stats *s = r[i].st;
		const struct gp_site *site = r[i].site;
		/* The heaviest stack (SPEC "site"), its first frame the site. */
		const struct gp_vframe *w = r[i].nstack ? &r[i].stack[0] : &site->where;
		fputs(i ? ",\n  {" : "\n  {", out);
		gp_json_frame_fields(out, w);
		fprintf(out, ", \"address\": \"0x%llx\", \"stack\": [", (unsigned long long)w->addr);
		for (unsigned j = 0; j < r[i].nstack; j++) {
			fputs(j ? ", {" : "{", out);
			gp_json_frame_fields(out, &r[i].stack[j]);
			fputc('}', out);
		}
		fprintf(out, "], \"steps\": %llu, \"grows\": %llu, \"shrinks\": %llu, \"moves\": %llu, "
		        "\"in_place\": %llu, \"remaps\": %llu, \"bytes_copied\": %llu, \"chains\": %llu, "
		        "\"peak_bytes\": %llu, \"peak_sum_bytes\": %llu, \"amplification\": ",
		        (unsigned long long)s->steps, (unsigned long long)s->grows,
		        (unsigned long long)s->shrinks, (unsigned long long)s->moves,
		        (unsigned long long)s->in_place, (unsigned long long)s->remaps,
		        (unsigned long long)s->bytes_copied, (unsigned long long)s->chains,
		        (unsigned long long)s->peak_max, (unsigned long long)s->peak_bytes);
		gp_json_num(out, r[i].amplification);
		fputs(", \"growth_factor_median\": ", out);
		if (s->grows && r[i].factor_median > 0)
			gp_json_num(out, r[i].factor_median);
		else
			fputs("null", out);
		fputs(", \"kind\": ", out);
		gp_json_str(out, r[i].kind == GP_KIND_RELOCATION ? "relocation" : "realloc");
		fputs(", \"pattern\": ", out);
		gp_json_str(out, gp_pattern_name(r[i].pattern));
		fputs(", \"pattern_detail\": ", out);
		gp_json_str(out, r[i].pattern_text);
		/* Each shape seen, by chains and bytes copied (distinct ones are not averaged). */
		fputs(", \"patterns\": {", out);
		for (int p = 0, first = 1; p < GP_PATTERN_N; p++) {
			if (!s->shapes.chains[p])
				continue;
			fprintf(out, "%s\"%s\": {\"chains\": %llu, \"bytes_copied\": %llu}",
			        first ? "" : ", ", gp_pattern_name((enum gp_pattern)p),
			        (unsigned long long)s->shapes.chains[p],
			        (unsigned long long)s->shapes.copied[p]);
			first = 0;
		}
		fputc('}', out);
		fputs(", \"advice\": ", out);
		gp_json_str(out, r[i].advice);
		fputc('}', out);
	}
	fputs(n ? "\n]" : "]", out);
	free(r);
}

void gp_report_json(FILE *out, struct gp_view *v, enum gp_sort key, size_t top)
{
	const struct gp_agg *a = &v->agg;
	const struct gp_totals *t = &a->totals;
	fputs("{\"growprof_report\": 1, \"traces\": [", out);
	for (size_t i = 0; i < a->ntraces; i++) {
		const struct gp_trace_info *ti = &a->traces[i];
		fputs(i ? ", {\"file\": " : "{\"file\": ", out);
		gp_json_str(out, ti->file);
		fprintf(out, ", \"pid\": %llu, \"ppid\": %llu, \"exe\": ", (unsigned long long)ti->pid,
		        (unsigned long long)ti->ppid);
		gp_json_str(out, ti->exe);
		fputs(", \"cmdline\": ", out);
		gp_json_str(out, ti->cmdline);
		fprintf(out, ", \"complete\": %s, \"cut_short\": %s, \"open_chains\": %llu, \"grew\": %s",
		        ti->complete ? "true" : "false", ti->cut_short ? "true" : "false",
		        (unsigned long long)ti->open_chains, gp_run_trace_grew(v, i) ? "true" : "false");
		/* 0: a statically linked allocator the preload cannot see (silent.h) */
		fprintf(out, ", \"allocator_calls\": %llu, \"own_allocs\": %llu}",
		        (unsigned long long)gp_silent_calls(ti), (unsigned long long)ti->own_allocs);
	}
	fputs("],\n\"totals\": ", out);
	totals(out, t);
	fputs(",\n\"relocation_totals\": ", out);
	totals(out, &a->reloc_totals);
	fputs(",\n\"sites\": ", out);
	rows(out, v, 0, key, top);
	fputs(",\n\"origins\": ", out);
	rows(out, v, 1, key, top);
	fputs("}\n", out);
}
