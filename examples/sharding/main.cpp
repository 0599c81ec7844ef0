// Sharding: one database is full, so split the users over several.
//
// Problem: a single primary database holds every user; writes and data size have outgrown it.
// Approach: shard by user id. First with a consistent-hash ring (adding a server moves only
// ~1/(N+1) of the users), then as Instagram did: thousands of logical shards on a few servers,
// ids that embed the logical shard, and resharding by moving whole logical shards.
// Failure modes shown, with figures: uneven load (ring peak-to-mean, fixed by more probes),
// a hot key (bounded loads cap every server at ceil(1.25 x mean)), node loss (replicas from
// nodes_for take over; only the lost node's users move), resharding (the moved fraction and the
// migration plan), sequential keys in range sharding (all land in the last range). Clock faults
// in id generators and client disagreement are named with the tests that show them.
// What to monitor: per-node load (peak-to-mean), keys moved per membership change, shards per
// node after a migration, id generator sequence exhaustion.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <scaling/sharding.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

// The pattern page's questions, in its order (docs/patterns/sharding.md).
void question(const char* title, const char* answer) {
  std::printf("\n== %s\n%s\n", title, answer);
}

// A failure mode this program does not stage, and the tests that do.
void tested_in(const char* failure, const char* tests) {
  std::printf("   %s: tested in %s\n", failure, tests);
}

template <class Strategy>
double peak_to_mean(const Strategy& s, std::size_t n, std::uint64_t users) {
  std::map<std::string, std::uint64_t> load;
  for (std::uint64_t u = 0; u < users; ++u)
    ++load[s.node_for(u)];
  std::uint64_t peak = 0;
  for (const auto& [node, count] : load)
    peak = std::max(peak, count);
  return static_cast<double>(peak) * static_cast<double>(n) / static_cast<double>(users);
}

}  // namespace

int main() {
  constexpr std::uint64_t users = 200'000;
  std::vector<std::string> dbs;
  for (int i = 1; i <= 10; ++i)
    dbs.push_back("pg-" + std::to_string(i));

  question("Problem solved",
           "One database holds every user and has run out of room and write throughput; "
           "replicas and caches\nhelp reads, not writes or size. Sharding splits the data "
           "over servers so that writes and\nstorage scale with their number.");
  question("Implementation approach",
           "Strategies that share one concept (shard_strategy): hash_ring (virtual nodes, "
           "multi-probe),\nketama_ring, maglev, jump_hash, rendezvous, range_shards, "
           "redis_slot_map; bounded_load for hot\nkeys; logical_shards with migration plans; "
           "sharded ids that name their shard.");
  std::puts("\n== Failure modes");
  std::puts("1. Shard users over 10 databases with a consistent-hash ring (160 points each)");
  const scaling::hash_ring<std::string> ring{dbs};
  const scaling::hash_ring<std::string> ring4{dbs, {.points_per_node = 160, .probes = 4}};
  const double p1 = peak_to_mean(ring, dbs.size(), users);
  const double p4 = peak_to_mean(ring4, dbs.size(), users);
  std::printf("   busiest database: %.3fx the mean (classic ring), %.3fx with 4 probes\n", p1, p4);
  check(p1 < 1.35 && p4 < p1, "multi-probe lookups even out the load");

  std::puts("2. Resharding: add an 11th database");
  auto grown = ring;
  grown.add("pg-11");
  std::vector<std::uint64_t> sample;
  for (std::uint64_t u = 0; u < users; ++u)
    sample.push_back(u);
  const double moved = scaling::moved_fraction(ring, grown, sample);
  const auto ranges = scaling::moved_ranges(ring, grown);
  std::printf("   %.1f%% of users move (ideal 1/11 = 9.1%%), in %zu hash ranges to copy\n",
              moved * 100, ranges.size());
  check(std::abs(moved - 1.0 / 11) < 0.03, "only about 1/(N+1) of the users move");

  std::puts("3. Node loss: pg-3 fails; each user's next replica takes over");
  auto degraded = ring;
  degraded.remove("pg-3");
  bool replicas_ok = true;
  for (std::uint64_t u = 0; u < 2000; ++u) {
    const auto replicas = ring.nodes_for(u, 2);
    if (replicas[0] == "pg-3")
      replicas_ok &= degraded.node_for(u) == replicas[1];
    else
      replicas_ok &= degraded.node_for(u) == replicas[0];
  }
  check(replicas_ok, "users of pg-3 land on their second replica, nobody else moves");

  std::puts("4. Hot key: one celebrity gets a third of all requests");
  scaling::bounded_load<scaling::hash_ring<std::string>> lb{ring, {.balance_factor = 1.25}};
  for (std::uint64_t r = 0; r < 30'000; ++r)
    (void)lb.assign(r % 3 == 0 ? 42 : r);
  std::size_t peak = 0;
  for (std::size_t load : lb.loads())
    peak = std::max(peak, load);
  const double bound = std::ceil(1.25 * static_cast<double>(lb.total_load()) / 10.0);
  std::printf("   busiest server holds %zu of %zu requests (bound ceil(1.25 x mean) = %.0f)\n",
              peak, lb.total_load(), bound);
  check(static_cast<double>(peak) <= bound, "bounded loads keep every server under the bound");

  std::puts("5. Instagram's design: 4096 logical shards on 2 servers, then a 3rd");
  scaling::logical_shards<std::string> shards{4096, {"pg-a", "pg-b"}};
  scaling::sharded_id_generator ids{scaling::instagram_layout,
                                    shards.shard_for(std::uint64_t{31337})};
  const std::uint64_t photo_id = ids.next();
  const auto parts = scaling::decode(scaling::instagram_layout, photo_id);
  std::printf("   photo id %llu -> logical shard %llu on %s\n",
              static_cast<unsigned long long>(photo_id),
              static_cast<unsigned long long>(parts.shard),
              shards.node_for_shard(static_cast<std::uint32_t>(parts.shard)).c_str());
  const auto plan = shards.add("pg-c");
  std::printf("   adding pg-c moves %zu logical shards (first: shard %u %s -> %s)\n", plan.size(),
              plan.front().shard, plan.front().from.c_str(), plan.front().to.c_str());
  check(plan.size() == 4096 / 3, "the plan moves the minimum number of shards");
  check(shards.node_for_shard(static_cast<std::uint32_t>(parts.shard)) ==
            shards.node_for(std::uint64_t{31337}),
        "an id still names its shard after the migration");

  std::puts("6. Range sharding by id: new rows get increasing ids");
  scaling::range_shards<std::uint64_t, std::string> by_range{"pg-1"};
  by_range.split(1'000'000, "pg-2");
  by_range.split(2'000'000, "pg-3");
  std::map<std::string, int> new_rows;
  for (std::uint64_t id = 2'500'000; id < 2'510'000; ++id)
    ++new_rows[by_range.node_for(id)];
  std::map<std::string, int> hashed_rows;
  for (std::uint64_t id = 2'500'000; id < 2'510'000; ++id)
    ++hashed_rows[ring.node_for(id)];
  std::printf(
      "   10000 new rows: %zu range shard(s) take them all (%s); a hash ring spreads them "
      "over %zu\n",
      new_rows.size(), new_rows.begin()->first.c_str(), hashed_rows.size());
  check(new_rows.size() == 1 && new_rows.count("pg-3") == 1,
        "sequential keys all land in the last range: a write hot spot");
  check(hashed_rows.size() == dbs.size(), "hashing the same keys spreads the writes");

  std::puts("7. Not staged here");
  tested_in("clock faults in id generators",
            "ShardedId.ClockGoingBackwardsNeverRepeatsOrDecreases, "
            "ShardedId.SequenceOverflowWaitsForTheNextMillisecond");
  tested_in("client disagreement (another client's mapping)",
            "KetamaRing.AgreesWithLibmemcachedOnRandomServersAndKeys");

  question("Real-world examples",
           "Instagram (thousands of logical shards on few PostgreSQL servers, 64-bit ids with "
           "the shard in\nthem); memcached fleets on ketama; Google Maglev and Envoy; Redis "
           "Cluster's 16384 slots; HAProxy's\nbounded loads; Bigtable, HBase, CockroachDB and "
           "MongoDB ranges.");
  question("Operational considerations",
           "Monitor per-node load (peak-to-mean), keys moved per membership change, shards per "
           "node after a\nmigration, bounded-load spill-overs, id generators waiting on an "
           "exhausted millisecond. Plan the\nmovement before adding servers, add one at a time, "
           "copy before cutting over.");
  std::printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? 0 : 1;
}
