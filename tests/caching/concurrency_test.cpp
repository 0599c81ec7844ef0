// Locked and sharded caches under threads (run under TSan in CI).
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>

#include "support/sanitizers.hpp"

namespace {

constexpr int operations_per_thread = scaling_test::sanitized ? 5'000 : 50'000;

template <class Cache>
void hammer(Cache& c, int threads) {
  std::atomic<std::uint64_t> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(t + 1);
      for (int i = 0; i < operations_per_thread; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const std::uint64_t key = x % 2000;
        switch (x >> 62) {
          case 0:
            c.put(key, key + 1);
            break;
          case 1:
            c.erase(key);
            break;
          default:
            if (auto v = c.get(key); v && *v != key + 1) wrong.fetch_add(1);
            break;
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(wrong.load(), 0u) << "a value read must be the one written for its key";
}

template <class T>
class ConcurrentCache : public ::testing::Test {};
using concurrent_types = ::testing::Types<
    scaling::cache<std::uint64_t, std::uint64_t, scaling::lru, scaling::mutex_locked>,
    scaling::cache<std::uint64_t, std::uint64_t, scaling::lru, scaling::sharded<8>>,
    scaling::cache<std::uint64_t, std::uint64_t, scaling::w_tinylfu, scaling::sharded<4>>,
    scaling::cache<std::uint64_t, std::uint64_t, scaling::s3fifo, scaling::mutex_locked>,
    scaling::cache<std::uint64_t, std::uint64_t, scaling::sieve, scaling::sharded<2>>>;
TYPED_TEST_SUITE(ConcurrentCache, concurrent_types);

TYPED_TEST(ConcurrentCache, StaysConsistentUnderFourThreads) {
  TypeParam c{512};
  hammer(c, 4);
  EXPECT_LE(c.size(), 512u);
  const auto s = c.stats();
  EXPECT_GT(s.hits + s.misses, 0u);
  EXPECT_LE(s.evictions, s.puts);
}

TEST(ConcurrentCache, ListenerCountsMatchUnderThreads) {
  std::atomic<std::uint64_t> evicted{0};
  scaling::cache<std::uint64_t, std::uint64_t, scaling::lru, scaling::sharded<4>> c{
      256,
      {.listener = [&](const std::uint64_t&, const std::uint64_t&, scaling::removal_cause cause) {
        if (cause == scaling::removal_cause::size) evicted.fetch_add(1);
      }}};
  hammer(c, 3);
  EXPECT_EQ(evicted.load(), c.stats().evictions);
}

}  // namespace
