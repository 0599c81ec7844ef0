// Loading patterns: single-flight, read-through with negative caching, cache-aside,
// write-through, write-behind, refresh-ahead and XFetch.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache_aside.hpp>
#include <scaling/caching/loading_cache.hpp>
#include <scaling/caching/refresh_ahead.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/caching/write_behind.hpp>
#include <scaling/caching/xfetch.hpp>
#include <scaling/core/clock.hpp>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;

// Waits (without a time limit: the test runner's timeout is the backstop) until pred holds.
template <class Pred>
void wait_until(Pred pred) {
  while (!pred())
    std::this_thread::yield();
}

TEST(SingleFlight, ConcurrentCallersShareOneCall) {
  constexpr int callers = 8;
  scaling::single_flight<std::string, int> flight;
  std::atomic<int> calls{0};
  std::vector<int> results(callers);
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] = flight.run("hot", [&] {
        calls.fetch_add(1);
        // Hold the flight open until every other caller has joined it.
        wait_until([&] { return flight.shared() == callers - 1; });
        return 42;
      });
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(flight.calls(), 1u);
  for (int r : results)
    EXPECT_EQ(r, 42);
  EXPECT_EQ(flight.in_flight(), 0u);
  EXPECT_EQ(flight.run("hot", [] { return 7; }), 7) << "results are not kept after the flight";
}

TEST(SingleFlight, TheExceptionReachesEveryWaiter) {
  constexpr int callers = 6;
  scaling::single_flight<int, int> flight;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      try {
        (void)flight.run(1, [&]() -> int {
          wait_until([&] { return flight.shared() == callers - 1; });
          throw std::runtime_error("database down");
        });
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "database down") failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), callers);
  EXPECT_EQ(flight.calls(), 1u);
  EXPECT_EQ(flight.run(1, [] { return 3; }), 3) << "the failure is not remembered";
}

TEST(LoadingCache, StampedeOnAHotKeyLoadsOnce) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, std::string> c{100, {.expire_after_write = 10s, .clock = clock}};
  std::atomic<int> loads{0};
  auto loader = [&](const int& k) -> std::optional<std::string> {
    loads.fetch_add(1);
    return "v" + std::to_string(k);
  };
  EXPECT_EQ(c.get_or_load(1, loader).value_or(""), "v1");
  EXPECT_EQ(c.get_or_load(1, loader).value_or(""), "v1");
  EXPECT_EQ(loads.load(), 1);
  clock.advance(10s);  // the hot key expires; a crowd arrives
  constexpr int crowd = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < crowd; ++i) {
    threads.emplace_back([&] {
      const auto v = c.get_or_load(1, [&](const int& k) -> std::optional<std::string> {
        loads.fetch_add(1);
        wait_until([&] { return c.shared_loads() == crowd - 1 || c.values().contains(k); });
        return "v" + std::to_string(k);
      });
      if (v == "v1") ok.fetch_add(1);
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), crowd);
  EXPECT_LE(loads.load(), 3) << "one load per flight, not one per reader";
}

TEST(LoadingCache, NegativeCachingStopsPenetrationForItsOwnTtl) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, int> c{
      100, {.expire_after_write = 1h, .clock = clock}, {.negative_ttl = 5s}};
  int source_calls = 0;
  auto missing = [&](const int&) -> std::optional<int> {
    ++source_calls;
    return std::nullopt;
  };
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(c.get_or_load(404, missing));
  EXPECT_EQ(source_calls, 1);
  EXPECT_EQ(c.negative_hits(), 99u);
  clock.advance(5s);
  EXPECT_FALSE(c.get_or_load(404, missing));
  EXPECT_EQ(source_calls, 2) << "the negative entry expired after its own TTL";
  c.put(404, 1);  // the key now exists
  EXPECT_EQ(c.get_or_load(404, missing).value_or(0), 1);
}

TEST(LoadingCache, FailuresAreCachedOnlyWithNegativeCaching) {
  scaling::manual_clock clock;
  int calls = 0;
  auto failing = [&](const int&) -> std::optional<int> {
    ++calls;
    throw std::runtime_error("timeout");
  };
  scaling::loading_cache<int, int> plain{10, {.clock = clock}};
  EXPECT_THROW(plain.get_or_load(1, failing), std::runtime_error);
  EXPECT_THROW(plain.get_or_load(1, failing), std::runtime_error);
  EXPECT_EQ(calls, 2);
  scaling::loading_cache<int, int> negative{10, {.clock = clock}, {.negative_ttl = 1s}};
  EXPECT_THROW(negative.get_or_load(1, failing), std::runtime_error);
  EXPECT_THROW(negative.get_or_load(1, failing), std::runtime_error);
  EXPECT_EQ(calls, 3) << "the second failure came from the negative cache";
  clock.advance(1s);
  EXPECT_EQ(negative.get_or_load(1, [](const int&) { return std::optional<int>{5}; }).value_or(0),
            5);
}

TEST(LoadingCache, RejectsBadNegativeConfiguration) {
  using lc = scaling::loading_cache<int, int>;
  EXPECT_THROW((lc{10, {}, {.negative_ttl = 0s}}), scaling::invalid_argument);
  EXPECT_THROW((lc{10, {}, {.negative_ttl = 1s, .negative_capacity = 0}}),
               scaling::invalid_argument);
  EXPECT_THROW((lc{0}), scaling::invalid_argument);
}

TEST(CacheAside, MissLoadsAndCaches) {
  scaling::cache<int, int> c{10};
  int loads = 0;
  auto load = [&](int k) -> std::optional<int> {
    ++loads;
    return k < 100 ? std::optional<int>{k * 2} : std::nullopt;
  };
  EXPECT_EQ(scaling::cache_aside_get(c, 4, load).value_or(0), 8);
  EXPECT_EQ(scaling::cache_aside_get(c, 4, load).value_or(0), 8);
  EXPECT_FALSE(scaling::cache_aside_get(c, 500, load));
  EXPECT_EQ(loads, 2);
  EXPECT_FALSE(c.contains(500));
}

TEST(CacheAside, InvalidateVersusUpdateOnWrite) {
  std::map<int, int> db{{1, 10}};
  scaling::cache<int, int> c{10};
  auto load = [&](int k) -> std::optional<int> { return db.at(k); };
  auto write = [&](int k, int v) { db[k] = v; };
  EXPECT_EQ(scaling::cache_aside_get(c, 1, load).value_or(0), 10);
  // Invalidate: the cache drops its copy; the next read reloads the new value.
  scaling::cache_aside_write(c, 1, 11, write);
  EXPECT_FALSE(c.contains(1));
  EXPECT_EQ(scaling::cache_aside_get(c, 1, load).value_or(0), 11);
  // Update: the cache holds the new value at once.
  scaling::cache_aside_write(c, 1, 12, write, scaling::write_policy::update);
  EXPECT_EQ(c.get(1).value_or(0), 12);
  // A write that bypasses the cache leaves it stale until invalidated or expired.
  db[1] = 13;
  EXPECT_EQ(c.get(1).value_or(0), 12);
}

TEST(WriteThrough, SourceFirstAndNothingCachedOnFailure) {
  std::map<int, int> db;
  bool fail = false;
  scaling::cache<int, int> c{10};
  scaling::write_through wt{c, [&](const int& k, const int& v) {
                              if (fail) throw std::runtime_error("db down");
                              db[k] = v;
                            }};
  wt.put(1, 1);
  EXPECT_EQ(db.at(1), 1);
  EXPECT_EQ(wt.get(1).value_or(0), 1);
  fail = true;
  EXPECT_THROW(wt.put(1, 2), std::runtime_error);
  EXPECT_EQ(db.at(1), 1);
  EXPECT_FALSE(c.contains(1)) << "never newer than the source, and not older either";
}

TEST(WriteBehind, BatchesByCountAndCoalesces) {
  std::mutex m;
  std::vector<std::size_t> batch_sizes;
  std::map<int, int> db;
  {
    scaling::write_behind<int, int> wb{[&](const auto& batch) {
                                         std::scoped_lock lock(m);
                                         batch_sizes.push_back(batch.size());
                                         for (const auto& [k, v] : batch)
                                           db[k] = v;
                                       },
                                       {.max_batch = 10, .max_delay = 1h}};
    for (int round = 0; round < 3; ++round) {
      for (int k = 0; k < 5; ++k)
        wb.write(k, round);  // coalesced: 5 keys, not 15 writes
    }
    EXPECT_EQ(wb.pending(), 5u);
    EXPECT_EQ(wb.coalesced(), 10u);
    for (int k = 5; k < 10; ++k)
      wb.write(k, 7);  // the 10th key triggers a batch
    wait_until([&] { return wb.batches() == 1; });
    std::scoped_lock lock(m);
    ASSERT_EQ(batch_sizes.size(), 1u);
    EXPECT_EQ(batch_sizes[0], 10u);
    EXPECT_EQ(db.at(0), 2) << "the latest value wins";
  }
}

TEST(WriteBehind, FlushesByTimeAndOnShutdown) {
  std::atomic<std::size_t> written{0};
  {
    scaling::write_behind<int, int> wb{[&](const auto& batch) { written += batch.size(); },
                                       {.max_batch = 1000, .max_delay = 1ms}};
    wb.write(1, 1);
    wait_until([&] { return written.load() == 1; });  // the delay, not the count, sent it
    wb.write(2, 2);
    wb.write(3, 3);
  }
  EXPECT_EQ(written.load(), 3u) << "nothing lost on shutdown";
  std::atomic<std::size_t> at_exit{0};
  {
    scaling::write_behind<int, int> wb{[&](const auto& batch) { at_exit += batch.size(); },
                                       {.max_batch = 1000, .max_delay = 1h}};
    for (int k = 0; k < 50; ++k)
      wb.write(k, k);
  }
  EXPECT_EQ(at_exit.load(), 50u);
}

TEST(WriteBehind, FailedBatchesAreReportedKeptAndRetried) {
  std::atomic<bool> fail{true};
  std::map<int, int> db;
  std::vector<std::size_t> reported;
  std::mutex m;
  {
    scaling::write_behind<int, int> wb{[&](const auto& batch) {
                                         if (fail) throw std::runtime_error("db down");
                                         std::scoped_lock lock(m);
                                         for (const auto& [k, v] : batch)
                                           db[k] = v;
                                       },
                                       {.max_batch = 1000,
                                        .max_delay = 1h,
                                        .on_error = [&](const auto& batch, std::exception_ptr) {
                                          std::scoped_lock lock(m);
                                          reported.push_back(batch.size());
                                        }}};
    wb.write(1, 1);
    wb.write(2, 2);
    EXPECT_FALSE(wb.flush());
    EXPECT_EQ(wb.pending(), 2u);
    wb.write(1, 10);  // newer than the failed value
    fail = false;
    EXPECT_TRUE(wb.flush());
    EXPECT_EQ(wb.failures(), 1u);
    EXPECT_EQ(wb.written(), 2u);
  }
  EXPECT_EQ(db.at(1), 10);
  EXPECT_EQ(db.at(2), 2);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], 2u);
  // A failure at shutdown is reported with the entries.
  std::size_t lost = 0;
  {
    scaling::write_behind<int, int> wb{
        [](const auto&) { throw std::runtime_error("db down"); },
        {.max_delay = 1h,
         .on_error = [&](const auto& batch, std::exception_ptr) { lost = batch.size(); }}};
    wb.write(1, 1);
  }
  EXPECT_EQ(lost, 1u);
}

TEST(WriteBehind, RejectsBadOptions) {
  auto writer = [](const std::vector<std::pair<int, int>>&) {};
  EXPECT_THROW((scaling::write_behind<int, int>{writer, {.max_batch = 0}}),
               scaling::invalid_argument);
  EXPECT_THROW((scaling::write_behind<int, int>{writer, {.max_delay = 0s}}),
               scaling::invalid_argument);
}

TEST(RefreshAhead, ServesOldValueWhileOneRefreshRuns) {
  scaling::manual_clock clock;
  std::atomic<int> version{1};
  std::atomic<int> loads{0};
  scaling::refresh_ahead_cache<std::string, int> c{
      100,
      [&](const std::string&) {
        loads.fetch_add(1);
        return version.load();
      },
      {.refresh_after = 8s, .expire_after = 10s, .clock = clock}};
  EXPECT_EQ(c.get("rate"), 1);
  EXPECT_EQ(loads.load(), 1);
  version = 2;
  clock.advance(5s);
  EXPECT_EQ(c.get("rate"), 1) << "young: no refresh";
  c.drain();
  EXPECT_EQ(c.refreshes(), 0u);
  clock.advance(4s);  // 9 s old: past refresh_after, before expiry
  EXPECT_EQ(c.get("rate"), 1) << "the old value is served at once";
  c.drain();
  EXPECT_EQ(c.refreshes(), 1u);
  EXPECT_EQ(c.get("rate"), 2);
  clock.advance(20s);  // nobody read it: it expired, the next read loads
  EXPECT_EQ(c.get("rate"), 2);
  EXPECT_EQ(c.loads(), 2u);
}

TEST(RefreshAhead, RejectsBadDurations) {
  auto loader = [](const int&) { return 1; };
  using rac = scaling::refresh_ahead_cache<int, int>;
  EXPECT_THROW((rac{10, loader, {.refresh_after = 10s, .expire_after = 10s}}),
               scaling::invalid_argument);
  EXPECT_THROW((rac{10, loader, {.refresh_after = 0s, .expire_after = 10s}}),
               scaling::invalid_argument);
}

TEST(XFetch, RefreshesEarlierAsExpiryNears) {
  using tp = std::chrono::steady_clock::time_point;
  const tp expiry{100s};
  // u = 1 gives -ln(u) = 0: never early, only at expiry.
  EXPECT_FALSE(scaling::xfetch_due(tp{99s}, expiry, 1s, 1.0, 1.0));
  EXPECT_TRUE(scaling::xfetch_due(tp{100s}, expiry, 1s, 1.0, 1.0));
  // u = e^-3: acts up to 3 x delta x beta ahead.
  const double u = std::exp(-3.0);
  EXPECT_TRUE(scaling::xfetch_due(tp{97s + 1ms}, expiry, 1s, 1.0, u));
  EXPECT_FALSE(scaling::xfetch_due(tp{96s}, expiry, 1s, 1.0, u));
  EXPECT_TRUE(scaling::xfetch_due(tp{94s + 1ms}, expiry, 1s, 2.0, u)) << "beta 2: twice as early";
  EXPECT_THROW((void)scaling::xfetch_due(tp{}, expiry, 1s, -1.0, 0.5), scaling::invalid_argument);
  EXPECT_THROW((void)scaling::xfetch_due(tp{}, expiry, 1s, 1.0, 0.0), scaling::invalid_argument);
  // Over many readers, the chance of refreshing grows as expiry nears.
  scaling::xfetch early{42};
  int far = 0;
  int near = 0;
  for (int i = 0; i < 10'000; ++i) {
    far += early.due(tp{90s}, expiry, 1s) ? 1 : 0;
    near += early.due(tp{99s}, expiry, 1s) ? 1 : 0;
  }
  EXPECT_LT(far, 10);     // P = e^-10
  EXPECT_GT(near, 3000);  // P = e^-1 ~ 0.37
}

}  // namespace
