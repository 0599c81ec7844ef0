// memcached: multi-get of 100 keys through scaling::memcached::pool (ketama_ring routing, one
// mget per server, all sent before any reply is read) beside libmemcached's own memcached_mget
// + memcached_fetch_result over the same three servers (ketama weighted, as the ring), and
// single gets of both. Three memcached servers started by this binary on loopback.
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <libmemcached/memcached.h>

#include <scaling/memcached/pool.hpp>

#include "engines/servers.hpp"

namespace {

namespace mc = scaling::memcached;
using namespace std::chrono_literals;

constexpr std::size_t keys_per_get = 100;

struct fleet {
  std::vector<std::unique_ptr<engines_test::server>> servers;
  std::vector<std::string> names;
  std::vector<std::string> keys;
  bool up = false;
  fleet() {
    const std::string binary = engines_test::find_program("memcached");
    if (binary.empty()) return;
    for (int i = 0; i < 3; ++i) {
      auto s = std::make_unique<engines_test::server>();
      const auto port = engines_test::free_port();
      if (!s->start(engines_test::memcached_argv(binary, port), port)) return;
      names.push_back("127.0.0.1:" + std::to_string(port));
      servers.push_back(std::move(s));
    }
    mc::pool<> pool{{.servers = names}};
    for (std::size_t i = 0; i < keys_per_get; ++i) {
      keys.push_back("user:" + std::to_string(i));
      pool.set(keys.back(), std::string(100, 'v'), 0ms);
    }
    up = true;
  }
};
fleet& shared_fleet() {
  static fleet f;
  return f;
}

void multi_get_scaling(benchmark::State& state) {
  auto& f = shared_fleet();
  if (!f.up) {
    state.SkipWithError("memcached is not installed (scripts/deps)");
    return;
  }
  mc::pool<> pool{{.servers = f.names}};
  for (auto _ : state) {
    auto got = pool.get_many(f.keys);
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(keys_per_get));
}
BENCHMARK(multi_get_scaling)->Name("multi_get_100/scaling")->UseRealTime();

memcached_st* libmemcached_client(const fleet& f) {
  memcached_st* m = memcached_create(nullptr);
  for (const auto& n : f.names) {
    const auto colon = n.rfind(':');
    memcached_server_add(m, n.substr(0, colon).c_str(),
                         static_cast<in_port_t>(std::stoi(n.substr(colon + 1))));
  }
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  return m;
}

void multi_get_libmemcached(benchmark::State& state) {
  auto& f = shared_fleet();
  if (!f.up) {
    state.SkipWithError("memcached is not installed (scripts/deps)");
    return;
  }
  memcached_st* m = libmemcached_client(f);
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lengths;
  for (const auto& k : f.keys) {
    ptrs.push_back(k.data());
    lengths.push_back(k.size());
  }
  for (auto _ : state) {
    std::vector<std::string> values;
    memcached_mget(m, ptrs.data(), lengths.data(), ptrs.size());
    memcached_return_t rc = MEMCACHED_SUCCESS;
    while (memcached_result_st* r = memcached_fetch_result(m, nullptr, &rc)) {
      values.emplace_back(memcached_result_value(r), memcached_result_length(r));
      memcached_result_free(r);
    }
    benchmark::DoNotOptimize(values);
  }
  memcached_free(m);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(keys_per_get));
}
BENCHMARK(multi_get_libmemcached)->Name("multi_get_100/libmemcached")->UseRealTime();

void single_get_scaling(benchmark::State& state) {
  auto& f = shared_fleet();
  if (!f.up) {
    state.SkipWithError("memcached is not installed (scripts/deps)");
    return;
  }
  mc::pool<> pool{{.servers = f.names}};
  for (auto _ : state) {
    auto v = pool.get("user:7");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(single_get_scaling)->Name("get/scaling")->UseRealTime();

void single_get_libmemcached(benchmark::State& state) {
  auto& f = shared_fleet();
  if (!f.up) {
    state.SkipWithError("memcached is not installed (scripts/deps)");
    return;
  }
  memcached_st* m = libmemcached_client(f);
  for (auto _ : state) {
    std::size_t length = 0;
    std::uint32_t flags = 0;
    memcached_return_t rc = MEMCACHED_SUCCESS;
    char* v = memcached_get(m, "user:7", 6, &length, &flags, &rc);
    benchmark::DoNotOptimize(v);
    std::free(v);
  }
  memcached_free(m);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(single_get_libmemcached)->Name("get/libmemcached")->UseRealTime();

}  // namespace
