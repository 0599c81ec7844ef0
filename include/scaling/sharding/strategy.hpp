// scaling/sharding/strategy.hpp: the concepts every sharding strategy models, and xxh64_hash.
//
// What it is: `shard_strategy` (a node set that maps a key to one node), `resizable_shard_strategy`
// (nodes can join and leave) and `candidate_walk` (a strategy that can list, for a key, the
// nodes to try in order: what consistent hashing with bounded loads needs). Every strategy in
// scaling/sharding models the first, so code written against the concept can swap a ring for
// maglev or rendezvous without other changes. `xxh64_hash` is the hasher Envoy uses for its
// ring and Maglev tables, for when our placement must agree with Envoy's.
//
// When to pick what: see docs/patterns/sharding.md ("which strategy").
//
//   template <scaling::shard_strategy Strategy>
//   const auto& owner(const Strategy& s, std::string_view user) { return s.node_for(user); }
//   scaling::hash_ring<std::string> ring{{"db-a", "db-b"}};
//   owner(ring, "user:42");
//
// Thread safety: concepts and a stateless hasher.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <scaling/core/hash.hpp>

namespace scaling {

// A set of nodes that maps every key to one of them:
//   - names its node type as `node_type`;
//   - `node_for(key)` on a const strategy returns a reference to the owning node, for string
//     keys at least (most strategies accept any key their hasher accepts);
//   - `size()` counts the nodes, `empty()` says whether there are none (a lookup on an empty
//     strategy throws scaling::invalid_argument);
//   - `contains(node)` says whether a node is a member.
template <class S>
concept shard_strategy = requires(const S& strategy, std::string_view key) {
  typename S::node_type;
  { strategy.node_for(key) } -> std::same_as<const typename S::node_type&>;
  { strategy.size() } -> std::same_as<std::size_t>;
  { strategy.empty() } -> std::same_as<bool>;
  { strategy.contains(std::declval<const typename S::node_type&>()) } -> std::same_as<bool>;
};

// A shard_strategy whose membership changes in place:
//   - `add(node)` makes a node a member (throws on a duplicate);
//   - `remove(node)` takes it out (throws for a node that is not a member).
template <class S>
concept resizable_shard_strategy = shard_strategy<S> &&
    requires(S& strategy, const typename S::node_type& node) {
  strategy.add(node);
  strategy.remove(node);
};

// A shard_strategy that can enumerate, for a key, the nodes to fall back to in a fixed order
// (ring order for rings, table order for Maglev):
//   - `key_hash(key)` is the 64-bit position of a key;
//   - `visit_candidates(key_hash, f)` calls f(node_index) for candidates in order until f
//     returns true; indices are dense, 0 .. size()-1, and may repeat;
//   - `node_at(index)` returns the node with that index;
//   - `index_of(node)` returns a member's index (size() when absent).
template <class S>
concept candidate_walk = shard_strategy<S> &&
    requires(const S& strategy, std::string_view key, std::uint64_t key_hash, std::size_t index,
             bool (*visitor)(std::size_t)) {
  { strategy.key_hash(key) } -> std::same_as<std::uint64_t>;
  strategy.visit_candidates(key_hash, visitor);
  { strategy.node_at(index) } -> std::same_as<const typename S::node_type&>;
  { strategy.index_of(std::declval<const typename S::node_type&>()) } -> std::same_as<std::size_t>;
};

// A type usable as a node of the hashed strategies (hash_ring, maglev, rendezvous, jump_shards):
//   - copyable (strategies keep their own copies and nodes_for returns copies);
//   - equality-comparable (add rejects duplicates, remove finds the member);
//   - hashable by the strategy's Hash (non-string nodes are placed by their hash value).
template <class Node, class Hash>
concept shard_node =
    std::copy_constructible<Node> && std::equality_comparable<Node> && hasher_for<Hash, Node>;

// XXH64 with a seed (default 0) over a string's bytes, or over an integer's value written as 8
// little-endian bytes. Envoy hashes ring points ("<host>_<i>") and Maglev host names this way;
// use it as the Hash of hash_ring or maglev to reproduce Envoy's placement.
class xxh64_hash {
 public:
  using is_avalanching = std::true_type;

  constexpr xxh64_hash() noexcept = default;
  constexpr explicit xxh64_hash(std::uint64_t seed) noexcept : seed_(seed) {}

  [[nodiscard]] std::uint64_t operator()(std::string_view text) const noexcept {
    return XXH64(text.data(), text.size(), seed_);
  }
  template <class T>
  requires std::is_integral_v<T>
  [[nodiscard]] std::uint64_t operator()(T value) const noexcept {
    const std::uint64_t widened = std::is_signed_v<T>
                                      ? static_cast<std::uint64_t>(static_cast<std::int64_t>(value))
                                      : static_cast<std::uint64_t>(value);
    const std::uint64_t encoded = detail::to_little_endian(widened);
    return XXH64(&encoded, sizeof encoded, seed_);
  }

  [[nodiscard]] constexpr std::uint64_t seed() const noexcept { return seed_; }

 private:
  std::uint64_t seed_ = 0;
};

}  // namespace scaling
