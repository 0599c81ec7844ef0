// scaling/caching/detail/read_buffer.hpp: hits recorded in order and applied to a policy in
// batches, with the memory they will touch prefetched first.
//
// What it is: `detail::read_buffer<N>` holds up to N hits (their slots). A policy whose hit
// touches scattered memory (a frequency sketch block, list neighbours) records the hit here and
// applies the batch when the buffer fills, first issuing a prefetch for every recorded hit and
// only then doing the work, so the cache misses of a batch overlap instead of following one
// another. Every other policy call applies the pending hits first, so the policy sees exactly
// the sequence of events it would have seen unbuffered (hit ratios do not change). After
// Caffeine's read buffers (Ben Manes), which also batch the policy work of reads; Caffeine's are
// lossy and shared between threads, this one is exact and lives under the segment's lock.
// Thread safety: none (the owning segment serialises). Complexity: O(1) per record; a drain
// is O(N) and runs once per N hits.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling::detail {

// A hint that the line holding p will be read and written soon (no effect elsewhere).
inline void prefetch_for_write(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#else
  (void)p;
#endif
}

template <std::size_t N>
class read_buffer {
 public:
  static_assert(N >= 1, "read_buffer: N must be >= 1");

  // Records a hit; returns true when the buffer is full (the caller drains it now).
  [[nodiscard]] bool push(slot_index s) noexcept {
    slots_[size_] = s;
    return ++size_ == N;
  }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // Calls prefetch(slot) for every recorded hit, then follow(slot) for every one (where a
  // policy reads what the first pass fetched, its list links, and prefetches what they point
  // to: the neighbours), then apply(slot) for each in the order recorded.
  // Empties the buffer first, so apply may record new hits safely.
  template <class Prefetch, class Follow, class Apply>
  void drain(Prefetch&& prefetch, Follow&& follow, Apply&& apply) {
    const std::size_t n = size_;
    size_ = 0;
    for (std::size_t i = 0; i < n; ++i)
      prefetch(slots_[i]);
    for (std::size_t i = 0; i < n; ++i)
      follow(slots_[i]);
    for (std::size_t i = 0; i < n; ++i)
      apply(slots_[i]);
  }

  void clear() noexcept { size_ = 0; }

 private:
  std::array<slot_index, N> slots_{};
  std::size_t size_ = 0;
};

}  // namespace scaling::detail
