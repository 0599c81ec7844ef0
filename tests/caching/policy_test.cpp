// Algorithm-specific behaviour of each eviction policy.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <list>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/frequency_sketch.hpp>
#include <scaling/caching/replay.hpp>
#include <scaling/caching/trace.hpp>
#include <scaling/core/hash.hpp>

namespace {

TEST(Fifo, EvictsInInsertionOrderWhateverTheHits) {
  scaling::cache<int, int, scaling::fifo> c{3};
  for (int i = 1; i <= 3; ++i)
    c.put(i, i);
  EXPECT_TRUE(c.get(1));
  c.put(4, 4);
  EXPECT_FALSE(c.contains(1)) << "FIFO ignores the hit on 1";
  EXPECT_TRUE(c.contains(2));
}

// LRU against a list model on random reads, writes and erases over many more accesses than
// its access log holds, so compactions, stale records and slot reuse are all exercised.
TEST(Lru, MatchesAListModelOnRandomOperations) {
  constexpr std::size_t capacity = 37;
  scaling::cache<int, int, scaling::lru> c{capacity};
  std::list<int> model;  // most recent first
  const auto touch = [&](int k) {
    model.remove(k);
    model.push_front(k);
  };
  std::mt19937 rng{7};
  std::uniform_int_distribution<int> key(0, 60);
  std::uniform_int_distribution<int> op(0, 9);
  for (int step = 0; step < 200'000; ++step) {
    const int k = key(rng);
    const int o = op(rng);
    const bool present = std::find(model.begin(), model.end(), k) != model.end();
    if (o < 6) {
      ASSERT_EQ(c.get(k).has_value(), present) << "step " << step;
      if (present) touch(k);
    } else if (o < 9) {
      c.put(k, step);
      touch(k);
      if (model.size() > capacity) model.pop_back();
    } else {
      ASSERT_EQ(c.erase(k), present) << "step " << step;
      model.remove(k);
    }
    ASSERT_EQ(c.size(), model.size()) << "step " << step;
  }
  for (const int k : model)
    EXPECT_TRUE(c.contains(k)) << k;
  // One live record per resident entry in the access log.
  c.inspect_policy(
      [&](const scaling::lru::state& s) { EXPECT_EQ(s.order().size(), model.size()); });
  c.clear();
  EXPECT_EQ(c.size(), 0u);
  c.put(1, 1);
  c.put(2, 2);
  EXPECT_TRUE(c.get(1));
  for (int k = 3; k < static_cast<int>(capacity) + 1; ++k)  // full: keys 1 to 37
    c.put(k, k);
  c.put(100, 100);  // full: 2 is the least recently used
  EXPECT_FALSE(c.contains(2));
  EXPECT_TRUE(c.contains(1));
}

TEST(Clock, GivesReferencedEntriesASecondChance) {
  scaling::cache<int, int, scaling::clock> c{3};
  for (int i = 1; i <= 3; ++i)
    c.put(i, i);
  EXPECT_TRUE(c.get(1));
  c.put(4, 4);  // the hand clears 1's bit and evicts 2
  EXPECT_TRUE(c.contains(1));
  EXPECT_FALSE(c.contains(2));
  c.put(5, 5);  // 3 is next and unreferenced
  EXPECT_FALSE(c.contains(3));
  EXPECT_TRUE(c.contains(1));
}

TEST(Lfu, EvictsTheLeastFrequentThenTheLeastRecent) {
  scaling::cache<int, int, scaling::lfu> c{3};
  for (int i = 1; i <= 3; ++i)
    c.put(i, i);
  for (int n = 0; n < 3; ++n)
    EXPECT_TRUE(c.get(1));
  EXPECT_TRUE(c.get(2));
  // frequencies: 1 -> 4, 2 -> 2, 3 -> 1
  c.put(4, 4);
  EXPECT_FALSE(c.contains(3));
  EXPECT_TRUE(c.get(4));  // 4 -> 2, and more recent than 2
  c.put(5, 5);            // lowest bucket is now 2 = {4, 2}: its least recent, 2, goes
  EXPECT_FALSE(c.contains(2));
  EXPECT_TRUE(c.contains(1));
  EXPECT_TRUE(c.contains(4));
  EXPECT_TRUE(c.contains(5));
}

TEST(Sieve, HandClearsVisitedBitsAndStaysPut) {
  scaling::cache<int, int, scaling::sieve> c{4};
  for (int i = 1; i <= 4; ++i)
    c.put(i, i);  // queue (head..tail): 4 3 2 1
  EXPECT_TRUE(c.get(1));
  EXPECT_TRUE(c.get(2));
  c.put(5, 5);  // hand: 1 (visited, cleared) -> 2 (cleared) -> 3 evicted; hand stays at 4
  EXPECT_FALSE(c.contains(3));
  EXPECT_TRUE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
  c.put(6, 6);  // hand at 4: unvisited, evicted (1 and 2 are behind the hand now)
  EXPECT_FALSE(c.contains(4));
  EXPECT_TRUE(c.contains(1));
  c.put(7, 7);  // hand at 5 (newer than 4): unvisited, evicted
  EXPECT_FALSE(c.contains(5));
  c.put(8, 8);  // hand at 6: evicted; 1 and 2 survive because their bits were cleared but
                // the hand has not wrapped yet
  EXPECT_FALSE(c.contains(6));
  EXPECT_TRUE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
}

TEST(Sieve, NewEntriesAreNotTheirOwnVictims) {
  scaling::cache<int, int, scaling::sieve> c{2};
  c.put(1, 1);
  c.put(2, 2);
  EXPECT_TRUE(c.get(1));
  EXPECT_TRUE(c.get(2));
  c.put(3, 3);  // both visited: the hand clears both, wraps and evicts the oldest (1)
  EXPECT_TRUE(c.contains(3));
  EXPECT_FALSE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
}

TEST(S3Fifo, OneHitWondersNeverReachMain) {
  scaling::cache<int, int, scaling::s3fifo> c{100};
  // A hot set of 50 keys used twice each: they move to main on eviction from small.
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 50; ++k) {
      if (!c.get(k)) c.put(k, k);
    }
  }
  // A scan of 10'000 keys seen once.
  for (int k = 1000; k < 11'000; ++k) {
    if (!c.get(k)) c.put(k, k);
  }
  int survivors = 0;
  for (int k = 0; k < 50; ++k)
    survivors += c.contains(k) ? 1 : 0;
  EXPECT_EQ(survivors, 50) << "the scan passes through the small FIFO only";
}

TEST(S3Fifo, GhostHitGoesStraightToMain) {
  scaling::cache<int, int, scaling::s3fifo> c{10};  // small target = 1 entry
  for (int k = 1; k <= 10; ++k)
    c.put(k, k);  // all in small: nothing is a ghost yet
  c.put(11, 11);  // full: 1 leaves small unused and becomes a ghost
  EXPECT_FALSE(c.contains(1));
  c.put(1, 1);  // a ghost: straight into main
  for (int k = 100; k < 200; ++k)
    c.put(k, k);  // a scan through small
  EXPECT_TRUE(c.contains(1)) << "main is not touched by the scan";
}

template <class Policy>
double scan_hit_ratio() {
  // A working set of 200 hot keys (Zipf-ish: key k requested about 200/(k+1) times per round)
  // interleaved with a long scan of unique keys, in a cache of 400 entries.
  std::vector<std::uint64_t> keys;
  std::uint64_t scan = 1'000'000;
  for (int round = 0; round < 40; ++round) {
    for (std::uint64_t k = 0; k < 200; ++k) {
      for (std::uint64_t n = 0; n < 200 / (k + 1); ++n)
        keys.push_back(k);
      keys.push_back(scan++);
      keys.push_back(scan++);
      keys.push_back(scan++);
    }
  }
  return scaling::replay<Policy>(keys, 400).hit_ratio();
}

TEST(ScanResistance, FrequencyAwarePoliciesBeatLruUnderAScan) {
  const double lru = scan_hit_ratio<scaling::lru>();
  const double tiny = scan_hit_ratio<scaling::w_tinylfu>();
  const double s3 = scan_hit_ratio<scaling::s3fifo>();
  EXPECT_GT(tiny, lru + 0.05) << "w_tinylfu " << tiny << " vs lru " << lru;
  EXPECT_GT(s3, lru + 0.03) << "s3fifo " << s3 << " vs lru " << lru;
}

// ARC's Figure 4, step by step: hits promote T1 entries to T2; T1's oldest goes to the ghost
// list B1 while T1 exceeds its target p; a miss on a B1 ghost raises p and enters T2.
TEST(Arc, GhostHitInB1GrowsTheRecencyTarget) {
  scaling::cache<int, int, scaling::arc> c{4};
  for (int i = 1; i <= 4; ++i)
    c.put(i, i);
  EXPECT_TRUE(c.get(1));
  EXPECT_TRUE(c.get(2));  // T1 = {4, 3}, T2 = {2, 1}
  EXPECT_FALSE(c.get(5));
  c.put(5, 5);  // p = 0 < |T1|: T1's oldest (3) leaves for B1
  EXPECT_FALSE(c.contains(3));
  c.inspect_policy([](const scaling::arc::state& s) {
    EXPECT_EQ(s.b1_size(), 1u);
    EXPECT_EQ(s.target_t1(), 0.0);
  });
  EXPECT_FALSE(c.get(3));
  c.put(3, 3);  // a B1 ghost: p grows to 1, T1 = {5, 4} > p loses 4, and 3 enters T2
  EXPECT_FALSE(c.contains(4));
  for (const int k : {1, 2, 3, 5})
    EXPECT_TRUE(c.contains(k)) << k;
  c.inspect_policy([](const scaling::arc::state& s) {
    EXPECT_EQ(s.target_t1(), 1.0);
    EXPECT_EQ(s.t2_size(), 3u);
    EXPECT_EQ(s.t1_size(), 1u);
  });
}

TEST(Arc, KeepsTheFrequentSetThroughAScan) {
  scaling::cache<int, int, scaling::arc> c{100};
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 50; ++k) {
      if (!c.get(k)) c.put(k, k);
    }
  }
  for (int k = 1000; k < 1500; ++k) {  // a one-time scan of 500 keys
    if (!c.get(k)) c.put(k, k);
  }
  int kept = 0;
  for (int k = 0; k < 50; ++k)
    kept += c.contains(k) ? 1 : 0;
  EXPECT_EQ(kept, 50) << "the scan only cycles through T1";
}

// LIRS with 3 entries: 2 LIR, 1 HIR (Jiang & Zhang, Section 3). A key that returns while its
// non-resident record is still in the stack S becomes LIR and demotes the oldest LIR entry;
// the victim is always the oldest resident HIR entry, however recently it was used.
TEST(Lirs, ReturningKeyBecomesLirAndVictimsComeFromTheHirQueue) {
  scaling::cache<int, int, scaling::lirs> c{3};
  c.put(1, 1);
  c.put(2, 2);  // 1 and 2 are LIR (the cache is filling)
  c.put(3, 3);  // HIR, in S and in Q
  EXPECT_FALSE(c.get(4));
  c.put(4, 4);  // evicts 3 (Q's oldest), still in S as a non-resident key
  EXPECT_FALSE(c.contains(3));
  EXPECT_FALSE(c.get(3));
  c.put(3, 3);  // evicts 4; 3 returns as LIR and the oldest LIR entry (1) becomes HIR
  EXPECT_FALSE(c.contains(4));
  EXPECT_TRUE(c.get(1));  // 1 is HIR: the hit keeps it in Q
  c.put(5, 5);            // Q's oldest is 1, just used; LRU would have evicted 2
  EXPECT_FALSE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
  EXPECT_TRUE(c.contains(3));
  EXPECT_TRUE(c.contains(5));
}

TEST(Lirs, KeepsAFixedPartOfALoopLargerThanTheCache) {
  std::vector<std::uint64_t> keys;
  for (int round = 0; round < 20; ++round) {
    for (std::uint64_t k = 0; k < 150; ++k)
      keys.push_back(k);
  }
  EXPECT_EQ(scaling::replay<scaling::lru>(keys, 100).hits, 0u);
  EXPECT_EQ(scaling::replay<scaling::arc>(keys, 100).hits, 0u);
  // The 99 LIR entries stay; OPT would hit 99 or 100 of every 150.
  EXPECT_GT(scaling::replay<scaling::lirs>(keys, 100).hit_ratio(), 0.6);
}

}  // namespace

// A key whose hash counts its calls (std::hash: not default_hashable, so the cache's index and
// the policies both use it).
struct counted_key {
  int id = 0;
  friend bool operator==(const counted_key&, const counted_key&) = default;
};
inline int counted_key_hashes = 0;
template <>
struct std::hash<counted_key> {
  std::size_t operator()(const counted_key& k) const noexcept {
    ++counted_key_hashes;
    return std::hash<int>{}(k.id);
  }
};

namespace {

// W-TinyLFU's hit takes nothing from the key's hash (an entry keeps its hash from insertion, and
// its hits count in its own metadata until it leaves), so a hit hashes the key once, for the
// index; adaptive's simulations take the hash its entry kept from insertion, so the same holds.
TEST(WTinyLfu, AHitHashesTheKeyOnlyForTheIndex) {
  scaling::cache<counted_key, int, scaling::w_tinylfu> c{64};
  for (int i = 0; i < 32; ++i)
    c.put(counted_key{i}, i);
  counted_key_hashes = 0;
  for (int i = 0; i < 32; ++i)
    ASSERT_TRUE(c.get(counted_key{i}));
  EXPECT_EQ(counted_key_hashes, 32);
  scaling::cache<counted_key, int, scaling::adaptive> a{64};
  for (int i = 0; i < 32; ++i)
    a.put(counted_key{i}, i);
  counted_key_hashes = 0;
  for (int i = 0; i < 32; ++i)
    ASSERT_TRUE(a.get(counted_key{i}));
  EXPECT_EQ(counted_key_hashes, 32);
}

// adaptive samples its simulations on the keys whose mixed hash is a multiple of the sampling
// rate, tested with a multiply instead of a division: it must agree with % everywhere.
TEST(Adaptive, MultipleTestAgreesWithTheRemainder) {
  std::mt19937_64 rng{7};
  for (const std::uint64_t d : {1ULL, 2ULL, 3ULL, 4ULL, 6ULL, 7ULL, 8ULL, 12ULL, 96ULL, 1000ULL,
                                2048ULL, 4095ULL, 65536ULL, 1ULL << 40, ~0ULL}) {
    const scaling::detail::multiple_test multiple{d};
    for (int i = 0; i < 2000; ++i) {
      const std::uint64_t n = rng();
      ASSERT_EQ(multiple(n), n % d == 0) << n << " / " << d;
      const std::uint64_t m = (n / d) * d;  // a multiple, and its neighbours
      ASSERT_TRUE(multiple(m)) << m << " / " << d;
      if (d > 1) {
        ASSERT_FALSE(multiple(m + 1)) << m + 1 << " / " << d;
        ASSERT_EQ(multiple(m - 1), (m - 1) % d == 0) << m - 1 << " / " << d;
      }
    }
    ASSERT_TRUE(multiple(0));
  }
}

// LFU's hits wait in a read buffer and are applied in batches (every other call applies them
// first); W-TinyLFU's hits mark entries that its queues act on later. Erasing or evicting an
// entry with buffered hits or a mark, and reusing its slot, keeps the policy's lists
// consistent (the sanitizers and the size checks watch this).
TEST(WTinyLfu, BufferedHitsOnErasedAndEvictedEntriesAreSafe) {
  scaling::cache<int, int, scaling::w_tinylfu> tiny{50};
  scaling::cache<int, int, scaling::lfu> lfu{50};
  std::mt19937 rng{3};
  for (int step = 0; step < 20'000; ++step) {
    const int k = static_cast<int>(rng() % 120);
    switch (rng() % 4) {
      case 0:
        tiny.erase(k);
        lfu.erase(k);
        break;
      default:
        if (!tiny.get(k)) tiny.put(k, k);
        if (!lfu.get(k)) lfu.put(k, k);
    }
    ASSERT_LE(tiny.size(), 50u);
    ASSERT_LE(lfu.size(), 50u);
  }
  const auto s = tiny.stats();
  EXPECT_GT(s.hits, 0u);
  EXPECT_EQ(s.hits + s.misses, lfu.stats().hits + lfu.stats().misses);
}

TEST(WTinyLfu, SurvivesALoopLargerThanTheCache) {
  // The LIRS "loop" shape: 1000 keys cycled; a 500-entry LRU never hits, OPT ~50%.
  std::vector<std::uint64_t> keys;
  for (int round = 0; round < 30; ++round) {
    for (std::uint64_t k = 0; k < 1000; ++k)
      keys.push_back(k);
  }
  const auto lru = scaling::replay<scaling::lru>(keys, 500);
  const auto tiny = scaling::replay<scaling::w_tinylfu>(keys, 500);
  const auto opt = scaling::belady_hits(keys, 500);
  EXPECT_EQ(lru.hits, 0u);
  EXPECT_GT(tiny.hit_ratio(), 0.4);
  EXPECT_LE(tiny.hits, opt);
}

TEST(WTinyLfu, KeepsMostOfOptOnTheSharedScanTrace) {
  const std::string path = SCALING_SOURCE_DIR "/data/traces/lirs/scan.trace";
  std::ifstream probe(path);
  if (!probe) FAIL() << "trace missing from the repository: " << path;
  const auto keys = scaling::read_trace(path, scaling::trace_format::lirs);
  const double opt = static_cast<double>(scaling::belady_hits(keys, 1000));
  EXPECT_EQ(scaling::replay<scaling::lru>(keys, 1000).hits, 0u);
  EXPECT_GT(static_cast<double>(scaling::replay<scaling::w_tinylfu>(keys, 1000).hits), 0.9 * opt);
}

// A hit on a probation entry only marks it; when probation's eviction reaches it, it is
// promoted to protected instead of being chosen as the victim.
TEST(WTinyLfu, AMarkedProbationEntryIsPromotedNotEvicted) {
  using region = scaling::w_tinylfu::state::region;
  scaling::w_tinylfu::state st{100};  // window 1, protected up to 79
  st.reserve(100);
  for (scaling::detail::slot_index s = 0; s < 100; ++s)
    st.on_insert(s, scaling::mix64(s + 1), 1);
  // The window holds 99; its overflow went to probation in order, so 0 is probation's oldest.
  ASSERT_EQ(st.region_of(99), region::window);
  ASSERT_EQ(st.region_of(0), region::probation);
  st.on_hit(0, 0);
  EXPECT_EQ(st.region_of(0), region::probation) << "a hit moves nothing";
  EXPECT_TRUE(st.referenced(0));
  for (int i = 0; i < 3; ++i)
    st.on_hit(99, 0);  // the window's candidate now beats any probation entry seen once
  const scaling::detail::slot_index victim = st.evict(1);
  EXPECT_EQ(victim, 1u) << "probation's oldest unmarked entry";
  EXPECT_EQ(st.region_of(0), region::protected_);
  EXPECT_FALSE(st.referenced(0));
  EXPECT_EQ(st.region_of(99), region::probation) << "the candidate was admitted";
}

// Protected is a second-chance queue: when promotions push it over its share, its oldest
// entry goes back to its front if a hit marked it, and the next unmarked one is demoted.
TEST(WTinyLfu, AMarkedProtectedEntryIsNotDemoted) {
  using region = scaling::w_tinylfu::state::region;
  scaling::w_tinylfu::state st{11};  // window 1, protected up to 8
  st.reserve(12);
  for (scaling::detail::slot_index s = 0; s < 11; ++s)
    st.on_insert(s, scaling::mix64(s + 1), 1);
  // Probation holds 0..9 (0 oldest): mark 0..7 and evict, which promotes them in order and
  // fills protected (0 its oldest); 8 is main's victim, and the window's candidate (10), seen
  // as often, loses the duel.
  for (scaling::detail::slot_index s = 0; s < 8; ++s)
    st.on_hit(s, 0);
  ASSERT_EQ(st.evict(1), 10u);
  for (scaling::detail::slot_index s = 0; s < 8; ++s)
    ASSERT_EQ(st.region_of(s), region::protected_) << s;
  ASSERT_EQ(st.region_of(8), region::probation);
  st.on_insert(10, scaling::mix64(100), 1);
  // Mark protected's oldest (0) and probation's oldest (8): the next eviction promotes 8, and
  // protected overflows by one.
  st.on_hit(0, 0);
  st.on_hit(8, 0);
  (void)st.evict(1);
  EXPECT_EQ(st.region_of(8), region::protected_);
  EXPECT_EQ(st.region_of(0), region::protected_) << "marked: a second chance";
  EXPECT_FALSE(st.referenced(0));
  EXPECT_EQ(st.region_of(1), region::probation) << "the oldest unmarked entry is demoted";
}

// Keys read over and over stay resident while a long scan of keys seen once passes: the
// scan's keys lose their duels, and the hits keep the working set promoted and protected.
TEST(WTinyLfu, AScanDoesNotFlushTheProtectedEntries) {
  scaling::cache<int, int, scaling::w_tinylfu> c{200};
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < 150; ++k) {
      if (!c.get(k)) c.put(k, k);
    }
  }
  for (int k = 1000; k < 21'000; ++k) {
    if (!c.get(k)) c.put(k, k);
    if (k % 100 == 0) {
      for (int hot = 0; hot < 150; hot += 7)
        ASSERT_TRUE(c.get(hot)) << hot << " after scan key " << k;
    }
  }
  EXPECT_EQ(c.size(), 200u);
}

// The per-entry counts are halved with the sketch: an entry hit many times looks no more
// frequent than a key the sketch saw as often, once both have aged.
TEST(WTinyLfu, EntryCountsAgeWithTheSketch) {
  scaling::w_tinylfu::state st{64};
  st.reserve(64);
  st.on_insert(0, scaling::mix64(1), 1);
  for (int i = 0; i < 14; ++i)
    st.on_hit(0, 0);
  // 10 x 64 counted accesses bring the halving; misses of other keys supply them.
  for (std::uint64_t k = 0; k < 2000; ++k)
    st.on_miss(scaling::mix64(1'000'000 + k));
  EXPECT_LE(st.estimate_of(0), 4u) << "15 halved at least twice";
  EXPECT_GE(st.estimate_of(0), 1u);
}

TEST(WTinyLfu, HillClimberMovesTheWindow) {
  // Pure recency (each key reused once, shortly after): a bigger window helps, so the climber
  // must leave the initial 1% at some point.
  scaling::cache<std::uint64_t, int, scaling::w_tinylfu> c{1000};
  std::uint64_t initial = 0;
  c.inspect_policy([&](const scaling::w_tinylfu::state& s) { initial = s.window_capacity(); });
  EXPECT_EQ(initial, 10u);
  std::uint64_t next = 0;
  for (int i = 0; i < 30'000; ++i) {
    const std::uint64_t key = (i % 2 == 0) ? next++ : next - 1 - static_cast<std::uint64_t>(i % 7);
    if (!c.get(key)) c.put(key, 0);
  }
  std::uint64_t after = 0;
  c.inspect_policy([&](const scaling::w_tinylfu::state& s) { after = s.window_capacity(); });
  EXPECT_NE(after, initial);
}

TEST(Adaptive, FollowsLruOnRecencyAndWTinyLfuOnLoops) {
  // A loop larger than the cache: W-TinyLFU keeps part of it, LRU nothing.
  std::vector<std::uint64_t> loop;
  for (int round = 0; round < 30; ++round) {
    for (std::uint64_t k = 0; k < 1000; ++k)
      loop.push_back(k);
  }
  const auto tiny = scaling::replay<scaling::w_tinylfu>(loop, 500).hit_ratio();
  EXPECT_GT(scaling::replay<scaling::adaptive>(loop, 500).hit_ratio(), tiny - 0.05);
  // Re-reading the most recent keys, backwards, with a drifting window: LRU is optimal here and
  // TinyLFU's admission filter turns newcomers away.
  std::vector<std::uint64_t> zigzag;
  for (std::uint64_t start = 0; start < 40'000; start += 200) {
    for (std::uint64_t k = 0; k < 400; ++k)
      zigzag.push_back(start + k);
    for (std::uint64_t k = 400; k-- > 0;)
      zigzag.push_back(start + k);
  }
  const auto lru = scaling::replay<scaling::lru>(zigzag, 500).hit_ratio();
  EXPECT_GT(scaling::replay<scaling::adaptive>(zigzag, 500).hit_ratio(), lru - 0.02);
}

// A switch hands the residents to the new leader in the old leader's eviction order, coldest
// first. Every candidate, given the residents in LRU order and no access, evicts them in that
// order, so a round trip through all four must give back exactly the LRU order.
TEST(Adaptive, ASwitchKeepsTheOldLeadersEvictionOrder) {
  using candidate = scaling::adaptive::state::candidate;
  constexpr std::uint32_t n = 100;
  scaling::adaptive::state state{n};
  state.reserve(n);
  for (std::uint32_t s = 0; s < n; ++s)
    state.on_insert(s, scaling::mix64(s + 1), 1);
  state.follow(candidate::lru);
  std::vector<std::uint32_t> recency(n);
  for (std::uint32_t s = 0; s < n; ++s)
    recency[s] = s;
  std::mt19937 rng{11};
  std::shuffle(recency.begin(), recency.end(), rng);
  for (const std::uint32_t s : recency)
    state.on_hit(s, 0);
  for (const candidate c :
       {candidate::s3fifo, candidate::w_tinylfu, candidate::lirs, candidate::lru}) {
    state.follow(c);
    ASSERT_EQ(state.leader(), c);
  }
  EXPECT_EQ(state.switches(), 5u);
  for (const std::uint32_t s : recency)
    ASSERT_EQ(state.evict(1), s);
}

// Recency-driven traffic hands the lead to LRU; from then on the cache keeps the most recently
// used residents, as LRU would from the order it was handed.
TEST(Adaptive, AfterASwitchToLruTheMostRecentResidentsStay) {
  using candidate = scaling::adaptive::state::candidate;
  constexpr std::uint64_t capacity = 500;
  scaling::cache<std::uint64_t, int, scaling::adaptive> c{capacity};
  std::uint64_t end = 0;
  for (std::uint64_t start = 0; start < 40'000; start += 200) {
    for (std::uint64_t k = 0; k < 400; ++k)
      if (!c.get(start + k)) c.put(start + k, 0);
    for (std::uint64_t k = 400; k-- > 0;)
      if (!c.get(start + k)) c.put(start + k, 0);
    end = start + 400;
  }
  candidate leader = candidate::w_tinylfu;
  std::uint64_t switches = 0;
  c.inspect_policy([&](const scaling::adaptive::state& s) {
    leader = s.leader();
    switches = s.switches();
  });
  ASSERT_EQ(leader, candidate::lru);
  ASSERT_GE(switches, 1u);
  ASSERT_EQ(c.size(), capacity);
  // The last sweep went down from end - 1 to end - 400, so the most recent 200 keys, by LRU,
  // are end - 200 .. end - 400 (the last ones read). Put 300 new keys: 300 leave, and they must
  // be the least recently used.
  for (std::uint64_t k = 0; k < 300; ++k)
    c.put(1'000'000 + k, 0);
  for (std::uint64_t k = end - 400; k < end - 200; ++k)
    EXPECT_TRUE(c.contains(k)) << k;
  for (std::uint64_t k = end - 200; k < end; ++k)
    EXPECT_FALSE(c.contains(k)) << k;
}

// Switches, forced and organic, between evictions, hits, misses and removals: the leader always
// holds exactly the resident entries (every victim is resident, none comes back twice, and
// draining it at the end gives each resident once).
TEST(Adaptive, SwitchesNeitherLoseNorDuplicateResidents) {
  using candidate = scaling::adaptive::state::candidate;
  constexpr std::uint32_t capacity = 64;
  scaling::adaptive::state state{capacity};
  state.reserve(capacity);
  std::vector<std::int64_t> key_of(capacity, -1);  // per slot: its key, -1 when free
  std::vector<std::uint32_t> free_slots;
  for (std::uint32_t s = capacity; s-- > 0;)
    free_slots.push_back(s);
  const auto find = [&](std::int64_t key) {
    return std::find(key_of.begin(), key_of.end(), key) - key_of.begin();
  };
  std::mt19937 rng{5};
  const candidate order[] = {candidate::lru, candidate::s3fifo, candidate::w_tinylfu,
                             candidate::lirs};
  for (int step = 0; step < 60'000; ++step) {
    if (step % 997 == 0) state.follow(order[rng() % 4]);
    // Phases of loops over 100 keys (LIRS, W-TinyLFU ahead) and of recent keys re-read (LRU).
    const bool loop_phase = (step / 10'000) % 2 == 0;
    const std::int64_t key =
        loop_phase ? static_cast<std::int64_t>(step % 100)
                   : static_cast<std::int64_t>(step / 4) - static_cast<std::int64_t>(rng() % 8);
    const std::uint64_t hash = scaling::mix64(static_cast<std::uint64_t>(key) + 7);
    const auto at = find(key);
    if (at != static_cast<std::ptrdiff_t>(capacity)) {
      if (rng() % 50 == 0) {
        state.on_remove(static_cast<std::uint32_t>(at));
        key_of[static_cast<std::size_t>(at)] = -1;
        free_slots.push_back(static_cast<std::uint32_t>(at));
      } else {
        state.on_hit(static_cast<std::uint32_t>(at), 0);
      }
      continue;
    }
    state.on_miss(hash);
    if (free_slots.empty()) {
      const std::uint32_t victim = state.evict(1);
      ASSERT_LT(victim, capacity);
      ASSERT_NE(key_of[victim], -1) << "evicted a slot that holds nothing, step " << step;
      key_of[victim] = -1;
      free_slots.push_back(victim);
    }
    const std::uint32_t s = free_slots.back();
    free_slots.pop_back();
    key_of[s] = key;
    state.on_insert(s, hash, 1);
  }
  EXPECT_GE(state.switches(), 60u);
  std::vector<bool> seen(capacity, false);
  const std::size_t residents = capacity - free_slots.size();
  for (std::size_t i = 0; i < residents; ++i) {
    const std::uint32_t victim = state.evict(1);
    ASSERT_LT(victim, capacity);
    ASSERT_NE(key_of[victim], -1);
    ASSERT_FALSE(seen[victim]) << "slot " << victim << " evicted twice";
    seen[victim] = true;
  }
}

// Through the cache, with weights: phases that move the lead keep the segment within its
// capacity and its entries readable.
TEST(Adaptive, SwitchesKeepTheCapacity) {
  constexpr std::uint64_t capacity = 300;
  scaling::cache<std::uint64_t, std::uint32_t, scaling::adaptive> c{
      capacity, {.weigher = [](const std::uint64_t&, const std::uint32_t& w) { return w; }}};
  std::mt19937 rng{9};
  for (int step = 0; step < 80'000; ++step) {
    const bool loop_phase = (step / 16'000) % 2 == 0;
    const std::uint64_t key = loop_phase ? static_cast<std::uint64_t>(step % 400)
                                         : static_cast<std::uint64_t>(step / 4) - rng() % 8;
    if (!c.get(key)) c.put(key, static_cast<std::uint32_t>(1 + key % 3));
    ASSERT_LE(c.weight(), capacity);
  }
  std::uint64_t switches = 0;
  c.inspect_policy([&](const scaling::adaptive::state& s) { switches = s.switches(); });
  EXPECT_GE(switches, 2u);
}

// A sharded cache's segments share one leader: segment 0 simulates (its keys are a hash sample
// of the whole cache's) and the others follow its choice at their next eviction.
TEST(Adaptive, ShardedSegmentsFollowTheFirstSegmentsLeader) {
  using candidate = scaling::adaptive::state::candidate;
  scaling::cache<std::uint64_t, int, scaling::adaptive, scaling::sharded<4>> c{400};
  // Phases that move the lead: a loop over twice the capacity (W-TinyLFU or LIRS keep part of
  // it, LRU nothing), then sweeps back and forth (LRU optimal).
  for (int phase = 0; phase < 4; ++phase) {
    for (int round = 0; round < 40; ++round) {
      for (std::uint64_t k = 0; k < 800; ++k) {
        const std::uint64_t key = phase % 2 == 0 ? k : (round % 2 == 0 ? k : 799 - k) / 2;
        if (!c.get(key + 1'000'000 * static_cast<std::uint64_t>(phase))) {
          c.put(key + 1'000'000 * static_cast<std::uint64_t>(phase), 1);
        }
      }
    }
  }
  // New keys only: every simulation misses alike (the lead stays), and every segment evicts.
  for (std::uint64_t k = 0; k < 2000; ++k)
    c.put(k + 10'000'000, 1);

  std::vector<candidate> leaders;
  std::vector<bool> simulating;
  std::vector<std::uint64_t> switches;
  c.inspect_policy([&](const scaling::adaptive::state& s) {
    leaders.push_back(s.leader());
    simulating.push_back(s.simulates());
    switches.push_back(s.switches());
  });
  ASSERT_EQ(leaders.size(), 4u);
  EXPECT_TRUE(simulating[0]);
  EXPECT_GE(switches[0], 1u) << "the phases must move segment 0's lead for this test to count";
  for (std::size_t i = 1; i < leaders.size(); ++i) {
    EXPECT_FALSE(simulating[i]) << "segment " << i;
    EXPECT_EQ(leaders[i], leaders[0]) << "segment " << i;
  }
}

// One segment (single_threaded, mutex_locked) simulates by itself.
TEST(Adaptive, AnUnshardedCacheSimulates) {
  scaling::cache<std::uint64_t, int, scaling::adaptive, scaling::mutex_locked> c{100};
  bool simulates = false;
  c.inspect_policy([&](const scaling::adaptive::state& s) { simulates = s.simulates(); });
  EXPECT_TRUE(simulates);
}

TEST(FrequencySketch, CountsSaturatesAndAges) {
  scaling::frequency_sketch sketch{64};
  const std::uint64_t key = 12345;
  EXPECT_EQ(sketch.frequency(key), 0u);
  for (int i = 0; i < 5; ++i)
    sketch.increment(key);
  EXPECT_EQ(sketch.frequency(key), 5u);
  for (int i = 0; i < 20; ++i)
    sketch.increment(key);
  EXPECT_EQ(sketch.frequency(key), 15u) << "4-bit counters saturate at 15";
  // Drive other keys until the sample size is reached: every counter halves.
  for (std::uint64_t k = 1; k < sketch.sample_size(); ++k)
    sketch.increment(k * 7919);
  EXPECT_LE(sketch.frequency(key), 7u);
  EXPECT_GE(sketch.frequency(key), 3u);
}

}  // namespace
