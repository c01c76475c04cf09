#!/usr/bin/env bash
# Whole CPU cost of an event: recording + draining + encoding + compressing
# + writing. Runs bench/event_cost (2 threads: tasks, nested regions, logs,
# a contended lock; `mixed`: also short sleeps, i.e. more blocking events
# with stacks) with CPROF_TRACE=0 and with CPROF_TRACE_FILE, ROUNDS times
# interleaved, and prints the process's CPU time (user + sys, all threads,
# from wait4 via /usr/bin/time), the medians, and
#   whole ns/event = (median CPU traced - median CPU untraced) / events written
# split into recording (the flight recorder alone: the same events recorded
# into the same rings, nothing drained) and the rest (draining, encoding,
# compressing, writing), with the file's bytes per event.
#   bench/event_cost.sh [BUILD_DIR] [ROUNDS] [ITERS] [mixed]
#   (defaults: build, 5, 680000 per thread: ~10 M events)
# OTHER=BUILD_DIR measures that build too, in the same interleaved rounds
# (before/after comparisons); its figures are printed after this one's.
set -euo pipefail
B=${1:-build}
R=${2:-5}
N=${3:-680000}
MODE=${4:-}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# a ring large enough that nothing is dropped: drops would make the drainer's work look cheaper
# (CPROF_TRACE_BUFFER=default: the library's default rings, to count what they drop)
BUF=${CPROF_TRACE_BUFFER:-64m}
BUFVAR=CPROF_TRACE_BUFFER=$BUF
[ "$BUF" = default ] && BUFVAR=CPROF_TRACE=1
cpu() { # build env... -> prints user+sys seconds
  local b=$1
  shift
  env "$@" /usr/bin/time -f '%U %S' -o "$W/t" "$b/bench/event_cost" "$N" $MODE > /dev/null
  awk '{printf "%.3f\n", $1 + $2}' "$W/t"
}
builds=("$B")
[ -n "${OTHER:-}" ] && builds+=("$OTHER")
for i in $(seq 1 "$R"); do
  for k in "${!builds[@]}"; do
    b=${builds[$k]}
    cpu "$b" CPROF_TRACE=0 >> "$W/off.$k"
    cpu "$b" "$BUFVAR" >> "$W/rec.$k"
    rm -f "$W/x.$k.trace"
    cpu "$b" "$BUFVAR" CPROF_TRACE_FILE="$W/x.$k.trace" >> "$W/on.$k"
  done
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for k in "${!builds[@]}"; do
  b=${builds[$k]}
  [ "$k" -gt 0 ] && echo && echo "OTHER=$b:"
  V=$b/viewer/cprof-trace
  moff=$(median "$W/off.$k")
  mon=$(median "$W/on.$k")
  mrec=$(median "$W/rec.$k")
  "$V" -dump -stats "$W/x.$k.trace" > "$W/stats"
  events=$(awk '/^events /{print $2; exit}' "$W/stats")
  lost=$(awk '/^lost /{print $2; exit}' "$W/stats")
  size=$(stat -c %s "$W/x.$k.trace")
  echo "CPU s, CPROF_TRACE=0: $(paste -sd' ' "$W/off.$k")  (median $moff)"
  echo "CPU s, flight recorder only: $(paste -sd' ' "$W/rec.$k")  (median $mrec)"
  echo "CPU s, CPROF_TRACE_FILE: $(paste -sd' ' "$W/on.$k")  (median $mon)"
  printf 'events %d (lost %d), file %.2f MB, %.2f bytes/event\n' "$events" "$lost" "$(echo "$size/1000000" | bc -l)" \
    "$(echo "$size/$events" | bc -l)"
  ns() { echo "($1 - $2) * 1000000000 / $events" | bc -l; }
  printf 'whole cost: %.1f ns/event = recording %.1f + draining, encoding, compressing, writing %.1f\n' \
    "$(ns "$mon" "$moff")" "$(ns "$mrec" "$moff")" "$(ns "$mon" "$mrec")"
  if [ -n "${STATS:-}" ]; then cat "$W/stats"; fi
done
