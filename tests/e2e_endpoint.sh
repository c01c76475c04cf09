#!/usr/bin/env bash
# The /debug/pprof endpoints with real clients (curl, wget, ab) against a
# real libmicrohttpd application; every request goes to loopback.
#   e2e_endpoint.sh BUILD [quick]     quick: 40 soak captures instead of 200
set -euo pipefail
build=$1 soak=${2:-200}
[ "$soak" = quick ] && soak=40
app="$build/tests/http_app" view="$build/viewer/cprof-trace"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f"):"; cat "$f"; }; done
  exit 1
}
trap 'fail "line $LINENO: a command failed"' ERR
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# Under TSan with the shared library, TSan's interceptors call our wrappers
# as their "real" functions, and TSan does not model the tracer's own
# locking nested inside its interceptor. The static unit tests cover the
# wrappers under TSan; here TSan checks the endpoint and capture machinery.
libs=$(ldd "$app") # once: `ldd | grep -q` under pipefail fails at random (SIGPIPE)
tsan="" sanitized=""
case "$libs" in *libtsan*) tsan=1; export CPROF_TRACE_INTERPOSE=0;; esac
case "$libs" in *libasan*|*libtsan*) sanitized=1;; esac

start_app() { # name, env...: starts http_app, waits for its "port" line
  local name=$1; shift
  env "$@" "$app" > "$dir/$name.out" 2> "$dir/$name.err" &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 400); do grep -q '^port' "$dir/$name.out" 2>/dev/null && break; sleep 0.05; done
  if ! grep -q '^port' "$dir/$name.out"; then
    echo "--- $name stderr:"; cat "$dir/$name.err"; echo "---"
    fail "$name did not start within 20 s"
  fi
}

# ---- the application's own daemon, endpoints mounted with cprof_http_dispatch
start_app main
port=$(awk '/^port/{print $2}' "$dir/main.out")
base="http://127.0.0.1:$port/debug/pprof"
[ "$(code "$base/")" = 200 ] || fail "index"
has() { case "$1" in *"$2"*) return 0;; esac; return 1; } # no pipes into grep -q (SIGPIPE)
has "$(curl -s "$base/")" 'href="trace?seconds=1"' || fail "index lists trace"
has "$(curl -s "$base/cmdline" | tr '\0' '\n')" 'http_app' || fail "cmdline"
curl -s "$base/threadcreate?debug=1" > "$dir/tc.txt"
if [ -z "$tsan" ]; then
  grep -q '^threadcreate profile: total [1-9]' "$dir/tc.txt" || fail "threadcreate total"
  grep -q 'main' "$dir/tc.txt" || fail "threadcreate stack names main"
fi
curl -s "$base/goroutine?debug=2" > "$dir/g.txt"
grep -q '^thread [0-9]* \[http_app' "$dir/g.txt" || fail "goroutine lists threads"
grep -q '^background()' "$dir/g.txt" || fail "goroutine shows the workers' stacks: $(head -c 600 "$dir/g.txt")"

# ---- wget and curl take a 1 s trace while ab loads the application
ab -q -k -c 4 -t 3 -n 1000000 "http://127.0.0.1:$port/work" > "$dir/ab.txt" 2>&1 &
abpid=$!
sleep 0.3
t0=$(date +%s.%N)
wget -q -O "$dir/wget.trace" "$base/trace?seconds=1" || fail "wget"
t1=$(date +%s.%N)
curl -s -D "$dir/h.txt" -o "$dir/curl.trace" "$base/trace?seconds=1" || fail "curl"
wait $abpid || fail "ab: $(tail -5 "$dir/ab.txt")"
grep -q '^Failed requests: *0' "$dir/ab.txt" || fail "ab saw failures while tracing: $(grep -i failed "$dir/ab.txt")"
reqs=$(awk '/^Complete requests/{print $3}' "$dir/ab.txt")
[ "$reqs" -gt 100 ] || fail "the application stalled under tracing ($reqs requests in 3 s)"
grep -qi '^Content-Type: application/octet-stream' "$dir/h.txt" || fail "content type"
grep -qi '^Content-Disposition: attachment; filename="trace"' "$dir/h.txt" || fail "content disposition"
grep -qi '^Transfer-Encoding: chunked' "$dir/h.txt" || fail "not streamed (chunked)"
elapsed=$(echo "$t1 - $t0" | bc)
[ "$(echo "$elapsed >= 0.95 && $elapsed < 5" | bc)" = 1 ] || fail "a 1 s trace took $elapsed s"
for t in wget curl; do
  "$view" -dump "$dir/$t.trace" > "$dir/$t.txt" || fail "$t trace does not parse completely"
  grep -q 'region_begin name="work"' "$dir/$t.txt" || fail "$t trace lacks the requests' regions"
  grep -q 'task_begin name="request"' "$dir/$t.txt" || fail "$t trace lacks the requests' tasks"
  # events from the window only: 0 <= t <= 1 s (+ 1 ms for the clock
  # conversions), however late the drainer woke after the deadline
  awk '/^ /{ if ($1 < 0 || $1 > 1001000) { bad++; if (bad < 4) print "outside the window: " $0 } } END { exit bad > 0 }' "$dir/$t.txt" \
    || fail "$t trace has events outside its 1 s window"
done
echo "window ok: $(grep -c '^ ' "$dir/curl.txt") events in 1 s under ab ($reqs requests/3 s)"

# ---- one trace at a time
curl -s -o "$dir/long.trace" "$base/trace?seconds=2" &
cpid=$!
sleep 0.5
[ "$(code "$base/trace?seconds=1")" = 409 ] || fail "a second concurrent trace was not refused with 409"
has "$(curl -s "$base/trace?seconds=1")" 'already being collected' || fail "409 message"
wait $cpid || fail "the 2 s trace request failed (curl exit $?)"
"$view" -dump "$dir/long.trace" > /dev/null || fail "the first trace was harmed by the refused one"

# ---- bad requests: 400/404/405 with a reason
for q in 'seconds=abc' 'seconds=-1' 'seconds=0' 'seconds=1e9' 'seconds=nan' 'seconds=inf' 'seconds=' \
         'seconds=1&last=1' 'last=-3' 'seconds=99999999999999999999999999999999999999'; do
  [ "$(code "$base/trace?$q")" = 400 ] || fail "trace?$q not 400"
done
[ "$(code "$base/nope")" = 404 ] || fail "unknown endpoint not 404"
[ "$(code "$base/goroutine?debug=7")" = 400 ] || fail "goroutine?debug=7 not 400"
[ "$(code -X POST "$base/trace")" = 405 ] || fail "POST not 405"
has "$(curl -s "$base/trace?seconds=abc")" 'seconds=abc: not a number' || fail "400 reason"

# ---- flight recorder: ?last=N answers at once with the recent past
s0=$(date +%s%N)
curl -s -o "$dir/last.trace" "$base/trace?last=0.5"
s1=$(date +%s%N)
[ $(( (s1 - s0) / 1000000 )) -lt 500 ] || fail "last=0.5 took $(( (s1 - s0) / 1000000 )) ms"
"$view" -dump "$dir/last.trace" > "$dir/last.txt" || fail "last trace"
grep -q 'region_begin name="background"' "$dir/last.txt" || fail "last trace empty"

# ---- a client that disconnects mid-capture leaves the program healthy
curl -s --max-time 0.3 -o /dev/null "$base/trace?seconds=3" || true
[ "$(code "http://127.0.0.1:$port/work")" = 200 ] || fail "application unhealthy after a disconnect"
for _ in $(seq 40); do
  [ "$(curl -s -o "$dir/after.trace" -w '%{http_code}' "$base/trace?seconds=0.2")" = 200 ] && break
  sleep 0.1 # 409 until the server has noticed the client left
done
"$view" -dump "$dir/after.trace" > /dev/null || fail "the next capture after a disconnect"

# ---- the library's own server: unix socket, remote refused, token
sock="$dir/pprof.sock"
start_app unixapp CPROF_TRACE_ADDR="unix:$sock"
[ "$(stat -c %a "$sock")" = 600 ] || fail "unix socket mode $(stat -c %a "$sock")"
[ "$(curl -s --unix-socket "$sock" -o /dev/null -w '%{http_code}' http://x/debug/pprof/cmdline)" = 200 ] \
  || fail "unix socket request"
start_app remote CPROF_TRACE_ADDR=0.0.0.0:0
grep -q 'refusing to serve /debug/pprof on 0.0.0.0:0' "$dir/remote.err" || fail "remote bind not refused: $(cat "$dir/remote.err")"
! grep -q '^pprof' "$dir/remote.out" || fail "remote bind served"
start_app tokenapp CPROF_TRACE_ADDR=0.0.0.0:0 CPROF_TRACE_ALLOW_REMOTE=1 CPROF_TRACE_TOKEN=s3cret
tport=$(awk '/^pprof/{print $2}' "$dir/tokenapp.out" | sed 's/.*://')
[ -n "$tport" ] || fail "token server did not start: $(cat "$dir/tokenapp.err")"
turl="http://127.0.0.1:$tport/debug/pprof/cmdline"
[ "$(code "$turl")" = 401 ] || fail "no token: not 401"
[ "$(code -H 'Authorization: Bearer wrong' "$turl")" = 401 ] || fail "wrong token: not 401"
[ "$(code -H 'Authorization: Bearer s3cret' "$turl")" = 200 ] || fail "right token: not 200"
[ "$(code -H 'Authorization: Bearer s3cret' "http://127.0.0.1:$tport/debug/pprof/trace?seconds=0.1")" = 200 ] || fail "token trace"

# ---- the server's own threads are not part of the traced workload
start_app ownapp HTTP_APP_NO_DAEMON=1 CPROF_TRACE_ADDR=127.0.0.1:0
oaddr=$(awk '/^pprof/{print $2}' "$dir/ownapp.out")
curl -s -o "$dir/own.trace" "http://$oaddr/debug/pprof/trace?seconds=0.5"
curl -s -o /dev/null "http://$oaddr/debug/pprof/goroutine?debug=1" # keep the server busy meanwhile
"$view" -dump "$dir/own.trace" > "$dir/own.txt" || fail "own-server trace"
grep -q 'region_begin name="background"' "$dir/own.txt" || fail "own-server trace lacks the workload"
! grep -q ' MHD-' "$dir/own.txt" || fail "the server's own threads appear in the trace: $(grep -m3 ' MHD-' "$dir/own.txt")"

# ---- soak: back-to-back short captures leak no fd, thread or memory
snap() { echo "$(ls /proc/$main_pid/fd | wc -l) $(awk '/^Threads/{print $2}' /proc/$main_pid/status) $(awk '/^VmRSS/{print $2}' /proc/$main_pid/status)"; }
for _ in 1 2 3 4 5; do curl -s -o /dev/null "$base/trace?seconds=0.1"; done
read -r fd0 th0 rss0 <<< "$(snap)"
for i in $(seq "$soak"); do
  [ "$(curl -s -o "$dir/soak.trace" -w '%{http_code}' "$base/trace?seconds=0.1")" = 200 ] || fail "soak capture $i"
done
"$view" -dump "$dir/soak.trace" > /dev/null || fail "the last soak trace"
sleep 0.3
read -r fd1 th1 rss1 <<< "$(snap)"
echo "soak: $soak captures: fds $fd0 -> $fd1, threads $th0 -> $th1, RSS $rss0 -> $rss1 KiB"
[ "$fd1" -le "$fd0" ] || fail "fd growth"
[ "$th1" -le "$th0" ] || fail "thread growth"
# Sanitizer runtimes hold freed memory in quarantine (their own leak checks
# cover this build); the RSS bound holds for uninstrumented builds.
if [ -z "$sanitized" ]; then
  [ "$rss1" -le $((rss0 + 4096)) ] || fail "RSS grew by $((rss1 - rss0)) KiB"
fi
for f in "$dir"/*.err; do
  if grep -q 'WARNING: ThreadSanitizer\|ERROR: AddressSanitizer\|runtime error' "$f"; then fail "sanitizer report in $(basename "$f")"; fi
done
echo "e2e_endpoint: 1 passed, 0 failed"
