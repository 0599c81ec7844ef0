// Twitter's home timeline, V1 to V3, measured on a Twitter-shaped graph.
//
// Problem: a home timeline shows the newest posts of everyone a user follows. Computing it at
// read time (V1) makes every read merge the posts of all followees; precomputing it (V2)
// makes every post a write per follower, and a celebrity's post millions of writes; the
// hybrid (V3) pushes ordinary authors' posts and merges celebrities' posts at read time.
//
// Approach: one scaling::feed_service per policy (fan_out_on_read, fan_out_on_write,
// hybrid_fan_out, per_pair_fan_out) replays the same history on a generated follow graph
// (scaling::generate_twitter_graph: power-law follower counts, a celebrity tail, 22%
// reciprocal follows), with Twitter's published 65 reads per post; the blocks count the work
// (timeline writes, entries scanned and merged by reads), the program times the reads and a
// celebrity post's fan-out, then sweeps the hybrid's follower threshold.
//
// Workload (our assumptions, stated because the figures depend on them): 30% of users are
// active (they read; only their timelines are materialised), reads are spread evenly over
// them; an author posts with a probability proportional to (followers + 1)^0.4, which makes a
// post reach about 75 followers on the 1M-user graph, Twitter's published average; 0.01% of
// the accounts are celebrities above the power law, the top one followed by 10% of users;
// each user starts with one post of history; timelines hold 800 entries; reads ask for 50.
// The first half of the operations warms up, the second half is measured.
// Work is counted as Twitter paid it: a timeline write is 3 writes (3 Redis replicas of
// each timeline), a read's work is the entries it scans and merges. The sweep runs twice:
// on that workload, and on one where celebrities post 100 times as often (news-like accounts).
//
// Failure modes shown: a celebrity's post under V2 (the fan-out takes long and the lag is
// visible in pending_writes / oldest_pending_age), V1's read cost growing with the followee
// count (p99), and V2's storage. Inactive users cost V2 nothing (RPUSHX), a missing timeline
// is rebuilt on read (rebuilds).
//
// What to monitor: fan-out lag (pending writes, age of the oldest), timeline writes per post,
// stored entries and bytes against the memory bound, rebuilds per read, read p99.
//
// Usage: twitter_timeline [--full] [--users N] [--csv FILE] [--no-sweep | --sweep-only]
//                         [--timelines=redis [--redis=HOST:PORT]]
//   default: a short run (3,000 users) for the tour and CTest; --full: 1,000,000 users;
//   --sweep-only: the threshold sweeps without the per-policy table and its claims;
//   --timelines=redis: V2 and V3 with their timelines in Redis (scaling::redis_timelines), in
//   a redis-server the program starts (or the one at --redis=HOST:PORT): Redis's bytes per
//   timeline entry, fan-out inserts per second into Redis, the same timelines as V1.
// The program checks its own claims and exits non-zero if one fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/feed/feed_service.hpp>
#include <scaling/feed/twitter_graph.hpp>
#include <scaling/lab/random.hpp>

#ifdef SCALING_HAVE_HIREDIS
#include <optional>

#include <scaling/feed/redis_timelines.hpp>

#include "engines/servers.hpp"  // starts redis-server on a free loopback port
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

struct op {
  bool read = true;
  std::uint32_t user = 0;
};

struct workload {
  scaling::twitter_graph graph;
  std::vector<std::uint32_t> followers;
  std::vector<std::uint32_t> active;
  std::vector<op> ops;
  std::uint32_t top = 0;  // the most-followed account
  std::size_t reads = 0;
  std::size_t posts = 0;
};

// How often an account posts: proportional to (followers + 1)^0.4, which makes a post reach
// about 75 followers on the 1M-user graph (Twitter's published average); in the
// celebrity-heavy variant the accounts above the power law post `celebrity_boost` times more.
workload make_workload(std::uint32_t users, std::uint64_t seed, double celebrity_boost) {
  workload w;
  w.graph = scaling::generate_twitter_graph({.users = users,
                                             .mean_out_degree = 35,
                                             .celebrity_fraction = 1e-4,
                                             .top_celebrity_share = 0.1,
                                             .seed = seed});
  w.followers = w.graph.follower_counts();
  w.top = static_cast<std::uint32_t>(std::max_element(w.followers.begin(), w.followers.end()) -
                                     w.followers.begin());
  scaling::lab::rng gen{seed + 1};
  for (std::uint32_t u = 0; u < users; ++u) {
    if (gen() % 10 < 3) w.active.push_back(u);
  }
  // Authors by weight: a cumulative table and a binary search per post.
  std::vector<double> cumulative(users);
  double total = 0;
  for (std::uint32_t u = 0; u < users; ++u) {
    const double boost = w.followers[u] > w.graph.power_law_max ? celebrity_boost : 1.0;
    total += boost * std::pow(w.followers[u] + 1.0, 0.4);
    cumulative[u] = total;
  }
  const std::size_t reads = 2 * static_cast<std::size_t>(users);
  const std::size_t posts = reads / 65;
  w.ops.reserve(reads + posts);
  for (std::size_t i = 0; i < reads + posts; ++i) {
    if (gen() % (reads + posts) < posts) {
      const double x = static_cast<double>(gen() >> 11) * 0x1.0p-53 * total;
      const auto a = static_cast<std::uint32_t>(
          std::lower_bound(cumulative.begin(), cumulative.end(), x) - cumulative.begin());
      w.ops.push_back({false, std::min(a, users - 1)});
      ++w.posts;
    } else {
      w.ops.push_back({true, w.active[gen() % w.active.size()]});
      ++w.reads;
    }
  }
  return w;
}

struct result {
  std::string name;
  std::size_t threshold = 0;
  double writes_per_post = 0;
  double stored_entries = 0;
  double stored_mb = 0;
  double work_per_read = 0;
  double total_work = 0;  // 3 x writes + read work, per post
  double p50_us = 0;
  double p99_us = 0;
  double celebrity_ms = 0;
  std::uint64_t celebrity_writes = 0;
  std::size_t celebrity_pending = 0;  // the lag right after the post
  double fan_out_inserts_per_s = 0;   // timeline inserts / time in run_fan_out (measured half)
  double store_bytes_per_entry = 0;   // Redis: used_memory added per stored entry
  double list_bytes_per_entry = 0;    // Redis: MEMORY USAGE / LLEN over sampled lists
  std::vector<std::vector<scaling::feed_entry>> sample;
};

constexpr std::size_t limit = 50;
constexpr double write_cost = 3;  // Twitter kept 3 replicas of every timeline

struct no_measure {
  template <class Feed>
  void operator()(result& /*r*/, Feed& /*feed*/) const {}
};

template <class Policy, class Store = scaling::in_process_timelines, class Measure = no_measure>
result run(const workload& w, const std::string& name, const scaling::feed_options& base,
           std::size_t sample_size, typename Store::options_type store = {}, Measure measure = {}) {
  scaling::manual_clock clock;
  scaling::feed_options o = base;
  o.timeline_memory = std::size_t{8} << 30;
  // Fan-out runs on this thread right after each post, so the work counted is the same in
  // every run; the celebrity's fan-out below is timed on one core.
  o.fan_out_workers = 0;
  // Rates that remember about a quarter of the run (1 ms of virtual time per operation).
  o.rate_half_life = std::chrono::milliseconds{std::max<std::size_t>(1, w.ops.size() / 4)};
  scaling::feed_service<Policy, scaling::manual_clock, Store> feed{o, std::move(store), clock};
  for (const auto& [f, a] : w.graph.edges)
    (void)feed.follow(f, a);
  std::uint64_t id = 0;
  std::int64_t now_ms = 0;
  for (std::uint32_t u = 0; u < w.graph.users; ++u)
    (void)feed.post(u, ++id, ++now_ms);
  (void)feed.run_fan_out();
  for (const auto u : w.active)
    (void)feed.timeline(u, limit);  // the active users' timelines are materialised

  // The first half of the operations warms up (the per-pair rates are learned online); the
  // second half is measured.
  std::vector<double> latencies;
  latencies.reserve(w.reads);
  scaling::feed_service_stats before;
  double fan_out_s = 0;
  for (std::size_t i = 0; i < w.ops.size(); ++i) {
    const op& x = w.ops[i];
    if (i == w.ops.size() / 2) before = feed.stats();
    clock.advance(1ms);
    if (x.read) {
      const auto t0 = steady::now();
      auto t = feed.timeline(x.user, limit);
      if (i >= w.ops.size() / 2)
        latencies.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
      (void)t;
    } else {
      (void)feed.post(x.user, ++id, ++now_ms);
      const auto t0 = steady::now();
      (void)feed.run_fan_out();
      if (i >= w.ops.size() / 2)
        fan_out_s += std::chrono::duration<double>(steady::now() - t0).count();
    }
  }
  const auto after = feed.stats();

  result r;
  r.name = name;
  r.threshold = o.celebrity_threshold;
  const double posts = static_cast<double>(after.posts - before.posts);
  const double reads = static_cast<double>(after.reads - before.reads);
  // Timeline writes: fan-out destinations the policy pushed to (a write attempt each, as an
  // RPUSHX is, whether or not the timeline is materialised), plus the entries copied in when
  // a pair turned from pull to push.
  const auto writes_of = [](const scaling::feed_service_stats& s) {
    return static_cast<double>(s.fan_out_deliveries - s.fan_out_pulled + s.backfill_writes);
  };
  const double writes = writes_of(after) - writes_of(before);
  const double read_work = static_cast<double>(after.read_work - before.read_work);
  r.writes_per_post = writes / posts;
  r.work_per_read = read_work / reads;
  r.total_work = (write_cost * writes + read_work) / posts;
  r.stored_entries = static_cast<double>(after.stored_entries);
  r.stored_mb = static_cast<double>(after.stored_bytes) / 1e6;
  if (fan_out_s > 0) {
    r.fan_out_inserts_per_s =
        static_cast<double>(after.timeline_writes - before.timeline_writes) / fan_out_s;
  }
  std::sort(latencies.begin(), latencies.end());
  r.p50_us = latencies[latencies.size() / 2];
  r.p99_us = latencies[latencies.size() * 99 / 100];

  // One post by the most-followed account: how long until its fan-out is applied.
  const auto t0 = steady::now();
  (void)feed.post(w.top, ++id, ++now_ms);
  r.celebrity_pending = feed.stats().pending_writes;
  (void)feed.run_fan_out();
  r.celebrity_ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
  r.celebrity_writes = feed.stats().fan_out_deliveries - after.fan_out_deliveries;

  // The same users' timelines, to compare across policies.
  for (std::size_t i = 0; i < sample_size && i < w.active.size(); ++i)
    r.sample.push_back(feed.timeline(w.active[i * (w.active.size() / sample_size)], limit));
  measure(r, feed);
  return r;
}

void print(const result& r) {
  std::printf("  %-26s %9.1f %12.0f %9.1f %9.1f %11.1f %8.1f %8.1f %12.1f\n", r.name.c_str(),
              r.writes_per_post, r.stored_entries, r.stored_mb, r.work_per_read, r.total_work,
              r.p50_us, r.p99_us, r.celebrity_ms);
}

std::string fixed(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

void header() {
  std::printf("  %-26s %9s %12s %9s %9s %11s %8s %8s %12s\n", "policy", "writes/pst", "stored",
              "MB", "work/read", "work/post", "p50 us", "p99 us", "celeb ms");
}

// The hybrid's threshold from above the top account (V2) down to 1 (everyone pulled, V1's
// work), dividing by 3.
std::vector<result> sweep_thresholds(const workload& w, const char* label) {
  std::printf("  %s\n", label);
  header();
  std::vector<result> sweep;
  for (std::size_t t = static_cast<std::size_t>(w.followers[w.top]) + 1;;
       t = std::max<std::size_t>(1, t / 3)) {
    scaling::feed_options o;
    o.celebrity_threshold = t;
    sweep.push_back(run<scaling::hybrid_fan_out>(w, "threshold " + std::to_string(t), o, 0));
    print(sweep.back());
    if (t == 1) break;
    if (t < w.graph.power_law_max / 10) t = 3;  // then 1: below, everyone is pulled
  }
  return sweep;
}

const result& cheapest(const std::vector<result>& sweep) {
  return *std::min_element(sweep.begin(), sweep.end(), [](const auto& a, const auto& b) {
    return a.total_work < b.total_work;
  });
}

#ifdef SCALING_HAVE_HIREDIS
namespace redis = scaling::redis;

long long used_memory(redis::connection& c) {
  const std::string info{c.execute({"INFO", "memory"}).str()};
  const auto at = info.find("used_memory:");
  return at == std::string::npos ? 0 : std::atoll(info.c_str() + at + 12);
}

// Redis's memory for a store's lists: used_memory added per stored entry, and MEMORY USAGE /
// LLEN over up to 200 of its lists; then the lists are deleted (the server may be shared).
struct redis_measure {
  redis::endpoint server;
  std::string prefix;
  long long baseline = 0;

  redis_measure(redis::endpoint s, std::string p) : server(std::move(s)), prefix(std::move(p)) {
    redis::connection c{server};
    baseline = used_memory(c);
  }

  template <class Feed>
  void operator()(result& r, Feed& feed) const {
    redis::connection c{server};
    const auto entries = static_cast<double>(feed.stats().stored_entries);
    if (entries > 0)
      r.store_bytes_per_entry = static_cast<double>(used_memory(c) - baseline) / entries;
    std::string cursor = "0";
    double usage = 0;
    double listed = 0;
    std::size_t sampled = 0;
    const std::string match = prefix + "*";
    do {
      auto page = c.execute({"SCAN", cursor, "MATCH", match, "COUNT", "1000"}).take_elements();
      cursor = std::string{page[0].str()};
      for (const auto& key : page[1].elements()) {
        if (sampled < 200) {
          usage += static_cast<double>(c.execute({"MEMORY", "USAGE", key.str()}).integer());
          listed += static_cast<double>(c.execute({"LLEN", key.str()}).integer());
          ++sampled;
        }
        (void)c.execute({"UNLINK", key.str()});
      }
    } while (cursor != "0");
    if (listed > 0) r.list_bytes_per_entry = usage / listed;
  }
};

// Full timelines in Redis: `followers` materialised timelines of one author who posts
// timeline_length times, then once more (every list full: LPUSHX + RPOP). Returns the fan-out
// inserts per second of the last `rounds` posts and Redis's bytes per entry.
result full_timelines(const redis::endpoint& server, std::uint64_t followers, int rounds) {
  const std::string prefix = "twitter_timeline:full:";
  redis_measure measure{server, prefix};
  scaling::feed_service<scaling::fan_out_on_write, steady, scaling::redis_timelines> feed{
      {.timeline_length = 800, .fan_out_batch = 4000, .fan_out_workers = 0},
      {.server = server, .key_prefix = prefix}};
  for (std::uint64_t f = 1; f <= followers; ++f) {
    (void)feed.follow(f, 0);
    (void)feed.timeline(f, 1);
  }
  std::uint64_t id = 0;
  for (; id < 800; ++id) {
    (void)feed.post(0, id, static_cast<std::int64_t>(id));
    (void)feed.run_fan_out();
  }
  const auto before = feed.stats();
  const auto t0 = steady::now();
  for (int i = 0; i < rounds; ++i, ++id) {
    (void)feed.post(0, id, static_cast<std::int64_t>(id));
    (void)feed.run_fan_out();
  }
  const double s = std::chrono::duration<double>(steady::now() - t0).count();
  result r;
  r.name = "full timelines";
  r.stored_entries = static_cast<double>(feed.stats().stored_entries);
  r.fan_out_inserts_per_s =
      static_cast<double>(feed.stats().timeline_writes - before.timeline_writes) / s;
  measure(r, feed);
  return r;
}

// --timelines=redis: V2 and V3 with their timelines in Redis beside the in-process ones.
void redis_timelines_section(const workload& w, const std::string& address) {
  engines_test::scratch_dir dir;
  engines_test::server started;
  redis::endpoint server;
  if (address.empty()) {
    const std::string binary = engines_test::find_program("redis-server");
    server.port = engines_test::free_port();
    if (binary.empty() ||
        !started.start(engines_test::redis_argv(binary, server.port, dir.path()), server.port)) {
      std::printf("SKIPPED: redis-server is not installed or did not start\n");
      std::exit(77);
    }
  } else {
    server = redis::endpoint::parse(address);
  }
  std::printf(
      "1. Timelines in Redis (%s): each timeline a list, LPUSHX + RPOP to 800, one "
      "pipeline per fan-out batch, LRANGE reads\n",
      server.to_string().c_str());
  std::printf("  %-26s %9s %12s %9s %12s %12s %8s %8s\n", "policy / store", "writes/pst", "stored",
              "B/entry", "list B/entry", "inserts/s", "p50 us", "p99 us");
  auto row = [](const result& r) {
    std::printf("  %-26s %9.1f %12.0f %9.1f %12.1f %12.0f %8.1f %8.1f\n", r.name.c_str(),
                r.writes_per_post, r.stored_entries, r.store_bytes_per_entry,
                r.list_bytes_per_entry, r.fan_out_inserts_per_s, r.p50_us, r.p99_us);
  };
  const std::size_t sample = 200;
  scaling::feed_options hybrid;
  hybrid.celebrity_threshold = w.graph.power_law_max;
  const result v1 = run<scaling::fan_out_on_read>(w, "V1 fan_out_on_read", {}, sample);
  const result v2 = run<scaling::fan_out_on_write>(w, "V2, in process", {}, sample);
  row(v2);
  const std::string p2 = "twitter_timeline:v2:";
  const result v2r = run<scaling::fan_out_on_write, scaling::redis_timelines>(
      w, "V2, Redis", {}, sample, {.server = server, .key_prefix = p2}, redis_measure{server, p2});
  row(v2r);
  const std::string p3 = "twitter_timeline:v3:";
  const result v3r = run<scaling::hybrid_fan_out, scaling::redis_timelines>(
      w, "V3 hybrid, Redis", hybrid, sample, {.server = server, .key_prefix = p3},
      redis_measure{server, p3});
  row(v3r);
  // 250 full timelines in the short run (CTest), 2,000 on graphs of 100,000 users or more.
  const std::uint64_t full_followers = w.graph.users >= 100'000 ? 2000 : 250;
  const result full = full_timelines(server, full_followers, 20);
  row(full);
  std::printf(
      "  (B/entry: Redis used_memory added per stored entry; list B/entry: MEMORY USAGE "
      "/ LLEN; Twitter: 20 bytes per entry; inserts/s: timeline inserts over the time "
      "in run_fan_out, one core, loopback)\n");
  std::printf("  the top account's fan-out: %s ms in process, %s ms into Redis (%llu writes)\n",
              fixed(v2.celebrity_ms).c_str(), fixed(v2r.celebrity_ms).c_str(),
              static_cast<unsigned long long>(v2r.celebrity_writes));

  std::printf("\n2. Claims\n");
  check(v2r.sample == v1.sample && v3r.sample == v1.sample,
        "V2 and V3 with timelines in Redis return the same timelines as V1 (" +
            std::to_string(v1.sample.size()) + " users compared)");
  check(v2r.writes_per_post == v2.writes_per_post && v2r.total_work == v2.total_work,
        "the store changes where entries live, not the work: " + fixed(v2r.writes_per_post) +
            " writes per post either way");
  check(full.stored_entries == static_cast<double>(full_followers) * 800 &&
            full.list_bytes_per_entry >= 24,
        "full timelines: " + std::to_string(full_followers) + " lists of 800 entries, " +
            fixed(full.list_bytes_per_entry) +
            " bytes per entry in Redis (24 of payload; Twitter: 20)");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t users = 3'000;
  const char* csv = nullptr;
  bool sweeps = true;
  bool policies_table = true;
  bool redis_mode = false;
  std::string redis_address;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) users = 1'000'000;
    if (std::strcmp(argv[i], "--quick") == 0) users = 3'000;
    if (std::strcmp(argv[i], "--users") == 0 && i + 1 < argc)
      users = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv = argv[++i];
    if (std::strcmp(argv[i], "--no-sweep") == 0) sweeps = false;
    if (std::strcmp(argv[i], "--sweep-only") == 0) policies_table = false;
    if (std::strcmp(argv[i], "--timelines=redis") == 0) redis_mode = true;
    if (std::strncmp(argv[i], "--redis=", 8) == 0) redis_address = argv[i] + 8;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as they are measured
  const auto g0 = steady::now();
  const workload w = make_workload(users, 42, 1.0);
  std::printf("Twitter timeline, V1-V3 and per-pair, on a generated graph\n");
  std::printf(
      "  %u users, %zu follows (mean out-degree %.1f, %.1f%% reciprocal), power law up to %u "
      "followers, %u celebrities above it (the top one: %u followers); %zu active readers\n",
      users, w.graph.edges.size(), w.graph.mean_out_degree(), 100 * w.graph.reciprocity(),
      w.graph.power_law_max, w.graph.celebrities, w.followers[w.top], w.active.size());
  std::printf(
      "  workload: %zu reads, %zu posts (%.0f:1), timelines of 800, reads of %zu "
      "(graph and workload made in %.1f s)\n\n",
      w.reads, w.posts, static_cast<double>(w.reads) / static_cast<double>(w.posts), limit,
      std::chrono::duration<double>(steady::now() - g0).count());

  if (redis_mode) {
#ifdef SCALING_HAVE_HIREDIS
    redis_timelines_section(w, redis_address);
    std::printf("\n%s\n", failures == 0 ? "All claims hold." : "Some claims FAILED.");
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
#else
    std::printf(
        "SKIPPED: built without hiredis (Debian: libhiredis-dev); --timelines=redis "
        "needs it\n");
    return 77;
#endif
  }
  // Feeding Frenzy's cost ratio is pull cost per view / push cost per post: a pulled author
  // costs a read about 2 entries (its heap cursor and the ring's), a push 3 writes.
  scaling::feed_options pair;
  pair.cost_ratio = 2.0 / write_cost;
  double pair_work = 0;
  if (policies_table) {
    const std::size_t sample = 200;
    std::printf(
        "1. Each policy on the same history (work per post = (3 x writes + read work) / "
        "posts)\n");
    header();
    std::vector<result> policies;
    scaling::feed_options hybrid;
    hybrid.celebrity_threshold = w.graph.power_law_max;
    policies.push_back(run<scaling::fan_out_on_read>(w, "V1 fan_out_on_read", {}, sample));
    print(policies.back());
    policies.push_back(run<scaling::fan_out_on_write>(w, "V2 fan_out_on_write", {}, sample));
    print(policies.back());
    policies.push_back(run<scaling::hybrid_fan_out>(
        w, "V3 hybrid, threshold " + std::to_string(hybrid.celebrity_threshold), hybrid, sample));
    print(policies.back());
    policies.push_back(
        run<scaling::per_pair_fan_out>(w, "per-pair (Feeding Frenzy)", pair, sample));
    print(policies.back());
    const result& v1 = policies[0];
    const result& v2 = policies[1];
    const result& v3 = policies[2];

    std::printf("\n2. Claims\n");
    bool same = true;
    for (const auto& r : policies)
      same = same && r.sample == v1.sample;
    check(same, "every policy returns the same timelines once fan-out drained (" +
                    std::to_string(v1.sample.size()) + " users compared)");
    check(v1.writes_per_post == 0 && v2.writes_per_post > 1,
          "V1 writes nothing per post; V2 writes " + fixed(v2.writes_per_post) +
              " timelines per post (Twitter: 75)");
    check(v2.work_per_read < v1.work_per_read, "a V2 read scans less than a V1 read (" +
                                                   fixed(v2.work_per_read) + " vs " +
                                                   fixed(v1.work_per_read) + " entries)");
    check(v3.writes_per_post < v2.writes_per_post && v3.stored_entries <= v2.stored_entries,
          "V3 writes and stores less than V2 (" + fixed(v3.writes_per_post) + " writes per post, " +
              fixed(v3.stored_mb) + " MB against " + fixed(v2.stored_mb) + " MB)");
    check(v2.celebrity_writes >= w.followers[w.top] && v3.celebrity_writes == 0,
          "the top account's post is " + std::to_string(v2.celebrity_writes) +
              " writes under V2 (" + fixed(v2.celebrity_ms) + " ms to apply), none under V3");
    check(v2.celebrity_pending == v2.celebrity_writes,
          "right after that post the lag is " + std::to_string(v2.celebrity_pending) +
              " pending writes (stats().pending_writes), 0 once applied");

    pair_work = policies[3].total_work;
  }
  if (sweeps) {
    std::printf(
        "\n3. The hybrid's follower threshold, swept (from V2 at the top to V1's work at 1)\n");
    const auto calibrated =
        sweep_thresholds(w, "posting by (followers + 1)^0.4 (~75 followers per post at 1M users)");
    if (!policies_table) {
      const result calibrated_pair =
          run<scaling::per_pair_fan_out>(w, "per-pair (Feeding Frenzy)", pair, 0);
      print(calibrated_pair);
      pair_work = calibrated_pair.total_work;
    }
    const workload heavy = make_workload(users, 42, 100.0);
    const auto news = sweep_thresholds(heavy, "celebrities post 100x as often");
    header();
    const result heavy_pair =
        run<scaling::per_pair_fan_out>(heavy, "per-pair (Feeding Frenzy)", pair, 0);
    print(heavy_pair);
    const result& best = cheapest(calibrated);
    const result& v2_calibrated = calibrated.front();  // above the top account: V2
    const result& v1_calibrated = calibrated.back();   // threshold 1: everyone pulled
    const result& best_news = cheapest(news);
    const result& v1_news = news.back();
    const result& v2_news = news.front();
    if (csv != nullptr) {
      if (std::FILE* f = std::fopen(csv, "w")) {
        std::fprintf(f,
                     "workload,threshold,writes_per_post,work_per_read,work_per_post,per_pair\n");
        for (const auto& r : calibrated) {
          std::fprintf(f, "calibrated,%zu,%.3f,%.3f,%.3f,%.3f\n", r.threshold, r.writes_per_post,
                       r.work_per_read, r.total_work, pair_work);
        }
        for (const auto& r : news) {
          std::fprintf(f, "celebrity_heavy,%zu,%.3f,%.3f,%.3f,%.3f\n", r.threshold,
                       r.writes_per_post, r.work_per_read, r.total_work, heavy_pair.total_work);
        }
        std::fclose(f);
      }
    }

    std::printf(
        "  finding: with posts reaching ~%s followers, the best threshold (%zu, %s per "
        "post) is %s%% below V2 (%s) and far below V1 (%s)\n",
        fixed(v2_calibrated.writes_per_post).c_str(), best.threshold,
        fixed(best.total_work).c_str(),
        fixed(100 * (1 - best.total_work / v2_calibrated.total_work)).c_str(),
        fixed(v2_calibrated.total_work).c_str(), fixed(v1_calibrated.total_work).c_str());
    check(best_news.total_work < 0.98 * v1_news.total_work &&
              best_news.total_work < 0.98 * v2_news.total_work,
          "when celebrities post 100x as often, V3 at threshold " +
              std::to_string(best_news.threshold) + " (" + fixed(best_news.total_work) +
              " per post) beats both V1 (" + fixed(v1_news.total_work) + ") and V2 (" +
              fixed(v2_news.total_work) + ")");
    std::printf(
        "  per-pair: %s per post (%.2fx the best fixed threshold); celebrity-heavy: %s "
        "(%.2fx)\n",
        fixed(pair_work).c_str(), pair_work / best.total_work, fixed(heavy_pair.total_work).c_str(),
        heavy_pair.total_work / best_news.total_work);
  }
  std::printf("\n%s\n", failures == 0 ? "All claims hold." : "Some claims FAILED.");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
