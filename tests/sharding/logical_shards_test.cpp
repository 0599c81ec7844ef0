#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/logical_shards.hpp>

namespace {

using shards_t = scaling::logical_shards<std::string>;

void expect_balanced(const shards_t& s) {
  const std::size_t lo = s.shard_count() / s.size();
  for (const auto& node : s.nodes()) {
    const std::size_t held = s.shards_of(node).size();
    EXPECT_GE(held, lo) << node;
    EXPECT_LE(held, lo + 1) << node;
  }
}

TEST(LogicalShards, AddingANodeMovesTheMinimumAndOnlyToIt) {
  shards_t s{4096, {"pg-1", "pg-2"}};
  std::vector<std::string> before;
  for (std::uint32_t i = 0; i < 4096; ++i)
    before.push_back(s.node_for_shard(i));
  const auto preview = s.plan_add("pg-3");
  const auto plan = s.add("pg-3");
  EXPECT_EQ(plan, preview);
  EXPECT_EQ(plan.size(), 4096U / 3);
  for (const auto& move : plan) {
    EXPECT_EQ(move.to, "pg-3");
    EXPECT_EQ(move.from, before[move.shard]);
  }
  std::size_t changed = 0;
  for (std::uint32_t i = 0; i < 4096; ++i)
    changed += s.node_for_shard(i) != before[i];
  EXPECT_EQ(changed, plan.size());
  expect_balanced(s);
}

TEST(LogicalShards, RemovingANodeSpreadsItsShards) {
  shards_t s{1000, {"a", "b", "c", "d"}};
  const auto held = s.shards_of("b");
  const auto plan = s.remove("b");
  EXPECT_EQ(plan.size(), held.size());
  EXPECT_FALSE(s.contains("b"));
  for (const auto& move : plan) {
    EXPECT_EQ(move.from, "b");
    EXPECT_EQ(s.node_for_shard(move.shard), move.to);
  }
  expect_balanced(s);
}

TEST(LogicalShards, KeysKeepTheirShardForever) {
  shards_t s{2048, {"a"}};
  const std::uint32_t shard = s.shard_for("user:42");
  (void)s.add("b");
  (void)s.add("c");
  EXPECT_EQ(s.shard_for("user:42"), shard);
  EXPECT_EQ(s.node_for("user:42"), s.node_for_shard(shard));
}

TEST(LogicalShards, BadInput) {
  EXPECT_THROW((shards_t{0, {"a"}}), scaling::invalid_argument);
  EXPECT_THROW((shards_t{8, {}}), scaling::invalid_argument);
  EXPECT_THROW((shards_t{1, {"a", "b"}}), scaling::invalid_argument);
  EXPECT_THROW((shards_t{8, {"a", "a"}}), scaling::invalid_argument);
  shards_t s{8, {"a"}};
  EXPECT_THROW((void)s.remove("a"), scaling::invalid_argument);  // the last node
  EXPECT_THROW((void)s.remove("x"), scaling::invalid_argument);
  EXPECT_THROW((void)s.add("a"), scaling::invalid_argument);
  EXPECT_THROW((void)s.node_for_shard(8), scaling::invalid_argument);
}

}  // namespace
