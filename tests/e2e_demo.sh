#!/usr/bin/env bash
# The seed's workflow end to end, as the README's main job runs it: the demo
# server under ab load, a trace fetched over /debug/pprof/trace with wget,
# then the viewer's JSON reports and Chrome JSON, asserted on.
#   e2e_demo.sh BUILD_DIR      (CPROF_NO_INTERPOSE_TEST=1: no blocking checks, for TSan)
set -euo pipefail
B=$1
V=$B/viewer/cprof-trace
W=$(mktemp -d)
demo=
loads=()
cleanup() {
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$demo" ] && kill "$demo" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "e2e_demo: FAIL: $*" >&2; [ -f "$W/demo.log" ] && tail -20 "$W/demo.log" >&2; exit 1; }
cd "$W"
interpose=1
if [ -n "${CPROF_NO_INTERPOSE_TEST:-}" ]; then export CPROF_TRACE_INTERPOSE=0; interpose=0; fi

"$B/examples/pprof-demo" -addr 127.0.0.1:0 -workers 3 > demo.log 2>&1 &
demo=$!
for _ in $(seq 1 100); do grep -q listening demo.log && break; sleep 0.1; done
base=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' demo.log | head -1) || fail "the demo did not start"

# the handlers answer, and bad parameters get 400 with a reason
[ "$(curl -sf "${base}fib/?n=20&type=recursive")" = "fib(20) = 6765" ] || fail "fib"
[ "$(curl -sf "${base}fib/?n=90&type=iterative")" = "fib(90) = 2880067194370816120" ] || fail "fib iterative"
[ "$(curl -sf "${base}concat/?str=ab&count=3&version=v2")" = "concat: 6 bytes" ] || fail "concat"
for bad in "fib/?n=41" "fib/?n=-1" "fib/?n=abc" "fib/?type=quantum" "concat/?count=99999999" "concat/?version=v3"; do
  code=$(curl -s -o body.txt -w '%{http_code}' "${base}${bad}")
  [ "$code" = 400 ] && [ -s body.txt ] || fail "$bad gave $code"
done

# load (light: the pool must also wait for work), and a 2-second trace meanwhile
for path in "fib/?n=22&type=recursive" "fib/?n=90&type=iterative" "concat/?str=test&count=1000" \
            "concat/?str=test&count=1000&version=v2"; do
  ab -k -c 2 -t 5 -n 1000000 "${base}${path}" > "ab-$(echo "$path" | tr -dc 'a-z0-9').txt" 2>&1 &
  loads+=($!)
done
sleep 0.5
wget -q -O demo.trace "${base}debug/pprof/trace?seconds=2" || fail "wget trace"
for p in "${loads[@]}"; do wait "$p" || fail "ab failed"; done
loads=()
for f in ab-*.txt; do
  grep -q '^Failed requests: *0$' "$f" || fail "$f: $(grep -E 'Failed|Non-2xx' "$f")"
  grep -q '^Keep-Alive requests: *[1-9]' "$f" || fail "$f: keep-alive not honoured"
done

mkdir -p reports
for r in threads sync sched tasks regions; do
  "$V" -report=$r -format=json demo.trace > reports/$r.json || fail "-report=$r"
done
"$B/tests/check_reports" demo reports $interpose || fail "reports"
"$V" -json=demo.json demo.trace || fail "-json"
"$B/tests/check_chrome_json" demo.json 100 request > /dev/null || fail "Chrome JSON structure"
grep -q '"name":"fib_recursive"' demo.json || fail "Chrome JSON lacks fib_recursive slices"
grep -q '"name":"concat_v1"' demo.json || fail "Chrome JSON lacks concat slices"
if [ $interpose = 1 ]; then
  grep -q '"cat":"sync","name":"pthread_cond_wait"' demo.json || fail "Chrome JSON lacks pthread_cond_wait slices"
fi
kill "$demo"; wait "$demo" 2>/dev/null || true
demo=
echo "e2e_demo: ok"
