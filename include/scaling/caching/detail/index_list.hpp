// scaling/caching/detail/index_list.hpp: doubly linked lists of slot indices (not for users).
//
// The eviction policies order a cache's entries by slot index rather than by pointer: the
// links of all lists live in one dense array of {prev, next} pairs, so a move-to-front touches
// 8-byte records next to each other instead of scattered heap nodes, and a slot costs 8 bytes
// of links whatever the key and value types are.
//
// Thread safety: none; the owning cache segment serialises access.
// Complexity: every operation O(1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/core/config.hpp>

namespace scaling::detail {

using slot_index = std::uint32_t;
inline constexpr slot_index no_slot = ~slot_index{0};

// The shared link storage: one {prev, next} record per slot.
class link_table {
 public:
  struct links {
    slot_index prev = no_slot;
    slot_index next = no_slot;
  };

  void resize(std::size_t slots) { links_.resize(slots); }
  [[nodiscard]] std::size_t size() const noexcept { return links_.size(); }
  [[nodiscard]] links& operator[](slot_index s) noexcept { return links_[s]; }
  [[nodiscard]] const links& operator[](slot_index s) const noexcept { return links_[s]; }

 private:
  std::vector<links> links_;
};

// A list threaded through a link_table. The head is the newest (most recently inserted or
// used) end, the tail the oldest. `weight` is the sum of the weights its owner adds, so a
// region (window, probation, small FIFO) can be bounded in the cache's own capacity units.
struct index_list {
  slot_index head = no_slot;
  slot_index tail = no_slot;
  std::size_t count = 0;
  std::uint64_t weight = 0;

  [[nodiscard]] bool empty() const noexcept { return count == 0; }

  void push_front(link_table& t, slot_index s, std::uint32_t w = 1) noexcept {
    t[s].prev = no_slot;
    t[s].next = head;
    if (head != no_slot) {
      t[head].prev = s;
    } else {
      tail = s;
    }
    head = s;
    ++count;
    weight += w;
  }

  void push_back(link_table& t, slot_index s, std::uint32_t w = 1) noexcept {
    t[s].next = no_slot;
    t[s].prev = tail;
    if (tail != no_slot) {
      t[tail].next = s;
    } else {
      head = s;
    }
    tail = s;
    ++count;
    weight += w;
  }

  // Precondition: s is in this list.
  void remove(link_table& t, slot_index s, std::uint32_t w = 1) noexcept {
    SCALING_ASSERT(count > 0, "index_list::remove on an empty list");
    const auto [prev, next] = t[s];
    if (prev != no_slot) {
      t[prev].next = next;
    } else {
      head = next;
    }
    if (next != no_slot) {
      t[next].prev = prev;
    } else {
      tail = prev;
    }
    t[s] = {};
    --count;
    weight -= w;
  }

  // Precondition: s is in this list. Cheaper than remove + push_front when s is already first.
  void move_to_front(link_table& t, slot_index s) noexcept {
    if (head == s) return;
    const auto [prev, next] = t[s];
    // s is not the head, so prev exists.
    t[prev].next = next;
    if (next != no_slot) {
      t[next].prev = prev;
    } else {
      tail = prev;
    }
    t[s].prev = no_slot;
    t[s].next = head;
    t[head].prev = s;
    head = s;
  }

  void reset() noexcept { *this = index_list{}; }
};

}  // namespace scaling::detail
