// scaling/caching/fifo.hpp: first-in-first-out eviction (`scaling::fifo`), a baseline.
//
// What it is: entries leave in insertion order; a hit changes nothing, so a hit costs no
// write to shared state. When to pick it: as a baseline in the replay lab, or for data whose
// value decays with age regardless of use. Prefer `sieve` or `s3fifo`, which keep FIFO's cheap
// hits but retain popular entries.
//
//   scaling::cache<int, std::string, scaling::fifo> recent{1000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) per call.
#pragma once

#include <cstddef>
#include <cstdint>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct fifo {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) { links_.resize(slots); }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      list_.push_front(links_, s);
    }
    void on_hit(detail::slot_index /*s*/, std::uint64_t /*hash*/) noexcept {}
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index /*s*/, std::uint64_t /*hash*/, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {}
    void on_remove(detail::slot_index s) noexcept { list_.remove(links_, s); }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) noexcept {
      const detail::slot_index victim = list_.tail;
      list_.remove(links_, victim);
      return victim;
    }
    void clear() noexcept { list_.reset(); }

   private:
    detail::link_table links_;
    detail::index_list list_;
  };
};

}  // namespace scaling
