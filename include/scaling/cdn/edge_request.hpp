// scaling/cdn/edge_request.hpp: what a client asks an edge cache, and what it gets back.
//
// What it is: `edge_request` (the request fields an edge cache keys and decides on),
// `edge_result<Response>` (the response and how it was answered: hit, miss, stale,
// revalidated, pass, error) and `x_cache_value` (the X-Cache header for a status). The types
// every front end of `edge_cache` (get, get_for, get_async, scaling::asio::async_get, tiers)
// shares.
//
// When to pick it: whenever you call an edge cache; include scaling/cdn/edge_cache.hpp, which
// includes this.
//
//   const scaling::edge_request request{.key = "/img/logo.png", .accept_encoding = "br, gzip"};
//   scaling::edge_result<scaling::http_response> r = edge.get(request);
//   response.set_header("X-Cache", scaling::x_cache_value(r.status));
//
// Thread safety: value types. An edge_request holds views: the strings it points at must
// outlive the call it is passed to (not longer: the cache copies what it keeps).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace scaling {

// How a request was answered.
enum class cache_status : std::uint8_t {
  hit,          // fresh copy from the cache (or a cached origin error)
  miss,         // fetched from the origin (possibly shared with other waiting requests)
  stale,        // a stale copy: while revalidating in the background, or the origin failed
  revalidated,  // the origin confirmed the stored copy (304) and it was served
  pass,         // not cacheable: fetched from the origin for this request alone
  error,        // origin unreachable and no usable copy: a synthesised 502 or 504
};

// The X-Cache value for a status: HIT, MISS or STALE.
[[nodiscard]] constexpr std::string_view x_cache_value(cache_status status) noexcept {
  switch (status) {
    case cache_status::hit:
    case cache_status::revalidated:
      return "HIT";
    case cache_status::stale:
      return "STALE";
    default:
      return "MISS";
  }
}

// The request fields an edge cache keys and decides on.
struct edge_request {
  std::string key;                   // the cache key: usually scheme + host + path + query
  std::string_view accept_encoding;  // for Vary: Accept-Encoding
  std::string_view cache_control;    // request directives (no-cache, no-store)
  std::string_view if_none_match;    // a client's validators, forwarded on pass-through
  bool has_authorization = false;
};

// The answer to one request.
template <class Response>
struct edge_result {
  Response response;  // with Age when served from cache
  cache_status status = cache_status::miss;
  std::chrono::seconds age{0};
  bool coalesced = false;  // answered by another request's origin fetch
};

namespace detail {

// The request fields an origin fetch still needs after the call that started it returned.
struct owned_edge_request {
  explicit owned_edge_request(const edge_request& r)
      : key(r.key),
        accept_encoding(r.accept_encoding),
        cache_control(r.cache_control),
        if_none_match(r.if_none_match),
        has_authorization(r.has_authorization) {}

  [[nodiscard]] edge_request view() const {
    return {.key = key,
            .accept_encoding = accept_encoding,
            .cache_control = cache_control,
            .if_none_match = if_none_match,
            .has_authorization = has_authorization};
  }

  std::string key, accept_encoding, cache_control, if_none_match;
  bool has_authorization;
};

}  // namespace detail

}  // namespace scaling
