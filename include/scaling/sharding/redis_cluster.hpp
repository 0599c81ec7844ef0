// scaling/sharding/redis_cluster.hpp: Redis Cluster key slots, and the slot map a client keeps.
//
// What it is: `scaling::redis_cluster_slot(key)` is the slot (0..16383) Redis Cluster stores a
// key in: CRC16/XMODEM of the key, or of its hash tag, modulo 16384. `scaling::redis_slot_map`
// is the slot-to-node table a cluster client keeps: filled from CLUSTER SLOTS (or split evenly
// as `redis-cli --cluster create` does), updated one slot at a time by MOVED redirects.
//
// When to pick it: talking to a Redis Cluster, or copying its model: a fixed number of slots
// moved between nodes explicitly, so resharding is an operator's decision, not a hash's.
// Keys that share a hash tag ("{user:42}:cart", "{user:42}:profile") share a slot, which is
// what makes multi-key commands possible.
//
//   std::uint16_t slot = scaling::redis_cluster_slot("{user:42}:cart");
//   scaling::redis_slot_map<std::string> cluster{{"10.0.0.1:6379", "10.0.0.2:6379"}};
//   cluster.on_moved(slot, "10.0.0.3:6379");           // after "-MOVED <slot> 10.0.0.3:6379"
//   const std::string& node = cluster.node_for("{user:42}:cart");
//
// Hash tag rule (Redis cluster spec): if the key has a '{' and a '}' after it with at least one
// character between them, only the bytes between the first '{' and the first '}' after it are
// hashed; otherwise the whole key is.
//
// Thread safety: redis_cluster_slot is pure; the map's const members may run concurrently,
// updates need exclusive access. Complexity: slot O(key length); node_for O(key length).
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/sharding/detail/common.hpp>

namespace scaling {

inline constexpr std::uint16_t redis_cluster_slots = 16384;

namespace detail {

// CRC16/XMODEM (poly 0x1021, init 0, no reflection, no final xor), table-driven.
inline constexpr std::array<std::uint16_t, 256> crc16_xmodem_table = [] {
  std::array<std::uint16_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000u) != 0 ? (crc << 1) ^ 0x1021u : crc << 1;
    }
    table[byte] = static_cast<std::uint16_t>(crc & 0xffffu);
  }
  return table;
}();

}  // namespace detail

// CRC16/XMODEM of `bytes`: crc16_xmodem("123456789") == 0x31C3.
[[nodiscard]] constexpr std::uint16_t crc16_xmodem(std::string_view bytes) noexcept {
  std::uint32_t crc = 0;
  for (char c : bytes) {
    const auto byte = static_cast<std::uint8_t>(c);
    crc = ((crc << 8) ^ detail::crc16_xmodem_table[((crc >> 8) ^ byte) & 0xffu]) & 0xffffu;
  }
  return static_cast<std::uint16_t>(crc);
}

// The part of `key` Redis Cluster hashes: the hash tag when there is a non-empty one.
[[nodiscard]] constexpr std::string_view redis_hash_tag(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

// The Redis Cluster slot of `key`, in [0, 16384).
[[nodiscard]] constexpr std::uint16_t redis_cluster_slot(std::string_view key) noexcept {
  return static_cast<std::uint16_t>(crc16_xmodem(redis_hash_tag(key)) & 0x3fffu);
}

// A contiguous run of slots and the node serving it, as CLUSTER SLOTS lists them.
template <class Node>
struct slot_range {
  std::uint16_t first;
  std::uint16_t last;  // inclusive
  Node node;
  friend bool operator==(const slot_range&, const slot_range&) = default;
};

// The slot-to-node table of a Redis Cluster client.
//
// Template parameters: Node, a copyable, equality-comparable node id ("host:port").
template <class Node>
class redis_slot_map {
 public:
  using node_type = Node;

  // A map with every slot unassigned.
  redis_slot_map() { owner_.fill(unassigned); }

  // The 16384 slots split into size() contiguous runs of near-equal length, in the order
  // given, as `redis-cli --cluster create` assigns them. Throws on a duplicate node.
  redis_slot_map(std::initializer_list<Node> nodes) : redis_slot_map() {
    std::vector<Node> list(nodes);
    assign_evenly(list);
  }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, Node>
  explicit redis_slot_map(R&& nodes) : redis_slot_map() {
    std::vector<Node> list;
    for (auto&& node : nodes)
      list.push_back(Node(node));
    assign_evenly(list);
  }

  // Serves slots [first, last] from `node` (from CLUSTER SLOTS or a resharding step).
  // Throws scaling::invalid_argument when last >= 16384 or first > last.
  void assign(std::uint16_t first, std::uint16_t last, const Node& node) {
    if (last >= redis_cluster_slots) {
      detail::throw_invalid_argument(component, "last", "must be < 16384", last);
    }
    if (first > last) detail::throw_invalid_argument(component, "first", "must be <= last", first);
    const std::uint16_t index = intern(node);
    std::fill(owner_.begin() + first, owner_.begin() + last + 1, index);
    drop_unused();
  }

  // Applies a "-MOVED <slot> <node>" redirect: that one slot is now served by `node`.
  void on_moved(std::uint16_t slot, const Node& node) { assign(slot, slot, node); }

  // The node serving `key`. Throws scaling::invalid_argument when its slot has no node.
  [[nodiscard]] const Node& node_for(std::string_view key) const {
    return node_for_slot(redis_cluster_slot(key));
  }
  // The node serving `slot`. Throws when the slot is unassigned or out of range.
  [[nodiscard]] const Node& node_for_slot(std::uint16_t slot) const {
    if (slot >= redis_cluster_slots) {
      detail::throw_invalid_argument(component, "slot", "must be < 16384", slot);
    }
    const std::uint16_t index = owner_[slot];
    if (index == unassigned) {
      if (nodes_.empty()) detail::throw_empty(component);
      detail::throw_invalid_argument(component, "slot", "must be assigned to a node", slot);
    }
    return nodes_[index];
  }

  // The runs of slots, in slot order, as CLUSTER SLOTS reports them (unassigned slots omitted).
  [[nodiscard]] std::vector<slot_range<Node>> ranges() const {
    std::vector<slot_range<Node>> out;
    for (std::size_t s = 0; s < redis_cluster_slots; ++s) {
      const std::uint16_t index = owner_[s];
      if (index == unassigned) continue;
      const auto slot = static_cast<std::uint16_t>(s);
      if (!out.empty() && out.back().last + 1 == slot && out.back().node == nodes_[index]) {
        out.back().last = slot;
      } else {
        out.push_back({slot, slot, nodes_[index]});
      }
    }
    return out;
  }

  // Number of slots `node` serves.
  [[nodiscard]] std::size_t slot_count(const Node& node) const {
    const auto it = std::find(nodes_.begin(), nodes_.end(), node);
    if (it == nodes_.end()) return 0;
    const auto index = static_cast<std::uint16_t>(it - nodes_.begin());
    return static_cast<std::size_t>(std::count(owner_.begin(), owner_.end(), index));
  }
  [[nodiscard]] bool contains(const Node& node) const {
    return std::find(nodes_.begin(), nodes_.end(), node) != nodes_.end();
  }
  // Number of nodes serving at least one slot.
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }

 private:
  static constexpr std::string_view component = "scaling::redis_slot_map";
  static constexpr std::uint16_t unassigned = 0xffff;

  void assign_evenly(const std::vector<Node>& list) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (list[i] == list[j]) {
          detail::throw_invalid_argument(component, "node", "must not be a duplicate");
        }
      }
    }
    if (list.size() > redis_cluster_slots) {
      detail::throw_invalid_argument(component, "nodes", "must be at most 16384", list.size());
    }
    const std::size_t n = list.size();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t first = i * redis_cluster_slots / n;
      const std::size_t last = (i + 1) * redis_cluster_slots / n - 1;
      assign(static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last), list[i]);
    }
  }

  std::uint16_t intern(const Node& node) {
    const auto it = std::find(nodes_.begin(), nodes_.end(), node);
    if (it != nodes_.end()) return static_cast<std::uint16_t>(it - nodes_.begin());
    nodes_.push_back(node);
    return static_cast<std::uint16_t>(nodes_.size() - 1);
  }

  // Forgets nodes left without slots, renumbering the rest (at most 16384 nodes can serve).
  void drop_unused() {
    std::vector<std::uint32_t> counts(nodes_.size(), 0);
    for (std::uint16_t index : owner_) {
      if (index != unassigned) ++counts[index];
    }
    if (std::find(counts.begin(), counts.end(), 0U) == counts.end()) return;
    std::vector<std::uint16_t> renumber(nodes_.size(), unassigned);
    std::vector<Node> kept;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (counts[i] == 0) continue;
      renumber[i] = static_cast<std::uint16_t>(kept.size());
      kept.push_back(std::move(nodes_[i]));
    }
    for (std::uint16_t& index : owner_) {
      if (index != unassigned) index = renumber[index];
    }
    nodes_ = std::move(kept);
  }

  std::array<std::uint16_t, redis_cluster_slots> owner_{};
  std::vector<Node> nodes_;
};

}  // namespace scaling
