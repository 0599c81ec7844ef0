// Expiry: after write, after access, per-entry TTL, all on a manual clock.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/cache.hpp>
#include <scaling/core/clock.hpp>

namespace {

using namespace std::chrono_literals;

TEST(Expiry, AfterWriteNeverReturnsAnExpiredEntry) {
  scaling::manual_clock clock;
  scaling::cache<std::string, int> c{100, {.expire_after_write = 10s, .clock = clock}};
  c.put("a", 1);
  clock.advance(9s);
  EXPECT_EQ(c.get("a").value_or(0), 1);
  clock.advance(999ms);
  EXPECT_TRUE(c.contains("a"));
  clock.advance(1ms);  // exactly 10 s after the write
  EXPECT_FALSE(c.contains("a"));
  EXPECT_FALSE(c.get("a"));
  EXPECT_EQ(c.stats().expirations, 1u);
  EXPECT_EQ(c.size(), 0u) << "the read removed it";
}

TEST(Expiry, ReadsDoNotExtendExpireAfterWrite) {
  scaling::manual_clock clock;
  scaling::cache<int, int> c{100, {.expire_after_write = 10s, .clock = clock}};
  c.put(1, 1);
  for (int i = 0; i < 9; ++i) {
    clock.advance(1s);
    EXPECT_TRUE(c.get(1));
  }
  clock.advance(1s);
  EXPECT_FALSE(c.get(1));
  c.put(1, 2);  // a write re-arms
  clock.advance(9s);
  EXPECT_EQ(c.get(1).value_or(0), 2);
}

TEST(Expiry, AfterAccessIsExtendedByReads) {
  scaling::manual_clock clock;
  scaling::cache<int, int> c{100, {.expire_after_access = 5s, .clock = clock}};
  c.put(1, 1);
  for (int i = 0; i < 10; ++i) {
    clock.advance(4s);
    EXPECT_TRUE(c.get(1)) << "read " << i;
  }
  clock.advance(5s);
  EXPECT_FALSE(c.get(1));
}

TEST(Expiry, PerEntryTtlOverridesTheDefault) {
  scaling::manual_clock clock;
  scaling::cache<int, int> c{100, {.expire_after_write = 1h, .clock = clock}};
  c.put(1, 1, 2s);
  c.put(2, 2);
  scaling::cache<int, int> plain{100, {.clock = clock}};
  plain.put(1, 1, 3s);
  plain.put(2, 2);
  clock.advance(2s);
  EXPECT_FALSE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
  EXPECT_TRUE(plain.contains(1));
  clock.advance(1s);
  EXPECT_FALSE(plain.contains(1));
  EXPECT_TRUE(plain.contains(2)) << "no TTL: never expires";
  clock.advance(100h);
  EXPECT_TRUE(plain.get(2));
}

TEST(Expiry, ListenerToldExpiredAndEraseOfExpiredReportsFalse) {
  scaling::manual_clock clock;
  std::vector<scaling::removal_cause> causes;
  scaling::cache<int, int> c{
      100,
      {.expire_after_write = 1s,
       .clock = clock,
       .listener = [&](const int&, const int&, scaling::removal_cause cause) {
         causes.push_back(cause);
       }}};
  c.put(1, 1);
  c.put(2, 2);
  clock.advance(1s);
  EXPECT_FALSE(c.get(1));
  EXPECT_FALSE(c.erase(2));
  ASSERT_EQ(causes.size(), 2u);
  EXPECT_EQ(causes[0], scaling::removal_cause::expired);
  EXPECT_EQ(causes[1], scaling::removal_cause::expired);
}

TEST(Expiry, WritesSweepExpiredEntriesNobodyReads) {
  scaling::manual_clock clock;
  scaling::cache<int, int> c{1000, {.expire_after_write = 1s, .clock = clock}};
  for (int i = 0; i < 500; ++i)
    c.put(i, i);
  clock.advance(2s);
  // 500 fresh writes sweep 1000 slots: every stale entry is gone without a read.
  for (int i = 1000; i < 1500; ++i)
    c.put(i, i);
  EXPECT_EQ(c.size(), 500u);
  EXPECT_EQ(c.stats().expirations, 500u);
}

TEST(Expiry, RemoveExpiredScansEverything) {
  scaling::manual_clock clock;
  scaling::cache<int, int, scaling::sieve, scaling::sharded<4>> c{
      100, {.expire_after_write = 1s, .clock = clock}};
  for (int i = 0; i < 50; ++i)
    c.put(i, i);
  clock.advance(1s);
  for (int i = 50; i < 60; ++i)
    c.put(i, i);
  const std::uint64_t swept = c.stats().expirations;  // by the ten writes
  EXPECT_EQ(c.remove_expired() + swept, 50u);
  EXPECT_EQ(c.size(), 10u);
  EXPECT_EQ(c.remove_expired(), 0u);
}

TEST(Expiry, EvictionPrefersNothingButReportsExpiredVictims) {
  scaling::manual_clock clock;
  std::vector<scaling::removal_cause> causes;
  scaling::cache<int, int, scaling::fifo> c{
      2, {.clock = clock, .listener = [&](const int&, const int&, scaling::removal_cause cause) {
            causes.push_back(cause);
          }}};
  c.put(1, 1, 1s);
  c.put(2, 2);
  clock.advance(1s);
  c.put(3, 3);  // FIFO picks 1, which had expired
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0], scaling::removal_cause::expired);
  EXPECT_EQ(c.stats().evictions, 0u);
  EXPECT_EQ(c.stats().expirations, 1u);
}

}  // namespace
