#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/sharding/sharded_id.hpp>

#include "test_support.hpp"

namespace {

scaling::manual_clock clock_at(std::int64_t unix_ms) {
  return scaling::manual_clock{
      scaling::manual_clock::time_point{std::chrono::milliseconds{unix_ms}}};
}

TEST(ShardedId, InstagramVector) {
  EXPECT_EQ(scaling::encode(scaling::instagram_layout, 1387263000, 1341, 905),
            11637205501278089ULL);
  const auto parts = scaling::decode(scaling::instagram_layout, 11637205501278089ULL);
  EXPECT_EQ(parts.ms_since_epoch, 1387263000U);
  EXPECT_EQ(parts.shard, 1341U);
  EXPECT_EQ(parts.sequence, 905U);
  EXPECT_EQ(parts.unix_ms, 1314220021721 + 1387263000);
}

TEST(ShardedId, GeneratorEmbedsTimeShardAndSequence) {
  auto clock = clock_at(1288834974657 + 5000);
  scaling::sharded_id_generator<scaling::manual_clock> ids{scaling::snowflake_layout, 7, clock};
  const auto a = scaling::decode(scaling::snowflake_layout, ids.next());
  const auto b = scaling::decode(scaling::snowflake_layout, ids.next());
  EXPECT_EQ(a.ms_since_epoch, 5000U);
  EXPECT_EQ(a.shard, 7U);
  EXPECT_EQ(a.sequence, 0U);
  EXPECT_EQ(b.sequence, 1U);
  clock.advance(std::chrono::milliseconds{3});
  const auto c = scaling::decode(scaling::snowflake_layout, ids.next());
  EXPECT_EQ(c.ms_since_epoch, 5003U);
  EXPECT_EQ(c.sequence, 0U);
}

TEST(ShardedId, SequenceOverflowWaitsForTheNextMillisecond) {
  auto clock = clock_at(1314220021721 + 100);
  scaling::sharded_id_generator<scaling::manual_clock> ids{scaling::instagram_layout, 1, clock};
  std::uint64_t last = 0;
  for (int i = 0; i < 1024; ++i) {
    const auto id = ids.try_next();
    ASSERT_TRUE(id.has_value());
    ASSERT_GT(*id, last);
    last = *id;
  }
  EXPECT_FALSE(ids.try_next().has_value());  // 1024 ids in this millisecond: exhausted
  std::thread waiter([&] { last = ids.next(); });
  clock.advance(std::chrono::milliseconds{1});
  waiter.join();
  EXPECT_EQ(scaling::decode(scaling::instagram_layout, last).ms_since_epoch, 101U);
}

TEST(ShardedId, ClockGoingBackwardsNeverRepeatsOrDecreases) {
  auto clock = clock_at(1314220021721 + 1000);
  scaling::sharded_id_generator<scaling::manual_clock> ids{scaling::instagram_layout, 3, clock};
  const std::uint64_t before = ids.next();
  clock.advance(std::chrono::milliseconds{-500});
  const std::uint64_t after = ids.next();
  EXPECT_GT(after, before);
  EXPECT_EQ(scaling::decode(scaling::instagram_layout, after).ms_since_epoch, 1000U);
}

TEST(ShardedId, UniqueAndIncreasingPerThreadUnderContention) {
  scaling::sharded_id_generator<> ids{scaling::instagram_layout, 5};
  const int threads = 4;
  const int per_thread = sharding_test::slow_build ? 2000 : 20000;
  std::vector<std::vector<std::uint64_t>> issued(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        issued[static_cast<std::size_t>(t)].push_back(ids.next());
    });
  }
  for (auto& w : workers)
    w.join();
  std::vector<std::uint64_t> all;
  for (const auto& list : issued) {
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
    all.insert(all.end(), list.begin(), list.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(threads * per_thread));
}

TEST(ShardedId, BadInput) {
  EXPECT_THROW((void)scaling::encode(scaling::instagram_layout, 0, 8192, 0),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::encode(scaling::instagram_layout, 0, 0, 1024),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::encode({40, 20, 10, 0}, 0, 0, 0), scaling::invalid_argument);
  EXPECT_THROW((scaling::sharded_id_generator<>{scaling::instagram_layout, 8192}),
               scaling::invalid_argument);
  scaling::sharded_id_generator<scaling::manual_clock> early{scaling::instagram_layout, 1,
                                                             clock_at(0)};
  EXPECT_THROW((void)early.next(), scaling::invalid_argument);  // before the epoch
}

}  // namespace
