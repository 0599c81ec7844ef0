// bench_feed: scaling::feed_service beside a naive timeline store (a std::map of vectors, a
// full sort on every read). No library serves feeds in process, so the naive store is the
// baseline the ratio is taken against.
//
// Rows:
//   timeline_read/<impl>/50_of_800: a read of the newest 50 entries of an 800-entry timeline.
//   fan_out/<impl>/<followers>: one post written into every follower's timeline (all
//     materialised and full, so each write also drops the oldest entry); items/s = timeline
//     inserts per second on one core (ours: post() plus run_fan_out() on the calling thread).
//     Counters: bytes_per_entry (memory per materialised entry: allocated slots x 24 B /
//     entries; the naive store: vector capacity x 24 B + its map node / entries).
//   merge_read/<impl>/200_followees: fan-out on read: the newest 50 posts of 200 followees
//     with 50 posts each (ours: a heap k-way merge; naive: gather all, sort).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/feed/feed_service.hpp>

namespace {

using scaling::feed_entry;

constexpr std::size_t length = 800;

// The naive store: what a first version would write.
class naive_feed {
 public:
  void insert(std::uint64_t user, const feed_entry& e) {
    auto& t = timelines_[user];
    t.push_back(e);
    if (t.size() > length) t.erase(t.begin());
  }
  [[nodiscard]] std::vector<feed_entry> read(std::uint64_t user, std::size_t limit) const {
    auto it = timelines_.find(user);
    if (it == timelines_.end()) return {};
    std::vector<feed_entry> all = it->second;
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return older(b, a); });
    all.resize(std::min(limit, all.size()));
    return all;
  }
  [[nodiscard]] double bytes_per_entry() const {
    std::size_t bytes = 0;
    std::size_t entries = 0;
    for (const auto& [user, t] : timelines_) {
      // A std::map node: three pointers, a colour word, the key and the vector header.
      bytes += t.capacity() * sizeof(feed_entry) + 4 * sizeof(void*) + sizeof(user) + sizeof(t);
      entries += t.size();
    }
    return entries == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(entries);
  }

 private:
  std::map<std::uint64_t, std::vector<feed_entry>> timelines_;
};

using write_feed = scaling::feed_service<scaling::fan_out_on_write>;
using read_feed = scaling::feed_service<scaling::fan_out_on_read>;

void timeline_read_scaling(benchmark::State& state) {
  write_feed feed{{.fan_out_workers = 0}};
  for (std::uint64_t a = 1; a <= 100; ++a)
    (void)feed.follow(0, a);
  (void)feed.timeline(0, 1);  // materialise
  for (std::uint64_t i = 0; i < 1000; ++i)
    (void)feed.post(1 + i % 100, i, static_cast<std::int64_t>(i));
  (void)feed.run_fan_out();
  for (auto _ : state)
    benchmark::DoNotOptimize(feed.timeline(0, 50));
}
BENCHMARK(timeline_read_scaling)->Name("timeline_read/scaling/50_of_800");

void timeline_read_naive(benchmark::State& state) {
  naive_feed feed;
  for (std::uint64_t i = 0; i < 1000; ++i)
    feed.insert(0, {static_cast<std::int64_t>(i), i, 1 + i % 100});
  for (auto _ : state)
    benchmark::DoNotOptimize(feed.read(0, 50));
}
BENCHMARK(timeline_read_naive)->Name("timeline_read/naive_map_sort/50_of_800");

void fan_out_scaling(benchmark::State& state) {
  const auto followers = static_cast<std::uint64_t>(state.range(0));
  write_feed feed{{.fan_out_workers = 0, .timeline_memory = std::size_t{4} << 30}};
  for (std::uint64_t f = 1; f <= followers; ++f) {
    (void)feed.follow(f, 0);
    (void)feed.timeline(f, 1);
  }
  std::uint64_t id = 0;
  for (; id < length; ++id) {  // fill every timeline
    (void)feed.post(0, id, static_cast<std::int64_t>(id));
    (void)feed.run_fan_out();
  }
  for (auto _ : state) {
    (void)feed.post(0, id, static_cast<std::int64_t>(id));
    ++id;
    (void)feed.run_fan_out();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(followers));
  const auto s = feed.stats();
  state.counters["bytes_per_entry"] =
      static_cast<double>(s.stored_bytes) / static_cast<double>(s.stored_entries);
}
BENCHMARK(fan_out_scaling)->Name("fan_out/scaling")->Arg(4000)->Arg(20'000);

void fan_out_naive(benchmark::State& state) {
  const auto followers = static_cast<std::uint64_t>(state.range(0));
  naive_feed feed;
  std::uint64_t id = 0;
  for (; id < length; ++id) {
    for (std::uint64_t f = 1; f <= followers; ++f)
      feed.insert(f, {static_cast<std::int64_t>(id), id, 0});
  }
  for (auto _ : state) {
    for (std::uint64_t f = 1; f <= followers; ++f)
      feed.insert(f, {static_cast<std::int64_t>(id), id, 0});
    ++id;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(followers));
  state.counters["bytes_per_entry"] = feed.bytes_per_entry();
}
BENCHMARK(fan_out_naive)->Name("fan_out/naive_map_sort")->Arg(4000)->Arg(20'000);

void merge_read_scaling(benchmark::State& state) {
  read_feed feed;
  for (std::uint64_t a = 1; a <= 200; ++a)
    (void)feed.follow(0, a);
  for (std::uint64_t i = 0; i < 200 * 50; ++i)
    (void)feed.post(1 + i % 200, i, static_cast<std::int64_t>(i));
  for (auto _ : state)
    benchmark::DoNotOptimize(feed.timeline(0, 50));
}
BENCHMARK(merge_read_scaling)->Name("merge_read/scaling/200_followees");

void merge_read_naive(benchmark::State& state) {
  std::map<std::uint64_t, std::vector<feed_entry>> posts;
  std::vector<std::uint64_t> followees;
  for (std::uint64_t a = 1; a <= 200; ++a)
    followees.push_back(a);
  for (std::uint64_t i = 0; i < 200 * 50; ++i)
    posts[1 + i % 200].push_back({static_cast<std::int64_t>(i), i, 1 + i % 200});
  for (auto _ : state) {
    std::vector<feed_entry> all;
    for (auto a : followees) {
      const auto& p = posts[a];
      all.insert(all.end(), p.begin(), p.end());
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return older(b, a); });
    all.resize(50);
    benchmark::DoNotOptimize(all);
  }
}
BENCHMARK(merge_read_naive)->Name("merge_read/naive_map_sort/200_followees");

}  // namespace
