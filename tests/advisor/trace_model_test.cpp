// The cache model against real traces: Che's approximation fed each trace's own frequencies
// (the independent reference model with the trace's popularity) and fed a Zipf law fitted to
// them, against the library's LRU replaying the trace. The gap is what the trace's temporal
// locality (or its loops and scans) does that IRM does not see; docs/selection.md quotes it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/advisor/cache_model.hpp>
#include <scaling/caching/lru.hpp>
#include <scaling/caching/replay.hpp>
#include <scaling/caching/trace.hpp>

namespace {

// The repository's copy of the traces, else the shared folder beside the checkout.
std::string trace_path(const std::string& name) {
  for (const std::string& root : {std::string{SCALING_SOURCE_DIR "/data/traces/"},
                                  std::string{SCALING_SOURCE_DIR "/../shared/data/traces/"}}) {
    if (std::ifstream{root + name}.good()) return root + name;
  }
  return {};
}

struct gap {
  double lru = 0;        // replayed
  double che_trace = 0;  // Che on the trace's own frequencies
  double che_zipf = 0;   // Che on a Zipf law fitted to them
};

gap measure(const std::vector<std::uint64_t>& keys, double capacity_share) {
  std::unordered_map<std::uint64_t, std::uint64_t> counts;
  for (const auto k : keys)
    ++counts[k];
  std::vector<std::uint64_t> c;
  std::vector<scaling::advisor::item_rates> rates;
  for (const auto& [k, n] : counts) {
    c.push_back(n);
    rates.push_back({.reads = static_cast<double>(n), .writes = 0});
  }
  const auto capacity =
      static_cast<std::size_t>(std::max(1.0, capacity_share * static_cast<double>(counts.size())));
  gap g;
  g.lru = scaling::replay<scaling::lru>(keys, capacity).hit_ratio();
  g.che_trace = scaling::advisor::lru_invalidated_hit_ratio(
      rates, static_cast<double>(capacity), std::numeric_limits<double>::infinity());
  const double s = scaling::advisor::fit_zipf_exponent(c);
  g.che_zipf = scaling::advisor::che_lru_hit_ratio(
      scaling::advisor::zipf_popularity{counts.size(), s}, static_cast<double>(capacity));
  std::printf("    LRU %.4f  Che(trace) %.4f  Che(Zipf s=%.2f) %.4f\n", g.lru, g.che_trace, s,
              g.che_zipf);
  return g;
}

// A fitted exponent recovers the law that made the counts.
TEST(FitZipf, RecoversTheExponentOfExactCounts) {
  for (const double s : {0.6, 0.9, 1.2}) {
    std::vector<std::uint64_t> counts;
    for (int rank = 1; rank <= 2'000; ++rank)
      counts.push_back(static_cast<std::uint64_t>(std::llround(1e7 * std::pow(rank, -s))));
    EXPECT_NEAR(scaling::advisor::fit_zipf_exponent(counts), s, 0.01) << "s = " << s;
  }
  EXPECT_EQ(scaling::advisor::fit_zipf_exponent(std::vector<std::uint64_t>{5}), 0.0);
}

// What the model misses on real traces, at a cache of 10% of each trace's keys (the figures
// docs/selection.md quotes; replay and model are deterministic, so the bands are narrow):
//   - web07 (web objects): IRM on the trace's own frequencies is 0.067 below LRU, which
//     profits from the trace's temporal locality; the fitted Zipf law is 0.13 below;
//   - multi2 (several programs' block accesses): IRM is 0.049 above LRU (scans and loops
//     that LRU cannot keep), the fitted Zipf 0.052 below;
//   - sprite (a file server): IRM is 0.24 below LRU, the fitted Zipf (s = 1.24) 0.012 above:
//     a skew fitted to the head of the counts can land closer than the counts themselves;
//   - loop (a cyclic scan larger than the cache): LRU hits nothing, IRM predicts the
//     capacity's share.
// So the model is a first answer; a measured curve (tools/cache_replay) replaces it when a
// trace exists.
TEST(TraceModel, CheOnTheTracesFrequenciesAgainstReplayedLru) {
  struct trace_case {
    const char* file;
    scaling::trace_format format;
    double che_minus_lru;   // Che on the trace's frequencies, minus LRU replayed
    double zipf_minus_lru;  // Che on the fitted Zipf law, minus LRU replayed
  };
  const std::vector<trace_case> cases{
      {"cache2k/web07.trace", scaling::trace_format::cache2k, -0.067, -0.131},
      {"lirs/multi2.trace", scaling::trace_format::lirs, +0.049, -0.052},
      {"lirs/sprite.trace", scaling::trace_format::lirs, -0.237, +0.012},
  };
  bool any = false;
  for (const auto& c : cases) {
    const std::string path = trace_path(c.file);
    if (path.empty()) continue;
    any = true;
    std::printf("  %s at 10%% of its keys:\n", c.file);
    const gap g = measure(scaling::read_trace(path, c.format), 0.10);
    EXPECT_NEAR(g.che_trace - g.lru, c.che_minus_lru, 0.002) << c.file;
    EXPECT_NEAR(g.che_zipf - g.lru, c.zipf_minus_lru, 0.002) << c.file;
  }
  const std::string loop = trace_path("lirs/loop.trace");
  if (!loop.empty()) {
    std::printf("  lirs/loop.trace at 50%% of its keys:\n");
    const gap g = measure(scaling::read_trace(loop, scaling::trace_format::lirs), 0.50);
    EXPECT_LT(g.lru, 0.01);        // the loop evicts every key before its next use
    EXPECT_GT(g.che_trace, 0.45);  // IRM predicts the capacity's share
  }
  if (!any) GTEST_SKIP() << "no trace folder (data/traces or ../shared/data/traces)";
}

}  // namespace
