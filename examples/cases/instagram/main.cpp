// Case: Instagram's database journey, V1 -> V4, measured.
//
// Problem: a photo-sharing app whose metadata outgrows one PostgreSQL server: first reads
// (V2: streaming replicas), then writes and size (V3: thousands of logical shards as schemas
// on a few servers, ids made inside each schema), then the activity feed, a write-heavy,
// always-on workload that fits neither (V4: a leaderless Cassandra-style store).
// Approach: V1-V3 run on real PostgreSQL 15 servers (started by
// tests/instagram/postgres_instances.sh: a primary, a streaming standby and two more
// instances); V4 runs quorum_store in process with simulated replica latencies, then the same
// store on the scaling lab's virtual time (nodes as stations with queues, messages over the
// lab network), where read latency per consistency level includes queueing at a slow node.
// Failure modes shown: stale reads from a lagging standby (and read-your-writes by LSN tokens
// to avoid them), a shard move that must not lose the writes arriving meanwhile, ids from
// another layout, stale reads at ONE and unavailability at QUORUM under a network partition,
// a 10x slow replica and speculative retry.
// What to monitor: replay lag in WAL bytes, per-shard row counts and checksums during a move
// and the write pause at switch-over, id generation headroom (1024 per shard per ms), and for
// the feed store: unavailable and stale-read counts per level, hints pending, read repairs.
//
// Usage: case_instagram [--quick]   (V1-V3 run when SCALING_PG_PRIMARY etc. are set)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <scaling/architecture/quorum_replicas.hpp>
#include <scaling/replication/quorum_store.hpp>
#include <scaling/sharding/sharded_id.hpp>

#ifdef SCALING_HAVE_LIBPQ
#include <scaling/replication/postgres.hpp>
#include <scaling/replication/postgres_shards.hpp>
#include <scaling/replication/replica_selector.hpp>
#include <scaling/sharding/logical_shards.hpp>
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

int failed_checks = 0;
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failed_checks;
}

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct sizes {
  int v1_writes;
  int reads_per_thread;
  std::uint32_t shards;
  int sql_ids;
  int feed_ops;
};

#ifdef SCALING_HAVE_LIBPQ
namespace pg = scaling::postgres;

// V1 -> V2: one primary, then a streaming standby behind a replica_selector.
void v1_v2(const sizes& n) {
  std::printf("\n== V1: one PostgreSQL primary (users, photos)\n");
  pg::connection primary{env("SCALING_PG_PRIMARY")};
  pg::connection standby{env("SCALING_PG_REPLICA")};
  primary.execute(
      "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);"
      "CREATE TABLE photos (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,"
      " caption text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
      "CREATE INDEX ON photos (user_id, id DESC);"
      "INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, 1000) g");
  auto start = steady::now();
  for (int i = 0; i < n.v1_writes; ++i) {
    primary.execute("INSERT INTO photos (user_id, caption) VALUES (" +
                    std::to_string(1 + i % 1000) + ", 'photo " + std::to_string(i) + "')");
  }
  const double write_rate = n.v1_writes / seconds_since(start);
  std::printf(
      "  %d single-row INSERT transactions (autocommit; fsync off on this test "
      "cluster): %.0f writes/s\n",
      n.v1_writes, write_rate);

  // Read throughput: 4 client threads, each with its own connection, point reads by id.
  auto read_rate = [&](const std::vector<std::string>& targets) {
    std::atomic<long> done{0};
    std::vector<std::thread> clients;
    const auto t0 = steady::now();
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        pg::connection c{targets[static_cast<std::size_t>(t) % targets.size()]};
        for (int i = 0; i < n.reads_per_thread; ++i) {
          (void)c.query_value("SELECT caption FROM photos WHERE id = " +
                              std::to_string(1 + (i * 7 + t) % n.v1_writes));
        }
        done.fetch_add(n.reads_per_thread);
      });
    }
    for (auto& c : clients)
      c.join();
    return static_cast<double>(done.load()) / seconds_since(t0);
  };
  if (!pg::wait_for_replay(standby, pg::current_wal_lsn(primary), 10s)) {
    check(false, "the standby caught up with V1's writes");
    return;
  }
  const double reads_0 = read_rate({env("SCALING_PG_PRIMARY")});
  std::printf("  point reads, 4 clients, primary only (0 replicas): %.0f reads/s\n", reads_0);

  std::printf("\n== V2: a streaming standby; reads routed by replica_selector\n");
  const double reads_1 = read_rate({env("SCALING_PG_PRIMARY"), env("SCALING_PG_REPLICA")});
  std::printf("  point reads, 4 clients over primary + 1 replica:  %.0f reads/s (x%.2f)\n", reads_1,
              reads_1 / reads_0);
  std::printf(
      "  (one host: the standby shares the primary's CPU cores, so this is the routing,\n"
      "   not the capacity a second server would add)\n");

  scaling::replica_selector<scaling::replica_endpoint, scaling::round_robin> reads{
      {{"primary", "a", 1, scaling::replica_role::primary, ""},
       {"standby", "b", 1, scaling::replica_role::replica, ""}}};
  const std::vector<pg::standby_link> links{{"standby", &standby}};
  pg::pause_replay(standby);  // a standby falling behind (a long query, a slow disk)
  const auto id = primary.query_value(
      "INSERT INTO photos (user_id, caption) VALUES (7, 'just posted') RETURNING id");
  scaling::read_session poster;
  poster.record_write(reads.token(pg::current_wal_lsn(primary)));
  pg::refresh_positions(reads, primary, links);
  const auto lag = reads.state("standby").lag_positions;
  std::printf("  standby replay paused: lag %llu bytes of WAL\n",
              static_cast<unsigned long long>(lag));
  auto t = reads.select(poster);
  const bool to_primary = t && t.is_primary();
  pg::connection& c = to_primary ? primary : standby;
  const bool sees = c.query_value("SELECT caption FROM photos WHERE id = " + *id) ==
                    std::optional<std::string>{"just posted"};
  if (t) t.complete(scaling::read_outcome::success);
  const bool stale_elsewhere = !standby.query_value("SELECT caption FROM photos WHERE id = " + *id);
  check(lag > 0 && to_primary && sees,
        "the poster's read goes to the primary while the standby lags (LSN token)");
  check(stale_elsewhere, "a reader without the token would have missed it on the standby");
  pg::resume_replay(standby);
  check(pg::wait_for_replay(standby, pg::current_wal_lsn(primary), 10s),
        "replay resumed: the standby catches up");
  pg::refresh_positions(reads, primary, links);
  std::printf("  after resume: lag %llu bytes\n",
              static_cast<unsigned long long>(reads.state("standby").lag_positions));
}

std::string photo_tables(std::uint32_t, const std::string& s) {
  return "CREATE TABLE " + s + ".photos (id bigint PRIMARY KEY DEFAULT " + s +
         ".next_id(), user_id bigint NOT NULL, caption text NOT NULL);"
         "CREATE INDEX ON " +
         s + ".photos (user_id, id DESC)";
}

// V3: logical shards as schemas on two instances, ids made in SQL, a live shard move.
void v3(const sizes& n) {
  std::printf("\n== V3: %u logical shards (schemas) on 2 instances, next_id() in each\n", n.shards);
  scaling::logical_shards<std::string> placement{n.shards, {"pg-a", "pg-b"}};
  pg::shard_router router{placement,
                          {{"pg-a", env("SCALING_PG_B")}, {"pg-b", env("SCALING_PG_C")}}};
  auto start = steady::now();
  router.create_shard_schemas(photo_tables);
  std::printf("  created %u schemas in %.2f s\n", n.shards, seconds_since(start));

  // Id generation: in SQL (one statement, server-side loop) and in C++.
  const auto sql = router.with_shard(5, [&](pg::connection& c, const std::string& s) {
    const auto t0 = steady::now();
    const auto last = c.query_value("SELECT max(" + s + ".next_id()) FROM generate_series(1, " +
                                    std::to_string(n.sql_ids) + ")");
    return std::pair{n.sql_ids / seconds_since(t0), std::stoull(*last)};
  });
  scaling::sharded_id_generator<> cpp{scaling::instagram_layout, 5000};
  const int cpp_ids = n.sql_ids * 20;
  const std::uint64_t first_cpp = cpp.next();  // made right after the SQL ids
  auto t0 = steady::now();
  for (int i = 0; i < cpp_ids; ++i)
    (void)cpp.next();
  const double cpp_rate = cpp_ids / seconds_since(t0);
  std::printf(
      "  ids: %.0f/s in PL/pgSQL (one shard, one statement), %.0f/s in C++ (x%.0f; the "
      "layout caps one shard at 1024 per ms)\n",
      sql.first, cpp_rate, cpp_rate / sql.first);
  const auto d = scaling::decode(scaling::instagram_layout, sql.second);
  check(d.shard == 5 && router.shard_for_id(sql.second) == 5,
        "an SQL id decodes to its schema's shard (instagram_layout)");
  check(
      std::llabs(scaling::decode(scaling::instagram_layout, first_cpp).unix_ms - d.unix_ms) < 5000,
      "C++ and SQL ids share the layout and epoch");
  bool rejected = false;
  try {
    (void)router.shard_for_id(
        scaling::sharded_id_generator<>{scaling::snowflake_layout, 1000}.next());
  } catch (const std::invalid_argument& e) {
    rejected = true;
    std::printf("  a Snowflake id: %s\n", e.what());
  }
  check(rejected && router.stats().foreign_ids == 1, "an id of another layout is refused, counted");

  // A live move of one shard to a third instance (the primary of V1) while writes go on.
  const std::uint32_t moving = 6;
  std::atomic<bool> stop{false};
  std::mutex acked_mutex;
  std::map<std::uint32_t, std::set<std::uint64_t>> acked;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint64_t i = 0; !stop.load(); ++i) {
        const std::uint64_t user =
            i % 2 == 0 ? i * 3 + static_cast<std::uint64_t>(w) : moving + n.shards * (i + 1);
        try {
          const auto id = router.with_user(user, [&](pg::connection& c, const std::string& s) {
            return std::stoull(*c.query_value("INSERT INTO " + s +
                                              ".photos (user_id, caption) VALUES (" +
                                              std::to_string(user) + ", 'photo') RETURNING id"));
          });
          std::scoped_lock lock{acked_mutex};
          acked[router.shard_for_user(user)].insert(id);
        } catch (const std::exception&) {
          failures.fetch_add(1);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  const auto report = router.move_shard(moving, {"pg-c", env("SCALING_PG_PRIMARY")}, photo_tables);
  std::this_thread::sleep_for(200ms);
  stop.store(true);
  for (auto& w : writers)
    w.join();
  std::printf(
      "  moved shard %u %s -> %s: %.0f ms in all, initial copy %.0f ms, writes paused "
      "%.0f ms, %llu rows\n",
      moving, report.from.c_str(), report.to.c_str(), static_cast<double>(report.total.count()),
      static_cast<double>(report.copy.count()), static_cast<double>(report.write_pause.count()),
      static_cast<unsigned long long>(report.rows));
  std::size_t lost = 0;
  std::size_t total = 0;
  for (const auto& entry : acked) {
    const std::uint32_t shard = entry.first;
    const std::set<std::uint64_t>& ids = entry.second;
    total += ids.size();
    router.with_shard(shard, [&](pg::connection& c, const std::string& s) {
      for (const auto id : ids) {
        if (!c.query_value("SELECT 1 FROM " + s + ".photos WHERE id = " + std::to_string(id)))
          ++lost;
      }
    });
  }
  std::printf("  %zu acknowledged writes during the run (%zu on the moving shard), %zu lost\n",
              total, acked[moving].size(), lost);
  check(failures.load() == 0 && lost == 0, "no write failed and none was lost across the move");
  check(router.instance_for(moving) == "pg-c", "the shard is served by the new instance");
}
#endif

// V4: the activity feed on a leaderless store.
using feed_t = scaling::quorum_store<std::string, std::int64_t, std::string, std::greater<>>;

struct level_figures {
  double p50_us = 0;
  double p99_us = 0;
  double stale_pct = 0;
  double unavailable_pct = 0;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

void v4(const sizes& n) {
  std::printf("\n== V4: the activity feed on quorum_store (6 nodes, N = 3, in process)\n");
  const int users = 200;
  int diverged = 0;
  auto run = [&](scaling::quorum_level level, int scenario) {
    // scenario 0: healthy; 1: one node partitioned away (it still takes client requests);
    // 2: one node down.
    feed_t feed{{.nodes = 6, .replication_factor = 3, .seed = 17}};
    if (scenario == 1) feed.partition({{0, 1, 2, 3, 4}, {5}});
    if (scenario == 2) feed.crash(5);
    // Each request goes to a node the client picks at random among those it sees up (a driver
    // skips a down node; it cannot tell a partitioned one).
    std::mt19937 pick{23};
    const std::size_t candidates = scenario == 2 ? 5 : 6;
    auto coordinator = [&] { return static_cast<std::size_t>(pick() % candidates); };
    std::vector<double> write_us;
    std::vector<double> read_us;
    int reads = 0;
    int stale = 0;
    int unavailable = 0;
    for (int i = 0; i < n.feed_ops; ++i) {
      const std::string user = "user:" + std::to_string(i % users);
      const auto w =
          feed.put(user, i, "liked your photo", {.level = level, .coordinator = coordinator()});
      if (w.ok()) write_us.push_back(static_cast<double>(w.latency.count()) / 1e3);
      const auto r =
          feed.get_range(user, {.limit = 10}, {.level = level, .coordinator = coordinator()});
      ++reads;
      if (!r.ok()) {
        ++unavailable;
        continue;
      }
      read_us.push_back(static_cast<double>(r.latency.count()) / 1e3);
      if (r.stale) ++stale;
    }
    if (scenario == 1) feed.heal();
    if (scenario == 2) feed.recover(5);
    (void)feed.repair();
    if (feed.divergent_rows() != 0) ++diverged;
    return std::pair{level_figures{quantile(read_us, 0.5), quantile(read_us, 0.99),
                                   100.0 * stale / reads, 100.0 * unavailable / reads},
                     quantile(write_us, 0.99)};
  };
  std::printf("  %-28s %-7s %9s %9s %10s %8s %12s\n", "scenario", "level", "read p50", "read p99",
              "write p99", "stale", "unavailable");
  const char* names[] = {"healthy", "1 node partitioned away", "1 node down"};
  double stale_one_partition = 0;
  double stale_quorum_max = 0;
  for (int scenario = 0; scenario < 3; ++scenario) {
    for (const auto level : {scaling::quorum_level::one, scaling::quorum_level::quorum}) {
      const auto [f, write_p99] = run(level, scenario);
      std::printf("  %-28s %-7s %7.0f us %7.0f us %8.0f us %7.2f%% %11.2f%%\n", names[scenario],
                  std::string{scaling::to_string(level)}.c_str(), f.p50_us, f.p99_us, write_p99,
                  f.stale_pct, f.unavailable_pct);
      if (scenario == 1 && level == scaling::quorum_level::one) stale_one_partition = f.stale_pct;
      if (level == scaling::quorum_level::quorum)
        stale_quorum_max = std::max(stale_quorum_max, f.stale_pct);
    }
  }
  check(diverged == 0, "after heal/recover and repair every replica converges (all six runs)");
  check(stale_one_partition > 0, "ONE/ONE reads go stale when a replica is cut off (counted)");
  check(stale_quorum_max == 0, "QUORUM/QUORUM reads never go stale (R + W > N)");

  // One replica 10x slower: QUORUM read p99 with and without speculative retry.
  auto p99 = [&](bool slow, std::optional<std::chrono::nanoseconds> retry) {
    feed_t feed{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = retry, .seed = 5}};
    if (slow) feed.set_latency(1, {.base = 5ms, .tail_mean = 5ms});
    std::vector<double> us;
    for (int i = 0; i < n.feed_ops; ++i)
      us.push_back(
          static_cast<double>(feed.get("user:" + std::to_string(i % users), 0).latency.count()) /
          1e3);
    return quantile(us, 0.99);
  };
  const double healthy = p99(false, std::nullopt);
  const double slow = p99(true, std::nullopt);
  const double retried = p99(true, 2ms);
  std::printf(
      "  QUORUM read p99: healthy %.0f us, one replica 10x slower %.0f us (x%.1f), with "
      "speculative retry after 2 ms %.0f us (x%.2f)\n",
      healthy, slow, slow / healthy, retried, retried / healthy);
  check(retried <= 2 * healthy, "speculative retry keeps p99 within 2x of the healthy p99");

  // Wall-clock cost of the in-process store itself.
  feed_t feed{{.nodes = 6, .replication_factor = 3, .count_stale_reads = false}};
  const auto t0 = steady::now();
  for (int i = 0; i < n.feed_ops; ++i)
    (void)feed.put("user:" + std::to_string(i % users), i, "liked");
  const double puts = n.feed_ops / seconds_since(t0);
  std::printf("  in-process QUORUM puts: %.0f/s on one core (each applied to 3 replicas)\n", puts);
}

// V4 on lab time: 3 nodes, N = 3, each node a station with 8 workers serving in 0.5 ms on
// average (exponential), 250 us each way between nodes; `reads` reads arrive as a Poisson
// stream of 2,000/s. Slow: node 1 serves in 5 ms on average. Retry: after 2 ms.
void v4_lab(const sizes& n) {
  using lab_feed = scaling::architecture::lab_quorum_store<std::int64_t, int, int>;
  std::printf(
      "\n== V4 on the scaling lab's virtual time (3 nodes as stations, N = 3, %d reads at "
      "2000/s)\n",
      n.feed_ops);
  std::printf("  %-7s %-20s %21s %21s\n", "level", "scenario", "p50 / p99",
              "with retry: p50 / p99");
  const char* names[] = {"healthy", "node 1 10x slower", "node 1 down"};
  double p99[3][3][2] = {};
  std::uint64_t failed[3][3] = {};
  const scaling::quorum_level levels[] = {scaling::quorum_level::one, scaling::quorum_level::quorum,
                                          scaling::quorum_level::all};
  for (std::size_t l = 0; l < 3; ++l) {
    for (std::size_t scenario = 0; scenario < 3; ++scenario) {
      std::printf("  %-7s %-20s", std::string{scaling::to_string(levels[l])}.c_str(),
                  names[scenario]);
      for (std::size_t retry = 0; retry < 2; ++retry) {
        scaling::lab::simulation sim{11};
        std::optional<std::chrono::nanoseconds> after;
        if (retry == 1) after = 2ms;
        lab_feed feed{{.nodes = 3, .replication_factor = 3, .speculative_retry_after = after},
                      scaling::architecture::lab_quorum_replicas{sim, {}},
                      sim.clock()};
        if (scenario == 1)
          feed.transport().set_service(1, scaling::lab::distribution::exponential(5ms));
        if (scenario == 2) feed.crash(1);
        const auto f = scaling::architecture::measure_quorum_reads(
            sim, feed, {.reads = static_cast<std::size_t>(n.feed_ops), .level = levels[l]});
        p99[l][scenario][retry] = static_cast<double>(f.latency.percentile(0.99).count()) / 1e3;
        failed[l][scenario] += f.failed;
        if (f.ok == 0) {
          std::printf(" %21s", "unavailable");
        } else {
          std::printf(" %8.0f / %7.0f us",
                      static_cast<double>(f.latency.percentile(0.5).count()) / 1e3,
                      p99[l][scenario][retry]);
        }
      }
      std::printf("\n");
    }
  }
  std::printf(
      "  (ALL with a slow node: every read waits for it and it gets every read, 125%% of its "
      "capacity: its queue grows for the whole run)\n");
  check(p99[1][1][0] > 3 * p99[1][0][0], "a 10x slow replica raises the QUORUM p99 over 3x");
  check(p99[1][1][1] <= 2 * p99[1][0][0],
        "speculative retry brings the QUORUM p99 within 2x of healthy (lab time)");
  check(failed[1][2] == 0 && failed[0][2] == 0, "one node down: ONE and QUORUM reads all answer");
  check(failed[2][2] == static_cast<std::uint64_t>(2 * n.feed_ops),
        "one node down: every ALL read is unavailable, never a partial answer");
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  const sizes n =
      quick ? sizes{500, 500, 64, 20'000, 2'000} : sizes{5'000, 5'000, 512, 200'000, 20'000};
  std::printf("Instagram's database journey%s\n", quick ? " (--quick)" : "");
#ifdef SCALING_HAVE_LIBPQ
  if (env("SCALING_PG_PRIMARY").empty() || env("SCALING_PG_C").empty()) {
    std::printf(
        "\nV1-V3 skipped: run through tests/instagram/postgres_instances.sh to start "
        "PostgreSQL 15\n");
  } else {
    v1_v2(n);
    v3(n);
  }
#else
  std::printf("\nV1-V3 skipped: built without libpq (Debian: libpq-dev)\n");
#endif
  v4(n);
  v4_lab(n);
  std::printf("\n%s\n", failed_checks == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failed_checks == 0 ? 0 : 1;
}
