/*
 * record.c - growprof record: run a program and every process it starts with the preload,
 * into one run folder, and say in a few lines what the run found.
 */
#define _GNU_SOURCE
#include "cmds.h"
#include "run.h"
#include "view.h"
#include "silent.h"

#include <ctype.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char record_help[] =
	"usage: growprof record [-o DIR] -- PROG [ARGS...]\n"
	"\n"
	"Run PROG with libgrowprof.so preloaded (added in front of any LD_PRELOAD already set).\n"
	"PROG and every process it starts (shells, env, exec'd images) write their trace into\n"
	"one run folder, ./growprof.PROG.PID/ by default (never one that exists). At the end a\n"
	"summary of at most 6 lines on stderr: the run folder, the processes traced and how many\n"
	"grew, the top hotspot, the command to see more. Then growprof exits with PROG's exit\n"
	"status, or dies of the signal that killed it.\n"
	"\n"
	"  -o DIR      the run folder: created with its missing parents (mode 0700), or an\n"
	"              existing empty folder; anything else is refused before PROG starts\n"
	"  -h, --help  this help\n"
	"\n"
	"Then: growprof report DIR (also check, diff). The library is found next to growprof\n"
	"(build tree or installed); GROWPROF_LIB overrides.\n";

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

/* Strip trailing slashes (but keep "/"). */
static void trim_slashes(char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
}

/*
 * -o DIR: create it and its parents, or take it if it is an empty folder. Anything else
 * would mix two runs or write where the user did not mean to: refuse, before the program
 * runs. @return 0, 1 if we created it, or -1 with the reason printed.
 */
static int take_folder(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "growprof record: %s exists and is not a folder: -o names the run "
			        "folder\n", dir);
			return -1;
		}
		DIR *d = opendir(dir);
		if (!d) {
			fprintf(stderr, "growprof record: cannot use %s as the run folder: %s\n", dir,
			        strerror(errno));
			return -1;
		}
		struct dirent *e;
		int empty = 1;
		while (empty && (e = readdir(d)))
			empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
		closedir(d);
		if (!empty) {
			fprintf(stderr, "growprof record: %s is not empty: a run folder holds one run "
			        "(give a new folder to -o)\n", dir);
			return -1;
		}
		if (access(dir, W_OK | X_OK)) {
			fprintf(stderr, "growprof record: cannot write in %s: %s\n", dir, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (gp_run_mkdirs(dir)) {
		fprintf(stderr, "growprof record: cannot create the run folder %s: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	return 1;
}

/*
 * The default run folder, ./growprof.EXE.PID (PID the program's), never one that exists:
 * .1, .2... are added. Into out. @return 0, or -1 with the reason printed.
 */
static int default_folder(const char *prog, pid_t pid, char *out, size_t cap)
{
	const char *b = strrchr(prog, '/');
	b = b ? b + 1 : prog;
	char exe[128];
	size_t k = 0;
	for (; *b && k + 1 < sizeof exe; b++) /* a tame folder name */
		exe[k++] = (isalnum((unsigned char)*b) || strchr("._+-", *b)) ? *b : '_';
	exe[k] = 0;
	for (unsigned attempt = 0; attempt < 1000; attempt++) {
		if (attempt)
			snprintf(out, cap, "growprof.%s.%ld.%u", exe, (long)pid, attempt);
		else
			snprintf(out, cap, "growprof.%s.%ld", exe, (long)pid);
		if (mkdir(out, 0700) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	fprintf(stderr, "growprof record: cannot create the run folder ./%s: %s\n", out,
	        strerror(errno));
	return -1;
}

/* GROWPROF_OUTPUT for the run folder: its absolute path (children may change directory),
 * '%' escaped for the preload's pattern, then the trace name pattern. */
static int output_pattern(const char *dir, char *out, size_t cap)
{
	char abs[PATH_MAX];
	if (!realpath(dir, abs))
		return -1;
	size_t n = 0;
	for (const char *p = abs; *p && n + 2 < cap; p++) {
		if (*p == '%')
			out[n++] = '%';
		out[n++] = *p;
	}
	out[n] = 0;
	return snprintf(out + n, cap - n, "/growprof.%%e.%%p.zst") >= (int)(cap - n) ? -1 : 0;
}

/* A path as the user would type it again: single-quoted when the shell would split it. */
static const char *shell_word(const char *s, char *buf, size_t cap)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                    "._+-/=:,@") == strlen(s))
		return s;
	size_t n = 0;
	buf[n++] = '\'';
	for (; *s && n + 5 < cap; s++) {
		if (*s == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n++] = '\'';
	buf[n] = 0;
	return buf;
}

/*
 * The summary: at most 6 lines on stderr. Read the run as report would, so what it says is
 * what `growprof report DIR` shows first.
 */
static void summary(const char *dir, int created)
{
	char shown[PATH_MAX + 8], q[PATH_MAX * 4 + 8];
	snprintf(shown, sizeof shown, "%s%s%s", dir[0] == '/' || !strncmp(dir, "./", 2) ||
	         !strncmp(dir, "../", 3) ? "" : "./", dir, strcmp(dir, "/") ? "/" : "");
	struct gp_view v;
	if (gp_view_init(&v)) {
		fprintf(stderr, "growprof: run in %s (out of memory for its summary)\n", shown);
		return;
	}
	v.progress = 0;
	char err[1024];
	char *inputs[] = { (char *)dir };
	if (gp_run_load(&v, inputs, 1, 1, err, sizeof err)) {
		if (created && rmdir(dir) == 0) /* nothing to keep: leave no empty folder behind */
			fprintf(stderr, "growprof: no trace was written (see the messages above)\n");
		else
			fprintf(stderr, "growprof: run in %s: %s\n", shown, err);
		gp_view_release(&v);
		return;
	}
	const struct gp_agg *a = &v.agg;
	size_t grew = 0;
	char names[160] = "";
	size_t len = 0;
	for (size_t i = 0; i < a->ntraces; i++) {
		if (!gp_run_trace_grew(&v, i))
			continue;
		const char *exe = a->traces[i].exe ? strrchr(a->traces[i].exe, '/') : NULL;
		exe = exe ? exe + 1 : a->traces[i].exe ? a->traces[i].exe : "?";
		if (grew < 3 && len < sizeof names)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s[%llu]",
			                        grew ? ", " : "", exe, (unsigned long long)a->traces[i].pid);
		else if (grew == 3 && len < sizeof names)
			len += (size_t)snprintf(names + len, sizeof names - len, ", ...");
		grew++;
	}
	fprintf(stderr, "growprof: run in %s: %zu process%s traced, ", shown, a->ntraces,
	        a->ntraces == 1 ? "" : "es");
	if (grew)
		fprintf(stderr, "%zu grew (%s)\n", grew, names);
	else
		fprintf(stderr, "none grew\n");
	gp_silent_note(stderr, "growprof: note: ", a); /* a statically linked allocator */
	size_t nrows = 0;
	struct gp_row *rows = gp_view_rows_all(&v, 0, GP_SORT_COPIED, &nrows);
	if (rows && nrows) {
		const struct gp_row *r = &rows[0];
		const struct gp_vframe *w = &r->site->where;
		char b[32];
		fprintf(stderr, "growprof: top hotspot: %s%s", r->kind == GP_KIND_RELOCATION ?
		        "[relocation] " : "", w->function ? w->function : "??");
		if (w->file)
			fprintf(stderr, " (%s:%d)", strrchr(w->file, '/') ? strrchr(w->file, '/') + 1 :
			        w->file, w->line);
		else if (w->module)
			fprintf(stderr, " (%s+0x%llx)", strrchr(w->module, '/') ?
			        strrchr(w->module, '/') + 1 : w->module, (unsigned long long)w->addr);
		fprintf(stderr, ": copied %s, amplification %.2fx\n",
		        gp_fmt_bytes(b, sizeof b, (double)r->st->bytes_copied), r->amplification);
	} else {
		fprintf(stderr, "growprof: no growth: no block was resized or relocated\n");
	}
	free(rows);
	size_t cut = 0;
	for (size_t i = 0; i < a->ntraces; i++)
		cut += a->traces[i].cut_short && !gp_run_trace_damaged(&v, i);
	if (v.run.nnotes)
		fprintf(stderr, "growprof: %zu trace%s damaged, read up to the damage: %s\n",
		        v.run.nnotes, v.run.nnotes == 1 ? "" : "s", v.run.notes[0]);
	else if (cut)
		fprintf(stderr, "growprof: %zu trace%s cut short (a process was killed before it "
		        "finished writing)\n", cut, cut == 1 ? "" : "s");
	fprintf(stderr, "growprof: see more: growprof report %s\n", shell_word(dir, q, sizeof q));
	gp_view_release(&v);
}

/* End as the program did: its exit status, or its signal (without a core of our own). */
static int pass_on(int status)
{
	if (!WIFSIGNALED(status))
		return WEXITSTATUS(status);
	int sig = WTERMSIG(status);
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	fflush(NULL);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig; /* a signal that does not kill (SIGCHLD...): say it the shell's way */
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
	if (outopt && !*outopt)
		return gp_die_usage("record", "-o wants a folder");
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

	char dir[PATH_MAX];
	int created = 0;
	if (outopt) {
		if (strlen(outopt) >= sizeof dir) {
			fprintf(stderr, "growprof record: -o: the path is too long\n");
			return 2;
		}
		snprintf(dir, sizeof dir, "%s", outopt);
		trim_slashes(dir);
		if ((created = take_folder(dir)) < 0)
			return 2;
	}
	/*
	 * The default folder is named after the program's pid, known only once forked: the
	 * child waits on a pipe for its GROWPROF_OUTPUT (or for the pipe to close, when the
	 * folder cannot be made) and only then execs the program.
	 */
	int go[2];
	if (pipe2(go, O_CLOEXEC)) {
		fprintf(stderr, "growprof record: pipe: %s\n", strerror(errno));
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "growprof record: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		close(go[1]);
		char pattern[PATH_MAX * 2 + 64];
		size_t n = 0;
		ssize_t r;
		while (n + 1 < sizeof pattern &&
		       (r = read(go[0], pattern + n, sizeof pattern - 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				_exit(127);
			n += (size_t)r;
		}
		if (n == 0)
			_exit(127); /* no run folder: the program must not run */
		pattern[n] = 0;
		/* Children and exec'd images inherit the environment: they are all followed. */
		const char *old = getenv("LD_PRELOAD");
		char preload[PATH_MAX * 3];
		snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? " " : "", old ? old : "");
		setenv("LD_PRELOAD", preload, 1);
		setenv("GROWPROF_OUTPUT", pattern, 1);
		execv(prog, argv + i);
		fprintf(stderr, "growprof record: %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(go[0]);
	char pattern[PATH_MAX * 2 + 64];
	int ok = 1;
	if (!outopt) {
		ok = default_folder(argv[i], pid, dir, sizeof dir) == 0;
		created = 1;
	}
	if (ok && output_pattern(dir, pattern, sizeof pattern)) {
		fprintf(stderr, "growprof record: %s: %s\n", dir, strerror(errno));
		if (created)
			rmdir(dir);
		ok = 0;
	}
	if (ok && write(go[1], pattern, strlen(pattern)) != (ssize_t)strlen(pattern))
		ok = 0;
	close(go[1]);
	/* Let the terminal's signals reach the child only; we wait for it to end. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!ok)
		return 2;
	summary(dir, created);
	return pass_on(status);
}
