#!/usr/bin/env python3
"""growprof on real programs nobody here wrote.

    check_real.py --preload libgrowprof.so --counter counter.so --growprof growprof
                  --case python|perl|sqlite|jq|git|bash|gcc|make|threads [--keep]

For the case it writes the program's input into a fresh work directory, runs the program
there plainly, then again (in a fresh work directory of the same path, so that paths in the
output are the same) under LD_PRELOAD="counter.so libgrowprof.so" with
GROWPROF_OUTPUT=OUT/trace.%p.zst and GPCOUNT_OUTPUT=OUT/count.%p.json, and asserts:
  - the same stdout and exit status as the plain run (and the program's own success);
  - no growprof message on stderr;
  - every trace is read by `growprof report --format json` (exit 0, JSON) and is complete
    (nothing here is killed), and all the traces together make one report;
  - every process that counter.so counted has a trace, and the last trace of that pid
    (the highest .N suffix: the image that ended the process) has exactly counter.so's
    totals (allocs, frees, steps, failed, grows, shrinks, moves, remaps, bytes_copied,
    chains, max_chain_steps).
Processes with a trace but no count are those whose last image left with _exit (counter.so
writes at exit only): they are listed, not compared.
Exit status 0 if all holds, 1 otherwise, 77 (skip) if the program is not installed,
2 on usage errors.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "remaps",
              "bytes_copied", "chains", "max_chain_steps"]
TRACE_RE = re.compile(r"trace\.(\d+)(?:\.(\d+))?\.zst$")
COUNT_RE = re.compile(r"count\.(\d+)\.json$")
RUN_TIMEOUT = 240
SKIP = 77


class Failure(Exception):
    pass


# ---------------------------------------------------------------------- the programs
PYTHON_SCRIPT = r'''
import json, sys
rows = []
for i in range(30000):
    rows.append({"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 11)],
                 "score": (i * 37) % 1001 / 7.0})
index = {}
for r in rows:
    index.setdefault(r["tags"][0], []).append(r["id"])
text = json.dumps(rows)
back = json.loads(text)
assert back == rows
parts = []
for i in range(20000):
    parts.append(str(i * i))
s = "".join(parts)
acc = ""
for i in range(5000):
    acc += "x%d," % i
b = bytearray()
for i in range(100000):
    b.append(i & 0xff)
words = {}
for w in (s[i:i + 3] for i in range(0, len(s), 3)):
    words[w] = words.get(w, 0) + 1
print(len(rows), len(text), len(s), len(acc), len(b), sum(b))
print(sorted((k, len(v)) for k, v in index.items()))
print(len(words), max(words.values()))
print(json.dumps({"first": back[0], "last": back[-1]}, sort_keys=True))
'''

PERL_SCRIPT = r'''
use strict; use warnings;
my $s = "";
for my $i (1 .. 200000) { $s .= "line $i;"; }
my @a;
push @a, $_ * 3 for 1 .. 300000;
my %h;
for my $i (1 .. 50000) { $h{"k" . ($i % 997)} .= "v$i,"; }
my @big = map { [$_, "x" x ($_ % 50)] } 1 .. 20000;
my $joined = join(",", map { $_->[1] } @big);
my $total = 0; $total += $_ for @a;
my $longest = (sort { length($h{$b}) <=> length($h{$a}) || $a cmp $b } keys %h)[0];
print length($s), " ", scalar(@a), " ", $total, "\n";
print scalar(keys %h), " ", $longest, " ", length($h{$longest}), "\n";
print length($joined), "\n";
'''


def sqlite_input(work):
    with open(os.path.join(work, "load.sql"), "w") as f:
        f.write("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL);\n")
        f.write("BEGIN;\n")
        for i in range(50000):
            f.write(f"INSERT INTO t(k, name, v) VALUES ({i % 97}, 'name-{i}-{'z' * (i % 23)}',"
                    f" {i * 0.5});\n")
        f.write("COMMIT;\n")
        f.write("CREATE INDEX tk ON t(k);\n")
        f.write("SELECT k, count(*), sum(v), max(length(name)) FROM t GROUP BY k "
                "ORDER BY k LIMIT 12;\n")
        f.write("SELECT group_concat(name, '|') IS NOT NULL, count(DISTINCT k) FROM t;\n")
        f.write("SELECT substr(name, 1, 10), count(*) AS c FROM t GROUP BY substr(name, 1, 7) "
                "ORDER BY c DESC, 1 LIMIT 5;\n")


def jq_input(work):
    with open(os.path.join(work, "data.jsonl"), "w") as f:
        for i in range(20000):
            f.write(json.dumps({"id": i, "k": f"g{i % 13}", "name": f"n{i}",
                                "vals": list(range(i % 9)), "ok": i % 3 == 0}) + "\n")


BASH_SCRIPT = r'''
set -e
sq() { echo $(( $1 * $1 )); }
arr=()
for i in $(seq 1 300); do arr+=("item$i"); done
s=""
for i in $(seq 1 2000); do s="$s$i,"; done
echo "${#arr[@]} ${#s}"
total=0
for i in $(seq 1 40); do
  v=$(sq "$i")
  total=$((total + v))
done
echo "total $total"
seq 1 2000 | sort -rn | head -n 3 | tr '\n' ' '; echo
( for i in 1 2 3; do echo "sub $i"; done ) | while read -r a b; do echo "$b-$a"; done
for i in 1 2 3 4; do ( echo "bg $i" > "out.$i" ) & done
wait
cat out.1 out.2 out.3 out.4
printf '%s\n' "${arr[@]}" | grep -c 'item1'
echo "$s" | tr ',' '\n' | awk '{ n += $1 } END { print n }'
'''

C_SOURCE = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct v { int *p; size_t n, cap; };
static void push(struct v *v, int x) {
    if (v->n == v->cap) { v->cap = v->cap ? v->cap * 2 : 4; v->p = realloc(v->p, v->cap * sizeof *v->p); }
    v->p[v->n++] = x;
}
int main(void) {
    struct v v = {0};
    for (int i = 0; i < 1000; i++) push(&v, i * i);
    long s = 0;
    for (size_t i = 0; i < v.n; i++) s += v.p[i];
    printf("hello %ld\n", s);
    free(v.p);
    return 0;
}
'''

MAKEFILE = r'''
WORDS := $(foreach i,1 2 3 4 5 6 7 8 9 10,word$(i)-$(i)$(i)$(i))
LONG := $(foreach w,$(WORDS),$(WORDS))
FILES := a.txt b.txt c.txt

all: summary.txt
	@echo "words: $(words $(WORDS)) long: $(words $(LONG))"
	@cat summary.txt

%.txt: %.in
	@echo "make $@ from $<"
	@tr a-z A-Z < $< > $@

summary.txt: $(FILES)
	@cat $^ | sort > $@
	@echo "$(words $(shell seq 1 500)) numbers"

.PHONY: all
'''


def run_python(c):
    exe = "/usr/bin/python3"
    c.need(exe)
    c.file("script.py", PYTHON_SCRIPT)
    c.compare([exe, "script.py"], extra={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0",
                                         "PYTHONDONTWRITEBYTECODE": "1"})


def run_perl(c):
    exe = c.need("perl")
    c.file("script.pl", PERL_SCRIPT)
    c.compare([exe, "script.pl"], extra={"PERL_HASH_SEED": "0"})


def run_sqlite(c):
    exe = c.need("sqlite3")

    def prepare(work):
        sqlite_input(work)
    c.prepare = prepare
    c.compare([exe, "-batch", "db.sqlite", ".read load.sql"])


def run_jq(c):
    exe = c.need("jq")
    c.prepare = jq_input
    c.compare(["sh", "-c",
               f"'{exe}' -c 'select(.ok) | {{id, k, n: (.vals | length), s: (.name + \"!\")}}' "
               f"data.jsonl | tail -n 3 && "
               f"'{exe}' -s -c 'group_by(.k) | map({{k: .[0].k, n: length, "
               f"s: (map(.vals | add // 0) | add)}})' data.jsonl"])


def run_git(c):
    exe = c.need("git")

    def prepare(work):
        os.makedirs(os.path.join(work, "home"))
        for i in range(30):
            with open(os.path.join(work, f"file{i}.txt"), "w") as f:
                f.write("".join(f"line {j} of file {i}\n" for j in range(200 + i)))
    c.prepare = prepare
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A U Thor",
           "GIT_AUTHOR_EMAIL": "author@example.com", "GIT_COMMITTER_NAME": "C O Mitter",
           "GIT_COMMITTER_EMAIL": "committer@example.com",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z", "GIT_PAGER": "cat", "PAGER": "cat",
           "TZ": "UTC", "LC_ALL": "C"}
    g = f"'{exe}' -c init.defaultBranch=main -c gc.auto=0"
    script = (f"set -e; export HOME=\"$PWD/home\"; {g} init -q .; {g} add file*.txt; "
              f"{g} commit -q -m first; sed -i 's/line 1 /LINE 1 /' file3.txt; "
              f"{g} commit -q -a -m second; {g} log --stat --format='%H %s'; "
              f"{g} diff HEAD~1 --stat; {g} rev-list --count HEAD")
    c.compare(["sh", "-c", script], extra=env)


def run_bash(c):
    exe = c.need("bash")
    c.file("script.sh", BASH_SCRIPT)
    c.compare([exe, "script.sh"], extra={"LC_ALL": "C"})


def run_gcc(c):
    exe = c.need("gcc")
    c.file("hello.c", C_SOURCE)
    c.compare(["sh", "-c", f"'{exe}' -O2 -g -Wall -o hello hello.c && ./hello"])


def run_make(c):
    exe = c.need("make")

    def prepare(work):
        for n in "abc":
            with open(os.path.join(work, f"{n}.in"), "w") as f:
                f.write("".join(f"{n} line {i}\n" for i in range(50)))
    c.prepare = prepare
    c.file("Makefile", MAKEFILE)
    c.compare([exe, "-s", "--no-print-directory", "-f", "Makefile"], extra={"LC_ALL": "C"})


PYTHON_THREADS = r'''
import json, threading
def work(k):
    parts = [json.dumps({"k": k, "i": i, "l": list(range(i % 17))}) for i in range(20000)]
    b = bytearray()
    for x in parts:
        b += x.encode()
    return len(b)
res = [0] * 4
def run(k):
    res[k] = work(k)
ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(res)
'''


def run_threads(c):
    """Programs that grow buffers on several threads at once: each thread's records go
    to a buffer of its own, and blocks move between threads (sort's merge, xz's blocks)."""
    sort, xz, py = c.need("sort"), c.need("xz"), "/usr/bin/python3"
    c.need(py)

    def prepare(work):
        with open(os.path.join(work, "nums.txt"), "w") as f:
            f.write("".join(f"{(i * 7919) % 300007}\n" for i in range(300000)))
    c.prepare = prepare
    c.file("threads.py", PYTHON_THREADS)
    c.compare(["sh", "-c", f"'{sort}' -n --parallel=2 -S 8M nums.txt | tail -n 2 && "
               f"'{xz}' -T2 -6 -c nums.txt | '{xz}' -d -c | wc -l && '{py}' threads.py"],
              extra={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0",
                     "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C"})


CASES = {"python": run_python, "perl": run_perl, "sqlite": run_sqlite, "jq": run_jq,
         "git": run_git, "bash": run_bash, "gcc": run_gcc, "make": run_make,
         "threads": run_threads}


# ---------------------------------------------------------------------- the checks
class Skip(Exception):
    pass


class Real:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.work = os.path.join(tmp, "work")
        self.out = os.path.join(tmp, "out")
        self.files = {}
        self.prepare = None
        self.errors = []
        self.info = []

    def need(self, prog):
        path = shutil.which(prog) if not os.path.isabs(prog) else prog
        if not path or not os.access(path, os.X_OK):
            raise Skip(f"{prog} is not installed")
        return path

    def file(self, name, text):
        self.files[name] = text

    def fresh_work(self):
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        for name, text in self.files.items():
            with open(os.path.join(self.work, name), "w") as f:
                f.write(text)
        if self.prepare:
            self.prepare(self.work)

    def env(self, profiled, extra):
        env = dict(os.environ)
        for k in ("LD_PRELOAD", "GROWPROF_OUTPUT", "GROWPROF_DISABLE", "GROWPROF_DEPTH",
                  "GPCOUNT_OUTPUT", "MALLOC_PERTURB_", "MALLOC_CHECK_"):
            env.pop(k, None)
        for k, v in (extra or {}).items():
            env[k] = v
        if profiled:
            env["LD_PRELOAD"] = f"{self.args.counter} {self.args.preload}"
            env["GROWPROF_OUTPUT"] = os.path.join(self.out, "trace.%p.zst")
            env["GPCOUNT_OUTPUT"] = os.path.join(self.out, "count.%p.json")
        return env

    def run(self, cmd, env, cwd, what):
        try:
            return subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f"{what}: timed out after {RUN_TIMEOUT} s: {' '.join(cmd)}")
        except OSError as e:
            raise Failure(f"{what}: cannot run {cmd[0]}: {e}")

    def report(self, files, what):
        r = self.run([self.args.growprof, "report", "--format", "json"] + files,
                     self.env(False, None), self.tmp, what)
        if r.returncode != 0:
            self.errors.append(f"{what}: growprof report --format json exited with "
                               f"{r.returncode}\nstderr:\n{show(r.stderr)}")
            return None
        try:
            rep = json.loads(r.stdout)
        except json.JSONDecodeError as e:
            self.errors.append(f"{what}: growprof report printed no JSON: {e}")
            return None
        if not isinstance(rep, dict) or "totals" not in rep or "traces" not in rep:
            self.errors.append(f"{what}: the JSON report has no totals/traces")
            return None
        return rep

    def compare(self, cmd, extra=None):
        name = os.path.basename(cmd[0])
        # plain
        self.fresh_work()
        plain = self.run(cmd, self.env(False, extra), self.work, "plain run")
        if plain.returncode != 0:
            raise Failure(f"the plain run of {' '.join(cmd)} exited with {plain.returncode} "
                          f"(the test's own input is wrong)\nstdout:\n{show(plain.stdout)}\n"
                          f"stderr:\n{show(plain.stderr)}")
        # profiled
        self.fresh_work()
        os.makedirs(self.out)
        prof = self.run(cmd, self.env(True, extra), self.work, "profiled run")
        if prof.returncode != plain.returncode:
            self.errors.append(f"the profiled run exited with {prof.returncode}, the plain "
                               f"run with {plain.returncode}\nstderr:\n{show(prof.stderr)}")
        if prof.stdout != plain.stdout:
            self.errors.append("stdout differs from the plain run:\n--- plain\n"
                               f"{show(plain.stdout)}\n--- profiled\n{show(prof.stdout)}")
        gp = [l for l in prof.stderr.decode("utf-8", "replace").splitlines()
              if "growprof" in l or "counter.so" in l]
        if gp:
            self.errors.append("messages of the profiler on stderr:\n  " + "\n  ".join(gp[:10]))

        traces, counts = {}, {}
        for fn in sorted(os.listdir(self.out)):
            m = TRACE_RE.fullmatch(fn)
            if m:
                traces.setdefault(int(m.group(1)), []).append(
                    (int(m.group(2) or 0), os.path.join(self.out, fn)))
            m = COUNT_RE.fullmatch(fn)
            if m:
                with open(os.path.join(self.out, fn)) as f:
                    counts[int(m.group(1))] = json.load(f)
        traces = {p: [f for _, f in sorted(v)] for p, v in traces.items()}
        if not traces:
            raise Failure(f"no trace was written; files: {sorted(os.listdir(self.out))}")

        # every trace readable and complete
        for pid, files in sorted(traces.items()):
            for f in files:
                rep = self.report([f], os.path.basename(f))
                if rep is None:
                    continue
                for t in rep["traces"]:
                    if pid not in counts and f == files[-1] and t.get("cut_short") is True:
                        # Killed by a signal (e.g. SIGPIPE in `sort | head`): neither
                        # counter.so nor the preload got to finish; a readable, cut-short
                        # trace is what the SPEC promises then.
                        self.info.append(f"{os.path.basename(f)} ({t.get('exe')}): cut short, "
                                         "the process was killed (no count either)")
                        continue
                    if t.get("complete") is not True or t.get("cut_short") is not False:
                        self.errors.append(f"{os.path.basename(f)} ({t.get('exe')}) is not "
                                           f"complete: complete={t.get('complete')!r}, "
                                           f"cut_short={t.get('cut_short')!r}")
                if f == files[-1] and pid in counts:
                    rows = []
                    for k in TOTAL_KEYS:
                        g, w = rep["totals"].get(k), counts[pid].get(k)
                        if g != w:
                            rows.append([k, w, g, f"{g - w:+d}" if isinstance(g, int) and
                                         isinstance(w, int) else ""])
                    if rows:
                        exe = rep["traces"][0].get("exe") if rep["traces"] else "?"
                        self.errors.append(
                            f"pid {pid} ({exe}, {os.path.basename(f)}): report totals differ "
                            "from counter.so:\n" + table(rows, ["key", "counter", "report",
                                                                "diff"]))
        missing = sorted(set(counts) - set(traces))
        if missing:
            self.errors.append(f"processes counted by counter.so but with no trace: {missing}")
        uncounted = sorted(set(traces) - set(counts))
        allfiles = [f for v in traces.values() for f in v]
        rep = self.report(allfiles, "all traces together")
        steps = rep["totals"].get("steps") if rep else None
        self.info.append(f"{name}: {len(traces)} process(es), {len(allfiles)} trace(s), "
                         f"{len(counts)} compared with counter.so, {steps} steps in all"
                         + (f"; not counted (ended with _exit): pids {uncounted}"
                            if uncounted else ""))


def show(data, limit=3000):
    text = data.decode("utf-8", "replace")
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return text


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--counter", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    for name in ("preload", "counter", "growprof"):
        path = os.path.abspath(getattr(args, name))
        if not os.path.exists(path):
            ap.error(f"--{name} {path}: no such file")
        setattr(args, name, path)

    tmp = tempfile.mkdtemp(prefix=f"growprof-real-{args.case}-")
    c = Real(args, tmp)
    ok = False
    try:
        try:
            CASES[args.case](c)
        except Skip as e:
            print(f"SKIP real {args.case}: {e}")
            ok = True
            return SKIP
        except Failure as e:
            c.errors.append(str(e))
        if c.errors:
            print(f"FAIL real {args.case} ({len(c.errors)} problem(s)); files kept in {tmp}")
            for e in c.errors:
                print("- " + e.replace("\n", "\n  "))
            for i in c.info:
                print("  note: " + i)
            return 1
        ok = True
        print(f"OK real {args.case}")
        for i in c.info:
            print("  note: " + i)
        return 0
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif ok:
            print(f"files kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
