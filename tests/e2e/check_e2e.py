#!/usr/bin/env python3
"""End-to-end check of growprof on one target program.

    check_e2e.py --preload PATH/libgrowprof.so --counter PATH/counter.so
                 --growprof PATH/growprof --target PATH [--arg X ...]
                 [--pattern FUNC=linear|geometric|mixed ...] [--keep]

In a fresh temporary directory it
  1. runs the target plainly (GPTRUTH_OUTPUT set, no preload): the reference stdout;
  2. runs it with LD_PRELOAD="counter.so libgrowprof.so", GROWPROF_OUTPUT=trace.%p.zst,
     GPCOUNT_OUTPUT=count.%p.json, GPTRUTH_OUTPUT=truth.json: exit status 0, same stdout;
  3. checks every trace with `zstd -t`;
  4. runs `growprof report --format json` on the traces and asserts
     (a) "totals" equal the counter's numbers exactly (summed over processes),
     (b) for each function of the target's truth, the report's "sites" whose "function"
         is that name add up exactly to the truth (steps, grows, shrinks, moves, in_place,
         remaps, bytes_copied, chains), and each of them has a file and a line,
     (c) each --pattern FUNC=P: every site of FUNC has "pattern" P.
It also checks that the target, under the profiler, still measured the figures that follow
from its parameters (its truth's "expected"), and that counter.so counted at least what the
target did itself.
Exit status 0 if all holds, 1 otherwise (with a readable account), 2 on usage errors.
An argument of the target that starts with '-' is given as --arg=-x; an argument that names
an existing file is made absolute (the target runs in the temporary directory).
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "remaps",
              "bytes_copied", "chains", "max_chain_steps"]
SITE_KEYS = ["steps", "grows", "shrinks", "moves", "in_place", "remaps", "bytes_copied",
             "chains"]
PATTERNS = ("linear", "geometric", "mixed")
RUN_TIMEOUT = 100


Failure = gptest.Failure


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True, help="libgrowprof.so")
    ap.add_argument("--counter", required=True, help="counter.so")
    ap.add_argument("--growprof", required=True, help="the growprof viewer")
    ap.add_argument("--target", required=True, help="the target program")
    ap.add_argument("--arg", action="append", default=[], help="an argument of the target")
    ap.add_argument("--pattern", action="append", default=[],
                    help="FUNC=linear|geometric|mixed: the pattern of FUNC's sites")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    pats = {}
    for p in args.pattern:
        func, sep, pat = p.partition("=")
        if not sep or not func or pat not in PATTERNS:
            ap.error(f"--pattern {p!r}: expected FUNC=linear|geometric|mixed")
        pats[func] = pat
    args.patterns = pats
    # the target runs in a temporary directory: arguments naming files become absolute
    args.arg = [os.path.abspath(a) if os.path.exists(a) else a for a in args.arg]
    for name in ("preload", "counter", "growprof", "target"):
        path = os.path.abspath(getattr(args, name))
        if not os.path.exists(path):
            ap.error(f"--{name} {path}: no such file")
        setattr(args, name, path)
    return args


def run(cmd, env, cwd, what):
    return gptest.run(cmd, env, cwd, what, RUN_TIMEOUT)


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise Failure(f"{what}: cannot read {path}: {e}")
    except json.JSONDecodeError as e:
        raise Failure(f"{what}: {path} is not JSON: {e}")


def pid_of(path, prefix, suffix):
    name = os.path.basename(path)
    m = re.fullmatch(re.escape(prefix) + r"(\d+)" + re.escape(suffix), name)
    return int(m.group(1)) if m else None


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


def check(args, tmp):
    errors = []
    name = os.path.basename(args.target)
    cmd = [args.target] + args.arg

    # 1. plain run
    env = base_env()
    env["GPTRUTH_OUTPUT"] = os.path.join(tmp, "plain-truth.json")
    plain = run(cmd, env, tmp, "plain run")
    if plain.returncode != 0:
        raise Failure(f"plain run of {name} exited with {plain.returncode} "
                      f"(the target itself is broken)\nstderr:\n{show(plain.stderr)}")

    # 2. profiled run
    env = base_env()
    env["LD_PRELOAD"] = f"{args.counter} {args.preload}"
    env["GROWPROF_OUTPUT"] = os.path.join(tmp, "trace.%p.zst")
    env["GPCOUNT_OUTPUT"] = os.path.join(tmp, "count.%p.json")
    env["GPTRUTH_OUTPUT"] = os.path.join(tmp, "truth.json")
    prof = run(cmd, env, tmp, "profiled run")
    if prof.returncode != 0:
        raise Failure(f"profiled run of {name} exited with {prof.returncode} "
                      f"(plain run: 0)\nstderr:\n{show(prof.stderr)}")
    if prof.stdout != plain.stdout:
        errors.append("stdout differs from the plain run:\n--- plain\n"
                      f"{show(plain.stdout)}\n--- profiled\n{show(prof.stdout)}")

    traces = sorted(glob.glob(os.path.join(tmp, "trace.*.zst")))
    counts = sorted(glob.glob(os.path.join(tmp, "count.*.json")))
    if not traces:
        raise Failure(f"the profiled run wrote no trace (GROWPROF_OUTPUT={env['GROWPROF_OUTPUT']})"
                      f"; files in {tmp}: {sorted(os.listdir(tmp))}\nstderr:\n{show(prof.stderr)}")
    if not counts:
        raise Failure(f"counter.so wrote no count file; files: {sorted(os.listdir(tmp))}")
    trace_pids = {pid_of(t, "trace.", ".zst") for t in traces}
    count_pids = {pid_of(c, "count.", ".json") for c in counts}
    if trace_pids != count_pids:
        errors.append(f"processes with a trace {sorted(trace_pids)} differ from processes "
                      f"with a count {sorted(count_pids)}")

    # 3. zstd -t
    for t in traces:
        z = run(["zstd", "-q", "-t", t], base_env(), tmp, "zstd -t")
        if z.returncode != 0:
            errors.append(f"zstd -t {os.path.basename(t)} failed: {show(z.stderr).strip()}")

    # 4. report
    rep = run([args.growprof, "report", "--format", "json"] + traces, base_env(), tmp,
              "growprof report")
    if rep.returncode != 0:
        raise Failure(f"growprof report --format json exited with {rep.returncode}\n"
                      f"stderr:\n{show(rep.stderr)}")
    try:
        report = json.loads(rep.stdout)
    except json.JSONDecodeError as e:
        raise Failure(f"growprof report --format json printed no JSON: {e}\n"
                      f"stdout:\n{show(rep.stdout)}")
    if not isinstance(report, dict) or report.get("growprof_report") != 1:
        errors.append('report: "growprof_report" is not 1')
    totals = report.get("totals") if isinstance(report, dict) else None
    sites = report.get("sites") if isinstance(report, dict) else None
    if not isinstance(totals, dict):
        raise Failure('report has no "totals" object')
    if not isinstance(sites, list):
        raise Failure('report has no "sites" list')

    # (a) totals == counter
    counter = {k: 0 for k in TOTAL_KEYS}
    for c in counts:
        one = load_json(c, "counter")
        for k in TOTAL_KEYS:
            if k not in one:
                raise Failure(f"counter file {c} has no {k!r}")
            if k == "max_chain_steps":
                counter[k] = max(counter[k], one[k])
            else:
                counter[k] += one[k]
    rows = []
    for k in TOTAL_KEYS:
        got = totals.get(k)
        if got != counter[k]:
            rows.append([k, counter[k], "(missing)" if got is None else got,
                         "" if not isinstance(got, int) else f"{got - counter[k]:+d}"])
    if rows:
        errors.append("report totals differ from counter.so's counts:\n"
                      + table(rows, ["key", "counter", "report", "report-counter"]))

    # (b) per-function truth == sum of the function's sites
    truth = load_json(os.path.join(tmp, "truth.json"), "truth")
    functions = truth.get("functions", {})
    site_names = sorted({str(s.get("function")) for s in sites})
    for func, want in sorted(functions.items()):
        mine = [s for s in sites if s.get("function") == func]
        expect_steps = want.get("steps", 0)
        if not mine:
            if expect_steps:
                errors.append(f"function {func}: the truth has {expect_steps} steps but no "
                              f"site of the report is in it; sites are in: "
                              f"{', '.join(site_names) or '(none)'}")
            continue
        rows = []
        for k in SITE_KEYS:
            if k not in want:
                continue
            got = sum(int(s.get(k) or 0) for s in mine)
            missing = [i for i, s in enumerate(mine) if k not in s]
            if got != want[k] or missing:
                rows.append([k, want[k], got if not missing else f"{got} (missing in "
                             f"{len(missing)} site(s))"])
        if rows:
            errors.append(f"function {func}: its {len(mine)} site(s) differ from the truth:\n"
                          + table(rows, ["key", "truth", "report"]))
        for s in mine:
            if s.get("file") is None or s.get("line") is None:
                errors.append(f"function {func}: a site has no file/line "
                              f"(file={s.get('file')!r}, line={s.get('line')!r}, "
                              f"address={s.get('address')!r}, module={s.get('module')!r})")

    # (c) patterns
    for func, pat in sorted(args.patterns.items()):
        mine = [s for s in sites if s.get("function") == func]
        if not mine:
            errors.append(f"--pattern {func}={pat}: no site of the report is in {func}")
            continue
        for s in mine:
            if s.get("pattern") != pat:
                errors.append(f"--pattern {func}={pat}: site {s.get('file')}:{s.get('line')} "
                              f"has pattern {s.get('pattern')!r}")

    # The profiled program must behave as without the profiler: the figures that follow
    # from its parameters alone are still what it measured.
    ttot = truth.get("totals", {})
    exp = truth.get("expected", {})
    for k, want in sorted(exp.get("totals", {}).items()):
        if ttot.get(k) != want:
            errors.append(f"under the profiler the target measured total {k}={ttot.get(k)}, "
                          f"its parameters give {want}")
    for func, kv in sorted(exp.get("functions", {}).items()):
        for k, want in sorted(kv.items()):
            got = functions.get(func, {}).get(k)
            if got != want:
                errors.append(f"under the profiler the target measured {func}.{k}={got}, "
                              f"its parameters give {want}")

    # The counter counts everything the program did, the truth only its own functions.
    for k in TOTAL_KEYS:
        if k in ttot and counter[k] < ttot[k]:
            errors.append(f"counter.so counted {k}={counter[k]}, less than the target's own "
                          f"{ttot[k]}: the rig is broken")

    summary = (f"{name}: {len(traces)} trace(s), steps={counter['steps']} "
               f"moves={counter['moves']} remaps={counter['remaps']} "
               f"bytes_copied={counter['bytes_copied']}, {len(functions)} function(s) "
               f"checked against the truth")
    return errors, summary


def main(argv):
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="growprof-e2e-")
    ok = False
    try:
        errors, summary = check(args, tmp)
        if errors:
            print(f"FAIL {os.path.basename(args.target)} ({len(errors)} problem(s)); "
                  f"files kept in {tmp}")
            for e in errors:
                print("- " + e.replace("\n", "\n  "))
            return 1
        ok = True
        print("OK " + summary)
        return 0
    except Failure as e:
        print(f"FAIL {os.path.basename(args.target)}: {e}\nfiles kept in {tmp}")
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif ok:
            print(f"files kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
