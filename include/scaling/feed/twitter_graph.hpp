// scaling/feed/twitter_graph.hpp: a seeded follow graph shaped like Twitter's.
//
// What it is: `scaling::generate_twitter_graph(options)`, a directed follow graph whose
// follower counts follow a power law (exponent 2.276 up to a cap) with a heavier celebrity
// tail above it, about 22% reciprocal follows and a configurable mean out-degree, and
// `scaling::twitter_graph`, its edge list with the figures to check it by.
// It lives in the library, not in the example, because the feed's benchmark, its tests and
// the Twitter case all measure on it, and a fan-out result means little without the graph's
// shape: the write amplification of fan-out on write is the follower distribution.
//
// When to pick it: to measure a feed, a notification or a graph service on a realistic
// degree distribution at any scale. Not a model of who follows whom (no communities, no
// time), only of how many.
//
//   auto g = scaling::generate_twitter_graph({.users = 100'000, .mean_out_degree = 45, .seed = 7});
//   for (auto [follower, followee] : g.edges) (void)feed.follow(follower, followee);
//
// Parameters and sources:
//   - follower counts: power law, exponent 2.276, up to 10^5 in a 41.7M-user graph, with a
//     heavier tail above (Kwak, Lee, Park, Moon, "What is Twitter, a social network or a news
//     media?", WWW 2010). The cap scales with the graph: power_law_max defaults to
//     10^5 x users / 41.7M (at least 100, at most 10^5).
//   - mean out-degree: 35 in the 2009 crawl (1.47B edges / 41.7M users, Kwak et al.); about 45
//     in 2012 (23B / 505M, Gabielkov et al., SIGMETRICS 2014).
//   - reciprocity: about 22% of follows are reciprocated (Kwak et al.).
//   - the celebrity tail is our assumption, scaled to the graph: celebrity_fraction x users
//     accounts above the cap, the i-th most followed with top_celebrity_share x users / i^0.6
//     followers. No published figure fixes it; the example states the values it uses.
// Followers are drawn with a probability proportional to an activity weight, itself from the
// same power law capped at 20 x the mean out-degree, so followee counts are skewed too.
// Reciprocal edges are added only between accounts of the power-law body (celebrities follow
// few of their followers back).
//
// Thread safety: a pure function of its options; the result is a plain value.
// Complexity: O(E log d) time for E edges (sampling with an alias table, per-account dedup),
// O(E) memory (8 bytes per edge).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/lab/random.hpp>

namespace scaling {

struct twitter_graph_options {
  std::uint32_t users = 1'000'000;
  double mean_out_degree = 35.0;  // Kwak et al. 2010; ~45 in 2012
  double exponent = 2.276;        // follower-count power law (Kwak et al. 2010)
  // The power law's largest follower count; default 10^5 x users / 41.7M (in [100, 10^5]).
  std::optional<std::uint32_t> power_law_max{};
  double reciprocity = 0.22;          // fraction of edges whose reverse exists (Kwak et al. 2010)
  double celebrity_fraction = 2e-5;   // accounts above the power law (our assumption)
  double top_celebrity_share = 0.05;  // the top account's followers / users (our assumption)
  std::uint64_t seed = 1;
};

// A generated follow graph: users are 0 .. users - 1.
struct twitter_graph {
  std::uint32_t users = 0;
  std::uint32_t power_law_max = 0;                             // the body's cap used
  std::uint32_t celebrities = 0;                               // accounts placed above it
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edges;  // (follower, followee), no dups

  [[nodiscard]] double mean_out_degree() const noexcept {
    return users == 0 ? 0.0 : static_cast<double>(edges.size()) / users;
  }
  [[nodiscard]] std::vector<std::uint32_t> follower_counts() const {
    std::vector<std::uint32_t> c(users, 0);
    for (const auto& e : edges)
      ++c[e.second];
    return c;
  }
  [[nodiscard]] std::vector<std::uint32_t> followee_counts() const {
    std::vector<std::uint32_t> c(users, 0);
    for (const auto& e : edges)
      ++c[e.first];
    return c;
  }
  // The fraction of edges whose reverse edge exists too.
  [[nodiscard]] double reciprocity() const {
    std::vector<std::uint64_t> keys;
    keys.reserve(edges.size());
    for (const auto& e : edges)
      keys.push_back(std::uint64_t{e.first} << 32 | e.second);
    std::sort(keys.begin(), keys.end());
    std::size_t mutual = 0;
    for (const auto& e : edges) {
      mutual +=
          std::binary_search(keys.begin(), keys.end(), std::uint64_t{e.second} << 32 | e.first) ? 1
                                                                                                : 0;
    }
    return edges.empty() ? 0.0 : static_cast<double>(mutual) / static_cast<double>(edges.size());
  }
};

// The default power_law_max: 10^5 scaled from Kwak et al.'s 41.7M users to `users`, kept in
// [100, 10^5].
[[nodiscard]] inline std::uint32_t twitter_power_law_max(std::uint32_t users) noexcept {
  return static_cast<std::uint32_t>(std::clamp(1e5 * users / 41.7e6, 100.0, 1e5));
}

namespace detail {

// A continuous power law on [lo, hi] with exponent a, by inversion.
[[nodiscard]] inline double power_law_draw(lab::rng& gen, double lo, double hi, double a) {
  const double u = static_cast<double>(gen() >> 11) * 0x1.0p-53;
  const double tail = std::pow(hi / lo, 1.0 - a);
  return lo * std::pow(1.0 - u * (1.0 - tail), -1.0 / (a - 1.0));
}

// The mean of that law.
[[nodiscard]] inline double power_law_mean(double lo, double hi, double a) {
  const double r = hi / lo;
  return lo * (a - 1.0) / (a - 2.0) * (1.0 - std::pow(r, 2.0 - a)) / (1.0 - std::pow(r, 1.0 - a));
}

// Walker's alias table over integer weights: O(1) draws.
class alias_table {
 public:
  explicit alias_table(const std::vector<double>& w) : prob_(w.size()), alias_(w.size()) {
    const std::size_t n = w.size();
    double total = 0;
    for (double x : w)
      total += x;
    std::vector<double> scaled(n);
    std::vector<std::uint32_t> small;
    std::vector<std::uint32_t> large;
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = w[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back();
      small.pop_back();
      const std::uint32_t l = large.back();
      prob_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (auto i : large)
      prob_[i] = 1.0;
    for (auto i : small)
      prob_[i] = 1.0;
  }
  [[nodiscard]] std::uint32_t draw(lab::rng& gen) const {
    const std::uint64_t r = gen();
    const auto i = static_cast<std::size_t>((r >> 32) * prob_.size() >> 32);
    const double u = static_cast<double>(r & 0xffffffffU) * 0x1.0p-32;
    return u < prob_[i] ? static_cast<std::uint32_t>(i) : alias_[i];
  }

 private:
  std::vector<double> prob_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace detail

// Generates the graph. Same options (seed included), same graph.
// Throws: scaling::invalid_argument if users < 100, mean_out_degree is not in [1, users / 4],
// exponent is not in (2, 4), power_law_max not in [2, users), reciprocity not in [0, 0.5],
// celebrity_fraction not in [0, 0.01] or top_celebrity_share not in (0, 0.5].
[[nodiscard]] inline twitter_graph generate_twitter_graph(const twitter_graph_options& o) {
  constexpr std::string_view who = "scaling::generate_twitter_graph";
  if (o.users < 100) detail::throw_invalid_argument(who, "users", "must be >= 100", o.users);
  if (!(o.mean_out_degree >= 1.0) || o.mean_out_degree > o.users / 4.0) {
    detail::throw_invalid_argument(who, "mean_out_degree", "must be in [1, users / 4]",
                                   o.mean_out_degree);
  }
  if (!(o.exponent > 2.0 && o.exponent < 4.0))
    detail::throw_invalid_argument(who, "exponent", "must be in (2, 4)", o.exponent);
  if (!(o.reciprocity >= 0.0 && o.reciprocity <= 0.5))
    detail::throw_invalid_argument(who, "reciprocity", "must be in [0, 0.5]", o.reciprocity);
  if (!(o.celebrity_fraction >= 0.0 && o.celebrity_fraction <= 0.01)) {
    detail::throw_invalid_argument(who, "celebrity_fraction", "must be in [0, 0.01]",
                                   o.celebrity_fraction);
  }
  if (!(o.top_celebrity_share > 0.0 && o.top_celebrity_share <= 0.5)) {
    detail::throw_invalid_argument(who, "top_celebrity_share", "must be in (0, 0.5]",
                                   o.top_celebrity_share);
  }
  const std::uint32_t n = o.users;
  const std::uint32_t cap = o.power_law_max.value_or(twitter_power_law_max(n));
  if (cap < 2 || cap >= n)
    detail::throw_invalid_argument(who, "power_law_max", "must be in [2, users)", cap);
  twitter_graph g;
  g.users = n;
  g.power_law_max = cap;
  lab::rng gen{o.seed};

  // Reciprocal edges come on top of the drawn ones: q of them get their reverse, so that
  // 2q / (1 + q) of all edges are reciprocated.
  const double q = o.reciprocity / (2.0 - o.reciprocity);
  const double drawn_edges = static_cast<double>(n) * o.mean_out_degree / (1.0 + q);

  // Celebrities: the first accounts (a random permutation below hides the ordering).
  std::vector<double> followers(n, 0.0);
  std::uint32_t celebrities = 0;
  double celebrity_edges = 0;
  const auto want = static_cast<std::uint32_t>(std::lround(o.celebrity_fraction * n));
  for (std::uint32_t i = 0; i < want; ++i) {
    const double f = o.top_celebrity_share * n / std::pow(i + 1.0, 0.6);
    if (f <= cap) break;
    followers[i] = std::floor(f);
    celebrity_edges += followers[i];
    ++celebrities;
  }
  g.celebrities = celebrities;
  // The body: find the lower bound of the power law that gives the remaining mean.
  const double body_mean =
      std::max(1.0, (drawn_edges - celebrity_edges) / static_cast<double>(n - celebrities));
  double lo = 0.5;
  double hi = static_cast<double>(cap) - 1.0;
  for (int it = 0; it < 100; ++it) {
    const double mid = (lo + hi) / 2;
    if (detail::power_law_mean(mid, cap, o.exponent) - 0.5 < body_mean) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  for (std::uint32_t i = celebrities; i < n; ++i)
    followers[i] = std::floor(detail::power_law_draw(gen, lo, cap, o.exponent));

  // Who follows: activity weights from the same law, capped at 20 x the mean out-degree.
  std::vector<double> activity(n);
  const double act_cap = std::min<double>(n / 2.0, 20.0 * o.mean_out_degree);
  for (auto& a : activity)
    a = detail::power_law_draw(gen, 1.0, act_cap, o.exponent);
  const detail::alias_table who_follows{activity};

  // A random relabelling, so that ids say nothing about degree.
  std::vector<std::uint32_t> label(n);
  for (std::uint32_t i = 0; i < n; ++i)
    label[i] = i;
  for (std::uint32_t i = n - 1; i > 0; --i)
    std::swap(label[i], label[static_cast<std::uint32_t>(gen() % (i + 1))]);

  std::vector<std::uint32_t> picked;
  for (std::uint32_t a = 0; a < n; ++a) {
    const auto k = static_cast<std::size_t>(std::min<double>(followers[a], n - 1.0));
    picked.clear();
    for (int round = 0; round < 8 && picked.size() < k; ++round) {
      const std::size_t missing = k - picked.size();
      for (std::size_t j = 0; j < missing; ++j) {
        const std::uint32_t f = who_follows.draw(gen);
        if (f != a) picked.push_back(f);
      }
      std::sort(picked.begin(), picked.end());
      picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    }
    for (const std::uint32_t f : picked)
      g.edges.emplace_back(label[f], label[a]);
  }
  // Reciprocal follows, between accounts of the body only.
  std::vector<std::uint32_t> count(n, 0);
  for (const auto& e : g.edges)
    ++count[e.second];
  std::vector<std::uint64_t> keys;
  keys.reserve(g.edges.size());
  for (const auto& e : g.edges)
    keys.push_back(std::uint64_t{e.first} << 32 | e.second);
  std::sort(keys.begin(), keys.end());
  const std::size_t drawn = g.edges.size();
  const auto threshold = static_cast<std::uint64_t>(q * 0x1.0p63) * 2;  // q < 1/3
  for (std::size_t i = 0; i < drawn; ++i) {
    const auto [f, a] = g.edges[i];
    if (count[f] > cap || count[a] > cap || gen() >= threshold) continue;
    const std::uint64_t reverse = std::uint64_t{a} << 32 | f;
    if (std::binary_search(keys.begin(), keys.end(), reverse)) continue;
    g.edges.emplace_back(a, f);
  }
  return g;
}

}  // namespace scaling
