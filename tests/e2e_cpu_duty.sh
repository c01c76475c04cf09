#!/usr/bin/env bash
# CPU sampling's periodic duty during a file capture (profiles/cpu.c: the
# capture's drainer does it, no sampler thread), tests/cpu_duty_app:
#  1. a thread that did not start through the tracer's trampoline (libc's
#     own pthread_create) is armed by the periodic scan: it gets CPU
#     samples in the trace;
#  2. a program that installs its own handler for the sampling signal
#     during the capture stops sampling within ~100 ms, with the message;
#     its handler gets few of our timer signals (at 100 Hz, 800 ms of CPU
#     after the takeover would be 80 without the duty);
#  3. a captured process has one tracer thread (the drainer), not two.
#   e2e_cpu_duty.sh BUILD
set -euo pipefail
build=$1
app="$build/tests/cpu_duty_app" view="$build/viewer/cprof-trace"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }
# Under TSan, interposition stays off as in e2e_cpu_profile.sh (threads start
# untouched there: cpu_duty_app's raw thread is any thread).
# TSan's runtime runs a thread of its own.
want_tasks=2
case "$(ldd "$app")" in *libtsan*) export CPROF_TRACE_INTERPOSE=0; want_tasks=3;; esac
export CPROF_TRACE_CPU_HZ=100

# samples TRACE TID: CPU samples of thread TID in the trace
samples() { "$view" -dump "$1" | awk -v t="$2" '$2 == t && $4 == "cpu_sample"' | wc -l; }

# ---- 1. a thread not started through the trampoline
CPROF_TRACE_FILE="$dir/raw.trace" "$app" raw 600 > "$dir/raw.out" 2> "$dir/raw.err" || fail "cpu_duty_app raw"
tid=$(awk '/^raw/{print $2}' "$dir/raw.out")
[ -n "$tid" ] || fail "no raw thread id"
n=$(samples "$dir/raw.trace" "$tid")
echo "raw thread $tid: $n CPU samples (600 ms at 100 Hz; the first scan is at 100 ms)"
[ "$n" -ge 20 ] || fail "the raw thread got $n CPU samples, want >= 20"

# ---- 2. the program takes the sampling signal over
CPROF_TRACE_FILE="$dir/take.trace" "$app" takeover 300 > "$dir/take.out" 2> "$dir/take.err" || fail "cpu_duty_app takeover"
grep -q 'installed a handler for signal .*CPU sampling stops' "$dir/take.err" || fail "no message about the takeover"
got=$(awk '/^after/{print $2}' "$dir/take.out")
tid=$(awk '/^main/{print $2}' "$dir/take.out")
before=$(samples "$dir/take.trace" "$tid")
echo "takeover: $before CPU samples before; the program's handler got $got of ours after (want few)"
[ "$before" -ge 10 ] || fail "$before CPU samples before the takeover, want >= 10"
[ "$got" -le 35 ] || fail "the program's handler got $got timer signals: sampling did not stop"

# ---- 3. one tracer thread in a captured process
CPROF_TRACE_FILE="$dir/tasks.trace" "$app" tasks > "$dir/tasks.out" 2> "$dir/tasks.err" || fail "cpu_duty_app tasks"
tasks=$(awk '/^tasks/{print $2}' "$dir/tasks.out")
echo "threads in a captured one-thread program: $tasks (want $want_tasks: it and the drainer)"
[ "$tasks" = "$want_tasks" ] || fail "$tasks threads in a captured one-thread program, want $want_tasks"
echo "e2e_cpu_duty: passed"
