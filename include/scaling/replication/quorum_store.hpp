// scaling/replication/quorum_store.hpp: a leaderless, partitioned, replicated wide-row store
// with tunable consistency (the Dynamo / Cassandra design), in process.
//
// What it is: `quorum_store<Partition, Clustering, Value, Compare, Clock>` keeps rows
// (partition key, clustering key) -> value on `nodes` in-process nodes. A partition's N replicas
// are the first N distinct nodes of a `hash_ring` from the partition key (`nodes_for`). Any node
// coordinates any request; each request names its consistency level (one, quorum, all): a write
// goes to every reachable replica and is acknowledged after W of them applied it, a read asks R
// replicas and merges their answers. R + W > N gives read-your-writes; ONE/ONE is fast and may
// read stale data (counted). Conflicts resolve last-write-wins by timestamp; a delete writes a
// tombstone. The repair machinery is the real one, simplified:
//   hinted handoff   a replica that is down or cut off gets a hint at the coordinator, replayed
//                    when it comes back (recover, heal), dropped after `hint_window`;
//   read repair      replicas that answered a read with older cells get the merged ones;
//   anti-entropy     repair() compares per-range digests of every replica set (a one-level
//                    Merkle tree: partitions hashed into `repair_ranges` buckets) and streams
//                    only the ranges that differ;
//   speculative retry  a read still waiting after `speculative_retry_after` asks one more
//                    replica and completes with the first R answers.
// Rows are wide: a partition keeps its clustering keys sorted by Compare, and get_range reads a
// slice with a limit (an activity feed: partition = user, clustering = time, newest first with
// std::greater). Range reads merge replicas with short-read protection, so a limit is exact
// even when one replica's tombstones hide another's rows.
//
// Time: the store does not sleep. Each replica answers after a simulated latency drawn from its
// `replica_latency` (base + exponential tail, seeded), and every result reports the latency the
// client would have seen, so tail-latency experiments are deterministic. Timestamps come from
// Clock (microseconds), made strictly increasing by the store, so LWW never ties.
//
// When to pick it: to understand, test or simulate the trade-offs of a leaderless store
// (consistency levels, stale reads, repair, a slow replica), and for small embedded use. At
// scale this is what Cassandra or ScyllaDB run for you, with commit logs, compaction, gossip and
// gc_grace_seconds; here nodes are objects, data is in memory and tombstones are never purged.
// For a single leader with replicas, pick replicated_store.
//
//   scaling::quorum_store<std::string, std::int64_t, std::string, std::greater<>> feed{
//       {.nodes = 5, .replication_factor = 3}};
//   feed.put("user:7", now_us, "alice liked your photo", {.level = scaling::quorum_level::quorum});
//   auto latest = feed.get_range("user:7", {.limit = 20}, {.level =
//   scaling::quorum_level::quorum}); feed.crash(2);                           // writes for its
//   partitions leave hints feed.recover(2);                         // hints replayed auto report =
//   feed.repair();             // anti-entropy: only differing ranges stream
//
// Failure modes shown: stale reads at low levels, `unavailable` when fewer than R or W replicas
// are reachable (never a silent partial answer), writes lost when more than N - W replicas of a
// partition lose their data, hints dropped past the window (repair() recovers them), tail
// latency from one slow replica (speculative retry cuts it).
//
// Thread safety: every member function may be called concurrently (one internal mutex); results
// are copies.
// Complexity: put O(N log rows); get O(R log rows); get_range O(R (log rows + rows read));
// repair O(total rows x log); divergent_rows O(total rows x N).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/sharding/hash_ring.hpp>

namespace scaling {

// How many replicas a request waits for.
enum class quorum_level : std::uint8_t {
  one,     // the first replica: fastest, may be stale
  quorum,  // N / 2 + 1: QUORUM writes + QUORUM reads overlap, so reads see acknowledged writes
  all,     // every replica: one replica down makes the request unavailable
};

[[nodiscard]] constexpr std::string_view to_string(quorum_level level) noexcept {
  switch (level) {
    case quorum_level::one:
      return "one";
    case quorum_level::quorum:
      return "quorum";
    case quorum_level::all:
      return "all";
  }
  return "?";
}

// The replicas a level needs out of N (one: 1, quorum: N / 2 + 1, all: N).
[[nodiscard]] constexpr std::size_t replicas_needed(quorum_level level,
                                                    std::size_t replication_factor) noexcept {
  switch (level) {
    case quorum_level::one:
      return 1;
    case quorum_level::quorum:
      return replication_factor / 2 + 1;
    case quorum_level::all:
      return replication_factor;
  }
  return replication_factor;
}

enum class quorum_status : std::uint8_t {
  ok,
  // Fewer replicas reachable from the coordinator than the level needs (or the named
  // coordinator is down): nothing was written or read. Cassandra's UnavailableException.
  unavailable,
};

[[nodiscard]] constexpr std::string_view to_string(quorum_status status) noexcept {
  return status == quorum_status::ok ? "ok" : "unavailable: fewer replicas reachable than asked";
}

// A replica's simulated response time: base + an exponential tail of mean `tail_mean`.
struct replica_latency {
  std::chrono::nanoseconds base = std::chrono::microseconds{500};
  std::chrono::nanoseconds tail_mean = std::chrono::microseconds{500};
};

struct quorum_store_options {
  std::size_t nodes = 3;               // in-process nodes (>= replication_factor)
  std::size_t replication_factor = 3;  // N, replicas per partition (>= 1)
  std::uint32_t points_per_node = 64;  // hash_ring virtual nodes
  replica_latency latency{};           // every node's initial simulated latency
  // A read still waiting after this asks one more replica (Cassandra's speculative_retry,
  // there by default at the 99th percentile of read latency). Off when empty.
  std::optional<std::chrono::nanoseconds> speculative_retry_after;
  // Hints older than this are dropped instead of replayed (Cassandra's max_hint_window, 3 h).
  std::chrono::nanoseconds hint_window = std::chrono::hours{3};
  std::size_t repair_ranges = 64;  // digest buckets per replica set for anti-entropy (>= 1)
  std::uint64_t seed = 1;          // the latency draws and the replica choice
  // Keep a copy of every acknowledged write to count stale reads (doubles memory).
  bool count_stale_reads = true;
};

struct quorum_write_options {
  quorum_level level = quorum_level::quorum;
  std::optional<std::size_t> coordinator;  // default: round robin over live nodes
};

struct quorum_read_options {
  quorum_level level = quorum_level::quorum;
  std::optional<std::size_t> coordinator;  // default: round robin over live nodes
};

// A clustering-key slice: keys between `from` and `to` (both inclusive, in Compare order; an
// empty bound is open), at most `limit` live rows.
template <class Clustering>
struct quorum_slice {
  std::optional<Clustering> from;
  std::optional<Clustering> to;
  std::size_t limit = std::numeric_limits<std::size_t>::max();
};

template <class Clustering, class Value>
struct wide_row {
  Clustering clustering;
  Value value;
  std::uint64_t timestamp = 0;
  friend bool operator==(const wide_row&, const wide_row&) = default;
};

struct quorum_write_result {
  quorum_status status = quorum_status::ok;
  std::size_t acks = 0;                 // replicas that applied it (>= W when ok)
  std::size_t hints = 0;                // replicas that were down or cut off: a hint each
  std::uint64_t timestamp = 0;          // its LWW timestamp
  std::chrono::nanoseconds latency{0};  // simulated: the W-th fastest replica's answer
  [[nodiscard]] bool ok() const noexcept { return status == quorum_status::ok; }
};

template <class Value>
struct quorum_read_result {
  quorum_status status = quorum_status::ok;
  std::optional<Value> value;   // empty: absent, deleted, or not ok
  std::uint64_t timestamp = 0;  // of the cell returned (a tombstone's too); 0 when none
  bool stale = false;           // older than the newest acknowledged write (when counted)
  bool speculated = false;      // a speculative retry was sent
  std::size_t repaired = 0;     // cells read repair wrote to the replicas asked
  std::chrono::nanoseconds latency{0};
  [[nodiscard]] bool ok() const noexcept { return status == quorum_status::ok; }
};

template <class Clustering, class Value>
struct quorum_range_result {
  quorum_status status = quorum_status::ok;
  std::vector<wide_row<Clustering, Value>> rows;  // live rows in Compare order, <= limit
  bool stale = false;
  bool speculated = false;
  std::size_t repaired = 0;
  std::chrono::nanoseconds latency{0};
  [[nodiscard]] bool ok() const noexcept { return status == quorum_status::ok; }
};

struct anti_entropy_report {
  std::size_t ranges_compared = 0;    // (replica set, bucket) digests compared
  std::size_t ranges_mismatched = 0;  // ranges whose digests differed: streamed
  std::size_t cells_repaired = 0;     // cells written to replicas that lacked them
};

struct quorum_store_stats {
  std::uint64_t writes = 0;
  std::uint64_t acknowledged_writes = 0;
  std::uint64_t reads = 0;
  std::uint64_t unavailable = 0;  // requests refused: too few replicas reachable
  std::uint64_t stale_reads = 0;  // reads older than the newest acknowledged write
  std::uint64_t speculative_retries = 0;
  std::uint64_t read_repairs = 0;  // cells written by read repair
  std::uint64_t hints_stored = 0;
  std::uint64_t hints_delivered = 0;
  std::uint64_t hints_dropped = 0;  // past hint_window, or held by a node that lost its data
  std::uint64_t anti_entropy_cells = 0;
};

template <class Partition, class Clustering, class Value, class Compare = std::less<Clustering>,
          clock_source Clock = std::chrono::steady_clock>
requires hasher_for<scaling::hash<>, Partition> && hasher_for<scaling::hash<>, Clustering>
class quorum_store {
 public:
  using row_type = wide_row<Clustering, Value>;
  using slice_type = quorum_slice<Clustering>;

  // Throws scaling::invalid_argument for nodes < replication_factor, replication_factor 0,
  // points_per_node 0, repair_ranges 0, a negative latency or a non-positive retry delay.
  explicit quorum_store(quorum_store_options options = {}, Clock clock = Clock{},
                        Compare compare = Compare{})
      : options_(validated(std::move(options))),
        clock_(std::move(clock)),
        compare_(compare),
        ring_(ring_config{options_.points_per_node, 1}),
        rng_(options_.seed) {
    nodes_.reserve(options_.nodes);
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      nodes_.push_back(node{table{}, options_.latency, true, 0});
      ring_.add(static_cast<std::uint32_t>(i));
    }
  }

  quorum_store(const quorum_store&) = delete;
  quorum_store& operator=(const quorum_store&) = delete;

  // Writes `value` at (partition, clustering). Returns unavailable (nothing written) when fewer
  // than the level's W replicas are reachable from the coordinator.
  // Throws scaling::invalid_argument for a coordinator index out of range.
  quorum_write_result put(const Partition& partition, const Clustering& clustering, Value value,
                          const quorum_write_options& options = {}) {
    std::scoped_lock lock{mutex_};
    return write(partition, clustering, std::optional<Value>{std::move(value)}, options);
  }

  // Deletes the row by writing a tombstone (it wins over older values on every replica).
  quorum_write_result erase(const Partition& partition, const Clustering& clustering,
                            const quorum_write_options& options = {}) {
    std::scoped_lock lock{mutex_};
    return write(partition, clustering, std::nullopt, options);
  }

  // Reads one row at the level's R replicas, newest timestamp wins; repairs the replicas asked.
  // Throws scaling::invalid_argument for a coordinator index out of range.
  [[nodiscard]] quorum_read_result<Value> get(const Partition& partition,
                                              const Clustering& clustering,
                                              const quorum_read_options& options = {}) {
    std::scoped_lock lock{mutex_};
    quorum_read_result<Value> out;
    const read_outcome r =
        read(partition, bounds{clustering, false, clustering, false}, 1, options);
    out.status = r.status;
    out.speculated = r.speculated;
    out.repaired = r.repaired;
    out.latency = r.latency;
    if (r.status != quorum_status::ok) return out;
    if (const auto it = r.merged.find(clustering); it != r.merged.end()) {
      out.value = it->second.value;
      out.timestamp = it->second.timestamp;
    }
    if (options_.count_stale_reads) {
      // Stale: the newest acknowledged write is not what came back (a missing tombstone that
      // leaves the row absent is the right answer, so it is not stale).
      const auto truth = lookup(oracle_, partition, clustering);
      out.stale = truth.has_value() && truth->timestamp > out.timestamp &&
                  (truth->value.has_value() || out.value.has_value());
      if (out.stale) ++stats_.stale_reads;
    }
    return out;
  }

  // Reads a slice of a partition: live rows in Compare order, at most slice.limit of them.
  // Throws scaling::invalid_argument for limit 0, from after to, or a bad coordinator index.
  [[nodiscard]] quorum_range_result<Clustering, Value> get_range(
      const Partition& partition, const slice_type& slice,
      const quorum_read_options& options = {}) {
    if (slice.limit == 0) detail::throw_invalid_argument(component, "limit", "must be >= 1", 0);
    if (slice.from && slice.to && compare_(*slice.to, *slice.from)) {
      detail::throw_invalid_argument(component, "slice",
                                     "must have from <= to in clustering order");
    }
    std::scoped_lock lock{mutex_};
    quorum_range_result<Clustering, Value> out;
    const bounds b = to_bounds(slice);
    const read_outcome r = read(partition, b, slice.limit, options);
    out.status = r.status;
    out.speculated = r.speculated;
    out.repaired = r.repaired;
    out.latency = r.latency;
    if (r.status != quorum_status::ok) return out;
    out.rows = live_rows(r.merged, slice.limit);
    if (options_.count_stale_reads) {
      const auto truth = oracle_slice(partition, b, slice.limit);
      out.stale = !same_versions(truth, out.rows);
      if (out.stale) ++stats_.stale_reads;
    }
    return out;
  }

  // --- failures, for tests, simulations and the lab -----------------------------------------

  // The node stops answering; it keeps its data (a process crash).
  void crash(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].alive = false;
  }
  // The node answers again; hints for it (and held by it) are replayed.
  void recover(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].alive = true;
    deliver_hints_locked();
  }
  // The node's disk is lost and it is replaced by an empty one (alive): its rows and the hints
  // it held are gone until repair() or read repair restores them.
  void lose_data(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].data.clear();
    nodes_[node_index].alive = true;
    const auto before = hints_.size();
    std::erase_if(hints_, [&](const hint& h) { return h.holder == node_index; });
    stats_.hints_dropped += before - hints_.size();
    deliver_hints_locked();
  }
  // Splits the network: nodes in different groups cannot reach each other. Every node must be
  // in exactly one group. Throws scaling::invalid_argument otherwise.
  void partition(const std::vector<std::vector<std::size_t>>& groups) {
    std::scoped_lock lock{mutex_};
    std::vector<std::size_t> group_of(nodes_.size(), npos);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (const std::size_t i : groups[g]) {
        check_node(i, "groups");
        if (group_of[i] != npos) {
          detail::throw_invalid_argument(component, "groups", "must list each node once", i);
        }
        group_of[i] = g;
      }
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (group_of[i] == npos) {
        detail::throw_invalid_argument(component, "groups", "must list every node", i);
      }
      nodes_[i].group = group_of[i];
    }
  }
  // Ends every network partition; hints are replayed.
  void heal() {
    std::scoped_lock lock{mutex_};
    for (auto& n : nodes_)
      n.group = 0;
    deliver_hints_locked();
  }
  // Sets a node's simulated response time (a slow disk, a GC pause, a noisy neighbour).
  void set_latency(std::size_t node_index, replica_latency latency) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    check_latency(latency);
    nodes_[node_index].latency = latency;
  }
  // Replays the hints whose holder and target are up and connected; returns how many.
  std::size_t deliver_hints() {
    std::scoped_lock lock{mutex_};
    return deliver_hints_locked();
  }

  // Anti-entropy between the live, connected replicas of every partition: compares per-range
  // digests and streams the newest cells of the ranges that differ.
  anti_entropy_report repair() {
    std::scoped_lock lock{mutex_};
    anti_entropy_report report;
    // (replica set, bucket) -> partitions; every replica set is a range of the ring.
    std::map<std::pair<std::vector<std::size_t>, std::size_t>, std::vector<Partition>> ranges;
    for (const Partition& p : all_partitions()) {
      const std::size_t bucket =
          static_cast<std::size_t>(hash_(p) % static_cast<std::uint64_t>(options_.repair_ranges));
      ranges[{replicas_of(p), bucket}].push_back(p);
    }
    for (const auto& range : ranges) {
      const auto& key = range.first;
      const std::vector<Partition>& partitions = range.second;
      // Repair runs within each side of a network partition, among live replicas.
      std::map<std::size_t, std::vector<std::size_t>> sides;
      for (const std::size_t r : key.first) {
        if (nodes_[r].alive) sides[nodes_[r].group].push_back(r);
      }
      for (const auto& [group, members] : sides) {
        if (members.size() < 2) continue;
        ++report.ranges_compared;
        const std::uint64_t first = digest(members.front(), partitions);
        const bool differ = std::any_of(members.begin() + 1, members.end(), [&](std::size_t r) {
          return digest(r, partitions) != first;
        });
        if (!differ) continue;
        ++report.ranges_mismatched;
        for (const Partition& p : partitions) {
          cells merged{compare_};
          for (const std::size_t r : members) {
            if (const auto it = nodes_[r].data.find(p); it != nodes_[r].data.end()) {
              for (const auto& [c, cell_value] : it->second)
                merge_cell(merged, c, cell_value);
            }
          }
          for (const std::size_t r : members) {
            for (const auto& [c, cell_value] : merged) {
              if (apply(nodes_[r].data, p, c, cell_value)) ++report.cells_repaired;
            }
          }
        }
      }
    }
    stats_.anti_entropy_cells += report.cells_repaired;
    return report;
  }

  // --- inspection ----------------------------------------------------------------------------

  // Cells (p, c) on which the N replicas of p do not all hold the same version, counted over
  // every replica, down or not: 0 means converged.
  [[nodiscard]] std::size_t divergent_rows() const {
    std::scoped_lock lock{mutex_};
    std::size_t out = 0;
    for (const Partition& p : all_partitions()) {
      const auto replicas = replicas_of(p);
      std::map<Clustering, std::vector<std::uint64_t>, Compare> versions{compare_};
      for (std::size_t k = 0; k < replicas.size(); ++k) {
        const auto it = nodes_[replicas[k]].data.find(p);
        if (it == nodes_[replicas[k]].data.end()) continue;
        for (const auto& [c, cell_value] : it->second) {
          auto& v = versions.try_emplace(c, replicas.size(), 0).first->second;
          v[k] = cell_value.timestamp;
        }
      }
      for (const auto& version : versions) {
        const std::vector<std::uint64_t>& v = version.second;
        if (std::any_of(v.begin(), v.end(), [&](std::uint64_t t) { return t != v.front(); })) ++out;
      }
    }
    return out;
  }

  // The N replica nodes of `partition`, in ring order.
  [[nodiscard]] std::vector<std::size_t> replicas_for(const Partition& partition) const {
    std::scoped_lock lock{mutex_};
    return replicas_of(partition);
  }

  // The live value one replica holds for a row (empty: absent or deleted), bypassing the
  // coordinator. Throws scaling::invalid_argument for a bad node index.
  [[nodiscard]] std::optional<Value> peek(std::size_t node_index, const Partition& partition,
                                          const Clustering& clustering) const {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    const auto c = lookup(nodes_[node_index].data, partition, clustering);
    if (!c) return std::nullopt;
    return c->value;
  }

  // Cells (tombstones included) a node holds.
  [[nodiscard]] std::size_t cells_on(std::size_t node_index) const {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    std::size_t out = 0;
    for (const auto& [p, row_cells] : nodes_[node_index].data)
      out += row_cells.size();
    return out;
  }

  [[nodiscard]] bool alive(std::size_t node_index) const {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    return nodes_[node_index].alive;
  }
  [[nodiscard]] std::size_t pending_hints() const {
    std::scoped_lock lock{mutex_};
    return hints_.size();
  }
  [[nodiscard]] std::size_t nodes() const noexcept { return options_.nodes; }
  [[nodiscard]] std::size_t replication_factor() const noexcept {
    return options_.replication_factor;
  }
  [[nodiscard]] quorum_store_stats stats() const {
    std::scoped_lock lock{mutex_};
    return stats_;
  }
  [[nodiscard]] const quorum_store_options& settings() const noexcept { return options_; }

 private:
  static constexpr std::string_view component = "scaling::quorum_store";
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  struct cell {
    std::optional<Value> value;  // empty: a tombstone
    std::uint64_t timestamp = 0;
  };
  using cells = std::map<Clustering, cell, Compare>;
  using table = std::map<Partition, cells>;

  struct node {
    table data;
    replica_latency latency;
    bool alive = true;
    std::size_t group = 0;
  };

  struct hint {
    std::size_t holder;
    std::size_t target;
    Partition partition;
    Clustering clustering;
    cell value;
    typename Clock::time_point created;
  };

  // A clustering interval; `exclusive` flags make a bound strict.
  struct bounds {
    std::optional<Clustering> lower;
    bool lower_exclusive = false;
    std::optional<Clustering> upper;
    bool upper_exclusive = false;
  };

  struct read_outcome {
    quorum_status status = quorum_status::ok;
    cells merged;
    bool speculated = false;
    std::size_t repaired = 0;
    std::chrono::nanoseconds latency{0};
  };

  static quorum_store_options validated(quorum_store_options o) {
    if (o.replication_factor == 0) {
      detail::throw_invalid_argument(component, "replication_factor", "must be >= 1",
                                     o.replication_factor);
    }
    if (o.nodes < o.replication_factor) {
      detail::throw_invalid_argument(component, "nodes", "must be >= replication_factor", o.nodes);
    }
    if (o.points_per_node == 0) {
      detail::throw_invalid_argument(component, "points_per_node", "must be >= 1", 0);
    }
    if (o.repair_ranges == 0) {
      detail::throw_invalid_argument(component, "repair_ranges", "must be >= 1", 0);
    }
    check_latency(o.latency);
    if (o.speculative_retry_after && o.speculative_retry_after->count() <= 0) {
      detail::throw_invalid_argument(component, "speculative_retry_after", "must be > 0",
                                     o.speculative_retry_after->count());
    }
    return o;
  }

  static void check_latency(const replica_latency& l) {
    if (l.base.count() < 0 || l.tail_mean.count() < 0) {
      detail::throw_invalid_argument(component, "latency", "must not be negative",
                                     std::min(l.base.count(), l.tail_mean.count()));
    }
  }

  void check_node(std::size_t i, std::string_view parameter) const {
    if (i >= nodes_.size()) {
      detail::throw_invalid_argument(component, parameter, "must be a node index < nodes()", i);
    }
  }

  [[nodiscard]] std::vector<std::size_t> replicas_of(const Partition& p) const {
    const auto ids = ring_.nodes_for(p, options_.replication_factor);
    return {ids.begin(), ids.end()};
  }

  // The coordinator for a request, or npos when the named one (or every node) is down.
  std::size_t coordinator(const std::optional<std::size_t>& named) {
    if (named) {
      check_node(*named, "coordinator");
      return nodes_[*named].alive ? *named : npos;
    }
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      const std::size_t i = (next_coordinator_ + k) % nodes_.size();
      if (nodes_[i].alive) {
        next_coordinator_ = i + 1;
        return i;
      }
    }
    return npos;
  }

  [[nodiscard]] bool reachable(std::size_t from, std::size_t to) const {
    return nodes_[to].alive && nodes_[to].group == nodes_[from].group;
  }

  std::chrono::nanoseconds draw_latency(std::size_t i) {
    const auto& l = nodes_[i].latency;
    double tail = 0.0;
    if (l.tail_mean.count() > 0) {
      std::exponential_distribution<double> exp{1.0 / static_cast<double>(l.tail_mean.count())};
      tail = exp(rng_);
    }
    return l.base + std::chrono::nanoseconds{static_cast<std::int64_t>(tail)};
  }

  std::uint64_t next_timestamp() {
    const auto now =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0));
    last_timestamp_ = std::max(us, last_timestamp_ + 1);
    return last_timestamp_;
  }

  // Applies `c` if it is newer than what the table holds; returns whether it changed anything.
  bool apply(table& t, const Partition& p, const Clustering& key, const cell& c) const {
    return apply_cells(t.try_emplace(p, compare_).first->second, key, c);
  }
  static bool apply_cells(cells& row_cells, const Clustering& key, const cell& c) {
    const auto [it, inserted] = row_cells.try_emplace(key, c);
    if (inserted) return true;
    if (it->second.timestamp >= c.timestamp) return false;
    it->second = c;
    return true;
  }
  static void merge_cell(cells& merged, const Clustering& key, const cell& c) {
    (void)apply_cells(merged, key, c);
  }

  [[nodiscard]] std::optional<cell> lookup(const table& t, const Partition& p,
                                           const Clustering& key) const {
    const auto it = t.find(p);
    if (it == t.end()) return std::nullopt;
    const auto c = it->second.find(key);
    if (c == it->second.end()) return std::nullopt;
    return c->second;
  }

  // The replicas the coordinator can reach now (none without a coordinator).
  std::vector<std::size_t> reachable_from(std::size_t coord,
                                          const std::vector<std::size_t>& replicas) const {
    std::vector<std::size_t> up;
    if (coord == npos) return up;
    for (const std::size_t r : replicas)
      if (reachable(coord, r)) up.push_back(r);
    return up;
  }

  quorum_write_result write(const Partition& p, const Clustering& key, std::optional<Value> value,
                            const quorum_write_options& options) {
    ++stats_.writes;
    quorum_write_result out;
    const std::size_t coord = coordinator(options.coordinator);
    const auto replicas = replicas_of(p);
    const std::size_t needed = replicas_needed(options.level, replicas.size());
    std::vector<std::size_t> up = reachable_from(coord, replicas);
    if (coord == npos || up.size() < needed) {
      ++stats_.unavailable;
      out.status = quorum_status::unavailable;
      out.acks = up.size();
      return out;
    }
    const cell c{std::move(value), next_timestamp()};
    std::vector<std::chrono::nanoseconds> answers;
    for (const std::size_t r : replicas) {
      if (reachable(coord, r)) {
        (void)apply(nodes_[r].data, p, key, c);
        answers.push_back(draw_latency(r));
      } else {
        hints_.push_back(hint{coord, r, p, key, c, clock_.now()});
        ++stats_.hints_stored;
        ++out.hints;
      }
    }
    std::sort(answers.begin(), answers.end());
    out.acks = answers.size();
    out.timestamp = c.timestamp;
    out.latency = answers[needed - 1];
    if (options_.count_stale_reads) (void)apply(oracle_, p, key, c);
    ++stats_.acknowledged_writes;
    return out;
  }

  // Is `key` inside b's upper bound / lower bound?
  [[nodiscard]] bool below_upper(const bounds& b, const Clustering& key) const {
    if (!b.upper) return true;
    return b.upper_exclusive ? compare_(key, *b.upper) : !compare_(*b.upper, key);
  }
  [[nodiscard]] typename cells::const_iterator lower_of(const cells& row_cells,
                                                        const bounds& b) const {
    if (!b.lower) return row_cells.begin();
    return b.lower_exclusive ? row_cells.upper_bound(*b.lower) : row_cells.lower_bound(*b.lower);
  }

  // One replica's answer to a slice: cells (tombstones included) in order until `limit` live
  // ones; `truncated` when it stopped because of the limit with more cells left.
  struct replica_answer {
    std::vector<std::pair<Clustering, cell>> cells_read;
    bool truncated = false;
  };
  [[nodiscard]] replica_answer collect(const table& t, const Partition& p, const bounds& b,
                                       std::size_t limit) const {
    replica_answer out;
    const auto row = t.find(p);
    if (row == t.end()) return out;
    std::size_t live = 0;
    for (auto it = lower_of(row->second, b); it != row->second.end(); ++it) {
      if (!below_upper(b, it->first)) break;
      if (live == limit) {
        out.truncated = true;
        break;
      }
      out.cells_read.emplace_back(it->first, it->second);
      if (it->second.value) ++live;
    }
    return out;
  }

  // Merges the answers of `sources` with short-read protection: a replica that stopped at its
  // limit is only trusted up to its last key, so the merge re-asks past the shortest such cut
  // until it has `limit` live rows or nothing is left.
  [[nodiscard]] cells merge_slices(const std::vector<const table*>& sources, const Partition& p,
                                   bounds b, std::size_t limit) const {
    cells merged{compare_};
    std::size_t live = 0;
    for (;;) {
      std::optional<Clustering> cut;
      std::vector<replica_answer> answers;
      answers.reserve(sources.size());
      for (const table* t : sources) {
        answers.push_back(collect(*t, p, b, limit - live));
        const auto& a = answers.back();
        if (a.truncated && (!cut || compare_(a.cells_read.back().first, *cut))) {
          cut = a.cells_read.back().first;
        }
      }
      cells round{compare_};
      for (const auto& a : answers) {
        for (const auto& [key, c] : a.cells_read) {
          if (!cut || !compare_(*cut, key)) merge_cell(round, key, c);
        }
      }
      for (const auto& [key, c] : round) {
        merge_cell(merged, key, c);
        if (c.value) ++live;
      }
      if (!cut || live >= limit) return merged;
      b.lower = cut;
      b.lower_exclusive = true;
    }
  }

  read_outcome read(const Partition& p, const bounds& b, std::size_t limit,
                    const quorum_read_options& options) {
    ++stats_.reads;
    read_outcome out{quorum_status::ok, cells{compare_}, false, 0, {}};
    const std::size_t coord = coordinator(options.coordinator);
    const auto replicas = replicas_of(p);
    const std::size_t needed = replicas_needed(options.level, replicas.size());
    std::vector<std::size_t> up = reachable_from(coord, replicas);
    if (coord == npos || up.size() < needed) {
      ++stats_.unavailable;
      out.status = quorum_status::unavailable;
      return out;
    }
    std::shuffle(up.begin(), up.end(), rng_);  // no snitch: any reachable replicas
    std::vector<std::pair<std::chrono::nanoseconds, std::size_t>> answers;
    for (std::size_t k = 0; k < needed; ++k)
      answers.emplace_back(draw_latency(up[k]), up[k]);
    std::sort(answers.begin(), answers.end());
    const auto& retry = options_.speculative_retry_after;
    if (retry && up.size() > needed && answers.back().first > *retry) {
      // One more replica, asked at the retry delay; the first `needed` answers complete it.
      answers.emplace_back(*retry + draw_latency(up[needed]), up[needed]);
      std::sort(answers.begin(), answers.end());
      answers.resize(needed);
      out.speculated = true;
      ++stats_.speculative_retries;
    }
    out.latency = answers.back().first;
    std::vector<const table*> sources;
    for (const auto& a : answers)
      sources.push_back(&nodes_[a.second].data);
    out.merged = merge_slices(sources, p, b, limit);
    // Read repair: the replicas that answered get every merged cell they lack.
    for (const auto& a : answers) {
      for (const auto& [key, c] : out.merged) {
        if (apply(nodes_[a.second].data, p, key, c)) ++out.repaired;
      }
    }
    stats_.read_repairs += out.repaired;
    return out;
  }

  [[nodiscard]] bounds to_bounds(const slice_type& s) const {
    return bounds{s.from, false, s.to, false};
  }

  [[nodiscard]] std::vector<row_type> live_rows(const cells& merged, std::size_t limit) const {
    std::vector<row_type> rows;
    for (const auto& [key, c] : merged) {
      if (rows.size() == limit) break;
      if (c.value) rows.push_back(row_type{key, *c.value, c.timestamp});
    }
    return rows;
  }

  [[nodiscard]] std::vector<row_type> oracle_slice(const Partition& p, const bounds& b,
                                                   std::size_t limit) const {
    return live_rows(merge_slices({&oracle_}, p, b, limit), limit);
  }

  [[nodiscard]] bool same_versions(const std::vector<row_type>& truth,
                                   const std::vector<row_type>& got) const {
    if (truth.size() != got.size()) return false;
    for (std::size_t i = 0; i < truth.size(); ++i) {
      if (truth[i].timestamp != got[i].timestamp) return false;
    }
    return true;
  }

  std::size_t deliver_hints_locked() {
    const auto now = clock_.now();
    std::size_t delivered = 0;
    std::erase_if(hints_, [&](const hint& h) {
      if (now - h.created > options_.hint_window) {
        ++stats_.hints_dropped;
        return true;
      }
      if (!nodes_[h.holder].alive || !reachable(h.holder, h.target)) return false;
      (void)apply(nodes_[h.target].data, h.partition, h.clustering, h.value);
      ++delivered;
      return true;
    });
    stats_.hints_delivered += delivered;
    return delivered;
  }

  [[nodiscard]] std::set<Partition> all_partitions() const {
    std::set<Partition> out;
    for (const auto& n : nodes_)
      for (const auto& [p, row_cells] : n.data)
        out.insert(p);
    return out;
  }

  // Order-independent digest of a replica's cells in `partitions`: equal versions hash equal
  // (a timestamp names one write, since the store never reuses one).
  [[nodiscard]] std::uint64_t digest(std::size_t r,
                                     const std::vector<Partition>& partitions) const {
    std::uint64_t sum = 0;
    for (const Partition& p : partitions) {
      const auto it = nodes_[r].data.find(p);
      if (it == nodes_[r].data.end()) continue;
      const std::uint64_t hp = hash_(p);
      for (const auto& [key, c] : it->second) {
        sum += mix64(hp ^ mix64(hash_(key) + mix64(c.timestamp)));
      }
    }
    return sum;
  }

  quorum_store_options options_;
  Clock clock_;
  [[no_unique_address]] Compare compare_;
  scaling::hash<> hash_{};
  hash_ring<std::uint32_t> ring_;
  std::mt19937_64 rng_;
  table oracle_;
  mutable std::mutex mutex_;
  std::vector<node> nodes_;
  std::vector<hint> hints_;
  std::size_t next_coordinator_ = 0;
  std::uint64_t last_timestamp_ = 0;
  quorum_store_stats stats_{};
};

}  // namespace scaling
