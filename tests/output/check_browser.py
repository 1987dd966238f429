#!/usr/bin/env python3
"""Open growprof's html report in a headless browser, as a person would.

    check_browser.py --preload PATH/libgrowprof.so --growprof PATH/growprof
                     --demo PATH/growdemo --script browser_check.js --screenshot OUT.png

Records growdemo, writes `growprof report --format html`, and runs browser_check.js with
node and playwright-core on Debian's Chromium (no console error, no network request, the
flame graph and the charts drawn, click to zoom, tooltip, reset, weight, search, sorting).
Leaves OUT.png (the whole page) and OUT-zoom.png (the zoomed flame graph).
Exit 0 if all holds, 1 otherwise, 77 (skip) without chromium, node or playwright-core
(`scripts/deps.sh --test` installs them; playwright-core into tests/output/node_modules).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args(argv)
    for k in ('preload', 'growprof', 'demo', 'script', 'screenshot'):  # meson passes paths relative to the build directory
        setattr(args, k, os.path.abspath(getattr(args, k)))

    chromium = os.environ.get("GP_CHROMIUM", "/usr/bin/chromium")
    node = shutil.which("node")
    here = os.path.dirname(os.path.abspath(args.script))
    if not os.access(chromium, os.X_OK) or not node:
        print(f"SKIP: no {chromium if not os.access(chromium, os.X_OK) else 'node'} "
              "(scripts/deps.sh --test installs chromium and nodejs)")
        return 77
    r = subprocess.run([node, "-e", "require.resolve('playwright-core')"], cwd=here,
                       capture_output=True)
    if r.returncode != 0:
        print(f"SKIP: playwright-core is not installed in {here}/node_modules "
              "(scripts/deps.sh --test installs it)")
        return 77

    tmp = tempfile.mkdtemp(prefix="gp-browser-")
    try:
        env = dict(os.environ, LD_PRELOAD=args.preload,
                   GROWPROF_OUTPUT=os.path.join(tmp, "demo.%p.zst"))
        r = subprocess.run([args.demo], env=env, cwd=tmp, capture_output=True, timeout=100)
        if r.returncode:
            print(f"FAIL: growdemo under the profiler exited {r.returncode}", file=sys.stderr)
            return 1
        traces = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".zst")]
        html = os.path.join(tmp, "report.html")
        r = subprocess.run([args.growprof, "report", "--format", "html", "-o", html, *traces],
                           capture_output=True, timeout=100)
        if r.returncode:
            print(f"FAIL: growprof report --format html exited {r.returncode}: "
                  f"{r.stderr.decode(errors='replace')}", file=sys.stderr)
            return 1
        r = subprocess.run([node, os.path.abspath(args.script), html, args.screenshot],
                           cwd=here, capture_output=True, timeout=180,
                           env=dict(os.environ, GP_CHROMIUM=chromium))
        sys.stdout.write(r.stdout.decode(errors="replace"))
        sys.stderr.write(r.stderr.decode(errors="replace"))
        if r.returncode:
            print("FAIL: the html report does not work in the browser (see 'problems')",
                  file=sys.stderr)
            return 1
        print(f"ok: the html report works in Chromium; screenshot {args.screenshot}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
