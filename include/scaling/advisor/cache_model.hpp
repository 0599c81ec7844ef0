// scaling/advisor/cache_model.hpp: how much a cache of a given size hits, and how big a cache
// must be to hit a target, from a popularity law or from a measured curve.
//
// What it is:
//   - `zipf_popularity`: Zipf(s) request probabilities over N items, q_i = i^-s / H(N, s),
//     prepared once so that sums over all N items cost O(4,500) terms for any N up to 2^53;
//   - `che_lru_hit_ratio` / `che_characteristic_time`: Che's approximation of an LRU cache of
//     C items under that law: find T with sum_i (1 - exp(-q_i T)) = C, then
//     hit = sum_i q_i (1 - exp(-q_i T));
//   - `static_top_hit_ratio`: sum_{i <= C} q_i, the hit ratio of a cache that always holds the
//     C most popular items: what LFU and W-TinyLFU approach under independent requests, and an
//     upper bound for every policy that cannot see the future (under IRM);
//   - `hit_ratio_curve`: a hit-ratio curve measured by replaying a trace (tools/cache_replay:
//     one (size, hit ratio) point per size), interpolated, accepted instead of the formula;
//   - `hit_ratio_model`: either of the above behind one interface (`hit_ratio(size)`,
//     `size_for(target)`), which the advisor uses for the application cache and for a CDN
//     edge's offload (an edge is a cache in front of the origin; see `cdn_offload`).
//
// With explicit per-item rates (`item_rates`), `lru_invalidated_hit_ratio` and
// `top_invalidated_hit_ratio` add what a cache in a read/write system loses to writes that
// erase entries (cache-aside invalidation, a CDN purge) and to a TTL: the stage model
// (architecture/capacity.hpp) uses them for the edge and the application cache.
//
// When to pick it: to size a cache before building it, or to read the size off a real trace.
// The formulas assume the independent reference model (IRM): each request draws an item from
// a fixed law, independently of the past. Real traces add temporal locality (bursts on new
// items) that helps LRU and scans that hurt it; a measured curve captures both, so prefer it
// when a trace exists.
//
//   scaling::advisor::zipf_popularity keys{100'000, 0.8};
//   double h = scaling::advisor::che_lru_hit_ratio(keys, 10'000);       // ~0.469
//   auto m = scaling::advisor::hit_ratio_model::zipf(keys,
//   scaling::advisor::cache_policy_model::lru); double items = *m.size_for(0.9); // items for 90%
//   hits
//
// Accuracy. Che against LRU simulation: within 0.003 at every REFERENCE-CASES.md point (N =
// 100,000, s 0.6 to 1.0, C 100 to 10,000), and within 0.0005 of this library's own `cache` with
// `lru` fed the lab's Zipf sampler at those points (tests/advisor/cache_model_test.cpp). The sums
// over N items: ranks 1..4096 exactly, the rest grouped into geometric buckets (ratio 1.1) each
// integrated by 4-point Gauss-Legendre in log-rank (a rank i stands for [i - 1/2, i + 1/2]);
// against the exact sums the hit ratio is within 1e-6 absolute (checked for N = 10^5 and 10^6 at s
// 0.6, 0.8, 1.0, 1.2). Thread safety: immutable after construction; share freely. Complexity:
// construction O(1) in N (about 4,500 terms); each hit ratio or size about 60 passes over those
// terms. References: H. Che, Y. Tung, Z. Wang, "Hierarchical Web caching systems: modeling, design
// and experimental results", IEEE JSAC 20(7), 2002; C. Fricker, P. Robert, J. Roberts, "A versatile
// and accurate approximation for LRU cache performance", ITC 24, 2012.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"

namespace scaling::advisor {

// Zipf(s) popularity over ranks 1..n.
class zipf_popularity {
 public:
  static constexpr double max_skew = 4.0;
  static constexpr std::uint64_t max_items = std::uint64_t{1} << 53;

  // Items n (ranks 1..n) and exponent s (0 is uniform; web and key-value traces measure 0.6 to
  // 1.2).
  // Throws: scaling::invalid_argument if n is 0 or above 2^53, or s is not in [0, 4].
  zipf_popularity(std::uint64_t n, double s) : n_(n), s_(s) {
    if (n == 0 || n > max_items)
      scaling::detail::throw_invalid_argument("scaling::advisor::zipf_popularity", "n",
                                              "must be in [1, 2^53]", n);
    if (!(s >= 0.0 && s <= max_skew))
      scaling::detail::throw_invalid_argument("scaling::advisor::zipf_popularity", "s",
                                              "must be in [0, 4]", s);
    const std::uint64_t exact = std::min<std::uint64_t>(n, exact_ranks);
    weight_.reserve(exact + 512);
    q_.reserve(exact + 512);
    prefix_.reserve(exact + 1);
    prefix_.push_back(0.0);
    for (std::uint64_t i = 1; i <= exact; ++i) {
      const double p = rank_weight(static_cast<double>(i));
      prefix_.push_back(prefix_.back() + p);
      weight_.push_back(1.0);
      q_.push_back(p);
    }
    // Ranks above `exact`: geometric buckets [a, b], each standing for the integral of x^-s
    // over [a - 1/2, b + 1/2], integrated by Gauss-Legendre in u = ln x (dx = x du).
    static constexpr double gl_x[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                       0.8611363115940526};
    static constexpr double gl_w[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                       0.3478548451374538};
    std::uint64_t a = exact + 1;
    while (a <= n) {
      const auto grown = static_cast<std::uint64_t>(std::floor(static_cast<double>(a) * 1.1));
      const std::uint64_t b = std::min(n, std::max(a, grown));
      const double lo = std::log(static_cast<double>(a) - 0.5);
      const double hi = std::log(static_cast<double>(b) + 0.5);
      const double mid = (lo + hi) / 2, half = (hi - lo) / 2;
      for (int j = 0; j < 4; ++j) {
        const double x = std::exp(mid + half * gl_x[j]);
        weight_.push_back(gl_w[j] * half * x);  // ranks this node stands for
        q_.push_back(rank_weight(x));
      }
      a = b + 1;
    }
    total_ = prefix_.back() +
             tail_integral(static_cast<double>(exact) + 0.5, static_cast<double>(n) + 0.5);
    for (double& q : q_)
      q /= total_;
  }

  [[nodiscard]] std::uint64_t items() const noexcept { return n_; }
  [[nodiscard]] double skew() const noexcept { return s_; }

  // The probability of rank k (1-based): k^-s / H(n, s).
  // Preconditions: 1 <= k <= items().
  [[nodiscard]] double probability(std::uint64_t k) const noexcept {
    return rank_weight(static_cast<double>(k)) / total_;
  }

  // sum_{i <= k} q_i, the share of requests for the k most popular items (k may be
  // fractional: the last item counts in part). 0 for k <= 0, 1 for k >= n.
  [[nodiscard]] double top_share(double k) const noexcept {
    if (!(k > 0.0)) return 0.0;
    if (k >= static_cast<double>(n_)) return 1.0;
    const auto whole = static_cast<std::uint64_t>(std::floor(k));
    const double frac = k - static_cast<double>(whole);
    double sum;
    if (whole < prefix_.size()) {
      sum = prefix_[whole];
    } else {
      const double exact = static_cast<double>(prefix_.size() - 1);
      sum = prefix_.back() + tail_integral(exact + 0.5, static_cast<double>(whole) + 0.5);
    }
    sum += frac * rank_weight(static_cast<double>(whole + 1));
    return std::min(1.0, sum / total_);
  }

  // sum_i (1 - exp(-q_i t)): the expected number of distinct items requested in t requests
  // (Che's occupancy of an LRU cache whose items live t requests).
  [[nodiscard]] double occupancy(double t) const noexcept {
    double sum = 0;
    for (std::size_t i = 0; i < q_.size(); ++i)
      sum -= weight_[i] * std::expm1(-q_[i] * t);
    return sum;
  }
  // sum_i q_i (1 - exp(-q_i t)): the probability that a request finds its item requested
  // within the last t requests.
  [[nodiscard]] double hit_within(double t) const noexcept {
    double sum = 0;
    for (std::size_t i = 0; i < q_.size(); ++i)
      sum -= weight_[i] * q_[i] * std::expm1(-q_[i] * t);
    return sum;
  }

  // Terms in the prepared sums (exact ranks plus quadrature nodes).
  [[nodiscard]] std::size_t terms() const noexcept { return q_.size(); }

 private:
  static constexpr std::uint64_t exact_ranks = 4096;

  [[nodiscard]] double rank_weight(double x) const noexcept { return std::exp(-s_ * std::log(x)); }
  // integral of x^-s over [a, b].
  [[nodiscard]] double tail_integral(double a, double b) const noexcept {
    if (b <= a) return 0.0;
    if (std::abs(1.0 - s_) < 1e-12) return std::log(b / a);
    return (std::exp((1.0 - s_) * std::log(b)) - std::exp((1.0 - s_) * std::log(a))) / (1.0 - s_);
  }

  std::uint64_t n_;
  double s_;
  double total_ = 0;            // H(n, s)
  std::vector<double> prefix_;  // prefix_[k] = sum_{i <= k} i^-s, k <= exact_ranks
  std::vector<double> weight_;  // ranks each term stands for
  std::vector<double> q_;       // request probability of one rank at that term
};

namespace detail {

// Smallest t > 0 with f(t) >= target for an increasing f, by bisection on log t (relative
// precision 1e-12). `start` must satisfy f(start) <= target.
template <class F>
[[nodiscard]] double solve_increasing(F f, double target, double start) {
  double lo = start, hi = start * 2;
  while (f(hi) < target) {
    lo = hi;
    hi *= 2;
    if (!std::isfinite(hi)) return std::numeric_limits<double>::infinity();
  }
  for (int i = 0; i < 200 && hi / lo - 1 > 1e-12; ++i) {
    const double mid = std::sqrt(lo * hi);
    (f(mid) < target ? lo : hi) = mid;
  }
  return std::sqrt(lo * hi);
}

}  // namespace detail

// Che's characteristic time of an LRU cache of `capacity` items: the T (in requests) with
// sum_i (1 - exp(-q_i T)) = capacity. Infinite when capacity >= items; 0 when capacity <= 0.
[[nodiscard]] inline double che_characteristic_time(const zipf_popularity& pop, double capacity) {
  if (!(capacity > 0.0)) return 0.0;
  if (capacity >= static_cast<double>(pop.items())) return std::numeric_limits<double>::infinity();
  // occupancy(t) <= t (each term is at most q_i t), so t = capacity is below the root.
  return detail::solve_increasing([&](double t) { return pop.occupancy(t); }, capacity, capacity);
}

// The hit ratio of an LRU cache of `capacity` items under IRM, by Che's approximation.
[[nodiscard]] inline double che_lru_hit_ratio(const zipf_popularity& pop, double capacity) {
  if (!(capacity > 0.0)) return 0.0;
  if (capacity >= static_cast<double>(pop.items())) return 1.0;
  return pop.hit_within(che_characteristic_time(pop, capacity));
}

// The hit ratio of a cache that holds the `capacity` most popular items: sum_{i <= C} q_i.
// LFU and W-TinyLFU approach it under IRM; no policy without knowledge of the future beats it
// there (Belady's OPT can, on a finite trace).
[[nodiscard]] inline double static_top_hit_ratio(const zipf_popularity& pop, double capacity) {
  return pop.top_share(capacity);
}

// A measured point: a cache of `size` items hit `hit_ratio` (in [0, 1]) of a trace.
struct hit_ratio_point {
  double size = 0;
  double hit_ratio = 0;
};

// A hit-ratio curve measured by replay (tools/cache_replay prints size and hit ratio per
// policy). Between points it interpolates linearly in log(size) (hit-ratio curves are close to
// straight on a log-size axis over a decade); below the first point linearly from (0, 0); above
// the last point it stays at the last ratio: it never extrapolates growth it did not measure.
class hit_ratio_curve {
 public:
  // Throws: scaling::invalid_argument if `points` is empty, a size is not finite and > 0, sizes
  // are not strictly increasing, or a ratio is outside [0, 1].
  explicit hit_ratio_curve(std::vector<hit_ratio_point> points) : points_(std::move(points)) {
    if (points_.empty())
      scaling::detail::throw_invalid_argument("scaling::advisor::hit_ratio_curve", "points",
                                              "must hold at least one (size, hit_ratio) point");
    double previous = 0;
    for (const auto& p : points_) {
      if (!(p.size > previous) || !std::isfinite(p.size))
        scaling::detail::throw_invalid_argument("scaling::advisor::hit_ratio_curve", "points.size",
                                                "must be finite, > 0 and strictly increasing",
                                                p.size);
      if (!(p.hit_ratio >= 0.0 && p.hit_ratio <= 1.0))
        scaling::detail::throw_invalid_argument("scaling::advisor::hit_ratio_curve",
                                                "points.hit_ratio", "must be in [0, 1]",
                                                p.hit_ratio);
      previous = p.size;
    }
  }

  [[nodiscard]] const std::vector<hit_ratio_point>& points() const noexcept { return points_; }

  [[nodiscard]] double hit_ratio(double size) const noexcept {
    if (!(size > 0.0)) return 0.0;
    const auto& first = points_.front();
    if (size <= first.size) return first.hit_ratio * size / first.size;
    for (std::size_t i = 1; i < points_.size(); ++i) {
      const auto& a = points_[i - 1];
      const auto& b = points_[i];
      if (size <= b.size) {
        const double f = std::log(size / a.size) / std::log(b.size / a.size);
        return a.hit_ratio + f * (b.hit_ratio - a.hit_ratio);
      }
    }
    return points_.back().hit_ratio;
  }

  // The smallest size whose interpolated ratio reaches `target`; nullopt above the curve.
  [[nodiscard]] std::optional<double> size_for(double target) const noexcept {
    if (!(target > 0.0)) return 0.0;
    const auto& first = points_.front();
    if (target <= first.hit_ratio) return first.size * target / first.hit_ratio;
    for (std::size_t i = 1; i < points_.size(); ++i) {
      const auto& a = points_[i - 1];
      const auto& b = points_[i];
      if (target <= b.hit_ratio && b.hit_ratio > a.hit_ratio && target > a.hit_ratio) {
        const double f = (target - a.hit_ratio) / (b.hit_ratio - a.hit_ratio);
        return a.size * std::exp(f * std::log(b.size / a.size));
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<hit_ratio_point> points_;
};

// Which law the Zipf model applies.
enum class cache_policy_model {
  lru,         // Che's approximation
  static_top,  // the C most popular items: LFU / W-TinyLFU under IRM, and the upper bound
};

// One interface over the formula and a measured curve.
class hit_ratio_model {
 public:
  [[nodiscard]] static hit_ratio_model zipf(zipf_popularity pop, cache_policy_model policy) {
    return hit_ratio_model{std::move(pop), policy};
  }
  [[nodiscard]] static hit_ratio_model measured(hit_ratio_curve curve) {
    return hit_ratio_model{std::move(curve)};
  }

  [[nodiscard]] bool is_measured() const noexcept { return curve_.has_value(); }
  [[nodiscard]] const std::optional<zipf_popularity>& popularity() const noexcept { return pop_; }
  [[nodiscard]] const std::optional<hit_ratio_curve>& curve() const noexcept { return curve_; }
  [[nodiscard]] cache_policy_model policy() const noexcept { return policy_; }

  // The hit ratio of a cache of `size` items.
  [[nodiscard]] double hit_ratio(double size) const {
    if (curve_) return curve_->hit_ratio(size);
    return policy_ == cache_policy_model::lru ? che_lru_hit_ratio(*pop_, size)
                                              : static_top_hit_ratio(*pop_, size);
  }

  // The items a cache needs to reach `target`; nullopt if no size reaches it (a measured
  // curve that stays below it).
  // Throws: scaling::invalid_argument if target is not in [0, 1).
  [[nodiscard]] std::optional<double> size_for(double target) const {
    if (!(target >= 0.0 && target < 1.0))
      scaling::detail::throw_invalid_argument("scaling::advisor::hit_ratio_model::size_for",
                                              "target", "must be in [0, 1)", target);
    if (target == 0.0) return 0.0;
    if (curve_) return curve_->size_for(target);
    const auto& pop = *pop_;
    const double n = static_cast<double>(pop.items());
    if (policy_ == cache_policy_model::lru) {
      // hit_within(T) grows with T: find T, then the capacity is the occupancy at T.
      const double t =
          detail::solve_increasing([&](double x) { return pop.hit_within(x); }, target, 1e-9);
      return std::min(n, pop.occupancy(t));
    }
    double lo = 0, hi = n;
    for (int i = 0; i < 200 && hi - lo > 1e-9 * std::max(1.0, hi); ++i) {
      const double mid = (lo + hi) / 2;
      (pop.top_share(mid) < target ? lo : hi) = mid;
    }
    return hi;
  }

 private:
  hit_ratio_model(zipf_popularity pop, cache_policy_model policy)
      : pop_(std::move(pop)), policy_(policy) {}
  explicit hit_ratio_model(hit_ratio_curve curve) : curve_(std::move(curve)) {}

  std::optional<zipf_popularity> pop_;
  std::optional<hit_ratio_curve> curve_;
  cache_policy_model policy_ = cache_policy_model::lru;
};

// What a CDN edge takes off the origin. An edge (or each POP) is a cache of `edge_objects`
// objects in front of the origin, so the request offload is that cache's hit ratio; under IRM
// with equal object sizes the byte offload is the same. Splitting the load over P POPs that
// each see the whole catalogue leaves each POP's hit ratio unchanged (Che's ratio does not
// depend on the request rate) but multiplies the origin's cold misses by P; a shield tier in
// front of the origin takes them back.
struct cdn_offload {
  double offload = 0;      // share of requests served by the edge
  double origin_rate = 0;  // requests per second left for the origin
};

[[nodiscard]] inline cdn_offload edge_offload(const hit_ratio_model& model, double edge_objects,
                                              double request_rate) {
  const double h = model.hit_ratio(edge_objects);
  return {h, request_rate * (1.0 - h)};
}

// The Zipf exponent that best fits measured request counts (any order; zeros ignored): the
// least-squares slope of log(count) against log(rank) over the ranks whose count is at least
// `min_count` (the tail of counts 1 and 2 is flat noise that flattens the slope). Feed it the
// counts of a key sample (a day of access logs) to give the advisor your skew. Returns 0 (a
// uniform law) when fewer than two ranks qualify.
[[nodiscard]] inline double fit_zipf_exponent(std::span<const std::uint64_t> counts,
                                              std::uint64_t min_count = 3) {
  std::vector<std::uint64_t> sorted;
  sorted.reserve(counts.size());
  for (const std::uint64_t c : counts)
    if (c > 0) sorted.push_back(c);
  std::sort(sorted.begin(), sorted.end(), std::greater<>{});
  double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
  for (std::size_t i = 0; i < sorted.size() && sorted[i] >= min_count; ++i) {
    const double x = std::log(static_cast<double>(i + 1));
    const double y = std::log(static_cast<double>(sorted[i]));
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    n += 1;
  }
  if (n < 2 || n * sxx - sx * sx <= 0) return 0.0;
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return std::clamp(-slope, 0.0, zipf_popularity::max_skew);
}

// One item of an explicit popularity: the rate of reads it gets and the rate of writes that
// invalidate (erase) its cached copy, per second.
struct item_rates {
  double reads = 0;
  double writes = 0;
};

// The read hit ratio of an LRU cache of `capacity` items whose entries expire `ttl_s` seconds
// after they are filled (infinity: never) and are erased by every write to their item, each
// read miss filling the entry again. Per item, two bounds, the smaller taken:
//   - eviction (Che): the entry survives while it is read within the characteristic time T_C,
//     solved in seconds from sum_i (1 - exp(-r_i T_C)) = capacity: h = 1 - exp(-r T_C);
//   - expiry and invalidation: a fill is followed by the reads that arrive before
//     min(ttl, the next write), E = r (1 - exp(-w ttl)) / w of them (r ttl when w = 0), so
//     h = E / (1 + E); with no write and no TTL, 1.
// The occupancy ignores the entries that writes and expiry remove, so T_C is underestimated
// and the result leans low. `per_item`, when given, receives each item's hit ratio.
// Throws: scaling::invalid_argument if capacity or ttl_s is negative, or a rate is negative or
// not finite.
[[nodiscard]] inline double lru_invalidated_hit_ratio(std::span<const item_rates> items,
                                                      double capacity, double ttl_s,
                                                      std::vector<double>* per_item = nullptr) {
  constexpr auto who = "scaling::advisor::lru_invalidated_hit_ratio";
  if (!(capacity >= 0))
    scaling::detail::throw_invalid_argument(who, "capacity", "must be >= 0", capacity);
  if (!(ttl_s >= 0)) scaling::detail::throw_invalid_argument(who, "ttl_s", "must be >= 0", ttl_s);
  double total_reads = 0;
  for (const item_rates& i : items) {
    if (!(i.reads >= 0) || !std::isfinite(i.reads) || !(i.writes >= 0) || !std::isfinite(i.writes))
      scaling::detail::throw_invalid_argument(
          who, "items", "rates must be finite and >= 0",
          i.reads < 0 || !std::isfinite(i.reads) ? i.reads : i.writes);
    total_reads += i.reads;
  }
  if (per_item) per_item->assign(items.size(), 0.0);
  if (total_reads == 0 || capacity == 0) return 0.0;
  double t_c = std::numeric_limits<double>::infinity();
  if (capacity < static_cast<double>(items.size())) {
    auto occupancy = [&](double t) {
      double sum = 0;
      for (const item_rates& i : items)
        sum += -std::expm1(-i.reads * t);
      return sum;
    };
    // occupancy(t) <= t * total_reads, so capacity / total_reads is below the root.
    t_c = detail::solve_increasing(occupancy, capacity, capacity / total_reads);
  }
  double hits = 0;
  for (std::size_t k = 0; k < items.size(); ++k) {
    const double r = items[k].reads, w = items[k].writes;
    if (r == 0) continue;
    const double evict = std::isfinite(t_c) ? -std::expm1(-r * t_c) : 1.0;
    double fresh = 1.0;
    if (w > 0 || std::isfinite(ttl_s)) {
      const double e =
          w > 0 ? (std::isfinite(ttl_s) ? -std::expm1(-w * ttl_s) : 1.0) * r / w : r * ttl_s;
      fresh = e / (1.0 + e);
    }
    const double h = std::min(evict, fresh);
    if (per_item) (*per_item)[k] = h;
    hits += r * h;
  }
  return hits / total_reads;
}

// The read hit ratio of a cache that keeps the `capacity` most read items (LFU, W-TinyLFU in
// steady state) when every write erases its item's entry and the next read fills it again:
// a kept item hits r / (r + w) of its reads (each write costs the read after it), the others
// never. `per_item`, when given, receives each item's hit ratio.
// Throws: scaling::invalid_argument as lru_invalidated_hit_ratio.
[[nodiscard]] inline double top_invalidated_hit_ratio(std::span<const item_rates> items,
                                                      double capacity,
                                                      std::vector<double>* per_item = nullptr) {
  constexpr auto who = "scaling::advisor::top_invalidated_hit_ratio";
  if (!(capacity >= 0))
    scaling::detail::throw_invalid_argument(who, "capacity", "must be >= 0", capacity);
  std::vector<std::size_t> order(items.size());
  double total_reads = 0;
  for (std::size_t k = 0; k < items.size(); ++k) {
    const item_rates& i = items[k];
    if (!(i.reads >= 0) || !std::isfinite(i.reads) || !(i.writes >= 0) || !std::isfinite(i.writes))
      scaling::detail::throw_invalid_argument(
          who, "items", "rates must be finite and >= 0",
          i.reads < 0 || !std::isfinite(i.reads) ? i.reads : i.writes);
    order[k] = k;
    total_reads += i.reads;
  }
  if (per_item) per_item->assign(items.size(), 0.0);
  if (total_reads == 0) return 0.0;
  const auto kept =
      static_cast<std::size_t>(std::min(std::floor(capacity), static_cast<double>(items.size())));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(),
                    [&](std::size_t a, std::size_t b) { return items[a].reads > items[b].reads; });
  double hits = 0;
  for (std::size_t j = 0; j < kept; ++j) {
    const item_rates& i = items[order[j]];
    if (i.reads == 0) continue;
    const double h = i.reads / (i.reads + i.writes);
    if (per_item) (*per_item)[order[j]] = h;
    hits += i.reads * h;
  }
  return hits / total_reads;
}

}  // namespace scaling::advisor
