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
// Thread safety: none (one simulation, one thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
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

}  // namespace scaling::architecture
