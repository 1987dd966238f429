#!/bin/sh
# Fuzz gp_agg_add_mem / gp_reader for N seconds (default 60), starting from
# tests/fuzz/corpus/ (read only: new inputs go to $GP_FUZZ_OUT/corpus), then replay the
# committed corpus. Crashes land in $GP_FUZZ_OUT/artifacts/; copy the ones worth keeping into
# tests/fuzz/corpus/ as crash-<what>-<hash> regression files.
#
#   tests/fuzz/run.sh [SECONDS] [libFuzzer flags...]
#   GP_FUZZ_JOBS=2 tests/fuzz/run.sh 600      # parallel workers
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${GP_FUZZ_OUT:-/tmp/growprof-fuzz}
secs=${1:-60}
[ $# -gt 0 ] && shift
jobs=${GP_FUZZ_JOBS:-1}

[ -x "$out/fuzz_reader" ] || GP_FUZZ_OUT=$out "$here/build.sh"
mkdir -p "$out/corpus" "$out/artifacts"

par=""
if [ "$jobs" -gt 1 ]; then
	par="-fork=$jobs -ignore_crashes=0"
fi
# -timeout: an input taking 10 s is a hang; -rss_limit_mb: zstd windows of up to 128 MiB
# (windowLogMax 27) and 16 MiB records are legitimate.
# shellcheck disable=SC2086
"$out/fuzz_reader" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	-dict="$here/growprof.dict" -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
	$par "$@" "$out/corpus" "$here/corpus"
"$out/fuzz_reader" -runs=0 -artifact_prefix="$out/artifacts/" "$here/corpus" >/dev/null 2>&1 &&
	echo "corpus replays clean"
