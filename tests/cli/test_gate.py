#!/usr/bin/env python3
"""The CI gate of growprof: `growprof check` and `growprof diff`, end to end.

    test_gate.py --growprof PATH/growprof --preload PATH/libgrowprof.so
                 --demo PATH/growdemo --linear PATH/gp-target-linear
                 --doubling PATH/gp-target-doubling [--keep]

In a fresh temporary directory it records the test targets linear and doubling under the
preload, and asserts exit codes and message texts of `growprof check` on their two traces:
limits per site and for the whole run, suppression files (allow, limit, default, unused,
malformed), JUnit XML, GitHub annotations, usage errors. Every number it expects comes from
what the targets know about themselves (tests/targets/truth.h: bytes copied and moves per
function; the peaks follow from their parameters) and the sites' lines from their sources,
never from growprof's own report. For diff it records examples/growdemo twice (the default
size, and a bigger run: 131072 bytes per builder) and checks --fail-on-increase.
Exit status 0 if everything holds, 1 otherwise (each failed assertion printed), 2 on usage
errors.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TIMEOUT = 120


class Checker:
    def __init__(self, growprof, workdir):
        self.growprof = growprof
        self.dir = workdir
        self.failures = []
        self.passed = 0

    def run(self, *args):
        p = subprocess.run([self.growprof, *args], cwd=self.dir, capture_output=True,
                           text=True, timeout=TIMEOUT)
        return p

    def expect(self, what, cond, proc=None, detail=""):
        if cond:
            self.passed += 1
            return
        msg = f"FAIL: {what}"
        if detail:
            msg += f"\n  {detail}"
        if proc is not None:
            msg += (f"\n  command: growprof {' '.join(proc.args[1:])}\n  exit: {proc.returncode}"
                    f"\n  stdout:\n{indent(proc.stdout)}\n  stderr:\n{indent(proc.stderr)}")
        self.failures.append(msg)
        print(msg, file=sys.stderr)

    def exit_code(self, what, proc, code):
        self.expect(f"{what}: exit {code}", proc.returncode == code, proc)

    def contains(self, what, text, needle, proc):
        self.expect(f"{what}: output contains {needle!r}", needle in text, proc)

    def lacks(self, what, text, needle, proc):
        self.expect(f"{what}: output does not contain {needle!r}", needle not in text, proc)


def indent(s, n=4):
    return "\n".join(" " * n + line for line in (s or "").rstrip("\n").split("\n"))


def record(demo, preload, workdir, name, *args, truth=None):
    """Run a program under the preload (its truth.h figures to `truth`, if given); return
    the trace file (relative to workdir)."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = preload
    env["GROWPROF_OUTPUT"] = os.path.join(workdir, f"{name}.%p.zst")
    env.pop("GROWPROF_DISABLE", None)
    if truth:
        env["GPTRUTH_OUTPUT"] = os.path.join(workdir, truth)
    p = subprocess.run([demo, *args], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise SystemExit(f"{demo} {' '.join(args)} failed with {p.returncode}: {p.stderr}")
    traces = glob.glob(os.path.join(workdir, f"{name}.*.zst"))
    if len(traces) != 1:
        raise SystemExit(f"expected one trace of {name}, found {traces}")
    return os.path.basename(traces[0])


TARGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets")

# What the targets' parameters say about their chains' peaks (their headers): the sum of the
# chains' largest sizes, the amplification's denominator (shared/SPEC.md).
PEAKS = {
    "sb_append": 4 * 4096 * 16,        # linear.c: 4 builders of 4096 appends of 16 bytes
    "sb_append_alone": 4096 * 16,      # linear.c: 1 builder
    "vec_grow": 3 * (1 << 21),         # doubling.c: 3 vectors whose last capacity is 2 MiB
}
SOURCES = {"sb_append": "linear.c", "sb_append_alone": "linear.c", "vec_grow": "doubling.c"}


def realloc_line(source, fn):
    """The line of the GP_REALLOC* call in function `fn` of tests/targets/`source`: its site."""
    with open(os.path.join(TARGETS, source), encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("GP_SITE") and f" {fn}(" in l)
    return next(i + 1 for i in range(start, len(lines)) if "GP_REALLOC" in lines[i])


def truths(workdir, names):
    """Per function: the targets' own figures, plus the peaks, amplification and line."""
    out, totals = {}, {"bytes_copied": 0, "moves": 0}
    for name in names:
        with open(os.path.join(workdir, name), encoding="utf-8") as f:
            t = json.load(f)
        for k in totals:
            totals[k] += t["totals"][k]
        for fn, v in t["functions"].items():
            v = dict(v)
            v["amplification"] = v["bytes_copied"] / PEAKS[fn]
            v["file"] = SOURCES[fn]
            v["line"] = realloc_line(SOURCES[fn], fn)
            out[fn] = v
    return out, totals


def write(workdir, name, text):
    with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
        f.write(text)
    return name


def test_check(c, trace, sites, totals):
    """`trace`: the linear and doubling targets' traces (every check reads both); `sites`,
    `totals`: their truth."""
    lin, alone, geo = sites["sb_append"], sites["sb_append_alone"], sites["vec_grow"]
    a_lin, a_alone, a_geo = lin["amplification"], alone["amplification"], geo["amplification"]
    c.expect(f"the targets are what this test needs: the builders amplify {a_lin:.2f}x, "
             f"{a_alone:.2f}x, the vectors {a_geo:.2f}x", a_lin > 2 * max(a_alone, a_geo) + 0.1)
    # A limit between sb_append and the others: a round number, printed back as given.
    limit = round((a_lin + max(a_alone, a_geo)) / 2, 2)
    lim_s = f"{limit:g}"
    nsites = len(sites)

    # --per-site: sb_append fails, the others pass.
    p = c.run("check", "--per-site", "--max-amplification", lim_s, *trace)
    c.exit_code("per-site limit between the builders", p, 1)
    first = next((l for l in p.stdout.splitlines() if l.startswith("sb_append (")), "")
    c.expect("the offender line names sb_append with its amplification and the limit",
             f"amplification {a_lin:.2f}x exceeds the limit {lim_s}x" in first, p,
             f"line: {first!r}")
    c.expect("the offender line gives file:line",
             f"(linear.c:{lin['line']})" in first, p, f"line: {first!r}")
    c.contains("per-site failure: its bytes copied", p.stdout,
               f"copied {lin['bytes_copied'] / 1048576:.1f} MiB ({lin['bytes_copied']:,} bytes), "
               f"{lin['moves']:,} moves / {lin['steps']:,} steps", p)
    c.contains("per-site failure", p.stdout, "advice: ", p)
    c.lacks("per-site failure: the other builder is within the limit", p.stdout,
            "sb_append_alone (linear.c", p)
    c.lacks("per-site failure: the vectors are within the limit", p.stdout,
            "vec_grow (doubling.c", p)
    last = p.stdout.rstrip("\n").split("\n")[-1]
    c.expect(f"summary line last: FAILED, 1 of {nsites} sites",
             last.startswith(f"growprof check: FAILED: 1 of {nsites} sites over the limits"), p,
             f"last line: {last!r}")

    # The same limit above both: passes.
    high = f"{a_lin * 1.5 + 1:.2f}"
    p = c.run("check", "--per-site", "--max-amplification", high, *trace)
    c.exit_code("per-site limit above both builders", p, 0)
    c.expect("summary line: passed",
             p.stdout.rstrip("\n").split("\n")[-1].startswith(
                 f"growprof check: passed: {nsites} sites within the limits"), p)

    # Allowing sb_append leaves the others alone: passes.
    supp = write(c.dir, "allow-linear.supp",
                 "# the target's known trap\nallow function=sb_append  # on purpose\n")
    p = c.run("check", "--per-site", "--max-amplification", lim_s, "--suppressions", supp,
              *trace)
    c.exit_code("sb_append allowed by a suppression", p, 0)
    c.contains("allowed site listed", p.stdout, "allowed by allow-linear.supp:", p)
    c.lacks("no unused suppression", p.stderr, "unused suppression", p)

    # An entry that matches nothing is reported (a warning; --fail-on-unused fails).
    supp = write(c.dir, "unused.supp",
                 "allow function=sb_append\n\n# gone\nallow function=no_such_function\n")
    p = c.run("check", "--per-site", "--max-amplification", lim_s, "--suppressions", supp,
              *trace)
    c.exit_code("an unused suppression is a warning", p, 0)
    c.contains("unused suppression reported", p.stderr,
               "unused suppression at unused.supp:4", p)
    p = c.run("check", "--per-site", "--max-amplification", lim_s, "--suppressions", supp,
              "--fail-on-unused", *trace)
    c.exit_code("--fail-on-unused", p, 1)

    # A limit entry gives a site its own limit; a default line gives the limits.
    supp = write(c.dir, "own.supp",
                 f"limit function=sb_append max-amplification={a_lin * 2:.2f}\n"
                 f"default max-amplification={lim_s}\n")
    p = c.run("check", "--per-site", "--suppressions", supp, *trace)
    c.exit_code("own limit for sb_append above it, default limit from the file", p, 0)
    supp = write(c.dir, "own-low.supp",
                 "limit file=doubling.c function=vec_grow max-moves=1\n")
    p = c.run("check", "--suppressions", supp, *trace)
    c.exit_code("own limit for vec_grow below it (no other limit)", p, 1)
    c.contains("own limit names the entry", p.stdout,
               f"moves {geo['moves']:,} exceeds the limit 1 (own-low.supp:1)", p)

    # Whole-run limits: bytes copied with units, run amplification.
    total = totals["bytes_copied"]
    p = c.run("check", "--max-copied", "1G", *trace)
    c.exit_code("--max-copied 1G over the whole run", p, 0)
    p = c.run("check", "--max-copied", "512KiB", *trace)
    c.exit_code("--max-copied 512KiB over the whole run", p, 1)
    c.contains("run over --max-copied", p.stdout,
               f"the whole run: bytes copied {total:,} (", p)
    c.contains("run over --max-copied", p.stdout, "exceeds the limit 524,288 (512.0 KiB)", p)
    biggest = max(sites, key=lambda fn: sites[fn]["bytes_copied"])
    c.contains("run over: largest contributor listed first", p.stdout,
               f"1. {biggest} ({sites[biggest]['file']}:{sites[biggest]['line']})", p)
    p = c.run("check", "--max-copied", "10MB", "--max-moves", "1000000000", *trace)
    c.exit_code("--max-copied 10MB (decimal) and a large --max-moves", p,
                0 if total <= 10_000_000 else 1)
    p = c.run("check", "--max-copied", str(total), *trace)
    c.exit_code("--max-copied equal to the total passes", p, 0)
    p = c.run("check", "--max-copied", str(total - 1), *trace)
    c.exit_code("--max-copied one byte below the total fails", p, 1)
    # Whole run with sb_append allowed: the others are left, well under the limit.
    rest = [fn for fn in sites if fn != "sb_append"]
    a_rest = sum(sites[fn]["bytes_copied"] for fn in rest) / sum(PEAKS[fn] for fn in rest)
    c.expect(f"without sb_append the run amplifies {a_rest:.2f}x, under {lim_s}x",
             a_rest < limit)
    supp = write(c.dir, "allow2.supp", "allow function=sb_append\n")
    p = c.run("check", "--max-amplification", lim_s, "--suppressions", supp, *trace)
    c.exit_code("whole run without the allowed linear builder", p, 0)

    # JUnit XML.
    p = c.run("check", "--per-site", "--max-amplification", lim_s, "--junit", "out.xml",
              *trace)
    c.exit_code("--junit run", p, 1)
    try:
        root = ET.parse(os.path.join(c.dir, "out.xml")).getroot()
    except (OSError, ET.ParseError) as e:
        c.expect(f"JUnit output parses ({e})", False)
    else:
        cases = root.findall(".//testcase")
        failed = [tc for tc in cases if tc.find("failure") is not None]
        c.expect("JUnit: one testcase per site", len(cases) == nsites, None,
                 f"{len(cases)} testcases for {nsites} sites")
        c.expect("JUnit: one failure, sb_append's",
                 len(failed) == 1 and failed[0].get("name", "").startswith("sb_append ("),
                 None, f"failed: {[tc.get('name') for tc in failed]}")
        if failed:
            msg = failed[0].find("failure").get("message", "")
            c.expect("JUnit failure message has the number and the limit",
                     f"{a_lin:.2f}x exceeds the limit {lim_s}x" in msg, None, msg)
        suite = root.find("testsuite")
        c.expect("JUnit testsuite counts", suite is not None and
                 suite.get("tests") == str(nsites) and suite.get("failures") == "1")

    # GitHub annotations.
    p = c.run("check", "--per-site", "--max-amplification", lim_s, "--github", *trace)
    c.exit_code("--github run", p, 1)
    ann = [l for l in p.stdout.splitlines() if l.startswith("::error ")]
    c.expect("one ::error annotation with file= and line=",
             len(ann) == 1 and "file=" in ann[0] and f",line={lin['line']}," in ann[0] and
             ann[0].split("file=")[1].split(",")[0].endswith("linear.c") and
             "sb_append" in ann[0], p)

    # Usage errors and unreadable input: exit 2 with a message.
    bad = [
        (["--max-amplification", "nonsense", *trace],
         "growprof check: --max-amplification wants a non-negative number (e.g. 4 or 2.5), "
         "not 'nonsense'"),
        (["--max-amplification", "-1", *trace],
         "growprof check: --max-amplification wants a non-negative number (e.g. 4 or 2.5), "
         "not '-1'"),
        (["--max-copied", "lots", *trace],
         "growprof check: --max-copied wants a size in bytes (e.g. 10MB, 512KiB, 3G, 1000), "
         "not 'lots'"),
        (["--max-copied", "-5MB", *trace], "--max-copied wants a size in bytes"),
        (["--max-moves", "-3", *trace],
         "growprof check: --max-moves wants a non-negative whole number, not '-3'"),
        (["--max-moves", "2.5", *trace], "--max-moves wants a non-negative whole number"),
        ([*trace], "growprof check: no limit given"),
        (["--max-moves", "10"], "growprof check: no trace file or run folder given"),
        (["--max-moves", "10", "missing.zst"],
         "growprof check: missing.zst: cannot open: No such file or directory"),
        (["--max-moves", "10", "--suppressions", "missing.supp", *trace],
         "growprof check: missing.supp: cannot open: No such file or directory"),
        (["--max-moves", "10", "--bogus", *trace], "growprof check: bad option"),
        (["--max-moves", "10", *trace, "--per-site"],
         "growprof check: '--per-site': options go before the trace files"),
    ]
    for args, msg in bad:
        p = c.run("check", *args)
        c.exit_code(f"check {' '.join(args)}", p, 2)
        c.contains(f"check {' '.join(args)}", p.stderr, msg, p)
    write(c.dir, "not-a-trace.zst", "hello\n")
    p = c.run("check", "--max-moves", "10", "not-a-trace.zst")
    c.exit_code("check of a file that is not a trace", p, 2)
    c.contains("check of a file that is not a trace", p.stderr,
               "growprof check: not-a-trace.zst: ", p)
    malformed = [
        ("allow\n", "allow wants at least one of function="),
        ("allow function=x max-moves=3\n", "allow takes no limits"),
        ("limit function=x\n", "limit wants at least one of max-amplification="),
        ("limit function=x max-amplification=nonsense\n", "max-amplification wants"),
        ("limit function=x max-copied=12 parsecs\n", "expected KEY=VALUE, not 'parsecs'"),
        ("deny function=x\n", "unknown entry 'deny'"),
        ("allow fn=x\n", "unknown key 'fn'"),
        ('allow function="x\n', "unterminated quote"),
        ("default function=x max-moves=1\n", "default takes limits only"),
    ]
    for i, (line, msg) in enumerate(malformed):
        name = write(c.dir, f"bad{i}.supp", "# a comment\n\n" + line)
        p = c.run("check", "--max-moves", "10", "--suppressions", name, *trace)
        c.exit_code(f"malformed suppression {line.strip()!r}", p, 2)
        c.contains(f"malformed suppression {line.strip()!r}", p.stderr,
                   f"growprof check: {name}:3: {msg}", p)

    p = c.run("check", "--help")
    c.exit_code("check --help", p, 0)
    c.contains("check --help", p.stdout, "usage: growprof check", p)
    c.contains("check --help documents suppressions", p.stdout, "allow   function=", p)


def test_diff(c, trace, big):
    p = c.run("diff", "--fail-on-increase", "0", trace, "--", trace)
    c.exit_code("diff of a trace against itself", p, 0)
    c.lacks("diff against itself", p.stdout, "FAILED", p)
    # growdemo.c has two growth sites: append_linear and append_doubling.
    c.contains("diff against itself", p.stdout, "2 matched (2 unchanged), 0 new, 0 vanished", p)
    c.contains("diff against itself: verdict", p.stdout, "growprof diff: passed:", p)

    p = c.run("diff", "--fail-on-increase", "10", trace, "--", big)
    c.exit_code("diff against a bigger run with --fail-on-increase 10", p, 1)
    c.contains("diff against a bigger run", p.stdout,
               "growprof diff: FAILED: total bytes copied grew by ", p)
    c.contains("diff against a bigger run names the site", p.stdout,
               "growprof diff: FAILED: append_linear (growdemo.c:", p)
    rows = [l for l in p.stdout.splitlines() if l[:4].strip().rstrip(".").isdigit()]
    c.expect("largest increase first: append_linear",
             rows and "append_linear" in rows[0], p)

    p = c.run("diff", trace, "--", big)
    c.exit_code("diff without --fail-on-increase", p, 0)
    p = c.run("diff", "--fail-on-increase", "1000", trace, "--", big)
    c.exit_code("diff with a generous --fail-on-increase", p, 0)
    p = c.run("diff", "--fail-on-increase", "10", big, "--", trace)
    c.exit_code("diff of a smaller new run", p, 0)

    p = c.run("diff", "--format", "json", "--fail-on-increase", "10", trace, "--", big)
    c.exit_code("diff --format json against a bigger run", p, 1)
    try:
        d = json.loads(p.stdout)
    except ValueError as e:
        c.expect(f"diff --format json parses ({e})", False, p)
    else:
        c.expect("diff json: verdict and sites",
                 d.get("failed") is True and d.get("total_regressed") is True and
                 d["sites"][0]["function"] == "append_linear" and
                 d["sites"][0]["change"]["bytes_copied"] > 0 and
                 d["change"]["bytes_copied_pct"] > 10, p)

    bad = [
        ([trace], "growprof diff: missing '--' between the base and the new traces"),
        (["--", trace], "growprof diff: no base trace before '--'"),
        ([trace, "--"], "growprof diff: no new trace after '--'"),
        (["--fail-on-increase", "lots", trace, "--", trace],
         "growprof diff: --fail-on-increase wants a non-negative percentage"),
        (["--fail-on-increase", "-5", trace, "--", trace],
         "growprof diff: --fail-on-increase wants a non-negative percentage"),
        (["--format", "xml", trace, "--", trace], "growprof diff: unknown --format 'xml'"),
        ([trace, "--", "missing.zst"],
         "growprof diff: missing.zst: cannot open: No such file or directory"),
    ]
    for args, msg in bad:
        p = c.run("diff", *args)
        c.exit_code(f"diff {' '.join(args)}", p, 2)
        c.contains(f"diff {' '.join(args)}", p.stderr, msg, p)

    p = c.run("diff", "--help")
    c.exit_code("diff --help", p, 0)
    c.contains("diff --help", p.stdout, "usage: growprof diff", p)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--linear", required=True, help="tests/targets/linear.c built")
    ap.add_argument("--doubling", required=True, help="tests/targets/doubling.c built")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    growprof, preload, demo, linear, doubling = (
        os.path.abspath(x) for x in (args.growprof, args.preload, args.demo, args.linear,
                                     args.doubling))
    workdir = tempfile.mkdtemp(prefix="growprof-gate-")
    c = Checker(growprof, workdir)
    try:
        targets = [record(linear, preload, workdir, "linear", truth="linear.json"),
                   record(doubling, preload, workdir, "doubling", truth="doubling.json")]
        sites, totals = truths(workdir, ["linear.json", "doubling.json"])
        test_check(c, targets, sites, totals)
        trace = record(demo, preload, workdir, "small")
        big = record(demo, preload, workdir, "big", "131072")
        test_diff(c, trace, big)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{c.passed} checks passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
