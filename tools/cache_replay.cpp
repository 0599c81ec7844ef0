// cache_replay: replays a cache trace against eviction policies and sizes, printing CSV.
//
//   cache_replay --format lirs|cache2k --policy NAME[,NAME...] --size N[,N...] FILE
//
// FILE may be `-` for standard input. Output: a header line, then one line per policy and
// size: `policy,size,requests,hits,hit_ratio` with hit_ratio in percent, 2 decimals. Policy
// `opt` is Belady's optimum (the ceiling). Exit status 2 for bad arguments, 1 for bad input.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/caching/replay.hpp>
#include <scaling/caching/trace.hpp>

namespace {

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> parts;
  while (!list.empty()) {
    const auto comma = list.find(',');
    parts.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return parts;
}

int usage(const char* message) {
  std::fprintf(stderr,
               "cache_replay: %s\nusage: cache_replay --format lirs|cache2k --policy "
               "NAME[,NAME...] --size N[,N...] FILE\npolicies: opt lru fifo clock lfu sieve "
               "s3fifo w_tinylfu arc lirs adaptive\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string format;
  std::string policies;
  std::string sizes;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg{argv[i]};
    const bool has_value = i + 1 < argc;
    if (arg == "--format" && has_value) {
      format = argv[++i];
    } else if (arg == "--policy" && has_value) {
      policies = argv[++i];
    } else if (arg == "--size" && has_value) {
      sizes = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      return usage("replays a trace") == 2 ? 0 : 0;
    } else if (file.empty() && (arg == "-" || !arg.starts_with("--"))) {
      file = arg;
    } else {
      return usage(("unexpected argument " + std::string(arg)).c_str());
    }
  }
  if (format.empty() || policies.empty() || sizes.empty() || file.empty()) {
    return usage("--format, --policy, --size and FILE are required");
  }
  try {
    const scaling::trace_format fmt = scaling::parse_trace_format(format);
    std::vector<std::size_t> capacities;
    for (const auto& s : split(sizes)) {
      std::size_t value = 0;
      try {
        std::size_t used = 0;
        value = std::stoul(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
      } catch (const std::exception&) {
        return usage(("--size: not a number: " + s).c_str());
      }
      if (value == 0) return usage("--size: sizes must be >= 1");
      capacities.push_back(value);
    }
    const auto names = split(policies);
    for (const auto& name : names) {
      bool known = false;
      for (const auto known_name : scaling::replay_policy_names)
        known = known || name == known_name;
      if (!known) return usage(("--policy: unknown policy " + name).c_str());
    }
    const std::vector<std::uint64_t> keys =
        file == "-" ? scaling::read_trace(std::cin, fmt) : scaling::read_trace(file, fmt);
    std::printf("policy,size,requests,hits,hit_ratio\n");
    for (const auto& name : names) {
      for (const std::size_t capacity : capacities) {
        const auto r = scaling::replay_by_name(name, keys, capacity);
        std::printf("%s,%zu,%llu,%llu,%.2f\n", name.c_str(), capacity,
                    static_cast<unsigned long long>(r.requests),
                    static_cast<unsigned long long>(r.hits), 100.0 * r.hit_ratio());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cache_replay: %s\n", e.what());
    return 1;
  }
  return 0;
}
