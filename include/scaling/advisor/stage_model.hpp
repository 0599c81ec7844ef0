// scaling/advisor/stage_model.hpp: the load at which a system of queueing stations saturates,
// from each station's service demand (operational analysis plus M/M/c).
//
// What it is: a system described as stations (a tier of identical servers, each with c
// workers sharing one queue), each with its service demand per offered request: the jobs one
// request brings to the tier (visits, possibly fractional: a cache that answers 60% of reads
// leaves 0.4 reads for the tier behind it) and the work they carry (seconds of service).
// `predict_saturation` returns the highest offered load at which every station stays within
// the objective the scaling lab applies to a run (architecture/scenario.hpp `slo`):
//   - utilization below `max_utilization`: at offered load R a server of the tier is busy
//     rho = R * work_s * share / workers (share: the part of the tier's jobs one server takes,
//     1 / servers when the balancer spreads evenly); the bound is R = max_u * workers /
//     (work_s * share) (the utilization law, U = X S, exact for any arrival process);
//   - the p99 of the station's response time within `p99` (an M/M/c at the station's arrival
//     rate and mean service time; Poisson arrivals and exponential service are the model's
//     assumptions, see queue_model.hpp);
// and the station that binds first. The sum of stations' response times is not bounded here:
// the lab's scenarios saturate on utilization long before their summed p99 reaches 100 ms, and
// a station whose p99 alone passes the objective is reported as the binding one.
//
// When to pick it: to predict a stage's capacity and its bottleneck without running it, and to
// see which tier to grow. architecture/capacity.hpp derives the demands of the library's stage
// compositions from their options and the workload, and the architectures example checks the
// predictions against the lab's measured saturation.
//
//   std::vector<scaling::advisor::station_demand> tiers{
//       {.name = "app", .servers = 4, .workers = 8, .visits = 0.8, .work_s = 0.8 * 0.002},
//       {.name = "db", .servers = 1, .workers = 8, .visits = 0.1, .work_s = 0.1 * 0.001}};
//   auto s = scaling::advisor::predict_saturation(tiers);   // s.rate, s.bottleneck
//
// Thread safety: pure functions and values. Complexity: O(stations x 100) M/M/c evaluations.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "scaling/advisor/queue_model.hpp"
#include "scaling/core/error.hpp"

namespace scaling::advisor {

// One tier of identical servers and what each offered request asks of it.
struct station_demand {
  std::string name;
  std::size_t servers = 1;  // machines of the tier
  std::size_t workers = 1;  // requests one machine serves at once (its c)
  double visits = 0;        // jobs per offered request, for the whole tier (>= 0)
  double work_s = 0;        // seconds of service per offered request, for the whole tier (>= 0)
  // The share of the tier's jobs the busiest machine takes, in (0, 1]; 0 means an even spread
  // (1 / servers).
  double busiest_share = 0;

  [[nodiscard]] double share() const noexcept {
    return busiest_share > 0 ? busiest_share : 1.0 / static_cast<double>(servers);
  }
  // The busiest machine's utilization at offered load `rate`.
  [[nodiscard]] double utilization(double rate) const noexcept {
    return rate * work_s * share() / static_cast<double>(workers);
  }
};

struct saturation_objective {
  double max_utilization = 0.95;  // in (0, 1]
  double p99_s = 0.1;             // of one station's response time, seconds (> 0)
};

struct station_limit {
  std::string name;
  double rate = std::numeric_limits<double>::infinity();  // offered load the station allows
  bool by_latency = false;  // the p99 objective binds before the utilization bound
};

struct saturation_estimate {
  double rate = std::numeric_limits<double>::infinity();  // offered requests per second
  std::string bottleneck;                                 // the station that binds first
  bool by_latency = false;
  std::vector<station_limit> stations;  // each station's own limit, in the order given
};

// The offered load at which `s` alone reaches the objective.
// Throws: scaling::invalid_argument naming the field if servers or workers is 0, visits or
// work_s is negative or not finite, busiest_share is outside [0, 1], or an objective field is
// outside its range.
[[nodiscard]] inline station_limit station_saturation(const station_demand& s,
                                                      const saturation_objective& objective = {}) {
  constexpr auto who = "scaling::advisor::station_saturation";
  if (s.servers == 0) scaling::detail::throw_invalid_argument(who, "servers", "must be >= 1", 0);
  if (s.workers == 0) scaling::detail::throw_invalid_argument(who, "workers", "must be >= 1", 0);
  if (!(s.visits >= 0) || !std::isfinite(s.visits))
    scaling::detail::throw_invalid_argument(who, "visits", "must be a finite number >= 0",
                                            s.visits);
  if (!(s.work_s >= 0) || !std::isfinite(s.work_s))
    scaling::detail::throw_invalid_argument(who, "work_s", "must be a finite number >= 0",
                                            s.work_s);
  if (!(s.busiest_share >= 0 && s.busiest_share <= 1))
    scaling::detail::throw_invalid_argument(who, "busiest_share", "must be in [0, 1]",
                                            s.busiest_share);
  if (!(objective.max_utilization > 0 && objective.max_utilization <= 1))
    scaling::detail::throw_invalid_argument(who, "objective.max_utilization", "must be in (0, 1]",
                                            objective.max_utilization);
  if (!(objective.p99_s > 0))
    scaling::detail::throw_invalid_argument(who, "objective.p99_s", "must be > 0", objective.p99_s);
  station_limit limit{.name = s.name};
  if (s.work_s == 0 || s.visits == 0) return limit;  // the station takes no work
  limit.rate = objective.max_utilization * static_cast<double>(s.workers) / (s.work_s * s.share());
  // The p99 at that load, as an M/M/c with the station's mean service time.
  const double mean_service = s.work_s / s.visits;
  auto p99_at = [&](double rate) {
    const mmc q{.arrival_rate = rate * s.visits * s.share(),
                .service_rate = 1.0 / mean_service,
                .servers = s.workers};
    return q.response_percentile(0.99);
  };
  if (p99_at(limit.rate) <= objective.p99_s) return limit;
  // The p99 objective binds first: bisect on the load (p99 grows with it).
  double lo = 0, hi = limit.rate;
  for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; ++i) {
    const double mid = (lo + hi) / 2;
    (p99_at(mid) <= objective.p99_s ? lo : hi) = mid;
  }
  limit.rate = lo;
  limit.by_latency = true;
  return limit;
}

// The saturation load of the whole system: the lowest of its stations' limits.
// Throws: as station_saturation, for the first station with a bad field.
[[nodiscard]] inline saturation_estimate predict_saturation(
    std::span<const station_demand> stations, const saturation_objective& objective = {}) {
  saturation_estimate estimate;
  for (const station_demand& s : stations) {
    station_limit limit = station_saturation(s, objective);
    if (limit.rate < estimate.rate) {
      estimate.rate = limit.rate;
      estimate.bottleneck = limit.name;
      estimate.by_latency = limit.by_latency;
    }
    estimate.stations.push_back(std::move(limit));
  }
  return estimate;
}

}  // namespace scaling::advisor
