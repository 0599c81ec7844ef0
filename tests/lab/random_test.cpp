#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/lab/random.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::distribution;
using scaling::lab::rng;

// xoshiro256** from the splitmix64-expanded seed 0: the first outputs are fixed forever, so a
// lab run is the same on every platform and standard library.
TEST(Rng, SameSeedSameStreamOnEveryPlatform) {
  rng a{0};
  rng b{0};
  std::vector<std::uint64_t> first;
  for (int i = 0; i < 4; ++i) {
    first.push_back(a());
    EXPECT_EQ(first.back(), b());
  }
  rng c{1};
  EXPECT_NE(c(), first[0]);
}

TEST(Rng, BelowIsUniformAndInRange) {
  rng gen{3};
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100'000; ++i) {
    const auto v = gen.below(10);
    ASSERT_LT(v, 10U);
    ++counts[v];
  }
  for (const int n : counts)
    EXPECT_NEAR(n, 10'000, 500);  // > 5 sigma
}

double sample_mean(const distribution& d, int n, std::uint64_t seed, double* scv = nullptr) {
  rng gen{seed};
  double sum = 0;
  double sq = 0;
  for (int i = 0; i < n; ++i) {
    const auto x = static_cast<double>(d.sample(gen).count());
    sum += x;
    sq += x * x;
  }
  const double mean = sum / n;
  if (scv != nullptr) *scv = (sq / n - mean * mean) / (mean * mean);
  return mean;
}

TEST(Distribution, EachLawHasItsMeanAndSpread) {
  double scv = 0;
  const auto det = distribution::deterministic(2ms);
  EXPECT_DOUBLE_EQ(sample_mean(det, 1000, 1, &scv), 2e6);
  EXPECT_NEAR(scv, 0.0, 1e-12);

  const auto exp = distribution::exponential(2ms);
  EXPECT_NEAR(sample_mean(exp, 400'000, 2, &scv) / 2e6, 1.0, 0.01);
  EXPECT_NEAR(scv, 1.0, 0.03);
  EXPECT_DOUBLE_EQ(exp.scv(), 1.0);

  const auto logn = distribution::lognormal(2ms, 1.5);
  EXPECT_NEAR(sample_mean(logn, 400'000, 3, &scv) / 2e6, 1.0, 0.02);
  EXPECT_NEAR(logn.scv(), 2.25, 1e-9);
  EXPECT_NEAR(scv, 2.25, 0.3);  // heavy tail: the sample variance converges slowly

  const auto emp = distribution::empirical({1ms, 3ms});
  EXPECT_NEAR(sample_mean(emp, 100'000, 4) / 2e6, 1.0, 0.01);
  EXPECT_DOUBLE_EQ(emp.mean_ns(), 2e6);
  EXPECT_DOUBLE_EQ(emp.scv(), 0.25);
}

TEST(Distribution, BadParametersAreNamed) {
  auto message = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"no exception"};
  };
  EXPECT_EQ(message([] { (void)distribution::exponential(0ms); }),
            "scaling::lab::distribution::exponential: mean must be > 0 ns (got 0)");
  EXPECT_EQ(message([] { (void)distribution::deterministic(-1ns); }),
            "scaling::lab::distribution::deterministic: d must be >= 0 ns (got -1)");
  EXPECT_EQ(message([] { (void)distribution::lognormal(1ms, 0.0); }),
            "scaling::lab::distribution::lognormal: cv must be a finite number > 0 (got 0)");
  EXPECT_EQ(message([] { (void)distribution::empirical({}); }),
            "scaling::lab::distribution::empirical: samples must not be empty (got 0)");
}

}  // namespace
