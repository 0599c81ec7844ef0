// Test support: whether this test binary runs under ASan or TSan, so that stress and property
// loops can scale down there (a sanitized build runs 5-20x slower) while keeping their bounds.
//
//   constexpr int rounds = scaling_test::sanitized ? 2'000 : 20'000;
#pragma once

namespace scaling_test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

}  // namespace scaling_test
