#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/maglev.hpp>
#include <scaling/sharding/migration.hpp>

#include "test_support.hpp"

namespace {

std::vector<std::uint64_t> sample(std::uint64_t n) {
  std::vector<std::uint64_t> keys;
  for (std::uint64_t k = 0; k < n; ++k)
    keys.push_back(k);
  return keys;
}

TEST(Migration, MovedRangesAreExactAndAgreeWithTheSample) {
  const scaling::hash_ring<std::string> before{{"a", "b", "c", "d"}};
  auto after = before;
  after.add("e");
  const auto ranges = scaling::moved_ranges(before, after);
  ASSERT_FALSE(ranges.empty());
  for (const auto& r : ranges) {
    EXPECT_EQ(r.to, "e");
    EXPECT_EQ(before.node_for_hash(r.first), r.from);
    EXPECT_EQ(after.node_for_hash(r.last), r.to);
  }
  const double share = scaling::moved_share(ranges);
  const auto keys = sample(sharding_test::property_keys / 10);
  const double fraction = scaling::moved_fraction(before, after, keys);
  EXPECT_NEAR(share, fraction, 0.01);
  EXPECT_NEAR(share, 0.2, 0.05);
  // Every sampled key that moved lies in a moved range.
  for (std::uint64_t k : keys) {
    const std::uint64_t h = before.key_hash(k);
    const bool moved = before.node_for(k) != after.node_for(k);
    bool inside = false;
    for (const auto& r : ranges)
      inside |= r.first <= h && h <= r.last;
    ASSERT_EQ(moved, inside) << k;
  }
}

TEST(Migration, MaglevMovesMoreThanTheRing) {
  std::vector<std::string> nodes;
  for (int i = 0; i < 20; ++i)
    nodes.push_back("n" + std::to_string(i));
  const scaling::hash_ring<std::string> ring{nodes};
  const scaling::maglev<std::string> table{nodes};
  auto ring_after = ring;
  auto table_after = table;
  ring_after.remove("n7");
  table_after.remove("n7");
  const auto keys = sample(sharding_test::property_keys / 10);
  const double ring_moved = scaling::moved_fraction(ring, ring_after, keys);
  const double maglev_moved = scaling::moved_fraction(table, table_after, keys);
  EXPECT_NEAR(ring_moved, 1.0 / 20, 0.03);
  EXPECT_GT(maglev_moved, ring_moved);
  EXPECT_EQ(scaling::moved_fraction(ring, ring, keys), 0.0);
}

TEST(Migration, BadInput) {
  const scaling::hash_ring<std::string> empty;
  const scaling::hash_ring<std::string> one{{"a"}};
  EXPECT_THROW((void)scaling::moved_ranges(empty, one), scaling::invalid_argument);
  const scaling::hash_ring<std::string> multi{{"a"}, {.probes = 2}};
  EXPECT_THROW((void)scaling::moved_ranges(one, multi), scaling::invalid_argument);
}

}  // namespace
