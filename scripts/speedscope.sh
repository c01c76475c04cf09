#!/usr/bin/env bash
# Prints the directory of speedscope's dist/release (npm package, pinned),
# installing it with npm into a cache directory when it is not there yet.
# Exit 1 (nothing printed) when npm is missing, 2 when the install fails.
#   scripts/speedscope.sh        cache: $SPEEDSCOPE_CACHE, else ~/.cache/cprof-trace/npm
set -euo pipefail
cache=${SPEEDSCOPE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/cprof-trace/npm}
dist=$cache/node_modules/speedscope/dist/release
if [ ! -f "$dist/index.html" ]; then
  command -v npm > /dev/null || { echo "speedscope: npm not installed" >&2; exit 1; }
  echo "speedscope: installing into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --loglevel=error speedscope@1.25.0 > /dev/null ||
    { echo "speedscope: npm install failed" >&2; exit 2; }
fi
echo "$dist"
