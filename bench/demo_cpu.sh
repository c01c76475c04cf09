#!/usr/bin/env bash
# The demo server's CPU per request: untraced, idle tracer (flight
# recorder), and idle with CPROF_TRACE_STACKS=0, interleaved ROUNDS times.
# CPU is the server process's utime+stime (/proc/PID/stat) over an ab run,
# divided by the requests ab completed: unlike req/s it does not move with
# what else runs on the machine. Prints the median per mode and the
# difference to untraced.
#   bench/demo_cpu.sh [BUILD_DIR] [ROUNDS] [SECONDS]   (build, 3, 4)
# OTHER=BUILD_DIR adds that build's idle and nostacks modes to the same
# interleaved rounds (before/after comparisons).
set -euo pipefail
B=${1:-build}
ROUNDS=${2:-3}
SECS=${3:-4}
URL_PATH=${URL_PATH:-"fib/?n=18&type=recursive"}
W=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$W"' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
one() { # mode -> "us_per_request"
  local mode=$1 bin=$B/examples/pprof-demo env=()
  [ "$mode" = untraced ] && bin=$B/examples/pprof-demo-untraced
  case $mode in
    nostacks) env=(CPROF_TRACE_STACKS=0) ;;
    other_idle) bin=$OTHER/examples/pprof-demo ;;
    other_nostacks) bin=$OTHER/examples/pprof-demo env=(CPROF_TRACE_STACKS=0) ;;
  esac
  env ${env[@]+"${env[@]}"} "$bin" -addr 127.0.0.1:0 > "$W/demo.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do grep -q listening "$W/demo.log" && break; sleep 0.05; done
  local base
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/demo.log" | head -1)
  ab -k -c 8 -t 1 -n 10000000 "${base}${URL_PATH}" > /dev/null 2>&1 # warm-up
  local c0 c1 n hz
  hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks $server)
  ab -k -c 8 -t "$SECS" -n 10000000 "${base}${URL_PATH}" > "$W/ab.out" 2>&1
  c1=$(cpu_ticks $server)
  n=$(awk '/Complete requests/ {print $3}' "$W/ab.out")
  kill $server; wait $server 2>/dev/null || true; server=
  echo "$c0 $c1 $n $hz" | awk '{printf "%.2f\n", ($2 - $1) / $4 * 1e6 / $3}'
}
modes=(untraced idle nostacks)
[ -n "${OTHER:-}" ] && modes+=(other_idle other_nostacks)
for r in $(seq 1 "$ROUNDS"); do
  for m in "${modes[@]}"; do
    v=$(one "$m")
    echo "round $r $m $v us/request"
    echo "$v" >> "$W/$m"
  done
done
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
u=$(med "$W/untraced")
printf '\n%-14s %12s %12s\n' mode "CPU us/req" "- untraced"
for m in "${modes[@]}"; do
  v=$(med "$W/$m")
  printf '%-14s %12s %12s\n' "$m" "$v" "$(echo "$v - $u" | bc)"
done
