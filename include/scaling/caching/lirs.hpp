// scaling/caching/lirs.hpp: the Low Inter-reference Recency Set policy (`scaling::lirs`).
//
// What it is: LIRS ranks entries by their reuse distance (the number of other keys seen between
// two accesses to a key) rather than by recency. Entries with a short reuse distance are LIR and
// own 99% of the capacity; the other 1% holds HIR entries, newcomers and entries whose reuse
// distance is long, in a small FIFO queue Q that supplies every victim. A stack S holds the
// recent history in recency order, including keys evicted from Q (non-resident HIR, hashes
// only): a key re-accessed while still in S has a reuse distance shorter than the oldest LIR
// entry's recency, so it becomes LIR and that oldest LIR entry is demoted to Q. S is pruned
// so that its bottom is always LIR.
// When to pick it: loops and scans larger than the cache, and mixes of them with a hot set
// (database buffer pools, file caches, batch jobs): LIRS keeps a fixed part of a loop where LRU
// and ARC keep nothing. Avoid it where the newest keys are the ones reused (backward scans,
// zigzags): a newcomer only gets the 1% of Q, so LRU wins there (see the hit-ratio table).
// Reference: S. Jiang, X. Zhang, "LIRS: An Efficient Low Inter-reference Recency Set
// Replacement Policy to Improve Buffer Cache Performance", SIGMETRICS 2002 (Section 3; HIR
// share 1% of the cache, at least one entry). The paper's S is unbounded; here S keeps at most
// 16 x capacity non-resident keys (the oldest to become non-resident leaves first), so memory
// stays bounded. On the traces under data/traces that bound changes no hit count against an
// unbounded S, while 10 x does (cs at 100 entries: 5.29% instead of 6.03%), see
// benchmarks/caching/README.md.
//
//   scaling::cache<std::uint64_t, page, scaling::lirs> pages{100'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call (a pruning
// removes each entry it meets from S once after it was pushed). Memory: about 40 bytes per
// resident entry and per non-resident key in S, plus the hash table of non-resident keys: at
// worst (every key of S non-resident) about 16 x 56 bytes per entry of capacity.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct lirs {
  class state {
   public:
    explicit state(std::size_t capacity)
        : capacity_(std::max<std::size_t>(1, capacity)),
          lir_max_(capacity_ - std::max<std::uint64_t>(1, capacity_ / 100)),
          ghost_max_(16 * capacity_) {}

    void reserve(std::size_t slots) { node_of_.resize(slots, no_node); }

    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      if (const auto it = ghosts_.find(hash); it != ghosts_.end()) {
        // A non-resident HIR key still in S: its reuse distance beat the oldest LIR entry's
        // recency, so it returns as LIR at the top of S.
        const node_index n = it->second;
        ghosts_.erase(it);
        ghost_fifo_.remove(fifo_links_, n);
        attach(n, s, w);
        nodes_[n].status = role::lir;
        lir_weight_ += w;
        stack_.move_to_front(stack_links_, n);
        demote_lir_overflow();
        return;
      }
      const node_index n = new_node(hash);
      attach(n, s, w);
      stack_.push_front(stack_links_, n);
      nodes_[n].in_stack = true;
      if (lir_weight_ + w <= lir_max_) {  // filling up: every newcomer is LIR
        nodes_[n].status = role::lir;
        lir_weight_ += w;
      } else {
        nodes_[n].status = role::hir;
        queue_.push_front(queue_links_, n, w);
      }
    }

    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      const node_index n = node_of_[s];
      node& x = nodes_[n];
      if (x.status == role::lir) {
        const bool bottom = stack_.tail == n;
        stack_.move_to_front(stack_links_, n);
        if (bottom) prune();
        return;
      }
      if (x.in_stack) {  // a resident HIR entry re-accessed within S's span: it becomes LIR
        stack_.move_to_front(stack_links_, n);
        queue_.remove(queue_links_, n, x.weight);
        x.status = role::lir;
        lir_weight_ += x.weight;
        demote_lir_overflow();
        return;
      }
      // A resident HIR entry with a long reuse distance: it stays HIR, now the newest of both.
      stack_.push_front(stack_links_, n);
      x.in_stack = true;
      queue_.move_to_front(queue_links_, n);
    }

    void on_miss(std::uint64_t /*hash*/) noexcept {}

    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) {
      node& x = nodes_[node_of_[s]];
      if (x.status == role::lir) {
        lir_weight_ = lir_weight_ - old_w + new_w;
      } else {
        queue_.weight = queue_.weight - old_w + new_w;
      }
      x.weight = new_w;
      on_hit(s, hash);
    }

    void on_remove(detail::slot_index s) {
      const node_index n = node_of_[s];
      node& x = nodes_[n];
      node_of_[s] = no_node;
      if (x.status == role::lir) {
        lir_weight_ -= x.weight;
      } else {
        queue_.remove(queue_links_, n, x.weight);
      }
      const bool in_stack = x.in_stack;
      if (in_stack) stack_.remove(stack_links_, n);
      free_node(n);
      if (in_stack) prune();
    }

    // The oldest resident HIR entry (the head of Q) leaves; if it is still in S it stays
    // there as a non-resident key, so a quick return makes it LIR.
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) {
      if (queue_.empty()) {
        // Only LIR entries are resident (weights, or removals during a fill): the oldest goes.
        const node_index n = stack_.tail;
        const detail::slot_index s = nodes_[n].slot;
        on_remove(s);
        return s;
      }
      const node_index n = queue_.tail;
      node& x = nodes_[n];
      const detail::slot_index s = x.slot;
      queue_.remove(queue_links_, n, x.weight);
      node_of_[s] = no_node;
      x.slot = detail::no_slot;
      if (!x.in_stack) {
        free_node(n);
        return s;
      }
      x.status = role::non_resident;
      ghosts_.emplace(x.hash, n);
      ghost_fifo_.push_front(fifo_links_, n);
      if (ghost_fifo_.count > ghost_max_) {
        const node_index oldest = ghost_fifo_.tail;
        ghost_fifo_.remove(fifo_links_, oldest);
        ghosts_.erase(nodes_[oldest].hash);
        stack_.remove(stack_links_, oldest);
        free_node(oldest);
      }
      return s;
    }

    void clear() noexcept {
      nodes_.clear();
      free_.clear();
      std::fill(node_of_.begin(), node_of_.end(), no_node);
      stack_links_ = {};
      queue_links_ = {};
      fifo_links_ = {};
      stack_.reset();
      queue_.reset();
      ghost_fifo_.reset();
      ghosts_.clear();
      lir_weight_ = 0;
    }

    // Diagnostics for tests: whether a resident slot is LIR, and the sizes of S, Q and the
    // non-resident part of S.
    [[nodiscard]] bool is_lir(detail::slot_index s) const noexcept {
      return nodes_[node_of_[s]].status == role::lir;
    }
    [[nodiscard]] std::size_t stack_size() const noexcept { return stack_.count; }
    [[nodiscard]] std::size_t queue_size() const noexcept { return queue_.count; }
    [[nodiscard]] std::size_t non_resident_size() const noexcept { return ghost_fifo_.count; }

   private:
    using node_index = std::uint32_t;
    static constexpr node_index no_node = ~node_index{0};
    enum class role : std::uint8_t { lir, hir, non_resident };
    struct node {
      std::uint64_t hash = 0;
      detail::slot_index slot = detail::no_slot;
      std::uint32_t weight = 0;
      role status = role::hir;
      bool in_stack = false;
    };

    node_index new_node(std::uint64_t hash) {
      node_index n = 0;
      if (!free_.empty()) {
        n = free_.back();
        free_.pop_back();
      } else {
        n = static_cast<node_index>(nodes_.size());
        nodes_.emplace_back();
        stack_links_.resize(nodes_.size());
        queue_links_.resize(nodes_.size());
        fifo_links_.resize(nodes_.size());
      }
      nodes_[n] = node{};
      nodes_[n].hash = hash;
      return n;
    }
    void free_node(node_index n) {
      nodes_[n].in_stack = false;
      free_.push_back(n);
    }
    void attach(node_index n, detail::slot_index s, std::uint32_t w) noexcept {
      nodes_[n].slot = s;
      nodes_[n].weight = w;
      node_of_[s] = n;
    }

    // While the LIR set is over its share, its oldest entry (the bottom of S) becomes a
    // resident HIR entry at the tail of Q.
    void demote_lir_overflow() {
      while (lir_weight_ > lir_max_ && !stack_.empty()) {
        const node_index b = stack_.tail;
        node& x = nodes_[b];
        stack_.remove(stack_links_, b);
        x.in_stack = false;
        x.status = role::hir;
        lir_weight_ -= x.weight;
        queue_.push_front(queue_links_, b, x.weight);
        prune();
      }
    }

    // Removes HIR entries from the bottom of S until an LIR entry is there: resident ones stay
    // in Q, non-resident ones are forgotten.
    void prune() {
      while (!stack_.empty()) {
        const node_index b = stack_.tail;
        node& x = nodes_[b];
        if (x.status == role::lir) return;
        stack_.remove(stack_links_, b);
        x.in_stack = false;
        if (x.status == role::non_resident) {
          ghosts_.erase(x.hash);
          ghost_fifo_.remove(fifo_links_, b);
          free_node(b);
        }
      }
    }

    std::uint64_t capacity_;
    std::uint64_t lir_max_;  // the LIR share: capacity - max(1, 1% of capacity)
    std::size_t ghost_max_;  // non-resident keys S may hold (16 x capacity)
    std::uint64_t lir_weight_ = 0;
    std::vector<node> nodes_;  // S, Q and non-resident members, by node index
    std::vector<node_index> free_;
    std::vector<node_index> node_of_;  // per slot
    detail::link_table stack_links_;
    detail::link_table queue_links_;
    detail::link_table fifo_links_;
    detail::index_list stack_;       // S: head = most recent
    detail::index_list queue_;       // Q: resident HIR entries, tail = next victim
    detail::index_list ghost_fifo_;  // non-resident keys in S, by the time they left
    boost::unordered_flat_map<std::uint64_t, node_index> ghosts_;
  };
};

}  // namespace scaling
