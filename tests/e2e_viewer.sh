#!/usr/bin/env bash
# The viewer end to end: real traces (tests/blocking_app, examples/hello)
# through -report (text and JSON), -pprof (read back by go tool pprof when
# Debian's golang-go is installed), bad input, and the web UI (its API with
# curl and its pages in headless Chromium when installed).
#   e2e_viewer.sh BUILD_DIR
set -euo pipefail
B=$1
V=$B/viewer/cprof-trace
CHECK=$B/tests/check_reports
W=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "e2e_viewer: FAIL: $*" >&2; exit 1; }
cd "$W"

CPROF_TRACE_FILE=hello.trace "$B/examples/hello" > /dev/null
blocking=0
if [ -z "${CPROF_NO_INTERPOSE_TEST:-}" ]; then
  CPROF_TRACE_FILE=blocking.trace "$B/tests/blocking_app_linked" > /dev/null
  blocking=1
fi

# -report: every analysis as JSON and as text
mkdir -p hello blocking
for r in threads net sync syscall sched tasks regions; do
  "$V" -report=$r -format=json hello.trace > hello/$r.json
  "$V" -report=$r hello.trace > hello/$r.txt
  [ $blocking = 1 ] && "$V" -report=$r -format=json blocking.trace > blocking/$r.json
  [ $blocking = 1 ] && "$V" -report=$r blocking.trace > blocking/$r.txt
done
"$V" -report=task:job -format=json hello.trace > hello/task.json
"$V" -report=task:job hello.trace > hello/task.txt
"$CHECK" hello hello
# ASan's pthread_create interceptor hides start routines from the tracer
groups=groups; [ -n "${CPROF_SANITIZED:-}" ] && groups=nogroups
[ $blocking = 1 ] && "$CHECK" blocking blocking $groups
grep -q '^parse  *job  *200 ' hello/regions.txt || fail "regions text lacks parse/job/200: $(cat hello/regions.txt)"
if [ $blocking = 1 ]; then
  grep -q 'pthread_cond_wait' blocking/sync.txt || fail "sync text lacks pthread_cond_wait"
  [ $groups = nogroups ] || grep -q '^contender  *4 ' blocking/threads.txt || fail "threads text lacks the contender group"
fi

# -pprof: gzip, and go tool pprof reads it when available
[ $blocking = 1 ] && T=blocking.trace || T=hello.trace
for p in net sync syscall sched; do
  "$V" -pprof=$p $T > $p.pb.gz
  gzip -t $p.pb.gz || fail "$p.pb.gz is not gzip"
done
if command -v go > /dev/null && [ $blocking = 1 ]; then
  GOFLAGS=-mod=mod HOME=$W go tool pprof -top sync.pb.gz > sync.top 2> sync.err || fail "go tool pprof: $(cat sync.err)"
  grep -q 'pthread_cond_wait' sync.top || fail "pprof -top lacks pthread_cond_wait: $(cat sync.top)"
  grep -q 'Type: delay' sync.top || fail "pprof sample type is not delay"
  HOME=$W go tool pprof -sample_index=contentions -top sync.pb.gz > sync.count
  grep -q 'Type: contentions' sync.count || fail "no contentions sample type"
  # mappings: the program's own first (pprof's "File:"), then one per module
  # with the locations' addresses inside them; go tool pprof's own reading
  grep -q '^File: blocking_app_linked$' sync.top || fail "pprof -top names no main binary: $(head -3 sync.top)"
  HOME=$W go tool pprof -raw sync.pb.gz > sync.raw
  sed -n '/^Mappings/,$p' sync.raw > sync.maps
  grep -q '^1: 0x[0-9a-f]*/0x[0-9a-f]*/0x0 blocking_app_linked ' sync.maps || fail "mapping 1 is not the program: $(cat sync.maps)"
  grep -q ' libc\.so\.6 ' sync.maps || fail "no libc mapping: $(cat sync.maps)"
  # each with the module's build id as binutils reads it from the file
  for f in "$B/tests/blocking_app_linked" "$(ldd "$B/tests/blocking_app_linked" | awk '/libc\.so/ {print $3}')"; do
    id=$(readelf -n "$f" | awk '/Build ID:/ {print $3}')
    grep -q " $(basename "$f") $id " sync.maps || fail "mapping of $(basename "$f") lacks build id $id: $(cat sync.maps)"
  done
  awk '/^Locations/{on=1;next} /^Mappings/{on=0} on && / M=0 /{bad++} on{n++} END{exit !(n>0 && bad==0)}' sync.raw ||
    fail "locations without a mapping: $(sed -n '/^Locations/,/^Mappings/p' sync.raw)"
  # every location's address lies inside its mapping (bash arithmetic: mawk has no hex)
  declare -A lo hi
  while read -r id range _; do
    IFS=/ read -r a b _ <<< "$range"; lo[${id%:}]=$((a)); hi[${id%:}]=$((b))
  done < <(grep '^[0-9]*: 0x' sync.maps)
  while read -r _ addr m _; do
    m=${m#M=}; (( addr >= lo[$m] && addr < hi[$m] )) || fail "location $addr is outside mapping $m: $(cat sync.maps)"
  done < <(sed -n '/^Locations/,/^Mappings/p' sync.raw | grep ' M=')
else
  echo "e2e_viewer: go not installed or no interposition: pprof read-back skipped" >&2
fi

# bad input: one line naming the cause (and the offset), exit status != 0
expect_error() { # what, pattern, args...
  local what=$1 pat=$2; shift 2
  if "$V" "$@" > out.txt 2> err.txt; then fail "$what: exit 0"; fi
  [ "$(wc -l < err.txt)" -ge 1 ] || fail "$what: no message"
  grep -q -- "$pat" err.txt || fail "$what: message '$(cat err.txt)' lacks '$pat'"
}
expect_error "missing file" "No such file" -report=threads missing.trace
echo "not a trace at all, just text" > text.trace
expect_error "not a trace" "offset 0" -report=threads text.trace
# a cut capture: many batches (a synthetic server trace), the last ones lost
"$B/bench/gen_trace" syn.trace 200000 4 > /dev/null
size=$(stat -c %s syn.trace)
head -c $((size * 2 / 3)) syn.trace > cut.trace
expect_error "truncated" "truncated" -report=tasks -format=json cut.trace
grep -q '"name":.*"request"' out.txt || fail "a truncated capture shows nothing of what was complete: $(head -c 300 out.txt)"
grep -q '"warning":' out.txt || fail "the report of a truncated capture carries no warning"
size=$(stat -c %s hello.trace)
cp hello.trace future.trace
printf '\x63\x00' | dd of=future.trace bs=1 seek=8 conv=notrunc status=none
expect_error "future version" "version" -report=threads future.trace
cp hello.trace corrupt.trace
dd if=/dev/urandom of=corrupt.trace bs=1 seek=$((size / 2)) count=64 conv=notrunc status=none
if "$V" -report=regions corrupt.trace > /dev/null 2> err.txt; then :; else grep -q "offset" err.txt || fail "corrupt: $(cat err.txt)"; fi
expect_error "unknown report" "unknown report" -report=nonsense hello.trace
expect_error "bad pprof type" "sync, net, syscall, sched" -pprof=tasks hello.trace

# the web UI: a random loopback port, its API, and the pages in Chromium
[ $blocking = 1 ] && T=blocking.trace || T=hello.trace
: > serve.log # emptied before the server starts: a check must never read an earlier server's URL
"$V" -no-browser $T > serve.log 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q 'serving' serve.log && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' serve.log) || fail "no URL printed: $(cat serve.log)"
curl -sf "${url}api/meta" > meta.json || fail "meta"
grep -q '"threads":\[{' meta.json || fail "meta lists no threads"
for r in threads sync sched tasks regions; do
  curl -sf "${url}api/report?name=$r" > ui-$r.json || fail "report $r"
  "$V" -report=$r -format=json $T > cli-$r.json
  "$CHECK" equal ui-$r.json cli-$r.json || fail "UI and -report disagree on $r"
done
curl -sf "${url}api/view?t0=0&t1=1000000000&w=800" > view.json || fail "view"
grep -q '"threads":.*\[\[\[[0-9]' view.json || fail "view has no spans: $(head -c 300 view.json)"
code=$(curl -s -o /dev/null -w '%{http_code}' "${url}api/view?t0=5&t1=1&w=800")
[ "$code" = 400 ] || fail "bad view range gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: attacker.example' "${url}api/meta")
[ "$code" = 403 ] || fail "foreign Host header gave $code"
curl -sf "${url}api/pprof?type=sync" -o ui-sync.pb.gz && gzip -t ui-sync.pb.gz || fail "pprof download"
curl -sf "${url}" | grep -q '<canvas id="tl">' || fail "index page"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$browser" ]; then
  page() { # hash, out
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
      --disable-background-networking --no-first-run --user-data-dir="$W/chrome" \
      --virtual-time-budget=6000 --dump-dom "${url}#$1" > "$2" 2> chrome.err || fail "chromium: $(tail -3 chrome.err)"
  }
  page timeline dom-timeline.html
  if [ $blocking = 1 ]; then
    if [ $groups = groups ]; then
      "$CHECK" state dom-timeline.html timeline contender consumer pthread_cond_wait pthread_mutex_lock recv
      page threads dom-threads.html
      "$CHECK" state dom-threads.html threads contender consumer net_reader
    else
      "$CHECK" state dom-timeline.html timeline main pthread_cond_wait pthread_mutex_lock recv
    fi
    page sync dom-sync.html
    "$CHECK" state dom-sync.html sync pthread_cond_wait pthread_mutex_lock
  else
    "$CHECK" state dom-timeline.html timeline
  fi
  kill $server; wait $server 2>/dev/null || true
  : > serve.log # emptied before the server starts: a check must never read an earlier server's URL
  "$V" -no-browser hello.trace > serve.log 2>&1 &
  server=$!
  for _ in $(seq 1 100); do grep -q 'serving' serve.log && break; sleep 0.1; done
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' serve.log) || fail "no URL printed: $(cat serve.log)"
  # zoomed on the first "parse" region (found with the UI's search), it is drawn by name
  hit=$(curl -sf "${url}api/search?q=parse" | grep -o '"hits":\[\[[0-9]*,[0-9]*,[0-9]*,[0-9]*' | grep -o '[0-9]*,[0-9]*$') || true
  [ -n "$hit" ] || fail "search found no parse region: $(curl -s "${url}api/search?q=parse" | head -c 300)"
  b=${hit%,*}; e=${hit#*,}
  page "timeline@$((b > 2000 ? b - 2000 : 0)),$((e + 2000))" dom-hello.html
  "$CHECK" state dom-hello.html timeline parse main $([ $groups = groups ] && echo worker)
  page tasks dom-tasks.html
  "$CHECK" state dom-tasks.html tasks job
  page regions dom-regions.html
  "$CHECK" state dom-regions.html regions parse compute
  page task/job dom-task.html
  "$CHECK" state dom-task.html task job
else
  echo "e2e_viewer: chromium not installed: browser checks skipped" >&2
fi
echo "e2e_viewer: ok"
