# Peers our tests and benchmarks compare against, found once for every target that uses them.
# A missing peer never fails the build: its users skip the comparison and say so.

# libmemcached (Debian: libmemcached-dev): the reference ketama implementation.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBMEMCACHED QUIET IMPORTED_TARGET libmemcached)
  # hiredis (Debian: libhiredis-dev): the client under the Redis adapters (scaling/redis/).
  pkg_check_modules(HIREDIS QUIET IMPORTED_TARGET hiredis)
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

# scaling_use_hiredis(TARGET WHAT_IS_SKIPPED): links hiredis into TARGET and defines
# SCALING_HAVE_HIREDIS there, or reports what is skipped without it.
# HIREDIS_FOUND, set at the top level, tells a caller whether to add the tests that need it.
function(scaling_use_hiredis target what_is_skipped)
  if(HIREDIS_FOUND)
    target_link_libraries(${target} PRIVATE PkgConfig::HIREDIS)
    target_compile_definitions(${target} PRIVATE SCALING_HAVE_HIREDIS=1)
  else()
    message(STATUS "hiredis not found (Debian: libhiredis-dev): ${what_is_skipped}")
  endif()
endfunction()
