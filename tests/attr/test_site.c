/*
 * test_site.c - site choice, heaviest stacks, patterns and advice of the viewer (view.c) on
 * hand-made traces whose stacks are addresses inside this program's own functions, so that
 * they symbolize to names and lines it knows: the functions below stand for a program's
 * builders, its release() helper, CPython's free and allocation paths and wrappers.
 * Issue 21: a relocation recorded at the free of its old block is named after the builder,
 * never release() / _PyObject_Free / _Py_Dealloc; two builders sharing release() are two
 * sites; a realloc site named like a free path (zero_free) stays a site; the stack shown is
 * the heaviest; advice states what it saves or says copying is amortized.
 */
#define _GNU_SOURCE
#include "../unit/check.h"
#include "../unit/tb.h"
#include "gate.h"
#include "gp_format.h"
#include "view.h"

#include <link.h>
#include <limits.h>
#include <unistd.h>

/* What view.c takes from the command line's gate (check.c, which needs all of main.c): the
 * paths here are already plain. */
char *gp_gate_normpath(char *buf, size_t cap, const char *path)
{
	snprintf(buf, cap, "%s", path);
	return buf;
}

static const char *base_name(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;
	return b ? b + 1 : path;
}

#define FN __attribute__((noipa, used))
static volatile int sink;
/* Each stands for a function of its name: a frame is an address inside it. */
#define BODY                                                                               \
	do {                                                                                   \
		for (int i = 0; i < 3; i++)                                                        \
			sink += i;                                                                     \
	} while (0)
static FN void release(void) { BODY; }
static FN void build_a(void) { BODY; }
static FN void build_b(void) { BODY; }
static FN void _PyObject_Free(void) { BODY; }
static FN void bytes_dealloc(void) { BODY; }
static FN void _Py_Dealloc(void) { BODY; }
static FN void insertdict(void) { BODY; }
static FN void PyObject_Malloc(void) { BODY; }
static FN void _PyBytes_FromSize(void) { BODY; }
static FN void bytes_concat(void) { BODY; }
static FN void zero_free(void) { BODY; }
static FN void xrealloc(void) { BODY; }
static FN void g_realloc(void) { BODY; }
static FN void grow_here(void) { BODY; }
static FN void caller_light(void) { BODY; }
static FN void caller_heavy(void) { BODY; }
static FN void doubler(void) { BODY; }
static FN void in_place(void) { BODY; }
static FN void outer(void) { BODY; }

/* An address inside f, as a return address (the reader looks one byte before it). */
#define AT(f) ((uint64_t)(uintptr_t)&(f) + 5)

static uint64_t exe_lo, exe_hi, exe_bias;

static int find_exe(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0; /* the first entry with an empty name is the program */
	exe_bias = info->dlpi_addr;
	exe_lo = UINT64_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD) {
			uint64_t lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
			uint64_t hi = lo + info->dlpi_phdr[i].p_memsz;
			if (lo < exe_lo)
				exe_lo = lo;
			if (hi > exe_hi)
				exe_hi = hi;
		}
	return 1;
}

static const struct gp_row *row_of(const struct gp_row *rows, size_t n, const char *fn, int kind,
                                   int *count)
{
	const struct gp_row *found = NULL;
	*count = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].kind == kind && rows[i].nstack && rows[i].stack[0].function &&
		    strcmp(rows[i].stack[0].function, fn) == 0) {
			found = &rows[i];
			(*count)++;
		}
	return found;
}

int main(void)
{
	dl_iterate_phdr(find_exe, NULL);
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	CHECK(len > 0 && exe_hi > exe_lo, "(this program's path and mapping)");
	exe[len] = 0;

	struct tb b;
	tb_init(&b);
	tb_header(&b, GP_FORMAT_VERSION);
	tb_process(&b, 9, 1, "test_site", "test_site", 9, 32);
	tb_module(&b, 1, exe_bias, exe_lo, exe_hi, exe, "", 0);
	enum {
		S_REL_A = 1, S_REL_B, S_PYFREE, S_PYNEW, S_ZERO, S_WRAP_LIGHT, S_WRAP_HEAVY, S_DOUBLE,
		S_INPLACE, S_ORIGIN
	};
	uint64_t rel_a[] = { AT(release), AT(build_a), AT(outer) };
	uint64_t rel_b[] = { AT(release), AT(build_b), AT(outer) };
	uint64_t pyfree[] = { AT(_PyObject_Free), AT(bytes_dealloc), AT(_Py_Dealloc), AT(insertdict),
	                      AT(outer) };
	uint64_t pynew[] = { AT(PyObject_Malloc), AT(_PyBytes_FromSize), AT(bytes_concat), AT(outer) };
	uint64_t zero[] = { AT(zero_free), AT(outer) };
	uint64_t light[] = { AT(xrealloc), AT(g_realloc), AT(grow_here), AT(caller_light), AT(outer) };
	uint64_t heavy[] = { AT(xrealloc), AT(g_realloc), AT(grow_here), AT(caller_heavy), AT(outer) };
	uint64_t dbl[] = { AT(doubler), AT(outer) };
	uint64_t inpl[] = { AT(in_place), AT(outer) };
	uint64_t org[] = { AT(outer) };
	tb_stack(&b, S_REL_A, 3, rel_a);
	tb_stack(&b, S_REL_B, 3, rel_b);
	tb_stack(&b, S_PYFREE, 5, pyfree);
	tb_stack(&b, S_PYNEW, 4, pynew);
	tb_stack(&b, S_ZERO, 2, zero);
	tb_stack(&b, S_WRAP_LIGHT, 5, light);
	tb_stack(&b, S_WRAP_HEAVY, 5, heavy);
	tb_stack(&b, S_DOUBLE, 2, dbl);
	tb_stack(&b, S_INPLACE, 2, inpl);
	tb_stack(&b, S_ORIGIN, 1, org);

	/* Two builders, +64 from 64, 20 relocations each, the old block freed by release(). */
	uint64_t chain = 1;
	for (int k = 0; k < 2; k++, chain++) {
		tb_chain_kind(&b, chain, S_ORIGIN, 64, GP_CHAIN_RELOCATION);
		for (uint64_t n = 64; n < 64 * 21; n += 64)
			tb_step_copied(&b, chain, k ? S_REL_B : S_REL_A, n, n + 64, GP_STEP_MOVED, n);
		tb_chain_end(&b, chain);
	}
	/* CPython's bytes +=, recorded at the free (old preloads) and at the new block. */
	tb_chain_kind(&b, chain, S_ORIGIN, 100, GP_CHAIN_RELOCATION);
	for (uint64_t n = 100; n < 100 + 37 * 10; n += 37)
		tb_step_copied(&b, chain, S_PYFREE, n, n + 37, GP_STEP_MOVED, n);
	tb_chain_end(&b, chain++);
	tb_chain_kind(&b, chain, S_ORIGIN, 100, GP_CHAIN_RELOCATION);
	for (uint64_t n = 100; n < 100 + 37 * 10; n += 37)
		tb_step_copied(&b, chain, S_PYNEW, n, n + 37, GP_STEP_MOVED, n);
	tb_chain_end(&b, chain++);
	/* A realloc site named like a free path: +16 x 10, every step a move. */
	tb_chain(&b, chain, S_ORIGIN, 16);
	for (uint64_t n = 16; n < 16 * 11; n += 16)
		tb_step(&b, chain, S_ZERO, n, n + 16, GP_STEP_MOVED);
	tb_chain_end(&b, chain++);
	/* grow_here through two wrappers, from two callers: 3 steps from the light one, 30
	 * from the heavy one (+8 each, every step a move). */
	for (int k = 0; k < 2; k++, chain++) {
		tb_chain(&b, chain, S_ORIGIN, 8);
		uint64_t n = 8;
		for (int i = 0; i < (k ? 30 : 3); i++, n += 8)
			tb_step(&b, chain, k ? S_WRAP_HEAVY : S_WRAP_LIGHT, n, n + 8, GP_STEP_MOVED);
		tb_chain_end(&b, chain);
	}
	/* Doubling 16 -> 16 KiB, every step a move: amortized. */
	tb_chain(&b, chain, S_ORIGIN, 16);
	for (uint64_t n = 16; n < 16384; n *= 2)
		tb_step(&b, chain, S_DOUBLE, n, n * 2, GP_STEP_MOVED);
	tb_chain_end(&b, chain++);
	/* +1 x 50 all in place: nothing to save. */
	tb_chain(&b, chain, S_ORIGIN, 1);
	for (uint64_t n = 1; n < 51; n++)
		tb_step(&b, chain, S_INPLACE, n, n + 1, 0);
	tb_chain_end(&b, chain++);
	tb_end(&b, GP_END__EXIT);

	struct tb_z z;
	tb_compress(&b, TB_ONE_PUT, &z);
	char path[] = "/tmp/gp-test-site-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK(tb_write_file(path, z.data, z.len) == 0);

	struct gp_view v;
	CHECK(gp_view_init(&v) == 0);
	v.progress = 0;
	CHECK(gp_view_load(&v, path) == 0, "(%s)", v.agg.err);
	unlink(path);
	size_t n;
	struct gp_row *rows = gp_view_rows_all(&v, 0, GP_SORT_COPIED, &n);
	CHECK(rows != NULL);
	int count;
	const struct gp_row *r;

	SECTION("two builders sharing release(): two relocation sites, never release()");
	r = row_of(rows, n, "build_a", GP_KIND_RELOCATION, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	CHECK_U(r->st->steps, 20);
	CHECK_U(r->st->bytes_copied, 64 * (20 * 21 / 2));
	CHECK_S(base_name(r->stack[0].file), "test_site.c");
	CHECK_S(gp_pattern_name(r->pattern), "linear");
	CHECK(strstr(r->advice, "saves 20 copies / 13.1 KiB") && strstr(r->advice, " build_a "),
	      "(advice: %s)", r->advice);
	r = row_of(rows, n, "build_b", GP_KIND_RELOCATION, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	row_of(rows, n, "release", GP_KIND_RELOCATION, &count);
	CHECK(count == 0, "(release is a site)");

	SECTION("CPython: _PyObject_Free, bytes_dealloc and _Py_Dealloc are passed over; a new "
	        "block's stack names _PyBytes_FromSize, not PyObject_Malloc");
	r = row_of(rows, n, "insertdict", GP_KIND_RELOCATION, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	CHECK_U(r->st->steps, 10);
	r = row_of(rows, n, "_PyBytes_FromSize", GP_KIND_RELOCATION, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	CHECK_S(r->stack[1].function, "bytes_concat");
	static const char *const never[] = { "_PyObject_Free", "bytes_dealloc", "_Py_Dealloc",
	                                     "PyObject_Malloc", "xrealloc", "g_realloc" };
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < sizeof never / sizeof *never; j++) {
			CHECK(!rows[i].stack[0].function || strcmp(rows[i].stack[0].function, never[j]),
			      "(%s is a site)", never[j]);
			CHECK(!strstr(rows[i].advice, never[j]), "(advice names %s: %s)", never[j],
			      rows[i].advice);
		}

	SECTION("a realloc site named like a free path stays a site");
	r = row_of(rows, n, "zero_free", GP_KIND_REALLOC, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	CHECK_U(r->st->steps, 10);

	SECTION("wrappers passed over; one row for grow_here, its heaviest stack shown");
	r = row_of(rows, n, "grow_here", GP_KIND_REALLOC, &count);
	CHECK(r && count == 1, "(%d rows)", count);
	CHECK_U(r->st->steps, 33);
	CHECK_U(r->st->chains, 2);
	CHECK(r->nstack >= 2);
	CHECK_S(r->stack[1].function, "caller_heavy");
	/* by steps too */
	size_t n2;
	struct gp_row *by_steps = gp_view_rows_all(&v, 0, GP_SORT_STEPS, &n2);
	r = row_of(by_steps, n2, "grow_here", GP_KIND_REALLOC, &count);
	CHECK(r && r->nstack >= 2);
	CHECK_S(r->stack[1].function, "caller_heavy");
	free(by_steps);
	/* one chain of 3 grows and one of 30, both +8: linear, and the peak is the largest */
	r = row_of(rows, n, "grow_here", GP_KIND_REALLOC, &count);
	CHECK_S(gp_pattern_name(r->pattern), "linear");
	CHECK_U(r->st->peak_max, 8 + 30 * 8);
	CHECK_U(r->st->peak_bytes, 8 + 30 * 8 + 8 + 3 * 8);

	SECTION("advice: amortized doubling says so and stops; no copies, no savings");
	r = row_of(rows, n, "doubler", GP_KIND_REALLOC, &count);
	CHECK(r && count == 1);
	CHECK_S(gp_pattern_name(r->pattern), "geometric");
	CHECK(strstr(r->advice, "amortized") && !strstr(r->advice, "saves"), "(advice: %s)", r->advice);
	r = row_of(rows, n, "in_place", GP_KIND_REALLOC, &count);
	CHECK(r && count == 1);
	CHECK(!strstr(r->advice, "saves"), "(advice: %s)", r->advice);
	for (size_t i = 0; i < n; i++)
		CHECK(!strstr(rows[i].advice, "saves 0") && !strstr(rows[i].advice, "saves ~0 "),
		      "(advice: %s)", rows[i].advice);

	free(rows);
	gp_view_release(&v);
	tb_z_release(&z);
	tb_release(&b);
	return check_exit("attr-site");
}
