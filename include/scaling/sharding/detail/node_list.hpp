// scaling/sharding/detail/node_list.hpp: the members and hasher the hashed strategies share
// (not for users).
//
// node_list<Node, Hash> holds a strategy's hasher and its nodes in index order, and answers
// what hash_ring, maglev, rendezvous and jump_shards answer alike: key_hash, node_at, index_of,
// contains, size and empty. A strategy inherits it privately and names the members its
// interface offers with a using-declaration, so each strategy's header still lists its whole
// interface. It also raises the two membership errors in one wording for every strategy: adding
// a node that is already a member, and removing one that is not.
//
// node_initializer<Node> is the element type of the strategies' `{node, node, ...}`
// constructors. It converts only from values that convert implicitly to Node, never from a
// braced list, so a braced config such as `{.points_per_node = 0}` cannot be taken for a node:
// GCC (12 at least) drops the designators when it tries a designated list as a
// non-aggregate, so `{.points_per_node = 0}` passed as a std::string `{0}`, a null pointer, and
// list-initialization prefers an initializer_list constructor whenever one is viable: the ring
// then threw std::logic_error("basic_string: construction from null is not valid").
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>

namespace scaling::detail {

template <class Node>
class node_initializer {
 public:
  template <class Value>
  requires std::convertible_to<Value&&, Node> node_initializer(
      Value&& value)  // NOLINT(google-explicit-constructor): a list element
      : node_(std::forward<Value>(value)) {}

  [[nodiscard]] const Node& get() const noexcept { return node_; }

 private:
  Node node_;
};

// The nodes of a `{node, node, ...}` list, copied out.
template <class Node>
std::vector<Node> nodes_of(std::initializer_list<node_initializer<Node>> list) {
  std::vector<Node> out;
  out.reserve(list.size());
  for (const node_initializer<Node>& node : list)
    out.push_back(node.get());
  return out;
}

template <class Node, class Hash>
class node_list {
 public:
  // The key's 64-bit position: Hash(key).
  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] std::uint64_t key_hash(const Key& key) const {
    return static_cast<std::uint64_t>(hash_(key));
  }

  [[nodiscard]] const Node& node_at(std::size_t index) const {
    SCALING_ASSERT(index < nodes_.size(), "node index out of range");
    return nodes_[index];
  }
  // A member's index (0 .. size()-1), or size().
  [[nodiscard]] std::size_t index_of(const Node& node) const {
    return static_cast<std::size_t>(std::find(nodes_.begin(), nodes_.end(), node) - nodes_.begin());
  }
  [[nodiscard]] bool contains(const Node& node) const { return index_of(node) != nodes_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }

 protected:
  explicit node_list(Hash hash) : hash_(std::move(hash)) {}

  // Throws scaling::invalid_argument when `node` is already a member.
  void check_not_member(std::string_view component, const Node& node) const {
    if (contains(node)) throw_invalid_argument(component, "node", "must not be a duplicate");
  }

  // The index of `node`, which is to be removed. Throws scaling::invalid_argument for a
  // non-member.
  [[nodiscard]] std::size_t index_to_remove(std::string_view component, const Node& node) const {
    const std::size_t i = index_of(node);
    if (i == nodes_.size()) {
      throw_invalid_argument(component, "node", "must be a member to be removed");
    }
    return i;
  }

  [[no_unique_address]] Hash hash_;
  std::vector<Node> nodes_;
};

}  // namespace scaling::detail
