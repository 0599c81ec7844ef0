// Sharding strategies: lookup cost per key at N = 8..4096 nodes, build cost, and balance /
// movement as counters, with libmemcached's ketama (memcached_generate_hash) as the peer.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/sharding.hpp>

#ifdef SCALING_HAVE_LIBMEMCACHED
#include <libmemcached/memcached.h>
#endif

namespace {

constexpr std::size_t key_count = 1 << 16;

const std::vector<std::string>& keys() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < key_count; ++i) {
      std::string key = "user:";
      out.push_back(key.append(std::to_string(i * 7919)));
    }
    return out;
  }();
  return all;
}

// "10.<a>.<b>.1:11211", built with append (GCC 12 warns falsely on chains of operator+).
std::string server_host(std::size_t i) {
  std::string host = "10.";
  host.append(std::to_string(i / 250)).append(".").append(std::to_string(i % 250)).append(".1");
  return host;
}

std::vector<std::string> servers(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(server_host(i).append(":11211"));
  return out;
}

template <class Lookup>
void run_lookups(benchmark::State& state, Lookup&& lookup) {
  const auto& k = keys();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lookup(k[i++ & (key_count - 1)]));
  }
  state.SetItemsProcessed(state.iterations());
}

// Balance counters over 1M keys: peak-to-mean and relative standard deviation of the loads.
template <class Lookup>
void balance_counters(benchmark::State& state, std::size_t n, Lookup&& lookup) {
  std::unordered_map<const void*, double> load;
  const std::size_t total = 1'000'000;
  for (std::size_t i = 0; i < total; ++i) {
    const std::string key = std::to_string(i);
    load[lookup(key)] += 1;
  }
  const double mean = static_cast<double>(total) / static_cast<double>(n);
  double peak = 0;
  double sq = 0;
  for (const auto& [node, count] : load) {
    peak = std::max(peak, count);
    sq += (count - mean) * (count - mean);
  }
  sq += static_cast<double>(n - load.size()) * mean * mean;
  state.counters["peak_to_mean"] = peak / mean;
  state.counters["stddev"] = std::sqrt(sq / static_cast<double>(n)) / mean;
}

void ring_lookup(benchmark::State& state) {
  const scaling::hash_ring<std::string> ring{servers(static_cast<std::size_t>(state.range(0)))};
  run_lookups(state, [&](const std::string& key) { return &ring.node_for(key); });
}
void ring4_lookup(benchmark::State& state) {
  const scaling::hash_ring<std::string> ring{servers(static_cast<std::size_t>(state.range(0))),
                                             {.points_per_node = 160, .probes = 4}};
  run_lookups(state, [&](const std::string& key) { return &ring.node_for(key); });
}
void ketama_lookup(benchmark::State& state) {
  std::vector<std::pair<std::string, std::uint32_t>> list;
  for (auto& s : servers(static_cast<std::size_t>(state.range(0))))
    list.emplace_back(s, 1);
  const scaling::ketama_ring ring{list};
  run_lookups(state, [&](const std::string& key) { return &ring.node_for(key); });
}
void maglev_lookup(benchmark::State& state) {
  const scaling::maglev<std::string> table{servers(static_cast<std::size_t>(state.range(0)))};
  run_lookups(state, [&](const std::string& key) { return &table.node_for(key); });
}
void jump_lookup(benchmark::State& state) {
  const scaling::jump_shards<std::string> shards{servers(static_cast<std::size_t>(state.range(0)))};
  run_lookups(state, [&](const std::string& key) { return &shards.node_for(key); });
}
void rendezvous_lookup(benchmark::State& state) {
  const scaling::rendezvous<std::string> hrw{servers(static_cast<std::size_t>(state.range(0)))};
  run_lookups(state, [&](const std::string& key) { return &hrw.node_for(key); });
}

void ring_build(benchmark::State& state) {
  const auto list = servers(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    scaling::hash_ring<std::string> ring{list};
    benchmark::DoNotOptimize(ring.point_count());
  }
}
void ketama_build(benchmark::State& state) {
  std::vector<std::pair<std::string, std::uint32_t>> list;
  for (auto& s : servers(static_cast<std::size_t>(state.range(0))))
    list.emplace_back(s, 1);
  for (auto _ : state) {
    scaling::ketama_ring ring{list};
    benchmark::DoNotOptimize(ring.point_count());
  }
}
void maglev_build(benchmark::State& state) {
  const auto list = servers(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    scaling::maglev<std::string> table{list};
    benchmark::DoNotOptimize(table.table().data());
  }
}

void ring_balance(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto probes = static_cast<std::uint32_t>(state.range(1));
  const scaling::hash_ring<std::string> ring{servers(n),
                                             {.points_per_node = 160, .probes = probes}};
  auto after = ring;
  after.add("new-node:11211");
  for (auto _ : state)
    benchmark::DoNotOptimize(ring.node_for("k"));
  balance_counters(state, n, [&](const std::string& k) { return &ring.node_for(k); });
  std::vector<std::string> sample(keys().begin(), keys().end());
  state.counters["moved_fraction"] = scaling::moved_fraction(ring, after, sample);
}
void maglev_balance(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const scaling::maglev<std::string> table{servers(n)};
  auto after = table;
  after.add("new-node:11211");
  for (auto _ : state)
    benchmark::DoNotOptimize(table.node_for("k"));
  balance_counters(state, n, [&](const std::string& k) { return &table.node_for(k); });
  state.counters["moved_fraction"] = scaling::moved_fraction(table, after, keys());
}
void bounded_balance(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    scaling::bounded_load<scaling::hash_ring<std::string>> lb{
        scaling::hash_ring<std::string>{servers(n)}, {.balance_factor = 1.25}};
    for (const auto& k : keys())
      benchmark::DoNotOptimize(&lb.assign(k));
    const double mean = static_cast<double>(lb.total_load()) / static_cast<double>(n);
    const double peak =
        static_cast<double>(*std::max_element(lb.loads().begin(), lb.loads().end()));
    state.counters["peak_to_mean"] = peak / mean;
    state.counters["bound"] = std::ceil(1.25 * mean) / mean;
  }
}

#ifdef SCALING_HAVE_LIBMEMCACHED
struct memcached_client {
  explicit memcached_client(std::size_t n) : memc(memcached_create(nullptr)) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::string host = server_host(i);
      memcached_server_add_with_weight(memc, host.c_str(), 11211, 1);
    }
    memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
  }
  ~memcached_client() { memcached_free(memc); }
  memcached_client(const memcached_client&) = delete;
  memcached_client& operator=(const memcached_client&) = delete;
  memcached_st* memc;
};

void libmemcached_lookup(benchmark::State& state) {
  const memcached_client client{static_cast<std::size_t>(state.range(0))};
  run_lookups(state, [&](const std::string& key) {
    return memcached_generate_hash(client.memc, key.data(), key.size());
  });
}
void libmemcached_build(benchmark::State& state) {
  for (auto _ : state) {
    const memcached_client client{static_cast<std::size_t>(state.range(0))};
    benchmark::DoNotOptimize(client.memc);
  }
}
void libmemcached_balance(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const memcached_client client{n};
  std::vector<int> anchor(n);
  for (auto _ : state)
    benchmark::DoNotOptimize(memcached_generate_hash(client.memc, "k", 1));
  balance_counters(state, n, [&](const std::string& k) {
    return static_cast<const void*>(
        &anchor[memcached_generate_hash(client.memc, k.data(), k.size())]);
  });
}
#endif

void nodes_args(benchmark::internal::Benchmark* b) {
  for (int n : {8, 64, 100, 512, 4096})
    b->Arg(n);
}

BENCHMARK(ring_lookup)->Name("ring_lookup/scaling")->Apply(nodes_args);
BENCHMARK(ring4_lookup)->Name("ring_lookup_4probes/scaling")->Apply(nodes_args);
BENCHMARK(ketama_lookup)->Name("ketama_lookup/scaling")->Apply(nodes_args);
BENCHMARK(maglev_lookup)->Name("maglev_lookup/scaling")->Arg(8)->Arg(64)->Arg(512)->Arg(4096);
BENCHMARK(jump_lookup)->Name("jump_lookup/scaling")->Apply(nodes_args);
BENCHMARK(rendezvous_lookup)->Name("rendezvous_lookup/scaling")->Apply(nodes_args);
BENCHMARK(ring_build)->Name("ring_build/scaling")->Apply(nodes_args)->Unit(benchmark::kMicrosecond);
BENCHMARK(ketama_build)
    ->Name("ketama_build/scaling")
    ->Apply(nodes_args)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(maglev_build)
    ->Name("maglev_build/scaling")
    ->Arg(8)
    ->Arg(64)
    ->Arg(512)
    ->Arg(4096)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(ring_balance)
    ->Name("ring_balance/scaling")
    ->Args({10, 1})
    ->Args({100, 1})
    ->Args({100, 4})
    ->Iterations(1);
BENCHMARK(maglev_balance)->Name("maglev_balance/scaling")->Arg(10)->Arg(100)->Iterations(1);
BENCHMARK(bounded_balance)
    ->Name("bounded_load_balance/scaling")
    ->Arg(10)
    ->Arg(100)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// libmemcached caps a client at 100 servers (MEMCACHED_CONTINUUM_SIZE; above it an assertion
// aborts), so its rows stop at 64 and 100 nodes.
void peer_args(benchmark::internal::Benchmark* b) {
  for (int n : {8, 64, 100})
    b->Arg(n);
}

#ifdef SCALING_HAVE_LIBMEMCACHED
// The same workloads through libmemcached: ring_lookup compares our XXH3 ring with the ketama
// client people use; ketama_lookup compares two implementations of the same mapping.
BENCHMARK(libmemcached_lookup)->Name("ring_lookup/libmemcached_ketama")->Apply(peer_args);
BENCHMARK(libmemcached_lookup)->Name("ketama_lookup/libmemcached_ketama")->Apply(peer_args);
BENCHMARK(libmemcached_build)
    ->Name("ketama_build/libmemcached_ketama")
    ->Apply(peer_args)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(libmemcached_balance)
    ->Name("ring_balance/libmemcached_ketama")
    ->Args({10, 1})
    ->Args({100, 1})
    ->Iterations(1);
#else
const int libmemcached_missing = [] {
  std::fprintf(stderr, "libmemcached not found (Debian: libmemcached-dev): its rows are dropped\n");
  return 0;
}();
#endif

}  // namespace
