// scaling/architecture/scenario.hpp: drive a composed system with a workload on virtual time,
// and read off what a capacity planner asks for.
//
// What it is: `workload` (how many objects, how skewed their popularity, the share of reads),
// `run_open_loop` (Poisson arrivals at a rate, a warm-up, a measured window: throughput,
// latency percentiles, failures, every station's utilization and the busiest one), and the
// `lab_system` concept that a stage model satisfies to be driven: request(op, key, done).
//
// When to pick it: to measure a stage at one load, or to sweep loads and find where it
// saturates. The figures come from the blocks doing the work on virtual time.
//
//   scaling::lab::simulation sim{1};
//   stage2_system system{sim, {}};
//   auto r = scaling::architecture::run_open_loop(sim, system, {.objects = 1'000'000}, 5'000.0,
//                                                 10s, 60s);
//   // r.throughput, r.latency.percentile(0.99), r.bottleneck
//
//   // The highest load within the SLO, to 2%: grow 1.25x until it breaks, then bisect.
//   auto s = scaling::architecture::find_saturation(
//       [&](double rate) { scaling::lab::simulation sim{1}; stage2_system sys{sim, {}};
//                          return scaling::architecture::run_open_loop(sim, sys, {}, rate, 5s,
//                          20s); },
//       1'000.0);
//   // s.rate, s.bottleneck (the station that broke it)
//
// Thread safety: none (one simulation, one thread).
#pragma once

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/lab/arrivals.hpp"
#include "scaling/lab/histogram.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/lab/station.hpp"
#include "scaling/lab/workload.hpp"

namespace scaling::architecture {

enum class operation : std::uint8_t { read, write };

struct workload {
  std::uint64_t objects = 1'000'000;  // distinct keys
  double zipf_s = 0.99;               // popularity skew (0 < s)
  double read_fraction = 0.95;        // the rest are writes
};

// A system the lab can drive: request(op, key, done) serves one request and calls done(ok)
// exactly once; stations() lists every station whose utilization should be reported.
template <class S>
concept lab_system = requires(S& s, operation op, std::uint64_t key,
                              std::function<void(bool)> done) {
  s.request(op, key, std::move(done));
  { s.stations() } -> std::convertible_to<std::vector<lab::station*>>;
};

struct run_result {
  double offered_rps = 0;
  double throughput_rps = 0;   // successful answers given inside the window, per second
  std::uint64_t requests = 0;  // issued inside the window
  std::uint64_t failed = 0;    // of those: answered with a failure
  lab::histogram latency;      // of those answered successfully, late answers included
  std::vector<lab::station_stats> stations;
  std::string bottleneck;  // the station with the highest utilization
  double bottleneck_utilization = 0;
};

// Offers `rate` requests per second of `load` for `warmup` (not measured) and then `window`,
// then stops the arrivals and runs the simulation until no event is left (every queued
// request answered), and reports the window. A system with background work of its own
// (queue consumers) offers quiesce(), called first, so that the drain ends.
// Throws: scaling::invalid_argument if rate <= 0 or window <= 0.
template <lab_system System>
run_result run_open_loop(lab::simulation& sim, System& system, const workload& load, double rate,
                         std::chrono::nanoseconds warmup, std::chrono::nanoseconds window) {
  if (!(rate > 0))
    scaling::detail::throw_invalid_argument("scaling::architecture::run_open_loop", "rate",
                                            "must be > 0 per second", rate);
  if (window <= std::chrono::nanoseconds::zero())
    scaling::detail::throw_invalid_argument("scaling::architecture::run_open_loop", "window",
                                            "must be > 0 ns", window.count());
  const lab::zipf_distribution popularity{load.objects, load.zipf_s};
  run_result result;
  result.offered_rps = rate;
  bool measuring = false;
  std::uint64_t answered = 0;         // issued in the window, answered successfully (any time)
  std::uint64_t answered_inside = 0;  // ... before the window closed
  lab::poisson_arrivals arrivals{sim, rate, [&] {
                                   const operation op = sim.rng().uniform01() < load.read_fraction
                                                            ? operation::read
                                                            : operation::write;
                                   const std::uint64_t key = popularity(sim.rng()) - 1;
                                   const auto start = sim.now();
                                   const bool counted = measuring;
                                   if (counted) ++result.requests;
                                   system.request(op, key, [&, start, counted](bool ok) {
                                     if (!counted) return;
                                     if (ok) {
                                       ++answered;
                                       if (measuring) ++answered_inside;
                                       result.latency.record(sim.now() - start);
                                     }
                                   });
                                 }};
  arrivals.start();
  sim.run_for(warmup);
  for (lab::station* s : system.stations())
    s->reset_stats();
  measuring = true;
  sim.run_for(window);
  measuring = false;
  for (lab::station* s : system.stations())
    result.stations.push_back(s->stats());
  arrivals.stop();
  if constexpr (requires { system.quiesce(); }) system.quiesce();  // background work winds down
  sim.run();  // drain: every request in flight or queued gets its answer (late ones count)
  result.failed = result.requests - answered;
  result.throughput_rps =
      static_cast<double>(answered_inside) / std::chrono::duration<double>(window).count();
  for (const auto& s : result.stations) {
    if (s.utilization >= result.bottleneck_utilization) {
      result.bottleneck_utilization = s.utilization;
      result.bottleneck = s.name;
    }
  }
  return result;
}

// What a stage must keep to count as serving its load: no failed request, p99 within the
// objective, and no station at or past `max_utilization` (a station there has no headroom: its
// queue grows with any burst).
struct slo {
  std::chrono::nanoseconds p99 = std::chrono::milliseconds{100};
  double max_utilization = 0.95;
};

[[nodiscard]] inline bool within(const run_result& r, const slo& objective) {
  return r.failed == 0 && r.latency.percentile(0.99) <= objective.p99 &&
         r.bottleneck_utilization < objective.max_utilization;
}

struct saturation_search {
  double step = 1.25;       // growth factor while looking for the first failing load (> 1)
  double precision = 0.02;  // then bisect until the bracket is this narrow, relative (> 0)
  double max_rate = 1e8;    // give up growing past this load
};

struct saturation {
  double rate = 0;           // the highest offered load found within the SLO (0: none)
  double failing_rate = 0;   // the lowest found outside it (0: none up to max_rate)
  std::string bottleneck;    // the busiest station of the run at failing_rate
  run_result at_saturation;  // the run at `rate`
  std::size_t runs = 0;
};

// The saturation throughput of a stage: the highest offered load within `objective`.
// run(rate) must build a fresh system and simulation and return its run_open_loop result. From
// `start`, the load grows by `search.step` until a run breaks the objective, then the bracket
// [last within, first outside] is bisected (geometric midpoint) to `search.precision`. A run
// that breaks the objective at `start` returns rate 0 and that run's bottleneck.
// Throws: scaling::invalid_argument if start <= 0, step <= 1 or precision <= 0.
template <class Run>
requires std::invocable<Run&, double> &&
    std::convertible_to<std::invoke_result_t<Run&, double>, run_result>
        saturation find_saturation(Run&& run, double start, const slo& objective = {},
                                   const saturation_search& search = {}) {
  constexpr auto who = "scaling::architecture::find_saturation";
  if (!(start > 0) || !std::isfinite(start))
    scaling::detail::throw_invalid_argument(who, "start", "must be a finite load > 0", start);
  if (!(search.step > 1) || !std::isfinite(search.step))
    scaling::detail::throw_invalid_argument(who, "search.step", "must be > 1", search.step);
  if (!(search.precision > 0))
    scaling::detail::throw_invalid_argument(who, "search.precision", "must be > 0",
                                            search.precision);
  saturation s;
  auto attempt = [&](double rate) {
    run_result r = run(rate);
    ++s.runs;
    const bool ok = within(r, objective);
    if (ok) {
      s.rate = rate;
      s.at_saturation = std::move(r);
    } else {
      s.failing_rate = rate;
      s.bottleneck = r.bottleneck;
    }
    return ok;
  };
  double rate = start;
  while (attempt(rate)) {
    if (rate * search.step > search.max_rate) return s;
    rate *= search.step;
  }
  if (s.rate == 0) return s;
  while (s.failing_rate / s.rate - 1 > search.precision)
    attempt(std::sqrt(s.rate * s.failing_rate));
  return s;
}

}  // namespace scaling::architecture
