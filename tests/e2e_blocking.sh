#!/usr/bin/env bash
# Issue 3's known-behaviour test: blocking_app linked with the library, and
# an uninstrumented build under LD_PRELOAD; check_blocking asserts each trace.
set -euo pipefail
build=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CPROF_TRACE_FILE="$dir/linked.trace" "$build/tests/blocking_app_linked" > "$dir/linked.facts"
"$build/tests/check_blocking" "$dir/linked.facts" "$dir/linked.trace"
case "$(ldd "$build/tests/blocking_app_plain")" in *cproftrace*) echo "plain build links the tracer"; exit 1;; esac
LD_PRELOAD="$build/tracer/libcproftrace.so" CPROF_TRACE_FILE="$dir/preload.trace" \
  "$build/tests/blocking_app_plain" > "$dir/preload.facts"
"$build/tests/check_blocking" "$dir/preload.facts" "$dir/preload.trace"
