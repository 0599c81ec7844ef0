// application_caching: a cache in front of a slow database, and what goes wrong around it.
//
// Problem: every page view reads the database; reads dominate and repeat (a few keys are
// hot), so the database saturates long before the application servers do.
// Approach: keep recent answers in process memory. Cache-aside (the application reads the
// cache, loads on a miss, invalidates on write) and read-through (the cache loads, collapsing
// concurrent misses into one query) cut the database's read load to the miss ratio; TTLs bound
// staleness; write-behind batches writes.
// Failure modes shown: the stampede when a hot key expires (with and without single-flight,
// and how early expiration keeps a hot key from expiring at all), cache penetration by keys that
// don't exist (negative caching), stale data after a write that bypasses the cache (bounded by the
// TTL; fixed by invalidate-on-write), writes lost on shutdown (write-behind flushes them), memory
// bounds with values of very different sizes (a weigher makes capacity a byte budget); hot keys
// and scans are named with the tests that show them. What to
// monitor: hit ratio and database queries per request, loads per key per second (a stampede shows
// as a spike), negative-cache hits, write-behind queue length and batch failures, evictions per
// second (a cache too small for its working set churns).
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/cache_aside.hpp>
#include <scaling/caching/loading_cache.hpp>
#include <scaling/caching/replay.hpp>
#include <scaling/caching/write_behind.hpp>
#include <scaling/core/clock.hpp>

namespace {

using namespace std::chrono_literals;

// The "database": a map behind a mutex that counts queries and takes a little time per read.
class slow_database {
 public:
  explicit slow_database(int rows, std::chrono::microseconds latency) : latency_(latency) {
    for (int id = 0; id < rows; ++id)
      rows_[id] = "user-" + std::to_string(id);
  }
  std::optional<std::string> find(int id) {
    reads_.fetch_add(1);
    std::this_thread::sleep_for(latency_);
    std::scoped_lock lock(mutex_);
    const auto it = rows_.find(id);
    return it == rows_.end() ? std::nullopt : std::optional<std::string>{it->second};
  }
  void save(int id, const std::string& value) {
    writes_.fetch_add(1);
    std::scoped_lock lock(mutex_);
    rows_[id] = value;
  }
  std::string row(int id) {
    std::scoped_lock lock(mutex_);
    return rows_.at(id);
  }
  int reads() const { return reads_.load(); }
  int writes() const { return writes_.load(); }
  void reset_counts() {
    reads_ = 0;
    writes_ = 0;
  }

 private:
  std::chrono::microseconds latency_;
  std::mutex mutex_;
  std::map<int, std::string> rows_;
  std::atomic<int> reads_{0};
  std::atomic<int> writes_{0};
};

int failures = 0;
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

// The pattern page's questions, in its order (docs/patterns/application-caching.md).
void question(const char* title, const char* answer) {
  std::printf("\n== %s\n%s\n", title, answer);
}

// A failure mode this program does not stage, and the tests that do.
void tested_in(const char* failure, const char* tests) {
  std::printf("   %s: tested in %s\n", failure, tests);
}

// Zipf(0.99)-distributed user ids: a few users are read very often.
std::vector<int> zipf_ids(int users, int count) {
  std::vector<double> cdf(static_cast<std::size_t>(users));
  double sum = 0;
  for (int i = 0; i < users; ++i) {
    sum += 1.0 / std::pow(i + 1.0, 0.99);
    cdf[static_cast<std::size_t>(i)] = sum;
  }
  std::mt19937_64 rng{2024};
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<int> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back(static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()));
  }
  return ids;
}

void database_load_reduction(slow_database& db) {
  std::puts("1. Cache-aside in front of the database (20'000 reads, Zipf 0.99 over 10'000 users)");
  db.reset_counts();
  scaling::cache<int, std::string, scaling::w_tinylfu> cache{1000};
  const auto ids = zipf_ids(10'000, 20'000);
  for (const int id : ids) {
    const auto row = scaling::cache_aside_get(cache, id, [&](int k) { return db.find(k); });
    if (!row) ++failures;
  }
  const auto s = cache.stats();
  std::printf(
      "   cache of 1000 entries: hit ratio %.1f%%, database reads %d of %zu (%.1f%% of the "
      "load remains)\n",
      100 * s.hit_ratio(), db.reads(), ids.size(),
      100.0 * db.reads() / static_cast<double>(ids.size()));
  check(db.reads() < static_cast<int>(ids.size()) / 2, "the database sees under half the reads");
  check(static_cast<std::uint64_t>(db.reads()) == s.misses, "one database read per cache miss");
}

void stampede() {
  std::puts("2. Stampede: 16 requests for a hot key arrive just after it expired (a 20 ms query)");
  slow_database db{100, std::chrono::milliseconds{20}};
  constexpr int crowd = 16;
  scaling::manual_clock clock;
  auto run_crowd = [&](auto&& read) {
    db.reset_counts();
    std::barrier start{crowd};
    std::vector<std::thread> threads;
    for (int i = 0; i < crowd; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        read();
      });
    }
    for (auto& t : threads)
      t.join();
    return db.reads();
  };
  scaling::cache<int, std::string, scaling::lru, scaling::mutex_locked> plain{
      100, {.expire_after_write = 60s, .clock = clock}};
  plain.put(7, "user-7");
  clock.advance(60s);
  const int without = run_crowd(
      [&] { (void)scaling::cache_aside_get(plain, 7, [&](int k) { return db.find(k); }); });
  scaling::loading_cache<int, std::string> loading{100,
                                                   {.expire_after_write = 60s, .clock = clock}};
  (void)loading.get_or_load(7, [&](const int& k) { return db.find(k); });
  clock.advance(60s);
  const int with =
      run_crowd([&] { (void)loading.get_or_load(7, [&](const int& k) { return db.find(k); }); });
  std::printf(
      "   database reads: %d without single-flight, %d with it (%llu requests shared a "
      "load)\n",
      without, with, static_cast<unsigned long long>(loading.stats().shared_loads));
  check(with < without, "single-flight sends fewer queries than cache-aside");
  check(with <= 2, "single-flight: about one query for the whole crowd");
}

// One hot key, TTL 60 s, read every 10 ms for three minutes of a manual clock; each database
// query takes 200 ms of that clock. What the readers saw.
struct hot_key_readers {
  int queries = 0;
  int expired_reads = 0;                    // reads that found no fresh entry (and waited)
  std::chrono::nanoseconds first_reload{};  // when the first query after the fill began
};

hot_key_readers read_hot_key(double beta) {
  scaling::manual_clock clock;
  scaling::loading_cache<int, std::string> users{
      100,
      {.expire_after_write = 60s, .clock = clock},
      {.early_expiration = {.beta = beta, .seed = 2024}}};
  hot_key_readers seen;
  auto query = [&](const int& id) -> std::optional<std::string> {
    if (++seen.queries == 2) seen.first_reload = clock.now().time_since_epoch();
    clock.advance(200ms);
    return "user-" + std::to_string(id);
  };
  (void)users.get_or_load(7, query);  // stored at 0.2 s: expires at 60.2 s
  while (clock.now().time_since_epoch() < 180s) {
    clock.advance(10ms);
    if (!users.values().contains(7)) ++seen.expired_reads;
    if (!users.get_or_load(7, query)) ++failures;
  }
  return seen;
}

void early_expiration() {
  std::puts(
      "2b. Early expiration: a hot key (TTL 60 s, a 200 ms query) read every 10 ms for 3 "
      "minutes");
  const hot_key_readers off = read_hot_key(0.0);
  const hot_key_readers on = read_hot_key(1.0);
  std::printf(
      "   reads that found it expired and waited for the database: %d without, %d with "
      "early expiration (beta 1); queries %d vs %d\n",
      off.expired_reads, on.expired_reads, off.queries, on.queries);
  const double lead = std::chrono::duration<double>(60s + 200ms - on.first_reload).count();
  std::printf("   the first early refresh began %.2f s before the entry would have expired\n",
              lead);
  check(off.expired_reads >= 2, "without it, the hot key expires under load once per TTL");
  check(on.expired_reads == 0, "with it, one reader refreshes ahead and the key never expires");
  check(on.first_reload < 60s + 200ms, "the first refresh ran before the expiry");
  check(on.queries <= off.queries + 1, "still about one query per TTL, not one per reader");
}

void penetration(slow_database& db) {
  std::puts("3. Cache penetration: 1000 lookups of a user that does not exist");
  db.reset_counts();
  scaling::manual_clock clock;
  scaling::loading_cache<int, std::string> plain{100, {.clock = clock}};
  scaling::loading_cache<int, std::string> negative{100, {.clock = clock}, {.negative_ttl = 10s}};
  for (int i = 0; i < 1000; ++i)
    (void)plain.get_or_load(-1, [&](const int& k) { return db.find(k); });
  const int plain_reads = db.reads();
  db.reset_counts();
  for (int i = 0; i < 1000; ++i) {
    (void)negative.get_or_load(-1, [&](const int& k) { return db.find(k); });
  }
  std::printf("   database reads: %d without negative caching, %d with a 10 s negative TTL\n",
              plain_reads, db.reads());
  check(plain_reads == 1000 && db.reads() == 1, "negative caching absorbs the missing key");
}

void staleness(slow_database& db) {
  std::puts("4. Stale data after a write, TTL 30 s");
  scaling::manual_clock clock;
  scaling::cache<int, std::string> cache{100, {.expire_after_write = 30s, .clock = clock}};
  auto read = [&](int id) {
    return scaling::cache_aside_get(cache, id, [&](int k) { return db.find(k); }).value_or("");
  };
  (void)read(3);
  db.save(3, "renamed-by-another-service");  // a write that bypasses this cache
  const std::string stale = read(3);
  clock.advance(30s);
  const std::string fresh = read(3);
  std::printf("   right after the write: \"%s\"; 30 s later: \"%s\"\n", stale.c_str(),
              fresh.c_str());
  check(stale == "user-3" && fresh == "renamed-by-another-service",
        "a bypassing write is visible once the TTL expires");
  scaling::cache_aside_write(cache, 3, std::string("renamed-again"),
                             [&](int k, const std::string& v) { db.save(k, v); });
  check(read(3) == "renamed-again", "invalidate-on-write: the next read sees the write at once");
}

void write_behind(slow_database& db) {
  std::puts("5. Write-behind: 5000 page-view counter updates over 50 pages");
  db.reset_counts();
  std::atomic<int> batches{0};
  {
    scaling::write_behind<int, std::string> behind{[&](const auto& batch) {
                                                     batches.fetch_add(1);
                                                     for (const auto& [id, value] : batch)
                                                       db.save(id, value);
                                                   },
                                                   {.max_batch = 50, .max_delay = 5ms}};
    for (int i = 0; i < 5000; ++i) {
      const int page = i % 50;
      behind.write(10'000 + page, "views=" + std::to_string(i / 50 + 1));
    }
  }  // shutdown: whatever is pending is written now
  std::printf("   5000 writes became %d database writes in %d batches\n", db.writes(),
              batches.load());
  bool all_final = true;
  for (int page = 0; page < 50; ++page)
    all_final = all_final && db.row(10'000 + page) == "views=100";
  check(db.writes() < 5000, "coalescing and batching cut the writes");
  check(all_final, "nothing lost on shutdown: every page has its final count");
}

void memory_bound() {
  std::puts("6. Memory bounds: values from 100 bytes to 8 KB in a 256 KB cache");
  scaling::cache<int, std::string> pages{
      256 * 1024, {.weigher = [](const int&, const std::string& v) { return v.size(); }}};
  std::mt19937_64 rng{7};
  std::uniform_int_distribution<std::size_t> size(100, 8 * 1024);
  std::size_t offered = 0;
  for (int id = 0; id < 1000; ++id) {
    std::string page(size(rng), 'x');
    offered += page.size();
    pages.put(id, std::move(page));
  }
  std::printf("   %zu KB offered, %llu bytes held in %zu entries (capacity 262144 bytes)\n",
              offered / 1024, static_cast<unsigned long long>(pages.weight()), pages.size());
  check(pages.weight() <= 256 * 1024, "a weigher makes the capacity a byte budget");
}

// Two workloads through a 500-entry cache with each policy: a loop over 600 keys beside a hot
// set (a batch job over a table next to the interactive traffic), and sweeps back and forth
// over 600 keys (a user paging forward, then back). The table in
// docs/patterns/application-caching.md shows the same choice on real traces.
void choosing_a_policy() {
  std::puts("7. Choosing an eviction policy: replay the workload, then pick (500 entries)");
  std::vector<std::uint64_t> loop_and_hot;
  std::vector<std::uint64_t> sweeps;
  std::mt19937_64 rng{11};
  for (int round = 0; round < 20; ++round) {
    for (std::uint64_t k = 0; k < 600; ++k) {
      loop_and_hot.push_back(1000 + k);
      if (k % 3 == 0) loop_and_hot.push_back(rng() % 50);  // the hot set
    }
    for (std::uint64_t k = 0; k < 600; ++k)
      sweeps.push_back(round % 2 == 0 ? k : 599 - k);
  }
  const char* const policies[] = {"lru", "arc", "lirs", "w_tinylfu", "s3fifo", "adaptive"};
  for (const auto* workload : {&loop_and_hot, &sweeps}) {
    const char* name = workload == &loop_and_hot ? "loop + hot set" : "back-and-forth sweeps";
    std::printf("   %-22s", name);
    std::string best;
    double best_ratio = -1;
    for (const char* p : policies) {
      const double r = scaling::replay_by_name(p, *workload, 500).hit_ratio();
      std::printf(" %s %.1f%%", p, 100 * r);
      if (r > best_ratio) {
        best_ratio = r;
        best = p;
      }
    }
    std::printf("\n   -> pick %s\n", best.c_str());
    if (workload == &loop_and_hot) {
      check(scaling::replay<scaling::lirs>(*workload, 500).hit_ratio() >
                scaling::replay<scaling::lru>(*workload, 500).hit_ratio() + 0.3,
            "a loop larger than the cache: LIRS keeps most of it, LRU only the hot set");
    } else {
      check(scaling::replay<scaling::lru>(*workload, 500).hit_ratio() >
                scaling::replay<scaling::lirs>(*workload, 500).hit_ratio() + 0.1,
            "sweeps back and forth: LRU keeps the turn, LIRS does not");
    }
  }
}

}  // namespace

int main() {
  question("Problem solved",
           "Reads dominate most services, and they repeat; without a cache every read reaches "
           "the database,\nwhich saturates long before the application servers. A cache in "
           "memory cuts its read load to\nthe miss ratio.");
  question("Implementation approach",
           "cache<Key, Value, Eviction, Concurrency>: a bounded map with eviction policies "
           "(LRU ... W-TinyLFU,\nadaptive), TTLs, weights, single_threaded / mutex_locked / "
           "sharded<N>; cache-aside and write-through\nhelpers; loading_cache (single-flight, "
           "negative caching, early expiration); write_behind.");
  std::puts("\n== Failure modes");
  slow_database db{10'000, std::chrono::microseconds{200}};
  database_load_reduction(db);
  stampede();
  early_expiration();
  penetration(db);
  staleness(db);
  write_behind(db);
  memory_bound();
  choosing_a_policy();
  std::puts("8. Not staged here");
  tested_in("hot keys (one key's traffic on one segment)",
            "ConcurrentHotKey.OneKeyHammeredByFourThreadsStaysExact");
  tested_in("a scan evicts the working set",
            "ScanResistance.FrequencyAwarePoliciesBeatLruUnderAScan, "
            "Replay.S3FifoKeepsAHotSetThroughTheSharedScan");
  question("Real-world examples",
           "Memcached in front of MySQL at Facebook (cache-aside, invalidation on write, leases "
           "against\nstampedes); Caffeine's W-TinyLFU; SIEVE and S3-FIFO in CDNs and object "
           "caches; read replicas plus\nan application cache.");
  question("Operational considerations",
           "Monitor hit ratio and misses per second (database load = misses), evictions per "
           "second, loads and\nshared loads (a spike is a stampede absorbed), negative hits, "
           "write-behind backlog and failures.\nSize from a replay of your own trace "
           "(cache_replay); TTL = the staleness the product accepts.");
  std::printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
