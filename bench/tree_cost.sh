#!/usr/bin/env bash
# What tracing a process tree costs: `make -j2` of a generated 13-file C
# project and `git --version`, plain and under LD_PRELOAD with
# CPROF_TRACE_FILE (env execs the command in place: it is the tree's root),
# runs interleaved, medians; CPU in microseconds (bench/run_rusage), and
# the median of each round's traced/plain ratio (a pair run back to back).
#   bench/tree_cost.sh BUILD_DIR [ROUNDS]
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-7}
lib="$build/tracer/libcproftrace.so"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/proj"
for i in $(seq 13); do printf '#include <stdio.h>\nint f%d(int x) { return x * %d; }\n' "$i" "$i" > "$dir/proj/f$i.c"; done
printf 'OBJS := $(patsubst %%.c,%%.o,$(wildcard f*.c))\nall: $(OBJS)\n%%.o: %%.c\n\tcc -c -O1 -o $@ $<\n' > "$dir/proj/Makefile"

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ru="$build/bench/run_rusage" # wall us, CPU us (whole tree, getrusage), max RSS KB
make_run() { # traced? -> "wall_us cpu_us"
  rm -f "$dir"/proj/*.o "$dir/make.trace"
  if [ "$1" = 1 ]; then
    "$ru" -o "$dir/m" env LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/make.trace" make -s -C "$dir/proj" -j2 > /dev/null
  else
    "$ru" -o "$dir/m" env make -s -C "$dir/proj" -j2 > /dev/null
  fi
  cut -d' ' -f1,2 "$dir/m"
}
git_run() { # traced? -> "us KB"
  rm -f "$dir/git.trace"
  if [ "$1" = 1 ]; then
    "$ru" -o "$dir/g" env LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/git.trace" git --version > /dev/null
  else
    "$ru" -o "$dir/g" env git --version > /dev/null
  fi
  cut -d' ' -f1,3 "$dir/g"
}
: > "$dir/mp"; : > "$dir/mt"; : > "$dir/gp"; : > "$dir/gt"; : > "$dir/rw"; : > "$dir/rc"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then p=$(make_run 0); t=$(make_run 1)
  else t=$(make_run 1); p=$(make_run 0); fi
  echo "$p" >> "$dir/mp"; echo "$t" >> "$dir/mt"
  # this round's ratios: a pair run back to back shares the machine's state
  echo "$t $p" | awk '{printf "%.4f\n", $1 / $3}' >> "$dir/rw"
  echo "$t $p" | awk '{printf "%.4f\n", $2 / $4}' >> "$dir/rc"
  for _ in 1 2 3; do git_run 0 >> "$dir/gp"; git_run 1 >> "$dir/gt"; done
done
mp=$(cut -d' ' -f1 "$dir/mp" | median); mt=$(cut -d' ' -f1 "$dir/mt" | median)
cp=$(cut -d' ' -f2 "$dir/mp" | median); ct=$(cut -d' ' -f2 "$dir/mt" | median)
gp=$(cut -d' ' -f1 "$dir/gp" | median); gt=$(cut -d' ' -f1 "$dir/gt" | median)
rp=$(cut -d' ' -f2 "$dir/gp" | median); rt=$(cut -d' ' -f2 "$dir/gt" | median)
printf 'make -j2, 13 files:  wall plain %d ms, traced %d ms; CPU plain %d ms, traced %d ms (medians of %d)\n' \
  $((mp / 1000)) $((mt / 1000)) $((cp / 1000)) $((ct / 1000)) "$rounds"
printf '  traced/plain, median of the rounds'"'"' paired ratios: wall %s (max %s), CPU %s (max %s)\n' \
  "$(median < "$dir/rw")" "$(sort -n "$dir/rw" | tail -1)" "$(median < "$dir/rc")" "$(sort -n "$dir/rc" | tail -1)"
printf 'git --version:       plain %.1f ms, traced %.1f ms (+%.1f ms); max RSS plain %d KB, traced %d KB (+%d KB) (median of %d)\n' \
  "$(echo "$gp / 1000" | bc -l)" "$(echo "$gt / 1000" | bc -l)" "$(echo "($gt - $gp) / 1000" | bc -l)" \
  "$rp" "$rt" $((rt - rp)) $((rounds * 3))
