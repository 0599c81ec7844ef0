// scaling/asio/http_conversion.hpp: origin requests to Boost.Beast messages and back.
//
// What it is: the conversions an HTTP origin client needs between the edge cache's types and
// Beast's: `to_origin_request` turns an edge cache's `origin_request` (a key and validators)
// into an `http_origin_request`; `to_beast_request` turns that into the request message sent
// to the origin (target under the origin's base path, Host set, unsafe or framing fields
// dropped); `to_http_response` turns the origin's parsed answer into a
// `scaling::http_response`, dropping hop-by-hop fields as a proxy must (RFC 9110 section
// 7.6.1), since the body is stored decoded.
//
// When to pick it: writing an origin client or a proxy on Beast around edge_cache (as
// `http_origin` and `edge_server` do). Not for general HTTP clients (no redirects, cookies).
//
//   const auto url = scaling::asio::parse_origin_url("http://origin.local/static");
//   auto message = scaling::asio::to_beast_request(url, scaling::asio::to_origin_request(r));
//   if (!message) { /* a target with spaces or control characters: not sent */ }
//   ... http::async_read(stream, buffer, parser, ...);
//   scaling::http_response answer = scaling::asio::to_http_response(parser.release());
//
// Thread safety: pure functions and value types. Complexity: linear in the message's fields.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <scaling/asio/origin_url.hpp>
#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/edge_cache.hpp>
#include <scaling/cdn/http_response.hpp>

namespace scaling::asio {

// A request for the origin, any method: what `edge_server` passes through uncached.
struct http_origin_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;                  // path and query, appended to the base path
  http_response::header_list headers;  // end-to-end fields to send; Host is set from the URL
  std::string body;
};

using http_request_message = boost::beast::http::request<boost::beast::http::string_body>;
using http_response_message = boost::beast::http::response<boost::beast::http::string_body>;

// True for the hop-by-hop fields of RFC 9110 section 7.6.1: the fixed ones (Connection,
// Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*) and those named in the
// message's Connection field (`connection_tokens`, a comma-separated list).
[[nodiscard]] inline bool is_hop_by_hop_field(std::string_view name,
                                              std::string_view connection_tokens = {}) noexcept {
  for (const std::string_view fixed :
       {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer",
        "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}) {
    if (scaling::detail::iequals(name, fixed)) return true;
  }
  std::string_view rest = connection_tokens;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view token = scaling::detail::trim_ows(rest.substr(0, comma));
    if (!token.empty() && scaling::detail::iequals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// The GET an edge cache asks for: `request.key` as the target, with the request's
// validators (If-None-Match, If-Modified-Since) and Accept-Encoding.
[[nodiscard]] inline http_origin_request to_origin_request(const origin_request& request) {
  http_origin_request out;
  out.target = request.key;
  if (!request.if_none_match.empty())
    out.headers.emplace_back("If-None-Match", request.if_none_match);
  if (!request.if_modified_since.empty())
    out.headers.emplace_back("If-Modified-Since", request.if_modified_since);
  if (!request.accept_encoding.empty())
    out.headers.emplace_back("Accept-Encoding", request.accept_encoding);
  return out;
}

namespace detail {

[[nodiscard]] inline bool safe_field_value(std::string_view s) noexcept {
  for (const char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// No spaces, controls or DEL: what a request target and a field name may not contain.
[[nodiscard]] inline bool safe_token(std::string_view s) noexcept {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace detail

// The HTTP/1.1 message for `in`, sent to the origin at `url`.
//   url: the origin; its base path prefixes the target and its authority is the Host.
//   in: the request; Host, Content-Length, Transfer-Encoding and Connection fields in it are
//       ignored (the message is framed here), as are fields with CR, LF or NUL in them.
// Returns the message with Content-Length set when there is a body (or the method is not
// GET or HEAD), or nullopt when the target has spaces or control characters in it.
[[nodiscard]] inline std::optional<http_request_message> to_beast_request(const origin_url& url,
                                                                          http_origin_request in) {
  namespace http = boost::beast::http;
  std::string target = url.base_path;
  if (!in.target.starts_with('/')) target.push_back('/');
  target.append(in.target);
  if (!detail::safe_token(target)) return std::nullopt;
  http_request_message m;
  m.method(in.method);
  m.version(11);
  m.target(target);
  m.set(http::field::host, url.authority);
  for (const auto& [name, value] : in.headers) {
    if (name.empty() || !detail::safe_token(name) || !detail::safe_field_value(value) ||
        scaling::detail::iequals(name, "Host") ||
        scaling::detail::iequals(name, "Content-Length") ||
        scaling::detail::iequals(name, "Transfer-Encoding") ||
        scaling::detail::iequals(name, "Connection")) {
      continue;
    }
    m.insert(name, value);
  }
  const bool has_body =
      !in.body.empty() || (in.method != http::verb::get && in.method != http::verb::head);
  m.body() = std::move(in.body);
  if (has_body) m.prepare_payload();
  return m;
}

// The origin's answer as an http_response: status, end-to-end fields in order, and the
// (decoded) body. Hop-by-hop fields and those named in Connection are dropped.
[[nodiscard]] inline http_response to_http_response(http_response_message message) {
  namespace http = boost::beast::http;
  const std::string connection_field{message[http::field::connection]};
  http_response::header_list headers;
  headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    const std::string_view name = field.name_string();
    if (is_hop_by_hop_field(name, connection_field)) continue;
    headers.emplace_back(std::string{name}, std::string{field.value()});
  }
  return http_response{static_cast<int>(message.result_int()), std::move(headers),
                       std::move(message.body())};
}

}  // namespace scaling::asio
