// Stages 1 and 2 of the progression in the lab: the same composition, configured as the seed
// describes each stage, driven by the same read-heavy workload.
#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include <scaling/architecture/web_system.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/lab/arrivals.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::architecture::run_open_loop;
using scaling::architecture::web_system;
using app_cache = scaling::cache<std::uint64_t, std::uint64_t, scaling::lru>;

const scaling::architecture::workload read_heavy{
    .objects = 100'000, .zipf_s = 0.99, .read_fraction = 0.95};

scaling::architecture::web_system_options small_stage(scaling::architecture::web_system_options o) {
  o.cache_capacity = o.cache_capacity == 0 ? 0 : 10'000;  // a tenth of the objects
  o.cdn_capacity = 10'000;
  return o;
}

// Stage 1's single app server (8 threads at 2 ms) caps it near 4,000 requests/s that reach it.
TEST(WebSystem, StageOneSaturatesAtItsAppServer) {
  scaling::lab::simulation sim{21};
  web_system<> system{sim, small_stage(scaling::architecture::stage_1_options())};
  const auto r = run_open_loop(sim, system, read_heavy, 8'000.0, 5s, 10s);
  EXPECT_LT(r.throughput_rps, 6'000.0);
  EXPECT_EQ(r.bottleneck, "app-0");
  EXPECT_GT(r.bottleneck_utilization, 0.98);
  EXPECT_GT(system.edge_hits(), 0U);  // the CDN answers part of the cacheable reads
}

// Stage 2 serves the load stage 1 could not, and far more: four app servers, an app cache in
// front of two read replicas.
TEST(WebSystem, StageTwoSustainsAMultipleOfStageOne) {
  scaling::lab::simulation sim{22};
  web_system<app_cache> system{sim, small_stage(scaling::architecture::stage_2_options())};
  const auto r = run_open_loop(sim, system, read_heavy, 12'000.0, 5s, 10s);
  EXPECT_NEAR(r.throughput_rps, 12'000.0, 12'000.0 * 0.03);
  EXPECT_EQ(r.failed, 0U);
  EXPECT_LT(r.bottleneck_utilization, 0.95);
  // The app cache takes a share of the reads off the database (cold start, writes and the
  // CDN's share of the hottest keys included, about 30% with this seed).
  EXPECT_GT(system.app_cache_stats().hit_ratio(), 0.2);
  // Replicas take reads: the primary is not the busiest database member.
  const auto& primary = system.database().at(0).stats();
  EXPECT_GT(system.database().at(1).stats().completions, 0U);
  EXPECT_LT(primary.utilization, 0.9);
}

// Writes invalidate the app cache with their commit position: no read after a write's
// acknowledgement ever sees an older version, although the replicas lag by 100 ms.
TEST(WebSystem, ReadsAfterAnAcknowledgedWriteNeverSeeAnOlderVersion) {
  scaling::lab::simulation sim{23};
  auto options = small_stage(scaling::architecture::stage_2_options());
  options.cdn_cacheable_percent = 0;  // the edge's TTL staleness is by design, not checked here
  web_system<app_cache> system{sim, options};
  const auto r = run_open_loop(sim, system, {.objects = 1'000, .zipf_s = 1.1, .read_fraction = 0.8},
                               4'000.0, 2s, 5s);
  EXPECT_EQ(r.failed, 0U);
  const auto s = system.app_cache_stats();
  EXPECT_GT(s.invalidations, 0U);
  EXPECT_GT(s.fills_skipped + s.fills, 0U);
  // Quiescent now: every value left in the app cache is the primary's current version (an
  // object never written is at version 0: every object exists from the start).
  std::uint64_t cached = 0;
  for (std::uint64_t key = 0; key < 1'000; ++key) {
    const auto in_cache = system.app_cache().get(key);
    if (!in_cache) continue;
    ++cached;
    EXPECT_EQ(*in_cache, system.store().peek(system.store().primary(), key).value_or(0))
        << "key " << key;
  }
  EXPECT_GT(cached, 100U);
}

}  // namespace

namespace {

// The CDN is the library's HTTP edge cache: it stores objects by their size against its byte
// bound, serves hits without the app tier, and a write purges its URL.
TEST(WebSystem, TheEdgeIsAnHttpEdgeCacheBoundedInBytes) {
  scaling::lab::simulation sim{25};
  auto options = small_stage(scaling::architecture::stage_1_options());
  options.cdn_cacheable_percent = 100;
  options.cdn_capacity = 100;  // objects of the mean size
  options.object_size = scaling::lab::object_sizes{10'000};
  web_system<> system{sim, options};
  const auto r = run_open_loop(sim, system, {.objects = 1'000, .zipf_s = 0.8, .read_fraction = 0.9},
                               200.0, 2s, 10s);
  EXPECT_EQ(r.failed, 0U);
  const auto edge = system.edge().stats();
  EXPECT_GT(edge.hits, 0U);
  EXPECT_GT(edge.purged, 0U);  // writes purged their URLs
  EXPECT_EQ(edge.requests, system.edge_hits() + system.edge_misses());
  // The bound holds 100 objects of 10 KB, not 1,000.
  EXPECT_LE(system.edge().bytes(), system.edge().capacity_bytes());
  EXPECT_EQ(system.edge().capacity_bytes(), 100U * (10'000 + 96));
  EXPECT_LE(system.edge().size(), 100U);
  EXPECT_EQ(system.edge_bytes() % 10'000, 0U);
  EXPECT_EQ(system.origin_bytes(), 10'000 * edge.origin_fetches);
  EXPECT_GT(system.edge_bytes(), system.origin_bytes());  // hits are served without the origin
}

// Stage 1's "primary DB with backups": a disk lost mid-run takes the unarchived writes with
// it (at most archive_timeout of them), and the database is down for the restore.
TEST(WebSystem, LosingThePrimaryCostsAtMostTheArchiveTimeout) {
  scaling::lab::simulation sim{24};
  auto options = small_stage(scaling::architecture::stage_1_options());
  options.backups->archive_timeout = 30s;
  web_system<> system{sim, options};
  scaling::lab::poisson_arrivals load{
      sim, 500.0, [&] {
        const auto op = sim.rng().uniform01() < 0.8 ? scaling::architecture::operation::read
                                                    : scaling::architecture::operation::write;
        system.request(op, sim.rng().below(1000), [](bool) {});
      }};
  load.start();
  sim.run_for(95s);
  const auto loss = system.lose_primary();
  EXPECT_GT(loss.loss.writes_lost, 0U);
  EXPECT_LE(loss.loss.recovery_point, 30s);
  EXPECT_GT(loss.loss.recovery_point, 0s);
  EXPECT_GT(loss.recovery_time, 0s);
  EXPECT_EQ(loss.restored_position, loss.loss.last_archived);
  EXPECT_TRUE(system.database().at(0).down());
  sim.run_for(loss.recovery_time + 1ms);
  EXPECT_FALSE(system.database().at(0).down());
  load.stop();
  sim.run();
}

}  // namespace
