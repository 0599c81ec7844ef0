// scaling/sharding/bounded_load.hpp: consistent hashing with bounded loads (hot-key protection).
//
// What it is: `scaling::bounded_load<Strategy>` wraps a ring or a Maglev table and keeps a load
// count per node (open sessions, in-flight requests, cached objects). A new assignment goes to
// the key's usual node unless that node is full, in which case it walks on, in the strategy's
// fallback order, to the first node with room. A node is full at
// ceil(c x (m + 1) / n) assignments, where m is the current total and c the balance factor, so
// after every assignment no node carries more than ceil(c x m / n): a hot key or an unlucky arc
// cannot push one node past c times the mean.
//
// When to pick it: sticky assignment of load that comes and goes (connections, sessions, cache
// fills) where one node melting matters more than perfect stickiness. HAProxy's
// `hash-balance-factor` and Envoy's `hash_balance_factor` are this algorithm; c = 1.25
// (HAProxy's 125) is the usual compromise. Keys moved off their home node stay consistent:
// they follow the same fallback order.
//
//   scaling::bounded_load<scaling::hash_ring<std::string>> lb{
//       scaling::hash_ring<std::string>{{"a", "b", "c"}}, {.balance_factor = 1.25}};
//   const std::string& node = lb.assign("session:1");   // counts one unit on that node
//   lb.release(node);                                    // when the session ends
//
// Reference: Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA'18.
// The bound holds after every assign(); release() can leave a node above the (smaller) new
// bound until its own assignments end, as in the paper's insert-only analysis and in HAProxy.
//
// Thread safety: none (single_threaded); guard it with the lock that already orders your
// assignments. Complexity: assign O(1) expected for c >= 1.25 (a walk of a few candidates),
// O(points) worst case; release O(N) to find the node.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/strategy.hpp>

namespace scaling {

struct bounded_load_config {
  // c in the bound ceil(c x mean); must be > 1 (c = 1 would leave no room to place a key).
  double balance_factor = 1.25;
};

// Template parameters: Strategy, a candidate_walk (hash_ring or maglev).
template <candidate_walk Strategy>
class bounded_load {
 public:
  using node_type = typename Strategy::node_type;
  using strategy_type = Strategy;

  // Throws scaling::invalid_argument when balance_factor is not finite and > 1.
  explicit bounded_load(Strategy strategy, bounded_load_config config = {})
      : strategy_(std::move(strategy)), config_(config), loads_(strategy_.size(), 0) {
    if (!(config_.balance_factor > 1.0) || !std::isfinite(config_.balance_factor)) {
      detail::throw_invalid_argument(component, "balance_factor", "must be finite and > 1",
                                     config_.balance_factor);
    }
  }

  // Assigns one unit of load for `key` and returns the node that takes it: the first node, in
  // the strategy's order for the key, whose load is below capacity().
  // Throws scaling::invalid_argument when there are no nodes.
  template <class Key>
  const node_type& assign(const Key& key) {
    const std::size_t chosen = pick(strategy_.key_hash(key));
    ++loads_[chosen];
    ++total_;
    return strategy_.node_at(chosen);
  }

  // The node assign(key) would choose now, without counting anything.
  template <class Key>
  [[nodiscard]] const node_type& node_for(const Key& key) const {
    return strategy_.node_at(pick(strategy_.key_hash(key)));
  }

  // Ends one unit of load on `node`. Throws scaling::invalid_argument when the node is not a
  // member or carries no load.
  void release(const node_type& node) {
    const std::size_t i = strategy_.index_of(node);
    if (i == loads_.size()) {
      detail::throw_invalid_argument(component, "node", "must be a member to release load");
    }
    if (loads_[i] == 0) {
      detail::throw_invalid_argument(component, "node", "must carry load to release it");
    }
    --loads_[i];
    --total_;
  }

  // The most load any node may hold after the next assignment: ceil(c x (total + 1) / n).
  [[nodiscard]] std::size_t capacity() const noexcept {
    if (loads_.empty()) return 0;
    const double bound = config_.balance_factor * static_cast<double>(total_ + 1) /
                         static_cast<double>(loads_.size());
    return static_cast<std::size_t>(std::ceil(bound));
  }

  [[nodiscard]] std::size_t load_of(const node_type& node) const {
    const std::size_t i = strategy_.index_of(node);
    return i == loads_.size() ? 0 : loads_[i];
  }
  // Loads by node index (the strategy's node_at order).
  [[nodiscard]] const std::vector<std::size_t>& loads() const noexcept { return loads_; }
  [[nodiscard]] std::size_t total_load() const noexcept { return total_; }
  [[nodiscard]] const Strategy& strategy() const noexcept { return strategy_; }
  [[nodiscard]] const bounded_load_config& config() const noexcept { return config_; }
  [[nodiscard]] bool contains(const node_type& node) const { return strategy_.contains(node); }
  [[nodiscard]] std::size_t size() const noexcept { return strategy_.size(); }
  [[nodiscard]] bool empty() const noexcept { return strategy_.empty(); }

  // Adds a node (no load) to the strategy; other nodes keep their loads. Strong guarantee when
  // the strategy's add gives it (every strategy of this library does).
  void add(const node_type& node) requires resizable_shard_strategy<Strategy> {
    change([&] { strategy_.add(node); });
  }
  // Removes a node; its load is dropped (its assignments must be re-assigned by the caller).
  // Strong guarantee when the strategy's remove gives it.
  void remove(const node_type& node) requires resizable_shard_strategy<Strategy> {
    change([&] { strategy_.remove(node); });
  }

 private:
  static constexpr std::string_view component = "scaling::bounded_load";

  [[nodiscard]] std::size_t pick(std::uint64_t h) const {
    if (loads_.empty()) detail::throw_empty(component);
    const std::size_t cap = capacity();
    std::size_t chosen = loads_.size();
    strategy_.visit_candidates(h, [&](std::size_t index) {
      if (loads_[index] < cap) {
        chosen = index;
        return true;
      }
      return false;
    });
    if (chosen == loads_.size()) {
      // Unreachable while every node appears in the walk (some node is always below the cap);
      // kept so a strategy with a partial walk still gets a valid answer: the least loaded.
      chosen = 0;
      for (std::size_t i = 1; i < loads_.size(); ++i) {
        if (loads_[i] < loads_[chosen]) chosen = i;
      }
    }
    return chosen;
  }

  template <class Change>
  void change(Change&& apply) {
    std::vector<std::pair<node_type, std::size_t>> before;
    before.reserve(loads_.size());
    for (std::size_t i = 0; i < loads_.size(); ++i) {
      before.emplace_back(strategy_.node_at(i), loads_[i]);
    }
    // Allocated before the strategy changes (one node more at most), so nothing after apply()
    // can fail and leave the loads out of step with the strategy.
    std::vector<std::size_t> loads(strategy_.size() + 1, 0);
    apply();
    loads.resize(strategy_.size());  // no allocation: never grows
    std::size_t total = 0;
    for (const auto& [node, load] : before) {
      const std::size_t i = strategy_.index_of(node);
      if (i == loads.size()) continue;
      loads[i] = load;
      total += load;
    }
    loads_.swap(loads);
    total_ = total;
  }

  Strategy strategy_;
  bounded_load_config config_;
  std::vector<std::size_t> loads_;
  std::size_t total_ = 0;
};

}  // namespace scaling
