// flags.hpp: the small command-line parser chat_relay and chat_load share.
//
// Each flag takes one value (`--name value`); a bad value throws chat::bad_flag with a
// message naming the flag and the value, which the programs print before exiting with 2.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "protocol.hpp"

namespace chat {

struct bad_flag {
  std::string message;
};

template <class Number>
Number parse_number(std::string_view flag, std::string_view text, Number min) {
  Number value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min) {
    throw bad_flag{std::string{flag} + " must be a number >= " + std::to_string(min) + " (got '" +
                   std::string{text} + "')"};
  }
  return value;
}

inline std::vector<std::string> parse_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto end = comma == std::string_view::npos ? text.size() : comma;
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

inline relay_mode parse_mode(std::string_view flag, std::string_view text) {
  if (text == "v1") return relay_mode::v1_direct;
  if (text == "v2") return relay_mode::v2_queues;
  if (text == "v3") return relay_mode::v3_pooled;
  throw bad_flag{std::string{flag} + " must be v1, v2 or v3 (got '" + std::string{text} + "')"};
}

}  // namespace chat
