#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/jump_hash.hpp>

#include "test_support.hpp"

namespace {

TEST(JumpHash, GrowingMovesOnlyToTheNewBucket) {
  const std::uint64_t keys = sharding_test::property_keys / 10;
  for (std::int32_t n : {10, 100}) {
    std::uint64_t moved = 0;
    for (std::uint64_t k = 0; k < keys; ++k) {
      const std::uint64_t key = scaling::mix64(k);
      const std::int32_t before = scaling::jump_hash(key, n);
      const std::int32_t after = scaling::jump_hash(key, n + 1);
      ASSERT_TRUE(before == after || after == n);
      moved += before != after;
    }
    EXPECT_NEAR(static_cast<double>(moved) / static_cast<double>(keys), 1.0 / (n + 1), 0.01);
  }
}

TEST(JumpHash, BalanceAtTenAndAHundredBuckets) {
  for (std::int32_t n : {10, 100}) {
    std::vector<std::uint64_t> load(static_cast<std::size_t>(n), 0);
    for (std::uint64_t k = 0; k < sharding_test::property_keys; ++k) {
      ++load[static_cast<std::size_t>(scaling::jump_hash(scaling::mix64(k), n))];
    }
    std::uint64_t peak = 0;
    for (auto l : load)
      peak = std::max(peak, l);
    EXPECT_LT(static_cast<double>(peak) * n / static_cast<double>(sharding_test::property_keys),
              sharding_test::sampled_bound(sharding_test::property_keys,
                                           static_cast<std::size_t>(n), 0.0));
  }
}

TEST(JumpShards, OnlyTheLastNodeCanBeRemoved) {
  scaling::jump_shards<std::string> shards{"a", "b", "c"};
  EXPECT_THROW(shards.remove("a"), scaling::invalid_argument);
  EXPECT_THROW(shards.add("b"), scaling::invalid_argument);
  shards.remove("c");
  EXPECT_EQ(shards.size(), 2U);
  EXPECT_EQ(shards.node_for("user:1"), shards.nodes()[static_cast<std::size_t>(scaling::jump_hash(
                                           scaling::hash<>{}(std::string_view{"user:1"}), 2))]);
}

}  // namespace
