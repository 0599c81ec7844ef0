// scaling/sharding/logical_shards.hpp: many logical shards on few physical nodes, with
// migration plans when nodes join or leave (Instagram's design).
//
// What it is: `scaling::logical_shards<Node>` fixes the number of logical shards up front
// (thousands) and maps each to a physical node. A key's logical shard never changes; growing
// the fleet moves whole logical shards (a PostgreSQL schema, a directory, a Redis slot range),
// and add()/remove() return the plan that says which shard moves from where to where, moving
// the fewest shards that keep every node within one shard of the mean.
//
// When to pick it: databases, where moving data is expensive and must be planned, copied and
// cut over shard by shard; start with a few nodes holding many shards each, and split the fleet
// without rehashing a single key. Instagram ran several thousand logical shards (schemas) on a
// handful of PostgreSQL servers and embedded the shard in every id (see sharded_id.hpp).
//
//   scaling::logical_shards<std::string> shards{4096, {"pg-1", "pg-2"}};
//   std::uint32_t s = shards.shard_for("user:42");        // stable forever
//   auto plan = shards.add("pg-3");                       // ~1365 shard moves, listed
//   for (const auto& move : plan) copy_schema(move.shard, move.from, move.to);
//
// Placement: a key's shard is Hash(key) % shard_count (use node_for_shard(id % count) when the
// shard must be a plain modulus of a numeric id, as Instagram did). Initially shard s lives on
// node s % N. Joining node: takes floor(S / (N + 1)) shards, each time the highest-numbered
// shard of the node holding the most (ties: the earliest node). Leaving node: each of its
// shards goes to the node holding the fewest (ties: the earliest node).
//
// Thread safety: const members may run concurrently; add/remove need exclusive access.
// Complexity: node_for O(1); add/remove O(S x N).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

// One step of a migration plan: logical shard `shard` moves from node `from` to node `to`.
template <class Node>
struct shard_move {
  std::uint32_t shard;
  Node from;
  Node to;
  friend bool operator==(const shard_move&, const shard_move&) = default;
};

template <class Node, class Hash = scaling::hash<>>
requires shard_node<Node, Hash>
class logical_shards {
 public:
  using node_type = Node;
  using migration_plan = std::vector<shard_move<Node>>;

  // `shard_count` logical shards spread round-robin over `nodes`.
  // Throws scaling::invalid_argument when shard_count is 0, nodes is empty or has a duplicate,
  // or there are more nodes than shards.
  logical_shards(std::uint32_t shard_count, std::vector<Node> nodes, Hash hash = Hash{})
      : hash_(std::move(hash)), modulo_(shard_count == 0 ? 1 : shard_count) {
    if (shard_count == 0) {
      detail::throw_invalid_argument(component, "shard_count", "must be >= 1", shard_count);
    }
    if (nodes.empty()) detail::throw_invalid_argument(component, "nodes", "must not be empty");
    if (nodes.size() > shard_count) {
      detail::throw_invalid_argument(component, "nodes", "must not outnumber shard_count",
                                     nodes.size());
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (std::find(nodes.begin(), nodes.begin() + static_cast<std::ptrdiff_t>(i), nodes[i]) !=
          nodes.begin() + static_cast<std::ptrdiff_t>(i)) {
        detail::throw_invalid_argument(component, "node", "must not be a duplicate");
      }
    }
    nodes_ = std::move(nodes);
    owner_.resize(shard_count);
    for (std::uint32_t s = 0; s < shard_count; ++s) {
      owner_[s] = static_cast<std::uint32_t>(s % nodes_.size());
    }
  }

  // The logical shard of `key`, in [0, shard_count()).
  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] std::uint32_t shard_for(const Key& key) const {
    return modulo_(static_cast<std::uint64_t>(hash_(key)));
  }
  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] const Node& node_for(const Key& key) const {
    return nodes_[owner_[shard_for(key)]];
  }
  // Throws scaling::invalid_argument when shard >= shard_count().
  [[nodiscard]] const Node& node_for_shard(std::uint32_t shard) const {
    if (shard >= owner_.size()) {
      detail::throw_invalid_argument(component, "shard", "must be < shard_count", shard);
    }
    return nodes_[owner_[shard]];
  }

  // The plan add(node) would carry out. Throws for a duplicate or when every node already
  // holds a single shard.
  [[nodiscard]] migration_plan plan_add(const Node& node) const {
    if (contains(node))
      detail::throw_invalid_argument(component, "node", "must not be a duplicate");
    if (nodes_.size() + 1 > owner_.size()) {
      detail::throw_invalid_argument(component, "nodes", "must not outnumber shard_count",
                                     nodes_.size() + 1);
    }
    const std::size_t target = owner_.size() / (nodes_.size() + 1);
    std::vector<std::vector<std::uint32_t>> held = holdings();
    migration_plan plan;
    for (std::size_t taken = 0; taken < target; ++taken) {
      std::size_t donor = 0;
      for (std::size_t i = 1; i < held.size(); ++i) {
        if (held[i].size() > held[donor].size()) donor = i;
      }
      const std::uint32_t shard = held[donor].back();
      held[donor].pop_back();
      plan.push_back({shard, nodes_[donor], node});
    }
    std::sort(plan.begin(), plan.end(), [](const shard_move<Node>& a, const shard_move<Node>& b) {
      return a.shard < b.shard;
    });
    return plan;
  }

  // The plan remove(node) would carry out. Throws for a non-member or the last node.
  [[nodiscard]] migration_plan plan_remove(const Node& node) const {
    const std::size_t gone = index_of(node);
    if (gone == nodes_.size()) {
      detail::throw_invalid_argument(component, "node", "must be a member to be removed");
    }
    if (nodes_.size() == 1) {
      detail::throw_invalid_argument(component, "node", "must not be the last node");
    }
    std::vector<std::vector<std::uint32_t>> held = holdings();
    migration_plan plan;
    for (std::uint32_t shard : held[gone]) {
      std::size_t taker = gone == 0 ? 1 : 0;
      for (std::size_t i = 0; i < held.size(); ++i) {
        if (i != gone && held[i].size() < held[taker].size()) taker = i;
      }
      held[taker].push_back(shard);
      plan.push_back({shard, node, nodes_[taker]});
    }
    return plan;
  }

  // Adds `node` and moves shards to it; returns the moves made (sorted by shard).
  // Throws as plan_add, or whatever Node's copy or move or an allocation throws. Strong
  // guarantee.
  migration_plan add(const Node& node) {
    migration_plan plan = plan_add(node);
    nodes_.push_back(node);  // strong, and the last step that can throw
    const auto index = static_cast<std::uint32_t>(nodes_.size() - 1);
    for (const auto& move : plan)
      owner_[move.shard] = index;
    return plan;
  }

  // Moves `node`'s shards to the others and removes it; returns the moves made.
  // Throws as plan_remove, or whatever Node's copy or move or an allocation throws. Strong
  // guarantee: the new owners are computed aside, the member list is the last thing to change
  // that can throw.
  migration_plan remove(const Node& node) {
    migration_plan plan = plan_remove(node);
    std::vector<std::uint32_t> owners = owner_;
    for (const auto& move : plan)
      owners[move.shard] = static_cast<std::uint32_t>(index_of(move.to));
    const auto gone = static_cast<std::uint32_t>(index_of(node));
    const auto last = static_cast<std::uint32_t>(nodes_.size() - 1);
    for (std::uint32_t& owner : owners) {
      if (owner == last) owner = gone;  // the last node takes the removed node's index
    }
    detail::erase_swap_last_strong(nodes_, gone);
    owner_.swap(owners);
    return plan;
  }

  // The logical shards `node` holds, ascending (empty for a non-member).
  [[nodiscard]] std::vector<std::uint32_t> shards_of(const Node& node) const {
    const std::size_t i = index_of(node);
    std::vector<std::uint32_t> out;
    if (i == nodes_.size()) return out;
    for (std::uint32_t s = 0; s < owner_.size(); ++s) {
      if (owner_[s] == i) out.push_back(s);
    }
    return out;
  }

  [[nodiscard]] std::uint32_t shard_count() const noexcept {
    return static_cast<std::uint32_t>(owner_.size());
  }
  [[nodiscard]] bool contains(const Node& node) const { return index_of(node) != nodes_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }

 private:
  static constexpr std::string_view component = "scaling::logical_shards";

  [[nodiscard]] std::size_t index_of(const Node& node) const {
    return static_cast<std::size_t>(std::find(nodes_.begin(), nodes_.end(), node) - nodes_.begin());
  }

  [[nodiscard]] std::vector<std::vector<std::uint32_t>> holdings() const {
    std::vector<std::vector<std::uint32_t>> held(nodes_.size());
    for (std::uint32_t s = 0; s < owner_.size(); ++s)
      held[owner_[s]].push_back(s);
    return held;
  }

  [[no_unique_address]] Hash hash_;
  detail::fast_modulo modulo_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> owner_;
};

}  // namespace scaling
