#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/replica_selector.hpp>

#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono_literals;
using scaling::read_mode;
using scaling::read_outcome;
using scaling::replica_role;
using scaling::select_status;

struct db_endpoint {
  std::string id;
  std::string zone;
  std::uint32_t weight = 1;
  replica_role role = replica_role::replica;
};

std::vector<db_endpoint> primary_and(int replicas) {
  std::vector<db_endpoint> set{{"primary", "a", 1, replica_role::primary}};
  for (int i = 1; i <= replicas; ++i) {
    set.push_back({"r" + std::to_string(i), i % 2 ? "a" : "b", 1, replica_role::replica});
  }
  return set;
}

template <class Policy = scaling::round_robin>
using selector = scaling::replica_selector<db_endpoint, Policy, scaling::manual_clock>;

TEST(ReplicaSelector, RejectsBadSets) {
  scaling::manual_clock clock;
  EXPECT_THROW((selector<>{{}, {}, clock}), std::invalid_argument);
  auto zero_weight = primary_and(2);
  zero_weight[1].weight = 0;
  try {
    selector<> s{zero_weight, {}, clock};
    FAIL();
  } catch (const scaling::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("r1"), std::string::npos) << e.what();
  }
  auto duplicate = primary_and(2);
  duplicate[2].id = "r1";
  EXPECT_THROW((selector<>{duplicate, {}, clock}), std::invalid_argument);
  auto two_primaries = primary_and(2);
  two_primaries[1].role = replica_role::primary;
  EXPECT_THROW((selector<>{two_primaries, {}, clock}), std::invalid_argument);
  selector<scaling::peak_ewma>::options bad_tau;
  bad_tau.policy.tau = 0s;
  EXPECT_THROW((selector<scaling::peak_ewma>{primary_and(2), bad_tau, clock}),
               std::invalid_argument);
  using zoned = scaling::zone_aware<scaling::peak_ewma>;
  selector<zoned>::options bad_inner_tau;
  bad_inner_tau.policy.inner.tau = -1s;
  EXPECT_THROW((selector<zoned>{primary_and(2), bad_inner_tau, clock}), std::invalid_argument);
}

TEST(ReplicaSelector, RejectsUnknownReplicasInReports) {
  scaling::manual_clock clock;
  selector<> s{primary_and(2), {}, clock};
  EXPECT_THROW(s.report_replication("nope", 5), std::invalid_argument);
  EXPECT_THROW(s.mark("nope", scaling::replica_health::down), std::invalid_argument);
  EXPECT_THROW(s.promote("nope"), std::invalid_argument);
  EXPECT_THROW((void)s.state("nope"), std::invalid_argument);
}

TEST(ReplicaSelector, ReadModesChooseTheRightRoles) {
  scaling::manual_clock clock;
  selector<>::options no_panic;
  no_panic.health.panic_threshold_percent = 0;  // with 2 of 3 down the set would panic
  selector<> s{primary_and(2), no_panic, clock};
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(s.select({.mode = read_mode::primary}).is_primary());
    EXPECT_TRUE(s.select({.mode = read_mode::primary_preferred}).is_primary());
    EXPECT_FALSE(s.select({.mode = read_mode::replica}).is_primary());
    EXPECT_FALSE(s.select({.mode = read_mode::replica_preferred}).is_primary());
  }
  std::map<std::string, int> nearest;
  for (int i = 0; i < 9; ++i)
    ++nearest[std::string{s.select({.mode = read_mode::nearest}).id()}];
  EXPECT_EQ(nearest.size(), 3u);  // the primary is a candidate too

  s.mark("primary", scaling::replica_health::down);
  EXPECT_FALSE(s.select({.mode = read_mode::primary}));
  EXPECT_EQ(s.select({.mode = read_mode::primary}).status(), select_status::no_member);
  EXPECT_FALSE(s.select({.mode = read_mode::primary_preferred}).is_primary());
  s.mark("primary", scaling::replica_health::up);
  s.mark("r1", scaling::replica_health::down);
  s.mark("r2", scaling::replica_health::down);
  auto t = s.select({.mode = read_mode::replica_preferred});
  ASSERT_TRUE(t);
  EXPECT_TRUE(t.is_primary());
  EXPECT_EQ(s.stats().primary_fallbacks, 1u);
}

TEST(ReplicaSelector, ReadYourWritesGoesToAReplicaThatAppliedTheToken) {
  scaling::manual_clock clock;
  selector<> s{primary_and(3), {}, clock};
  s.report_primary_position(100);
  s.report_replication("r1", 100);
  s.report_replication("r2", 90);
  s.report_replication("r3", 100);
  scaling::read_session session;
  session.record_write(s.token(100));
  for (int i = 0; i < 10; ++i) {
    auto t = s.select(session);
    ASSERT_TRUE(t);
    EXPECT_NE(t.id(), "r2");
    EXPECT_FALSE(t.is_primary());
  }
  // Nobody has 120 yet: the primary serves it (default stale_fallback::primary) ...
  session.record_write(s.token(120));
  EXPECT_TRUE(s.select(session).is_primary());
  // ... or, with stale_fallback::fail, nobody does.
  auto none = s.select(session, {.on_stale = scaling::stale_fallback::fail});
  EXPECT_EQ(none.status(), select_status::no_fresh_replica);
  // replica-only reads never load the primary.
  EXPECT_EQ(s.select(session, {.mode = read_mode::replica}).status(),
            select_status::no_fresh_replica);
  s.report_replication("r2", 120);
  auto t = s.select(session);
  EXPECT_EQ(t.id(), "r2");
}

TEST(ReplicaSelector, MonotonicReadsNeverGoBackInTime) {
  scaling::manual_clock clock;
  selector<> s{primary_and(2), {}, clock};
  s.report_replication("r1", 50);
  s.report_replication("r2", 10);
  scaling::read_session session;
  // First read may land anywhere; after a read at 50, r2 (at 10) is out.
  while (true) {
    auto t = s.select(session);
    if (t.id() == "r1") break;
  }
  EXPECT_EQ(session.last_read(), 50u);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(s.select(session).id(), "r1");
}

TEST(ReplicaSelector, TokensFromAnotherSelectorAreRejected) {
  scaling::manual_clock clock;
  selector<> a{primary_and(1), {}, clock};
  selector<> b{primary_and(1), {}, clock};
  scaling::read_session session;
  session.record_write(a.token(5));
  EXPECT_THROW((void)b.select(session), std::invalid_argument);
  EXPECT_THROW(session.record_write(b.token(6)), std::invalid_argument);
  EXPECT_THROW(session.record_write(scaling::consistency_token{}), std::invalid_argument);
}

TEST(ReplicaSelector, StalenessBoundsExcludeLaggingReplicas) {
  scaling::manual_clock clock;
  selector<> s{primary_and(2), {}, clock};
  s.report_primary_position(1000);
  s.report_replication("r1", 990, 100ms);
  s.report_replication("r2", 200, 30s);
  EXPECT_EQ(s.state("r2").lag_positions, 800u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.select({.max_staleness = 5s}).id(), "r1");
    EXPECT_EQ(s.select({.max_lag_positions = 100}).id(), "r1");
  }
  // Everyone too stale: the primary takes the reads (the herd), and the stats show it.
  EXPECT_TRUE(s.select({.max_staleness = 1ms}).is_primary());
  const auto stats = s.stats();
  EXPECT_EQ(stats.primary_fallbacks, 1u);
  EXPECT_GE(stats.stale_skips, 2u);
}

TEST(ReplicaSelector, TicketRecordsLatencyAndFreesItsSlot) {
  scaling::manual_clock clock;
  selector<scaling::peak_ewma> s{primary_and(1), {}, clock};
  {
    auto t = s.select({.mode = read_mode::replica});
    EXPECT_EQ(s.state("r1").outstanding, 1u);
    clock.advance(4ms);
    t.complete(read_outcome::success);
    t.complete(read_outcome::failure);  // ignored: already complete
  }
  auto st = s.state("r1");
  EXPECT_EQ(st.outstanding, 0u);
  EXPECT_DOUBLE_EQ(st.latency_ns, 4e6);
  EXPECT_EQ(st.failures, 0u);
  {
    auto dropped = s.select({.mode = read_mode::replica});
    auto moved = std::move(dropped);
    EXPECT_EQ(s.state("r1").outstanding, 1u);
  }  // destroyed unfinished: cancelled
  EXPECT_EQ(s.state("r1").outstanding, 0u);
  EXPECT_EQ(s.stats().cancellations, 1u);
}

TEST(ReplicaSelector, PeakEwmaLatencyJumpsUpAndDecaysDown) {
  scaling::manual_clock clock;
  selector<scaling::peak_ewma>::options opts;
  opts.policy.tau = 1s;
  selector<scaling::peak_ewma> s{primary_and(1), opts, clock};
  auto read = [&](std::chrono::nanoseconds latency) {
    auto t = s.select({.mode = read_mode::replica});
    clock.advance(latency);
    t.complete(read_outcome::success);
  };
  read(1ms);
  read(50ms);  // a peak: taken at once
  EXPECT_DOUBLE_EQ(s.state("r1").latency_ns, 50e6);
  clock.advance(1s);
  read(1ms);  // after ~one tau, mostly the new sample
  const double cost = s.state("r1").latency_ns;
  EXPECT_LT(cost, 25e6);
  EXPECT_GT(cost, 1e6);
}

TEST(ReplicaSelector, PeakEwmaAvoidsASlowReplicaWithinAFewRequests) {
  scaling::manual_clock clock;
  selector<scaling::peak_ewma> s{primary_and(4), {}, clock};
  int slow_picks_late = 0;
  for (int i = 0; i < 200; ++i) {
    auto t = s.select({.mode = read_mode::replica});
    const bool slow = t.id() == "r3";
    clock.advance(slow ? 20ms : 2ms);
    t.complete(read_outcome::success);
    if (slow && i >= 10) ++slow_picks_late;
  }
  // Sequential reads: after its first (slow) sample r3 loses every comparison while its
  // estimate is 10x the others'. Round robin would have sent it 50 of the 190.
  EXPECT_LE(slow_picks_late, 2);
  EXPECT_GE(s.state("r3").selected, 1u);
}

TEST(ReplicaSelector, EjectsAFailingReplicaAndTakesItBack) {
  scaling::manual_clock clock;
  selector<>::options opts;
  opts.health.consecutive_failures = 3;
  opts.health.max_ejection_percent = 50;
  selector<> s{primary_and(3), opts, clock};
  int failures = 0;
  while (failures < 3) {
    auto t = s.select({.mode = read_mode::replica});
    const bool bad = t.id() == "r2";
    t.complete(bad ? read_outcome::failure : read_outcome::success);
    if (bad) ++failures;
  }
  EXPECT_TRUE(s.state("r2").ejected);
  EXPECT_EQ(s.stats().ejections, 1u);
  for (int i = 0; i < 20; ++i)
    EXPECT_NE(s.select({.mode = read_mode::replica}).id(), "r2");
  clock.advance(30s);
  EXPECT_FALSE(s.state("r2").ejected);
  bool back = false;
  for (int i = 0; i < 6; ++i)
    back |= s.select({.mode = read_mode::replica}).id() == "r2";
  EXPECT_TRUE(back);
}

TEST(ReplicaSelector, PanicRoutesToEveryMemberWhenTooFewAreHealthy) {
  scaling::manual_clock clock;
  selector<> s{primary_and(3), {}, clock};  // 4 members, panic below 50% usable
  s.mark("r1", scaling::replica_health::down);
  EXPECT_FALSE(s.in_panic());  // 3 of 4 usable
  s.mark("r2", scaling::replica_health::down);
  s.mark("r3", scaling::replica_health::down);
  EXPECT_TRUE(s.in_panic());  // 1 of 4
  std::map<std::string, int> seen;
  for (int i = 0; i < 9; ++i)
    ++seen[std::string{s.select({.mode = read_mode::replica}).id()}];
  EXPECT_EQ(seen.size(), 3u);  // all replicas, down or not, share the load
  EXPECT_EQ(s.stats().panic_selections, 9u);
}

TEST(ReplicaSelector, OutstandingCapTurnsAwayMoreReads) {
  scaling::manual_clock clock;
  selector<>::options opts;
  opts.health.max_outstanding = 2;
  selector<> s{primary_and(1), opts, clock};
  auto a = s.select({.mode = read_mode::replica});
  auto b = s.select({.mode = read_mode::replica});
  auto c = s.select({.mode = read_mode::replica});
  EXPECT_TRUE(a && b);
  EXPECT_EQ(c.status(), select_status::no_member);
  EXPECT_TRUE(s.select().is_primary());  // replica_preferred spills to the primary
  a.complete(read_outcome::success);
  EXPECT_TRUE(s.select({.mode = read_mode::replica}));
}

TEST(ReplicaSelector, PromoteMovesThePrimaryRole) {
  scaling::manual_clock clock;
  selector<> s{primary_and(2), {}, clock};
  s.report_replication("r1", 40);
  s.promote("r1");
  EXPECT_EQ(s.select({.mode = read_mode::primary}).id(), "r1");
  EXPECT_EQ(s.state("primary").health, scaling::replica_health::down);
  EXPECT_EQ(s.state("primary").role, replica_role::replica);
  EXPECT_EQ(s.select({.mode = read_mode::replica}).id(), "r2");
}

TEST(ReplicaSelector, WeightedRoundRobinFollowsReplicaWeights) {
  scaling::manual_clock clock;
  auto set = primary_and(3);
  set[1].weight = 1;
  set[2].weight = 2;
  set[3].weight = 5;
  selector<scaling::weighted_round_robin> s{set, {}, clock};
  std::map<std::string, int> seen;
  for (int i = 0; i < 800; ++i)
    ++seen[std::string{s.select({.mode = read_mode::replica}).id()}];
  EXPECT_EQ(seen["r1"], 100);
  EXPECT_EQ(seen["r2"], 200);
  EXPECT_EQ(seen["r3"], 500);
}

TEST(ReplicaSelector, ZoneAwareKeepsReadsLocal) {
  scaling::manual_clock clock;
  using zoned = scaling::zone_aware<scaling::power_of_two_choices>;
  selector<zoned>::options opts;
  opts.policy.local_zone = "b";
  selector<zoned> s{primary_and(4), opts, clock};  // r2, r4 in zone b
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(s.state(s.select({.mode = read_mode::replica}).id()).zone, "b");
  s.mark("r2", scaling::replica_health::down);
  s.mark("r4", scaling::replica_health::down);
  EXPECT_EQ(s.state(s.select({.mode = read_mode::replica}).id()).zone, "a");
}

TEST(ReplicaSelector, ConcurrentSelectionKeepsCountsExact) {
  scaling::manual_clock clock;
  scaling::replica_selector<db_endpoint, scaling::peak_ewma, scaling::manual_clock> s{
      primary_and(5), {}, clock};
  constexpr int threads = 4;
  constexpr int per_thread = scaling_test::sanitized ? 2'000 : 20'000;
  std::atomic<int> primary_reads{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto ticket = s.select({.mode = i % 10 == 0 ? read_mode::primary : read_mode::replica});
        if (ticket.is_primary()) primary_reads.fetch_add(1, std::memory_order_relaxed);
        if (i % 7 == t) clock.advance(1us);
        ticket.complete(read_outcome::success);
      }
    });
  }
  std::thread reporter([&] {
    for (std::uint64_t p = 1; p <= 500; ++p)
      s.report_replication("r" + std::to_string(p % 5 + 1), p);
  });
  for (auto& th : pool)
    th.join();
  reporter.join();
  const auto stats = s.stats();
  EXPECT_EQ(stats.selections, std::uint64_t{threads} * per_thread);
  EXPECT_EQ(stats.successes, stats.selections);
  EXPECT_EQ(stats.primary_reads, static_cast<std::uint64_t>(primary_reads.load()));
  for (const auto& st : s.states())
    EXPECT_EQ(st.outstanding, 0u);
}

// Descriptions read by name are checked: a near-miss name or a mistyped field is not a
// replica_description (the compile_fail tests show the diagnostic at a selector's declaration).
struct misspelt_weight {
  std::string id;
  std::uint32_t wieght = 1;
};
struct zone_under_another_name {
  std::string id;
  std::string zone_name;
};
struct primary_flag {
  std::string id;
  bool is_primary = false;
};
struct string_weight {
  std::string id;
  std::string weight;
};
static_assert(scaling::replica_description<db_endpoint>);
static_assert(!scaling::replica_description<misspelt_weight>);
static_assert(!scaling::replica_description<zone_under_another_name>);
static_assert(!scaling::replica_description<primary_flag>);
static_assert(!scaling::replica_description<string_weight>);

// A type whose members have other names is mapped explicitly; only the mapped members are read.
struct legacy_host {
  std::string hostname;
  std::string az;
  std::uint32_t wieght = 1;  // the mapping says what it is, whatever its name
  bool is_primary = false;   // not mapped: ignored, by the user's own choice
};

}  // namespace

template <>
struct scaling::replica_traits<legacy_host> {
  static constexpr auto id = &legacy_host::hostname;
  static constexpr auto zone = &legacy_host::az;
  static constexpr auto weight = &legacy_host::wieght;
};

namespace {

static_assert(scaling::replica_description<legacy_host>);

TEST(ReplicaSelector, ReplicaTraitsMapMembersExplicitly) {
  scaling::manual_clock clock;
  scaling::replica_selector<legacy_host, scaling::round_robin, scaling::manual_clock> s{
      {{"h1", "az-1", 3, true}, {"h2", "az-2", 1, false}}, {}, clock};
  const auto h1 = s.state("h1");
  EXPECT_EQ(h1.zone, "az-1");
  EXPECT_EQ(h1.weight, 3U);
  EXPECT_EQ(h1.role, replica_role::replica);  // role not mapped
  auto t = s.select();
  ASSERT_TRUE(t);
  EXPECT_EQ(t.replica().hostname, "h1");
}

TEST(ReplicaSelector, SelectWaitReturnsOnceAReplicaCatchesUp) {
  scaling::replica_selector<db_endpoint, scaling::round_robin> s{primary_and(2)};
  scaling::read_session session;
  session.record_write(s.token(10));
  std::thread replayer([&] {
    std::this_thread::sleep_for(5ms);
    s.report_replication("r2", 10);
  });
  auto t = s.select_wait(session, {}, 10s);  // returns as soon as r2 reports, not after 10 s
  replayer.join();
  ASSERT_TRUE(t);
  EXPECT_EQ(t.id(), "r2");
  // Nobody catches up: after the timeout the primary serves it.
  session.record_write(s.token(20));
  auto late = s.select_wait(session, {}, 1ms);
  EXPECT_TRUE(late.is_primary());
}

}  // namespace
