#!/usr/bin/env bash
# The main job, end to end on a fresh machine, as the seed article does it:
# installs missing Debian packages, builds, starts the demo server
# (examples/pprof-demo), drives load on /fib and /concat with ab -k -c 8,
# fetches a 5-second trace over /debug/pprof/trace into dumps/trace, and
# opens it with cprof-trace: the web UI when a display or $BROWSER exists,
# otherwise the reports on stdout and the command to open the UI.
#   ./run.sh            DEMO_ADDR=127.0.0.1:6060 SECONDS_TRACED=5 by default
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
mkdir -p dumps
addr=${DEMO_ADDR:-127.0.0.1:6060}
secs=${SECONDS_TRACED:-5}
log=dumps/pprof-demo.log

echo "== build/examples/pprof-demo -addr $addr"
build/examples/pprof-demo -addr "$addr" > "$log" 2>&1 &
demo=$!
loads=()
cleanup() {
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$demo" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 50); do grep -q listening "$log" && break; sleep 0.1; done
grep -q listening "$log" || { cat "$log"; echo "run.sh: the demo did not start (is $addr in use? set DEMO_ADDR)" >&2; exit 1; }
base=$(grep -o 'http://[^/]*/' "$log" | head -1)
cat "$log"

echo "== load: ab -k -c 8 on /fib (recursive, iterative) and /concat (v1, v2) for $((secs + 3)) s"
for path in "fib/?n=27&type=recursive" "fib/?n=90&type=iterative" "concat/?str=test&count=2000" \
            "concat/?str=test&count=2000&version=v2"; do
  ab -k -c 8 -t $((secs + 3)) -n 10000000 "${base}${path}" > "dumps/ab-${path%%/*}-$(echo "$path" | tr -dc 'a-z0-9' | tail -c 12).txt" 2>&1 &
  loads+=($!)
done
sleep 1
echo "== wget -O dumps/trace '${base}debug/pprof/trace?seconds=$secs'"
wget -q -O dumps/trace "${base}debug/pprof/trace?seconds=$secs"
ls -l dumps/trace
for p in "${loads[@]}"; do wait "$p" || true; done
loads=()
for f in dumps/ab-*.txt; do
  printf '%-40s %s, %s\n' "$f" "$(grep 'Requests per second' "$f" | awk '{print $4 " req/s"}')" \
    "$(grep 'Failed requests' "$f" | awk '{print $3 " failed"}')"
done
kill "$demo"; wait "$demo" 2>/dev/null || true

if [ -n "${BROWSER:-}" ] || [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "== build/viewer/cprof-trace dumps/trace   (Ctrl-C to stop)"
  exec build/viewer/cprof-trace dumps/trace
fi
echo "== no display: the analyses on stdout (open the UI with: build/viewer/cprof-trace dumps/trace)"
V=build/viewer/cprof-trace
$V -report=threads dumps/trace | sed -n '1,14p' # reads it all: no SIGPIPE under pipefail
echo
$V -report=regions dumps/trace | grep -v '^      \[' | sed -n '1,12p' # reads it all: no SIGPIPE under pipefail
echo
$V -report=tasks dumps/trace | grep -v '^      \[' | sed -n '1,6p' # reads it all: no SIGPIPE under pipefail
echo
$V -report=sync dumps/trace | sed -n '1,16p' # reads it all: no SIGPIPE under pipefail
echo
$V -report=sched dumps/trace | sed -n '1,12p' # reads it all: no SIGPIPE under pipefail
