#!/usr/bin/env bash
# A program nobody here wrote: Debian's redis-server under LD_PRELOAD,
# loaded by redis-benchmark over a unix socket, captured remotely with
# /debug/pprof/trace?seconds=4. The kernel's own account of every redis
# thread (/proc/PID/task/TID/schedstat read just before and just after the
# capture) against the threads report: every thread's columns sum to its
# total, and its running share is within 5 points of the kernel's on-CPU
# share (the kernel's window is the capture's plus the request's edges).
# Threads asleep through the capture (the bio threads) are in the report,
# blocked in their call. Skipped (77) only when redis is not installed.
#   e2e_redis.sh BUILD
set -euo pipefail
build=$1
command -v redis-server > /dev/null && command -v redis-benchmark > /dev/null || { echo "redis-server not installed: skipped"; exit 77; }
lib="$build/tracer/libcproftrace.so" view="$build/viewer/cprof-trace" check="$build/tests/check_states"
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null; wait 2> /dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
sock="$dir/redis.sock"
LD_PRELOAD="$lib" CPROF_TRACE_ADDR=127.0.0.1:0 redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
  --daemonize no > "$dir/redis.out" 2> "$dir/redis.err" &
pid=$!
for _ in $(seq 100); do
  [ -S "$sock" ] && grep -q 'serving /debug/pprof/' "$dir/redis.err" && break
  sleep 0.1
done
port=$(grep -o '127.0.0.1:[0-9]*' "$dir/redis.err" | head -1 | cut -d: -f2)
[ -n "$port" ] && [ -S "$sock" ] || fail "redis-server did not start under the tracer"
# bounded load: at most 200k requests or 20 s
timeout 20 redis-benchmark -s "$sock" -n 400000 -c 2 -q -t set,get,incr,lpush > "$dir/bench.out" 2> "$dir/bench.err" &
sleep 0.5
kernel() { # the tracer's own threads (the endpoint's) are not the program's
  for t in /proc/$pid/task/*; do
    case "$(cat "$t/comm" 2> /dev/null)" in MHD-*) continue ;; esac
    echo "$(basename "$t") $(cut -d' ' -f1,2 "$t/schedstat" 2> /dev/null) $(date +%s%N)"
  done
}
kernel > "$dir/before"
wget -q -O "$dir/redis.trace" "http://127.0.0.1:$port/debug/pprof/trace?seconds=4" || fail "the capture failed"
kernel > "$dir/after"
wait %2 2> /dev/null || true
grep -q 'requests per second' "$dir/bench.out" || fail "redis-benchmark did not complete: $(tail -3 "$dir/bench.out")"
# facts: thread TID redis WALL ON RQ, over the kernel's window
join "$dir/before" "$dir/after" | awk '{ printf "thread %s redis %.0f %.0f %.0f\n", $1, $7 - $4, $5 - $2, $6 - $3 }' > "$dir/facts"
n=$(wc -l < "$dir/facts")
"$view" -report=threads -format=json "$dir/redis.trace" > "$dir/threads.json" 2> "$dir/view.err" || fail "threads report"
"$view" -report=threads "$dir/redis.trace" 2> /dev/null | sed -n '1,20p'
"$check" "$dir/facts" "$dir/threads.json" 5 "$n" exec || fail "the report disagrees with the kernel"
grep -q '"routine":[[:space:]]*"bio_' "$dir/threads.json" || fail "the bio threads, asleep through the capture, are missing"
