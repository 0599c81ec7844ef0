// Redis: our client beside redis-benchmark and a plain hiredis loop on the same server, plus
// the two-level cache and the stream queue.
//
// Rows (a redis-server this binary starts on a free loopback port; 1 client thread):
//   get_pipelined/scaling/16        pipelines of 16 GETs on one connection
//   get_pipelined/hiredis/16        redisAppendCommand x16 + redisGetReply x16 (hiredis's own
//                                   blocking context)
//   get_pipelined/redis_benchmark/16  `redis-benchmark -t get -P 16 -c 1`, its own figure
//   get_round_trip/scaling, /hiredis  one GET per round trip
//   two_level_get/near_hit           scaling::two_level_cache get served from memory
//   two_level_get/redis_round_trip   the same key through the Redis tier (what a hit saves)
//   two_level_invalidation/lag       another client SETs a key held near: time until it is gone
//                                    (the SET round trip included)
//   stream_queue/scaling             publish 64 + receive 64 + ack 64 on Redis Streams
//   stream_queue/work_queue          the same on the in-process work_queue
// Counters: gets_per_s / msgs_per_s (items_per_second).
#include <cstdio>
#include <cstdlib>
#include <hiredis/hiredis.h>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/caching/two_level_cache.hpp>
#include <scaling/queueing/work_queue.hpp>
#include <scaling/redis/cache_tier.hpp>
#include <scaling/redis/connection.hpp>
#include <scaling/redis/stream_queue.hpp>

#include "engines/servers.hpp"

namespace {

namespace redis = scaling::redis;
using namespace std::chrono_literals;

struct server_holder {
  engines_test::scratch_dir dir;
  engines_test::server server;
  std::uint16_t port = 0;
  bool up = false;
  server_holder() {
    const std::string binary = engines_test::find_program("redis-server");
    if (binary.empty()) return;
    port = engines_test::free_port();
    up = server.start(engines_test::redis_argv(binary, port, dir.path()), port);
    if (up) {
      redis::connection c{{"127.0.0.1", port}};
      (void)c.execute({"SET", "key:1", std::string(32, 'v')});
    }
  }
};
server_holder& shared_server() {
  static server_holder s;
  return s;
}
bool require_server(benchmark::State& state) {
  if (shared_server().up) return true;
  state.SkipWithError("redis-server is not installed (scripts/deps)");
  return false;
}
redis::endpoint where() {
  return {"127.0.0.1", shared_server().port};
}

constexpr int depth = 16;

void get_pipelined_scaling(benchmark::State& state) {
  if (!require_server(state)) return;
  redis::connection c{where()};
  redis::pipeline p;
  for (int i = 0; i < depth; ++i)
    p.add({"GET", "key:1"});
  for (auto _ : state) {
    auto replies = c.execute(p);
    benchmark::DoNotOptimize(replies);
  }
  state.SetItemsProcessed(state.iterations() * depth);
}
BENCHMARK(get_pipelined_scaling)->Name("get_pipelined/scaling/16")->UseRealTime();

void get_pipelined_hiredis(benchmark::State& state) {
  if (!require_server(state)) return;
  redisContext* ctx = redisConnect("127.0.0.1", shared_server().port);
  for (auto _ : state) {
    for (int i = 0; i < depth; ++i)
      redisAppendCommand(ctx, "GET key:1");
    for (int i = 0; i < depth; ++i) {
      void* r = nullptr;
      redisGetReply(ctx, &r);
      freeReplyObject(r);
    }
  }
  redisFree(ctx);
  state.SetItemsProcessed(state.iterations() * depth);
}
BENCHMARK(get_pipelined_hiredis)->Name("get_pipelined/hiredis/16")->UseRealTime();

// redis-benchmark's own figure (requests per second from its CSV), reported as a counter.
void get_pipelined_redis_benchmark(benchmark::State& state) {
  if (!require_server(state)) return;
  const std::string tool = engines_test::find_program("redis-benchmark");
  if (tool.empty()) {
    state.SkipWithError("redis-benchmark is not installed (redis-tools)");
    return;
  }
  double rps = 0;
  for (auto _ : state) {
    const std::string cmd = tool + " -p " + std::to_string(shared_server().port) +
                            " -t get -n 400000 -P 16 -c 1 -d 32 --csv 2>/dev/null";
    FILE* out = ::popen(cmd.c_str(), "r");
    char line[512];
    while (out != nullptr && std::fgets(line, sizeof line, out) != nullptr) {
      // "GET","123456.78",...
      const std::string text{line};
      if (text.rfind("\"GET\"", 0) == 0) rps = std::atof(text.c_str() + 7);
    }
    if (out != nullptr) ::pclose(out);
    state.SetIterationTime(rps > 0 ? 400000.0 / rps : 1.0);
  }
  state.counters["items_per_second"] = rps;
}
BENCHMARK(get_pipelined_redis_benchmark)
    ->Name("get_pipelined/redis_benchmark/16")
    ->Iterations(1)
    ->UseManualTime();

void get_round_trip_scaling(benchmark::State& state) {
  if (!require_server(state)) return;
  redis::connection c{where()};
  for (auto _ : state) {
    auto r = c.execute({"GET", "key:1"});
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(get_round_trip_scaling)->Name("get_round_trip/scaling")->UseRealTime();

void get_round_trip_hiredis(benchmark::State& state) {
  if (!require_server(state)) return;
  redisContext* ctx = redisConnect("127.0.0.1", shared_server().port);
  for (auto _ : state) {
    void* r = redisCommand(ctx, "GET key:1");
    freeReplyObject(r);
  }
  redisFree(ctx);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(get_round_trip_hiredis)->Name("get_round_trip/hiredis")->UseRealTime();

void two_level_near_hit(benchmark::State& state) {
  if (!require_server(state)) return;
  redis::cache_tier tier{where(), {.invalidations = redis::tracking::on}};
  scaling::two_level_cache cache{tier, {.near_capacity = 1000, .near_ttl = 1min}};
  (void)tier.wait_channel_for(5s);
  (void)cache.get("key:1");
  for (auto _ : state) {
    auto v = cache.get("key:1");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(two_level_near_hit)->Name("two_level_get/near_hit")->UseRealTime();

void two_level_remote(benchmark::State& state) {
  if (!require_server(state)) return;
  redis::cache_tier tier{where()};
  for (auto _ : state) {
    auto v = tier.get("key:1");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(two_level_remote)->Name("two_level_get/redis_round_trip")->UseRealTime();

// Invalidation lag: another client's SET until the near entry is gone (manual time).
void two_level_invalidation_lag(benchmark::State& state) {
  if (!require_server(state)) return;
  redis::cache_tier tier{where(), {.invalidations = redis::tracking::on}};
  scaling::two_level_cache cache{tier, {.near_capacity = 1000, .near_ttl = 1min}};
  (void)tier.wait_channel_for(5s);
  redis::connection other{where()};
  (void)other.execute({"SET", "lag:key", "v"});
  for (auto _ : state) {
    for (int i = 0; i < 1000 && !cache.near_contains("lag:key"); ++i)
      (void)cache.get("lag:key");
    if (!cache.near_contains("lag:key")) {
      state.SkipWithError("the near cache does not keep the key (tracking channel down?)");
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    (void)other.execute({"SET", "lag:key", "v"});
    while (cache.near_contains("lag:key"))
      std::this_thread::yield();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}
BENCHMARK(two_level_invalidation_lag)->Name("two_level_invalidation/lag")->UseManualTime();

constexpr std::size_t batch = 64;

void stream_queue_scaling(benchmark::State& state) {
  if (!require_server(state)) return;
  static int n = 0;
  redis::stream_queue q{where(), {.stream = "bench" + std::to_string(++n)}};
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i)
      (void)q.publish("payload-of-32-bytes-xxxxxxxxxxxx");
    std::size_t got = 0;
    while (got < batch) {
      for (auto& d : q.receive("c", batch - got)) {
        (void)q.ack(d.receipt);
        ++got;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(stream_queue_scaling)->Name("stream_queue/scaling")->UseRealTime();

void stream_queue_in_process(benchmark::State& state) {
  scaling::work_queue<std::string> q;
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i)
      (void)q.publish("payload-of-32-bytes-xxxxxxxxxxxx");
    for (auto& d : q.receive(1, batch))
      (void)q.ack(d.receipt);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(stream_queue_in_process)->Name("stream_queue/work_queue")->UseRealTime();

}  // namespace
