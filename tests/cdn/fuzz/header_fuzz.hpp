// The body of the header-parser fuzz target, shared by the libFuzzer binary
// (header_fuzzer.cpp, clang only) and by the corpus replay test that runs in every build.
// It feeds arbitrary bytes to every parser and checks the invariants no input may break.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/http_date.hpp>

namespace scaling_fuzz {

inline void check(bool condition) {
  if (!condition) std::abort();
}

inline void parse_headers_once(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono;
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  // Split the input into up to four fields so combinations of headers are exercised too.
  std::string_view fields[4];
  std::string_view rest = input;
  for (auto& field : fields) {
    const auto cut = rest.find('\n');
    field = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + 1);
  }

  const auto directives = scaling::parse_cache_control(input);
  if (directives.max_age) check(*directives.max_age >= seconds{0});
  if (directives.max_age) check(*directives.max_age <= scaling::max_delta_seconds);
  if (directives.min_fresh) {
    check(*directives.min_fresh >= seconds{0} &&
          *directives.min_fresh <= scaling::max_delta_seconds);
  }
  // max-stale without a value means any staleness: seconds::max(); with one, a delta-seconds.
  if (directives.max_stale) {
    check(*directives.max_stale == seconds::max() ||
          (*directives.max_stale >= seconds{0} &&
           *directives.max_stale <= scaling::max_delta_seconds));
  }
  (void)scaling::parse_targeted_cache_control(input);
  (void)scaling::parse_vary(input);
  (void)scaling::parse_surrogate_keys(input);
  if (const auto date = scaling::parse_http_date(input)) {
    check(scaling::parse_http_date(scaling::format_http_date(*date)) == *date);
  }

  const sys_seconds now = sys_days{2026y / January / 1};
  const auto f = scaling::evaluate_response({.cache_control = fields[3]},
                                            {.cache_control = fields[0],
                                             .cdn_cache_control = fields[1],
                                             .expires = fields[2],
                                             .date = fields[2],
                                             .age = fields[3],
                                             .last_modified = fields[1],
                                             .vary = fields[3]},
                                            now, now + seconds{1});
  check(f.lifetime >= seconds{0});
  check(f.initial_age >= seconds{0});
  check(f.current_age(now + seconds{10}) >= f.initial_age);
  if (f.never_stale) {
    check(!f.usable_on_error(now + seconds{1} + f.lifetime + seconds{1}));
  }
}

}  // namespace scaling_fuzz
