// Replica selection: the cost of one select + complete per policy at 3, 10 and 100 replicas
// (beside a naive baseline, a mutex-free uniform random pick with no health or consistency
// checks), and a deterministic simulation of the tail latency each policy produces when one of
// 10 replicas is 10x slower, under Poisson arrivals at 70% of the set's capacity.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/replica_selector.hpp>

namespace {

using namespace std::chrono_literals;

std::vector<scaling::replica_endpoint> replica_set(std::int64_t n) {
  std::vector<scaling::replica_endpoint> set;
  for (std::int64_t i = 0; i < n; ++i) {
    set.push_back({"replica-" + std::to_string(i), i % 3 == 0 ? "a" : "b", 1,
                   scaling::replica_role::replica, ""});
  }
  return set;
}

template <class Policy>
void select_complete(benchmark::State& state) {
  scaling::replica_selector<scaling::replica_endpoint, Policy> selector{
      replica_set(state.range(0))};
  for (auto _ : state) {
    auto ticket = selector.select();
    benchmark::DoNotOptimize(ticket.index());
    ticket.complete(scaling::read_outcome::success);
  }
  state.SetItemsProcessed(state.iterations());
}

// The baseline: what an application does without a selector (pick uniformly, no bookkeeping).
void select_naive_random(benchmark::State& state) {
  const auto set = replica_set(state.range(0));
  std::mt19937_64 rng{42};
  std::uniform_int_distribution<std::size_t> pick{0, set.size() - 1};
  for (auto _ : state)
    benchmark::DoNotOptimize(&set[pick(rng)]);
  state.SetItemsProcessed(state.iterations());
}

#define SCALING_SELECT_BENCH(policy)                     \
  BENCHMARK(select_complete<scaling::policy>)            \
      ->Name("select_complete_" #policy "/scaling")      \
      ->Arg(3)                                           \
      ->Arg(10)                                          \
      ->Arg(100);                                        \
  BENCHMARK(select_naive_random)                         \
      ->Name("select_complete_" #policy "/naive_random") \
      ->Arg(3)                                           \
      ->Arg(10)                                          \
      ->Arg(100);

SCALING_SELECT_BENCH(round_robin)
SCALING_SELECT_BENCH(weighted_round_robin)
SCALING_SELECT_BENCH(random_choice)
SCALING_SELECT_BENCH(least_outstanding)
SCALING_SELECT_BENCH(power_of_two_choices)
SCALING_SELECT_BENCH(peak_ewma)
#undef SCALING_SELECT_BENCH

// ---------------------------------------------------------------------------------------------
// Tail-latency simulation (simulated time through a manual_clock; fixed seed; one run per
// benchmark iteration). Each replica is a FIFO server with exponential service times, mean
// 1 ms, except replica 0 with mean 10 ms. Capacity is 9 x 1000 + 100 = 9100 reads/s; arrivals
// are Poisson at 70% of it. A read completes when its replica finishes it; its latency is
// queueing + service, which is also what the selector measures.
constexpr std::size_t sim_replicas = 10;
constexpr std::size_t sim_requests = 200'000;
constexpr double fast_service_ms = 1.0;
constexpr double slow_service_ms = 10.0;
constexpr double load = 0.7;

template <class Policy>
void slow_replica_sim(benchmark::State& state) {
  using clock_t = scaling::manual_clock;
  using selector_t = scaling::replica_selector<scaling::replica_endpoint, Policy, clock_t>;
  std::vector<double> latencies_ms;
  for (auto _ : state) {
    clock_t clock;
    selector_t selector{replica_set(sim_replicas), {}, clock};
    std::mt19937_64 rng{2024};
    const double capacity_per_ms =
        (sim_replicas - 1) / fast_service_ms + 1.0 / slow_service_ms;  // reads per ms
    std::exponential_distribution<double> gap_ms{load * capacity_per_ms};
    std::exponential_distribution<double> unit{1.0};
    std::vector<double> free_at_ms(sim_replicas, 0.0);
    struct completion {
      double at_ms;
      std::size_t slot;
      bool operator>(const completion& o) const { return at_ms > o.at_ms; }
    };
    std::priority_queue<completion, std::vector<completion>, std::greater<>> pending;
    std::vector<typename selector_t::ticket> tickets(sim_requests);
    latencies_ms.assign(sim_requests, 0.0);
    auto set_time = [&clock](double ms) {
      clock.set(clock_t::time_point{std::chrono::nanoseconds{static_cast<std::int64_t>(ms * 1e6)}});
    };
    double now_ms = 0.0;
    for (std::size_t r = 0; r < sim_requests; ++r) {
      now_ms += gap_ms(rng);
      while (!pending.empty() && pending.top().at_ms <= now_ms) {
        set_time(pending.top().at_ms);
        tickets[pending.top().slot].complete(scaling::read_outcome::success);
        pending.pop();
      }
      set_time(now_ms);
      tickets[r] = selector.select();
      const std::size_t i = tickets[r].index();
      const double service = unit(rng) * (i == 0 ? slow_service_ms : fast_service_ms);
      const double start = std::max(now_ms, free_at_ms[i]);
      free_at_ms[i] = start + service;
      latencies_ms[r] = free_at_ms[i] - now_ms;
      pending.push({free_at_ms[i], r});
    }
    while (!pending.empty()) {
      set_time(pending.top().at_ms);
      tickets[pending.top().slot].complete(scaling::read_outcome::success);
      pending.pop();
    }
    state.counters["slow_share"] =
        static_cast<double>(selector.state("replica-0").selected) / double{sim_requests};
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto quantile = [&](double q) {
    return latencies_ms[static_cast<std::size_t>(q *
                                                 static_cast<double>(latencies_ms.size() - 1))] *
           1000.0;
  };
  state.counters["p50_us"] = quantile(0.50);
  state.counters["p99_us"] = quantile(0.99);
  state.counters["p999_us"] = quantile(0.999);
}

BENCHMARK(slow_replica_sim<scaling::round_robin>)
    ->Name("slow_replica_sim/round_robin/10x_70pct")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(slow_replica_sim<scaling::random_choice>)
    ->Name("slow_replica_sim/random_choice/10x_70pct")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(slow_replica_sim<scaling::least_outstanding>)
    ->Name("slow_replica_sim/least_outstanding/10x_70pct")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(slow_replica_sim<scaling::power_of_two_choices>)
    ->Name("slow_replica_sim/power_of_two_choices/10x_70pct")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(slow_replica_sim<scaling::peak_ewma>)
    ->Name("slow_replica_sim/peak_ewma/10x_70pct")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
