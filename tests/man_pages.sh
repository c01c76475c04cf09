#!/usr/bin/env bash
# The manual pages render without a warning (groff -ww, man --warnings), as
# installed (gzipped) too, and say what the code has: every flag of
# `cprof-trace -h` in cprof-trace(1), every CPROF_API function of the header
# in libcproftrace(3), every variable the library reads in cprof-trace(7),
# and the header's version on every page.
set -euo pipefail
src=$1 build=$2
man="$src/docs/man"
fail() { echo "FAIL: $*"; exit 1; }
v() { sed -n "s/^#define CPROF_TRACE_$1 \([0-9]*\)$/\1/p" "$src/tracer/include/cprof/trace.h"; }
version="$(v VERSION_MAJOR).$(v VERSION_MINOR).$(v VERSION_PATCH)"
pages=(cprof-trace.1 libcproftrace.3 cprof-trace.7)
for p in "${pages[@]}"; do
  w=$(groff -man -z -ww -b "$man/$p" 2>&1) || fail "groff $p"
  [ -z "$w" ] || fail "groff warnings in $p: $w"
  [ -s "$build/docs/man/$p.gz" ] || fail "$p.gz not built"
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -l -Tutf8 "$build/docs/man/$p.gz" 2> "$build/docs/man/$p.err" |
    col -bx > "$build/docs/man/$p.txt" || fail "man -l $p.gz"
  [ ! -s "$build/docs/man/$p.err" ] || fail "man warnings in $p: $(cat "$build/docs/man/$p.err")"
  grep -q "^NAME" "$build/docs/man/$p.txt" || fail "$p renders without NAME"
  grep -q "^\.TH [A-Z-]* [0-9] [0-9-]* \"cprof-trace $version\"" "$man/$p" || fail "$p: .TH is not for $version"
done
# flags: the tables -h prints against cprof-trace(1)
"$build/viewer/cprof-trace" -h | sed -n 's/^  -\([a-z-]*\).*/\1/p' | sort -u > "$build/docs/man/flags.txt"
[ "$(wc -l < "$build/docs/man/flags.txt")" -ge 20 ] || fail "too few flags read from -h"
while read -r f; do
  grep -q "^\.[BI]*[RI]* *\\\\-$f\b" "$man/cprof-trace.1" || fail "cprof-trace(1) does not describe -$f"
done < "$build/docs/man/flags.txt"
# functions: the header against libcproftrace(3)
for f in $(sed -n 's/^CPROF_API [^(]*[ *]\([a-z_]*\)(.*/\1/p' "$src/tracer/include/cprof/trace.h"); do
  grep -q "$f" "$man/libcproftrace.3" || fail "libcproftrace(3) does not describe $f"
done
# variables: every CPROF_TRACE_* the library reads, against cprof-trace(7)
for e in $(grep -rhoE 'getenv\("CPROF_TRACE[A-Z_]*"\)' "$src/tracer" | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
  grep -q "$e\b" "$man/cprof-trace.7" || fail "cprof-trace(7) does not describe $e"
done
echo "man_pages: 1 passed, 0 failed"
