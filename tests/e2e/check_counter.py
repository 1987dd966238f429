#!/usr/bin/env python3
"""Checks the test rig itself, without the profiler: counter.so alone and a target's truth.

    check_counter.py --counter PATH/counter.so --target PATH [--arg X ...]
                     [--pattern FUNC=linear|geometric|mixed ...] [--keep]

Runs the target plainly and with LD_PRELOAD=counter.so (GPCOUNT_OUTPUT, GPTRUTH_OUTPUT and
GPTRUTH_LOG set), then asserts:
  - both runs exit 0 with the same stdout;
  - the truth is self-consistent: recomputed from the event log (GPTRUTH_LOG) it is the same,
    per function and in total; every step's old size is the size the log gave the block;
    steps = moves + in place; totals of step figures = the sum over the functions; the
    figures that follow from the program's parameters ("expected") are the measured ones;
  - the counter agrees with the truth: for the step figures (steps, failed, grows, shrinks,
    moves, in_place, remaps, bytes_copied, chains, max_chain_steps) exactly, minus what libc
    did itself (only allowed with --libc-steps), and allocs/frees at least the target's own;
    the counter met no block it did not know;
  - each --pattern FUNC=P is the pattern of FUNC's grows in the log (linear: the same
    amount added each time; geometric: the same factor > 1, within 10%).
Exit status 0 if all holds, 1 otherwise.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "in_place",
              "remaps", "bytes_copied", "chains", "max_chain_steps"]
FN_KEYS = ["steps", "grows", "shrinks", "moves", "in_place", "remaps", "bytes_copied",
           "chains"]
STEP_KEYS = ["steps", "failed", "grows", "shrinks", "moves", "in_place", "remaps",
             "bytes_copied", "chains", "max_chain_steps"]
RUN_TIMEOUT = 100


class Failure(Exception):
    pass


def run(cmd, env, cwd, what):
    try:
        return subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: timed out after {RUN_TIMEOUT} s")


def base_env():
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "GROWPROF_OUTPUT", "GPCOUNT_OUTPUT", "GPTRUTH_OUTPUT",
              "GPTRUTH_LOG"):
        env.pop(k, None)
    return env


def replay(log_path):
    """Recomputes the truth from the event log."""
    fns = {}
    tot = {k: 0 for k in TOTAL_KEYS}
    blocks = {}  # id -> [size, chain steps, set of (function, line) where it stepped]
    grows = {}   # fn -> list of (old, new)
    problems = []

    def fn(name):
        return fns.setdefault(name, {k: 0 for k in FN_KEYS})

    with open(log_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            w = line.split()
            tag = w[0]
            if tag == "A":
                bid, size = int(w[1]), int(w[2])
                blocks[bid] = [size, 0, set()]
                tot["allocs"] += 1
            elif tag in ("F", "Z"):
                bid = int(w[-1])
                if blocks.pop(bid, None) is None:
                    problems.append(f"log line {lineno}: free of unknown block {bid}")
                tot["frees"] += 1
            elif tag == "X":
                tot["failed"] += 1
                if int(w[2]) not in blocks:
                    problems.append(f"log line {lineno}: failed realloc of unknown block")
            elif tag == "S":
                name, bid, old, new, moved, mm, line = w[1], int(w[2]), *map(int, w[3:8])
                b = blocks.get(bid)
                if b is None:
                    problems.append(f"log line {lineno}: step of unknown block {bid}")
                    continue
                if b[0] != old:
                    problems.append(f"log line {lineno}: step says old size {old}, the block "
                                    f"had {b[0]}")
                v = fn(name)
                v["steps"] += 1
                tot["steps"] += 1
                if new > old:
                    v["grows"] += 1
                    tot["grows"] += 1
                    grows.setdefault(name, []).append((old, new))
                elif new < old:
                    v["shrinks"] += 1
                    tot["shrinks"] += 1
                if moved:
                    v["moves"] += 1
                    tot["moves"] += 1
                    if mm:
                        v["remaps"] += 1
                        tot["remaps"] += 1
                    else:
                        v["bytes_copied"] += min(old, new)
                        tot["bytes_copied"] += min(old, new)
                else:
                    v["in_place"] += 1
                    tot["in_place"] += 1
                if (name, line) not in b[2]:  # a function's chains: summed over its sites
                    b[2].add((name, line))
                    v["chains"] += 1
                if b[1] == 0:
                    tot["chains"] += 1
                b[1] += 1
                tot["max_chain_steps"] = max(tot["max_chain_steps"], b[1])
                b[0] = new
            else:
                problems.append(f"log line {lineno}: unknown event {tag!r}")
    return fns, tot, grows, problems


def pattern_of(pairs):
    if not pairs:
        return None
    adds = {new - old for old, new in pairs}
    if len(adds) == 1:
        return "linear"
    factors = [new / old for old, new in pairs if old > 0]
    if factors and min(factors) > 1 and max(factors) <= min(factors) * 1.1:
        return "geometric"
    return "mixed"


def check(args, tmp):
    errors = []
    cmd = [args.target] + args.arg

    env = base_env()
    env["GPTRUTH_OUTPUT"] = os.path.join(tmp, "plain-truth.json")
    plain = run(cmd, env, tmp, "plain run")
    if plain.returncode != 0:
        raise Failure(f"plain run exited with {plain.returncode}: {plain.stderr!r}")

    env = base_env()
    env["LD_PRELOAD"] = args.counter
    env["GPCOUNT_OUTPUT"] = os.path.join(tmp, "count.%p.json")
    env["GPTRUTH_OUTPUT"] = os.path.join(tmp, "truth.json")
    env["GPTRUTH_LOG"] = os.path.join(tmp, "truth.log")
    res = run(cmd, env, tmp, "run under counter.so")
    if res.returncode != 0:
        raise Failure(f"run under counter.so exited with {res.returncode}: {res.stderr!r}")
    if res.stdout != plain.stdout:
        errors.append(f"stdout differs: plain {plain.stdout!r}, counted {res.stdout!r}")

    with open(os.path.join(tmp, "truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    counts = glob.glob(os.path.join(tmp, "count.*.json"))
    if len(counts) != 1:
        raise Failure(f"expected one count file, found {len(counts)}")
    with open(counts[0], encoding="utf-8") as f:
        counter = json.load(f)

    # the truth against its own log
    fns, tot, grows, problems = replay(os.path.join(tmp, "truth.log"))
    errors += problems
    tfns, ttot = truth["functions"], truth["totals"]
    for name, v in sorted(fns.items()):
        if name not in tfns:
            errors.append(f"log has steps in {name}, the truth has no such function")
            continue
        for k in FN_KEYS:
            if tfns[name][k] != v[k]:
                errors.append(f"truth {name}.{k}={tfns[name][k]}, its log gives {v[k]}")
    for name, v in tfns.items():
        if name not in fns and any(v[k] for k in FN_KEYS):
            errors.append(f"truth {name} has figures but no step in the log")
        if v["steps"] != v["moves"] + v["in_place"]:
            errors.append(f"truth {name}: steps != moves + in_place")
        if v["remaps"] > v["moves"] or v["grows"] + v["shrinks"] > v["steps"]:
            errors.append(f"truth {name}: remaps > moves or grows + shrinks > steps")
    for k in TOTAL_KEYS:
        if ttot[k] != tot[k]:
            errors.append(f"truth total {k}={ttot[k]}, its log gives {tot[k]}")
    for k in FN_KEYS:
        if k != "chains" and ttot[k] != sum(v[k] for v in tfns.values()):
            errors.append(f"truth total {k}={ttot[k]} is not the sum over its functions")
    exp = truth.get("expected", {})
    for k, want in exp.get("totals", {}).items():
        if ttot.get(k) != want:
            errors.append(f"total {k}: measured {ttot.get(k)}, the program's parameters give "
                          f"{want}")
    for name, kv in exp.get("functions", {}).items():
        for k, want in kv.items():
            got = tfns.get(name, {}).get(k)
            if got != want:
                errors.append(f"{name}.{k}: measured {got}, the program's parameters give "
                              f"{want}")

    # the counter against the truth
    for k in TOTAL_KEYS:
        if counter[k] < ttot[k]:
            errors.append(f"counter {k}={counter[k]} < the target's own {ttot[k]}")
        elif k in STEP_KEYS and counter[k] != ttot[k] and not args.libc_steps:
            errors.append(f"counter {k}={counter[k]} != the target's own {ttot[k]}")
    for k in ("unknown_reallocs", "unknown_frees"):
        if counter.get(k):
            errors.append(f"counter {k}={counter[k]}")

    # patterns
    for p in args.pattern:
        name, _, want = p.partition("=")
        got = pattern_of(grows.get(name, []))
        if got != want:
            errors.append(f"--pattern {p}: the grows of {name} in the log are {got}")

    extra = {k: counter[k] - ttot[k] for k in ("allocs", "frees") if counter[k] != ttot[k]}
    summary = (f"{os.path.basename(args.target)}: steps={ttot['steps']} moves={ttot['moves']} "
               f"remaps={ttot['remaps']} bytes_copied={ttot['bytes_copied']} "
               f"chains={ttot['chains']}; counter agrees"
               + (f" (libc's own: {extra})" if extra else ""))
    return errors, summary


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counter", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--arg", action="append", default=[])
    ap.add_argument("--pattern", action="append", default=[])
    ap.add_argument("--libc-steps", action="store_true",
                    help="libc itself may make steps: step figures of the counter may exceed "
                         "the truth")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    args.counter = os.path.abspath(args.counter)
    args.target = os.path.abspath(args.target)
    # the target runs in a temporary directory: arguments naming files become absolute
    args.arg = [os.path.abspath(a) if os.path.exists(a) else a for a in args.arg]
    tmp = tempfile.mkdtemp(prefix="growprof-rig-")
    ok = False
    try:
        errors, summary = check(args, tmp)
        if errors:
            print(f"FAIL {os.path.basename(args.target)}; files kept in {tmp}")
            for e in errors:
                print("- " + e)
            return 1
        ok = True
        print("OK " + summary)
        return 0
    except (Failure, OSError, ValueError, KeyError) as e:
        print(f"FAIL {os.path.basename(args.target)}: {e!r}; files kept in {tmp}")
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
