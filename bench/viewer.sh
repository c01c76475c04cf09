#!/usr/bin/env bash
# Viewer throughput: events/s and peak RSS for every analysis (-report=...,
# -pprof=...) and -json, on a synthetic trace (bench/gen_trace.c) and on a
# real program's (examples/pprof-demo under ab -k -c 8 on /fib and /concat,
# captured over HTTP like ./run.sh: 37 threads, mutex + condition variable
# blocking with stacks, wake-ups); then the web UI: when it serves, when its
# index is built, peak RSS, and when headless Chromium started with it has
# drawn the timeline of the synthetic trace.
#   bench/viewer.sh [BUILD_DIR] [EVENTS]     (defaults: build-release, 10000000)
# DEMO_SECONDS (default 4) sets the real capture's length, 0 skips it.
# BEFORE=PATH also runs another cprof-trace binary (e.g. main's) on the same
# traces, each command by it then by ours, best of REPS (default 3) runs each.
# KEEP=DIR keeps the traces there (to compare outputs).
# Figures are wall-clock (the machine is shared: compare ratios of one run).
set -euo pipefail
B=${1:-build-release}
N=${2:-10000000}
W=$(mktemp -d)
REPS=${REPS:-3}
BEFORE=${BEFORE:-}
server= demo=
loads=()
cleanup() {
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$demo" ]; then kill "$demo" 2>/dev/null || true; fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
V=$B/viewer/cprof-trace
"$B/bench/gen_trace" "$W/syn.trace" "$N" 8 > /dev/null

# a real program's trace: the demo server under load, captured over HTTP
secs=${DEMO_SECONDS:-4}
if [ "$secs" -gt 0 ] && [ -x "$B/examples/pprof-demo" ] && command -v ab > /dev/null; then
  "$B/examples/pprof-demo" -addr 127.0.0.1:0 > "$W/demo.log" 2>&1 &
  demo=$!
  for _ in $(seq 1 50); do grep -q listening "$W/demo.log" && break; sleep 0.1; done
  base=$(grep -o 'http://[^/]*/' "$W/demo.log" | head -1)
  for path in "fib/?n=27&type=recursive" "fib/?n=90&type=iterative" "concat/?str=test&count=2000" \
              "concat/?str=test&count=2000&version=v2"; do
    ab -k -c 8 -t $((secs + 2)) -n 10000000 "${base}${path}" > /dev/null 2>&1 &
    loads+=($!)
  done
  sleep 1
  curl -s -o "$W/demo.trace" "${base}debug/pprof/trace?seconds=$secs"
  for p in "${loads[@]}"; do wait "$p" 2>/dev/null || true; done
  loads=()
  kill "$demo"; wait "$demo" 2>/dev/null || true; demo=
fi

if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$W"/*.trace "$KEEP"/; fi

printf '%-18s %8s %12s %10s %14s\n' command seconds "M events/s" "peak MB" "peak / file"
one() { # binary, trace, args...: sets secs and kb, the best (least time) of REPS runs
  local bin=$1 trace=$2; shift 2
  local best= bkb= s k
  for _ in $(seq 1 "$REPS"); do
    /usr/bin/time -f '%e %M' -o "$W/time" "$bin" "$@" "$trace" > "$W/out" 2> /dev/null
    read -r s k < "$W/time"
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; bkb=$k; fi
  done
  secs=$best kb=$bkb
}
row() { # label
  printf '%-18s %8.2f %12.1f %10.1f %13.2fx\n' "$1" "$secs" "$(echo "$events/$secs/1000000" | bc -l)" \
    "$(echo "$kb/1000" | bc -l)" "$(echo "$kb*1024/$size" | bc -l)"
}
run() { # trace, label, args...
  local trace=$1 label=$2; shift 2
  if [ -n "$BEFORE" ]; then one "$BEFORE" "$trace" "$@"; row "  before $label"; fi
  one "$V" "$trace" "$@"; row "$label"
}
table() { # trace, title
  local trace=$1
  size=$(stat -c %s "$trace")
  "$V" -report=threads -format=json "$trace" > "$W/threads.json" 2> /dev/null  # grep -m1 on a pipe: SIGPIPE, pipefail
  events=$(grep -m1 '"events"' "$W/threads.json" | tr -dc 0-9)
  printf '%s: %d events, %.1f MB (%.2f bytes/event)\n' "$2" "$events" "$(echo "$size/1000000" | bc -l)" \
    "$(echo "$size/$events" | bc -l)"
  for r in threads net sync syscall sched tasks regions cpu; do run "$trace" -report=$r -report=$r; done
  for p in sync net syscall sched cpu; do run "$trace" -pprof=$p -pprof=$p; done
  run "$trace" -json -json=$W/out.json
  echo "  (-json wrote $(( $(stat -c %s "$W/out.json") / 1000000 )) MB)"
  rm -f "$W/out.json"
}
if [ -s "$W/demo.trace" ]; then table "$W/demo.trace" "real trace (pprof-demo under ab, ${secs} s)"; fi
table "$W/syn.trace" "synthetic trace"

# the web UI: the server answers at once and indexes meanwhile; a browser
# started as soon as it serves draws the whole-trace view once the index is
# built. Times from the server's start.
size=$(stat -c %s "$W/syn.trace")
t_start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$W/serve.time" "$V" -no-browser "$W/syn.trace" > "$W/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 6000); do grep -q serving "$W/serve.log" && break; sleep 0.01; done
t_serving=$(date +%s.%N)
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/serve.log")
browser=$(command -v chromium || true)
if [ -n "$browser" ]; then
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
    --no-first-run --user-data-dir="$W/chrome" --window-size=1400,900 --virtual-time-budget=10000 \
    --dump-dom "${url}#timeline" > "$W/dom" 2> /dev/null &
  chrome=$!
fi
curl -s -o /dev/null "${url}api/meta" # waits for the index
t_meta=$(date +%s.%N)
printf 'web UI: serving after %.2f s, /api/meta answered (index built) after %.2f s\n' \
  "$(echo "$t_serving - $t_start" | bc -l)" "$(echo "$t_meta - $t_start" | bc -l)"
grep -o 'indexed in [0-9.]* s' "$W/serve.log" | sed 's/^/  /'
for q in "t0=0&t1=100000000000&w=1400" "t0=1000000000&t1=1010000000&w=1400"; do
  curl -s -o "$W/v" -w "  /api/view $q: %{time_total} s, %{size_download} bytes\n" "${url}api/view?$q"
done
if [ -n "$browser" ]; then
  wait $chrome || true
  t_drawn=$(date +%s.%N)
  drawn=$(grep -o 'drawn_ms":[0-9.]*' "$W/dom" | grep -o '[0-9.]*$' || echo '?')
  printf '  timeline drawn in headless Chromium (started with the server): %s ms after navigation (page-side); chromium done %.2f s after the server started\n' \
    "$drawn" "$(echo "$t_drawn - $t_start" | bc -l)"
fi
pkill -TERM -P $server; wait $server 2>/dev/null || true
kb=$(tail -1 "$W/serve.time")
printf '  server peak RSS %.1f MB, %.2fx the file (%.1f MB)\n' "$(echo "$kb/1000" | bc -l)" \
  "$(echo "$kb*1024/$size" | bc -l)" "$(echo "$size/1000000" | bc -l)"
