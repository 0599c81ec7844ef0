// The conformance suite every eviction x concurrency combination of scaling::cache passes.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>
#include <scaling/core/clock.hpp>

#include "test_support.hpp"

namespace {

template <class E, class C>
struct combo {
  using eviction = E;
  using concurrency = C;
};

// Under AddressSanitizer the suite leaves out mutex_locked, which takes a third off that build's
// longest compilation: it is single_threaded's segment behind one lock, and the memory that
// ASan checks is the segment's. The other builds run all three.
#if defined(__SANITIZE_ADDRESS__)
template <class... E>
using with_all_concurrency =
    ::testing::Types<combo<E, scaling::single_threaded>..., combo<E, scaling::sharded<4>>...>;
#else
template <class... E>
using with_all_concurrency =
    ::testing::Types<combo<E, scaling::single_threaded>..., combo<E, scaling::mutex_locked>...,
                     combo<E, scaling::sharded<4>>...>;
#endif

using all_combos = with_all_concurrency<scaling::lru, scaling::lfu, scaling::fifo, scaling::clock,
                                        scaling::sieve, scaling::s3fifo, scaling::w_tinylfu,
                                        scaling::arc, scaling::lirs, scaling::adaptive>;

// Exception safety: a cache whose key or value is a scaling_test::tracked type, beside a twin
// that never sees a failure. Each operation is run with the first copy it makes throwing, then
// the second, and so on until it succeeds; after each throw the cache must be exactly as before
// (what can be observed without a read, and the live instance count), and once it succeeds the
// twin runs the operation too. The two must then agree on everything, through a further
// workload, which proves the failures left no trace in the policy state either.
template <class T>
T make(int v) {
  if constexpr (std::is_same_v<T, int>) {
    return v;
  } else {
    return T{v};
  }
}
template <class T>
int plain(const T& v) {
  if constexpr (std::is_same_v<T, int>) {
    return v;
  } else {
    return v.value;
  }
}

using heard_log = std::vector<std::tuple<int, int, scaling::removal_cause>>;

// What a failed operation must leave untouched: everything observable without a read (a read
// counts a hit or a miss), and what the listener heard.
struct observed {
  std::size_t size = 0;
  std::uint64_t weight = 0;
  scaling::cache_stats stats;
  std::vector<int> resident;  // the keys of [0, universe) that are present
  std::size_t heard = 0;
};

constexpr int universe = 128;

template <class Cache>
observed observe(const Cache& c, const heard_log& heard) {
  observed o{c.size(), c.weight(), c.stats(), {}, heard.size()};
  for (int k = 0; k < universe; ++k) {
    if (c.contains(make<typename Cache::key_type>(k))) o.resident.push_back(k);
  }
  return o;
}

void expect_same(const observed& a, const observed& b, const char* what) {
  EXPECT_EQ(a.size, b.size) << what;
  EXPECT_EQ(a.weight, b.weight) << what;
  EXPECT_EQ(a.stats.hits, b.stats.hits) << what;
  EXPECT_EQ(a.stats.misses, b.stats.misses) << what;
  EXPECT_EQ(a.stats.evictions, b.stats.evictions) << what;
  EXPECT_EQ(a.stats.expirations, b.stats.expirations) << what;
  EXPECT_EQ(a.stats.puts, b.stats.puts) << what;
  EXPECT_EQ(a.resident, b.resident) << what;
  EXPECT_EQ(a.heard, b.heard) << what;
}

// Tracked is the key or the value type of Cache (the other one is int).
template <class Cache, class Tracked>
void check_throwing_copies(bool with_listener) {
  using K = typename Cache::key_type;
  using V = typename Cache::mapped_type;
  constexpr bool tracked_value = std::is_same_v<V, Tracked>;
  constexpr std::size_t capacity = 8;
  ASSERT_EQ(Tracked::live.load(), 0);
  heard_log heard;
  heard_log twin_heard;
  const auto options = [&](heard_log& log) {
    typename Cache::options o;
    if (with_listener) {
      o.listener = [&log](const K& k, const V& v, scaling::removal_cause cause) {
        log.emplace_back(plain(k), plain(v), cause);
      };
    }
    return o;
  };
  {
    Cache c{capacity, options(heard)};
    Cache twin{capacity, options(twin_heard)};
    const K new_key = make<K>(100);
    const V new_value = make<V>(1000);
    const int held = 1;  // new_key or new_value, whichever is Tracked
    // Full, so that an insertion must evict (every segment of sharded<4> too).
    for (int k = 0; k < 32; ++k) {
      c.put(make<K>(k), make<V>(k));
      twin.put(make<K>(k), make<V>(k));
    }
    ASSERT_EQ(c.size(), capacity);
    if constexpr (tracked_value) {
      EXPECT_EQ(Tracked::live.load(), static_cast<int>(c.size() + twin.size()) + held);
    }
    const auto a_resident = [&](std::size_t i) {
      const auto r = observe(c, heard).resident;
      return make<K>(r.at(i % r.size()));
    };

    // Returns how many copies threw before op succeeded.
    const auto each_copy_throws = [&](const char* what, const auto& op) {
      int thrown = 0;
      for (;; ++thrown) {
        const observed before = observe(c, heard);
        const int live = Tracked::live.load();
        Tracked::throw_after(thrown);
        try {
          op(c);
          Tracked::never_throw();
          break;
        } catch (const std::runtime_error&) {
          Tracked::never_throw();
        }
        expect_same(observe(c, heard), before, what);
        EXPECT_EQ(Tracked::live.load(), live) << what << ": a leak or a double destroy";
        if constexpr (tracked_value) {
          EXPECT_EQ(Tracked::live.load(), static_cast<int>(c.size() + twin.size()) + held)
              << what << ": one value per entry";
        }
        if (thrown == 16) {
          ADD_FAILURE() << what << " never succeeds";
          break;
        }
      }
      op(twin);
      expect_same(observe(c, heard), observe(twin, twin_heard), what);
      EXPECT_EQ(heard, twin_heard) << what;
      return thrown;
    };

    EXPECT_GE(each_copy_throws("insert (copy)", [&](Cache& x) { x.put(new_key, new_value); }), 1);
    EXPECT_GE(each_copy_throws("replace (copy)",
                               [&, k = a_resident(1)](Cache& x) { x.put(k, new_value); }),
              tracked_value || with_listener ? 1 : 0);
    each_copy_throws("insert (move)", [&](Cache& x) { x.put(make<K>(101), make<V>(1001)); });
    each_copy_throws("replace (move)",
                     [&, k = a_resident(2)](Cache& x) { x.put(make<K>(plain(k)), make<V>(1002)); });
    if constexpr (tracked_value) {
      // A read whose copy out throws: the entry stays and nothing leaks; the lookup itself
      // happened, so it counts as the hit it was (the policy saw the use), and nothing else.
      const K k = a_resident(3);
      const observed before = observe(c, heard);
      const int live = Tracked::live.load();
      Tracked::throw_after(0);
      EXPECT_THROW((void)c.get(k), std::runtime_error);
      EXPECT_THROW(c.visit(k, [](const V& v) { [[maybe_unused]] const V copy = v; }),
                   std::runtime_error);
      Tracked::never_throw();
      observed after = observe(c, heard);
      EXPECT_EQ(after.stats.hits, before.stats.hits + 2);
      after.stats.hits = before.stats.hits;
      expect_same(after, before, "get/visit (copy out)");
      EXPECT_EQ(Tracked::live.load(), live);
      (void)twin.get(k);
      (void)twin.visit(k, [](const V&) {});
      expect_same(observe(c, heard), observe(twin, twin_heard), "get/visit (copy out)");
    }

    // The same workload on both: the same answers and the same end state.
    for (int i = 0; i < 400; ++i) {
      const int k = (i * 37) % universe;
      const auto a = c.get(make<K>(k));
      const auto b = twin.get(make<K>(k));
      ASSERT_EQ(a.has_value(), b.has_value()) << "key " << k << " at step " << i;
      if (a) {
        EXPECT_EQ(plain(*a), plain(*b)) << "key " << k;
      } else {
        c.put(make<K>(k), make<V>(k));
        twin.put(make<K>(k), make<V>(k));
      }
    }
    expect_same(observe(c, heard), observe(twin, twin_heard), "after the workload");
    EXPECT_EQ(heard, twin_heard);

    c.clear();
    twin.clear();
    EXPECT_EQ(Tracked::live.load(), held) << "clear() destroys every key and value it held";
    c.put(new_key, new_value);
  }
  EXPECT_EQ(Tracked::live.load(), 0) << "destruction destroys every key and value";
}

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

// Expiry is the same contract under every policy and lock: an expired entry is never
// returned, is counted as an expiration (not an eviction), and reaches the listener as expired.
TYPED_TEST(CacheConformance, ExpiredEntriesAreNeverReturnedAndReportedAsExpired) {
  using namespace std::chrono_literals;
  scaling::manual_clock clock;
  std::vector<std::pair<int, scaling::removal_cause>> removed;
  std::mutex m;
  typename TestFixture::template cache_of<int, int> c{
      64,
      {.expire_after_write = 10s,
       .clock = clock,
       .listener = [&](const int& k, const int&, scaling::removal_cause cause) {
         std::scoped_lock lock(m);
         removed.emplace_back(k, cause);
       }}};
  for (int k = 0; k < 8; ++k)
    c.put(k, k);
  c.put(100, 100, 30s);  // its own, longer TTL
  clock.advance(9s);
  for (int k = 0; k < 8; ++k)
    EXPECT_EQ(c.get(k).value_or(-1), k);
  clock.advance(1s);
  for (int k = 0; k < 8; ++k) {
    EXPECT_FALSE(c.get(k)) << k;
    EXPECT_FALSE(c.contains(k)) << k;
    EXPECT_FALSE(c.visit(k, [](const int&) {})) << k;
  }
  EXPECT_EQ(c.get(100).value_or(-1), 100) << "a per-entry TTL outlives the default";
  const auto stats = c.stats();
  EXPECT_EQ(stats.expirations, 8u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.hits, 9u);
  EXPECT_EQ(c.size(), 1u);
  std::scoped_lock lock(m);
  ASSERT_EQ(removed.size(), 8u);
  for (const auto& [key, cause] : removed) {
    EXPECT_LT(key, 8);
    EXPECT_EQ(cause, scaling::removal_cause::expired);
  }
}

// With both expiries set, an entry expires at the earlier of its write + expire_after_write
// and its last access + expire_after_access: reads slide the second deadline, never the first.
TYPED_TEST(CacheConformance, WriteAndAccessExpiryBothHold) {
  using namespace std::chrono_literals;
  scaling::manual_clock clock;
  typename TestFixture::template cache_of<int, int> c{
      64, {.expire_after_write = 10s, .expire_after_access = 4s, .clock = clock}};
  c.put(1, 1);  // read every 3 s: only the write deadline (10 s) can end it
  c.put(2, 2);  // never read: the access deadline (4 s) ends it
  for (int i = 1; i <= 3; ++i) {
    clock.advance(3s);
    EXPECT_EQ(c.get(1).value_or(-1), 1) << "at " << 3 * i << " s";
    if (i == 1) {
      EXPECT_TRUE(c.contains(2)) << "3 s after its write";
    }
  }
  EXPECT_FALSE(c.contains(2)) << "not read for 9 s, with expire_after_access = 4 s";
  const auto e = c.get_with_expiry(1);  // at 9 s: min(9 + 4, 0 + 10)
  ASSERT_TRUE(e);
  EXPECT_EQ(e->expires_at, std::optional<std::chrono::nanoseconds>{10s});
  clock.advance(1s);  // 10 s after the write, 1 s after the last read
  EXPECT_FALSE(c.get(1)) << "reads do not extend expire_after_write";
  EXPECT_FALSE(c.get(2));
  EXPECT_EQ(c.stats().expirations, 2u);
  c.put(1, 10);  // a write re-arms both
  clock.advance(3s);
  EXPECT_EQ(c.get(1).value_or(-1), 10);
  clock.advance(4s);
  EXPECT_FALSE(c.get(1)) << "4 s without a read";
}

// A replacing put builds the new value before it touches the old one, so a value whose copy
// assignment throws halfway is never left half-assigned (the strong guarantee).
TYPED_TEST(CacheConformance, AReplacingPutNeverLeavesAHalfAssignedValue) {
  using scaling_test::torn_on_assign;
  typename TestFixture::template cache_of<int, torn_on_assign> c{16};
  c.put(1, torn_on_assign{1, 1});
  const torn_on_assign next{2, 2};
  torn_on_assign::armed = true;
  bool threw = false;
  try {
    c.put(1, next);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  torn_on_assign::armed = false;
  const auto v = c.get(1);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->first, v->second) << "torn: " << v->first << ", " << v->second;
  EXPECT_EQ(v->first, threw ? 1 : 2);
  EXPECT_FALSE(threw) << "the replacement does not need the copy assignment";
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

TYPED_TEST(CacheConformance, ThrowingValueCopiesLeaveCacheUnchangedAndLeakNothing) {
  using scaling_test::tracked;
  using scaling_test::tracked_copy_only;
  using movable = typename TestFixture::template cache_of<int, tracked>;
  using copy_only = typename TestFixture::template cache_of<int, tracked_copy_only>;
  for (const bool with_listener : {false, true}) {
    SCOPED_TRACE(with_listener ? "with a listener" : "without a listener");
    check_throwing_copies<movable, tracked>(with_listener);
  }
  // Without a listener only: queueing the notification of an eviction copies a copy-only
  // entry, and a notification that cannot be queued is dropped (see
  // Cache.AListenerMissesARemovalWhoseNotificationCannotBeQueued).
  check_throwing_copies<copy_only, tracked_copy_only>(false);
}

TYPED_TEST(CacheConformance, ThrowingKeyCopiesLeaveCacheUnchangedAndLeakNothing) {
  using scaling_test::tracked;
  using scaling_test::tracked_copy_only;
  using movable = typename TestFixture::template cache_of<tracked, int>;
  using copy_only = typename TestFixture::template cache_of<tracked_copy_only, int>;
  for (const bool with_listener : {false, true}) {
    SCOPED_TRACE(with_listener ? "with a listener" : "without a listener");
    check_throwing_copies<movable, tracked>(with_listener);
  }
  // Without a listener only: queueing the notification of an eviction copies a copy-only
  // entry, and a notification that cannot be queued is dropped (see
  // Cache.AListenerMissesARemovalWhoseNotificationCannotBeQueued).
  check_throwing_copies<copy_only, tracked_copy_only>(false);
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

// Removals complete whatever happens; telling the listener is best effort. An entry without a
// move constructor must be copied into the notification queue, and when that copy throws the
// removal still happens (counted, destroyed, never returned) but the listener is not told.
TEST(Cache, AListenerMissesARemovalWhoseNotificationCannotBeQueued) {
  using scaling_test::tracked_copy_only;
  int heard = 0;
  {
    scaling::cache<int, tracked_copy_only> c{
        1, {.listener = [&](const int&, const tracked_copy_only&, scaling::removal_cause) {
          ++heard;
        }}};
    c.put(1, tracked_copy_only{1});
    const tracked_copy_only two{2};
    // The n-th copy of the put throws, for n = 0, 1, ...: the last copy the put makes is the
    // evicted entry's, into the queue, so the first n that succeeds is the one that drops it.
    int n = 0;
    for (;; ++n) {
      ASSERT_LT(n, 16);
      tracked_copy_only::throw_after(n);
      try {
        c.put(2, two);
        tracked_copy_only::never_throw();
        break;
      } catch (const std::runtime_error&) {
        tracked_copy_only::never_throw();
      }
      EXPECT_TRUE(c.contains(1)) << n;
      EXPECT_EQ(c.stats().evictions, 0u) << n;
      EXPECT_EQ(tracked_copy_only::live.load(), 2) << n;
    }
    EXPECT_GE(n, 1);
    EXPECT_EQ(heard, 0) << "the eviction's notification could not be queued";
    EXPECT_FALSE(c.contains(1));
    EXPECT_EQ(c.get(2).value_or(tracked_copy_only{0}).value, 2);
    EXPECT_EQ(c.stats().evictions, 1u) << "the eviction itself completed";
    EXPECT_EQ(tracked_copy_only::live.load(), 2) << "one entry and `two`: nothing leaked";
    c.put(3, two);
    EXPECT_EQ(heard, 1) << "the next eviction is told as usual";
  }
  EXPECT_EQ(tracked_copy_only::live.load(), 0);
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
