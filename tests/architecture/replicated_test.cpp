// The stage-2 read and write paths in the lab: a cache in front of a replicated store whose
// replicas lag, on virtual time, with stations for the database members.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <scaling/architecture/read_through.hpp>
#include <scaling/architecture/replicated.hpp>
#include <scaling/architecture/serving.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/lab/simulation.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::architecture::reply;
using scaling::architecture::reply_status;
using store_type = scaling::replicated_store<std::uint64_t, std::uint64_t, scaling::round_robin,
                                             scaling::manual_clock>;
using cache_type = scaling::cache<std::uint64_t, std::uint64_t>;

struct stage2_fixture {
  scaling::lab::simulation sim{1};
  store_type store{{.replicas = 2, .default_lag = 1s}, sim.clock()};
  scaling::architecture::station_serving db{sim, "db", 3,
                                            scaling::lab::distribution::deterministic(2ms)};
  scaling::architecture::store_reads<std::uint64_t, std::uint64_t, store_type,
                                     scaling::architecture::station_serving>
      source{store, db};
  scaling::architecture::primary_writes<std::uint64_t, std::uint64_t, store_type,
                                        scaling::architecture::station_serving>
      writes{store, db};
  cache_type cache{1000};
  scaling::architecture::read_through<std::uint64_t, std::uint64_t, cache_type, decltype(source)>
      reads{cache, source};

  std::optional<reply<std::uint64_t>> read(std::uint64_t key) {
    std::optional<reply<std::uint64_t>> got;
    reads.async_get(key, [&](reply<std::uint64_t> r) { got = std::move(r); });
    sim.run_for(10ms);
    return got;
  }
  std::uint64_t write(std::uint64_t key, std::uint64_t value) {
    std::uint64_t position = 0;
    writes.async_write(key, value, [&](scaling::architecture::write_ack a) {
      EXPECT_EQ(a.status, reply_status::ok);
      position = a.position;
      reads.invalidate(key, a.position);
    });
    sim.run_for(10ms);
    return position;
  }
};

TEST(ReplicatedStage2, ReadsTakeTheirServiceTimeOnTheChosenMember) {
  stage2_fixture f;
  f.write(1, 100);
  f.sim.run_for(2s);  // replicas catch up
  std::optional<reply<std::uint64_t>> got;
  const auto start = f.sim.now();
  std::chrono::nanoseconds took{};
  f.reads.async_get(1, [&](reply<std::uint64_t> r) {
    got = std::move(r);
    took = f.sim.now() - start;
  });
  EXPECT_FALSE(got);  // a miss waits for the member's service
  f.sim.run_for(10ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value, 100U);
  EXPECT_EQ(got->tier, scaling::architecture::replica_tier);
  EXPECT_EQ(took, 2ms);
  EXPECT_EQ(f.read(1)->tier, scaling::architecture::cache_tier);
}

// With replicas a second behind, a naive cache-aside re-caches the old version on the first
// miss after a write. Here the miss carries the write's position, so the store's router sends
// it to a member that applied it (the primary, until the replicas catch up).
TEST(ReplicatedStage2, NoStaleVersionIsCachedAfterAWriteToALaggingReplicaSet) {
  stage2_fixture f;
  f.write(9, 1);
  f.sim.run_for(2s);
  ASSERT_EQ(f.read(9)->value, 1U);  // cached
  f.write(9, 2);                    // replicas still hold 1 for the next second
  const auto after = f.read(9);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->value, 2U) << "a lagging replica's old version was served and cached";
  EXPECT_EQ(after->tier, scaling::architecture::primary_tier);
  EXPECT_EQ(f.cache.get(9), 2U);
}

TEST(ReplicatedStage2, AFailedMemberAnswersFailedAndIsNotCached) {
  stage2_fixture f;
  f.write(5, 50);
  f.sim.run_for(2s);
  for (std::size_t i = 0; i < 3; ++i)
    f.db.at(i).fail();
  const auto got = f.read(5);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, reply_status::failed);
  EXPECT_FALSE(f.cache.contains(5));
  EXPECT_EQ(f.reads.stats().failures, 1U);
}

TEST(ReplicatedStage2, ServingMustMatchTheStore) {
  scaling::lab::simulation sim;
  store_type store{{.replicas = 2}, sim.clock()};
  scaling::architecture::station_serving two{sim, "db", 2,
                                             scaling::lab::distribution::deterministic(1ms)};
  EXPECT_THROW(
      (scaling::architecture::store_reads<std::uint64_t, std::uint64_t, store_type,
                                          scaling::architecture::station_serving>{store, two}),
      std::invalid_argument);
}

}  // namespace
