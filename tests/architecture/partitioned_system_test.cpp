// Stage 4 in the lab: logical shards on physical nodes, a second region, change events feeding
// derived views, and a node added while traffic runs.
#include <algorithm>
#include <chrono>
#include <numeric>

#include <gtest/gtest.h>

#include <scaling/architecture/partitioned_system.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::architecture::partitioned_system;
using scaling::architecture::run_open_loop;

const scaling::architecture::workload writes_only{
    .objects = 100'000, .zipf_s = 0.6, .read_fraction = 0.0};

double write_throughput(std::size_t nodes, double rate) {
  scaling::lab::simulation sim{41};
  partitioned_system system{sim, {.nodes = nodes, .regions = 1, .view_consumers = 4}};
  return run_open_loop(sim, system, writes_only, rate, 2s, 5s).throughput_rps;
}

// Replicas and caches add no write capacity; shards do. One node takes about 2,000 writes/s
// (8 threads at 4 ms): two nodes saturate under 10,000 writes/s, eight carry them.
TEST(PartitionedSystem, WriteCapacityGrowsWithShardNodes) {
  const double two = write_throughput(2, 10'000.0);
  const double eight = write_throughput(8, 10'000.0);
  EXPECT_LT(two, 4'500.0);
  EXPECT_NEAR(eight, 10'000.0, 300.0);
}

// A skewed key popularity concentrates writes on the nodes holding the hot shards.
TEST(PartitionedSystem, AHotKeySkewsTheNodes) {
  scaling::lab::simulation sim{42};
  partitioned_system system{sim, {.nodes = 4, .regions = 1}};
  run_open_loop(sim, system, {.objects = 100'000, .zipf_s = 1.2, .read_fraction = 0.0}, 2'000.0, 1s,
                5s);
  const auto per_node = system.stats().writes_per_node;
  const double total = static_cast<double>(std::accumulate(per_node.begin(), per_node.end(), 0ULL));
  const double peak = static_cast<double>(*std::max_element(per_node.begin(), per_node.end()));
  EXPECT_GT(peak / (total / 4.0), 1.3);  // the node with key 0's shard carries the most
}

// Reads are served in the client's region; the other region's replicas trail the home region
// by the network delay, and converge once writes stop.
TEST(PartitionedSystem, RemoteRegionsTrailByTheirDelayAndConverge) {
  scaling::lab::simulation sim{43};
  partitioned_system system{sim, {.nodes = 2, .regions = 2}};
  const auto r = run_open_loop(
      sim, system, {.objects = 10'000, .zipf_s = 0.9, .read_fraction = 0.9}, 2'000.0, 1s, 5s);
  EXPECT_EQ(r.failed, 0U);
  const auto s = system.stats();
  EXPECT_GE(s.replication_lag.percentile(0.5), 40ms);
  EXPECT_LT(s.replication_lag.percentile(0.99), 41ms);
  EXPECT_TRUE(system.replicas_converged());
  // Writes from the far region were still on the wire when the load stopped: the view
  // consumers, idle by then, must wake up for them.
  EXPECT_TRUE(system.views_converged());
}

// Every write's change event reaches the derived views, which converge to the data.
TEST(PartitionedSystem, DerivedViewsConvergeAndTheirLagIsMeasured) {
  scaling::lab::simulation sim{44};
  partitioned_system system{sim, {.nodes = 2, .regions = 1}};
  run_open_loop(sim, system, {.objects = 5'000, .zipf_s = 0.9, .read_fraction = 0.5}, 1'000.0, 1s,
                5s);
  const auto s = system.stats();
  EXPECT_EQ(s.events_applied, s.events_published);
  EXPECT_GT(s.view_lag.count(), 0U);
  EXPECT_GT(s.view_lag.percentile(0.99), 0ns);
  EXPECT_TRUE(system.views_converged());
}

// A node joins while writes continue: the planned shards are copied, the writes made during
// the copy are replayed, routing switches, and every moved key holds its committed version.
TEST(PartitionedSystem, AShardMoveUnderTrafficLosesNoWrite) {
  scaling::lab::simulation sim{45};
  partitioned_system system{
      sim, {.logical_shards = 64, .nodes = 3, .copy_per_key = 200us, .regions = 1}};
  system.add_node(3s);
  run_open_loop(sim, system, {.objects = 20'000, .zipf_s = 0.8, .read_fraction = 0.5}, 1'500.0, 1s,
                8s);
  const auto s = system.stats();
  EXPECT_EQ(s.shards_moved, 16U);  // floor(64 / 4)
  EXPECT_GT(s.keys_copied, 0U);
  EXPECT_GT(s.writes_during_move, 0U);
  EXPECT_GT(s.move_duration, 0ns);
  EXPECT_GT(s.moved_keys_checked, 0U);
  EXPECT_EQ(s.moved_keys_wrong, 0U);
  EXPECT_GT(s.writes_per_node.back(), 0U);  // the new node takes writes after the switch
  EXPECT_TRUE(system.views_converged());
}

}  // namespace
