// scaling/caching/lru.hpp: least-recently-used eviction (`scaling::lru`), the default.
//
// What it is: one recency list; a hit moves the entry to the front, the victim is the back.
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

#include <cstddef>
#include <cstdint>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct lru {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) { links_.resize(slots); }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) noexcept {
      list_.push_front(links_, s);
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept {
      list_.move_to_front(links_, s);
    }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) noexcept {
      on_hit(s, hash);
    }
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
