#!/usr/bin/env bash
# Interposition overhead: bench_interpose plain, under LD_PRELOAD (flight
# recorder only) and under LD_PRELOAD with a capture draining to a file;
# runs interleaved 3 times, best of each, with ratios to plain.
#   bench/interpose.sh [build-dir]
set -euo pipefail
build=${1:-build}
bin="$build/bench/bench_interpose"
lib="$build/tracer/libcproftrace.so"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3; do
  "$bin" >> "$tmp/plain"
  LD_PRELOAD="$lib" "$bin" >> "$tmp/idle"
  LD_PRELOAD="$lib" CPROF_TRACE_FILE="$tmp/t.trace" "$bin" >> "$tmp/capture"
done
best() { awk -v k="$1" '$1 == k { if (b == "" || $2 < b) b = $2 } END { print b }' "$2"; }
printf '%-10s %12s %12s %8s %12s %8s\n' op "plain ns" "preload ns" ratio "capture ns" ratio
for op in mutex handoff pipe; do
  p=$(best $op "$tmp/plain") i=$(best $op "$tmp/idle") c=$(best $op "$tmp/capture")
  printf '%-10s %12s %12s %8s %12s %8s\n' "$op" "$p" "$i" "$(echo "scale=2; $i / $p" | bc)" "$c" \
    "$(echo "scale=2; $c / $p" | bc)"
done
