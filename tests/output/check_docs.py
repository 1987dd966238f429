#!/usr/bin/env python3
"""The help and the manual agree: every option of `growprof COMMAND --help` is in growprof.1.

    check_docs.py --growprof PATH/growprof --man doc/growprof.1 [--man doc/libgrowprof.7]

Also checks that the pages render without a groff warning (when groff is there), that
`growprof --help` names every command, that each help exits 0 and keeps to
90 columns, and that report's help lists every --format and --weight value.
Exit status 0 if all holds, 1 otherwise.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

COMMANDS = ("record", "report", "check", "diff")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--man", required=True, action="append", help="growprof.1 first")
    args = ap.parse_args(argv)
    problems = []
    if shutil.which("groff"):
        for page in args.man:
            r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", page],
                               capture_output=True, text=True)
            if r.returncode or r.stderr.strip():
                problems.append(f"{os.path.basename(page)} does not render cleanly: {r.stderr.strip()}")
    args.man = args.man[0]
    with open(args.man, encoding="utf-8") as f:
        man = f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
    top = subprocess.run([args.growprof, "--help"], capture_output=True, text=True)
    if top.returncode != 0:
        problems.append(f"growprof --help exited {top.returncode}")
    for cmd in COMMANDS:
        if not re.search(rf"^\s+{cmd}\b", top.stdout, re.M):
            problems.append(f"growprof --help does not list {cmd}")
        r = subprocess.run([args.growprof, cmd, "--help"], capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith(f"usage: growprof {cmd}"):
            problems.append(f"growprof {cmd} --help: exit {r.returncode}, {r.stdout[:60]!r}")
            continue
        for ln in r.stdout.splitlines():
            if len(ln) > 90:
                problems.append(f"growprof {cmd} --help: line over 90 columns: {ln!r}")
        section = man.split(f".SS growprof {cmd}", 1)
        if len(section) < 2:
            problems.append(f"growprof.1 has no section for {cmd}")
            continue
        text = section[1].split("\n.SS ", 1)[0]
        for opt in sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*|-[a-z])\b", r.stdout, re.M))):
            if opt in ("-h", "--help"):
                continue
            if not re.search(rf"(^|[\s.]){re.escape(opt)}\b", text, re.M):
                problems.append(f"growprof.1 does not describe {cmd} {opt}")
    rep = subprocess.run([args.growprof, "report", "--help"], capture_output=True, text=True).stdout
    for word in ("text", "json", "folded", "pprof", "html", "bytes_copied", "moves", "steps",
                 "--weight"):
        if word not in rep:
            problems.append(f"growprof report --help does not mention {word}")
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if not problems:
        print(f"ok: the help of {', '.join(COMMANDS)} and growprof.1 agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
