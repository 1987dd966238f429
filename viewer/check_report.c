/*
 * check_report.c - what growprof check prints once it has decided: the offenders with their
 * numbers and advice, GitHub Actions annotations, JUnit XML and the summary line.
 */
#define _GNU_SOURCE
#include "check.h"
#include "gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

struct measure gp_check_row_measure(const struct gp_row *r)
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
	struct measure m = gp_check_row_measure(r);
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
void gp_check_print(struct check *c, FILE *out)
{
	char buf[4096], label[1024], a[32], b[32];

	/* What is checked */
	fprintf(out, "growprof check: %zu trace%s, %zu site%s with steps; ", c->v.agg.ntraces,
	        c->v.agg.ntraces == 1 ? "" : "s", c->nrows, c->nrows == 1 ? "" : "s");
	if (gp_limits_any(&c->lim))
		fprintf(out, "limits %s: %s", c->per_site ? "per site" : "for the whole run",
		        gp_limits_str(buf, sizeof buf, &c->lim));
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

void gp_check_print_github(struct check *c, FILE *out)
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
int gp_check_write_junit(struct check *c, const char *path)
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
			if (!c->items[i].row && !gp_limits_any(&one[k]))
				continue;
			tests++;
			failures += c->items[i].row ? c->items[i].over > 0 :
			            gp_limits_over(&one[k], &c->items[i].m, "", msg, sizeof msg) > 0;
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
				if (!gp_limits_any(&one[k]))
					continue;
				char full[1100];
				int over = gp_limits_over(&one[k], &it->m, "", msg, sizeof msg);
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
		gp_check_appendf(text, sizeof text, &o, "\nadvice: %s", it->row->advice);
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
void gp_check_print_summary(struct check *c, FILE *out, int fail)
{
	char what[512], a[32], b[32];
	size_t o = 0;
	what[0] = 0;
	if (c->run_item >= 0)
		gp_check_appendf(what, sizeof what, &o, "the whole run%s", c->checked_sites ? " and " : "");
	if (c->checked_sites || c->run_item < 0) {
		const char *sites = c->checked_sites == 1 ? "site" : "sites";
		const char *own = c->per_site ? "" : " with own limits";
		if (c->failed_sites)
			gp_check_appendf(what, sizeof what, &o, "%zu of %zu %s%s", c->failed_sites,
			        c->checked_sites, sites, own);
		else
			gp_check_appendf(what, sizeof what, &o, "%zu %s%s", c->checked_sites, sites, own);
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
