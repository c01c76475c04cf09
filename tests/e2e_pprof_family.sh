#!/usr/bin/env bash
# The rest of Go's /debug/pprof as pprof, read by the seed's own command
# (`go tool pprof -top URL`), on tests/contention_app run under LD_PRELOAD:
#  - block: the waiters' stack (wait_for_lock) carries the mutex delay, and
#    cond_waiter / sem_waiter appear; the holder (hold_long) waits little.
#  - mutex: the delay is charged to the releasing stack: hold_long, not
#    wait_for_lock.
#  - goroutine and threadcreate (pprof, the default form): every thread;
#    threadcreate's 5 threads come from main.
#  - every profile the index links to is read by go tool pprof -top, and
#    -raw lists the program's mapping with its build id.
#  - with 20 threads queued on one mutex, the mutex profile's total is the
#    block profile's (every waiter charged, not one table bucket's 8).
# With "linked", the same program linked to -lcproftrace instead (the
# sanitizer builds run this form: an ASan library cannot be preloaded into
# an uninstrumented program).
#   e2e_pprof_family.sh BUILD [linked]
set -euo pipefail
build=$1
lib="$build/tracer/libcproftrace.so" app="$build/tests/contention_app"
if [ "${2:-}" = linked ]; then lib= app="$build/tests/contention_app_linked"; fi
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -s "$dir/app.err" ] && { echo "--- app stderr:"; cat "$dir/app.err"; }; exit 1; }
export HOME="$dir" PPROF_TMPDIR="$dir/pprof" GOFLAGS=-mod=mod GOTELEMETRY=off
if ! go version > /dev/null 2>&1; then
  echo "SKIP: go tool pprof not installed (scripts/deps.sh test installs golang-go)"
  exit 77
fi
pprof() { go tool pprof "$@" 2> "$dir/pprof.err" || fail "go tool pprof $*: $(cat "$dir/pprof.err")"; }

: > "$dir/app.out"; : > "$dir/app.err" # emptied first: never read the previous run's port
LD_PRELOAD="$lib" CPROF_TRACE_ADDR=127.0.0.1:0 "$app" 10 > "$dir/app.out" 2> "$dir/app.err" &
pid=$!
for _ in $(seq 200); do grep -q 'serving' "$dir/app.err" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/app.err" | head -1 | cut -d: -f2)
[ -n "$port" ] || fail "no /debug/pprof address on stderr"
base="http://127.0.0.1:$port/debug/pprof"
sleep 2 # contention accumulates

# cum NAME FILE: the cum column of NAME in -top -cum output, in ms (0 when absent)
cum() {
  awk -v n="$1" '$NF == n { v = $4; if (v ~ /ms$/) v = v + 0; else if (v ~ /us$/) v = v / 1000; else if (v ~ /s$/) v = v * 1000; print v + 0; f = 1; exit }
                 END { if (!f) print 0 }' "$2"
}
pprof -top -cum "$base/block" > "$dir/block.top"
w=$(cum wait_for_lock "$dir/block.top") h=$(cum hold_long "$dir/block.top")
echo "block: wait_for_lock ${w} ms, hold_long ${h} ms"
awk -v w="$w" -v h="$h" 'BEGIN { exit !(w > 500 && w > 5 * h) }' || fail "block profile: $(cat "$dir/block.top")"
grep -q 'cond_waiter' "$dir/block.top" || fail "no cond_waiter in the block profile"
grep -q 'sem_waiter' "$dir/block.top" || fail "no sem_waiter in the block profile"
grep -q 'Type: delay' "$dir/block.top" || fail "block: default type is not delay"

pprof -top -cum "$base/mutex" > "$dir/mutex.top"
w=$(cum wait_for_lock "$dir/mutex.top") h=$(cum hold_long "$dir/mutex.top")
echo "mutex: hold_long ${h} ms, wait_for_lock ${w} ms"
awk -v w="$w" -v h="$h" 'BEGIN { exit !(h > 500 && h > 5 * w) }' || fail "mutex profile: $(cat "$dir/mutex.top")"
grep -q 'pthread_mutex_unlock' "$dir/mutex.top" || fail "mutex: not charged at the unlock"

pprof -top -cum "$base/threadcreate" > "$dir/tc.top"
grep -Eq '^ +0 +0% +[0-9.]+% +5 +100% +main$' "$dir/tc.top" || fail "threadcreate: $(cat "$dir/tc.top")"
pprof -top "$base/goroutine" > "$dir/g.top"
n=$(ls /proc/$pid/task | wc -l)
grep -q 'Type: goroutine' "$dir/g.top" || fail "goroutine: $(cat "$dir/g.top")"
echo "goroutine: $(grep -o 'of [0-9]* total' "$dir/g.top") ($n tasks now)"

# Go's text forms
curl -s "$base/block?debug=1" > "$dir/block.txt"
head -1 "$dir/block.txt" | grep -q -- '--- contention:' || fail "block?debug=1: $(head -3 "$dir/block.txt")"
grep -q 'wait_for_lock' "$dir/block.txt" || fail "block?debug=1 lacks wait_for_lock"
curl -s "$base/mutex?debug=1" > "$dir/mutex.txt"
head -1 "$dir/mutex.txt" | grep -q -- '--- mutex:' || fail "mutex?debug=1: $(head -3 "$dir/mutex.txt")"
grep -q 'hold_long' "$dir/mutex.txt" || fail "mutex?debug=1 lacks hold_long"

# under contention, every profile answers promptly (no lock shared with the program)
for p in block mutex goroutine threadcreate heap allocs; do
  t=$(curl -s -o /dev/null -m 10 -w '%{time_total}' "$base/$p")
  awk -v t="$t" 'BEGIN { exit !(t < 2) }' || fail "$p took ${t}s under contention"
done

# every profile the index lists, with -top; -raw shows the mappings
curl -s "$base/" > "$dir/index.html"
for p in $(grep -o 'href="[a-z]*"' "$dir/index.html" | sed 's/href="//; s/"//'); do
  [ "$p" = cmdline ] && continue
  pprof -top "$base/$p" > "$dir/$p.any"
  pprof -raw "$base/$p" > "$dir/$p.raw"
  grep -Eq "$(basename "$app") [0-9a-f]{40}" "$dir/$p.raw" || fail "$p: no mapping with build id: $(sed -n '/Mappings/,$p' "$dir/$p.raw")"
  echo "index: $p read by go tool pprof -top and -raw (mappings with build ids)"
done
pprof -top "$base/profile?seconds=1" > "$dir/profile.any" # the index's profile link, shortened
pprof -raw "$base/profile?seconds=1" > "$dir/profile.raw"
grep -Eq "$(basename "$app") [0-9a-f]{40}" "$dir/profile.raw" || fail "profile: no mapping with build id"
echo "index: profile?seconds=1 read by go tool pprof -top and -raw"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# 20 threads queued on one mutex (more than one wake-up table bucket): the
# mutex profile charges the holder every waiter's delay, so it matches the
# block profile's total for the lock, read just before and just after.
: > "$dir/app.out"; : > "$dir/app.err" # emptied first: never read the previous run's port
LD_PRELOAD="$lib" CPROF_TRACE_ADDR=127.0.0.1:0 "$app" 30 20 > "$dir/app.out" 2> "$dir/app.err" &
pid=$!
for _ in $(seq 200); do grep -q 'serving' "$dir/app.err" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/app.err" | head -1 | cut -d: -f2)
[ -n "$port" ] || fail "no /debug/pprof address on stderr (20 waiters)"
base="http://127.0.0.1:$port/debug/pprof"
sleep 2
pprof -top -cum "$base/block" > "$dir/block20a.top"
pprof -top -cum "$base/mutex" > "$dir/mutex20.top"
pprof -top -cum "$base/block" > "$dir/block20b.top"
b1=$(cum wait_for_lock "$dir/block20a.top") b2=$(cum wait_for_lock "$dir/block20b.top")
m=$(awk -v a="$(cum hold_long "$dir/mutex20.top")" -v b="$(cum wait_for_lock "$dir/mutex20.top")" 'BEGIN { print a + b }')
echo "20 waiters: block ${b1}..${b2} ms, mutex ${m} ms"
awk -v a="$b1" -v b="$b2" -v m="$m" 'BEGIN { exit !(a > 5000 && m >= 0.8 * a && m <= 1.05 * b) }' ||
  fail "20 waiters: mutex ${m} ms against block ${b1}..${b2} ms: $(cat "$dir/mutex20.top")"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "e2e_pprof_family: passed"
