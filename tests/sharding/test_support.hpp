// Shared helpers for the sharding tests: key counts scaled for sanitizer builds and load
// statistics.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "support/sanitizers.hpp"

namespace sharding_test {

inline constexpr bool slow_build = scaling_test::sanitized;

// 1M keys normally, 100K under sanitizers; assertion bounds below are valid for both.
inline constexpr std::uint64_t property_keys = slow_build ? 100'000 : 1'000'000;

// Peak-to-mean of the per-node counts produced by `lookup(key)` for keys 0..keys-1; lookup
// returns the address of the node (strategies return references into their node list).
template <class Lookup>
double peak_to_mean(std::uint64_t keys, std::size_t nodes, Lookup&& lookup) {
  std::unordered_map<const void*, std::uint64_t> counts;
  for (std::uint64_t k = 0; k < keys; ++k)
    ++counts[lookup(k)];
  std::uint64_t peak = 0;
  for (const auto& [node, count] : counts)
    peak = std::max(peak, count);
  return static_cast<double>(peak) * static_cast<double>(nodes) / static_cast<double>(keys);
}

// A peak-to-mean bound for a strategy whose expected shares are equal: 5 standard deviations of
// the key-sampling noise (sqrt(N / keys)) above 1, plus `slack` for the strategy's own spread.
// Valid for both the 1M-key and the 100K-key runs.
inline double sampled_bound(std::uint64_t keys, std::size_t nodes, double slack) {
  return 1.0 + slack + 5.0 * std::sqrt(static_cast<double>(nodes) / static_cast<double>(keys));
}

}  // namespace sharding_test
