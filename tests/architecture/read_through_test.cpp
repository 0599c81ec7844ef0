#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include <gtest/gtest.h>

#include <scaling/architecture/read_through.hpp>
#include <scaling/caching/cache.hpp>

namespace {

using scaling::architecture::read_handler;
using scaling::architecture::reply;
using scaling::architecture::reply_status;

// A source of truth whose reads the test answers by hand, in any order: the only way to put a
// load and a write in the order that loses data, deterministically.
struct manual_source {
  struct pending {
    std::uint64_t key;
    std::uint64_t min_position;
    read_handler<std::string> done;
  };
  std::unordered_map<std::uint64_t, std::string> data;
  std::deque<pending> reads;

  void async_read(std::uint64_t key, std::uint64_t min_position, read_handler<std::string> done) {
    reads.push_back({key, min_position, std::move(done)});
  }
  // Answers the oldest read with what the data holds now (or `value`, a stale copy's answer).
  void answer(std::optional<std::string> value = std::nullopt) {
    auto p = std::move(reads.front());
    reads.pop_front();
    if (!value) {
      const auto it = data.find(p.key);
      if (it == data.end()) {
        p.done(reply<std::string>{reply_status::not_found, std::nullopt, 2});
        return;
      }
      value = it->second;
    }
    p.done(reply<std::string>{reply_status::ok, std::move(value), 2});
  }
};

using cache_type = scaling::cache<std::uint64_t, std::string>;
using path =
    scaling::architecture::read_through<std::uint64_t, std::string, cache_type, manual_source>;

TEST(ReadThrough, MissLoadsAndFillsThenHits) {
  cache_type cache{16};
  manual_source source;
  source.data[1] = "v1";
  path reads{cache, source};
  std::optional<reply<std::string>> got;
  reads.async_get(1, [&](reply<std::string> r) { got = std::move(r); });
  ASSERT_FALSE(got);  // waiting for the source
  source.answer();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value, "v1");
  EXPECT_EQ(got->tier, 2);
  got.reset();
  reads.async_get(1, [&](reply<std::string> r) { got = std::move(r); });
  ASSERT_TRUE(got);  // a hit answers inside the call
  EXPECT_EQ(got->tier, scaling::architecture::cache_tier);
  const auto s = reads.stats();
  EXPECT_EQ(s.reads, 2U);
  EXPECT_EQ(s.hits, 1U);
  EXPECT_EQ(s.misses, 1U);
  EXPECT_EQ(s.fills, 1U);
}

// The race: a load starts, the writer commits and invalidates, then the load returns the old
// value. Without the generation check the old value is cached after the invalidation.
TEST(ReadThrough, LoadStartedBeforeAnInvalidationDoesNotFillTheCache) {
  cache_type cache{16};
  manual_source source;
  source.data[7] = "old";
  path reads{cache, source};
  std::optional<reply<std::string>> first;
  reads.async_get(7, [&](reply<std::string> r) { first = std::move(r); });
  source.data[7] = "new";  // the writer commits at position 5...
  reads.invalidate(7, 5);  // ...and invalidates
  source.answer("old");    // the slow load returns what it read before the write
  ASSERT_TRUE(first);
  EXPECT_EQ(first->value, "old");  // its reader gets it (it asked before the write)
  EXPECT_FALSE(cache.contains(7)) << "a pre-invalidation load filled the cache";
  EXPECT_EQ(reads.stats().fills_skipped, 1U);

  // The next miss asks for a copy that applied the write...
  std::optional<reply<std::string>> second;
  reads.async_get(7, [&](reply<std::string> r) { second = std::move(r); });
  ASSERT_EQ(source.reads.size(), 1U);
  EXPECT_EQ(source.reads.front().min_position, 5U);
  source.answer();
  EXPECT_EQ(second->value, "new");
  EXPECT_EQ(cache.get(7), "new");  // ...and fills normally
}

TEST(ReadThrough, NotFoundAndFailuresAreNotCached) {
  cache_type cache{16};
  manual_source source;
  path reads{cache, source};
  std::optional<reply<std::string>> got;
  reads.async_get(3, [&](reply<std::string> r) { got = std::move(r); });
  source.answer();
  EXPECT_EQ(got->status, reply_status::not_found);
  EXPECT_FALSE(cache.contains(3));
  EXPECT_EQ(reads.stats().fills, 0U);
}

TEST(ReadThrough, StripesMustBeAPowerOfTwo) {
  cache_type cache{16};
  manual_source source;
  try {
    path reads{cache, source, {.stripes = 3}};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::architecture::read_through: stripes must be a power of two >= 1 (got 3)");
  }
}

}  // namespace
