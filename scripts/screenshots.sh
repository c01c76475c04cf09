#!/usr/bin/env bash
# The README's screenshots, taken from the real web UI in headless Chromium:
# serves TRACE with cprof-trace and saves one PNG per page into docs/img/.
#   scripts/screenshots.sh [TRACE] [BUILD_DIR]     (defaults: dumps/trace, build)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-dumps/trace}
B=${2:-build}
W=$(mktemp -d)
"$B/viewer/cprof-trace" -no-browser "$T" > "$W/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 1 200); do grep -q serving "$W/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/serve.log")
# the timeline: 12 ms from the middle of the capture, where slices are readable
dur=$(curl -sf "${url}api/meta" | grep -o '"duration_ns":[0-9]*' | grep -o '[0-9]*$')
mid=$((dur / 2))
shot() { # hash, file, height
  chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
    --no-first-run --hide-scrollbars --user-data-dir="$W/chrome" --window-size=1400,"${3:-900}" \
    --virtual-time-budget=8000 --screenshot="docs/img/$2" "${url}#$1" > /dev/null 2>&1
  echo "docs/img/$2"
}
shot "timeline@$mid,$((mid + 12000000))" timeline.png 1000
shot "timeline" timeline-whole.png 1000
shot threads threads.png
shot sync sync.png 1100
shot sched sched.png
shot tasks tasks.png 500
shot regions regions.png
shot cpu cpu.png 1000
shot "timeline@$mid,$((mid + 5000000))" timeline-cpu.png 1000 # kernel states, CPU rows (perf traces)
shot "task/request" task-request.png
