#!/usr/bin/env bash
# Bytes per event of whole-run captures (CPROF_TRACE_FILE, the library
# preloaded: stacks on blocking calls, kernel scheduling records, CPU
# samples) of a few programs, and of a 2-second /debug/pprof/trace of the
# demo server under ab; `cprof-trace -dump -stats` says where the bytes go
# (STATS=1 prints it).
#   bench/trace_bytes.sh [BUILD_DIR] [LIBRARY]
# LIBRARY: another libcproftrace.so to record with (e.g. an older build's,
# to compare); the files are read by BUILD_DIR's cprof-trace.
set -euo pipefail
B=$(cd "${1:-build}" && pwd)
LIB=${2:-$B/tracer/libcproftrace.so}
V=$B/viewer/cprof-trace
W=$(mktemp -d)
demo=
trap '[ -n "$demo" ] && kill $demo 2>/dev/null; rm -rf "$W"' EXIT
show() { # label, trace
  "$V" -dump -stats "$2" > "$W/stats"
  local ev by
  ev=$(awk '/^events /{print $2}' "$W/stats"); by=$(awk '/^bytes /{print $2}' "$W/stats")
  printf '%-34s %9d events %10d bytes %6.2f bytes/event\n' "$1" "$ev" "$by" "$(echo "$by/$ev" | bc -l)"
  if [ -n "${STATS:-}" ]; then sed 's/^/    /' "$W/stats"; fi
}
rec() { # label, command...
  local label=$1; shift
  rm -f "$W/t.trace"
  LD_PRELOAD=$LIB CPROF_TRACE_FILE=$W/t.trace "$@" > /dev/null 2>&1 || true
  show "$label" "$W/t.trace"
}
rec "hello" "$B/examples/hello"
rec "pipeline (preload example)" "$B/examples/pipeline"
rec "contention_app 2 s (sync, stacks)" "$B/tests/contention_app" 2
rec "states_app" "$B/tests/states_app"
rec "event_cost mixed, 100k iterations" "$B/bench/event_cost" 100000 mixed
# the demo server, a 2 s capture over HTTP under ab (fib and concat at once)
port=$((20000 + RANDOM % 20000))
LD_PRELOAD=$LIB "$B/examples/pprof-demo" -addr 127.0.0.1:$port > "$W/demo.log" 2>&1 &
demo=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/debug/pprof/" > /dev/null 2>&1 && break; sleep 0.1; done
ab -k -c 8 -t 4 "http://127.0.0.1:$port/fib/?n=18" > /dev/null 2>&1 &
ab1=$!
ab -k -c 4 -t 4 "http://127.0.0.1:$port/concat/?str=test&count=200&version=v2" > /dev/null 2>&1 &
ab2=$!
sleep 1
curl -sf -o "$W/demo.trace" "http://127.0.0.1:$port/debug/pprof/trace?seconds=2"
wait $ab1 $ab2 || true
kill $demo; wait $demo 2>/dev/null || true
demo=
show "demo under ab, 2 s over HTTP" "$W/demo.trace"
