// Cache operation costs and hit ratios: scaling::cache with each eviction policy beside the
// canonical std::unordered_map + std::list LRU (`std_list_lru`), on get-hit, get-miss-then-put
// and a Zipf(0.99) read-through mix; mutex_locked vs sharded<16> with two threads; and hit
// ratios on the traces under data/traces with Belady's OPT as a counter.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/caching/belady.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/caching/replay.hpp>
#include <scaling/caching/trace.hpp>

namespace {

using bkey = std::uint64_t;
using bvalue = std::uint64_t;

// The canonical LRU every C++ codebase has: a map to list iterators, a list in recency order.
class std_list_lru {
 public:
  explicit std_list_lru(std::size_t capacity) : capacity_(capacity) { map_.reserve(capacity); }

  std::optional<bvalue> get(const bkey& key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  void put(const bkey& key, const bvalue& value) {
    const auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->second = value;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (map_.size() == capacity_) {
      map_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, value);
    map_.emplace(key, order_.begin());
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<bkey, bvalue>> order_;
  std::unordered_map<bkey, std::list<std::pair<bkey, bvalue>>::iterator> map_;
};

template <class Policy, class Concurrency = scaling::single_threaded>
struct ours {
  using type = scaling::cache<bkey, bvalue, Policy, Concurrency>;
};

// The i-th of the n keys a benchmark puts: scattered 64-bit ids, as real ids hash. Dense small
// integers would give std::unordered_map's identity hash a collision-free table for free.
bkey key_number(std::uint64_t i) {
  return scaling::mix64(i + 1);
}

// Keys drawn uniformly from the first n, precomputed so the loop measures the cache only.
std::vector<bkey> uniform_keys(std::size_t n, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<bkey> keys(count);
  for (auto& k : keys)
    k = key_number(rng() % n);
  return keys;
}

// Zipf(s) over [0, n) by inverse CDF on a precomputed table; ranks are scattered over the key
// space so popular keys are not neighbours.
std::vector<bkey> zipf_keys(std::size_t n, double s, std::size_t count, std::uint64_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
    cdf[i] = sum;
  }
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<bkey> keys(count);
  for (auto& k : keys) {
    const auto rank =
        static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    k = scaling::mix64(rank + 1);
  }
  return keys;
}

constexpr std::size_t key_batch = 1 << 16;

template <class Cache>
void get_hit(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Cache c{n};
  for (std::uint64_t i = 0; i < n; ++i)
    c.put(key_number(i), i);
  const auto keys = uniform_keys(n, key_batch, 1);
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = c.get(keys[i++ & (key_batch - 1)]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Cache>
void get_miss_put(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Cache c{n};
  std::uint64_t next = 0;
  for (; next < n; ++next)
    c.put(key_number(next), next);
  for (auto _ : state) {
    // A key never seen: the read misses, the insertion evicts.
    const bkey k = key_number(next);
    auto v = c.get(k);
    benchmark::DoNotOptimize(v);
    c.put(k, next);
    ++next;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Cache>
void zipf_mixed(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Cache c{n};
  const auto keys = zipf_keys(n * 16, 0.99, key_batch, 2);
  std::size_t i = 0;
  std::uint64_t hits = 0;
  std::uint64_t requests = 0;
  for (auto _ : state) {
    const bkey k = keys[i++ & (key_batch - 1)];
    if (auto v = c.get(k)) {
      ++hits;
      benchmark::DoNotOptimize(v);
    } else {
      c.put(k, k);
    }
    ++requests;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] = scaling::ratio(hits, requests);
}

// Two threads reading resident keys of one sharded<16> cache (every read a hit): the hit cost
// with the segment locks in the path.
template <class Cache>
void concurrent_get_hit(benchmark::State& state) {
  static Cache* shared = nullptr;
  static std::vector<bkey> keys;
  const auto n = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) {
    shared = new Cache{n};
    for (std::uint64_t i = 0; i < n; ++i)
      shared->put(key_number(i), i);
    keys = uniform_keys(n, key_batch, 4);
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto v = shared->get(keys[i++ & (key_batch - 1)]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared;
    shared = nullptr;
  }
}

// Two threads on one shared cache: a Zipf(0.99) read-through mix.
template <class Cache>
void concurrent_zipf(benchmark::State& state) {
  static Cache* shared = nullptr;
  static std::vector<bkey> keys;
  const auto n = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) {
    shared = new Cache{n};
    keys = zipf_keys(n * 16, 0.99, key_batch, 3);
    for (std::size_t i = 0; i < n; ++i)
      shared->put(keys[i], keys[i]);
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const bkey k = keys[i++ & (key_batch - 1)];
    if (auto v = shared->get(k)) {
      benchmark::DoNotOptimize(v);
    } else {
      shared->put(k, k);
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared;
    shared = nullptr;
  }
}

#define SCALING_CACHE_OPS(workload, policy)        \
  BENCHMARK(workload<ours<scaling::policy>::type>) \
      ->Name(#workload "/scaling/" #policy)        \
      ->Arg(4096)                                  \
      ->Arg(1 << 18);

BENCHMARK(get_hit<std_list_lru>)->Name("get_hit/std_list_lru/lru")->Arg(4096)->Arg(1 << 18);
SCALING_CACHE_OPS(get_hit, lru)
SCALING_CACHE_OPS(get_hit, fifo)
SCALING_CACHE_OPS(get_hit, clock)
SCALING_CACHE_OPS(get_hit, lfu)
SCALING_CACHE_OPS(get_hit, sieve)
SCALING_CACHE_OPS(get_hit, s3fifo)
SCALING_CACHE_OPS(get_hit, w_tinylfu)
SCALING_CACHE_OPS(get_hit, arc)
SCALING_CACHE_OPS(get_hit, lirs)
SCALING_CACHE_OPS(get_hit, adaptive)

BENCHMARK(get_miss_put<std_list_lru>)
    ->Name("get_miss_put/std_list_lru/lru")
    ->Arg(4096)
    ->Arg(1 << 18);
SCALING_CACHE_OPS(get_miss_put, lru)
SCALING_CACHE_OPS(get_miss_put, fifo)
SCALING_CACHE_OPS(get_miss_put, clock)
SCALING_CACHE_OPS(get_miss_put, lfu)
SCALING_CACHE_OPS(get_miss_put, sieve)
SCALING_CACHE_OPS(get_miss_put, s3fifo)
SCALING_CACHE_OPS(get_miss_put, w_tinylfu)
SCALING_CACHE_OPS(get_miss_put, adaptive)

BENCHMARK(zipf_mixed<std_list_lru>)->Name("zipf_mixed/std_list_lru/lru")->Arg(4096)->Arg(1 << 18);
SCALING_CACHE_OPS(zipf_mixed, lru)
SCALING_CACHE_OPS(zipf_mixed, fifo)
SCALING_CACHE_OPS(zipf_mixed, clock)
SCALING_CACHE_OPS(zipf_mixed, lfu)
SCALING_CACHE_OPS(zipf_mixed, sieve)
SCALING_CACHE_OPS(zipf_mixed, s3fifo)
SCALING_CACHE_OPS(zipf_mixed, w_tinylfu)
SCALING_CACHE_OPS(zipf_mixed, adaptive)

#define SCALING_CONCURRENT_HITS(policy)                                            \
  BENCHMARK(concurrent_get_hit<ours<scaling::policy, scaling::sharded<16>>::type>) \
      ->Name("concurrent_get_hit/scaling/" #policy)                                \
      ->Arg(4096)                                                                  \
      ->Arg(1 << 18)                                                               \
      ->Threads(2)                                                                 \
      ->UseRealTime();
SCALING_CONCURRENT_HITS(lru)
SCALING_CONCURRENT_HITS(lfu)
SCALING_CONCURRENT_HITS(w_tinylfu)
SCALING_CONCURRENT_HITS(adaptive)

// sharded<16> is ours (`scaling`); the single-lock variant is the comparison row.
BENCHMARK(concurrent_zipf<ours<scaling::lru, scaling::sharded<16>>::type>)
    ->Name("concurrent_zipf/scaling/lru")
    ->Arg(1 << 16)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(concurrent_zipf<ours<scaling::lru, scaling::mutex_locked>::type>)
    ->Name("concurrent_zipf/scaling_mutex_locked/lru")
    ->Arg(1 << 16)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(concurrent_zipf<ours<scaling::w_tinylfu, scaling::sharded<16>>::type>)
    ->Name("concurrent_zipf/scaling/w_tinylfu")
    ->Arg(1 << 16)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(concurrent_zipf<ours<scaling::w_tinylfu, scaling::mutex_locked>::type>)
    ->Name("concurrent_zipf/scaling_mutex_locked/w_tinylfu")
    ->Arg(1 << 16)
    ->Threads(2)
    ->UseRealTime();

// Hit ratio of each policy on a shared trace, with OPT as the ceiling (counters).
struct trace_case {
  const char* name;
  const char* file;
  scaling::trace_format format;
  std::size_t size;
};

void replay_trace(benchmark::State& state, trace_case t, std::string policy) {
  const std::string path = std::string(SCALING_SOURCE_DIR "/data/traces/") + t.file;
  if (!std::filesystem::exists(path)) {
    state.SkipWithError("trace not found (data/traces)");
    return;
  }
  const auto keys = scaling::read_trace(path, t.format);
  scaling::replay_result r;
  for (auto _ : state)
    r = scaling::replay_by_name(policy, keys, t.size);
  state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(keys.size()));
  state.counters["hit_ratio"] = 100.0 * r.hit_ratio();
  state.counters["opt"] = 100.0 * scaling::ratio(scaling::belady_hits(keys, t.size), keys.size());
}

const bool registered_replays = [] {
  const trace_case cases[] = {
      {"loop", "lirs/loop.trace", scaling::trace_format::lirs, 512},
      {"web07", "cache2k/web07.trace", scaling::trace_format::cache2k, 16384},
      {"oltp", "arc/oltp.trc.bin", scaling::trace_format::cache2k, 2000},
  };
  for (const auto& t : cases) {
    for (const auto policy : scaling::replay_policy_names) {
      if (policy == "opt") continue;
      benchmark::RegisterBenchmark(
          ("replay/scaling/" + std::string(policy) + "/" + t.name + ":" + std::to_string(t.size))
              .c_str(),
          replay_trace, t, std::string(policy))
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
