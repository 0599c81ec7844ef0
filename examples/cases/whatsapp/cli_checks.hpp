// examples/cases/whatsapp/cli_checks.hpp: the CLI11 checks chat_relay and chat_load share, each
// failing with a message that names the rule and the value ("must be a number >= 1 (got '0')").
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "protocol.hpp"

namespace chat::cli {

// An integer >= `min`.
inline CLI::Validator at_least(long long min) {
  return CLI::Validator{[min](std::string& text) {
                          long long v = 0;
                          if (CLI::detail::lexical_cast(text, v) && v >= min) return std::string{};
                          return "must be a number >= " + std::to_string(min) + " (got '" + text +
                                 "')";
                        },
                        "N >= " + std::to_string(min)};
}

// A number >= 0.
inline const CLI::Validator non_negative{[](std::string& text) {
                                           double v = 0;
                                           if (CLI::detail::lexical_cast(text, v) && v >= 0)
                                             return std::string{};
                                           return "must be a number >= 0 (got '" + text + "')";
                                         },
                                         "X >= 0"};

// A relay mode: v1, v2 or v3.
inline const CLI::Validator mode_check{[](std::string& text) {
                                         if (parse_relay_mode(text)) return std::string{};
                                         return "must be v1, v2 or v3 (got '" + text + "')";
                                       },
                                       "v1|v2|v3"};

}  // namespace chat::cli
