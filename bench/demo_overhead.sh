#!/usr/bin/env bash
# What tracing costs the demo server, three ways, interleaved ROUNDS times:
#   untraced   examples/pprof-demo-untraced (macros compiled away, library not linked)
#   idle       examples/pprof-demo: tracer loaded, interposing, flight recorder only
#   capturing  the same with /debug/pprof/trace?seconds=N streaming to wget meanwhile
# Load: ab -k -c 8 for SECONDS on /fib/?n=18&type=recursive (about 20 us of work,
# so per-request costs show) . Prints requests/s and p99 latency (ms), median
# of the rounds, and the ratios to untraced.
#   bench/demo_overhead.sh [BUILD_DIR] [ROUNDS] [SECONDS]   (build, 5, 5)
set -euo pipefail
B=${1:-build}
ROUNDS=${2:-5}
SECS=${3:-5}
URL_PATH=${URL_PATH:-"fib/?n=18&type=recursive"}
W=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$W"' EXIT

one() { # mode -> "rps p99"
  local mode=$1 bin=$B/examples/pprof-demo
  [ "$mode" = untraced ] && bin=$B/examples/pprof-demo-untraced
  "$bin" -addr 127.0.0.1:0 > "$W/demo.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do grep -q listening "$W/demo.log" && break; sleep 0.05; done
  local base
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$W/demo.log" | head -1)
  ab -k -c 8 -t 1 -n 10000000 "${base}${URL_PATH}" > /dev/null 2>&1 # warm-up
  local wget_pid=
  if [ "$mode" = capturing ]; then
    wget -q -O "$W/trace" "${base}debug/pprof/trace?seconds=$((SECS + 2))" &
    wget_pid=$!
    sleep 0.5
  fi
  ab -k -c 8 -t "$SECS" -n 10000000 "${base}${URL_PATH}" > "$W/ab.txt" 2>&1
  [ -n "$wget_pid" ] && wait "$wget_pid"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  grep -q '^Failed requests: *0$' "$W/ab.txt" || { echo "ab reported failures" >&2; cat "$W/ab.txt" >&2; exit 1; }
  echo "$(awk '/Requests per second/ {print $4}' "$W/ab.txt") $(awk '$1 == "99%" {print $2}' "$W/ab.txt")"
}

modes=(untraced idle capturing)
declare -A rps p99
for r in $(seq 1 "$ROUNDS"); do
  # rotate the order each round: no mode always runs first (a warmer or cooler machine)
  for k in 0 1 2; do
    m=${modes[$(( (k + r) % 3 ))]}
    read -r x y < <(one "$m")
    rps[$m]+="$x "
    p99[$m]+="$y "
    printf 'round %d %-10s %10.0f req/s  p99 %s ms\n' "$r" "$m" "$x" "$y"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo
printf '%-10s %12s %10s %12s %10s\n' mode "req/s" "vs untr." "p99 (ms)" "vs untr."
base_rps=$(echo "${rps[untraced]}" | median)
base_p99=$(echo "${p99[untraced]}" | median)
for m in "${modes[@]}"; do
  mr=$(echo "${rps[$m]}" | median)
  mp=$(echo "${p99[$m]}" | median)
  printf '%-10s %12.0f %9.3fx %12s %9.2fx\n' "$m" "$mr" "$(echo "$mr / $base_rps" | bc -l)" "$mp" \
    "$( [ "$base_p99" = 0 ] && echo 0 || echo "$mp / $base_p99" | bc -l)"
done
