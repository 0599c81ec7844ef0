#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/replicated_store.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::read_mode;
using scaling::replication_mode;

template <class Policy = scaling::round_robin>
using store = scaling::replicated_store<std::string, int, Policy, scaling::manual_clock>;

scaling::replicated_store_options lags(std::vector<std::chrono::nanoseconds> l,
                                       replication_mode mode = replication_mode::async,
                                       std::size_t quorum = 1) {
  scaling::replicated_store_options o;
  o.replicas = l.size();
  o.replica_lag = std::move(l);
  o.mode = mode;
  o.quorum = quorum;
  return o;
}

TEST(ReplicatedStore, RejectsBadOptions) {
  scaling::manual_clock clock;
  EXPECT_THROW((store<>{lags({}), clock}), std::invalid_argument);
  auto mismatched = lags({1s, 2s});
  mismatched.replica_lag.pop_back();
  EXPECT_THROW((store<>{mismatched, clock}), std::invalid_argument);
  EXPECT_THROW((store<>{lags({1s, -1s}), clock}), std::invalid_argument);
  EXPECT_THROW((store<>{lags({1s, 2s}, replication_mode::quorum, 3), clock}),
               std::invalid_argument);
  EXPECT_THROW((store<>{lags({1s, 2s}, replication_mode::quorum, 0), clock}),
               std::invalid_argument);
  store<> db{lags({1s}), clock};
  EXPECT_THROW(db.fail_replica(0), std::invalid_argument);  // the primary
  EXPECT_THROW(db.fail_replica(2), std::invalid_argument);  // no such node
}

TEST(ReplicatedStore, ReplicasApplyAfterTheirLagAndServeStaleReadsMeanwhile) {
  scaling::manual_clock clock;
  store<> db{lags({100ms, 2s}), clock};
  (void)db.put("k", 1);
  EXPECT_EQ(db.peek(0, "k"), 1);
  EXPECT_FALSE(db.peek(1, "k"));
  EXPECT_EQ(db.node_state(1).lag_positions, 1u);
  clock.advance(100ms);
  EXPECT_EQ(db.peek(1, "k"), 1);
  EXPECT_FALSE(db.peek(2, "k"));
  EXPECT_EQ(db.node_state(2).lag, 100ms);
  (void)db.put("k", 2);
  // replica reads: r1 lags 100 ms, r2 2 s: both are stale right after the write
  auto r = db.get("k", {.mode = read_mode::replica});
  EXPECT_TRUE(r.stale);
  EXPECT_FALSE(r.from_primary);
  clock.advance(2s);
  EXPECT_EQ(db.peek(2, "k"), 2);
  EXPECT_FALSE(db.get("k", {.mode = read_mode::replica}).stale);
  EXPECT_GE(db.stats().stale_reads, 1u);
}

TEST(ReplicatedStore, ErasesReplicateLikeWrites) {
  scaling::manual_clock clock;
  store<> db{lags({1s}), clock};
  (void)db.put("k", 1);
  clock.advance(1s);
  (void)db.erase("k");
  EXPECT_FALSE(db.peek(0, "k"));
  EXPECT_EQ(db.peek(1, "k"), 1);
  clock.advance(1s);
  EXPECT_FALSE(db.peek(1, "k"));
}

TEST(ReplicatedStore, ReadYourWritesThroughASession) {
  scaling::manual_clock clock;
  store<> db{lags({10ms, 1s}), clock};
  scaling::read_session me;
  me.record_write(db.put("k", 1).token);
  auto r = db.get("k", me);  // nobody applied it: the primary
  EXPECT_TRUE(r.from_primary);
  EXPECT_EQ(r.value, 1);
  clock.advance(10ms);
  r = db.get("k", me);  // node 1 has it now, node 2 doesn't
  EXPECT_EQ(r.node, 1u);
  EXPECT_EQ(r.value, 1);
  scaling::read_session other;
  store<> another{lags({1s}), clock};
  EXPECT_THROW((void)another.get("k", me), std::invalid_argument);
  EXPECT_NO_THROW((void)db.get("k", other));
}

TEST(ReplicatedStore, RandomizedSessionsNeverReadOlderThanTheirLastWrite) {
  scaling::manual_clock clock;
  store<scaling::random_choice> db{lags({0ms, 5ms, 40ms, 300ms}), clock};
  std::mt19937_64 rng{20240601};
  constexpr int sessions = 8;
  std::vector<scaling::read_session> session(sessions);
  // What each session wrote last to each key, and the newest version it has seen per key.
  std::vector<std::unordered_map<std::string, std::pair<scaling::log_position, int>>> wrote(
      sessions);
  std::vector<std::unordered_map<std::string, scaling::log_position>> seen(sessions);
  int checks = 0;
  for (int step = 0; step < 4'000; ++step) {
    const auto s = static_cast<std::size_t>(rng() % sessions);
    const std::string key = "k" + std::to_string(rng() % 6);
    if (rng() % 3 == 0) {
      const int value = static_cast<int>(rng() % 1000);
      const auto result = db.put(key, value);
      session[s].record_write(result.token);
      wrote[s][key] = {result.token.position, value};
    } else {
      const auto r = db.get(key, session[s]);
      ASSERT_EQ(r.status, scaling::select_status::ok);
      const auto mine = wrote[s].find(key);
      if (mine != wrote[s].end()) {
        // Never older than our own write (others may have overwritten it since).
        ASSERT_GE(r.version, mine->second.first) << "step " << step;
        if (r.version == mine->second.first) {
          ASSERT_EQ(r.value, mine->second.second);
        }
        ++checks;
      }
      ASSERT_GE(r.version, seen[s][key]) << "monotonic reads broken at step " << step;
      seen[s][key] = r.version;
    }
    clock.advance(std::chrono::milliseconds{rng() % 20});
  }
  EXPECT_GT(checks, 500);
  EXPECT_GT(db.stats().replica_reads, 1'000u);  // it still scaled reads out
}

TEST(ReplicatedStore, AsyncFailoverLosesTheUnreplicatedTailAndSaysSo) {
  scaling::manual_clock clock;
  store<> db{lags({1s, 3s}), clock};
  for (int i = 0; i < 10; ++i) {
    (void)db.put("k" + std::to_string(i), i);
    clock.advance(200ms);
  }
  // Writes at t = 0, 0.2, ..., 1.8 s; now t = 2 s: node 1 (1 s) has applied the first 6,
  // node 2 (3 s) none.
  EXPECT_EQ(db.node_state(1).applied, 6u);
  EXPECT_EQ(db.node_state(2).applied, 0u);
  const auto report = db.failover();
  ASSERT_TRUE(report.promoted);
  EXPECT_EQ(report.old_primary, 0u);
  EXPECT_EQ(report.new_primary, 1u);
  EXPECT_EQ(report.promoted_at, 6u);
  EXPECT_EQ(report.last_committed, 10u);
  EXPECT_EQ(report.lost_writes, 4u);
  EXPECT_EQ(report.lost_positions, (std::vector<scaling::log_position>{7, 8, 9, 10}));
  EXPECT_EQ(db.stats().lost_writes, 4u);
  EXPECT_EQ(db.primary(), 1u);
  EXPECT_EQ(db.get("k5", {.mode = read_mode::primary}).value, 5);
  EXPECT_FALSE(db.get("k6", {.mode = read_mode::primary}).value);  // lost
  // The store carries on: new writes get new positions and replicate to node 2 from node 1.
  const auto w = db.put("after", 1);
  EXPECT_GT(w.token.position, 10u);
  clock.advance(3s);
  EXPECT_EQ(db.peek(2, "after"), 1);
  EXPECT_EQ(db.peek(2, "k5"), 5);
  EXPECT_FALSE(db.peek(2, "k7"));
  EXPECT_EQ(db.get("x", {.mode = read_mode::primary}).node, 1u);
  // The old primary rejoins as a replica with a fresh copy.
  db.recover_replica(0);
  EXPECT_EQ(db.peek(0, "after"), 1);
  EXPECT_FALSE(db.peek(0, "k9"));
}

TEST(ReplicatedStore, SyncAndQuorumWritesSurviveFailover) {
  for (const auto mode : {replication_mode::sync, replication_mode::quorum}) {
    scaling::manual_clock clock;
    store<> db{lags({50ms, 2s, 5s}, mode, 1), clock};
    for (int i = 0; i < 5; ++i) {
      const auto w = db.put("k" + std::to_string(i), i);
      EXPECT_TRUE(w.quorum_met);
      EXPECT_EQ(w.acks, mode == replication_mode::sync ? 3u : 1u);
      EXPECT_EQ(w.commit_wait, mode == replication_mode::sync ? 5s : 50ms);
    }
    const auto report = db.failover();
    EXPECT_EQ(report.lost_writes, 0u);
    EXPECT_EQ(report.new_primary, 1u);
    EXPECT_EQ(db.get("k4", {.mode = read_mode::primary}).value, 4);
  }
}

TEST(ReplicatedStore, QuorumReportsWhenTooFewReplicasAreAlive) {
  scaling::manual_clock clock;
  store<> db{lags({1ms, 1ms}, replication_mode::quorum, 2), clock};
  db.fail_replica(2);
  const auto w = db.put("k", 1);
  EXPECT_FALSE(w.quorum_met);
  EXPECT_EQ(w.acks, 1u);
}

TEST(ReplicatedStore, PausedReplayKeepsAReplicaBehindUntilResumed) {
  scaling::manual_clock clock;
  store<> db{lags({1ms}), clock};
  db.pause_replay(1);
  (void)db.put("k", 1);
  clock.advance(1s);
  EXPECT_FALSE(db.peek(1, "k"));
  EXPECT_TRUE(db.node_state(1).replay_paused);
  EXPECT_EQ(db.node_state(1).lag, 1s);
  // A bounded-staleness read refuses it and goes to the primary.
  EXPECT_TRUE(db.get("k", {.max_staleness = 100ms}).from_primary);
  db.resume_replay(1);
  EXPECT_EQ(db.peek(1, "k"), 1);
}

TEST(ReplicatedStore, FailedReplicaIsNotReadAndFailoverSkipsIt) {
  scaling::manual_clock clock;
  store<> db{lags({1ms, 1ms}), clock};
  (void)db.put("k", 1);
  clock.advance(1ms);
  db.fail_replica(1);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(db.get("k", {.mode = read_mode::replica}).node, 2u);
  EXPECT_EQ(db.failover().new_primary, 2u);
  // No live replica left: a second failover cannot promote anyone, and writes are refused.
  EXPECT_FALSE(db.failover().promoted);
  const auto refused = db.put("k", 2);
  EXPECT_FALSE(refused.accepted);
  EXPECT_EQ(refused.token, scaling::consistency_token{});
  EXPECT_EQ(db.stats().writes, 1u);
}

TEST(ReplicatedStore, ConcurrentClientsAreSafe) {
  store<> db{lags({0ms, 0ms})};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&db, t] {
      scaling::read_session me;
      for (int i = 0; i < 300; ++i) {
        const std::string key = "k" + std::to_string(t);
        me.record_write(db.put(key, i).token);
        const auto r = db.get(key, me);
        ASSERT_EQ(r.value, i);  // only this thread writes this key
      }
    });
  }
  for (auto& c : clients)
    c.join();
  EXPECT_EQ(db.stats().writes, 900u);
}

}  // namespace
