#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/queueing/mpmc_queue.hpp>

#include "support/sanitizers.hpp"

namespace {

using scaling_test::sanitized;

// Counts live objects so a test can prove every constructed element is destroyed once.
struct counted {
  static inline std::atomic<int> live{0};
  int value;
  explicit counted(int v) : value(v) { live.fetch_add(1); }
  counted(const counted& other) : value(other.value) { live.fetch_add(1); }
  counted(counted&& other) noexcept : value(other.value) { live.fetch_add(1); }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() { live.fetch_sub(1); }
};

// Not default-constructible, move-only, and its constructor may throw.
struct picky {
  std::unique_ptr<int> value;
  explicit picky(int v) {
    if (v < 0) throw std::runtime_error("negative");
    value = std::make_unique<int>(v);
  }
};

TEST(MpmcQueue, RejectsZeroCapacity) {
  try {
    scaling::mpmc_queue<int> q{0};
    FAIL() << "capacity 0 was accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "capacity");
    EXPECT_NE(std::string{e.what()}.find("scaling::mpmc_queue"), std::string::npos);
    EXPECT_NE(std::string{e.what()}.find("got 0"), std::string::npos);
  }
}

TEST(MpmcQueue, HonoursAnyCapacityExactly) {
  for (std::size_t capacity : {1U, 2U, 3U, 7U, 8U, 100U}) {
    scaling::mpmc_queue<int> q{capacity};
    EXPECT_EQ(q.capacity(), capacity);
    for (std::size_t i = 0; i < capacity; ++i)
      ASSERT_TRUE(q.try_push(static_cast<int>(i))) << capacity;
    EXPECT_FALSE(q.try_push(-1)) << "capacity " << capacity << " accepted one more";
    EXPECT_EQ(q.size(), capacity);
    // Several laps keep FIFO order and the bound.
    for (int lap = 0; lap < 3; ++lap) {
      for (std::size_t i = 0; i < capacity; ++i) {
        int out = -1;
        ASSERT_TRUE(q.try_pop(out));
        EXPECT_EQ(out, static_cast<int>(i));
        ASSERT_TRUE(q.try_push(static_cast<int>(i)));
      }
      EXPECT_FALSE(q.try_push(-1));
    }
  }
}

TEST(MpmcQueue, TryPopOnEmptyFailsAndLeavesOutputAlone) {
  scaling::mpmc_queue<int> q{4};
  int out = 42;
  EXPECT_FALSE(q.try_pop(out));
  EXPECT_EQ(out, 42);
  EXPECT_TRUE(q.empty());
}

TEST(MpmcQueue, DestroysEveryElementExactlyOnce) {
  counted::live = 0;
  {
    scaling::mpmc_queue<counted> q{5};
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(q.try_emplace(i));
    EXPECT_EQ(counted::live.load(), 5);
    {
      auto first = q.pop();
      ASSERT_TRUE(first.has_value());
      EXPECT_EQ(first->value, 0);
      EXPECT_EQ(counted::live.load(), 5);  // 4 queued + the one held
    }
    EXPECT_EQ(counted::live.load(), 4);
    const counted extra{99};
    EXPECT_TRUE(q.try_push(extra));  // copy
    EXPECT_EQ(counted::live.load(), 6);
  }
  EXPECT_EQ(counted::live.load(), 0) << "the destructor must destroy queued elements";
}

TEST(MpmcQueue, MoveOnlyAndNonDefaultConstructible) {
  scaling::mpmc_queue<picky> q{2};
  ASSERT_TRUE(q.try_emplace(1));
  picky p{2};
  ASSERT_TRUE(q.try_push(std::move(p)));
  picky rejected{3};
  EXPECT_FALSE(q.try_push(std::move(rejected)));
  ASSERT_NE(rejected.value, nullptr) << "a failed push must not move from its argument";
  auto a = q.pop();
  auto b = q.pop();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a->value, 1);
  EXPECT_EQ(*b->value, 2);
}

TEST(MpmcQueue, ThrowingConstructorLeavesQueueUnchanged) {
  scaling::mpmc_queue<picky> q{1};
  EXPECT_THROW((void)q.try_emplace(-1), std::runtime_error);
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(q.try_emplace(5)) << "the failed emplace must not have consumed the slot";
  EXPECT_EQ(*q.pop()->value, 5);
}

TEST(MpmcQueue, CloseDrainsThenReportsEnd) {
  scaling::mpmc_queue<std::string> q{4};
  ASSERT_TRUE(q.push("a"));
  ASSERT_TRUE(q.push("b"));
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.push("c"));
  EXPECT_FALSE(q.try_push("c"));
  EXPECT_EQ(q.pop(), "a");
  EXPECT_EQ(q.pop(), "b");
  EXPECT_EQ(q.pop(), std::nullopt);
  EXPECT_EQ(q.pop(), std::nullopt);
}

TEST(MpmcQueue, CloseWakesEverySleepingConsumerAndProducer) {
  scaling::mpmc_queue<int> empty{2};
  scaling::mpmc_queue<int> full{1};
  ASSERT_TRUE(full.try_push(0));
  std::atomic<int> consumers_done{0};
  std::atomic<int> producers_failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      if (!empty.pop()) consumers_done.fetch_add(1);
    });
    threads.emplace_back([&] {
      if (!full.push(1)) producers_failed.fetch_add(1);
    });
  }
  // Wait until they all sleep (no timing assumption: spin on the waiter counts).
  while (empty.sleeping_consumers() < 3 || full.sleeping_producers() < 3)
    std::this_thread::yield();
  empty.close();
  full.close();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(consumers_done.load(), 3);
  EXPECT_EQ(producers_failed.load(), 3);
}

TEST(MpmcQueue, BlockingPushWaitsForSpaceAndPopWakesIt) {
  scaling::mpmc_queue<int> q{1};
  ASSERT_TRUE(q.push(1));
  std::thread producer([&] { EXPECT_TRUE(q.push(2)); });
  while (q.sleeping_producers() == 0)
    std::this_thread::yield();
  EXPECT_EQ(q.pop(), 1);
  EXPECT_EQ(q.pop(), 2);
  producer.join();
}

// Every item is popped exactly once and each producer's items come out in the order pushed,
// with more threads than cores and a small capacity so blocking paths run constantly.
void exactly_once(int producers, int consumers, std::size_t capacity, int per_producer) {
  scaling::mpmc_queue<std::uint64_t> q{capacity};
  std::vector<std::vector<std::uint64_t>> seen(static_cast<std::size_t>(consumers));
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&q, &seen, c] {
      auto& mine = seen[static_cast<std::size_t>(c)];
      while (auto item = q.pop())
        mine.push_back(*item);
    });
  }
  std::vector<std::thread> producer_threads;
  for (int p = 0; p < producers; ++p) {
    producer_threads.emplace_back([&q, p, per_producer] {
      for (int i = 0; i < per_producer; ++i) {
        const std::uint64_t item = (std::uint64_t(p) << 32) | std::uint64_t(i);
        // Mix blocking and non-blocking pushes so both paths are exercised.
        if (i % 3 == 0) {
          while (!q.try_push(item))
            std::this_thread::yield();
        } else {
          ASSERT_TRUE(q.push(item));
        }
      }
    });
  }
  for (auto& t : producer_threads)
    t.join();
  q.close();
  for (auto& t : threads)
    t.join();
  std::vector<int> count(static_cast<std::size_t>(producers) * std::size_t(per_producer), 0);
  for (const auto& mine : seen) {
    std::vector<int> last(static_cast<std::size_t>(producers), -1);
    for (std::uint64_t item : mine) {
      const auto p = static_cast<std::size_t>(item >> 32);
      const auto i = static_cast<int>(item & 0xffffffffU);
      ASSERT_LT(p, static_cast<std::size_t>(producers));
      EXPECT_GT(i, last[p]) << "per-producer order broken within one consumer";
      last[p] = i;
      ++count[p * std::size_t(per_producer) + std::size_t(i)];
    }
  }
  for (std::size_t k = 0; k < count.size(); ++k)
    ASSERT_EQ(count[k], 1) << "item " << k << " popped " << count[k] << " times";
}

TEST(MpmcQueue, ExactlyOnceOneProducerOneConsumer) {
  exactly_once(1, 1, 16, sanitized ? 20'000 : 200'000);
}

TEST(MpmcQueue, ExactlyOnceManyProducersManyConsumers) {
  exactly_once(4, 3, 8, sanitized ? 5'000 : 50'000);
}

TEST(MpmcQueue, ExactlyOnceCapacityOne) {
  exactly_once(3, 3, 1, sanitized ? 2'000 : 20'000);
}

TEST(MpmcQueue, ExactlyOnceOddCapacity) {
  exactly_once(2, 4, 13, sanitized ? 5'000 : 50'000);
}

TEST(MpmcQueue, ConcurrentLifetimesBalance) {
  counted::live = 0;
  {
    scaling::mpmc_queue<counted> q{7};
    std::atomic<long> sum{0};
    const int per = sanitized ? 2'000 : 20'000;
    std::vector<std::thread> threads;
    for (int c = 0; c < 2; ++c)
      threads.emplace_back([&] {
        while (auto item = q.pop())
          sum.fetch_add(item->value);
      });
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p)
      producers.emplace_back([&] {
        for (int i = 1; i <= per; ++i)
          ASSERT_TRUE(q.emplace(i));
      });
    for (auto& t : producers)
      t.join();
    q.close();
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(sum.load(), 2L * per * (per + 1) / 2);
  }
  EXPECT_EQ(counted::live.load(), 0);
}

TEST(MpmcQueue, PopForOnAnEmptyQueueTimesOut) {
  using namespace std::chrono_literals;
  scaling::mpmc_queue<int> q{4};
  const auto r = q.pop_for(0ms);
  EXPECT_EQ(r.status(), scaling::wait_status::timed_out);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(q.pop_for(1ms).status(), scaling::wait_status::timed_out);
  EXPECT_EQ(q.pop_until(std::chrono::steady_clock::now()).status(),
            scaling::wait_status::timed_out);
  ASSERT_TRUE(q.try_push(8));
  const auto got = q.pop_for(0ms);
  ASSERT_TRUE(got.has_value()) << "an element that is there is taken even with no time left";
  EXPECT_EQ(*got, 8);
  EXPECT_EQ(q.sleeping_consumers(), 0U);
}

TEST(MpmcQueue, PushForOnAFullQueueTimesOut) {
  using namespace std::chrono_literals;
  scaling::mpmc_queue<std::string> q{1};
  ASSERT_EQ(q.push_for(std::string{"a"}, 0ms), scaling::wait_status::ready);
  std::string kept = "kept";
  EXPECT_EQ(q.push_for(std::move(kept), 1ms), scaling::wait_status::timed_out);
  EXPECT_EQ(kept, "kept") << "a push that timed out leaves the value untouched";
  const std::string copy = "copy";
  EXPECT_EQ(q.push_until(copy, std::chrono::steady_clock::now()), scaling::wait_status::timed_out);
  EXPECT_EQ(q.size(), 1U);
  EXPECT_EQ(q.sleeping_producers(), 0U);
}

TEST(MpmcQueue, StopRequestWakesTimedSleepersWithStopped) {
  scaling::mpmc_queue<int> empty{2};
  scaling::mpmc_queue<int> full{1};
  ASSERT_TRUE(full.try_push(0));
  std::stop_source stop;
  std::atomic<int> stopped{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      const auto r = empty.pop_for(std::chrono::nanoseconds::max(), stop.get_token());
      if (r.stopped()) stopped.fetch_add(1);
    });
    threads.emplace_back([&] {
      if (full.push_for(1, std::chrono::hours::max(), stop.get_token()) ==
          scaling::wait_status::stopped)
        stopped.fetch_add(1);
    });
  }
  while (empty.sleeping_consumers() < 2 || full.sleeping_producers() < 2)
    std::this_thread::yield();
  stop.request_stop();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(stopped.load(), 4);
  EXPECT_EQ(full.size(), 1U);
}

TEST(MpmcQueue, CloseWakesTimedSleepersWithClosed) {
  scaling::mpmc_queue<int> empty{2};
  scaling::mpmc_queue<int> full{1};
  ASSERT_TRUE(full.try_push(0));
  std::atomic<int> closed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      if (empty.pop_for(std::chrono::hours::max()).closed()) closed.fetch_add(1);
    });
    threads.emplace_back([&] {
      if (full.push_until(1, std::chrono::steady_clock::time_point::max()) ==
          scaling::wait_status::closed)
        closed.fetch_add(1);
    });
  }
  while (empty.sleeping_consumers() < 2 || full.sleeping_producers() < 2)
    std::this_thread::yield();
  empty.close();
  full.close();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(closed.load(), 4);
  // Closed: pushes report it, pops drain first.
  EXPECT_EQ(full.push_for(2, std::chrono::hours::max()), scaling::wait_status::closed);
  const auto last = full.pop_for(std::chrono::hours::max());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, 0);
  EXPECT_EQ(full.pop_for(std::chrono::hours::max()).status(), scaling::wait_status::closed);
}

TEST(MpmcQueue, TimedPopIsWokenByAPushAndTimedPushByAPop) {
  scaling::mpmc_queue<int> q{1};
  std::thread consumer([&] {
    const auto r = q.pop_for(std::chrono::hours::max());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 1);
  });
  while (q.sleeping_consumers() == 0)
    std::this_thread::yield();
  ASSERT_TRUE(q.push(1));
  consumer.join();
  ASSERT_TRUE(q.push(2));
  std::thread producer(
      [&] { EXPECT_EQ(q.push_for(3, std::chrono::hours::max()), scaling::wait_status::ready); });
  while (q.sleeping_producers() == 0)
    std::this_thread::yield();
  EXPECT_EQ(q.pop(), 2);
  producer.join();
  EXPECT_EQ(q.pop(), 3);
}

// Many producers and consumers, blocking and bounded calls mixed (timeouts short enough to
// expire often): the sum of what is popped is exactly the sum of what was pushed.
TEST(MpmcQueue, SumIsExactWithTimedPopsAndPushesMixedIn) {
  using namespace std::chrono_literals;
  scaling::mpmc_queue<std::uint64_t> q{4};
  constexpr int per = sanitized ? 3'000 : 20'000;
  constexpr int producers = 3;
  constexpr int consumers = 4;
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      std::uint64_t mine = 0;
      for (std::uint64_t n = 0;; ++n) {
        if (c % 2 == 0 && n % 2 == 0) {
          const auto r = (n % 4 == 0) ? q.pop_for(std::chrono::microseconds(n % 50))
                                      : q.pop_for(1s, std::stop_token{});
          if (r) {
            mine += *r;
          } else if (r.closed()) {
            break;
          } else {
            timeouts.fetch_add(1);
          }
        } else {
          auto item = q.pop();
          if (!item) break;
          mine += *item;
        }
      }
      sum.fetch_add(mine);
    });
  }
  std::vector<std::thread> producer_threads;
  for (int p = 0; p < producers; ++p) {
    producer_threads.emplace_back([&q, p] {
      for (int i = 1; i <= per; ++i) {
        const auto item = static_cast<std::uint64_t>(i);
        if ((i + p) % 2 == 0) {
          ASSERT_TRUE(q.push(item));
        } else {
          while (q.push_for(item, std::chrono::microseconds(i % 30)) !=
                 scaling::wait_status::ready) {
          }
        }
      }
    });
  }
  for (auto& t : producer_threads)
    t.join();
  q.close();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(sum.load(), std::uint64_t(producers) * std::uint64_t(per) * std::uint64_t(per + 1) / 2);
  EXPECT_EQ(q.sleeping_consumers(), 0U);
  EXPECT_EQ(q.sleeping_producers(), 0U);
}

}  // namespace
