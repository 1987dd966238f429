#!/usr/bin/env python3
"""The viewer's memory follows sites, stacks and live chains, not events.

    check_report_memory.py --preload libgrowprof.so --growprof growprof --target churn

Records gp-target-churn (tests/targets/churn.c) three times: N chains, 10 N chains, and
10 N chains of which N stay live to the end. Reads each trace with
`growprof report --format json` in a child of its own and takes the child's peak RSS
(wait4). Asserts:
  - each report has churn_step's closed forms: 2 sites, each with as many chains and steps
    as the run made chains, all grows;
  - 10x the events costs the report less than SLACK more memory (a byte per event would be
    3.6 MiB over these 3.6 M more events);
  - N live chains cost at most LIVE_COST bytes each.
Exit status 0 if all holds, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

N = 100000
SLACK = 3 * 1024 * 1024
LIVE_COST = 1024


def record(args, tmp, tag, argv):
    trace = os.path.join(tmp, f"{tag}.zst")
    env = dict(base_env(), LD_PRELOAD=args.preload, GROWPROF_OUTPUT=trace)
    p = gptest.run([args.target] + argv, env, tmp, tag, 120)
    if p.returncode != 0 or not os.path.exists(trace):
        raise gptest.Failure(f"{tag}: the target exited {p.returncode} "
                             f"({show(p.stderr, 300)}) or wrote no trace")
    return trace


def report(args, trace):
    """@return (the JSON report, the report's peak RSS in bytes)."""
    with tempfile.TemporaryFile() as out:
        # wait4: the peak RSS of this child alone
        p = subprocess.Popen([args.growprof, "report", "--format", "json", trace],
                             env=base_env(), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            raise gptest.Failure(f"growprof report {trace} exited {rc}: {show(err, 300)}")
        out.seek(0)
        return json.load(out), ru.ru_maxrss * 1024


def check_sites(rep, chains, tag, errors):
    sites = [s for s in rep["sites"] if s.get("function") == "churn_step"]
    if len(sites) != 2:
        errors.append(f"{tag}: {len(sites)} churn_step sites, expected 2")
        return
    for s in sites:
        got = {k: s[k] for k in ("chains", "steps", "grows", "shrinks")}
        want = {"chains": chains, "steps": chains, "grows": chains, "shrinks": 0}
        if got != want:
            errors.append(f"{tag}: churn_step site at {s.get('address')}: {got}, "
                          f"expected {want}")


def measure(args, errors):
    """@return the report's peak RSS of each run, by tag."""
    rss = {}
    with tempfile.TemporaryDirectory(prefix="gp-repmem.") as tmp:
        runs = {"small": [str(N)], "big": [str(10 * N)], "live": [str(10 * N), str(N)]}
        for tag, argv in runs.items():
            rep, rss[tag] = report(args, record(args, tmp, tag, argv))
            check_sites(rep, int(argv[0]), tag, errors)
            print(f"{tag:5}: {argv[0]:>7} chains, {argv[1] if len(argv) > 1 else 0:>6} "
                  f"live: report peak RSS {rss[tag] / 1048576:.1f} MiB")
    return rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--target", required=True)
    args = ap.parse_args()
    for k in ("preload", "growprof", "target"):  # the runs are in a scratch directory
        setattr(args, k, os.path.abspath(getattr(args, k)))
    errors = []
    try:
        rss = measure(args, errors)
    except gptest.Failure as e:
        print("FAIL:", e)
        return 1
    if rss["big"] - rss["small"] >= SLACK:
        errors.append(f"10x the events took the report {(rss['big'] - rss['small']) / 1048576:.1f}"
                      f" MiB more (limit {SLACK / 1048576:.0f} MiB): memory follows events")
    per_live = (rss["live"] - rss["big"]) / N
    if per_live > LIVE_COST:
        errors.append(f"{per_live:.0f} bytes per live chain (limit {LIVE_COST})")
    print(f"per live chain: {per_live:.0f} bytes")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
