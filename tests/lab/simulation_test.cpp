#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/simulation.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::simulation;

TEST(Simulation, RunsEventsInTimeOrderThenScheduleOrder) {
  simulation sim;
  std::vector<std::string> order;
  sim.after(2ms, [&] { order.push_back("b@2"); });
  sim.after(1ms, [&] { order.push_back("a@1"); });
  sim.after(2ms, [&] { order.push_back("c@2"); });
  sim.after(0ms, [&] {
    order.push_back("now");
    sim.after(1ms, [&] { order.push_back("d@1"); });  // scheduled later than a@1: runs after it
  });
  sim.run();
  EXPECT_EQ(order, (std::vector<std::string>{"now", "a@1", "d@1", "b@2", "c@2"}));
  EXPECT_EQ(sim.now().time_since_epoch(), 2ms);
  EXPECT_EQ(sim.events_run(), 5U);
}

TEST(Simulation, ClockCopiesFollowVirtualTime) {
  simulation sim;
  const auto clock = sim.clock();  // what a block would hold
  std::chrono::nanoseconds seen{};
  sim.after(7s, [&] { seen = clock.now().time_since_epoch(); });
  sim.run_until(simulation::time_point{10s});
  EXPECT_EQ(seen, 7s);
  EXPECT_EQ(clock.now().time_since_epoch(), 10s);  // run_until moves time to its end
}

TEST(Simulation, RunUntilLeavesLaterEventsPending) {
  simulation sim;
  int ran = 0;
  sim.after(1s, [&] { ++ran; });
  sim.after(3s, [&] { ++ran; });
  sim.run_for(2s);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(sim.pending(), 1U);
  sim.run_for(2s);
  EXPECT_EQ(ran, 2);
}

TEST(Simulation, StopEndsTheRunAfterTheCurrentEvent) {
  simulation sim;
  int ran = 0;
  for (int i = 1; i <= 5; ++i)
    sim.after(std::chrono::seconds{i}, [&] {
      if (++ran == 2) sim.stop();
    });
  sim.run();
  EXPECT_EQ(ran, 2);
  sim.run();
  EXPECT_EQ(ran, 5);
}

TEST(Simulation, EventsInThePastAreRejected) {
  simulation sim;
  sim.run_until(simulation::time_point{5s});
  EXPECT_THROW(sim.at(simulation::time_point{1s}, [] {}), std::invalid_argument);
  EXPECT_THROW(sim.after(-1ns, [] {}), std::invalid_argument);
}

// Slots of finished events are reused: a long run does not grow the event storage.
TEST(Simulation, ManyEventsReuseStorage) {
  simulation sim;
  std::uint64_t ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks < 1'000'000) sim.after(1us, tick);
  };
  sim.after(0ns, tick);
  sim.run();
  EXPECT_EQ(ticks, 1'000'000U);
  EXPECT_EQ(sim.pending(), 0U);
}

TEST(PoissonArrivals, RateIsKeptAndChangesTakeEffect) {
  simulation sim{5};
  std::uint64_t n = 0;
  scaling::lab::poisson_arrivals load{sim, 1000.0, [&] { ++n; }};
  load.start();
  sim.run_for(100s);
  // 100,000 expected; a Poisson count's standard deviation is sqrt(100,000) = 316.
  EXPECT_NEAR(static_cast<double>(n), 100'000.0, 1600.0);
  load.set_rate(10'000.0);
  const auto before = n;
  sim.run_for(10s);
  EXPECT_NEAR(static_cast<double>(n - before), 100'000.0, 1600.0);
  load.stop();
  const auto stopped = n;
  sim.run_for(10s);
  EXPECT_EQ(n, stopped);
  EXPECT_EQ(load.generated(), n);
}

TEST(PoissonArrivals, DestroyedSourceLeavesNoLiveEvent) {
  simulation sim{5};
  int n = 0;
  {
    scaling::lab::poisson_arrivals load{sim, 10.0, [&] { ++n; }};
    load.start();
  }
  sim.run_for(10s);  // the pending arrival finds its source gone
  EXPECT_EQ(n, 0);
}

TEST(PoissonArrivals, BadRateIsNamed) {
  simulation sim;
  try {
    scaling::lab::poisson_arrivals load{sim, -1.0, [] {}};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::lab::poisson_arrivals: rate must be a finite number >= 0 (per second) "
              "(got -1)");
  }
}

}  // namespace
