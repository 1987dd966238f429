#!/usr/bin/env bash
# demo.sh - install what is missing, build, profile the bundled example, show the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
out=$(mktemp -d)
echo "\$ growprof record -o $out -- build/examples/growdemo"
build/viewer/growprof record -o "$out" -- build/examples/growdemo
echo
echo "\$ growprof report $out"
build/viewer/growprof report --top 5 "$out"
