// scaling/replication/replica_selector.hpp: which database copy serves a read.
//
// What it is: `replica_selector<Replica, Policy, Clock>`, the client-side router of a replica
// set (at most one primary and any number of replicas). `select(options)` filters the members
// by read mode, health (outlier ejection, a cap on reads in flight, panic mode), staleness and
// read-your-writes position, lets the Policy pick one, and returns a `ticket`: an RAII handle
// that records the outcome and the latency when the read completes (or `cancelled` when it is
// dropped unfinished). Positions and lag come from outside (`report_replication`): from a
// replicated_store, from PostgreSQL's pg_last_wal_replay_lsn(), from any replication monitor.
//
// When to pick it: in front of read replicas (PostgreSQL, MySQL, MongoDB secondaries, a cache
// tier), whenever reads should spread over copies while respecting how stale each copy is.
// Not a connection pool: the Replica type carries whatever the application uses to reach it.
//
//   std::vector<db_endpoint> replicas = {{"pg-1"}, {"pg-2"}, {"pg-3"}};
//   scaling::replica_selector<db_endpoint, scaling::peak_ewma> reads{replicas};
//   auto ticket = reads.select();              // a replica, by latency and load
//   run_query(ticket.replica());               // the caller's own I/O
//   ticket.complete(scaling::read_outcome::success);   // records latency, frees the slot
//
// Waiting for a fresh replica: select_wait_for(session, opts, timeout) and
// select_wait_until(session, opts, deadline), each also with a trailing std::stop_token, block
// until a member qualifies (a replica reports that it caught up, a member is marked up, a read
// frees a slot under the outstanding cap) and return a scaling::wait_result<ticket>. Timeouts
// saturate: nanoseconds::max() and hours::max() wait forever. An ejection that ends by itself
// is noticed at the next of those events.
//
// Tickets: a ticket is usable (replica(), id(), is_primary()) between select() and complete().
// Using an empty ticket (no member, or moved from) or a completed one throws std::logic_error
// naming that state; complete() is idempotent. A ticket may outlive its selector: completing
// or destroying it then does nothing (there is nothing left to record into), and replica(),
// id() and is_primary() throw std::logic_error. The reference replica() returns is valid while
// the selector exists.
//
// Thread safety: every member function may be called from any thread at the same time: the
// selector is internally locked (one std::mutex, held for the O(members) filtering and the
// pick, never across the caller's I/O). Tickets may complete on another thread than the one
// that selected, also while the selector is being destroyed. The selector cannot be moved.
// Complexity: select() O(members) to filter plus the policy's pick; complete() O(1) apart
// from an ejection, which counts ejected members (O(members)).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/replication/consistency.hpp>
#include <scaling/replication/health.hpp>
#include <scaling/replication/policies.hpp>
#include <scaling/replication/replica.hpp>

namespace scaling {

// Settings of a replica_selector.
template <selection_policy Policy>
struct replica_selector_options {
  Policy policy{};             // the policy's own settings (peak_ewma::tau, zone_aware::local_zone)
  outlier_detection health{};  // ejection, panic threshold, outstanding cap
  std::uint64_t seed = 0x5eed;  // seeds the policy's random choices: same seed, same picks
};

// Why a select() returned an empty ticket, or `ok`.
enum class select_status : std::uint8_t {
  ok,
  no_member,         // no member of the requested role is up, un-ejected and under its cap
  no_fresh_replica,  // replicas are available but none is fresh enough, and the mode or
                     // stale_fallback::fail forbids the primary
};

// Counters since construction (a snapshot).
struct replica_selector_stats {
  std::uint64_t selections = 0;         // tickets handed out
  std::uint64_t primary_reads = 0;      // ... served by the primary
  std::uint64_t replica_reads = 0;      // ... served by a replica
  std::uint64_t primary_fallbacks = 0;  // reads that wanted a replica but went to the primary
                                        // (no fresh or healthy replica: the thundering herd)
  std::uint64_t stale_skips = 0;        // replicas passed over for lag or position, summed
  std::uint64_t panic_selections = 0;   // picks made while in panic (health ignored)
  std::uint64_t no_member = 0;          // select() calls that found nobody
  std::uint64_t no_fresh_replica = 0;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::uint64_t cancellations = 0;
  std::uint64_t ejections = 0;
};
using selector_stats [[deprecated("use replica_selector_stats")]] = replica_selector_stats;

template <replica_description Replica, selection_policy Policy = peak_ewma,
          clock_source Clock = std::chrono::steady_clock>
class replica_selector {
 public:
  using replica_type = Replica;
  using policy_type = Policy;
  using clock_type = Clock;
  using options = replica_selector_options<Policy>;
  using time_point = typename Clock::time_point;

 private:
  // What a selector shares with its tickets: whether it still exists. The selector's destructor
  // clears `owner` under the exclusive lock; a ticket uses the selector only under the shared
  // lock, so a ticket never touches a destroyed selector.
  struct anchor {
    explicit anchor(replica_selector* selector) noexcept : owner(selector) {}
    std::shared_mutex mutex;
    replica_selector* owner;
  };

 public:
  // A read in progress on one member. Move-only; completing it (or destroying it) returns the
  // member's slot. An empty ticket (status() != ok, or moved from) refers to no member.
  class ticket {
   public:
    ticket() = default;
    ticket(ticket&& other) noexcept { *this = std::move(other); }
    ticket& operator=(ticket&& other) noexcept {
      if (this != &other) {
        release(read_outcome::cancelled);
        anchor_ = std::move(other.anchor_);
        index_ = other.index_;
        start_ = other.start_;
        applied_ = other.applied_;
        status_ = other.status_;
        state_ = std::exchange(other.state_, state::empty);
      }
      return *this;
    }
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    // An unfinished ticket completes as `cancelled`: the slot is freed, nothing is learned.
    ~ticket() { release(read_outcome::cancelled); }

    // True between a successful select() and complete().
    [[nodiscard]] explicit operator bool() const noexcept { return state_ == state::open; }
    [[nodiscard]] select_status status() const noexcept { return status_; }
    // The member chosen; the reference is valid while the selector exists.
    // Throws std::logic_error on an empty or completed ticket, or once the selector is gone.
    [[nodiscard]] const Replica& replica() const {
      std::shared_lock lock = usable("replica()");
      return anchor_->owner->members_[index_].replica;
    }
    // The chosen member's id. Throws as replica().
    [[nodiscard]] std::string_view id() const {
      std::shared_lock lock = usable("id()");
      return anchor_->owner->members_[index_].id;
    }
    [[nodiscard]] std::size_t index() const noexcept { return index_; }
    // Whether the chosen member is the primary now. Throws as replica().
    [[nodiscard]] bool is_primary() const {
      std::shared_lock lock = usable("is_primary()");
      const replica_selector& owner = *anchor_->owner;
      std::lock_guard guard{owner.mutex_};
      return owner.is_primary_index(index_);
    }
    // The member's applied position when it was chosen (what a session may now rely on).
    [[nodiscard]] log_position applied_position() const noexcept { return applied_; }
    [[nodiscard]] time_point started() const noexcept { return start_; }

    // Ends the read: records the latency since select() (success and failure) and the outcome
    // (failures count towards ejection). A second call, a call on an empty ticket, or a call
    // after the selector is gone does nothing. Thread safety: any thread.
    void complete(read_outcome outcome) { release(outcome); }

   private:
    friend class replica_selector;
    enum class state : std::uint8_t { empty, open, completed };

    ticket(std::shared_ptr<anchor> owner, std::size_t index, time_point start, log_position applied)
        : anchor_(std::move(owner)),
          index_(index),
          start_(start),
          applied_(applied),
          state_(state::open) {}
    explicit ticket(select_status status) : status_(status) {}

    // A shared lock that keeps the selector alive, or std::logic_error naming why the ticket
    // cannot be used.
    [[nodiscard]] std::shared_lock<std::shared_mutex> usable(std::string_view call) const {
      if (state_ != state::open) {
        throw std::logic_error(
            std::string{"scaling::replica_selector::ticket: "} + std::string{call} +
            (state_ == state::completed ? " on a completed ticket (complete() was called)"
                                        : " on an empty ticket (select() found no member, or the "
                                          "ticket was moved from)"));
      }
      std::shared_lock lock{anchor_->mutex};
      if (anchor_->owner == nullptr) {
        throw std::logic_error(std::string{"scaling::replica_selector::ticket: "} +
                               std::string{call} +
                               " on a ticket whose replica_selector was destroyed");
      }
      return lock;
    }

    void release(read_outcome outcome) {
      if (state_ != state::open) return;
      state_ = state::completed;
      std::shared_lock lock{anchor_->mutex};
      if (anchor_->owner != nullptr) anchor_->owner->finish(index_, start_, outcome);
    }

    std::shared_ptr<anchor> anchor_;
    std::size_t index_ = 0;
    time_point start_{};
    log_position applied_ = 0;
    select_status status_ = select_status::ok;
    state state_ = state::empty;
  };

  // Builds a selector over `members`. Template parameters: Replica satisfies
  // replica_description; Policy satisfies selection_policy; Clock satisfies clock_source.
  // Throws scaling::invalid_argument for an empty set, a weight outside [1, 2^32), duplicate
  // ids, more than one primary, tau <= 0, or bad health settings.
  explicit replica_selector(std::vector<Replica> members, options opts = {}, Clock clock = Clock{})
      : options_(std::move(opts)),
        clock_(clock),
        detector_(checked_size(members), options_.health, clock),
        state_(options_.seed),
        tau_(detail::latency_tau_of(options_.policy)),
        origin_(detail::next_origin()) {
    if (tau_ <= std::chrono::nanoseconds::zero()) {
      detail::throw_invalid_argument(component, "policy.tau", "must be > 0 ns", tau_.count());
    }
    members_.reserve(members.size());
    for (auto& r : members) {
      member m{r, std::string{detail::replica_id_of(r)}, std::string{detail::replica_zone_of(r)}, 1,
               detail::replica_role_of(r)};
      const long long weight = detail::replica_weight_of(r);
      if (weight < 1 || weight > std::numeric_limits<std::uint32_t>::max()) {
        detail::throw_invalid_argument(component, "weight of replica '" + m.id + "'",
                                       "must be in [1, 2^32)", weight);
      }
      m.weight = static_cast<std::uint32_t>(weight);
      if (m.role == replica_role::primary) {
        if (primary_ != npos) {
          detail::throw_invalid_argument(component, "role", "may be primary for one member only",
                                         m.id);
        }
        primary_ = members_.size();
      }
      if (!index_by_id_.emplace(m.id, members_.size()).second) {
        detail::throw_invalid_argument(component, "id", "must be unique", m.id);
      }
      members_.push_back(std::move(m));
    }
    candidates_.reserve(members_.size());
  }

  replica_selector(const replica_selector&) = delete;
  replica_selector& operator=(const replica_selector&) = delete;
  // Tickets still open become no-ops (see the banner).
  ~replica_selector() {
    std::unique_lock lock{anchor_->mutex};
    anchor_->owner = nullptr;
  }

  // Picks a member for one read under `opts`. Returns a ticket; an empty one (`!ticket`) when
  // nobody qualifies, with the reason in status(). Never blocks on I/O.
  [[nodiscard]] ticket select(const read_options& opts = {}) {
    std::lock_guard lock{mutex_};
    return select_locked(opts);
  }

  // The same for a session: requires the session's position (read-your-writes, monotonic
  // reads) and records the chosen member's applied position in it.
  // Throws scaling::invalid_argument if the session holds another origin's tokens.
  [[nodiscard]] ticket select(read_session& session, read_options opts = {}) {
    session.check_origin(origin_);
    opts.min_position = std::max(opts.min_position, session.min_position());
    std::lock_guard lock{mutex_};
    ticket t = select_locked(opts);
    if (t) session.record_read(origin_, t.applied_);
    return t;
  }

  // Like select(session, opts), but when no member qualifies (none has applied the session's
  // position, or none is up and under its cap) waits until one does, up to `timeout` of real
  // time, woken by report_replication, report_primary_position, mark, promote and completed
  // reads. When the wait times out with replicas that are only stale, the primary serves the
  // read if opts.on_stale is `primary` and the mode allows it. The timeout saturates:
  // nanoseconds::max() and hours::max() wait forever.
  // Returns: ready with the ticket; timed_out; stopped when `stop` was requested first.
  // Throws scaling::invalid_argument if the session holds another origin's tokens.
  template <class Rep, class Period>
  [[nodiscard]] wait_result<ticket> select_wait_for(read_session& session, read_options opts,
                                                    std::chrono::duration<Rep, Period> timeout) {
    return select_wait_until(session, std::move(opts),
                             deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_result<ticket> select_wait_for(read_session& session, read_options opts,
                                                    std::chrono::duration<Rep, Period> timeout,
                                                    std::stop_token stop) {
    return select_wait_until(session, std::move(opts),
                             deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  // The same with a deadline (time_point::max() waits forever).
  [[nodiscard]] wait_result<ticket> select_wait_until(
      read_session& session, read_options opts, std::chrono::steady_clock::time_point deadline) {
    return select_wait_until(session, std::move(opts), deadline, std::stop_token{});
  }
  [[nodiscard]] wait_result<ticket> select_wait_until(
      read_session& session, read_options opts, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop) {
    ticket t = wait_for_member(session, std::move(opts), deadline, stop);
    if (t) return wait_result<ticket>{std::in_place, std::move(t)};
    return wait_result<ticket>{stop.stop_requested() ? wait_status::stopped
                                                     : wait_status::timed_out};
  }

  // select_wait_for returning the ticket itself: an empty ticket after the timeout, whose
  // status() says why (no_fresh_replica or no_member).
  template <class Rep, class Period>
  [[nodiscard]] ticket select_wait(read_session& session, read_options opts,
                                   std::chrono::duration<Rep, Period> timeout) {
    return wait_for_member(session, std::move(opts),
                           deadline_after(std::chrono::steady_clock{}, timeout), std::stop_token{});
  }

  // Stamps a write's position (e.g. pg_current_wal_lsn() after COMMIT) with this selector's
  // origin, for read_session::record_write.
  [[nodiscard]] consistency_token token(log_position position) const noexcept {
    return {origin_, position};
  }
  [[nodiscard]] std::uint64_t origin() const noexcept { return origin_; }

  // Reports how far member `id` has replayed (`applied`) and its replay lag in time.
  // Throws scaling::invalid_argument for an unknown id.
  void report_replication(std::string_view id, log_position applied,
                          std::chrono::nanoseconds lag = {}) {
    {
      std::lock_guard lock{mutex_};
      member& m = members_[find(id)];
      m.applied = applied;
      m.lag = lag;
      primary_position_ = std::max(primary_position_, applied);
    }
    changed_.notify_all();
  }

  // Reports the primary's current position (pg_current_wal_lsn()); lag in positions is
  // measured from it. The primary member, if any, counts as fully applied.
  void report_primary_position(log_position position) {
    {
      std::lock_guard lock{mutex_};
      primary_position_ = position;
      if (primary_ != npos) members_[primary_].applied = position;
    }
    changed_.notify_all();
  }

  // Marks member `id` up or down (a failed health check, maintenance).
  // Throws scaling::invalid_argument for an unknown id.
  void mark(std::string_view id, replica_health health) {
    {
      std::lock_guard lock{mutex_};
      members_[find(id)].health = health;
    }
    changed_.notify_all();
  }

  // Failover: member `id` becomes the primary; the old primary, if any, becomes a replica and
  // is marked down (it is presumed dead; mark it up once it has rejoined as a replica).
  // Throws scaling::invalid_argument for an unknown id.
  void promote(std::string_view id) {
    {
      std::lock_guard lock{mutex_};
      const std::size_t i = find(id);
      if (primary_ != npos && primary_ != i) {
        members_[primary_].role = replica_role::replica;
        members_[primary_].health = replica_health::down;
      }
      members_[i].role = replica_role::primary;
      members_[i].health = replica_health::up;
      members_[i].lag = {};
      primary_ = i;
      primary_position_ = std::max(primary_position_, members_[i].applied);
    }
    changed_.notify_all();
  }

  // A snapshot of member `id`. Throws scaling::invalid_argument for an unknown id.
  [[nodiscard]] replica_state state(std::string_view id) const {
    std::lock_guard lock{mutex_};
    return snapshot(find(id));
  }
  // Snapshots of every member, in set order.
  [[nodiscard]] std::vector<replica_state> states() const {
    std::lock_guard lock{mutex_};
    std::vector<replica_state> out;
    out.reserve(members_.size());
    for (std::size_t i = 0; i < members_.size(); ++i)
      out.push_back(snapshot(i));
    return out;
  }
  // True when fewer than health.panic_threshold_percent of the members are usable.
  [[nodiscard]] bool in_panic() const {
    std::lock_guard lock{mutex_};
    return detector_.in_panic(usable_count(clock_.now()));
  }
  [[nodiscard]] replica_selector_stats stats() const {
    std::lock_guard lock{mutex_};
    return stats_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
  [[nodiscard]] const options& settings() const noexcept { return options_; }

 private:
  static constexpr std::string_view component = "scaling::replica_selector";
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  struct member {
    Replica replica;
    std::string id;
    std::string zone;
    std::uint32_t weight = 1;
    replica_role role = replica_role::replica;
    replica_health health = replica_health::up;
    std::uint32_t outstanding = 0;
    double cost_ns = 0.0;
    time_point cost_stamp{};
    log_position applied = 0;
    std::chrono::nanoseconds lag{0};
    std::uint64_t selected = 0;
    std::uint64_t failures = 0;
  };

  static std::size_t checked_size(const std::vector<Replica>& members) {
    if (members.empty()) {
      detail::throw_invalid_argument(component, "members", "must not be empty (size)",
                                     members.size());
    }
    return members.size();
  }

  std::size_t find(std::string_view id) const {
    const auto it = index_by_id_.find(id);
    if (it == index_by_id_.end()) {
      detail::throw_invalid_argument(component, "id", "must name a member of the set", id);
    }
    return it->second;
  }

  bool is_primary_index(std::size_t i) const noexcept {
    return members_[i].role == replica_role::primary;
  }

  std::size_t usable_count(time_point now) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].health == replica_health::up && !detector_.ejected(i, now)) ++n;
    }
    return n;
  }

  replica_state snapshot(std::size_t i) const {
    const member& m = members_[i];
    replica_state s;
    s.id = m.id;
    s.zone = m.zone;
    s.weight = m.weight;
    s.role = m.role;
    s.health = m.health;
    s.ejected = detector_.ejected(i);
    s.ejected_for = std::chrono::duration_cast<std::chrono::nanoseconds>(detector_.ejected_for(i));
    s.ejections = detector_.ejections(i);
    s.consecutive_failures = detector_.consecutive_failures(i);
    s.outstanding = m.outstanding;
    s.latency_ns = decayed_cost(m, clock_.now());
    s.applied_position = m.applied;
    s.lag_positions = m.role == replica_role::primary
                          ? 0
                          : primary_position_ - std::min(primary_position_, m.applied);
    s.lag = m.lag;
    s.selected = m.selected;
    s.failures = m.failures;
    return s;
  }

  double decayed_cost(const member& m, time_point now) const {
    const double idle = idle_ns(m, now);
    if (m.cost_ns == 0.0 || idle <= 0.0) return m.cost_ns;
    return m.cost_ns * std::exp(-idle / static_cast<double>(tau_.count()));
  }
  static double idle_ns(const member& m, time_point now) {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - m.cost_stamp).count());
  }

  enum class role_filter : std::uint8_t { primary, replicas, all };

  // Fills candidates_ with the members of `roles` that are usable and (for replicas) fresh
  // enough; counts the usable replicas rejected only for freshness in `stale`.
  void gather(role_filter roles, const read_options& opts, bool panic, time_point now,
              std::size_t& stale) {
    candidates_.clear();
    const std::uint32_t cap = options_.health.max_outstanding;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      const member& m = members_[i];
      const bool primary = m.role == replica_role::primary;
      if ((roles == role_filter::primary && !primary) ||
          (roles == role_filter::replicas && primary)) {
        continue;
      }
      if (!panic && (m.health != replica_health::up || detector_.ejected(i, now))) continue;
      if (cap != 0 && m.outstanding >= cap) continue;
      if (!primary) {
        const bool fresh =
            m.applied >= opts.min_position &&
            (!opts.max_staleness || m.lag <= *opts.max_staleness) &&
            (!opts.max_lag_positions ||
             primary_position_ - std::min(primary_position_, m.applied) <= *opts.max_lag_positions);
        if (!fresh) {
          ++stale;
          continue;
        }
      }
      candidates_.push_back(
          selection_candidate{i, m.zone, m.weight, m.outstanding, m.cost_ns, idle_ns(m, now)});
    }
  }

  // The wait behind select_wait_*: select, and while nobody qualifies wait on `changed_` until
  // the deadline or a stop; then the primary fallback for stale replicas (not after a stop).
  ticket wait_for_member(read_session& session, read_options opts,
                         std::chrono::steady_clock::time_point deadline,
                         const std::stop_token& stop) {
    session.check_origin(origin_);
    opts.min_position = std::max(opts.min_position, session.min_position());
    const stale_fallback fallback = opts.on_stale;
    opts.on_stale = stale_fallback::fail;
    std::unique_lock lock{mutex_};
    ticket t = select_locked(opts);
    if (!t) {
      auto qualifies = [&] {
        t = select_locked(opts);
        return static_cast<bool>(t);
      };
      ++waiters_;
      if (deadline == std::chrono::steady_clock::time_point::max()) {
        changed_.wait(lock, stop, qualifies);  // forever: no deadline arithmetic at all
      } else {
        changed_.wait_until(lock, stop, deadline, qualifies);
      }
      --waiters_;
    }
    if (!t && t.status() == select_status::no_fresh_replica &&
        fallback == stale_fallback::primary && !stop.stop_requested()) {
      opts.on_stale = stale_fallback::primary;
      t = select_locked(opts);
    }
    if (t) session.record_read(origin_, t.applied_);
    return t;
  }

  ticket select_locked(const read_options& opts) {
    const time_point now = clock_.now();
    const bool panic =
        options_.health.panic_threshold_percent > 0.0 && detector_.in_panic(usable_count(now));
    std::size_t stale = 0;
    bool fallback = false;
    switch (opts.mode) {
      case read_mode::primary:
        gather(role_filter::primary, opts, panic, now, stale);
        break;
      case read_mode::primary_preferred:
        gather(role_filter::primary, opts, panic, now, stale);
        if (candidates_.empty()) gather(role_filter::replicas, opts, panic, now, stale);
        break;
      case read_mode::replica:
        gather(role_filter::replicas, opts, panic, now, stale);
        break;
      case read_mode::replica_preferred:
      case read_mode::nearest:
        gather(opts.mode == read_mode::nearest ? role_filter::all : role_filter::replicas, opts,
               panic, now, stale);
        if (candidates_.empty() && opts.mode == read_mode::replica_preferred &&
            (stale == 0 || opts.on_stale == stale_fallback::primary)) {
          gather(role_filter::primary, opts, panic, now, stale);
          fallback = true;
        }
        break;
    }
    stats_.stale_skips += stale;
    if (candidates_.empty()) {
      if (stale > 0) {
        ++stats_.no_fresh_replica;
        return ticket{select_status::no_fresh_replica};
      }
      ++stats_.no_member;
      return ticket{select_status::no_member};
    }
    const std::size_t pick = state_.pick(options_.policy, candidates_);
    SCALING_ASSERT(pick < candidates_.size(), "the policy picked outside the candidates");
    const std::size_t i = candidates_[pick].index;
    member& m = members_[i];
    ++m.outstanding;
    ++m.selected;
    ++outstanding_total_;
    ++stats_.selections;
    if (m.role == replica_role::primary) {
      ++stats_.primary_reads;
      if (fallback) ++stats_.primary_fallbacks;
    } else {
      ++stats_.replica_reads;
    }
    if (panic) ++stats_.panic_selections;
    return ticket{anchor_, i, now, m.applied};
  }

  void finish(std::size_t i, time_point start, read_outcome outcome) {
    std::unique_lock lock{mutex_};
    finish_locked(i, start, outcome);
    if (waiters_ > 0) {  // a freed slot may let a waiter in
      lock.unlock();
      changed_.notify_all();
    }
  }

  void finish_locked(std::size_t i, time_point start, read_outcome outcome) {
    member& m = members_[i];
    SCALING_ASSERT(m.outstanding > 0 && outstanding_total_ > 0, "ticket completed twice");
    --m.outstanding;
    --outstanding_total_;
    if (outcome == read_outcome::cancelled) {
      ++stats_.cancellations;
      return;
    }
    const time_point now = clock_.now();
    // Finagle's peak EWMA: jump to a higher latency at once, decay towards a lower one.
    const double rtt = static_cast<double>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count()));
    if (rtt > m.cost_ns) {
      m.cost_ns = rtt;
    } else {
      const double w =
          std::exp(-std::max(0.0, idle_ns(m, now)) / static_cast<double>(tau_.count()));
      m.cost_ns = m.cost_ns * w + rtt * (1.0 - w);
    }
    m.cost_stamp = now;
    if (outcome == read_outcome::success) {
      ++stats_.successes;
    } else {
      ++stats_.failures;
      ++m.failures;
    }
    if (detector_.record(i, outcome)) ++stats_.ejections;
  }

  options options_;
  [[no_unique_address]] Clock clock_;
  outlier_detector<Clock> detector_;
  typename Policy::state state_;
  std::chrono::nanoseconds tau_;
  std::uint64_t origin_;
  std::vector<member> members_;
  std::unordered_map<std::string, std::size_t, scaling::hash<>, std::equal_to<>> index_by_id_;
  std::vector<selection_candidate> candidates_;
  std::size_t primary_ = npos;
  log_position primary_position_ = 0;
  std::size_t outstanding_total_ = 0;
  replica_selector_stats stats_;
  std::size_t waiters_ = 0;  // threads in wait_for_member
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;  // any: waits take a std::stop_token
  std::shared_ptr<anchor> anchor_ = std::make_shared<anchor>(this);
};

}  // namespace scaling
