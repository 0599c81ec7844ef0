// The stage model (saturation from service demands) and the cache models with invalidating
// writes and a TTL, against closed forms.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/advisor/cache_model.hpp>
#include <scaling/advisor/queue_model.hpp>
#include <scaling/advisor/stage_model.hpp>
#include <scaling/core/error.hpp>

namespace {

using scaling::advisor::item_rates;
using scaling::advisor::predict_saturation;
using scaling::advisor::station_demand;
using scaling::advisor::station_saturation;

// The utilization law: 8 workers at 2 ms each, 0.8 visits per request, even over 4 servers:
// rho = R * 0.0016 / 4 / 8 reaches 0.95 at R = 19,000.
TEST(StageModel, UtilizationBoundFromTheServiceDemand) {
  const station_demand app{
      .name = "app", .servers = 4, .workers = 8, .visits = 0.8, .work_s = 0.8 * 0.002};
  const auto limit = station_saturation(app);
  EXPECT_NEAR(limit.rate, 19'000.0, 1e-6);
  EXPECT_FALSE(limit.by_latency);
  EXPECT_NEAR(app.utilization(limit.rate), 0.95, 1e-12);
}

// A hot server takes more than its even share: the tier saturates when that one does.
TEST(StageModel, TheBusiestServerBinds) {
  station_demand db{.name = "db", .servers = 4, .workers = 1, .visits = 1, .work_s = 0.001};
  const double even = station_saturation(db).rate;
  db.busiest_share = 0.5;
  EXPECT_NEAR(station_saturation(db).rate, even / 2.0, 1e-9);
}

// One worker with a 10 ms service: at 95% utilization the M/M/1 response p99 is far past
// 100 ms, so the latency objective binds, at the load where the p99 is exactly 100 ms:
// P(T > t) = exp(-(mu - lambda) t) for M/M/1, so lambda = mu - ln(100) / 0.1 = 53.95 per second.
// With a 50 ms service even an idle server's p99 (230 ms) is past the objective: no load holds.
TEST(StageModel, LatencyBindsBeforeUtilizationOnASlowSingleServer) {
  const station_demand slow{
      .name = "slow", .servers = 1, .workers = 1, .visits = 1, .work_s = 0.01};
  const auto limit = station_saturation(slow);
  EXPECT_TRUE(limit.by_latency);
  EXPECT_NEAR(limit.rate, 100.0 - std::log(100.0) / 0.1, 1e-3);
  const station_demand slower{
      .name = "slower", .servers = 1, .workers = 1, .visits = 1, .work_s = 0.05};
  EXPECT_EQ(station_saturation(slower).rate, 0.0);
}

TEST(StageModel, SystemSaturatesAtItsFirstStation) {
  const std::vector<station_demand> tiers{
      {.name = "app", .servers = 4, .workers = 8, .visits = 1, .work_s = 0.002},
      {.name = "db", .servers = 1, .workers = 8, .visits = 0.05, .work_s = 0.05 * 0.004},
      {.name = "idle", .servers = 1, .workers = 1, .visits = 0, .work_s = 0}};
  const auto s = predict_saturation(tiers);
  EXPECT_EQ(s.bottleneck, "app");
  EXPECT_NEAR(s.rate, 15'200.0, 1e-6);  // 0.95 * 32 / 0.002
  ASSERT_EQ(s.stations.size(), 3U);
  EXPECT_NEAR(s.stations[1].rate, 38'000.0, 1e-6);  // 0.95 * 8 / 0.0002
  EXPECT_TRUE(std::isinf(s.stations[2].rate));      // no work: never the bottleneck
}

TEST(StageModel, BadInputNamesTheField) {
  auto message = [](const station_demand& s, scaling::advisor::saturation_objective o = {}) {
    try {
      (void)station_saturation(s, o);
    } catch (const scaling::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"no error"};
  };
  EXPECT_NE(message({.servers = 0}).find("servers"), std::string::npos);
  EXPECT_NE(message({.workers = 0}).find("workers"), std::string::npos);
  EXPECT_NE(message({.visits = -1}).find("visits"), std::string::npos);
  EXPECT_NE(message({.work_s = std::numeric_limits<double>::quiet_NaN()}).find("work_s"),
            std::string::npos);
  EXPECT_NE(message({.busiest_share = 1.5}).find("busiest_share"), std::string::npos);
  EXPECT_NE(message({}, {.max_utilization = 0}).find("max_utilization"), std::string::npos);
  EXPECT_NE(message({}, {.p99_s = 0}).find("p99_s"), std::string::npos);
}

// Kept items hit r / (r + w): each write costs the read after it.
TEST(InvalidatedHitRatio, MostReadKeepsTheTopItemsAndPaysOneMissPerWrite) {
  const std::vector<item_rates> items{
      {.reads = 90, .writes = 10}, {.reads = 5, .writes = 0}, {.reads = 5, .writes = 5}};
  std::vector<double> per_item;
  const double h = scaling::advisor::top_invalidated_hit_ratio(items, 2, &per_item);
  EXPECT_NEAR(per_item[0], 0.9, 1e-12);
  EXPECT_NEAR(per_item[1], 1.0, 1e-12);
  EXPECT_EQ(per_item[2], 0.0);  // third by reads: not kept
  EXPECT_NEAR(h, (90 * 0.9 + 5 * 1.0) / 100.0, 1e-12);
}

// One item, room for it: only expiry and writes miss. With a TTL T and no write a fill is
// followed by r T hits; with writes at w and no TTL, by r / w.
TEST(InvalidatedHitRatio, ExpiryAndWritesFollowTheRenewalFormula) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<item_rates> read_only{{.reads = 2, .writes = 0}};
  EXPECT_NEAR(scaling::advisor::lru_invalidated_hit_ratio(read_only, 1, 10), 20.0 / 21.0, 1e-12);
  EXPECT_NEAR(scaling::advisor::lru_invalidated_hit_ratio(read_only, 1, inf), 1.0, 1e-12);
  const std::vector<item_rates> written{{.reads = 19, .writes = 1}};
  EXPECT_NEAR(scaling::advisor::lru_invalidated_hit_ratio(written, 1, inf), 19.0 / 20.0, 1e-12);
  const double e = 19.0 * -std::expm1(-1.0 * 0.5) / 1.0;  // both: reads before min(T, write)
  EXPECT_NEAR(scaling::advisor::lru_invalidated_hit_ratio(written, 1, 0.5), e / (1 + e), 1e-12);
}

// Without writes or a TTL the LRU model is Che's approximation on the rates.
TEST(InvalidatedHitRatio, WithoutWritesItIsChe) {
  const scaling::advisor::zipf_popularity pop{1'000, 0.8};
  std::vector<item_rates> items;
  for (std::uint64_t i = 1; i <= 1'000; ++i)
    items.push_back({.reads = 500.0 * std::pow(static_cast<double>(i), -0.8), .writes = 0});
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_NEAR(scaling::advisor::lru_invalidated_hit_ratio(items, 100, inf),
              scaling::advisor::che_lru_hit_ratio(pop, 100), 2e-3);
}

TEST(InvalidatedHitRatio, BadRatesAreNamed) {
  const std::vector<item_rates> bad{{.reads = -1, .writes = 0}};
  EXPECT_THROW((void)scaling::advisor::lru_invalidated_hit_ratio(bad, 1, 1),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::advisor::top_invalidated_hit_ratio(bad, 1),
               scaling::invalid_argument);
  const std::vector<item_rates> ok{{.reads = 1, .writes = 0}};
  EXPECT_THROW((void)scaling::advisor::lru_invalidated_hit_ratio(ok, -1, 1),
               scaling::invalid_argument);
}

}  // namespace
