#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <scaling/sharding/range_shards.hpp>

namespace {

TEST(RangeShards, SplitMoveAndMerge) {
  scaling::range_shards<std::string, std::string> r{"a"};
  r.split("m", "b");
  r.split("t", "c");
  EXPECT_EQ(r.range_count(), 3U);
  EXPECT_EQ(r.node_for("kiwi"), "a");
  EXPECT_EQ(r.node_for("m"), "b");  // a boundary belongs to the range it starts
  EXPECT_EQ(r.node_for("zebra"), "c");
  EXPECT_EQ(r.node_for(std::string_view{"apple"}), "a");
  r.move(std::string{"m"}, "d");
  EXPECT_EQ(r.node_for("orange"), "d");
  r.move(std::nullopt, "e");
  EXPECT_EQ(r.node_for(""), "e");
  const auto ranges = r.ranges();
  ASSERT_EQ(ranges.size(), 3U);
  EXPECT_EQ(ranges[1], (scaling::key_range<std::string, std::string>{"m", "t", "d"}));
  r.merge("t");
  EXPECT_EQ(r.node_for("zebra"), "d");
  EXPECT_FALSE(r.contains("c"));
}

TEST(RangeShards, BadInput) {
  scaling::range_shards<int, std::string> r{"a"};
  r.split(10, "b");
  EXPECT_THROW(r.split(10, "c"), scaling::invalid_argument);
  EXPECT_THROW(r.merge(11), scaling::invalid_argument);
  EXPECT_THROW(r.move(5, "c"), scaling::invalid_argument);
  EXPECT_EQ(r.node_for(-1000), "a");
  EXPECT_EQ(r.node_for(1000), "b");
}

}  // namespace
