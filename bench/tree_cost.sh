#!/usr/bin/env bash
# What tracing a process tree costs: `make -j2` of a generated 13-file C
# project and `git --version`, plain and under LD_PRELOAD with
# CPROF_TRACE_FILE, runs interleaved, medians.
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

now() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
make_run() { # traced? -> "wall_us cpu_ms" (cpu: user + sys of the whole tree)
  rm -f "$dir"/proj/*.o
  local t0; t0=$(now)
  if [ "$1" = 1 ]; then
    LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/make.trace" /usr/bin/time -f "%U %S" -o "$dir/cpu" \
      make -s -C "$dir/proj" -j2 > /dev/null
  else
    /usr/bin/time -f "%U %S" -o "$dir/cpu" make -s -C "$dir/proj" -j2 > /dev/null
  fi
  echo "$(( ($(now) - t0) / 1000 )) $(awk '{printf "%d", ($1 + $2) * 1000}' "$dir/cpu")"
}
git_run() { # traced? -> "us KB"
  local t0 t1
  t0=$(now)
  if [ "$1" = 1 ]; then
    LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/git.trace" /usr/bin/time -f %M -o "$dir/rss" git --version > /dev/null
  else
    /usr/bin/time -f %M -o "$dir/rss" git --version > /dev/null
  fi
  t1=$(now)
  echo "$(( (t1 - t0) / 1000 )) $(tail -1 "$dir/rss")"
}
: > "$dir/mp"; : > "$dir/mt"; : > "$dir/gp"; : > "$dir/gt"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then make_run 0 >> "$dir/mp"; make_run 1 >> "$dir/mt"
  else make_run 1 >> "$dir/mt"; make_run 0 >> "$dir/mp"; fi
  for _ in 1 2 3; do git_run 0 >> "$dir/gp"; git_run 1 >> "$dir/gt"; done
done
mp=$(cut -d' ' -f1 "$dir/mp" | median); mt=$(cut -d' ' -f1 "$dir/mt" | median)
cp=$(cut -d' ' -f2 "$dir/mp" | median); ct=$(cut -d' ' -f2 "$dir/mt" | median)
gp=$(cut -d' ' -f1 "$dir/gp" | median); gt=$(cut -d' ' -f1 "$dir/gt" | median)
rp=$(cut -d' ' -f2 "$dir/gp" | median); rt=$(cut -d' ' -f2 "$dir/gt" | median)
printf 'make -j2, 13 files:  wall plain %d ms, traced %d ms, ratio %.2f; CPU plain %d ms, traced %d ms, ratio %.2f (median of %d)\n' \
  $((mp / 1000)) $((mt / 1000)) "$(echo "$mt / $mp" | bc -l)" "$cp" "$ct" "$(echo "$ct / $cp" | bc -l)" "$rounds"
printf 'git --version:       plain %.1f ms, traced %.1f ms (+%.1f ms); max RSS plain %d KB, traced %d KB (+%d KB) (median of %d)\n' \
  "$(echo "$gp / 1000" | bc -l)" "$(echo "$gt / 1000" | bc -l)" "$(echo "($gt - $gp) / 1000" | bc -l)" \
  "$rp" "$rt" $((rt - rp)) $((rounds * 3))
