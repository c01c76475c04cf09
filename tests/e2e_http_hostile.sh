#!/usr/bin/env bash
# The endpoint against hostile clients and settings (issue "hostile input",
# items 12-14): over-long tokens, the token in children's environment,
# numbers that are not decimal, a port with a space, the Bearer scheme's
# case, and half-open connections filling the server.
#   e2e_http_hostile.sh BUILD
set -euo pipefail
build=$1
app="$build/tests/http_app" lib="$build/tracer/libcproftrace.so"
dir=$(mktemp -d "$build/tests/http_hostile.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f"):"; head -c 3000 "$f"; }; done
  exit 1
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
libs=$(ldd "$app")
sanitized=""
case "$libs" in *libasan*|*libtsan*) sanitized=1;; esac
case "$libs" in *libtsan*) export CPROF_TRACE_INTERPOSE=0;; esac

start_app() { # name, env...: waits for "port", then for "pprof" when the library serves
  local name=$1; shift
  env "$@" "$app" > "$dir/$name.out" 2> "$dir/$name.err" &
  pids+=($!)
  for _ in $(seq 400); do grep -q '^port' "$dir/$name.out" 2>/dev/null && break; sleep 0.05; done
  grep -q '^port' "$dir/$name.out" || fail "$name did not start"
}

# item 12: a token over 255 bytes is refused, not cut to its prefix
long=$(head -c 300 /dev/zero | tr '\0' 'a')
start_app longtok HTTP_APP_NO_DAEMON=1 CPROF_TRACE_ADDR=127.0.0.1:0 CPROF_TRACE_TOKEN="$long"
grep -q 'CPROF_TRACE_TOKEN is longer than 255 bytes' "$dir/longtok.err" || fail "long token not refused"
! grep -q '^pprof' "$dir/longtok.out" || fail "served with a cut token"
start_app longtok2 CPROF_TRACE_TOKEN="$long"
port=$(awk '/^port/{print $2}' "$dir/longtok2.out")
for auth in "Bearer $long" "Bearer ${long:0:255}"; do
  c=$(code -H "Authorization: $auth" "http://127.0.0.1:$port/debug/pprof/cmdline")
  [ "$c" = 503 ] || fail "long token on the program's daemon: $c"
done
# ... and children do not inherit the token
if [ -z "$sanitized" ]; then # an uninstrumented program cannot preload a sanitizer-built library
  out=$(LD_PRELOAD="$lib" CPROF_TRACE_TOKEN=s3cret sh -c 'echo "${CPROF_TRACE_TOKEN-unset}"')
  [ "$out" = unset ] || fail "a child sees CPROF_TRACE_TOKEN=$out"
fi

# item 13: a port with a space is refused
start_app badport HTTP_APP_NO_DAEMON=1 "CPROF_TRACE_ADDR=127.0.0.1: 0"
grep -q 'bad port' "$dir/badport.err" || fail "'127.0.0.1: 0' not refused: $(cat "$dir/badport.err")"
! grep -q '^pprof' "$dir/badport.out" || fail "served on '127.0.0.1: 0'"

# item 13: the Bearer scheme in any case; numbers strictly decimal
start_app tok HTTP_APP_NO_DAEMON=1 CPROF_TRACE_ADDR=127.0.0.1:0 CPROF_TRACE_TOKEN=s3cret
for _ in $(seq 100); do grep -q '^pprof' "$dir/tok.out" && break; sleep 0.05; done
addr=$(awk '/^pprof/{print $2}' "$dir/tok.out")
[ -n "$addr" ] || fail "token server did not start"
base="http://$addr/debug/pprof"
for auth in 'Bearer s3cret' 'bearer s3cret' 'BEARER  s3cret'; do
  [ "$(code -H "Authorization: $auth" "$base/cmdline")" = 200 ] || fail "'$auth' refused"
done
for auth in 'Bearers3cret' 'Basic s3cret' 'Bearer s3cre' 'Bearer s3cretX'; do
  [ "$(code -H "Authorization: $auth" "$base/cmdline")" = 401 ] || fail "'$auth' accepted"
done
A=(-H 'Authorization: Bearer s3cret')
for q in 'seconds=1e-300' 'seconds=4.9e-324' 'seconds=0x10' 'seconds=0x1p-3' 'seconds=%201' 'seconds=1%20' \
         'seconds=%2B1' 'seconds=1e0' 'seconds=0.0001' 'seconds=.' 'seconds=1.2.3' 'last=1e-300' 'seconds=infinity'; do
  [ "$(code "${A[@]}" "$base/trace?$q")" = 400 ] || fail "trace?$q not 400"
done
curl -s "${A[@]}" "$base/trace?seconds=1e-300" | grep -q 'not a number' || fail "1e-300 reason"
curl -s "${A[@]}" "$base/trace?seconds=0.0001" | grep -q 'below the minimum' || fail "0.0001 reason"
[ "$(code "${A[@]}" "$base/trace?seconds=.05")" = 200 ] || fail "seconds=.05"
[ "$(code "${A[@]}" "$base/trace?last=0.05")" = 200 ] || fail "last=0.05"

# item 14: 150 half-open connections lock nobody out: one client address
# holds at most 8; another loopback address is answered at once
fds=()
for _ in $(seq 150); do
  exec {fd}<>"/dev/tcp/${addr%:*}/${addr##*:}" 2>/dev/null && fds+=("$fd") || true
done
s0=$(date +%s%N)
c=$(curl -s --max-time 5 --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "${A[@]}" "$base/cmdline") || true
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
[ "$c" = 200 ] || fail "a second client was locked out by half-open connections (got $c after $ms ms)"
for fd in "${fds[@]}"; do exec {fd}>&-; done
# the idle ones are closed by the server: the first client gets in again
for _ in $(seq 30); do
  [ "$(code --max-time 2 "${A[@]}" "$base/cmdline")" = 200 ] && ok=1 && break
  sleep 0.5
done
[ "${ok:-}" = 1 ] || fail "the first client never recovered"

# item 7: goroutine?debug=1 stops no thread: the program's epoll_wait never
# sees EINTR; item 8: stacks (debug=2) come from the spawned helper
start_app dumps
port=$(awk '/^port/{print $2}' "$dir/dumps.out")
for _ in $(seq 30); do curl -s -o "$dir/g1.txt" "http://127.0.0.1:$port/debug/pprof/goroutine?debug=1"; done
grep -q '^thread [0-9]* \[http_app' "$dir/g1.txt" || fail "debug=1 lists no threads: $(head -c 400 "$dir/g1.txt")"
grep -q 'no thread was stopped' "$dir/g1.txt" || fail "debug=1 does not say it stopped nothing"
n=$(curl -s "http://127.0.0.1:$port/eintr")
[ "$n" = 0 ] || fail "goroutine?debug=1 made epoll_wait fail with EINTR $n times"
curl -s -o "$dir/g2.txt" "http://127.0.0.1:$port/debug/pprof/goroutine?debug=2"
if [ -z "$sanitized" ]; then
  grep -q '^epoller()' "$dir/g2.txt" || fail "debug=2 shows no stacks: $(head -c 600 "$dir/g2.txt")"
fi
start_app nohelper CPROF_TRACE_HELPER=/nonexistent
port=$(awk '/^port/{print $2}' "$dir/nohelper.out")
curl -s "http://127.0.0.1:$port/debug/pprof/goroutine?debug=2" | grep -q 'stacks unavailable: cannot run /nonexistent' \
  || fail "a missing helper is not reported"

# item 9: the program exits during a remote capture: the client still gets
# a complete file (wget exited 4 on the cut stream)
start_app exiting HTTP_APP_NO_DAEMON=1 CPROF_TRACE_ADDR=127.0.0.1:0 HTTP_APP_EXIT_MS=1500
for _ in $(seq 100); do grep -q '^pprof' "$dir/exiting.out" && break; sleep 0.05; done
eaddr=$(awk '/^pprof/{print $2}' "$dir/exiting.out")
[ -n "$eaddr" ] || fail "exiting app did not serve"
wget -q -O "$dir/exit.trace" "http://$eaddr/debug/pprof/trace?seconds=10" || fail "wget of a capture cut by exit: exit $?"
"$build/viewer/cprof-trace" -dump "$dir/exit.trace" > "$dir/exit.txt" 2> "$dir/exit-dump.err" \
  || fail "the capture cut by exit is incomplete: $(cat "$dir/exit-dump.err")"
grep -q 'region_begin name="background"' "$dir/exit.txt" || fail "the capture cut by exit is empty"

for f in "$dir"/*.err; do
  if grep -q 'WARNING: ThreadSanitizer\|ERROR: AddressSanitizer\|runtime error' "$f"; then fail "sanitizer report in $(basename "$f")"; fi
done
echo "e2e_http_hostile: ok"
