// scaling/sharding/rendezvous.hpp: rendezvous (highest random weight) hashing, weighted.
//
// What it is: `scaling::rendezvous<Node, Hash>` scores every node for a key and picks the
// highest score. Removing a node moves exactly its own keys; adding one takes exactly the keys
// it now wins, 1/(N+1) of them on average. Weights use logarithmic scoring
// (score = weight / -ln(u)), so a node of weight 2 wins twice as many keys, exactly in
// expectation, and changing one weight moves keys only to or from that node.
//
// When to pick it: small node sets (tens) where exact weights and zero state matter more than
// lookup cost: each lookup is O(N). Pick hash_ring or maglev for hundreds of nodes.
//
//   scaling::rendezvous<std::string> hrw;
//   hrw.add("cache-a");
//   hrw.add("cache-b", /*weight=*/2.0);
//   const std::string& node = hrw.node_for("user:42");
//
// Scores (specified, so every process agrees): a node's seed is Hash(name) for string nodes
// (Hash applied to its characters) and Hash(node) otherwise; a key's score on a node is
// u = mix64(Hash(key) ^ seed), mapped to (0, 1) as (u >> 11 + 0.5) / 2^53. With equal weights
// the highest u wins directly (no logarithm). Ties go to the node with the smaller seed.
// Reference: Thaler & Ravishankar, "Using name-based mappings to increase hit rates", 1998;
// Schindelhauer & Schomaker, "Weighted distributed hash tables", 2005 (logarithmic method).
//
// Thread safety: const members may run concurrently; add/remove need exclusive access.
// Complexity: node_for O(N) (~1.5 ns per node, 2x that with unequal weights); add/remove O(N).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ranges>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/detail/node_list.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

template <class Node, class Hash = scaling::hash<>>
requires shard_node<Node, Hash>
class rendezvous : detail::node_list<Node, Hash> {
  using nodes_base = detail::node_list<Node, Hash>;

 public:
  using node_type = Node;
  using hasher = Hash;

  explicit rendezvous(Hash hash = Hash{}) : nodes_base(std::move(hash)) {}
  rendezvous(std::initializer_list<Node> nodes, Hash hash = Hash{}) : nodes_base(std::move(hash)) {
    for (const Node& node : nodes)
      add(node);
  }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, Node>
  explicit rendezvous(R&& nodes, Hash hash = Hash{}) : nodes_base(std::move(hash)) {
    for (auto&& node : nodes)
      add(Node(node));
  }

  // Adds `node` with `weight` (> 0 and finite). Throws scaling::invalid_argument for a bad
  // weight or a duplicate; whatever Node's copy or move, Hash or an allocation throws. Strong
  // guarantee.
  void add(const Node& node, double weight = 1.0) {
    if (!(weight > 0.0) || !std::isfinite(weight)) {
      detail::throw_invalid_argument(component, "weight", "must be finite and > 0", weight);
    }
    check_not_member(component, node);
    std::uint64_t seed = 0;
    if constexpr (detail::is_string_node_v<Node> &&
                  std::is_invocable_r_v<std::uint64_t, const Hash&, std::string_view>) {
      seed = static_cast<std::uint64_t>(hash_(std::string_view{node}));
    } else {
      seed = static_cast<std::uint64_t>(hash_(node));
    }
    members_.reserve(members_.size() + 1);
    nodes_.push_back(node);              // strong, and the last step that can throw
    members_.push_back({seed, weight});  // cannot throw: reserved
    uniform_ = std::all_of(members_.begin(), members_.end(),
                           [&](const member& m) { return m.weight == members_.front().weight; });
  }

  // Removes `node`: only its keys move. Throws scaling::invalid_argument for a non-member;
  // whatever Node's copy or move or an allocation throws. Strong guarantee.
  void remove(const Node& node) {
    const std::size_t i = index_to_remove(component, node);
    detail::erase_strong(nodes_, i);  // the last step that can throw
    members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(i));
    uniform_ = std::all_of(members_.begin(), members_.end(),
                           [&](const member& m) { return m.weight == members_.front().weight; });
  }

  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] const Node& node_for(const Key& key) const { return node_for_hash(key_hash(key)); }

  [[nodiscard]] const Node& node_for_hash(std::uint64_t h) const {
    if (nodes_.empty()) detail::throw_empty(component);
    std::size_t best = 0;
    if (uniform_) {
      std::uint64_t best_score = mix64(h ^ members_[0].seed);
      for (std::size_t i = 1; i < members_.size(); ++i) {
        const std::uint64_t score = mix64(h ^ members_[i].seed);
        if (score > best_score || (score == best_score && members_[i].seed < members_[best].seed)) {
          best_score = score;
          best = i;
        }
      }
    } else {
      double best_score = -1.0;
      for (std::size_t i = 0; i < members_.size(); ++i) {
        const double u = to_unit(mix64(h ^ members_[i].seed));
        const double score = members_[i].weight / -std::log(u);
        if (score > best_score || (score == best_score && members_[i].seed < members_[best].seed)) {
          best_score = score;
          best = i;
        }
      }
    }
    return nodes_[best];
  }

  // contains(node); size(); empty().
  using nodes_base::contains, nodes_base::size, nodes_base::empty;
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }

 private:
  using nodes_base::hash_, nodes_base::nodes_, nodes_base::key_hash, nodes_base::check_not_member,
      nodes_base::index_to_remove;

  static constexpr std::string_view component = "scaling::rendezvous";
  struct member {
    std::uint64_t seed;
    double weight;
  };

  // (0, 1), never 0 or 1, so -log(u) is finite and positive.
  [[nodiscard]] static double to_unit(std::uint64_t u) noexcept {
    return (static_cast<double>(u >> 11) + 0.5) * 0x1.0p-53;
  }

  std::vector<member> members_;
  bool uniform_ = true;
};

}  // namespace scaling
