// scaling/sharding/hash_ring.hpp: a consistent-hash ring with virtual nodes, weights and
// optional multi-probe lookups.
//
// What it is: `scaling::hash_ring<Node, Hash>` places points_per_node x weight points per node
// on a 64-bit circle; a key belongs to the node owning the first point at or after the key's
// hash. Adding or removing a node moves only the keys of the arcs it gains or loses (about 1/N
// of them). `nodes_for(key, n)` walks on to n distinct nodes, the classic replica placement.
//
// When to pick it: nodes come and go and you need minimal movement, weights, replica lists and
// exact key ranges (for migrations). Pick maglev for the fastest lookups when a ~2x larger
// movement on change is acceptable, jump_hash for numbered buckets that only grow or shrink at
// the end, ketama_ring to agree with memcached clients, rendezvous for small N with weights.
//
//   scaling::hash_ring<std::string> ring{{"db-a", "db-b", "db-c"}};
//   ring.add("db-d", /*weight=*/2);                     // 320 points
//   const std::string& owner = ring.node_for("user:42");
//   std::vector<std::string> replicas = ring.nodes_for("user:42", 2);
//
// Balance: with P random points per node the load of a node has a relative standard deviation
// of about 1/sqrt(P) (7.9% at P = 160), so the busiest of 100 nodes carries ~1.2x the mean.
// Multi-probe lookups (Appleton & O'Reilly, "Multi-probe consistent hashing", 2015) hash the key
// `probes` times and take the point closest after any probe: probes = 4 brings the peak to
// <= 1.10x at N = 100 for 4x the lookup work, keeping minimal disruption. Key ranges are only
// defined for probes = 1.
//
// Placement is specified, so every process agrees: the key's position is Hash(key). For a node
// whose type converts to std::string_view, with a Hash callable on std::string_view, point i
// (0-based) sits at Hash("<node>_<i>"), as in Envoy's ring hash (use scaling::xxh64_hash to get
// Envoy's exact ring). Any other node's point i sits at mix64(Hash(node) + (i + 1) *
// 0x9e3779b97f4a7c15). Two points at the same position are ordered by node index (a 1-in-2^40 event
// for 1M points).
//
// Thread safety: const member functions may run concurrently; add and remove need exclusive
// access (share a ring across threads behind a lock, or rebuild and swap a shared_ptr).
// Complexity: node_for O(1) expected (a top-bits index over the sorted points), O(log points)
// worst case; add O(points log points); remove O(points); nodes_for O(points walked).
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/detail/node_list.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

struct ring_config {
  // Points (virtual nodes) per unit of weight. More points: better balance, bigger ring.
  std::uint32_t points_per_node = 160;
  // Positions probed per lookup; 1 is the classic ring. See the banner for the trade-off.
  std::uint32_t probes = 1;
};

// One arc of the circle, [first, last] inclusive (first <= last: an arc that wraps past
// UINT64_MAX is reported as two ranges).
struct hash_range {
  std::uint64_t first;
  std::uint64_t last;
  friend bool operator==(const hash_range&, const hash_range&) = default;
};

template <class Node, class Hash = scaling::hash<>>
requires shard_node<Node, Hash>
class hash_ring : detail::node_list<Node, Hash> {
  using nodes_base = detail::node_list<Node, Hash>;

 public:
  using node_type = Node;
  using hasher = Hash;

  // An empty ring. Throws scaling::invalid_argument when points_per_node or probes is 0.
  explicit hash_ring(ring_config config = {}, Hash hash = Hash{})
      : nodes_base(std::move(hash)), config_(config) {
    if (config_.points_per_node == 0) {
      detail::throw_invalid_argument(component, "points_per_node", "must be >= 1",
                                     config_.points_per_node);
    }
    if (config_.probes == 0) {
      detail::throw_invalid_argument(component, "probes", "must be >= 1", config_.probes);
    }
  }

  // A ring of `nodes`, each with weight 1, built in one pass. Throws on a duplicate node.
  // The elements must convert implicitly to Node (a braced element is never a node, so
  // `hash_ring ring{{.points_per_node = 0}}` is the config constructor on every compiler).
  hash_ring(std::initializer_list<detail::node_initializer<Node>> nodes, ring_config config = {},
            Hash hash = Hash{})
      : hash_ring(detail::nodes_of(nodes), config, std::move(hash)) {}

  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, Node>
  explicit hash_ring(R&& nodes, ring_config config = {}, Hash hash = Hash{})
      : hash_ring(config, std::move(hash)) {
    for (auto&& node : nodes) {
      Node copy(node);
      check_not_member(component, copy);
      nodes_.push_back(std::move(copy));
      weights_.push_back(1);
    }
    check_point_total(total_weight());
    std::vector<point> all;
    all.reserve(static_cast<std::size_t>(total_weight()) * config_.points_per_node);
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      append_points(all, nodes_[i], weights_[i], i);
    points_.assign(std::move(all));
  }

  // Adds `node` with points_per_node x weight points.
  // Throws scaling::invalid_argument for weight 0, a node already present, or a ring that would
  // exceed 2^31 points; whatever Node's copy or move, Hash or an allocation throws. Strong
  // guarantee: the new points are built aside, the node's copy is the last step that can throw.
  void add(const Node& node, std::uint32_t weight = 1) {
    if (weight == 0) detail::throw_invalid_argument(component, "weight", "must be >= 1", weight);
    check_not_member(component, node);
    check_point_total(total_weight() + weight);
    std::vector<point> all;
    all.reserve(points_.size() + std::size_t{weight} * config_.points_per_node);
    for (std::size_t i = 0; i < points_.size(); ++i) {
      all.push_back({points_.position(i), points_.owner(i)});
    }
    append_points(all, node, weight, nodes_.size());
    detail::sorted_points<std::uint64_t> next;
    next.assign(std::move(all));
    weights_.reserve(weights_.size() + 1);
    nodes_.push_back(node);      // strong: either the copy is in, or nothing changed
    weights_.push_back(weight);  // cannot throw: reserved
    points_.swap(next);
  }

  // Removes `node`; its arcs pass to the next points clockwise, nothing else moves.
  // Throws scaling::invalid_argument when the node is not a member; whatever Node's copy or
  // move or an allocation throws. Strong guarantee.
  void remove(const Node& node) {
    const std::size_t gone = index_to_remove(component, node);
    const std::size_t last = nodes_.size() - 1;
    std::vector<point> kept;
    kept.reserve(points_.size());
    for (std::size_t i = 0; i < points_.size(); ++i) {
      std::uint32_t owner = points_.owner(i);
      if (owner == gone) continue;
      if (owner == last) owner = static_cast<std::uint32_t>(gone);  // the last node takes its slot
      kept.push_back({points_.position(i), owner});
    }
    detail::sorted_points<std::uint64_t> next;
    next.assign(std::move(kept));
    detail::erase_swap_last_strong(nodes_, gone);  // the last step that can throw
    weights_[gone] = weights_[last];
    weights_.pop_back();
    points_.swap(next);
  }

  // The node that owns `key`. Throws scaling::invalid_argument on an empty ring.
  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] const Node& node_for(const Key& key) const { return node_for_hash(key_hash(key)); }

  // The node that owns the position `h` (a key hash computed elsewhere).
  [[nodiscard]] const Node& node_for_hash(std::uint64_t h) const {
    if (nodes_.empty()) detail::throw_empty(component);
    return nodes_[points_.owner(point_for_hash(h))];
  }

  // Up to n distinct nodes for `key` in ring order, starting with node_for(key): the replica
  // set. Returns min(n, size()) nodes; after a node is removed the list closes up, so the
  // surviving replicas keep their order. Throws on an empty ring.
  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] std::vector<Node> nodes_for(const Key& key, std::size_t n) const {
    if (nodes_.empty()) detail::throw_empty(component);
    std::vector<Node> out;
    const std::size_t wanted = std::min(n, nodes_.size());
    out.reserve(wanted);
    std::vector<bool> taken(nodes_.size(), false);
    visit_candidates(key_hash(key), [&](std::size_t owner) {
      if (!taken[owner]) {
        taken[owner] = true;
        out.push_back(nodes_[owner]);
      }
      return out.size() >= wanted;
    });
    return out;
  }

  // The arcs of the circle whose keys `node` owns, sorted, adjacent arcs merged.
  // Throws scaling::invalid_argument for a non-member or when probes != 1 (a multi-probe ring
  // has no contiguous ranges).
  [[nodiscard]] std::vector<hash_range> ranges_of(const Node& node) const {
    if (config_.probes != 1) {
      detail::throw_invalid_argument(component, "probes", "must be 1 for key ranges",
                                     config_.probes);
    }
    const std::size_t owner = index_of(node);
    if (owner == nodes_.size()) {
      detail::throw_invalid_argument(component, "node", "must be a member");
    }
    std::vector<hash_range> out;
    const std::size_t count = points_.size();
    auto push = [&out](std::uint64_t first, std::uint64_t last) {
      if (!out.empty() && out.back().last != std::numeric_limits<std::uint64_t>::max() &&
          out.back().last + 1 == first) {
        out.back().last = last;
      } else {
        out.push_back({first, last});
      }
    };
    for (std::size_t i = 0; i < count; ++i) {
      if (points_.owner(i) != owner) continue;
      const std::uint64_t here = points_.position(i);
      if (i == 0) {
        push(0, here);  // the wrapped arc's tail is added after the loop
      } else if (points_.position(i - 1) != here) {
        push(points_.position(i - 1) + 1, here);
      }
    }
    if (count > 0 && points_.owner(0) == owner &&
        points_.position(count - 1) != std::numeric_limits<std::uint64_t>::max()) {
      push(points_.position(count - 1) + 1, std::numeric_limits<std::uint64_t>::max());
    }
    return out;
  }

  // key_hash(key): the key's position on the circle.
  using nodes_base::key_hash;

  // Calls visit(node_index) for the owners of the points from the key's point onwards,
  // clockwise, until visit returns true or every point was visited once. Indices repeat.
  template <class Visitor>
  void visit_candidates(std::uint64_t h, Visitor&& visit) const {
    if (points_.empty()) return;
    detail::visit_circle(points_.owners(), point_for_hash(h), visit);
  }

  // Index of the point a key at position h lands on (after all probes). Precondition: !empty().
  [[nodiscard]] std::size_t point_for_hash(std::uint64_t h) const {
    SCALING_ASSERT(!points_.empty(), "a lookup needs at least one node");
    std::size_t best = points_.successor(h);
    if (config_.probes == 1) return best;
    std::uint64_t best_distance = points_.position(best) - h;  // wraps modulo 2^64, as the circle
    for (std::uint32_t j = 1; j < config_.probes; ++j) {
      const std::uint64_t probe = mix64(h + j * golden);
      const std::size_t at = points_.successor(probe);
      const std::uint64_t distance = points_.position(at) - probe;
      if (distance < best_distance) {
        best_distance = distance;
        best = at;
      }
    }
    return best;
  }

  // node_at(index); index_of(node): a member's index (0 .. size()-1; it changes when another
  // node is removed), or size(); contains(node); size(); empty().
  using nodes_base::node_at, nodes_base::index_of, nodes_base::contains, nodes_base::size,
      nodes_base::empty;
  // The members, in index order (unspecified otherwise).
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }

  // A member's weight (0 for a non-member).
  [[nodiscard]] std::uint32_t weight_of(const Node& node) const {
    const std::size_t i = index_of(node);
    return i == nodes_.size() ? 0 : weights_[i];
  }
  [[nodiscard]] std::size_t point_count() const noexcept { return points_.size(); }
  [[nodiscard]] std::uint64_t point_position(std::size_t i) const { return points_.position(i); }
  [[nodiscard]] std::size_t point_owner(std::size_t i) const { return points_.owner(i); }
  [[nodiscard]] const ring_config& config() const noexcept { return config_; }
  [[nodiscard]] const Hash& hash_function() const noexcept { return hash_; }

 private:
  using nodes_base::hash_, nodes_base::nodes_, nodes_base::check_not_member,
      nodes_base::index_to_remove;

  static constexpr std::string_view component = "scaling::hash_ring";
  static constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  using point = typename detail::sorted_points<std::uint64_t>::point;

  [[nodiscard]] std::uint64_t total_weight() const noexcept {
    std::uint64_t total = 0;
    for (std::uint32_t w : weights_)
      total += w;
    return total;
  }

  void check_point_total(std::uint64_t weight) const {
    const std::uint64_t points = weight * config_.points_per_node;
    if (points > (std::uint64_t{1} << 31)) {
      detail::throw_invalid_argument(component, "points_per_node x total weight", "must be <= 2^31",
                                     points);
    }
  }

  // Appends the points of `node` with `weight`, owned by node index `index`.
  void append_points(std::vector<point>& out, const Node& node, std::uint32_t weight,
                     std::size_t index) const {
    const std::uint64_t count = std::uint64_t{weight} * config_.points_per_node;
    const auto owner = static_cast<std::uint32_t>(index);
    if constexpr (detail::is_string_node_v<Node> &&
                  std::is_invocable_r_v<std::uint64_t, const Hash&, std::string_view>) {
      std::string name{std::string_view{node}};
      name.push_back('_');
      const std::size_t stem = name.size();
      char digits[24];
      for (std::uint64_t i = 0; i < count; ++i) {
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, i);
        name.resize(stem);
        name.append(digits, end);
        out.push_back({static_cast<std::uint64_t>(hash_(std::string_view{name})), owner});
      }
    } else {
      const auto base = static_cast<std::uint64_t>(hash_(node));
      for (std::uint64_t i = 0; i < count; ++i) {
        out.push_back({mix64(base + (i + 1) * golden), owner});
      }
    }
  }

  ring_config config_;
  std::vector<std::uint32_t> weights_;
  detail::sorted_points<std::uint64_t> points_;
};

}  // namespace scaling
