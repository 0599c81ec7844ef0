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
// With --cache=redis, instead of the lab: stage 2's read path (read_through: app cache ->
// replicas -> primary) in real time, with its app cache first in process, then on Redis
// (architecture::remote_cache over redis::cache_tier), then on Redis behind a near cache kept
// coherent by Redis's invalidations (two_level_cache): the same composition and workload on
// each, with the hit ratio, requests/s and the latency of a cache hit measured side by side.
// What to monitor there: the hit ratio, Redis's memory per key and evictions, connected
// clients, the near cache's invalidations.
//
// Usage: architectures [--quick] [--cache=redis[:HOST:PORT]]
//   --quick  a smaller workload and shorter runs, for CTest
//   --cache=redis  stage 2's read path in real time on Redis: on HOST:PORT (not flushed: its
//            keys go under "stage2:" with a 10-minute TTL), or on a redis-server started here
//            on a free loopback port (skipped with a message, exit status 77, when none is
//            installed or the program was built without hiredis)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/architecture/capacity.hpp>
#include <scaling/architecture/partitioned_system.hpp>
#include <scaling/architecture/scenario.hpp>
#include <scaling/architecture/service_system.hpp>
#include <scaling/architecture/web_system.hpp>
#include <scaling/caching/cache.hpp>

#if defined(SCALING_HAVE_HIREDIS)
#include <scaling/architecture/read_through.hpp>
#include <scaling/architecture/remote_cache.hpp>
#include <scaling/architecture/replicated.hpp>
#include <scaling/architecture/serving.hpp>
#include <scaling/caching/two_level_cache.hpp>
#include <scaling/lab/workload.hpp>
#include <scaling/redis/cache_tier.hpp>
#include <scaling/replication/replicated_store.hpp>

#include "engines/servers.hpp"  // starts redis-server on a free loopback port
#endif

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

#if defined(SCALING_HAVE_HIREDIS)
// --- Stage 2's read path in real time, its app cache in process, on Redis, and near + Redis.

// One run's measured figures.
struct real_time_run {
  const char* name = "";
  double hit_ratio = 0;
  double requests_per_s = 0;
  std::vector<double> hit_ns;       // every read the cache answered
  std::vector<double> near_hit_ns;  // of those, the ones the near cache answered
  std::uint64_t failed = 0;
  std::uint64_t stale = 0;  // reads older than the last acknowledged write of their key
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Redis's own figure `name` from INFO `section` (0 when absent).
double redis_info(scaling::redis::pool& redis, const char* section, const std::string& name) {
  const auto r = redis.execute({"INFO", section});
  const std::string_view text = r.str();
  const auto at = text.find(name + ":");
  if (at == std::string_view::npos) return 0;
  return std::strtod(std::string{text.substr(at + name.size() + 1, 24)}.c_str(), nullptr);
}

// Stage 2's data tier in real time: a primary and two replicas 100 ms behind (on a clock
// that follows the wall clock), every object present at version 0, writes at the primary.
struct stage_2_database {
  using store_type = scaling::replicated_store<std::uint64_t, std::uint64_t, scaling::round_robin,
                                               scaling::manual_clock>;
  scaling::manual_clock clock;
  store_type store{{.replicas = 2}, clock};
  arch::inline_serving db{store.nodes()};
  arch::store_reads<std::uint64_t, std::uint64_t, store_type, arch::inline_serving> reads{
      store, db, scaling::read_options{}};  // replica_preferred, read-your-writes by position
  arch::with_initial_value<std::uint64_t, std::uint64_t, decltype(reads)> catalogue{reads, 0};
  arch::primary_writes<std::uint64_t, std::uint64_t, store_type, arch::inline_serving> writes{store,
                                                                                              db};
};

// Drives `cache` (any read_cache) through read_through with `warmup` then `requests` requests
// of the workload, one at a time; `near_hits` reads the near cache's hit count (or 0).
template <class Cache, class NearHits>
real_time_run run_real_time(const char* name, Cache& cache, const arch::workload& load,
                            std::uint64_t warmup, std::uint64_t requests, NearHits near_hits) {
  stage_2_database d;
  arch::read_through<std::uint64_t, std::uint64_t, Cache, decltype(d.catalogue)> path{cache,
                                                                                      d.catalogue};
  const scaling::lab::zipf_distribution popularity{load.objects, load.zipf_s};
  scaling::lab::rng gen{2};
  std::vector<std::uint64_t> version(load.objects, 0);
  std::uint64_t next_version = 0;
  real_time_run out;
  out.name = name;
  const auto start = std::chrono::steady_clock::now();
  auto measured_start = start;
  std::uint64_t hits_before = 0;
  std::uint64_t reads_before = 0;
  for (std::uint64_t i = 0; i < warmup + requests; ++i) {
    const bool measuring = i >= warmup;
    if (i == warmup) {
      measured_start = std::chrono::steady_clock::now();
      hits_before = path.stats().hits;
      reads_before = path.stats().reads;
    }
    const auto now = std::chrono::steady_clock::now();
    d.clock.set(scaling::manual_clock::time_point{now - start});  // replicas apply in real time
    const std::uint64_t key = popularity(gen) - 1;
    if (gen.uniform01() >= load.read_fraction) {
      const std::uint64_t v = ++next_version;
      d.writes.async_write(key, v, [&](arch::write_ack ack) {
        if (ack.status != arch::reply_status::ok) return;
        path.invalidate(key, ack.position);
        version[key] = v;
      });
      continue;
    }
    const std::uint64_t near_before = near_hits();
    arch::reply<std::uint64_t> got;
    const auto t0 = std::chrono::steady_clock::now();
    path.async_get(key, [&](arch::reply<std::uint64_t> r) { got = r; });
    const auto t1 = std::chrono::steady_clock::now();
    if (!measuring) continue;
    if (got.status != arch::reply_status::ok) ++out.failed;
    if (got.value.value_or(0) < version[key]) ++out.stale;
    if (got.tier == arch::cache_tier) {
      const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
      out.hit_ns.push_back(ns);
      if (near_hits() > near_before) out.near_hit_ns.push_back(ns);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measured_start).count();
  out.requests_per_s = static_cast<double>(requests) / seconds;
  out.hit_ratio =
      scaling::ratio(path.stats().hits - hits_before, path.stats().reads - reads_before);
  return out;
}

void print(const real_time_run& r) {
  std::printf("  %-38s %9.3f %10.0f %11.0f %11.0f\n", r.name, r.hit_ratio, r.requests_per_s,
              percentile(r.hit_ns, 0.5), percentile(r.hit_ns, 0.99));
}

// --cache=redis[:host:port]: 0 when every check passed, 77 when skipped.
int stage_2_on_redis(const std::string& where, bool quick) {
  engines_test::scratch_dir dir;
  engines_test::server started;
  scaling::redis::endpoint server;
  if (!where.empty()) {
    server = scaling::redis::endpoint::parse(where, "127.0.0.1");
  } else {
    const std::string binary = engines_test::find_program("redis-server");
    if (binary.empty()) {
      std::printf("SKIPPED: --cache=redis needs redis-server (scripts/deps installs it)\n");
      return 77;
    }
    server.port = engines_test::free_port();
    if (!started.start(engines_test::redis_argv(binary, server.port, dir.path()), server.port)) {
      std::printf("SKIPPED: redis-server did not start on port %u\n", server.port);
      return 77;
    }
  }
  const arch::workload load{
      .objects = quick ? 20'000U : 100'000U, .zipf_s = 0.99, .read_fraction = 0.95};
  const std::uint64_t warmup = quick ? 20'000 : 200'000;
  const std::uint64_t requests = quick ? 20'000 : 200'000;
  const std::size_t capacity = load.objects / 10;  // as the lab's stage 2: a tenth of the objects

  scaling::redis::cache_tier plain{server};
  scaling::redis::cache_tier tracked{server, {.invalidations = scaling::redis::tracking::on}};
  scaling::two_level_cache near{tracked, {.near_capacity = capacity, .near_ttl = 30s}};
  // A server given on the command line is not flushed: the keys go under "stage2:" with the
  // fills' 10-minute TTL, and the figures count the keys added.
  double keys_before = 0;
  try {
    if (where.empty()) (void)plain.connections().execute({"FLUSHDB"});
    keys_before = static_cast<double>(plain.connections().execute({"DBSIZE"}).integer());
  } catch (const scaling::redis::error& e) {
    std::printf("Redis at %s: %s\n", server.to_string().c_str(), e.what());
    return 1;
  }
  if (tracked.wait_channel_for(5s) != scaling::wait_status::ready) {
    std::printf("Redis at %s: the invalidation channel did not come up\n",
                server.to_string().c_str());
    return 1;
  }
  const double memory_before = redis_info(plain.connections(), "memory", "used_memory");
  std::printf(
      "Stage 2's read path in real time (read_through: app cache -> 2 replicas -> primary), "
      "one thread,\n%llu requests after %llu of warm-up, %.0f%% reads, Zipf %.2f over %llu "
      "objects; Redis at %s%s\n",
      static_cast<unsigned long long>(requests), static_cast<unsigned long long>(warmup),
      load.read_fraction * 100, load.zipf_s, static_cast<unsigned long long>(load.objects),
      server.to_string().c_str(), where.empty() ? " (started here)" : "");

  app_cache in_process{capacity};
  auto no_near = [] { return std::uint64_t{0}; };
  const auto local = run_real_time("in process (w_tinylfu, 1/10 objects)", in_process, load, warmup,
                                   requests, no_near);
  arch::remote_cache<std::uint64_t, std::uint64_t, scaling::redis::cache_tier> on_redis{
      plain, {.key_prefix = "stage2:redis:"}};
  const auto redis =
      run_real_time("Redis (remote_cache)", on_redis, load, warmup, requests, no_near);
  arch::remote_cache<std::uint64_t, std::uint64_t, decltype(near)> on_near{
      near, {.key_prefix = "stage2:near:"}};
  const auto near_redis = run_real_time("near cache (1/10 objects) + Redis", on_near, load, warmup,
                                        requests, [&] { return near.stats().near_hits; });

  std::printf("\n  %-38s %9s %10s %11s %11s\n", "app cache", "hit ratio", "req/s", "hit p50 ns",
              "hit p99 ns");
  for (const auto* r : {&local, &redis, &near_redis})
    print(*r);
  const double local_p50 = percentile(local.hit_ns, 0.5);
  const double redis_p50 = percentile(redis.hit_ns, 0.5);
  const double near_p50 = percentile(near_redis.near_hit_ns, 0.5);
  std::printf(
      "  near hits: %zu of %zu cache hits, p50 %.0f ns, p99 %.0f ns\n"
      "  a hit through Redis: %.0fx the in-process hit (p50); through the near cache: %.1fx\n"
      "  requests/s: in process %.1fx Redis, %.1fx near + Redis\n",
      near_redis.near_hit_ns.size(), near_redis.hit_ns.size(), near_p50,
      percentile(near_redis.near_hit_ns, 0.99), redis_p50 / local_p50, near_p50 / local_p50,
      local.requests_per_s / redis.requests_per_s,
      local.requests_per_s / near_redis.requests_per_s);

  auto& admin = plain.connections();
  const double keys = static_cast<double>(admin.execute({"DBSIZE"}).integer()) - keys_before;
  const double memory_after = redis_info(admin, "memory", "used_memory");
  const auto near_stats = near.stats();
  std::printf(
      "  Redis: %.0f keys, %.0f bytes of used_memory per key, evicted_keys %.0f, "
      "connected_clients %.0f;\n  near cache: %llu invalidations, %llu flushes, "
      "%llu dropped loads\n",
      keys, keys > 0 ? (memory_after - memory_before) / keys : 0.0,
      redis_info(admin, "stats", "evicted_keys"), redis_info(admin, "clients", "connected_clients"),
      static_cast<unsigned long long>(near_stats.invalidations),
      static_cast<unsigned long long>(near_stats.flushes),
      static_cast<unsigned long long>(near_stats.dropped_loads));

  bool answered = true;
  bool fresh = true;
  for (const auto* r : {&local, &redis, &near_redis}) {
    answered = answered && r->failed == 0;
    fresh = fresh && r->stale == 0;
  }
  check(answered, "every read is answered, on every app cache");
  check(fresh, "no read returns a version older than its key's last acknowledged write");
  check(redis.hit_ratio >= local.hit_ratio,
        "Redis, which holds every object filled, hits at least as often as a tenth in process");
  check(near_redis.near_hit_ns.size() * 2 >= near_redis.hit_ns.size(),
        "the near cache answers most cache hits");
  check(near_p50 < redis_p50, "a near hit is faster than a Redis round trip");
  return failures == 0 ? 0 : 1;
}
#endif
}  // namespace

int main(int argc, char** argv) {
  settings cfg;
  bool quick = false;
  std::optional<std::string> redis_cache;  // --cache=redis[:host:port]
  CLI::App app{"architectures: the seed's four stages composed from the blocks, in the lab"};
  app.add_flag("--quick", quick, "a smaller workload and shorter runs, for CTest");
  app.add_option_function<std::string>(
         "--cache",
         [&](const std::string& value) {
           if (value == "redis") {
             redis_cache = "";
           } else if (value.rfind("redis:", 0) == 0) {
             redis_cache = value.substr(6);
           } else {
             throw CLI::ValidationError("--cache",
                                        "must be redis or redis:HOST:PORT (got '" + value + "')");
           }
         },
         "stage 2's read path in real time with its app cache on Redis")
      ->type_name("redis[:HOST:PORT]");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "architectures: %s\nrun 'architectures --help' for usage\n", e.what());
    return 2;
  }
  if (redis_cache) {
#if defined(SCALING_HAVE_HIREDIS)
    return stage_2_on_redis(*redis_cache, quick);
#else
    std::printf("SKIPPED: --cache=redis needs hiredis at build time (Debian: libhiredis-dev)\n");
    return 77;
#endif
  }
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
