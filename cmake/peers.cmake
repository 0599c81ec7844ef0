# Peers our tests and benchmarks compare against, found once for every target that uses them.
# A missing peer never fails the build: its users skip the comparison and say so.

# libmemcached (Debian: libmemcached-dev): the reference ketama implementation.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBMEMCACHED QUIET IMPORTED_TARGET libmemcached)
endif()

# scaling_use_libmemcached(TARGET WHAT_IS_SKIPPED): links libmemcached into TARGET and defines
# SCALING_HAVE_LIBMEMCACHED there, or reports what is skipped without it.
function(scaling_use_libmemcached target what_is_skipped)
  if(LIBMEMCACHED_FOUND)
    target_link_libraries(${target} PRIVATE PkgConfig::LIBMEMCACHED)
    target_compile_definitions(${target} PRIVATE SCALING_HAVE_LIBMEMCACHED)
  else()
    message(STATUS "libmemcached not found (Debian: libmemcached-dev): ${what_is_skipped}")
  endif()
endfunction()
