// The Redis client, pool, cache tier and two-level cache, against a real redis-server.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/two_level_cache.hpp>
#include <scaling/redis/cache_tier.hpp>
#include <scaling/redis/connection.hpp>

#include "engines/redis_fixture.hpp"
#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
namespace redis = scaling::redis;

using engines_test::eventually;

TEST(RedisPipeline, EncodesEachCommandAsARespArrayOfBulkStrings) {
  redis::pipeline p;
  p.add({"SET", "k", std::string_view{"a\0b", 3}});
  p.add({"GET", "k"});
  EXPECT_EQ(p.size(), 2U);
  EXPECT_EQ(p.wire(), std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n", 29) +
                          "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(RedisEndpoint, ParsesHostPortAndAMissingHostMeansTheSameHost) {
  EXPECT_EQ(redis::endpoint::parse("10.0.0.3:6380"), (redis::endpoint{"10.0.0.3", 6380}));
  EXPECT_EQ(redis::endpoint::parse(":6380", "127.0.0.1"), (redis::endpoint{"127.0.0.1", 6380}));
  EXPECT_THROW((void)redis::endpoint::parse("nohost"), std::invalid_argument);
  EXPECT_THROW((void)redis::endpoint::parse("h:99999"), std::invalid_argument);
}

TEST(RedisReply, AReplyOfTheWrongTypeIsAnErrorNamingServerAndCommand) {
  const redis::endpoint server{"10.0.0.7", 6379};
  EXPECT_NO_THROW((void)redis::expect(redis::reply::make_string("v"), redis::reply::type::string,
                                      server, "GET"));
  try {
    (void)redis::expect(redis::reply::make_integer(7), redis::reply::type::string, server, "GET");
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::wrong_type);
    EXPECT_EQ(e.server(), "10.0.0.7:6379");
    EXPECT_EQ(e.command(), "GET");
  }
  const auto moved =
      redis::reply::make_string("MOVED 3999 127.0.0.1:6381", redis::reply::type::error);
  EXPECT_EQ(moved.error_code(), "MOVED");
  EXPECT_THROW((void)redis::expect(moved, redis::reply::type::string, server, "GET"), redis::error);
}

TEST(RedisConnection, RejectsZeroTimeouts) {
  EXPECT_THROW(redis::connection({}, {.command_timeout = 0ms}), std::invalid_argument);
  EXPECT_THROW(redis::pool({}, {.size = 0}), std::invalid_argument);
}

TEST(RedisConnection, ServerDownIsAConnectErrorNamingTheServerThenBackoff) {
  const std::uint16_t port = engines_test::free_port();  // nobody listens there
  redis::connection c{
      {"127.0.0.1", port},
      {.connect_timeout = 200ms, .reconnect_backoff_min = 10s, .reconnect_backoff_max = 10s}};
  try {
    (void)c.execute({"PING"});
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::connect);
    EXPECT_EQ(e.server(), "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(e.command(), "PING");
  }
  try {
    (void)c.execute({"PING"});
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::backoff);  // fails fast, no new connect attempt
  }
}

class RedisServer : public engines_test::redis_server_test {};

TEST_F(RedisServer, ExecutesOneCommandAndAPipelineInOneRoundTrip) {
  redis::connection c{where()};
  EXPECT_EQ(c.execute({"SET", "k", "v"}).str(), "OK");
  EXPECT_EQ(c.execute({"GET", "k"}).str(), "v");
  EXPECT_TRUE(c.execute({"GET", "absent"}).is_nil());
  redis::pipeline p;
  for (int i = 0; i < 1000; ++i)
    p.add({"INCR", "counter"});
  const auto replies = c.execute(p);
  ASSERT_EQ(replies.size(), 1000U);
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(replies[static_cast<std::size_t>(i)].integer(), i + 1);
  EXPECT_EQ(c.connects(), 1U);
}

TEST_F(RedisServer, AnErrorReplyIsAValueAndTheTierTurnsItIntoAnErrorNamingTheCommand) {
  redis::connection c{where()};
  (void)c.execute({"LPUSH", "list", "x"});
  const auto r = c.execute({"GET", "list"});
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(r.error_code(), "WRONGTYPE");
  EXPECT_EQ(c.execute({"PING"}).str(), "PONG");  // the connection is still good
  redis::cache_tier tier{where()};
  try {
    (void)tier.get("list");
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::reply);
    EXPECT_EQ(e.command(), "GET");
    EXPECT_NE(std::string{e.what()}.find("WRONGTYPE"), std::string::npos) << e.what();
  }
}

TEST_F(RedisServer, ACommandPastItsTimeoutFailsAndTheNextCallReconnects) {
  redis::connection c{
      where(),
      {.command_timeout = 100ms, .reconnect_backoff_min = 1ms, .reconnect_backoff_max = 1ms}};
  try {
    (void)c.execute({"BLPOP", "never", "0"});
    FAIL() << "no timeout";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::timeout);
    EXPECT_EQ(e.command(), "BLPOP");
  }
  EXPECT_FALSE(c.connected());
  EXPECT_TRUE(eventually([&] {
    try {
      return c.execute({"PING"}).str() == "PONG";
    } catch (const redis::error&) {
      return false;
    }
  }));
  EXPECT_EQ(c.connects(), 2U);
}

TEST(RedisAuth, AServerThatRequiresAPasswordAnswersNoauthUntilAuthenticated) {
  SCALING_REQUIRE_SERVER(binary, "redis-server");
  engines_test::scratch_dir dir;
  engines_test::server s;
  const std::uint16_t port = engines_test::free_port();
  ASSERT_TRUE(
      s.start(engines_test::redis_argv(binary, port, dir.path(), {"--requirepass", "pw"}), port));
  redis::cache_tier anonymous{{"127.0.0.1", port}};
  try {
    (void)anonymous.get("k");
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_NE(std::string{e.what()}.find("NOAUTH"), std::string::npos) << e.what();
  }
  redis::cache_tier wrong{{"127.0.0.1", port}, {.pool = {.connection = {.password = "bad"}}}};
  EXPECT_THROW((void)wrong.get("k"), redis::error);
  redis::cache_tier good{{"127.0.0.1", port}, {.pool = {.connection = {.password = "pw"}}}};
  good.set("k", "v", 0ms);
  EXPECT_EQ(good.get("k"), "v");
}

TEST_F(RedisServer, ANodeKilledGivesErrorsWithinTheTimeoutAndServiceResumesAfterRestart) {
  redis::cache_tier tier{where(),
                         {.pool = {.size = 2,
                                   .connection = {.connect_timeout = 200ms,
                                                  .command_timeout = 200ms,
                                                  .reconnect_backoff_min = 1ms,
                                                  .reconnect_backoff_max = 20ms}}}};
  tier.set("k", "v", 0ms);
  server_.stop();
  EXPECT_THROW((void)tier.get("k"), redis::error);
  EXPECT_THROW((void)tier.get("k"), redis::error);
  ASSERT_TRUE(server_.restart());
  EXPECT_TRUE(eventually([&] {
    try {
      tier.set("k", "back", 0ms);
      return tier.get("k") == "back";
    } catch (const redis::error&) {
      return false;
    }
  }));
}

TEST_F(RedisServer, APoolLendsEachConnectionToOneThreadAtATime) {
  redis::pool p{where(), {.size = 3}};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        (void)p.execute({"INCR", "n"});
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(p.execute({"GET", "n"}).str(), "800");
}

TEST_F(RedisServer, TheCacheTierSetsWithTtlReadsManyAndDeletes) {
  redis::cache_tier tier{where()};
  tier.set("a", "1", 10min);
  tier.set("b", std::string("\0bin", 4), 0ms);
  EXPECT_EQ(tier.get("a"), "1");
  EXPECT_EQ(tier.get("b"), std::string("\0bin", 4));
  const long long pttl = tier.connections().execute({"PTTL", "a"}).integer();
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 600'000);
  EXPECT_EQ(tier.connections().execute({"PTTL", "b"}).integer(), -1);
  const auto many = tier.get_many({"a", "missing", "b"});
  ASSERT_EQ(many.size(), 3U);
  EXPECT_EQ(many[0], "1");
  EXPECT_EQ(many[1], std::nullopt);
  EXPECT_EQ(many[2], std::string("\0bin", 4));
  EXPECT_TRUE(tier.erase("a"));
  EXPECT_FALSE(tier.erase("a"));
  EXPECT_EQ(tier.get("a"), std::nullopt);
}

static_assert(scaling::remote_cache_tier<redis::cache_tier>);
static_assert(scaling::invalidating_cache_tier<redis::cache_tier>);

TEST_F(RedisServer, TheNearCacheDropsAKeyWrittenByAnotherClient) {
  redis::cache_tier tier{where(), {.invalidations = redis::tracking::on}};
  scaling::two_level_cache cache{tier, {.near_capacity = 100, .near_ttl = 1min}};
  ASSERT_EQ(tier.wait_channel_for(5s), scaling::wait_status::ready);
  cache.set("user:1", "ada", 0ms);
  EXPECT_EQ(cache.get("user:1"), "ada");  // from Redis, now tracked
  EXPECT_EQ(cache.get("user:1"), "ada");  // from memory
  EXPECT_TRUE(cache.near_contains("user:1"));
  EXPECT_EQ(cache.stats().near_hits, 1U);

  redis::connection other{where()};
  const auto written = std::chrono::steady_clock::now();
  (void)other.execute({"SET", "user:1", "grace"});
  ASSERT_TRUE(eventually([&] { return !cache.near_contains("user:1"); }));
  const auto lag = std::chrono::steady_clock::now() - written;
  std::printf(
      "invalidation lag (write by another client -> near entry gone): %lld us\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(lag).count()));
  EXPECT_EQ(cache.get("user:1"), "grace");
  EXPECT_GE(cache.stats().invalidations, 1U);
  EXPECT_GE(tier.stats().invalidation_messages, 1U);

  (void)other.execute({"FLUSHALL"});  // a nil invalidation: everything goes
  ASSERT_TRUE(eventually([&] { return cache.stats().near_size == 0; }));
  EXPECT_EQ(cache.get("user:1"), std::nullopt);
}

TEST_F(RedisServer, ItsOwnFillAfterAMissIsNotEchoedBackAsAnInvalidation) {
  redis::cache_tier tier{where(), {.invalidations = redis::tracking::on}};
  scaling::two_level_cache cache{tier, {.near_capacity = 100, .near_ttl = 1min}};
  ASSERT_EQ(tier.wait_channel_for(5s), scaling::wait_status::ready);
  redis::connection other{where()};
  (void)other.execute({"SET", "sentinel", "0"});
  EXPECT_EQ(cache.get("sentinel"), "0");         // tracked, and near
  EXPECT_EQ(cache.get("page:1"), std::nullopt);  // a miss: tracked too
  cache.set("page:1", "v1", 0ms);                // the fill after the miss
  EXPECT_EQ(cache.get("page:1"), "v1");          // from Redis, kept near
  // Redis sends invalidations in order on the one channel: once the sentinel's has arrived,
  // an echo of the fill would have arrived before it.
  (void)other.execute({"SET", "sentinel", "1"});
  ASSERT_TRUE(eventually([&] { return !cache.near_contains("sentinel"); }));
  EXPECT_TRUE(cache.near_contains("page:1"));
  EXPECT_EQ(cache.stats().invalidations, 1U);
  EXPECT_EQ(cache.get("page:1"), "v1");
  EXPECT_EQ(cache.stats().near_hits, 1U);
}

TEST_F(RedisServer, ALostInvalidationConnectionFlushesTheNearCacheAndTrackingResumes) {
  redis::cache_tier tier{
      where(),
      {.invalidations = redis::tracking::on,
       .pool = {.connection = {.reconnect_backoff_min = 5ms, .reconnect_backoff_max = 20ms}}}};
  scaling::two_level_cache cache{tier, {.near_capacity = 100, .near_ttl = 1min}};
  ASSERT_EQ(tier.wait_channel_for(5s), scaling::wait_status::ready);
  cache.set("a", "1", 0ms);
  cache.set("b", "2", 0ms);
  (void)cache.get_many({"a", "b"});
  EXPECT_EQ(cache.stats().near_size, 2U);

  redis::connection admin{where()};
  const auto killed = admin.execute({"CLIENT", "KILL", "TYPE", "pubsub"});
  EXPECT_EQ(killed.integer(), 1);
  ASSERT_TRUE(eventually([&] { return tier.stats().channel_losses >= 1; }));
  EXPECT_GE(cache.stats().flushes, 1U);
  ASSERT_EQ(tier.wait_channel_for(5s), scaling::wait_status::ready);
  ASSERT_TRUE(eventually([&] { return cache.stats().coherent; }));

  // Tracking is redirected to the new invalidation connection.
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_TRUE(cache.near_contains("a"));
  (void)admin.execute({"SET", "a", "changed"});
  ASSERT_TRUE(eventually([&] { return !cache.near_contains("a"); }));
  EXPECT_EQ(cache.get("a"), "changed");
}

}  // namespace
