#!/usr/bin/env python3
"""Kill checks of growprof (issue 23): a process stopped by a signal keeps in its trace every
event older than ~100 ms, idle or busy, in one or several threads; every worker of a
terminated multiprocessing pool leaves its trace; trace files are private.

    check_kill.py (the arguments of check_process.py) --case CASE

Cases (added to those of check_process.py, whose helpers they use):
  kill-idle        pt-killgrow idle with 1 and 3 threads, killed 0.3 s after "ready" by
                   SIGTERM and by SIGKILL: kg_idle_grow's steps, grows, moves, bytes copied
                   and chains in the trace equal the program's truth, and the trace says
                   it was cut short with one chain still open per thread.
  kill-busy-bound  pt-killgrow busy and work (50 us of computing a step), with 1 and 3
                   threads, killed 0.3 s or 1.0 s after "ready" while reallocating: every
                   step the program made more than 0.1 s before the signal (its progress
                   file says how many) is in the trace.
  pool-terminate   CPython `with mp.Pool(2) as p: p.map(...)`, then one task per worker
                   that grows and sleeps until the end of the `with` terminates the pool
                   (SIGTERM); six runs (fork, and spawn): every worker has a readable, cut
                   short trace holding at least the realloc steps it made through ctypes
                   (the last ones 0.5 s before it was terminated).
  solo             the flusher thread never shows: a process whose main thread called
                   pthread_exit ends when its last thread does (status 0, complete trace
                   equal to counter.so and the truth), a parent sees one thread right
                   after fork (stdout as the plain run's), a fork child that closes every
                   descriptor before exec still finishes its trace (no message), and
                   `unshare -U` works.
  perms            trace files are 0600 under umask 022 and 077 (0400 under 0277), a
                   symlink at the trace's path is not followed (a new name is taken), an
                   existing file there is not touched.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_process as cp  # noqa: E402

MARGIN_NS = 100_000_000  # the loss allowed: events of the last ~100 ms


def wait_ready(p, what):
    line = b""
    deadline = time.monotonic() + 30
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            raise cp.Failure(f"{what}: the program did not print 'ready' within 30 s")
        ch = os.read(p.stdout.fileno(), 1)
        if not ch:
            raise cp.Failure(f"{what}: the program ended before 'ready' "
                             f"(status {p.wait()}); stderr:\n{cp.show(p.stderr.read())}")
        line += ch
    if line != b"ready\n":
        raise cp.Failure(f"{what}: the program printed {line!r}, expected 'ready'")


def killed(c, args, sig, wait, what):
    """Runs pt-killgrow ARGS under both preloads, sends sig `wait` s after 'ready'. Returns
    (the JSON report of its one trace, the text report, the output dir, pid, kill time
    in CLOCK_MONOTONIC ns)."""
    odir = c.newdir(what.replace(" ", "-"))
    p = subprocess.Popen([c.prog("killgrow")] + args, env=c.env(odir), cwd=odir,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_ready(p, what)
        time.sleep(wait)
        t_kill = time.monotonic_ns()
        p.send_signal(sig)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
    if rc != -sig:
        c.err(f"{what}: the program ended with {cp.status(rc)}, not by {sig.name}")
    if b"growprof" in err:
        c.err(f"{what}: growprof messages on stderr:\n{cp.show(err)}")
    traces, _, truths = c.scan(odir)
    f = c.one_trace(traces, p.pid, what)
    rep = c.report([f], what)
    c.complete(rep, what, want=False)
    txt = c.report([f], what, fmt="text")
    out = (txt.stdout + txt.stderr).decode("utf-8", "replace")
    if txt.returncode != 0 or f"{os.path.basename(f)} was cut short (ended by signal" not in out:
        c.err(f"{what}: `growprof report` (text) exited with {cp.status(txt.returncode)} "
              f"and has no line 'warning: {os.path.basename(f)} was cut short (ended by "
              f"signal, ...'; it printed:\n{cp.show(txt.stdout + txt.stderr, 1500)}")
    return rep, out, odir, p.pid, truths, t_kill


def site_sum(rep, func, key="steps"):
    return sum(int(s.get(key) or 0) for s in rep["sites"] if s.get("function") == func)


def case_kill_idle(c):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for n in (1, 3):
            what = f"kill-idle {sig.name} {n} thread{'s' if n > 1 else ''}"
            rep, out, _, pid, truths, _ = killed(c, ["idle", str(n)], sig, 0.3, what)
            _, t = c.truth(truths, "idle", what)
            want = t["functions"]["kg_idle_grow"]["steps"]
            if want != n * (4 * 249 + 4999):
                raise cp.Failure(f"{what}: the program's truth says {want} steps "
                                 f"(the target is broken)")
            # Everything was recorded 0.3 s before the signal: all of it is in the trace.
            c.functions_equal(rep, t, what)
            tr = rep["traces"][0]
            if tr.get("open_chains") != n:
                c.err(f"{what}: the trace says {tr.get('open_chains')!r} chains still open; "
                      f"the program left {n} (one 4,999-step buffer per thread)")
            if f"chains still open: {n})" not in out:
                c.err(f"{what}: the text report does not say 'chains still open: {n}'")
            c.info.append(f"{what}: {site_sum(rep, 'kg_idle_grow')} of {want} steps in "
                          f"the trace")


def progress(odir, pid, what):
    path = os.path.join(odir, f"progress.{pid}.txt")
    rows = []
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and line.endswith("\n"):  # the last may be cut
                    rows.append((int(parts[0]), int(parts[1])))
    except OSError as e:
        raise cp.Failure(f"{what}: cannot read the program's progress: {e}")
    if not rows:
        raise cp.Failure(f"{what}: the program wrote no progress")
    return rows


def case_kill_busy(c):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for mode, n, wait in (("busy", 1, 0.3), ("busy", 3, 1.0), ("work", 1, 1.0),
                              ("work", 3, 0.3)):
            what = f"kill-{mode} {sig.name} {n} thread{'s' if n > 1 else ''}"
            rep, _, odir, pid, _, t_kill = killed(c, [mode, str(n)], sig, wait, what)
            rows = progress(odir, pid, what)
            before = [s for t, s in rows if t <= t_kill - MARGIN_NS]
            if not before:
                raise cp.Failure(f"{what}: no progress line older than 0.1 s before the "
                                 f"signal (the target is broken)")
            want, last = before[-1], rows[-1][1]
            got = site_sum(rep, "kg_busy_grow")
            if got < want:
                c.err(f"{what}: the trace has {got} steps in kg_busy_grow; the program had "
                      f"made {want} of them 0.1 s before the signal ({want - got} lost)")
            c.info.append(f"{what}: {got} steps in the trace, {want} made up to 0.1 s "
                          f"before the signal, {last} at the last progress line")


POOL_PROG = r"""
import ctypes, multiprocessing as mp, os, sys, time
libc = ctypes.CDLL(None)
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
STEPS = 300
def grow():
    p = libc.realloc(None, 64)  # an allocation, not a step
    for k in range(STEPS):
        p = libc.realloc(p, 64 + 16 * (k + 1))
    libc.free(p)
def task(i):
    grow()
    time.sleep(0.05)
    return os.getpid()
def hang(i):  # grows, then sleeps until terminated
    grow()
    time.sleep(60)
if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    with mp.Pool(2) as p:
        pids = p.map(task, range(6), chunksize=1)
        p.map_async(hang, range(2), chunksize=1)
        time.sleep(0.6)  # each worker sits in a hang(): its steps are 0.5 s old
        workers = list(p._pool)
    for w in workers:
        w.join()
        print(w.pid, (pids.count(w.pid) + 1) * STEPS, w.exitcode)
    print("main", os.getpid())
"""


def case_pool_terminate(c):
    prog = os.path.join(c.tmp, "pool.py")
    with open(prog, "w", encoding="utf-8") as f:
        f.write(POOL_PROG)
    for run, method in enumerate(["fork"] * 4 + ["spawn"] * 2):
        what = f"pool-terminate run {run + 1} ({method})"
        odir = c.newdir(f"pool-{run + 1}")
        r = c.run([sys.executable, prog, method], c.env(odir, preload="growprof"), odir, what)
        lines = r.stdout.decode().split("\n")
        if r.returncode != 0 or len(lines) < 4 or not lines[2].startswith("main "):
            c.err(f"{what}: the program exited with {cp.status(r.returncode)}\n"
                  f"stdout:\n{cp.show(r.stdout)}\nstderr:\n{cp.show(r.stderr)}")
            continue
        workers = [tuple(int(x) for x in l.split()) for l in lines[:2]]
        main_pid = int(lines[2].split()[1])
        for pid, _, code in workers:
            if code != -signal.SIGTERM:
                raise cp.Failure(f"{what}: worker {pid} ended with {code}, not by the pool's "
                                 f"SIGTERM (the target is broken)")
        traces, _, _ = c.scan(odir)
        if main_pid not in traces:
            c.err(f"{what}: the pool's parent (pid {main_pid}) left no trace")
        for pid, steps, _ in workers:
            files = traces.get(pid)
            if not files:
                c.err(f"{what}: worker {pid} ({steps} ctypes steps, terminated) left no "
                      f"trace (traces of pids {sorted(traces)})")
                continue
            rep = c.report(files[-1:], f"{what} (worker {pid})")
            c.complete(rep, f"{what} (worker {pid})", want=False)
            got = rep["totals"].get("steps", 0)
            if got < steps:
                c.err(f"{what}: worker {pid}'s trace has {got} steps; it made {steps} "
                      f"through ctypes alone, 0.5 s or more before it was terminated")
        c.info.append(f"{what}: 2 workers terminated, each with its trace")


def case_perms(c):
    for umask, mode in ((0o022, 0o600), (0o077, 0o600), (0o277, 0o400)):
        what = f"perms umask {umask:03o}"
        odir = c.newdir(f"perms-{umask:03o}")
        r = c.run([c.prog("simple")], c.env(odir, preload="growprof"), odir, what,
                  preexec_fn=lambda u=umask: os.umask(u))
        traces, _, _ = c.scan(odir)
        files = [f for v in traces.values() for f in v]
        if r.returncode != 0 or len(files) != 1:
            c.err(f"{what}: exit {cp.status(r.returncode)}, traces {cp.names(files)}")
            continue
        got = os.stat(files[0]).st_mode & 0o777
        if got != mode:
            c.err(f"{what}: the trace is mode {got:03o}, expected {mode:03o}")
    for kind in ("symlink", "dangling symlink", "existing file"):
        what = f"perms {kind}"
        odir = c.newdir("perms-" + kind.replace(" ", "-"))
        fixed = os.path.join(odir, "trace.zst")
        target = os.path.join(odir, "target")
        if kind == "symlink":
            with open(target, "w") as f:
                f.write("precious\n")
        if kind == "existing file":
            with open(fixed, "w") as f:
                f.write("precious\n")
        else:
            os.symlink(target, fixed)
        r = c.run([c.prog("simple")], c.env(odir, preload="growprof",
                                             extra={"GROWPROF_OUTPUT": fixed}), odir, what)
        if r.returncode != 0:
            c.err(f"{what}: the program exited with {cp.status(r.returncode)}")
        if kind == "existing file":
            if open(fixed).read() != "precious\n":
                c.err(f"{what}: the existing file at the trace's path was overwritten")
        else:
            if not os.path.islink(fixed) or os.readlink(fixed) != target:
                c.err(f"{what}: the symlink at the trace's path was replaced")
            if kind == "symlink" and open(target).read() != "precious\n":
                c.err(f"{what}: the symlink was followed: its target was written")
            if kind == "dangling symlink" and os.path.lexists(target):
                c.err(f"{what}: the symlink was followed: its target was created")
        alt = os.path.join(odir, "trace.1.zst")
        if not os.path.isfile(alt) or os.path.islink(alt):
            c.err(f"{what}: no trace at {os.path.basename(alt)} (have: "
                  f"{sorted(os.listdir(odir))})")
            continue
        rep = c.report([alt], what)
        c.complete(rep, what)
        if os.stat(alt).st_mode & 0o777 != 0o600:
            c.err(f"{what}: {os.path.basename(alt)} is mode "
                  f"{os.stat(alt).st_mode & 0o777:03o}, expected 600")


def case_solo(c):
    # The flusher thread must not keep a process alive whose main thread called
    # pthread_exit, nor make it multithreaded for unshare(CLONE_NEWUSER).
    what = "solo mainexit"
    _, _, out = c.plain_and_profiled([c.prog("killgrow"), "mainexit"], what, expect_rc=0,
                                     timeout=30)
    traces, counts, truths = c.scan(out)
    pid, t = c.truth(truths, "mainexit", what)
    f = c.one_trace(traces, pid, what)
    rep = c.report([f], what)
    c.complete(rep, what)
    c.totals_equal(rep, c.counter_of(counts, pid, what), what)
    c.functions_equal(rep, t, what)
    what = "solo forkcount"
    plain, _, out = c.plain_and_profiled([c.prog("killgrow"), "forkcount"], what,
                                         expect_rc=0, timeout=30)
    if b"round 1: 1 thread(s) after fork" not in plain.stdout:
        raise cp.Failure(f"{what}: the plain run printed {plain.stdout!r} (target broken)")
    traces, counts, truths = c.scan(out)
    pid, t = c.truth(truths, "forkcount", what)
    rep = c.report(traces.get(pid, [])[-1:], what)
    c.complete(rep, what)
    c.totals_equal(rep, c.counter_of(counts, pid, what), what)
    c.functions_equal(rep, t, what)
    what = "solo closefds"
    _, _, out = c.plain_and_profiled([c.prog("killgrow"), "closefds"], what, expect_rc=0,
                                     timeout=30)
    traces, _, truths = c.scan(out)
    pid, t = c.truth(truths, "closefds-child", what)
    files = traces.get(pid, [])
    if len(files) != 2:  # its own until the exec, then true's
        c.err(f"{what}: the child (pid {pid}) should have written two traces, found "
              f"{cp.names(files)}")
    if files:
        rep = c.report(files[:1], what)
        c.complete(rep, what)
        c.functions_equal(rep, t, what)
    unshare = shutil.which("unshare")
    if not unshare:
        c.info.append("no unshare(1): the user namespace check is skipped")
        return
    what = "solo unshare -U"
    plain = c.run([unshare, "-U", "true"], c.env(c.tmp, preload="none"), c.tmp, what)
    if plain.returncode != 0:
        c.info.append(f"unshare -U fails here without the profiler: skipped")
        return
    odir = c.newdir("unshare")
    r = c.run([unshare, "-U", c.prog("simple")], c.env(odir, preload="growprof"), odir, what)
    if r.returncode != 0:
        c.err(f"{what}: `unshare -U pt-simple` exited with {cp.status(r.returncode)} under "
              f"the profiler, 0 without it\nstderr:\n{cp.show(r.stderr)}")
        return
    traces, _, truths = c.scan(odir)
    pid, t = c.truth(truths, "main", what)
    files = traces.get(pid, [])
    if len(files) != 2:  # unshare(1)'s own, then pt-simple's after its exec
        c.err(f"{what}: pid {pid} should have written two traces, found {cp.names(files)}")
    if not files:
        return
    rep = c.report(files[-1:], what)
    c.complete(rep, what)
    c.functions_equal(rep, t, what)


cp.CASES.update({
    "solo": case_solo,
    "kill-idle": case_kill_idle,
    "kill-busy-bound": case_kill_busy,
    "pool-terminate": case_pool_terminate,
    "perms": case_perms,
})

if __name__ == "__main__":
    sys.exit(cp.main(sys.argv[1:]))
