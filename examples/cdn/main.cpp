// Content delivery network (Stage 1 of the scaling progression: monolith + CDN + database).
//
// Problem: every request for a static or semi-static object crosses the world to one origin,
// so users far away wait for round trips and the origin serves the same bytes again and again.
// Approach: edge caches in points of presence (POPs) near users answer from memory while the
// origin's Cache-Control says the copy is fresh; a shield tier next to the origin absorbs the
// POPs' misses; versioned URLs make deploys need no purge; purges by tag handle the rest.
// Failure modes shown: stale content after an update (the TTL is the staleness bound, a purge
// removes it), an origin outage (stale-if-error keeps serving), a thundering herd on a cold
// object (one origin fetch for 1000 requests); and the trade-off itself, in figures: how a
// longer TTL lowers latency and origin load while serving more stale pages, and what purging
// on every change costs. A failing origin, purge storms, cache poisoning, hostile headers and
// memory are named with the tests that show them.
// What to monitor: hit ratio per tier, origin offload (share of requests never reaching the
// origin), stale responses served, purge counts and reach, origin 5xx and latency, and the
// age of what users get.
//
// Everything runs in one process on a manual clock, with simulated network latencies, so the
// figures are the same on every run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <scaling/cdn.hpp>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::http_response;

int failed_checks = 0;
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failed_checks;
}

// The pattern page's questions, in its order (docs/patterns/cdn.md).
void question(const char* title, const char* answer) {
  std::printf("\n== %s\n%s\n", title, answer);
}

// A failure mode this program does not stage, and the tests that do.
void tested_in(const char* failure, const char* tests) {
  std::printf("  %s: tested in %s\n", failure, tests);
}

// Simulated network: client region -> POP round trips, and the way up to the origin.
const std::map<std::string, std::map<std::string, double>, std::less<>> latency_ms = {
    {"europe", {{"fra", 12}, {"iad", 90}, {"sin", 160}}},
    {"us-east", {{"fra", 85}, {"iad", 8}, {"sin", 210}}},
    {"asia", {{"fra", 150}, {"iad", 200}, {"sin", 30}}}};
constexpr double pop_to_shield_ms = 25;
constexpr double shield_to_origin_ms = 70;
constexpr double origin_work_ms = 40;
// Without a CDN every request goes to the origin (in us-east).
const std::map<std::string, double, std::less<>> direct_ms = {
    {"europe", 95}, {"us-east", 10}, {"asia", 210}};

// The origin: a catalogue of assets and pages, a switch to take it down, and a request count.
struct origin_server {
  std::atomic<int> fetches{0};
  std::atomic<bool> down{false};
  std::atomic<int> product_version{1};

  std::optional<http_response> operator()(const scaling::origin_request& r) {
    ++fetches;
    if (down) return std::nullopt;
    if (r.key.starts_with("/static/")) {
      // Versioned assets never change under their URL: cache them for a year.
      return http_response{
          200,
          {{"Cache-Control", "public, max-age=31536000, immutable"}, {"Surrogate-Key", "static"}},
          "asset " + r.key};
    }
    if (r.key.starts_with("/product/")) {
      return http_response{
          200,
          {{"Cache-Control", "public, max-age=60, stale-while-revalidate=30, stale-if-error=86400"},
           {"Surrogate-Key", "product " + r.key.substr(1)}},
          "v" + std::to_string(product_version.load())};
    }
    return http_response{404, {}, "not found"};
  }
};

class zipf {
 public:
  zipf(std::size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      cdf_[i] = sum += 1.0 / std::pow(double(i + 1), s);
    for (auto& c : cdf_)
      c /= sum;
  }
  std::size_t operator()(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>{0, 1}(rng);
    return static_cast<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// Section 6: one TTL policy over 20 minutes of traffic on 50 semi-static pages that change
// every 120 s (each at its own phase). With `purge_on_change` the origin's every change is
// followed by a tag purge, so a long TTL can be used without serving stale pages.
struct tradeoff_row {
  std::string name;
  double latency_ms = 0;
  double offload = 0;
  double stale_share = 0;
  int max_stale_s = 0;
  int purges = 0;
};

tradeoff_row run_tradeoff(int ttl_s, bool purge_on_change) {
  constexpr int pages = 50;
  constexpr std::int64_t change_every_ms = 120'000;
  constexpr std::int64_t step_ms = 60;
  constexpr int requests = 20'000;
  std::int64_t now_ms = 0;
  const auto version_at = [](int page, std::int64_t t_ms) {
    return (t_ms + page * 2'399) / change_every_ms;  // phase: pages change at different times
  };
  const auto changed_at = [](int page, std::int64_t version) {
    return version * change_every_ms - page * 2'399;
  };
  scaling::manual_clock clock{
      scaling::manual_clock::time_point{sys_days{2026y / April / 1}.time_since_epoch()}};
  std::atomic<int> fetches{0};
  scaling::cdn_network<> cdn{
      {.pops = {{"fra", 2}, {"iad", 2}, {"sin", 2}},
       .latency_ms = latency_ms,
       .shield_servers = 1,
       .origin =
           [&](const scaling::origin_request& r) {
             ++fetches;
             const int page = std::stoi(r.key.substr(std::string_view{"/page/"}.size()));
             return std::optional{
                 http_response{200,
                               {{"Cache-Control", "public, max-age=" + std::to_string(ttl_s)},
                                {"Surrogate-Key", "page-" + std::to_string(page)}},
                               std::to_string(version_at(page, now_ms))}};
           },
       .clock = clock}};
  const std::vector<std::string> regions = {"europe", "us-east", "asia"};
  std::mt19937_64 rng{7};
  zipf popularity{pages, 0.9};
  tradeoff_row row;
  row.name = (purge_on_change ? "max-age=" + std::to_string(ttl_s) + " + purge"
                              : "max-age=" + std::to_string(ttl_s));
  int stale = 0;
  double latency = 0;
  for (int i = 0; i < requests; ++i) {
    if (purge_on_change) {
      for (int page = 0; page < pages; ++page) {
        if (version_at(page, now_ms) != version_at(page, now_ms - step_ms)) {
          (void)cdn.purge_tag("page-" + std::to_string(page));
          ++row.purges;
        }
      }
    }
    const int page = static_cast<int>(popularity(rng));
    const std::string& region = regions[static_cast<std::size_t>(i) % regions.size()];
    const int before = fetches;
    const auto routed = cdn.get(region, {.key = "/page/" + std::to_string(page)});
    double ms = latency_ms.at(region).at(routed.pop);
    if (routed.result.status != cache_status::hit) {
      ms += pop_to_shield_ms;
      if (fetches != before) ms += shield_to_origin_ms + origin_work_ms;
    }
    latency += ms;
    const std::int64_t served = std::stoll(routed.result.response.body());
    const std::int64_t current = version_at(page, now_ms);
    if (served < current) {
      ++stale;
      const auto stale_ms = now_ms - changed_at(page, served + 1);
      row.max_stale_s = std::max(row.max_stale_s, static_cast<int>(stale_ms / 1000));
    }
    now_ms += step_ms;
    clock.advance(milliseconds{step_ms});
  }
  row.latency_ms = latency / requests;
  row.offload = cdn.stats().origin_offload();
  row.stale_share = static_cast<double>(stale) / requests;
  return row;
}

}  // namespace

int main() {
  question("Problem solved",
           "Static and semi-static content is requested far more often than it changes, by "
           "users far from the\norigin. Edge caches in points of presence answer from memory "
           "while the copy is fresh and go to the\norigin only for what they lack. The price "
           "is invalidation.");
  question("Implementation approach",
           "edge_cache applies the shared-cache rules of RFC 9111 / 5861 / 9213: fresh hits "
           "with Age, one origin\nfetch per key (the waiting list), stale-while-revalidate, "
           "stale-if-error, purges by URL, tag and\nprefix; cdn_network routes to POPs with a "
           "shield tier, on a manual clock here.");
  std::puts("\n== Failure modes");
  scaling::manual_clock clock{
      scaling::manual_clock::time_point{sys_days{2026y / March / 1}.time_since_epoch() + 9h}};
  origin_server origin;
  scaling::cdn_network<> cdn{{.pops = {{"fra", 3}, {"iad", 3}, {"sin", 2}},
                              .latency_ms = latency_ms,
                              .shield_servers = 2,
                              .capacity_bytes_per_server = 8 << 20,
                              .origin = [&origin](const auto& r) { return origin(r); },
                              .clock = clock,
                              // Background refreshes run inline so that every run prints the
                              // same figures; a server runs them on a background executor.
                              .background = [](std::function<void()> task) { task(); }}};
  const std::vector<std::string> regions = {"europe", "us-east", "asia"};
  std::mt19937_64 rng{2026};

  std::puts("1. Static assets through three POPs and a shield");
  zipf popularity{500, 0.9};
  const int requests = 30'000;
  double cdn_latency = 0, direct_latency = 0;
  for (int i = 0; i < requests; ++i) {
    const std::string& region = regions[static_cast<std::size_t>(i) % regions.size()];
    const std::string url = scaling::versioned_url(
        "/static/asset-" + std::to_string(popularity(rng)) + ".js", "release-1");
    const int before_origin = origin.fetches;
    const auto shield_hits_before = cdn.stats().shield.hits;
    const auto routed = cdn.get(region, {.key = url});
    double ms = latency_ms.at(region).at(routed.pop);
    if (routed.result.status != cache_status::hit) {
      ms += pop_to_shield_ms;
      if (origin.fetches != before_origin) ms += shield_to_origin_ms + origin_work_ms;
      (void)shield_hits_before;
    }
    cdn_latency += ms;
    direct_latency += direct_ms.at(region) + origin_work_ms;
    clock.advance(10ms);
  }
  const auto stats = cdn.stats();
  std::printf("  %d requests for 500 assets (Zipf 0.9) from 3 regions\n", requests);
  std::printf("  edge hit ratio %.1f%%, shield hit ratio %.1f%%, origin offload %.2f%%\n",
              100.0 * stats.edge.hit_ratio(), 100.0 * stats.shield.hit_ratio(),
              100.0 * stats.origin_offload());
  std::printf("  origin fetches %d (one per object: the shield absorbs the other POPs)\n",
              origin.fetches.load());
  std::printf("  mean latency: %.1f ms through the CDN vs %.1f ms direct to the origin\n",
              cdn_latency / requests, direct_latency / requests);
  check(stats.origin_offload() > 0.95, "the origin serves under 5% of the requests");
  check(origin.fetches <= 500, "at most one origin fetch per object");
  check(cdn_latency < direct_latency / 2, "the CDN at least halves mean latency");

  std::puts("\n2. A deploy with versioned URLs needs no purge");
  const std::string old_url = scaling::versioned_url("/static/app.js", "release-1");
  const std::string new_url = scaling::versioned_url("/static/app.js", "release-2");
  (void)cdn.get("europe", {.key = old_url});
  const auto after_deploy = cdn.get("europe", {.key = new_url});
  std::printf("  %s -> %s: first request after the deploy is a %s, old URL still cached\n",
              old_url.c_str(), new_url.c_str(),
              std::string(scaling::x_cache_value(after_deploy.result.status)).c_str());
  check(after_deploy.result.response.body() == "asset " + new_url,
        "clients get the new release at once: the URL changed");
  check(cdn.get("europe", {.key = old_url}).result.status == cache_status::hit,
        "pages still referencing the old release keep hitting the cache");

  std::puts("\n3. Semi-static pages: the TTL bounds staleness, a purge removes it");
  for (const auto& region : regions)
    (void)cdn.get(region, {.key = "/product/42"});
  origin.product_version = 2;  // the price changed at the origin
  int stale = 0, total = 0, last_stale_second = -1;
  for (int second = 0; second < 90; ++second) {
    for (const auto& region : regions) {
      ++total;
      if (cdn.get(region, {.key = "/product/42"}).result.response.body() == "v1") {
        ++stale;
        last_stale_second = second;
      }
    }
    clock.advance(1s);
  }
  std::printf(
      "  without a purge: %d of %d responses in the next 90 s had the old price;\n"
      "  the last one %d s after the change (max-age=60, then one stale-while-revalidate "
      "answer per POP)\n",
      stale, total, last_stale_second);
  check(stale > 0 && stale < total, "stale responses stop once the TTL runs out");
  check(last_stale_second <= 60 + 30, "staleness is bounded by max-age + stale-while-revalidate");
  origin.product_version = 3;
  const std::size_t purged = cdn.purge_tag("product/42");
  int stale_after_purge = 0;
  for (const auto& region : regions) {
    if (cdn.get(region, {.key = "/product/42"}).result.response.body() != "v3") {
      ++stale_after_purge;
    }
  }
  std::printf("  purge_tag(\"product/42\") removed %zu copies (POPs and shield); stale after: %d\n",
              purged, stale_after_purge);
  check(stale_after_purge == 0, "after a tag purge no POP serves the old price");

  std::puts("\n4. Origin outage: stale-if-error keeps the site up");
  clock.advance(120s);  // every copy of /product/42 is now stale
  origin.down = true;
  int served = 0, errors = 0;
  for (int i = 0; i < 30; ++i) {
    const auto routed = cdn.get(regions[static_cast<std::size_t>(i) % 3], {.key = "/product/42"});
    (routed.result.response.status() == 200 ? served : errors)++;
  }
  const int fresh_errors = [&] {
    int n = 0;
    for (int i = 0; i < 10; ++i) {
      if (cdn.get("europe", {.key = "/product/never-cached-" + std::to_string(i)})
              .result.response.status() >= 500) {
        ++n;
      }
    }
    return n;
  }();
  origin.down = false;
  std::printf(
      "  origin down: %d/30 requests for a cached page still answered (stale), "
      "%d/10 uncached pages failed\n",
      served, fresh_errors);
  check(served == 30 && errors == 0, "cached pages survive the outage");
  check(fresh_errors == 10, "pages never cached cannot be saved: 502");

  std::puts("\n5. Thundering herd on a cold object");
  std::atomic<int> herd_fetches{0};
  scaling::edge_cache<> edge{{.origin =
                                  [&](const scaling::origin_request&) {
                                    ++herd_fetches;
                                    std::this_thread::sleep_for(20ms);  // a slow origin
                                    return std::optional{http_response{
                                        200, {{"Cache-Control", "max-age=300"}}, "launch page"}};
                                  },
                              .clock = clock}};
  constexpr int herd = 1000;
  std::latch start{herd};
  std::vector<std::thread> clients;
  for (int i = 0; i < herd; ++i) {
    clients.emplace_back([&] {
      start.arrive_and_wait();
      (void)edge.get({.key = "/launch"});
    });
  }
  for (auto& c : clients)
    c.join();
  const auto herd_stats = edge.stats();
  std::printf("  %d simultaneous requests: %d origin fetch, %llu waited for it, %llu hit after\n",
              herd, herd_fetches.load(), static_cast<unsigned long long>(herd_stats.coalesced),
              static_cast<unsigned long long>(herd_stats.hits));
  check(herd_fetches == 1, "1000 concurrent misses reach the origin once");

  std::puts("\n6. The trade-off in figures: a longer TTL buys latency with staleness");
  std::puts("   (50 pages, each changing every 120 s; 20000 requests over 20 minutes)");
  std::printf("  %-22s %12s %15s %14s %10s %8s\n", "policy", "mean latency", "origin offload",
              "stale answers", "max stale", "purges");
  std::vector<tradeoff_row> rows;
  for (const int ttl : {5, 60, 600}) {
    rows.push_back(run_tradeoff(ttl, false));
  }
  rows.push_back(run_tradeoff(600, true));
  for (const auto& r : rows) {
    std::printf("  %-22s %9.1f ms %14.1f%% %13.2f%% %8d s %8d\n", r.name.c_str(), r.latency_ms,
                100 * r.offload, 100 * r.stale_share, r.max_stale_s, r.purges);
  }
  check(rows[0].latency_ms > rows[1].latency_ms && rows[1].latency_ms > rows[2].latency_ms,
        "a longer TTL lowers mean latency");
  check(rows[0].stale_share < rows[1].stale_share && rows[1].stale_share < rows[2].stale_share,
        "a longer TTL serves more stale answers");
  check(rows[3].stale_share == 0 && rows[3].latency_ms < rows[1].latency_ms,
        "purging on every change removes staleness and keeps most of the latency gain");
  std::puts("  Invalidation is the price of the long TTL: one purge per change, reaching every");
  std::puts("  POP and the shield, and a failed or late purge means stale answers again.");

  std::puts("\n7. Not staged here");
  tested_in("a failing origin stampeded (5xx cached briefly)",
            "EdgeCache.OriginErrorsAreNegativelyCachedBriefly");
  tested_in("purge storms", "EdgeCache.SoftPurgeKeepsTheCopyUsableStaleWhileRefreshing");
  tested_in("cache poisoning via unkeyed headers", "EdgeCache.VaryOnOtherHeadersIsNotCachedHere");
  tested_in("hostile headers", "HeaderFuzzCorpus.EveryInputParsesWithinInvariants");
  tested_in("memory", "EdgeCache.MemoryStaysWithinTheByteBound");

  question("Real-world examples",
           "Varnish (grace mode, the waiting list, hit-for-miss, xkey purges); nginx "
           "proxy_cache (cache lock,\nuse_stale, background update); Fastly (Surrogate-Key "
           "and soft purge, shielding); Cloudflare (tiered\ncache, CDN-Cache-Control).");
  question("Operational considerations",
           "Monitor per tier: hit ratio, origin offload, stale served, revalidations, passes, "
           "origin fetches and\nerrors, purge counts, bytes against capacity, the Age users "
           "receive. Set TTLs at the origin (long\nand immutable for versioned assets, short "
           "with stale-while-revalidate for pages); tag responses\nwith Surrogate-Key.");
  std::printf("\n%s\n", failed_checks == 0 ? "cdn: all checks passed" : "cdn: CHECKS FAILED");
  return failed_checks == 0 ? 0 : 1;
}
