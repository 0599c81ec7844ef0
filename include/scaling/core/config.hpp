// scaling/core/config.hpp: version, SCALING_ASSERT and layout constants.
//
// What it is: the few definitions every other header relies on: the library version, the
// internal-invariant assertion macro and the cache line size used to keep hot atomics apart.
//
// When to pick it: you don't include it directly; every scaling header does.
//
//   #include <scaling/core/config.hpp>
//   static_assert(scaling::cache_line_size == 64);
//   SCALING_ASSERT(n > 0, "a ring lookup needs at least one node");
//
// Thread safety: constants and a macro; nothing to share.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#define SCALING_VERSION_MAJOR 0
#define SCALING_VERSION_MINOR 1
#define SCALING_VERSION_PATCH 0
#define SCALING_VERSION \
  (SCALING_VERSION_MAJOR * 10000 + SCALING_VERSION_MINOR * 100 + SCALING_VERSION_PATCH)

// SCALING_ASSERT checks internal invariants and documented preconditions whose violation is a
// programming error (not bad input, which throws). It is active in builds without NDEBUG, or
// whenever SCALING_ENABLE_ASSERTS is defined; SCALING_DISABLE_ASSERTS turns it off everywhere.
#if !defined(SCALING_DISABLE_ASSERTS) && (!defined(NDEBUG) || defined(SCALING_ENABLE_ASSERTS))
#define SCALING_ASSERTS_ENABLED 1
#define SCALING_ASSERT(condition, message) \
  ((condition) ? static_cast<void>(0)      \
               : ::scaling::detail::assertion_failed(#condition, message, __FILE__, __LINE__))
#else
#define SCALING_ASSERTS_ENABLED 0
#define SCALING_ASSERT(condition, message) static_cast<void>(sizeof((condition) ? 1 : 0))
#endif

namespace scaling {

// A fixed constant rather than std::hardware_destructive_interference_size: that value may
// differ between translation units compiled with different flags (GCC warns about it), and
// a layout that changes with flags would be an ODR violation. 64 bytes covers x86-64 and most
// ARM cores; adjacent-line prefetchers make 128 attractive on some, which is why hot atomics
// are padded with alignas(cache_line_size) and never packed by hand.
inline constexpr std::size_t cache_line_size = 64;

namespace detail {

[[noreturn]] inline void assertion_failed(const char* condition, const char* message,
                                          const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: scaling assertion failed: %s (%s)\n", file, line, condition,
               message);
  std::abort();
}

}  // namespace detail
}  // namespace scaling
