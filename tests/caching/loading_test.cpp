// Loading patterns: single-flight, read-through with negative caching and early expiration,
// cache-aside, write-through, write-behind, refresh-ahead and XFetch.
#include <atomic>
#include <chrono>
#include <cmath>
#include <latch>
#include <limits>
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
        wait_until([&] { return flight.stats().shared == callers - 1; });
        return 42;
      });
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(flight.stats().calls, 1u);
  for (int r : results)
    EXPECT_EQ(r, 42);
  EXPECT_EQ(flight.stats().in_flight, 0u);
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
          wait_until([&] { return flight.stats().shared == callers - 1; });
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
  EXPECT_EQ(flight.stats().calls, 1u);
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
        wait_until([&] { return c.stats().shared_loads == crowd - 1 || c.values().contains(k); });
        return "v" + std::to_string(k);
      });
      if (v == "v1") ok.fetch_add(1);
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), crowd);
  // The first flight's loader waits for the crowd to join it; a reader that comes after it
  // finds the value it stored (a new flight checks the cache before loading).
  EXPECT_EQ(loads.load(), 2) << "one load for the whole crowd, not one per reader";
}

TEST(LoadingCache, EachReadCountsOneHitOrOneMiss) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, int> c{100, {.clock = clock}};
  auto loader = [&](const int& k) -> std::optional<int> {
    clock.advance(2ms);  // each load takes 2 ms of the cache's clock
    return k * 10;
  };
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 10; ++k)
      EXPECT_EQ(c.get_or_load(k, loader), std::optional<int>{k * 10});
  }
  const scaling::cache_stats values = c.values().stats();
  EXPECT_EQ(values.hits, 10u);
  EXPECT_EQ(values.misses, 10u) << "one lookup per read, not two per miss";
  const scaling::loading_cache_stats s = c.stats();
  EXPECT_EQ(s.hits, 10u);
  EXPECT_EQ(s.misses, 10u);
  EXPECT_EQ(s.requests(), 20u);
  EXPECT_DOUBLE_EQ(s.hit_ratio(), 0.5);
  EXPECT_EQ(s.loads, 10u);
  EXPECT_EQ(s.load_failures, 0u);
  EXPECT_EQ(s.total_load_time, 20ms);
  EXPECT_EQ(s.mean_load_time(), 2ms);
  EXPECT_THROW((void)c.get_or_load(99,
                                   [&](const int&) -> std::optional<int> {
                                     clock.advance(5ms);
                                     throw std::runtime_error("down");
                                   }),
               std::runtime_error);
  const scaling::loading_cache_stats after = c.stats();
  EXPECT_EQ(after.misses, 11u);
  EXPECT_EQ(after.loads, 11u);
  EXPECT_EQ(after.load_failures, 1u);
  EXPECT_EQ(after.total_load_time, 25ms) << "failed loads are timed too";
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
  EXPECT_EQ(c.stats().negative_hits, 99u);
  clock.advance(5s);
  EXPECT_FALSE(c.get_or_load(404, missing));
  EXPECT_EQ(source_calls, 2) << "the negative entry expired after its own TTL";
  c.put(404, 1);  // the key now exists
  EXPECT_EQ(c.get_or_load(404, missing).value_or(0), 1);
}

// "Not found" and failures are remembered separately: negative_ttl is about absence only, and
// a loader exception is remembered only under failure_ttl (off by default).
TEST(LoadingCache, NegativeTtlRemembersAbsenceNotFailures) {
  scaling::manual_clock clock;
  int calls = 0;
  bool fail = true;
  auto loader = [&](const int&) -> std::optional<int> {
    ++calls;
    if (fail) throw std::runtime_error("timeout");
    return std::nullopt;
  };
  scaling::loading_cache<int, int> c{10, {.clock = clock}, {.negative_ttl = 30s}};
  EXPECT_THROW((void)c.get_or_load(1, loader), std::runtime_error);
  EXPECT_THROW((void)c.get_or_load(1, loader), std::runtime_error);
  EXPECT_EQ(calls, 2) << "a transient error is not rethrown from the cache for 30 s";
  fail = false;
  EXPECT_FALSE(c.get_or_load(1, loader));
  EXPECT_FALSE(c.get_or_load(1, loader));
  EXPECT_EQ(calls, 3) << "the \"not found\" answer is remembered";
  EXPECT_EQ(c.stats().negative_hits, 1u);
  EXPECT_EQ(c.stats().load_failures, 2u);
}

TEST(LoadingCache, FailuresAreCachedOnlyWithFailureTtl) {
  scaling::manual_clock clock;
  int calls = 0;
  auto failing = [&](const int&) -> std::optional<int> {
    ++calls;
    throw std::runtime_error("timeout");
  };
  scaling::loading_cache<int, int> plain{10, {.clock = clock}};
  EXPECT_THROW((void)plain.get_or_load(1, failing), std::runtime_error);
  EXPECT_THROW((void)plain.get_or_load(1, failing), std::runtime_error);
  EXPECT_EQ(calls, 2);
  scaling::loading_cache<int, int> remembering{10, {.clock = clock}, {.failure_ttl = 1s}};
  EXPECT_THROW((void)remembering.get_or_load(1, failing), std::runtime_error);
  EXPECT_THROW((void)remembering.get_or_load(1, failing), std::runtime_error);
  EXPECT_EQ(calls, 3) << "the second failure came from the negative cache";
  int missing_calls = 0;
  auto missing = [&](const int&) -> std::optional<int> {
    ++missing_calls;
    return std::nullopt;
  };
  EXPECT_FALSE(remembering.get_or_load(2, missing));
  EXPECT_FALSE(remembering.get_or_load(2, missing));
  EXPECT_EQ(missing_calls, 2) << "failure_ttl alone does not remember absence";
  clock.advance(1s);
  EXPECT_EQ(
      remembering.get_or_load(1, [](const int&) { return std::optional<int>{5}; }).value_or(0), 5);
}

TEST(LoadingCache, RejectsBadNegativeConfiguration) {
  using lc = scaling::loading_cache<int, int>;
  EXPECT_THROW((lc{10, {}, {.negative_ttl = 0s}}), scaling::invalid_argument);
  EXPECT_THROW((lc{10, {}, {.negative_ttl = 1s, .negative_capacity = 0}}),
               scaling::invalid_argument);
  EXPECT_THROW((lc{10, {}, {.failure_ttl = 0s}}), scaling::invalid_argument);
  EXPECT_THROW((lc{10, {}, {.failure_ttl = 1s, .negative_capacity = 0}}),
               scaling::invalid_argument);
  EXPECT_THROW((lc{10, {}, {.max_remembered_positions = 0}}), scaling::invalid_argument);
  EXPECT_THROW((lc{0}), scaling::invalid_argument);
}

TEST(CacheGetWithExpiry, ReturnsTheValueWithItsDeadline) {
  scaling::manual_clock clock{scaling::manual_clock::time_point{100s}};
  scaling::cache<int, int> written{10, {.expire_after_write = 60s, .clock = clock}};
  written.put(1, 10);
  written.put(2, 20, 5s);  // its own TTL
  clock.advance(1s);
  const auto one = written.get_with_expiry(1);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->value, 10);
  EXPECT_EQ(one->expires_at, std::optional<std::chrono::nanoseconds>{160s});
  EXPECT_EQ(written.get_with_expiry(2)->expires_at, std::optional<std::chrono::nanoseconds>{105s});
  EXPECT_FALSE(written.get_with_expiry(3));
  clock.advance(59s);
  EXPECT_FALSE(written.get_with_expiry(1)) << "an expired entry is a miss, as for get";
  EXPECT_EQ(written.stats().hits, 2u);
  EXPECT_EQ(written.stats().misses, 2u);
  scaling::cache<int, int> forever{10, {.clock = clock}};
  forever.put(1, 10);
  ASSERT_TRUE(forever.get_with_expiry(1));
  EXPECT_FALSE(forever.get_with_expiry(1)->expires_at) << "no TTL: no deadline";
  scaling::cache<int, int> accessed{10, {.expire_after_access = 10s, .clock = clock}};
  accessed.put(1, 10);  // at 160 s
  clock.advance(4s);
  EXPECT_EQ(accessed.get_with_expiry(1)->expires_at, std::optional<std::chrono::nanoseconds>{174s})
      << "the deadline this read re-armed";
}

// One hot key behind loading_cache<int, int>: TTL 60 s, each load takes 1 s of the cache's
// (manual) clock, so delta = 1 s; filled at 0 s, it first expires at 61 s.
struct hot_key {
  explicit hot_key(double beta, std::optional<std::chrono::nanoseconds> failure_ttl = {})
      : cache{16,
              {.expire_after_write = 60s, .clock = clock},
              {.failure_ttl = failure_ttl, .early_expiration = {.beta = beta, .seed = 42}}} {
    EXPECT_EQ(get(), std::optional<int>{1});
    cache.values().reset_stats();
  }
  std::optional<int> get() {
    return cache.get_or_load(1, [&](const int&) -> std::optional<int> {
      load_started.push_back(clock.now().time_since_epoch());
      if (fail) throw std::runtime_error("database down");
      if (gone) return std::nullopt;
      clock.advance(1s);
      return ++version;
    });
  }
  // Readers arriving every 10 ms until the clock reaches `until`; whether each got a value.
  bool read_until(std::chrono::nanoseconds until) {
    bool served = true;
    while (clock.now().time_since_epoch() + 10ms <= until) {
      clock.advance(10ms);
      served = get().has_value() && served;
    }
    return served;
  }

  scaling::manual_clock clock;  // before the cache, which keeps a copy
  scaling::loading_cache<int, int> cache;
  std::vector<std::chrono::nanoseconds> load_started;  // the clock when each loader call began
  int version = 0;
  bool fail = false;
  bool gone = false;
};

TEST(LoadingCacheEarlyExpiration, NoEarlyReloadFarFromExpiry) {
  hot_key hot{1.0};
  // 4500 readers while 15 s or more remain (15 deltas): P(due) <= e^-15 each.
  EXPECT_TRUE(hot.read_until(46s));
  EXPECT_EQ(hot.load_started.size(), 1u);
  EXPECT_EQ(hot.cache.stats().early_refreshes, 0u);
  EXPECT_EQ(hot.cache.values().stats().hits, 4500u);
}

TEST(LoadingCacheEarlyExpiration, AHotKeyIsReloadedBeforeItExpiresAndNeverMisses) {
  hot_key hot{1.0};
  EXPECT_TRUE(hot.read_until(180s));  // a reader every 10 ms for three TTLs
  EXPECT_EQ(hot.cache.values().stats().misses, 0u) << "no reader ever found it expired";
  ASSERT_GE(hot.load_started.size(), 3u);
  EXPECT_EQ(hot.cache.stats().early_refreshes, hot.load_started.size() - 1);
  for (std::size_t i = 1; i < hot.load_started.size(); ++i) {
    const auto previous = hot.load_started[i - 1];
    // The value loaded from `previous` was stored at previous + 1 s and expires 60 s later.
    EXPECT_LT(hot.load_started[i], previous + 61s) << "reload " << i << " came before expiry";
    EXPECT_GT(hot.load_started[i], previous + 45s) << "reload " << i << " came near expiry";
  }
  EXPECT_LE(hot.load_started.size(), 4u) << "one reload per TTL, not one per reader";
}

TEST(LoadingCacheEarlyExpiration, WithoutItTheSameReadersMissAtExpiry) {
  hot_key hot{0.0};  // off: the default
  EXPECT_TRUE(hot.read_until(180s));
  EXPECT_GE(hot.cache.values().stats().misses, 1u);
  ASSERT_GE(hot.load_started.size(), 2u);
  EXPECT_GE(hot.load_started[1], 61s) << "reloaded only once it had expired";
  EXPECT_EQ(hot.cache.stats().early_refreshes, 0u);
}

TEST(LoadingCacheEarlyExpiration, AFailedEarlyReloadKeepsServingTheCachedValue) {
  hot_key hot{1.0};
  hot.fail = true;
  hot.clock.set(scaling::manual_clock::time_point{50s});
  while (hot.cache.stats().early_refresh_failures == 0 &&
         hot.clock.now().time_since_epoch() < 60s) {
    hot.clock.advance(10ms);
    EXPECT_EQ(hot.get(), std::optional<int>{1}) << "the cached value, not the exception";
  }
  EXPECT_EQ(hot.cache.stats().early_refresh_failures, 1u);
  EXPECT_LT(hot.clock.now().time_since_epoch(), 60s) << "an early reload was tried";
  EXPECT_EQ(hot.cache.stats().early_refreshes, 0u);
  // Each later due reader retries (one at a time), and still gets the cached value.
  EXPECT_TRUE(hot.read_until(61s - 10ms));
  EXPECT_EQ(hot.version, 1);
  EXPECT_EQ(hot.cache.stats().early_refresh_failures, hot.load_started.size() - 1);
  hot.clock.set(scaling::manual_clock::time_point{61s});
  EXPECT_THROW((void)hot.get(), std::runtime_error) << "expired: a miss, whose failure reaches "
                                                       "the caller";
  hot.fail = false;
  EXPECT_EQ(hot.get(), std::optional<int>{2});
}

TEST(LoadingCacheEarlyExpiration, WithFailureCachingAFailurePausesEarlyReloads) {
  hot_key hot{1.0, 30s};
  hot.fail = true;
  hot.clock.set(scaling::manual_clock::time_point{50s});
  EXPECT_TRUE(hot.read_until(61s - 10ms));
  EXPECT_EQ(hot.load_started.size(), 2u) << "one failed early reload, then none for 30 s";
  EXPECT_EQ(hot.cache.stats().early_refresh_failures, 1u);
  hot.clock.set(scaling::manual_clock::time_point{61s});
  EXPECT_THROW((void)hot.get(), std::runtime_error) << "the remembered failure";
  EXPECT_EQ(hot.load_started.size(), 2u);
  EXPECT_EQ(hot.cache.stats().negative_hits, 1u);
}

TEST(LoadingCacheEarlyExpiration, AKeyGoneAtTheSourceIsDroppedByAnEarlyReload) {
  hot_key hot{1.0};
  hot.gone = true;
  hot.clock.set(scaling::manual_clock::time_point{50s});
  std::optional<int> seen = 1;
  while (seen && hot.clock.now().time_since_epoch() < 61s - 10ms) {
    hot.clock.advance(10ms);
    seen = hot.get();
  }
  EXPECT_FALSE(seen) << "the reload's answer, before the entry expired";
  EXPECT_LT(hot.clock.now().time_since_epoch(), 61s - 10ms);
  EXPECT_FALSE(hot.cache.values().contains(1));
}

TEST(LoadingCacheEarlyExpiration, RejectsABadBeta) {
  using lc = scaling::loading_cache<int, int>;
  try {
    lc c{10, {}, {.early_expiration = {.beta = -0.5}}};
    ADD_FAILURE() << "beta < 0 was accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "early_expiration.beta");
    const std::string what = e.what();
    EXPECT_NE(what.find("beta"), std::string::npos) << what;
    EXPECT_NE(what.find("-0.5"), std::string::npos) << what;
  }
  EXPECT_THROW((lc{10, {}, {.early_expiration = {.beta = std::nan("")}}}),
               scaling::invalid_argument);
  EXPECT_THROW(
      (lc{10, {}, {.early_expiration = {.beta = std::numeric_limits<double>::infinity()}}}),
      scaling::invalid_argument);
  EXPECT_NO_THROW((lc{10, {}, {.early_expiration = {.beta = 0}}}));
  EXPECT_NO_THROW((lc{10, {}, {.early_expiration = {.beta = 2.5}}}));
}

TEST(LoadingCacheEarlyExpiration, ThreadsNearExpiryShareOneReload) {
  constexpr int readers = 4;
  constexpr int reads = 2000;
  scaling::manual_clock clock;
  scaling::loading_cache<int, int, scaling::lru, scaling::sharded<4>> c{
      64,
      {.expire_after_write = 60s, .clock = clock},
      {.early_expiration = {.beta = 1, .seed = 9}}};
  std::atomic<int> calls{0};
  auto loader = [&](const int&) -> std::optional<int> {
    const int n = calls.fetch_add(1) + 1;
    clock.advance(1s);
    return n;
  };
  ASSERT_EQ(c.get_or_load(1, loader), std::optional<int>{1});  // expires at 61 s
  clock.set(scaling::manual_clock::time_point{58s});
  std::atomic<int> unserved{0};
  std::latch start{readers};
  std::vector<std::thread> threads;
  for (int t = 0; t < readers; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < reads; ++i) {
        clock.advance(1ms);  // together: 8 s, through the expiry at 61 s
        if (!c.get_or_load(1, loader)) unserved.fetch_add(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(unserved.load(), 0);
  EXPECT_EQ(calls.load(), 2) << "the first load and one reload for every reader";
  EXPECT_GT(clock.now().time_since_epoch(), 61s);
  EXPECT_EQ(c.get_or_load(1, loader), std::optional<int>{2});
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

TEST(RefreshAhead, ACrowdOnAnOldKeyTriggersOneRefresh) {
  scaling::manual_clock clock;
  std::atomic<int> version{1};
  scaling::refresh_ahead_cache<std::string, int> c{
      100,
      [&](const std::string&) { return version.load(); },
      {.refresh_after = 8s, .expire_after = 10s, .clock = clock}};
  EXPECT_EQ(c.get("rate"), 1);
  version = 2;
  clock.advance(9s);  // old: every read from now on wants a refresh
  constexpr int readers = 4;
  constexpr int reads = 200;
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < readers; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < reads; ++i) {
        const int v = c.get("rate");
        if (v == 1 || v == 2) served.fetch_add(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  c.drain();
  EXPECT_EQ(served.load(), readers * reads) << "every read answered, old or new value";
  EXPECT_EQ(c.refreshes(), 1u) << "the crowd queued one refresh, not one per read";
  EXPECT_EQ(c.loads(), 1u) << "no read waited for a load: only the first one missed";
  EXPECT_EQ(c.get("rate"), 2);
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
  // From the time left: the same decisions, in mixed units.
  EXPECT_TRUE(scaling::xfetch_due(2999ms, 1s, 1.0, u));
  EXPECT_FALSE(scaling::xfetch_due(4s, 1s, 1.0, u));
  EXPECT_TRUE(scaling::xfetch_due(0s, 1s, 0.0, 1.0)) << "expired: due whatever the coin";
  EXPECT_THROW((void)scaling::xfetch_due(1s, 1s, -0.1, 0.5), scaling::invalid_argument);
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
