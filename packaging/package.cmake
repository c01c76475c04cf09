# The Debian package: `cpack -G DEB` in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr (GNUInstallDirs then picks the multiarch
# libdir, lib/x86_64-linux-gnu). tests/deb_test.sh builds it, checks it with
# lintian and installs it into a scratch root. One package holds the tool,
# the library, the header and the CMake/pkg-config files, the way a Go
# toolchain or uftrace ship: lintian's library-packaging tags that this
# goes against are overridden with the reason in packaging/lintian-overrides.

# Documentation Debian asks of every package (also installed by a source
# install, under PREFIX/share/doc/cprof-trace).
set(cprof_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/cprof-trace)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/changelog.gz
  COMMAND gzip -9n -c ${CMAKE_SOURCE_DIR}/packaging/changelog > ${CMAKE_BINARY_DIR}/changelog.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog VERBATIM)
add_custom_target(package_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/changelog.gz)
install(FILES packaging/copyright ${CMAKE_BINARY_DIR}/changelog.gz DESTINATION ${cprof_docdir})
install(FILES packaging/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
  RENAME cprof-trace)

set(CPACK_PACKAGE_NAME cprof-trace)
set(CPACK_PACKAGE_VENDOR "cprof-trace")
set(CPACK_PACKAGE_CONTACT "cprof-trace maintainers <maintainers@users.noreply.r-seed-c1028f84.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "execution tracer for C programs, after Go's go tool trace")
set(CPACK_PACKAGE_DESCRIPTION "\
cprof-trace records timestamped events of C programs (regions, tasks, logs,
blocking pthread and I/O calls, thread creation, wake-ups) into per-thread
ring buffers, with a library that is linked in or preloaded, and reads them
with a command-line viewer: a web timeline, Go's seven trace analyses as
text, JSON or pprof profiles, and Chrome trace-event JSON.
.
`cprof-trace record -- COMMAND` traces an unmodified program's whole run;
the library also serves /debug/pprof/trace like a Go program.")
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # cprof-trace_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files (libunwind8, liblz4-1, libdw1, libmicrohttpd12,
# libcjson1, zlib1g, libc6), with the versions dpkg-shlibdeps reads from
# the build machine.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Our library's shlibs entry and the ldconfig trigger (Debian policy 8.1.1;
# lintian: lacks-ldconfig-trigger, maintscript-calls-ldconfig).
file(WRITE ${CMAKE_BINARY_DIR}/deb/shlibs
  "libcproftrace ${CPROF_TRACE_ABI} cprof-trace (>= ${PROJECT_VERSION})\n")
file(WRITE ${CMAKE_BINARY_DIR}/deb/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/deb/shlibs ${CMAKE_BINARY_DIR}/deb/triggers)
# CPack still adds a postinst and a postrm that call ldconfig whenever a
# library lands under /usr/lib; packaging/build-deb.sh takes them out.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
