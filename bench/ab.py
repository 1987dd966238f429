#!/usr/bin/env python3
"""ab.py - compare preload builds side by side on one benchmark workload.

    python3 bench/ab.py [--rounds N] [--size S] [--callgrind] [--floor] WORKLOAD SO[,VAR=VALUE...]...

Runs WORKLOAD (a name of run.py: synth-1t, synth-2t, python, sqlite) plain and under each
libgrowprof.so given (with the variables after it set for its runs only), N rounds (default 11), the order rotated every round, and prints per
build the median of its per-round CPU ratio to the plain run of the same round, with the
quartiles of those ratios: on a shared machine the spread says how far to trust a
difference. --size overrides the workload's size argument (rounds, records, rows).
--callgrind instead counts instructions once per mode under valgrind (repeatable whatever
else the machine does; use a small --size). --floor adds bench/floor.c (the pass-through
interposer) as the first build. A benchmark helper: it asserts nothing.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: the workloads and the measuring helper)


def quartiles(xs):
    if len(xs) < 4:
        return min(xs), max(xs)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def sized(argv, size):
    if size is None:
        return argv
    out = list(argv)
    for i, a in enumerate(out):
        if a.isdigit() and i == len(out) - 1:
            out[i] = size
        elif a.startswith(".parameter set @rows "):
            out[i] = ".parameter set @rows " + size
    return out


def callgrind(argv, env, child_env, work, tag):
    out = os.path.join(work, f"cg.{tag}.out")
    e = dict(env)
    e.update(child_env)
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + argv,
                       env=e, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    m = re.findall(r"Collected : (\d+)", p.stderr)
    return int(m[-1]) if m else None


def paired(args, argv, env, modes, child, show, work):
    """Each build beside a plain run of its own, one on each CPU."""
    ratios = {m[0]: [] for m in modes[1:]}
    plain = []
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        sys.exit("ab.py: --pair needs two CPUs")
    for r in range(args.rounds):
        for name, so in modes[1:]:
            res = {}
            threads = []
            for who, s_, cpu in (("plain", None, cpus[r % 2]), (name, so, cpus[1 - r % 2])):
                d = tempfile.mkdtemp(dir=work)

                def go(who=who, s_=s_, cpu=cpu, d=d):
                    res[who] = run.run_measured(["taskset", "-c", str(cpu)] + argv, env, d,
                                                os.path.join(d, "out"), os.path.join(d, "err"),
                                                900, child(s_, d))
                t = threading.Thread(target=go)
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            for who in res:
                if res[who].rc != 0:
                    sys.exit(f"ab.py: {who} exited {res[who].rc}: {res[who].stderr[-300:]!r}")
            ratios[name].append(res[name].cpu / res["plain"].cpu)
            plain.append(res["plain"].cpu)
        print(f"round {r + 1}: " + "  ".join(f"{m}={ratios[m][-1]:.3f}x" for m in ratios),
              file=sys.stderr, flush=True)
    print(f"{args.workload}, {args.rounds} paired rounds, plain median "
          f"{statistics.median(plain):.2f} s CPU")
    for name, so in modes[1:]:
        lo, hi = quartiles(ratios[name])
        print(f"{name:4} {statistics.median(ratios[name]):.3f}x  (quartiles {lo:.3f}-{hi:.3f})  "
              f"{show(so)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--size", help="the workload's size argument")
    ap.add_argument("--callgrind", action="store_true", help="count instructions instead")
    ap.add_argument("--pair", action="store_true",
                    help="run each build at the same time as a plain run, on the other CPU "
                         "(taskset; the CPUs swap every round): both see the same moment of "
                         "a shared machine")
    ap.add_argument("--floor", action="store_true",
                    help="also run under bench/floor.c, the pass-through floor")
    ap.add_argument("workload", choices=run.WORKLOAD_NAMES + run.MT_NAMES)
    ap.add_argument("so", nargs="*", help="libgrowprof.so builds to compare")
    args = ap.parse_args()
    sos = []
    for s in args.so:  # SO[,NAME=VALUE...]: variables for that build's runs
        path, *kv = s.split(",")
        if not os.path.exists(path):
            sys.exit(f"ab.py: no such file: {path}")
        sos.append((os.path.abspath(path), dict(x.split("=", 1) for x in kv)))
    work = tempfile.mkdtemp(prefix="growprof-ab.")
    run.RUNSTAT = run.build_c(work, "runstat")
    synth = run.build_c(work, "synth", ["-pthread"])
    mt = run.build_c(work, "mt", ["-pthread"])
    if args.floor:
        sos.insert(0, (run.build_floor(work), {}))
    if not sos:
        ap.error("no build to compare (give SO, or --floor)")
    ws = {w[0]: w for w in run.workloads(synth, "full") + run.mt_workloads(mt, "full")}
    _, _, argv, extra = ws[args.workload]
    argv = sized(argv, args.size)
    env = run.base_env()
    env.update(extra)
    modes = [("plain", None)] + [(f"#{i + 1}", s) for i, s in enumerate(sos)]

    def child(so, d):
        if not so:
            return {}
        e = {"LD_PRELOAD": so[0], "GROWPROF_OUTPUT": os.path.join(d, "growprof.%e.%p.zst")}
        e.update(so[1])
        return e

    def show(so):
        return "-" if not so else " ".join([so[0]] + [f"{k}={v}" for k, v in so[1].items()])

    if args.callgrind:
        base = None
        for name, so in modes:
            d = tempfile.mkdtemp(dir=work)
            n = callgrind(argv, env, child(so, d), d, name.strip("#"))
            base = base or n
            extra_i = f"  +{(n - base) / 1e6:.1f}M ({n / base:.4f}x)" if so and n else ""
            print(f"{name:6} {show(so)}: {n:,} instructions{extra_i}", flush=True)
        return

    if args.pair:
        paired(args, argv, env, modes, child, show, work)
        return

    cpu = {m[0]: [] for m in modes}
    for r in range(args.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for name, so in order:
            d = tempfile.mkdtemp(dir=work)
            res = run.run_measured(argv, env, d, os.path.join(d, "out"), os.path.join(d, "err"),
                                   900, child(so, d))
            if res.rc != 0:
                sys.exit(f"ab.py: {name} exited {res.rc}: {res.stderr[-300:]!r}")
            cpu[name].append(res.cpu)
            subprocess.run(["rm", "-rf", d])
        print(f"round {r + 1}: " + "  ".join(f"{m}={cpu[m][-1]:.2f}s" for m, _ in modes),
              file=sys.stderr, flush=True)
    print(f"{args.workload}, {args.rounds} rounds, plain median {statistics.median(cpu['plain']):.2f} s CPU")
    for name, so in modes[1:]:
        ratios = [a / b for a, b in zip(cpu[name], cpu["plain"])]
        lo, hi = quartiles(ratios)
        print(f"{name:4} {statistics.median(ratios):.3f}x  (quartiles {lo:.3f}-{hi:.3f})  {show(so)}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
