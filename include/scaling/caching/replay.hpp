// scaling/caching/replay.hpp: replaying a trace against a policy, for hit ratios.
//
// What it is: `scaling::replay<Policy>(keys, capacity)` runs every request of a trace
// through a `scaling::cache<std::uint64_t, ..., Policy>` (a request for a resident key is a
// hit; a miss inserts it, evicting first when full) and returns requests and hits;
// `replay_by_name("w_tinylfu", keys, capacity)` does the same from a policy name, with "opt"
// for Belady's optimum. These are the conventions under which the published LRU figures of
// the ARC paper are reproduced exactly.
// When to pick it: choosing a policy for a workload you can record; regression tests.
//
//   auto keys = scaling::read_trace(path, scaling::trace_format::lirs);
//   auto r = scaling::replay_by_name("s3fifo", keys, 1000);
//   std::printf("%.2f%%\n", 100 * r.hit_ratio());
//
// Thread safety: pure functions. Complexity: O(n) per policy (O(n log c) for opt).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <scaling/caching/belady.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

struct replay_result {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  [[nodiscard]] double hit_ratio() const noexcept { return ratio(hits, requests); }
};

// Replays keys against a single-segment cache of `capacity` entries using Policy.
template <eviction_policy Policy>
[[nodiscard]] replay_result replay(std::span<const std::uint64_t> keys, std::size_t capacity) {
  cache<std::uint64_t, bool, Policy> c{capacity};
  replay_result result;
  for (const std::uint64_t key : keys) {
    ++result.requests;
    if (c.visit(key, [](bool) {})) {
      ++result.hits;
    } else {
      c.put(key, true);
    }
  }
  return result;
}

// The policy names replay_by_name() and cache_replay accept, in the order tables show them.
inline constexpr std::array<std::string_view, 11> replay_policy_names{
    "opt",    "lru",       "fifo", "clock", "lfu",     "sieve",
    "s3fifo", "w_tinylfu", "arc",  "lirs",  "adaptive"};

// Replays keys against the named policy ("opt" = Belady's optimum).
// Throws scaling::invalid_argument for an unknown name or a capacity of 0.
[[nodiscard]] inline replay_result replay_by_name(std::string_view policy,
                                                  std::span<const std::uint64_t> keys,
                                                  std::size_t capacity) {
  if (policy == "opt") return {keys.size(), belady_hits(keys, capacity)};
  if (policy == "lru") return replay<lru>(keys, capacity);
  if (policy == "fifo") return replay<fifo>(keys, capacity);
  if (policy == "clock") return replay<scaling::clock>(keys, capacity);
  if (policy == "lfu") return replay<lfu>(keys, capacity);
  if (policy == "sieve") return replay<sieve>(keys, capacity);
  if (policy == "s3fifo") return replay<s3fifo>(keys, capacity);
  if (policy == "w_tinylfu") return replay<w_tinylfu>(keys, capacity);
  if (policy == "arc") return replay<arc>(keys, capacity);
  if (policy == "lirs") return replay<lirs>(keys, capacity);
  if (policy == "adaptive") return replay<adaptive>(keys, capacity);
  detail::throw_invalid_argument("scaling::replay_by_name", "policy",
                                 "must be one of opt, lru, fifo, clock, lfu, sieve, s3fifo, "
                                 "w_tinylfu, arc, lirs, adaptive",
                                 policy);
}

}  // namespace scaling
