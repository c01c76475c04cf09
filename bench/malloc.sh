#!/usr/bin/env bash
# The malloc interposer's cost (heap profile): bench_malloc plain, under
# LD_PRELOAD with sampling off (CPROF_TRACE_MEM_RATE=0: the wrapper alone),
# at the default rate (512 KiB) and at 4 KiB; interleaved 3 times, best of
# each, ns per malloc+free pair.
#   bench/malloc.sh [build-dir]
set -euo pipefail
build=${1:-build}
bin="$build/bench/bench_malloc"
lib="$build/tracer/libcproftrace.so"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3; do
  "$bin" >> "$tmp/plain"
  LD_PRELOAD="$lib" CPROF_TRACE_MEM_RATE=0 "$bin" >> "$tmp/off"
  LD_PRELOAD="$lib" "$bin" >> "$tmp/default"
  LD_PRELOAD="$lib" CPROF_TRACE_MEM_RATE=4096 "$bin" >> "$tmp/r4k"
done
best() { awk -v k="$1" '$1 == k { if (b == "" || $2 < b) b = $2 } END { print b }' "$2"; }
printf '%-10s %10s %10s %12s %12s\n' op "plain ns" "rate=0 ns" "512KiB ns" "4KiB ns"
for op in pair64 pair4k pair64x2; do
  printf '%-10s %10s %10s %12s %12s\n' "$op" "$(best $op "$tmp/plain")" "$(best $op "$tmp/off")" \
    "$(best $op "$tmp/default")" "$(best $op "$tmp/r4k")"
done
