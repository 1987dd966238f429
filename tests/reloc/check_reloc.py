#!/usr/bin/env python3
"""Check growprof's relocation chains (and realloc sites) on one program that knows its truth.

    check_reloc.py --preload PATH/libgrowprof.so --counter PATH/counter.so
                   --growprof PATH/growprof (--target PATH | --rust SRC.rs | --skip WHY)
                   [--keep]

The program prints, as the last line of its standard output, one JSON object (its truth,
see reloc_truth.h):
    {"program", "only_listed",
     "relocation_totals": {KEY: N | [LO, HI]},   # the report's "relocation_totals"
     "realloc_totals": {KEY: N},                 # the report's "totals" (and the counter's)
     "sites":   [{"function", "kind", "pattern"?, KEY: N...}],
     "origins": [{"function", "kind", KEY: N...}]}

In a fresh temporary directory this
  1. runs the program plainly: exit 0, its truth; with "baseline_arg" in the truth, also
     runs it with that argument (it then grows nothing) under counter.so alone and adds
     those counts to the truth's "realloc_totals" (what the language runtime reallocs);
  2. runs it under LD_PRELOAD="counter.so libgrowprof.so" and under libgrowprof.so alone:
     exit 0, the same stdout as the plain run, each time;
  3. runs `growprof report --format json` on each run's trace(s) and asserts
     (a) "totals" (realloc only) equal counter.so's counts exactly, key by key, and the
         program's own "realloc_totals" (for the run without counter.so, the counts of the
         run with it, on the keys that do not depend on the heap's layout);
     (b) "relocation_totals" has the keys steps, grows, moves, bytes_copied, chains,
         max_chain_steps, and they match the truth (a value or a [lo, hi] range);
     (c) each listed site: the report's sites with that "function" and "kind" add up to
         the truth (steps, grows, moves, bytes_copied, chains...), each has a file and a
         line and the truth's "pattern"; origins likewise (in the run without counter.so:
         with it in front, every allocation's caller is counter.so's malloc);
     (d) the steps of the sites of each kind add up to their totals;
     (e) no site (nor origin, without counter.so) is named after an allocator internal (operator new/delete,
         libstdc++'s _M_* growth helpers, alloc::raw_vec, __rust_realloc, ...) or unnamed;
     (f) with "only_listed", every site of the report is one of the listed ones.
--rust compiles SRC with rustc (-O -g -C debuginfo=2 -C force-frame-pointers=yes) first;
exit status 77 (skipped) without rustc. --skip WHY exits 77 at once (a compiler that the
build did not find).
Exit status 0 if all holds, 1 otherwise (with a readable account), 2 on usage errors.
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
RELOC_KEYS = ["steps", "grows", "moves", "bytes_copied", "chains", "max_chain_steps"]
RUN_TIMEOUT = 200
SKIP = 77

# Names that must never be a site: the allocator, libstdc++'s and Rust's growth internals.
INTERNAL = re.compile(
    r"^(operator new|operator delete|malloc$|calloc$|realloc$|free$|memcpy$|memmove$|"
    r"mempcpy$|__libc_|__memcpy|__memmove|_int_|__rust_|__rdl_|__rg_|"
    r"<?alloc::raw_vec|<?alloc::alloc::|<alloc::alloc::Global|<std::alloc::System|"
    r"std::alloc::|std::sys::(pal::unix::)?alloc::|<std::alloc::System|"
    r"<?alloc::vec::Vec<[^>]*>::(push|reserve|extend|spec_extend|extend_from_slice)|"
    r"<?alloc::string::String>?::(push|push_str|reserve)|"
    r"std::__new_allocator|__gnu_cxx::new_allocator|std::allocator|std::__relocate|"
    r"std::__uninitialized|std::__do_uninit)"
    r"|std::vector<.*>::_M_|std::__cxx11::basic_string<.*>::_M_|std::basic_string<.*>::_M_")


Failure = gptest.Failure


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", help="libgrowprof.so")
    ap.add_argument("--counter", help="counter.so")
    ap.add_argument("--growprof", help="the growprof viewer")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--target", help="the program")
    g.add_argument("--rust", help="a Rust source file to compile with rustc and run")
    g.add_argument("--skip", help="skip (exit 77) with this reason")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    if args.skip:
        return args
    for name in ("preload", "counter", "growprof", "target", "rust"):
        val = getattr(args, name)
        if val is None:
            if name in ("target", "rust"):
                continue
            ap.error(f"--{name} is required")
        path = os.path.abspath(val)
        if not os.path.exists(path):
            ap.error(f"--{name} {path}: no such file")
        setattr(args, name, path)
    return args


def run(cmd, env, cwd, what):
    return gptest.run(cmd, env, cwd, what, RUN_TIMEOUT)


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


def find_rustc():
    r = shutil.which("rustc")
    if r:
        return r
    for d in (os.environ.get("CARGO_HOME"), os.path.expanduser("~/.cargo")):
        if d and os.access(os.path.join(d, "bin", "rustc"), os.X_OK):
            return os.path.join(d, "bin", "rustc")
    return None


def compile_rust(src, tmp):
    rustc = find_rustc()
    if not rustc:
        return None
    name = os.path.splitext(os.path.basename(src))[0]
    out = os.path.join(tmp, name)
    cmd = [rustc, "-O", "-g", "-C", "debuginfo=2", "-C", "force-frame-pointers=yes",
           "--crate-name", name, "--edition", "2021", "-o", out, src]
    r = run(cmd, base_env(), tmp, "rustc")
    if r.returncode != 0:
        raise Failure(f"rustc failed ({r.returncode}): {' '.join(cmd)}\n{show(r.stderr)}")
    return out


def site_line(s):
    return (f"{s.get('kind')!s:10} {s.get('function')!s:40} steps={s.get('steps')} "
            f"bytes_copied={s.get('bytes_copied')} chains={s.get('chains')} "
            f"pattern={s.get('pattern')} at {s.get('file')}:{s.get('line')}")


def all_rows(report, which):
    rows = report.get(which)
    if not isinstance(rows, list):
        raise Failure(f'report has no "{which}" list')
    return rows


def check_entries(errors, rows, want_list, which):
    for want in want_list:
        func, kind = want["function"], want["kind"]
        mine = [s for s in rows if s.get("function") == func and s.get("kind") == kind]
        if not mine:
            same = [s for s in rows if s.get("function") == func]
            hint = ""
            if same:
                hint = (f" (there are {which} named {func!r} of kind "
                        f"{sorted({str(s.get('kind')) for s in same})})")
            errors.append(f"{which[:-1]} {func!r} kind {kind!r}: not in the report{hint}; "
                          f"the report's {which}:\n  "
                          + "\n  ".join(site_line(s) for s in rows[:40]))
            continue
        bad = []
        for k, v in want.items():
            if k in ("function", "kind", "pattern"):
                continue
            got = sum(int(s.get(k) or 0) for s in mine)
            missing = sum(1 for s in mine if k not in s)
            if got != v or missing:
                bad.append([k, v, got if not missing else f"{got} ({missing} without it)"])
        if bad:
            errors.append(f"{which[:-1]} {func!r} ({kind}, {len(mine)} row(s)) differs from "
                          f"the program's truth:\n" + table(bad, ["key", "truth", "report"]))
        for s in mine:
            if s.get("file") is None or s.get("line") is None:
                errors.append(f"{which[:-1]} {func!r} ({kind}): no file/line "
                              f"(file={s.get('file')!r}, line={s.get('line')!r}, "
                              f"module={s.get('module')!r}, address={s.get('address')!r})")
            if "pattern" in want and s.get("pattern") != want["pattern"]:
                errors.append(f"{which[:-1]} {func!r} ({kind}) at {s.get('file')}:"
                              f"{s.get('line')}: pattern {s.get('pattern')!r}, expected "
                              f"{want['pattern']!r} (growth_factor_median="
                              f"{s.get('growth_factor_median')})")


def load_counts(paths):
    counter = {k: 0 for k in TOTAL_KEYS}
    for c in paths:
        with open(c, encoding="utf-8") as f:
            one = json.load(f)
        for k in TOTAL_KEYS:
            if k == "max_chain_steps":
                counter[k] = max(counter[k], one[k])
            else:
                counter[k] += one[k]
    return counter


def profiled_run(args, cmd, tmp, sub, with_counter, plain_stdout, errors, tag):
    """Run cmd under the profiler (behind counter.so if with_counter) in tmp/sub and return
    (report, counter counts or None)."""
    d = os.path.join(tmp, sub)
    os.mkdir(d)
    env = base_env()
    env["LD_PRELOAD"] = f"{args.counter} {args.preload}" if with_counter else args.preload
    env["GROWPROF_OUTPUT"] = os.path.join(d, "trace.%p.zst")
    if with_counter:
        env["GPCOUNT_OUTPUT"] = os.path.join(d, "count.%p.json")
    name = os.path.basename(cmd[0])
    prof = run(cmd, env, d, f"{tag} profiled run")
    if prof.returncode != 0:
        raise Failure(f"{tag} profiled run of {name} exited with {prof.returncode} (plain run: "
                      f"0)\nstderr:\n{show(prof.stderr)}")
    if prof.stdout != plain_stdout:
        errors.append(f"{tag} stdout differs from the plain run:\n--- plain\n"
                      f"{show(plain_stdout)}\n--- profiled\n{show(prof.stdout)}")
    traces = sorted(glob.glob(os.path.join(d, "trace.*.zst")))
    if not traces:
        raise Failure(f"{tag} the profiled run wrote no trace; files: {sorted(os.listdir(d))}"
                      f"\nstderr:\n{show(prof.stderr)}")
    counts = None
    if with_counter:
        paths = sorted(glob.glob(os.path.join(d, "count.*.json")))
        if not paths:
            raise Failure(f"counter.so wrote no count file; files: {sorted(os.listdir(d))}")
        counts = load_counts(paths)
    rep = run([args.growprof, "report", "--format", "json"] + traces, base_env(), d,
              "growprof report")
    if rep.returncode != 0:
        raise Failure(f"{tag} growprof report --format json exited with {rep.returncode}\n"
                      f"stderr:\n{show(rep.stderr)}")
    with open(os.path.join(d, "report.json"), "wb") as f:
        f.write(rep.stdout)
    try:
        report = json.loads(rep.stdout)
    except json.JSONDecodeError as e:
        raise Failure(f"{tag} growprof report --format json printed no JSON: {e}\n"
                      f"stdout:\n{show(rep.stdout)}")
    for key in ("totals", "relocation_totals"):
        if not isinstance(report.get(key), dict):
            raise Failure(f'{tag} report has no "{key}" object')
    all_rows(report, "sites")
    all_rows(report, "origins")
    return report, counts


# Where glibc places blocks (hence which reallocs move, remap, copy) may differ from one run
# to another: a report of a run without counter.so is compared on the other keys only.
LAYOUT_KEYS = {"moves", "remaps", "bytes_copied"}


def check_report(errors, truth, report, counter, tag, check_origins, same_run):
    """Checks (a)-(f) of one report; counter: counter.so's counts for this program, of this
    very run if same_run (else of another run)."""
    totals = report["totals"]
    rtot = report["relocation_totals"]
    sites = report["sites"]
    origins = report["origins"]
    mark = len(errors)

    # (a) realloc totals == counter == the program's own realloc figures
    keys = [k for k in TOTAL_KEYS if same_run or k not in LAYOUT_KEYS]
    bad = [[k, counter[k], totals.get(k)] for k in keys if totals.get(k) != counter[k]]
    if bad:
        errors.append('report "totals" differ from counter.so\'s counts'
                      + ("" if same_run else " (of the run with counter.so)") + ":\n"
                      + table(bad, ["key", "counter", "report"]))
    want = truth.get("realloc_totals", {})
    bad = [[k, v, counter[k], totals.get(k)] for k, v in want.items()
           if (same_run or k not in LAYOUT_KEYS) and (counter.get(k) != v or totals.get(k) != v)]
    if bad:
        errors.append("realloc totals differ from what the program counted itself:\n"
                      + table(bad, ["key", "program", "counter", "report"]))

    # (b) relocation totals
    missing = [k for k in RELOC_KEYS if k not in rtot]
    if missing:
        errors.append(f'"relocation_totals" lacks {missing}')
    bad = []
    for k, v in truth.get("relocation_totals", {}).items():
        got = rtot.get(k)
        if isinstance(v, list):
            if not isinstance(got, int) or not v[0] <= got <= v[1]:
                bad.append([k, f"{v[0]}..{v[1]}", got])
        elif got != v:
            bad.append([k, v, got])
    if bad:
        errors.append('"relocation_totals" differ from the program\'s truth:\n'
                      + table(bad, ["key", "truth", "report"])
                      + "\n  relocation sites of the report:\n  "
                      + "\n  ".join(site_line(s) for s in sites
                                    if s.get("kind") == "relocation")[:4000])

    # (c) sites and origins
    check_entries(errors, sites, truth.get("sites", []), "sites")
    if check_origins:
        check_entries(errors, origins, truth.get("origins", []), "origins")

    # (d) sites of each kind add up to their totals
    for kind, tot, label in (("realloc", totals, "totals"),
                             ("relocation", rtot, "relocation_totals")):
        for k in ("steps", "bytes_copied"):
            got = sum(int(s.get(k) or 0) for s in sites if s.get("kind") == kind)
            if got != tot.get(k):
                errors.append(f"the {kind} sites add up to {k}={got}, but \"{label}\" has "
                              f"{tot.get(k)}")
    kinds = {s.get("kind") for s in sites + origins}
    if not kinds <= {"realloc", "relocation"}:
        errors.append(f"unknown site kinds {sorted(map(str, kinds))}")

    # (e) no allocator internals as sites or origins
    for which, rows in (("site", sites), ("origin", origins if check_origins else [])):
        for s in rows:
            fn = s.get("function")
            if fn is None or fn in ("", "?", "??") or INTERNAL.search(fn):
                errors.append(f"{which} named after an allocator internal (or unnamed): "
                              + site_line(s) + "\n    its stack: "
                              + " <- ".join(str(f.get("function")) for f in
                                            (s.get("stack") or [])[:14]))

    # (f) nothing but the listed sites
    if truth.get("only_listed"):
        listed = {(w["function"], w["kind"]) for w in truth.get("sites", [])}
        for s in sites:
            if (s.get("function"), s.get("kind")) not in listed:
                errors.append("unexpected site (the program grows nothing there): "
                              + site_line(s))
    for i in range(mark, len(errors)):
        errors[i] = f"{tag} {errors[i]}"


def check(args, tmp):
    errors = []
    if args.rust:
        prog = compile_rust(args.rust, tmp)
        if prog is None:
            return None, "rustc not found"
    else:
        prog = args.target
    name = os.path.basename(prog)
    cmd = [prog]

    # 1. plain run
    plain = run(cmd, base_env(), tmp, "plain run")
    if plain.returncode != 0:
        raise Failure(f"plain run of {name} exited with {plain.returncode} (the program "
                      f"itself is broken)\nstderr:\n{show(plain.stderr)}")
    lines = plain.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        truth = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as e:
        raise Failure(f"{name} printed no truth line: {e}\nstdout:\n{show(plain.stdout)}")

    # What the runtime does by itself (--baseline: the program grows nothing), counted by
    # counter.so alone, is added to the program's realloc figures.
    base = truth.get("baseline_arg")
    if base:
        d = os.path.join(tmp, "baseline")
        os.mkdir(d)
        env = base_env()
        env["LD_PRELOAD"] = args.counter
        env["GPCOUNT_OUTPUT"] = os.path.join(d, "count.%p.json")
        r = run(cmd + [base], env, d, "baseline run")
        paths = sorted(glob.glob(os.path.join(d, "count.*.json")))
        if r.returncode != 0 or not paths:
            raise Failure(f"baseline run ({name} {base}) under counter.so: exit "
                          f"{r.returncode}, {len(paths)} count file(s)\n{show(r.stderr)}")
        bc = load_counts(paths)
        rt = truth.setdefault("realloc_totals", {})
        for k in list(rt):
            if k == "max_chain_steps":
                rt[k] = max(rt[k], bc[k])
            elif k in bc:
                rt[k] += bc[k]
        truth["baseline_counts"] = bc

    # 2. under counter.so + libgrowprof.so: totals against the counter, sites (origins are
    # not checked here: the profiler sees counter.so's malloc as the caller of every
    # allocation, and a chain's origin may be kept as that one return address)
    rep_c, counter = profiled_run(args, cmd, tmp, "with-counter", True, plain.stdout, errors,
                                  "[counter.so + libgrowprof.so]")
    check_report(errors, truth, rep_c, counter, "[counter.so + libgrowprof.so]", False, True)
    # 3. under libgrowprof.so alone: the same totals, sites and origins
    rep_a, _ = profiled_run(args, cmd, tmp, "alone", False, plain.stdout, errors,
                            "[libgrowprof.so alone]")
    check_report(errors, truth, rep_a, counter, "[libgrowprof.so alone]", True, False)

    totals, rtot, sites = rep_a["totals"], rep_a["relocation_totals"], rep_a["sites"]
    extra = ""
    if base:
        extra = f" (runtime baseline: {truth['baseline_counts']['steps']} realloc steps)"
    summary = (f"{name}: totals steps={totals.get('steps')} (counter {counter['steps']}){extra}, "
               f"relocation steps={rtot.get('steps')} bytes_copied={rtot.get('bytes_copied')} "
               f"chains={rtot.get('chains')} max_chain_steps={rtot.get('max_chain_steps')}; "
               + "; ".join(f"{s.get('kind')} {s.get('function')} steps={s.get('steps')} "
                           f"copied={s.get('bytes_copied')} {s.get('pattern')}"
                           for s in sites))
    return errors, summary


def main(argv):
    args = parse_args(argv)
    if args.skip:
        print(f"SKIP: {args.skip}")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="growprof-reloc-")
    ok = False
    what = os.path.basename(args.target or args.rust)
    try:
        errors, summary = check(args, tmp)
        if errors is None:
            print(f"SKIP {what}: {summary}")
            ok = True
            return SKIP
        if errors:
            print(f"FAIL {what} ({len(errors)} problem(s)); files kept in {tmp}")
            for e in errors:
                print("- " + e.replace("\n", "\n  "))
            return 1
        ok = True
        print("OK " + summary)
        return 0
    except Failure as e:
        print(f"FAIL {what}: {e}\nfiles kept in {tmp}")
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif ok:
            print(f"files kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
