// scaling/asio/origin_url.hpp: the base URL of a plain-HTTP origin, parsed and checked.
//
// What it is: `scaling::asio::parse_origin_url("http://host[:port][/base]")` splits an origin's
// base URL into the host to connect to, the port, the authority to send as Host and the base
// path that request targets are appended to. It is what `http_origin` is configured with;
// servers that take an origin URL on their command line can check it the same way.
//
// When to pick it: validating or taking apart an origin URL before connecting to it. Not a
// general URI parser: no userinfo, query, fragment or scheme other than http.
//
//   const auto url = scaling::asio::parse_origin_url("http://[::1]:8080/static/");
//   // url.host == "::1", url.port == "8080", url.authority == "[::1]:8080",
//   // url.base_path == "/static"
//
// Thread safety: a pure function and a value type. Complexity: linear in the URL's length.
// Errors: scaling::invalid_argument (a std::invalid_argument) naming the component, the
// parameter and the URL, for anything but http://host[:port][/path] (https included).
#pragma once

#include <string>
#include <string_view>

#include <scaling/core/error.hpp>

namespace scaling::asio {

// An origin's base URL, taken apart.
struct origin_url {
  std::string host;       // to connect to; without brackets for IPv6 literals
  std::string port;       // decimal, 1..65535 (80 when the URL has none)
  std::string authority;  // host[:port] as written: the Host field
  std::string base_path;  // "" or "/base", without a trailing slash
};

// Parses `url` as http://host[:port][/path].
//   url: the base URL; a trailing slash on the path is dropped.
//   component, parameter: named in the error message (who was configured, with what).
// Returns the parts. Throws scaling::invalid_argument for https URLs, other schemes, a query
// or fragment, spaces or control characters, userinfo, an empty host, an unterminated IPv6
// literal, or a port outside 1..65535.
[[nodiscard]] inline origin_url parse_origin_url(
    std::string_view url, std::string_view component = "scaling::asio::http_origin",
    std::string_view parameter = "base_url") {
  const auto fail = [&](std::string_view rule) {
    scaling::detail::throw_invalid_argument(component, parameter, rule, url);
  };
  if (url.starts_with("https://") || url.starts_with("HTTPS://")) {
    fail("must be http://host[:port][/path]; https origins are not supported");
  }
  if (!url.starts_with("http://") && !url.starts_with("HTTP://")) {
    fail("must be http://host[:port][/path]");
  }
  std::string_view rest = url.substr(7);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos) fail("must have no query or fragment");
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      fail("must not contain spaces or control characters");
  }
  std::string_view host = authority;
  std::string_view port = "80";
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) fail("has an unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("has junk after the IPv6 literal");
      port = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.find('@') != std::string_view::npos) fail("must name a host");
  unsigned long port_number = 0;
  if (port.empty() || port.size() > 5) fail("must have a port in 1..65535");
  for (const char c : port) {
    if (c < '0' || c > '9') fail("must have a port in 1..65535");
    port_number = port_number * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port_number == 0 || port_number > 65535) fail("must have a port in 1..65535");
  origin_url parts;
  parts.host = std::string{host};
  parts.port = std::to_string(port_number);
  parts.authority = std::string{authority};
  while (path.ends_with('/'))
    path.remove_suffix(1);
  parts.base_path = std::string{path};
  return parts;
}

}  // namespace scaling::asio
