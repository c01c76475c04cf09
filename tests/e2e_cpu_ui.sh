#!/usr/bin/env bash
# The CPU page end to end, on tests/sched_app burn (one thread burns CPU in
# burn_a and burn_b 3:1) traced to a file at 250 Hz:
#  - -report=cpu (JSON and text): 3:1 within three standard deviations; -range=S:E splits the
#    samples exactly (two halves add up, a range after the end has none);
#  - the web UI: /api/report?name=cpu (with and without range) equals the
#    CLI's documents; /api/view has state intervals and sample ticks on the
#    burner's row (perf source only), CPU rows and counters;
#  - headless Chromium draws the CPU page's flame graph (#cpu and #cpu@S,E)
#    and the timeline's state shading and CPU rows.
#   e2e_cpu_ui.sh BUILD
set -euo pipefail
B=$1
V=$B/viewer/cprof-trace
CHECK=$B/tests/check_reports
W=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "e2e_cpu_ui: FAIL: $*" >&2; exit 1; }
cd "$W"

CPROF_TRACE_CPU_HZ=250 CPROF_TRACE_FILE=burn.trace "$B/tests/sched_app" burn 6 > /dev/null 2> burn.err ||
  fail "sched_app: $(cat burn.err)"
mkdir -p cli
"$V" -report=cpu -format=json burn.trace > cli/cpu.json
"$V" -report=cpu burn.trace > cli/cpu.txt
dur=$(grep -o '"duration_ns":[[:space:]]*[0-9]*' cli/cpu.json | head -1 | grep -o '[0-9]*$')
mid=$((dur / 2))
"$V" -report=cpu -format=json -range=0:$mid burn.trace > cli/cpu-a.json
"$V" -report=cpu -format=json -range=$mid:$((dur + 1)) burn.trace > cli/cpu-b.json
"$V" -report=cpu -format=json -range=$((dur + 1000)):$((dur + 2000)) burn.trace > cli/cpu-none.json
"$CHECK" cpu cli || fail "cpu reports"
grep -Eq '^ +[0-9.]+m?s +[0-9.]+% +[0-9.]+% +[0-9.]+m?s +[0-9.]+% +burn_a$' cli/cpu.txt || fail "text lacks a top line for burn_a: $(cat cli/cpu.txt)"
if "$V" -report=threads -range=0:5 burn.trace > /dev/null 2> err.txt; then fail "-range with -report=threads accepted"; fi
if "$V" -report=cpu -range=5:1 burn.trace > /dev/null 2> err.txt; then fail "-range=5:1 accepted"; fi

: > serve.log # emptied before the server starts: a check must never read an earlier server's URL
"$V" -no-browser burn.trace > serve.log 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q 'serving' serve.log && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' serve.log) || fail "no URL printed: $(cat serve.log)"
curl -sf "${url}api/report?name=cpu" > ui-cpu.json || fail "report cpu"
"$CHECK" equal ui-cpu.json cli/cpu.json || fail "UI and -report=cpu disagree"
curl -sf "${url}api/report?name=cpu&range=0:$mid" > ui-cpu-a.json || fail "report cpu with range"
"$CHECK" equal ui-cpu-a.json cli/cpu-a.json || fail "UI and -report=cpu -range disagree"
code=$(curl -s -o /dev/null -w '%{http_code}' "${url}api/report?name=cpu&range=9:3")
[ "$code" = 400 ] || fail "a bad range gave $code"
curl -sf "${url}api/pprof?type=cpu" -o ui-cpu.pb.gz && gzip -t ui-cpu.pb.gz || fail "cpu pprof download"
curl -sf "${url}api/meta" > meta.json || fail "meta"
curl -sf "${url}api/view?t0=0&t1=$dur&w=1000" > view.json || fail "view"
if grep -q '"sched_source":"perf"' ui-cpu.json; then
  "$CHECK" view view.json meta.json || fail "state intervals, samples, CPU rows"
else
  echo "e2e_cpu_ui: no perf records on this kernel: state shading not checked" >&2
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$browser" ]; then
  page() { # hash, out
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
      --disable-background-networking --no-first-run --user-data-dir="$W/chrome" \
      --virtual-time-budget=6000 --dump-dom "${url}#$1" > "$2" 2> chrome.err || fail "chromium: $(tail -3 chrome.err)"
  }
  page cpu dom-cpu.html
  # under the sanitizers ASan's pthread_create hides start routines: no "burner" group then
  burner=burner; [ -n "${CPROF_SANITIZED:-}" ] && burner=main
  "$CHECK" state dom-cpu.html cpu burn_a burn_b || fail "CPU page"
  grep -q '"flame":[1-9]' dom-cpu.html || fail "the CPU page drew no flame graph: $(grep -o '<pre id="state".*</pre>' dom-cpu.html)"
  page "cpu@0,$mid" dom-cpu-range.html
  "$CHECK" state dom-cpu-range.html cpu burn_a || fail "CPU page of a range"
  grep -q '"begin_ns":0,"end_ns":'$mid dom-cpu-range.html || fail "the CPU page ignored its range"
  page timeline dom-timeline.html
  "$CHECK" state dom-timeline.html timeline "$burner" || fail "timeline"
  if grep -q '"sched_source":"perf"' ui-cpu.json; then
    grep -q '"states":[1-9][0-9]*,"cpus":[1-9]' dom-timeline.html || fail "the timeline drew no states or CPU rows: $(grep -o '<pre id="state".*</pre>' dom-timeline.html)"
  fi
else
  echo "e2e_cpu_ui: chromium not installed: browser checks skipped" >&2
fi
echo "e2e_cpu_ui: ok"
