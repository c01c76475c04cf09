# find_package(cproftrace CONFIG): the imported target cproftrace::cproftrace
# (the shared library, <cprof/trace.h>'s include directory, -pthread).
#   find_package(cproftrace 0.1 CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE cproftrace::cproftrace)
include("${CMAKE_CURRENT_LIST_DIR}/cproftraceTargets.cmake")
