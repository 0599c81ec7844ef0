// scaling/cdn/versioned_url.hpp: cache busting with content-addressed URLs.
//
// What it is: `versioned_url(url, content)` appends a version derived from the content's
// hash (`?v=<16 hex digits>`, or `&v=` when the URL has a query), so a deploy changes the URL
// of every changed asset and nothing else. Versioned URLs can be cached for a year
// (`Cache-Control: public, max-age=31536000, immutable`) and never need a purge: a new
// deploy simply references new URLs, and the old ones age out.
//
// When to pick it: static assets referenced from pages you control (scripts, styles,
// images). Not for URLs users bookmark or share: those need purges or short TTLs.
//
//   std::string url = scaling::versioned_url("/static/app.js", app_js_bytes);
//   // "/static/app.js?v=4f9c2b7e1d03a865"
//
// Thread safety: pure functions. Complexity: O(content size) for hashing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <scaling/core/hash.hpp>

namespace scaling {

// Appends `v=<version>` as a query parameter. An existing fragment stays at the end.
[[nodiscard]] inline std::string versioned_url_with(std::string_view url,
                                                    std::string_view version) {
  const auto fragment_at = url.find('#');
  const std::string_view base = url.substr(0, fragment_at);
  const std::string_view fragment =
      fragment_at == std::string_view::npos ? std::string_view{} : url.substr(fragment_at);
  std::string out{base};
  out.push_back(base.find('?') == std::string_view::npos ? '?' : '&');
  out.append("v=").append(version).append(fragment);
  return out;
}

// The content's version: the 64-bit XXH3 of its bytes as 16 lowercase hex digits.
[[nodiscard]] inline std::string content_version(std::string_view content) {
  constexpr char digits[] = "0123456789abcdef";
  std::uint64_t h = scaling::hash<std::string_view>{}(content);
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = digits[h & 0xfU];
    h >>= 4;
  }
  return out;
}

// `url` with the version of `content` appended: changes exactly when the content changes.
[[nodiscard]] inline std::string versioned_url(std::string_view url, std::string_view content) {
  return versioned_url_with(url, content_version(content));
}

}  // namespace scaling
