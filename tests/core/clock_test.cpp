#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>

namespace {

using namespace std::chrono_literals;

TEST(ManualClock, StartsWhereToldAndStandsStill) {
  const scaling::manual_clock zero;
  EXPECT_EQ(zero.now().time_since_epoch(), 0ns);
  const scaling::manual_clock later{scaling::manual_clock::time_point{5s}};
  EXPECT_EQ(later.now().time_since_epoch(), 5s);
  EXPECT_EQ(later.now(), later.now());
}

TEST(ManualClock, AdvanceMovesForwardAndReturnsTheNewTime) {
  scaling::manual_clock clock;
  EXPECT_EQ(clock.advance(30s).time_since_epoch(), 30s);
  EXPECT_EQ(clock.advance(1ms).time_since_epoch(), 30s + 1ms);
  EXPECT_EQ(clock.now().time_since_epoch(), 30s + 1ms);
}

TEST(ManualClock, CopiesShareOneTime) {
  scaling::manual_clock clock;
  const scaling::manual_clock held_by_component = clock;
  clock.advance(10s);
  EXPECT_EQ(held_by_component.now().time_since_epoch(), 10s);
}

TEST(ManualClock, SetCanMoveTimeBackwards) {
  scaling::manual_clock clock{scaling::manual_clock::time_point{1h}};
  clock.set(scaling::manual_clock::time_point{1min});
  EXPECT_EQ(clock.now().time_since_epoch(), 1min);
  clock.advance(-30s);
  EXPECT_EQ(clock.now().time_since_epoch(), 30s);
}

TEST(ManualClock, ConcurrentAdvancesAreNotLost) {
  scaling::manual_clock clock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([clock]() mutable {
      for (int i = 0; i < 10'000; ++i)
        clock.advance(1ns);
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(clock.now().time_since_epoch(), 40'000ns);
}

}  // namespace
