#!/usr/bin/env bash
# The main job, end to end on a fresh machine: installs missing Debian
# packages, builds, traces the hello example into dumps/hello.trace with
# CPROF_TRACE_FILE, and prints the trace with `cprof-trace -dump`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
mkdir -p dumps
echo "== CPROF_TRACE_FILE=dumps/hello.trace build/examples/hello"
CPROF_TRACE_FILE=dumps/hello.trace build/examples/hello
echo "== build/viewer/cprof-trace -dump dumps/hello.trace (first 25 lines, then the summary)"
build/viewer/cprof-trace -dump dumps/hello.trace > dumps/hello.txt
head -n 25 dumps/hello.txt
echo "   ..."
grep '^#' dumps/hello.txt | tail -n 3
