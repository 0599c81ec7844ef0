// The memcached pool against three real memcached servers: routing, multi-get, bad input,
// failover (a server killed: ejected, keys remapped or sent to the gutter, retried later).
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/two_level_cache.hpp>
#include <scaling/core/clock.hpp>
#include <scaling/memcached/pool.hpp>

#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
namespace mc = scaling::memcached;

static_assert(scaling::remote_cache_tier<mc::pool<>>);
static_assert(!scaling::invalidating_cache_tier<mc::pool<>>);

class Memcached : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = engines_test::find_program("memcached");
    if (binary_.empty()) GTEST_SKIP() << "memcached is not installed (scripts/deps installs it)";
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      servers_[i] = std::make_unique<engines_test::server>();
      const auto port = engines_test::free_port();
      ASSERT_TRUE(servers_[i]->start(engines_test::memcached_argv(binary_, port), port));
      names_.push_back("127.0.0.1:" + std::to_string(port));
    }
  }
  mc::pool_options options() const {
    return {.servers = names_,
            .eject_after = 2,
            .retry_after = 1h,
            .connect_timeout = 100ms,
            .io_timeout = 100ms};
  }
  std::string start_gutter() {
    gutter_ = std::make_unique<engines_test::server>();
    const auto port = engines_test::free_port();
    EXPECT_TRUE(gutter_->start(engines_test::memcached_argv(binary_, port), port));
    return "127.0.0.1:" + std::to_string(port);
  }
  std::size_t index_of(const std::string& name) const {
    return static_cast<std::size_t>(std::find(names_.begin(), names_.end(), name) - names_.begin());
  }

  std::string binary_;
  std::array<std::unique_ptr<engines_test::server>, 3> servers_;
  std::unique_ptr<engines_test::server> gutter_;
  std::vector<std::string> names_;
};

TEST_F(Memcached, StoresReadsManyAndDeletesAcrossTheRing) {
  mc::pool<> pool{options()};
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("key:" + std::to_string(i));
    pool.set(keys.back(), "value " + std::to_string(i), 0ms);
  }
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(pool.get(keys[static_cast<std::size_t>(i)]), "value " + std::to_string(i));
  keys.emplace_back("never-set");
  const auto many = pool.get_many(keys);
  ASSERT_EQ(many.size(), 61U);
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(many[static_cast<std::size_t>(i)], "value " + std::to_string(i));
  EXPECT_EQ(many[60], std::nullopt);
  const auto repeated = pool.get_many({"key:2", "key:3", "key:2"});
  EXPECT_EQ(repeated, (std::vector<std::optional<std::string>>{"value 2", "value 3", "value 2"}));
  EXPECT_TRUE(pool.erase("key:1"));
  EXPECT_FALSE(pool.erase("key:1"));
  EXPECT_EQ(pool.get("key:1"), std::nullopt);
  // ketama spreads the keys over all three servers.
  const auto s = pool.stats();
  for (const auto& server : s.servers)
    EXPECT_GT(server.requests, 0U) << server.server;
  EXPECT_EQ(s.errors, 0U);
}

TEST_F(Memcached, BadKeysAndOversizedValuesAreClearErrors) {
  mc::pool<> pool{options()};
  EXPECT_THROW(pool.set(std::string(251, 'k'), "v", 0ms), std::invalid_argument);
  EXPECT_THROW((void)pool.get("has space"), std::invalid_argument);
  try {
    pool.set("big", std::string(2 * 1024 * 1024, 'x'), 0ms);
    FAIL() << "no error";
  } catch (const mc::error& e) {
    EXPECT_EQ(e.command(), "set");
    EXPECT_EQ(e.server(), pool.server_for("big"));
    EXPECT_NE(std::string{e.what()}.find("item size"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.stats().ejections, 0U);  // a refused write is not a dead server
  pool.set("big", "small now", 0ms);
  EXPECT_EQ(pool.get("big"), "small now");
}

TEST_F(Memcached, AKilledServerIsEjectedItsKeysRemapAndTheHitRatioRecovers) {
  mc::pool<> pool{options()};
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    keys.push_back("user:" + std::to_string(i));
    pool.set(keys.back(), "v", 0ms);
  }
  const std::string victim = pool.server_for("user:0");
  servers_[index_of(victim)]->stop();
  // Read-through: a miss or an error loads the value and stores it where the key goes now.
  auto pass = [&] {
    int hits = 0;
    int errors = 0;
    for (const auto& k : keys) {
      try {
        if (pool.get(k)) {
          ++hits;
          continue;
        }
      } catch (const mc::error& e) {
        ++errors;
        EXPECT_EQ(e.server(), victim);
        continue;
      }
      pool.set(k, "v", 0ms);
    }
    return std::pair{hits, errors};
  };
  const auto [hits1, errors1] = pass();
  EXPECT_EQ(errors1, 2);  // eject_after = 2, then routed around
  EXPECT_GT(hits1, 150);  // the live servers' keys
  EXPECT_LT(hits1, 298);  // the victim's keys missed once
  const auto [hits2, errors2] = pass();
  EXPECT_EQ(errors2, 0);
  EXPECT_GE(hits2, 298);  // all but the two errored keys, which were not reloaded
  const auto s = pool.stats();
  EXPECT_EQ(s.ejections, 1U);
  EXPECT_GT(s.remapped, 0U);
  EXPECT_NE(pool.server_for("user:0"), victim);
}

TEST_F(Memcached, AnEjectedServerIsRetriedAfterTheDelay) {
  scaling::manual_clock clock;
  mc::pool<scaling::manual_clock> pool{{.servers = names_,
                                        .eject_after = 1,
                                        .retry_after = 5s,
                                        .connect_timeout = 100ms,
                                        .io_timeout = 100ms},
                                       clock};
  const std::string home = pool.server_for("k");
  auto& server = *servers_[index_of(home)];
  server.stop();
  EXPECT_THROW((void)pool.get("k"), mc::error);
  EXPECT_NE(pool.server_for("k"), home);  // ejected: remapped
  ASSERT_TRUE(server.restart());
  clock.advance(4s);
  EXPECT_NE(pool.server_for("k"), home);
  clock.advance(1s);
  EXPECT_EQ(pool.server_for("k"), home);  // retried
  pool.set("k", "back", 0ms);
  EXPECT_EQ(pool.get("k"), "back");
  EXPECT_FALSE(pool.stats().servers[index_of(home)].ejected);
}

TEST_F(Memcached, WithAGutterTheDeadServersKeysGoThereNotToItsNeighbours) {
  auto opts = options();
  opts.gutter = {start_gutter()};
  opts.eject_after = 1;
  mc::pool<> pool{opts};
  const std::string home = pool.server_for("k");
  servers_[index_of(home)]->stop();
  EXPECT_THROW((void)pool.get("k"), mc::error);
  EXPECT_EQ(pool.server_for("k"), opts.gutter[0]);
  EXPECT_EQ(pool.get("k"), std::nullopt);
  pool.set("k", "in the gutter", 0ms);
  EXPECT_EQ(pool.get("k"), "in the gutter");
  EXPECT_GT(pool.stats().gutter_requests, 0U);
  EXPECT_EQ(pool.stats().remapped, 0U);
}

TEST_F(Memcached, TheTwoLevelCacheTakesThePoolAsItsTier) {
  mc::pool<> pool{options()};
  scaling::two_level_cache cache{pool, {.near_capacity = 10, .near_ttl = 1min}};
  cache.set("a", "1", 1min);
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.stats().near_hits, 1U);
  EXPECT_EQ(cache.stats().remote_hits, 1U);
}

TEST(MemcachedDown, AServerThatIsNotThereFailsWithinTheTimeoutNamingIt) {
  const std::string name = "127.0.0.1:" + std::to_string(engines_test::free_port());
  mc::pool<> pool{{.servers = {name}, .connect_timeout = 100ms, .io_timeout = 100ms}};
  try {
    (void)pool.get("k");
    FAIL() << "no error";
  } catch (const mc::error& e) {
    EXPECT_EQ(e.server(), name);
    EXPECT_EQ(e.command(), "get");
  }
  EXPECT_THROW(mc::pool<>({.servers = {"nohost"}}), std::invalid_argument);
  EXPECT_THROW(mc::pool<>({.servers = {}}), std::invalid_argument);
}

}  // namespace
