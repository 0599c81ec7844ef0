// The Universal Scalability Law: the reference vector, and the fit recovering sigma and kappa
// from exact and from noisy points.
#include <cmath>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/advisor/usl.hpp>
#include <scaling/lab/random.hpp>

namespace {

using scaling::advisor::fit_usl;
using scaling::advisor::usl;
using scaling::advisor::usl_point;

TEST(Usl, ReferenceVector) {
  const usl law{.sigma = 0.05, .kappa = 0.001};
  EXPECT_NEAR(law.peak(), 30.8, 0.05);
  EXPECT_NEAR(law.relative_capacity(8), 5.69, 0.005);
  EXPECT_EQ(law.relative_capacity(1), 1.0);
  EXPECT_EQ((usl{.sigma = 0.1, .kappa = 0}.peak()), std::numeric_limits<double>::infinity());
}

std::vector<usl_point> generate(const usl& law, double x1, bool with_one, double noise,
                                std::uint64_t seed) {
  scaling::lab::rng gen{seed};
  std::vector<usl_point> points;
  for (const double n : {1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0}) {
    if (n == 1.0 && !with_one) continue;
    const double jitter = 1.0 + noise * (2.0 * gen.uniform01() - 1.0);
    points.push_back({n, x1 * law.relative_capacity(n) * jitter});
  }
  return points;
}

TEST(UslFit, RecoversTheLawFromExactPoints) {
  const usl law{.sigma = 0.05, .kappa = 0.001};
  const auto fit = fit_usl(generate(law, 1'000, true, 0.0, 1));
  EXPECT_NEAR(fit.law.sigma, 0.05, 1e-6);
  EXPECT_NEAR(fit.law.kappa, 0.001, 1e-6);
  EXPECT_NEAR(fit.single_node_throughput, 1'000, 1e-3);
  EXPECT_LT(fit.rms_relative_error, 1e-9);
  // Without a point at N = 1, Gauss-Newton alone.
  const auto no_one = fit_usl(generate(law, 1'000, false, 0.0, 1));
  EXPECT_NEAR(no_one.law.sigma, 0.05, 1e-6);
  EXPECT_NEAR(no_one.law.kappa, 0.001, 1e-6);
  EXPECT_NEAR(no_one.single_node_throughput, 1'000, 1e-2);
}

TEST(UslFit, RecoversTheLawFromNoisyPointsWithinTolerance) {
  const usl law{.sigma = 0.05, .kappa = 0.001};
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto fit = fit_usl(generate(law, 1'000, true, 0.02, seed));
    EXPECT_NEAR(fit.law.sigma, 0.05, 0.02) << "seed " << seed;
    EXPECT_NEAR(fit.law.kappa, 0.001, 2e-4) << "seed " << seed;
    EXPECT_NEAR(fit.law.peak(), 30.8, 4.0) << "seed " << seed;
  }
}

TEST(UslFit, RejectsTooFewOrBadPoints) {
  EXPECT_THROW((void)fit_usl({{1, 100}, {2, 190}}), std::invalid_argument);
  EXPECT_THROW((void)fit_usl({{2, 100}, {2, 190}, {2, 150}}), std::invalid_argument);
  try {
    (void)fit_usl({{1, 100}, {2, -190}, {4, 300}});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "scaling::advisor::fit_usl: points.throughput must be a finite number > 0 (got "
                 "-190)");
  }
}

}  // namespace
