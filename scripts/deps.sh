#!/usr/bin/env bash
# deps.sh - install what growprof needs to build and test, from Debian packages, if missing.
# Usage: scripts/deps.sh [--test]   (--test adds the programs the test suite runs)
set -euo pipefail
pkgs=(gcc pkg-config meson ninja-build libunwind-dev uthash-dev libzstd-dev zstd libdw-dev
      libelf-dev libiberty-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(python3 sqlite3 jq perl git make clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
