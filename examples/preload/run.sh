#!/usr/bin/env bash
# Traces examples/preload/pipeline, an unmodified program, through LD_PRELOAD
# and prints what blocked it.   examples/preload/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
mkdir -p dumps
LD_PRELOAD=$PWD/$B/tracer/libcproftrace.so CPROF_TRACE_FILE=dumps/pipeline.trace "$B/examples/pipeline"
"$B/viewer/cprof-trace" -report=threads dumps/pipeline.trace
"$B/viewer/cprof-trace" -report=sync dumps/pipeline.trace | head -20
