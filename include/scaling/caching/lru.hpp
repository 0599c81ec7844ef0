// scaling/caching/lru.hpp: least-recently-used eviction (`scaling::lru`), the default.
//
// What it is: exact LRU kept as an access log rather than a linked list. Every access stamps
// the entry with its position in a sequential log and appends the entry there; the victim is
// the log's first record that is still its entry's latest (older records of re-used entries
// are skipped). A hit therefore writes one stamp and appends one record, and never touches a
// neighbour's links; the log is compacted (live records kept in order) when it fills.
// When to pick it: general workloads with strong recency (sessions, user profiles), and
// whenever the behaviour must be easy to predict. Avoid it where large scans or loops pass
// through the cache (it keeps the scan and drops the working set): use `w_tinylfu` or `s3fifo`.
//
//   scaling::cache<std::string, profile, scaling::lru> profiles{10'000};
//   profiles.put("u1", p);
//   auto hit = profiles.get("u1");   // "u1" is now the most recently used
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call: the log
// holds four records per slot (plus a margin) and a compaction keeps one per resident entry,
// so the appends since the last compaction outnumber the records it reads by at least 3:4;
// an eviction only skips records no compaction has read. Memory per slot: 8 bytes of stamp,
// 16 of log and 2 of residency flags.
// Why not a list: a move-to-front writes the entry's and both neighbours' links, three
// scattered cache lines per hit; here a hit writes one stamp and one record at the log's
// end. The stale records are dropped in bulk by a pass from the newest record back that
// reads only the log and a byte per slot (a slot's first record met is its live one), with
// no branch on liveness, then one sequential pass writes the survivors' new stamps.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/caching/detail/index_list.hpp>
#include <scaling/core/config.hpp>

namespace scaling {

struct lru {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}

    void reserve(std::size_t slots) {
      if (slots <= stamp_.size()) return;
      stamp_.resize(slots, no_stamp);
      resident_.resize(slots, 0);
      pending_.resize(slots, 0);
      // Compact into the new room, so the log starts at 0 with every record live.
      compact();
      log_.resize(log_factor * slots + log_margin);
    }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      append(s);  // first: a compaction it runs must not count s, which has no record yet
      resident_[s] = 1;
      ++live_;
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept { append(s); }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {
      append(s);
    }
    void on_remove(detail::slot_index s) noexcept {
      stamp_[s] = no_stamp;  // its records go stale
      resident_[s] = 0;
      --live_;
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) noexcept {
      // Every resident entry has exactly one live record, so the scan stops within the log.
      while (stamp_[log_[head_]] != head_)
        ++head_;
      const detail::slot_index victim = log_[head_++];
      stamp_[victim] = no_stamp;
      resident_[victim] = 0;
      --live_;
      return victim;
    }
    void clear() noexcept {
      for (auto& stamp : stamp_)
        stamp = no_stamp;
      std::fill(resident_.begin(), resident_.end(), std::uint8_t{0});
      head_ = 0;
      tail_ = 0;
      live_ = 0;
    }

    // Diagnostics for tests: resident entries from least to most recently used.
    [[nodiscard]] std::vector<detail::slot_index> order() const {
      std::vector<detail::slot_index> out;
      for (std::size_t i = head_; i < tail_; ++i) {
        if (stamp_[log_[i]] == i) out.push_back(log_[i]);
      }
      return out;
    }

   private:
    static constexpr std::uint64_t no_stamp = ~std::uint64_t{0};
    // Room for this many records per slot: a compaction keeps one per resident entry, so at
    // least three quarters of the log are free after it, and each record it reads was paid
    // for by an access (the factor trades memory for fewer records read per access).
    static constexpr std::size_t log_factor = 4;
    // Keeps a compaction of a nearly empty segment from running every few accesses.
    static constexpr std::size_t log_margin = 64;

    void append(detail::slot_index s) noexcept {
      std::size_t t = tail_;
      if (t == log_.size()) {
        compact();
        t = tail_;
      }
      log_[t] = s;
      tail_ = t + 1;
      stamp_[s] = t;
    }

    // Keeps each resident entry's latest record, in order, at the front of the log.
    // A record is live when it is the newest of a resident slot, so one pass from the newest
    // record back needs no entry's stamp: `pending_` starts as a copy of the resident map and
    // a slot's byte is cleared at its newest record; every earlier record of it is then stale.
    // The pass writes each record below the live ones found so far and moves that boundary
    // only for a live one (no branch on liveness), then the survivors slide to the front and
    // get their new stamps in one sequential pass.
    // Out of line, so the append on every hit stays a few inlined instructions.
#if defined(__GNUC__) || defined(__clang__)
    [[gnu::noinline]]
#endif
    void
    compact() noexcept {
      std::uint8_t* const pending = pending_.data();
      detail::slot_index* const log = log_.data();
      std::copy(resident_.begin(), resident_.end(), pending_.begin());
      std::size_t out = tail_;
      for (std::size_t i = tail_; i > head_;) {
        --i;
        const detail::slot_index s = log[i];
        const std::size_t live = pending[s];
        pending[s] = 0;
        log[out - 1] = s;  // out - 1 >= i: a position already read
        out -= live;
      }
      const std::size_t n = tail_ - out;
      SCALING_ASSERT(n == live_, "lru: every resident entry has one live record");
      std::copy(log + out, log + tail_, log);  // forward copy: the ranges overlap downward
      std::uint64_t* const stamp = stamp_.data();
      for (std::size_t j = 0; j < n; ++j)
        stamp[log[j]] = j;
      head_ = 0;
      tail_ = n;
    }

    std::vector<std::uint64_t> stamp_;     // per slot: the log position of its latest record
    std::vector<detail::slot_index> log_;  // slots in access order, with stale records
    std::vector<std::uint8_t> resident_;   // per slot: 1 while it holds an entry
    std::vector<std::uint8_t> pending_;    // compaction scratch: resident slots not yet met
    std::size_t head_ = 0;                 // first record that may still be live
    std::size_t tail_ = 0;                 // where the next record goes
    std::size_t live_ = 0;                 // resident entries
  };
};

}  // namespace scaling
