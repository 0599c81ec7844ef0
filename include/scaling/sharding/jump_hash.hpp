// scaling/sharding/jump_hash.hpp: Lamping and Veach's jump consistent hash, and jump_shards.
//
// What it is: `scaling::jump_hash(key, buckets)` maps a 64-bit key to a bucket in
// [0, buckets) with no memory and perfect balance; when buckets grows from n to n + 1, only
// 1/(n + 1) of the keys move, all of them to the new bucket. `scaling::jump_shards<Node>` puts
// named nodes on the buckets, hashing arbitrary keys first.
//
// When to pick it: numbered shards (storage partitions, database shards) that only grow or
// shrink at the end. Not for a fleet where any node can fail: removing a node in the middle
// would renumber the ones after it, so jump_shards only removes the last node.
//
//   std::int32_t shard = scaling::jump_hash(user_id, 16);     // 0..15
//   scaling::jump_shards<std::string> shards{{"pg-0", "pg-1", "pg-2"}};
//   const std::string& db = shards.node_for("user:42");
//
// Reference: John Lamping, Eric Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
// 2014. The generator is the 64-bit LCG key = key * 2862933555777941757 + 1 and each jump is
// (b + 1) * 2^31 / ((key >> 33) + 1), computed in double as the paper does, so the results
// match the published vectors and the other ports bit for bit.
//
// Thread safety: jump_hash is a pure function; jump_shards' const members may run
// concurrently, add/remove need exclusive access.
// Complexity: O(log buckets) expected (about ln(buckets) jumps), ~20-50 ns.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/detail/node_list.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

// The bucket in [0, buckets) for `key`.
// Precondition: buckets >= 1 (checked by SCALING_ASSERT; in builds without assertions a
// non-positive count returns 0, never undefined behaviour).
[[nodiscard]] constexpr std::int32_t jump_hash(std::uint64_t key, std::int32_t buckets) noexcept {
  SCALING_ASSERT(buckets >= 1, "jump_hash needs buckets >= 1");
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        static_cast<double>(b + 1) *
        (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return b < 0 ? 0 : static_cast<std::int32_t>(b);
}

// Named nodes on jump_hash buckets: node i is bucket i.
template <class Node, class Hash = scaling::hash<>>
requires shard_node<Node, Hash>
class jump_shards : detail::node_list<Node, Hash> {
  using nodes_base = detail::node_list<Node, Hash>;

 public:
  using node_type = Node;
  using hasher = Hash;

  explicit jump_shards(Hash hash = Hash{}) : nodes_base(std::move(hash)) {}
  jump_shards(std::initializer_list<Node> nodes, Hash hash = Hash{}) : nodes_base(std::move(hash)) {
    for (const Node& node : nodes)
      add(node);
  }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, Node>
  explicit jump_shards(R&& nodes, Hash hash = Hash{}) : nodes_base(std::move(hash)) {
    for (auto&& node : nodes)
      add(Node(node));
  }

  // Appends `node` as the highest bucket; 1/(size()+1) of the keys move to it.
  // Throws scaling::invalid_argument for a duplicate or beyond 2^31 - 1 nodes.
  void add(const Node& node) {
    check_not_member(component, node);
    if (nodes_.size() >= static_cast<std::size_t>(INT32_MAX)) {
      detail::throw_invalid_argument(component, "size", "must stay below 2^31", nodes_.size());
    }
    nodes_.push_back(node);
  }

  // Removes `node`, which must be the last one added (the highest bucket): its keys spread
  // over the others. Throws scaling::invalid_argument for any other node.
  void remove(const Node& node) {
    if (nodes_.empty() || !(nodes_.back() == node)) {
      detail::throw_invalid_argument(component, "node",
                                     "must be the last node (jump hash only shrinks at the end)");
    }
    nodes_.pop_back();
  }

  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] const Node& node_for(const Key& key) const {
    if (nodes_.empty()) detail::throw_empty(component);
    return nodes_[static_cast<std::size_t>(
        jump_hash(key_hash(key), static_cast<std::int32_t>(nodes_.size())))];
  }

  // contains(node); size(); empty().
  using nodes_base::contains, nodes_base::size, nodes_base::empty;
  // The nodes in bucket order.
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }

 private:
  using nodes_base::nodes_, nodes_base::key_hash, nodes_base::check_not_member;

  static constexpr std::string_view component = "scaling::jump_shards";
};

}  // namespace scaling
