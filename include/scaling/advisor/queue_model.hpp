// scaling/advisor/queue_model.hpp: how many servers a load needs, how long requests wait, and
// how a burst backs up a queue and drains.
//
// What it is:
//   - `erlang_b`, `erlang_c`: the probability that an arrival is blocked (M/M/c/c) or waits
//     (M/M/c) with c servers and offered load A = lambda / mu, computed with the Erlang B
//     recursion B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)) and C = c B / (c - A (1 - B)),
//     which never forms A^c / c! and so is stable for thousands of servers;
//   - `mmc`: an M/M/c queue (Poisson arrivals at lambda, exponential service at mu per server,
//     c servers, one shared first-come-first-served queue): utilization, P(wait), mean wait
//     Wq = C / (c mu - lambda), the waiting-time percentile from
//     P(W > t) = C exp(-(c mu - lambda) t), and the response-time (wait + service) percentile
//     from its exact distribution;
//   - `plan_servers`: the fewest servers that keep utilization at or below a target AND the
//     p99 response time within a latency objective (the advisor's read replicas), a server
//     being one or more workers (cores) sharing the queue;
//   - `burst`: a fluid model of a queue fed above its service rate for a while: the depth it
//     reaches, the time it takes to drain, and the consumers needed to drain within a target.
//
// When to pick it: to size a pool (replicas, app servers, queue consumers) from a rate and a
// per-server rate. The assumptions are the model's limits: Poisson arrivals (many independent
// clients; real traffic is burstier, so treat the waits as a floor), exponential service, and
// one shared queue (a balancer that sends each request to a free server: least-outstanding-
// requests approaches it; random or round-robin routing over c servers behaves like c separate
// M/M/1 queues and waits longer). A node that runs k requests at once is k servers at a k-th
// of its measured throughput each (`plan_servers`' workers_per_node).
//
//   scaling::advisor::mmc q{.arrival_rate = 200, .service_rate = 100, .servers = 3};
//   double p = q.wait_probability();                // C(3, 2.0) = 0.4444
//   auto plan = scaling::advisor::plan_servers(300'000, 80'000, 0.7, 0.005);
//
// Thread safety: pure functions and values. Complexity: erlang_c O(c); plan_servers
// O(c^2) at worst (c up to `max_servers`), a few microseconds for realistic pools.
// Reference: L. Kleinrock, "Queueing Systems, Volume 1", Wiley 1975, ch. 3 (M/M/c).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>

#include "scaling/core/error.hpp"

namespace scaling::advisor {

// Erlang B: the blocking probability of c servers with no queue, offered load a.
// Throws: scaling::invalid_argument if a is not a finite number >= 0.
[[nodiscard]] inline double erlang_b(std::size_t c, double a) {
  if (!(a >= 0.0) || !std::isfinite(a))
    scaling::detail::throw_invalid_argument("scaling::advisor::erlang_b", "a",
                                            "must be a finite offered load >= 0", a);
  double b = 1.0;
  for (std::size_t k = 1; k <= c; ++k)
    b = a * b / (static_cast<double>(k) + a * b);
  return b;
}

// Erlang C: the probability that an arrival waits, c servers, offered load a. 1 when a >= c
// (the queue grows without bound).
// Throws: scaling::invalid_argument if c == 0 or a is not a finite number >= 0.
[[nodiscard]] inline double erlang_c(std::size_t c, double a) {
  if (c == 0)
    scaling::detail::throw_invalid_argument("scaling::advisor::erlang_c", "c", "must be >= 1", c);
  const double b = erlang_b(c, a);
  const double cd = static_cast<double>(c);
  if (a >= cd) return 1.0;
  return cd * b / (cd - a * (1.0 - b));
}

// An M/M/c queue. Rates are per second; times are seconds.
struct mmc {
  double arrival_rate = 0;  // lambda
  double service_rate = 0;  // mu, per server
  std::size_t servers = 1;  // c

  [[nodiscard]] double offered_load() const noexcept { return arrival_rate / service_rate; }
  [[nodiscard]] double utilization() const noexcept {
    return arrival_rate / (static_cast<double>(servers) * service_rate);
  }
  [[nodiscard]] bool stable() const noexcept { return utilization() < 1.0; }
  [[nodiscard]] double wait_probability() const { return erlang_c(servers, offered_load()); }
  // c mu - lambda: the rate at which a waiting customer's wait decays.
  [[nodiscard]] double drain_rate() const noexcept {
    return static_cast<double>(servers) * service_rate - arrival_rate;
  }
  // Mean wait in the queue Wq = C / (c mu - lambda); infinite when unstable.
  [[nodiscard]] double mean_wait() const {
    if (!stable()) return std::numeric_limits<double>::infinity();
    return wait_probability() / drain_rate();
  }
  [[nodiscard]] double mean_response() const { return mean_wait() + 1.0 / service_rate; }
  // The p-quantile of the waiting time: P(W > t) = C exp(-(c mu - lambda) t), so
  // t = ln(C / (1 - p)) / (c mu - lambda), and 0 when C <= 1 - p (most customers never wait).
  // Preconditions: 0 < p < 1.
  [[nodiscard]] double wait_percentile(double p) const {
    if (!stable()) return std::numeric_limits<double>::infinity();
    const double c = wait_probability();
    if (c <= 1.0 - p) return 0.0;
    return std::log(c / (1.0 - p)) / drain_rate();
  }
  // P(response > t), response = wait + service. The wait is 0 with probability 1 - C and
  // exponential at theta = c mu - lambda otherwise; plus an exponential service at mu:
  //   P(T > t) = (1 - C) e^{-mu t} + C (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu).
  [[nodiscard]] double response_exceeds(double t) const {
    const double c = wait_probability();
    const double mu = service_rate, theta = drain_rate();
    const double served = std::exp(-mu * t);
    double both;
    if (std::abs(theta - mu) < 1e-9 * mu) {
      both = (1.0 + mu * t) * served;
    } else {
      both = (theta * served - mu * std::exp(-theta * t)) / (theta - mu);
    }
    return (1.0 - c) * served + c * both;
  }
  // The p-quantile of the response time, by bisection on response_exceeds.
  [[nodiscard]] double response_percentile(double p) const {
    if (!stable()) return std::numeric_limits<double>::infinity();
    double lo = 0, hi = 1.0 / service_rate;
    while (response_exceeds(hi) > 1.0 - p)
      hi *= 2;
    for (int i = 0; i < 100 && hi - lo > 1e-12 * hi; ++i) {
      const double mid = (lo + hi) / 2;
      (response_exceeds(mid) > 1.0 - p ? lo : hi) = mid;
    }
    return hi;
  }
};

// What limited a server plan.
enum class plan_limit {
  utilization,  // the servers needed to stay at or under the utilization target
  latency,      // more servers than that, to bring the p99 response under the objective
  unreachable,  // no number of servers meets the objective: the service time alone exceeds it
};

struct server_plan {
  std::size_t servers = 1;
  plan_limit limited_by = plan_limit::utilization;
  double utilization = 0;
  double wait_probability = 0;
  double mean_wait = 0;     // seconds
  double p99_wait = 0;      // seconds
  double p99_response = 0;  // seconds
};

// The fewest servers (nodes, each carrying `service_rate` per second) that carry
// `arrival_rate` with utilization <= `utilization_target` and a p99 response time <=
// `p99_objective` seconds (a non-finite or zero objective means none). A node runs
// `workers_per_node` requests at once, each at service_rate / workers_per_node: the queue is
// M/M/c with c = servers x workers_per_node (1 models a node as one fast server). When the
// objective is unreachable even with no waiting (P(service > objective) > 1%), the plan is the
// utilization one, marked unreachable.
// Throws: scaling::invalid_argument if a rate is not finite and > 0 (arrival_rate may be 0),
// utilization_target is not in (0, 1), workers_per_node is 0, or the plan would exceed
// `max_servers`.
[[nodiscard]] inline server_plan plan_servers(double arrival_rate, double service_rate,
                                              double utilization_target, double p99_objective,
                                              std::size_t workers_per_node = 1,
                                              std::size_t max_servers = 1'000'000) {
  constexpr auto who = "scaling::advisor::plan_servers";
  if (!(arrival_rate >= 0.0) || !std::isfinite(arrival_rate))
    scaling::detail::throw_invalid_argument(who, "arrival_rate", "must be a finite rate >= 0",
                                            arrival_rate);
  if (!(service_rate > 0.0) || !std::isfinite(service_rate))
    scaling::detail::throw_invalid_argument(who, "service_rate", "must be a finite rate > 0",
                                            service_rate);
  if (!(utilization_target > 0.0 && utilization_target < 1.0))
    scaling::detail::throw_invalid_argument(who, "utilization_target", "must be in (0, 1)",
                                            utilization_target);
  if (workers_per_node == 0)
    scaling::detail::throw_invalid_argument(who, "workers_per_node", "must be >= 1",
                                            workers_per_node);
  const double need = arrival_rate / (service_rate * utilization_target);
  const double worker_rate = service_rate / static_cast<double>(workers_per_node);
  auto servers = static_cast<std::size_t>(std::max(1.0, std::ceil(need - 1e-9)));
  if (servers > max_servers)
    scaling::detail::throw_invalid_argument(who, "arrival_rate",
                                            "needs more servers than max_servers", arrival_rate);
  auto fill = [&](std::size_t c, plan_limit limit) {
    const mmc q{arrival_rate, worker_rate, c * workers_per_node};
    server_plan p;
    p.servers = c;
    p.limited_by = limit;
    p.utilization = q.utilization();
    p.wait_probability = arrival_rate > 0 ? q.wait_probability() : 0.0;
    p.mean_wait = arrival_rate > 0 ? q.mean_wait() : 0.0;
    p.p99_wait = arrival_rate > 0 ? q.wait_percentile(0.99) : 0.0;
    p.p99_response = q.response_percentile(0.99);
    return p;
  };
  server_plan plan = fill(servers, plan_limit::utilization);
  if (!(p99_objective > 0.0) || !std::isfinite(p99_objective) || plan.p99_response <= p99_objective)
    return plan;
  // With no wait at all the response is the service time: P(S > t) = exp(-mu t).
  if (std::exp(-worker_rate * p99_objective) > 0.01) {
    plan.limited_by = plan_limit::unreachable;
    return plan;
  }
  while (plan.p99_response > p99_objective) {
    if (plan.servers >= max_servers)
      scaling::detail::throw_invalid_argument(who, "p99_objective",
                                              "needs more servers than max_servers", p99_objective);
    plan = fill(plan.servers + 1, plan_limit::latency);
  }
  return plan;
}

// A burst: arrivals at `burst_rate` for `duration` seconds, then back to `base_rate`, served
// by `consumers` each at `consumer_rate` per second. A fluid model (rates, not random
// arrivals): it gives the backlog the queue must hold and when it is gone; the random
// fluctuation around it is what `mmc` describes.
struct burst {
  double base_rate = 0;
  double burst_rate = 0;
  double duration = 0;  // seconds
  double consumer_rate = 0;

  // Depth at the end of the burst: (burst_rate - c r) x duration, or 0 if c r keeps up.
  [[nodiscard]] double backlog(std::size_t consumers) const noexcept {
    return std::max(0.0, burst_rate - static_cast<double>(consumers) * consumer_rate) * duration;
  }
  // Seconds from the end of the burst until the backlog is gone: backlog / (c r - base);
  // infinite when the consumers do not even keep up with the base rate.
  [[nodiscard]] double drain_time(std::size_t consumers) const noexcept {
    const double b = backlog(consumers);
    if (b == 0.0) return 0.0;
    const double spare = static_cast<double>(consumers) * consumer_rate - base_rate;
    return spare > 0 ? b / spare : std::numeric_limits<double>::infinity();
  }
  // The fewest consumers that drain the burst within `target` seconds of its end (and keep up
  // with the base rate): (burst - c r) d <= (c r - base) D gives
  // c >= (burst d + base D) / (r (d + D)).
  // Throws: scaling::invalid_argument if consumer_rate is not finite and > 0, or target < 0.
  [[nodiscard]] std::size_t consumers_to_drain_within(double target) const {
    if (!(consumer_rate > 0.0) || !std::isfinite(consumer_rate))
      scaling::detail::throw_invalid_argument("scaling::advisor::burst", "consumer_rate",
                                              "must be a finite rate > 0", consumer_rate);
    if (!(target >= 0.0))
      scaling::detail::throw_invalid_argument("scaling::advisor::burst", "target", "must be >= 0 s",
                                              target);
    const double need = duration + target > 0.0 ? (burst_rate * duration + base_rate * target) /
                                                      (consumer_rate * (duration + target))
                                                : std::max(burst_rate, base_rate) / consumer_rate;
    auto c = static_cast<std::size_t>(std::max(1.0, std::ceil(need - 1e-9)));
    // Strictly above the base rate, or the queue never empties.
    while (static_cast<double>(c) * consumer_rate <= base_rate)
      ++c;
    return c;
  }
};

}  // namespace scaling::advisor
