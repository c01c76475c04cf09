#!/usr/bin/env bash
# Issue 12 item 17: the viewer's memory does not follow the event count.
# A trace of millions of wake-ups (tests/gen_wakes.c: most wake nobody, some
# end sync blocks) goes through every report and the pprof profiles; each
# must peak (max RSS) far below 8 bytes per event, the size of the index of
# every wake-up the walk kept before. Then the streaming wake-up index
# (pass 2 reading ahead, walk_wakes.c) must give the figures the whole index
# gives: the same outputs with CPROF_WALK_WAKES_MAX large (every edge kept)
# and 0 (streaming however small the trace).
#   e2e_wake_memory.sh BUILD [SANITIZED]   (SANITIZED: skip the RSS bound, a smaller flood)
set -euo pipefail
B=$1
sanitized=${2:-}
V=$B/viewer/cprof-trace
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Sanitized builds check no memory bound (their allocators' own), only that
# the streaming index answers like the full one: a flood past its 256 Ki
# threshold is enough there, and an 8 M one took TSan minutes per command.
events=8000000
[ -n "$sanitized" ] && events=600000
"$B/tests/gen_wakes" "$dir/big.trace" $events > /dev/null
bound_kb=$(( events * 8 / 1024 / 4 ))  # a quarter of 8 bytes per event
echo "trace: $events events, $(stat -c %s "$dir/big.trace") bytes; bound $bound_kb KB (8 bytes/event: $(( events * 8 / 1024 )) KB)"
for what in -report=threads -report=sync -report=sched -report=tasks -report=regions -report=cpu \
            -pprof=sync; do
  /usr/bin/time -f %M -o "$dir/rss" "$V" "$what" "$dir/big.trace" > "$dir/out" 2> "$dir/err" \
    || { cat "$dir/err"; fail "$what failed"; }
  kb=$(tail -1 "$dir/rss")
  echo "$what: max RSS $kb KB"
  if [ -z "$sanitized" ] && [ "$kb" -gt "$bound_kb" ]; then
    fail "$what: $kb KB > $bound_kb KB"
  fi
done
grep -q 'pthread_mutex_lock' <("$V" -report=sync "$dir/big.trace") || fail "the sync report lost its blocks"

# the same figures whichever way the wake-ups are indexed
"$B/tests/gen_wakes" "$dir/small.trace" 300000 5 > /dev/null
for what in threads sync sched; do
  for f in text json; do
    CPROF_WALK_WAKES_MAX=100000000 "$V" -report=$what -format=$f "$dir/small.trace" > "$dir/all.$what.$f"
    CPROF_WALK_WAKES_MAX=0 "$V" -report=$what -format=$f "$dir/small.trace" > "$dir/stream.$what.$f"
    cmp "$dir/all.$what.$f" "$dir/stream.$what.$f" || fail "-report=$what -format=$f differs when streaming"
  done
done
grep -q '"sched_ns":[[:space:]]*[1-9]' "$dir/all.threads.json" || fail "no wake-up ended a block (sched time 0)"
echo "ok"
