#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/core/error.hpp>
#include <scaling/feed/feed_service.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::feed_entry;
using scaling::feed_options;

// What every policy must answer once fan-out drained: the newest min(limit, length) live
// posts of the user's current followees, by time then id, newest first.
struct reference_feed {
  bool follow(std::uint64_t f, std::uint64_t a) { return followees_[f].insert(a).second; }
  bool unfollow(std::uint64_t f, std::uint64_t a) { return followees_[f].erase(a) != 0; }
  bool post(std::uint64_t a, std::uint64_t id, std::int64_t t) {
    if (!used_.insert(id).second) return false;
    posts_[a][id] = t;
    return true;
  }
  bool remove(std::uint64_t a, std::uint64_t id) { return posts_[a].erase(id) != 0; }
  [[nodiscard]] std::vector<feed_entry> timeline(std::uint64_t u, std::size_t limit,
                                                 std::size_t length) const {
    std::vector<feed_entry> all;
    auto f = followees_.find(u);
    if (f != followees_.end()) {
      for (auto a : f->second) {
        auto p = posts_.find(a);
        if (p == posts_.end()) continue;
        for (auto [id, t] : p->second)
          all.push_back({t, id, a});
      }
    }
    std::sort(all.begin(), all.end(), [](auto& x, auto& y) { return scaling::older(y, x); });
    all.resize(std::min({all.size(), limit, length}));
    return all;
  }

  // Takes another reference's edges and posts (their followers and authors are disjoint).
  void absorb(const reference_feed& o) {
    for (const auto& [f, s] : o.followees_)
      followees_[f].insert(s.begin(), s.end());
    for (const auto& [a, p] : o.posts_)
      posts_[a].insert(p.begin(), p.end());
  }

  std::map<std::uint64_t, std::set<std::uint64_t>> followees_;
  std::map<std::uint64_t, std::map<std::uint64_t, std::int64_t>> posts_;
  std::set<std::uint64_t> used_;
};

template <class Policy>
using manual_feed = scaling::feed_service<Policy, scaling::manual_clock>;

template <class Policy>
class FeedServiceTest : public ::testing::Test {};
using Policies = ::testing::Types<scaling::fan_out_on_read, scaling::fan_out_on_write,
                                  scaling::hybrid_fan_out, scaling::per_pair_fan_out>;
TYPED_TEST_SUITE(FeedServiceTest, Policies);

feed_options manual(std::size_t length = 800) {
  return {.timeline_length = length, .fan_out_workers = 0, .celebrity_threshold = 3};
}

std::vector<std::uint64_t> ids(const std::vector<feed_entry>& t) {
  std::vector<std::uint64_t> out;
  for (const auto& e : t)
    out.push_back(e.post);
  return out;
}

TYPED_TEST(FeedServiceTest, NewestFirstByTimeThenIdAcrossFollowees) {
  manual_feed<TypeParam> feed{manual()};
  ASSERT_TRUE(feed.follow(1, 2));
  ASSERT_TRUE(feed.follow(1, 3));
  ASSERT_TRUE(feed.post(2, 10, 100));
  ASSERT_TRUE(feed.post(3, 11, 300));
  ASSERT_TRUE(feed.post(2, 12, 200));
  ASSERT_TRUE(feed.post(3, 9, 200));   // same time as 12: the larger id first
  ASSERT_TRUE(feed.post(4, 13, 400));  // not followed
  (void)feed.run_fan_out();
  EXPECT_EQ(ids(feed.timeline(1, 10)), (std::vector<std::uint64_t>{11, 12, 9, 10}));
  EXPECT_EQ(ids(feed.timeline(1, 2)), (std::vector<std::uint64_t>{11, 12}));
}

TYPED_TEST(FeedServiceTest, BadInputHasDocumentedAnswers) {
  manual_feed<TypeParam> feed{manual(4)};
  EXPECT_THROW((void)feed.follow(7, 7), scaling::invalid_argument);
  EXPECT_TRUE(feed.follow(1, 2));
  EXPECT_FALSE(feed.follow(1, 2));    // the edge exists
  EXPECT_FALSE(feed.unfollow(1, 5));  // no such edge
  EXPECT_FALSE(feed.unfollow(9, 2));  // unknown user
  EXPECT_TRUE(feed.post(2, 1, 50));
  EXPECT_FALSE(feed.post(2, 1, 60));  // duplicate id
  EXPECT_FALSE(feed.post(3, 1, 70));  // duplicate id, other author
  EXPECT_TRUE(feed.post(2, 2, 10));   // time going backwards: takes its place by time
  EXPECT_FALSE(feed.remove(3, 1));    // another author's post
  EXPECT_FALSE(feed.remove(2, 99));   // unknown post
  (void)feed.run_fan_out();
  EXPECT_TRUE(feed.timeline(1, 0).empty());    // limit 0
  EXPECT_TRUE(feed.timeline(42, 10).empty());  // unknown user
  EXPECT_EQ(ids(feed.timeline(1, 10)), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(feed.remove(2, 1));
  EXPECT_FALSE(feed.remove(2, 1));    // already removed
  EXPECT_FALSE(feed.post(2, 1, 80));  // ids are never reused
  for (std::uint64_t id = 3; id < 10; ++id)
    ASSERT_TRUE(feed.post(2, id, static_cast<std::int64_t>(100 + id)));
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.timeline(1, 100).size(), 4U);  // limit above timeline_length
  const auto s = feed.stats();
  EXPECT_EQ(s.duplicate_posts, 3U);
  EXPECT_EQ(s.removals, 1U);
}

TYPED_TEST(FeedServiceTest, BadOptionsThrow) {
  EXPECT_THROW(manual_feed<TypeParam>({.timeline_length = 0}), scaling::invalid_argument);
  EXPECT_THROW(manual_feed<TypeParam>({.fan_out_batch = 0}), scaling::invalid_argument);
  EXPECT_THROW(manual_feed<TypeParam>({.timeline_memory = 1000}), scaling::invalid_argument);
  EXPECT_THROW(manual_feed<TypeParam>({.cost_ratio = -1.0}), scaling::invalid_argument);
  EXPECT_THROW(manual_feed<TypeParam>({.rate_half_life = 0s}), scaling::invalid_argument);
  EXPECT_THROW(manual_feed<TypeParam>({.switch_margin = 1.0}), scaling::invalid_argument);
}

TYPED_TEST(FeedServiceTest, UnfollowAndRemoveLeaveEveryTimeline) {
  manual_feed<TypeParam> feed{manual()};
  for (std::uint64_t f = 10; f < 15; ++f) {
    ASSERT_TRUE(feed.follow(f, 1));
    ASSERT_TRUE(feed.follow(f, 2));
    (void)feed.timeline(f, 10);  // materialise
  }
  ASSERT_TRUE(feed.post(1, 100, 1));
  ASSERT_TRUE(feed.post(2, 200, 2));
  (void)feed.run_fan_out();
  EXPECT_EQ(ids(feed.timeline(10, 10)), (std::vector<std::uint64_t>{200, 100}));
  ASSERT_TRUE(feed.unfollow(10, 2));
  EXPECT_EQ(ids(feed.timeline(10, 10)), (std::vector<std::uint64_t>{100}));
  ASSERT_TRUE(feed.remove(1, 100));
  (void)feed.run_fan_out();
  for (std::uint64_t f = 10; f < 15; ++f) {
    for (const auto& e : feed.timeline(f, 10))
      EXPECT_NE(e.post, 100U);
  }
  ASSERT_TRUE(feed.follow(10, 2));  // followed again: the old posts come back
  EXPECT_EQ(ids(feed.timeline(10, 10)), (std::vector<std::uint64_t>{200}));
}

// The equivalence property: random graphs with celebrities, random operation orders, fan-out
// run at random points; once drained, every policy answers as the reference.
template <class Policy>
struct equivalence_run {
  scaling::manual_clock clock;
  manual_feed<Policy> feed;
  explicit equivalence_run(const feed_options& o) : feed(o, clock) {}
};

void check_equivalence(std::uint32_t seed) {
  constexpr std::size_t length = 12;
  constexpr std::uint64_t users = 40;
  // Memory for 32 timelines (2 per segment): reads evict and rebuild.
  const feed_options o{.timeline_length = length,
                       .fan_out_batch = 3,
                       .fan_out_workers = 0,
                       .timeline_memory = 32 * (length * 24 + 256),
                       .celebrity_threshold = 8,
                       .rate_half_life = 10s};
  equivalence_run<scaling::fan_out_on_read> v1{o};
  equivalence_run<scaling::fan_out_on_write> v2{o};
  equivalence_run<scaling::hybrid_fan_out> v3{o};
  equivalence_run<scaling::per_pair_fan_out> pp{o};
  reference_feed ref;
  std::mt19937_64 rng{seed};
  auto pick = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>{0, n - 1}(rng);
  };
  auto every = [&](auto&& f) {
    f(v1);
    f(v2);
    f(v3);
    f(pp);
  };
  // Celebrities 0..2 get most follows, so they cross the hybrid threshold both ways.
  auto followee = [&] { return pick(3) == 0 ? pick(users) : pick(3); };
  std::uint64_t next_post = 1;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> made;
  for (int step = 0; step < 1500; ++step) {
    const auto op = pick(100);
    if (op < 25) {
      const auto f = pick(users);
      const auto a = followee();
      if (f == a) continue;
      const bool want = ref.follow(f, a);
      every([&](auto& r) { EXPECT_EQ(r.feed.follow(f, a), want); });
    } else if (op < 35) {
      const auto f = pick(users);
      const auto a = followee();
      const bool want = ref.unfollow(f, a);
      every([&](auto& r) { EXPECT_EQ(r.feed.unfollow(f, a), want); });
    } else if (op < 65) {
      const auto a = pick(5) == 0 ? pick(users) : pick(6);
      // Mostly forward in time, sometimes backwards; now and then a reused id.
      const std::int64_t t =
          static_cast<std::int64_t>(step) * 10 - static_cast<std::int64_t>(pick(40));
      const std::uint64_t id =
          pick(20) == 0 && next_post > 1 ? 1 + pick(next_post - 1) : next_post++;
      const bool want = ref.post(a, id, t);
      if (want) made.emplace_back(a, id);
      every([&](auto& r) { EXPECT_EQ(r.feed.post(a, id, t), want); });
    } else if (op < 72 && !made.empty()) {
      const auto made_post = made[pick(made.size())];
      const auto a = made_post.first;
      const auto id = made_post.second;
      const bool want = ref.remove(a, id);
      every([&](auto& r) { EXPECT_EQ(r.feed.remove(a, id), want); });
    } else if (op < 95) {
      const auto u = pick(users);
      const std::size_t limit = 1 + pick(length + 2);
      every([&](auto& r) { (void)r.feed.timeline(u, limit); });
    } else {
      // Some of the queued fan-out, then time moves on (the per-pair rates decay).
      const std::size_t n = pick(6);
      every([&](auto& r) {
        (void)r.feed.run_fan_out(n);
        r.clock.advance(std::chrono::milliseconds{pick(5000)});
      });
    }
    if (step % 300 == 299 || step == 1499) {
      every([&](auto& r) {
        (void)r.feed.run_fan_out();
        EXPECT_EQ(r.feed.stats().pending_writes, 0U);
      });
      for (std::uint64_t u = 0; u < users; ++u) {
        for (const std::size_t limit : {std::size_t{1}, std::size_t{5}, length, length + 3}) {
          const auto want = ref.timeline(u, limit, length);
          every([&](auto& r) {
            ASSERT_EQ(r.feed.timeline(u, limit), want)
                << "seed " << seed << " step " << step << " user " << u << " limit " << limit
                << " policy "
                << static_cast<int>(std::remove_cvref_t<decltype(r.feed)>::policy_type::kind);
          });
        }
      }
    }
  }
}

TEST(FeedServiceEquivalence, EveryPolicyAnswersAsTheReferenceOnceDrained) {
  // 81 and 103 found the two cases below; they stay as regressions.
  for (std::uint32_t seed : {1U, 2U, 3U, 4U, 5U, 6U, 7U, 8U, 9U, 10U, 11U, 12U, 81U, 103U}) {
    check_equivalence(seed);
    if (HasFatalFailure()) return;
  }
}

// The same property with fan-out workers running concurrently with the operations (run it
// under TSan). Each thread owns its followers and its authors, so the final state is known.
template <class Policy>
void check_concurrent(std::uint32_t seed) {
  constexpr std::size_t length = 16;
  scaling::feed_service<Policy> feed{{.timeline_length = length,
                                      .fan_out_batch = 4,
                                      .fan_out_workers = 3,
                                      .celebrity_threshold = 6,
                                      .rate_half_life = 1ms}};
  constexpr int threads = 3;
  constexpr std::uint64_t per_thread = 12;
  constexpr std::uint64_t all = threads * per_thread;
  std::vector<reference_feed> refs(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng{seed * 31U + static_cast<unsigned>(t)};
      auto pick = [&](std::uint64_t n) {
        return std::uniform_int_distribution<std::uint64_t>{0, n - 1}(rng);
      };
      const std::uint64_t base = static_cast<std::uint64_t>(t) * per_thread;
      reference_feed& ref = refs[static_cast<std::size_t>(t)];
      std::vector<std::pair<std::uint64_t, std::uint64_t>> made;
      for (std::int64_t step = 0; step < 400; ++step) {
        const auto op = pick(10);
        const std::uint64_t mine = base + pick(per_thread);
        // A third of the follows go to anyone, the rest to the three celebrities.
        const std::uint64_t other = pick(3) == 0 ? pick(all) : pick(3) * per_thread;
        if (op < 3 && mine != other) {
          EXPECT_EQ(feed.follow(mine, other), ref.follow(mine, other));
        } else if (op < 4) {
          EXPECT_EQ(feed.unfollow(mine, other), ref.unfollow(mine, other));
        } else if (op < 7) {
          const std::uint64_t id =
              (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(step);
          made.emplace_back(mine, id);
          EXPECT_EQ(feed.post(mine, id, step), ref.post(mine, id, step));
        } else if (op < 8 && !made.empty()) {
          const auto [a, id] = made[pick(made.size())];
          EXPECT_EQ(feed.remove(a, id), ref.remove(a, id));
        } else {
          (void)feed.timeline(pick(all), 1 + pick(length));
        }
      }
    });
  }
  for (auto& th : pool)
    th.join();
  ASSERT_EQ(feed.wait_fan_out_for(60s), scaling::wait_status::ready);
  reference_feed ref;
  for (const auto& r : refs)
    ref.absorb(r);
  for (std::uint64_t u = 0; u < all; ++u)
    ASSERT_EQ(feed.timeline(u, length), ref.timeline(u, length, length)) << "user " << u;
}

TYPED_TEST(FeedServiceTest, ConcurrentFanOutConvergesToTheReference) {
  for (std::uint32_t seed = 1; seed <= 3; ++seed) {
    check_concurrent<TypeParam>(seed);
    if (this->HasFatalFailure()) return;
  }
}

TEST(FeedServiceFanOut, BatchesLagAndOnlyMaterialisedTimelines) {
  scaling::manual_clock clock;
  manual_feed<scaling::fan_out_on_write> feed{{.fan_out_batch = 4, .fan_out_workers = 0}, clock};
  for (std::uint64_t f = 1; f <= 10; ++f)
    ASSERT_TRUE(feed.follow(f, 100));
  for (std::uint64_t f = 1; f <= 6; ++f)
    EXPECT_TRUE(feed.timeline(f, 5).empty());  // materialises 1..6; 7..10 never read
  EXPECT_FALSE(feed.materialised(7));
  ASSERT_TRUE(feed.post(100, 1, 10));
  clock.advance(3s);
  auto s = feed.stats();
  EXPECT_EQ(s.pending_writes, 10U);
  EXPECT_EQ(s.oldest_pending_age, 3s);
  EXPECT_EQ(feed.run_fan_out(), 3U);  // 10 destinations in batches of 4
  s = feed.stats();
  EXPECT_EQ(s.pending_writes, 0U);
  EXPECT_EQ(s.oldest_pending_age, 0s);
  EXPECT_EQ(s.fan_out_deliveries, 10U);
  EXPECT_EQ(s.fan_out_skipped, 4U);  // RPUSHX: 7..10 are not materialised
  EXPECT_EQ(s.timeline_writes, 6U);
  EXPECT_EQ(s.stored_entries, 6U);
  EXPECT_FALSE(feed.materialised(7));
  const auto rebuilds = s.rebuilds;
  EXPECT_EQ(ids(feed.timeline(7, 5)), (std::vector<std::uint64_t>{1}));  // rebuilt on read
  EXPECT_EQ(feed.stats().rebuilds, rebuilds + 1);
  EXPECT_TRUE(feed.materialised(7));
}

TEST(FeedServiceFanOut, HybridPullsCelebritiesAtReadTime) {
  manual_feed<scaling::hybrid_fan_out> feed{{.fan_out_workers = 0, .celebrity_threshold = 3}};
  for (std::uint64_t f = 1; f <= 5; ++f) {
    ASSERT_TRUE(feed.follow(f, 100));  // 100: 5 followers, a celebrity
    ASSERT_TRUE(feed.follow(f, 200));  // 200: 1 follower... until below
    (void)feed.timeline(f, 5);
  }
  ASSERT_TRUE(feed.post(100, 1, 10));
  EXPECT_EQ(feed.run_fan_out(), 0U);  // nothing queued for a celebrity
  ASSERT_TRUE(feed.post(200, 2, 20));
  (void)feed.run_fan_out();
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(feed.stats().timeline_writes, 0U);  // 200 has 5 followers too: also pulled
  for (std::uint64_t f = 3; f <= 5; ++f)
    ASSERT_TRUE(feed.unfollow(f, 200));  // 200 drops below the threshold: pushed again
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{2, 1}));
  ASSERT_TRUE(feed.post(200, 3, 30));
  (void)feed.run_fan_out();
  EXPECT_GE(feed.stats().timeline_writes, 2U);
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{3, 2, 1}));
}

TEST(FeedServiceFanOut, PerPairPushesToFrequentReadersAndPullsForRareOnes) {
  scaling::manual_clock clock;
  manual_feed<scaling::per_pair_fan_out> feed{{.fan_out_workers = 0, .rate_half_life = 60s}, clock};
  ASSERT_TRUE(feed.follow(1, 100));  // 1 reads often
  ASSERT_TRUE(feed.follow(2, 100));  // 2 reads once
  (void)feed.timeline(2, 5);
  for (int i = 0; i < 20; ++i) {
    (void)feed.timeline(1, 5);
    clock.advance(1s);
  }
  // 100 posts five times: 1's view rate (~20) stays above it, 2's (1) falls below.
  for (std::uint64_t id = 1; id <= 5; ++id) {
    ASSERT_TRUE(feed.post(100, id, static_cast<std::int64_t>(id)));
    (void)feed.run_fan_out();
  }
  const auto writes = feed.stats().timeline_writes;
  ASSERT_TRUE(feed.post(100, 6, 6));
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.stats().timeline_writes, writes + 1);  // pushed to 1 only
  EXPECT_GE(feed.stats().fan_out_pulled, 1U);           // left for 2 to pull
  EXPECT_EQ(ids(feed.timeline(2, 3)), (std::vector<std::uint64_t>{6, 5, 4}));
  EXPECT_EQ(ids(feed.timeline(1, 3)), (std::vector<std::uint64_t>{6, 5, 4}));
}

TEST(FeedServiceFanOut, HybridCatchesUpWithPostsThatSkippedFanOut) {
  manual_feed<scaling::hybrid_fan_out> feed{{.fan_out_workers = 0, .celebrity_threshold = 3}};
  ASSERT_TRUE(feed.follow(1, 100));
  ASSERT_TRUE(feed.follow(2, 100));
  (void)feed.timeline(1, 5);  // 100 has 2 followers: pushed to 1
  ASSERT_TRUE(feed.follow(3, 100));
  ASSERT_TRUE(feed.post(100, 7, 70));  // 3 followers: not fanned out
  EXPECT_EQ(feed.run_fan_out(), 0U);
  ASSERT_TRUE(feed.unfollow(3, 100));  // back below the threshold before 1 reads again
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{7}));
}

TEST(FeedServiceFanOut, TimelineEmptiedAfterTruncationStillRebuilds) {
  manual_feed<scaling::fan_out_on_write> feed{{.timeline_length = 2, .fan_out_workers = 0}};
  ASSERT_TRUE(feed.follow(1, 100));
  (void)feed.timeline(1, 2);
  for (std::uint64_t id = 1; id <= 4; ++id) {  // the timeline keeps 3 and 4, drops 1 and 2
    ASSERT_TRUE(feed.post(100, id, static_cast<std::int64_t>(id)));
    (void)feed.run_fan_out();
  }
  ASSERT_TRUE(feed.remove(100, 3));
  ASSERT_TRUE(feed.remove(100, 4));
  (void)feed.run_fan_out();           // empty now, but not complete: 1 and 2 exist
  ASSERT_TRUE(feed.post(100, 0, 0));  // older than what it dropped: must not be taken in
  (void)feed.run_fan_out();
  EXPECT_EQ(ids(feed.timeline(1, 1)), (std::vector<std::uint64_t>{2}));
}

TEST(FeedServiceFanOut, MemoryBoundEvictsAndReadsRebuild) {
  constexpr std::size_t length = 4;
  manual_feed<scaling::fan_out_on_write> feed{{.timeline_length = length,
                                               .fan_out_workers = 0,
                                               .timeline_memory = 16 * (length * 24 + 256)}};
  for (std::uint64_t f = 1; f <= 200; ++f) {
    ASSERT_TRUE(feed.follow(f, 1000));
    (void)feed.timeline(f, 1);
  }
  const auto s = feed.stats();
  EXPECT_LE(s.materialised_timelines, 16U);
  EXPECT_EQ(s.rebuilds, 200U);
  ASSERT_TRUE(feed.post(1000, 1, 1));
  (void)feed.run_fan_out();
  EXPECT_LE(feed.stats().stored_entries, 16U);
  EXPECT_EQ(ids(feed.timeline(1, 1)), (std::vector<std::uint64_t>{1}));
}

TEST(FeedServiceFanOut, InactiveTimelinesExpire) {
  scaling::manual_clock clock;
  manual_feed<scaling::fan_out_on_write> feed{
      {.fan_out_workers = 0, .inactive_after = std::chrono::hours{24 * 30}}, clock};
  ASSERT_TRUE(feed.follow(1, 2));
  (void)feed.timeline(1, 5);
  EXPECT_TRUE(feed.materialised(1));
  clock.advance(std::chrono::hours{24 * 31});
  EXPECT_FALSE(feed.materialised(1));
  ASSERT_TRUE(feed.post(2, 1, 1));
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.stats().timeline_writes, 0U);
  EXPECT_EQ(ids(feed.timeline(1, 5)), (std::vector<std::uint64_t>{1}));
}

}  // namespace

// Fan-out writes through handles to timeline places (a directory entry per user); eviction
// frees a place for another user's timeline. A handle left pointing at a place now owned by
// someone else must not write there: the cache decides (here: not materialised, skipped).
TEST(FeedServiceHandles, StaleHandleAfterEvictionDoesNotWriteIntoTheReusedPlace) {
  constexpr std::size_t length = 4;
  manual_feed<scaling::fan_out_on_write> feed{{.timeline_length = length,
                                               .fan_out_workers = 0,
                                               .timeline_memory = 16 * (length * 24 + 256)}};
  for (std::uint64_t f = 1; f <= 100; ++f) {
    ASSERT_TRUE(feed.follow(f, 1000));
    (void)feed.timeline(f, 1);
  }
  // Users 101..300 follow another author; their timelines evict most of 1..100's and take
  // their places.
  for (std::uint64_t f = 101; f <= 300; ++f) {
    ASSERT_TRUE(feed.follow(f, 2000));
    (void)feed.timeline(f, 1);
  }
  std::uint64_t live = 0;
  for (std::uint64_t f = 1; f <= 100; ++f)
    live += feed.materialised(f) ? 1 : 0;
  ASSERT_LT(live, 100U);
  const auto before = feed.stats();
  ASSERT_TRUE(feed.post(1000, 1, 1));
  (void)feed.run_fan_out();
  const auto s = feed.stats();
  EXPECT_EQ(s.timeline_writes - before.timeline_writes, live);
  EXPECT_EQ(s.fan_out_skipped - before.fan_out_skipped, 100 - live);
  EXPECT_EQ(s.backfill_writes, before.backfill_writes);
  for (std::uint64_t f = 101; f <= 300; ++f) {
    if (!feed.materialised(f)) continue;
    EXPECT_TRUE(feed.timeline(f, length).empty()) << "user " << f << " got a post of 1000";
  }
  // Once more: the stale handles were dropped, the answer is the same.
  ASSERT_TRUE(feed.post(1000, 2, 2));
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.stats().fan_out_skipped - s.fan_out_skipped, 100 - live);
}

// A timeline evicted, then rebuilt by a read, in another place: fan-out reaches the new place
// without the read rebuilding it again.
TEST(FeedServiceHandles, HandleToATimelineRebuiltAfterEvictionGetsTheWrites) {
  constexpr std::size_t length = 4;
  manual_feed<scaling::fan_out_on_write> feed{{.timeline_length = length,
                                               .fan_out_workers = 0,
                                               .timeline_memory = 16 * (length * 24 + 256)}};
  ASSERT_TRUE(feed.follow(1, 1000));
  (void)feed.timeline(1, 1);
  for (std::uint64_t f = 2; f <= 200 && feed.materialised(1); ++f) {
    ASSERT_TRUE(feed.follow(f, 2000));
    (void)feed.timeline(f, 1);
  }
  ASSERT_FALSE(feed.materialised(1));
  ASSERT_TRUE(feed.post(1000, 1, 1));  // 1's handle is stale: skipped
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.stats().timeline_writes, 0U);
  EXPECT_EQ(ids(feed.timeline(1, length)), (std::vector<std::uint64_t>{1}));  // rebuilt
  ASSERT_TRUE(feed.materialised(1));
  const auto s = feed.stats();
  ASSERT_TRUE(feed.post(1000, 2, 2));
  (void)feed.run_fan_out();
  EXPECT_EQ(feed.stats().timeline_writes, s.timeline_writes + 1);
  EXPECT_EQ(ids(feed.timeline(1, length)), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(feed.stats().rebuilds, s.rebuilds);  // served by the timeline fan-out wrote
}

// Readers materialise and evict timelines (a memory bound of 16) while fan-out workers write
// through handles to the same places: run it under TSan. Each user follows one of four
// authors; a write through a stale handle would put a post of another author into the
// timeline that took the place.
TEST(FeedServiceHandles, ConcurrentReadersEvictWhileFanOutWrites) {
  constexpr std::size_t length = 8;
  constexpr std::uint64_t users = 64;
  constexpr std::uint64_t authors = 4;
  constexpr std::uint64_t posts = 120;
  scaling::feed_service<scaling::fan_out_on_write> feed{
      {.timeline_length = length,
       .fan_out_batch = 8,
       .fan_out_workers = 2,
       .timeline_memory = 16 * (length * 24 + 256)}};
  for (std::uint64_t u = 0; u < users; ++u)
    ASSERT_TRUE(feed.follow(u, 1000 + u % authors));
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (std::uint64_t r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng{r + 1};
      while (!done.load()) {
        const std::uint64_t u = rng() % users;
        for (const feed_entry& e : feed.timeline(u, length))
          EXPECT_EQ(e.author, 1000 + u % authors) << "user " << u;
      }
    });
  }
  for (std::uint64_t id = 1; id <= posts; ++id)
    ASSERT_TRUE(feed.post(1000 + id % authors, id, static_cast<std::int64_t>(id)));
  ASSERT_EQ(feed.wait_fan_out_for(60s), scaling::wait_status::ready);
  done = true;
  for (auto& t : readers)
    t.join();
  for (std::uint64_t u = 0; u < users; ++u) {
    std::vector<std::uint64_t> want;
    for (std::uint64_t id = posts; id >= 1 && want.size() < length; --id) {
      if (id % authors == u % authors) want.push_back(id);
    }
    EXPECT_EQ(ids(feed.timeline(u, length)), want) << "user " << u;
  }
  EXPECT_GT(feed.stats().rebuilds, 16U);  // timelines were evicted and rebuilt meanwhile
}
