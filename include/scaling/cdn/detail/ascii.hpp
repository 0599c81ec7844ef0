// scaling/cdn/detail/ascii.hpp: ASCII character classes and case folding for HTTP text.
//
// What it is: the character tests HTTP parsing needs (letter, digit, alphanumeric) and ASCII
// case folding, as constexpr functions that never consult the C locale. <cctype>'s tolower
// and isalnum do: under a Turkish locale `tolower('I')` is not 'i', so "PRIVATE" would stop
// matching "private" and a private response would be cached; under a Latin-1 locale
// `isalnum(0xE9)` is true, so a byte outside the token grammar would be read as a tchar.
// Field names, directives and tokens are ASCII and case-insensitive (RFC 9110 sections 5.1
// and 5.6.2), so every comparison in scaling/cdn goes through these.
//
// When to pick it: any parsing of protocol text; never <cctype>.
//
//   static_assert(scaling::detail::ascii_lower('I') == 'i');
//   assert(scaling::detail::iequals("Cache-Control", "cache-control"));
//
// Thread safety: pure functions. Complexity: O(1) per character, iequals O(length).
#pragma once

#include <cstddef>
#include <string_view>

namespace scaling::detail {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
[[nodiscard]] constexpr bool ascii_is_lower(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
[[nodiscard]] constexpr bool ascii_is_alpha(char c) noexcept {
  return ascii_is_lower(c) || (c >= 'A' && c <= 'Z');
}
[[nodiscard]] constexpr bool ascii_is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
[[nodiscard]] constexpr bool ascii_is_alnum(char c) noexcept {
  return ascii_is_alpha(c) || ascii_is_digit(c);
}

// Case-insensitive equality of two ASCII strings (bytes >= 0x80 compare exactly).
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

static_assert(ascii_lower('I') == 'i' && ascii_lower('i') == 'i' && ascii_lower('@') == '@',
              "case folding touches A-Z only");
static_assert(!ascii_is_alnum(static_cast<char>(0xE9)), "bytes past ASCII are never letters");

}  // namespace scaling::detail
