#!/usr/bin/env bash
# End to end, as a user runs it: CPROF_TRACE_FILE on the hello example writes a
# trace that `cprof-trace -dump` prints with thread names, resolved names and
# drop counts; bad files give a one-line error and a non-zero exit.
set -euo pipefail
build=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

CPROF_TRACE_FILE="$dir/hello-%p.trace" "$build/examples/hello" > "$dir/out.txt"
grep -q "hello: 200 jobs" "$dir/out.txt" || fail "hello did not run"
trace=$(ls "$dir"/hello-*.trace)
[ "$(stat -c %a "$trace")" = 600 ] || fail "trace file is not private (mode $(stat -c %a "$trace"))"

"$build/viewer/cprof-trace" -dump "$trace" > "$dir/dump.txt"
grep -q '^# cmdline: .*hello' "$dir/dump.txt" || fail "no command line"
[ "$(grep -c 'task_begin name="job"' "$dir/dump.txt")" = 200 ] || fail "expected 200 job tasks"
[ "$(grep -c 'task_end' "$dir/dump.txt")" = 200 ] || fail "expected 200 task ends"
[ "$(grep -c 'region_begin name="compute"' "$dir/dump.txt")" = 200 ] || fail "expected 200 compute regions"
[ "$(grep -c 'msg="job [0-9]* parsed"' "$dir/dump.txt")" = 200 ] || fail "expected 200 logs"
grep -q 'log category="main" msg="done, checksum' "$dir/dump.txt" || fail "no final log"
[ "$(grep -c 'thread_start' "$dir/dump.txt")" = 5 ] || fail "expected 5 thread starts"
[ "$(grep -c 'thread_exit' "$dir/dump.txt")" = 5 ] || fail "expected 5 thread exits: 4 workers, then main with the process"
grep -q ' hello  *thread_start' "$dir/dump.txt" || fail "main thread name not shown"
[ "$(grep -o ' worker-[0-3]  *log category="worker"' "$dir/dump.txt" | sort -u | wc -l)" = 4 ] || fail "worker names not shown"
[ "$(grep -c 'thread_name name="worker-[0-3]"' "$dir/dump.txt")" = 4 ] || fail "no thread_name events"
grep -q '^# [0-9]* events in [0-9]* batches, 0 lost' "$dir/dump.txt" || fail "no summary with drop count"
# -dump -stats: its byte total is the file's size on disk, its event count the dump's event lines
"$build/viewer/cprof-trace" -dump -stats "$trace" > "$dir/stats.txt"
[ "$(awk '$1 == "bytes" { print $2 }' "$dir/stats.txt")" = "$(stat -c %s "$trace")" ] ||
  fail "-dump -stats bytes $(awk '$1 == "bytes" { print $2 }' "$dir/stats.txt") != file size $(stat -c %s "$trace")"
[ "$(awk '$1 == "events" { print $2 }' "$dir/stats.txt")" = "$(grep -c '^ ' "$dir/dump.txt")" ] ||
  fail "-dump -stats events != the dump's $(grep -c '^ ' "$dir/dump.txt") event lines"

# a 64 KiB ring (4096 events) fills in ~0.1 ms at burst rate: drops are
# certain, and the dump reports exactly as many as the tracer counted
# (no CPU samples: a dropped one would count as a drop that is no region)
CPROF_TRACE_CPU_HZ=0 CPROF_TRACE_BUFFER=64k CPROF_TRACE_FILE="$dir/small.trace" "$build/tests/burst" 2000000 > "$dir/burst.txt"
dropped=$(sed -n 's/.*regions, \([0-9]*\) events dropped/\1/p' "$dir/burst.txt")
[ "${dropped:-0}" -gt 0 ] || fail "burst did not drop: $(cat "$dir/burst.txt")"
"$build/viewer/cprof-trace" -dump "$dir/small.trace" > "$dir/small.txt"
summary=$(tail -1 "$dir/small.txt")
[ "${summary##*, }" = "$dropped lost" ] || fail "dump says '$summary', tracer dropped $dropped"
grep -q "^# lost: thread [0-9]* dropped $dropped events" "$dir/small.txt" || fail "no per-thread lost line"
delivered=$(grep -c 'region_' "$dir/small.txt")
[ $((delivered + dropped)) = 4000000 ] || fail "$delivered delivered + $dropped lost != 4000000"

# bad input: one line, offset and cause, non-zero exit
printf 'not a trace' > "$dir/bad"
if "$build/viewer/cprof-trace" -dump "$dir/bad" 2> "$dir/err" >/dev/null; then fail "accepted garbage"; fi
grep -q "offset 0: not a cprof-trace file" "$dir/err" || fail "bad message: $(cat "$dir/err")"
if "$build/viewer/cprof-trace" -dump "$dir/missing" 2> "$dir/err" >/dev/null; then fail "accepted missing file"; fi
grep -q "No such file" "$dir/err" || fail "bad message: $(cat "$dir/err")"
size=$(stat -c %s "$trace")
full=$(grep -c '^ ' "$dir/dump.txt")
# a tree file's last chunks are its parts' ends: cut deeper until events go
for pct in 95 90 80 70 60 50 40 30; do
  head -c $((size * pct / 100)) "$trace" > "$dir/cut"
  set +e
  "$build/viewer/cprof-trace" -dump "$dir/cut" > "$dir/cut.txt" 2> "$dir/err"
  rc=$?
  set -e
  [ $rc -ne 0 ] || fail "truncated file exited 0"
  grep -q "offset [0-9]*: truncated" "$dir/err" || fail "no truncation message: $(cat "$dir/err")"
  partial=$(grep -c '^ ' "$dir/cut.txt" || true)
  [ "$partial" -lt "$full" ] && break
done
grep -q "showing what was complete" "$dir/err" || fail "no partial-result note"
[ "$partial" -gt 0 ] && [ "$partial" -lt "$full" ] || fail "truncated file showed $partial of $full events"

# the same run with the macros compiled away: no tracing calls at all
syms=$(nm -D "$build/examples/hello_disabled")
case "$syms" in *cprof_*) fail "CPROF_TRACE_DISABLE left calls";; esac
out=$("$build/examples/hello_disabled")
case "$out" in *"hello: 200 jobs"*) ;; *) fail "disabled build broken";; esac
echo "e2e_file_capture: 1 passed, 0 failed"
