// scaling/replication/replica.hpp: what the library needs to know about one database copy.
//
// What it is: the vocabulary shared by the replication headers. `replica_description` is the
// concept a user's endpoint type satisfies (an `id`, and optionally a `zone`, a `weight` and a
// `role`); `replica_endpoint` is a ready-made type that satisfies it; `replica_state` is the
// snapshot a selector hands out (health, outstanding requests, latency estimate, applied
// position, lag); `read_outcome` is how a finished read is reported.
//
// When to pick it: always, through replica_selector. Bring your own endpoint struct (holding a
// connection string or a pool) as long as it has a public `id`; the other members are read when
// present and defaulted otherwise (zone "", weight 1, role replica).
//
//   struct db_endpoint { std::string id; std::string zone; std::uint32_t weight = 1;
//                        scaling::replica_role role = scaling::replica_role::replica;
//                        std::string conninfo; };
//   static_assert(scaling::replica_description<db_endpoint>);
//
// Thread safety: plain values. Complexity: O(1).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace scaling {

// A member's job in a replica set. Exactly one member at most is the primary (the writer).
enum class replica_role : std::uint8_t { primary, replica };

// Health as set from outside (a health check, an operator). Outlier ejection is separate: a
// replica that is `up` may still be ejected for a while after consecutive failures.
enum class replica_health : std::uint8_t { up, down };

// How a read ended, reported through its ticket. `cancelled` returns the slot without a
// latency sample or a failure (the caller gave up before an answer).
enum class read_outcome : std::uint8_t { success, failure, cancelled };

// Positions are monotonic log offsets: a PostgreSQL LSN, or the index of a replicated_store's
// replication log. 0 means "nothing applied yet".
using log_position = std::uint64_t;

// An endpoint type the selector can route to:
//   - a public member `id` convertible to std::string_view, unique within a set;
//   - optional `zone` (convertible to std::string_view), used by zone_aware;
//   - optional `weight` (an integer >= 1), used by weighted policies;
//   - optional `role` (replica_role), marking the primary.
template <class R>
concept replica_description = std::copy_constructible<R> && requires(const R& r) {
  { r.id } -> std::convertible_to<std::string_view>;
};

// A ready-made endpoint: an id, a zone, a weight, a role and an address (a libpq conninfo, a
// host:port, anything the application understands).
struct replica_endpoint {
  std::string id;
  std::string zone;
  std::uint32_t weight = 1;
  replica_role role = replica_role::replica;
  std::string address;
};
static_assert(replica_description<replica_endpoint>);

// A snapshot of one member as the selector sees it; copies, never references into the selector.
struct replica_state {
  std::string id;
  std::string zone;
  std::uint32_t weight = 1;
  replica_role role = replica_role::replica;
  replica_health health = replica_health::up;
  bool ejected = false;                     // by outlier detection, until `ejected_until`
  std::chrono::nanoseconds ejected_for{0};  // remaining ejection time, 0 when not ejected
  std::uint32_t ejections = 0;              // how many times outlier detection has ejected it
  std::uint32_t consecutive_failures = 0;
  std::uint32_t outstanding = 0;  // reads selected and not yet completed
  double latency_ns = 0.0;        // peak-EWMA latency estimate (0 before the first sample)
  log_position applied_position = 0;
  std::uint64_t lag_positions = 0;  // primary position - applied position (bytes for PostgreSQL)
  std::chrono::nanoseconds lag{0};  // replay lag in time, as last reported
  std::uint64_t selected = 0;       // reads routed here
  std::uint64_t failures = 0;       // reads that completed with read_outcome::failure
};

namespace detail {

template <replica_description R>
std::string_view replica_id_of(const R& r) {
  return std::string_view{r.id};
}

template <replica_description R>
std::string_view replica_zone_of(const R& r) {
  if constexpr (requires {
                  { r.zone } -> std::convertible_to<std::string_view>;
                }) {
    return std::string_view{r.zone};
  } else {
    return {};
  }
}

template <replica_description R>
long long replica_weight_of(const R& r) {
  if constexpr (requires {
                  { r.weight } -> std::convertible_to<long long>;
                }) {
    return static_cast<long long>(r.weight);
  } else {
    return 1;
  }
}

template <replica_description R>
replica_role replica_role_of(const R& r) {
  if constexpr (requires {
                  { r.role } -> std::convertible_to<replica_role>;
                }) {
    return r.role;
  } else {
    return replica_role::replica;
  }
}

}  // namespace detail
}  // namespace scaling
