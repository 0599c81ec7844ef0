// Invalidation with teeth and bounded waits: a load that started before an invalidation cannot
// cache its value (loading_cache, cache_aside_get with leases), a writer's commit position
// reaches the reload, and waiters of a single flight can stop waiting. Races are reproduced
// deterministically with latches the test controls; time is a manual_clock.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/cache_aside.hpp>
#include <scaling/caching/invalidation.hpp>
#include <scaling/caching/loading_cache.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/core/clock.hpp>
#include <scaling/core/deadline.hpp>

namespace {

using namespace std::chrono_literals;

template <class Pred>
void wait_until(Pred pred) {
  while (!pred())
    std::this_thread::yield();
}

// A source with a primary and one replica that lags: the replica has applied writes up to
// `replica_at` only, so a read that may use it (min_position <= replica_at) sees the version
// it had then. Each write commits at the next position.
struct lagging_source {
  std::vector<std::string> versions{"v0"};  // versions[p]: the row after the write at p
  std::uint64_t replica_at = 0;
  std::vector<std::uint64_t> asked;  // the min_position of each read

  std::uint64_t write(std::string row) {
    versions.push_back(std::move(row));
    return versions.size() - 1;
  }
  std::string read(std::uint64_t min_position) {
    asked.push_back(min_position);
    const std::uint64_t at = min_position <= replica_at ? replica_at : versions.size() - 1;
    return versions[at];
  }
};

// The race: a reader misses and reads the old row; the writer commits and invalidates; the
// reader's load then finishes. Without leases it stores the old row for the whole TTL.
TEST(LoadingCacheInvalidation, ALoadInFlightDuringAnInvalidationIsNotCached) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, std::string> c{100, {.expire_after_write = 1h, .clock = clock}};
  std::string row = "old";
  std::latch read_done{1};
  std::latch writer_done{1};
  std::optional<std::string> reader_got;
  std::thread reader([&] {
    reader_got = c.get_or_load(1, [&](const int&) -> std::optional<std::string> {
      std::string seen = row;
      read_done.count_down();
      writer_done.wait();  // a slow load: the write lands meanwhile
      return seen;
    });
  });
  read_done.wait();
  row = "new";  // the writer commits
  c.invalidate(1);
  writer_done.count_down();
  reader.join();
  EXPECT_EQ(reader_got, std::optional<std::string>{"old"}) << "its caller still gets its value";
  EXPECT_FALSE(c.values().contains(1)) << "the stale set was refused";
  EXPECT_EQ(c.stats().discarded_loads, 1u);
  EXPECT_EQ(c.get_or_load(1, [&](const int&) { return std::optional<std::string>{row}; }),
            std::optional<std::string>{"new"});
  EXPECT_EQ(c.leases().size(), 0u) << "nothing left in the lease table";
}

// A put (write-update) voids the loads in flight the same way: an older load does not
// overwrite the newer value.
TEST(LoadingCacheInvalidation, ALoadInFlightDoesNotOverwriteAPut) {
  scaling::loading_cache<int, std::string> c{100};
  std::latch read_done{1};
  std::latch writer_done{1};
  std::thread reader([&] {
    (void)c.get_or_load(1, [&](const int&) -> std::optional<std::string> {
      read_done.count_down();
      writer_done.wait();
      return "old";
    });
  });
  read_done.wait();
  c.put(1, std::string("new"));
  writer_done.count_down();
  reader.join();
  EXPECT_EQ(c.values().get(1), std::optional<std::string>{"new"});
}

// A load that finds nothing before a create-then-invalidate must not remember "not found".
TEST(LoadingCacheInvalidation, AStaleNotFoundIsNotRemembered) {
  scaling::loading_cache<int, std::string> c{100, {}, {.negative_ttl = 1h}};
  std::latch read_done{1};
  std::latch writer_done{1};
  std::thread reader([&] {
    EXPECT_FALSE(c.get_or_load(1, [&](const int&) -> std::optional<std::string> {
      read_done.count_down();
      writer_done.wait();
      return std::nullopt;
    }));
  });
  read_done.wait();
  c.invalidate(1);  // the row was just created
  writer_done.count_down();
  reader.join();
  EXPECT_EQ(c.get_or_load(1, [](const int&) { return std::optional<std::string>{"created"}; }),
            std::optional<std::string>{"created"});
}

// The second half of the race: after the invalidation, the next miss reloads from a replica
// that has not applied the write yet. invalidate(key, position) sends that reload to a replica
// that has (the loader is told min_position), until a load given it has been cached.
TEST(LoadingCacheInvalidation, TheReloadReadsAtTheWritersCommitPosition) {
  scaling::manual_clock clock;
  lagging_source db;
  scaling::loading_cache<int, std::string> c{100, {.expire_after_write = 1h, .clock = clock}};
  auto loader = [&](const int&, const scaling::load_context& ctx) -> std::optional<std::string> {
    return db.read(ctx.min_position);
  };
  EXPECT_EQ(c.get_or_load(1, loader), std::optional<std::string>{"v0"});
  const std::uint64_t committed = db.write("v1");  // the replica still has v0
  c.invalidate(1, committed);
  EXPECT_EQ(c.get_or_load(1, loader), std::optional<std::string>{"v1"})
      << "not the lagging replica's v0, for the whole TTL";
  ASSERT_EQ(db.asked.size(), 2u);
  EXPECT_EQ(db.asked[1], committed);
  // Cached: the position is forgotten, so later loads may use any replica again.
  c.invalidate(1);
  db.replica_at = 1;
  EXPECT_EQ(c.get_or_load(1, loader), std::optional<std::string>{"v1"});
  EXPECT_EQ(db.asked.back(), 0u);
  EXPECT_EQ(c.leases().size(), 0u);
}

// A loader that takes only the key still works (it cannot honour a position, but a load in
// flight is still voided).
TEST(LoadingCacheInvalidation, AKeyOnlyLoaderStillWorks) {
  scaling::loading_cache<int, int> c{10};
  EXPECT_EQ(c.get_or_load(1, [](const int& k) { return std::optional<int>{k}; }),
            std::optional<int>{1});
  c.invalidate(1, 42);
  EXPECT_EQ(c.get_or_load(1, [](const int& k) { return std::optional<int>{k + 1}; }),
            std::optional<int>{2});
}

// The position survives a load that was voided (its value was not cached), and the largest of
// the positions given wins.
TEST(InvalidationLeases, PositionsLastUntilALoadGivenThemIsCached) {
  scaling::invalidation_leases<int> leases;
  auto a = leases.acquire(1);
  EXPECT_EQ(a.min_position, 0u);
  leases.invalidate(1, 7);
  EXPECT_FALSE(leases.valid(1, a));
  auto b = leases.acquire(1);
  EXPECT_TRUE(leases.valid(1, b));
  EXPECT_EQ(b.min_position, 7u);
  leases.invalidate(1, 5);  // an older write, reported late: 7 stays
  leases.release(1, a, scaling::load_outcome::not_cached);
  leases.release(1, b, scaling::load_outcome::not_cached);
  auto c = leases.acquire(1);
  EXPECT_EQ(c.min_position, 7u);
  leases.release(1, c, scaling::load_outcome::cached);
  EXPECT_EQ(leases.size(), 0u);
  EXPECT_EQ(leases.acquire(1).min_position, 0u);
}

TEST(InvalidationLeases, BeyondItsBoundPositionsFoldIntoAFloor) {
  scaling::invalidation_leases<int> leases{2};
  leases.invalidate(1, 10);
  leases.invalidate(2, 20);
  leases.invalidate(3, 5);  // three idle records: they fold
  EXPECT_EQ(leases.size(), 0u);
  EXPECT_EQ(leases.floor(), 20u);
  EXPECT_EQ(leases.acquire(4).min_position, 20u) << "stricter for every key, never weaker";
  EXPECT_THROW(scaling::invalidation_leases<int>{0}, scaling::invalid_argument);
}

// Cache-aside has the same race; with a lease table beside the cache it is closed the same way.
TEST(CacheAsideInvalidation, ALoadInFlightDuringAnInvalidationIsNotCached) {
  scaling::cache<int, std::string, scaling::lru, scaling::mutex_locked> c{10};
  scaling::invalidation_leases<int> leases;
  lagging_source db;
  std::latch read_done{1};
  std::latch writer_done{1};
  std::optional<std::string> reader_got;
  std::thread reader([&] {
    reader_got =
        scaling::cache_aside_get(c, leases, 1, [&](const int&, const scaling::load_context& ctx) {
          std::optional<std::string> seen = db.read(ctx.min_position);
          read_done.count_down();
          writer_done.wait();
          return seen;
        });
  });
  read_done.wait();
  scaling::cache_aside_write(c, leases, 1, std::string("v1"),
                             [&](const int&, const std::string& row) { return db.write(row); });
  writer_done.count_down();
  reader.join();
  EXPECT_EQ(reader_got, std::optional<std::string>{"v0"});
  EXPECT_FALSE(c.contains(1)) << "the stale set was refused";
  // The reload is told the write's position, so the lagging replica is not used.
  const auto reloaded =
      scaling::cache_aside_get(c, leases, 1, [&](const int&, const scaling::load_context& ctx) {
        return std::optional{db.read(ctx.min_position)};
      });
  EXPECT_EQ(reloaded, std::optional<std::string>{"v1"});
  EXPECT_EQ(c.get(1), std::optional<std::string>{"v1"});
  EXPECT_EQ(leases.size(), 0u);
}

TEST(SingleFlightBoundedWait, AWaiterBehindABlockedCallTimesOutWhileTheCallCompletes) {
  scaling::single_flight<int, int> flight;
  std::latch started{1};
  std::latch release{1};
  std::thread leader([&] {
    EXPECT_EQ(flight.run(1,
                         [&] {
                           started.count_down();
                           release.wait();
                           return 7;
                         }),
              7);
  });
  started.wait();
  int other_calls = 0;
  auto other = [&] { return ++other_calls; };
  const scaling::wait_result<int> waited = flight.run_for(1, other, 1ms);
  EXPECT_EQ(waited.status(), scaling::wait_status::timed_out);
  EXPECT_FALSE(waited.has_value());
  const auto past = flight.run_until(1, other, std::chrono::steady_clock::now() - 1s);
  EXPECT_TRUE(past.timed_out());
  EXPECT_EQ(other_calls, 0) << "a waiter never runs its own function";
  // "Forever" saturates instead of overflowing, and waits for the call.
  std::optional<scaling::wait_result<int>> patient;
  std::thread forever(
      [&] { patient.emplace(flight.run_for(1, other, std::chrono::hours::max())); });
  wait_until([&] { return flight.stats().shared == 3; });
  release.count_down();
  leader.join();
  forever.join();
  ASSERT_TRUE(patient && patient->has_value());
  EXPECT_EQ(**patient, 7);
  const scaling::single_flight_stats s = flight.stats();
  EXPECT_EQ(s.calls, 1u);
  EXPECT_EQ(s.shared, 3u);
  EXPECT_EQ(s.abandoned, 2u);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST(SingleFlightBoundedWait, AStopRequestWakesAWaiter) {
  scaling::single_flight<int, int> flight;
  std::latch started{1};
  std::latch release{1};
  std::thread leader([&] {
    (void)flight.run(1, [&] {
      started.count_down();
      release.wait();
      return 7;
    });
  });
  started.wait();
  std::stop_source stop;
  std::optional<scaling::wait_result<int>> waited;
  std::thread waiter([&] {
    waited.emplace(flight.run_until(
        1, [] { return 0; }, std::chrono::steady_clock::time_point::max(), stop.get_token()));
  });
  wait_until([&] { return flight.stats().shared == 1; });
  stop.request_stop();
  waiter.join();
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->status(), scaling::wait_status::stopped);
  EXPECT_TRUE(flight
                  .run_for(
                      1, [] { return 0; }, 1h, stop.get_token())
                  .stopped())
      << "already stopped: no wait, no call";
  release.count_down();
  leader.join();
  EXPECT_EQ(flight.stats().calls, 1u);
}

TEST(LoadingCacheBoundedWait, AReaderBehindABlockedLoadTimesOutAndTheLoadStillCaches) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, int> c{10, {.clock = clock}};
  std::latch started{1};
  std::latch release{1};
  std::thread leader([&] {
    EXPECT_EQ(c.get_or_load(1,
                            [&](const int&) -> std::optional<int> {
                              started.count_down();
                              release.wait();
                              return 7;
                            }),
              std::optional<int>{7});
  });
  started.wait();
  auto never = [](const int&) -> std::optional<int> { throw std::logic_error("not called"); };
  const auto waited = c.get_or_load_for(1, never, 1ms);
  EXPECT_EQ(waited.status(), scaling::wait_status::timed_out);
  std::stop_source stop;
  std::optional<scaling::wait_result<std::optional<int>>> stopped;
  std::thread waiter([&] {
    stopped.emplace(c.get_or_load_until(1, never, std::chrono::steady_clock::time_point::max(),
                                        stop.get_token()));
  });
  wait_until([&] { return c.stats().shared_loads == 2; });
  stop.request_stop();
  waiter.join();
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status(), scaling::wait_status::stopped);
  release.count_down();
  leader.join();
  EXPECT_EQ(c.values().get(1), std::optional<int>{7}) << "the load installed its value";
  const auto hit = c.get_or_load_for(1, never, 0s);
  ASSERT_TRUE(hit.has_value()) << "a hit needs no wait";
  EXPECT_EQ(*hit, std::optional<int>{7});
  EXPECT_EQ(c.stats().loads, 1u);
}

}  // namespace
