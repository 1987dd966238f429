/* record.c - growprof record: run a program with the preload and say where traces went. */
#define _GNU_SOURCE
#include "cmds.h"
#include "silent.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char record_help[] =
	"usage: growprof record [-o PATH] -- PROG [ARGS...]\n"
	"\n"
	"Run PROG with libgrowprof.so preloaded (added in front of any LD_PRELOAD already set);\n"
	"PROG and every child it starts write their own trace. Exits with PROG's exit status\n"
	"(128+N if a signal N killed it).\n"
	"\n"
	"  -o PATH     a directory for the traces (default: the current one), or a file pattern\n"
	"              with %p (pid) and %e (executable name)\n"
	"  -h, --help  this help\n"
	"\n"
	"The library is found next to growprof (build tree or installed); GROWPROF_LIB overrides.\n";

/* Locate libgrowprof.so relative to this executable. */
static int find_lib(char *out, size_t cap)
{
	const char *env = getenv("GROWPROF_LIB");
	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return access(out, R_OK);
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	static const char *rel[] = {
		"../preload/libgrowprof.so",               /* build tree */
		"../lib/x86_64-linux-gnu/libgrowprof.so",  /* meson install on Debian */
		"../lib64/libgrowprof.so", "../lib/libgrowprof.so",
	};
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		char p[PATH_MAX * 2];
		snprintf(p, sizeof p, "%s/%s", self, rel[i]);
		if (access(p, R_OK) == 0 && realpath(p, out))
			return 0;
	}
	return -1;
}

/* Find PROG on PATH like execvp would. */
static int which(const char *prog, char *out, size_t cap)
{
	if (strchr(prog, '/')) {
		snprintf(out, cap, "%s", prog);
		return access(out, X_OK);
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *c = strchr(path, ':');
		size_t n = c ? (size_t)(c - path) : strlen(path);
		snprintf(out, cap, "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(out, X_OK) == 0)
			return 0;
		path += n + (c != NULL);
	}
	return -1;
}

/* @return 1 if the ELF file has no program interpreter (static), 0 otherwise. */
static int is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	int stat = 0;
	if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phnum < 4096) {
		stat = 1;
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != (ssize_t)sizeof ph)
				break;
			if (ph.p_type == PT_INTERP) {
				stat = 0;
				break;
			}
		}
	}
	close(fd);
	return stat;
}

int gp_cmd_record(int argc, char **argv)
{
	const char *outopt = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(record_help, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			outopt = argv[++i];
			continue;
		}
		if (argv[i][0] == '-')
			return gp_die_usage("record", "unknown option '%s'", argv[i]);
		break; /* the program, without "--" */
	}
	if (i >= argc)
		return gp_die_usage("record", "no program to run");
	char lib[PATH_MAX];
	if (find_lib(lib, sizeof lib)) {
		fprintf(stderr, "growprof record: cannot find libgrowprof.so next to growprof; set GROWPROF_LIB\n");
		return 2;
	}
	char prog[PATH_MAX];
	if (which(argv[i], prog, sizeof prog)) {
		fprintf(stderr, "growprof record: %s: command not found\n", argv[i]);
		return 127;
	}
	if (is_static_elf(prog)) {
		fprintf(stderr, "growprof record: %s is statically linked: LD_PRELOAD cannot reach "
		        "its allocator, nothing would be recorded\n", prog);
		return 2;
	}

	char dir[PATH_MAX] = ".", pattern[PATH_MAX * 2];
	struct stat st;
	if (outopt && (stat(outopt, &st) == 0 && S_ISDIR(st.st_mode))) {
		snprintf(dir, sizeof dir, "%s", outopt);
		snprintf(pattern, sizeof pattern, "%s/growprof.%%e.%%p.zst", outopt);
	} else if (outopt) {
		snprintf(pattern, sizeof pattern, "%s", outopt);
		const char *slash = strrchr(outopt, '/');
		if (slash)
			snprintf(dir, sizeof dir, "%.*s", (int)(slash - outopt), outopt);
	} else {
		snprintf(pattern, sizeof pattern, "growprof.%%e.%%p.zst");
	}
	/* Children and exec'd images inherit the environment: they are all followed. */
	const char *old = getenv("LD_PRELOAD");
	char preload[PATH_MAX * 3];
	snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? " " : "", old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	setenv("GROWPROF_OUTPUT", pattern, 1);

	/* The traces already there are not this run's. */
	char **before = NULL;
	size_t nbefore = 0;
	DIR *d0 = opendir(dir);
	if (d0) {
		struct dirent *e;
		while ((e = readdir(d0))) {
			char **b = realloc(before, (nbefore + 1) * sizeof *b);
			if (!b)
				break;
			before = b;
			if (!(before[nbefore] = strdup(e->d_name)))
				break;
			nbefore++;
		}
		closedir(d0);
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "growprof record: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execv(prog, argv + i);
		fprintf(stderr, "growprof record: %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	/* Let the terminal's signals reach the child only; we wait for it to end. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Say where the traces went: files of this run in the output directory. */
	DIR *d = opendir(dir);
	int found = 0;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strncmp(e->d_name, "growprof.", 9) && !strstr(pattern, "%p"))
				continue;
			char p[PATH_MAX * 2];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			size_t n = strlen(e->d_name);
			if (n < 4 || strcmp(e->d_name + n - 4, ".zst"))
				continue;
			if (stat(p, &st) || !S_ISREG(st.st_mode))
				continue;
			int seen = 0;
			for (size_t k = 0; k < nbefore && !seen; k++)
				seen = strcmp(before[k], e->d_name) == 0;
			if (seen)
				continue;
			fprintf(stderr, "%s %s\n", found++ ? "                " : "growprof: trace", p);
			gp_silent_note_file(stderr, "growprof: note: ", p);
		}
		closedir(d);
	}
	for (size_t k = 0; k < nbefore; k++)
		free(before[k]);
	free(before);
	if (!found)
		fprintf(stderr, "growprof: no trace was written (see the messages above)\n");
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
