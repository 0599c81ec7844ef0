// quorum_store on the scaling lab's virtual time: replicas as stations, messages over the lab
// network; a read completes at its R-th reply, speculative retry fires on a lab timer.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/architecture/quorum_replicas.hpp>
#include <scaling/lab/simulation.hpp>

#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono_literals;
using scaling::quorum_level;
using scaling::architecture::lab_quorum_replicas;
using scaling::lab::distribution;
using store_t = scaling::architecture::lab_quorum_store<std::int64_t, int, int>;

TEST(QuorumStoreLab, AReadCompletesWhenItsRthReplyArrives) {
  // Fixed service times 1, 2 and 5 ms and 100 us each way; node 0 coordinates, so the replies
  // reach it at 1.0, 2.2 and 5.2 ms.
  scaling::lab::simulation sim{3};
  store_t db{{.nodes = 3, .replication_factor = 3},
             lab_quorum_replicas{sim,
                                 {.service = distribution::deterministic(1ms),
                                  .network = distribution::deterministic(100us)}},
             sim.clock()};
  db.transport().set_service(1, distribution::deterministic(2ms));
  db.transport().set_service(2, distribution::deterministic(5ms));
  const std::chrono::nanoseconds reply_at[] = {1ms, 2200us, 5200us};
  for (const auto level : {quorum_level::one, quorum_level::quorum, quorum_level::all}) {
    for (std::int64_t key = 0; key < 30; ++key) {
      std::vector<std::uint64_t> before;
      for (std::size_t n = 0; n < 3; ++n)
        before.push_back(db.transport().station(n).stats().arrivals);
      std::optional<std::chrono::nanoseconds> latency;
      db.async_get(key, 0, {.level = level, .coordinator = 0}, [&](const store_t::read_result& r) {
        ASSERT_TRUE(r.ok());
        latency = r.latency;
      });
      sim.run();
      ASSERT_TRUE(latency.has_value());
      std::vector<std::chrono::nanoseconds> asked;
      for (std::size_t n = 0; n < 3; ++n)
        if (db.transport().station(n).stats().arrivals > before[n]) asked.push_back(reply_at[n]);
      ASSERT_EQ(asked.size(), scaling::replicas_needed(level, 3));
      // The replicas were asked at once, so the R-th reply is the slowest of the R asked.
      EXPECT_EQ(*latency, asked.back()) << scaling::to_string(level) << " key " << key;
    }
  }
}

TEST(QuorumStoreLab, SpeculativeRetryAsksTheSpareOnALabTimer) {
  // As above, with a retry after 1.5 ms: a QUORUM read that asked nodes 1 and 2 gets node 0's
  // answer at 1.5 + 1.0 ms, and completes at the 2nd reply: 2.2 ms (node 1), not 5.2 ms.
  scaling::lab::simulation sim{3};
  store_t db{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = 1500us},
             lab_quorum_replicas{sim,
                                 {.service = distribution::deterministic(1ms),
                                  .network = distribution::deterministic(100us)}},
             sim.clock()};
  db.transport().set_service(1, distribution::deterministic(2ms));
  db.transport().set_service(2, distribution::deterministic(5ms));
  std::map<std::chrono::nanoseconds, int> seen;
  for (std::int64_t key = 0; key < 60; ++key) {
    db.async_get(key, 0, {.level = quorum_level::quorum, .coordinator = 0},
                 [&](const store_t::read_result& r) { ++seen[r.latency]; });
    sim.run();
  }
  // Asked {0, 1}: 2.2 ms. {0, 2}: the retry asks node 1, 1.5 + 2.2 = 3.7 ms. {1, 2}: 2.5 ms.
  for (const auto& [latency, count] : seen)
    EXPECT_TRUE(latency == 2200us || latency == 3700us || latency == 2500us) << latency.count();
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.count(5200us), 0u) << "no read waits for the slow node";
  EXPECT_GT(db.stats().speculative_retries, 0u);
}

TEST(QuorumStoreLab, SpeculativeRetryBringsTheTailOfASlowReplicaBack) {
  const std::size_t reads = scaling_test::sanitized ? 4'000 : 10'000;
  auto p99 = [&](bool slow, std::optional<std::chrono::nanoseconds> retry) {
    scaling::lab::simulation sim{11};
    store_t db{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = retry},
               lab_quorum_replicas{sim, {}},
               sim.clock()};
    if (slow) db.transport().set_service(1, distribution::exponential(5ms));
    const auto figures = scaling::architecture::measure_quorum_reads(sim, db, {.reads = reads});
    EXPECT_EQ(figures.ok, reads);
    return figures.latency.percentile(0.99);
  };
  const auto healthy = p99(false, std::nullopt);
  const auto slow = p99(true, std::nullopt);
  const auto retried = p99(true, 2ms);
  EXPECT_GT(slow, 3 * healthy) << "one replica 10x slower sets the QUORUM tail";
  EXPECT_LE(retried, 2 * healthy) << "the retry's spare answers in its place";
}

TEST(QuorumStoreLab, CrashesInFlightKeepOverlappingQuorumsFresh) {
  // One closed-loop client writes and reads at QUORUM while nodes crash and recover at random
  // instants, with requests queued and in service on them. A read must see every write
  // acknowledged before it started (a timed-out write may show too: it is not undone).
  scaling::lab::simulation sim{17};
  store_t db{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = 2ms},
             lab_quorum_replicas{sim, {}},
             sim.clock()};
  std::map<std::int64_t, std::uint64_t> acked;  // key -> timestamp of its newest acked write
  const int ops = scaling_test::sanitized ? 3'000 : 10'000;
  int done = 0;
  int checked = 0;
  std::function<void()> next = [&] {
    if (++done > ops) return;
    const auto key = static_cast<std::int64_t>(sim.rng().below(20));
    if (sim.rng().below(2) == 0) {
      db.async_put(key, 0, done, {.level = quorum_level::quorum},
                   [&, key](const scaling::quorum_write_result& w) {
                     if (w.ok()) acked[key] = std::max(acked[key], w.timestamp);
                     next();
                   });
    } else {
      const std::uint64_t floor = acked[key];
      db.async_get(key, 0, {.level = quorum_level::quorum}, [&, floor](const auto& r) {
        if (r.ok()) {
          EXPECT_GE(r.timestamp, floor) << "a read missed an acknowledged write";
          ++checked;
        }
        next();
      });
    }
  };
  std::function<void()> chaos = [&] {
    if (done > ops) return;
    const auto n = static_cast<std::size_t>(sim.rng().below(3));
    db.crash(n);
    sim.after(3ms, [&db, n] { db.recover(n); });
    sim.after(10ms, chaos);
  };
  sim.after(1ms, chaos);
  next();
  sim.run();
  EXPECT_GT(checked, ops / 4);
  EXPECT_GT(db.stats().timed_out + db.stats().hints_stored, 0u) << "crashes hit requests";
  for (std::size_t n = 0; n < 3; ++n)
    db.recover(n);
  (void)db.repair();
  EXPECT_EQ(db.divergent_rows(), 0u);
}

}  // namespace
