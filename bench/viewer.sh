#!/usr/bin/env bash
# Viewer throughput on a synthetic trace (bench/gen_trace.c): events/s and
# peak RSS for -json, -pprof=sync and -report=regions, and the web UI's
# index time and time until headless Chromium has drawn the timeline.
#   bench/viewer.sh [BUILD_DIR] [EVENTS]     (defaults: build-release, 10000000)
set -euo pipefail
B=${1:-build-release}
N=${2:-10000000}
W=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$W"' EXIT
V=$B/viewer/cprof-trace
"$B/bench/gen_trace" "$W/syn.trace" "$N" 8 > /dev/null
size=$(stat -c %s "$W/syn.trace")
events=$("$V" -report=threads -format=json "$W/syn.trace" | grep -m1 '"events"' | tr -dc 0-9)
printf 'synthetic trace: %d events, %.1f MB (%.2f bytes/event)\n' "$events" "$(echo "$size/1000000" | bc -l)" \
  "$(echo "$size/$events" | bc -l)"
printf '%-18s %8s %12s %10s %14s\n' command seconds "M events/s" "peak MB" "peak / file"
run() { # label, args...
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$W/time" "$V" "$@" "$W/syn.trace" > "$W/out" 2> /dev/null
  read -r secs kb < "$W/time"
  printf '%-18s %8.2f %12.1f %10.1f %13.2fx\n' "$label" "$secs" "$(echo "$events/$secs/1000000" | bc -l)" \
    "$(echo "$kb/1000" | bc -l)" "$(echo "$kb*1024/$size" | bc -l)"
}
run -report=regions -report=regions
run -pprof=sync -pprof=sync
run -report=threads -report=threads
run -json -json=$W/out.json
echo "  (-json wrote $(( $(stat -c %s "$W/out.json") / 1000000 )) MB)"
rm -f "$W/out.json"

# the web UI: index, then a browser drawing the whole-trace view
/usr/bin/time -f '%M' -o "$W/serve.time" "$V" -no-browser "$W/syn.trace" > "$W/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do grep -q serving "$W/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/serve.log")
grep -o 'indexed in [0-9.]* s' "$W/serve.log" | sed 's/^/web UI: /'
for q in "t0=0&t1=100000000000&w=1400" "t0=1000000000&t1=1010000000&w=1400"; do
  curl -s -o "$W/v" -w "  /api/view $q: %{time_total} s, %{size_download} bytes\n" "${url}api/view?$q"
done
browser=$(command -v chromium || true)
if [ -n "$browser" ]; then
  start=$(date +%s.%N)
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
    --no-first-run --user-data-dir="$W/chrome" --window-size=1400,900 --virtual-time-budget=10000 \
    --dump-dom "${url}#timeline" > "$W/dom" 2> /dev/null
  end=$(date +%s.%N)
  drawn=$(grep -o 'drawn_ms":[0-9.]*' "$W/dom" | grep -o '[0-9.]*$' || echo '?')
  printf '  timeline drawn %s ms after navigation (page-side), chromium run %.2f s in all\n' "$drawn" \
    "$(echo "$end - $start" | bc -l)"
fi
pkill -TERM -P $server; wait $server 2>/dev/null || true
printf '  server peak RSS %.0f MB\n' "$(echo "$(tail -1 "$W/serve.time")/1000" | bc -l)"
