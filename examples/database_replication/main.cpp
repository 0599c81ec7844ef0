// Database replication (Stage 2 of the scaling progression: read replicas).
//
// Problem: one database server runs out of read capacity long before it runs out of write
// capacity, and it is a single point of failure.
// Approach: keep copies on replicas fed by the primary's replication log; route reads with a
// replica_selector (policy, health, consistency rules) and writes to the primary. Everything
// here runs on the embedded replicated_store with a manual clock: no server, same figures on
// every run.
// Failure modes shown: replica lag and stale reads; a slow replica dragging the tail; a failing
// replica (ejection, return); all replicas shunned (the thundering herd onto the primary);
// primary failure (promotion, and the writes async replication loses).
// What to monitor: replication lag in bytes (pg_wal_lsn_diff) and in seconds, per-replica
// latency and in-flight reads, ejections and panic mode, reads falling back to the primary,
// and after a failover the count of lost writes.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/replication.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::read_mode;

int failed_checks = 0;
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failed_checks;
}

// The pattern page's questions, in its order (docs/patterns/database-replication.md).
void question(const char* title, const char* answer) {
  std::printf("\n== %s\n%s\n", title, answer);
}

using store_t =
    scaling::replicated_store<std::string, int, scaling::round_robin, scaling::manual_clock>;

scaling::replicated_store_options replicas(
    std::vector<std::chrono::nanoseconds> lags,
    scaling::replication_mode mode = scaling::replication_mode::async) {
  scaling::replicated_store_options o;
  o.replicas = lags.size();
  o.replica_lag = std::move(lags);
  o.mode = mode;
  return o;
}

void scale_reads() {
  std::puts("\n1. Read replicas take the read load off the primary");
  scaling::manual_clock clock;
  store_t db{replicas({20ms, 20ms, 20ms}), clock};
  for (int i = 0; i < 100; ++i)
    (void)db.put("user:" + std::to_string(i), i);
  clock.advance(1s);
  for (int i = 0; i < 30'000; ++i)
    (void)db.get("user:" + std::to_string(i % 100));
  const auto s = db.stats();
  std::printf("  30000 reads: primary %llu, replicas %llu (each replica ~%llu)\n",
              static_cast<unsigned long long>(s.primary_reads),
              static_cast<unsigned long long>(s.replica_reads),
              static_cast<unsigned long long>(s.replica_reads / 3));
  check(s.primary_reads == 0 && s.replica_reads == 30'000,
        "every read served by a replica: the primary's capacity is left for writes");
}

void lag_and_sessions() {
  std::puts("\n2. Lag makes replica reads stale; sessions read their own writes");
  scaling::manual_clock clock;
  store_t db{replicas({50ms, 200ms, 1s}), clock};
  int stale = 0;
  for (int i = 0; i < 300; ++i) {
    (void)db.put("counter", i);
    clock.advance(10ms);
    if (db.get("counter").stale) ++stale;
  }
  std::printf("  300 write-then-read pairs 10 ms apart, plain reads: %d stale (%.0f%%)\n", stale,
              100.0 * stale / 300);
  const auto lag = db.node_state(3);
  std::printf("  replica node-3: %llu positions behind, %.0f ms of lag\n",
              static_cast<unsigned long long>(lag.lag_positions),
              std::chrono::duration<double, std::milli>(lag.lag).count());
  check(stale > 200, "without a session most reads right after a write are stale");

  scaling::read_session me;
  int own_stale = 0;
  int on_primary = 0;
  for (int i = 0; i < 300; ++i) {
    me.record_write(db.put("profile", i).token);
    clock.advance(i % 2 == 0 ? 10ms : 60ms);  // every other read comes after node-1's lag
    const auto r = db.get("profile", me);
    if (r.value != i) ++own_stale;
    if (r.from_primary) ++on_primary;
  }
  std::printf(
      "  with a read_session: %d stale reads of our own writes; %d of 300 went to the "
      "primary, the rest to replicas that had applied the write\n",
      own_stale, on_primary);
  check(own_stale == 0, "read-your-writes: a session never reads older than its last write");
  check(on_primary < 300, "and most of those reads still scale out to replicas");
}

void slow_replica() {
  std::puts("\n3. A slow replica: round robin keeps feeding it, peak EWMA moves off it");
  auto run = [](auto policy_tag, const char* name) {
    using policy_t = decltype(policy_tag);
    scaling::manual_clock clock;
    std::vector<scaling::replica_endpoint> set;
    for (int i = 0; i < 5; ++i) {
      set.push_back({"r" + std::to_string(i), "", 1, scaling::replica_role::replica, ""});
    }
    scaling::replica_selector<scaling::replica_endpoint, policy_t, scaling::manual_clock> reads{
        set, {}, clock};
    double total_ms = 0;
    for (int i = 0; i < 1000; ++i) {
      auto t = reads.select();
      const auto latency = t.id() == "r4" ? 20ms : 2ms;  // r4 replays a backlog: 10x slower
      clock.advance(latency);
      total_ms += std::chrono::duration<double, std::milli>(latency).count();
      t.complete(scaling::read_outcome::success);
    }
    const auto slow = reads.state("r4");
    std::printf("  %-12s slow replica served %4llu of 1000 reads, mean latency %.2f ms\n", name,
                static_cast<unsigned long long>(slow.selected), total_ms / 1000);
    return slow.selected;
  };
  const auto rr = run(scaling::round_robin{}, "round_robin");
  const auto ewma = run(scaling::peak_ewma{}, "peak_ewma");
  check(rr == 200 && ewma < 10, "peak_ewma avoids the slow replica within a few requests");
}

void ejection_and_panic() {
  std::puts("\n4. A failing replica is ejected, then returns; panic when too few are left");
  scaling::manual_clock clock;
  std::vector<scaling::replica_endpoint> set;
  for (int i = 0; i < 4; ++i) {
    set.push_back({"r" + std::to_string(i), "", 1, scaling::replica_role::replica, ""});
  }
  scaling::replica_selector_options<scaling::round_robin> opts;
  opts.health.consecutive_failures = 5;
  opts.health.max_ejection_percent = 25;
  scaling::replica_selector<scaling::replica_endpoint, scaling::round_robin, scaling::manual_clock>
      reads{set, opts, clock};
  for (int i = 0; i < 40; ++i) {
    auto t = reads.select();
    const bool broken = t.id() == "r2";
    t.complete(broken ? scaling::read_outcome::failure : scaling::read_outcome::success);
  }
  auto r2 = reads.state("r2");
  std::printf("  r2 failed 5 reads in a row: ejected=%s for %.0f s (ejections: %u)\n",
              r2.ejected ? "yes" : "no", std::chrono::duration<double>(r2.ejected_for).count(),
              r2.ejections);
  check(r2.ejected && r2.selected == 5, "ejected after 5 consecutive failures, then skipped");
  clock.advance(30s);
  // Round robin over four members: r2 comes up within four selections once it is back.
  auto t = reads.select();
  for (int i = 0; i < 4 && t.id() != "r2"; ++i)
    t = reads.select();
  check(t.id() == "r2" && !reads.state("r2").ejected,
        "back in rotation after base_ejection_time (30 s)");
  t.complete(scaling::read_outcome::success);
  reads.mark("r0", scaling::replica_health::down);
  reads.mark("r1", scaling::replica_health::down);
  reads.mark("r3", scaling::replica_health::down);
  std::printf("  3 of 4 marked down: in panic=%s (reads spread over all rather than crush one)\n",
              reads.in_panic() ? "yes" : "no");
  check(reads.in_panic(), "panic mode below 50% healthy, as Envoy does");
}

void thundering_herd() {
  std::puts("\n5. All replicas too stale: the reads fall back to the primary (the herd)");
  scaling::manual_clock clock;
  store_t db{replicas({5s, 5s}), clock};
  (void)db.put("k", 1);
  clock.advance(2s);
  for (int i = 0; i < 1000; ++i)
    (void)db.get("k", {.max_staleness = 1s});
  const auto s = db.stats();
  std::printf("  max_staleness 1 s, replicas 2 s behind: %llu of 1000 reads hit the primary\n",
              static_cast<unsigned long long>(s.primary_reads));
  check(s.primary_reads == 1000, "a staleness bound no replica meets moves the whole load");
  const auto routed = db.routing();
  std::printf("  monitor it: primary fallbacks show up as %llu selections of %s\n",
              static_cast<unsigned long long>(routed[0].selected), routed[0].id.c_str());
}

void failover() {
  std::puts("\n6. The primary fails: the most up-to-date replica is promoted");
  for (const auto mode : {scaling::replication_mode::async, scaling::replication_mode::sync}) {
    scaling::manual_clock clock;
    store_t db{replicas({100ms, 400ms}, mode), clock};
    for (int i = 0; i < 50; ++i) {
      (void)db.put("order:" + std::to_string(i), i);
      clock.advance(10ms);
    }
    const auto report = db.failover();
    std::printf("  %-5s: promoted node-%zu at position %llu of %llu; lost writes: %llu\n",
                mode == scaling::replication_mode::async ? "async" : "sync", report.new_primary,
                static_cast<unsigned long long>(report.promoted_at),
                static_cast<unsigned long long>(report.last_committed),
                static_cast<unsigned long long>(report.lost_writes));
    if (mode == scaling::replication_mode::async) {
      // Writes every 10 ms until t = 490 ms; node-1, 100 ms behind, has those up to t = 400 ms.
      check(report.new_primary == 1 && report.lost_writes == 9,
            "async: the acknowledged writes of the last 100 ms are lost, and counted");
    } else {
      check(report.lost_writes == 0, "sync: nothing acknowledged is lost (writes waited 400 ms)");
    }
  }
}

}  // namespace

int main() {
  std::puts("Database replication: a primary, read replicas, and the client-side routing rules");
  question("Problem solved",
           "One database server runs out of read capacity long before write capacity, and it is "
           "a single\npoint of failure. Replicas copy the data: reads spread over them, and a "
           "replica takes over\nwhen the primary fails. The price: copies lag.");
  question("Implementation approach",
           "replica_selector routes each read (policy, health, consistency rules) with an RAII "
           "ticket that\nfeeds latency and outcome back; read_session gives read-your-writes; "
           "replicated_store is a\nprimary + replicas in process, here on a manual clock.");
  std::puts("\n== Failure modes");
  scale_reads();
  lag_and_sessions();
  slow_replica();
  ejection_and_panic();
  thundering_herd();
  failover();
  question("Real-world examples",
           "Instagram (one PostgreSQL, then read replicas, then shards); MongoDB read "
           "preferences (the five\nread modes, maxStalenessSeconds); Envoy (least_request, "
           "outlier detection, 50% panic threshold);\nFinagle (peak EWMA); C3 (replica ranking "
           "by latency and queue size).");
  question("Operational considerations",
           "Monitor lag in bytes and seconds per replica, per-replica latency and in-flight "
           "reads, ejections\nand panic mode, reads falling back to the primary, lost writes "
           "after a failover. Configure the\nread mode per query class and a staleness bound "
           "some replica meets. Replicas scale reads, not\nwrites: past one primary, shard.");
  if (failed_checks != 0) {
    std::printf("\n%d check(s) FAILED\n", failed_checks);
    return 1;
  }
  std::puts("\nall checks passed");
  return 0;
}
