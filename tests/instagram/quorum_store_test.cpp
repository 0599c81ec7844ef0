// quorum_store: consistency levels, LWW and tombstones, wide rows, hinted handoff, read repair,
// anti-entropy, speculative retry, and property tests under random failures.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/quorum_store.hpp>

#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono_literals;
using scaling::quorum_level;
using scaling::quorum_status;
using store_t = scaling::quorum_store<std::string, int, int, std::less<int>, scaling::manual_clock>;
using feed_t = scaling::quorum_store<std::string, std::int64_t, std::string, std::greater<>,
                                     scaling::manual_clock>;

std::string user(int i) {
  return "user:" + std::to_string(i);
}

TEST(QuorumStore, RejectsBadOptionsAndArguments) {
  EXPECT_THROW((store_t{{.nodes = 2, .replication_factor = 3}}), std::invalid_argument);
  EXPECT_THROW((store_t{{.nodes = 3, .replication_factor = 0}}), std::invalid_argument);
  EXPECT_THROW((store_t{{.points_per_node = 0}}), std::invalid_argument);
  EXPECT_THROW((store_t{{.speculative_retry_after = 0ns}}), std::invalid_argument);
  store_t db{{.nodes = 3}};
  EXPECT_THROW((void)db.get_range("p", {.limit = 0}), std::invalid_argument);
  EXPECT_THROW((void)db.get_range("p", {.from = 5, .to = 1}), std::invalid_argument);
  EXPECT_THROW((void)db.put("p", 1, 1, {.coordinator = 3}), std::invalid_argument);
  EXPECT_THROW(db.crash(7), std::invalid_argument);
  EXPECT_THROW(db.partition({{0, 1}}), std::invalid_argument);          // node 2 missing
  EXPECT_THROW(db.partition({{0, 1}, {1, 2}}), std::invalid_argument);  // node 1 twice
}

TEST(QuorumStore, LevelsThatCannotBeMetAreUnavailableAndCounted) {
  store_t db{{.nodes = 3, .replication_factor = 3}};
  db.crash(1);
  db.crash(2);
  const auto quorum = db.put("p", 1, 10, {.level = quorum_level::quorum});
  EXPECT_EQ(quorum.status, quorum_status::unavailable);
  EXPECT_EQ(db.peek(0, "p", 1), std::nullopt) << "an unavailable write writes nothing";
  EXPECT_TRUE(db.put("p", 1, 11, {.level = quorum_level::one}).ok());
  EXPECT_EQ(db.get("p", 1, {.level = quorum_level::all}).status, quorum_status::unavailable);
  const auto one = db.get("p", 1, {.level = quorum_level::one});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value, 11);
  EXPECT_EQ(db.stats().unavailable, 2u);
  EXPECT_EQ(db.put("p", 2, 1, {.coordinator = 1}).status, quorum_status::unavailable)
      << "a coordinator that is down cannot take the request";
}

TEST(QuorumStore, LastWriteWinsAndTombstonesHideOlderValues) {
  store_t db{{.nodes = 4, .replication_factor = 3}};
  const auto first = db.put("p", 1, 1);
  const auto second = db.put("p", 1, 2);
  EXPECT_LT(first.timestamp, second.timestamp) << "timestamps never tie, even on a frozen clock";
  EXPECT_EQ(db.get("p", 1).value, 2);
  ASSERT_TRUE(db.erase("p", 1).ok());
  const auto gone = db.get("p", 1, {.level = quorum_level::all});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone.value, std::nullopt);
  EXPECT_GT(gone.timestamp, second.timestamp) << "the tombstone is the newest cell";
  EXPECT_EQ(db.put("p", 1, 3).ok(), true);
  EXPECT_EQ(db.get("p", 1).value, 3);
}

TEST(QuorumStore, WideRowsReadSlicesInClusteringOrderWithALimit) {
  feed_t feed{{.nodes = 5, .replication_factor = 3}};
  for (std::int64_t t = 1; t <= 10; ++t) {
    ASSERT_TRUE(feed.put("user:7", t, "event " + std::to_string(t)).ok());
  }
  const auto latest = feed.get_range("user:7", {.limit = 3});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest.rows.size(), 3u);
  EXPECT_EQ(latest.rows[0].clustering, 10) << "std::greater: newest first";
  EXPECT_EQ(latest.rows[2].clustering, 8);
  const auto page = feed.get_range("user:7", {.from = 6, .to = 2, .limit = 100});
  ASSERT_EQ(page.rows.size(), 5u);
  EXPECT_EQ(page.rows.front().value, "event 6");
  EXPECT_EQ(page.rows.back().value, "event 2");
  EXPECT_TRUE(feed.get_range("user:8", {}).rows.empty());
}

// One replica missed five deletes (its hint expired); a limited read that pairs it with a replica
// holding the tombstones must still return the first three live rows, whichever replicas answer.
TEST(QuorumStore, RangeReadsWithALimitSurviveTombstonesOnOtherReplicas) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    scaling::manual_clock clock;
    store_t db{{.nodes = 3, .replication_factor = 3, .hint_window = 1s, .seed = seed}, clock};
    for (int c = 1; c <= 10; ++c)
      ASSERT_TRUE(db.put("p", c, c, {.level = quorum_level::all}).ok());
    db.crash(2);
    for (int c = 1; c <= 5; ++c)
      ASSERT_TRUE(db.erase("p", c, {.coordinator = 0}).ok());
    clock.advance(2s);
    db.recover(2);
    ASSERT_EQ(db.stats().hints_dropped, 5u);
    ASSERT_EQ(db.peek(2, "p", 1), 1) << "node 2 still has the deleted rows";
    const auto r = db.get_range("p", {.limit = 3}, {.level = quorum_level::quorum});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.rows.size(), 3u) << "seed " << seed;
    EXPECT_EQ(r.rows[0].clustering, 6);
    EXPECT_EQ(r.rows[2].clustering, 8);
    EXPECT_FALSE(r.stale);
  }
}

TEST(QuorumStore, HintedHandoffReplaysWritesWhenAReplicaRecovers) {
  store_t db{{.nodes = 3, .replication_factor = 3}};
  db.crash(2);
  const auto w = db.put("p", 1, 42, {.level = quorum_level::quorum, .coordinator = 0});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.acks, 2u);
  EXPECT_EQ(w.hints, 1u);
  EXPECT_EQ(db.peek(2, "p", 1), std::nullopt);
  db.recover(2);
  EXPECT_EQ(db.peek(2, "p", 1), 42);
  EXPECT_EQ(db.stats().hints_delivered, 1u);
  EXPECT_EQ(db.divergent_rows(), 0u);
}

TEST(QuorumStore, PartitionedReplicasGetHintsAfterTheNetworkHeals) {
  store_t db{{.nodes = 3, .replication_factor = 3}};
  db.partition({{0, 1}, {2}});
  EXPECT_TRUE(db.put("p", 1, 5, {.coordinator = 0}).ok()) << "the majority side still writes";
  EXPECT_EQ(db.put("p", 1, 6, {.coordinator = 2}).status, quorum_status::unavailable)
      << "the minority side cannot reach a quorum";
  EXPECT_EQ(db.get("p", 1, {.level = quorum_level::one, .coordinator = 2}).value, std::nullopt);
  db.heal();
  EXPECT_EQ(db.peek(2, "p", 1), 5);
}

TEST(QuorumStore, AntiEntropyStreamsOnlyTheRangesThatDiffer) {
  scaling::manual_clock clock;
  store_t db{{.nodes = 4, .replication_factor = 3, .hint_window = 1s}, clock};
  for (int p = 0; p < 50; ++p)
    ASSERT_TRUE(db.put(user(p), 0, p, {.level = quorum_level::all}).ok());
  db.crash(1);
  int missed = 0;
  for (int p = 0; p < 50; ++p) {
    const auto w = db.put(user(p), 1, p, {.level = quorum_level::quorum});
    ASSERT_TRUE(w.ok());
    missed += static_cast<int>(w.hints);
  }
  clock.advance(2s);
  db.recover(1);  // the hints are too old: dropped
  ASSERT_GT(missed, 0);
  EXPECT_EQ(db.divergent_rows(), static_cast<std::size_t>(missed));
  const auto report = db.repair();
  EXPECT_GT(report.ranges_mismatched, 0u);
  EXPECT_LT(report.ranges_mismatched, report.ranges_compared)
      << "ranges whose digests agree are not streamed";
  EXPECT_EQ(report.cells_repaired, static_cast<std::size_t>(missed));
  EXPECT_EQ(db.divergent_rows(), 0u);
  EXPECT_EQ(db.repair().ranges_mismatched, 0u);
}

TEST(QuorumStore, ReadRepairFixesTheReplicasItAsked) {
  scaling::manual_clock clock;
  store_t db{{.nodes = 3, .replication_factor = 3, .hint_window = 1s}, clock};
  db.crash(2);
  ASSERT_TRUE(db.put("p", 1, 9, {.coordinator = 0}).ok());
  clock.advance(2s);
  db.recover(2);
  ASSERT_EQ(db.divergent_rows(), 1u);
  const auto r = db.get("p", 1, {.level = quorum_level::all});
  EXPECT_EQ(r.value, 9);
  EXPECT_EQ(r.repaired, 1u);
  EXPECT_EQ(db.stats().read_repairs, 1u);
  EXPECT_EQ(db.divergent_rows(), 0u);
}

// Simulated latencies (virtual time, seeded): p99 of QUORUM reads when one of three replicas is
// 10x slower, with and without speculative retry, against the healthy p99.
std::chrono::nanoseconds read_p99(bool slow, std::optional<std::chrono::nanoseconds> retry) {
  store_t db{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = retry, .seed = 5}};
  if (slow) db.set_latency(1, {.base = 5ms, .tail_mean = 5ms});
  std::vector<std::chrono::nanoseconds> latencies;
  for (int i = 0; i < 2000; ++i)
    latencies.push_back(db.get(user(i % 50), 0).latency);
  std::sort(latencies.begin(), latencies.end());
  return latencies[latencies.size() * 99 / 100];
}

TEST(QuorumStore, SpeculativeRetryKeepsTheTailNearHealthyWithOneSlowReplica) {
  const auto healthy = read_p99(false, std::nullopt);
  const auto slow = read_p99(true, std::nullopt);
  const auto retried = read_p99(true, 2ms);
  EXPECT_GT(slow, 5 * healthy) << "one slow replica in a quorum of two sets the tail";
  EXPECT_LE(retried, 2 * healthy) << "speculative retry answers from the third replica";
}

// Random crashes, recoveries and network partitions; writes at W, reads at R. With R + W > N
// every successful read returns the newest acknowledged write.
struct level_pair {
  quorum_level write;
  quorum_level read;
};

class QuorumStoreProperty : public ::testing::TestWithParam<level_pair> {};

TEST_P(QuorumStoreProperty, OverlappingQuorumsReadEveryAcknowledgedWrite) {
  const auto [write_level, read_level] = GetParam();
  store_t db{{.nodes = 6, .replication_factor = 3, .seed = 11}};
  std::mt19937_64 rng{2024};
  std::map<std::pair<std::string, int>, std::optional<int>> acknowledged;
  const int steps = scaling_test::sanitized ? 1500 : 6000;
  int checked = 0;
  for (int step = 0; step < steps; ++step) {
    const auto dice = rng() % 100;
    const std::string p = user(static_cast<int>(rng() % 20));
    const int c = static_cast<int>(rng() % 4);
    if (dice < 4) {
      db.crash(rng() % 6);
    } else if (dice < 8) {
      db.recover(rng() % 6);
    } else if (dice < 10) {
      std::vector<std::size_t> order{0, 1, 2, 3, 4, 5};
      std::shuffle(order.begin(), order.end(), rng);
      const auto split = static_cast<std::ptrdiff_t>(1 + rng() % 5);
      db.partition({{order.begin(), order.begin() + split}, {order.begin() + split, order.end()}});
    } else if (dice < 13) {
      db.heal();
    } else if (dice < 50) {
      const int v = step;
      const bool erase = rng() % 10 == 0;
      const auto w =
          erase ? db.erase(p, c, {.level = write_level}) : db.put(p, c, v, {.level = write_level});
      if (w.ok()) acknowledged[{p, c}] = erase ? std::nullopt : std::optional<int>{v};
    } else if (dice < 90) {
      const auto r = db.get(p, c, {.level = read_level});
      if (!r.ok()) continue;
      const auto it = acknowledged.find({p, c});
      const std::optional<int> expected = it == acknowledged.end() ? std::nullopt : it->second;
      ASSERT_EQ(r.value, expected) << "step " << step << " " << p << "/" << c;
      EXPECT_FALSE(r.stale);
      ++checked;
    } else {
      const auto r = db.get_range(p, {.limit = 2}, {.level = read_level});
      if (!r.ok()) continue;
      std::vector<int> expected;
      for (int k = 0; k < 4 && expected.size() < 2; ++k) {
        const auto it = acknowledged.find({p, k});
        if (it != acknowledged.end() && it->second) expected.push_back(*it->second);
      }
      std::vector<int> got;
      for (const auto& row : r.rows)
        got.push_back(row.value);
      ASSERT_EQ(got, expected) << "step " << step;
    }
  }
  EXPECT_GT(checked, steps / 50);
  EXPECT_EQ(db.stats().stale_reads, 0u);
}

INSTANTIATE_TEST_SUITE_P(Levels, QuorumStoreProperty,
                         ::testing::Values(level_pair{quorum_level::quorum, quorum_level::quorum},
                                           level_pair{quorum_level::one, quorum_level::all},
                                           level_pair{quorum_level::all, quorum_level::one}),
                         [](const ::testing::TestParamInfo<level_pair>& param_info) {
                           return "W" + std::string{scaling::to_string(param_info.param.write)} +
                                  "_R" + std::string{scaling::to_string(param_info.param.read)};
                         });

TEST(QuorumStore, OneOneReadsGoStaleUnderFailuresAndAreCounted) {
  store_t db{{.nodes = 6, .replication_factor = 3, .seed = 3}};
  std::mt19937_64 rng{7};
  std::map<std::pair<std::string, int>, int> acknowledged;
  std::uint64_t stale_seen = 0;
  for (int step = 0; step < 4000; ++step) {
    const auto dice = rng() % 100;
    const std::string p = user(static_cast<int>(rng() % 10));
    if (dice < 5) {
      db.crash(rng() % 6);
    } else if (dice < 10) {
      db.recover(rng() % 6);
    } else if (dice < 50) {
      if (db.put(p, 0, step, {.level = quorum_level::one}).ok()) acknowledged[{p, 0}] = step;
    } else {
      const auto r = db.get(p, 0, {.level = quorum_level::one});
      if (!r.ok()) continue;
      const auto it = acknowledged.find({p, 0});
      const bool stale = it != acknowledged.end() && r.value != it->second;
      EXPECT_EQ(r.stale, stale) << "step " << step;
      stale_seen += stale ? 1 : 0;
    }
  }
  EXPECT_GT(stale_seen, 0u) << "R + W <= N: some reads miss the newest write";
  EXPECT_EQ(db.stats().stale_reads, stale_seen);
}

// Rounds of random crashes, partitions and data loss (at most N - W = 1 replica wiped per round,
// then everyone recovers and repair runs): no acknowledged write is lost and replicas converge.
TEST(QuorumStore, NoAcknowledgedWriteIsLostWhileAtMostNMinusWReplicasLoseData) {
  scaling::manual_clock clock;
  store_t db{{.nodes = 5, .replication_factor = 3, .hint_window = 10s, .seed = 9}, clock};
  std::mt19937_64 rng{99};
  std::map<std::pair<std::string, int>, int> acknowledged;
  const int rounds = scaling_test::sanitized ? 6 : 20;
  for (int round = 0; round < rounds; ++round) {
    bool wiped = false;
    for (int step = 0; step < 300; ++step) {
      const auto dice = rng() % 100;
      if (dice < 3) {
        db.crash(rng() % 5);
      } else if (dice < 6) {
        db.recover(rng() % 5);
      } else if (dice < 7 && !wiped) {
        db.lose_data(rng() % 5);
        wiped = true;
      } else if (dice < 9) {
        db.partition({{0, 1, 2}, {3, 4}});
      } else if (dice < 11) {
        db.heal();
      } else if (dice < 13) {
        clock.advance(6s);  // some hints expire before their target comes back
      } else {
        const std::string p = user(static_cast<int>(rng() % 30));
        const int c = static_cast<int>(rng() % 3);
        const int v = round * 1000 + step;
        if (db.put(p, c, v, {.level = quorum_level::quorum}).ok()) acknowledged[{p, c}] = v;
      }
    }
    for (std::size_t i = 0; i < 5; ++i)
      db.recover(i);
    db.heal();
    (void)db.repair();
    ASSERT_EQ(db.divergent_rows(), 0u) << "round " << round;
    for (const auto& [key, v] : acknowledged) {
      for (const std::size_t r : db.replicas_for(key.first)) {
        ASSERT_EQ(db.peek(r, key.first, key.second), v)
            << "round " << round << " replica " << r << " " << key.first << "/" << key.second;
      }
    }
  }
  EXPECT_GT(db.stats().hints_delivered, 0u);
  EXPECT_GT(db.stats().anti_entropy_cells, 0u);
}

TEST(QuorumStore, ConcurrentClientsAndFailuresConverge) {
  store_t db{{.nodes = 5, .replication_factor = 3}};
  std::vector<std::thread> clients;
  constexpr int ops = scaling_test::sanitized ? 500 : 3000;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&db, t] {
      for (int i = 0; i < ops; ++i) {
        const std::string p = user((i * 7 + t) % 40);
        if (i % 3 == 0) {
          (void)db.get_range(p, {.limit = 2}, {.level = quorum_level::one});
        } else {
          (void)db.put(p, i % 5, i, {.level = quorum_level::one});
        }
      }
    });
  }
  std::thread chaos{[&db] {
    for (int i = 0; i < ops / 10; ++i) {
      db.crash(static_cast<std::size_t>(i % 5));
      db.recover(static_cast<std::size_t>(i % 5));
    }
  }};
  for (auto& c : clients)
    c.join();
  chaos.join();
  (void)db.repair();
  EXPECT_EQ(db.divergent_rows(), 0u);
  EXPECT_EQ(db.stats().unavailable, 0u) << "one node down at a time never blocks level ONE";
  EXPECT_EQ(db.stats().writes, db.stats().acknowledged_writes);
}

}  // namespace
