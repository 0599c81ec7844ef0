#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <scaling/lab/network.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::distribution;
using scaling::lab::network;
using scaling::lab::simulation;

TEST(Network, DelaysPerPairAndZeroWithinAPlace) {
  simulation sim;
  network net{sim};
  const auto us = net.add_place("us");
  const auto eu = net.add_place("eu");
  const auto ap = net.add_place("ap");  // added after a delay was set: the matrix grows
  net.set_delay(us, eu, distribution::deterministic(40ms));
  net.set_one_way_delay(us, ap, distribution::deterministic(90ms));
  std::vector<std::pair<std::string, std::chrono::nanoseconds>> arrivals;
  auto mark = [&](std::string what) {
    return [&, what] { arrivals.emplace_back(what, sim.now().time_since_epoch()); };
  };
  net.send(us, us, mark("local"));
  net.send(us, eu, mark("us->eu"));
  net.send(eu, us, mark("eu->us"));
  net.send(us, ap, mark("us->ap"));
  net.send(ap, us, mark("ap->us"));  // one-way only: the way back has no delay set
  sim.run();
  ASSERT_EQ(arrivals.size(), 5U);
  EXPECT_EQ(arrivals[0], std::make_pair(std::string{"local"}, std::chrono::nanoseconds{0}));
  EXPECT_EQ(arrivals[1].first, "ap->us");
  EXPECT_EQ(arrivals[2], std::make_pair(std::string{"us->eu"}, std::chrono::nanoseconds{40ms}));
  EXPECT_EQ(arrivals[3], std::make_pair(std::string{"eu->us"}, std::chrono::nanoseconds{40ms}));
  EXPECT_EQ(arrivals[4], std::make_pair(std::string{"us->ap"}, std::chrono::nanoseconds{90ms}));
}

TEST(Network, PartitionDropsNewMessagesOnlyUntilHealed) {
  simulation sim;
  network net{sim};
  const auto a = net.add_place("a");
  const auto b = net.add_place("b");
  net.set_delay(a, b, distribution::deterministic(10ms));
  int delivered = 0;
  EXPECT_TRUE(net.send(a, b, [&] { ++delivered; }));  // on the wire before the cut
  net.partition(a, b);
  EXPECT_TRUE(net.partitioned(b, a));
  EXPECT_FALSE(net.send(a, b, [&] { ++delivered; }));
  EXPECT_FALSE(net.send(b, a, [&] { ++delivered; }));
  sim.run();
  EXPECT_EQ(delivered, 1);
  net.heal(a, b);
  EXPECT_TRUE(net.send(b, a, [&] { ++delivered; }));
  sim.run();
  EXPECT_EQ(delivered, 2);
  EXPECT_EQ(net.dropped(), 2U);
  EXPECT_EQ(net.sent(), 2U);
}

TEST(Network, UnknownPlacesAndDuplicateNamesAreNamed) {
  simulation sim;
  network net{sim};
  net.add_place("a");
  EXPECT_THROW(net.add_place("a"), std::invalid_argument);
  try {
    net.send(0, 7, [] {});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::lab::network: to must be a place added to this network (got 7)");
  }
}

}  // namespace
