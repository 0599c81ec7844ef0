// bench_lab: the scaling lab's engine. How many simulated events and customers one core runs
// per second, beside the obvious baselines: an event loop on std::priority_queue of
// std::function, and Zipf keys drawn through std::discrete_distribution's table.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <queue>
#include <random>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/architecture/web_system.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/simulation.hpp>
#include <scaling/lab/station.hpp>
#include <scaling/lab/workload.hpp>

namespace {

using namespace std::chrono_literals;

// A self-rescheduling population of timers: `width` events pending at all times, each one
// scheduling its successor a pseudo-random gap later (the shape of a busy simulation).
constexpr std::size_t width = 1024;

void event_loop_scaling(benchmark::State& state) {
  scaling::lab::simulation sim{1};
  std::uint64_t x = 1;
  std::function<void()> tick;
  tick = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sim.after(std::chrono::nanoseconds{static_cast<std::int64_t>(x >> 44)}, tick);
  };
  for (std::size_t i = 0; i < width; ++i)
    sim.after(std::chrono::nanoseconds{i}, tick);
  for (auto _ : state)
    sim.step();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("events");
}
BENCHMARK(event_loop_scaling)->Name("event_loop/scaling/pending:1024");

void event_loop_std_priority_queue(benchmark::State& state) {
  struct event {
    std::int64_t time;
    std::uint64_t seq;
    std::function<void()> f;
  };
  auto later = [](const event& a, const event& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  };
  std::priority_queue<event, std::vector<event>, decltype(later)> queue{later};
  std::int64_t now = 0;
  std::uint64_t seq = 0;
  std::uint64_t x = 1;
  std::function<void()> tick;
  tick = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    queue.push({now + static_cast<std::int64_t>(x >> 44), seq++, tick});
  };
  for (std::size_t i = 0; i < width; ++i)
    queue.push({static_cast<std::int64_t>(i), seq++, tick});
  for (auto _ : state) {
    event e = queue.top();  // top() is const: the callback must be copied out
    queue.pop();
    now = e.time;
    e.f();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("events");
}
BENCHMARK(event_loop_std_priority_queue)->Name("event_loop/std_priority_queue/pending:1024");

// A bare M/M/c station at utilization 0.8: customers per second of CPU, and the events behind
// them (an arrival and a completion each).
void mmc_station(benchmark::State& state) {
  const auto servers = static_cast<std::size_t>(state.range(0));
  scaling::lab::simulation sim{2};
  scaling::lab::station st{
      sim, {.servers = servers, .service = scaling::lab::distribution::exponential(1ms)}};
  scaling::lab::poisson_arrivals load{sim, 0.8 * 1000.0 * static_cast<double>(servers),
                                      [&] { st.submit([](const scaling::lab::job_times&) {}); }};
  load.start();
  const auto events_before = sim.events_run();
  for (auto _ : state)
    sim.step();
  const auto customers = st.stats().completions;
  state.counters["customers_per_s"] =
      benchmark::Counter(static_cast<double>(customers), benchmark::Counter::kIsRate);
  state.counters["events"] = static_cast<double>(sim.events_run() - events_before);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(mmc_station)->Name("mmc_station/scaling/servers")->Arg(1)->Arg(16);

void zipf_scaling(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  const scaling::lab::zipf_distribution zipf{n, 0.99};
  scaling::lab::rng gen{3};
  std::uint64_t sum = 0;
  for (auto _ : state)
    sum += zipf(gen);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  state.counters["table_bytes"] = 0;
}
BENCHMARK(zipf_scaling)->Name("zipf/scaling/n")->Arg(1'000'000)->Arg(100'000'000);

void zipf_std_discrete(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<double> weights(n);
  for (std::size_t k = 0; k < n; ++k)
    weights[k] = std::pow(static_cast<double>(k + 1), -0.99);
  std::discrete_distribution<std::uint64_t> zipf{weights.begin(), weights.end()};
  std::mt19937_64 gen{3};
  std::uint64_t sum = 0;
  for (auto _ : state)
    sum += zipf(gen) + 1;
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  state.counters["table_bytes"] = static_cast<double>(n * sizeof(double));
}
BENCHMARK(zipf_std_discrete)->Name("zipf/std_discrete_distribution/n")->Arg(1'000'000);

// The resident set of this process in MB (Linux), 0 where /proc is not there.
double resident_mb() {
  std::ifstream statm{"/proc/self/statm"};
  long pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

// Stage 2 end to end (CDN edge, balanced app tier, app cache, replicated store, stations) at
// 10,000 requests/s of virtual time, Zipf 0.99 over 1M objects: simulated requests per second
// of CPU. The target is 250,000 on one core.
void stage2_requests(benchmark::State& state) {
  using app_cache = scaling::cache<std::uint64_t, std::uint64_t, scaling::w_tinylfu>;
  scaling::lab::simulation sim{5};
  scaling::architecture::web_system<app_cache> system{sim,
                                                      scaling::architecture::stage_2_options()};
  const scaling::lab::zipf_distribution popularity{1'000'000, 0.99};
  std::uint64_t answered = 0;
  scaling::lab::poisson_arrivals load{
      sim, 10'000.0, [&] {
        const auto op = sim.rng().uniform01() < 0.95 ? scaling::architecture::operation::read
                                                     : scaling::architecture::operation::write;
        system.request(op, popularity(sim.rng()) - 1, [&](bool) { ++answered; });
      }};
  load.start();
  sim.run_for(std::chrono::seconds{60});  // warm the caches: one TTL of the edge
  const auto before = answered;
  const double rss_before = resident_mb();
  for (auto _ : state)
    sim.run_for(std::chrono::milliseconds{100});
  const auto requests = answered - before;
  // Memory is flat when the blocks' bounded state is all a run keeps: the resident set after
  // the measured requests against after the warm-up.
  state.counters["rss_growth_mb"] = resident_mb() - rss_before;
  state.counters["measured_requests"] = static_cast<double>(requests);
  state.counters["requests_per_cpu_s"] =
      benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate);
  state.counters["events_per_request"] =
      static_cast<double>(sim.events_run()) / static_cast<double>(answered);
  state.counters["app_cache_hit_ratio"] = system.app_cache_stats().hit_ratio();
  load.stop();
  sim.run();
}
BENCHMARK(stage2_requests)
    ->Name("stage2_requests/scaling/rate:10000")
    ->Unit(benchmark::kMillisecond);

}  // namespace
