#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/bounded_load.hpp>
#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/maglev.hpp>

#include "test_support.hpp"

namespace {

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("n" + std::to_string(i));
  return out;
}

template <class Strategy>
void check_bound(Strategy strategy, double c, std::size_t n, bool hot_key) {
  scaling::bounded_load<Strategy> lb{std::move(strategy), {.balance_factor = c}};
  const std::uint64_t keys = sharding_test::property_keys / 20;
  for (std::uint64_t k = 0; k < keys; ++k) {
    // A hot key: a third of the assignments ask for the same key.
    const std::uint64_t key = hot_key && k % 3 == 0 ? 42 : k;
    (void)lb.assign(key);
    const std::size_t m = lb.total_load();
    const auto bound =
        static_cast<std::size_t>(std::ceil(c * static_cast<double>(m) / static_cast<double>(n)));
    for (std::size_t load : lb.loads())
      ASSERT_LE(load, bound) << "after " << m;
  }
}

TEST(BoundedLoad, NeverAboveCeilOfCTimesTheMean) {
  for (double c : {1.05, 1.25, 2.0}) {
    check_bound(scaling::hash_ring<std::string>{names(10)}, c, 10, false);
    check_bound(scaling::hash_ring<std::string>{names(10)}, c, 10, true);
    check_bound(scaling::maglev<std::string>{names(10), {.table_size = 1009}}, c, 10, true);
  }
}

TEST(BoundedLoad, StaysOnTheHomeNodeWhileThereIsRoomAndReleases) {
  const scaling::hash_ring<std::string> ring{names(4)};
  scaling::bounded_load<scaling::hash_ring<std::string>> lb{ring};
  EXPECT_EQ(lb.node_for("k"), ring.node_for("k"));
  const std::string home = lb.assign("k");
  EXPECT_EQ(home, ring.node_for("k"));
  EXPECT_EQ(lb.load_of(home), 1U);
  lb.release(home);
  EXPECT_EQ(lb.total_load(), 0U);
  EXPECT_THROW(lb.release(home), scaling::invalid_argument);
  EXPECT_THROW(lb.release("zzz"), scaling::invalid_argument);
  lb.add("n9");
  EXPECT_EQ(lb.size(), 5U);
  (void)lb.assign("x");
  lb.remove("n9");
  EXPECT_EQ(lb.loads().size(), 4U);
}

TEST(BoundedLoad, BalanceFactorMustExceedOne) {
  for (double c : {1.0, 0.5, -1.0, std::nan(""), HUGE_VAL}) {
    EXPECT_THROW((scaling::bounded_load<scaling::hash_ring<std::string>>{
                     scaling::hash_ring<std::string>{names(2)}, {.balance_factor = c}}),
                 scaling::invalid_argument)
        << c;
  }
}

}  // namespace
