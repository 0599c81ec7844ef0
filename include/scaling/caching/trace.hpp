// scaling/caching/trace.hpp: readers for cache access traces (LIRS text, cache2k binary).
//
// What it is: `scaling::read_trace(path_or_stream, trace_format)` returns the sequence of keys
// a trace requests, as 64-bit integers, for replay against eviction policies.
//   - trace_format::lirs: text, one decimal key per line; lines that are empty or `*` are
//     skipped (the LIRS traces' separators).
//   - trace_format::cache2k: binary, one big-endian signed 32-bit key per request (also the
//     format of the ARC paper's OLTP trace as cache2k-benchmark redistributes it).
// When to pick it: hit-ratio experiments, regression tests pinning a policy's hit ratio, and
// the `cache_replay` tool.
//
//   auto keys = scaling::read_trace("traces/lirs/loop.trace", scaling::trace_format::lirs);
//   auto r = scaling::replay<scaling::lru>(keys, 512);   // scaling/caching/replay.hpp
//
// Thread safety: free functions over their arguments. Complexity: O(file size).
// Throws scaling::invalid_argument for an unreadable file or a malformed line (naming it).
#pragma once

#include <charconv>
#include <cstdint>
#include <fstream>
#include <istream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <scaling/core/error.hpp>

namespace scaling {

enum class trace_format : std::uint8_t { lirs, cache2k };

// Parses "lirs" / "cache2k"; throws scaling::invalid_argument otherwise.
[[nodiscard]] inline trace_format parse_trace_format(std::string_view name) {
  if (name == "lirs") return trace_format::lirs;
  if (name == "cache2k") return trace_format::cache2k;
  detail::throw_invalid_argument("scaling::read_trace", "format", "must be lirs or cache2k", name);
}

// Reads every request of a trace from a stream (opened in binary mode for cache2k).
[[nodiscard]] inline std::vector<std::uint64_t> read_trace(std::istream& in, trace_format format) {
  std::vector<std::uint64_t> keys;
  if (format == trace_format::lirs) {
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::string_view text{line};
      while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
      }
      while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
      if (text.empty() || text == "*") continue;
      std::int64_t key = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), key);
      if (error != std::errc{} || end != text.data() + text.size()) {
        detail::throw_invalid_argument("scaling::read_trace", "line " + std::to_string(number),
                                       "must be a decimal key or *", text);
      }
      keys.push_back(static_cast<std::uint64_t>(key));
    }
    return keys;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
  if (bytes.size() % 4 != 0) {
    detail::throw_invalid_argument("scaling::read_trace", "cache2k input size",
                                   "must be a multiple of 4 bytes", bytes.size());
  }
  keys.reserve(bytes.size() / 4);
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const std::uint32_t raw = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 24) |
                              (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 16) |
                              (std::uint32_t{static_cast<unsigned char>(bytes[i + 2])} << 8) |
                              std::uint32_t{static_cast<unsigned char>(bytes[i + 3])};
    // Keys are signed 32-bit numbers: sign-extend so -1 and 0xffffffff stay one key.
    keys.push_back(
        static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(raw))));
  }
  return keys;
}

// Reads every request of the trace file at `path`.
[[nodiscard]] inline std::vector<std::uint64_t> read_trace(const std::string& path,
                                                           trace_format format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    detail::throw_invalid_argument("scaling::read_trace", "path", "must name a readable file",
                                   path);
  }
  return read_trace(in, format);
}

}  // namespace scaling
