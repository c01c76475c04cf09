#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, then builds and
# runs ctest three times: a release build, ASan+UBSan, and TSan.
#   tests/run.sh            all three
#   tests/run.sh quick      the release build only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
run() { # name, cmake args...
  local name=$1; shift
  echo "== $name"
  cmake -S . -B "build-$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "build-$name" -j "$jobs" >/dev/null
  (cd "build-$name" && ctest --output-on-failure -j "$jobs" ${CTEST_ARGS:-})
}
run release
if [ "${1:-}" != quick ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run asan -DCPROF_SANITIZE=address,undefined
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0 run tsan -DCPROF_SANITIZE=thread
fi
