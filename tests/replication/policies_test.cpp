#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/replication/policies.hpp>

namespace {

std::vector<scaling::selection_candidate> candidates(std::size_t n) {
  std::vector<scaling::selection_candidate> c(n);
  for (std::size_t i = 0; i < n; ++i)
    c[i].index = i;
  return c;
}

// Conformance: every policy returns a position inside the span, for any candidate subset.
template <class Policy>
class SelectionPolicyConformance : public ::testing::Test {};
using all_policies =
    ::testing::Types<scaling::round_robin, scaling::weighted_round_robin, scaling::random_choice,
                     scaling::least_outstanding, scaling::power_of_two_choices, scaling::peak_ewma,
                     scaling::zone_aware<scaling::peak_ewma>>;
TYPED_TEST_SUITE(SelectionPolicyConformance, all_policies);

TYPED_TEST(SelectionPolicyConformance, PicksInsideTheCandidatesAndUsesThemAll) {
  const TypeParam policy{};
  typename TypeParam::state state{42};
  for (std::size_t n = 1; n <= 7; ++n) {
    auto c = candidates(n);
    std::vector<int> seen(n, 0);
    for (int round = 0; round < 400; ++round) {
      const std::size_t pick = state.pick(policy, std::span<const scaling::selection_candidate>{c});
      ASSERT_LT(pick, n);
      ++seen[pick];
    }
    // With equal weights, load and cost, no policy may starve a member.
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_GT(seen[i], 0) << "member " << i << " of " << n;
  }
}

TYPED_TEST(SelectionPolicyConformance, SameSeedSamePicks) {
  const TypeParam policy{};
  typename TypeParam::state a{7};
  typename TypeParam::state b{7};
  auto c = candidates(5);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(a.pick(policy, c), b.pick(policy, c));
}

TEST(RoundRobin, CyclesInSetOrderAndSkipsAbsentMembers) {
  scaling::round_robin policy;
  scaling::round_robin::state state{0};
  auto c = candidates(3);
  std::vector<std::size_t> order;
  for (int i = 0; i < 6; ++i)
    order.push_back(c[state.pick(policy, c)].index);
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
  // Member 1 drops out: the turn passes to 2, then wraps to 0.
  std::vector<scaling::selection_candidate> without_1 = {c[0], c[2]};
  EXPECT_EQ(without_1[state.pick(policy, without_1)].index, 0u);
  EXPECT_EQ(without_1[state.pick(policy, without_1)].index, 2u);
  EXPECT_EQ(without_1[state.pick(policy, without_1)].index, 0u);
}

TEST(WeightedRoundRobin, IsSmoothLikeNginx) {
  scaling::weighted_round_robin policy;
  scaling::weighted_round_robin::state state{0};
  auto c = candidates(3);
  c[0].weight = 5;
  std::string order;
  for (int i = 0; i < 7; ++i)
    order += static_cast<char>('a' + c[state.pick(policy, c)].index);
  EXPECT_EQ(order, "aabacaa");  // nginx's documented sequence for weights 5, 1, 1
}

TEST(WeightedRoundRobin, RespectsWeightsExactlyOverWholeCycles) {
  scaling::weighted_round_robin policy;
  scaling::weighted_round_robin::state state{0};
  auto c = candidates(4);
  const std::array<std::uint32_t, 4> weights{1, 2, 3, 10};
  for (std::size_t i = 0; i < 4; ++i)
    c[i].weight = weights[i];
  std::array<int, 4> seen{};
  for (int i = 0; i < 16 * 100; ++i)
    ++seen[state.pick(policy, c)];
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(seen[i], static_cast<int>(weights[i]) * 100);
}

TEST(RandomChoice, RespectsWeightsOverManyPicks) {
  scaling::random_choice policy;
  scaling::random_choice::state state{12345};
  auto c = candidates(3);
  c[0].weight = 1;
  c[1].weight = 3;
  c[2].weight = 6;
  std::array<int, 3> seen{};
  constexpr int picks = 100'000;
  for (int i = 0; i < picks; ++i)
    ++seen[state.pick(policy, c)];
  EXPECT_NEAR(seen[0] / double{picks}, 0.1, 0.01);
  EXPECT_NEAR(seen[1] / double{picks}, 0.3, 0.01);
  EXPECT_NEAR(seen[2] / double{picks}, 0.6, 0.01);
}

// Weights summing past 2^32: the draw must cover the whole total (a 32-bit draw never reaches
// the members after the first 2^32 tickets) and no assertion may fire.
TEST(RandomChoice, RespectsWeightsSummingPast32Bits) {
  scaling::random_choice policy;
  scaling::random_choice::state state{2024};
  auto c = candidates(4);
  const std::array<std::uint32_t, 4> weights{4'000'000'000U, 1'000'000'000U, 3'000'000'000U,
                                             2'000'000'000U};  // total 10^10 > 2^32
  for (std::size_t i = 0; i < 4; ++i)
    c[i].weight = weights[i];
  std::array<int, 4> seen{};
  constexpr int picks = 200'000;
  for (int i = 0; i < picks; ++i)
    ++seen[state.pick(policy, c)];
  // One standard deviation of a share is at most sqrt(0.25 / picks) ~ 0.0011; allow ~9.
  constexpr double tolerance = 0.01;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(seen[i] / double{picks}, weights[i] / 1e10, tolerance) << "member " << i;
  }
}

TEST(RandomChoice, HandlesTheLargestWeights) {
  scaling::random_choice policy;
  scaling::random_choice::state state{99};
  auto c = candidates(3);
  for (auto& candidate : c)
    candidate.weight = 0xffffffffU;  // total 3 x (2^32 - 1)
  std::array<int, 3> seen{};
  constexpr int picks = 60'000;
  for (int i = 0; i < picks; ++i)
    ++seen[state.pick(policy, c)];
  for (int count : seen)
    EXPECT_NEAR(count / double{picks}, 1.0 / 3, 0.01);
}

TEST(LeastOutstanding, PicksTheFewestInFlightAndRotatesTies) {
  scaling::least_outstanding policy;
  scaling::least_outstanding::state state{0};
  auto c = candidates(4);
  c[0].outstanding = 3;
  c[1].outstanding = 1;
  c[2].outstanding = 5;
  c[3].outstanding = 1;
  std::map<std::size_t, int> seen;
  for (int i = 0; i < 8; ++i)
    ++seen[state.pick(policy, c)];
  EXPECT_EQ(seen.size(), 2u);  // only the two members with 1 in flight
  EXPECT_EQ(seen[1], 4);
  EXPECT_EQ(seen[3], 4);
}

TEST(PowerOfTwoChoices, PrefersTheLessLoaded) {
  scaling::power_of_two_choices policy;
  scaling::power_of_two_choices::state state{99};
  auto c = candidates(2);
  c[0].outstanding = 10;
  c[1].outstanding = 2;
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(state.pick(policy, c), 1u);

  // Among 10, the most loaded member wins only if drawn against itself, which can't happen:
  // it is never picked; the least loaded wins every draw it is part of (about 2/10 of them).
  auto ten = candidates(10);
  for (std::size_t i = 0; i < 10; ++i)
    ten[i].outstanding = static_cast<std::uint32_t>(i);
  std::array<int, 10> seen{};
  for (int i = 0; i < 10'000; ++i)
    ++seen[state.pick(policy, ten)];
  EXPECT_EQ(seen[9], 0);
  EXPECT_GT(seen[0], 1'500);
  EXPECT_GT(seen[0], seen[5]);
}

TEST(PeakEwma, PrefersLowerCostTimesLoad) {
  scaling::peak_ewma policy;
  scaling::peak_ewma::state state{5};
  auto c = candidates(2);
  c[0].cost_ns = 10e6;  // 10 ms
  c[1].cost_ns = 1e6;   // 1 ms
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(state.pick(policy, c), 1u);
  c[1].outstanding = 19;  // 1 ms x 20 > 10 ms x 1
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(state.pick(policy, c), 0u);
}

TEST(PeakEwma, CostDecaysWithIdleTime) {
  scaling::selection_candidate c;
  c.cost_ns = 1000.0;
  c.idle_ns = 10e9;  // one tau
  EXPECT_NEAR(c.cost_now(std::chrono::seconds{10}), 1000.0 / 2.718281828, 1e-6 * 1000.0);
  c.idle_ns = 0;
  EXPECT_DOUBLE_EQ(c.cost_now(std::chrono::seconds{10}), 1000.0);
}

TEST(ZoneAware, StaysLocalThenSpillsWhenLocalIsMissingOrBusy) {
  using policy_t = scaling::zone_aware<scaling::round_robin>;
  policy_t policy{.local_zone = "a", .inner = {}, .min_local = 1, .spill_outstanding = 4};
  policy_t::state state{0};
  auto c = candidates(4);
  c[0].zone = "a";
  c[1].zone = "b";
  c[2].zone = "a";
  c[3].zone = "b";
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(c[state.pick(policy, c)].zone, "a");
  EXPECT_EQ(state.spills(), 0u);

  // Every local member busy: spill to all zones.
  c[0].outstanding = 4;
  c[2].outstanding = 9;
  std::map<std::string_view, int> zones;
  for (int i = 0; i < 8; ++i)
    ++zones[c[state.pick(policy, c)].zone];
  EXPECT_GT(zones["b"], 0);
  EXPECT_EQ(state.spills(), 8u);

  // No local member eligible (all filtered by the selector): spill.
  std::vector<scaling::selection_candidate> remote = {c[1], c[3]};
  EXPECT_EQ(remote[state.pick(policy, remote)].zone, "b");
}

}  // namespace
