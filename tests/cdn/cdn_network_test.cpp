#include <atomic>
#include <chrono>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include <scaling/cdn/cdn_network.hpp>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::http_response;

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;

struct CdnNetwork : ::testing::Test {
  scaling::manual_clock clock{scaling::manual_clock::time_point{t0.time_since_epoch()}};
  std::atomic<int> origin_calls{0};

  scaling::cdn_config<> config(std::size_t shield_servers) {
    return {.pops = {{"fra", 3}, {"iad", 2}, {"sin", 2}},
            .latency_ms = {{"europe", {{"fra", 12}, {"iad", 90}, {"sin", 160}}},
                           {"us-east", {{"fra", 85}, {"iad", 8}, {"sin", 210}}},
                           {"asia", {{"fra", 150}, {"iad", 200}, {"sin", 30}}},
                           {"island", {{"sin", 300}}}},
            .shield_servers = shield_servers,
            .origin =
                [this](const scaling::origin_request& r) {
                  ++origin_calls;
                  return std::optional{http_response{
                      200,
                      {{"Cache-Control", "max-age=600"},
                       {"Surrogate-Key", r.key.starts_with("/img/") ? "images" : "pages"}},
                      "body of " + r.key}};
                },
            .clock = clock};
  }
};

TEST_F(CdnNetwork, RoutesToTheNearestOnlinePopAndFailsOver) {
  scaling::cdn_network<> cdn{config(0)};
  EXPECT_EQ(cdn.route("europe"), "fra");
  EXPECT_EQ(cdn.route("us-east"), "iad");
  EXPECT_EQ(cdn.get("asia", {.key = "/a"}).pop, "sin");
  cdn.set_pop_online("fra", false);
  EXPECT_EQ(cdn.route("europe"), "iad");
  cdn.set_pop_online("sin", false);
  EXPECT_EQ(cdn.route("island"), "");
  const auto unreachable = cdn.get("island", {.key = "/a"});
  EXPECT_EQ(unreachable.result.status, cache_status::error);
  EXPECT_EQ(unreachable.result.response.status(), 502);
  EXPECT_EQ(cdn.route("nowhere"), "");
  cdn.set_pop_online("fra", true);
  EXPECT_EQ(cdn.route("europe"), "fra");
  EXPECT_THROW(cdn.set_pop_online("lhr", false), std::invalid_argument);
}

TEST_F(CdnNetwork, AKeyLivesOnOneServerPerPop) {
  scaling::cdn_network<> cdn{config(0)};
  std::set<std::string> servers;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "/page/" + std::to_string(i);
    const auto first = cdn.get("europe", {.key = key});
    const auto second = cdn.get("europe", {.key = key});
    EXPECT_EQ(first.server, second.server);
    EXPECT_EQ(second.result.status, cache_status::hit);
    servers.insert(first.server);
  }
  EXPECT_EQ(servers.size(), 3U) << "60 keys spread over all three servers of the POP";
  EXPECT_EQ(origin_calls.load(), 60);
}

TEST_F(CdnNetwork, ShieldTierCutsOriginFetchesToOnePerObject) {
  scaling::cdn_network<> without{config(0)};
  scaling::cdn_network<> with{config(2)};
  for (const char* region : {"europe", "us-east", "asia"}) {
    (void)without.get(region, {.key = "/img/hero.jpg"});
  }
  const int direct = origin_calls.exchange(0);
  for (const char* region : {"europe", "us-east", "asia"}) {
    (void)with.get(region, {.key = "/img/hero.jpg"});
  }
  EXPECT_EQ(direct, 3);
  EXPECT_EQ(origin_calls.load(), 1);
  const auto stats = with.stats();
  EXPECT_EQ(stats.requests, 3U);
  EXPECT_EQ(stats.origin_fetches, 1U);
  EXPECT_EQ(stats.shield.requests, 3U);
  EXPECT_EQ(stats.shield.hits, 2U);
  EXPECT_NEAR(stats.origin_offload(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(with.pop_stats("fra").misses, 1U);
}

TEST_F(CdnNetwork, PurgeReachesEveryTier) {
  scaling::cdn_network<> cdn{config(2)};
  for (const char* region : {"europe", "us-east", "asia"}) {
    (void)cdn.get(region, {.key = "/img/a.png"});
    (void)cdn.get(region, {.key = "/index.html"});
  }
  EXPECT_EQ(origin_calls.load(), 2);
  // One copy per POP and one in the shield.
  EXPECT_EQ(cdn.purge_tag("images"), 4U);
  for (const char* region : {"europe", "us-east", "asia"}) {
    EXPECT_EQ(cdn.get(region, {.key = "/img/a.png"}).result.status, cache_status::miss);
    EXPECT_EQ(cdn.get(region, {.key = "/index.html"}).result.status, cache_status::hit);
  }
  EXPECT_EQ(origin_calls.load(), 3) << "refilled once, through the shield";
  EXPECT_EQ(cdn.purge_all(), 8U);
}

TEST_F(CdnNetwork, SoftPurgeByUrlAndPrefixReachesEveryTier) {
  scaling::cdn_network<> cdn{config(2)};
  for (const char* region : {"europe", "us-east", "asia"}) {
    (void)cdn.get(region, {.key = "/img/a.png"});
    (void)cdn.get(region, {.key = "/img/b.png"});
    (void)cdn.get(region, {.key = "/index.html"});
  }
  EXPECT_EQ(origin_calls.load(), 3);
  EXPECT_EQ(cdn.soft_purge("/index.html"), 4U) << "three POPs and the shield";
  EXPECT_EQ(cdn.soft_purge_prefix("/img/"), 8U);
  EXPECT_EQ(cdn.soft_purge_prefix("/img/"), 0U) << "already stale";
  // Without stale-while-revalidate a stale copy is refetched, once, through the shield.
  for (const char* region : {"europe", "us-east", "asia"}) {
    EXPECT_EQ(cdn.get(region, {.key = "/index.html"}).result.status, cache_status::miss);
  }
  EXPECT_EQ(origin_calls.load(), 4);
}

TEST_F(CdnNetwork, RejectsBadConfiguration) {
  auto no_pops = config(0);
  no_pops.pops.clear();
  EXPECT_THROW(scaling::cdn_network<>{no_pops}, std::invalid_argument);
  auto empty_pop = config(0);
  empty_pop.pops[0].servers = 0;
  EXPECT_THROW(scaling::cdn_network<>{empty_pop}, std::invalid_argument);
  auto duplicate = config(0);
  duplicate.pops.push_back({"fra", 1});
  EXPECT_THROW(scaling::cdn_network<>{duplicate}, std::invalid_argument);
  auto unknown = config(0);
  unknown.latency_ms["europe"]["lhr"] = 5;
  try {
    scaling::cdn_network<> cdn{unknown};
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::cdn_network: latency_ms names an unknown POP (got \"lhr\")");
  }
}

}  // namespace
