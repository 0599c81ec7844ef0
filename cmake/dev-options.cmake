# Options for the project's own targets (tests, benchmarks, examples, tools), never for users:
# warnings, warnings as errors and sanitizers travel through the INTERFACE target
# scaling_dev_options, which only our own targets link.

add_library(scaling_dev_options INTERFACE)
target_link_libraries(scaling_dev_options INTERFACE scaling::scaling)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(scaling_dev_options INTERFACE -Wall -Wextra -Wpedantic -Wconversion
                                                       -Wshadow)
  # Options structs are filled with designated initialisers that name only what differs from
  # the defaults; GCC 12 warns about every omitted member even when it has an initialiser.
  target_compile_options(scaling_dev_options INTERFACE -Wno-missing-field-initializers)
  if(SCALING_WARNINGS_AS_ERRORS)
    target_compile_options(scaling_dev_options INTERFACE -Werror)
  endif()
  if(SCALING_SANITIZE)
    target_compile_options(scaling_dev_options INTERFACE -fsanitize=${SCALING_SANITIZE}
                                                         -fno-omit-frame-pointer)
    target_link_options(scaling_dev_options INTERFACE -fsanitize=${SCALING_SANITIZE})
    # GCC warns (-Wtsan) that ThreadSanitizer cannot see std::atomic_thread_fence, which
    # Boost.Asio uses internally; our own code has no standalone fences.
    if(SCALING_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(scaling_dev_options INTERFACE -Wno-tsan)
    endif()
    # Sanitizer instrumentation makes GCC's flow analysis report "may be used uninitialized"
    # inside Boost.Asio's use_future at -O1 (a known false positive); optimised builds without
    # sanitizers keep the warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(scaling_dev_options INTERFACE -Wno-maybe-uninitialized)
    endif()
    if(SCALING_SANITIZE MATCHES "undefined")
      target_compile_options(scaling_dev_options INTERFACE -fno-sanitize-recover=all)
    endif()
  endif()
endif()

# scaling_add_program(NAME SOURCES...): an executable of ours with the dev options.
function(scaling_add_program name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE scaling_dev_options)
endfunction()

option(SCALING_ENABLE_ASSERTS "Keep SCALING_ASSERT active in optimised builds of our targets" OFF)
if(SCALING_ENABLE_ASSERTS)
  target_compile_definitions(scaling_dev_options INTERFACE SCALING_ENABLE_ASSERTS)
endif()

include(${CMAKE_CURRENT_LIST_DIR}/peers.cmake)
