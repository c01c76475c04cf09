#!/usr/bin/env bash
# Side by side, in one run (issue 14): the same workload (bench/compare/work.c:
# THREADS threads each calling a small function ITERS times, one event pair a
# call) instrumented four ways, one table per workload:
#
#   cprof    TRACE_REGION("work"), whole-run capture (CPROF_TRACE_FILE)
#   lttng    two LTTng-UST tracepoints (entry, exit; one int field) in a session
#            (per-user lttng-sessiond with a private LTTNG_HOME, discard mode,
#            default channel), read back with babeltrace2
#   uftrace  work.c built with -pg under `uftrace record` (entry + exit)
#   go       bench/compare/work.go: runtime/trace StartRegion/End, trace.Start
#
# Columns: ns per call untraced and traced, from the worker threads' CPU time
# (CLOCK_THREAD_CPUTIME_ID; on a shared machine wall time mostly measures the
# scheduler), the overhead per event (2 events a call), bytes per event on
# disk, events lost, and the CPU the collector used: for LTTng lttng-sessiond +
# lttng-consumerd (/proc/PID/stat utime+stime, from `lttng start` to the end
# of `lttng destroy`; 10 ms ticks); for cprof and
# uftrace the whole process tree's CPU (wait4) minus the worker threads', minus
# the same for the untraced run (our drainer, uftrace's writer threads and
# libmcount's set-up); for Go the process's CPU minus the worker threads',
# traced minus untraced (the runtime's trace reader and writer). Medians of
# REPS runs; the systems run interleaved within a rep.
#
# Then `go tool trace -pprof=sync` against `cprof-trace -pprof=sync` on traces
# of the same workload and event count (2 threads, PPROF_ITERS calls each, the
# last spin; our capture with 16 MiB rings so that it drops nothing).
#
#   bench/compare.sh [BUILD_DIR] [ITERS] [SPINS] [REPS] [GO_ITERS] [PPROF_ITERS]
#     defaults: build 1000000 "0 100" 3 ITERS/10 ITERS/2
#   SPINS: multiply-add steps in work(), one table each (0: a tight loop,
#   ~2 ns of work; 100: ~100 ns). Go runs GO_ITERS calls (its tracer costs
#   microseconds an event).
#
# Installs what is missing (apt-get; sudo when not root). LTTng runs
# unprivileged: as root, the session daemon, the lttng commands and the traced
# program run as nobody (setpriv), so no global /var/run/lttng daemon is used.
# Everything started is stopped at exit (lttng destroy, the sessiond it started).
# What cannot run here is said in its row.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd) || { echo "no build dir: ${1:-build}" >&2; exit 2; }
ITERS=${2:-1000000}
SPINS=${3:-0 100}
REPS=${4:-3}
GO_ITERS=${5:-$((ITERS / 10))}
PPROF_ITERS=${6:-$((ITERS / 2))}
V=$B/viewer/cprof-trace
[ -x "$V" ] && [ -e "$B/tracer/libcproftrace.so" ] || { echo "build $B first (cmake --build $B)" >&2; exit 2; }

# --- dependencies ------------------------------------------------------------
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
need=()
command -v lttng > /dev/null && command -v lttng-sessiond > /dev/null || need+=(lttng-tools)
dpkg -s liblttng-ust-dev > /dev/null 2>&1 || need+=(liblttng-ust-dev)
command -v babeltrace2 > /dev/null || need+=(babeltrace2)
command -v uftrace > /dev/null || need+=(uftrace)
command -v go > /dev/null || need+=(golang-go)
command -v gcc > /dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -qq > /dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" > /dev/null 2>&1 ||
    echo "apt-get install ${need[*]} failed: their rows will say so" >&2
fi

W=$(mktemp -d /tmp/cprof-compare.XXXXXX)
chmod 755 "$W"
SESSIOND=
LTTNG_AS=()
export LTTNG_HOME=$W/lttng-home
cleanup() {
  if [ -n "$SESSIOND" ]; then
    for s in $("${LTTNG_AS[@]}" env HOME="$LTTNG_HOME" LTTNG_HOME="$LTTNG_HOME" lttng list 2> /dev/null |
      sed -n 's/^ *[0-9]*) \([^ ]*\) .*/\1/p'); do
      "${LTTNG_AS[@]}" env LTTNG_HOME="$LTTNG_HOME" lttng destroy "$s" > /dev/null 2>&1
    done
    kill "$SESSIOND" 2> /dev/null
    wait "$SESSIOND" 2> /dev/null
    pgrep -f "lttng-consumerd.*$LTTNG_HOME" > /dev/null && sleep 1
    for p in $(pgrep -f "lttng-consumerd.*$LTTNG_HOME"); do kill "$p" 2> /dev/null; done
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- builds --------------------------------------------------------------------
C="$HERE/compare"
CFLAGS="-O2 -g -pthread"
gcc $CFLAGS -o "$W/runcpu" "$C/runcpu.c" || exit 1
gcc $CFLAGS -o "$W/w_base" "$C/work.c" || exit 1
gcc $CFLAGS -DUSE_CPROF -I"$ROOT/tracer/include" -o "$W/w_cprof" "$C/work.c" -L"$B/tracer" -lcproftrace \
  -Wl,-rpath,"$B/tracer" || exit 1
HAVE_LTTNG=
why_lttng="not installed (lttng-tools, liblttng-ust-dev, babeltrace2)"
if command -v lttng-sessiond > /dev/null && command -v babeltrace2 > /dev/null; then
  if gcc $CFLAGS -DUSE_LTTNG -I"$C" -o "$W/w_lttng" "$C/work.c" "$C/tp.c" -llttng-ust -ldl 2> "$W/lttng-cc.log"; then
    HAVE_LTTNG=1
  else
    why_lttng="tracepoint provider did not build: $(head -c 120 "$W/lttng-cc.log" | tr '\n' ' ')"
  fi
fi
HAVE_UFTRACE=
why_uftrace="not installed (uftrace)"
if command -v uftrace > /dev/null; then
  gcc $CFLAGS -pg -o "$W/w_pg" "$C/work.c" && HAVE_UFTRACE=1 || why_uftrace="-pg build failed"
fi
HAVE_GO=
why_go="not installed (golang-go)"
if command -v go > /dev/null; then
  (cd "$C" && GOCACHE="$W/gocache" GO111MODULE=off GOFLAGS= go build -o "$W/w_go" work.go) 2> "$W/go.log" && HAVE_GO=1 ||
    why_go="go build failed: $(head -c 120 "$W/go.log" | tr '\n' ' ')"
fi

# --- LTTng: a per-user session daemon of our own ---------------------------------
mkdir -p "$LTTNG_HOME"
if [ -n "$HAVE_LTTNG" ]; then
  if [ "$(id -u)" = 0 ]; then
    if command -v setpriv > /dev/null && getent passwd nobody > /dev/null; then
      LTTNG_AS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
      chown "$(id -u nobody):$(id -g nobody)" "$LTTNG_HOME"
    else
      HAVE_LTTNG=
      why_lttng="running as root without setpriv/nobody: would need the global root session daemon"
    fi
  fi
fi
lt() { "${LTTNG_AS[@]}" env HOME="$LTTNG_HOME" LTTNG_HOME="$LTTNG_HOME" "$@"; }
if [ -n "$HAVE_LTTNG" ]; then
  # not through lt(): $! must be the daemon itself (setpriv and env exec it)
  "${LTTNG_AS[@]}" env HOME="$LTTNG_HOME" LTTNG_HOME="$LTTNG_HOME" lttng-sessiond --no-kernel > "$W/sessiond.log" 2>&1 &
  SESSIOND=$!
  for _ in $(seq 1 100); do
    lt lttng list > /dev/null 2>&1 && break
    kill -0 "$SESSIOND" 2> /dev/null || break
    sleep 0.1
  done
  if ! lt lttng list > /dev/null 2>&1; then
    HAVE_LTTNG=
    why_lttng="lttng-sessiond did not start: $(tail -c 120 "$W/sessiond.log" | tr '\n' ' ')"
  fi
fi
TCK=$(getconf CLK_TCK)
# CPU seconds of a process and all its descendants (/proc/PID/stat utime+stime).
tree_cpu() {
  local pids=$1 all= p
  while [ -n "$pids" ]; do
    all="$all $pids"
    local next=
    for p in $pids; do next="$next $(cat /proc/$p/task/*/children 2> /dev/null)"; done
    pids=$(echo $next)
  done
  local ticks=0
  for p in $all; do
    [ -r /proc/$p/stat ] || continue
    ticks=$((ticks + $(sed 's/.*) //' /proc/$p/stat | awk '{print $12 + $13}')))
  done
  echo "$ticks $TCK" | awk '{printf "%.3f", $1 / $2}'
}

# --- one run of each system ------------------------------------------------------
R=$W/results.tsv # spin threads system rep key value
: > "$R"
put() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$SPIN" "$T" "$1" "$REP" "$2" "$3" >> "$R"; }
kv() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" "$2"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", a - b}'; }

run_base() {
  "$W/runcpu" "$W/cpu" "$W/w_base" "$ITERS" "$T" "$SPIN" > "$W/out" || return
  put base worker "$(kv worker_cpu "$W/out")"
  put base other "$(sub "$(cat "$W/cpu")" "$(kv worker_cpu "$W/out")")"
}
run_cprof() {
  rm -f "$W/c.trace"
  CPROF_TRACE_FILE=$W/c.trace "$W/runcpu" "$W/cpu" "$W/w_cprof" "$ITERS" "$T" "$SPIN" > "$W/out" || return
  local events
  events=$("$V" -report=threads -format=json "$W/c.trace" | grep -m1 '"events"' | tr -dc 0-9)
  put cprof worker "$(kv worker_cpu "$W/out")"
  put cprof other "$(sub "$(cat "$W/cpu")" "$(kv worker_cpu "$W/out")")"
  put cprof events "$events"
  put cprof lost "$(kv dropped "$W/out")"
  put cprof bytes "$(stat -c %s "$W/c.trace")"
}
run_lttng() {
  local out=$LTTNG_HOME/trace
  rm -rf "$out"
  lt lttng create cmp --output="$out" > /dev/null &&
    lt lttng enable-event -u 'cmp:*' > /dev/null &&
    lt lttng start > /dev/null || { lt lttng destroy cmp > /dev/null 2>&1; return; }
  local c0 c1
  c0=$(tree_cpu "$SESSIOND")
  lt "$W/runcpu" "$LTTNG_HOME/cpu" "$W/w_lttng" "$ITERS" "$T" "$SPIN" > "$W/out"
  lt lttng stop > /dev/null
  lt lttng destroy cmp > /dev/null # waits for the consumer to finish the trace
  c1=$(tree_cpu "$SESSIOND")
  local events
  events=$(babeltrace2 -c sink.utils.counter "$out" 2> /dev/null | awk '/Event messages/{n=$1} END{print n+0}')
  put lttng worker "$(kv worker_cpu "$W/out")"
  put lttng collector "$(sub "$c1" "$c0")"
  put lttng events "$events"
  put lttng lost "$((2 * ITERS * T - events))"
  put lttng bytes "$(du -sb "$out" | cut -f1)"
}
run_uftrace() {
  rm -rf "$W/uf"
  "$W/runcpu" "$W/cpu" uftrace record -d "$W/uf" "$W/w_pg" "$ITERS" "$T" "$SPIN" > "$W/out" 2> "$W/uf.log" || return
  local calls
  calls=$(uftrace report -d "$W/uf" 2> /dev/null | awk '$NF == "work" {print $(NF - 1)}')
  put uftrace worker "$(kv worker_cpu "$W/out")"
  put uftrace other "$(sub "$(cat "$W/cpu")" "$(kv worker_cpu "$W/out")")"
  put uftrace events "$((2 * ${calls:-0}))"
  put uftrace lost "$((2 * ITERS * T - 2 * ${calls:-0}))"
  put uftrace bytes "$(du -sb "$W/uf" | cut -f1)"
}
run_go() {
  "$W/runcpu" "$W/cpu" "$W/w_go" "$GO_ITERS" "$T" "$SPIN" > "$W/out" || return
  put gobase worker "$(kv worker_cpu "$W/out")"
  put gobase other "$(sub "$(cat "$W/cpu")" "$(kv worker_cpu "$W/out")")"
  rm -f "$W/g.trace"
  "$W/runcpu" "$W/cpu" "$W/w_go" "$GO_ITERS" "$T" "$SPIN" "$W/g.trace" > "$W/out" || return
  put go worker "$(kv worker_cpu "$W/out")"
  put go other "$(sub "$(cat "$W/cpu")" "$(kv worker_cpu "$W/out")")"
  put go events "$((2 * GO_ITERS * T))"
  put go lost 0
  put go bytes "$(stat -c %s "$W/g.trace")"
}

start=$(date +%s)
for SPIN in $SPINS; do
  for T in 1 2; do
    for REP in $(seq 1 "$REPS"); do
      echo "spin $SPIN, $T thread(s), rep $REP/$REPS ($(($(date +%s) - start)) s)" >&2
      run_base
      run_cprof
      [ -n "$HAVE_LTTNG" ] && run_lttng
      [ -n "$HAVE_UFTRACE" ] && run_uftrace
      [ -n "$HAVE_GO" ] && run_go
    done
  done
done

# --- tables ------------------------------------------------------------------------
# median of key for (spin, threads, system)
med() {
  awk -F'\t' -v s="$SPIN" -v t="$T" -v y="$1" -v k="$2" '$1 == s && $2 == t && $3 == y && $5 == k {print $6}' "$R" |
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2];
      else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
calc() { awk "BEGIN{printf \"$1\", $2}"; }
echo
echo "cprof-trace $(git -C "$ROOT" describe --always --dirty 2> /dev/null), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench/compare.sh $B $ITERS \"$SPINS\" $REPS $GO_ITERS $PPROF_ITERS: medians of $REPS runs; ns from the worker threads' CPU time"
for SPIN in $SPINS; do
  echo
  echo "work() with $SPIN multiply-add steps; $ITERS calls per thread (Go: $GO_ITERS), 2 events a call"
  echo
  echo "| tracer | threads | ns/call untraced | ns/call traced | overhead per event | bytes/event | events lost | collector CPU |"
  echo "|---|---|---|---|---|---|---|---|"
  for sys in cprof lttng uftrace go; do
    for T in 1 2; do
      name=$sys
      case $sys in
        cprof) name='`TRACE_REGION`' ;;
        lttng) name='LTTng-UST 2.13 (2 tracepoints)' ;;
        uftrace) name='uftrace 0.13, `-pg`' ;;
        go) name="Go $(go env GOVERSION 2> /dev/null | sed 's/^go//') \`trace.StartRegion\`" ;;
      esac
      why=
      case $sys in
        lttng) [ -n "$HAVE_LTTNG" ] || why=$why_lttng ;;
        uftrace) [ -n "$HAVE_UFTRACE" ] || why=$why_uftrace ;;
        go) [ -n "$HAVE_GO" ] || why=$why_go ;;
      esac
      if [ -n "$why" ]; then
        echo "| $name | $T | not measured: $why | | | | | |"
        continue
      fi
      n=$ITERS base=base
      [ "$sys" = go ] && n=$GO_ITERS base=gobase
      calls=$((n * T))
      bw=$(med $base worker) tw=$(med "$sys" worker)
      if [ -z "$tw" ]; then
        echo "| $name | $T | no result (the run failed) | | | | | |"
        continue
      fi
      events=$(med "$sys" events) lost=$(med "$sys" lost) bytes=$(med "$sys" bytes)
      if [ "$sys" = lttng ]; then
        coll=$(med lttng collector)
      else
        coll=$(calc "%.6f" "$(med "$sys" other) - $(med $base other)")
      fi
      ub=$(calc "%.1f" "$bw * 1e9 / $calls")
      ut=$(calc "%.1f" "$tw * 1e9 / $calls")
      ov=$(calc "%.1f" "($tw - $bw) * 1e9 / $calls / 2")
      bpe=$(calc "%.1f" "$bytes / ($events > 0 ? $events : 1)")
      lpct=$(calc "%.1f" "100 * $lost / (2 * $calls)")
      cms=$(calc "%.0f" "$coll * 1000")
      cpe=$(calc "%.0f" "$coll * 1e9 / ($events > 0 ? $events : 1)")
      echo "| $name | $T | $ub | $ut | $ov ns | $bpe | $lost ($lpct%) | $cms ms ($cpe ns/event) |"
    done
  done
done

# --- go tool trace -pprof=sync vs cprof-trace -pprof=sync --------------------------
echo
if [ -z "$HAVE_GO" ]; then
  echo "-pprof=sync: not measured: $why_go"
  exit 0
fi
SPIN=${SPINS##* }
rm -f "$W/g.trace" "$W/c.trace"
"$W/w_go" "$PPROF_ITERS" 2 "$SPIN" "$W/g.trace" > /dev/null
CPROF_TRACE_BUFFER=16m CPROF_TRACE_FILE=$W/c.trace "$W/w_cprof" "$PPROF_ITERS" 2 "$SPIN" > "$W/out"
ce=$("$V" -report=threads -format=json "$W/c.trace" | grep -m1 '"events"' | tr -dc 0-9)
ge=$(go tool trace -d "$W/g.trace" 2> /dev/null | grep -c .)
timeit() { # label file events cmd...
  local label=$1 f=$2 ev=$3 s=()
  shift 3
  for _ in $(seq 1 "$REPS"); do
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M %U %S' -o "$W/time" "$@" > /dev/null 2>&1
    t1=$(date +%s.%N)
    s+=("$(sub "$t1" "$t0") $(tail -1 "$W/time")")
  done
  printf '%s\n' "${s[@]}" | sort -g | awk -v n="$REPS" -v l="$label" -v ev="$ev" -v sz="$(stat -c %s "$f")" \
    'NR == int((n + 1) / 2) {printf "| %s | %d | %.1f MB | %.3f s | %.2f s | %.2f M | %.0f MB (%.1fx the file) |\n",
      l, ev, sz / 1e6, $1, $3 + $4, ev / ($3 + $4 > 0 ? $3 + $4 : $1) / 1e6, $2 / 1000, $2 * 1024 / sz}'
}
echo "-pprof=sync on the 2-thread traces of $PPROF_ITERS calls per thread, spin $SPIN (median of $REPS; events as"
echo "\`go tool trace -d\` and \`cprof-trace -report=threads\` count them; our trace dropped $(kv dropped "$W/out")):"
echo
echo "| command | events | file | wall | CPU | events per CPU-second | peak RSS |"
echo "|---|---|---|---|---|---|---|"
timeit '`go tool trace -pprof=sync`' "$W/g.trace" "$ge" go tool trace -pprof=sync "$W/g.trace"
timeit '`cprof-trace -pprof=sync`' "$W/c.trace" "$ce" "$V" -pprof=sync "$W/c.trace"
echo
echo "(total run time $(($(date +%s) - start)) s)"
