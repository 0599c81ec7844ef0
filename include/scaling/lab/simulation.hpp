// scaling/lab/simulation.hpp: the scaling lab's event loop on virtual time.
//
// What it is: `lab::simulation`, a discrete-event simulator. It holds a time that moves only
// from event to event, a queue of scheduled callbacks, and the run's seeded random numbers.
// Its clock is a `scaling::manual_clock`, so the library's own blocks (a cache's TTL, a work
// queue's visibility timeout, a selector's latency averages) run inside the simulation on the
// same virtual time as the stations that stand in for servers: the blocks really decide,
// only service and network time are simulated.
//
// When to pick it: to see how a composition of blocks behaves at loads and sizes no test
// machine reaches (a day of traffic at 10k requests per second in seconds of CPU), with
// failures injected at chosen instants. Not for measuring the blocks' own CPU cost: that is
// what the benchmarks are for.
//
//   scaling::lab::simulation sim{/*seed=*/42};
//   sim.after(std::chrono::milliseconds{5}, [&] { std::puts("5 ms of virtual time later"); });
//   sim.run_for(std::chrono::seconds{1});      // runs every event up to t = 1 s
//
// Ordering: events run in time order; events at the same instant run in the order they were
// scheduled. With the same seed and the same schedule, a run is the same on every platform.
// Thread safety: none; a simulation and everything in it runs on one thread. Run independent
// simulations on different threads for sweeps.
// Complexity: scheduling and running an event O(log n) for n pending events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "scaling/core/clock.hpp"
#include "scaling/core/error.hpp"
#include "scaling/lab/random.hpp"

namespace scaling::lab {

class simulation {
 public:
  using clock_type = scaling::manual_clock;
  using time_point = clock_type::time_point;
  using duration = std::chrono::nanoseconds;

  // Starts at time 0 with random numbers drawn from `seed`.
  explicit simulation(std::uint64_t seed = 0) : rng_(seed) {}

  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;

  [[nodiscard]] time_point now() const noexcept { return clock_.now(); }
  // The virtual clock. Copies share its time: hand one to any block that takes a clock.
  [[nodiscard]] const clock_type& clock() const noexcept { return clock_; }
  // The run's random numbers (one stream, so the order of draws is part of the schedule).
  [[nodiscard]] lab::rng& rng() noexcept { return rng_; }

  // Schedules `f` to run at `t`.
  // Throws: scaling::invalid_argument if t is before now() (an event cannot run in the past).
  template <class F>
  requires std::invocable<F&>
  void at(time_point t, F&& f) {
    if (t < now())
      detail::throw_invalid_argument("scaling::lab::simulation::at", "t",
                                     "must not be before now() (ns since start)",
                                     t.time_since_epoch().count());
    push(t, std::function<void()>(std::forward<F>(f)));
  }

  // Schedules `f` to run `d` after now().
  // Throws: scaling::invalid_argument if d < 0.
  template <class F>
  requires std::invocable<F&>
  void after(duration d, F&& f) {
    if (d < duration::zero())
      detail::throw_invalid_argument("scaling::lab::simulation::after", "d", "must be >= 0 ns",
                                     d.count());
    push(now() + d, std::function<void()>(std::forward<F>(f)));
  }

  // Runs the next event. Returns false when none is pending.
  bool step() {
    if (heap_.empty()) return false;
    const entry next = pop_heap();
    clock_.set(time_point{duration{next.time}});
    std::function<void()> f = std::move(slots_[next.slot]);
    slots_[next.slot] = nullptr;
    free_.push_back(next.slot);
    ++events_run_;
    f();
    return true;
  }

  // Runs every event due at or before `t`, then moves the time to `t`. stop() ends it early.
  void run_until(time_point t) {
    stopped_ = false;
    while (!stopped_ && !heap_.empty() && heap_.front().time <= t.time_since_epoch().count())
      step();
    if (!stopped_ && now() < t) clock_.set(t);
  }
  void run_for(duration d) { run_until(now() + d); }
  // Runs until no event is pending (or stop()).
  void run() {
    stopped_ = false;
    while (!stopped_ && step()) {
    }
  }
  // Makes the running run_until / run return after the current event.
  void stop() noexcept { stopped_ = true; }

  [[nodiscard]] std::uint64_t events_run() const noexcept { return events_run_; }
  [[nodiscard]] std::size_t pending() const noexcept { return heap_.size(); }

 private:
  struct entry {
    std::int64_t time;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  static bool later(const entry& a, const entry& b) noexcept {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }

  void push(time_point t, std::function<void()> f) {
    std::uint32_t slot;
    if (free_.empty()) {
      if (slots_.size() >= std::numeric_limits<std::uint32_t>::max())
        detail::throw_invalid_argument("scaling::lab::simulation", "pending events",
                                       "must stay below 2^32", slots_.size());
      slots_.push_back(nullptr);
      slot = static_cast<std::uint32_t>(slots_.size() - 1);
    } else {
      slot = free_.back();
    }
    heap_.push_back(
        entry{t.time_since_epoch().count(), next_seq_, slot});  // may throw: nothing changed yet
    slots_[slot] = std::move(f);
    if (!free_.empty() && free_.back() == slot) free_.pop_back();
    ++next_seq_;
    sift_up(heap_.size() - 1);
  }

  entry pop_heap() noexcept {
    const entry top = heap_.front();
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    return top;
  }
  void sift_up(std::size_t i) noexcept {
    const entry moving = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!later(heap_[parent], moving)) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = moving;
  }
  void sift_down(std::size_t i) noexcept {
    const std::size_t n = heap_.size();
    const entry moving = heap_[i];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && later(heap_[child], heap_[child + 1])) ++child;
      if (!later(moving, heap_[child])) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = moving;
  }

  clock_type clock_;
  lab::rng rng_;
  std::vector<entry> heap_;
  std::vector<std::function<void()>> slots_;
  std::vector<std::uint32_t> free_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t events_run_ = 0;
  bool stopped_ = false;
};

}  // namespace scaling::lab
