# Findxxhash: locates the xxHash headers (Debian's libxxhash-dev ships only the headers,
# a shared library and libxxhash.pc, no CMake package).
#
# The library uses xxHash header-only (XXH_INLINE_ALL), so only the include directory matters.
# Provides the INTERFACE target xxhash::xxhash and sets xxhash_FOUND, xxhash_INCLUDE_DIR and
# xxhash_VERSION.

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_xxhash QUIET libxxhash)
endif()

find_path(
  xxhash_INCLUDE_DIR
  NAMES xxhash.h
  HINTS ${PC_xxhash_INCLUDEDIR} ${PC_xxhash_INCLUDE_DIRS})

if(xxhash_INCLUDE_DIR AND EXISTS "${xxhash_INCLUDE_DIR}/xxhash.h")
  file(STRINGS "${xxhash_INCLUDE_DIR}/xxhash.h" _xxhash_version_lines
       REGEX "^#define XXH_VERSION_(MAJOR|MINOR|RELEASE) +[0-9]+")
  foreach(_line IN LISTS _xxhash_version_lines)
    string(REGEX MATCH "(MAJOR|MINOR|RELEASE) +([0-9]+)" _ "${_line}")
    set(_xxhash_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  endforeach()
  set(xxhash_VERSION "${_xxhash_MAJOR}.${_xxhash_MINOR}.${_xxhash_RELEASE}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(
  xxhash
  REQUIRED_VARS xxhash_INCLUDE_DIR
  VERSION_VAR xxhash_VERSION
  FAIL_MESSAGE "xxHash headers not found: install Debian's libxxhash-dev (scripts/deps does)")

if(xxhash_FOUND AND NOT TARGET xxhash::xxhash)
  add_library(xxhash::xxhash INTERFACE IMPORTED)
  set_target_properties(xxhash::xxhash PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
                                                  "${xxhash_INCLUDE_DIR}")
endif()
mark_as_advanced(xxhash_INCLUDE_DIR)
