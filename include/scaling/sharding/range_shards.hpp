// scaling/sharding/range_shards.hpp: ordered key ranges mapped to nodes, with split and merge.
//
// What it is: `scaling::range_shards<Key, Node>` divides the ordered key space into contiguous
// ranges [lower, next lower), each served by one node, the model of Bigtable tablets, HBase
// regions, CockroachDB ranges and MongoDB chunks. Splitting a hot or large range and moving one
// half to another node is how such systems rebalance; merging undoes a split.
//
// When to pick it: range scans must hit one or few shards (time series, ordered user names),
// or you want to place data by hand. Beware the failure mode: sequential keys (timestamps,
// auto-increment ids) all land in the last range, a write hot spot that hashing avoids.
//
//   scaling::range_shards<std::string, std::string> ranges{"node-a"};   // owns everything
//   ranges.split("m", "node-b");           // [min, "m") -> node-a, ["m", max) -> node-b
//   const std::string& node = ranges.node_for("kiwi");                  // node-a
//   ranges.merge("m");                     // back to one range on node-a
//
// Thread safety: const members may run concurrently; split/merge/move need exclusive access.
// Complexity: node_for O(log ranges); split/merge/move O(ranges).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/sharding/detail/common.hpp>

namespace scaling {

// One range: keys k with lower <= k < upper (an absent bound is unbounded).
template <class Key, class Node>
struct key_range {
  std::optional<Key> lower;
  std::optional<Key> upper;
  Node node;
  friend bool operator==(const key_range&, const key_range&) = default;
};

// Template parameters: Key, totally ordered by Compare; Node, copyable and equality-comparable.
template <class Key, class Node, class Compare = std::less<>>
requires std::copy_constructible<Key> && std::copy_constructible<Node> &&
    std::equality_comparable<Node> && std::strict_weak_order<Compare, Key, Key>
class range_shards {
 public:
  using key_type = Key;
  using node_type = Node;

  // One range covering every key, served by `node`.
  explicit range_shards(Node node, Compare compare = Compare{})
      : first_(std::move(node)), compare_(std::move(compare)) {}

  // Splits the range containing `at` so that keys >= at (up to that range's end) are served by
  // `node`. Throws scaling::invalid_argument when `at` is already a range boundary; whatever
  // Key's or Node's copy or move, Compare or an allocation throws. Strong guarantee.
  void split(const Key& at, const Node& node) {
    const auto it = upper(at);
    if (it != bounds_.begin() && equal(std::prev(it)->first, at)) {
      detail::throw_invalid_argument(component, "at", "must not be an existing boundary");
    }
    detail::insert_strong(bounds_, static_cast<std::size_t>(it - bounds_.begin()),
                          std::pair<Key, Node>{at, node});
  }

  // Merges the range starting at `at` into the range before it (whose node keeps it).
  // Throws scaling::invalid_argument when `at` is not a boundary; whatever Key's or Node's copy
  // or move, Compare or an allocation throws. Strong guarantee.
  void merge(const Key& at) {
    detail::erase_strong(bounds_, static_cast<std::size_t>(find_boundary(at) - bounds_.begin()));
  }

  // Serves the range starting at `at` (or the first range, with std::nullopt) from `node`.
  // Throws scaling::invalid_argument when `at` is not a boundary; whatever Node's copy
  // assignment throws. Strong guarantee if Node's copy assignment gives it (std::string's does).
  void move(const std::optional<Key>& at, const Node& node) {
    if (!at) {
      first_ = node;
    } else {
      find_boundary(*at)->second = node;
    }
  }

  template <class K>
  requires std::strict_weak_order<Compare, K, Key>
  [[nodiscard]] const Node& node_for(const K& key) const {
    const auto it = std::upper_bound(
        bounds_.begin(), bounds_.end(), key,
        [this](const K& k, const std::pair<Key, Node>& bound) { return compare_(k, bound.first); });
    return it == bounds_.begin() ? first_ : std::prev(it)->second;
  }

  // The ranges in key order.
  [[nodiscard]] std::vector<key_range<Key, Node>> ranges() const {
    std::vector<key_range<Key, Node>> out;
    out.push_back({std::nullopt, std::nullopt, first_});
    for (const auto& [lower, node] : bounds_) {
      out.back().upper = lower;
      out.push_back({lower, std::nullopt, node});
    }
    return out;
  }

  [[nodiscard]] std::size_t range_count() const noexcept { return bounds_.size() + 1; }
  [[nodiscard]] bool contains(const Node& node) const {
    return first_ == node || std::any_of(bounds_.begin(), bounds_.end(),
                                         [&](const auto& b) { return b.second == node; });
  }

 private:
  static constexpr std::string_view component = "scaling::range_shards";
  using bound_list = std::vector<std::pair<Key, Node>>;

  [[nodiscard]] bool equal(const Key& a, const Key& b) const {
    return !compare_(a, b) && !compare_(b, a);
  }
  [[nodiscard]] typename bound_list::iterator upper(const Key& key) {
    return std::upper_bound(bounds_.begin(), bounds_.end(), key,
                            [this](const Key& k, const std::pair<Key, Node>& bound) {
                              return compare_(k, bound.first);
                            });
  }
  [[nodiscard]] typename bound_list::iterator find_boundary(const Key& at) {
    const auto it = upper(at);
    if (it == bounds_.begin() || !equal(std::prev(it)->first, at)) {
      detail::throw_invalid_argument(component, "at", "must be an existing boundary");
    }
    return std::prev(it);
  }

  Node first_;
  [[no_unique_address]] Compare compare_;
  bound_list bounds_;
};

}  // namespace scaling
