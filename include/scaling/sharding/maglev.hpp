// scaling/sharding/maglev.hpp: Google's Maglev consistent hashing (a prime-sized lookup table).
//
// What it is: `scaling::maglev<Node, Hash>` fills a table of M slots (M prime, default 65537)
// by letting each node, in turn, claim the next free slot of its own permutation of the table;
// a key is served by table[hash(key) % M]. Every node gets M/N slots give or take one, and a
// lookup is one hash, one multiply-based modulo and one load.
//
// When to pick it: the hot path of a load balancer or cache client where the lookup must cost a
// few nanoseconds and balance must be near perfect. The price: when a node joins or leaves,
// about twice the minimal 1/N of the keys move (Envoy measures ~2x), and a rebuild is O(M).
// Pick hash_ring when minimal movement or replica lists matter more.
//
//   scaling::maglev<std::string> table{{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}};
//   const std::string& backend = table.node_for("session:9f2c");
//   table.remove("10.0.0.2:80");                   // rebuilds; ~2/3 of its keys' peers stay put
//
// Placement (Eisenbud et al., "Maglev", NSDI'16, with Envoy's permutation, so Envoy's vectors
// hold with Hash = scaling::xxh64_hash): nodes are sorted by name (a string node's characters;
// other nodes' 8-byte little-endian Hash value); a node's offset is XXH64(name, 0) % M, its
// skip XXH64(name, 1) % (M - 1) + 1, and its j-th preference (offset + j * skip) % M. Nodes
// take turns in name order. The key's position is Hash(key) and its slot position % M.
//
// Thread safety: const members may run concurrently; add/remove need exclusive access.
// Complexity: node_for O(1) (~3 ns + the key hash); add/remove O(M log M) worst case.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/detail/node_list.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

struct maglev_config {
  // Table size: a prime, at least the number of nodes; ~100x the node count keeps every node's
  // share within 1% of the mean (65537 serves up to ~650 nodes that well).
  std::uint32_t table_size = 65537;
};

template <class Node, class Hash = scaling::hash<>>
requires shard_node<Node, Hash>
class maglev : detail::node_list<Node, Hash> {
  using nodes_base = detail::node_list<Node, Hash>;

 public:
  using node_type = Node;
  using hasher = Hash;

  // An empty table. Throws scaling::invalid_argument when table_size is not a prime >= 2.
  explicit maglev(maglev_config config = {}, Hash hash = Hash{})
      : nodes_base(std::move(hash)), config_(config) {
    if (!is_prime(config_.table_size)) {
      detail::throw_invalid_argument(component, "table_size", "must be a prime >= 2",
                                     config_.table_size);
    }
    modulo_ = detail::fast_modulo{config_.table_size};
  }

  // The elements must convert implicitly to Node (a braced element is never a node, so
  // `maglev table{{.table_size = 7}}` is the config constructor on every compiler).
  maglev(std::initializer_list<detail::node_initializer<Node>> nodes, maglev_config config = {},
         Hash hash = Hash{})
      : maglev(detail::nodes_of(nodes), config, std::move(hash)) {}

  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, Node>
  explicit maglev(R&& nodes, maglev_config config = {}, Hash hash = Hash{})
      : maglev(config, std::move(hash)) {
    for (auto&& node : nodes) {
      const Node copy(node);
      const std::size_t at = insertion_point(copy);
      nodes_.insert(nodes_.begin() + static_cast<std::ptrdiff_t>(at), copy);
      names_.insert(names_.begin() + static_cast<std::ptrdiff_t>(at),
                    detail::node_name(copy, hash_));
    }
    table_ = build_table(names_);  // one build for the whole list
  }

  // Adds `node` and rebuilds the table. Throws scaling::invalid_argument for a duplicate or
  // when there would be more nodes than table slots; whatever Node's copy or move, Hash or an
  // allocation throws. Strong guarantee: the new names and table are built aside, the node's
  // copy into the member list is the last step that can throw.
  void add(const Node& node) {
    const std::size_t at = insertion_point(node);
    std::vector<std::string> names;
    names.reserve(names_.size() + 1);
    names = names_;
    names.insert(names.begin() + static_cast<std::ptrdiff_t>(at), detail::node_name(node, hash_));
    std::vector<std::uint32_t> table = build_table(names);
    detail::insert_strong(nodes_, at, node);
    names_.swap(names);
    table_.swap(table);
  }

  // Removes `node` and rebuilds. Throws scaling::invalid_argument for a non-member; whatever
  // Node's copy or move or an allocation throws. Strong guarantee.
  void remove(const Node& node) {
    const std::size_t at = index_to_remove(component, node);
    std::vector<std::string> names = names_;
    names.erase(names.begin() + static_cast<std::ptrdiff_t>(at));
    std::vector<std::uint32_t> table = build_table(names);
    detail::erase_strong(nodes_, at);
    names_.swap(names);
    table_.swap(table);
  }

  template <class Key>
  requires hasher_for<Hash, Key>
  [[nodiscard]] const Node& node_for(const Key& key) const { return node_for_hash(key_hash(key)); }

  [[nodiscard]] const Node& node_for_hash(std::uint64_t h) const {
    if (nodes_.empty()) detail::throw_empty(component);
    return nodes_[table_[modulo_(h)]];
  }

  // key_hash(key): the key's position; its slot is the position % table_size().
  using nodes_base::key_hash;

  // Calls visit(node_index) for the table slots from the key's slot onwards until visit
  // returns true or every slot was visited once: the fallback order for bounded loads.
  template <class Visitor>
  void visit_candidates(std::uint64_t h, Visitor&& visit) const {
    if (nodes_.empty()) return;
    detail::visit_circle(table_, modulo_(h), visit);
  }

  // The table: entry s is the index (into nodes(), i.e. name order) of slot s's node.
  [[nodiscard]] const std::vector<std::uint32_t>& table() const noexcept { return table_; }
  // The members, sorted by name.
  [[nodiscard]] const std::vector<Node>& nodes() const noexcept { return nodes_; }
  // node_at(index); index_of(node): a member's index, or size(); contains(node); size(); empty().
  using nodes_base::node_at, nodes_base::index_of, nodes_base::contains, nodes_base::size,
      nodes_base::empty;
  [[nodiscard]] std::uint32_t table_size() const noexcept { return config_.table_size; }

 private:
  using nodes_base::hash_, nodes_base::nodes_, nodes_base::check_not_member,
      nodes_base::index_to_remove;

  static constexpr std::string_view component = "scaling::maglev";

  [[nodiscard]] static constexpr bool is_prime(std::uint32_t n) noexcept {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (std::uint64_t d = 3; d * d <= n; d += 2) {
      if (n % d == 0) return false;
    }
    return true;
  }

  // Where `node` goes in the member list, which is kept sorted by name so that the table
  // depends only on the member set, not on the order of add() calls. Throws
  // scaling::invalid_argument for a duplicate or when there would be more nodes than slots.
  [[nodiscard]] std::size_t insertion_point(const Node& node) const {
    check_not_member(component, node);
    if (nodes_.size() + 1 > config_.table_size) {
      detail::throw_invalid_argument(component, "nodes", "must not outnumber table_size",
                                     nodes_.size() + 1);
    }
    const std::string name = detail::node_name(node, hash_);
    return static_cast<std::size_t>(std::lower_bound(names_.begin(), names_.end(), name) -
                                    names_.begin());
  }

  // The lookup table of the members named `names` (sorted), in Maglev's fill order.
  [[nodiscard]] std::vector<std::uint32_t> build_table(
      const std::vector<std::string>& names) const {
    const std::uint32_t m = config_.table_size;
    const std::size_t n = names.size();
    std::vector<std::uint32_t> table(m, unfilled);
    if (n > 0) {
      std::vector<std::uint32_t> next(n);  // each node's current preference, as a slot
      std::vector<std::uint32_t> skip(n);
      for (std::size_t i = 0; i < n; ++i) {
        const std::string& name = names[i];
        next[i] = static_cast<std::uint32_t>(XXH64(name.data(), name.size(), 0) % m);
        skip[i] =
            m == 1 ? 0
                   : static_cast<std::uint32_t>(XXH64(name.data(), name.size(), 1) % (m - 1) + 1);
      }
      std::uint32_t filled = 0;
      while (filled < m) {
        for (std::size_t i = 0; i < n && filled < m; ++i) {
          std::uint32_t slot = next[i];
          while (table[slot] != unfilled)
            slot = advance(slot, skip[i], m);
          table[slot] = static_cast<std::uint32_t>(i);
          next[i] = advance(slot, skip[i], m);
          ++filled;
        }
      }
    }
    return table;
  }

  [[nodiscard]] static std::uint32_t advance(std::uint32_t slot, std::uint32_t skip,
                                             std::uint32_t m) noexcept {
    const std::uint64_t sum = std::uint64_t{slot} + skip;
    return static_cast<std::uint32_t>(sum >= m ? sum - m : sum);
  }

  static constexpr std::uint32_t unfilled = 0xffffffffu;

  maglev_config config_;
  detail::fast_modulo modulo_;
  std::vector<std::string> names_;
  std::vector<std::uint32_t> table_;
};

}  // namespace scaling
