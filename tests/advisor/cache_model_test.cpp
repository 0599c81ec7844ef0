// The cache model against the reference values (Che versus LRU simulation, REFERENCE-CASES.md),
// against exact sums over every item, and against this library's own LRU cache fed Zipf keys
// by the lab's rejection-inversion sampler.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/advisor/cache_model.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/lab/random.hpp>
#include <scaling/lab/workload.hpp>

namespace {

using scaling::advisor::cache_policy_model;
using scaling::advisor::che_lru_hit_ratio;
using scaling::advisor::hit_ratio_curve;
using scaling::advisor::hit_ratio_model;
using scaling::advisor::static_top_hit_ratio;
using scaling::advisor::zipf_popularity;

struct reference_point {
  double alpha;
  double capacity;
  double measured;
};

// REFERENCE-CASES.md, "Capacity models": LRU simulation, N = 100,000 Zipf items.
const std::vector<reference_point> reference = {
    {0.6, 1'000, 0.0536}, {0.6, 10'000, 0.2521}, {0.8, 1'000, 0.2043},  {0.8, 10'000, 0.4687},
    {1.0, 100, 0.2898},   {1.0, 1'000, 0.5062},  {1.0, 10'000, 0.7373},
};

TEST(CheApproximation, MatchesTheReferenceSimulationWithin0003) {
  for (const auto& r : reference) {
    const zipf_popularity pop{100'000, r.alpha};
    EXPECT_NEAR(che_lru_hit_ratio(pop, r.capacity), r.measured, 0.003)
        << "alpha " << r.alpha << " C " << r.capacity;
  }
}

// Che's equations summed over every item, with no grouping: the reference the buckets must
// match.
double exact_che(std::uint64_t n, double s, double capacity) {
  std::vector<double> q(n);
  double total = 0;
  for (std::uint64_t i = 0; i < n; ++i)
    total += q[i] = std::pow(static_cast<double>(i + 1), -s);
  for (double& x : q)
    x /= total;
  auto occupancy = [&](double t) {
    double sum = 0;
    for (double x : q)
      sum -= std::expm1(-x * t);
    return sum;
  };
  double lo = capacity, hi = capacity;
  while (occupancy(hi) < capacity)
    hi *= 2;
  for (int i = 0; i < 60; ++i) {
    const double mid = std::sqrt(lo * hi);
    (occupancy(mid) < capacity ? lo : hi) = mid;
  }
  const double t = std::sqrt(lo * hi);
  double hit = 0;
  for (double x : q)
    hit -= x * std::expm1(-x * t);
  return hit;
}

TEST(CheApproximation, GroupedSumsMatchExactSumsWithin1e6) {
  struct point {
    std::uint64_t n;
    double s;
    double capacity;
  };
  for (const auto& p :
       {point{100'000, 0.6, 5'000}, point{100'000, 0.8, 100}, point{100'000, 1.0, 50'000},
        point{100'000, 1.2, 5'000}, point{1'000'000, 0.9, 20'000}}) {
    const zipf_popularity pop{p.n, p.s};
    EXPECT_NEAR(che_lru_hit_ratio(pop, p.capacity), exact_che(p.n, p.s, p.capacity), 1e-6)
        << "n " << p.n << " s " << p.s << " C " << p.capacity;
  }
}

TEST(CheApproximation, HundredMillionItemsInAFewThousandTerms) {
  const zipf_popularity pop{100'000'000, 0.9};
  EXPECT_LT(pop.terms(), 5'000u);
  const double h = che_lru_hit_ratio(pop, 1'000'000);
  EXPECT_GT(h, 0.4);  // 0.457: a 1% cache of a 0.9-skewed catalogue
  EXPECT_LT(h, static_top_hit_ratio(pop, 1'000'000));
}

TEST(CheApproximation, EdgesOfTheRange) {
  const zipf_popularity pop{1'000, 0.8};
  EXPECT_EQ(che_lru_hit_ratio(pop, 0), 0.0);
  EXPECT_EQ(che_lru_hit_ratio(pop, 1'000), 1.0);
  EXPECT_EQ(che_lru_hit_ratio(pop, 5'000), 1.0);
  // Uniform popularity: every policy hits C / N.
  const zipf_popularity uniform{10'000, 0.0};
  EXPECT_NEAR(che_lru_hit_ratio(uniform, 2'500), 0.25, 1e-9);
  EXPECT_NEAR(static_top_hit_ratio(uniform, 2'500), 0.25, 1e-9);
}

// The library's own LRU cache, fed ranks drawn by the lab's Zipf sampler (independent
// requests), against Che. Measured differences (1M requests after 200K of warm-up, seed 17):
// 0.0004 or less at all seven reference points; the sample's standard error is about 0.0005.
double simulate_lru(std::uint64_t n, double s, std::size_t capacity, std::uint64_t seed) {
  scaling::cache<std::uint64_t, int> lru{capacity};
  const scaling::lab::zipf_distribution keys{n, s};
  scaling::lab::rng gen{seed};
  const std::uint64_t warm = 200'000, measured = 1'000'000;
  std::uint64_t hits = 0;
  for (std::uint64_t i = 0; i < warm + measured; ++i) {
    const std::uint64_t k = keys(gen);
    const bool hit = lru.get(k).has_value();
    if (!hit) lru.put(k, 0);
    if (i >= warm && hit) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(measured);
}

TEST(CheApproximation, PredictsTheLibrarysLruCacheWithin0002) {
  struct run {
    double s;
    std::size_t capacity;
  };
  for (const auto& r : {run{0.8, 1'000}, run{0.8, 10'000}, run{1.0, 100}, run{1.0, 10'000}}) {
    const zipf_popularity pop{100'000, r.s};
    const double predicted = che_lru_hit_ratio(pop, static_cast<double>(r.capacity));
    const double measured = simulate_lru(100'000, r.s, r.capacity, 17);
    EXPECT_NEAR(predicted, measured, 0.002) << "s " << r.s << " C " << r.capacity;
  }
}

TEST(StaticTop, IsTheTopShareAndBoundsLru) {
  const zipf_popularity pop{100'000, 1.0};
  double h = 0;
  for (int i = 1; i <= 100'000; ++i)
    h += 1.0 / i;
  double top = 0;
  for (int i = 1; i <= 10'000; ++i)
    top += 1.0 / i;
  EXPECT_NEAR(static_top_hit_ratio(pop, 10'000), top / h, 1e-6);
  for (const auto& r : reference) {
    const zipf_popularity p{100'000, r.alpha};
    EXPECT_GT(static_top_hit_ratio(p, r.capacity), che_lru_hit_ratio(p, r.capacity));
  }
}

TEST(HitRatioModel, SizeForInvertsHitRatio) {
  const zipf_popularity pop{1'000'000, 0.9};
  for (const auto policy : {cache_policy_model::lru, cache_policy_model::static_top}) {
    const auto m = hit_ratio_model::zipf(pop, policy);
    for (const double target : {0.1, 0.5, 0.8, 0.95}) {
      const auto size = m.size_for(target);
      ASSERT_TRUE(size.has_value());
      EXPECT_NEAR(m.hit_ratio(*size), target, 1e-6) << "target " << target;
    }
  }
  const auto m = hit_ratio_model::zipf(pop, cache_policy_model::lru);
  EXPECT_THROW((void)m.size_for(1.0), std::invalid_argument);
  EXPECT_THROW((void)m.size_for(-0.1), std::invalid_argument);
}

TEST(HitRatioCurve, InterpolatesInLogSizeAndNeverExtrapolates) {
  // The shape tools/cache_replay prints (here in ratios, not percent).
  const hit_ratio_curve curve{{{1'000, 0.20}, {10'000, 0.50}, {100'000, 0.70}}};
  EXPECT_NEAR(curve.hit_ratio(500), 0.10, 1e-12);  // linear from (0, 0)
  EXPECT_NEAR(curve.hit_ratio(10'000), 0.50, 1e-12);
  EXPECT_NEAR(curve.hit_ratio(std::sqrt(1e3 * 1e4)), 0.35, 1e-12);  // halfway in log size
  EXPECT_NEAR(curve.hit_ratio(1e7), 0.70, 1e-12);                   // stays at the last point
  EXPECT_NEAR(*curve.size_for(0.35), std::sqrt(1e3 * 1e4), 1e-6);
  EXPECT_NEAR(*curve.size_for(0.1), 500, 1e-9);
  EXPECT_FALSE(curve.size_for(0.8).has_value());
  const auto m = hit_ratio_model::measured(curve);
  EXPECT_TRUE(m.is_measured());
  EXPECT_NEAR(m.hit_ratio(10'000), 0.5, 1e-12);
  const auto offload = scaling::advisor::edge_offload(m, 10'000, 1'000);
  EXPECT_NEAR(offload.offload, 0.5, 1e-12);
  EXPECT_NEAR(offload.origin_rate, 500, 1e-9);
}

TEST(HitRatioCurve, RejectsBadPointsNamingThem) {
  EXPECT_THROW(hit_ratio_curve{{}}, std::invalid_argument);
  try {
    hit_ratio_curve bad{{{100, 0.2}, {100, 0.3}}};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "scaling::advisor::hit_ratio_curve: points.size must be finite, > 0 and strictly "
                 "increasing (got 100)");
  }
  EXPECT_THROW((hit_ratio_curve{{{100, 1.5}}}), std::invalid_argument);
}

TEST(ZipfPopularity, RejectsSkewAndSizeOutOfRange) {
  try {
    zipf_popularity bad{1'000, 4.5};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::advisor::zipf_popularity: s must be in [0, 4] (got 4.5)");
  }
  EXPECT_THROW((zipf_popularity{1'000, -0.1}), std::invalid_argument);
  EXPECT_THROW((zipf_popularity{0, 1.0}), std::invalid_argument);
}

}  // namespace
