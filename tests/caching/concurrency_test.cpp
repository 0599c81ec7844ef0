// Locked and sharded caches under threads (run under TSan in CI).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>
#include <scaling/core/hash.hpp>

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
    scaling::cache<std::uint64_t, std::uint64_t, scaling::sieve, scaling::sharded<2>>,
    scaling::cache<std::uint64_t, std::uint64_t, scaling::adaptive, scaling::sharded<4>>>;
TYPED_TEST_SUITE(ConcurrentCache, concurrent_types);

TYPED_TEST(ConcurrentCache, StaysConsistentUnderFourThreads) {
  TypeParam c{512};
  hammer(c, 4);
  EXPECT_LE(c.size(), 512u);
  const auto s = c.stats();
  EXPECT_GT(s.hits + s.misses, 0u);
  EXPECT_LE(s.evictions, s.puts);
}

// adaptive on sharded<4>: segment 0 publishes its leader while the other segments read it at
// their evictions. Phases move the lead while four threads read and write.
TEST(ConcurrentCache, AdaptiveSegmentsFollowALeaderThatMoves) {
  scaling::cache<std::uint64_t, std::uint64_t, scaling::adaptive, scaling::sharded<4>> c{256};
  std::atomic<std::uint64_t> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < operations_per_thread; ++i) {
        const int phase = (i / 2000) % 2;
        const auto step = static_cast<std::uint64_t>(i + t * 7);
        const std::uint64_t key =
            phase == 0 ? step % 600 : (step / 4) % 600 + 1000 * static_cast<std::uint64_t>(t);
        if (auto v = c.get(key)) {
          if (*v != key + 1) wrong.fetch_add(1);
        } else {
          c.put(key, key + 1);
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(wrong.load(), 0u) << "a value read must be the one written for its key";
  EXPECT_LE(c.size(), 256u);
  int followers = 0;
  c.inspect_policy([&](const scaling::adaptive::state& s) { followers += s.simulates() ? 0 : 1; });
  EXPECT_EQ(followers, 3);
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

// A hot key: most of every thread's traffic is one key (reads, visits and writes), mixed with
// reads and writes of colder keys. Every value is three fields derived from one write, so a
// torn copy shows; the counters must add up exactly to what the threads did.
struct stamped {
  std::uint64_t key = 0;
  std::uint64_t version = 0;  // writer << 32 | that writer's sequence number
  std::uint64_t check = 0;    // a function of both, so a mix of two writes does not match
};

stamped stamp(std::uint64_t key, std::uint64_t writer, std::uint64_t seq) {
  const std::uint64_t version = writer << 32 | seq;
  return {key, version, scaling::mix64(key ^ (version * 0x9e3779b97f4a7c15ULL))};
}

bool whole(const stamped& v, std::uint64_t key) {
  return v.key == key && v.check == scaling::mix64(key ^ (v.version * 0x9e3779b97f4a7c15ULL));
}

template <class T>
class ConcurrentHotKey : public ::testing::Test {};
using hot_key_types = ::testing::Types<
    scaling::cache<std::uint64_t, stamped, scaling::lru, scaling::mutex_locked>,
    scaling::cache<std::uint64_t, stamped, scaling::lru, scaling::sharded<4>>,
    scaling::cache<std::uint64_t, stamped, scaling::w_tinylfu, scaling::sharded<4>>>;
TYPED_TEST_SUITE(ConcurrentHotKey, hot_key_types);

constexpr int hot_threads = 4;
constexpr std::uint64_t hot = 7;
constexpr std::uint64_t cold_keys = 256;  // above the capacity: cold writes evict

TYPED_TEST(ConcurrentHotKey, OneKeyHammeredByFourThreadsStaysExact) {
  TypeParam c{64};
  // What each thread did and saw, in its own slot; read after join.
  struct tally {
    std::uint64_t reads = 0;  // get and visit calls, each one hit or one miss
    std::uint64_t hits = 0;
    std::uint64_t puts = 0;
    std::uint64_t hot_hits = 0;
    std::uint64_t torn = 0;       // a value whose fields do not belong to one write
    std::uint64_t backwards = 0;  // a writer's version older than one this thread saw before
  };
  std::vector<tally> tallies(hot_threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < hot_threads; ++t) {
    workers.emplace_back([&c, &tally = tallies[static_cast<std::size_t>(t)], t] {
      std::uint64_t latest_seen[hot_threads] = {};  // per writer: the newest sequence read of `hot`
      const auto saw_hot = [&](const stamped& v) {
        if (!whole(v, hot)) {
          ++tally.torn;
          return;
        }
        ++tally.hot_hits;
        const std::uint64_t writer = v.version >> 32;
        const std::uint64_t seq = v.version & 0xffffffffu;
        if (writer >= hot_threads) {
          ++tally.torn;
          return;
        }
        if (seq < latest_seen[writer]) ++tally.backwards;
        latest_seen[writer] = std::max(latest_seen[writer], seq);
      };
      std::uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(t + 1);
      for (int i = 1; i <= operations_per_thread; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const auto seq = static_cast<std::uint64_t>(i);
        switch (x % 8) {
          case 0:
          case 1:
          case 2: {  // read the hot key
            ++tally.reads;
            if (auto v = c.get(hot)) {
              ++tally.hits;
              saw_hot(*v);
            }
            break;
          }
          case 3: {  // visit it: the callback runs under the lock, on the cached value
            ++tally.reads;
            stamped seen;
            if (c.visit(hot, [&](const stamped& v) { seen = v; })) {
              ++tally.hits;
              saw_hot(seen);
            }
            break;
          }
          case 4:  // write it
            ++tally.puts;
            c.put(hot, stamp(hot, static_cast<std::uint64_t>(t), seq));
            break;
          case 5:
          case 6: {  // read a colder key
            const std::uint64_t key = 1000 + (x >> 8) % cold_keys;
            ++tally.reads;
            if (auto v = c.get(key)) {
              ++tally.hits;
              if (!whole(*v, key)) ++tally.torn;
            }
            break;
          }
          default: {  // write a colder key
            const std::uint64_t key = 1000 + (x >> 8) % cold_keys;
            ++tally.puts;
            c.put(key, stamp(key, static_cast<std::uint64_t>(t), seq));
            break;
          }
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  tally total;
  for (const tally& t : tallies) {
    total.reads += t.reads;
    total.hits += t.hits;
    total.puts += t.puts;
    total.hot_hits += t.hot_hits;
    total.torn += t.torn;
    total.backwards += t.backwards;
  }
  EXPECT_EQ(total.torn, 0u) << "every value read is one whole write of its own key";
  EXPECT_EQ(total.backwards, 0u) << "a reader never sees a writer's older value after a newer";
  EXPECT_GT(total.hot_hits, 0u);
  const auto s = c.stats();
  EXPECT_EQ(s.hits + s.misses, total.reads) << "one hit or one miss per get or visit";
  EXPECT_EQ(s.hits, total.hits);
  EXPECT_EQ(s.misses, total.reads - total.hits);
  EXPECT_EQ(s.puts, total.puts);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.evictions, s.puts);
  EXPECT_LE(c.size(), 64u);
  // The hot key was written last by someone: if it is resident, its value is whole.
  if (auto v = c.get(hot)) {
    EXPECT_TRUE(whole(*v, hot));
  }
}

}  // namespace
