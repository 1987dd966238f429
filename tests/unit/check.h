/*
 * check.h - the unit tests' assertions. A test prints what it checks (SECTION) and stops at
 * the first failed CHECK with the file, line, expression and the values involved, so a CI log
 * says what broke without a debugger.
 *
 * KNOWN_BUG_CHECK is the exception: it marks an assertion that documents a bug in src/ which
 * is not fixed yet; it reports and goes on, and the test's exit status (see check_exit) says
 * whether any of them failed.
 */
#ifndef GP_TEST_CHECK_H
#define GP_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In a build with -Db_sanitize=undefined, undefined behaviour must fail the test, not just
 * print a line in its log (UBSan's default is to go on). UBSAN_OPTIONS still overrides. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static unsigned long check_count;
static unsigned long check_bug_failures;

#define SECTION(...)                                                                       \
	do {                                                                                   \
		printf("== ");                                                                     \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

#define CHECK_FAIL_BEGIN_()                                                                \
	do {                                                                                   \
		fflush(stdout);                                                                    \
		fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                            \
	} while (0)

/* Ends a failure report with the optional context ("fmt", args...) of the CHECK. */
#define CHECK_FAIL_END_(...)                                                               \
	do {                                                                                   \
		fprintf(stderr, " " __VA_ARGS__);                                                  \
		fprintf(stderr, "\n");                                                             \
		exit(1);                                                                           \
	} while (0)

/* Each CHECK* takes an optional context: CHECK_U(x, 3, "(case %d)", i). */
#define CHECK(cond, ...)                                                                   \
	do {                                                                                   \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			CHECK_FAIL_BEGIN_();                                                           \
			fprintf(stderr, "%s", #cond);                                                  \
			CHECK_FAIL_END_(__VA_ARGS__);                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_U(a, b, ...)                                                                 \
	do {                                                                                   \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                   \
		check_count++;                                                                     \
		if (a_ != b_) {                                                                    \
			CHECK_FAIL_BEGIN_();                                                           \
			fprintf(stderr,                                                                \
			        "%s == %s: got %" PRIu64 " (0x%" PRIx64 "), want %" PRIu64             \
			        " (0x%" PRIx64 ")", #a, #b, a_, a_, b_, b_);                            \
			CHECK_FAIL_END_(__VA_ARGS__);                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_I(a, b, ...)                                                                 \
	do {                                                                                   \
		int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                      \
		check_count++;                                                                     \
		if (a_ != b_) {                                                                    \
			CHECK_FAIL_BEGIN_();                                                           \
			fprintf(stderr, "%s == %s: got %" PRId64 ", want %" PRId64, #a, #b, a_, b_);   \
			CHECK_FAIL_END_(__VA_ARGS__);                                                  \
		}                                                                                  \
	} while (0)

/* Doubles computed from exact integer ratios: compare with a tiny relative tolerance. */
#define CHECK_D(a, b, ...)                                                                 \
	do {                                                                                   \
		double a_ = (double)(a), b_ = (double)(b);                                         \
		double d_ = a_ > b_ ? a_ - b_ : b_ - a_;                                           \
		double m_ = (a_ > 0 ? a_ : -a_) > (b_ > 0 ? b_ : -b_) ? (a_ > 0 ? a_ : -a_)        \
		                                                      : (b_ > 0 ? b_ : -b_);       \
		check_count++;                                                                     \
		if (d_ > 1e-12 * (m_ > 1 ? m_ : 1)) {                                              \
			CHECK_FAIL_BEGIN_();                                                           \
			fprintf(stderr, "%s == %s: got %.17g, want %.17g", #a, #b, a_, b_);            \
			CHECK_FAIL_END_(__VA_ARGS__);                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_S(a, b, ...)                                                                 \
	do {                                                                                   \
		const char *a_ = (a), *b_ = (b);                                                   \
		check_count++;                                                                     \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			CHECK_FAIL_BEGIN_();                                                           \
			fprintf(stderr, "%s == %s: got \"%s\", want \"%s\"", #a, #b,                   \
			        a_ ? a_ : "(null)", b_ ? b_ : "(null)");                               \
			CHECK_FAIL_END_(__VA_ARGS__);                                                  \
		}                                                                                  \
	} while (0)

/* A check that documents a known bug in src/: report it, count it, go on. */
#define KNOWN_BUG_CHECK(cond, where, ...)                                                  \
	do {                                                                                   \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_bug_failures++;                                                          \
			fflush(stdout);                                                                \
			fprintf(stderr, "%s:%d: KNOWN BUG in %s: %s: ", __FILE__, __LINE__, where,     \
			        #cond);                                                                \
			fprintf(stderr, __VA_ARGS__);                                                  \
			fprintf(stderr, "\n");                                                         \
		} else {                                                                           \
			printf("   fixed? %s now holds (%s)\n", #cond, where);                         \
		}                                                                                  \
	} while (0)

static inline int check_exit(const char *name)
{
	if (check_bug_failures) {
		printf("%s: %lu checks, %lu KNOWN BUG check(s) failed\n", name, check_count,
		       check_bug_failures);
		return 1;
	}
	printf("%s: all %lu checks passed\n", name, check_count);
	return 0;
}

#endif
