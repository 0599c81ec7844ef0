// scaling/caching/lru.hpp: least-recently-used eviction (`scaling::lru`), the default.
//
// What it is: one recency list; a hit moves the entry to the front, the victim is the back.
// Hits are recorded in a small buffer and applied in batches (exactly, in order, before any
// eviction), which makes a hit cheaper than a list splice without changing a single decision.
// When to pick it: general workloads with strong recency (sessions, user profiles), and
// whenever the behaviour must be easy to predict. Avoid it where large scans or loops pass
// through the cache (it keeps the scan and drops the working set): use `w_tinylfu` or `s3fifo`.
//
//   scaling::cache<std::string, profile, scaling::lru> profiles{10'000};
//   profiles.put("u1", p);
//   auto hit = profiles.get("u1");   // "u1" is now the most recently used
//
// Thread safety: as the cache that holds it. Complexity: O(1) per call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct lru {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) {
      drain();
      links_.resize(slots);
    }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      drain();
      list_.push_front(links_, s);
    }
    // A hit is recorded, not applied: the relinks of a batch of hits run together in drain(),
    // where the processor overlaps their cache misses (and the next hits' prefetches) instead
    // of stalling on each. Every other operation drains first, and the batch is replayed in
    // order, so the recency order any eviction sees is exactly LRU's.
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept {
      pending_[pending_count_++] = s;
      if (pending_count_ == batch) drain();
    }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {
      on_hit(s, hash);
    }
    void on_remove(detail::slot_index s) noexcept {
      drain();
      list_.remove(links_, s);
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) noexcept {
      drain();
      const detail::slot_index victim = list_.tail;
      list_.remove(links_, victim);
      return victim;
    }
    void clear() noexcept {
      pending_count_ = 0;
      list_.reset();
    }

   private:
    static constexpr std::size_t batch = 32;

    void drain() noexcept {
      const std::size_t n = pending_count_;
      pending_count_ = 0;
      // First touch every recorded slot's links, then relink: by the time a slot is moved,
      // its record (and usually its neighbours') is on the way.
      for (std::size_t i = 0; i < n; ++i)
        prefetch(&links_[pending_[i]]);
      for (std::size_t i = 0; i < n; ++i) {
        if (i + 2 < n) {
          const auto& ahead = links_[pending_[i + 2]];
          if (ahead.prev != detail::no_slot) prefetch(&links_[ahead.prev]);
          if (ahead.next != detail::no_slot) prefetch(&links_[ahead.next]);
        }
        list_.move_to_front(links_, pending_[i]);
      }
    }
    static void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
      __builtin_prefetch(p, 1);
#else
      (void)p;
#endif
    }

    detail::link_table links_;
    detail::index_list list_;
    std::array<detail::slot_index, batch> pending_{};
    std::size_t pending_count_ = 0;
  };
};

}  // namespace scaling
