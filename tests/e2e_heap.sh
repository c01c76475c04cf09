#!/usr/bin/env bash
# The heap and allocs profiles (malloc family interposed, Poisson sampling
# at CPROF_TRACE_MEM_RATE), read by `go tool pprof -top URL`, on
# tests/heap_app under LD_PRELOAD:
#  - allocs (default alloc_space): alloc_a : alloc_b : alloc_c churn bytes in
#    3 : 1 : 2, each within 5 points of 50 / 16.7 / 33.3%;
#  - heap (default inuse_space): keep_d, which keeps its 32 MiB, is over 90%;
#    alloc_a's freed bytes are not in use;
#  - the program allocates in a constructor, in a signal handler, from
#    10,000 threads and in a forked child, and exits normally;
#  - ?debug=1 is Go's text form, ?gc=1 is accepted; -raw shows mappings;
#  - at CPROF_TRACE_MEM_RATE=1, exact object counts per site and none of the
#    tracer's own allocations (profiles built meanwhile);
#  - unmodified system programs (ls, sh, python3 when present) run under the
#    preload with sampling at every byte (CPROF_TRACE_MEM_RATE=1).
# With "linked", the same program linked to -lcproftrace (no preload, no
# system programs).
#   e2e_heap.sh BUILD [linked]
set -euo pipefail
build=$1
lib="$build/tracer/libcproftrace.so" app="$build/tests/heap_app"
linked=0
if [ "${2:-}" = linked ]; then linked=1 app="$build/tests/heap_app_linked"; fi
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

# system programs, every allocation sampled
[ $linked = 1 ] || for cmd in "ls -la /" "sh -c 'echo hi | cat'"; do
  eval "LD_PRELOAD=$lib CPROF_TRACE_MEM_RATE=1 $cmd" > /dev/null 2> "$dir/sys.err" || fail "$cmd under the preload: $(cat "$dir/sys.err")"
done
if [ $linked = 0 ] && command -v python3 > /dev/null; then
  LD_PRELOAD=$lib CPROF_TRACE_MEM_RATE=1 python3 -c 'import json; print(len(json.dumps(list(range(100000)))))' > /dev/null 2> "$dir/sys.err" \
    || fail "python3 under the preload: $(cat "$dir/sys.err")"
fi

if [ $linked = 1 ]; then lib=; fi
: > "$dir/app.out"; : > "$dir/app.err" # emptied first: never read the previous run's port
LD_PRELOAD="$lib" CPROF_TRACE_ADDR=127.0.0.1:0 "$app" 30 10000 > "$dir/app.out" 2> "$dir/app.err" &
pid=$!
for _ in $(seq 600); do grep -q 'ready' "$dir/app.out" 2>/dev/null && break; sleep 0.05; done
grep -q 'ready child=0' "$dir/app.out" || fail "heap_app did not get ready (or its child failed): $(cat "$dir/app.out")"
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/app.err" | head -1 | cut -d: -f2)
[ -n "$port" ] || fail "no /debug/pprof address on stderr"
base="http://127.0.0.1:$port/debug/pprof"

# mb NAME FILE: the cum column of NAME in -top -cum output, in MB
mb() {
  awk -v n="$1" '$NF == n { v = $4; if (v ~ /GB$/) v = v * 1024; else if (v ~ /kB$/) v = v / 1024; else if (v ~ /B$/ && v !~ /MB$/) v = v / 1048576; print v + 0; f = 1; exit }
                 END { if (!f) print 0 }' "$2"
}
pprof -top -cum "$base/allocs" > "$dir/allocs.top"
grep -q 'Type: alloc_space' "$dir/allocs.top" || fail "allocs: default type: $(head "$dir/allocs.top")"
a=$(mb alloc_a "$dir/allocs.top") b=$(mb alloc_b "$dir/allocs.top") c=$(mb alloc_c "$dir/allocs.top")
echo "allocs: alloc_a $a MB, alloc_b $b MB, alloc_c $c MB (want 3 : 1 : 2 of ~938 MB)"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { t = a + b + c; if (t < 500) exit 1;
  pa = 100 * a / t; pb = 100 * b / t; pc = 100 * c / t;
  printf "allocs: %.1f%% %.1f%% %.1f%% (want 50.0 16.7 33.3)\n", pa, pb, pc;
  exit !(pa > 45 && pa < 55 && pb > 11.7 && pb < 21.7 && pc > 28.3 && pc < 38.3) }' || fail "allocs ratios: $(cat "$dir/allocs.top")"
for f in realloc aligned_alloc posix_memalign calloc; do
  grep -q " $f\$" "$dir/allocs.top" || fail "allocs: no $f"
done

pprof -top -cum "$base/heap?gc=1" > "$dir/heap.top"
grep -q 'Type: inuse_space' "$dir/heap.top" || fail "heap: default type: $(head "$dir/heap.top")"
k=$(awk '$NF == "keep_d" { sub(/%/, "", $5); print $5 + 0 }' "$dir/heap.top")
echo "heap: keep_d is ${k:-0}% of inuse_space"
awk -v k="${k:-0}" 'BEGIN { exit !(k > 90) }' || fail "heap: keep_d does not dominate: $(cat "$dir/heap.top")"
a=$(mb alloc_a "$dir/heap.top")
awk -v a="$a" 'BEGIN { exit !(a < 1) }' || fail "heap: freed alloc_a memory still in use ($a MB)"

curl -s "$base/heap?debug=1" > "$dir/heap.txt"
grep -Eq '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/[0-9]+$' "$dir/heap.txt" || fail "heap?debug=1: $(head -3 "$dir/heap.txt")"
grep -q 'keep_d' "$dir/heap.txt" || fail "heap?debug=1 lacks keep_d"
pprof -raw "$base/heap" > "$dir/heap.raw"
grep -Eq "$(basename "$app") [0-9a-f]{40}" "$dir/heap.raw" || fail "heap: no mapping with build id"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# every allocation sampled: exact counts, and none of the tracer's own
# (profiles built meanwhile allocate on HTTP threads: not counted)
: > "$dir/app.out"; : > "$dir/app.err" # emptied first: never read the previous run's port
LD_PRELOAD="$lib" CPROF_TRACE_MEM_RATE=1 CPROF_TRACE_ADDR=127.0.0.1:0 "$app" 30 10 > "$dir/app.out" 2> "$dir/app.err" &
pid=$!
for _ in $(seq 600); do grep -q 'ready' "$dir/app.out" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/app.err" | head -1 | cut -d: -f2)
base="http://127.0.0.1:$port/debug/pprof"
for p in heap goroutine block heap; do curl -s -o /dev/null "$base/$p"; done
pprof -top -nodefraction=0 -sample_index=alloc_objects "$base/allocs" > "$dir/exact.top"
for f in alloc_a alloc_b posix_memalign aligned_alloc realloc; do
  n=$(awk -v f="$f" '$NF == f { print $4 }' "$dir/exact.top")
  [ "$n" = 40000 ] || fail "rate 1: $f has ${n:-no} objects, want 40000: $(cat "$dir/exact.top")"
done
if grep -Eiq 'cprof|MHD_|dwfl|symbolize' "$dir/exact.top"; then fail "the tracer's own allocations are counted: $(cat "$dir/exact.top")"; fi
echo "rate 1: exact object counts, no tracer allocations"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "e2e_heap: passed"
