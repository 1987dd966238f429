#!/usr/bin/env python3
"""growprof benchmark: the cost of profiling, next to heaptrack's.

    python3 bench/run.py [--runs N] [--quick] [--build DIR] [--only W1,W2] [--json FILE]
                         [--no-heaptrack] [--keep DIR] [--perf]

For each workload it runs, alternating, N times each:
    plain      the program as is
    growprof   LD_PRELOAD=<build>/preload/libgrowprof.so, GROWPROF_OUTPUT in a scratch dir
    heaptrack  heaptrack -o FILE cmd... (the whole launcher script, its interpreter and
               compressor included)
and measures each run as the CPU time (user + sys) of every process and thread of it, from
wait4() of the child and of every orphan it leaves behind (bench/runstat.c, a small child
subreaper, so heaptrack's interpreter, which outlives the launcher script, is counted too),
its wall time, its peak RSS (ru_maxrss) and the bytes of the traces it wrote. Then it times
`growprof report` on each growprof trace (CPU, wall, peak RSS, and the events it read). It
prints medians and ratios; it asserts nothing about time. It checks that every growprof run
printed exactly what the plain run printed.

Stdlib only. See bench/README.md.
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading

import redis_bench  # the redis-server workload (bench/redis_bench.py)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = os.path.join(BENCH, "workloads")
MIB = 1024 * 1024

# Targets of the issue.
CPU_TARGET = {"synth": 1.5, "python": 1.15, "sqlite": 1.15}
RSS_FACTOR, RSS_SLACK = 1.1, 16 * MIB


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Running one command and measuring all of it


RUNSTAT = None  # the measuring helper, bench/runstat.c, built by main()


class Result:
    __slots__ = ("cpu", "user", "sys", "wall", "maxrss", "rc", "stdout", "stderr", "procs",
                 "events")

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("stdout", "stderr")}


def run_measured(argv, env, cwd, out_path, err_path, timeout, child_env=None):
    """Run argv to completion, with every descendant, and measure it.

    The measuring is done by bench/runstat.c, forked from here: it forks and execs argv,
    is a child subreaper, and reaps the child and every orphan it leaves (heaptrack_interpret
    outlives the heaptrack script). CPU = the sum of their wait4() user + sys (each covers
    the descendants it waited for itself); wall = until the last of them exits; peak RSS =
    the largest ru_maxrss (bytes). A helper, not wait4() here: a child forked from Python
    inherits Python's resident set, and Linux keeps that high-water mark across exec.
    child_env: variables set for argv only, not for the helper (LD_PRELOAD)."""
    res_path = out_path + ".runstat"
    opts = []
    for k, v in (child_env or {}).items():
        opts += ["-e", f"{k}={v}"]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen([RUNSTAT] + opts + [res_path] + list(argv), env=env, cwd=cwd,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True)
    killer = threading.Timer(timeout, lambda: _killpg(p.pid))
    killer.start()
    try:
        p.wait()
    finally:
        killer.cancel()
    r = Result()
    try:
        with open(res_path) as f:
            rc, user, sys_, wall, maxrss, procs = f.read().split()
        os.unlink(res_path)
    except (OSError, ValueError):
        rc, user, sys_, wall, maxrss, procs = 125, 0, 0, 0, 0, 0
    r.user, r.sys, r.wall = float(user), float(sys_), float(wall)
    r.cpu = r.user + r.sys
    r.maxrss = int(maxrss) * 1024
    r.rc = int(rc) if p.returncode == 0 else 125
    r.procs = int(procs)
    r.events = None
    with open(out_path, "rb") as f:
        r.stdout = f.read()
    with open(err_path, "rb") as f:
        r.stderr = f.read()
    return r


def _killpg(pid):
    log(f"  timeout: killing process group {pid}")
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def dir_bytes(d):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(d, "*")) if os.path.isfile(f))


# ---------------------------------------------------------------------------------------------
# Building


def sh(argv, **kw):
    log("$ " + " ".join(argv))
    return subprocess.run(argv, **kw)


def build_growprof(build):
    """meson setup (if needed) + ninja of the preload and the viewer. Returns (so, viewer);
    either may be None if it could not be built."""
    if not shutil.which("meson") or not shutil.which("ninja"):
        deps = os.path.join(ROOT, "scripts", "deps.sh")
        if os.path.exists(deps):
            sh(["bash", deps])
    if not os.path.exists(os.path.join(build, "build.ninja")):
        r = sh(["meson", "setup", build, "-Dtests=false"], cwd=ROOT, stdout=sys.stderr)
        if r.returncode != 0:
            sys.exit("run.py: meson setup failed")
    so = os.path.join(build, "preload", "libgrowprof.so")
    viewer = os.path.join(build, "viewer", "growprof")
    got = []
    for target in ("preload/libgrowprof.so", "viewer/growprof"):
        r = sh(["ninja", "-C", build, target], stdout=sys.stderr)
        path = os.path.join(build, target)
        if r.returncode != 0:
            log(f"run.py: NOTE: ninja {target} failed" +
                (" (using the previous build)" if os.path.exists(path) else ""))
        got.append(path if os.path.exists(path) else None)
    return got[0], got[1]


def build_c(work, name, extra=()):
    """gcc -O2 bench/NAME.c into the scratch dir."""
    exe = os.path.join(work, name)
    r = sh(["gcc", "-O2", "-g", *extra, "-o", exe, os.path.join(BENCH, name + ".c")])
    if r.returncode != 0:
        sys.exit(f"run.py: cannot build bench/{name}.c")
    return exe


def find_heaptrack(allow_install):
    ht = shutil.which("heaptrack")
    if ht or not allow_install:
        return ht, None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "heaptrack is not installed and cannot be installed here (not root / no apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = sh(["apt-get", "install", "-y", "-qq", "heaptrack"], env=env, stdout=sys.stderr)
    if r.returncode != 0:
        sh(["apt-get", "update", "-qq"], env=env, stdout=sys.stderr)
        r = sh(["apt-get", "install", "-y", "-qq", "heaptrack"], env=env, stdout=sys.stderr)
    ht = shutil.which("heaptrack")
    return ht, None if ht else "apt-get install heaptrack failed: heaptrack columns skipped"


# ---------------------------------------------------------------------------------------------
# Workloads


SIZES = {  # synth rounds per thread, python records, sqlite rows
    "full": (3_000_000, 120_000, 60_000),
    "quick": (200_000, 8_000, 5_000),
    "perf": (1_000_000, 20_000, 20_000),  # a few seconds under perf --call-graph dwarf
}


WORKLOAD_NAMES = ("synth-1t", "synth-2t", "python", "sqlite", "redis")
REDIS_REQUESTS = {"full": 200_000, "quick": 20_000}  # redis-benchmark -n (redis_bench.py)


def workloads(synth, size):
    """name, kind (the target's key), argv, extra env. size: a key of SIZES."""
    n_synth, n_py, n_sql = SIZES[size]
    py = "/usr/bin/python3"
    sq = "/usr/bin/sqlite3"
    w = [
        ("synth-1t", "synth", [synth, "1", str(n_synth)], {}),
        ("synth-2t", "synth", [synth, "2", str(n_synth)], {}),
        ("python", "python", [py, os.path.join(WORKLOADS, "pywork.py"), str(n_py)],
         {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}),
        ("sqlite", "sqlite", [sq, ":memory:", f".parameter set @rows {n_sql}",
                              ".read " + os.path.join(WORKLOADS, "sqlite_insert.sql")], {}),
    ]
    return w


# ---------------------------------------------------------------------------------------------
# Measuring


def base_env():
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("GROWPROF_") and not k.startswith("PYTHON")}
    env["LC_ALL"] = "C"
    return env


def report_events(path):
    """allocs + frees + steps, from the first totals line of a `growprof report`."""
    try:
        with open(path, errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return None
    m = re.search(r"allocs ([\d,]+), frees ([\d,]+), steps ([\d,]+)", head)
    return sum(int(g.replace(",", "")) for g in m.groups()) if m else None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def bench_workload(name, kind, argv, extra, args, so, viewer, heaptrack, work):
    env0 = base_env()
    env0.update(extra)
    wdir = os.path.join(work, name)
    os.makedirs(wdir)
    cwd = os.path.join(wdir, "cwd")  # the workload's scratch (sqlite writes a file there)
    os.makedirs(cwd)

    def modes_argv(mode, i):
        """argv, the variables for the program only, the run's directory."""
        out = os.path.join(wdir, f"{mode}.{i}")
        os.makedirs(out)
        if mode == "plain":
            return argv, {}, out
        if mode == "growprof":
            return argv, {"LD_PRELOAD": so,
                          "GROWPROF_OUTPUT": os.path.join(out, "growprof.%e.%p.zst")}, out
        return [heaptrack, "-o", os.path.join(out, "heaptrack.%p")] + argv, {}, out

    modes = ["plain", "growprof"] + (["heaptrack"] if heaptrack else [])
    res = {m: [] for m in modes}
    traces = {m: [] for m in modes}
    reports = []
    notes = []

    # Warm-up (page cache, the reference output): not counted.
    a, e, o = modes_argv("plain", "warm")
    ref = run_measured(a, env0, cwd, os.path.join(o, "stdout"), os.path.join(o, "stderr"),
                       args.timeout, e)
    if ref.rc != 0:
        notes.append(f"plain warm-up exited {ref.rc}: {ref.stderr[-300:].decode(errors='replace')}")
    log(f"[{name}] warm-up: cpu {ref.cpu:.2f}s wall {ref.wall:.2f}s")

    for i in range(args.runs):
        # Alternate, and rotate the order each round so drift hits every mode alike.
        order = modes[i % len(modes):] + modes[:i % len(modes)]
        for mode in order:
            a, e, o = modes_argv(mode, i)
            r = run_measured(a, env0, cwd, os.path.join(o, "stdout"), os.path.join(o, "stderr"),
                             args.timeout, e)
            res[mode].append(r)
            tb = dir_bytes(o) - len(r.stdout) - len(r.stderr)
            traces[mode].append(tb)
            log(f"[{name}] run {i + 1}/{args.runs} {mode:9s} cpu {r.cpu:7.2f}s "
                f"wall {r.wall:7.2f}s rss {r.maxrss / MIB:7.1f} MiB trace {tb / MIB:8.2f} MiB"
                + (f" rc={r.rc}" if r.rc else ""))
            if r.rc != 0:
                notes.append(f"{mode} run {i + 1} exited {r.rc}: "
                             + r.stderr[-300:].decode(errors="replace").strip())
            if mode == "plain" and r.stdout != ref.stdout:
                notes.append(f"plain run {i + 1}: stdout differs from the warm-up's "
                             "(the workload is not deterministic)")
            if mode == "growprof":
                if r.stdout != ref.stdout:
                    notes.append(f"MISMATCH: growprof run {i + 1}: stdout differs from the plain "
                                 f"run's ({len(r.stdout)} vs {len(ref.stdout)} bytes)")
                if r.stderr != ref.stderr:
                    notes.append(f"growprof run {i + 1}: stderr differs from the plain run's: "
                                 + r.stderr[-300:].decode(errors="replace").strip())
                files = sorted(glob.glob(os.path.join(o, "growprof.*")))
                if not files:
                    notes.append(f"growprof run {i + 1}: no trace written")
                elif viewer:
                    ro = os.path.join(o, "report")
                    os.makedirs(ro)
                    rr = run_measured([viewer, "report"] + files, base_env(), ro,
                                      os.path.join(ro, "stdout"), os.path.join(ro, "stderr"),
                                      args.timeout)
                    reports.append(rr)
                    rr.events = report_events(os.path.join(ro, "stdout"))
                    log(f"[{name}] run {i + 1}/{args.runs} report    cpu {rr.cpu:7.2f}s "
                        f"wall {rr.wall:7.2f}s rss {rr.maxrss / MIB:7.1f} MiB"
                        + (f" rc={rr.rc}" if rr.rc else ""))
                    if rr.rc != 0:
                        notes.append(f"growprof report (run {i + 1}) exited {rr.rc}: "
                                     + rr.stderr[-300:].decode(errors="replace").strip())
                    if i == args.runs - 1 and args.keep:
                        shutil.copy(os.path.join(ro, "stdout"),
                                    os.path.join(args.keep, f"{name}.report.txt"))
                if args.keep and i == args.runs - 1:
                    for f in files:
                        shutil.copy(f, os.path.join(args.keep, f"{name}.{os.path.basename(f)}"))
            # Traces can be large: keep only their sizes.
            for f in glob.glob(os.path.join(o, "growprof.*")) + glob.glob(
                    os.path.join(o, "heaptrack.*")):
                os.unlink(f)

    def paired(mode, field):
        if mode not in res:
            return None
        rs = [getattr(b, field) / getattr(a, field)
              for a, b in zip(res["plain"], res[mode]) if getattr(a, field) > 0]
        return median(rs)

    def med(mode, field):
        return median([getattr(r, field) for r in res.get(mode, [])])

    row = {
        "workload": name, "kind": kind, "argv": argv, "runs": args.runs,
        "cpu_plain": med("plain", "cpu"), "cpu_growprof": med("growprof", "cpu"),
        "cpu_heaptrack": med("heaptrack", "cpu"),
        "cpu_ratio_growprof": paired("growprof", "cpu"),
        "cpu_ratio_heaptrack": paired("heaptrack", "cpu"),
        "wall_plain": med("plain", "wall"), "wall_growprof": med("growprof", "wall"),
        "wall_heaptrack": med("heaptrack", "wall"),
        "wall_ratio_growprof": paired("growprof", "wall"),
        "wall_ratio_heaptrack": paired("heaptrack", "wall"),
        "rss_plain": med("plain", "maxrss"), "rss_growprof": med("growprof", "maxrss"),
        "rss_heaptrack": med("heaptrack", "maxrss"),
        "trace_growprof": median(traces["growprof"]),
        "trace_heaptrack": median(traces["heaptrack"]) if heaptrack else None,
        "report_cpu": median([r.cpu for r in reports]),
        "report_wall": median([r.wall for r in reports]),
        "report_rss": median([r.maxrss for r in reports]),
        "report_events": median([r.events for r in reports]),
        "cpu_target": CPU_TARGET[kind],
        "notes": notes,
        "raw": {m: [r.as_dict() for r in rs] for m, rs in res.items()},
        "raw_trace_bytes": traces,
        "raw_report": [r.as_dict() for r in reports],
    }
    return row


# ---------------------------------------------------------------------------------------------
# Output


def fx(x, nd=2, suffix=""):
    return "-" if x is None else f"{x:.{nd}f}{suffix}"


def miss(value, limit):
    """'ok', or 'MISS +N%' by how much value exceeds limit."""
    if value is None or limit is None:
        return "-"
    if value <= limit:
        return "ok"
    return f"MISS +{(value / limit - 1) * 100:.0f}%"


def human(n):
    if n is None:
        return "-"
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.1f} KiB"


def table(headers, rows):
    w = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(cells)) + " |"
    out = [line(headers), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def render(rows, meta):
    s = []
    s.append(f"growprof benchmark, {meta['date']}")
    s.append(f"machine: {meta['nproc']} cpus, {meta['cpu']}, kernel {meta['kernel']}")
    s.append(f"growprof: commit {meta['commit']}, {meta['so']}")
    s.append(f"runs: {meta['runs']} of each mode per workload, alternating"
             + (" (QUICK: small sizes)" if meta["quick"] else ""))
    s.append("sizes: synth {} rounds per thread, python {} records, sqlite {} rows".format(
        *SIZES["quick" if meta["quick"] else "full"]))
    s.append("")
    s.append("CPU = user+sys of every process and thread of the run (wait4 of the child and of "
             "its orphans); x = median of the per-round ratios to the plain run of that round.")
    s.append("")
    cpu_rows = []
    for r in rows:
        g = r["cpu_ratio_growprof"]
        cpu_rows.append([
            r["workload"], fx(r["cpu_plain"], 2, " s"), fx(g, 2, "x"),
            f"<= {r['cpu_target']}x", miss(g, r["cpu_target"]),
            fx(r["cpu_ratio_heaptrack"], 2, "x"),
            fx(r["wall_plain"], 2, " s"), fx(r["wall_ratio_growprof"], 2, "x"),
            fx(r["wall_ratio_heaptrack"], 2, "x"),
        ])
    s.append(table(["workload", "CPU plain", "CPU growprof", "target", "verdict",
                    "CPU heaptrack", "wall plain", "wall growprof", "wall heaptrack"], cpu_rows))
    s.append("")
    mem_rows = []
    for r in rows:
        budget = r["rss_plain"] * RSS_FACTOR + RSS_SLACK if r["rss_plain"] else None
        tg, th = r["trace_growprof"], r["trace_heaptrack"]
        mem_rows.append([
            r["workload"], human(r["rss_plain"]), human(r["rss_growprof"]), human(budget),
            miss(r["rss_growprof"], budget), human(r["rss_heaptrack"]),
            human(tg), human(th), fx(tg / th if tg is not None and th else None, 2, "x"),
            miss(tg, th),
        ])
    s.append(table(["workload", "RSS plain", "RSS growprof", "budget 1.1x+16MiB", "verdict",
                    "RSS heaptrack*", "trace growprof", "trace heaptrack", "trace ratio",
                    "verdict"], mem_rows))
    s.append("* heaptrack's peak RSS is the largest of its processes (the program or "
             "heaptrack_interpret), for information.")
    s.append("")
    rep_rows = []
    for r in rows:
        rep_rows.append([
            r["workload"], fx(r["report_cpu"], 2, " s"), fx(r["cpu_growprof"], 2, " s"),
            miss(r["report_cpu"], r["cpu_growprof"]),
            fx(r["report_wall"], 2, " s"), fx(r["wall_growprof"], 2, " s"),
            miss(r["report_wall"], r["wall_growprof"]),
            human(r["report_rss"]),
            f"{r['report_events']:,}" if r["report_events"] is not None else "-",
        ])
    s.append(table(["workload", "report CPU", "profiled run CPU", "verdict", "report wall",
                    "profiled run wall", "verdict", "report RSS", "events read"], rep_rows))
    s.append("")
    notes = [(r["workload"], n) for r in rows for n in r["notes"]] + \
            [(None, n) for n in meta["notes"]]
    mism = [n for _, n in notes if n.startswith("MISMATCH")]
    s.append("output check: " + ("every growprof run printed exactly what the plain run printed"
                                 if not mism else f"{len(mism)} MISMATCH(ES), see notes"))
    if notes:
        s.append("notes:")
        for w, n in notes:
            s.append(f"  - {w + ': ' if w else ''}{n}")
    return "\n".join(s)


def machine_meta(args, so):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        commit = "?"
    st = os.stat(so)
    with open(so, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "commit": commit,
        "so": f"{so} (built {datetime.datetime.fromtimestamp(st.st_mtime):%Y-%m-%d %H:%M:%S}, "
              f"sha256 {digest}; the build is of the working tree, which may differ from the "
              "commit)",
        "runs": args.runs, "quick": args.quick, "notes": [],
    }


# ---------------------------------------------------------------------------------------------
# perf


def perf_profile(name, argv, extra, so, keep, work):
    """One more growprof run under perf record, at the "perf" size of SIZES (DWARF call
    graphs of a full-size run take gigabytes); prints where the time goes: by object, by symbol, and
    inclusive (children) by symbol."""
    if not shutil.which("perf"):
        log("run.py: perf not found: --perf skipped")
        return
    out = os.path.join(keep or work, f"{name}.perf.data")
    d = tempfile.mkdtemp(dir=work)
    env = base_env()
    env.update(extra)
    # perf itself must not be preloaded: env(1) sets the preload for the program only.
    envargs = ["env", f"LD_PRELOAD={so}",
               "GROWPROF_OUTPUT=" + os.path.join(d, "growprof.%e.%p.zst")]
    sh(["perf", "record", "-q", "-F", "2000", "--call-graph", "dwarf,16384", "-o", out, "--"]
       + envargs + argv, env=env, cwd=d, stdout=subprocess.DEVNULL)
    views = [("self time by object", ["--no-children", "--sort", "dso"], 0.5),
             ("self time by symbol", ["--no-children", "--sort", "dso,symbol"], 0.7),
             ("inclusive time (children) by symbol", ["--children", "--sort", "dso,symbol"], 3)]
    for title, opts, limit in views:
        r = subprocess.run(["perf", "report", "-i", out, "--stdio", "-g", "none",
                            "--percent-limit", str(limit)] + opts,
                           capture_output=True, text=True)
        lines = [l.rstrip() for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")]
        # Unsymbolized addresses say nothing: keep named rows.
        lines = [re.sub(r"\s+-\s+-$", "", l) for l in lines
                 if "[.] 0x" not in l and "[k] 0x" not in l][:45]
        shown = " ".join(os.path.basename(a) if a.startswith("/") else a for a in argv)
        print(f"\n## perf: {name}, growprof run of `{shown}`, {title}\n")
        print("\n".join(lines))


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="growprof build dir (meson setup + ninja there; default: build/ at "
                         "the repository root)")
    ap.add_argument("--runs", type=int, default=None, help="runs of each mode (default 5)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 run, small sizes")
    ap.add_argument("--only", help="comma-separated workloads: synth-1t,synth-2t,python,sqlite,"
                                   "redis")
    ap.add_argument("--no-heaptrack", action="store_true", help="skip heaptrack")
    ap.add_argument("--no-build", action="store_true", help="use the build dir as it is")
    ap.add_argument("--json", help="also write every number to this JSON file")
    ap.add_argument("--keep", help="keep the last growprof trace and report per workload here")
    ap.add_argument("--perf", action="store_true",
                    help="after measuring, profile one growprof run per workload (at a "
                         "smaller size) with perf record --call-graph dwarf and print where "
                         "the time goes")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.only:
        unknown = set(args.only.split(",")) - set(WORKLOAD_NAMES)
        if unknown:
            ap.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    if args.keep:
        args.keep = os.path.abspath(args.keep)
        os.makedirs(args.keep, exist_ok=True)

    build = os.path.abspath(args.build)
    if args.no_build:
        so = os.path.join(build, "preload", "libgrowprof.so")
        viewer = os.path.join(build, "viewer", "growprof")
        so = so if os.path.exists(so) else None
        viewer = viewer if os.path.exists(viewer) else None
    else:
        so, viewer = build_growprof(build)
    if not so:
        sys.exit(f"run.py: no {build}/preload/libgrowprof.so")

    meta_notes = []
    if not viewer:
        meta_notes.append("growprof viewer not built: report times skipped")
    heaptrack, why = (None, "--no-heaptrack") if args.no_heaptrack else find_heaptrack(True)
    if why:
        meta_notes.append(why)
    work = tempfile.mkdtemp(prefix="growprof-bench.")
    try:
        global RUNSTAT
        RUNSTAT = build_c(work, "runstat")
        synth = build_c(work, "synth", ["-pthread"])
        ws = workloads(synth, "quick" if args.quick else "full")
        if args.only:
            ws = [w for w in ws if w[0] in args.only.split(",")]
        meta = machine_meta(args, so)
        meta["notes"] = meta_notes
        rows = []
        for name, kind, argv, extra in ws:
            if not os.path.exists(argv[0]):
                meta_notes.append(f"{name} skipped: {argv[0]} not found")
                continue
            rows.append(bench_workload(name, kind, argv, extra, args, so, viewer, heaptrack,
                                       work))
        redis = None
        if not args.only or "redis" in args.only.split(","):
            why = redis_bench.available()
            if why:
                meta_notes.append(f"redis skipped: {why}")
            else:
                redis = redis_bench.bench_redis(
                    so, args.runs, REDIS_REQUESTS["quick" if args.quick else "full"],
                    args.timeout, base_env(), work, log)
        print(render(rows, meta), flush=True)
        if redis:
            print("\n" + redis_bench.render_redis(redis, table, fx), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "workloads": rows, "redis": redis}, f, indent=1)
        if args.perf:
            small = {w[0]: w for w in workloads(synth, "perf")}
            for name, kind, argv, extra in ws:  # (not redis: a server and its clients)
                if os.path.exists(argv[0]):
                    perf_profile(name, small[name][2], extra, so, args.keep, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
