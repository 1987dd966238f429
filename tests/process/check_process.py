#!/usr/bin/env python3
"""Process robustness checks of growprof: fork, exec, vfork, posix_spawn, the ways a process
ends, constructors and destructors, SIGKILL, interval-timer signals, many threads, dlopen at
a reused address, an unwritable output, GROWPROF_DISABLE, errno and file descriptors.

    check_process.py --preload libgrowprof.so --counter counter.so --growprof growprof
                     --prog NAME PATH ... [--lib NAME PATH ...] --case CASE [--keep]

Each case runs one of the target programs of tests/process plainly and under
LD_PRELOAD="counter.so libgrowprof.so" (GROWPROF_OUTPUT=out/trace.%p.zst,
GPCOUNT_OUTPUT=out/count.%p.json, PT_DIR=out: the programs write their own truth there,
see proc.h), and asserts exactly what the contract (shared/SPEC.md) promises for it:
same stdout and exit status as the plain run, one trace per process image, complete unless
killed, `growprof report --format json` of the last trace of a pid has the totals counter.so
counted for that pid, and the sites of each of the program's functions add up to the
program's own truth.
Exit status 0 if all holds, 1 otherwise (with an account of every difference), 2 on usage
errors.
"""

import argparse
import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gptest import show  # noqa: E402

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "remaps",
              "bytes_copied", "chains", "max_chain_steps"]
STEP_KEYS = ["steps", "failed", "grows", "shrinks", "moves", "remaps", "bytes_copied",
             "chains", "max_chain_steps"]
SITE_KEYS = ["steps", "grows", "shrinks", "moves", "in_place", "remaps", "bytes_copied",
             "chains"]
RUN_TIMEOUT = 100
TRACE_RE = re.compile(r"trace\.(\d+)(?:\.(\d+))?\.zst$")
COUNT_RE = re.compile(r"count\.(\d+)\.json$")
TRUTH_RE = re.compile(r"truth\.(\d+)\.(.+)\.json$")


class Failure(Exception):
    """A problem after which the case cannot go on."""


class Case:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.errors = []
        self.info = []
        self.nrun = 0

    # ------------------------------------------------------------------ helpers
    def err(self, msg):
        self.errors.append(msg)

    def prog(self, name):
        try:
            return self.args.progs[name]
        except KeyError:
            raise Failure(f"no --prog {name} given")

    def lib(self, name):
        try:
            return self.args.libs[name]
        except KeyError:
            raise Failure(f"no --lib {name} given")

    def newdir(self, what):
        self.nrun += 1
        d = os.path.join(self.tmp, f"{self.nrun:02d}-{what}")
        os.makedirs(d)
        return d

    def env(self, outdir, preload="both", extra=None):
        env = dict(os.environ)
        for k in ("LD_PRELOAD", "GROWPROF_OUTPUT", "GROWPROF_DISABLE", "GROWPROF_DEPTH",
                  "GPCOUNT_OUTPUT", "GPTRUTH_OUTPUT", "GPTRUTH_LOG", "PT_DIR"):
            env.pop(k, None)
        env["PT_DIR"] = outdir
        if preload == "both":
            env["LD_PRELOAD"] = f"{self.args.counter} {self.args.preload}"
            env["GROWPROF_OUTPUT"] = os.path.join(outdir, "trace.%p.zst")
            env["GPCOUNT_OUTPUT"] = os.path.join(outdir, "count.%p.json")
        elif preload == "growprof":
            env["LD_PRELOAD"] = self.args.preload
            env["GROWPROF_OUTPUT"] = os.path.join(outdir, "trace.%p.zst")
        if extra:
            for k, v in extra.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
        return env

    def run(self, cmd, env, cwd, what, timeout=RUN_TIMEOUT, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        if "stdout" not in kw and "stderr" not in kw:
            kw["capture_output"] = True
        try:
            return subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            raise Failure(f"{what}: timed out after {timeout} s (hang?): {' '.join(cmd)}")
        except OSError as e:
            raise Failure(f"{what}: cannot run {cmd[0]}: {e}")

    def plain_and_profiled(self, cmd, what, preload="both", extra=None, timeout=RUN_TIMEOUT,
                           expect_rc=None, allow_growprof_stderr=False):
        """Runs cmd plainly and under the preload; checks status and stdout. Returns
        (plain, profiled, outdir)."""
        pdir = self.newdir(what + "-plain")
        plain = self.run(cmd, self.env(pdir, preload="none"), pdir, f"{what}: plain run",
                         timeout)
        if expect_rc is not None and plain.returncode != expect_rc:
            raise Failure(f"{what}: the plain run exited with {plain.returncode}, the program "
                          f"is meant to exit with {expect_rc} (the target itself is broken)\n"
                          f"stderr:\n{show(plain.stderr)}")
        odir = self.newdir(what)
        prof = self.run(cmd, self.env(odir, preload=preload, extra=extra), odir,
                        f"{what}: profiled run", timeout)
        if prof.returncode != plain.returncode:
            self.err(f"{what}: the profiled run exited with {status(prof.returncode)}, the "
                     f"plain run with {status(plain.returncode)}\n"
                     f"stderr of the profiled run:\n{show(prof.stderr)}")
        if prof.stdout != plain.stdout:
            self.err(f"{what}: stdout differs from the plain run:\n--- plain\n"
                     f"{show(plain.stdout)}\n--- profiled\n{show(prof.stdout)}")
        if not allow_growprof_stderr:
            warn = [l for l in prof.stderr.decode("utf-8", "replace").splitlines()
                    if "growprof" in l]
            if warn:
                self.err(f"{what}: the profiled run printed growprof messages on stderr:\n  "
                         + "\n  ".join(warn[:10]))
        return plain, prof, odir

    def report(self, files, what, fmt="json"):
        cmd = [self.args.growprof, "report", "--format", fmt] + list(files)
        r = self.run(cmd, self.env(self.tmp, preload="none"), self.tmp,
                     f"{what}: growprof report")
        if fmt != "json":
            return r
        if r.returncode != 0:
            raise Failure(f"{what}: `growprof report --format json {' '.join(names(files))}` "
                          f"exited with {status(r.returncode)}\nstderr:\n{show(r.stderr)}")
        try:
            rep = json.loads(r.stdout)
        except json.JSONDecodeError as e:
            raise Failure(f"{what}: growprof report --format json printed no JSON: {e}\n"
                          f"stdout:\n{show(r.stdout)}")
        for key in ("traces", "totals", "sites"):
            if key not in rep:
                raise Failure(f"{what}: the JSON report has no {key!r}")
        return rep

    def scan(self, outdir):
        """traces {pid: [paths, by suffix]}, counts {pid: dict}, truths {(pid, tag): dict}."""
        traces, counts, truths = {}, {}, {}
        for name in sorted(os.listdir(outdir)):
            path = os.path.join(outdir, name)
            m = TRACE_RE.fullmatch(name)
            if m:
                traces.setdefault(int(m.group(1)), []).append(
                    (int(m.group(2) or 0), path))
                continue
            m = COUNT_RE.fullmatch(name)
            if m:
                counts[int(m.group(1))] = load_json(path)
                continue
            m = TRUTH_RE.fullmatch(name)
            if m:
                truths[(int(m.group(1)), m.group(2))] = load_json(path)
        traces = {pid: [p for _, p in sorted(v)] for pid, v in traces.items()}
        return traces, counts, truths

    def truth(self, truths, tag, what):
        mine = [(pid, t) for (pid, tg), t in truths.items() if tg == tag]
        if len(mine) != 1:
            raise Failure(f"{what}: expected one truth file with tag {tag!r}, found "
                          f"{len(mine)} (did the program run to its end under the profiler?)")
        return mine[0]

    # ------------------------------------------------------------------ assertions
    def one_trace(self, traces, pid, what):
        files = traces.get(pid, [])
        if len(files) != 1:
            self.err(f"{what}: pid {pid} should have written exactly one trace, found "
                     f"{len(files)}: {names(files)}")
        if not files:
            raise Failure(f"{what}: no trace for pid {pid}")
        return files[-1]

    def complete(self, rep, what, want=True):
        for t in rep["traces"]:
            c, cs = t.get("complete"), t.get("cut_short")
            if want and (c is not True or cs is not False):
                self.err(f"{what}: trace {os.path.basename(str(t.get('file')))} should be "
                         f"complete (complete={c!r}, cut_short={cs!r})")
            if not want and (cs is not True or c is not False):
                self.err(f"{what}: trace {os.path.basename(str(t.get('file')))} should be "
                         f"cut short (complete={c!r}, cut_short={cs!r})")

    def totals_equal(self, rep, want, what, keys=TOTAL_KEYS, against="counter.so"):
        got = rep["totals"]
        rows = []
        for k in keys:
            g, w = got.get(k), want.get(k)
            if g != w:
                rows.append([k, w, "(missing)" if g is None else g,
                             f"{g - w:+d}" if isinstance(g, int) and isinstance(w, int)
                             else ""])
        if rows:
            self.err(f"{what}: report totals differ from {against}:\n"
                     + table(rows, ["key", against, "report", "diff"]))

    def functions_equal(self, rep, truth, what, keys=SITE_KEYS):
        sites = rep["sites"]
        site_names = sorted({str(s.get("function")) for s in sites})
        for func, want in sorted(truth["functions"].items()):
            mine = [s for s in sites if s.get("function") == func]
            rows = []
            for k in keys:
                got = sum(int(s.get(k) or 0) for s in mine)
                if got != want.get(k, 0):
                    rows.append([k, want.get(k, 0), got])
            if rows:
                self.err(f"{what}: function {func}: its {len(mine)} site(s) differ from the "
                         f"program's truth (sites are in: {', '.join(site_names) or 'none'}):\n"
                         + table(rows, ["key", "truth", "report"]))

    def trace_identity(self, rep, pid, ppid, what, exe_base=None):
        for t in rep["traces"]:
            if t.get("pid") != pid:
                self.err(f"{what}: trace says pid {t.get('pid')!r}, expected {pid}")
            if ppid is not None and t.get("ppid") != ppid:
                self.err(f"{what}: trace says ppid {t.get('ppid')!r}, expected {ppid}")
            if exe_base is not None and os.path.basename(str(t.get("exe"))) != exe_base:
                self.err(f"{what}: trace says exe {t.get('exe')!r}, expected .../{exe_base}")

    def counter_of(self, counts, pid, what):
        c = counts.get(pid)
        if c is None:
            raise Failure(f"{what}: counter.so wrote no count for pid {pid} "
                          f"(have: {sorted(counts)})")
        return c

    def last_vs_counter(self, traces, counts, pid, what):
        files = traces.get(pid)
        if not files:
            self.err(f"{what}: pid {pid} has a count from counter.so but no trace")
            return None
        rep = self.report([files[-1]], f"{what} (pid {pid})")
        self.complete(rep, f"{what} (pid {pid})")
        self.totals_equal(rep, counts[pid], f"{what} (pid {pid}, {os.path.basename(files[-1])})")
        return rep

    # ------------------------------------------------------------------ cases
    def case_fork(self):
        what = "fork"
        _, prof, out = self.plain_and_profiled([self.prog("fork")], what, expect_rc=0)
        traces, counts, truths = self.scan(out)
        ppid_, tp = self.truth(truths, "parent", what)
        cpid, tc = self.truth(truths, "child", what)
        gpid, tg = self.truth(truths, "grandchild", what)
        if tp["notes"].get("child_pid") != cpid or tc["notes"].get("grandchild_pid") != gpid:
            raise Failure(f"{what}: the truth files do not agree on the pids")
        if set(traces) != {ppid_, cpid, gpid}:
            self.err(f"{what}: traces were written for pids {sorted(traces)}, the processes "
                     f"were {sorted([ppid_, cpid, gpid])}")
        parents = {ppid_: None, cpid: ppid_, gpid: cpid}
        total = {k: 0 for k in TOTAL_KEYS}
        for pid, truth, role in ((ppid_, tp, "parent"), (cpid, tc, "child"),
                                 (gpid, tg, "grandchild")):
            w = f"{what}: {role} (pid {pid})"
            f = self.one_trace(traces, pid, w)
            rep = self.report([f], w)
            self.complete(rep, w)
            self.trace_identity(rep, pid, parents[pid], w)
            c = self.counter_of(counts, pid, w)
            self.totals_equal(rep, c, w)
            self.functions_equal(rep, truth, w)
            for k in TOTAL_KEYS:
                total[k] = max(total[k], c[k]) if k == "max_chain_steps" else total[k] + c[k]
        rep = self.report([p for v in traces.values() for p in v], f"{what}: all traces")
        self.totals_equal(rep, total, f"{what}: the three traces together")
        self.info.append(f"pids parent {ppid_}, child {cpid}, grandchild {gpid}")

    def case_fork_threads(self):
        what = "fork-threads"
        _, prof, out = self.plain_and_profiled([self.prog("forkmt")], what, expect_rc=0,
                                               timeout=110)
        traces, counts, truths = self.scan(out)
        ppid_, tp = self.truth(truths, "parent", what)
        children = {pid: t for (pid, tag), t in truths.items() if tag == "child"}
        nforks = tp["notes"].get("forks")
        if len(children) != nforks:
            self.err(f"{what}: {len(children)} children wrote their truth, the parent "
                     f"forked {nforks}")
        extra = set(traces) - set(children) - {ppid_}
        if extra:
            self.err(f"{what}: traces of unknown pids {sorted(extra)}")
        f = self.one_trace(traces, ppid_, f"{what}: parent")
        rep = self.report([f], f"{what}: parent")
        self.complete(rep, f"{what}: parent")
        self.totals_equal(rep, self.counter_of(counts, ppid_, what), f"{what}: parent")
        self.functions_equal(rep, tp, f"{what}: parent")
        for pid, t in sorted(children.items()):
            w = f"{what}: child #{t['notes'].get('index')} (pid {pid})"
            files = traces.get(pid, [])
            if len(files) != 1:
                self.err(f"{w}: expected one trace, found {names(files)}")
                if not files:
                    continue
            rep = self.report(files[-1:], w)
            self.complete(rep, w)
            self.trace_identity(rep, pid, ppid_, w)
            self.functions_equal(rep, t, w)
            if t["notes"].get("exit_kind") == 0:
                self.totals_equal(rep, self.counter_of(counts, pid, w), w)
            else:  # _exit: counter.so writes nothing; the child's own reallocs are all
                self.totals_equal(rep, t["totals"], w + " (left with _exit)", STEP_KEYS,
                                  against="truth")
        self.info.append(f"{nforks} forks; {tp['notes'].get('worker_rounds')} worker rounds")
        # A deadlock between fork() and the other threads may need a preempted thread at
        # the wrong moment: more runs, two at a time (more threads than cores).
        self.stress([self.prog("forkmt"), "1.5"], what, runs=8, together=2, timeout=40)

    def case_exec(self):
        what = "exec"
        prog = self.prog("exec")
        _, prof, out = self.plain_and_profiled([prog, "0"], what, expect_rc=0)
        traces, counts, truths = self.scan(out)
        p0, t0 = self.truth(truths, "0", what)
        p1, t1 = self.truth(truths, "1", what)
        if p0 != p1:
            raise Failure(f"{what}: the two stages ran as pids {p0} and {p1} (exec changed "
                          f"the pid?)")
        pid = p0
        files = traces.get(pid, [])
        want = [os.path.join(out, n) for n in
                (f"trace.{pid}.zst", f"trace.{pid}.1.zst", f"trace.{pid}.2.zst")]
        if files != want:
            self.err(f"{what}: pid {pid} (3 images: pt-exec 0, pt-exec 1, true) should have "
                     f"written {names(want)}, found {names(files)}")
        if set(traces) != {pid}:
            self.err(f"{what}: traces of other pids: {sorted(set(traces) - {pid})}")
        if len(files) < 3:
            raise Failure(f"{what}: cannot go on with {len(files)} trace(s)")
        exe = os.path.basename(prog)
        for i, (f, truth) in enumerate(((files[0], t0), (files[1], t1))):
            w = f"{what}: image {i} (pt-exec {i}, {os.path.basename(f)})"
            rep = self.report([f], w)
            self.complete(rep, w)
            self.trace_identity(rep, pid, None, w, exe_base=exe)
            cmdline = str(rep["traces"][0].get("cmdline"))
            if not cmdline.rstrip().endswith(str(i)):
                self.err(f"{w}: cmdline {cmdline!r} should end with its stage {i}")
            self.functions_equal(rep, truth, w)
            self.totals_equal(rep, truth["totals"], w, STEP_KEYS, against="truth")
        w = f"{what}: image 2 (/bin/true, {os.path.basename(files[2])})"
        rep = self.report([files[2]], w)
        self.complete(rep, w)
        self.trace_identity(rep, pid, None, w, exe_base="true")
        self.totals_equal(rep, self.counter_of(counts, pid, w), w)
        rep = self.report(files, f"{what}: the three traces together")
        if len(rep["traces"]) != 3:
            self.err(f"{what}: the report of the three traces lists {len(rep['traces'])}")

    def case_exec_failed(self):
        what = "exec-failed"
        _, prof, out = self.plain_and_profiled([self.prog("exec"), "f"], what, expect_rc=0)
        traces, counts, truths = self.scan(out)
        pid, t = self.truth(truths, "f", what)
        files = traces.get(pid, [])
        if not files or set(traces) != {pid}:
            raise Failure(f"{what}: traces {dict((p, names(v)) for p, v in traces.items())}, "
                          f"expected those of pid {pid}")
        rep = self.report(files, what)
        self.complete(rep, what)
        # One process image from start to end: its trace(s) together hold what it did.
        self.totals_equal(rep, self.counter_of(counts, pid, what),
                          f"{what}: {names(files)} together")
        self.functions_equal(rep, t, what)
        self.info.append(f"a failed exec left {len(files)} trace file(s): {names(files)}")

    def case_vfork_spawn(self):
        what = "vfork-spawn"
        _, prof, out = self.plain_and_profiled([self.prog("spawn")], what, expect_rc=0)
        traces, counts, truths = self.scan(out)
        pid, t = self.truth(truths, "parent", what)
        notes = t["notes"]
        w = f"{what}: parent (pid {pid})"
        f = self.one_trace(traces, pid, w)
        rep = self.report([f], w)
        self.complete(rep, w)
        self.trace_identity(rep, pid, None, w, exe_base=os.path.basename(self.prog("spawn")))
        self.totals_equal(rep, self.counter_of(counts, pid, w), w)
        self.functions_equal(rep, t, w)
        known = {pid}
        for key in ("vfork_exec_pid", "spawn_pid", "spawnp_pid"):
            c = notes.get(key)
            known.add(c)
            w = f"{what}: {key[:-4]} child (pid {c}, /bin/true)"
            files = traces.get(c, [])
            if [os.path.basename(x) for x in files] != [f"trace.{c}.zst"]:
                self.err(f"{w}: expected only trace.{c}.zst (the exec'd /bin/true's), found "
                         f"{names(files)}")
            if not files:
                continue
            rep = self.report(files[-1:], w)
            self.complete(rep, w)
            self.trace_identity(rep, c, pid, w, exe_base="true")
            if c in counts:
                self.totals_equal(rep, counts[c], w)
            else:
                self.err(f"{w}: counter.so wrote no count")
        for key in ("vfork_exit_pid", "vfork_fail_pid"):
            c = notes.get(key)
            known.add(c)
            if c in traces:
                self.err(f"{what}: the vfork child that never exec'd (pid {c}, {key}) wrote "
                         f"a trace: {names(traces[c])}")
        extra = set(traces) - known
        if extra:
            self.err(f"{what}: traces of unknown pids: {sorted(extra)}")

    def stress(self, cmd, what, runs, together, timeout):
        """Runs cmd under the preloads `runs` times, `together` at a time: each must exit 0
        within `timeout` s. A hung run is reported with its threads' stacks (gdb)."""
        done = 0
        while done < runs:
            batch = []
            for _ in range(min(together, runs - done)):
                d = self.newdir(what + "-stress")
                p = subprocess.Popen(cmd, env=self.env(d), cwd=d, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
                batch.append(p)
            deadline = time.monotonic() + timeout
            for p in batch:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.err(f"{what}: a profiled run of {' '.join(cmd)} hung (still running "
                             f"after {timeout} s; it takes about 2 s):\n" + stacks(p.pid))
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait()
                err = p.stderr.read()
                p.stderr.close()
                if p.returncode != 0 and p.returncode != -signal.SIGKILL:
                    self.err(f"{what}: a profiled run of {' '.join(cmd)} exited with "
                             f"{status(p.returncode)}\nstderr:\n{show(err)}")
            done += len(batch)
            if self.errors:
                return

    EXIT_MODES = [("return", 6, True), ("exit-main", 7, True), ("_exit-main", 3, False),
                  ("_exit-thread", 4, False), ("exit-thread", 5, True),
                  ("_exit-busy", 4, None), ("exit-busy", 5, None)]

    def case_exits(self):
        for mode, rc, counted in self.EXIT_MODES:
            what = f"exits {mode}"
            _, prof, out = self.plain_and_profiled([self.prog("exits"), mode], what,
                                                   expect_rc=rc)
            traces, counts, truths = self.scan(out)
            pid, t = self.truth(truths, mode, what)
            f = self.one_trace(traces, pid, what)
            rep = self.report([f], what)
            self.complete(rep, what)
            self.functions_equal(rep, t, what)
            if counted:
                self.totals_equal(rep, self.counter_of(counts, pid, what), what)
            elif counted is False:
                self.totals_equal(rep, t["totals"], what, STEP_KEYS, against="truth")

    def case_ctor_dtor(self):
        what = "ctor-dtor"
        _, prof, out = self.plain_and_profiled([self.prog("ctor")], what, expect_rc=0)
        traces, counts, truths = self.scan(out)
        pid, t = self.truth(truths, "main", what)
        f = self.one_trace(traces, pid, what)
        rep = self.report([f], what)
        self.complete(rep, what)
        self.totals_equal(rep, self.counter_of(counts, pid, what), what)
        self.functions_equal(rep, t, what)
        for fn in ("ctor_grow", "atexit_grow", "atexit_grow2", "dtor_grow"):
            if not any(s.get("function") == fn for s in rep["sites"]):
                self.err(f"{what}: no site in {fn}: its reallocs were not recorded")

    def killed_run(self, mode, what, wait_after_ready):
        odir = self.newdir(what)
        env = self.env(odir)
        p = subprocess.Popen([self.prog("killme"), mode], env=env, cwd=odir,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            line = b""
            deadline = time.monotonic() + 30
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                    raise Failure(f"{what}: the program did not print 'ready' within 30 s")
                ch = os.read(p.stdout.fileno(), 1)
                if not ch:
                    raise Failure(f"{what}: the program ended before 'ready' "
                                  f"(status {p.wait()}); stderr:\n{show(p.stderr.read())}")
                line += ch
            if line != b"ready\n":
                raise Failure(f"{what}: the program printed {line!r}, expected 'ready'")
            time.sleep(wait_after_ready)
            p.send_signal(signal.SIGKILL)
            rc = p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
        if rc != -signal.SIGKILL:
            self.err(f"{what}: the program ended with {status(rc)}, not by SIGKILL")
        if b"growprof" in err:
            self.err(f"{what}: growprof messages on stderr:\n{show(err)}")
        traces, counts, truths = self.scan(odir)
        f = self.one_trace(traces, p.pid, what)
        rep = self.report([f], what)
        self.complete(rep, what, want=False)
        txt = self.report([f], what, fmt="text")
        if txt.returncode != 0:
            self.err(f"{what}: `growprof report {os.path.basename(f)}` (text) exited with "
                     f"{status(txt.returncode)}\nstderr:\n{show(txt.stderr)}")
        both = (txt.stdout + txt.stderr).decode("utf-8", "replace")
        if not re.search(r"warning: .*" + re.escape(os.path.basename(f)) + r".* cut short",
                         both):
            self.err(f"{what}: the text report has no line 'warning: {f} was cut short'; "
                     f"it printed:\n{show(txt.stdout + txt.stderr, 1500)}")
        return rep, truths

    def case_kill(self):
        what = "kill"
        rep, truths = self.killed_run("sleep", what, 1.2)
        _, t = self.truth(truths, "sleep", what)
        got = sum(int(s.get("steps") or 0) for s in rep["sites"]
                  if s.get("function") == "kill_grow")
        want = t["functions"]["kill_grow"]["steps"]
        # Every step was made 1.2 s before the kill: the trace has them all (SPEC: all but
        # the last ~100 ms), no more, no fewer.
        if got != want:
            self.err(f"{what}: the trace has {got} steps in kill_grow, the program made {want}")
        self.info.append(f"{got} of {want} steps made before 'ready' are in the killed trace")

    def case_kill_flush(self):
        # The preload's flusher thread moves what was recorded to the file every 50 ms:
        # a process killed while idle, 1.5 s after its last step, keeps every step, exact.
        what = "kill-flush"
        rep, truths = self.killed_run("sleep", what, 1.5)
        _, t = self.truth(truths, "sleep", what)
        got = sum(int(s.get("steps") or 0) for s in rep["sites"]
                  if s.get("function") == "kill_grow")
        want = t["functions"]["kill_grow"]["steps"]
        if got != want:
            self.err(f"{what}: the trace has {got} steps in kill_grow, the program made "
                     f"{want}: all of them made 1.5 s before the kill")
        self.info.append(f"{got} of {want} steps made before 'ready' are in the killed trace")

    def case_kill_busy(self):
        what = "kill-busy"
        rep, _ = self.killed_run("busy", what, 1.0)
        got = rep["totals"].get("steps", 0)
        if not got:
            self.err(f"{what}: the trace of a process that reallocated for 1.7 s in three "
                     f"threads before it was killed has no steps")
        self.info.append(f"killed while busy: {got} steps readable")

    def case_signals(self):
        for mode in ("prof-restart", "real-norestart", "both"):
            what = f"signals {mode}"
            _, prof, out = self.plain_and_profiled([self.prog("signals"), mode], what,
                                                   expect_rc=0, timeout=70)
            traces, counts, truths = self.scan(out)
            pid, t = self.truth(truths, mode, what)
            n = t["notes"]
            if mode != "real-norestart" and not n.get("sigprof"):
                self.err(f"{what}: no SIGPROF arrived during the profiled run")
            if mode != "prof-restart" and not n.get("sigalrm"):
                self.err(f"{what}: no SIGALRM arrived during the profiled run")
            f = self.one_trace(traces, pid, what)
            rep = self.report([f], what)
            self.complete(rep, what)
            self.totals_equal(rep, self.counter_of(counts, pid, what), what)
            self.functions_equal(rep, t, what)
            self.info.append(f"{mode}: {n.get('sigprof')} SIGPROF, {n.get('sigalrm')} SIGALRM")

    def main_matches(self, argv, what, timeout=None):
        """Run argv plainly and profiled (exit 0); its main process's trace must be complete,
        with totals equal to counter.so's and functions equal to the truth tagged main.
        @return (report, truth)."""
        _, _, out = self.plain_and_profiled(argv, what, expect_rc=0, timeout=timeout)
        traces, counts, truths = self.scan(out)
        pid, t = self.truth(truths, "main", what)
        rep = self.report([self.one_trace(traces, pid, what)], what)
        self.complete(rep, what)
        self.totals_equal(rep, self.counter_of(counts, pid, what), what)
        self.functions_equal(rep, t, what)
        return rep, t

    def case_threads300(self):
        what = "threads300"
        _, t = self.main_matches([self.prog("threads300")], what, timeout=110)
        if t["functions"]["thread_grow"]["steps"] != t["notes"]["expect_steps"]:
            self.err(f"{what}: the program's own count of steps is off (target broken?)")

    def case_cancel(self):
        self.main_matches([self.prog("cancel")], "cancel", timeout=110)

    def case_dlopen_reuse(self):
        what = "dlopen-reuse"
        liba, libb = self.lib("dlra"), self.lib("dlrb")
        rep, t = self.main_matches([self.prog("dlreuse"), liba, libb], what)
        # The case is about a second library at the first one's addresses: prove the program
        # got there (its own dlr_site says where each site function was) before asserting.
        n = t["notes"]
        sa, sb, sa2 = n.get("site_a", 0), n.get("site_b", 0), n.get("site_a2", 0)
        if not sa or sa != sb or sa != sa2:
            self.err(f"{what}: the site functions were at a {sa:#x}, b {sb:#x}, a again "
                     f"{sa2:#x}: libptdlrb.so did not reuse libptdlra.so's addresses: this run "
                     "does not test the reuse it is named for")
            return
        self.info.append(f"libptdlrb.so's dlr_grow_b ran at {sb:#x}, where libptdlra.so's "
                         "dlr_grow_a ran before and after it")
        for fn, lib in (("dlr_grow_a", liba), ("dlr_grow_b", libb)):
            mine = [s for s in rep["sites"] if s.get("function") == fn]
            if not mine:
                self.err(f"{what}: no site symbolized to {fn} (sites: "
                         f"{sorted({str(s.get('function')) for s in rep['sites']})})")
            for s in mine:
                if os.path.basename(str(s.get("module"))) != os.path.basename(lib):
                    self.err(f"{what}: a site of {fn} has module {s.get('module')!r}, "
                             f"expected {os.path.basename(lib)}")
                if s.get("file") is None or s.get("line") is None:
                    self.err(f"{what}: a site of {fn} has no file/line ({s.get('file')!r}:"
                             f"{s.get('line')!r})")

    def case_unwritable(self):
        what = "unwritable"
        cmd = [self.prog("simple"), "3"]
        extra = {"GROWPROF_OUTPUT": "/nonexistent/dir/x.zst"}
        plain, prof, out = self.plain_and_profiled(cmd, what, preload="growprof", extra=extra,
                                                   expect_rc=3, allow_growprof_stderr=True)
        lines = prof.stderr.decode("utf-8", "replace").splitlines()
        gp = [l for l in lines if l.startswith("growprof:")]
        if len(gp) != 1 or len(lines) != 1:
            self.err(f"{what}: stderr should be exactly one 'growprof:' warning line; it is "
                     f"{len(lines)} line(s):\n{show(prof.stderr)}")
        else:
            self.info.append(f"warning: {gp[0]}")
        if os.path.exists("/nonexistent"):
            self.err(f"{what}: /nonexistent exists")

    def case_disable(self):
        extra = {"GROWPROF_DISABLE": "1"}
        for name, args, rc in (("simple", [], 0), ("fork", [], 0), ("exec", ["0"], 0),
                               ("spawn", [], 0)):
            what = f"disable {name}"
            _, prof, out = self.plain_and_profiled([self.prog(name)] + args, what,
                                                   preload="growprof", extra=extra,
                                                   expect_rc=rc)
            traces, _, _ = self.scan(out)
            if traces:
                self.err(f"{what}: GROWPROF_DISABLE=1 but traces were written: "
                         f"{[names(v) for v in traces.values()]}")
        # the default output name, in the current directory
        what = "disable (default output)"
        cwd = self.newdir("disable-default")
        env = self.env(cwd, preload="growprof", extra={"GROWPROF_DISABLE": "1",
                                                      "GROWPROF_OUTPUT": None,
                                                      "PT_DIR": None})
        r = self.run([self.prog("fork")], env, cwd, what)
        if r.returncode != 0:
            self.err(f"{what}: exited with {status(r.returncode)}")
        left = os.listdir(cwd)
        if left:
            self.err(f"{what}: files appeared in the current directory: {sorted(left)}")

    def case_errno(self):
        what = "errno"
        plain, prof, out = self.plain_and_profiled([self.prog("errno")], what,
                                                   preload="growprof", expect_rc=0)
        if b"pt-errno" in prof.stderr:
            self.err(f"{what}: errno changed under the profiler:\n{show(prof.stderr)}")
        traces, _, _ = self.scan(out)
        if len(traces) != 2:
            self.err(f"{what}: expected 2 traces (main and its fork child), found "
                     f"{len(traces)}")
        for pid, files in traces.items():
            rep = self.report(files, f"{what} (pid {pid})")
            self.complete(rep, f"{what} (pid {pid})")

    def case_fds(self):
        for mode in ("close12", "close012", "closed"):
            what = f"fds {mode}"
            results = {}
            for kind in ("none", "both"):
                d = self.newdir(f"fds-{mode}-{kind}")
                target = os.path.join(d, "program-output.txt")
                pre = None
                if mode == "closed":
                    def pre():
                        for fd in (0, 1, 2):
                            os.close(fd)
                r = self.run([self.prog("fds"), mode, target], self.env(d, preload=kind), d,
                             f"{what} ({'plain' if kind == 'none' else 'profiled'})",
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=pre)
                content = open(target, "rb").read() if os.path.exists(target) else None
                results[kind] = (r.returncode, content, d)
            (prc, pc, _), (rc, c, d) = results["none"], results["both"]
            if prc != 0:
                raise Failure(f"{what}: the plain run exited with {status(prc)} "
                              f"(target broken); its file: {pc!r}")
            if rc != prc or c != pc:
                self.err(f"{what}: under the profiler the program exited with {status(rc)} "
                         f"and wrote {c!r}; without it: {status(prc)}, {pc!r}")
            traces, counts, truths = self.scan(d)
            if not truths:
                self.err(f"{what}: the profiled run wrote no truth")
                continue
            (pid, _), t = next(iter(truths.items()))
            f = self.one_trace(traces, pid, what)
            rep = self.report([f], what)
            self.complete(rep, what)
            self.totals_equal(rep, self.counter_of(counts, pid, what), what)
            self.functions_equal(rep, t, what)


CASES = {
    "fork": Case.case_fork,
    "fork-threads": Case.case_fork_threads,
    "exec": Case.case_exec,
    "exec-failed": Case.case_exec_failed,
    "vfork-spawn": Case.case_vfork_spawn,
    "exits": Case.case_exits,
    "ctor-dtor": Case.case_ctor_dtor,
    "kill": Case.case_kill,
    "kill-flush": Case.case_kill_flush,
    "kill-busy": Case.case_kill_busy,
    "signals": Case.case_signals,
    "threads300": Case.case_threads300,
    "cancel": Case.case_cancel,
    "dlopen-reuse": Case.case_dlopen_reuse,
    "unwritable": Case.case_unwritable,
    "disable": Case.case_disable,
    "errno": Case.case_errno,
    "fds": Case.case_fds,
}


# ---------------------------------------------------------------------- small things



def status(rc):
    if rc is not None and rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"status {rc}"


def stacks(pid):
    """The stacks of the threads of pid and of its children, from gdb (if there is one)."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "  (no gdb to show the stacks)"
    pids = [pid]
    try:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, timeout=10)
        pids += [int(x) for x in kids.stdout.split()]
    except (OSError, subprocess.TimeoutExpired, ValueError):
        pass
    out = []
    for p in pids:
        try:
            r = subprocess.run([gdb, "-p", str(p), "-batch", "-ex", "thread apply all bt"],
                               capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            out.append(f"  process {p}: gdb failed")
            continue
        lines = [l for l in r.stdout.decode("utf-8", "replace").splitlines()
                 if l.startswith("#") or l.startswith("Thread")]
        out.append(f"  process {p}:\n    " + "\n    ".join(lines[:80]))
    return "\n".join(out)


def names(files):
    return [os.path.basename(f) for f in files]


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise Failure(f"cannot read {path}: {e}")


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--counter", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--prog", nargs=2, action="append", default=[], metavar=("NAME", "PATH"))
    ap.add_argument("--lib", nargs=2, action="append", default=[], metavar=("NAME", "PATH"))
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    for name in ("preload", "counter", "growprof"):
        path = os.path.abspath(getattr(args, name))
        if not os.path.exists(path):
            ap.error(f"--{name} {path}: no such file")
        setattr(args, name, path)
    args.progs = {n: os.path.abspath(p) for n, p in args.prog}
    args.libs = {n: os.path.abspath(p) for n, p in args.lib}
    return args


def main(argv):
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix=f"growprof-process-{args.case}-")
    case = Case(args, tmp)
    ok = False
    try:
        try:
            CASES[args.case](case)
        except Failure as e:
            case.errors.append(str(e))
        if case.errors:
            print(f"FAIL process {args.case} ({len(case.errors)} problem(s)); files kept in "
                  f"{tmp}")
            for e in case.errors:
                print("- " + e.replace("\n", "\n  "))
            for i in case.info:
                print("  note: " + i)
            return 1
        ok = True
        print(f"OK process {args.case}")
        for i in case.info:
            print("  note: " + i)
        return 0
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif ok:
            print(f"files kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
