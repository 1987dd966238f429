#!/usr/bin/env bash
# deps.sh - install what growprof needs to build and test, from Debian packages, if missing.
# Usage: scripts/deps.sh [--test]   (--test adds the programs the test suite runs)
set -euo pipefail
pkgs=(gcc pkg-config meson ninja-build libunwind-dev uthash-dev libzstd-dev zstd libdw-dev
      libelf-dev libiberty-dev python3 libprotobuf-c-dev protobuf-c-compiler zlib1g-dev)
opt=() # best effort: a test that needs one of these skips (exit 77) without it
if [ "${1:-}" = "--test" ]; then
  pkgs+=(python3 sqlite3 jq perl git make xz-utils clang libclang-rt-14-dev protobuf-compiler)
  opt+=(chromium)
  pkgs+=(binutils debuginfod) # tests/sym: objcopy/strip/readelf, a debuginfod server on loopback
  pkgs+=(libjemalloc-dev libtcmalloc-minimal4 libgoogle-perftools-dev libmimalloc-dev redis-server redis-tools) # tests/alloc
  opt+=(golang-go) # tests/alloc: a real Go program (its own allocator)
  command -v node >/dev/null || opt+=(nodejs) # node and npm may come from elsewhere than apt
  command -v npm >/dev/null || opt+=(npm)
fi
missing_of() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
mapfile -t missing < <(missing_of "${pkgs[@]}")
mapfile -t opt_missing < <(missing_of "${opt[@]}")
if [ ${#missing[@]} -gt 0 ] || [ ${#opt_missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi
if [ ${#opt_missing[@]} -gt 0 ]; then
  echo "deps: installing ${opt_missing[*]} (optional)" >&2
  apt_install "${opt_missing[@]}" || echo "deps: could not install ${opt_missing[*]}: tests that need them skip" >&2
fi
# The browser test of the html report drives Chromium with playwright-core (npm), installed
# into tests/output/node_modules (ignored by git) from tests/output/package.json.
if [ "${1:-}" = "--test" ] && command -v npm >/dev/null; then
  out="$(cd "$(dirname "$0")/.." && pwd)/tests/output"
  if [ ! -d "$out/node_modules/playwright-core" ]; then
    echo "deps: npm install playwright-core (tests/output/node_modules)" >&2
    (cd "$out" && npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
      echo "deps: could not install playwright-core: the browser test skips" >&2
  fi
fi
exit 0
