// scaling/replication/consistency.hpp: read modes, staleness bounds and read-your-writes.
//
// What it is: the rules that decide which members may serve a read. `read_mode` says primary
// or replicas (MongoDB's five read preferences); `read_options` adds a staleness bound (lag in
// time and/or in log positions) and a minimum applied position; `read_session` carries one
// client's tokens so that it reads its own writes and never goes back in time (monotonic
// reads). A `consistency_token` is what a write returns: the log position it committed at,
// stamped with the origin (store or selector) that issued it.
//
// When to pick it: pass `read_options` to replica_selector::select or replicated_store::get.
// Use a `read_session` per user or request chain that must see its own writes.
//
//   scaling::read_session session;
//   session.record_write(store.put("k", "v").token);  // position of the write
//   auto r = store.get("k", session);               // a replica that applied it, or the primary
//   scaling::read_options lagged{.mode = scaling::read_mode::replica,
//                                .max_staleness = std::chrono::seconds{5}};
//
// Thread safety: plain values; a read_session belongs to one client at a time.
// Complexity: O(1).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include <scaling/core/error.hpp>
#include <scaling/replication/replica.hpp>

namespace scaling {

// Which members may serve a read (MongoDB read preferences, renamed for SQL replicas).
enum class read_mode : std::uint8_t {
  primary,            // only the primary: always current, no read scaling
  primary_preferred,  // the primary; replicas only when it is unavailable
  replica,            // only replicas: fails rather than loading the primary
  replica_preferred,  // replicas; the primary when no replica qualifies (the usual choice)
  nearest,            // any member, primary included: the policy decides (lowest latency)
};

// What happens when a read needs a position (a session token) no replica has applied yet.
enum class stale_fallback : std::uint8_t {
  primary,  // send it to the primary, if the mode allows (read-your-writes at the primary's cost)
  fail,     // report `no_fresh_replica` and let the caller retry or wait
};

// Per-read consistency requirements.
struct read_options {
  read_mode mode = read_mode::replica_preferred;
  // Replicas whose reported replay lag exceeds this are not used (MongoDB maxStalenessSeconds).
  std::optional<std::chrono::nanoseconds> max_staleness;
  // Replicas more than this many positions (bytes of WAL for PostgreSQL) behind are not used.
  std::optional<std::uint64_t> max_lag_positions;
  // Only members whose applied position is >= this may serve (the primary always qualifies).
  log_position min_position = 0;
  stale_fallback on_stale = stale_fallback::primary;
};

// What a write returns: the position it committed at, and who issued it.
struct consistency_token {
  std::uint64_t origin = 0;  // the issuing store or selector; 0 = an empty token
  log_position position = 0;

  friend bool operator==(const consistency_token&, const consistency_token&) = default;
};

// One client's consistency state: the position of its last write (read-your-writes) and the
// highest position it has read from (monotonic reads). Bound to the first origin it sees; a
// token from another origin is an error, because positions of different logs do not compare.
class read_session {
 public:
  read_session() = default;

  // Records a write's token: later reads need a member that has applied it.
  // Throws scaling::invalid_argument if the token comes from another origin than earlier ones.
  void record_write(const consistency_token& token) {
    bind(token.origin, "token");
    last_write_ = std::max(last_write_, token.position);
  }

  // Records that a read was served by a member at `applied` (monotonic reads: later reads
  // need at least this position). Called by the selector and the store.
  void record_read(std::uint64_t origin, log_position applied) {
    bind(origin, "origin");
    last_read_ = std::max(last_read_, applied);
  }

  // The position a member must have applied to serve this session's next read.
  [[nodiscard]] log_position min_position() const noexcept {
    return std::max(last_write_, last_read_);
  }
  [[nodiscard]] log_position last_write() const noexcept { return last_write_; }
  [[nodiscard]] log_position last_read() const noexcept { return last_read_; }
  // The origin this session is bound to (0 = not yet bound).
  [[nodiscard]] std::uint64_t origin() const noexcept { return origin_; }

  // Throws scaling::invalid_argument when `origin` differs from the session's bound origin.
  void check_origin(std::uint64_t origin) const {
    if (origin_ != 0 && origin != origin_) {
      detail::throw_invalid_argument("scaling::read_session", "token",
                                     "must come from the store or selector this session reads "
                                     "from; its origin is",
                                     origin);
    }
  }

 private:
  void bind(std::uint64_t origin, const char* what) {
    if (origin == 0) {
      detail::throw_invalid_argument("scaling::read_session", what,
                                     "must carry an origin (an empty token was passed)", origin);
    }
    check_origin(origin);
    origin_ = origin;
  }

  std::uint64_t origin_ = 0;
  log_position last_write_ = 0;
  log_position last_read_ = 0;
};

namespace detail {

// Each selector and store draws a process-unique origin so tokens can't be mixed up.
inline std::uint64_t next_origin() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace detail
}  // namespace scaling
