// scaling/lab/arrivals.hpp: open-loop load, a Poisson stream of arrivals on virtual time.
//
// What it is: `lab::poisson_arrivals` calls its callback at the instants of a Poisson process
// of rate `rate` per second of virtual time (exponential gaps, drawn from the simulation's
// random numbers): the M in M/M/c, and the load of many independent users none of whom waits
// for the others. The rate can change at any instant (a ramp, a spike) with set_rate().
//
// When to pick it: for open-loop load, where arrivals do not slow down when the system does
// (the honest way to find a saturation point). For users who wait for their answer before
// the next request, schedule the next request from the completion instead (closed loop).
//
//   scaling::lab::simulation sim{7};
//   scaling::lab::poisson_arrivals load{sim, 1000.0, [&] { app.submit(on_done); }};
//   load.start();
//   sim.run_for(std::chrono::seconds{10});       // about 10,000 arrivals
//
// Lifetime: stop() or destruction cancels the pending arrival; the simulation may outlive
// this object. Thread safety: none (it lives in one simulation).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "scaling/core/error.hpp"
#include "scaling/lab/simulation.hpp"

namespace scaling::lab {

class poisson_arrivals {
 public:
  // Throws: scaling::invalid_argument if rate is not a finite number >= 0, or on_arrival is empty.
  poisson_arrivals(simulation& sim, double rate, std::function<void()> on_arrival)
      : state_(std::make_shared<state>(state{&sim, rate, std::move(on_arrival), 0, 0, false})) {
    check_rate(rate);
    if (!state_->on_arrival)
      detail::throw_invalid_argument("scaling::lab::poisson_arrivals", "on_arrival",
                                     "must not be empty");
  }
  ~poisson_arrivals() { stop(); }
  poisson_arrivals(const poisson_arrivals&) = delete;
  poisson_arrivals& operator=(const poisson_arrivals&) = delete;

  // Starts the stream from now (idempotent).
  void start() {
    if (state_->running) return;
    state_->running = true;
    schedule(state_);
  }
  // Stops the stream: the pending arrival will not fire. start() resumes it.
  void stop() noexcept {
    state_->running = false;
    ++state_->generation;
  }
  // The rate from now on, per second; 0 pauses the stream until a later set_rate.
  // Throws: scaling::invalid_argument if rate is not a finite number >= 0.
  void set_rate(double rate) {
    check_rate(rate);
    state_->rate = rate;
    if (state_->running) {
      // Redraw the next gap at the new rate (memorylessness makes this exact).
      ++state_->generation;
      schedule(state_);
    }
  }
  [[nodiscard]] double rate() const noexcept { return state_->rate; }
  [[nodiscard]] std::uint64_t generated() const noexcept { return state_->generated; }

 private:
  struct state {
    simulation* sim;
    double rate;
    std::function<void()> on_arrival;
    std::uint64_t generation;
    std::uint64_t generated;
    bool running;
  };

  static void check_rate(double rate) {
    if (!(rate >= 0.0) || !std::isfinite(rate))
      detail::throw_invalid_argument("scaling::lab::poisson_arrivals", "rate",
                                     "must be a finite number >= 0 (per second)", rate);
  }

  static void schedule(const std::shared_ptr<state>& s) {
    if (s->rate <= 0.0) return;
    const double gap_ns = s->sim->rng().exponential(1e9 / s->rate);
    const std::uint64_t generation = s->generation;
    std::weak_ptr<state> weak = s;
    s->sim->after(std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(gap_ns))},
                  [weak, generation] {
                    const auto live = weak.lock();
                    if (!live || !live->running || live->generation != generation) return;
                    ++live->generated;
                    schedule(live);  // the next gap is drawn before this arrival's work
                    live->on_arrival();
                  });
  }

  std::shared_ptr<state> state_;
};

}  // namespace scaling::lab
