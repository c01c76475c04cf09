#!/usr/bin/env bash
# `cmake --install` lays out header, library, pkg-config file and viewer, and a
# program builds against them with pkg-config alone.
set -euo pipefail
src=$1 build=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
for f in include/cprof/trace.h lib/libcproftrace.so lib/pkgconfig/cproftrace.pc bin/cprof-trace; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags cproftrace) "$src/examples/hello/hello.c" \
  -o "$prefix/hello" $(pkg-config --libs cproftrace) -lpthread
# hello has no debug info (no -g), so symbolizing looks for separate debug
# info: that must stay local, never elfutils' debuginfod client (libcurl,
# network; it also spun forever at exit, after OpenSSL's exit handlers)
loads=$(DEBUGINFOD_URLS=http://127.0.0.1:9 LD_DEBUG=files LD_LIBRARY_PATH="$prefix/lib" \
  CPROF_TRACE_FILE="$prefix/t.trace" timeout 60 "$prefix/hello" 2>&1 >/dev/null) || { echo "FAIL: hello under capture"; exit 1; }
case "$loads" in *debuginfod*|*libcurl*) echo "FAIL: the tracer loaded debuginfod/libcurl"; exit 1;; esac
"$prefix/bin/cprof-trace" -dump "$prefix/t.trace" > "$prefix/dump.txt"
grep -q 'region_begin name="compute"' "$prefix/dump.txt" || { echo "FAIL: installed build did not trace"; exit 1; }
# the public header stands alone: <stdint.h> only, C and C++-compatible names
echo '#include <cprof/trace.h>
int main(void) { TRACE_REGION("x"); return 0; }' > "$prefix/alone.c"
cc -std=c11 -Wall -Wextra -Werror -I"$prefix/include" -c "$prefix/alone.c" -o "$prefix/alone.o"
echo "install_and_pkgconfig: 1 passed, 0 failed"
