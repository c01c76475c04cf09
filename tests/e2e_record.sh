#!/usr/bin/env bash
# `cprof-trace record`, -version and -h, as a user runs them: exit statuses
# and signals passed through, -o and the refusal to overwrite, a program
# started by `sh -c`, flags mirrored into the environment, -serve with the
# version on the /debug/pprof/ index, and nearest-flag suggestions.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
view="$build/viewer/cprof-trace"
hello="$build/examples/hello"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
status() { set +e; "$@" > /dev/null 2> err.txt; echo $?; set -e; } # a command's exit status; stderr in err.txt

# versions: the header's numbers everywhere
v() { sed -n "s/^#define CPROF_TRACE_$1 \([0-9]*\)$/\1/p" "$src/tracer/include/cprof/trace.h"; }
format=$(sed -n 's/^#define CPROF_FORMAT_VERSION \([0-9]*\).*/\1/p' "$src/format/trace_format.h")
want="cprof-trace $(v VERSION_MAJOR).$(v VERSION_MINOR).$(v VERSION_PATCH) (libcproftrace.so.$(v ABI), trace format $format)"
[ "$("$view" -version)" = "$want" ] || fail "-version: $("$view" -version), want $want"
[ "$("$view" --version)" = "$want" ] || fail "--version"
[ -e "$build/tracer/libcproftrace.so.$(v ABI)" ] || fail "soname is not libcproftrace.so.$(v ABI)"
soname=$(objdump -p "$build/tracer/libcproftrace.so" | sed -n "s/^ *SONAME *//p")
[ "$soname" = "libcproftrace.so.$(v ABI)" ] || fail "SONAME $soname"

# -h lists every command and flag; unknown flags get the nearest one
"$view" -h > help.txt
grep -q '^usage: cprof-trace \[flags\] FILE' help.txt && grep -q 'cprof-trace record \[flags\]' help.txt ||
  fail "-h does not list both commands"
for f in http no-browser report format pprof json dump version \
         o f q serve buffer min-block no-stacks no-interpose no-runq cpu-hz sched clock drain-ms max-seconds; do
  grep -q -- "^  -$f\b" help.txt || fail "-h does not list -$f"
done
[ "$(status "$view" -reprot=threads x.trace)" = 2 ] || fail "unknown flag: status"
grep -q 'did you mean -report?' err.txt || fail "no suggestion for -reprot: $(cat err.txt)"
[ "$(status "$view" record -bufer 4m -- true)" = 125 ] || fail "record unknown flag: status"
grep -q 'did you mean -buffer?' err.txt || fail "no suggestion for -bufer: $(cat err.txt)"
[ "$(status "$view" record)" = 125 ] || fail "record without a command"
[ "$(status "$view" record -buffer 4x -- true)" = 125 ] || fail "record -buffer 4x accepted"
grep -q 'want bytes' err.txt || fail "no reason for a bad -buffer: $(cat err.txt)"
[ "$(status "$view" record -min-block=-5 -- true)" = 125 ] || fail "record -min-block=-5 accepted"

# a whole run into the default file, and where it went
"$view" record -- "$hello" > out.txt 2> err.txt || fail "record hello: $(cat err.txt)"
grep -q 'written to cprof.trace' err.txt || fail "record did not say where the trace went: $(cat err.txt)"
grep -q 'open it with: cprof-trace cprof.trace' err.txt || fail "record did not say how to open it"
"$view" -dump cprof.trace > dump.txt
head -1 dump.txt | grep -q "^# cprof-trace format v$format," || fail "-dump does not print the format version"
grep -q 'region_begin name="compute"' dump.txt || fail "record: hello's regions not traced"
[ "$(stat -c %a cprof.trace)" = 600 ] || fail "trace file mode"

# never overwriting without -f
sum=$(md5sum < cprof.trace)
[ "$(status "$view" record -- "$hello")" = 125 ] || fail "overwrote cprof.trace"
grep -q 'cprof.trace exists' err.txt || fail "no reason given for refusing"
[ "$(md5sum < cprof.trace)" = "$sum" ] || fail "cprof.trace changed although refused"
"$view" record -q -f -- "$hello" > /dev/null 2> err.txt || fail "-f"
[ ! -s err.txt ] || fail "-q printed: $(cat err.txt)"
[ "$(md5sum < cprof.trace)" != "$sum" ] || fail "-f did not overwrite"
ls -a | grep -q '^\.cprof-record' && fail "record left its directory behind"

# -o elsewhere; a program under sh -c, exec'd in place or forked: one file for the tree
mkdir sub
"$view" record -q -o sub/exec.trace -- sh -c "$hello > /dev/null"
"$view" -dump sub/exec.trace > exec.txt
grep -q 'region_begin name="compute"' exec.txt || fail "sh -c ./app: app not in the trace"
"$view" record -q -o sub/fork.trace -- sh -c "$hello > /dev/null; true"
"$view" -dump sub/fork.trace > fork.txt
grep -q 'region_begin name="compute"' fork.txt || fail "sh -c 'app; true': app not traced"
grep -q '^# process [0-9]* (parent [0-9]*) .*: sh -c' fork.txt && grep -q "^# process [0-9]* (parent [0-9]*) .*: $hello" fork.txt ||
  fail "sh -c 'app; true': the file does not hold both processes: $(grep '^#' fork.txt)"
[ "$(ls sub)" = "$(printf 'exec.trace\nfork.trace')" ] || fail "record left other files: $(ls sub)"

# a process that records nothing of its own (no region, no blocking call:
# ls, as) still has its thread, running for as long as the kernel says:
# dash's loop (no CPU samples either), then its own schedstat read by a
# builtin (no fork)
"$view" record -q -cpu-hz 0 -o quiet.trace -- dash -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done
  read on rq n < /proc/$$/schedstat; echo $on $rq > kernel.txt'
"$view" -report=threads -format json quiet.trace > quiet.json
read -r kon krq < kernel.txt
python3 - "$kon" "$krq" quiet.json <<'PY' || fail "a process without events of its own: $(cat quiet.json)"
import json, sys
kon, krq, r = int(sys.argv[1]), int(sys.argv[2]), json.load(open(sys.argv[3]))
ts = [t for g in r["groups"] for t in g["threads"]]
assert len(ts) == 1, "threads: %d, want 1" % len(ts)
t = ts[0]
assert t["name"] == "dash" and t["exited"], t
# running and runnable as the kernel says (its figures read a little before
# the end): within 5 points of the thread's time (and 2 ms)
slack = 0.05 * t["total_ns"] + 2e6
assert abs(t["exec_ns"] - kon) <= slack, "exec %d ns, kernel on-CPU %d ns" % (t["exec_ns"], kon)
assert abs(t["sched_ns"] - krq) <= slack, "runnable %d ns, kernel run-queue %d ns" % (t["sched_ns"], krq)
PY

# -o never replaces a device or FIFO (the trace is renamed onto FILE: as
# root, -f -o /dev/null made /dev/null a regular file)
mkfifo fifo
[ "$(status "$view" record -q -f -o fifo -- true)" = 125 ] || fail "record -f -o FIFO: not refused"
grep -q 'fifo is not a regular file' err.txt || fail "record -o FIFO: $(cat err.txt)"
[ -p fifo ] || fail "record -f -o FIFO replaced the FIFO"

# exit statuses and signals passed through
[ "$(status "$view" record -q -o st.trace -- sh -c 'exit 7')" = 7 ] || fail "exit status 7 not passed through"
[ "$(status "$view" record -q -f -o st.trace -- sh -c 'kill -USR1 $$')" = $((128 + 10)) ] ||
  fail "death by SIGUSR1 not passed through"
[ "$(status "$view" record -q -f -o st.trace -- ./no-such-program)" = 127 ] || fail "missing command: not 127"
grep -q 'cannot run ./no-such-program' err.txt || fail "missing command: $(cat err.txt)"
[ "$(status "$view" record -o x.trace -serve 127.0.0.1:0 -- true)" = 125 ] || fail "-serve with -o accepted"
"$view" record -q -o sig.trace -- sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done' > ready.txt &
rec=$!
for _ in $(seq 200); do [ -s ready.txt ] && break; sleep 0.05; done
[ -s ready.txt ] || fail "the signalled command did not start"
kill -TERM $rec
rc=0; wait $rec || rc=$?
[ $rc = 42 ] || fail "SIGTERM to record did not reach the command's trap (status $rc)"
[ -s sig.trace ] || fail "no trace after a forwarded signal"

# flags become the library's variables; variables already set pass through
out=$(CPROF_TRACE_MIN_BLOCK_NS=5000 "$view" record -q -o env.trace -buffer 4m -no-stacks -no-runq -cpu-hz 99 \
  -drain-ms=5 -- sh -c 'echo $CPROF_TRACE_BUFFER $CPROF_TRACE_STACKS $CPROF_TRACE_RUNQ $CPROF_TRACE_CPU_HZ $CPROF_TRACE_DRAIN_MS $CPROF_TRACE_MIN_BLOCK_NS')
[ "$out" = "4m 0 0 99 5 5000" ] || fail "flags to environment: '$out'"

# -serve: the endpoint instead of a file, with the version on its index
"$view" record -serve 127.0.0.1:0 -- sleep 30 2> serve.txt &
rec=$!
url=
for _ in $(seq 200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/debug/pprof/' serve.txt || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || fail "-serve: no address printed: $(cat serve.txt)"
curl -sf "$url" > index.html || fail "-serve: index"
grep -q "served by cprof-trace $(v VERSION_MAJOR).$(v VERSION_MINOR).$(v VERSION_PATCH) " index.html ||
  fail "/debug/pprof/ index without the version"
curl -sf -o served.trace "${url}trace?seconds=0.2" || fail "-serve: trace endpoint"
"$view" -dump served.trace > /dev/null || fail "-serve: bad trace"
kill -TERM $rec
rc=0; wait $rec || rc=$?
[ $rc = 143 ] || fail "record -serve after SIGTERM: status $rc, want 143"
[ -z "$(find . -name '.cprof-record.*')" ] || fail "record left a private directory behind: $(find . -name '.cprof-record.*')"
echo "e2e_record: 1 passed, 0 failed"
