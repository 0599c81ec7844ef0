// Integration: Instagram's PostgreSQL journey on real PostgreSQL 15 servers started by
// postgres_instances.sh (a primary with a streaming standby, and two more instances).
// V2: reads through replica_selector with read-your-writes by LSN tokens.
// V3: per-schema next_id() decoded by instagram_layout, ids from SQL and C++ never colliding,
// the shard router (bad input included), and a live shard move that loses no write.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/replication/postgres.hpp>
#include <scaling/replication/postgres_shards.hpp>
#include <scaling/replication/replica_selector.hpp>
#include <scaling/sharding/logical_shards.hpp>
#include <scaling/sharding/sharded_id.hpp>

namespace {

using namespace std::chrono_literals;
namespace pg = scaling::postgres;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string photo_tables(std::uint32_t, const std::string& s) {
  return "CREATE TABLE " + s + ".photos (id bigint PRIMARY KEY DEFAULT " + s +
         ".next_id(), user_id bigint NOT NULL, caption text NOT NULL);"
         "CREATE INDEX ON " +
         s + ".photos (user_id, id DESC)";
}

class InstagramJourney : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("SCALING_PG_PRIMARY").empty() || env("SCALING_PG_C").empty()) {
      GTEST_SKIP() << "run through postgres_instances.sh (SCALING_PG_PRIMARY is not set)";
    }
  }
};

TEST_F(InstagramJourney, V2ReadsYourWritesThroughTheReplicaByLsn) {
  scaling::replica_selector<scaling::replica_endpoint, scaling::round_robin> reads{
      {{"primary", "a", 1, scaling::replica_role::primary, ""},
       {"standby", "a", 1, scaling::replica_role::replica, ""}}};
  pg::connection primary{env("SCALING_PG_PRIMARY")};
  pg::connection standby{env("SCALING_PG_REPLICA")};
  const std::vector<pg::standby_link> links{{"standby", &standby}};
  primary.execute(
      "CREATE TABLE v2_photos (id bigserial PRIMARY KEY, user_id bigint, caption text)");
  ASSERT_TRUE(pg::wait_for_replay(standby, pg::current_wal_lsn(primary), 10s));

  pg::pause_replay(standby);
  const auto id = primary.query_value(
      "INSERT INTO v2_photos (user_id, caption) VALUES (7, 'sunset') RETURNING id");
  ASSERT_TRUE(id);
  scaling::read_session poster;
  poster.record_write(reads.token(pg::current_wal_lsn(primary)));
  pg::refresh_positions(reads, primary, links);
  EXPECT_GT(reads.state("standby").lag_positions, 0u) << "lag in WAL bytes while paused";
  {
    auto t = reads.select(poster);
    ASSERT_TRUE(t);
    EXPECT_TRUE(t.is_primary()) << "the standby has not replayed the poster's write";
    t.complete(scaling::read_outcome::success);
  }
  pg::resume_replay(standby);
  ASSERT_TRUE(pg::wait_for_replay(standby, pg::current_wal_lsn(primary), 10s));
  pg::refresh_positions(reads, primary, links);
  scaling::read_options replica_only{.mode = scaling::read_mode::replica};
  auto t = reads.select(poster, replica_only);
  ASSERT_TRUE(t);
  EXPECT_EQ(t.id(), "standby");
  EXPECT_EQ(standby.query_value("SELECT caption FROM v2_photos WHERE id = " + *id), "sunset");
  t.complete(scaling::read_outcome::success);
}

TEST_F(InstagramJourney, V3SqlIdsDecodeToTheirShardAndNeverCollideWithCppIds) {
  constexpr std::uint32_t shards = 32;
  scaling::logical_shards<std::string> placement{shards, {"pg-a", "pg-b"}};
  pg::shard_router router{placement,
                          {{"pg-a", env("SCALING_PG_PRIMARY")}, {"pg-b", env("SCALING_PG_B")}}};
  router.create_shard_schemas(photo_tables);

  std::set<std::uint64_t> ids;
  std::size_t made = 0;
  for (std::uint32_t shard = 0; shard < shards; ++shard) {
    router.with_shard(shard, [&](pg::connection& c, const std::string& schema) {
      const auto server_ms = std::stoll(
          *c.query_value("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"));
      const auto list = c.query_value("SELECT string_agg(" + schema +
                                      ".next_id()::text, ',') FROM generate_series(1, 300)");
      ASSERT_TRUE(list);
      std::size_t start = 0;
      while (start < list->size()) {
        const auto comma = list->find(',', start);
        const auto id = std::stoull(list->substr(start, comma - start));
        const auto d = scaling::decode(scaling::instagram_layout, id);
        ASSERT_EQ(d.shard, shard);
        ASSERT_LT(std::llabs(d.unix_ms - server_ms), 2000) << "time within the server's clock";
        ASSERT_EQ(router.shard_for_id(id), shard);
        ids.insert(id);
        ++made;
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    });
  }
  EXPECT_EQ(ids.size(), made) << "ids are unique within and across shards";
  // C++ ids in the same layout, for shards no schema issues: same layout, no collision.
  for (std::uint32_t shard = shards; shard < 2 * shards; ++shard) {
    scaling::sharded_id_generator<> cpp{scaling::instagram_layout, shard};
    for (int i = 0; i < 300; ++i) {
      const auto id = cpp.next();
      ASSERT_TRUE(ids.insert(id).second) << "collision with an SQL id";
    }
  }
  const auto sql_id = router.with_shard(3, [](pg::connection& c, const std::string& schema) {
    return std::stoull(*c.query_value("SELECT " + schema + ".next_id()"));
  });
  const auto cpp_id = scaling::sharded_id_generator<>{scaling::instagram_layout, 3}.next();
  EXPECT_LT(std::llabs(scaling::decode(scaling::instagram_layout, cpp_id).unix_ms -
                       scaling::decode(scaling::instagram_layout, sql_id).unix_ms),
            1000)
      << "the same layout and epoch on both sides";

  // Bad input: clear errors, counted.
  EXPECT_THROW((void)router.with_shard(shards, [](pg::connection&, const std::string&) {}),
               std::invalid_argument);
  const auto snowflake_id = scaling::sharded_id_generator<>{scaling::snowflake_layout, 1023}.next();
  EXPECT_THROW((void)router.shard_for_id(snowflake_id), std::invalid_argument);
  EXPECT_THROW((void)router.shard_for_id(~std::uint64_t{0} >> 1), std::invalid_argument);
  EXPECT_EQ(router.stats().unknown_shard, 1u);
  EXPECT_EQ(router.stats().foreign_ids, 2u);
  EXPECT_THROW((void)pg::next_id_function_sql(scaling::instagram_layout, "bad; DROP", 1),
               std::invalid_argument);
  EXPECT_THROW((void)pg::next_id_function_sql(scaling::instagram_layout, "s", 9000),
               std::invalid_argument);
}

TEST_F(InstagramJourney, V3LiveShardMoveLosesNoWrite) {
  constexpr std::uint32_t shards = 16;
  scaling::logical_shards<std::string> placement{shards, {"pg-a", "pg-b"}};
  // The move source must not be the primary with the standby (keeps V2's tables out of it).
  pg::shard_router router{placement,
                          {{"pg-a", env("SCALING_PG_B")}, {"pg-b", env("SCALING_PG_PRIMARY")}}};
  // Fresh schemas: the id test may have created shards 0..31 on these instances.
  for (const auto* name : {"pg-a", "pg-b"}) {
    router.with_instance(name, [](pg::connection& c) {
      c.execute("SET client_min_messages = warning");
      for (std::uint32_t s = 0; s < 64; ++s)
        c.execute("DROP SCHEMA IF EXISTS " + pg::shard_schema_name(s) + " CASCADE");
    });
  }
  router.create_shard_schemas(photo_tables);
  constexpr std::uint32_t moving = 6;
  ASSERT_EQ(router.instance_for(moving), "pg-a");

  std::atomic<bool> stop{false};
  std::mutex acked_mutex;
  std::map<std::uint32_t, std::set<std::uint64_t>> acked;  // shard -> photo ids
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint64_t i = 0; !stop.load(); ++i) {
        // Two of three writes land on the moving shard.
        const std::uint64_t user = i % 3 == 0
                                       ? i * 3 + static_cast<std::uint64_t>(w)
                                       : moving + shards * (i + static_cast<std::uint64_t>(w));
        try {
          const auto shard = router.shard_for_user(user);
          const auto id = router.with_user(user, [&](pg::connection& c, const std::string& s) {
            return std::stoull(*c.query_value("INSERT INTO " + s +
                                              ".photos (user_id, caption) VALUES (" +
                                              std::to_string(user) + ", 'photo') RETURNING id"));
          });
          std::scoped_lock lock{acked_mutex};
          acked[shard].insert(id);
        } catch (const std::exception&) {
          failures.fetch_add(1);
        }
      }
    });
  }
  std::this_thread::sleep_for(200ms);  // writes are flowing before the move starts
  const auto report = router.move_shard(moving, {"pg-c", env("SCALING_PG_C")}, photo_tables);
  std::this_thread::sleep_for(100ms);  // and after the switch-over
  stop.store(true);
  for (auto& t : writers)
    t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(router.instance_for(moving), "pg-c");
  EXPECT_EQ(report.from, "pg-a");
  EXPECT_EQ(report.to, "pg-c");
  EXPECT_GT(report.rows, 0u);
  EXPECT_FALSE(report.checksum.empty());
  EXPECT_EQ(router.stats().moves, 1u);
  // Every acknowledged id is on the shard's current instance, and nothing else is.
  for (const auto& entry : acked) {
    const std::uint32_t shard = entry.first;
    const std::set<std::uint64_t>& ids = entry.second;
    router.with_shard(shard, [&](pg::connection& c, const std::string& s) {
      const auto count = std::stoull(*c.query_value("SELECT count(*) FROM " + s + ".photos"));
      EXPECT_EQ(count, ids.size()) << "shard " << shard;
      const auto missing = c.query_value("SELECT count(*) FROM unnest('{" +
                                         [&] {
                                           std::string list;
                                           for (const auto id : ids)
                                             list += (list.empty() ? "" : ",") + std::to_string(id);
                                           return list;
                                         }() +
                                         "}'::bigint[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM " +
                                         s + ".photos p WHERE p.id = a.id)");
      EXPECT_EQ(missing, "0") << "lost writes on shard " << shard;
    });
  }
  EXPECT_GT(acked[moving].size(), report.rows) << "writes went on after the switch-over";
  router.with_instance("pg-a", [](pg::connection& c) {
    EXPECT_EQ(c.query_value("SELECT count(*) FROM pg_namespace WHERE nspname = 'shard_0006'"), "0")
        << "the old copy is dropped";
  });
  // New ids on the moved shard still decode to it and do not repeat the source's.
  const auto next = router.with_shard(moving, [](pg::connection& c, const std::string& s) {
    return std::stoull(*c.query_value("SELECT " + s + ".next_id()"));
  });
  EXPECT_EQ(router.shard_for_id(next), moving);
  EXPECT_FALSE(acked[moving].contains(next));
}

}  // namespace
