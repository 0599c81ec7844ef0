// scaling/core/stats.hpp: counters for the statistics every component reports.
//
// What it is: `scaling::relaxed_counter`, a monotonically increasing 64-bit event counter
// that many threads may bump without a lock, and `scaling::ratio`, the safe division used for
// hit ratios and similar figures. Components keep counters inside; `stats()` returns plain
// snapshots (structs of std::uint64_t), never the counters themselves.
//
// When to pick it: for counts read rarely and written often (hits, misses, redeliveries). Not
// for values that must be read consistently with other state: those are read under the
// component's own lock.
//
//   scaling::relaxed_counter hits;
//   hits.add();                         // from any thread
//   std::uint64_t seen = hits.load();   // a recent value, not a synchronisation point
//
// Thread safety: add() and load() may run concurrently (relaxed atomics: counts are exact,
// their order relative to other memory operations is not). Copying takes a snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace scaling {

class relaxed_counter {
 public:
  constexpr relaxed_counter() noexcept = default;
  relaxed_counter(const relaxed_counter& other) noexcept : value_(other.load()) {}
  relaxed_counter& operator=(const relaxed_counter& other) noexcept {
    value_.store(other.load(), std::memory_order_relaxed);
    return *this;
  }

  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void reset() noexcept { value_.store(0, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t load() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// part / whole, or 0 when whole is 0 (a cache that saw no request has a hit ratio of 0).
[[nodiscard]] constexpr double ratio(std::uint64_t part, std::uint64_t whole) noexcept {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace scaling
