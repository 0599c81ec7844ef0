// Architectures: the seed's four stages, composed from the blocks and measured in the lab.
//
// Problem: a system outgrows each shape in turn. Which part breaks first, at what load, and
// what does the next stage buy?
// Approach: each stage is a composition of the library's blocks (architecture/), driven on
// virtual time by the scaling lab (lab/): the caches really hit or miss, the balancer really
// routes on the latencies it sees, the store really lags and routes by position, the queue
// really buffers; only service and network time are simulated. Each stage's saturation is
// found by raising the load 1.25x at a time until p99 passes 100 ms, a station passes 95%
// utilization or requests fail, then bisecting to 2% (architecture::find_saturation), and is
// printed beside the advisor's prediction from the same options (architecture/capacity.hpp).
// Then the load grows 10x per step, and each step shows the stage that breaks and the one that
// holds.
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

#include <scaling/architecture/capacity.hpp>
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
  std::chrono::nanoseconds ttl = 60s;         // the CDN's TTL
  std::chrono::nanoseconds web_warmup = 60s;  // one TTL: the caches reach their steady state
  std::chrono::nanoseconds warmup = 5s;       // stages without caches
  std::chrono::nanoseconds window = 20s;
  std::chrono::nanoseconds step_window = 10s;  // the 10x progression's runs
  // A stage far past its saturation breaks whether or not its caches are warm.
  std::chrono::nanoseconds overload_warmup = 60s;
};

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

// Caches a tenth of the objects, at the settings' TTL.
arch::web_system_options sized(arch::web_system_options o, const settings& cfg) {
  o.cdn_capacity = cfg.read_heavy.objects / 10;
  o.cdn_ttl = cfg.ttl;
  if (o.cache_capacity > 0) o.cache_capacity = cfg.read_heavy.objects / 10;
  return o;
}

template <class System, class Options>
arch::run_result run(const Options& o, const arch::workload& w, double rate,
                     std::chrono::nanoseconds warmup, std::chrono::nanoseconds window,
                     std::uint64_t seed) {
  scaling::lab::simulation sim{seed};
  System system{sim, o};
  return arch::run_open_loop(sim, system, w, rate, warmup, window);
}

// The lab's saturation (grown 1.25x, then bisected to 2%) beside the model's prediction.
struct compared {
  const char* name;
  scaling::advisor::saturation_estimate predicted;
  arch::saturation measured;
  [[nodiscard]] double ratio() const { return measured.rate / predicted.rate; }
};

template <class System, class Options>
compared compare(const char* name, const Options& o, const arch::workload& w,
                 std::chrono::nanoseconds warmup, const settings& cfg, std::uint64_t seed) {
  const auto predicted = arch::predict_saturation(o, w);
  const auto measured = arch::find_saturation(
      [&](double rate) { return run<System>(o, w, rate, warmup, cfg.window, seed); },
      predicted.rate / 4);
  return {name, predicted, measured};
}

void print(const compared& c) {
  std::printf("  %-34s %9.0f  %-12s %9.0f  %-14s %5.2f\n", c.name, c.predicted.rate,
              c.predicted.bottleneck.c_str(), c.measured.rate, c.measured.bottleneck.c_str(),
              c.ratio());
}

// One row of the 10x progression: a stage at a load, held or broken, and where.
template <class System, class Options>
void step(const char* stage, const Options& o, const arch::workload& w, double rate,
          std::chrono::nanoseconds warmup, const settings& cfg, bool expect_within) {
  const auto r = run<System>(o, w, rate, warmup, cfg.step_window, 12);
  const bool ok = arch::within(r, {});
  std::printf("  %9.0f  %-44s %-6s %-16s %5.0f%%  %8.1f\n", rate, stage, ok ? "holds" : "breaks",
              r.bottleneck.c_str(), 100 * r.bottleneck_utilization, ms(r.latency.percentile(0.99)));
  char what[160];
  std::snprintf(what, sizeof what, "%s %s %.0f req/s", stage, expect_within ? "holds" : "breaks at",
                rate);
  check(ok == expect_within, what);
}

}  // namespace

int main(int argc, char** argv) {
  settings cfg;
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (quick) {
    cfg.read_heavy.objects = 20'000;
    cfg.ttl = 10s;
    cfg.web_warmup = 15s;
    cfg.warmup = 2s;
    cfg.window = 5s;
    cfg.step_window = 3s;
    cfg.overload_warmup = 2s;
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
           "(logical_shards on nodes, a second region, change events feeding views).\n"
           "The advisor's stage model (architecture/capacity.hpp) predicts each saturation from\n"
           "the same options; the lab measures it with the blocks doing the work.");

  // --- Each stage's saturation: the model's prediction beside the lab's measurement.
  std::printf(
      "\n-- saturation (p99 <= 100 ms, no station >= 95%%): the advisor's model and the lab\n"
      "  %-34s %9s  %-12s %9s  %-14s %5s\n",
      "stage", "predicted", "binds at", "measured", "breaks at", "ratio");
  const arch::workload writes{.objects = cfg.read_heavy.objects, .zipf_s = 0.6, .read_fraction = 0};
  std::vector<compared> rows;
  rows.push_back(compare<arch::web_system<>>("stage 1: 1 app server, CDN, primary",
                                             sized(arch::stage_1_options(), cfg), cfg.read_heavy,
                                             cfg.web_warmup, cfg, 1));
  rows.push_back(compare<arch::web_system<app_cache>>("stage 2: 4 app servers, cache, 2 repl.",
                                                      sized(arch::stage_2_options(), cfg),
                                                      cfg.read_heavy, cfg.web_warmup, cfg, 2));
  rows.push_back(compare<arch::service_system>("stage 3: 3 services, queue",
                                               arch::service_system_options{}, cfg.read_heavy,
                                               cfg.warmup, cfg, 3));
  rows.push_back(compare<arch::partitioned_system>(
      "stage 4: 8 nodes, 2 regions", arch::partitioned_system_options{.nodes = 8, .regions = 2},
      cfg.read_heavy, cfg.warmup, cfg, 4));
  auto replicas = [&](std::size_t n) {
    auto o = sized(arch::stage_2_options(), cfg);
    o.replicas = n;
    return o;
  };
  rows.push_back(compare<arch::web_system<app_cache>>("stage 2, 2 replicas", replicas(2), writes,
                                                      cfg.warmup, cfg, 5));
  rows.push_back(compare<arch::web_system<app_cache>>("stage 2, 4 replicas", replicas(4), writes,
                                                      cfg.warmup, cfg, 5));
  auto nodes = [](std::size_t n) {
    return arch::partitioned_system_options{.nodes = n, .regions = 1, .view_consumers = n};
  };
  rows.push_back(compare<arch::partitioned_system>("stage 4, 2 shard nodes", nodes(2), writes,
                                                   cfg.warmup, cfg, 7));
  rows.push_back(compare<arch::partitioned_system>("stage 4, 8 shard nodes", nodes(8), writes,
                                                   cfg.warmup, cfg, 7));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i == 4) std::printf("  writes only (Zipf 0.6):\n");
    print(rows[i]);
  }
  bool all_close = true;
  for (const auto& c : rows)
    all_close = all_close && c.ratio() >= 0.85 && c.ratio() <= 1.15;
  check(all_close, "every measured saturation is within 15% of the model's prediction");
  check(rows[0].measured.bottleneck.rfind("app-", 0) == 0,
        "stage 1 breaks at its single app server");
  std::printf("  stage 2 / stage 1: %.1fx\n", rows[1].measured.rate / rows[0].measured.rate);
  check(rows[1].measured.rate >= 3 * rows[0].measured.rate,
        "stage 2 sustains at least 3x stage 1 on the read-heavy workload");
  check(rows[5].measured.rate <= rows[4].measured.rate * 1.1,
        "more replicas do not add write capacity (all writes hit the primary)");
  std::printf("  8 / 2 shard nodes: %.1fx\n", rows[7].measured.rate / rows[6].measured.rate);
  check(rows[7].measured.rate >= 3 * rows[6].measured.rate,
        "write capacity grows with shard nodes");

  // --- The progression: the load grows 10x per step; the stage that held breaks, the next holds.
  std::printf(
      "\n-- the load grows 10x per step (read-heavy workload)\n"
      "  %9s  %-44s %-6s %-16s %6s  %8s\n",
      "req/s", "system", "result", "busiest station", "util", "p99 ms");
  step<arch::web_system<>>("stage 1", sized(arch::stage_1_options(), cfg), cfg.read_heavy, 1'000,
                           cfg.web_warmup, cfg, true);
  step<arch::web_system<>>("stage 1", sized(arch::stage_1_options(), cfg), cfg.read_heavy, 10'000,
                           cfg.web_warmup, cfg, false);
  step<arch::web_system<app_cache>>("stage 2 (4 app servers, 2 replicas)",
                                    sized(arch::stage_2_options(), cfg), cfg.read_heavy, 10'000,
                                    cfg.web_warmup, cfg, true);
  {
    auto big = sized(arch::stage_2_options(), cfg);
    big.app_servers = 24;
    big.replicas = 4;
    step<arch::web_system<app_cache>>("stage 2 scaled out (24 app servers, 4 repl.)", big,
                                      cfg.read_heavy, 100'000, cfg.overload_warmup, cfg, false);
    const auto limit = arch::predict_saturation(big, cfg.read_heavy);
    std::printf("  (the model: stage 2 scaled out saturates at %.0f req/s, at %s)\n", limit.rate,
                limit.bottleneck.c_str());
  }
  step<arch::service_system>("stage 3 (3 services, queue)", arch::service_system_options{},
                             cfg.read_heavy, 100'000, cfg.warmup, cfg, false);
  step<arch::partitioned_system>("stage 4 (32 shard nodes, 2 regions)",
                                 arch::partitioned_system_options{.nodes = 32, .regions = 2},
                                 cfg.read_heavy, 100'000, cfg.warmup, cfg, true);
  std::printf(
      "  At 10x (10,000 req/s) stage 1's one app server is the limit: stage 2 adds app servers,\n"
      "  the cache and replicas. At 100x the 5%% writes (5,000/s) pass what one database commits\n"
      "  (about 1,900/s at 8 workers and 4 ms): scaling stage 2 out and splitting by service\n"
      "  (stage 3) leave them on one database each; sharding (stage 4) spreads them over nodes.\n");

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
