#!/usr/bin/env bash
# Events lost in a burst, and the drainer's CPU: bench/compare.sh's
# TRACE_REGION row alone (bench/compare/work.c: THREADS threads, ITERS calls
# of work() each, one region pair a call, SPIN multiply-add steps), under a
# whole-run capture (CPROF_TRACE_FILE) with the rings the environment gives
# (CPROF_TRACE_BUFFER unset: the default). Per run: events lost (the
# library's count), and the collector's CPU = (process CPU - worker threads'
# CPU) traced minus the same untraced, per event delivered. Medians of REPS.
#   bench/loss.sh [BUILD_DIR] [ITERS] [SPINS] [THREADS] [REPS]
#   defaults: build 1000000 "0 100" "1 2" 5
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd) || exit 2
ITERS=${2:-1000000}
SPINS=${3:-0 100}
THREADS=${4:-1 2}
REPS=${5:-5}
W=$(mktemp -d /tmp/cprof-loss.XXXXXX)
trap 'rm -rf "$W"' EXIT
C=$HERE/compare
gcc -O2 -g -pthread -o "$W/runcpu" "$C/runcpu.c" || exit 1
gcc -O2 -g -pthread -o "$W/w_base" "$C/work.c" || exit 1
gcc -O2 -g -pthread -DUSE_CPROF -I"$ROOT/tracer/include" -o "$W/w_cprof" "$C/work.c" -L"$B/tracer" -lcproftrace \
  -Wl,-rpath,"$B/tracer" || exit 1
kv() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" "$2"; }
med() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "bench/loss.sh $B $ITERS \"$SPINS\" \"$THREADS\" $REPS; CPROF_TRACE_BUFFER=${CPROF_TRACE_BUFFER:-default}; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| spin | threads | lost % (runs) | median lost % | collector CPU ms | ns/event delivered |"
echo "|---|---|---|---|---|---|"
for SPIN in $SPINS; do
  for T in $THREADS; do
    lost=() bo=() co=() ev=()
    for _ in $(seq 1 "$REPS"); do
      "$W/runcpu" "$W/cpu" "$W/w_base" "$ITERS" "$T" "$SPIN" > "$W/out" || exit 1
      bo+=("$(awk -v a="$(cat "$W/cpu")" -v b="$(kv worker_cpu "$W/out")" 'BEGIN{print a - b}')")
      rm -f "$W/c.trace"
      CPROF_TRACE_FILE=$W/c.trace "$W/runcpu" "$W/cpu" "$W/w_cprof" "$ITERS" "$T" "$SPIN" > "$W/out" || exit 1
      d=$(kv dropped "$W/out")
      lost+=("$(awk -v d="$d" -v n=$((2 * ITERS * T)) 'BEGIN{printf "%.1f", 100 * d / n}')")
      co+=("$(awk -v a="$(cat "$W/cpu")" -v b="$(kv worker_cpu "$W/out")" 'BEGIN{print a - b}')")
      ev+=($((2 * ITERS * T - d)))
    done
    ml=$(printf '%s\n' "${lost[@]}" | med)
    mb=$(printf '%s\n' "${bo[@]}" | med)
    mc=$(printf '%s\n' "${co[@]}" | med)
    me=$(printf '%s\n' "${ev[@]}" | med)
    awk -v s="$SPIN" -v t="$T" -v l="${lost[*]}" -v ml="$ml" -v c="$mc" -v b="$mb" -v e="$me" \
      'BEGIN{printf "| %s | %s | %s | %s | %.0f | %.1f |\n", s, t, l, ml, (c - b) * 1000, (c - b) * 1e9 / (e > 0 ? e : 1)}'
  done
done
