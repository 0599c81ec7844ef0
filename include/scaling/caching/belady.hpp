// scaling/caching/belady.hpp: Belady's optimal replacement (OPT), the hit-ratio ceiling.
//
// What it is: `scaling::belady_hits(keys, capacity)` replays a whole known trace and, on each
// miss with a full cache, evicts the resident key whose next request is farthest in the
// future. No online policy can do better under the same conventions (a miss inserts the key,
// evicting first when full), so it is the ceiling the replay lab compares policies against.
// When to pick it: offline analysis only: it needs the future.
// Reference: L. A. Belady, "A study of replacement algorithms for a virtual-storage computer"
// (IBM Systems Journal, 1966).
//
//   std::vector<std::uint64_t> keys = ...;
//   std::uint64_t best = scaling::belady_hits(keys, 1000);
//
// Thread safety: a pure function. Complexity: O(n log capacity) time, O(n) memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <span>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/core/error.hpp>

namespace scaling {

// The number of hits OPT achieves on `keys` with room for `capacity` keys.
// Throws scaling::invalid_argument if capacity is 0.
[[nodiscard]] inline std::uint64_t belady_hits(std::span<const std::uint64_t> keys,
                                               std::size_t capacity) {
  if (capacity == 0) {
    detail::throw_invalid_argument("scaling::belady_hits", "capacity", "must be >= 1", capacity);
  }
  constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  // next[i]: the index of the next request for keys[i], or `never`.
  std::vector<std::size_t> next(keys.size(), never);
  {
    boost::unordered_flat_map<std::uint64_t, std::size_t> seen;
    for (std::size_t i = keys.size(); i-- > 0;) {
      auto [it, inserted] = seen.try_emplace(keys[i], never);
      next[i] = it->second;
      it->second = i;
    }
  }
  // Resident keys with the index of their next request; the heap holds (next use, key) and
  // may contain stale pairs, recognised because the key's recorded next use has moved on.
  boost::unordered_flat_map<std::uint64_t, std::size_t> resident;
  std::priority_queue<std::pair<std::size_t, std::uint64_t>> farthest;
  std::uint64_t hits = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t key = keys[i];
    if (const auto it = resident.find(key); it != resident.end()) {
      ++hits;
      it->second = next[i];
      farthest.emplace(next[i], key);
      continue;
    }
    if (resident.size() == capacity) {
      for (;;) {
        const auto [use, victim] = farthest.top();
        farthest.pop();
        const auto v = resident.find(victim);
        if (v != resident.end() && v->second == use) {
          resident.erase(v);
          break;
        }
      }
    }
    resident.emplace(key, next[i]);
    farthest.emplace(next[i], key);
  }
  return hits;
}

}  // namespace scaling
