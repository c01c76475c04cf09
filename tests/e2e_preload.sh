#!/usr/bin/env bash
# Unmodified programs keep working under LD_PRELOAD=libcproftrace.so: their
# output is the same as without it, and traced runs give valid traces.
set -euo pipefail
build=$1
lib="$build/tracer/libcproftrace.so"
view="$build/viewer/cprof-trace"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pre() { LD_PRELOAD="$lib" "$@"; }
same() { # same output with and without the tracer (traced into $dir/t-N)
  local want got
  want=$("$@" 2>&1) || fail "$* failed without the tracer"
  got=$(LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/same-%p.trace" "$@" 2>&1) || fail "$* failed under LD_PRELOAD"
  [ "$want" = "$got" ] || fail "$*: output differs under LD_PRELOAD"
}

same sh -c 'echo hello world | tr a-z A-Z | wc -c'
same ls -la /usr/bin/env /etc/hostname
same sh -c 'for i in 1 2 3; do sleep 0.01; echo $i; done | sort -r'
# one file per command ("%p": the root's pid), holding every process of its tree
[ "$(ls "$dir"/same-*.trace | wc -l)" -eq 3 ] || fail "expected a trace per command (%p)"
for t in "$dir"/same-*.trace; do
  # (into a file: `-dump | grep -q` under pipefail fails when grep's early
  # exit kills the dump with SIGPIPE, as a longer dump made it do at random)
  "$view" -dump "$t" > "$dir/same.txt" || fail "bad trace $t"
  grep -q '^# process ' "$dir/same.txt" || fail "$t lists no process"
done

# CPROF_TRACE_FILE follows the tree: the shell and the ls it forks and execs
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/one.trace" sh -c 'ls / > /dev/null; echo child-ran' > "$dir/one.out"
grep -q child-ran "$dir/one.out" || fail "sh -c under preload"
"$view" -dump "$dir/one.trace" > "$dir/one.txt" || fail "the tree's trace is incomplete"
grep -q '^# cmdline: sh -c' "$dir/one.txt" || fail "trace is not the shell's"
grep -q '^# process [0-9]* (parent [0-9]*) [0-9]* events: ls /' "$dir/one.txt" || fail "ls is not in the shell's trace"

# curl and wget against a local server, both sides traced
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/server.trace" "$build/tests/tiny_http" 2 > "$dir/port" &
server=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(awk '{print $2}' "$dir/port")
[ -n "$port" ] || fail "tiny_http did not start"
out=$(pre curl -s "http://127.0.0.1:$port/")
[ "$out" = "hello from tiny_http" ] || fail "curl under preload got '$out'"
out=$(pre wget -qO- "http://127.0.0.1:$port/")
[ "$out" = "hello from tiny_http" ] || fail "wget under preload got '$out'"
wait $server || fail "tiny_http failed"
"$view" -dump "$dir/server.trace" > "$dir/server.txt"
grep -q 'block_begin category=2 .*what="accept"' "$dir/server.txt" || fail "server's accept not seen as a network wait"

# fork and exec
out=$(LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/fork.trace" "$build/tests/fork_exec")
[ "$out" = "$(printf 'exec-ok\nfork_exec: ok')" ] || fail "fork_exec under preload: $out"
"$view" -dump "$dir/fork.trace" > /dev/null || fail "fork_exec's trace"

# 10,000 threads created and joined, traced; every start is in the file or counted lost
out=$(LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/threads.trace" "$build/tests/many_threads" 10000)
[ "$out" = "many_threads: 10000" ] || fail "many_threads under preload: $out"
"$view" -dump "$dir/threads.trace" > "$dir/threads.txt"
starts=$(grep -c 'thread_start creator=[1-9]' "$dir/threads.txt" || true)
lost=$(tail -1 "$dir/threads.txt" | sed 's/.*, \([0-9]*\) lost$/\1/')
[ "$starts" -eq 10000 ] || [ "$lost" -gt 0 ] || fail "$starts of 10000 thread starts, nothing lost"
echo "e2e_preload: 1 passed, 0 failed ($starts thread starts, $lost lost)"
