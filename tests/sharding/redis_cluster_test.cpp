#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/redis_cluster.hpp>

namespace {

TEST(RedisSlotMap, EvenSplitAsClusterCreateDoes) {
  const scaling::redis_slot_map<std::string> map{"a", "b", "c"};
  const auto ranges = map.ranges();
  ASSERT_EQ(ranges.size(), 3U);
  EXPECT_EQ(ranges[0], (scaling::slot_range<std::string>{0, 5460, "a"}));
  EXPECT_EQ(ranges[1], (scaling::slot_range<std::string>{5461, 10921, "b"}));
  EXPECT_EQ(ranges[2], (scaling::slot_range<std::string>{10922, 16383, "c"}));
  EXPECT_EQ(map.node_for("foo"), "c");  // slot 12182
  EXPECT_EQ(map.node_for("bar"), "a");  // slot 5061
}

TEST(RedisSlotMap, MovedRedirectsAndResharding) {
  scaling::redis_slot_map<std::string> map{"a", "b"};
  map.on_moved(12182, "c");
  EXPECT_EQ(map.node_for("foo"), "c");
  EXPECT_EQ(map.slot_count("c"), 1U);
  EXPECT_EQ(map.size(), 3U);
  map.assign(0, 16383, "d");  // everything moved: a, b and c serve nothing and are forgotten
  EXPECT_EQ(map.size(), 1U);
  EXPECT_FALSE(map.contains("a"));
  EXPECT_EQ(map.node_for("anything"), "d");
}

TEST(RedisSlotMap, BadInputAndUnassignedSlots) {
  scaling::redis_slot_map<std::string> map;
  EXPECT_THROW((void)map.node_for("foo"), scaling::invalid_argument);
  map.assign(0, 100, "a");
  EXPECT_THROW((void)map.node_for_slot(101), scaling::invalid_argument);
  EXPECT_THROW((void)map.node_for_slot(16384), scaling::invalid_argument);
  EXPECT_THROW(map.assign(10, 5, "a"), scaling::invalid_argument);
  EXPECT_THROW(map.assign(0, 16384, "a"), scaling::invalid_argument);
  EXPECT_THROW((scaling::redis_slot_map<std::string>{"a", "a"}), scaling::invalid_argument);
}

}  // namespace
