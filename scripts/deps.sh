#!/usr/bin/env bash
# Installs the Debian packages cprof-trace needs to build, test and run its
# demo, when any is missing (apt-get; through sudo when not root).
#   scripts/deps.sh        build, run, demo
#   scripts/deps.sh test   and what the tests use to read our outputs
#                          (headless Chromium, go tool pprof, GNU time, npm's
#                          speedscope in $SPEEDSCOPE_CACHE, see below; man and
#                          groff for the man pages, lintian and dpkg-dev for
#                          the .deb; clang with libFuzzer for tests/fuzz.sh)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libunwind-dev liblz4-dev libdw-dev libmicrohttpd-dev libcjson-dev zlib1g-dev
      apache2-utils wget curl bc)
if [ "${1:-}" = test ]; then
  pkgs+=(chromium fonts-dejavu-core golang-go time gzip nginx-light make redis-server clang libclang-rt-dev man-db groff-base bsdextrautils binutils dpkg-dev file lintian)
  command -v npm > /dev/null || pkgs+=(npm) # nodejs from elsewhere brings its own npm
fi
# speedscope (tests/e2e_speedscope.sh opens our Chrome JSON in it), from the
# npm registry into a cache directory (scripts/speedscope.sh)
install_speedscope() {
  [ "${1:-}" = test ] || return 0
  "$(dirname "$0")/speedscope.sh" > /dev/null || echo "deps: no speedscope (see above); tests/e2e_speedscope.sh will not pass" >&2
}
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { install_speedscope "${1:-}"; exit 0; }
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_speedscope "${1:-}"
