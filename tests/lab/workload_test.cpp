#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/lab/station.hpp>
#include <scaling/lab/workload.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::distribution;
using scaling::lab::simulation;
using scaling::lab::zipf_distribution;

double harmonic(std::uint64_t n, double s) {
  double h = 0;
  for (std::uint64_t k = n; k >= 1; --k)
    h += std::pow(static_cast<double>(k), -s);
  return h;
}

// Every rank's frequency against the exact probability 1 / (k^s H(n, s)), for the exponents the
// lab uses (s = 1 is the case the closed form has to treat without dividing by 1 - s).
TEST(ZipfDistribution, FrequenciesMatchTheExactLaw) {
  for (const double s : {0.6, 0.99, 1.0, 1.4}) {
    const std::uint64_t n = 50;
    const zipf_distribution zipf{n, s};
    scaling::lab::rng gen{17};
    std::vector<double> counts(n + 1, 0.0);
    const int draws = 1'000'000;
    for (int i = 0; i < draws; ++i) {
      const auto k = zipf(gen);
      ASSERT_GE(k, 1U);
      ASSERT_LE(k, n);
      counts[k] += 1;
    }
    const double h = harmonic(n, s);
    for (std::uint64_t k = 1; k <= n; ++k) {
      const double p = std::pow(static_cast<double>(k), -s) / h;
      const double sigma = std::sqrt(draws * p * (1 - p));
      EXPECT_NEAR(counts[k], draws * p, 5 * sigma + 1) << "s=" << s << " k=" << k;
    }
  }
}

TEST(ZipfDistribution, LargeKeySpacesAreCheap) {
  const zipf_distribution zipf{1'000'000'000, 0.99};
  scaling::lab::rng gen{1};
  std::uint64_t top = 0;
  const int draws = 200'000;
  for (int i = 0; i < draws; ++i)
    top += zipf(gen) == 1 ? 1 : 0;
  const double p1 = 1.0 / harmonic(1'000'000, 0.99);  // lower bound on H(1e9) is not needed:
  EXPECT_LT(static_cast<double>(top) / draws, p1);    // more keys, a smaller share for rank 1
  EXPECT_GT(top, 0U);
}

TEST(ZipfDistribution, BadParametersAreNamed) {
  EXPECT_THROW(zipf_distribution(0, 1.0), std::invalid_argument);
  try {
    zipf_distribution z{10, 0.0};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::lab::zipf_distribution: s must be a finite number > 0 (got 0)");
  }
}

// Sizes are a function of the key (the same on every call and in every run), lognormal around
// the mean with the coefficient of variation asked for; cv 0 makes every object the mean.
TEST(ObjectSizes, FixedPerKeyWithTheMeanAndSpreadAsked) {
  const scaling::lab::object_sizes equal{4'096};
  EXPECT_EQ(equal(0), 4'096U);
  EXPECT_EQ(equal(123'456), 4'096U);
  const scaling::lab::object_sizes sizes{1'024, 1.0};
  EXPECT_EQ(sizes(42), sizes(42));
  EXPECT_EQ(sizes(42), (scaling::lab::object_sizes{1'024, 1.0}(42)));
  double sum = 0, sum_sq = 0;
  constexpr int n = 200'000;
  for (std::uint64_t key = 0; key < n; ++key) {
    const auto b = static_cast<double>(sizes(key));
    EXPECT_GE(b, 1.0);
    sum += b;
    sum_sq += b * b;
  }
  const double mean = sum / n;
  const double cv = std::sqrt(sum_sq / n - mean * mean) / mean;
  EXPECT_NEAR(mean, 1'024.0, 1'024.0 * 0.02);  // cv 1 over 200,000 keys: a 0.2% standard error
  EXPECT_NEAR(cv, 1.0, 0.1);
  EXPECT_THROW((scaling::lab::object_sizes{0}), scaling::invalid_argument);
  EXPECT_THROW((scaling::lab::object_sizes{1'024, -1.0}), scaling::invalid_argument);
}

TEST(RateSchedule, RampAndSpikeDriveThePoissonRate) {
  simulation sim{3};
  std::uint64_t n = 0;
  scaling::lab::poisson_arrivals load{sim, 0.0, [&] { ++n; }};
  load.start();
  scaling::lab::rate_schedule::spike(100.0, 10'000.0, 10s, 1s).apply(sim, load);
  sim.run_for(10s);
  const auto before = n;  // about 1,000
  sim.run_for(1s);
  const auto during = n - before;  // about 10,000
  sim.run_for(9s);
  const auto after = n - before - during;  // about 900
  EXPECT_NEAR(static_cast<double>(before), 1000, 160);
  EXPECT_NEAR(static_cast<double>(during), 10'000, 500);
  EXPECT_NEAR(static_cast<double>(after), 900, 150);

  const auto ramp = scaling::lab::rate_schedule::ramp(0, 100, 0s, 10s, 4);
  ASSERT_EQ(ramp.steps().size(), 5U);
  EXPECT_EQ(ramp.steps().back().at, 10s);
  EXPECT_DOUBLE_EQ(ramp.steps().back().rate, 100.0);
  EXPECT_DOUBLE_EQ(ramp.steps()[2].rate, 50.0);
  EXPECT_THROW(scaling::lab::rate_schedule({{2s, 1.0}, {1s, 1.0}}), std::invalid_argument);
}

// A closed population against one server: throughput is bounded by both the server and the
// users' cycle time (the interactive response-time law: X = N / (R + Z)).
TEST(ClosedLoopUsers, ThroughputFollowsTheResponseTimeLaw) {
  simulation sim{4};
  scaling::lab::station server{sim, {.servers = 1, .service = distribution::exponential(10ms)}};
  const std::size_t users = 5;
  scaling::lab::closed_loop_users population{
      sim, users, distribution::exponential(100ms), [&](std::function<void()> done) {
        server.submit([done = std::move(done)](const scaling::lab::job_times&) { done(); });
      }};
  population.start();
  sim.run_for(10s);
  server.reset_stats();
  sim.run_for(200s);
  const auto s = server.stats();
  const double x = s.throughput;
  const double r = s.sojourn.mean_ns() / 1e9;
  EXPECT_NEAR(x, static_cast<double>(users) / (r + 0.1), 0.02 * x);
  EXPECT_LT(x, 100.0);  // below the server's 100/s: the users are the limit
  population.stop();
  const auto sent = population.requests();
  sim.run_for(10s);
  EXPECT_LE(population.requests(), sent);
}

}  // namespace
