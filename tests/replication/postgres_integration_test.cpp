// Integration: replica_selector driven by real PostgreSQL 15 streaming replication (a primary
// and one standby started by postgres_cluster.sh). Proves read-your-writes routing while the
// standby's replay is paused, lag-aware routing on WAL positions, and failover with
// pg_promote().
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/architecture/postgres_roles.hpp>
#include <scaling/architecture/read_through.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/replication/postgres.hpp>
#include <scaling/replication/replica_selector.hpp>

namespace {

using namespace std::chrono_literals;
namespace pg = scaling::postgres;
using scaling::read_mode;

struct db_endpoint {
  std::string id;
  scaling::replica_role role = scaling::replica_role::replica;
  std::string conninfo;
};
using selector_t = scaling::replica_selector<db_endpoint, scaling::peak_ewma>;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class PostgresReplication : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("SCALING_PG_PRIMARY").empty()) {
      GTEST_SKIP() << "run through postgres_cluster.sh (SCALING_PG_PRIMARY is not set)";
    }
    primary_.emplace(env("SCALING_PG_PRIMARY"));
    replica_.emplace(env("SCALING_PG_REPLICA"));
  }

  // Reads k's value through whichever member the ticket names (by id: after the failover the
  // standby's connection is the primary's).
  std::optional<std::string> read_k(const selector_t::ticket& t, const std::string& k) {
    pg::connection& c = t.id() == "standby" ? *replica_ : *primary_;
    return c.query_value("SELECT v FROM kv WHERE k = '" + k + "'");
  }

  std::optional<pg::connection> primary_;
  std::optional<pg::connection> replica_;
};

// The composition layer on real PostgreSQL: the cache-aside read path (read_through) over the
// PostgreSQL roles, unchanged from the lab. A write acknowledged at an LSN invalidates the
// cache with it; while the standby's replay is paused, the next read is routed to the primary
// (the standby has not replayed the LSN) and sees the write; once the standby catches up it
// serves the reads. Runs before the failover test, which promotes the standby.
TEST_F(PostgresReplication, CacheAsideCompositionRunsOnPostgresUnchanged) {
  selector_t selector{{{"primary", scaling::replica_role::primary, env("SCALING_PG_PRIMARY")},
                       {"standby", scaling::replica_role::replica, env("SCALING_PG_REPLICA")}}};
  const std::vector<pg::standby_link> standbys{{"standby", &*replica_}};
  primary_->execute("CREATE TABLE profiles (k text PRIMARY KEY, v text)");
  scaling::architecture::postgres_writes writes{*primary_, "profiles"};
  scaling::architecture::postgres_reads<selector_t> reads{
      selector, {{"primary", &*primary_}, {"standby", &*replica_}}, "profiles"};
  scaling::cache<std::string, std::string> cache{1'000};
  scaling::architecture::read_through<std::string, std::string, decltype(cache), decltype(reads)>
      profiles{cache, reads};
  auto write = [&](const std::string& k, const std::string& v) {
    scaling::architecture::write_ack ack;
    writes.async_write(k, v, [&](scaling::architecture::write_ack a) { ack = a; });
    EXPECT_EQ(ack.status, scaling::architecture::reply_status::ok);
    profiles.invalidate(k, ack.position);
    return ack.position;
  };
  auto read = [&](const std::string& k) {
    scaling::architecture::reply<std::string> got;
    profiles.async_get(k, [&](scaling::architecture::reply<std::string> r) { got = r; });
    return got;
  };

  const auto first = write("user:7", "Ada");
  ASSERT_TRUE(pg::wait_for_replay(*replica_, first, 10s));
  pg::refresh_positions(selector, *primary_, standbys);
  EXPECT_EQ(read("user:7").value, "Ada");
  EXPECT_EQ(read("user:7").value, "Ada");  // from the cache now
  EXPECT_EQ(profiles.stats().hits, 1U);

  pg::pause_replay(*replica_);
  const auto second = write("user:7", "Grace");
  pg::refresh_positions(selector, *primary_, standbys);
  EXPECT_LT(selector.state("standby").applied_position, second);
  const auto after_write = read("user:7");
  EXPECT_EQ(after_write.value, "Grace");  // not the cached "Ada", not the standby's copy
  EXPECT_EQ(after_write.tier, 0) << "the paused standby has not replayed the write";

  pg::resume_replay(*replica_);
  ASSERT_TRUE(pg::wait_for_replay(*replica_, second, 10s));
  pg::refresh_positions(selector, *primary_, standbys);
  cache.erase("user:7");
  const auto caught_up = read("user:7");
  EXPECT_EQ(caught_up.value, "Grace");
  EXPECT_EQ(read("missing").status, scaling::architecture::reply_status::not_found);
  primary_->execute("DROP TABLE profiles");
}

TEST_F(PostgresReplication, RoutesByWalPositionAndFailsOver) {
  selector_t reads{{{"primary", scaling::replica_role::primary, env("SCALING_PG_PRIMARY")},
                    {"standby", scaling::replica_role::replica, env("SCALING_PG_REPLICA")}}};
  const std::vector<pg::standby_link> standbys{{"standby", &*replica_}};
  ASSERT_TRUE(pg::in_recovery(*replica_));
  ASSERT_FALSE(pg::in_recovery(*primary_));

  primary_->execute("CREATE TABLE kv (k text PRIMARY KEY, v text)");
  ASSERT_TRUE(pg::wait_for_replay(*replica_, pg::current_wal_lsn(*primary_), 10s));

  // 1. Read-your-writes while the standby's replay is paused.
  pg::pause_replay(*replica_);
  primary_->execute("INSERT INTO kv VALUES ('user:1', 'v1')");
  const auto lsn = pg::current_wal_lsn(*primary_);
  scaling::read_session session;
  session.record_write(reads.token(lsn));
  pg::refresh_positions(reads, *primary_, standbys);
  EXPECT_LT(reads.state("standby").applied_position, lsn);
  EXPECT_FALSE(replica_->query_value("SELECT v FROM kv WHERE k = 'user:1'"))
      << "the paused standby must not have the row yet (otherwise nothing is proved)";
  {
    auto t = reads.select(session);
    ASSERT_TRUE(t);
    EXPECT_TRUE(t.is_primary()) << "the standby has not replayed the session's write";
    EXPECT_EQ(read_k(t, "user:1"), "v1");
    t.complete(scaling::read_outcome::success);
  }
  {
    // A session without the write may read the stale standby, and sees no row.
    scaling::read_session stranger;
    auto t = reads.select(stranger, {.mode = read_mode::replica});
    ASSERT_TRUE(t);
    EXPECT_FALSE(read_k(t, "user:1"));
  }

  // 2. Lag-aware routing: bytes of WAL behind, from LSNs (replay still paused).
  for (int i = 0; i < 50; ++i) {
    primary_->execute("INSERT INTO kv SELECT 'bulk:' || g || ':" + std::to_string(i) +
                      "', repeat('x', 100) FROM generate_series(1, 20) g");
  }
  pg::refresh_positions(reads, *primary_, standbys);
  const auto lag = reads.state("standby").lag_positions;
  EXPECT_GT(lag, 100'000u) << "expected the paused standby to fall >100 kB of WAL behind";
  EXPECT_TRUE(reads.select({.max_lag_positions = 64 * 1024}).is_primary());
  EXPECT_FALSE(reads.select({}).is_primary());  // no bound: the stale standby is acceptable

  pg::resume_replay(*replica_);
  ASSERT_TRUE(pg::wait_for_replay(*replica_, pg::current_wal_lsn(*primary_), 10s));
  pg::refresh_positions(reads, *primary_, standbys);
  EXPECT_EQ(reads.state("standby").lag_positions, 0u);
  {
    auto t = reads.select(session);
    EXPECT_FALSE(t.is_primary()) << "caught up: the standby serves the session";
    EXPECT_EQ(read_k(t, "user:1"), "v1");
  }
  EXPECT_FALSE(reads.select({.max_lag_positions = 64 * 1024}).is_primary());

  // 3. Failover: the primary dies, the standby is promoted and takes writes.
  const auto last = pg::current_wal_lsn(*primary_);
  ASSERT_TRUE(pg::wait_for_replay(*replica_, last, 10s));
  ASSERT_EQ(std::system(env("SCALING_PG_STOP_PRIMARY").c_str()), 0);
  EXPECT_THROW(pg::refresh_positions(reads, *primary_, standbys), pg::error);
  pg::promote(*replica_);
  EXPECT_FALSE(pg::in_recovery(*replica_));
  reads.promote("standby");
  auto writer = reads.select({.mode = read_mode::primary});
  ASSERT_TRUE(writer);
  EXPECT_EQ(writer.id(), "standby");
  replica_->execute("INSERT INTO kv VALUES ('user:2', 'after failover')");
  EXPECT_EQ(read_k(writer, "user:2"), "after failover");
  EXPECT_EQ(read_k(writer, "user:1"), "v1");  // replicated before the crash: kept
  EXPECT_EQ(reads.state("primary").health, scaling::replica_health::down);
}

TEST(PostgresLsn, ParsesAndFormats) {
  EXPECT_EQ(pg::parse_lsn("0/3000060"), 0x3000060u);
  EXPECT_EQ(pg::parse_lsn("16/B374D848"), (std::uint64_t{0x16} << 32) | 0xB374D848u);
  EXPECT_EQ(pg::format_lsn((std::uint64_t{0x16} << 32) | 0xB374D848u), "16/B374D848");
  EXPECT_THROW((void)pg::parse_lsn("3000060"), std::invalid_argument);
  EXPECT_THROW((void)pg::parse_lsn("0/xyz"), std::invalid_argument);
  EXPECT_THROW((void)pg::parse_lsn("/1"), std::invalid_argument);
}

}  // namespace
