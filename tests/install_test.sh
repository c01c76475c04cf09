#!/usr/bin/env bash
# `cmake --install` lays out header, library, pkg-config file, CMake package,
# man pages and viewer; an out-of-tree program builds against them with
# pkg-config alone and with find_package(cproftrace CONFIG) alone, and the
# installed tree still works after it is moved.
set -euo pipefail
src=$1 build=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
for f in include/cprof/trace.h lib/libcproftrace.so lib/libcproftrace.so.0 lib/pkgconfig/cproftrace.pc \
         lib/cmake/cproftrace/cproftraceConfig.cmake lib/cmake/cproftrace/cproftraceConfigVersion.cmake \
         share/man/man1/cprof-trace.1.gz share/man/man3/libcproftrace.3.gz share/man/man7/cprof-trace.7.gz \
         bin/cprof-trace; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags cproftrace) "$src/examples/hello/hello.c" \
  -o "$prefix/hello" $(pkg-config --libs cproftrace)
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

# An out-of-tree project, built both ways: it prints the header's and the
# loaded library's versions, and traces a region.
mkdir "$prefix/consumer"
cat > "$prefix/consumer/main.c" <<'EOF2'
#include <stdio.h>
#include <string.h>
#include <cprof/trace.h>
#if CPROF_TRACE_VERSION != CPROF_TRACE_VERSION_MAJOR * 10000 + CPROF_TRACE_VERSION_MINOR * 100 + CPROF_TRACE_VERSION_PATCH
#error CPROF_TRACE_VERSION
#endif
int main(void)
{
	{ TRACE_REGION("consumer"); }
	printf("%s %s\n", CPROF_TRACE_VERSION_STRING, cprof_trace_version());
	return strcmp(CPROF_TRACE_VERSION_STRING, cprof_trace_version()) != 0;
}
EOF2
cat > "$prefix/consumer/CMakeLists.txt" <<'EOF2'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(cproftrace 0.1 CONFIG REQUIRED)
add_executable(consumer main.c)
target_compile_options(consumer PRIVATE -Wall -Werror)
target_link_libraries(consumer PRIVATE cproftrace::cproftrace)
EOF2
version=$(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/cproftrace.pc")
consumer() { # build-dir runs the consumer, checks its versions and trace
  local out
  out=$(CPROF_TRACE_FILE="$1/c.trace" LD_LIBRARY_PATH="$prefix/lib" "$1/consumer") || { echo "FAIL: $1/consumer: $out"; exit 1; }
  [ "$out" = "$version $version" ] || { echo "FAIL: versions '$out', want '$version $version'"; exit 1; }
  "$prefix/bin/cprof-trace" -dump "$1/c.trace" > "$1/c.txt"
  grep -q 'region_begin name="consumer"' "$1/c.txt" || { echo "FAIL: $1/consumer did not trace"; exit 1; }
}
# CMake: only CMAKE_PREFIX_PATH, no pkg-config; -pthread comes with the target
cmake -S "$prefix/consumer" -B "$prefix/cm" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_VERBOSE_MAKEFILE=ON > "$prefix/cm.log" 2>&1 || { cat "$prefix/cm.log"; echo "FAIL: find_package"; exit 1; }
cmake --build "$prefix/cm" > "$prefix/cm-build.log" 2>&1 || { cat "$prefix/cm-build.log"; echo "FAIL: CMake build"; exit 1; }
grep -q -- '-pthread' "$prefix/cm-build.log" || { echo "FAIL: cproftrace::cproftrace without -pthread"; exit 1; }
grep -q -- "-I$prefix/include" "$prefix/cm-build.log" || grep -q -- "-isystem $prefix/include" "$prefix/cm-build.log" ||
  { echo "FAIL: cproftrace::cproftrace without the include dir"; exit 1; }
consumer "$prefix/cm"
# a version the package does not satisfy is refused
sed -i 's/cproftrace 0.1 CONFIG/cproftrace 9.0 CONFIG/' "$prefix/consumer/CMakeLists.txt"
if cmake -S "$prefix/consumer" -B "$prefix/cm9" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null 2>&1; then
  echo "FAIL: find_package(cproftrace 9.0) accepted $version"; exit 1
fi
# pkg-config: only PKG_CONFIG_PATH
mkdir "$prefix/pc"
cc -std=c11 -Wall -Werror $(pkg-config --cflags cproftrace) "$prefix/consumer/main.c" -o "$prefix/pc/consumer" \
  $(pkg-config --libs cproftrace)
consumer "$prefix/pc"

# Moved elsewhere, the tree still works: pkg-config, CMake, and record finding the library
moved="$prefix/moved"
mkdir "$moved" && mv "$prefix/bin" "$prefix/lib" "$prefix/include" "$moved/"
prefix=$moved
[ "$(PKG_CONFIG_PATH="$moved/lib/pkgconfig" pkg-config --variable=includedir cproftrace)" -ef "$moved/include" ] ||
  { echo "FAIL: moved .pc"; exit 1; }
sed -i 's/cproftrace 9.0 CONFIG/cproftrace 0.1 CONFIG/' "$moved/../consumer/CMakeLists.txt"
cmake -S "$moved/../consumer" -B "$moved/cm" -DCMAKE_PREFIX_PATH="$moved" > /dev/null 2>&1 &&
  cmake --build "$moved/cm" > /dev/null 2>&1 || { echo "FAIL: CMake build against the moved tree"; exit 1; }
consumer "$moved/cm"
(cd "$moved" && bin/cprof-trace record -q -- ls > /dev/null) || { echo "FAIL: record from the moved tree"; exit 1; }
"$moved/bin/cprof-trace" -dump "$moved/cprof.trace" > /dev/null || { echo "FAIL: record's trace from the moved tree"; exit 1; }
echo "install_and_pkgconfig: 1 passed, 0 failed"
