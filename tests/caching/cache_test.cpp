// The conformance suite every eviction x concurrency combination of scaling::cache passes.
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>

#include "test_support.hpp"

namespace {

template <class E, class C>
struct combo {
  using eviction = E;
  using concurrency = C;
};

template <class... E>
using with_all_concurrency =
    ::testing::Types<combo<E, scaling::single_threaded>..., combo<E, scaling::mutex_locked>...,
                     combo<E, scaling::sharded<4>>...>;

using all_combos =
    with_all_concurrency<scaling::lru, scaling::lfu, scaling::fifo, scaling::clock, scaling::sieve,
                         scaling::s3fifo, scaling::w_tinylfu, scaling::adaptive>;

template <class T>
class CacheConformance : public ::testing::Test {
 protected:
  template <class K, class V>
  using cache_of = scaling::cache<K, V, typename T::eviction, typename T::concurrency>;
};
TYPED_TEST_SUITE(CacheConformance, all_combos);

TYPED_TEST(CacheConformance, GetReturnsWhatWasPut) {
  typename TestFixture::template cache_of<std::string, int> c{64};
  EXPECT_FALSE(c.get("a"));
  c.put("a", 1);
  c.put(std::string("b"), 2);
  ASSERT_TRUE(c.get("a"));
  EXPECT_EQ(*c.get("a"), 1);
  EXPECT_EQ(c.get("b").value_or(0), 2);
  EXPECT_TRUE(c.contains("a"));
  EXPECT_FALSE(c.contains("zz"));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.capacity(), 64u);
}

TYPED_TEST(CacheConformance, PutReplacesAndEraseRemoves) {
  typename TestFixture::template cache_of<int, std::string> c{16};
  c.put(7, "old");
  c.put(7, "new");
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.get(7).value_or(""), "new");
  EXPECT_TRUE(c.erase(7));
  EXPECT_FALSE(c.erase(7));
  EXPECT_FALSE(c.get(7));
  EXPECT_EQ(c.size(), 0u);
}

TYPED_TEST(CacheConformance, VisitRunsOnlyOnHits) {
  typename TestFixture::template cache_of<int, int> c{16};
  c.put(1, 10);
  int seen = 0;
  EXPECT_TRUE(c.visit(1, [&](const int& v) { seen = v; }));
  EXPECT_EQ(seen, 10);
  EXPECT_FALSE(c.visit(2, [&](const int&) { seen = -1; }));
  EXPECT_EQ(seen, 10);
}

TYPED_TEST(CacheConformance, NeverExceedsCapacityAndCountsEvictions) {
  constexpr std::size_t capacity = 128;
  typename TestFixture::template cache_of<std::uint64_t, std::uint64_t> c{capacity};
  std::mt19937_64 rng{42};
  std::uint64_t puts = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::uint64_t key = rng() % 1000;
    if (auto v = c.get(key)) {
      ASSERT_EQ(*v, key * 3) << "a hit must return the value stored for that key";
    } else {
      c.put(key, key * 3);
      ++puts;
    }
    ASSERT_LE(c.size(), capacity);
  }
  const auto s = c.stats();
  EXPECT_EQ(s.hits + s.misses, 20'000u);
  EXPECT_EQ(s.puts, puts);
  EXPECT_EQ(s.evictions, puts - c.size()) << "every insertion beyond capacity evicts one entry";
  EXPECT_GT(s.hits, 0u);
  EXPECT_NEAR(s.hit_ratio(), static_cast<double>(s.hits) / 20'000.0, 1e-12);
}

TYPED_TEST(CacheConformance, SmallCapacityKeepsTheNewestEntry) {
  typename TestFixture::template cache_of<int, int> c{TypeParam::concurrency::segments};
  for (int i = 0; i < 100; ++i) {
    c.put(i, i);
    EXPECT_EQ(c.get(i).value_or(-1), i) << "a just-inserted key is resident";
    EXPECT_LE(c.size(), TypeParam::concurrency::segments);
  }
}

TYPED_TEST(CacheConformance, ListenerSeesEveryRemovalWithItsCause) {
  std::vector<std::tuple<int, int, scaling::removal_cause>> removed;
  std::mutex m;
  typename TestFixture::template cache_of<int, int> c{
      8, {.listener = [&](const int& k, const int& v, scaling::removal_cause cause) {
        std::scoped_lock lock(m);
        removed.emplace_back(k, v, cause);
      }}};
  c.put(1, 1);
  c.put(1, 2);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], std::make_tuple(1, 1, scaling::removal_cause::replaced));
  c.erase(1);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[1], std::make_tuple(1, 2, scaling::removal_cause::erased));
  for (int i = 0; i < 100; ++i)
    c.put(i, i);
  std::size_t by_size = 0;
  for (const auto& r : removed)
    by_size += std::get<2>(r) == scaling::removal_cause::size;
  EXPECT_EQ(by_size, 100 - c.size());
  EXPECT_EQ(c.stats().evictions, by_size);
  const std::size_t before = removed.size();
  const std::size_t resident = c.size();
  c.clear();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(removed.size(), before + resident);
}

TYPED_TEST(CacheConformance, DestroysWhatItDrops) {
  using scaling_test::counted;
  {
    typename TestFixture::template cache_of<int, counted> c{32};
    for (int i = 0; i < 1000; ++i)
      c.put(i, counted{i});
    EXPECT_EQ(counted::live.load(), static_cast<int>(c.size()));
    for (int i = 0; i < 1000; i += 2)
      c.erase(i);
    EXPECT_EQ(counted::live.load(), static_cast<int>(c.size()));
    c.clear();
    EXPECT_EQ(counted::live.load(), 0);
    for (int i = 0; i < 10; ++i)
      c.put(i, counted{i});
  }
  EXPECT_EQ(counted::live.load(), 0);
}

TYPED_TEST(CacheConformance, ThrowingValueCopyLeavesCacheUnchanged) {
  using scaling_test::fragile;
  typename TestFixture::template cache_of<int, fragile> c{16};
  const fragile one{1};
  c.put(1, one);
  fragile::armed = true;
  const fragile two{2};
  EXPECT_THROW(c.put(2, two), std::runtime_error);
  EXPECT_THROW(c.put(1, two), std::runtime_error);
  fragile::armed = false;
  EXPECT_FALSE(c.contains(2));
  EXPECT_EQ(c.size(), 1u);
  ASSERT_TRUE(c.get(1));
  EXPECT_EQ(c.get(1)->value, 1);
  c.put(2, two);
  EXPECT_EQ(c.get(2)->value, 2);
}

TYPED_TEST(CacheConformance, WeigherBoundsTotalWeight) {
  const std::size_t capacity = 1000;
  typename TestFixture::template cache_of<int, std::string> c{
      capacity, {.weigher = [](const int&, const std::string& v) { return v.size(); }}};
  std::mt19937 rng{7};
  for (int i = 0; i < 500; ++i) {
    c.put(i, std::string(1 + rng() % 40, 'x'));
    ASSERT_LE(c.weight(), capacity);
  }
  EXPECT_GT(c.size(), 10u);
  EXPECT_THROW(c.put(1, std::string()), scaling::invalid_argument);
  EXPECT_THROW(c.put(1, std::string(capacity + 1, 'x')), scaling::invalid_argument);
}

TYPED_TEST(CacheConformance, RejectsBadConfiguration) {
  using cache_type = typename TestFixture::template cache_of<int, int>;
  EXPECT_THROW(cache_type{0}, scaling::invalid_argument);
  EXPECT_THROW((cache_type{10, {.expire_after_write = std::chrono::seconds{0}}}),
               std::invalid_argument);
  EXPECT_THROW((cache_type{10, {.expire_after_access = std::chrono::seconds{-1}}}),
               std::invalid_argument);
  cache_type c{10};
  EXPECT_THROW(c.put(1, 1, std::chrono::seconds{0}), scaling::invalid_argument);
  try {
    cache_type bad{0};
    FAIL() << "capacity 0 must throw";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "capacity");
    EXPECT_NE(std::string(e.what()).find("(got 0)"), std::string::npos) << e.what();
  }
}

TEST(Cache, ShardedCapacityMustCoverTheSegments) {
  using sharded_cache = scaling::cache<int, int, scaling::lru, scaling::sharded<8>>;
  EXPECT_THROW(sharded_cache{7}, scaling::invalid_argument);
  sharded_cache c{8};
  EXPECT_EQ(c.capacity(), 8u);
}

TEST(Cache, LruEvictsTheLeastRecentlyUsed) {
  scaling::cache<int, int> c{3};
  c.put(1, 1);
  c.put(2, 2);
  c.put(3, 3);
  EXPECT_TRUE(c.get(1));  // 2 is now the least recently used
  c.put(4, 4);
  EXPECT_FALSE(c.contains(2));
  EXPECT_TRUE(c.contains(1));
  EXPECT_TRUE(c.contains(3));
  EXPECT_TRUE(c.contains(4));
}

TEST(Cache, ContainsDoesNotRefreshRecency) {
  scaling::cache<int, int> c{2};
  c.put(1, 1);
  c.put(2, 2);
  EXPECT_TRUE(c.contains(1));
  c.put(3, 3);
  EXPECT_FALSE(c.contains(1)) << "contains() is not a use";
  const auto s = c.stats();
  EXPECT_EQ(s.hits + s.misses, 0u);
}

TEST(Cache, ListenerMayCallTheCache) {
  scaling::cache<int, int, scaling::lru, scaling::mutex_locked>* self = nullptr;
  int seen = 0;
  scaling::cache<int, int, scaling::lru, scaling::mutex_locked> c{
      2, {.listener = [&](const int&, const int&, scaling::removal_cause) {
        seen += static_cast<int>(self->size());  // would deadlock if called under the lock
      }}};
  self = &c;
  c.put(1, 1);
  c.put(2, 2);
  c.put(3, 3);
  EXPECT_EQ(seen, 2);
}

}  // namespace
