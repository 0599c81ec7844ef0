// scaling/caching/sieve.hpp: the SIEVE eviction policy (`scaling::sieve`).
//
// What it is: one FIFO queue (newest at the head) with a visited bit per entry and a hand
// that moves from the tail toward the head. To evict, the hand clears visited bits until it
// finds an unvisited entry, evicts it and stays at the next position (wrapping to the tail).
// Unlike CLOCK, survivors are not moved and newcomers enter at the head, so new entries that
// are never reused leave quickly ("lazy promotion, quick demotion").
// When to pick it: web and object caches with skewed popularity; hits only set a bit, so a hit
// is the cheapest of all policies. Weak on loops larger than the cache (use `w_tinylfu`).
// Reference: Zhang et al., "SIEVE is Simpler than LRU", NSDI'24.
//
//   scaling::cache<std::string, blob, scaling::sieve> objects{50'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct sieve {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) {
      links_.resize(slots);
      visited_.resize(slots, 0);
    }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      visited_[s] = 0;
      list_.push_front(links_, s);
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept { visited_[s] = 1; }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {
      on_hit(s, hash);
    }
    void on_remove(detail::slot_index s) noexcept {
      if (hand_ == s) hand_ = links_[s].prev;
      list_.remove(links_, s);
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) noexcept {
      detail::slot_index at = hand_ != detail::no_slot ? hand_ : list_.tail;
      while (visited_[at] != 0) {
        visited_[at] = 0;
        at = links_[at].prev != detail::no_slot ? links_[at].prev : list_.tail;
      }
      hand_ = links_[at].prev;  // may be no_slot: the next sweep restarts at the tail
      list_.remove(links_, at);
      return at;
    }
    void clear() noexcept {
      list_.reset();
      hand_ = detail::no_slot;
    }

    // The slot the hand examines next (no_slot: the tail). For tests and diagnostics.
    [[nodiscard]] detail::slot_index hand() const noexcept { return hand_; }

   private:
    detail::link_table links_;
    detail::index_list list_;
    std::vector<std::uint8_t> visited_;
    detail::slot_index hand_ = detail::no_slot;
  };
};

}  // namespace scaling
