#!/usr/bin/env bash
# The threads analysis tells the truth about every thread's time: an
# unmodified, CPU-oversubscribed program (tests/states_app: 3 CPU-bound
# threads on 2 CPUs, lock contenders, sleepers, condition waiters) runs
# under LD_PRELOAD; each of its threads prints the kernel's own account of
# its time (/proc/thread-self/schedstat at its start and end), and
# tests/check_states compares every thread's running / runnable / blocked
# shares in `cprof-trace -report=threads -format=json` with it: within 5
# points, with the perf source and with the schedstat fallback. Columns sum
# to the total for every thread.
#   e2e_states.sh BUILD
set -euo pipefail
build=$1
app="$build/tests/states_app" view="$build/viewer/cprof-trace" check="$build/tests/check_states"
lib="$build/tracer/libcproftrace.so"
dir=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

for source in perf schedstat; do
  if [ "$source" = perf ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 2 ] && [ "$(id -u)" -ne 0 ]; then
    echo "perf: perf_event_paranoid > 2 for this user: the tracer falls back to schedstat, checked below"
    continue
  fi
  CPROF_TRACE_SCHED=$source CPROF_TRACE_FILE="$dir/$source.trace" LD_PRELOAD="$lib" "$app" > "$dir/$source.facts" 2> "$dir/$source.err" \
    || fail "$source: states_app failed"
  "$view" -report=threads -format=json "$dir/$source.trace" > "$dir/$source.json" 2>> "$dir/$source.err" \
    || fail "$source: the threads report failed"
  grep -Eq "\"sched_source\":[[:space:]]*\"$source\"" "$dir/$source.json" || fail "$source: the report does not name its source"
  echo "== $source"
  "$check" "$dir/$source.facts" "$dir/$source.json" 5 || fail "$source: the report disagrees with the kernel"
done
