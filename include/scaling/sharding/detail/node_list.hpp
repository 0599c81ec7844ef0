// scaling/sharding/detail/node_list.hpp: the members and hasher the hashed strategies share
// (not for users).
//
// node_list<Node, Hash> holds a strategy's hasher and its nodes in index order, and answers
// what hash_ring, maglev, rendezvous and jump_shards answer alike: key_hash, node_at, index_of,
// contains, size and empty. A strategy inherits it privately and names the members its
// interface offers with a using-declaration, so each strategy's header still lists its whole
// interface. It also raises the two membership errors in one wording for every strategy: adding
// a node that is already a member, and removing one that is not.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>

namespace scaling::detail {

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
