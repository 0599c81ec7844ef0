#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/lab/histogram.hpp>
#include <scaling/lab/random.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::histogram;

TEST(Histogram, EmptyReportsZeros) {
  const histogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.percentile(0.99), 0ns);
  EXPECT_EQ(h.mean_ns(), 0.0);
  EXPECT_EQ(h.min(), 0ns);
}

TEST(Histogram, SmallValuesAreExact) {
  histogram h;
  for (int v = 1; v <= 100; ++v)
    h.record(std::chrono::nanoseconds{v});
  EXPECT_EQ(h.percentile(0.5), 50ns);
  EXPECT_EQ(h.percentile(0.99), 99ns);
  EXPECT_EQ(h.percentile(1.0), 100ns);
  EXPECT_EQ(h.percentile(0.0), 1ns);
  EXPECT_DOUBLE_EQ(h.mean_ns(), 50.5);
}

// Against exact order statistics of a million lognormal samples spanning six decades: every
// percentile within the documented 1/128 relative error.
TEST(Histogram, PercentilesWithinRelativeErrorOfExactOrderStatistics) {
  scaling::lab::rng gen{11};
  const auto law = scaling::lab::distribution::lognormal(1ms, 4.0);
  std::vector<std::int64_t> values;
  histogram h;
  for (int i = 0; i < 1'000'000; ++i) {
    const auto d = law.sample(gen);
    values.push_back(d.count());
    h.record(d);
  }
  std::sort(values.begin(), values.end());
  for (const double q : {0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    const auto exact = static_cast<double>(values[rank - 1]);
    const auto got = static_cast<double>(h.percentile(q).count());
    EXPECT_GE(got, exact) << "q=" << q;
    EXPECT_LE(got, exact * (1.0 + 1.0 / 128.0) + 1.0) << "q=" << q;
  }
  EXPECT_EQ(h.max().count(), values.back());
  EXPECT_EQ(h.min().count(), values.front());
}

TEST(Histogram, MergeAddsCounts) {
  histogram a;
  histogram b;
  a.record(10ns);
  b.record(1s);
  a.merge(b);
  EXPECT_EQ(a.count(), 2U);
  EXPECT_EQ(a.max(), 1s);
  EXPECT_EQ(a.min(), 10ns);
  EXPECT_EQ(a.percentile(0.5), 10ns);
}

TEST(Histogram, PercentileOutsideUnitIntervalIsRejected) {
  const histogram h;
  EXPECT_THROW((void)h.percentile(1.5), std::invalid_argument);
  EXPECT_THROW((void)h.percentile(-0.1), std::invalid_argument);
}

}  // namespace
