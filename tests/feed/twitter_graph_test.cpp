#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/error.hpp>
#include <scaling/feed/twitter_graph.hpp>

namespace {

TEST(TwitterGraph, HasTheShapeItIsAskedFor) {
  const auto g = scaling::generate_twitter_graph({.users = 10'000,
                                                  .mean_out_degree = 35,
                                                  .power_law_max = 1'000,
                                                  .celebrity_fraction = 2e-3,
                                                  .top_celebrity_share = 0.3,
                                                  .seed = 3});
  EXPECT_NEAR(g.mean_out_degree(), 35.0, 3.5);
  EXPECT_NEAR(g.reciprocity(), 0.22, 0.04);
  EXPECT_EQ(scaling::twitter_power_law_max(1'000'000), 2'398U);  // 10^5 x 1M / 41.7M
  EXPECT_EQ(scaling::twitter_power_law_max(1'000), 100U);
  EXPECT_EQ(scaling::twitter_power_law_max(100'000'000), 100'000U);
  EXPECT_GE(g.celebrities, 5U);
  auto followers = g.follower_counts();
  // The body's exponent from the slope of its complementary CDF: P(K >= k) ~ k^-(a - 1).
  auto at_least = [&](std::uint32_t k) {
    return static_cast<double>(std::count_if(followers.begin(), followers.end(),
                                             [&](auto x) { return x >= k && x <= 1'000; }));
  };
  EXPECT_NEAR(1.0 + std::log(at_least(30) / at_least(150)) / std::log(5.0), 2.276, 0.2);
  std::sort(followers.rbegin(), followers.rend());
  EXPECT_NEAR(followers[0], 0.3 * 10'000, 0.3 * 10'000 * 0.1);  // the top celebrity
  EXPECT_GT(followers[g.celebrities - 1], g.power_law_max);
  // No self-follows, no duplicate edges.
  auto edges = g.edges;
  for (auto [f, a] : edges)
    ASSERT_NE(f, a);
  std::sort(edges.begin(), edges.end());
  EXPECT_EQ(std::adjacent_find(edges.begin(), edges.end()), edges.end());
}

TEST(TwitterGraph, IsAFunctionOfItsSeed) {
  const scaling::twitter_graph_options o{.users = 2'000, .mean_out_degree = 20, .seed = 9};
  EXPECT_EQ(scaling::generate_twitter_graph(o).edges, scaling::generate_twitter_graph(o).edges);
  auto other = o;
  other.seed = 10;
  EXPECT_NE(scaling::generate_twitter_graph(o).edges, scaling::generate_twitter_graph(other).edges);
}

TEST(TwitterGraph, RejectsBadOptions) {
  EXPECT_THROW((void)scaling::generate_twitter_graph({.users = 10}), scaling::invalid_argument);
  EXPECT_THROW((void)scaling::generate_twitter_graph({.users = 1000, .mean_out_degree = 0.5}),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::generate_twitter_graph({.users = 1000, .exponent = 1.5}),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::generate_twitter_graph({.users = 1000, .power_law_max = 1000}),
               scaling::invalid_argument);
  EXPECT_THROW((void)scaling::generate_twitter_graph({.users = 1000, .reciprocity = 0.9}),
               scaling::invalid_argument);
}

}  // namespace
