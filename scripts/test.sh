#!/usr/bin/env bash
# test.sh - install what is missing, build, run every test; ends with "N passed, N failed".
# Set GP_SANITIZE=1 to build and test with AddressSanitizer + UBSan as well.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }
passed=0; failed=0
run_suite() { # build dir, suites ("" = all), meson options...
  local dir=$1 suites=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed+1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log"; failed=$((failed+1)); return
  fi
  local sel=()
  for s in $suites; do sel+=(--suite "$s"); done
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${sel[@]}" 2>&1 | tee "$dir.test.log"
  local ok fail
  ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$dir.test.log" | tail -1)
  fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$dir.test.log" | tail -1)
  to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$dir.test.log" | tail -1)
  passed=$((passed + ${ok:-0})); failed=$((failed + ${fail:-0} + ${to:-0}))
  [ -n "$ok" ] || failed=$((failed+1))
}
run_suite build ""
if [ "${GP_SANITIZE:-0}" = 1 ]; then
  # The viewer and the core under AddressSanitizer + UBSan, on every suite that feeds them
  # traces (the preload and the programs it watches are built without sanitizers).
  run_suite build-asan "unit e2e reloc cli output run attr sym" -Db_sanitize=address,undefined -Db_lundef=false
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
