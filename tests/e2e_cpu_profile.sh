#!/usr/bin/env bash
# CPU profiles and kernel scheduling records, end to end:
#  1. /debug/pprof/profile?seconds=N read by `go tool pprof -top` (the seed's
#     own command) on a program whose one thread burns CPU in burn_a and
#     burn_b in a 3:1 ratio: 75/25 within 6 points; a second request meanwhile
#     gets 409; a trace captured at the same time completes; -raw lists the
#     program's mapping with its build id.
#  2. The same program traced to a file: `cprof-trace -pprof=cpu` read by
#     `go tool pprof -top`: 75/25 within 6 points.
#  3. Kernel scheduling records, both sources (perf, schedstat forced with
#     CPROF_TRACE_SCHED=schedstat) and off: present and plausible against the
#     threads' own /proc/thread-self/schedstat (tests/check_sched).
# Sampling runs at 250 Hz here (CPROF_TRACE_CPU_HZ) for statistical power on a
# shared machine; the default is 100 Hz.
#   e2e_cpu_profile.sh BUILD
set -euo pipefail
build=$1
app="$build/tests/sched_app" view="$build/viewer/cprof-trace" check="$build/tests/check_sched"
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
export HOME="$dir" PPROF_TMPDIR="$dir/pprof" GOFLAGS=-mod=mod GOTELEMETRY=off
# Under TSan, interposition stays off as in e2e_endpoint.sh: TSan's interceptors
# call our wrappers as their "real" functions and do not model our locking.
libs=$(ldd "$app")
case "$libs" in *libtsan*) export CPROF_TRACE_INTERPOSE=0;; esac
pprof() { go tool pprof "$@" 2> "$dir/pprof.err"; }
if ! go version > /dev/null 2>&1; then
  echo "SKIP: go tool pprof not installed (scripts/deps.sh test installs golang-go)"
  exit 77
fi

# ratio TOPFILE: percent of burn_a in burn_a + burn_b, from -top's flat column
ratio() {
  awk '$NF == "burn_a" {a = $1} $NF == "burn_b" {b = $1}
       function ms(v) { if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v + 0 }
       END { a = ms(a); b = ms(b); if (a + b == 0) print -1; else printf "%.1f\n", 100 * a / (a + b) }' "$1"
}
within() { awk -v r="$1" 'BEGIN { exit !(r >= 69 && r <= 81) }'; }

# ---- 1. the live endpoint, with go tool pprof
CPROF_TRACE_CPU_HZ=250 CPROF_TRACE_ADDR=127.0.0.1:0 "$app" burn 14 > "$dir/live.out" 2> "$dir/live.err" &
pids+=($!)
for _ in $(seq 200); do grep -q '^port' "$dir/live.out" 2>/dev/null && break; sleep 0.05; done
port=$(awk '/^port/{print $2}' "$dir/live.out")
[ -n "$port" ] || fail "sched_app did not print its port"
base="http://127.0.0.1:$port/debug/pprof"
sleep 0.5 # the burner runs
( sleep 1.5; curl -s -o /dev/null -w '%{http_code}' "$base/profile?seconds=1" > "$dir/second.code" ) &
( sleep 1; curl -s -o "$dir/during.trace" "$base/trace?seconds=2" ) &
pprof -top "$base/profile?seconds=8" > "$dir/live.top" || fail "go tool pprof on the endpoint: $(cat "$dir/pprof.err")"
wait $(jobs -p | grep -v "${pids[0]}") 2>/dev/null || true
[ "$(cat "$dir/second.code")" = 409 ] || fail "a second profile request got $(cat "$dir/second.code"), want 409"
r=$(ratio "$dir/live.top")
echo "live endpoint: burn_a is $r% of burn_a + burn_b (want 75)"
within "$r" || fail "live profile ratio $r: $(cat "$dir/live.top")"
"$view" -dump "$dir/during.trace" > "$dir/during.txt" || fail "the trace taken during the profile is not valid"
grep -q ' cpu_sample stack=' "$dir/during.txt" || fail "no cpu_sample in the trace taken during the profile"
prof=$(ls "$dir"/pprof/*.pb.gz | head -1)
pprof -raw "$prof" > "$dir/live.raw"
grep -Eq '/sched_app [0-9a-f]{40}' "$dir/live.raw" || fail "no mapping with build id for sched_app: $(sed -n '/Mappings/,$p' "$dir/live.raw")"
grep -q 'Period: 4000000' "$dir/live.raw" || grep -q 'cpu/nanoseconds' "$dir/live.raw" || fail "period/sample type"

# ---- 2. a trace file, -pprof=cpu
CPROF_TRACE_CPU_HZ=250 CPROF_TRACE_FILE="$dir/burn.trace" "$app" burn 8 > /dev/null 2> "$dir/burn.err"
"$view" -pprof=cpu "$dir/burn.trace" > "$dir/cpu.pb.gz"
pprof -top "$dir/cpu.pb.gz" > "$dir/file.top" || fail "go tool pprof on -pprof=cpu: $(cat "$dir/pprof.err")"
r=$(ratio "$dir/file.top")
echo "-pprof=cpu: burn_a is $r% of burn_a + burn_b (want 75)"
within "$r" || fail "file profile ratio $r: $(cat "$dir/file.top")"

# ---- 3. kernel scheduling records: each source
perf_ok=1
CPROF_TRACE_SCHED=perf CPROF_TRACE_FILE="$dir/perf.trace" "$app" mixed > /dev/null 2> "$dir/perf.err"
if grep -q 'refuses context-switch events' "$dir/perf.err"; then
  perf_ok=0 # paranoid 3+, seccomp, a container: the fallback is checked below
  echo "perf: refused by this kernel; the fallback was used"
  "$check" "$dir/perf.trace" schedstat 100 || fail "fallback to schedstat"
else
  "$check" "$dir/perf.trace" perf 100 || fail "perf scheduling records"
fi
# (4x longer: samples come from the drainer, whose first pass may be slowed
# by symbolization on a loaded machine)
CPROF_TRACE_SCHED=schedstat CPROF_TRACE_FILE="$dir/stat.trace" "$app" mixed 4 > /dev/null 2> "$dir/stat.err"
"$check" "$dir/stat.trace" schedstat 100 || fail "schedstat samples"
CPROF_TRACE_SCHED=off CPROF_TRACE_CPU_HZ=0 CPROF_TRACE_FILE="$dir/off.trace" "$app" mixed > /dev/null 2> "$dir/off.err"
"$check" "$dir/off.trace" off 0 || fail "CPROF_TRACE_SCHED=off"
echo "e2e_cpu_profile: passed (perf available: $perf_ok)"
