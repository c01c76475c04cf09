#!/usr/bin/env bash
# What kernel scheduling records and CPU sampling cost the demo server,
# interleaved ROUNDS times in rotating order (ab -k -c 8 for SECONDS):
#   base         tracer loaded, CPROF_TRACE_SCHED=off CPROF_TRACE_CPU_HZ=0, no capture
#   idle         the defaults (perf events opened disabled, sampling armed only on
#                demand), no capture: must equal base
#   profile      base + /debug/pprof/profile?seconds=N running (100 Hz sampling)
#   cap-base     base + /debug/pprof/trace?seconds=N streaming
#   cap-sched    cap-base with CPROF_TRACE_SCHED=perf (context-switch records)
#   cap-cpu      cap-base with CPROF_TRACE_CPU_HZ=100 (CPU samples in the trace)
#   cap-schedstat cap-base with CPROF_TRACE_SCHED=schedstat (the fallback: /proc
#                schedstat samples instead of switch records)
# Prints requests/s and the server's CPU time per request (utime + stime of
# all its threads over the ab run: steadier than throughput on a shared
# machine), medians, and the ratios: idle/base, profile/base,
# cap-sched/cap-base, cap-cpu/cap-base, cap-schedstat/cap-base.
#   bench/sched_overhead.sh [BUILD_DIR] [ROUNDS] [SECONDS]   (build, 3, 5)
set -euo pipefail
B=${1:-build}
ROUNDS=${2:-3}
SECS=${3:-5}
URL_PATH=${URL_PATH:-"fib/?n=18&type=recursive"}
W=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$W"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
one() { # mode -> "rps cpu_us_per_request"
  local mode=$1 env=(CPROF_TRACE_SCHED=off CPROF_TRACE_CPU_HZ=0) side=
  case $mode in
    idle) env=() ;;
    profile) side=profile ;;
    cap-base) side=trace ;;
    cap-sched) env=(CPROF_TRACE_SCHED=perf CPROF_TRACE_CPU_HZ=0); side=trace ;;
    cap-cpu) env=(CPROF_TRACE_SCHED=off CPROF_TRACE_CPU_HZ=100); side=trace ;;
    cap-schedstat) env=(CPROF_TRACE_SCHED=schedstat CPROF_TRACE_CPU_HZ=0); side=trace ;;
  esac
  env "${env[@]}" "$B/examples/pprof-demo" -addr 127.0.0.1:0 > "$W/demo.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do grep -q listening "$W/demo.log" && break; sleep 0.05; done
  local base
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/demo.log" | head -1)
  ab -k -c 8 -t 1 -n 10000000 "${base}${URL_PATH}" > /dev/null 2>&1 # warm-up
  local side_pid=
  if [ -n "$side" ]; then
    wget -q -O "$W/out" "${base}debug/pprof/$side?seconds=$((SECS + 2))" &
    side_pid=$!
    sleep 0.5
  fi
  local c0 c1
  c0=$(cpu_ticks "$server")
  ab -k -c 8 -t "$SECS" -n 10000000 "${base}${URL_PATH}" > "$W/ab.txt" 2>&1
  c1=$(cpu_ticks "$server")
  [ -n "$side_pid" ] && wait "$side_pid"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  grep -q '^Failed requests: *0$' "$W/ab.txt" || { echo "ab reported failures" >&2; cat "$W/ab.txt" >&2; exit 1; }
  local reqs hz
  reqs=$(awk '/Complete requests/ {print $3}' "$W/ab.txt")
  hz=$(getconf CLK_TCK)
  echo "$(awk '/Requests per second/ {print $4}' "$W/ab.txt") $(echo "($c1 - $c0) * 1000000 / $hz / $reqs" | bc -l)"
}

modes=(base idle profile cap-base cap-sched cap-cpu cap-schedstat)
n=${#modes[@]}
declare -A rps cpu
for r in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    m=${modes[$(( (k + r) % n ))]}
    read -r x c < <(one "$m")
    rps[$m]+="$x "
    cpu[$m]+="$c "
    printf 'round %d %-10s %10.0f req/s  %6.1f us CPU per request\n' "$r" "$m" "$x" "$c"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo
declare -A med medc
for m in "${modes[@]}"; do
  med[$m]=$(echo "${rps[$m]}" | median)
  medc[$m]=$(echo "${cpu[$m]}" | median)
  printf '%-10s %10.0f req/s %8.1f us CPU/request\n' "$m" "${med[$m]}" "${medc[$m]}"
done
ratio() { printf '%-24s %.3fx req/s   %.3fx CPU/request\n' "$1" "$(echo "${med[$2]} / ${med[$3]}" | bc -l)" \
  "$(echo "${medc[$2]} / ${medc[$3]}" | bc -l)"; }
ratio "idle / base" idle base
ratio "profile / base" profile base
ratio "cap-sched / cap-base" cap-sched cap-base
ratio "cap-cpu / cap-base" cap-cpu cap-base
ratio "cap-schedstat / cap-base" cap-schedstat cap-base
