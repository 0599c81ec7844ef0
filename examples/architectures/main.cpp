// Architectures: the seed's four stages, composed from the blocks and measured in the lab.
//
// Problem: a system outgrows each shape in turn. Which part breaks first, at what load, and
// what does the next stage buy?
// Approach: each stage is a composition of the library's blocks (architecture/), driven on
// virtual time by the scaling lab (lab/): the caches really hit or miss, the balancer really
// routes on the latencies it sees, the store really lags and routes by position, the queue
// really buffers; only service and network time are simulated. Each stage's saturation is
// found by raising the load 1.25x at a time until p99 passes 100 ms, a station passes 95%
// utilization or requests fail.
// Failure modes shown, with figures: an app tier at saturation (stage 1), a primary that no
// replica or cache relieves of writes (stage 2), a service outage absorbed by the queue
// (stage 3), a lost primary disk (stage 1's backups), cross-region lag and a shard moved under
// traffic (stage 4).
// What to monitor: per-station utilization and queue length (the bottleneck), p99 against the
// SLO, cache hit ratio, queue backlog and drain time, replication and view lag, writes per
// shard node.
//
// Usage: architectures [--quick]   (--quick: a smaller workload and shorter runs, for CTest)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <scaling/architecture/partitioned_system.hpp>
#include <scaling/architecture/scenario.hpp>
#include <scaling/architecture/service_system.hpp>
#include <scaling/architecture/web_system.hpp>
#include <scaling/caching/cache.hpp>

namespace {

using namespace std::chrono_literals;
namespace arch = scaling::architecture;
using app_cache = scaling::cache<std::uint64_t, std::uint64_t, scaling::w_tinylfu>;

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

void question(const char* title, const char* answer) {
  std::printf("\n== %s\n%s\n", title, answer);
}

struct settings {
  arch::workload read_heavy{.objects = 1'000'000, .zipf_s = 0.99, .read_fraction = 0.95};
  std::chrono::nanoseconds warmup = 5s;
  std::chrono::nanoseconds window = 20s;
  double step = 1.25;
};

struct saturation {
  double rps = 0;          // the highest offered load within the SLO
  std::string bottleneck;  // at the first load past it
  double p99_ms = 0;       // at saturation
};

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

bool within_slo(const arch::run_result& r) {
  return r.failed == 0 && r.latency.percentile(0.99) <= 100ms && r.bottleneck_utilization < 0.95;
}

// Raises the load from `start` until the run breaks the SLO; run(rate) builds a fresh system.
saturation find_saturation(double start, double step,
                           const std::function<arch::run_result(double)>& run) {
  saturation s;
  for (double rate = start; rate < start * 1e4; rate *= step) {
    const arch::run_result r = run(rate);
    if (!within_slo(r)) {
      s.bottleneck = r.bottleneck;
      return s;
    }
    s.rps = rate;
    s.p99_ms = ms(r.latency.percentile(0.99));
  }
  return s;
}

template <class Cache>
arch::run_result run_web(const arch::web_system_options& o, const arch::workload& w, double rate,
                         const settings& cfg, std::uint64_t seed) {
  scaling::lab::simulation sim{seed};
  arch::web_system<Cache> system{sim, o};
  return arch::run_open_loop(sim, system, w, rate, cfg.warmup, cfg.window);
}

// The event consumers that build the views scale with the nodes (one each), or they would be
// the bottleneck instead of the shards.
saturation partitioned_write_saturation(std::size_t nodes, const settings& cfg) {
  const arch::workload writes{.objects = cfg.read_heavy.objects, .zipf_s = 0.6, .read_fraction = 0};
  return find_saturation(500, cfg.step, [&](double rate) {
    scaling::lab::simulation sim{7};
    arch::partitioned_system system{sim, {.nodes = nodes, .regions = 1, .view_consumers = nodes}};
    return arch::run_open_loop(sim, system, writes, rate, cfg.warmup, cfg.window);
  });
}

}  // namespace

int main(int argc, char** argv) {
  settings cfg;
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (quick) {
    cfg.read_heavy.objects = 20'000;
    cfg.warmup = 1s;
    cfg.window = 3s;
    cfg.step = 1.5;
  }
  std::printf(
      "Architectures: the seed's four stages on one read-heavy workload (%.0f%% reads, "
      "Zipf %.2f over %llu objects)%s\n",
      cfg.read_heavy.read_fraction * 100, cfg.read_heavy.zipf_s,
      static_cast<unsigned long long>(cfg.read_heavy.objects), quick ? ", quick run" : "");

  question("Problem solved",
           "Each stage of the progression removes the bottleneck of the one before: the app\n"
           "server (stage 1), the read load on the primary (stage 2), coupling between parts of\n"
           "the system (stage 3), the primary's write capacity and one region's reach (stage 4).");

  question("Implementation approach",
           "Stages 1 and 2 are one composition, web_system: CDN edge -> load_balanced app tier\n"
           "-> read_through app cache -> store_reads over a replicated_store / primary_writes.\n"
           "Stage 3 is service_system (three services, each with its own database, and a\n"
           "work_queue between posts and notifications). Stage 4 is partitioned_system\n"
           "(logical_shards on nodes, a second region, change events feeding views).");

  // --- Stage 1 -> 2: what the app tier, the cache and the replicas buy on reads.
  std::printf("\n-- saturation on the read-heavy workload (p99 <= 100 ms, no station >= 95%%)\n");
  const auto s1 = find_saturation(1'000, cfg.step, [&](double rate) {
    auto o = arch::stage_1_options();
    o.cdn_capacity = cfg.read_heavy.objects / 10;
    return run_web<arch::no_cache<std::uint64_t, std::uint64_t>>(o, cfg.read_heavy, rate, cfg, 1);
  });
  const auto s2 = find_saturation(1'000, cfg.step, [&](double rate) {
    auto o = arch::stage_2_options();
    o.cdn_capacity = cfg.read_heavy.objects / 10;
    o.cache_capacity = cfg.read_heavy.objects / 10;
    return run_web<app_cache>(o, cfg.read_heavy, rate, cfg, 2);
  });
  std::printf(
      "  stage 1 (1 app server, CDN, primary):            %8.0f req/s, p99 %6.1f ms; "
      "then %s saturates\n",
      s1.rps, s1.p99_ms, s1.bottleneck.c_str());
  std::printf(
      "  stage 2 (4 app servers, app cache, 2 replicas):  %8.0f req/s, p99 %6.1f ms; "
      "then %s saturates\n",
      s2.rps, s2.p99_ms, s2.bottleneck.c_str());
  std::printf("  gain: %.1fx\n", s2.rps / s1.rps);
  check(s1.bottleneck.rfind("app-", 0) == 0, "stage 1 breaks at its single app server");
  check(s2.rps >= 3 * s1.rps, "stage 2 sustains at least 3x stage 1 on the read-heavy workload");

  // --- Writes: replicas do not add write capacity, shards do.
  std::printf("\n-- write capacity (writes only)\n");
  const arch::workload writes{.objects = cfg.read_heavy.objects, .zipf_s = 0.6, .read_fraction = 0};
  auto stage2_writes = [&](std::size_t replicas) {
    return find_saturation(500, cfg.step,
                           [&](double rate) {
                             auto o = arch::stage_2_options();
                             o.replicas = replicas;
                             o.cache_capacity = cfg.read_heavy.objects / 10;
                             return run_web<app_cache>(o, writes, rate, cfg, 3);
                           })
        .rps;
  };
  const double w_r2 = stage2_writes(2);
  const double w_r4 = stage2_writes(4);
  std::printf("  stage 2 with 2 replicas: %8.0f writes/s; with 4 replicas: %8.0f writes/s\n", w_r2,
              w_r4);
  check(w_r4 <= w_r2 * 1.3, "more replicas do not add write capacity (all writes hit the primary)");
  const auto n2 = partitioned_write_saturation(2, cfg);
  const auto n8 = partitioned_write_saturation(8, cfg);
  std::printf(
      "  stage 4 with 2 shard nodes: %8.0f writes/s (then %s); with 8: %8.0f writes/s "
      "(then %s): %.1fx\n",
      n2.rps, n2.bottleneck.c_str(), n8.rps, n8.bottleneck.c_str(), n8.rps / n2.rps);
  check(n8.rps >= 3 * n2.rps, "write capacity grows with shard nodes");

  question("Failure modes",
           "Shown here: each stage's saturation and its bottleneck (above), a service outage\n"
           "absorbed by the queue, a lost primary disk, cross-region lag and a shard move.");

  // Stage 3: the notification service down for 20 s.
  {
    scaling::lab::simulation sim{4};
    arch::service_system_options o;
    o.visibility_timeout = 5s;
    arch::service_system system{sim, o};
    system.outage(arch::service_system::service::notifications, 5s, 20s);
    const auto r = arch::run_open_loop(
        sim, system, {.objects = cfg.read_heavy.objects, .zipf_s = 0.99, .read_fraction = 0.8},
        1'000, 1s, 30s);
    const auto s = system.stats();
    std::printf(
        "\n-- stage 3: notifications down for 20 s at 1,000 req/s (20%% create posts)\n"
        "  requests failed: %llu; backlog peak %llu jobs, drained %.1f s after recovery; "
        "redelivered %llu; lost %llu\n",
        static_cast<unsigned long long>(r.failed), static_cast<unsigned long long>(s.peak_backlog),
        std::chrono::duration<double>(s.drain_time).count(),
        static_cast<unsigned long long>(s.redeliveries), static_cast<unsigned long long>(s.lost()));
    check(r.failed == 0, "posts are still created while notifications are down");
    check(s.lost() == 0 && s.jobs_done == s.jobs_published, "the queue loses no job");
  }

  // Stage 1's backups: the primary's disk lost mid-run.
  {
    scaling::lab::simulation sim{5};
    auto o = arch::stage_1_options();
    arch::web_system<> system{sim, o};
    scaling::lab::poisson_arrivals load{sim, 500, [&] {
                                          const auto op = sim.rng().uniform01() < 0.8
                                                              ? arch::operation::read
                                                              : arch::operation::write;
                                          system.request(op, sim.rng().below(10'000), [](bool) {});
                                        }};
    load.start();
    sim.run_for(150s);
    const auto loss = system.lose_primary();
    std::printf(
        "\n-- stage 1: the primary's disk lost after 150 s (archive_timeout 60 s)\n"
        "  writes lost %llu, recovery point %.1f s, recovery time %.3f s\n",
        static_cast<unsigned long long>(loss.loss.writes_lost),
        std::chrono::duration<double>(loss.loss.recovery_point).count(),
        std::chrono::duration<double>(loss.recovery_time).count());
    check(loss.loss.recovery_point <= 60s, "the recovery point is bounded by archive_timeout");
    load.stop();
    sim.run();
  }

  // Stage 4: two regions, derived views, and a node added under traffic.
  {
    scaling::lab::simulation sim{6};
    arch::partitioned_system system{
        sim, {.logical_shards = 256, .nodes = 4, .copy_per_key = 1ms, .regions = 2}};
    system.add_node(5s);
    const auto r = arch::run_open_loop(
        sim, system, {.objects = cfg.read_heavy.objects, .zipf_s = 0.9, .read_fraction = 0.8},
        2'000, 1s, 10s);
    const auto s = system.stats();
    std::printf(
        "\n-- stage 4: 4 -> 5 nodes under 2,000 req/s, two regions 40 ms apart\n"
        "  p99 %.1f ms (remote writes pay the round trip); replication lag p50 %.1f ms; "
        "view lag p99 %.1f ms\n"
        "  moved %llu shards (%llu keys, %llu writes during the copy) in %.3f s; "
        "moved keys wrong: %llu\n",
        ms(r.latency.percentile(0.99)), ms(s.replication_lag.percentile(0.5)),
        ms(s.view_lag.percentile(0.99)), static_cast<unsigned long long>(s.shards_moved),
        static_cast<unsigned long long>(s.keys_copied),
        static_cast<unsigned long long>(s.writes_during_move),
        std::chrono::duration<double>(s.move_duration).count(),
        static_cast<unsigned long long>(s.moved_keys_wrong));
    check(s.moved_keys_wrong == 0 && s.moved_keys_checked > 0, "the shard move loses no write");
    check(system.replicas_converged() && system.views_converged(),
          "the other region and the derived views converge");
  }

  question("Real-world examples",
           "Stage 1 -> 2: Instagram's single PostgreSQL, then read replicas and memcached.\n"
           "Stage 3: Twitter's fan-out service behind queues. Stage 4: Instagram's thousands of\n"
           "logical shards on few servers; multi-region reads everywhere at scale.");
  question("Operational considerations",
           "Monitor each station's utilization (the bottleneck), p99 against the SLO, the app\n"
           "cache's hit ratio, the queue's backlog and drain time, replication and view lag,\n"
           "and writes per shard node. Configure archive_timeout from the recovery point you\n"
           "can accept. Scale the tier that `scaling_lab stage --sweep` names as bottleneck.");

  std::printf("\n%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
