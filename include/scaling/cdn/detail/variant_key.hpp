// scaling/cdn/detail/variant_key.hpp: Accept-Encoding normalisation and Vary variant keys.
//
// What it is: an edge cache keeps one variant per normalised Accept-Encoding of a URL that
// varies on it. `normalized_encoding` reduces a request's Accept-Encoding to br, gzip or
// identity, the way CDNs do, so variants stay few; `variant_key` is the storage key of one
// variant (the URL, a NUL, the coding), and `variant_prefix` the prefix every variant of a
// URL shares (a purge of the URL removes them all with one range scan).
//
// When to pick it: inside edge_cache; usable by any cache that varies on Accept-Encoding.
//
//   normalized_encoding("gzip;q=1.0, br;q=0, *") == "gzip"   // br refused with q=0
//   variant_key("/app.js", "br, gzip") == std::string{"/app.js\0br", 10}
//
// Thread safety: pure functions. Complexity: linear in the header length.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/detail/ascii.hpp>

namespace scaling::detail {

// Accept-Encoding normalised: br when the client accepts it, else gzip, else identity. A
// coding listed with q=0 is refused (RFC 9110 section 12.5.3); `*` with q > 0 accepts gzip.
// The origin is asked with this value, so a stored variant always matches its key.
[[nodiscard]] inline std::string_view normalized_encoding(std::string_view accept_encoding) {
  bool br = false;
  bool gzip = false;
  bool any = false;
  while (!accept_encoding.empty()) {
    const std::size_t comma = accept_encoding.find(',');
    std::string_view member = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    const std::size_t semicolon = member.find(';');
    const std::string_view coding = trim_ows(member.substr(0, semicolon));
    bool refused = false;
    if (semicolon != std::string_view::npos) {
      // qvalue = ( "0" [ "." 0*3("0") ] ) / ( "1" [ "." 0*3("0") ] ): zero only if all 0s.
      std::string_view params = member.substr(semicolon + 1);
      const std::size_t q = params.find_first_not_of(" \t");
      if (q != std::string_view::npos && ascii_lower(params[q]) == 'q') {
        params = trim_ows(params.substr(q + 1));
        if (!params.empty() && params.front() == '=') {
          const std::string_view value = trim_ows(params.substr(1));
          refused = !value.empty() && value.find_first_not_of("0.") == std::string_view::npos;
        }
      }
    }
    if (refused) continue;
    if (iequals(coding, "br")) br = true;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip = true;
    if (coding == "*") any = true;
  }
  if (br) return "br";
  if (gzip || any) return "gzip";
  return "identity";
}

// The prefix shared by the storage keys of every variant of `key`.
[[nodiscard]] inline std::string variant_prefix(std::string_view key) {
  std::string prefix{key};
  prefix.push_back('\0');
  return prefix;
}

// The storage key of the variant of `key` for a request's Accept-Encoding.
[[nodiscard]] inline std::string variant_key(std::string_view key,
                                             std::string_view accept_encoding) {
  std::string out = variant_prefix(key);
  out.append(normalized_encoding(accept_encoding));
  return out;
}

// The URL a storage key belongs to (the key itself, or a variant's URL).
[[nodiscard]] inline std::string_view url_of(std::string_view storage_key) noexcept {
  return storage_key.substr(0, storage_key.find('\0'));
}

// True when a response says it varies on Accept-Encoding.
template <class Response>
[[nodiscard]] bool varies_on_encoding(const Response& response) {
  const auto vary = parse_vary(std::string(response.header("Vary")));
  return std::find(vary.begin(), vary.end(), "accept-encoding") != vary.end();
}

}  // namespace scaling::detail
