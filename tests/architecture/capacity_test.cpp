// The advisor's predicted saturation of each stage against the lab's: the lab runs the real
// blocks on virtual time at 0.85x and 1.15x the predicted load; the first must hold the SLO and
// the second break it at the predicted station, so the measured saturation is within 15% of
// the prediction. Plus the saturation search and the catalogue adapter the web stages use.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/architecture/capacity.hpp>
#include <scaling/caching/cache.hpp>

namespace {

using namespace std::chrono_literals;
namespace arch = scaling::architecture;
using app_cache = scaling::cache<std::uint64_t, std::uint64_t, scaling::w_tinylfu>;

const arch::workload read_heavy{.objects = 50'000, .zipf_s = 0.99, .read_fraction = 0.95};

// The web stages at test scale: caches a tenth of the objects, a 10 s edge TTL (so that a 15 s
// warm-up reaches the caches' steady state, which the model assumes).
arch::web_system_options small(arch::web_system_options o) {
  o.cdn_capacity = 5'000;
  o.cdn_ttl = 10s;
  if (o.cache_capacity > 0) o.cache_capacity = 5'000;
  return o;
}

struct probe {
  bool within = false;
  std::string bottleneck;
};

template <class System, class Options>
probe run(const Options& o, const arch::workload& load, double rate, std::chrono::seconds warmup) {
  scaling::lab::simulation sim{11};
  System system{sim, o};
  const auto r = arch::run_open_loop(sim, system, load, rate, warmup, 8s);
  return {arch::within(r, {}), r.bottleneck};
}

template <class System, class Options>
void expect_saturation_within_15_percent(const Options& o, const arch::workload& load,
                                         const scaling::advisor::saturation_estimate& predicted,
                                         std::chrono::seconds warmup) {
  ASSERT_TRUE(std::isfinite(predicted.rate));
  const probe below = run<System>(o, load, 0.85 * predicted.rate, warmup);
  const probe above = run<System>(o, load, 1.15 * predicted.rate, warmup);
  EXPECT_TRUE(below.within) << "the lab breaks the SLO at 0.85x the predicted " << predicted.rate
                            << " req/s, at " << below.bottleneck;
  EXPECT_FALSE(above.within) << "the lab still holds the SLO at 1.15x the predicted "
                             << predicted.rate << " req/s";
  // The lab names a server of the tier the model predicted (app-2 for "app", db-3-0 for "db-3").
  EXPECT_EQ(above.bottleneck.rfind(predicted.bottleneck, 0), 0U)
      << "lab: " << above.bottleneck << ", model: " << predicted.bottleneck;
}

TEST(Capacity, StageOneSaturatesWhereTheModelSays) {
  const auto o = small(arch::stage_1_options());
  const auto predicted = arch::predict_saturation(o, read_heavy);
  EXPECT_EQ(predicted.bottleneck, "app");
  expect_saturation_within_15_percent<arch::web_system<>>(o, read_heavy, predicted, 15s);
}

TEST(Capacity, StageTwoSaturatesWhereTheModelSays) {
  auto o = small(arch::stage_2_options());
  o.app_servers = 2;
  const auto predicted = arch::predict_saturation(o, read_heavy);
  EXPECT_EQ(predicted.bottleneck, "app");
  expect_saturation_within_15_percent<arch::web_system<app_cache>>(o, read_heavy, predicted, 15s);
}

TEST(Capacity, StageTwoWritesSaturateThePrimary) {
  const arch::workload writes{.objects = 50'000, .zipf_s = 0.6, .read_fraction = 0};
  auto o = small(arch::stage_2_options());
  const auto predicted = arch::predict_saturation(o, writes);
  EXPECT_EQ(predicted.bottleneck, "db-0");
  o.replicas = 4;  // more replicas: the same prediction, since every write goes to the primary
  EXPECT_DOUBLE_EQ(arch::predict_saturation(o, writes).rate, predicted.rate);
  expect_saturation_within_15_percent<arch::web_system<app_cache>>(o, writes, predicted, 2s);
}

TEST(Capacity, StageThreeSaturatesAtThePostsDatabase) {
  const arch::service_system_options o{};
  const auto predicted = arch::predict_saturation(o, read_heavy);
  EXPECT_EQ(predicted.bottleneck, "posts-db");
  expect_saturation_within_15_percent<arch::service_system>(o, read_heavy, predicted, 2s);
}

// Writes spread over the shards' nodes: capacity grows with the nodes.
TEST(Capacity, StageFourWritesScaleWithNodes) {
  const arch::workload writes{.objects = 50'000, .zipf_s = 0.6, .read_fraction = 0};
  const arch::partitioned_system_options two{.nodes = 2, .regions = 1, .view_consumers = 2};
  const arch::partitioned_system_options four{.nodes = 4, .regions = 1, .view_consumers = 4};
  const auto p2 = arch::predict_saturation(two, writes);
  const auto p4 = arch::predict_saturation(four, writes);
  EXPECT_GT(p4.rate, 1.8 * p2.rate);
  expect_saturation_within_15_percent<arch::partitioned_system>(four, writes, p4, 2s);
}

// Read-heavy and skewed: the node holding the hottest keys breaks first, as the model finds
// from the system's own shard placement.
TEST(Capacity, StageFourReadsBreakAtTheHotNode) {
  const arch::partitioned_system_options o{.nodes = 4, .regions = 2};
  const auto predicted = arch::predict_saturation(o, read_heavy);
  double coldest = predicted.rate;
  for (const auto& s : predicted.stations)
    coldest = std::max(coldest, s.rate);
  EXPECT_GT(coldest, 1.2 * predicted.rate);  // the skew: one node binds well before the rest
  expect_saturation_within_15_percent<arch::partitioned_system>(o, read_heavy, predicted, 2s);
}

// The search brackets the threshold of a step function and bisects to the precision asked.
TEST(FindSaturation, GrowsThenBisectsToThePrecision) {
  std::size_t calls = 0;
  auto fake = [&](double rate) {
    ++calls;
    arch::run_result r;
    r.bottleneck = "app-0";
    r.bottleneck_utilization = rate < 12'345.0 ? 0.5 : 1.0;
    return r;
  };
  const auto s = arch::find_saturation(fake, 1'000.0, {}, {.step = 2.0, .precision = 0.01});
  EXPECT_LT(s.rate, 12'345.0);
  EXPECT_GE(s.failing_rate, 12'345.0);
  EXPECT_LE(s.failing_rate / s.rate, 1.01);
  EXPECT_EQ(s.bottleneck, "app-0");
  EXPECT_EQ(s.runs, calls);
}

TEST(FindSaturation, BrokenAtTheStartAndBadInput) {
  auto broken = [](double) {
    arch::run_result r;
    r.failed = 1;
    r.bottleneck = "db-0";
    return r;
  };
  const auto s = arch::find_saturation(broken, 100.0);
  EXPECT_EQ(s.rate, 0.0);
  EXPECT_EQ(s.failing_rate, 100.0);
  EXPECT_EQ(s.bottleneck, "db-0");
  EXPECT_THROW((void)arch::find_saturation(broken, 0.0), scaling::invalid_argument);
  EXPECT_THROW((void)arch::find_saturation(broken, 1.0, {}, {.step = 1.0}),
               scaling::invalid_argument);
}

// A key the store never saw reads as the catalogue's initial value, so the caches fill.
TEST(WithInitialValue, NotFoundReadsAsTheInitialValue) {
  struct empty_source {
    void async_read(std::uint64_t, std::uint64_t, arch::read_handler<std::uint64_t> done) {
      done({arch::reply_status::not_found, std::nullopt, 3});
    }
  } source;
  arch::with_initial_value<std::uint64_t, std::uint64_t, empty_source> catalogue{source, 7};
  arch::reply<std::uint64_t> got;
  catalogue.async_read(1, 0, [&](arch::reply<std::uint64_t> r) { got = r; });
  EXPECT_EQ(got.status, arch::reply_status::ok);
  EXPECT_EQ(got.value, 7U);
  EXPECT_EQ(got.tier, 3);
}

}  // namespace
