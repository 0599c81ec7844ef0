// A typed conformance suite: every strategy modelling scaling::shard_strategy must map every key
// to a member, deterministically, use every node, and refuse lookups on an empty set.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding.hpp>

#include "test_support.hpp"

namespace {

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("10.0.0." + std::to_string(i + 1) + ":11211");
  return out;
}

// How each strategy is built from a node list, and whether it can be built empty.
template <class S>
struct factory {
  static S make(const std::vector<std::string>& nodes) { return S{nodes}; }
  static S make_empty() { return S{}; }
};
template <>
struct factory<scaling::ketama_ring> {
  static scaling::ketama_ring make(const std::vector<std::string>& nodes) {
    std::vector<std::pair<std::string, std::uint32_t>> weighted;
    for (const auto& n : nodes)
      weighted.emplace_back(n, 1);
    return scaling::ketama_ring{weighted};
  }
  static scaling::ketama_ring make_empty() { return {}; }
};
template <>
struct factory<scaling::logical_shards<std::string>> {
  static scaling::logical_shards<std::string> make(const std::vector<std::string>& nodes) {
    return scaling::logical_shards<std::string>{1024, nodes};
  }
};
using bounded_ring = scaling::bounded_load<scaling::hash_ring<std::string>>;
template <>
struct factory<bounded_ring> {
  static bounded_ring make(const std::vector<std::string>& nodes) {
    return bounded_ring{scaling::hash_ring<std::string>{nodes}};
  }
  static bounded_ring make_empty() { return bounded_ring{scaling::hash_ring<std::string>{}}; }
};

template <class S>
class ShardStrategy : public ::testing::Test {};

using strategies =
    ::testing::Types<scaling::hash_ring<std::string>, scaling::ketama_ring,
                     scaling::maglev<std::string>, scaling::rendezvous<std::string>,
                     scaling::jump_shards<std::string>, scaling::redis_slot_map<std::string>,
                     scaling::logical_shards<std::string>, bounded_ring>;
TYPED_TEST_SUITE(ShardStrategy, strategies);

static_assert(scaling::candidate_walk<scaling::hash_ring<std::string>>);
static_assert(scaling::candidate_walk<scaling::maglev<std::string>>);
static_assert(!scaling::candidate_walk<scaling::rendezvous<std::string>>);
static_assert(scaling::resizable_shard_strategy<scaling::hash_ring<std::string>>);
static_assert(scaling::resizable_shard_strategy<scaling::maglev<std::uint64_t>>);
static_assert(!scaling::resizable_shard_strategy<scaling::redis_slot_map<std::string>>);

TYPED_TEST(ShardStrategy, ModelsTheConcept) {
  static_assert(scaling::shard_strategy<TypeParam>);
}

TYPED_TEST(ShardStrategy, EveryKeyMapsToAMemberAndEveryNodeGetsKeys) {
  const auto nodes = names(8);
  const TypeParam s = factory<TypeParam>::make(nodes);
  EXPECT_EQ(s.size(), 8U);
  EXPECT_FALSE(s.empty());
  std::set<std::string> used;
  for (int k = 0; k < 4000; ++k) {
    const std::string key = "user:" + std::to_string(k);
    const auto& node = s.node_for(key);
    ASSERT_TRUE(s.contains(node)) << key;
    used.insert(node);
  }
  EXPECT_EQ(used.size(), 8U);
  EXPECT_FALSE(s.contains("10.9.9.9:1"));
}

TYPED_TEST(ShardStrategy, IndependentInstancesAgree) {
  const TypeParam a = factory<TypeParam>::make(names(5));
  const TypeParam b = factory<TypeParam>::make(names(5));
  for (int k = 0; k < 2000; ++k) {
    const std::string key = "k" + std::to_string(k);
    ASSERT_EQ(a.node_for(key), b.node_for(key));
  }
}

TYPED_TEST(ShardStrategy, LoadIsReasonablyEven) {
  const TypeParam s = factory<TypeParam>::make(names(10));
  std::map<std::string, int> load;
  const int keys = 20000;
  for (int k = 0; k < keys; ++k)
    ++load[s.node_for("key-" + std::to_string(k))];
  int peak = 0;
  for (const auto& [node, count] : load)
    peak = std::max(peak, count);
  EXPECT_LT(peak * 10.0 / keys, 1.5);
}

TYPED_TEST(ShardStrategy, EmptyLookupThrows) {
  if constexpr (requires { factory<TypeParam>::make_empty(); }) {
    const TypeParam s = factory<TypeParam>::make_empty();
    EXPECT_TRUE(s.empty());
    EXPECT_THROW((void)s.node_for("k"), scaling::invalid_argument);
  } else {
    GTEST_SKIP() << "this strategy cannot be constructed without nodes";
  }
}

}  // namespace
