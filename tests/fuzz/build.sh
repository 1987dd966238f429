#!/bin/sh
# Build the libFuzzer target fuzz_reader (and the corpus generator) from the sources in src/
# directly, with clang's fuzzer, address and undefined-behaviour sanitizers.
#
#   tests/fuzz/build.sh               # -> $GP_FUZZ_OUT (default /tmp/growprof-fuzz)
#   tests/fuzz/build.sh --corpus      # also regenerate tests/fuzz/corpus/ (seed files only)
#
# Needs clang (Debian clang 14 works) and libzstd-dev. CC=clang-14 to pick one;
# GP_FUZZ_CFLAGS adds flags (e.g. -fno-sanitize=nonnull-attribute to fuzz past a known bug).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${GP_FUZZ_OUT:-/tmp/growprof-fuzz}
cc=${CC:-clang}
mkdir -p "$out"

core="$root/src/gp_record.c $root/src/gp_codec.c $root/src/gp_segcols.c $root/src/gp_reader.c $root/src/gp_agg.c
	$root/src/gp_agg_chain.c $root/src/gp_pattern.c $root/src/gp_grow.c"
flags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter -I$root/src"

# shellcheck disable=SC2086
$cc $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	${GP_FUZZ_CFLAGS:-} $core "$here/fuzz_reader.c" -lzstd -lm -o "$out/fuzz_reader"
echo "built $out/fuzz_reader"

# The same entry point with a plain main(), as the meson test unit-fuzz-corpus builds it.
# shellcheck disable=SC2086
$cc $flags -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	${GP_FUZZ_CFLAGS:-} $core "$here/fuzz_reader.c" "$here/fuzz_replay.c" -lzstd -lm \
	-o "$out/fuzz_replay"
echo "built $out/fuzz_replay"

# shellcheck disable=SC2086
$cc $flags -I"$root/tests/unit" "$root/src/gp_record.c" "$root/src/gp_codec.c" "$root/src/gp_writer.c" "$root/src/gp_segcols.c" \
	"$root/tests/unit/tb.c" "$here/gen_corpus.c" -lzstd -o "$out/gen_corpus"
echo "built $out/gen_corpus"

if [ "${1:-}" = "--corpus" ]; then
	mkdir -p "$here/corpus"
	"$out/gen_corpus" "$here/corpus"
fi
