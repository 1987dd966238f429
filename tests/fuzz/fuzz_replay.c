/*
 * fuzz_replay.c - main() for fuzz_reader.c without libFuzzer: runs every file given (or every
 * file in a directory given) through LLVMFuzzerTestOneInput once. The meson test
 * unit-fuzz-corpus replays tests/fuzz/corpus/ with it, so CI checks the corpus (and the crash
 * regressions kept there) without clang.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Undefined behaviour fails the replay in a -fsanitize=undefined build (UBSan's default is to
 * print and go on). UBSAN_OPTIONS still overrides. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "fuzz_replay: out of memory\n");
			fclose(f);
			return -1;
		}
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		fprintf(stderr, "fuzz_replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	/* an exact-size copy, so that the sanitizers see any read past the end */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	printf("replay %s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **p = realloc(names, (count + 1) * sizeof *names);
		if (!p)
			break;
		names = p;
		if (asprintf(&names[count], "%s/%s", dir, e->d_name) < 0)
			break;
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof *names, cmp);
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(names[i]))
				rc = -1;
			else
				(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_replay FILE|DIR...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &n))
				rc = 1;
		} else if (run_file(argv[i])) {
			rc = 1;
		} else {
			n++;
		}
	}
	if (n == 0) {
		fprintf(stderr, "fuzz_replay: no input replayed\n");
		return 1;
	}
	printf("fuzz_replay: %u input(s) replayed, no crash\n", n);
	return rc;
}
