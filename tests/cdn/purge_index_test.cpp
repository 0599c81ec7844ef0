#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/cdn/detail/purge_index.hpp>

namespace {

using scaling::detail::purge_log;

TEST(PurgeLog, APurgeCoversOnlyTheFetchesThatBeganBeforeIt) {
  purge_log log;
  const auto before = log.begin_fetch();
  log.record_tag("product-1");
  const auto after = log.begin_fetch();
  const std::vector<std::string> tags{"product-1", "all"};
  EXPECT_TRUE(log.purged_since(before, "/p/a", tags));
  EXPECT_FALSE(log.purged_since(after, "/p/a", tags));
  EXPECT_FALSE(log.purged_since(before, "/p/a", {"product-2"}));
  log.record_prefix("/p/");
  EXPECT_TRUE(log.purged_since(before, "/p/b", {}));
  EXPECT_TRUE(log.purged_since(after, "/p/b", {}));
  EXPECT_FALSE(log.purged_since(after, "/q/b", {}));
  log.record_key("/q/b");
  EXPECT_TRUE(log.purged_since(after, "/q/b", {}));
  EXPECT_FALSE(log.purged_since(after, "/q/bb", {}));
  log.end_fetch(before);
  log.end_fetch(after);
}

TEST(PurgeLog, HoldsNothingWhileNoFetchIsInFlight) {
  purge_log log;
  log.record_key("/a");
  log.record_tag("t");
  log.record_prefix("/");
  log.record_all();
  EXPECT_EQ(log.size(), 0U) << "no fetch could predate these purges";
  const auto first = log.begin_fetch();
  log.record_key("/a");
  const auto second = log.begin_fetch();
  log.record_tag("t");
  EXPECT_EQ(log.size(), 2U);
  log.end_fetch(first);
  EXPECT_EQ(log.size(), 1U) << "the URL purge mattered only to the first fetch";
  EXPECT_TRUE(log.purged_since(second, "/x", {"t"}));
  log.end_fetch(second);
  EXPECT_EQ(log.size(), 0U);
}

TEST(PurgeLog, PurgeAllCoversEveryFetchInFlight) {
  purge_log log;
  const auto fetch = log.begin_fetch();
  log.record_all();
  EXPECT_TRUE(log.purged_since(fetch, "/anything", {}));
  EXPECT_FALSE(log.purged_since(log.begin_fetch(), "/anything", {}));
}

}  // namespace
