// In-process CDN edge figures: the cost of a fresh hit (lookup, freshness check, response
// copy, Age header), of a miss that fetches from an instant origin and stores the response,
// and the origin offload of a burst of concurrent requests on a cold key. The baseline is a
// mutex-guarded std::unordered_map of responses with no HTTP semantics at all: the floor any
// HTTP-aware cache pays on top of. The async rows are the same requests through
// scaling::asio::async_get on one io_context (the completion is posted, never inline).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <scaling/asio/edge_cache.hpp>
#include <scaling/cdn/edge_cache.hpp>

namespace {

using scaling::http_response;

// As an origin answers: with Date (RFC 9110 section 6.6.1), which the edge would otherwise
// add itself when it stores the response.
http_response object_of(std::size_t bytes) {
  return http_response{200,
                       {{"Date", scaling::format_http_date(std::chrono::floor<std::chrono::seconds>(
                                     std::chrono::system_clock::now()))},
                        {"Cache-Control", "public, max-age=3600"},
                        {"Content-Type", "application/octet-stream"},
                        {"ETag", "\"abc\""}},
                       std::string(bytes, 'x')};
}

std::vector<std::string> keys_of(std::size_t n) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i)
    keys.push_back("/static/object-" + std::to_string(i));
  return keys;
}

struct naive_map {
  std::mutex mutex;
  std::unordered_map<std::string, http_response> map;
  std::optional<http_response> get(const std::string& key) {
    const std::lock_guard lock{mutex};
    const auto it = map.find(key);
    if (it == map.end()) return std::nullopt;
    return it->second;
  }
};

// Shared across the threads of a multi-threaded run.
scaling::edge_cache<>* shared_edge = nullptr;
naive_map* shared_naive = nullptr;

void hit_scaling(benchmark::State& state) {
  const auto keys = keys_of(1000);
  const auto body = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) {
    shared_edge = new scaling::edge_cache<>{
        {.capacity_bytes = 256 << 20, .origin = [body](const scaling::origin_request&) {
           return std::optional{object_of(body)};
         }}};
    for (const auto& key : keys)
      (void)shared_edge->get({.key = key});
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    auto result = shared_edge->get({.key = keys[i++ % keys.size()]});
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["hit_ratio"] = shared_edge->stats().hit_ratio();
    delete shared_edge;
  }
}

void hit_naive(benchmark::State& state) {
  const auto keys = keys_of(1000);
  if (state.thread_index() == 0) {
    shared_naive = new naive_map;
    for (const auto& key : keys) {
      shared_naive->map.emplace(key, object_of(static_cast<std::size_t>(state.range(0))));
    }
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    auto result = shared_naive->get(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) delete shared_naive;
}

// Every request is for a new key: miss, fetch from an instant origin, evaluate, store.
void miss_fetch_scaling(benchmark::State& state) {
  const auto body = static_cast<std::size_t>(state.range(0));
  scaling::edge_cache<> edge{
      {.capacity_bytes = 64 << 20, .origin = [body](const scaling::origin_request&) {
         return std::optional{object_of(body)};
       }}};
  std::uint64_t n = 0;
  std::string key;
  for (auto _ : state) {
    key = "/object/" + std::to_string(n++);
    auto result = edge.get({.key = key});
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

// A burst of concurrent requests on a cold key with a slow origin: how many reach it.
void cold_burst_scaling(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  std::uint64_t origin_fetches = 0, runs = 0;
  for (auto _ : state) {
    std::atomic<int> fetches{0};
    scaling::edge_cache<> edge{{.origin = [&fetches](const scaling::origin_request&) {
      ++fetches;
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
      return std::optional{object_of(1024)};
    }}};
    std::latch start{clients};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        (void)edge.get({.key = "/cold"});
      });
    }
    for (auto& t : threads)
      t.join();
    origin_fetches += static_cast<std::uint64_t>(fetches.load());
    ++runs;
  }
  state.counters["origin_fetches_per_burst"] =
      static_cast<double>(origin_fetches) / static_cast<double>(runs);
}

// A fresh hit through async_get: lookup, copy, one post and its run.
void async_hit_scaling(benchmark::State& state) {
  const auto keys = keys_of(1000);
  const auto body = static_cast<std::size_t>(state.range(0));
  boost::asio::io_context io;
  auto busy = boost::asio::make_work_guard(io);  // so poll() never stops the io_context
  scaling::edge_cache<> edge{
      {.capacity_bytes = 256 << 20, .origin = [body](const scaling::origin_request&) {
         return std::optional{object_of(body)};
       }}};
  for (const auto& key : keys)
    (void)edge.get({.key = key});
  std::size_t i = 0;
  std::size_t answered = 0;
  for (auto _ : state) {
    scaling::asio::async_get(
        edge, {.key = keys[i++ % keys.size()]},
        boost::asio::bind_executor(io, [&answered](const scaling::edge_result<http_response>& r) {
          answered += r.status == scaling::cache_status::hit ? 1 : 0;
        }));
    io.poll();
  }
  if (answered != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a miss");
  state.SetItemsProcessed(state.iterations());
}

// A burst of async requests on a cold key, on one thread, with an origin that answers after
// 5 ms through a timer: how many reach it.
void async_cold_burst_scaling(benchmark::State& state) {
  const auto clients = static_cast<std::size_t>(state.range(0));
  std::uint64_t origin_fetches = 0, runs = 0;
  for (auto _ : state) {
    boost::asio::io_context io;
    std::size_t fetches = 0;
    scaling::edge_cache<> edge{
        {.async_origin = [&io, &fetches](const scaling::origin_request&,
                                         scaling::origin_callback<http_response> answer) {
          ++fetches;
          auto timer =
              std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds{5});
          timer->async_wait([timer, answer = std::move(answer)](boost::system::error_code) {
            answer(object_of(1024));
          });
        }}};
    std::size_t answered = 0;
    for (std::size_t c = 0; c < clients; ++c) {
      scaling::asio::async_get(
          edge, {.key = "/cold"},
          boost::asio::bind_executor(
              io, [&answered](const scaling::edge_result<http_response>&) { ++answered; }));
    }
    io.run();
    if (answered != clients) state.SkipWithError("a request was not answered");
    origin_fetches += fetches;
    ++runs;
  }
  state.counters["origin_fetches_per_burst"] =
      static_cast<double>(origin_fetches) / static_cast<double>(runs);
}

// Purge by tag: 16 tagged objects in a cache of N. The tag index makes the cost follow the
// tagged entries, not N; the scan row is what a cache without one pays (every entry's tags
// checked). Each iteration refills the 16 (untimed) and purges them.
constexpr std::size_t tagged_objects = 16;

void purge_tag_scaling(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  scaling::edge_cache<> edge{
      {.capacity_bytes = std::size_t{1} << 30, .origin = [](const scaling::origin_request& r) {
         http_response response = object_of(64);
         const bool hot = r.key.starts_with("/hot/");
         response.set_header("Surrogate-Key",
                             hot ? "hot" : "cold-" + r.key.substr(r.key.size() - 2));
         return std::optional{response};
       }}};
  for (const auto& key : keys_of(n))
    (void)edge.get({.key = key});
  std::vector<std::string> hot;
  for (std::size_t i = 0; i < tagged_objects; ++i)
    hot.push_back("/hot/" + std::to_string(i));
  std::size_t purged = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (const auto& key : hot)
      (void)edge.get({.key = key});
    state.ResumeTiming();
    purged += edge.purge_tag("hot");
  }
  if (purged != tagged_objects * static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("purge_tag missed a tagged object");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(purged));
}

struct tagged_map {
  std::unordered_map<std::string, std::pair<http_response, std::vector<std::string>>> map;
  std::size_t purge_tag(std::string_view tag) {
    return std::erase_if(map, [tag](const auto& entry) {
      const auto& tags = entry.second.second;
      return std::find(tags.begin(), tags.end(), tag) != tags.end();
    });
  }
};

void purge_tag_scan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  tagged_map cache;
  for (const auto& key : keys_of(n))
    cache.map.emplace(key, std::pair{object_of(64), std::vector<std::string>{"cold"}});
  std::size_t purged = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (std::size_t i = 0; i < tagged_objects; ++i) {
      cache.map.emplace("/hot/" + std::to_string(i),
                        std::pair{object_of(64), std::vector<std::string>{"hot"}});
    }
    state.ResumeTiming();
    purged += cache.purge_tag("hot");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(purged));
}

BENCHMARK(purge_tag_scaling)->Name("purge_tag/scaling")->Arg(1000)->Arg(100000);
BENCHMARK(purge_tag_scan)->Name("purge_tag/scan")->Arg(1000)->Arg(100000);

BENCHMARK(hit_scaling)
    ->Name("hit/scaling")
    ->Arg(1024)
    ->Arg(16384)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(hit_naive)
    ->Name("hit/naive_map")
    ->Arg(1024)
    ->Arg(16384)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(miss_fetch_scaling)->Name("miss_fetch/scaling")->Arg(1024);
BENCHMARK(cold_burst_scaling)->Name("cold_burst/scaling")->Arg(1000)->Iterations(3)->UseRealTime();
BENCHMARK(async_hit_scaling)->Name("async_hit/scaling")->Arg(1024);
BENCHMARK(async_cold_burst_scaling)
    ->Name("async_cold_burst/scaling")
    ->Arg(1000)
    ->Iterations(3)
    ->UseRealTime();

}  // namespace
