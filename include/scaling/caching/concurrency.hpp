// scaling/caching/concurrency.hpp: how a cache is shared between threads, as a policy tag.
//
// What it is: the second policy of `scaling::cache`. `single_threaded` has no lock (one thread,
// or your own locking); `mutex_locked` puts one std::mutex around the whole cache (exact
// global policy order, one lock for every thread); `sharded<N>` splits the cache into N
// segments chosen by key hash, each with its own lock and its own policy state over capacity/N
// (N threads rarely meet, but eviction order is per segment, so the hit ratio can differ
// slightly from one segment of the full size).
// When to pick: `single_threaded` per thread or behind an actor; `mutex_locked` for light
// sharing or where exact global order matters; `sharded<N>` (N a power of two >= 1, about 4x
// the threads that hit the cache) for contended caches.
//
//   scaling::cache<int, int, scaling::lru, scaling::sharded<16>> shared_cache{100'000};
//
// Thread safety: the type states it; a locked cache hands out copies and `visit` callbacks,
// never references or iterators. Complexity: shard choice is one multiply and shift.
#pragma once

#include <bit>
#include <cstddef>
#include <mutex>

namespace scaling {

namespace detail {
// A lock that does nothing, for single_threaded segments.
struct null_mutex {
  void lock() noexcept {}
  void unlock() noexcept {}
  bool try_lock() noexcept { return true; }
};
}  // namespace detail

struct single_threaded {
  static constexpr std::size_t segments = 1;
  using mutex_type = detail::null_mutex;
};

struct mutex_locked {
  static constexpr std::size_t segments = 1;
  using mutex_type = std::mutex;
};

// N segments, each with its own mutex. N must be a power of two >= 1 (1, 2, 4, 8, ...):
// segments are picked from the top bits of a mixed hash. sharded<0>, sharded<3> and the like
// fail to compile with a static_assert naming N and that rule (where the cache is declared).
template <std::size_t N>
struct sharded {
  static_assert(N >= 1 && std::has_single_bit(N),
                "scaling::sharded<N>: N, the number of segments, must be a power of two >= 1 "
                "(1, 2, 4, 8, ...)");
  static constexpr std::size_t segments = N;
  using mutex_type = std::mutex;
};

// A concurrency policy tag C:
//   - `C::segments`: the number of independently locked segments, a power of two >= 1;
//   - `C::mutex_type`: the lock of each segment (lock/unlock).
template <class C>
concept concurrency_policy = requires {
  { C::segments } -> std::convertible_to<std::size_t>;
  typename C::mutex_type;
}
&&(C::segments >= 1) && std::has_single_bit(C::segments) && requires(typename C::mutex_type& m) {
  m.lock();
  m.unlock();
};

}  // namespace scaling
