// scaling/caching/clock.hpp: the CLOCK (second-chance) eviction policy (`scaling::clock`).
//
// What it is: entries sit on a ring with a reference bit; a hit sets the bit; the hand sweeps
// the ring, clearing set bits, and evicts the first entry whose bit is clear. New entries go
// just behind the hand (they are the last it will reach) with a clear bit. An approximation of
// LRU whose hits only set a bit.
// When to pick it: a baseline in the replay lab; page-cache-like workloads. Prefer `sieve`,
// which differs in where new entries go and scores better on web traces.
//
//   scaling::cache<std::uint64_t, page, scaling::clock> pages{4096};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised (each bit the hand
// clears was set by one hit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct clock {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) {
      links_.resize(slots);
      referenced_.resize(slots, 0);
    }
    // The ring is the list read tail -> head, then wrapping; the hand points at the next slot
    // to examine. Inserting at the front while the hand sits at the back puts the newcomer
    // behind the hand when the hand is at the tail; in general the newcomer goes just before
    // the hand's position.
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      referenced_[s] = 0;
      if (hand_ == detail::no_slot || hand_ == list_.tail) {
        list_.push_front(links_, s);
      } else {
        // Insert s right after the hand's newer neighbour, i.e. between hand and hand.prev,
        // so the hand reaches it last.
        insert_before_hand(s);
      }
      if (hand_ == detail::no_slot) hand_ = list_.tail;
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept { referenced_[s] = 1; }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {
      on_hit(s, hash);
    }
    void on_remove(detail::slot_index s) noexcept {
      if (hand_ == s) hand_ = advance(s);
      list_.remove(links_, s);
      if (list_.empty()) hand_ = detail::no_slot;
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) noexcept {
      if (hand_ == detail::no_slot) hand_ = list_.tail;
      while (referenced_[hand_] != 0) {
        referenced_[hand_] = 0;
        hand_ = advance(hand_);
      }
      const detail::slot_index victim = hand_;
      on_remove(victim);
      return victim;
    }
    void clear() noexcept {
      list_.reset();
      hand_ = detail::no_slot;
    }

   private:
    // The hand moves from the tail (oldest) towards the head, wrapping back to the tail.
    [[nodiscard]] detail::slot_index advance(detail::slot_index s) const noexcept {
      const detail::slot_index newer = links_[s].prev;
      return newer != detail::no_slot ? newer : list_.tail;
    }
    void insert_before_hand(detail::slot_index s) noexcept {
      // "Before the hand" in sweep order is the hand's older neighbour (next toward tail).
      const detail::slot_index older = links_[hand_].next;
      if (older == detail::no_slot) {
        list_.push_back(links_, s);
        return;
      }
      links_[s].prev = hand_;
      links_[s].next = older;
      links_[hand_].next = s;
      links_[older].prev = s;
      ++list_.count;
      ++list_.weight;
    }

    detail::link_table links_;
    detail::index_list list_;
    std::vector<std::uint8_t> referenced_;
    detail::slot_index hand_ = detail::no_slot;
  };
};

}  // namespace scaling
