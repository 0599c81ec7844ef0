// The advisor: stages, binding constraints, patterns in order with their reasons, and the
// progression at 10x and 100x, on workloads whose answers follow from the model by hand.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/advisor.hpp>

namespace {

using namespace scaling::advisor;

std::vector<pattern> patterns_of(const advice_level& l) {
  std::vector<pattern> out;
  for (const auto& p : l.patterns)
    out.push_back(p.what);
  return out;
}

workload small_site() {
  workload w;
  w.reads_per_s = 2'000;
  w.writes_per_s = 100;
  w.keys = 100'000;
  w.zipf_s = 0.9;
  w.object_bytes = 1'000;
  w.data_bytes = 10e9;
  w.monthly_growth = 0.02;
  w.latency_slo_s = 0.1;
  return w;
}

TEST(Advise, ASmallSiteIsStageOneAndGrowsIntoTheProgression) {
  const auto a = advise(small_site());
  ASSERT_EQ(a.levels.size(), 3u);
  const auto& now = a.levels[0];
  EXPECT_EQ(now.stage, 1);
  EXPECT_TRUE(now.patterns.empty());
  EXPECT_EQ(now.access, access_pattern::read_heavy);
  EXPECT_EQ(now.numbers.replicas.servers, 1u);
  EXPECT_EQ(now.numbers.shards, 1u);
  // 100 writes/s against 5,000/s: the storage ratio 0.02 is the largest of the four.
  EXPECT_EQ(now.binding_constraint, resource::storage);
  EXPECT_NE(now.binding_reason.find("100 durable writes/s against 5,000/s"), std::string::npos)
      << now.binding_reason;
  // 100x: 200,000 reads/s fit one 350K/s server at 0.7? No: 245K/s is the target, so still
  // no cache; but 10,000 writes/s need 3 primaries at 3,500/s.
  const auto& hundred = a.levels[2];
  EXPECT_EQ(hundred.load_multiple, 100.0);
  EXPECT_EQ(hundred.numbers.shards_for_writes, 3u);
  EXPECT_TRUE(hundred.applies(pattern::sharding));
  EXPECT_EQ(hundred.stage, 4);
  ASSERT_EQ(a.progression.size(), 2u);
  EXPECT_EQ(a.progression[1].rfind("at 100x: stage 4, bound by storage; we'd add sharding", 0), 0u)
      << a.progression[1];
}

TEST(Advise, ReadHeavyLoadGetsACacheThenReplicasInOrder) {
  workload w = small_site();
  w.reads_per_s = 1'000'000;
  w.writes_per_s = 1'000;
  const auto now = advise_level(w, 1);
  // 1M reads/s: 2.86 of one database server's 350K/s (the network is 0.80 of a 10 Gbit/s NIC).
  EXPECT_EQ(now.binding_constraint, resource::cpu);
  EXPECT_NEAR(now.resources[0].ratio, 1e6 / 350'000, 1e-9);
  EXPECT_EQ(now.stage, 2);
  ASSERT_EQ(patterns_of(now), (std::vector<pattern>{pattern::application_cache}));
  // Che for Zipf 0.9 over 100,000 keys, sized for 90%.
  // (at the whole number of items, a hair above the target)
  EXPECT_NEAR(now.numbers.predicted_hit_ratio, 0.9, 1e-4);
  EXPECT_NEAR(now.numbers.db_reads_per_s, 100'000, 10);
  EXPECT_EQ(now.numbers.replicas.servers, 1u);
  // 1M reads/s on Redis at 80K/s x 0.7: 18 cache servers by request rate.
  EXPECT_EQ(now.numbers.cache_nodes, 18u);
  // At 10x the reads behind the cache (1M/s) need replicas: 1M / (350K x 0.7) = 4.08 -> 5,
  // and 10,000 writes/s need 3 primaries.
  const auto ten = advise_level(w, 10);
  ASSERT_EQ(patterns_of(ten), (std::vector<pattern>{pattern::application_cache,
                                                    pattern::read_replicas, pattern::sharding}));
  EXPECT_EQ(ten.numbers.replicas.servers, 5u);
  EXPECT_LE(ten.numbers.replicas.utilization, 0.7);
}

TEST(Advise, StrongConsistencySkipsTheCacheAndSaysWhy) {
  workload w = small_site();
  w.reads_per_s = 1'000'000;
  w.consistency.level = consistency_level::strong;
  const auto a = advise(w);
  const auto& now = a.levels[0];
  EXPECT_FALSE(now.applies(pattern::application_cache));
  EXPECT_TRUE(now.applies(pattern::read_replicas));
  EXPECT_EQ(now.numbers.replicas.servers, 5u);  // 1M / 245K
  EXPECT_NE(now.patterns[0].consistency.find("synchronous"), std::string::npos);
  EXPECT_NE(a.consistency_cost.find("remote_apply"), std::string::npos);
  EXPECT_FALSE(now.notes.empty());
}

TEST(Advise, DataGrowthShardsAndGivesTheRunway) {
  workload w = small_site();
  w.data_bytes = 1e12;
  w.monthly_growth = 0.10;
  w.horizon_months = 24;
  w.nodes.db_storage = w.nodes.db_storage.with_value(2e12);
  const auto now = advise_level(w, 1);
  EXPECT_EQ(now.numbers.shards_for_data, 8u);  // 9.85 TB / 1.4 TB
  EXPECT_EQ(now.numbers.shards, 8u);
  EXPECT_TRUE(now.applies(pattern::sharding));
  EXPECT_EQ(now.stage, 4);
  EXPECT_NEAR(now.numbers.layout.months, std::log(8 * 1.4) / std::log(1.1), 1e-9);
  // The current layout (one primary) runs out of room in ln(1.4) / ln(1.1) = 3.5 months, and
  // of write capacity at 35x today's 100 writes/s; with 3 primaries, later.
  EXPECT_NEAR(now.numbers.current_layout.months, std::log(1.4) / std::log(1.1), 1e-9);
  EXPECT_NEAR(now.numbers.current_layout.load_multiple, 35.0, 1e-9);
  w.current_shards = 3;
  EXPECT_NEAR(advise_level(w, 1).numbers.current_layout.months, std::log(4.2) / std::log(1.1),
              1e-9);
  w.current_shards = 0;
  EXPECT_THROW((void)advise_level(w, 1), std::invalid_argument);
  EXPECT_EQ(now.binding_constraint, resource::storage);
  // No cache is needed for 2,000 reads/s, so its hot set is not a memory constraint.
  EXPECT_EQ(now.resources[1].ratio, 0.0);
  EXPECT_EQ(now.resources[1].detail.rfind("no cache needed", 0), 0u);
}

TEST(Advise, ABurstAboveThePrimaryGetsAQueue) {
  workload w = small_site();
  w.writes_per_s = 1'000;
  w.burst_multiple = 25;  // Twitter's 2013 record against its average
  w.burst_s = 60;
  w.drain_target_s = 300;
  const auto now = advise_level(w, 1);
  ASSERT_TRUE(now.applies(pattern::message_queue));
  EXPECT_EQ(now.stage, 3);
  // (25,000 x 60 + 1,000 x 300) / (1,000 x 360) = 5 consumers.
  EXPECT_EQ(now.numbers.queue_consumers, 5u);
  EXPECT_DOUBLE_EQ(now.numbers.burst_backlog, 20'000.0 * 60);
}

TEST(Advise, RegionsBringTheCdnAndGeographicDistribution) {
  workload w = small_site();
  w.regions = 3;
  w.content = content_scope::shared;
  w.complexity = complexity_budget::low;
  const auto now = advise_level(w, 1);
  const auto p = patterns_of(now);
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.front(), pattern::cdn);
  EXPECT_EQ(p.back(), pattern::geo_distribution);
  EXPECT_EQ(now.stage, 4);
  EXPECT_GT(now.numbers.cdn_offload, 0.9);  // the whole catalogue nearly fits one edge
  const bool budget_note = std::any_of(now.notes.begin(), now.notes.end(), [](const auto& n) {
    return n.find("beyond a low complexity budget") != std::string::npos;
  });
  EXPECT_TRUE(budget_note);
}

TEST(Advise, AMeasuredCurveReplacesTheFormula) {
  workload w = small_site();
  w.reads_per_s = 1'000'000;
  w.hit_curve = hit_ratio_curve{{{1'000, 0.3}, {10'000, 0.6}, {100'000, 0.8}}};
  const auto now = advise_level(w, 1);
  EXPECT_EQ(now.numbers.cache_items, 100'000);
  EXPECT_NEAR(now.numbers.predicted_hit_ratio, 0.8, 1e-12);
  EXPECT_FALSE(now.notes.empty());  // the curve stops below the 0.9 target
}

TEST(Advise, MeasuredScalingPointsCapTheReadTier) {
  workload w = small_site();
  w.reads_per_s = 20'000'000;
  w.consistency.level = consistency_level::strong;
  const usl law{.sigma = 0.05, .kappa = 0.001};
  for (double n : {1.0, 2.0, 4.0, 8.0, 16.0})
    w.scaling_points.push_back({n, 350'000 * law.relative_capacity(n)});
  const auto now = advise_level(w, 1);
  ASSERT_TRUE(now.numbers.read_tier_usl.has_value());
  EXPECT_NEAR(now.numbers.read_tier_usl->law.peak(), 30.8, 0.1);
  EXPECT_GT(now.numbers.replicas.servers, 30u);
  EXPECT_TRUE(now.applies(pattern::sharding));
}

TEST(Advise, FiguresComeWithTheirSources) {
  const auto a = advise(small_site());
  ASSERT_EQ(a.figures.size(), 9u);
  EXPECT_EQ(a.figures[0].name, "postgres_read_only");
  EXPECT_EQ(a.figures[0].origin, figure_origin::published);
  EXPECT_FALSE(a.figures[0].source.empty());
  workload w = small_site();
  w.nodes.read_node = w.nodes.read_node.with_value(40'000);
  const auto b = advise(w);
  EXPECT_EQ(b.figures[0].value, 40'000);
  EXPECT_EQ(b.figures[0].origin, figure_origin::override);
}

TEST(Advise, BadFieldsAreNamedWithTheirValues) {
  auto message = [](workload w) {
    try {
      (void)advise(w);
    } catch (const scaling::invalid_argument& e) {
      return e.parameter() + " | " + e.what();
    }
    return std::string("no error");
  };
  workload w = small_site();
  w.reads_per_s = -5;
  EXPECT_EQ(message(w),
            "reads_per_s | scaling::advisor::workload: reads_per_s must be a finite "
            "number >= 0 (got -5)");
  w = small_site();
  w.target_hit_ratio = 1.0;
  EXPECT_EQ(message(w),
            "target_hit_ratio | scaling::advisor::workload: target_hit_ratio must be "
            "in [0, 1) (got 1)");
  w = small_site();
  w.zipf_s = 5;
  EXPECT_EQ(message(w), "zipf_s | scaling::advisor::workload: zipf_s must be in [0, 4] (got 5)");
  w = small_site();
  w.consistency = {consistency_level::bounded_staleness, 0};
  EXPECT_EQ(message(w).substr(0, 15), "max_staleness_s");
  w = small_site();
  w.regions = 0;
  EXPECT_EQ(message(w).substr(0, 7), "regions");
}

}  // namespace
