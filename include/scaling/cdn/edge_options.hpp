// scaling/cdn/edge_options.hpp: how an edge cache is configured, and what it counts.
//
// What it is: `edge_options<Response>` (byte bound, origin, clock, negative caching,
// hit-for-miss, how long copies are kept for revalidation, freshness rules, where background
// refreshes run) and `edge_stats` (the counters edge_cache::stats() returns), with
// `detail::validate_edge_options`, which rejects a bad configuration by name and value.
//
// When to pick it: with edge_cache (scaling/cdn/edge_cache.hpp includes this).
//
//   scaling::edge_options<scaling::http_response> options{
//       .capacity_bytes = 256 << 20, .origin = fetch, .negative_ttl = std::chrono::seconds{2}};
//   scaling::edge_cache<> edge{options};
//   double offload = edge.stats().origin_offload();
//
// Thread safety: value types.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include <scaling/caching/cache.hpp>
#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/origin.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

template <class Response>
struct edge_options {
  // The bound on stored responses and keys, in bytes (Response::size_bytes() + key sizes).
  std::size_t capacity_bytes = std::size_t{64} << 20;
  // Exactly one of the two: a blocking origin, or an asynchronous one.
  origin_fetch<Response> origin{};
  async_origin_fetch<Response> async_origin{};
  // Wall time (Date, Expires and Age are wall-clock values). Tests pass a manual_clock whose
  // time_since_epoch is read as Unix time.
  cache_clock clock{std::chrono::system_clock{}};
  // How long an origin 5xx is served from cache when no stale copy can be served instead.
  std::chrono::seconds negative_ttl{5};
  // How long a URL whose response was uncacheable skips the waiting list.
  std::chrono::seconds hit_for_miss_ttl{60};
  // How long an entry with validators (ETag / Last-Modified) is kept after it can no longer
  // be served, so that it can be revalidated with a cheap 304 instead of a full fetch.
  std::chrono::seconds keep_for_revalidation{std::chrono::hours{1}};
  freshness_options freshness{};
  // Runs stale-while-revalidate refreshes. Default: with a blocking origin, one background
  // thread of the cache's own; with an async_origin, none (the refresh is started inline and
  // does not block). A task run after the cache is closed does not call the origin; one
  // dropped unrun leaves the requests waiting for that key's refresh waiting.
  std::function<void(std::function<void()>)> background{};
};

// Counters; origin_offload() = 1 - origin fetches / requests.
struct edge_stats {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t stale_while_revalidate = 0;
  std::uint64_t stale_if_error = 0;
  std::uint64_t stale_accepted = 0;  // stale copies a request accepted with max-stale
  std::uint64_t revalidated = 0;     // 304s that refreshed a stored copy
  std::uint64_t passes = 0;
  std::uint64_t errors = 0;  // synthesised 502/504
  std::uint64_t origin_fetches = 0;
  std::uint64_t coalesced = 0;  // requests answered by another request's fetch
  std::uint64_t background_refreshes = 0;
  std::uint64_t purged = 0;  // entries removed or soft-purged by purge calls

  [[nodiscard]] double hit_ratio() const noexcept {
    return ratio(hits + stale_while_revalidate + stale_if_error + stale_accepted + revalidated,
                 requests);
  }
  [[nodiscard]] double origin_offload() const noexcept {
    return requests == 0 ? 0.0 : 1.0 - ratio(origin_fetches, requests);
  }
};

namespace detail {

// Throws scaling::invalid_argument when capacity_bytes is 0, neither or both of origin and
// async_origin are set, or a TTL is negative.
template <class Response>
[[nodiscard]] edge_options<Response> validate_edge_options(edge_options<Response> opts) {
  constexpr std::string_view component = "scaling::edge_cache";
  if (opts.capacity_bytes == 0) {
    throw_invalid_argument(component, "capacity_bytes", "must be > 0", opts.capacity_bytes);
  }
  if (!opts.origin && !opts.async_origin) {
    throw_invalid_argument(component, "origin", "one of origin and async_origin must be set");
  }
  if (opts.origin && opts.async_origin) {
    throw_invalid_argument(component, "async_origin",
                           "must be empty when origin is set (one origin only)");
  }
  for (const auto& [name, value] :
       {std::pair{"negative_ttl", opts.negative_ttl},
        std::pair{"hit_for_miss_ttl", opts.hit_for_miss_ttl},
        std::pair{"keep_for_revalidation", opts.keep_for_revalidation}}) {
    if (value < std::chrono::seconds{0}) {
      throw_invalid_argument(component, name, "must be >= 0 seconds", value.count());
    }
  }
  return opts;
}

}  // namespace detail

}  // namespace scaling
