// scaling/replication/quorum_store.hpp: a leaderless, partitioned, replicated wide-row store
// with tunable consistency (the Dynamo / Cassandra design), in process.
//
// What it is: `quorum_store<Partition, Clustering, Value, Compare, Clock, Transport>` keeps rows
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
// Time: where replica requests spend their time is a policy, the Transport parameter. The
// default, `simulated_replicas`, runs in process: the store does not sleep, each replica answers
// after a latency drawn from its `replica_latency` (base + exponential tail, seeded) on a
// per-call virtual clock, and put / get / get_range return when every reply is in, reporting
// the latency the client would have seen, so tail-latency experiments are deterministic. In the
// scaling lab, `architecture::lab_quorum_replicas` makes each node a lab station (queueing,
// service time; a slow node serves slowly) and carries the messages over `lab::network`; the
// async_put / async_get / async_get_range calls complete at the virtual time the W-th or R-th
// reply arrives, and speculative retry fires on a lab timer. The quorum logic is the same code
// for both. Timestamps come from Clock (microseconds), made strictly increasing by the store,
// so LWW never ties.
//
// When to pick it: to understand, test or simulate the trade-offs of a leaderless store
// (consistency levels, stale reads, repair, a slow replica), and for small embedded use. At
// scale this is what Cassandra or ScyllaDB run for you, with commit logs, compaction, gossip and
// gc_grace_seconds; here nodes are objects, data is in memory and tombstones are never purged.
// For a single leader with replicas, pick replicated_store.
//
//   scaling::quorum_store<std::string, std::int64_t, std::string, std::greater<>> feed{
//       {.nodes = 5, .replication_factor = 3}};
//   const auto quorum = scaling::quorum_level::quorum;
//   feed.put("user:7", now_us, "alice liked your photo", {.level = quorum});
//   auto latest = feed.get_range("user:7", {.limit = 20}, {.level = quorum});
//   feed.crash(2);                  // writes for its partitions leave hints
//   feed.recover(2);                // hints replayed
//   auto report = feed.repair();    // anti-entropy: only differing ranges stream
//
// Failure modes shown: stale reads at low levels, `unavailable` when fewer than R or W replicas
// are reachable (never a silent partial answer), writes lost when more than N - W replicas of a
// partition lose their data, hints dropped past the window (repair() recovers them), tail
// latency from one slow replica (speculative retry cuts it), and on a lab transport a replica
// that fails with requests in flight (`timed_out`, a hint for each write it lost).
//
// Thread safety: with simulated_replicas every member function may be called concurrently (one
// internal mutex); results are copies. With a lab transport the store lives on the simulation's
// one thread (Transport::mutex_type is single_thread_lock), and it must outlive the requests
// and timers it has queued there: run the simulation until they are done before destroying it.
// Complexity: put O(N log rows); get O(R log rows); get_range O(R (log rows + rows read));
// repair O(total rows x log); divergent_rows O(total rows x N).
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
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
  // The request was sent, but a replica failed before answering and fewer than R or W replies
  // can still come (Cassandra's read / write timeout). A write may be applied on the replicas
  // that answered, and the lost ones get a hint: it is not acknowledged, not undone.
  timed_out,
};

[[nodiscard]] constexpr std::string_view to_string(quorum_status status) noexcept {
  switch (status) {
    case quorum_status::ok:
      return "ok";
    case quorum_status::unavailable:
      return "unavailable: fewer replicas reachable than asked";
    case quorum_status::timed_out:
      return "timed out: a replica failed before answering";
  }
  return "?";
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
  std::uint64_t timed_out = 0;    // requests sent whose replicas failed before R / W answered
  std::uint64_t stale_reads = 0;  // reads older than the newest acknowledged write
  std::uint64_t speculative_retries = 0;
  std::uint64_t read_repairs = 0;  // cells written by read repair
  std::uint64_t hints_stored = 0;
  std::uint64_t hints_delivered = 0;
  std::uint64_t hints_dropped = 0;  // past hint_window, or held by a node that lost its data
  std::uint64_t anti_entropy_cells = 0;
};

// --- transports: where replica requests spend their time ------------------------------------

// How a replica request ended, as the coordinator sees it.
enum class replica_reply : std::uint8_t {
  answered,  // the replica did the work and its answer arrived
  lost,      // no answer will come: the replica failed (or refused) before answering, or its
             // answer was lost on the way back (the work may then have been done; a write's
             // hint replays it, which is harmless: the same cell again)
};

// The lock of a store that lives on one thread (a lab simulation): locking does nothing.
struct single_thread_lock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

// Carries the coordinator's requests to replicas and their answers back, and keeps time.
// `send(from, to, work, reply)` runs `work` at replica `to` when it serves the request (the
// replica reads or writes its data then), and `reply` back at `from` when the answer arrives
// (answered), or once with lost when `to` fails first; neither runs inside send. `after(d, f)`
// runs f d later (the speculative-retry timer). `elapsed()` is the transport's time, from which
// latencies are measured; `node_down` / `node_up` mirror crash and recover. `mutex_type` is the
// lock the store takes (std::mutex, or single_thread_lock on one thread).
template <class T>
concept quorum_transport = requires(T& t, const T& ct, std::size_t node,
                                    std::chrono::nanoseconds delay, std::function<void()> work,
                                    std::function<void(replica_reply)> reply) {
  typename T::mutex_type;
  { ct.nodes() } -> std::convertible_to<std::size_t>;
  { ct.elapsed() } -> std::same_as<std::chrono::nanoseconds>;
  t.send(node, node, std::move(work), std::move(reply));
  t.after(delay, std::move(work));
  t.node_down(node);
  t.node_up(node);
};

// A transport that can finish, inside one call, everything sent so far: `settle()` runs every
// pending event. With it the store offers the blocking put / erase / get / get_range; without
// it (the lab, where time moves only when the simulation runs) the async_ calls.
template <class T>
concept settling_quorum_transport = quorum_transport<T> && requires(T& t) {
  t.settle();
};

// The in-process transport: each replica answers after a latency drawn from its
// replica_latency (seeded), on a virtual clock private to the store that settle() advances
// from event to event. Nothing fails in flight here: the store does not send to a node that
// is down, and a blocking call settles before it returns.
// Thread safety: none of its own; the store calls it under its mutex.
class simulated_replicas {
 public:
  using mutex_type = std::mutex;

  // Throws scaling::invalid_argument for a negative latency.
  simulated_replicas(std::size_t nodes, replica_latency latency, std::uint64_t seed)
      : latency_(nodes, checked(latency)), rng_(seed) {}
  explicit simulated_replicas(const quorum_store_options& options)
      : simulated_replicas(options.nodes, options.latency, options.seed) {}

  [[nodiscard]] std::size_t nodes() const noexcept { return latency_.size(); }
  [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return now_; }

  void send(std::size_t /*from*/, std::size_t to, std::function<void()> work,
            std::function<void(replica_reply)> reply) {
    push(now_ + draw(to), std::move(work), std::move(reply));
  }
  void after(std::chrono::nanoseconds delay, std::function<void()> f) {
    push(now_ + delay, std::move(f), nullptr);
  }
  void node_down(std::size_t /*node*/) noexcept {}
  void node_up(std::size_t /*node*/) noexcept {}

  // Runs every pending event in time order (same time: in the order sent).
  void settle() {
    while (!events_.empty()) {
      std::pop_heap(events_.begin(), events_.end(), later);
      event next = std::move(events_.back());
      events_.pop_back();
      now_ = next.time;
      next.f();
      if (next.reply) next.reply(replica_reply::answered);
    }
  }

  // Sets a node's response time. Throws scaling::invalid_argument for a negative latency or a
  // node index >= nodes().
  void set_latency(std::size_t node, replica_latency latency) {
    if (node >= latency_.size()) {
      detail::throw_invalid_argument("scaling::simulated_replicas", "node",
                                     "must be a node index < nodes()", node);
    }
    latency_[node] = checked(latency);
  }

 private:
  struct event {
    std::chrono::nanoseconds time;
    std::uint64_t seq;
    std::function<void()> f;
    std::function<void(replica_reply)> reply;  // empty for a timer
  };
  static bool later(const event& a, const event& b) noexcept {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
  static replica_latency checked(replica_latency l) {
    if (l.base.count() < 0 || l.tail_mean.count() < 0) {
      detail::throw_invalid_argument("scaling::quorum_store", "latency", "must not be negative",
                                     std::min(l.base.count(), l.tail_mean.count()));
    }
    return l;
  }
  void push(std::chrono::nanoseconds t, std::function<void()> f,
            std::function<void(replica_reply)> reply) {
    events_.push_back(event{t, seq_++, std::move(f), std::move(reply)});
    std::push_heap(events_.begin(), events_.end(), later);
  }
  std::chrono::nanoseconds draw(std::size_t i) {
    const auto& l = latency_[i];
    double tail = 0.0;
    if (l.tail_mean.count() > 0) {
      std::exponential_distribution<double> exp{1.0 / static_cast<double>(l.tail_mean.count())};
      tail = exp(rng_);
    }
    return l.base + std::chrono::nanoseconds{static_cast<std::int64_t>(tail)};
  }

  std::vector<replica_latency> latency_;
  std::mt19937_64 rng_;
  std::vector<event> events_;
  std::uint64_t seq_ = 0;
  std::chrono::nanoseconds now_{0};
};

static_assert(settling_quorum_transport<simulated_replicas>);

template <class Partition, class Clustering, class Value, class Compare = std::less<Clustering>,
          clock_source Clock = std::chrono::steady_clock,
          quorum_transport Transport = simulated_replicas>
requires hasher_for<scaling::hash<>, Partition> && hasher_for<scaling::hash<>, Clustering>
class quorum_store {
 public:
  using row_type = wide_row<Clustering, Value>;
  using slice_type = quorum_slice<Clustering>;

  using transport_type = Transport;
  using read_result = quorum_read_result<Value>;
  using range_result = quorum_range_result<Clustering, Value>;

  // Throws scaling::invalid_argument for nodes < replication_factor, replication_factor 0,
  // points_per_node 0, repair_ranges 0, a negative latency or a non-positive retry delay.
  explicit quorum_store(quorum_store_options options = {}, Clock clock = Clock{},
                        Compare compare = Compare{}) requires
      std::constructible_from<Transport, const quorum_store_options&>
      : quorum_store(options, Transport{validated(options)}, std::move(clock), compare) {}

  // A store whose replica requests travel over `transport` (a lab_quorum_replicas, say).
  // Throws scaling::invalid_argument as above, and if transport.nodes() != options.nodes.
  quorum_store(quorum_store_options options, Transport transport, Clock clock = Clock{},
               Compare compare = Compare{})
      : options_(validated(std::move(options))),
        transport_(std::move(transport)),
        clock_(std::move(clock)),
        compare_(compare),
        ring_(ring_config{options_.points_per_node, 1}),
        rng_(options_.seed) {
    if (transport_.nodes() != options_.nodes) {
      detail::throw_invalid_argument(component, "transport", "must have options.nodes nodes",
                                     transport_.nodes());
    }
    nodes_.reserve(options_.nodes);
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      nodes_.push_back(node{table{}, true, 0});
      ring_.add(static_cast<std::uint32_t>(i));
    }
  }

  quorum_store(const quorum_store&) = delete;
  quorum_store& operator=(const quorum_store&) = delete;

  // Writes `value` at (partition, clustering). Returns unavailable (nothing written) when fewer
  // than the level's W replicas are reachable from the coordinator.
  // Throws scaling::invalid_argument for a coordinator index out of range.
  quorum_write_result put(const Partition& partition, const Clustering& clustering, Value value,
                          const quorum_write_options& options = {}) requires
      settling_quorum_transport<Transport> {
    std::scoped_lock lock{mutex_};
    return settled_write(partition, clustering, std::optional<Value>{std::move(value)}, options);
  }

  // Deletes the row by writing a tombstone (it wins over older values on every replica).
  quorum_write_result erase(const Partition& partition, const Clustering& clustering,
                            const quorum_write_options& options = {}) requires
      settling_quorum_transport<Transport> {
    std::scoped_lock lock{mutex_};
    return settled_write(partition, clustering, std::nullopt, options);
  }

  // Reads one row at the level's R replicas, newest timestamp wins; repairs the replicas asked.
  // Throws scaling::invalid_argument for a coordinator index out of range.
  [[nodiscard]] read_result get(const Partition& partition, const Clustering& clustering,
                                const quorum_read_options& options = {}) requires
      settling_quorum_transport<Transport> {
    std::scoped_lock lock{mutex_};
    read_result out;
    start_get(partition, clustering, options, [&out](read_result r) { out = std::move(r); });
    transport_.settle();
    return out;
  }

  // Reads a slice of a partition: live rows in Compare order, at most slice.limit of them.
  // Throws scaling::invalid_argument for limit 0, from after to, or a bad coordinator index.
  [[nodiscard]] range_result get_range(const Partition& partition, const slice_type& slice,
                                       const quorum_read_options& options = {}) requires
      settling_quorum_transport<Transport> {
    check_slice(slice);
    std::scoped_lock lock{mutex_};
    range_result out;
    start_range(partition, slice, options, [&out](range_result r) { out = std::move(r); });
    transport_.settle();
    return out;
  }

  // --- asynchronous requests, for a transport that runs on its own time (the lab) -------------
  // Each starts the request and returns; `done` runs exactly once, never inside the call, when
  // the W-th (R-th) reply arrives, or with unavailable / timed_out. Arguments are checked, and
  // thrown for, as in the blocking calls.

  template <std::invocable<quorum_write_result> Handler>
  requires(!settling_quorum_transport<Transport>) void async_put(
      const Partition& partition, const Clustering& clustering, Value value,
      const quorum_write_options& options, Handler done) {
    std::scoped_lock lock{mutex_};
    (void)start_write(partition, clustering, std::optional<Value>{std::move(value)}, options,
                      std::move(done));
  }
  template <std::invocable<quorum_write_result> Handler>
  requires(!settling_quorum_transport<Transport>) void async_erase(
      const Partition& partition, const Clustering& clustering, const quorum_write_options& options,
      Handler done) {
    std::scoped_lock lock{mutex_};
    (void)start_write(partition, clustering, std::nullopt, options, std::move(done));
  }
  template <std::invocable<read_result> Handler>
  requires(!settling_quorum_transport<Transport>) void async_get(const Partition& partition,
                                                                 const Clustering& clustering,
                                                                 const quorum_read_options& options,
                                                                 Handler done) {
    std::scoped_lock lock{mutex_};
    start_get(partition, clustering, options, std::move(done));
  }
  template <std::invocable<range_result> Handler>
  requires(!settling_quorum_transport<Transport>) void async_get_range(
      const Partition& partition, const slice_type& slice, const quorum_read_options& options,
      Handler done) {
    check_slice(slice);
    std::scoped_lock lock{mutex_};
    start_range(partition, slice, options, std::move(done));
  }

  // --- failures, for tests, simulations and the lab -----------------------------------------

  // The node stops answering; it keeps its data (a process crash).
  void crash(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].alive = false;
    transport_.node_down(node_index);
  }
  // The node answers again; hints for it (and held by it) are replayed.
  void recover(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].alive = true;
    transport_.node_up(node_index);
    deliver_hints_locked();
  }
  // The node's disk is lost and it is replaced by an empty one (alive): its rows and the hints
  // it held are gone until repair() or read repair restores them.
  void lose_data(std::size_t node_index) {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    nodes_[node_index].data.clear();
    nodes_[node_index].alive = true;
    transport_.node_up(node_index);
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
  // Sets a node's simulated response time (a slow disk, a GC pause, a noisy neighbour). In the
  // lab, a node's service law is the transport's: transport().set_service(node, law).
  void set_latency(std::size_t node_index, replica_latency latency) requires
      requires(Transport& t, std::size_t n, replica_latency l) {
    t.set_latency(n, l);
  }
  {
    std::scoped_lock lock{mutex_};
    check_node(node_index, "node");
    check_latency(latency);
    transport_.set_latency(node_index, latency);
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
  // The transport, for what is its own (a lab node's station and service law).
  [[nodiscard]] Transport& transport() noexcept { return transport_; }
  [[nodiscard]] const Transport& transport() const noexcept { return transport_; }

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

  // Who serves a request: its coordinator, the partition's replicas, those the coordinator can
  // reach, and how many answers the level needs. Not ok: unavailable (counted here).
  struct request_plan {
    std::size_t coordinator = npos;
    std::vector<std::size_t> replicas;
    std::vector<std::size_t> up;
    std::size_t needed = 0;
    [[nodiscard]] bool ok() const noexcept { return coordinator != npos && up.size() >= needed; }
  };
  request_plan plan_request(const Partition& p, quorum_level level,
                            const std::optional<std::size_t>& named) {
    request_plan plan;
    plan.coordinator = coordinator(named);
    plan.replicas = replicas_of(p);
    plan.needed = replicas_needed(level, plan.replicas.size());
    plan.up = reachable_from(plan.coordinator, plan.replicas);
    if (!plan.ok()) ++stats_.unavailable;
    return plan;
  }

  // Runs `done(value)` through the transport, never inside the call that started the request.
  template <class Handler, class Result>
  void post(Handler done, Result value) {
    transport_.after(
        std::chrono::nanoseconds{0},
        [done = std::move(done), value = std::move(value)]() mutable { done(std::move(value)); });
  }

  void store_hint(std::size_t holder, std::size_t target, const Partition& p, const Clustering& key,
                  const cell& c) {
    hints_.push_back(hint{holder, target, p, key, c, clock_.now()});
    ++stats_.hints_stored;
  }

  struct write_state {
    quorum_write_result result;
    std::size_t needed = 0;
    std::size_t outstanding = 0;  // sent, neither answered nor lost yet
    std::size_t coordinator = 0;
    Partition partition;
    Clustering clustering;
    cell value;
    std::chrono::nanoseconds started{0};
    bool reported = false;
    std::function<void(quorum_write_result)> done;
  };

  // Sends the write to every reachable replica (a hint for the others); `done` runs at the W-th
  // acknowledgement. Returns the request's state (null when unavailable), which keeps counting
  // the acknowledgements that come after.
  std::shared_ptr<write_state> start_write(const Partition& p, const Clustering& key,
                                           std::optional<Value> value,
                                           const quorum_write_options& options,
                                           std::function<void(quorum_write_result)> done) {
    ++stats_.writes;
    const request_plan plan = plan_request(p, options.level, options.coordinator);
    if (!plan.ok()) {
      quorum_write_result out;
      out.status = quorum_status::unavailable;
      out.acks = plan.up.size();
      post(std::move(done), out);
      return nullptr;
    }
    auto w = std::make_shared<write_state>(write_state{{},
                                                       plan.needed,
                                                       0,
                                                       plan.coordinator,
                                                       p,
                                                       key,
                                                       cell{std::move(value), next_timestamp()},
                                                       transport_.elapsed(),
                                                       false,
                                                       std::move(done)});
    w->result.timestamp = w->value.timestamp;
    for (const std::size_t r : plan.replicas) {
      if (!reachable(plan.coordinator, r)) {
        store_hint(plan.coordinator, r, p, key, w->value);
        ++w->result.hints;
        continue;
      }
      ++w->outstanding;
      transport_.send(
          plan.coordinator, r,
          [this, w, r] { (void)apply(nodes_[r].data, w->partition, w->clustering, w->value); },
          [this, w, r](replica_reply reply) { on_write_reply(*w, r, reply); });
    }
    return w;
  }

  void on_write_reply(write_state& w, std::size_t replica, replica_reply reply) {
    --w.outstanding;
    if (reply == replica_reply::answered) {
      ++w.result.acks;
    } else {  // the replica failed before applying it: a hint, as for one that was down
      store_hint(w.coordinator, replica, w.partition, w.clustering, w.value);
      ++w.result.hints;
    }
    if (w.reported) return;
    if (w.result.acks == w.needed) {
      if (options_.count_stale_reads) (void)apply(oracle_, w.partition, w.clustering, w.value);
      ++stats_.acknowledged_writes;
    } else if (w.result.acks + w.outstanding < w.needed) {
      w.result.status = quorum_status::timed_out;
      ++stats_.timed_out;
    } else {
      return;
    }
    w.reported = true;
    w.result.latency = transport_.elapsed() - w.started;
    w.done(w.result);
  }

  // A blocking write: settles every reply, so `acks` counts every replica that applied it.
  quorum_write_result settled_write(const Partition& p, const Clustering& key,
                                    std::optional<Value> value,
                                    const quorum_write_options& options) {
    quorum_write_result out;
    const auto w =
        start_write(p, key, std::move(value), options, [&out](quorum_write_result r) { out = r; });
    transport_.settle();
    if (w) {
      out.acks = w->result.acks;
      out.hints = w->result.hints;
    }
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
  // `first`, when given, is the first round's answers (read at the replicas when they served
  // the request); the later rounds read `sources` now.
  [[nodiscard]] cells merge_slices(const std::vector<const table*>& sources, const Partition& p,
                                   bounds b, std::size_t limit,
                                   std::vector<replica_answer> first = {}) const {
    cells merged{compare_};
    std::size_t live = 0;
    for (;;) {
      std::optional<Clustering> cut;
      std::vector<replica_answer> answers = std::move(first);
      first.clear();
      if (answers.empty()) {
        answers.reserve(sources.size());
        for (const table* t : sources)
          answers.push_back(collect(*t, p, b, limit - live));
      }
      for (const auto& a : answers) {
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

  struct read_state {
    std::size_t coordinator = 0;
    std::vector<std::size_t> up;  // shuffled: the first `needed` are asked, the rest are spares
    std::size_t needed = 0;
    Partition partition;
    bounds range;
    std::size_t limit = 0;
    std::chrono::nanoseconds started{0};
    std::size_t asked = 0;
    std::size_t outstanding = 0;
    std::vector<std::optional<replica_answer>> served;  // by index in `up`: read at the replica
    std::vector<std::size_t> answered;                  // indices in `up`, in arrival order
    bool speculated = false;
    bool reported = false;
    std::function<void(read_outcome)> finish;
  };

  // Asks R reachable replicas (no snitch: any R); `finish` runs at the R-th answer. A read
  // still waiting after speculative_retry_after asks one spare replica too.
  void start_read(const Partition& p, const bounds& b, std::size_t limit,
                  const quorum_read_options& options, std::function<void(read_outcome)> finish) {
    ++stats_.reads;
    request_plan plan = plan_request(p, options.level, options.coordinator);
    if (!plan.ok()) {
      read_outcome out{quorum_status::unavailable, cells{compare_}, false, 0, {}};
      post(std::move(finish), std::move(out));
      return;
    }
    std::shuffle(plan.up.begin(), plan.up.end(), rng_);
    auto s = std::make_shared<read_state>();
    s->coordinator = plan.coordinator;
    s->needed = plan.needed;
    s->served.resize(plan.up.size());
    s->up = std::move(plan.up);
    s->partition = p;
    s->range = b;
    s->limit = limit;
    s->started = transport_.elapsed();
    s->finish = std::move(finish);
    for (std::size_t k = 0; k < s->needed; ++k)
      ask(s);
    if (options_.speculative_retry_after && s->up.size() > s->needed) {
      transport_.after(*options_.speculative_retry_after, [this, s] {
        if (s->reported || s->asked == s->up.size()) return;
        s->speculated = true;
        ++stats_.speculative_retries;
        ask(s);
      });
    }
  }

  void ask(const std::shared_ptr<read_state>& s) {
    const std::size_t k = s->asked++;
    const std::size_t r = s->up[k];
    ++s->outstanding;
    transport_.send(
        s->coordinator, r,
        [this, s, k, r] {
          s->served[k] = collect(nodes_[r].data, s->partition, s->range, s->limit);
        },
        [this, s, k](replica_reply reply) { on_read_reply(*s, k, reply); });
  }

  void on_read_reply(read_state& s, std::size_t k, replica_reply reply) {
    --s.outstanding;
    if (s.reported) return;
    if (reply == replica_reply::answered) s.answered.push_back(k);
    read_outcome out{quorum_status::ok, cells{compare_}, s.speculated, 0, {}};
    if (s.answered.size() == s.needed) {
      // Merge the first R answers; read repair gives those replicas every cell they lack.
      std::vector<replica_answer> first;
      std::vector<const table*> sources;
      for (const std::size_t i : s.answered) {
        first.push_back(std::move(*s.served[i]));
        sources.push_back(&nodes_[s.up[i]].data);
      }
      out.merged = merge_slices(sources, s.partition, s.range, s.limit, std::move(first));
      for (const std::size_t i : s.answered) {
        for (const auto& [key, c] : out.merged) {
          if (apply(nodes_[s.up[i]].data, s.partition, key, c)) ++out.repaired;
        }
      }
      stats_.read_repairs += out.repaired;
    } else if (s.answered.size() + s.outstanding < s.needed) {
      out.status = quorum_status::timed_out;
      ++stats_.timed_out;
    } else {
      return;
    }
    s.reported = true;
    out.latency = transport_.elapsed() - s.started;
    s.finish(std::move(out));
  }

  void check_slice(const slice_type& slice) const {
    if (slice.limit == 0) detail::throw_invalid_argument(component, "limit", "must be >= 1", 0);
    if (slice.from && slice.to && compare_(*slice.to, *slice.from)) {
      detail::throw_invalid_argument(component, "slice",
                                     "must have from <= to in clustering order");
    }
  }

  // The fields every read's answer carries, taken from the outcome of its replica requests.
  template <class Result>
  [[nodiscard]] static Result answer_from(const read_outcome& r) {
    Result out;
    out.status = r.status;
    out.speculated = r.speculated;
    out.repaired = r.repaired;
    out.latency = r.latency;
    return out;
  }

  template <class Handler>
  void start_get(const Partition& p, const Clustering& key, const quorum_read_options& options,
                 Handler done) {
    // Stale is judged against the writes acknowledged before the read started.
    std::optional<cell> truth;
    if (options_.count_stale_reads) truth = lookup(oracle_, p, key);
    start_read(p, bounds{key, false, key, false}, 1, options,
               [this, key, truth, done = std::move(done)](read_outcome r) mutable {
                 auto out = answer_from<read_result>(r);
                 if (r.status == quorum_status::ok) {
                   if (const auto it = r.merged.find(key); it != r.merged.end()) {
                     out.value = it->second.value;
                     out.timestamp = it->second.timestamp;
                   }
                   // A missing tombstone that leaves the row absent is the right answer.
                   out.stale = truth.has_value() && truth->timestamp > out.timestamp &&
                               (truth->value.has_value() || out.value.has_value());
                   if (out.stale) ++stats_.stale_reads;
                 }
                 done(std::move(out));
               });
  }

  template <class Handler>
  void start_range(const Partition& p, const slice_type& slice, const quorum_read_options& options,
                   Handler done) {
    const bounds b = to_bounds(slice);
    std::optional<std::vector<row_type>> truth;
    if (options_.count_stale_reads) truth = oracle_slice(p, b, slice.limit);
    start_read(p, b, slice.limit, options,
               [this, limit = slice.limit, truth = std::move(truth),
                done = std::move(done)](read_outcome r) mutable {
                 auto out = answer_from<range_result>(r);
                 if (r.status == quorum_status::ok) {
                   out.rows = live_rows(r.merged, limit);
                   out.stale = truth.has_value() && !same_versions(*truth, out.rows);
                   if (out.stale) ++stats_.stale_reads;
                 }
                 done(std::move(out));
               });
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
  Transport transport_;
  Clock clock_;
  [[no_unique_address]] Compare compare_;
  scaling::hash<> hash_{};
  hash_ring<std::uint32_t> ring_;
  std::mt19937_64 rng_;
  table oracle_;
  mutable typename Transport::mutex_type mutex_;
  std::vector<node> nodes_;
  std::vector<hint> hints_;
  std::size_t next_coordinator_ = 0;
  std::uint64_t last_timestamp_ = 0;
  quorum_store_stats stats_{};
};

}  // namespace scaling
