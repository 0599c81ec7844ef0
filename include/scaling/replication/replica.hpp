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
// Members found by name are checked, because an optional member that is silently ignored is a
// bug that shows up only in production (a `wieght` member leaves every replica at weight 1, an
// `is_primary` flag leaves the set without a primary). Two rules, both compile-time, both
// reported as an unsatisfied replica_description:
//   - a member named zone, weight or role must have the right type (a `std::string role` is an
//     error, not "no role");
//   - a member whose name is a near miss of a field the selector reads is an error: wieght,
//     weigth, wight, weights, zone_name, zone_id, zones, availability_zone, az, roles,
//     replica_role, is_primary, primary, ... (the full list is replica_near_miss below).
// The near-miss list catches the usual slips, not every possible name. For a type whose
// members have other names (a legacy struct, a generated one), or to rule out any reading by
// name, map the fields explicitly with scaling::replica_traits: with a specialization, only
// the members it names are read, by member pointer, and a misspelt name there is an ordinary
// compile error:
//
//   template <> struct scaling::replica_traits<legacy_host> {
//     static constexpr auto id = &legacy_host::hostname;   // required
//     static constexpr auto zone = &legacy_host::az;       // optional: zone, weight, role
//   };
//
// Thread safety: plain values. Complexity: O(1).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

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

// Explicit field mapping for an endpoint type R (opt-in; see the banner). Specialize it with
// static constexpr member pointers: `id` (required; to something convertible to
// std::string_view), and any of `zone` (convertible to std::string_view), `weight` (convertible
// to long long) and `role` (convertible to replica_role). The primary template means "read the
// members by name".
template <class R>
struct replica_traits {
  using by_name = void;
};

namespace detail {

template <class R>
concept read_by_name = requires {
  typename replica_traits<R>::by_name;
};
template <class R>
concept mapped_by_traits = !read_by_name<R>;

// clang-format off
// A traits specialization whose named members have usable types.
template <class R>
concept replica_traits_valid =
    requires(const R& r) {
      { r.*replica_traits<R>::id } -> std::convertible_to<std::string_view>;
    } &&
    (!requires { replica_traits<R>::zone; } || requires(const R& r) {
      { r.*replica_traits<R>::zone } -> std::convertible_to<std::string_view>;
    }) &&
    (!requires { replica_traits<R>::weight; } || requires(const R& r) {
      { r.*replica_traits<R>::weight } -> std::convertible_to<long long>;
    }) &&
    (!requires { replica_traits<R>::role; } || requires(const R& r) {
      { r.*replica_traits<R>::role } -> std::convertible_to<replica_role>;
    });

// A member named like a field the selector reads, but not quite: rejected, because the
// selector would ignore it.
template <class R>
concept replica_near_miss =
    requires(const R& r) { r.wieght; } || requires(const R& r) { r.weigth; } ||
    requires(const R& r) { r.wight; } || requires(const R& r) { r.waight; } ||
    requires(const R& r) { r.weights; } || requires(const R& r) { r.replica_weight; } ||
    requires(const R& r) { r.zone_name; } || requires(const R& r) { r.zone_id; } ||
    requires(const R& r) { r.zones; } || requires(const R& r) { r.zoen; } ||
    requires(const R& r) { r.availability_zone; } || requires(const R& r) { r.az; } ||
    requires(const R& r) { r.replica_zone; } || requires(const R& r) { r.roles; } ||
    requires(const R& r) { r.rol; } || requires(const R& r) { r.replica_role; } ||
    requires(const R& r) { r.is_primary; } || requires(const R& r) { r.primary; };

// Members read by name: `id` present, and zone / weight / role, when present, of a usable type.
template <class R>
concept replica_members_valid =
    requires(const R& r) { { r.id } -> std::convertible_to<std::string_view>; } &&
    (!requires(const R& r) { r.zone; } ||
     requires(const R& r) { { r.zone } -> std::convertible_to<std::string_view>; }) &&
    (!requires(const R& r) { r.weight; } ||
     requires(const R& r) { { r.weight } -> std::convertible_to<long long>; }) &&
    (!requires(const R& r) { r.role; } ||
     requires(const R& r) { { r.role } -> std::convertible_to<replica_role>; });
// clang-format on

template <class R>
concept replica_described_by_name = replica_members_valid<R> && !replica_near_miss<R>;

}  // namespace detail

// An endpoint type the selector can route to, copyable, and either mapped by replica_traits or
// read by name:
//   - a public member `id` convertible to std::string_view, unique within a set;
//   - optional `zone` (convertible to std::string_view), used by zone_aware;
//   - optional `weight` (an integer >= 1), used by weighted policies;
//   - optional `role` (replica_role), marking the primary;
//   - no member named like one of those but not quite (detail::replica_near_miss), and no
//     zone / weight / role of another type: the selector would ignore it.
template <class R>
concept replica_description = std::copy_constructible<R> &&
    ((detail::read_by_name<R> && detail::replica_described_by_name<R>) ||
     (detail::mapped_by_traits<R> && detail::replica_traits_valid<R>));

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
  if constexpr (mapped_by_traits<R>) {
    return std::string_view{r.*replica_traits<R>::id};
  } else {
    return std::string_view{r.id};
  }
}

template <replica_description R>
std::string_view replica_zone_of(const R& r) {
  if constexpr (mapped_by_traits<R>) {
    if constexpr (requires { replica_traits<R>::zone; }) {
      return std::string_view{r.*replica_traits<R>::zone};
    } else {
      return {};
    }
  } else if constexpr (requires { r.zone; }) {
    return std::string_view{r.zone};
  } else {
    return {};
  }
}

template <replica_description R>
long long replica_weight_of(const R& r) {
  if constexpr (mapped_by_traits<R>) {
    if constexpr (requires { replica_traits<R>::weight; }) {
      return static_cast<long long>(r.*replica_traits<R>::weight);
    } else {
      return 1;
    }
  } else if constexpr (requires { r.weight; }) {
    return static_cast<long long>(r.weight);
  } else {
    return 1;
  }
}

template <replica_description R>
replica_role replica_role_of(const R& r) {
  if constexpr (mapped_by_traits<R>) {
    if constexpr (requires { replica_traits<R>::role; }) {
      return r.*replica_traits<R>::role;
    } else {
      return replica_role::replica;
    }
  } else if constexpr (requires { r.role; }) {
    return r.role;
  } else {
    return replica_role::replica;
  }
}

}  // namespace detail
}  // namespace scaling
