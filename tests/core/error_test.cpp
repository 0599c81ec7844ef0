#include <cstdint>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>

namespace {

TEST(InvalidArgument, MessageNamesComponentParameterRuleAndValue) {
  try {
    scaling::detail::throw_invalid_argument("scaling::hash_ring", "points_per_node", "must be >= 1",
                                            0);
    FAIL() << "no exception";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::hash_ring: points_per_node must be >= 1 (got 0)");
    EXPECT_EQ(e.component(), "scaling::hash_ring");
    EXPECT_EQ(e.parameter(), "points_per_node");
  }
}

TEST(InvalidArgument, IsAStdInvalidArgumentAndQuotesStrings) {
  EXPECT_THROW(scaling::detail::throw_invalid_argument("c", "p", "r"), std::invalid_argument);
  try {
    scaling::detail::throw_invalid_argument("scaling::hash_ring", "node", "is already present",
                                            std::string{"db-1"});
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::hash_ring: node is already present (got \"db-1\")");
  }
}

TEST(InvalidArgument, PrintsSmallIntegersAsNumbers) {
  try {
    scaling::detail::throw_invalid_argument("c", "level", "must be < 5", std::uint8_t{9});
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "c: level must be < 5 (got 9)");
  }
}

TEST(Config, CacheLineSizeIsAPowerOfTwo) {
  static_assert((scaling::cache_line_size & (scaling::cache_line_size - 1)) == 0);
  static_assert(SCALING_VERSION == SCALING_VERSION_MAJOR * 10000 + SCALING_VERSION_MINOR * 100 +
                                       SCALING_VERSION_PATCH);
  SUCCEED();
}

#if SCALING_ASSERTS_ENABLED
TEST(ConfigDeathTest, AssertAbortsWithTheConditionAndMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const int nodes = 0;
  EXPECT_DEATH(SCALING_ASSERT(nodes > 0, "lookup on an empty ring"),
               "nodes > 0.*lookup on an empty ring");
}
#endif

}  // namespace
