// Shards for the write load and the data, compound growth, and a layout's runway.
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>

#include <scaling/advisor/shard_model.hpp>

namespace {

using namespace scaling::advisor;

TEST(ShardModel, ShardsForWrites) {
  EXPECT_EQ(shards_for_writes(12'000, 5'000, 0.7), 4u);  // 12,000 / 3,500 = 3.43
  EXPECT_EQ(shards_for_writes(0, 5'000, 0.7), 1u);
  EXPECT_EQ(shards_for_writes(3'500, 5'000, 0.7), 1u);
  EXPECT_THROW((void)shards_for_writes(-1, 5'000, 0.7), std::invalid_argument);
  EXPECT_THROW((void)shards_for_writes(1, 5'000, 1.5), std::invalid_argument);
}

TEST(ShardModel, CompoundGrowthAndShardsForData) {
  EXPECT_NEAR(compound_growth(100, 0.10, 12), 100 * std::pow(1.1, 12), 1e-9);  // 3.14x a year
  // 1 TB growing 10% a month for 24 months = 9.85 TB, at 0.7 of 2 TB per node: 8 shards.
  EXPECT_EQ(shards_for_data(1e12, 0.10, 24, 2e12, 0.7), 8u);
  EXPECT_EQ(shards_for_data(1e12, 0.0, 24, 2e12, 0.7), 1u);
}

TEST(ShardModel, RunwayInMonthsAndLoad) {
  // 4 shards x 2 TB x 0.7 = 5.6 TB; 1 TB at 5% a month fills it in ln(5.6) / ln(1.05) months.
  const auto r = layout_runway(4, 1e12, 0.05, 2e12, 0.7, 12'000, 5'000, 0.7);
  EXPECT_NEAR(r.months, std::log(5.6) / std::log(1.05), 1e-9);
  EXPECT_NEAR(r.load_multiple, 14'000.0 / 12'000, 1e-12);
  EXPECT_EQ(layout_runway(1, 1e12, 0.0, 2e12, 0.7, 0, 5'000, 0.7).months,
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(layout_runway(1, 3e12, 0.05, 2e12, 0.7, 1, 5'000, 0.7).months, 0.0);
  using namespace std::chrono;
  const sys_days start = year{2026} / December / 5;
  EXPECT_EQ(months_after(start, 12), sys_days{year{2027} / December / 5});
}

}  // namespace
