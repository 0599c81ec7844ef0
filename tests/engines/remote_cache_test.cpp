// Stage 2's read path (read_through: app cache -> replicas -> primary), unchanged, with its
// cache on a shared tier through architecture::remote_cache: an in-process tier for the
// role's contract, then a real redis-server (alone, and behind a near cache on two app
// servers) and a real memcached.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/architecture/read_through.hpp>
#include <scaling/architecture/remote_cache.hpp>
#include <scaling/architecture/replicated.hpp>
#include <scaling/architecture/serving.hpp>
#include <scaling/caching/two_level_cache.hpp>
#include <scaling/core/clock.hpp>
#include <scaling/memcached/pool.hpp>
#include <scaling/redis/cache_tier.hpp>
#include <scaling/replication/replicated_store.hpp>

#include "engines/redis_fixture.hpp"
#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
namespace arch = scaling::architecture;
namespace redis = scaling::redis;

using store_t = scaling::replicated_store<std::string, std::string, scaling::round_robin,
                                          scaling::manual_clock>;
using reads_t = arch::store_reads<std::string, std::string, store_t, arch::inline_serving>;
using writes_t = arch::primary_writes<std::string, std::string, store_t, arch::inline_serving>;

static_assert(arch::read_cache<arch::remote_cache<std::string, std::string, redis::cache_tier>,
                               std::string, std::string>);
static_assert(arch::read_cache<arch::remote_cache<std::uint64_t, std::uint64_t,
                                                  scaling::two_level_cache<redis::cache_tier>>,
                               std::uint64_t, std::uint64_t>);
static_assert(
    arch::read_cache<arch::remote_cache<std::string, std::string, scaling::memcached::pool<>>,
                     std::string, std::string>);

// A primary and two replicas on a manual clock (100 ms lag, so a replica has not applied a
// write until the test moves the clock), read and written in the caller's thread.
struct database {
  scaling::manual_clock clock;
  store_t store{{.replicas = 2}, clock};
  arch::inline_serving db{store.nodes()};
  reads_t reads{store, db};
  writes_t writes{store, db};
};

// The writer's side of stage 2: write at the primary, then invalidate with its position.
template <class Path>
std::uint64_t write(database& d, Path& path, const std::string& key, const std::string& value) {
  arch::write_ack ack;
  d.writes.async_write(key, value, [&](arch::write_ack a) { ack = a; });
  EXPECT_EQ(ack.status, arch::reply_status::ok);
  path.invalidate(key, ack.position);
  return ack.position;
}

template <class Path>
arch::reply<std::string> read(Path& path, const std::string& key) {
  arch::reply<std::string> got;
  path.async_get(key, [&](arch::reply<std::string> r) { got = std::move(r); });
  return got;
}

using engines_test::eventually;

// An in-process remote_cache_tier that can be told to fail like a server that is down.
struct map_tier {
  std::unordered_map<std::string, std::string> data;
  std::unordered_map<std::string, std::chrono::milliseconds> ttls;
  bool down = false;

  void fail_if_down() const {
    if (down) throw std::runtime_error("map_tier: down");
  }
  std::optional<std::string> get(const std::string& key) {
    fail_if_down();
    const auto it = data.find(key);
    return it == data.end() ? std::nullopt : std::optional<std::string>{it->second};
  }
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
    fail_if_down();
    data[key] = value;
    ttls[key] = ttl;
  }
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys) {
    std::vector<std::optional<std::string>> out;
    for (const auto& k : keys)
      out.push_back(get(k));
    return out;
  }
  bool erase(const std::string& key) {
    fail_if_down();
    return data.erase(key) > 0;
  }
};
static_assert(scaling::remote_cache_tier<map_tier>);

TEST(RemoteCacheRole, MapsTheRoleOntoTheTierWithThePrefixTheTtlAndTheCodec) {
  map_tier tier;
  arch::remote_cache<std::uint64_t, std::uint64_t, map_tier> cache{
      tier, {.key_prefix = "v:", .ttl = 90s}};
  EXPECT_EQ(cache.get(7), std::nullopt);
  cache.put(7, 18'446'744'073'709'551'615ULL);
  EXPECT_EQ(tier.data.at("v:7"), "18446744073709551615");
  EXPECT_EQ(tier.ttls.at("v:7"), 90s);
  EXPECT_EQ(cache.get(7), 18'446'744'073'709'551'615ULL);
  tier.data["v:8"] = "not a number";  // another writer's format
  EXPECT_EQ(cache.get(8), std::nullopt);
  EXPECT_TRUE(cache.erase(7));
  EXPECT_FALSE(cache.erase(7));
  const auto s = cache.stats();
  EXPECT_EQ(s.gets, 3U);
  EXPECT_EQ(s.hits, 1U);
  EXPECT_EQ(s.misses, 2U);
  EXPECT_EQ(s.undecodable, 1U);
  EXPECT_EQ(s.puts, 1U);
  EXPECT_EQ(s.erases, 2U);
  EXPECT_THROW((arch::remote_cache<std::string, std::string, map_tier>{tier, {.ttl = -1ms}}),
               std::invalid_argument);
}

TEST(RemoteCacheRole, ATierThatFailsIsAMissUnderFallBackAndAnErrorUnderPropagate) {
  database d;
  map_tier tier;
  arch::remote_cache<std::string, std::string, map_tier> cache{tier};
  arch::read_through<std::string, std::string, decltype(cache), reads_t> path{cache, d.reads};
  write(d, path, "k", "v1");
  tier.down = true;
  const auto r = read(path, "k");
  EXPECT_EQ(r.status, arch::reply_status::ok);
  EXPECT_EQ(r.value, "v1");
  EXPECT_EQ(r.tier, arch::primary_tier);  // past the cache: the replicas have not applied it
  EXPECT_EQ(cache.stats().errors, 2U);    // the get, and the fill that followed
  EXPECT_THROW(write(d, path, "k", "v2"), std::runtime_error) << "an erase is never absorbed";

  arch::remote_cache<std::string, std::string, map_tier> strict{
      tier, {.on_error = arch::tier_errors::propagate}};
  arch::read_through<std::string, std::string, decltype(strict), reads_t> strict_path{strict,
                                                                                      d.reads};
  bool answered = false;
  EXPECT_THROW(strict_path.async_get("k", [&](arch::reply<std::string>) { answered = true; }),
               std::runtime_error);
  EXPECT_FALSE(answered);
}

class RemoteCacheOnRedis : public engines_test::redis_server_test {};

TEST_F(RemoteCacheOnRedis, ReadThroughServesHitsFromRedisAfterAFillAndAWriteInvalidates) {
  database d;
  redis::cache_tier tier{where()};
  arch::remote_cache<std::string, std::string, redis::cache_tier> cache{
      tier, {.key_prefix = "app:", .ttl = 10min}};
  arch::read_through<std::string, std::string, decltype(cache), reads_t> path{cache, d.reads};

  write(d, path, "user:7", "Ada");
  const auto first = read(path, "user:7");
  EXPECT_EQ(first.value, "Ada");
  EXPECT_EQ(first.tier, arch::primary_tier) << "read-your-writes: the replicas lag";
  EXPECT_EQ(tier.get("app:user:7"), "Ada") << "the miss filled Redis";
  const long long pttl = tier.connections().execute({"PTTL", "app:user:7"}).integer();
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 600'000);

  const auto second = read(path, "user:7");
  EXPECT_EQ(second.value, "Ada");
  EXPECT_EQ(second.tier, arch::cache_tier) << "served by Redis";
  EXPECT_EQ(path.stats().hits, 1U);
  EXPECT_EQ(path.stats().misses, 1U);

  write(d, path, "user:7", "Grace");
  EXPECT_EQ(tier.get("app:user:7"), std::nullopt) << "the invalidation deleted it in Redis";
  const auto after = read(path, "user:7");
  EXPECT_EQ(after.value, "Grace");
  EXPECT_NE(after.tier, arch::cache_tier);
  EXPECT_EQ(read(path, "user:7").tier, arch::cache_tier);

  EXPECT_EQ(read(path, "nobody").status, arch::reply_status::not_found);
  EXPECT_EQ(tier.get("app:nobody"), std::nullopt) << "nothing is cached for a missing key";
  EXPECT_EQ(cache.stats().errors, 0U);
}

TEST_F(RemoteCacheOnRedis, AWriteOnOneAppServerDropsTheKeyFromAnotherAppServersNearCache) {
  database d;
  // Two app servers, each with its Redis connections and its near cache, one Redis.
  redis::cache_tier tier_a{where(), {.invalidations = redis::tracking::on}};
  redis::cache_tier tier_b{where(), {.invalidations = redis::tracking::on}};
  scaling::two_level_cache near_a{tier_a, {.near_capacity = 100, .near_ttl = 1min}};
  scaling::two_level_cache near_b{tier_b, {.near_capacity = 100, .near_ttl = 1min}};
  ASSERT_EQ(tier_a.wait_channel_for(5s), scaling::wait_status::ready);
  ASSERT_EQ(tier_b.wait_channel_for(5s), scaling::wait_status::ready);
  using near_cache = arch::remote_cache<std::string, std::string, decltype(near_a)>;
  near_cache cache_a{near_a, {.key_prefix = "app:"}};
  near_cache cache_b{near_b, {.key_prefix = "app:"}};
  arch::read_through<std::string, std::string, near_cache, reads_t> app_a{cache_a, d.reads};
  arch::read_through<std::string, std::string, near_cache, reads_t> app_b{cache_b, d.reads};

  write(d, app_a, "user:7", "Ada");
  d.clock.advance(1s);                            // the replicas apply it
  EXPECT_EQ(read(app_a, "user:7").value, "Ada");  // miss: filled into Redis
  const auto from_redis = read(app_b, "user:7");  // B's first read: Redis, then kept near
  EXPECT_EQ(from_redis.value, "Ada");
  EXPECT_EQ(from_redis.tier, arch::cache_tier);
  EXPECT_EQ(near_b.stats().remote_hits, 1U);
  EXPECT_EQ(read(app_b, "user:7").value, "Ada");
  EXPECT_EQ(near_b.stats().near_hits, 1U) << "B's second read: from memory";
  ASSERT_TRUE(near_b.near_contains("app:user:7"));

  write(d, app_a, "user:7", "Grace");
  ASSERT_TRUE(eventually([&] { return !near_b.near_contains("app:user:7"); }))
      << "Redis told B that A's write deleted the key";
  EXPECT_GE(near_b.stats().invalidations, 1U);
  d.clock.advance(1s);
  const auto after = read(app_b, "user:7");
  EXPECT_EQ(after.value, "Grace");
  EXPECT_NE(after.tier, arch::cache_tier);
  EXPECT_EQ(read(app_a, "user:7").value, "Grace");
}

TEST_F(RemoteCacheOnRedis, RedisDownReadsFallBackToTheDatabaseAndInvalidationsFailClearly) {
  database d;
  redis::cache_tier tier{where(),
                         {.pool = {.size = 2,
                                   .connection = {.connect_timeout = 200ms,
                                                  .command_timeout = 200ms,
                                                  .reconnect_backoff_min = 1ms,
                                                  .reconnect_backoff_max = 20ms}}}};
  arch::remote_cache<std::string, std::string, redis::cache_tier> cache{tier};
  arch::read_through<std::string, std::string, decltype(cache), reads_t> path{cache, d.reads};
  write(d, path, "user:7", "Ada");
  EXPECT_EQ(read(path, "user:7").value, "Ada");
  EXPECT_EQ(read(path, "user:7").tier, arch::cache_tier);

  server_.stop();
  const auto down = read(path, "user:7");
  EXPECT_EQ(down.status, arch::reply_status::ok);
  EXPECT_EQ(down.value, "Ada");
  EXPECT_NE(down.tier, arch::cache_tier) << "answered by the database";
  EXPECT_GE(cache.stats().errors, 1U);
  try {
    write(d, path, "user:7", "Grace");
    FAIL() << "an invalidation that cannot reach Redis must not pass silently";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.server(), where().to_string());
    EXPECT_EQ(e.command(), "DEL");
  }
  EXPECT_EQ(read(path, "user:7").value, "Grace");

  arch::remote_cache<std::string, std::string, redis::cache_tier> strict{
      tier, {.on_error = arch::tier_errors::propagate}};
  arch::read_through<std::string, std::string, decltype(strict), reads_t> strict_path{strict,
                                                                                      d.reads};
  EXPECT_THROW((void)read(strict_path, "user:7"), redis::error);

  ASSERT_TRUE(server_.restart());
  EXPECT_TRUE(eventually([&] {
    (void)read(path, "user:7");  // fills once Redis answers again
    return read(path, "user:7").tier == arch::cache_tier;
  }));
}

TEST(RemoteCacheOnMemcached, ReadThroughRunsUnchangedOnAMemcachedPool) {
  SCALING_REQUIRE_SERVER(binary, "memcached");
  engines_test::server server;
  const std::uint16_t port = engines_test::free_port();
  ASSERT_TRUE(server.start(engines_test::memcached_argv(binary, port), port));
  scaling::memcached::pool<> pool{{.servers = {"127.0.0.1:" + std::to_string(port)}}};
  database d;
  arch::remote_cache<std::string, std::string, scaling::memcached::pool<>> cache{
      pool, {.key_prefix = "app:"}};
  arch::read_through<std::string, std::string, decltype(cache), reads_t> path{cache, d.reads};
  write(d, path, "user:7", "Ada");
  EXPECT_EQ(read(path, "user:7").value, "Ada");
  EXPECT_EQ(pool.get("app:user:7"), "Ada");
  EXPECT_EQ(read(path, "user:7").tier, arch::cache_tier);
  write(d, path, "user:7", "Grace");
  EXPECT_EQ(pool.get("app:user:7"), std::nullopt);
  EXPECT_EQ(read(path, "user:7").value, "Grace");
}

}  // namespace
