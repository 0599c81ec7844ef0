// scaling/cdn/tiers.hpp: one edge cache as the origin of another (edge -> shield -> origin).
//
// What it is: `as_origin(parent)` and `as_async_origin(parent)` turn an edge cache into the
// origin of a child cache, the way CDNs stack tiers: many edges miss into one shield, which
// alone goes to the real origin, so the origin sees one fetch per object however many edges
// ask. A child's conditional request whose ETag matches the parent's copy is answered with a
// 304; an unreachable origin behind the parent is unreachable for the child (so its
// stale-if-error applies).
//
// When to pick it: several edge caches in one process (a simulation, a test of a CDN
// topology) or a two-level application cache. The parent must outlive the child.
//
//   scaling::edge_cache<> shield{{.origin = fetch_from_origin}};
//   scaling::edge_cache<> edge{{.origin = scaling::as_origin(shield)}};
//
// Thread safety: as edge_cache. Complexity: a child miss is one parent request.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include <scaling/cdn/edge_cache.hpp>

namespace scaling {

namespace detail {

// What a parent tier answers a child with: nothing when it could not reach its own origin,
// a 304 when the child's validator matches the parent's copy, else the response.
template <class Response>
std::optional<Response> as_parent_answer(edge_result<Response> answer,
                                         const std::string& if_none_match) {
  if (answer.status == cache_status::error) return std::nullopt;
  if (!if_none_match.empty() && if_none_match == std::string(answer.response.header("ETag"))) {
    Response not_modified = std::move(answer.response);
    if constexpr (requires { not_modified.set_status(304); }) not_modified.set_status(304);
    if constexpr (requires { not_modified.set_body(std::string{}); }) {
      not_modified.set_body(std::string{});
    }
    return not_modified;
  }
  return std::move(answer.response);
}

}  // namespace detail

// Makes an edge cache the origin of another (edge -> shield -> origin). A conditional
// request whose ETag matches the parent's copy is answered with a 304. The parent must
// outlive the child.
template <class Response>
[[nodiscard]] origin_fetch<Response> as_origin(edge_cache<Response>& parent) {
  return [&parent](const origin_request& request) -> std::optional<Response> {
    return detail::as_parent_answer(
        parent.get({.key = request.key, .accept_encoding = request.accept_encoding}),
        request.if_none_match);
  };
}

// as_origin for an asynchronous child: the parent answers through get_async, so a tier of
// edges on io_contexts never blocks a thread on a miss. The parent must outlive the child.
template <class Response>
[[nodiscard]] async_origin_fetch<Response> as_async_origin(edge_cache<Response>& parent) {
  return [&parent](const origin_request& request, origin_callback<Response> answer) {
    parent.get_async({.key = request.key, .accept_encoding = request.accept_encoding},
                     [if_none_match = request.if_none_match,
                      answer = std::move(answer)](edge_result<Response> result) {
                       answer(detail::as_parent_answer(std::move(result), if_none_match));
                     });
  };
}

}  // namespace scaling
