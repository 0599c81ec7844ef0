#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/detail/common.hpp>
#include <scaling/sharding/maglev.hpp>

#include "test_support.hpp"

namespace {

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("backend-" + std::to_string(i));
  return out;
}

TEST(Maglev, BadInput) {
  for (std::uint32_t size : {0U, 1U, 4U, 65536U}) {
    EXPECT_THROW(scaling::maglev<std::string>({.table_size = size}), scaling::invalid_argument)
        << size;
  }
  scaling::maglev<std::string> m{{"a"}, {.table_size = 3}};
  EXPECT_THROW(m.add("a"), scaling::invalid_argument);
  m.add("b");
  m.add("c");
  EXPECT_THROW(m.add("d"), scaling::invalid_argument);  // more nodes than slots
  EXPECT_EQ(m.size(), 3U);
  EXPECT_THROW(m.remove("zzz"), scaling::invalid_argument);
}

TEST(Maglev, SlotsAreSpreadWithinOneOfTheMean) {
  const scaling::maglev<std::string> m{names(100)};
  std::vector<std::uint32_t> slots(100, 0);
  for (std::uint32_t owner : m.table())
    ++slots[owner];
  const auto [lo, hi] = std::minmax_element(slots.begin(), slots.end());
  EXPECT_LE(*hi - *lo, 1U);  // 65537 / 100: 655 or 656
}

TEST(Maglev, BalanceOfKeys) {
  for (std::size_t n : {10U, 100U}) {
    const scaling::maglev<std::string> m{names(n)};
    const double p = sharding_test::peak_to_mean(sharding_test::property_keys, n,
                                                 [&](std::uint64_t k) { return &m.node_for(k); });
    EXPECT_LT(p, sharding_test::sampled_bound(sharding_test::property_keys, n, 0.005)) << n;
  }
}

TEST(Maglev, RemovalMovesItsKeysAndSomeOthers) {
  const scaling::maglev<std::string> before{names(10)};
  scaling::maglev<std::string> after = before;
  after.remove("backend-4");
  std::uint64_t moved = 0;
  std::uint64_t orphaned = 0;
  const std::uint64_t keys = sharding_test::property_keys / 10;
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string& was = before.node_for(k);
    if (was != after.node_for(k)) ++moved;
    if (was == "backend-4") ++orphaned;
  }
  EXPECT_GE(moved, orphaned);                 // all of its keys, at least
  EXPECT_LT(moved, orphaned + orphaned / 2);  // and not many more
}

TEST(Maglev, TableDependsOnlyOnTheMemberSet) {
  auto list = names(7);
  const scaling::maglev<std::string> a{list};
  std::reverse(list.begin(), list.end());
  scaling::maglev<std::string> b;
  for (const auto& n : list)
    b.add(n);
  EXPECT_EQ(a.table(), b.table());
}

TEST(FastModulo, MatchesTheRemainderOperator) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::uint32_t d : {1U, 2U, 7U, 65537U, 4294967291U, 4294967295U}) {
    const scaling::detail::fast_modulo mod{d};
    for (int i = 0; i < 20000; ++i) {
      x = scaling::mix64(x + 1);
      ASSERT_EQ(mod(x), x % d) << x << " % " << d;
    }
    EXPECT_EQ(mod(0), 0U);
    EXPECT_EQ(mod(UINT64_MAX), UINT64_MAX % d);
  }
}

}  // namespace
