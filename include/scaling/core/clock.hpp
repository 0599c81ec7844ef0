// scaling/core/clock.hpp: the clock concept, and a manual clock for deterministic tests.
//
// What it is: every time-dependent component (TTL caches, visibility timeouts, outlier
// ejection, id generators) takes a clock *object* satisfying `scaling::clock_source`, so a test
// can drive time by hand. `std::chrono::steady_clock` and `system_clock` satisfy it as they
// are; `scaling::manual_clock` is a clock whose time only moves when told to.
//
// When to pick manual_clock: tests, simulations and examples that must be reproducible.
// Copies of a manual_clock share one time, so the copy held by a component sees every
// `advance` made through the test's copy.
//
//   scaling::manual_clock clock;                 // starts at time_point{} (0 ns)
//   auto start = clock.now();
//   clock.advance(std::chrono::seconds{30});
//   assert(clock.now() - start == std::chrono::seconds{30});
//
// Thread safety: now(), advance() and set() may be called concurrently from any thread; the
// time is one atomic 64-bit count of nanoseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>

namespace scaling {

// A clock object a component can hold and ask for the time:
//   - names its time_point and duration types, as std::chrono clocks do;
//   - `now()` callable on a const object (static member functions qualify, so
//     std::chrono::steady_clock works unchanged);
//   - copyable, so components can keep their own copy.
template <class C>
concept clock_source = std::copy_constructible<C> && requires(const C& clock) {
  typename C::duration;
  typename C::time_point;
  { clock.now() } -> std::same_as<typename C::time_point>;
};

// A clock that stands still until advanced. Copies share the same time.
class manual_clock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<manual_clock, duration>;
  // Time never moves on its own, and set() may move it backwards to test clock faults.
  static constexpr bool is_steady = false;

  // Starts at `start` (default: the epoch, time_point{}).
  explicit manual_clock(time_point start = time_point{})
      : ticks_(std::make_shared<std::atomic<rep>>(start.time_since_epoch().count())) {}

  [[nodiscard]] time_point now() const noexcept {
    return time_point{duration{ticks_->load(std::memory_order_acquire)}};
  }

  // Moves time forward by `by` (a negative duration moves it back) and returns the new time.
  time_point advance(duration by) noexcept {
    const rep after = ticks_->fetch_add(by.count(), std::memory_order_acq_rel) + by.count();
    return time_point{duration{after}};
  }

  // Sets the time, possibly backwards (to test how a component handles a clock fault).
  void set(time_point to) noexcept {
    ticks_->store(to.time_since_epoch().count(), std::memory_order_release);
  }

 private:
  std::shared_ptr<std::atomic<rep>> ticks_;
};

static_assert(clock_source<manual_clock>);
static_assert(clock_source<std::chrono::steady_clock>);
static_assert(clock_source<std::chrono::system_clock>);

}  // namespace scaling
