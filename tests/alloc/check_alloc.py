#!/usr/bin/env python3
"""Check growprof under an allocator other than glibc's (or glibc's, for comparison).

    check_alloc.py --preload PATH/libgrowprof.so --counter PATH/counter.so
                   --growprof PATH/growprof (--target PATH [--with LIB] [--foreign]
                   [-- ARGS...] | --skip WHY) [--keep]

The target is family.c (linked with the allocator, or plain with --with LIB preloaded
after growprof: LD_PRELOAD="libgrowprof.so LIB"). Its last line is its truth:
"truth steps=N grows=N shrinks=N failed=N chains=N max_chain_steps=N".

In a fresh temporary directory this
  1. runs it plainly (LIB preloaded alone with --with): exit 0, and its output;
  2. runs it under LD_PRELOAD="counter.so libgrowprof.so [LIB]" and under
     "libgrowprof.so [LIB]": the same exit status and stdout, byte for byte (usable sizes,
     alignment, error codes, errno: what the allocator answered, not what growprof did);
  3. runs `growprof report --format json` on each trace and asserts
     (a) "totals" equal counter.so's counts exactly, key by key, under counter.so; without
         it, the keys that do not depend on the heap's layout equal the first run's;
     (b) with --foreign, remaps are 0 (SPEC: a remap is glibc's only);
     (c) the sites in family.c add up to the truth's steps, grows and shrinks, and
         failed and max_chain_steps equal it (libc's own reallocs are not in family.c);
     (d) there is a site of family.c with a function and a line.
--skip WHY exits 77 at once (an allocator the build did not find).
Exit status 0 if all holds, 1 otherwise (with a readable account), 2 on usage errors.
"""

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "remaps",
              "bytes_copied", "chains", "max_chain_steps"]
# independent of where the allocator put the blocks (moves differ from run to run)
LAYOUT_FREE = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "chains",
               "max_chain_steps"]
RUN_TIMEOUT = 200
SKIP = 77
Failure = gptest.Failure


Skip = gptest.Skip


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", help="libgrowprof.so")
    ap.add_argument("--counter", help="counter.so")
    ap.add_argument("--growprof", help="the growprof viewer")
    ap.add_argument("--target", help="the program (family.c)")
    ap.add_argument("--with", dest="lib", help="an allocator to preload after growprof")
    ap.add_argument("--foreign", action="store_true", help="not glibc's malloc: no remaps")
    ap.add_argument("--skip", help="skip (exit 77) with this reason")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("args", nargs="*", help="the program's arguments")
    a = ap.parse_args(argv)
    if not a.skip and not (a.preload and a.counter and a.growprof and a.target):
        ap.error("--preload, --counter, --growprof and --target are needed")
    return a


def run_target(a, tmp, name, preloads):
    env = base_env()
    if preloads:
        env["LD_PRELOAD"] = " ".join(preloads)
    env["GROWPROF_OUTPUT"] = os.path.join(tmp, f"{name}.%p.zst")
    env["GPCOUNT_OUTPUT"] = os.path.join(tmp, f"{name}.%p.count.json")
    return gptest.run([a.target] + a.args, env, tmp, name, RUN_TIMEOUT)


def one(pattern, what):
    files = glob.glob(pattern)
    if len(files) != 1:
        raise Failure(f"{what}: expected one file {pattern}, found {len(files)}")
    return files[0]


def report(a, tmp, trace):
    r = gptest.run([a.growprof, "report", "--format", "json", "--top", "1000", trace],
                   base_env(), tmp, "growprof report", RUN_TIMEOUT)
    if r.returncode != 0:
        raise Failure(f"growprof report {trace}: exit {r.returncode}\n{show(r.stderr)}")
    return json.loads(r.stdout)


def truth_of(stdout):
    last = stdout.decode().strip().splitlines()[-1]
    m = re.fullmatch(r"truth((?: \w+=\d+)+)", last)
    if not m:
        raise Failure(f"no truth line at the end of the output: {last!r}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def check(a, tmp):
    errs = []
    lib = [a.lib] if a.lib else []
    plain = run_target(a, tmp, "plain", lib)
    if b"cannot be preloaded" in plain.stderr:
        raise Skip(f"{a.lib} is not installed: {show(plain.stderr, 300)}")
    if plain.returncode != 0:
        raise Failure(f"plain run: exit {plain.returncode}\n{show(plain.stdout)}\n"
                      f"{show(plain.stderr)}")
    truth = truth_of(plain.stdout)
    runs = {"counted": [a.counter, a.preload] + lib, "profiled": [a.preload] + lib}
    totals = {}
    for name, preloads in runs.items():
        r = run_target(a, tmp, name, preloads)
        if r.returncode != plain.returncode:
            errs.append(f"{name}: exit {r.returncode}, plainly {plain.returncode}\n"
                        f"{show(r.stderr)}")
        if r.stdout != plain.stdout:
            errs.append(f"{name}: stdout differs from the plain run's:\n--- plain\n"
                        f"{show(plain.stdout)}\n--- {name}\n{show(r.stdout)}")
        rep = report(a, tmp, one(os.path.join(tmp, f"{name}.*.zst"), name))
        t = rep["totals"]
        totals[name] = t
        if name == "counted":
            with open(one(os.path.join(tmp, f"{name}.*.count.json"), name)) as f:
                count = json.load(f)
            for k in TOTAL_KEYS:
                if t.get(k) != count.get(k):
                    errs.append(f"{name}: totals[{k}] = {t.get(k)}, counter.so says "
                                f"{count.get(k)}")
            if count.get("unknown_reallocs") or count.get("unknown_frees"):
                errs.append(f"{name}: counter.so saw blocks it never saw allocated: {count}")
        else:
            for k in LAYOUT_FREE:
                if t.get(k) != totals["counted"].get(k):
                    errs.append(f"{name}: totals[{k}] = {t.get(k)}, with counter.so "
                                f"{totals['counted'].get(k)}")
        if a.foreign and t.get("remaps") != 0:
            errs.append(f"{name}: {t.get('remaps')} remaps under a foreign allocator")
        if t.get("steps", 0) < truth["steps"] or t.get("moves", 0) == 0:
            errs.append(f"{name}: totals {t} cannot hold the program's truth {truth}")
        mine = [s for s in rep["sites"] if (s.get("file") or "").endswith("family.c")]
        for k in ("steps", "grows", "shrinks"):
            got = sum(s.get(k, 0) for s in mine)
            if got != truth[k]:
                errs.append(f"{name}: the sites in family.c have {got} {k}, the program "
                            f"made {truth[k]}")
        for k in ("failed", "max_chain_steps"):
            if t.get(k) != truth[k]:
                errs.append(f"{name}: totals[{k}] = {t.get(k)}, the program's truth "
                            f"{truth[k]}")
        if not any(s.get("function") and s.get("line") for s in mine):
            errs.append(f"{name}: no site of family.c with a function and a line: "
                        f"{[(s.get('function'), s.get('file')) for s in rep['sites']]}")
    return errs


def main(argv):
    a = parse_args(argv)
    if a.skip:
        print(f"skipped: {a.skip}")
        return SKIP
    for k in ("preload", "counter", "growprof", "target"):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    return gptest.main_of(check, a, "gp-alloc-")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
