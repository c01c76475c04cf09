#!/usr/bin/env bash
# The Debian package: packaging/build-deb.sh builds it (a build of its own,
# for /usr); lintian finds nothing above info that is not overridden with a
# reason; its control fields name the runtime libraries; it installs to /usr
# with the multiarch libdir; and unpacked into a scratch root (dpkg -x, no
# container, no change to this machine), `cprof-trace record -- ls` works.
# With CPROF_TEST_APT_INSTALL=1 (a disposable machine), also
# `apt-get install ./cprof-trace_*.deb`, record, and removal.
set -euo pipefail
src=$1 build=$2
fail() { echo "FAIL: $*"; exit 1; }
work="$build/deb-test"
rm -rf "$work" && mkdir -p "$work"
deb=$("$src/packaging/build-deb.sh" "$build/deb") || fail "build-deb.sh"
[ -f "$deb" ] || fail "no .deb: $deb"
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
v() { sed -n "s/^#define CPROF_TRACE_$1 \([0-9]*\)$/\1/p" "$src/tracer/include/cprof/trace.h"; }
version="$(v VERSION_MAJOR).$(v VERSION_MINOR).$(v VERSION_PATCH)"
[ "$(basename "$deb")" = "cprof-trace_${version}_$(dpkg --print-architecture).deb" ] || fail "file name $(basename "$deb")"

# control: version, dependencies, the shlibs entry and the ldconfig trigger
dpkg-deb -f "$deb" Version > "$work/version"
[ "$(cat "$work/version")" = "$version" ] || fail "Version $(cat "$work/version")"
dpkg-deb -f "$deb" Depends > "$work/depends"
for p in libunwind8 liblz4-1 libdw1 libmicrohttpd12 libcjson1 libc6; do
  grep -q "\b$p\b" "$work/depends" || fail "Depends lacks $p: $(cat "$work/depends")"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$work" ./shlibs ./triggers
[ "$(cat "$work/shlibs")" = "libcproftrace $(v ABI) cprof-trace (>= $version)" ] || fail "shlibs: $(cat "$work/shlibs")"
grep -qx 'activate-noawait ldconfig' "$work/triggers" || fail "no ldconfig trigger"
grep -qF "cprof-trace ($version)" "$src/packaging/changelog" ||
  fail "packaging/changelog has no entry for $version"

# lintian: errors and warnings fail the test (info-level tags are listed)
rc=0
lintian --pedantic -I --fail-on error,warning "$deb" > "$work/lintian.txt" 2>&1 || rc=$?
grep -v '^running with root privileges' "$work/lintian.txt" | sed 's/^/  lintian: /' || true
[ $rc = 0 ] || fail "lintian (status $rc)"

# contents under /usr, multiarch libdir
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/contents"
for f in ./usr/bin/cprof-trace ./usr/include/cprof/trace.h "./usr/lib/$arch/libcproftrace.so.$(v ABI)" \
         "./usr/lib/$arch/pkgconfig/cproftrace.pc" "./usr/lib/$arch/cmake/cproftrace/cproftraceConfig.cmake" \
         ./usr/share/man/man1/cprof-trace.1.gz ./usr/share/man/man3/libcproftrace.3.gz \
         ./usr/share/man/man7/cprof-trace.7.gz ./usr/share/doc/cprof-trace/copyright; do
  grep -qxF -- "$f" "$work/contents" || fail "$f not in the package"
done
if grep -v '^\./usr/' "$work/contents" | grep -qv '^\./$'; then fail "files outside /usr"; fi

# a scratch root: record works from the unpacked tree, its .pc points at it
dpkg -x "$deb" "$work/root"
(cd "$work" && "$work/root/usr/bin/cprof-trace" record -q -o ls.trace -- ls "$work/root/usr" > "$work/ls.out") ||
  fail "record -- ls from the unpacked package"
grep -qx bin "$work/ls.out" || fail "ls under record: $(cat "$work/ls.out")"
"$work/root/usr/bin/cprof-trace" -dump "$work/ls.trace" > "$work/ls.txt" || fail "ls.trace"
grep -q '^# cmdline: ls' "$work/ls.txt" || fail "ls.trace is not ls's"
[ "$(PKG_CONFIG_PATH="$work/root/usr/lib/$arch/pkgconfig" pkg-config --variable=libdir cproftrace)" -ef \
  "$work/root/usr/lib/$arch" ] || fail "the .pc's libdir"

if [ "${CPROF_TEST_APT_INSTALL:-}" = 1 ]; then
  apt-get install -y -qq "$deb" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install"; }
  (cd "$work" && cprof-trace record -q -o apt.trace -- ls > /dev/null) || fail "installed: record -- ls"
  cprof-trace -dump "$work/apt.trace" > /dev/null || fail "installed: trace"
  man -w cprof-trace > /dev/null || fail "installed: man page"
  apt-get remove -y -qq cprof-trace > /dev/null 2>&1 || fail "apt-get remove"
fi
rm -rf "$work"
echo "deb_package: 1 passed, 0 failed"
