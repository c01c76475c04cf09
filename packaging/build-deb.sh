#!/usr/bin/env bash
# Builds the Debian package: packaging/build-deb.sh [BUILD_DIR] (default
# build-deb). Configures for /usr (multiarch libdir) with Debian's build
# flags (dpkg-buildflags: hardening, fortify, relro, bindnow), builds what
# the package installs, and runs `cpack -G DEB`; prints the .deb's path.
# Needs dpkg-dev (build-essential) for dpkg-shlibdeps and dpkg-buildflags.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-deb}
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBUILD_TESTING=OFF "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$ldflags" > "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target cproftrace cprof-trace man_pages package_changelog \
  >> "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
rm -f "$build"/cprof-trace_*.deb
(cd "$build" && cpack -G DEB >> "$build.log" 2>&1) || { cat "$build.log"; exit 1; }
deb=$(ls "$build"/cprof-trace_*.deb)
# CPack's postinst/postrm only call ldconfig, which the package's ldconfig
# trigger does instead (lintian: maintscript-calls-ldconfig): repack without.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -R "$deb" "$root/pkg"
rm -f "$root/pkg/DEBIAN/postinst" "$root/pkg/DEBIAN/postrm"
# and, as dh_strip does, without the compilers' .comment notes (then new md5sums)
for f in "$root/pkg/usr/bin/cprof-trace" "$root"/pkg/usr/lib/*/libcproftrace.so.*.*; do
  objcopy --remove-section=.comment "$f"
done
(cd "$root/pkg" && find usr -type f -printf '%P\0' | sort -z | (cd usr && xargs -0 md5sum) |
  sed 's|  |  usr/|' > DEBIAN/md5sums)
dpkg-deb --root-owner-group -b "$root/pkg" "$deb" >> "$build.log"
echo "$deb"
