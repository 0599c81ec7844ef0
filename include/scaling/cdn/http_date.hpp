// scaling/cdn/http_date.hpp: HTTP-date parsing and formatting (RFC 9110 section 5.6.7).
//
// What it is: `parse_http_date` reads the three formats a recipient must accept
// (IMF-fixdate, the obsolete RFC 850 form and asctime) into std::chrono::sys_seconds, and
// `format_http_date` writes IMF-fixdate, the only form a sender may generate.
//
// When to pick it: reading Date, Expires and Last-Modified, and writing Date or
// Last-Modified. Garbage, out-of-range fields and impossible dates (Feb 30) give nullopt:
// callers decide what an invalid date means (for Expires, RFC 9111 says "already expired").
//
//   auto t = scaling::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
//   assert(t && scaling::format_http_date(*t) == "Sun, 06 Nov 1994 08:49:37 GMT");
//
// Thread safety: pure functions. Complexity: O(length of the input).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <scaling/cdn/detail/ascii.hpp>

namespace scaling {

namespace detail {

inline constexpr std::array<std::string_view, 12> http_months = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
inline constexpr std::array<std::string_view, 7> http_weekdays = {"Sun", "Mon", "Tue", "Wed",
                                                                  "Thu", "Fri", "Sat"};

// A small cursor over the input; every read checks bounds, so hostile input cannot overrun.
class date_reader {
 public:
  explicit date_reader(std::string_view text) noexcept : text_(text) {}

  bool literal(std::string_view expected) noexcept {
    if (text_.substr(pos_, expected.size()) != expected) return false;
    pos_ += expected.size();
    return true;
  }
  // Reads exactly `digits` decimal digits (or, when `digits` is 0, one or two).
  bool number(int digits, int& out) noexcept {
    const std::size_t max = digits == 0 ? 2 : static_cast<std::size_t>(digits);
    std::size_t read = 0;
    int value = 0;
    while (read < max && pos_ < text_.size() && ascii_is_digit(text_[pos_])) {
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
      ++read;
    }
    if (read == 0 || (digits != 0 && read != max)) return false;
    out = value;
    return true;
  }
  bool month(int& out) noexcept {
    for (std::size_t m = 0; m < http_months.size(); ++m) {
      if (literal(http_months[m])) {
        out = static_cast<int>(m) + 1;
        return true;
      }
    }
    return false;
  }
  // Skips a day name (short or long form); the weekday is redundant, so it is not checked.
  bool day_name() noexcept {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && ascii_is_alpha(text_[pos_])) {
      ++pos_;
    }
    return pos_ - start >= 3;
  }
  bool time_of_day(int& hour, int& minute, int& second) noexcept {
    return number(2, hour) && literal(":") && number(2, minute) && literal(":") &&
           number(2, second);
  }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

inline std::optional<std::chrono::sys_seconds> make_http_date(int year, int month, int day,
                                                              int hour, int minute,
                                                              int second) noexcept {
  // Leap second 60 is allowed by the grammar; it is folded into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second};
}

}  // namespace detail

// Parses an HTTP-date in any of the three formats RFC 9110 requires recipients to accept.
// Leading and trailing whitespace is ignored. Returns nullopt for anything else.
// A two-digit RFC 850 year is read as the nearest year not more than 50 years in the
// future of 2000 + yy, i.e. 70..99 -> 1970..1999 and 00..69 -> 2000..2069.
[[nodiscard]] inline std::optional<std::chrono::sys_seconds> parse_http_date(
    std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (text.size() > 64) return std::nullopt;

  int day = 0, month = 0, year = 0, hour = 0, minute = 0, second = 0;
  {  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    detail::date_reader in{text};
    if (in.day_name() && in.literal(", ") && in.number(2, day) && in.literal(" ") &&
        in.month(month) && in.literal(" ") && in.number(4, year) && in.literal(" ") &&
        in.time_of_day(hour, minute, second) && in.literal(" GMT") && in.at_end()) {
      return detail::make_http_date(year, month, day, hour, minute, second);
    }
  }
  {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    detail::date_reader in{text};
    if (in.day_name() && in.literal(", ") && in.number(2, day) && in.literal("-") &&
        in.month(month) && in.literal("-") && in.number(2, year) && in.literal(" ") &&
        in.time_of_day(hour, minute, second) && in.literal(" GMT") && in.at_end()) {
      year += year >= 70 ? 1900 : 2000;
      return detail::make_http_date(year, month, day, hour, minute, second);
    }
  }
  {  // asctime: "Sun Nov  6 08:49:37 1994"
    detail::date_reader in{text};
    if (in.day_name() && in.literal(" ") && in.month(month) && in.literal(" ") &&
        (in.literal(" ") || true) && in.number(0, day) && in.literal(" ") &&
        in.time_of_day(hour, minute, second) && in.literal(" ") && in.number(4, year) &&
        in.at_end()) {
      return detail::make_http_date(year, month, day, hour, minute, second);
    }
  }
  return std::nullopt;
}

// Formats `time` as IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". Years outside
// 0..9999 are clamped into it, since the format has exactly four digits.
[[nodiscard]] inline std::string format_http_date(std::chrono::sys_seconds time) {
  using namespace std::chrono;
  const auto lowest = sys_days{year{0} / January / 1};
  const auto highest = sys_days{year{9999} / December / 31} + hours{23} + minutes{59} + seconds{59};
  if (time < lowest) time = lowest;
  if (time > highest) time = highest;
  const sys_days days = floor<std::chrono::days>(time);
  const year_month_day date{days};
  const hh_mm_ss<seconds> clock{time - days};
  const weekday wd{days};
  std::string out;
  out.reserve(29);
  const auto two = [&out](unsigned value) {
    out.push_back(static_cast<char>('0' + value / 10));
    out.push_back(static_cast<char>('0' + value % 10));
  };
  out.append(detail::http_weekdays[wd.c_encoding()]).append(", ");
  two(static_cast<unsigned>(date.day()));
  out.push_back(' ');
  out.append(detail::http_months[static_cast<unsigned>(date.month()) - 1]).push_back(' ');
  const auto y = static_cast<unsigned>(static_cast<int>(date.year()));
  two(y / 100);
  two(y % 100);
  out.push_back(' ');
  two(static_cast<unsigned>(clock.hours().count()));
  out.push_back(':');
  two(static_cast<unsigned>(clock.minutes().count()));
  out.push_back(':');
  two(static_cast<unsigned>(clock.seconds().count()));
  out.append(" GMT");
  return out;
}

}  // namespace scaling
