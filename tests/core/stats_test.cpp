#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/stats.hpp>

namespace {

TEST(RelaxedCounter, CountsExactlyAcrossThreads) {
  scaling::relaxed_counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter] {
      for (int i = 0; i < 25'000; ++i)
        counter.add();
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(counter.load(), 100'000U);
}

TEST(RelaxedCounter, CopyTakesASnapshotAndResetClears) {
  scaling::relaxed_counter counter;
  counter.add(5);
  const scaling::relaxed_counter snapshot = counter;
  counter.add(1);
  EXPECT_EQ(snapshot.load(), 5U);
  EXPECT_EQ(counter.load(), 6U);
  counter.reset();
  EXPECT_EQ(counter.load(), 0U);
}

TEST(Ratio, IsZeroForAnEmptyWhole) {
  EXPECT_DOUBLE_EQ(scaling::ratio(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(scaling::ratio(1, 4), 0.25);
}

}  // namespace
