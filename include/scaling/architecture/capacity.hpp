// scaling/architecture/capacity.hpp: the advisor's prediction of where each stage composition
// saturates, derived from the same options the lab runs.
//
// What it is: for `web_system` (stages 1 and 2), `service_system` (stage 3) and
// `partitioned_system` (stage 4), the service demand each offered request puts on every
// station (advisor::station_demand), computed from the options and the workload with the
// advisor's models instead of a simulation:
//   - popularity: the workload's Zipf law over its keys, exactly (one term per key);
//   - the CDN edge: LRU with the TTL, its entries purged by writes
//     (advisor::lru_invalidated_hit_ratio over the cacheable keys);
//   - the application cache: the most read keys, each write costing the read after it
//     (advisor::top_invalidated_hit_ratio: W-TinyLFU's steady state), or LRU with
//     `app_cache_law::lru`;
//   - read replicas: reads within the replica lag of their key's last write go to the primary
//     (read-your-writes by position), the rest are spread round-robin;
//   - shards: the key -> logical shard -> node placement of the system's own `logical_shards`,
//     so a hot node is predicted as the lab will find it;
// and `predict_saturation(options, workload)`, the offered load at which the first station
// reaches the lab's objective (advisor::predict_saturation; architecture/scenario.hpp `slo`).
// The edge's hit ratio depends on the load (its TTL is in seconds), so web_system's prediction
// iterates demands and load to a fixed point.
//
// When to pick it: before running the lab (where does this configuration break, and at what
// load?), and as a check of the lab and of the model against each other: the architectures
// example prints both, and tests/architecture checks that the lab's measured saturation is
// within 15% of the prediction for each stage. The model assumes steady state (warm caches), so
// compare it with runs whose warm-up fills the caches.
//
//   auto s = scaling::architecture::predict_saturation(scaling::architecture::stage_2_options(),
//                                                      scaling::architecture::workload{});
//   // s.rate (requests/s), s.bottleneck ("app"), s.stations (every tier's own limit)
//
// Thread safety: pure functions. Complexity: O(keys) per evaluation (a few passes over the
// keys; web_system's fixed point takes a handful), tens of milliseconds for 10^6 keys.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scaling/advisor/cache_model.hpp"
#include "scaling/advisor/stage_model.hpp"
#include "scaling/architecture/partitioned_system.hpp"
#include "scaling/architecture/scenario.hpp"
#include "scaling/architecture/service_system.hpp"
#include "scaling/architecture/web_system.hpp"
#include "scaling/core/error.hpp"

namespace scaling::architecture {

// The lab's objective in the advisor's terms.
[[nodiscard]] inline advisor::saturation_objective objective_of(const slo& objective) {
  return {.max_utilization = objective.max_utilization,
          .p99_s = std::chrono::duration<double>(objective.p99).count()};
}

// The probability of each key under the workload's Zipf law (key k is rank k + 1, as the lab
// draws them).
// Throws: scaling::invalid_argument if load.objects is 0 or zipf_s <= 0.
[[nodiscard]] inline std::vector<double> key_probabilities(const workload& load) {
  if (load.objects == 0)
    scaling::detail::throw_invalid_argument("scaling::architecture::key_probabilities",
                                            "load.objects", "must be >= 1", load.objects);
  if (!(load.zipf_s > 0))
    scaling::detail::throw_invalid_argument("scaling::architecture::key_probabilities",
                                            "load.zipf_s", "must be > 0", load.zipf_s);
  std::vector<double> q(load.objects);
  double total = 0;
  for (std::uint64_t k = 0; k < load.objects; ++k) {
    q[k] = std::pow(static_cast<double>(k + 1), -load.zipf_s);
    total += q[k];
  }
  for (double& p : q)
    p /= total;
  return q;
}

namespace detail {
[[nodiscard]] inline double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}
[[nodiscard]] inline double mean_s(const lab::distribution& d) {
  return d.mean_ns() / 1e9;
}
}  // namespace detail

// How the application cache keeps its entries, for the model.
enum class app_cache_law : std::uint8_t {
  most_read,  // W-TinyLFU, LFU: the most read keys (the default, as the stage-2 example runs)
  lru,        // recency: Che's approximation
};

struct web_system_demands {
  std::vector<advisor::station_demand> stations;
  double edge_hit_ratio = 0;      // of the reads the edge sees
  double app_hit_ratio = 0;       // of the reads the application cache sees
  double primary_read_share = 0;  // of the database's reads, those the primary serves
};

// What one offered request asks of each web_system station at offered load `rate`.
// Throws: scaling::invalid_argument for a bad workload or rate <= 0.
[[nodiscard]] inline web_system_demands demands(const web_system_options& o, const workload& load,
                                                double rate,
                                                app_cache_law law = app_cache_law::most_read) {
  if (!(rate > 0) || !std::isfinite(rate))
    scaling::detail::throw_invalid_argument("scaling::architecture::demands", "rate",
                                            "must be a finite load > 0", rate);
  const std::vector<double> q = key_probabilities(load);
  const double rf = load.read_fraction, wf = 1.0 - rf;
  web_system_demands d;

  // The edge: cacheable keys only, purged by writes, expiring after the TTL.
  std::vector<advisor::item_rates> edge_items;
  std::vector<std::size_t> edge_keys;
  double cacheable = 0;  // share of requests for cacheable keys
  if (o.cdn_cacheable_percent > 0) {
    for (std::size_t k = 0; k < q.size(); ++k) {
      if (k % 100 >= o.cdn_cacheable_percent) continue;
      edge_items.push_back({.reads = rate * rf * q[k], .writes = rate * wf * q[k]});
      edge_keys.push_back(k);
      cacheable += q[k];
    }
  }
  std::vector<double> edge_hit;
  d.edge_hit_ratio = advisor::lru_invalidated_hit_ratio(
      edge_items, static_cast<double>(o.cdn_capacity), detail::seconds(o.cdn_ttl), &edge_hit);

  // Reads that reach the app tier, per key (per offered request).
  std::vector<advisor::item_rates> app_items(q.size());
  for (std::size_t k = 0; k < q.size(); ++k)
    app_items[k] = {.reads = rate * rf * q[k], .writes = rate * wf * q[k]};
  for (std::size_t j = 0; j < edge_keys.size(); ++j)
    app_items[edge_keys[j]].reads *= 1.0 - edge_hit[j];
  double app_reads = 0;
  for (const auto& i : app_items)
    app_reads += i.reads;
  app_reads /= rate;
  const double edge_reads = rf * cacheable;

  // The application cache, then the database's reads and where they go.
  std::vector<double> app_hit;
  if (o.cache_capacity > 0) {
    d.app_hit_ratio =
        law == app_cache_law::most_read
            ? advisor::top_invalidated_hit_ratio(app_items, static_cast<double>(o.cache_capacity),
                                                 &app_hit)
            : advisor::lru_invalidated_hit_ratio(app_items, static_cast<double>(o.cache_capacity),
                                                 std::numeric_limits<double>::infinity(), &app_hit);
  } else {
    app_hit.assign(q.size(), 0.0);
  }
  const double lag = detail::seconds(o.replica_lag);
  double db_reads = 0, primary_reads = 0;
  for (std::size_t k = 0; k < q.size(); ++k) {
    const double r = app_items[k].reads, w = app_items[k].writes;
    const double misses = r * (1.0 - app_hit[k]);
    if (misses == 0) continue;
    db_reads += misses;
    // A cached key misses right after a write (its invalidation): the read comes Exp(r) after
    // it. An uncached key's read follows its last write by Exp(w).
    const double at_primary =
        !o.read_replicas ? 1.0 : (app_hit[k] > 0 ? -std::expm1(-r * lag) : -std::expm1(-w * lag));
    primary_reads += misses * at_primary;
  }
  db_reads /= rate;
  primary_reads /= rate;
  d.primary_read_share = db_reads > 0 ? primary_reads / db_reads : 0;

  if (o.cdn_cacheable_percent > 0)
    d.stations.push_back({.name = "edge",
                          .servers = 1,
                          .workers = o.edge_threads,
                          .visits = edge_reads,
                          .work_s = edge_reads * detail::mean_s(o.edge_service)});
  const double app_visits = wf + app_reads;
  d.stations.push_back({.name = "app",
                        .servers = o.app_servers,
                        .workers = o.app_threads,
                        .visits = app_visits,
                        .work_s = app_visits * detail::mean_s(o.app_service)});
  d.stations.push_back(
      {.name = "db-0",
       .servers = 1,
       .workers = o.db_threads,
       .visits = wf + primary_reads,
       .work_s = wf * detail::mean_s(o.db_write) + primary_reads * detail::mean_s(o.db_read)});
  if (o.read_replicas) {
    const double replica_reads = db_reads - primary_reads;
    d.stations.push_back({.name = "db-replicas",
                          .servers = o.replicas,
                          .workers = o.db_threads,
                          .visits = replica_reads,
                          .work_s = replica_reads * detail::mean_s(o.db_read)});
  }
  return d;
}

// What one offered request asks of each service_system station.
[[nodiscard]] inline std::vector<advisor::station_demand> demands(const service_system_options& o,
                                                                  const workload& load) {
  const std::vector<double> q = key_probabilities(load);
  double even = 0;  // users' share of the reads: even keys
  for (std::size_t k = 0; k < q.size(); k += 2)
    even += q[k];
  const double rf = load.read_fraction, wf = 1.0 - rf;
  const double users = rf * even, posts = rf * (1.0 - even);
  const double app = detail::mean_s(o.app_service), read = detail::mean_s(o.db_read),
               write = detail::mean_s(o.db_write);
  return {
      {.name = "users-app",
       .servers = o.app_servers,
       .workers = o.app_threads,
       .visits = users,
       .work_s = users * app},
      {.name = "users-db",
       .servers = 1,
       .workers = o.db_threads,
       .visits = users,
       .work_s = users * read},
      {.name = "posts-app",
       .servers = o.app_servers,
       .workers = o.app_threads,
       .visits = posts + wf,
       .work_s = (posts + wf) * app},
      {.name = "posts-db",
       .servers = 1,
       .workers = o.db_threads,
       .visits = posts + wf,
       .work_s = posts * read + wf * write},
      {.name = "notify-app",
       .servers = o.consumers,
       .workers = 1,
       .visits = wf,
       .work_s = wf * detail::mean_s(o.notify_service)},
      {.name = "notify-db",
       .servers = 1,
       .workers = o.db_threads,
       .visits = wf,
       .work_s = wf * write},
  };
}

// What one offered request asks of each partitioned_system station: one per node and region,
// with the node's share of the keys from the system's own placement, and the view consumers.
[[nodiscard]] inline std::vector<advisor::station_demand> demands(
    const partitioned_system_options& o, const workload& load) {
  if (o.nodes == 0 || o.regions == 0)
    scaling::detail::throw_invalid_argument("scaling::architecture::demands", "options.nodes",
                                            "nodes and regions must be >= 1", o.nodes);
  const std::vector<double> q = key_probabilities(load);
  std::vector<std::size_t> ids(o.nodes);
  for (std::size_t i = 0; i < o.nodes; ++i)
    ids[i] = i;
  const logical_shards<std::size_t> placement{o.logical_shards, ids};
  std::vector<double> share(o.nodes, 0.0);
  for (std::uint64_t k = 0; k < q.size(); ++k)
    share[placement.node_for_shard(placement.shard_for(k))] += q[k];
  const double rf = load.read_fraction, wf = 1.0 - rf;
  const double regions = static_cast<double>(o.regions);
  const double read = detail::mean_s(o.db_read), write = detail::mean_s(o.db_write);
  std::vector<advisor::station_demand> out;
  for (std::size_t n = 0; n < o.nodes; ++n) {
    for (std::size_t r = 0; r < o.regions; ++r) {
      const double reads = rf * share[n] / regions;
      const double writes = r == 0 ? wf * share[n] : 0.0;
      out.push_back(
          {.name = "db-" + std::to_string(n) + (r == 0 ? "" : "@region-" + std::to_string(r)),
           .servers = 1,
           .workers = o.db_threads,
           .visits = reads + writes,
           .work_s = reads * read + writes * write});
    }
  }
  out.push_back({.name = "views",
                 .servers = o.view_consumers,
                 .workers = 1,
                 .visits = wf,
                 .work_s = wf * detail::mean_s(o.view_service)});
  return out;
}

// The offered load at which a stage composition first breaks `objective`, and where.
[[nodiscard]] inline advisor::saturation_estimate predict_saturation(
    const web_system_options& o, const workload& load, const slo& objective = {},
    app_cache_law law = app_cache_law::most_read) {
  // The edge's TTL makes its hit ratio depend on the load: iterate load -> demands -> load.
  double rate = 1'000;
  advisor::saturation_estimate estimate;
  for (int i = 0; i < 20; ++i) {
    const auto d = demands(o, load, rate, law);
    estimate = advisor::predict_saturation(d.stations, objective_of(objective));
    if (!std::isfinite(estimate.rate)) return estimate;
    const bool settled = std::abs(estimate.rate / rate - 1) < 1e-3;
    rate = estimate.rate;
    if (settled) break;
  }
  return estimate;
}
[[nodiscard]] inline advisor::saturation_estimate predict_saturation(
    const service_system_options& o, const workload& load, const slo& objective = {}) {
  return advisor::predict_saturation(demands(o, load), objective_of(objective));
}
[[nodiscard]] inline advisor::saturation_estimate predict_saturation(
    const partitioned_system_options& o, const workload& load, const slo& objective = {}) {
  return advisor::predict_saturation(demands(o, load), objective_of(objective));
}

}  // namespace scaling::architecture
