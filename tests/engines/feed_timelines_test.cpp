// feed_service with its timelines in Redis (redis_timelines), against a real redis-server: the
// same timelines as fan-out on read once drained, and what happens when Redis goes away.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/feed/feed_service.hpp>
#include <scaling/feed/redis_timelines.hpp>

#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
using scaling::feed_entry;
using scaling::feed_options;

template <class Policy>
using redis_feed = scaling::feed_service<Policy, scaling::manual_clock, scaling::redis_timelines>;
template <class Policy>
using local_feed = scaling::feed_service<Policy, scaling::manual_clock>;

struct redis_fixture {
  engines_test::scratch_dir dir;
  engines_test::server redis;
  bool start(const std::string& binary) {
    const std::uint16_t port = engines_test::free_port();
    return redis.start(engines_test::redis_argv(binary, port, dir.path()), port);
  }
  [[nodiscard]] scaling::redis_timelines_options store(const std::string& prefix) const {
    return {.server = {"127.0.0.1", redis.port()},
            .connection = {.connect_timeout = 500ms,
                           .command_timeout = 2000ms,
                           .reconnect_backoff_min = 1ms,
                           .reconnect_backoff_max = 1ms},
            .key_prefix = prefix};
  }
};

std::vector<std::uint64_t> ids(const std::vector<feed_entry>& t) {
  std::vector<std::uint64_t> out;
  for (const auto& e : t)
    out.push_back(e.post);
  return out;
}

TEST(FeedRedisTimelines, RejectsBadOptions) {
  const feed_options o{};
  EXPECT_THROW(scaling::redis_timelines({.key_prefix = ""}, o), std::invalid_argument);
  EXPECT_THROW(scaling::redis_timelines({.released_ttl = 0ms}, o), std::invalid_argument);
}

// V2 and V3 with timelines in Redis answer as fan-out on read (in process) once drained, on a
// random graph with celebrities, unfollows, removals, time going backwards, timelines short
// enough to overflow, and a memory bound that evicts and rebuilds timelines.
TEST(FeedRedisTimelines, RedisBackedPoliciesAnswerAsFanOutOnReadOnceDrained) {
  SCALING_REQUIRE_SERVER(binary, "redis-server");
  redis_fixture f;
  ASSERT_TRUE(f.start(binary));
  constexpr std::size_t length = 8;
  constexpr std::uint64_t users = 30;
  const feed_options o{.timeline_length = length,
                       .fan_out_batch = 4,
                       .fan_out_workers = 0,
                       .timeline_memory = 32 * (length * 24 + 256),
                       .celebrity_threshold = 6};
  scaling::manual_clock clock;
  local_feed<scaling::fan_out_on_read> v1{o, clock};
  redis_feed<scaling::fan_out_on_write> v2{o, f.store("v2:"), clock};
  redis_feed<scaling::hybrid_fan_out> v3{o, f.store("v3:"), clock};
  std::mt19937_64 rng{7};
  auto pick = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>{0, n - 1}(rng);
  };
  auto every = [&](auto&& fn) {
    fn(v1);
    fn(v2);
    fn(v3);
  };
  auto followee = [&] { return pick(3) == 0 ? pick(users) : pick(3); };
  std::uint64_t next_post = 1;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> made;
  for (int step = 0; step < 700; ++step) {
    const auto op = pick(100);
    if (op < 25) {
      const auto u = pick(users);
      const auto a = followee();
      if (u == a) continue;
      const bool want = v1.follow(u, a);
      EXPECT_EQ(v2.follow(u, a), want);
      EXPECT_EQ(v3.follow(u, a), want);
    } else if (op < 35) {
      const auto u = pick(users);
      const auto a = followee();
      const bool want = v1.unfollow(u, a);
      EXPECT_EQ(v2.unfollow(u, a), want);
      EXPECT_EQ(v3.unfollow(u, a), want);
    } else if (op < 65) {
      const auto a = pick(5) == 0 ? pick(users) : pick(6);
      const std::int64_t t =
          static_cast<std::int64_t>(step) * 10 - static_cast<std::int64_t>(pick(40));
      const std::uint64_t id = next_post++;
      made.emplace_back(a, id);
      every([&](auto& r) { EXPECT_TRUE(r.post(a, id, t)); });
    } else if (op < 72 && !made.empty()) {
      const auto [a, id] = made[pick(made.size())];
      const bool want = v1.remove(a, id);
      EXPECT_EQ(v2.remove(a, id), want);
      EXPECT_EQ(v3.remove(a, id), want);
    } else if (op < 95) {
      const auto u = pick(users);
      const std::size_t limit = 1 + pick(length + 2);
      every([&](auto& r) { (void)r.timeline(u, limit); });
    } else {
      const std::size_t n = pick(4);
      every([&](auto& r) { (void)r.run_fan_out(n); });
    }
    if (step % 350 == 349) {
      every([&](auto& r) { (void)r.run_fan_out(); });
      for (std::uint64_t u = 0; u < users; ++u) {
        for (const std::size_t limit : {std::size_t{1}, std::size_t{5}, length + 3}) {
          const auto want = v1.timeline(u, limit);
          ASSERT_EQ(v2.timeline(u, limit), want) << "V2, step " << step << " user " << u;
          ASSERT_EQ(v3.timeline(u, limit), want) << "V3, step " << step << " user " << u;
        }
      }
    }
  }
  EXPECT_GT(v2.stats().timeline_writes, 0U);
  EXPECT_EQ(v2.stats().fan_out_errors, 0U);
}

// Redis down: fan-out and reads fail with a redis::error naming the server, within the
// connection's timeouts; once Redis is back (empty: a restart lost the lists) the next read
// rebuilds the timeline. A list Redis dropped (maxmemory eviction, expiry) is not recreated by
// the fan-out (LPUSHX answers 0) and is rebuilt by the next read.
TEST(FeedRedisTimelines, RedisDownIsAnErrorAndALostListIsRebuilt) {
  SCALING_REQUIRE_SERVER(binary, "redis-server");
  redis_fixture f;
  ASSERT_TRUE(f.start(binary));
  redis_feed<scaling::fan_out_on_write> feed{{.fan_out_workers = 0}, f.store("down:")};
  ASSERT_TRUE(feed.follow(1, 2));
  EXPECT_TRUE(feed.timeline(1, 5).empty());  // materialised
  ASSERT_TRUE(feed.post(2, 10, 10));
  (void)feed.run_fan_out();
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{10}));

  f.redis.stop();
  ASSERT_TRUE(feed.post(2, 11, 11));
  EXPECT_THROW((void)feed.run_fan_out(), scaling::redis::error);
  EXPECT_EQ(feed.stats().fan_out_errors, 1U);
  EXPECT_EQ(feed.stats().pending_writes, 0U);  // the failed batch was dropped
  try {
    (void)feed.timeline(1, 5);
    ADD_FAILURE() << "no error";
  } catch (const scaling::redis::error& e) {
    EXPECT_EQ(e.server(), "127.0.0.1:" + std::to_string(f.redis.port()));
  }

  ASSERT_TRUE(f.redis.restart());  // an empty Redis
  const auto rebuilds = feed.stats().rebuilds;
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{11, 10}));
  EXPECT_EQ(feed.stats().rebuilds, rebuilds + 1);

  scaling::redis::connection c{{"127.0.0.1", f.redis.port()}};
  const auto keys = c.execute({"KEYS", "down:1:*"});
  ASSERT_EQ(keys.elements().size(), 1U);
  (void)c.execute({"DEL", keys.elements()[0].str()});  // as maxmemory eviction would
  ASSERT_TRUE(feed.post(2, 12, 12));
  (void)feed.run_fan_out();
  EXPECT_EQ(c.execute({"EXISTS", keys.elements()[0].str()}).integer(), 0);  // LPUSHX
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{12, 11, 10}));
  EXPECT_EQ(feed.stats().rebuilds, rebuilds + 2);
  EXPECT_EQ(feed.stats().fan_out_errors, 1U);
}

// A store failure in the middle of a batch (here: Redis stops answering while an out-of-order
// post is read-modify-written into each timeline) leaves no timeline looking complete without
// the post: each one the store could not write is marked lost and rebuilt by its next read.
TEST(FeedRedisTimelines, AFailureMidBatchLeavesNoTimelineWithoutThePost) {
  SCALING_REQUIRE_SERVER(binary, "redis-server");
  redis_fixture f;
  ASSERT_TRUE(f.start(binary));
  auto store = f.store("mid:");
  store.connection.command_timeout = 100ms;
  redis_feed<scaling::fan_out_on_write> feed{{.fan_out_workers = 0}, store};
  const std::vector<std::uint64_t> users{1, 3, 4};
  for (const auto u : users) {
    ASSERT_TRUE(feed.follow(u, 2));
    EXPECT_TRUE(feed.timeline(u, 5).empty());  // materialised
  }
  ASSERT_TRUE(feed.post(2, 10, 10));
  (void)feed.run_fan_out();

  // Older than every timeline's newest entry: each destination reads its list and writes it
  // back, one round trip each, and none answers while clients are paused.
  scaling::redis::connection admin{{"127.0.0.1", f.redis.port()}, {.command_timeout = 10s}};
  (void)admin.execute({"CLIENT", "PAUSE", "1000", "ALL"});
  ASSERT_TRUE(feed.post(2, 11, 5));
  EXPECT_THROW((void)feed.run_fan_out(), scaling::redis::error);
  EXPECT_EQ(admin.execute({"PING"}).str(), "PONG");  // answered when the pause ends

  for (const auto u : users)
    EXPECT_EQ(ids(feed.timeline(u, 5)), (std::vector<std::uint64_t>{10, 11})) << "user " << u;
}

// The fan-out of one post to many materialised timelines is one pipeline, and each list is
// capped at timeline_length (the oldest dropped).
TEST(FeedRedisTimelines, FanOutCapsEachListAtTheTimelineLength) {
  SCALING_REQUIRE_SERVER(binary, "redis-server");
  redis_fixture f;
  ASSERT_TRUE(f.start(binary));
  redis_feed<scaling::fan_out_on_write> feed{
      {.timeline_length = 3, .fan_out_batch = 100, .fan_out_workers = 0}, f.store("cap:")};
  for (std::uint64_t u = 1; u <= 50; ++u) {
    ASSERT_TRUE(feed.follow(u, 1000));
    (void)feed.timeline(u, 1);
  }
  for (std::uint64_t id = 1; id <= 5; ++id) {
    ASSERT_TRUE(feed.post(1000, id, static_cast<std::int64_t>(id)));
    EXPECT_EQ(feed.run_fan_out(), 1U);
  }
  EXPECT_EQ(feed.stats().stored_entries, 150U);
  scaling::redis::connection c{{"127.0.0.1", f.redis.port()}};
  const auto keys = c.execute({"KEYS", "cap:7:*"});
  ASSERT_EQ(keys.elements().size(), 1U);
  EXPECT_EQ(c.execute({"LLEN", keys.elements()[0].str()}).integer(), 3);
  for (std::uint64_t u = 1; u <= 50; ++u)
    ASSERT_EQ(ids(feed.timeline(u, 10)), (std::vector<std::uint64_t>{5, 4, 3}));
}

}  // namespace
