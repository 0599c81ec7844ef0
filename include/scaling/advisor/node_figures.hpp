// scaling/advisor/node_figures.hpp: what one server does, with where the figure comes from.
//
// What it is: `advisor::node_figure`, a per-node capacity (requests per second, bytes, bytes
// per second) carried with its unit, the conditions it was measured under and its source, and
// `advisor::figures`, the defaults the capacity model and the advisor start from: Redis,
// memcached and PostgreSQL from their published benchmarks (shared/REFERENCE-CASES.md), and
// the few sizes no source gives (memory, disk, network per node, a queue consumer's rate),
// marked `assumption` so that every answer says which of its inputs are guesses.
//
// When to pick it: always override a figure with your own measurement when you have one
// (`node_figure::with_value` keeps the name and marks the source "override"); the defaults are
// there so that a first answer is possible, and so that the answer quotes what it assumed.
//
//   auto db = scaling::advisor::figures::postgres_read_only;      // 350,000/s, pgbench -S, 2016
//   auto mine = db.with_value(40'000);                             // what our replica measured
//
// Thread safety: immutable values. Complexity: O(1).
#pragma once

#include <string_view>

namespace scaling::advisor {

// Where a figure comes from: a published measurement, this project's own measurement, a
// value the user gave, or an assumption (no source publishes one; override it).
enum class figure_origin { published, measured_here, override, assumption };

[[nodiscard]] constexpr std::string_view to_string(figure_origin o) noexcept {
  switch (o) {
    case figure_origin::published:
      return "published";
    case figure_origin::measured_here:
      return "measured";
    case figure_origin::override:
      return "override";
    case figure_origin::assumption:
      return "assumption";
  }
  return "?";
}

struct node_figure {
  std::string_view name;        // e.g. "redis_get"
  double value = 0;             // in `unit`
  std::string_view unit;        // "requests/s", "bytes", "bytes/s"
  std::string_view conditions;  // what the figure was measured under
  std::string_view source;      // citation, or why it is an assumption
  figure_origin origin = figure_origin::assumption;

  // The same figure with the user's own value (origin `override`, source "given").
  [[nodiscard]] constexpr node_figure with_value(double v) const noexcept {
    node_figure f = *this;
    f.value = v;
    f.origin = figure_origin::override;
    f.source = "given by the user";
    return f;
  }
};

// The defaults. Throughputs are per server at the conditions quoted: production fleets run
// far below them (Twitter's timeline Redis averaged ~5K QPS per instance, sized by memory and
// tail latency), which is why the advisor plans at a utilization target, not at the figure.
namespace figures {

inline constexpr node_figure redis_get{"redis_get",
                                       80'000,
                                       "requests/s",
                                       "GET, no pipelining, one core",
                                       "redis.io, Redis benchmark page (redis-benchmark)",
                                       figure_origin::published};
inline constexpr node_figure redis_get_pipelined{
    "redis_get_pipelined",
    500'000,
    "requests/s",
    "GET pipelined 16 deep (-P 16), one core",
    "redis.io, Redis benchmark page (redis-benchmark -P 16)",
    figure_origin::published};
inline constexpr node_figure redis_get_small_vm{"redis_get_small_vm",
                                                22'000,
                                                "requests/s",
                                                "GET, 50 clients, no pipelining, 2-vCPU VM",
                                                "measured on Debian 12 (REFERENCE-CASES.md)",
                                                figure_origin::measured_here};
inline constexpr node_figure memcached_get{
    "memcached_get",
    200'000,
    "requests/s",
    "per server at 173 us, Facebook 2008",
    "Facebook Engineering, Scaling memcached at Facebook (2008)",
    figure_origin::published};
inline constexpr node_figure postgres_read_only{
    "postgres_read_only",
    350'000,
    "requests/s",
    "read-only pgbench (-S) transactions, large server, 2016 (350-400K)",
    "read-only pgbench on a large server, 2016 (REFERENCE-CASES.md)",
    figure_origin::published};
inline constexpr node_figure postgres_durable_writes{
    "postgres_durable_writes",
    5'000,
    "requests/s",
    "small durable write transactions per primary: a few thousand to tens of thousands, "
    "by storage; the low end",
    "REFERENCE-CASES.md (PostgreSQL, durable commits bound by fsync)",
    figure_origin::published};
inline constexpr node_figure cache_node_memory{
    "cache_node_memory",
    64.0 * (1ull << 30),
    "bytes",
    "usable RAM for values on one cache server",
    "no published figure; override with your instance size",
    figure_origin::assumption};
inline constexpr node_figure db_node_storage{
    "db_node_storage",
    2.0 * (1ull << 40),
    "bytes",
    "data one database server holds comfortably (disk, backups, vacuum headroom)",
    "no published figure; override with your instance size",
    figure_origin::assumption};
inline constexpr node_figure node_network{"node_network",
                                          1.25e9,
                                          "bytes/s",
                                          "a 10 Gbit/s NIC",
                                          "a common server NIC; override with yours",
                                          figure_origin::assumption};
inline constexpr node_figure queue_consumer{
    "queue_consumer",
    1'000,
    "messages/s",
    "one consumer doing a small database write per message",
    "no published figure; measure one consumer and override",
    figure_origin::assumption};
// Requests a database server works on at once (its cores): the 350K/s of postgres_read_only
// is spread over them, so one read takes workers / rate (0.18 ms) and the queueing model sees
// a node as that many servers (M/M/c with c = nodes x workers).
inline constexpr node_figure db_workers{
    "db_workers",
    64,
    "workers",
    "concurrent reads one database server runs (its cores)",
    "no published figure for the pgbench run; override with your server's cores",
    figure_origin::assumption};
// Bytes a cache spends per entry beyond key and value (dictionary slot, object header,
// expiry, LRU links): a few tens of bytes in Redis and memcached.
inline constexpr node_figure cache_entry_overhead{
    "cache_entry_overhead",
    64,
    "bytes",
    "per entry beyond the key and value",
    "Redis and memcached spend a few tens of bytes per item",
    figure_origin::assumption};

}  // namespace figures
}  // namespace scaling::advisor
