// scaling/advisor/advise.hpp: the seed's four questions answered from a workload description.
//
// What it is: `advisor::advise(workload)`, which answers, for the load given and for 10x and
// 100x of it (the seed's "Application": start with the bottleneck, name the patterns, explain
// the trade-offs, show the progression):
//   1. where the constraint is (CPU, memory, network or storage) and the number that makes it
//      binding, against one server of each kind (`node_capacities`);
//   2. the access pattern (read-heavy, write-heavy, mixed);
//   3. what the consistency need costs (replication lag, read-your-writes routing, staleness);
//   4. whether the complexity budget covers the stage of the seed's progression the load needs;
// and then the patterns to apply, in the order systems adopt them (CDN, application cache, read
// replicas, message queue, sharding, geographic distribution), each with the reason in numbers
// and its trade-offs (consistency, failure modes, operations: servers to run, what to monitor),
// and the capacity model's figures: predicted hit ratio and cache items (cache_model.hpp),
// replicas (queue_model.hpp: M/M/c at a utilization target and a p99 objective), shards
// (shard_model.hpp: writes and data with compound growth, and the layout's runway), queue
// consumers (queue_model.hpp: a burst drained within a target) and, with measured scaling
// points, the USL's peak (usl.hpp).
//
// When to pick it: for a first answer in a design review, and to see the progression a growing
// load forces. The rules are the seed's framework with explicit thresholds (in `advise`); the
// numbers are only as good as the per-node figures, which default to published benchmarks and
// should be overridden with your own measurements. The tool tools/scaling_advisor prints it;
// docs/selection.md has the decision table and worked examples.
//
//   scaling::advisor::workload w;
//   w.reads_per_s = 300'000; w.writes_per_s = 4'600; w.keys = 150'000'000; w.zipf_s = 0.9;
//   auto a = scaling::advisor::advise(w);
//   int stage = a.levels[0].stage;                       // and a.levels[1] at 10x, [2] at 100x
//
// Thread safety: pure functions and values. Complexity: a few cache-model solves per load
// level (milliseconds).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaling/advisor/cache_model.hpp"
#include "scaling/advisor/node_figures.hpp"
#include "scaling/advisor/queue_model.hpp"
#include "scaling/advisor/shard_model.hpp"
#include "scaling/advisor/usl.hpp"
#include "scaling/core/error.hpp"

namespace scaling::advisor {

enum class consistency_level { strong, read_your_writes, bounded_staleness, eventual };
enum class complexity_budget { low, medium, high };
enum class resource { cpu, memory, network, storage };
enum class access_pattern { read_heavy, write_heavy, mixed };
// Whether one copy of an object can serve every reader (a photo, a public page: an edge can
// cache it) or each reader gets their own (a home timeline, an inbox: only the application's
// cache can).
enum class content_scope { per_user, shared };
enum class pattern {
  cdn,
  application_cache,
  read_replicas,
  message_queue,
  sharding,
  geo_distribution,
};

[[nodiscard]] constexpr std::string_view to_string(consistency_level c) noexcept {
  switch (c) {
    case consistency_level::strong:
      return "strong";
    case consistency_level::read_your_writes:
      return "read-your-writes";
    case consistency_level::bounded_staleness:
      return "bounded-staleness";
    case consistency_level::eventual:
      return "eventual";
  }
  return "?";
}
[[nodiscard]] constexpr std::string_view to_string(complexity_budget c) noexcept {
  switch (c) {
    case complexity_budget::low:
      return "low";
    case complexity_budget::medium:
      return "medium";
    case complexity_budget::high:
      return "high";
  }
  return "?";
}
[[nodiscard]] constexpr std::string_view to_string(resource r) noexcept {
  switch (r) {
    case resource::cpu:
      return "CPU";
    case resource::memory:
      return "memory";
    case resource::network:
      return "network";
    case resource::storage:
      return "storage";
  }
  return "?";
}
[[nodiscard]] constexpr std::string_view to_string(content_scope c) noexcept {
  return c == content_scope::shared ? "shared" : "per-user";
}
[[nodiscard]] constexpr std::string_view to_string(access_pattern a) noexcept {
  switch (a) {
    case access_pattern::read_heavy:
      return "read-heavy";
    case access_pattern::write_heavy:
      return "write-heavy";
    case access_pattern::mixed:
      return "mixed";
  }
  return "?";
}
[[nodiscard]] constexpr std::string_view to_string(pattern p) noexcept {
  switch (p) {
    case pattern::cdn:
      return "cdn";
    case pattern::application_cache:
      return "application_cache";
    case pattern::read_replicas:
      return "read_replicas";
    case pattern::message_queue:
      return "message_queue";
    case pattern::sharding:
      return "sharding";
    case pattern::geo_distribution:
      return "geo_distribution";
  }
  return "?";
}
// The pattern's page under docs/patterns/ (geographic distribution has none of its own).
[[nodiscard]] constexpr std::string_view page_of(pattern p) noexcept {
  switch (p) {
    case pattern::cdn:
      return "docs/patterns/cdn.md";
    case pattern::application_cache:
      return "docs/patterns/application-caching.md";
    case pattern::read_replicas:
      return "docs/patterns/database-replication.md";
    case pattern::message_queue:
      return "docs/patterns/message-queues.md";
    case pattern::sharding:
      return "docs/patterns/sharding.md";
    case pattern::geo_distribution:
      return "docs/selection.md#geographic-distribution";
  }
  return "";
}

struct consistency_need {
  consistency_level level = consistency_level::eventual;
  double max_staleness_s = 0;  // for bounded_staleness: how old a read may be, seconds
};

// One server of each kind the plan counts. Every figure carries its source; override with
// node_figure::with_value.
struct node_capacities {
  node_figure read_node = figures::postgres_read_only;        // a database server's reads/s
  node_figure write_node = figures::postgres_durable_writes;  // a primary's durable writes/s
  node_figure cache_node = figures::redis_get;                // a cache server's requests/s
  node_figure cache_memory = figures::cache_node_memory;      // a cache (or edge) server's RAM
  node_figure db_storage = figures::db_node_storage;          // a database server's data
  node_figure network = figures::node_network;                // a server's NIC
  node_figure consumer = figures::queue_consumer;             // one queue consumer's rate
  node_figure entry_overhead = figures::cache_entry_overhead;
  node_figure db_workers = figures::db_workers;  // reads a server runs at once

  [[nodiscard]] std::array<const node_figure*, 9> all() const noexcept {
    return {&read_node, &write_node, &cache_node,     &cache_memory, &db_storage,
            &network,   &consumer,   &entry_overhead, &db_workers};
  }
  [[nodiscard]] std::size_t workers() const noexcept {
    return static_cast<std::size_t>(std::max(1.0, std::round(db_workers.value)));
  }
};

struct workload {
  // Load.
  double reads_per_s = 0;
  double writes_per_s = 0;
  // Keys and popularity (Zipf exponent; 0 is uniform).
  std::uint64_t keys = 1;
  double zipf_s = 0.9;
  double object_bytes = 1'024;
  content_scope content = content_scope::per_user;
  // Data and its growth (compound, per month).
  double data_bytes = 0;
  double monthly_growth = 0;
  consistency_need consistency;
  double latency_slo_s = 0.1;  // p99 of a read, seconds
  unsigned regions = 1;
  complexity_budget complexity = complexity_budget::medium;

  // Planning targets.
  double target_hit_ratio = 0.9;    // the cache is sized for it; in [0, 1)
  double utilization_target = 0.7;  // servers are planned at this share of their capacity
  double fill_target = 0.7;         // disks and cache memory at this share
  double horizon_months = 24;       // data is planned for this far ahead
  double burst_multiple = 1;        // peak writes / average writes
  double burst_s = 0;               // how long a peak lasts, seconds
  double drain_target_s = 300;      // a burst's backlog must be gone this long after it ends
  std::size_t current_shards = 1;   // primaries today: the layout whose runway is reported

  // A measured hit-ratio curve (tools/cache_replay) replaces the Zipf formula when present.
  std::optional<hit_ratio_curve> hit_curve;
  cache_policy_model cache_policy = cache_policy_model::lru;
  // Measured (servers, throughput) points of the read tier; the USL fit caps scale-out.
  std::vector<usl_point> scaling_points;

  node_capacities nodes;
};

// Checks every field; the parameter named in the exception is the field's name.
// Throws: scaling::invalid_argument naming the field, the rule and the value.
inline void validate(const workload& w) {
  constexpr auto who = "scaling::advisor::workload";
  auto non_negative = [&](const char* name, double v) {
    if (!(v >= 0.0) || !std::isfinite(v))
      scaling::detail::throw_invalid_argument(who, name, "must be a finite number >= 0", v);
  };
  auto positive = [&](const char* name, double v) {
    if (!(v > 0.0) || !std::isfinite(v))
      scaling::detail::throw_invalid_argument(who, name, "must be a finite number > 0", v);
  };
  non_negative("reads_per_s", w.reads_per_s);
  non_negative("writes_per_s", w.writes_per_s);
  if (w.keys == 0 || w.keys > zipf_popularity::max_items)
    scaling::detail::throw_invalid_argument(who, "keys", "must be in [1, 2^53]", w.keys);
  if (!(w.zipf_s >= 0.0 && w.zipf_s <= zipf_popularity::max_skew))
    scaling::detail::throw_invalid_argument(who, "zipf_s", "must be in [0, 4]", w.zipf_s);
  positive("object_bytes", w.object_bytes);
  non_negative("data_bytes", w.data_bytes);
  non_negative("monthly_growth", w.monthly_growth);
  if (w.consistency.level == consistency_level::bounded_staleness)
    positive("max_staleness_s", w.consistency.max_staleness_s);
  positive("latency_slo_s", w.latency_slo_s);
  if (w.regions == 0)
    scaling::detail::throw_invalid_argument(who, "regions", "must be >= 1", w.regions);
  if (!(w.target_hit_ratio >= 0.0 && w.target_hit_ratio < 1.0))
    scaling::detail::throw_invalid_argument(who, "target_hit_ratio", "must be in [0, 1)",
                                            w.target_hit_ratio);
  if (!(w.utilization_target > 0.0 && w.utilization_target < 1.0))
    scaling::detail::throw_invalid_argument(who, "utilization_target", "must be in (0, 1)",
                                            w.utilization_target);
  if (!(w.fill_target > 0.0 && w.fill_target <= 1.0))
    scaling::detail::throw_invalid_argument(who, "fill_target", "must be in (0, 1]", w.fill_target);
  non_negative("horizon_months", w.horizon_months);
  if (!(w.burst_multiple >= 1.0) || !std::isfinite(w.burst_multiple))
    scaling::detail::throw_invalid_argument(who, "burst_multiple", "must be a finite number >= 1",
                                            w.burst_multiple);
  non_negative("burst_s", w.burst_s);
  non_negative("drain_target_s", w.drain_target_s);
  if (w.current_shards == 0)
    scaling::detail::throw_invalid_argument(who, "current_shards", "must be >= 1",
                                            w.current_shards);
  for (const node_figure* f : w.nodes.all()) {
    if (!(f->value > 0.0) || !std::isfinite(f->value))
      scaling::detail::throw_invalid_argument(who, f->name, "must be a finite number > 0",
                                              f->value);
  }
}

// How much of one server a demand needs: ratio = demand / capacity.
struct resource_use {
  resource what = resource::cpu;
  double ratio = 0;
  std::string detail;  // the demand and the server, in words and numbers
};

struct pattern_step {
  pattern what = pattern::cdn;
  std::string reason;         // why, with the numbers
  std::string consistency;    // what it does to reads after writes
  std::string failure_modes;  // what breaks and how it shows
  std::string operations;     // servers to run, what to monitor
};

struct capacity_numbers {
  double predicted_hit_ratio = 0;  // of the application cache at cache_items
  double cache_items = 0;          // items for the target hit ratio (or the curve's reach)
  double cache_memory_bytes = 0;
  std::size_t cache_nodes = 0;  // for memory and for request rate
  double cdn_offload = 0;       // an edge server's hit ratio
  double db_reads_per_s = 0;    // reads reaching the database after the CDN and the cache
  server_plan replicas;         // database servers answering reads (1 = the primary alone)
  std::size_t replicas_per_region = 0;
  std::size_t shards = 1;
  std::size_t shards_for_writes = 1;
  std::size_t shards_for_data = 1;
  double data_at_horizon_bytes = 0;
  runway layout;                    // of `shards` shards
  runway current_layout;            // of the workload's current_shards: when it runs out
  std::size_t queue_consumers = 0;  // to carry the writes and drain a burst within the target
  double burst_backlog = 0;         // messages queued at the end of a burst, at that many
  double burst_backlog_bytes = 0;
  std::optional<usl_fit> read_tier_usl;
};

struct advice_level {
  double load_multiple = 1;
  double reads_per_s = 0;
  double writes_per_s = 0;
  int stage = 1;  // of the seed's progression, 1-4
  resource binding_constraint = resource::cpu;
  std::string binding_reason;
  access_pattern access = access_pattern::mixed;
  std::array<resource_use, 4> resources;
  std::vector<pattern_step> patterns;  // in the order to apply them
  capacity_numbers numbers;
  std::vector<std::string> notes;  // consistency cost, budget, model limits
  [[nodiscard]] bool applies(pattern p) const noexcept {
    return std::any_of(patterns.begin(), patterns.end(),
                       [p](const pattern_step& s) { return s.what == p; });
  }
};

struct advice {
  std::vector<advice_level> levels;      // the load given, then each multiple
  std::string consistency_cost;          // the consistency need, in operational terms
  std::vector<std::string> progression;  // "at 10x: ..." lines
  std::vector<node_figure> figures;      // every per-node figure used, with its source
};

namespace detail {

[[nodiscard]] inline std::string group_digits(std::string digits) {
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}
// 1234567.8 -> "1,234,568"; values under 100 that are not whole keep 3 significant digits.
[[nodiscard]] inline std::string num(double v) {
  if (!std::isfinite(v)) return v > 0 ? "unbounded" : "-unbounded";
  char buf[64];
  if (std::abs(v) < 100 && v != std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.0f", std::round(std::abs(v)));
  return (v < 0 ? "-" : "") + group_digits(buf);
}
template <std::unsigned_integral I>
[[nodiscard]] std::string num(I v) {
  return group_digits(std::to_string(v));
}
[[nodiscard]] inline std::string bytes(double v) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}
[[nodiscard]] inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
[[nodiscard]] inline std::string ms(double seconds) {
  if (!std::isfinite(seconds)) return "unbounded";
  return fixed(seconds * 1e3, seconds * 1e3 < 10 ? 2 : 0) + " ms";
}
[[nodiscard]] inline std::string duration_words(double seconds) {
  if (!std::isfinite(seconds)) return "never";
  if (seconds < 120) return fixed(seconds, 0) + " s";
  if (seconds < 7'200) return fixed(seconds / 60, 0) + " min";
  return fixed(seconds / 3'600, 1) + " h";
}
[[nodiscard]] inline std::string months_words(double months) {
  if (!std::isfinite(months)) return "never (no growth)";
  if (months <= 0.0) return "already";
  return "in " + fixed(months, 1) + " months";
}

[[nodiscard]] inline int max_stage(complexity_budget b) noexcept {
  switch (b) {
    case complexity_budget::low:
      return 2;
    case complexity_budget::medium:
      return 3;
    case complexity_budget::high:
      return 4;
  }
  return 4;
}

[[nodiscard]] inline std::string consistency_cost(const consistency_need& c, unsigned regions) {
  std::string s;
  switch (c.level) {
    case consistency_level::strong:
      s = "strong: reads go to the primary or to synchronous replicas (PostgreSQL "
          "synchronous_commit = remote_apply), so each write waits for the slowest of them; "
          "a cache only with write-through and invalidation under a lease, a CDN only for "
          "immutable (versioned) objects";
      if (regions > 1) s += "; across regions every write pays a WAN round trip";
      break;
    case consistency_level::read_your_writes:
      s = "read-your-writes: asynchronous replicas lag (normally well under a second, minutes "
          "under a long transaction or a saturated replica), so a user's reads go to the primary, "
          "or to a replica that has replayed past the user's last write position, for a window "
          "after each write; a write deletes its cache entry; edge objects use versioned URLs";
      break;
    case consistency_level::bounded_staleness:
      s = "bounded staleness of " + num(c.max_staleness_s) +
          " s: a replica whose replay lag passes the bound leaves rotation, and cache and edge "
          "TTLs are at most the bound, so every copy is at most that old";
      break;
    case consistency_level::eventual:
      s = "eventual: replicas, caches and edges may lag; monitor replication lag so that "
          "\"eventually\" stays seconds, not minutes";
      break;
  }
  return s;
}

}  // namespace detail

// Advice for one load level: `w` with its rates multiplied by `multiple` (keys, data and
// growth stay: the multiple is more traffic on the same data; growth is modelled per month).
// Throws: scaling::invalid_argument if `w` is invalid (validate) or multiple is not > 0.
[[nodiscard]] inline advice_level advise_level(const workload& w, double multiple) {
  using detail::bytes;
  using detail::fixed;
  using detail::num;
  validate(w);
  if (!(multiple > 0.0) || !std::isfinite(multiple))
    scaling::detail::throw_invalid_argument("scaling::advisor::advise_level", "multiple",
                                            "must be a finite number > 0", multiple);
  const auto& n = w.nodes;
  const double u = w.utilization_target;
  const double reads = w.reads_per_s * multiple;
  const double writes = w.writes_per_s * multiple;
  const double entry_bytes = w.object_bytes + n.entry_overhead.value;

  advice_level a;
  a.load_multiple = multiple;
  a.reads_per_s = reads;
  a.writes_per_s = writes;
  a.access = reads >= 4 * writes ? access_pattern::read_heavy
             : writes >= reads   ? access_pattern::write_heavy
                                 : access_pattern::mixed;

  // The cache model: the application cache sized for the target, and an edge of one cache
  // server's memory.
  const hit_ratio_model model =
      w.hit_curve ? hit_ratio_model::measured(*w.hit_curve)
                  : hit_ratio_model::zipf(zipf_popularity{w.keys, w.zipf_s}, w.cache_policy);
  auto& num_ = a.numbers;
  const auto items = model.size_for(w.target_hit_ratio);
  if (items) {
    num_.cache_items = std::ceil(std::min(*items, static_cast<double>(w.keys)));
  } else {
    num_.cache_items = w.hit_curve->points().back().size;
    a.notes.push_back("the measured hit-ratio curve stops at " +
                      fixed(w.hit_curve->points().back().hit_ratio, 3) + ", below the target " +
                      fixed(w.target_hit_ratio, 3) + ": the cache is sized at its last point");
  }
  num_.predicted_hit_ratio = model.hit_ratio(num_.cache_items);
  num_.cache_memory_bytes = num_.cache_items * entry_bytes;
  const double edge_objects = n.cache_memory.value * w.fill_target / entry_bytes;
  num_.cdn_offload = model.hit_ratio(edge_objects);

  // 1. Where is the constraint? One server of each kind against the raw demand.
  const double data_horizon = compound_growth(w.data_bytes, w.monthly_growth, w.horizon_months);
  num_.data_at_horizon_bytes = data_horizon;
  const double write_ratio = writes / n.write_node.value;
  const double data_ratio = data_horizon / n.db_storage.value;
  a.resources[0] = {resource::cpu, reads / n.read_node.value,
                    num(reads) + " reads/s against " + num(n.read_node.value) + "/s of one " +
                        std::string(n.read_node.name) + " server"};
  a.resources[1] = {resource::memory, num_.cache_memory_bytes / n.cache_memory.value,
                    "the " + num(num_.cache_items) + " hottest items (" +
                        fixed(num_.predicted_hit_ratio * 100, 1) + "% of reads) take " +
                        bytes(num_.cache_memory_bytes) + " against " + bytes(n.cache_memory.value) +
                        " of one server"};
  a.resources[2] = {resource::network, (reads + writes) * w.object_bytes / n.network.value,
                    bytes((reads + writes) * w.object_bytes) + "/s of objects against " +
                        bytes(n.network.value) + "/s of one NIC"};
  a.resources[3] = {resource::storage, std::max(write_ratio, data_ratio),
                    write_ratio >= data_ratio
                        ? num(writes) + " durable writes/s against " + num(n.write_node.value) +
                              "/s of one " + std::string(n.write_node.name) + " primary"
                        : bytes(data_horizon) + " of data in " + num(w.horizon_months) +
                              " months against " + bytes(n.db_storage.value) + " of one server"};
  const bool strong = w.consistency.level == consistency_level::strong;
  const bool edge_ok = !strong;
  const std::string ttl_words =
      w.consistency.level == consistency_level::bounded_staleness
          ? "a TTL of at most " + num(w.consistency.max_staleness_s) + " s"
      : w.consistency.level == consistency_level::read_your_writes ? "delete-on-write plus a TTL"
                                                                   : "a TTL";

  // 2-3. The patterns, in the order of the seed's progression.
  const bool network_bound = a.resources[2].ratio > u;
  double remaining_reads = reads;

  if (edge_ok && w.content == content_scope::shared && (w.regions > 1 || network_bound)) {
    const double origin = reads * (1 - num_.cdn_offload);
    pattern_step s{pattern::cdn};
    s.reason = (w.regions > 1 ? "readers in " + num(w.regions) + " regions" : std::string{}) +
               (w.regions > 1 && network_bound ? ", and " : "") +
               (network_bound ? "objects at " + bytes(reads * w.object_bytes) +
                                    "/s exceed one NIC at the target"
                              : std::string{}) +
               ": an edge of " + bytes(n.cache_memory.value) + " holds " + num(edge_objects) +
               " objects and serves " + fixed(num_.cdn_offload * 100, 1) + "% of reads, leaving " +
               num(origin) + "/s for the origin";
    s.consistency = "edge copies live for " + ttl_words +
                    "; purges are asynchronous, so a changed object can be served stale until "
                    "its purge lands (versioned URLs avoid it)";
    s.failure_modes =
        "a purge storm or a cold POP sends the misses to the origin at once; an "
        "origin outage shows through unless stale-if-error serves old copies";
    s.operations =
        "a CDN contract or POP servers; monitor offload (hit ratio) per POP, origin "
        "request rate, purge latency, 5xx at the edge";
    a.patterns.push_back(std::move(s));
    remaining_reads = origin;
  }

  const double cache_capacity_reads = n.read_node.value * u;
  const bool read_bound = remaining_reads > cache_capacity_reads;
  // Would the database servers the utilization target asks for miss the p99 objective?
  const bool slo_tight =
      remaining_reads > 0 &&
      plan_servers(remaining_reads / w.regions, n.read_node.value, u, w.latency_slo_s, n.workers())
              .limited_by != plan_limit::utilization;
  const bool db_network_bound = remaining_reads * w.object_bytes > n.network.value * u;
  if (!strong && (read_bound || slo_tight || db_network_bound)) {
    const double cache_reads = remaining_reads;
    // Enough cache servers for the items (memory), the request rate and the bytes (NIC).
    num_.cache_nodes =
        std::max({static_cast<std::size_t>(
                      std::ceil(num_.cache_memory_bytes / (n.cache_memory.value * w.fill_target))),
                  static_cast<std::size_t>(std::ceil(cache_reads / (n.cache_node.value * u))),
                  static_cast<std::size_t>(
                      std::ceil(cache_reads * w.object_bytes / (n.network.value * u)))});
    num_.cache_nodes = std::max<std::size_t>(1, num_.cache_nodes);
    pattern_step s{pattern::application_cache};
    s.reason =
        num(cache_reads) + " reads/s" +
        (read_bound
             ? " exceed one database server at the target (" + num(cache_capacity_reads) + "/s)"
         : db_network_bound
             ? " (" + bytes(cache_reads * w.object_bytes) + "/s) exceed one NIC at the target"
             : " would miss the p99 objective of " + detail::ms(w.latency_slo_s)) +
        "; a cache of " + num(num_.cache_items) + " items (" + bytes(num_.cache_memory_bytes) +
        ") hits " + fixed(num_.predicted_hit_ratio * 100, 1) + "% (" +
        (w.hit_curve ? std::string("measured curve")
                     : std::string(w.cache_policy == cache_policy_model::lru
                                       ? "Che's LRU approximation, Zipf s = "
                                       : "static top-C bound, Zipf s = ") +
                           fixed(w.zipf_s, 2) + " over " + num(w.keys) + " keys") +
        ")";
    s.consistency = "cache entries live for " + ttl_words +
                    "; a write racing a read miss can put an old value back (delete after the "
                    "write, and keep TTLs short)";
    s.failure_modes =
        "a cold or flushed cache sends every read to the database (warm it, or "
        "coalesce misses with single-flight); a hot key overloads one cache node; "
        "expiry stampedes";
    s.operations = num(num_.cache_nodes) + " cache servers (" + std::string(n.cache_node.name) +
                   "); monitor hit ratio, evictions, memory, per-node request rate and the "
                   "database's read rate behind the cache";
    a.patterns.push_back(std::move(s));
    remaining_reads = cache_reads * (1 - num_.predicted_hit_ratio);
  }
  num_.db_reads_per_s = remaining_reads;
  // Memory binds only when the reads need a cache: otherwise the database's own buffer cache
  // is enough and the hot set is a figure, not a constraint.
  if (!a.applies(pattern::application_cache)) {
    a.resources[1].ratio = 0;
    a.resources[1].detail = "no cache needed (" + a.resources[1].detail + ")";
  }
  const auto binding = std::max_element(
      a.resources.begin(), a.resources.end(),
      [](const resource_use& x, const resource_use& y) { return x.ratio < y.ratio; });
  a.binding_constraint = binding->what;
  a.binding_reason = std::string(to_string(binding->what)) + ": " + binding->detail + " (" +
                     fixed(binding->ratio, 2) + " of it; plans keep servers at " + fixed(u, 2) +
                     ")";

  // Replicas: M/M/c on the reads that reach the database, in each region.
  const double per_region = remaining_reads / w.regions;
  num_.replicas = plan_servers(per_region, n.read_node.value, u, w.latency_slo_s, n.workers());
  num_.replicas_per_region = num_.replicas.servers;
  const std::size_t total_replicas = num_.replicas.servers * w.regions;
  if (!w.scaling_points.empty()) {
    num_.read_tier_usl = fit_usl(w.scaling_points);
    const double peak = num_.read_tier_usl->law.peak();
    if (static_cast<double>(num_.replicas.servers) > peak)
      a.notes.push_back("the read tier's measured scaling peaks at " + fixed(peak, 1) +
                        " servers (USL sigma " + fixed(num_.read_tier_usl->law.sigma, 3) +
                        ", kappa " + fixed(num_.read_tier_usl->law.kappa, 5) +
                        "): " + num(num_.replicas.servers) +
                        " replicas would lower throughput; shard the reads instead");
  }
  if (num_.replicas.limited_by == plan_limit::unreachable)
    a.notes.push_back(
        "the p99 objective of " + detail::ms(w.latency_slo_s) + " is below what one " +
        std::string(n.read_node.name) +
        " server answers in with no queue at all (p99 of its service time " +
        detail::ms(std::log(100.0) * static_cast<double>(n.workers()) / n.read_node.value) +
        "): cache, or use faster servers");
  if (num_.replicas.servers > 1) {
    pattern_step s{pattern::read_replicas};
    s.reason = num(per_region) + " reads/s reach the database" +
               (w.regions > 1 ? " in each region" : std::string{}) + ": " +
               num(num_.replicas.servers) + " servers at " + fixed(num_.replicas.utilization, 2) +
               " utilization (M/M/c: P(wait) " + fixed(num_.replicas.wait_probability, 3) +
               ", mean wait " + detail::ms(num_.replicas.mean_wait) + ", p99 wait " +
               detail::ms(num_.replicas.p99_wait) + ", p99 response " +
               detail::ms(num_.replicas.p99_response) + ")" +
               (num_.replicas.limited_by == plan_limit::latency
                    ? std::string(", sized by the p99 objective")
                    : std::string{});
    s.consistency = strong ? "synchronous replicas (remote_apply): reads see every committed "
                             "write, and every write waits for the slowest replica"
                           : "asynchronous replicas lag the primary (replication lag); "
                             "read-your-writes reads go to the primary after a write";
    s.failure_modes =
        "lag grows under long transactions or replica overload; a failover can "
        "lose the last asynchronous writes; a lagging replica serves stale data "
        "unless taken out of rotation";
    s.operations = num(total_replicas) + " database servers answering reads (1 primary + " +
                   num(total_replicas - 1) + (total_replicas == 2 ? " replica" : " replicas") +
                   "); monitor replay lag (pg_stat_replication), per-replica load and "
                   "latency, and failover readiness";
    a.patterns.push_back(std::move(s));
  }

  // Shards for the writes and the data.
  num_.shards_for_writes = shards_for_writes(writes, n.write_node.value, u);
  num_.shards_for_data = shards_for_data(w.data_bytes, w.monthly_growth, w.horizon_months,
                                         n.db_storage.value, w.fill_target);
  num_.shards = std::max(num_.shards_for_writes, num_.shards_for_data);
  num_.layout = layout_runway(num_.shards, w.data_bytes, w.monthly_growth, n.db_storage.value,
                              w.fill_target, writes, n.write_node.value, u);
  num_.current_layout =
      layout_runway(w.current_shards, w.data_bytes, w.monthly_growth, n.db_storage.value,
                    w.fill_target, writes, n.write_node.value, u);

  // The queue: consumers that carry the writes and drain a burst within the target.
  const burst b{writes, writes * w.burst_multiple, w.burst_s, n.consumer.value};
  num_.queue_consumers = writes > 0 ? b.consumers_to_drain_within(w.drain_target_s) : 0;
  num_.burst_backlog = writes > 0 ? b.backlog(num_.queue_consumers) : 0;
  num_.burst_backlog_bytes = num_.burst_backlog * w.object_bytes;
  const double primaries_carry = static_cast<double>(num_.shards) * n.write_node.value * u;
  const bool burst_over = w.burst_s > 0 && writes * w.burst_multiple > primaries_carry;
  if (burst_over) {
    pattern_step s{pattern::message_queue};
    const burst at_primaries{writes, writes * w.burst_multiple, w.burst_s, primaries_carry};
    s.reason = "peaks of " + num(writes * w.burst_multiple) + " writes/s (" +
               num(w.burst_multiple) + "x for " + detail::duration_words(w.burst_s) +
               ") exceed the " + num(primaries_carry) +
               "/s the primaries carry: queued, "
               "they back up to " +
               num(at_primaries.backlog(1)) + " messages (" +
               bytes(at_primaries.backlog(1) * w.object_bytes) + ") and drain in " +
               detail::duration_words(at_primaries.drain_time(1)) + "; " +
               num(num_.queue_consumers) + " consumers at " + num(n.consumer.value) +
               "/s each drain a burst within " + detail::duration_words(w.drain_target_s);
    s.consistency = strong ? "a queued write is durable but not yet visible: strong reads of "
                             "it must wait for its consumer (or read the queue)"
                           : "a queued write becomes visible when consumed: reads lag by the "
                             "queue's depth; read-your-writes needs the writer to see its own "
                             "pending writes";
    s.failure_modes =
        "a poison message redelivered forever (dead-letter it); consumers that "
        "fall behind grow the backlog; duplicates after a redelivery (make "
        "consumers idempotent)";
    const double drain_rate = static_cast<double>(num_.queue_consumers) * n.consumer.value;
    if (drain_rate > primaries_carry)
      a.notes.push_back("draining within " + detail::duration_words(w.drain_target_s) +
                        " has the consumers write " + num(drain_rate) + "/s, more than the " +
                        num(primaries_carry) + "/s the primaries carry at the target: " +
                        num(shards_for_writes(drain_rate, n.write_node.value, u)) +
                        " shards, or a longer drain target");
    s.operations = "a broker (or Redis Streams) with replication, and " +
                   num(num_.queue_consumers) +
                   " consumers; monitor queue depth, age of the oldest message, consumer lag, "
                   "redeliveries and the dead-letter queue";
    a.patterns.push_back(std::move(s));
  }

  const bool write_over = num_.shards_for_writes > 1;
  const bool data_over = num_.shards_for_data > 1;
  bool usl_over = false;
  if (num_.read_tier_usl &&
      static_cast<double>(num_.replicas.servers) > num_.read_tier_usl->law.peak())
    usl_over = true;
  if (write_over || data_over || usl_over) {
    pattern_step s{pattern::sharding};
    std::string why;
    if (write_over)
      why = num(writes) + " writes/s need " + num(num_.shards_for_writes) + " primaries at " +
            num(n.write_node.value * u) + "/s each";
    if (data_over)
      why += (why.empty() ? "" : "; ") + bytes(data_horizon) + " of data in " +
             num(w.horizon_months) + " months (" + fixed(w.monthly_growth * 100, 1) +
             "% a month from " + bytes(w.data_bytes) + ") need " + num(num_.shards_for_data) +
             " servers at " + fixed(w.fill_target, 2) + " full";
    if (usl_over)
      why += (why.empty() ? "" : "; ") + std::string("the read tier passes its USL peak");
    s.reason = why + ": " + num(num_.shards) + " shards, which the data fills " +
               detail::months_words(num_.layout.months) + " and which carry " +
               fixed(num_.layout.load_multiple, 2) + "x this write load";
    s.consistency =
        "a transaction or a read that spans shards loses atomicity and isolation; "
        "keep what must be consistent together under one shard key";
    s.failure_modes =
        "a hot key or a celebrity overloads one shard; cross-shard queries fan "
        "out (and their tail latency with them); resharding moves data under "
        "load (logical shards mapped onto fewer servers move without re-bucketing)";
    s.operations = num(num_.shards) +
                   " primaries (each with its replicas); monitor per-shard "
                   "load and size skew, the hottest keys, and rebalancing progress";
    a.patterns.push_back(std::move(s));
  }

  if (w.regions > 1) {
    pattern_step s{pattern::geo_distribution};
    s.reason = "readers in " + num(w.regions) + " regions: a region-local cache and " +
               num(num_.replicas_per_region) + " read servers in each keep reads inside the region";
    s.consistency = strong ? "strong reads across regions need a quorum or the home region: "
                             "a WAN round trip (tens to hundreds of ms) per write"
                           : "writes go to one home region per key and replicate out; other "
                             "regions read copies that lag by the WAN replication delay";
    s.failure_modes =
        "a region partition: either refuse writes for keys homed elsewhere or "
        "accept conflicting writes and resolve them; failover of a home region";
    s.operations =
        "a full stack per region; monitor cross-region replication lag, per-region "
        "traffic, and rehearse region failover";
    a.patterns.push_back(std::move(s));
  }

  // The stage of the progression: the highest the patterns need.
  a.stage = 1;
  for (const auto& p : a.patterns) {
    switch (p.what) {
      case pattern::cdn:
        a.stage = std::max(a.stage, w.regions > 1 ? 4 : 1);
        break;
      case pattern::application_cache:
      case pattern::read_replicas:
        a.stage = std::max(a.stage, 2);
        break;
      case pattern::message_queue:
        a.stage = std::max(a.stage, 3);
        break;
      case pattern::sharding:
      case pattern::geo_distribution:
        a.stage = 4;
        break;
    }
  }
  if (strong && (read_bound || slo_tight))
    a.notes.push_back(
        "strong consistency rules out the cache for these reads: the replicas "
        "carry them all, synchronously");
  const int allowed = detail::max_stage(w.complexity);
  if (a.stage > allowed)
    a.notes.push_back("the load needs stage " + std::to_string(a.stage) + ", beyond a " +
                      std::string(to_string(w.complexity)) + " complexity budget (up to stage " +
                      std::to_string(allowed) +
                      "): buy bigger servers first (override the figures with the largest "
                      "instance you would run), relax consistency, or raise the budget");
  return a;
}

// Advice for the load given and for each multiple in `multiples` (default 10x and 100x).
// Throws: scaling::invalid_argument if `w` is invalid (validate) or a multiple is not > 0.
[[nodiscard]] inline advice advise(const workload& w,
                                   const std::vector<double>& multiples = {10.0, 100.0}) {
  validate(w);
  advice out;
  out.consistency_cost = detail::consistency_cost(w.consistency, w.regions);
  out.levels.push_back(advise_level(w, 1.0));
  for (const double m : multiples)
    out.levels.push_back(advise_level(w, m));
  for (const node_figure* f : w.nodes.all())
    out.figures.push_back(*f);
  const auto& base = out.levels.front();
  for (std::size_t i = 1; i < out.levels.size(); ++i) {
    const auto& l = out.levels[i];
    std::string line = "at " + detail::num(l.load_multiple) + "x: stage " +
                       std::to_string(l.stage) + ", bound by " +
                       std::string(to_string(l.binding_constraint));
    std::string added;
    for (const auto& p : l.patterns)
      if (!base.applies(p.what))
        added += (added.empty() ? "" : ", ") + std::string(to_string(p.what));
    line += added.empty() ? "; the same patterns" : "; we'd add " + added;
    line += " (read servers " + detail::num(l.numbers.replicas.servers * w.regions) + ", shards " +
            detail::num(l.numbers.shards) + ", cache servers " +
            detail::num(l.numbers.cache_nodes) + ", queue consumers " +
            detail::num(l.numbers.queue_consumers) + ")";
    out.progression.push_back(std::move(line));
  }
  return out;
}

}  // namespace scaling::advisor
