// scaling/sharding/migration.hpp: what moves when membership changes.
//
// What it is: `scaling::moved_fraction(before, after, keys)` compares any two strategies over a
// key sample (the fraction of keys whose node differs); `scaling::moved_ranges(before, after)`
// gives, for two rings, the exact arcs of the hash circle that change owner, with the old and
// new owner of each, which is the copy list of a ring rebalancing.
//
// When to pick it: before changing a fleet, to size the data movement (and to compare
// strategies: maglev moves ~2x what a ring moves); during a migration, to drive the copy.
//
//   scaling::hash_ring<std::string> before{{"a", "b", "c"}};
//   auto after = before;
//   after.add("d");
//   for (const auto& r : scaling::moved_ranges(before, after))
//     copy_keys_hashing_into(r.first, r.last, r.from, r.to);
//   double share = scaling::moved_share(scaling::moved_ranges(before, after));   // ~1/4
//
// Thread safety: pure functions over const strategies.
// Complexity: moved_fraction O(keys x lookup); moved_ranges O(points of both rings).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ranges>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

// The fraction of `keys` whose node differs between `before` and `after` (0 for no keys).
template <shard_strategy Before, shard_strategy After, std::ranges::input_range Keys>
requires std::equality_comparable_with<typename Before::node_type, typename After::node_type>
[[nodiscard]] double moved_fraction(const Before& before, const After& after, const Keys& keys) {
  std::uint64_t total = 0;
  std::uint64_t moved = 0;
  for (const auto& key : keys) {
    ++total;
    if (!(before.node_for(key) == after.node_for(key))) ++moved;
  }
  return total == 0 ? 0.0 : static_cast<double>(moved) / static_cast<double>(total);
}

// An arc [first, last] of the hash circle whose keys move from `from` to `to`.
template <class Node>
struct moved_range {
  std::uint64_t first;
  std::uint64_t last;
  Node from;
  Node to;
  friend bool operator==(const moved_range&, const moved_range&) = default;
};

// The arcs whose owner differs between two rings (same hasher; probes = 1), sorted, adjacent
// arcs with the same (from, to) merged. Throws scaling::invalid_argument when either ring is
// empty or multi-probe.
template <class Node, class Hash>
[[nodiscard]] std::vector<moved_range<Node>> moved_ranges(const hash_ring<Node, Hash>& before,
                                                          const hash_ring<Node, Hash>& after) {
  constexpr std::string_view component = "scaling::moved_ranges";
  if (before.empty() || after.empty()) {
    detail::throw_invalid_argument(component, "rings", "must both have nodes");
  }
  if (before.config().probes != 1 || after.config().probes != 1) {
    detail::throw_invalid_argument(component, "probes", "must be 1 in both rings");
  }
  // Every boundary of either ring; between two consecutive boundaries both owners are constant
  // and equal to the owners of the upper boundary.
  std::vector<std::uint64_t> bounds;
  bounds.reserve(before.point_count() + after.point_count());
  for (std::size_t i = 0; i < before.point_count(); ++i)
    bounds.push_back(before.point_position(i));
  for (std::size_t i = 0; i < after.point_count(); ++i)
    bounds.push_back(after.point_position(i));
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());

  std::vector<moved_range<Node>> out;
  auto record = [&](std::uint64_t first, std::uint64_t last, std::uint64_t probe) {
    const Node& from = before.node_for_hash(probe);
    const Node& to = after.node_for_hash(probe);
    if (from == to) return;
    if (!out.empty() && out.back().last != std::numeric_limits<std::uint64_t>::max() &&
        out.back().last + 1 == first && out.back().from == from && out.back().to == to) {
      out.back().last = last;
    } else {
      out.push_back({first, last, from, to});
    }
  };
  record(0, bounds.front(), bounds.front());
  for (std::size_t j = 1; j < bounds.size(); ++j)
    record(bounds[j - 1] + 1, bounds[j], bounds[j]);
  if (bounds.back() != std::numeric_limits<std::uint64_t>::max()) {
    // The wrapping arc past the last boundary belongs with the first boundary.
    record(bounds.back() + 1, std::numeric_limits<std::uint64_t>::max(), bounds.front());
  }
  return out;
}

// The share of the hash circle (0..1) that the ranges cover.
template <class Node>
[[nodiscard]] double moved_share(const std::vector<moved_range<Node>>& ranges) noexcept {
  long double covered = 0;
  for (const auto& r : ranges)
    covered += static_cast<long double>(r.last - r.first) + 1.0L;
  return static_cast<double>(covered / 18446744073709551616.0L);
}

}  // namespace scaling
