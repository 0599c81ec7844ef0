// scaling/cdn/detail/structured_field.hpp: a Structured Field Dictionary parser (RFC 8941).
//
// What it is: `parse_sf_dictionary` reads a field value as an RFC 8941 Dictionary, the syntax
// of targeted cache-control fields such as CDN-Cache-Control (RFC 9213 section 2.2), and
// returns its members, or nullopt on any parse error (RFC 8941 section 4.2: the whole field
// fails). Items keep their type (Integer, Decimal, String, Token, Byte Sequence, Boolean, or
// an Inner List); parameters are checked for syntax and dropped, since no cache directive
// defines any (RFC 9213: "Parameters received on cache directives are to be ignored").
//
// When to pick it: the targeted-field parser in cache_control.hpp; not a general SF library
// (no serialisation, no Lists or Items at the top level).
//
//   auto d = scaling::detail::parse_sf_dictionary("max-age=60;foo=bar, no-store");
//   // d->at(0): key "max-age", Integer 60; d->at(1): key "no-store", Boolean true
//   assert(!scaling::detail::parse_sf_dictionary("max-age=60,"));  // trailing comma
//
// Thread safety: pure functions. Complexity: linear in the field length; a key seen twice
// keeps its last value (RFC 8941 section 4.2.2), found by a scan of the members so far.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/cdn/detail/ascii.hpp>

namespace scaling::detail {

struct sf_item {
  enum class kind : std::uint8_t {
    integer,
    decimal,
    string,
    token,
    byte_sequence,
    boolean,
    inner_list
  };
  kind type = kind::boolean;
  std::int64_t integer = 1;  // Integer, or Boolean (0 / 1)
  std::string text;          // String (unescaped) or Token
};

struct sf_member {
  std::string key;
  sf_item value;
};

class sf_dictionary_parser {
 public:
  explicit sf_dictionary_parser(std::string_view field) noexcept : in_(field) {}

  std::optional<std::vector<sf_member>> parse() {
    skip(" ");  // RFC 8941 4.2: leading and trailing SP are discarded, nothing else is
    std::vector<sf_member> members;
    while (!at_end()) {
      sf_member member;
      if (!key(member.key)) return std::nullopt;
      if (peek() == '=') {
        ++pos_;
        if (!item_or_inner_list(member.value)) return std::nullopt;
      } else if (!parameters()) {
        return std::nullopt;
      }
      bool replaced = false;
      for (auto& existing : members) {
        if (existing.key == member.key) {
          existing.value = std::move(member.value);
          replaced = true;
        }
      }
      if (!replaced) members.push_back(std::move(member));
      skip(" \t");
      if (at_end()) return members;
      if (peek() != ',') return std::nullopt;
      ++pos_;
      skip(" \t");
      if (at_end()) return std::nullopt;  // a trailing comma
    }
    return members;
  }

 private:
  [[nodiscard]] bool at_end() const noexcept { return pos_ >= end(); }
  // The end once trailing SP is discarded.
  [[nodiscard]] std::size_t end() const noexcept {
    std::size_t e = in_.size();
    while (e > 0 && in_[e - 1] == ' ')
      --e;
    return e;
  }
  [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : in_[pos_]; }
  void skip(std::string_view chars) noexcept {
    while (!at_end() && chars.find(in_[pos_]) != std::string_view::npos)
      ++pos_;
  }

  // key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
  bool key(std::string& out) {
    const char first = peek();
    if (!ascii_is_lower(first) && first != '*') return false;
    const std::size_t start = pos_;
    while (!at_end()) {
      const char c = in_[pos_];
      if (!ascii_is_lower(c) && !ascii_is_digit(c) && c != '_' && c != '-' && c != '.' &&
          c != '*') {
        break;
      }
      ++pos_;
    }
    out.assign(in_.substr(start, pos_ - start));
    return true;
  }

  // parameters = *( ";" *SP key [ "=" bare-item ] )
  bool parameters() {
    while (peek() == ';') {
      ++pos_;
      skip(" ");
      std::string name;
      if (!key(name)) return false;
      if (peek() == '=') {
        ++pos_;
        sf_item ignored;
        if (!bare_item(ignored)) return false;
      }
    }
    return true;
  }

  bool item_or_inner_list(sf_item& out) {
    if (peek() != '(') return bare_item(out) && parameters();
    ++pos_;
    out.type = sf_item::kind::inner_list;
    for (;;) {
      skip(" ");
      if (at_end()) return false;
      if (peek() == ')') {
        ++pos_;
        return parameters();
      }
      sf_item member;
      if (!bare_item(member) || !parameters()) return false;
      if (peek() != ' ' && peek() != ')') return false;
    }
  }

  bool bare_item(sf_item& out) {
    const char c = peek();
    if (c == '-' || ascii_is_digit(c)) return number(out);
    if (c == '"') return string(out);
    if (c == '*' || ascii_is_alpha(c)) return token(out);
    if (c == ':') return byte_sequence(out);
    if (c == '?') return boolean(out);
    return false;
  }

  // sf-integer = ["-"] 1*15DIGIT; sf-decimal = ["-"] 1*12DIGIT "." 1*3DIGIT
  bool number(sf_item& out) {
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    std::int64_t value = 0;
    std::size_t digits = 0;
    while (ascii_is_digit(peek())) {
      if (++digits > 15) return false;
      value = value * 10 + (in_[pos_++] - '0');
    }
    if (digits == 0) return false;
    if (peek() == '.') {
      if (digits > 12) return false;
      ++pos_;
      std::size_t fraction = 0;
      while (ascii_is_digit(peek())) {
        if (++fraction > 3) return false;
        ++pos_;
      }
      if (fraction == 0) return false;
      out.type = sf_item::kind::decimal;
      return true;
    }
    out.type = sf_item::kind::integer;
    out.integer = negative ? -value : value;
    return true;
  }

  bool string(sf_item& out) {
    ++pos_;  // the opening DQUOTE
    out.type = sf_item::kind::string;
    while (!at_end()) {
      const char c = in_[pos_++];
      if (c == '\\') {
        if (at_end()) return false;
        const char escaped = in_[pos_++];
        if (escaped != '"' && escaped != '\\') return false;
        out.text.push_back(escaped);
      } else if (c == '"') {
        return true;
      } else if (c < 0x20 || c > 0x7e) {
        return false;
      } else {
        out.text.push_back(c);
      }
    }
    return false;  // unterminated
  }

  // sf-token = ( ALPHA / "*" ) *( tchar / ":" / "/" )
  bool token(sf_item& out) {
    const std::size_t start = pos_;
    ++pos_;
    while (!at_end()) {
      const char c = in_[pos_];
      const bool tchar = ascii_is_alnum(c) ||
                         std::string_view{"!#$%&'*+-.^_`|~:/"}.find(c) != std::string_view::npos;
      if (!tchar) break;
      ++pos_;
    }
    out.type = sf_item::kind::token;
    out.text.assign(in_.substr(start, pos_ - start));
    return true;
  }

  bool byte_sequence(sf_item& out) {
    ++pos_;
    while (!at_end() && in_[pos_] != ':') {
      const char c = in_[pos_];
      if (!ascii_is_alnum(c) && c != '+' && c != '/' && c != '=') return false;
      ++pos_;
    }
    if (at_end()) return false;
    ++pos_;
    out.type = sf_item::kind::byte_sequence;
    return true;
  }

  bool boolean(sf_item& out) {
    ++pos_;
    const char c = peek();
    if (c != '0' && c != '1') return false;
    ++pos_;
    out.type = sf_item::kind::boolean;
    out.integer = c == '1' ? 1 : 0;
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

// The members of `field` read as an RFC 8941 Dictionary, in order, a repeated key keeping its
// last value; nullopt when the field is not a valid Dictionary.
[[nodiscard]] inline std::optional<std::vector<sf_member>> parse_sf_dictionary(
    std::string_view field) {
  return sf_dictionary_parser{field}.parse();
}

}  // namespace scaling::detail
