// Replica selection: the cost of one select + complete per policy at 3, 10 and 100 replicas
// (beside a naive baseline, a mutex-free uniform random pick with no health or consistency
// checks), and a deterministic simulation of the tail latency each policy produces when one of
// 10 replicas is 10x slower, under Poisson arrivals at 70% of the set's capacity.
// quorum_store (leaderless, N = 3): the CPU cost of put and get at ONE and QUORUM beside a
// single mutex-guarded std::map (no replication), and the simulated p99 of reads when one
// replica is 10x slower, with and without speculative retry, against the healthy p99.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/quorum_store.hpp>
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

// --- quorum_store ------------------------------------------------------------------------------

using feed_store = scaling::quorum_store<std::string, std::int64_t, std::string>;
constexpr int quorum_partitions = 10'000;

std::vector<std::string> partition_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < quorum_partitions; ++i)
    keys.push_back("user:" + std::to_string(i));
  return keys;
}

scaling::quorum_level level_of(std::int64_t arg) {
  return arg == 0 ? scaling::quorum_level::one : scaling::quorum_level::quorum;
}

template <scaling::quorum_level Level>
void quorum_store_put(benchmark::State& state) {
  feed_store store{{.nodes = 3, .replication_factor = 3, .count_stale_reads = false}};
  const auto keys = partition_keys();
  const auto level = Level;
  std::int64_t i = 0;
  for (auto _ : state) {
    auto r = store.put(keys[static_cast<std::size_t>(i % quorum_partitions)], i % 64, "liked",
                       {.level = level});
    benchmark::DoNotOptimize(r.timestamp);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

template <scaling::quorum_level Level>
void quorum_store_get(benchmark::State& state) {
  feed_store store{{.nodes = 3, .replication_factor = 3, .count_stale_reads = false}};
  const auto keys = partition_keys();
  for (int i = 0; i < quorum_partitions * 4; ++i)
    (void)store.put(keys[static_cast<std::size_t>(i % quorum_partitions)], i % 4, "liked");
  const auto level = Level;
  std::int64_t i = 0;
  for (auto _ : state) {
    auto r =
        store.get(keys[static_cast<std::size_t>(i % quorum_partitions)], i % 4, {.level = level});
    benchmark::DoNotOptimize(r.value);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// The baseline: one unreplicated map behind a mutex, what a single node would do.
template <bool Reads>
void quorum_naive_map(benchmark::State& state) {
  std::mutex mutex;
  std::map<std::pair<std::string, std::int64_t>, std::string> map;
  const auto keys = partition_keys();
  const bool reads = Reads;
  for (int i = 0; i < quorum_partitions * 4; ++i)
    map[{keys[static_cast<std::size_t>(i % quorum_partitions)], i % 4}] = "liked";
  std::int64_t i = 0;
  for (auto _ : state) {
    std::scoped_lock lock{mutex};
    const std::pair<std::string, std::int64_t> key{
        keys[static_cast<std::size_t>(i % quorum_partitions)], i % 4};
    if (reads) {
      benchmark::DoNotOptimize(map.find(key));
    } else {
      map[key] = "liked";
    }
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// Rows read <workload>/<implementation>/<level>; the baseline has no levels and is listed
// under each so that every row gets its ratio.
BENCHMARK(quorum_store_put<scaling::quorum_level::one>)->Name("quorum_store_put/scaling/one");
BENCHMARK(quorum_naive_map<false>)->Name("quorum_store_put/naive_map/one");
BENCHMARK(quorum_store_put<scaling::quorum_level::quorum>)->Name("quorum_store_put/scaling/quorum");
BENCHMARK(quorum_naive_map<false>)->Name("quorum_store_put/naive_map/quorum");
BENCHMARK(quorum_store_get<scaling::quorum_level::one>)->Name("quorum_store_get/scaling/one");
BENCHMARK(quorum_naive_map<true>)->Name("quorum_store_get/naive_map/one");
BENCHMARK(quorum_store_get<scaling::quorum_level::quorum>)->Name("quorum_store_get/scaling/quorum");
BENCHMARK(quorum_naive_map<true>)->Name("quorum_store_get/naive_map/quorum");

// Simulated read latency (virtual time, seeded): three replicas answering in 0.5 ms + an
// exponential tail of mean 0.5 ms; "slow" makes replica 1 ten times slower (5 ms + 5 ms);
// speculative retry asks the third replica after 2 ms (about the healthy p90 of a QUORUM read).
// range(0): level (0 one, 1 quorum); range(1): 0 healthy, 1 slow, 2 slow + speculative retry.
void quorum_slow_replica_sim(benchmark::State& state) {
  constexpr int reads = 100'000;
  const auto level = level_of(state.range(0));
  auto p99_of = [&](int scenario) {
    std::optional<std::chrono::nanoseconds> retry;
    if (scenario == 2) retry = 2ms;
    scaling::quorum_store<std::int64_t, std::int64_t, std::int64_t> store{
        {.nodes = 3,
         .replication_factor = 3,
         .speculative_retry_after = retry,
         .seed = 2024,
         .count_stale_reads = false}};
    if (scenario != 0) store.set_latency(1, {.base = 5ms, .tail_mean = 5ms});
    std::vector<double> us;
    us.reserve(reads);
    for (int i = 0; i < reads; ++i) {
      const auto r = store.get(i % 1000, 0, {.level = level});
      us.push_back(static_cast<double>(r.latency.count()) / 1e3);
    }
    std::sort(us.begin(), us.end());
    return std::pair{us[us.size() / 2], us[us.size() * 99 / 100]};
  };
  std::pair<double, double> healthy{};
  std::pair<double, double> measured{};
  for (auto _ : state) {
    healthy = p99_of(0);
    measured = p99_of(static_cast<int>(state.range(1)));
  }
  state.counters["p50_us"] = measured.first;
  state.counters["p99_us"] = measured.second;
  state.counters["p99_vs_healthy"] = measured.second / healthy.second;
}

BENCHMARK(quorum_slow_replica_sim)
    ->Name("quorum_slow_replica_sim/scaling")
    ->ArgNames({"level", "scenario"})
    ->ArgsProduct({{0, 1}, {0, 1, 2}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
