#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it for a
# bounded time from its committed seed corpus.
#   tests/fuzz.sh BUILD_DIR trace|query [SECONDS]
# SECONDS defaults to $CPROF_FUZZ_SECONDS, else 60. Longer runs, e.g. an hour:
#   CPROF_FUZZ_SECONDS=3600 tests/fuzz.sh build trace
# New coverage is kept in BUILD_DIR/tests/fuzz-corpus-TARGET (reused by the
# next run). A crash leaves BUILD_DIR/tests/fuzz-TARGET-crash-*: commit it to
# tests/fuzz/TARGET/ (and, for traces, as tests/hostile/NAME.trace) with the fix.
set -euo pipefail
B=$(cd "$1" && pwd)
T=$2
secs=${3:-${CPROF_FUZZ_SECONDS:-60}}
SRC=$(cd "$(dirname "$0")/.." && pwd)
CC=${CPROF_FUZZ_CC:-clang}
command -v "$CC" > /dev/null || { echo "fuzz: $CC not found (scripts/deps.sh test installs clang)" >&2; exit 1; }
out=$B/tests/fuzz_$T
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -std=gnu11)
case $T in
  trace)
    srcs=("$SRC/tests/fuzz_trace.c" "$SRC"/format/*.c)
    for f in "$SRC"/viewer/*.c; do
      case $(basename "$f") in main.c|serve.c|record.c|usage.c) ;; *) srcs+=("$f");; esac # the CLI, record and the HTTP server
    done
    # shellcheck disable=SC2207
    "$CC" "${flags[@]}" -I"$SRC/format" -I"$SRC/viewer" -I"$SRC/tracer/include" $(pkg-config --cflags liblz4 libcjson zlib) "${srcs[@]}" \
      $(pkg-config --libs liblz4 libcjson zlib) -lm -o "$out" ;;
  query)
    "$CC" "${flags[@]}" -I"$SRC/tracer" "$SRC/tests/fuzz_query.c" "$SRC/tracer/http/query.c" -o "$out" ;;
  *) echo "fuzz: unknown target $T (trace, query)" >&2; exit 2 ;;
esac
work=$B/tests/fuzz-corpus-$T
mkdir -p "$work"
seeds=("$SRC/tests/fuzz/$T")
[ "$T" = trace ] && seeds+=("$SRC/tests/hostile")
echo "fuzz: $T for $secs s from ${seeds[*]}"
set +e
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=65536 -close_fd_mask=3 \
  -artifact_prefix="$B/tests/fuzz-$T-" -print_final_stats=1 "$work" "${seeds[@]}" 2> "$B/tests/fuzz-$T.log"
rc=$?
set -e
tail -n 25 "$B/tests/fuzz-$T.log"
if [ $rc -ne 0 ]; then
  echo "fuzz: $T failed (exit $rc); the input is $(ls "$B"/tests/fuzz-"$T"-* 2>/dev/null | head -3)" >&2
  exit 1
fi
echo "fuzz: $T ok"
