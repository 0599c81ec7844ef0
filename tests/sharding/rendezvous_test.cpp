#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/rendezvous.hpp>

#include "test_support.hpp"

namespace {

TEST(Rendezvous, BadInput) {
  scaling::rendezvous<std::string> r;
  EXPECT_THROW(r.add("a", 0.0), scaling::invalid_argument);
  EXPECT_THROW(r.add("a", -1.0), scaling::invalid_argument);
  r.add("a");
  EXPECT_THROW(r.add("a"), scaling::invalid_argument);
  EXPECT_THROW(r.remove("b"), scaling::invalid_argument);
}

TEST(Rendezvous, MinimalDisruptionBothWays) {
  scaling::rendezvous<std::string> r{"a", "b", "c", "d", "e"};
  auto grown = r;
  grown.add("f");
  auto shrunk = r;
  shrunk.remove("c");
  std::uint64_t gained = 0;
  const std::uint64_t keys = sharding_test::property_keys / 10;
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string& was = r.node_for(k);
    if (grown.node_for(k) != was) {
      EXPECT_EQ(grown.node_for(k), "f");
      ++gained;
    }
    if (shrunk.node_for(k) != was) {
      EXPECT_EQ(was, "c");
    }
  }
  EXPECT_NEAR(static_cast<double>(gained) / static_cast<double>(keys), 1.0 / 6.0, 0.02);
}

TEST(Rendezvous, WeightsAreProportional) {
  scaling::rendezvous<std::string> r;
  r.add("one", 1.0);
  r.add("two", 2.0);
  r.add("five", 5.0);
  std::map<std::string, std::uint64_t> load;
  const std::uint64_t keys = sharding_test::property_keys / 10;
  for (std::uint64_t k = 0; k < keys; ++k)
    ++load[r.node_for(k)];
  const auto share = [&](const char* n) {
    return static_cast<double>(load[n]) / static_cast<double>(keys);
  };
  EXPECT_NEAR(share("one"), 1.0 / 8, 0.01);
  EXPECT_NEAR(share("two"), 2.0 / 8, 0.01);
  EXPECT_NEAR(share("five"), 5.0 / 8, 0.01);
}

TEST(Rendezvous, BalanceAtTenAndAHundredNodes) {
  for (std::size_t n : {10U, 100U}) {
    std::vector<std::string> nodes;
    for (std::size_t i = 0; i < n; ++i)
      nodes.push_back("n" + std::to_string(i));
    const scaling::rendezvous<std::string> r{nodes};
    const std::uint64_t keys = sharding_test::property_keys;
    const double p =
        sharding_test::peak_to_mean(keys, n, [&](std::uint64_t k) { return &r.node_for(k); });
    EXPECT_LT(p, sharding_test::sampled_bound(keys, n, 0.0)) << n;
  }
}

}  // namespace
