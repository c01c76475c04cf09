#!/usr/bin/env bash
# Heap sampling in a CPROF_TRACE_FILE tree's descendants is off unless asked
# for (nothing reads their heap profile: the endpoint is the root's and
# CPROF_TRACE_ADDR is not passed on; the trace file holds no heap data).
# tests/tree_heap_app keeps 32 MiB and starts its own endpoint; its
# /debug/pprof/heap?debug=1 header states the rate:
#  - as the tree's root: sampled at the default rate (@ heap/1048576, in use > 0);
#  - as a descendant: off (@ heap/0, nothing in use);
#  - as a descendant with CPROF_TRACE_MEM_RATE or CPROF_TRACE_ADDR set: sampled.
#   e2e_heap_tree.sh BUILD
set -euo pipefail
build=$1
lib="$build/tracer/libcproftrace.so" app="$build/tests/tree_heap_app"
dir=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; [ -s "$dir/app.err" ] && { echo "--- app stderr:"; cat "$dir/app.err"; }; exit 1; }

# header ENV...: runs the app under a tree capture with ENV, prints its heap header
header() {
  rm -f "$dir/t.trace" "$dir/out"
  mkfifo "$dir/in.$$" 2>/dev/null || true
  eval "env CPROF_TRACE_FILE=$dir/t.trace $*" > "$dir/out" 2> "$dir/app.err" < "$dir/in.$$" &
  local pid=$!
  exec 3> "$dir/in.$$"
  for _ in $(seq 200); do grep -q '^addr' "$dir/out" 2>/dev/null && break; sleep 0.05; done
  local addr; addr=$(awk '/^addr/{print $2}' "$dir/out")
  [ -n "$addr" ] || fail "no address ($*)"
  curl -s "http://$addr/debug/pprof/heap?debug=1" | head -1
  exec 3>&-
  wait $pid || fail "tree_heap_app failed ($*)"
  rm -f "$dir/in.$$"
  [ -s "$dir/t.trace" ] || fail "no tree file ($*)"
}

root=$(header "$app")
echo "root:        $root"
case "$root" in *"@ heap/1048576"*) ;; *) fail "the root does not sample at the default rate: $root";; esac
case "$root" in "heap profile: 0: 0 "*) fail "the root's heap profile is empty: $root";; esac

desc=$(header "LD_PRELOAD=$lib sh -c 'exec $app'")
echo "descendant:  $desc"
case "$desc" in *"@ heap/0") ;; *) fail "a descendant samples allocations: $desc";; esac
case "$desc" in "heap profile: 0: 0 "*) ;; *) fail "a descendant's heap profile is not empty: $desc";; esac

asked=$(header "LD_PRELOAD=$lib sh -c 'CPROF_TRACE_MEM_RATE=524288 exec $app'")
echo "rate set:    $asked"
case "$asked" in *"@ heap/1048576"*) ;; *) fail "a descendant with CPROF_TRACE_MEM_RATE set does not sample: $asked";; esac

served=$(header "LD_PRELOAD=$lib sh -c 'CPROF_TRACE_ADDR=127.0.0.1:0 exec $app'")
echo "addr set:    $served"
case "$served" in *"@ heap/1048576"*) ;; *) fail "a descendant with CPROF_TRACE_ADDR set does not sample: $served";; esac
echo "e2e_heap_tree: passed"
