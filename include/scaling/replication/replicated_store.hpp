// scaling/replication/replicated_store.hpp: an in-process primary with N replicas.
//
// What it is: `replicated_store<Key, Value, Policy, Clock>`, the embedded default of the
// replication area: a primary key-value map and N replica maps fed by one replication log.
// Each replica applies an entry `lag` after it was committed (per-replica, driven by the
// clock, so a manual_clock makes every run identical). Writes are
//   async      acknowledged by the primary alone (replicas catch up later; a failover may
//              lose the tail),
//   sync       acknowledged once every live replica has applied them,
//   quorum     acknowledged once the `quorum` fastest live replicas have applied them.
// Reads are routed by an internal replica_selector<.., Policy> under read_options (mode,
// staleness, read-your-writes sessions). `failover()` crashes the primary and promotes the
// live replica with the highest applied position; writes it had not applied are lost, counted
// in stats().lost_writes and listed in the returned report, never hidden.
//
// When to pick it: tests, examples, simulations and single-process prototypes of a replicated
// database: everything about lag, stale reads, sessions and failover, with no server. For a
// real database use replica_selector with an adapter (postgres.hpp).
//
//   scaling::manual_clock clock;
//   scaling::replicated_store<std::string, int, scaling::round_robin, scaling::manual_clock>
//       db{{.replicas = 2, .replica_lag = {100ms, 2s}}, clock};
//   scaling::read_session me;
//   me.record_write(db.put("likes", 1).token);
//   auto r = db.get("likes", me);      // served where position >= the token: the primary now
//
// Thread safety: every member function may be called concurrently (one internal mutex).
// Complexity: put O(log entries applied synchronously + members) ; get O(members + entries
// replayed since the last call); failover O(members + log tail).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/replication/consistency.hpp>
#include <scaling/replication/policies.hpp>
#include <scaling/replication/replica.hpp>
#include <scaling/replication/replica_selector.hpp>

namespace scaling {

enum class replication_mode : std::uint8_t { async, sync, quorum };

struct replicated_store_options {
  std::size_t replicas = 2;                           // replicas besides the primary (>= 1)
  std::vector<std::chrono::nanoseconds> replica_lag;  // apply delay per replica; empty: all
                                                      // use default_lag
  std::chrono::nanoseconds default_lag = std::chrono::milliseconds{100};
  replication_mode mode = replication_mode::async;
  std::size_t quorum = 1;  // acks required in quorum mode (1..replicas)
  // For the internal selector. Panic mode is off by default: a crashed in-process member
  // cannot answer, so routing to it would only fail.
  outlier_detection health = default_store_health();

  static outlier_detection default_store_health() {
    outlier_detection h;
    h.panic_threshold_percent = 0.0;
    return h;
  }
};

// What a write returns.
struct write_result {
  consistency_token token;                  // record it in a read_session for read-your-writes
  std::size_t acks = 0;                     // replicas that applied it before the acknowledgement
  std::chrono::nanoseconds commit_wait{0};  // simulated time the acknowledgement waited for them
  bool quorum_met = true;                   // false when sync/quorum found too few live replicas
  bool accepted = true;  // false when the store has no live primary (a failover found no
                         // replica to promote): nothing was written, the token is empty
};

// What a read returns.
template <class Value>
struct read_result {
  select_status status = select_status::ok;  // not ok: nobody could serve it, value empty
  std::optional<Value> value;                // empty when the key is absent (or not ok)
  log_position version = 0;                  // the position of the write that produced it
  std::size_t node = 0;                      // who served it
  bool from_primary = false;
  bool stale = false;  // older than the primary's version of the key
};

// What failover() did.
struct failover_report {
  bool promoted = false;  // false: no live replica, the store has no primary
  std::size_t old_primary = 0;
  std::size_t new_primary = 0;
  log_position promoted_at = 0;     // the new primary's applied position
  log_position last_committed = 0;  // the old primary's last position
  std::uint64_t lost_writes = 0;    // acknowledged writes the new primary never applied
  std::vector<log_position> lost_positions;
};

struct replicated_store_stats {
  std::uint64_t writes = 0;
  std::uint64_t reads = 0;
  std::uint64_t primary_reads = 0;
  std::uint64_t replica_reads = 0;
  std::uint64_t stale_reads = 0;   // reads that returned an older version than the primary's
  std::uint64_t failed_reads = 0;  // select found nobody
  std::uint64_t failovers = 0;
  std::uint64_t lost_writes = 0;  // across all failovers
};

// The state of one member (a snapshot).
struct store_node_state {
  std::string id;
  replica_role role = replica_role::replica;
  bool alive = true;
  bool replay_paused = false;
  log_position applied = 0;
  std::uint64_t lag_positions = 0;
  std::chrono::nanoseconds lag{0};  // age of the oldest entry not yet applied
  std::chrono::nanoseconds apply_delay{0};
  std::size_t keys = 0;
};

template <class Key, class Value, selection_policy Policy = round_robin,
          clock_source Clock = std::chrono::steady_clock>
class replicated_store {
 public:
  using time_point = typename Clock::time_point;

  // Node 0 starts as the primary, nodes 1..replicas as replicas (ids "node-0", "node-1", ...).
  // Throws scaling::invalid_argument for replicas == 0, a replica_lag list whose size is not
  // `replicas`, a negative lag, or a quorum outside [1, replicas] in quorum mode.
  explicit replicated_store(replicated_store_options opts = {}, Clock clock = Clock{},
                            Policy policy = Policy{})
      : options_(validated(std::move(opts))),
        clock_(clock),
        origin_(detail::next_origin()),
        selector_(make_members(options_.replicas),
                  replica_selector_options<Policy>{std::move(policy), options_.health}, clock) {
    nodes_.resize(options_.replicas + 1);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i].id = "node-" + std::to_string(i);
      nodes_[i].role = i == 0 ? replica_role::primary : replica_role::replica;
      nodes_[i].delay = i == 0 ? std::chrono::nanoseconds{0}
                               : (options_.replica_lag.empty() ? options_.default_lag
                                                               : options_.replica_lag[i - 1]);
    }
  }

  replicated_store(const replicated_store&) = delete;
  replicated_store& operator=(const replicated_store&) = delete;

  // Writes at the primary and appends it to the replication log; returns its token (and, in
  // sync/quorum mode, the acknowledgement). Not accepted when the store has no live primary.
  // Exception safety: basic (if copying Key or Value throws, the store stays usable but the
  // write may be applied at the primary only).
  write_result put(const Key& key, Value value) {
    return write(key, std::optional<Value>{std::move(value)});
  }
  // Deletes at the primary (replicated like a write).
  write_result erase(const Key& key) { return write(key, std::nullopt); }

  // Reads `key` from the member chosen under `opts`.
  [[nodiscard]] read_result<Value> get(const Key& key, const read_options& opts = {}) {
    std::lock_guard lock{mutex_};
    return read_locked(key, opts);
  }

  // Reads for a session: only a member that applied the session's writes and previous reads.
  // Throws scaling::invalid_argument if the session holds another store's tokens.
  [[nodiscard]] read_result<Value> get(const Key& key, read_session& session,
                                       read_options opts = {}) {
    session.check_origin(origin_);
    opts.min_position = std::max(opts.min_position, session.min_position());
    std::lock_guard lock{mutex_};
    read_result<Value> r = read_locked(key, opts);
    if (r.status == select_status::ok) session.record_read(origin_, nodes_[r.node].applied);
    return r;
  }

  // Reads `key` straight from node `i`, bypassing routing (inspection, tests).
  // Throws scaling::invalid_argument for an unknown node.
  [[nodiscard]] std::optional<Value> peek(std::size_t i, const Key& key) {
    std::lock_guard lock{mutex_};
    check_node(i);
    catch_up(clock_.now());
    const auto it = nodes_[i].data.find(key);
    if (it == nodes_[i].data.end()) return std::nullopt;
    return it->second.value;
  }

  // Crashes replica `i` (it stops applying and serving) / brings it back with a fresh copy of
  // the primary (as pg_basebackup would). Throws scaling::invalid_argument for an unknown node
  // or for the primary.
  void fail_replica(std::size_t i) {
    std::lock_guard lock{mutex_};
    check_replica(i);
    nodes_[i].alive = false;
    selector_.mark(nodes_[i].id, replica_health::down);
  }
  void recover_replica(std::size_t i) {
    std::lock_guard lock{mutex_};
    check_replica(i);
    node& n = nodes_[i];
    const node& p = nodes_[primary_];
    catch_up(clock_.now());
    n.data = p.data;
    n.applied = p.applied;
    n.next = log_end();
    n.alive = true;
    n.role = replica_role::replica;
    selector_.mark(n.id, replica_health::up);
  }
  // Stops / resumes replay on replica `i` (pg_wal_replay_pause / resume): it keeps serving,
  // increasingly stale. On resume it applies everything that is due at once.
  void pause_replay(std::size_t i) { set_paused(i, true); }
  void resume_replay(std::size_t i) { set_paused(i, false); }

  // The primary crashes; the live replica with the highest applied position (lowest index on a
  // tie) becomes the primary. Under async (or quorum with the acking replicas dead) the writes
  // it had not applied are lost: counted, and listed in the report.
  failover_report failover() {
    std::lock_guard lock{mutex_};
    catch_up(clock_.now());
    failover_report report;
    report.old_primary = primary_;
    report.last_committed = nodes_[primary_].applied;
    std::size_t best = npos;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (i == primary_ || !nodes_[i].alive) continue;
      if (best == npos || nodes_[i].applied > nodes_[best].applied) best = i;
    }
    nodes_[primary_].alive = false;
    nodes_[primary_].role = replica_role::replica;
    ++stats_.failovers;
    if (best == npos) {
      selector_.mark(nodes_[primary_].id, replica_health::down);
      return report;
    }
    node& promoted = nodes_[best];
    report.promoted = true;
    report.new_primary = best;
    report.promoted_at = promoted.applied;
    // Everything past the new primary's position existed only on the old primary (and on no
    // live replica, since the promoted one is the most advanced): it is gone.
    while (!log_.empty() && log_.back().position > promoted.applied) {
      report.lost_positions.push_back(log_.back().position);
      log_.pop_back();
    }
    std::reverse(report.lost_positions.begin(), report.lost_positions.end());
    report.lost_writes = report.lost_positions.size();
    stats_.lost_writes += report.lost_writes;
    promoted.role = replica_role::primary;
    promoted.delay = std::chrono::nanoseconds{0};
    promoted.paused = false;
    primary_ = best;
    selector_.promote(promoted.id);
    return report;
  }

  [[nodiscard]] store_node_state node_state(std::size_t i) {
    std::lock_guard lock{mutex_};
    check_node(i);
    const time_point now = clock_.now();
    catch_up(now);
    return snapshot(i, now);
  }
  [[nodiscard]] std::size_t primary() const {
    std::lock_guard lock{mutex_};
    return primary_;
  }
  [[nodiscard]] std::size_t nodes() const noexcept { return nodes_.size(); }
  [[nodiscard]] std::uint64_t origin() const noexcept { return origin_; }
  [[nodiscard]] replicated_store_stats stats() const {
    std::lock_guard lock{mutex_};
    return stats_;
  }
  // The routing state (per-member selections, latency, ejections) of the internal selector.
  [[nodiscard]] std::vector<replica_state> routing() const { return selector_.states(); }
  [[nodiscard]] const replicated_store_options& settings() const noexcept { return options_; }

 private:
  static constexpr std::string_view component = "scaling::replicated_store";
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  struct store_member {
    std::string id;
    replica_role role = replica_role::replica;
  };
  struct versioned {
    Value value;
    log_position version = 0;
  };
  struct entry {
    log_position position = 0;
    Key key;
    std::optional<Value> value;  // empty: an erase
    time_point committed{};
  };
  struct node {
    std::string id;
    replica_role role = replica_role::replica;
    bool alive = true;
    bool paused = false;
    std::chrono::nanoseconds delay{0};
    std::unordered_map<Key, versioned> data;
    log_position applied = 0;
    std::size_t next = 0;  // absolute index of the next log entry to apply
  };

  static replicated_store_options validated(replicated_store_options o) {
    if (o.replicas == 0) {
      detail::throw_invalid_argument(component, "replicas", "must be >= 1", o.replicas);
    }
    if (!o.replica_lag.empty() && o.replica_lag.size() != o.replicas) {
      detail::throw_invalid_argument(component, "replica_lag",
                                     "must be empty or hold one lag per replica (size)",
                                     o.replica_lag.size());
    }
    for (const auto lag : o.replica_lag) {
      if (lag < std::chrono::nanoseconds::zero()) {
        detail::throw_invalid_argument(component, "replica_lag", "must be >= 0 ns", lag.count());
      }
    }
    if (o.default_lag < std::chrono::nanoseconds::zero()) {
      detail::throw_invalid_argument(component, "default_lag", "must be >= 0 ns",
                                     o.default_lag.count());
    }
    if (o.mode == replication_mode::quorum && (o.quorum == 0 || o.quorum > o.replicas)) {
      detail::throw_invalid_argument(component, "quorum", "must be in [1, replicas]", o.quorum);
    }
    return o;
  }

  static std::vector<store_member> make_members(std::size_t replicas) {
    std::vector<store_member> members;
    for (std::size_t i = 0; i <= replicas; ++i) {
      members.push_back(
          {"node-" + std::to_string(i), i == 0 ? replica_role::primary : replica_role::replica});
    }
    return members;
  }

  void check_node(std::size_t i) const {
    if (i >= nodes_.size()) {
      detail::throw_invalid_argument(component, "node", "must be < nodes()", i);
    }
  }
  void check_replica(std::size_t i) const {
    check_node(i);
    if (i == primary_) {
      detail::throw_invalid_argument(component, "node", "must be a replica, not the primary", i);
    }
  }

  std::size_t log_end() const noexcept { return log_base_ + log_.size(); }
  const entry& log_at(std::size_t absolute) const { return log_[absolute - log_base_]; }

  static void apply(node& n, const entry& e) {
    if (e.value) {
      n.data.insert_or_assign(e.key, versioned{*e.value, e.position});
    } else {
      n.data.erase(e.key);
    }
    n.applied = e.position;
    ++n.next;
  }

  // Replays on every live, unpaused replica the entries whose delay has elapsed, then drops
  // the log prefix every live replica has applied.
  void catch_up(time_point now) {
    std::size_t keep_from = log_end();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      node& n = nodes_[i];
      if (i == primary_ || !n.alive) continue;
      if (!n.paused) {
        while (n.next < log_end() && log_at(n.next).committed + n.delay <= now) {
          apply(n, log_at(n.next));
        }
      }
      keep_from = std::min(keep_from, n.next);
    }
    while (log_base_ < keep_from && !log_.empty()) {
      log_.pop_front();
      ++log_base_;
    }
  }

  write_result write(const Key& key, std::optional<Value> value) {
    std::lock_guard lock{mutex_};
    const time_point now = clock_.now();
    catch_up(now);
    node& p = nodes_[primary_];
    if (!p.alive) {
      write_result refused;
      refused.accepted = false;
      refused.quorum_met = false;
      return refused;
    }
    const log_position position = ++next_position_;
    log_.push_back(entry{position, key, std::move(value), now});
    // The primary applies it at once (p.next is unused for the primary).
    const entry& e = log_.back();
    if (e.value) {
      p.data.insert_or_assign(key, versioned{*e.value, position});
    } else {
      p.data.erase(key);
    }
    p.applied = position;
    ++stats_.writes;
    write_result result;
    result.token = {origin_, position};
    if (options_.mode != replication_mode::async) {
      // Synchronous replicas apply everything up to this entry before the acknowledgement;
      // the acknowledgement waits for the slowest of the ones it needs.
      std::vector<std::size_t> live;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (i != primary_ && nodes_[i].alive) live.push_back(i);
      }
      std::stable_sort(live.begin(), live.end(), [this](std::size_t a, std::size_t b) {
        return nodes_[a].delay < nodes_[b].delay;
      });
      const std::size_t needed =
          options_.mode == replication_mode::sync ? options_.replicas : options_.quorum;
      const std::size_t acking = std::min(needed, live.size());
      for (std::size_t k = 0; k < acking; ++k) {
        node& n = nodes_[live[k]];
        while (n.next < log_end())
          apply(n, log_at(n.next));
        result.commit_wait = std::max(result.commit_wait, n.delay);
      }
      result.acks = acking;
      result.quorum_met = acking >= needed;
    }
    return result;
  }

  read_result<Value> read_locked(const Key& key, const read_options& opts) {
    const time_point now = clock_.now();
    catch_up(now);
    selector_.report_primary_position(nodes_[primary_].applied);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (i == primary_) continue;
      selector_.report_replication(nodes_[i].id, nodes_[i].applied, lag_of(i, now));
    }
    ++stats_.reads;
    auto ticket = selector_.select(opts);
    read_result<Value> r;
    if (!ticket) {
      ++stats_.failed_reads;
      r.status = ticket.status();
      return r;
    }
    r.node = ticket.index();
    r.from_primary = r.node == primary_;
    ++(r.from_primary ? stats_.primary_reads : stats_.replica_reads);
    const auto& data = nodes_[r.node].data;
    const auto it = data.find(key);
    if (it != data.end()) {
      r.value = it->second.value;
      r.version = it->second.version;
    }
    const auto& truth = nodes_[primary_].data;
    const auto current = truth.find(key);
    const log_position current_version = current == truth.end() ? 0 : current->second.version;
    r.stale = current_version != r.version;
    if (r.stale) ++stats_.stale_reads;
    ticket.complete(read_outcome::success);
    return r;
  }

  std::chrono::nanoseconds lag_of(std::size_t i, time_point now) const {
    const node& n = nodes_[i];
    if (i == primary_ || n.next >= log_end()) return std::chrono::nanoseconds{0};
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now - log_at(n.next).committed);
  }

  store_node_state snapshot(std::size_t i, time_point now) const {
    const node& n = nodes_[i];
    store_node_state s;
    s.id = n.id;
    s.role = n.role;
    s.alive = n.alive;
    s.replay_paused = n.paused;
    s.applied = n.applied;
    const log_position head = nodes_[primary_].applied;
    s.lag_positions = head - std::min(head, n.applied);
    s.lag = n.alive ? lag_of(i, now) : std::chrono::nanoseconds{0};
    s.apply_delay = n.delay;
    s.keys = n.data.size();
    return s;
  }

  void set_paused(std::size_t i, bool paused) {
    std::lock_guard lock{mutex_};
    check_replica(i);
    catch_up(clock_.now());
    nodes_[i].paused = paused;
    catch_up(clock_.now());
  }

  replicated_store_options options_;
  [[no_unique_address]] Clock clock_;
  std::uint64_t origin_;
  replica_selector<store_member, Policy, Clock> selector_;
  std::vector<node> nodes_;
  std::deque<entry> log_;
  std::size_t log_base_ = 0;
  std::size_t primary_ = 0;
  log_position next_position_ = 0;
  replicated_store_stats stats_;
  mutable std::mutex mutex_;
};

}  // namespace scaling
