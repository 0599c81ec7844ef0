#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/cdn/edge_cache.hpp>

#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::http_response;

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;

// An in-process origin: each URL has a handler; records every request it sees.
struct test_origin {
  scaling::manual_clock clock{scaling::manual_clock::time_point{t0.time_since_epoch()}};
  std::mutex mutex;
  std::map<std::string, std::function<std::optional<http_response>(const scaling::origin_request&)>>
      handlers;
  std::vector<scaling::origin_request> seen;
  std::atomic<bool> down{false};

  [[nodiscard]] sys_seconds now() const {
    return sys_seconds{floor<seconds>(clock.now().time_since_epoch())};
  }
  http_response ok(std::string body, std::string cache_control,
                   http_response::header_list extra = {}) const {
    http_response r{
        200,
        {{"Date", scaling::format_http_date(now())}, {"Cache-Control", std::move(cache_control)}},
        std::move(body)};
    for (auto& [name, value] : extra)
      r.add_header(name, value);
    return r;
  }
  std::optional<http_response> operator()(const scaling::origin_request& request) {
    std::function<std::optional<http_response>(const scaling::origin_request&)> handler;
    {
      const std::lock_guard lock{mutex};
      seen.push_back(request);
      if (down) return std::nullopt;
      const auto it = handlers.find(request.key);
      if (it == handlers.end()) return http_response{404, {}, "not found"};
      handler = it->second;
    }
    return handler(request);
  }
  std::size_t calls() {
    const std::lock_guard lock{mutex};
    return seen.size();
  }
};

// Runs background refreshes when the test says so.
struct manual_executor {
  std::vector<std::function<void()>> tasks;
  void run_all() {
    auto pending = std::move(tasks);
    tasks.clear();
    for (auto& task : pending)
      task();
  }
};

struct EdgeCache : ::testing::Test {
  test_origin origin;
  manual_executor executor;

  scaling::edge_cache<>::options options(std::size_t capacity = 1 << 20) {
    return {.capacity_bytes = capacity,
            .origin = [this](const scaling::origin_request& r) { return origin(r); },
            .clock = origin.clock,
            .background =
                [this](std::function<void()> task) { executor.tasks.push_back(std::move(task)); }};
  }
  void serve(const std::string& url, const std::string& body, const std::string& cc,
             http_response::header_list extra = {}) {
    const std::lock_guard lock{origin.mutex};
    origin.handlers[url] = [this, body, cc, extra](const scaling::origin_request&) {
      return std::optional{origin.ok(body, cc, extra)};
    };
  }
  void advance(seconds by) { origin.clock.advance(by); }
};

TEST_F(EdgeCache, MissThenHitWithGrowingAge) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "alpha", "max-age=60");
  const auto first = edge.get({.key = "/a"});
  EXPECT_EQ(first.status, cache_status::miss);
  EXPECT_EQ(first.response.body(), "alpha");
  advance(10s);
  const auto second = edge.get({.key = "/a"});
  EXPECT_EQ(second.status, cache_status::hit);
  EXPECT_EQ(second.response.header("Age"), "10");
  EXPECT_EQ(second.age, 10s);
  EXPECT_EQ(origin.calls(), 1U);
  EXPECT_EQ(scaling::x_cache_value(second.status), "HIT");
  const auto stats = edge.stats();
  EXPECT_EQ(stats.requests, 2U);
  EXPECT_EQ(stats.hits, 1U);
  EXPECT_DOUBLE_EQ(stats.origin_offload(), 0.5);
}

TEST_F(EdgeCache, ExpiredWithoutStalePermissionGoesBackToTheOrigin) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=5");
  (void)edge.get({.key = "/a"});
  advance(5s);
  serve("/a", "v2", "max-age=5");
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::miss);
  EXPECT_EQ(answer.response.body(), "v2");
  EXPECT_EQ(origin.calls(), 2U);
}

TEST_F(EdgeCache, StaleWhileRevalidateServesStaleAndRefreshesOnceInTheBackground) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10, stale-while-revalidate=30");
  (void)edge.get({.key = "/a"});
  advance(15s);
  serve("/a", "v2", "max-age=10, stale-while-revalidate=30");
  const auto stale1 = edge.get({.key = "/a"});
  const auto stale2 = edge.get({.key = "/a"});
  EXPECT_EQ(stale1.status, cache_status::stale);
  EXPECT_EQ(stale1.response.body(), "v1");
  EXPECT_EQ(scaling::x_cache_value(stale1.status), "STALE");
  EXPECT_EQ(stale2.status, cache_status::stale);
  ASSERT_EQ(executor.tasks.size(), 1U) << "one refresh per key";
  EXPECT_EQ(origin.calls(), 1U) << "the refresh runs in the background, not in the request";
  executor.run_all();
  EXPECT_EQ(origin.calls(), 2U);
  const auto fresh = edge.get({.key = "/a"});
  EXPECT_EQ(fresh.status, cache_status::hit);
  EXPECT_EQ(fresh.response.body(), "v2");
  EXPECT_EQ(edge.stats().background_refreshes, 1U);
}

TEST_F(EdgeCache, StaleWhileRevalidateWindowEnds) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10, stale-while-revalidate=30");
  (void)edge.get({.key = "/a"});
  advance(41s);
  EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::miss);
  EXPECT_TRUE(executor.tasks.empty());
}

TEST_F(EdgeCache, StaleIfErrorCoversAnOutageThenFails) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10, stale-if-error=60");
  (void)edge.get({.key = "/a"});
  origin.down = true;
  advance(30s);
  const auto during = edge.get({.key = "/a"});
  EXPECT_EQ(during.status, cache_status::stale);
  EXPECT_EQ(during.response.body(), "v1");
  EXPECT_EQ(during.response.header("Age"), "30");
  advance(45s);  // 65 s stale: past the 60 s window, and without validators the copy is gone
  const auto after = edge.get({.key = "/a"});
  EXPECT_EQ(after.status, cache_status::error);
  EXPECT_EQ(after.response.status(), 502);
  EXPECT_FALSE(edge.contains("/a"));
  EXPECT_EQ(edge.stats().stale_if_error, 1U);
}

TEST_F(EdgeCache, OriginFiveHundredAlsoTriggersStaleIfError) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10, stale-if-error=60");
  (void)edge.get({.key = "/a"});
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/a"] = [](const scaling::origin_request&) {
      return std::optional{http_response{503, {}, "busy"}};
    };
  }
  advance(20s);
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::stale);
  EXPECT_EQ(answer.response.body(), "v1");
}

TEST_F(EdgeCache, MustRevalidateNeverServesStaleAndAnswers504WhenTheOriginIsDown) {
  scaling::edge_cache<> edge{options()};
  // The ETag keeps the expired copy around for revalidation; must-revalidate forbids serving it.
  serve("/a", "v1", "max-age=10, must-revalidate, stale-if-error=600, stale-while-revalidate=60",
        {{"ETag", "\"v1\""}});
  (void)edge.get({.key = "/a"});
  origin.down = true;
  advance(11s);
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::error);
  EXPECT_EQ(answer.response.status(), 504);
  EXPECT_TRUE(executor.tasks.empty());
}

TEST_F(EdgeCache, UnreachableOriginWithNothingStoredIs502AndAThrowingOriginCountsAsDown) {
  scaling::edge_cache<> edge{options()};
  origin.down = true;
  EXPECT_EQ(edge.get({.key = "/nothing"}).response.status(), 502);
  scaling::edge_cache<> throwing{
      {.origin = [](const scaling::origin_request&) -> std::optional<http_response> {
         throw std::runtime_error("connection reset");
       },
       .clock = origin.clock}};
  const auto answer = throwing.get({.key = "/x"});
  EXPECT_EQ(answer.status, cache_status::error);
  EXPECT_EQ(answer.response.status(), 502);
}

TEST_F(EdgeCache, ConditionalRevalidationWith304RefreshesTheStoredCopy) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "big body", "max-age=5", {{"ETag", "\"v1\""}});
  (void)edge.get({.key = "/a"});
  advance(6s);
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/a"] = [this](const scaling::origin_request& r) {
      EXPECT_EQ(r.if_none_match, "\"v1\"");
      return std::optional{http_response{304,
                                         {{"Date", scaling::format_http_date(origin.now())},
                                          {"Cache-Control", "max-age=100"},
                                          {"ETag", "\"v1\""}},
                                         ""}};
    };
  }
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::revalidated);
  EXPECT_EQ(answer.response.status(), 200);
  EXPECT_EQ(answer.response.body(), "big body");
  EXPECT_EQ(answer.response.header("Cache-Control"), "max-age=100");
  advance(50s);
  EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 2U);
  EXPECT_EQ(edge.stats().revalidated, 1U);
}

TEST_F(EdgeCache, OriginErrorsAreNegativelyCachedBriefly) {
  scaling::edge_cache<> edge{options()};
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/broken"] = [](const scaling::origin_request&) {
      return std::optional{http_response{500, {}, "oops"}};
    };
  }
  EXPECT_EQ(edge.get({.key = "/broken"}).response.status(), 500);
  EXPECT_EQ(edge.get({.key = "/broken"}).status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 1U);
  advance(5s);  // negative_ttl
  (void)edge.get({.key = "/broken"});
  EXPECT_EQ(origin.calls(), 2U);
}

TEST_F(EdgeCache, ThousandConcurrentMissesReachTheOriginOnce) {
  constexpr int clients = scaling_test::sanitized ? 64 : 1000;
  std::atomic<int> origin_calls{0};
  std::latch start{clients};
  scaling::edge_cache<> edge{{.origin =
                                  [&](const scaling::origin_request&) {
                                    ++origin_calls;
                                    std::this_thread::sleep_for(20ms);  // a slow origin
                                    return std::optional{origin.ok("hot", "max-age=60")};
                                  },
                              .clock = origin.clock}};
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      if (edge.get({.key = "/hot"}).response.body() == "hot") ++ok;
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(origin_calls.load(), 1);
  EXPECT_EQ(ok.load(), clients);
  const auto stats = edge.stats();
  EXPECT_EQ(stats.misses, 1U);
  EXPECT_EQ(stats.hits + stats.coalesced, static_cast<std::uint64_t>(clients - 1));
}

TEST_F(EdgeCache, UncacheableResponsesAreHitForMissAndNotShared) {
  scaling::edge_cache<> edge{options()};
  serve("/account", "private data", "max-age=60", {{"Set-Cookie", "session=1"}});
  const auto first = edge.get({.key = "/account"});
  EXPECT_EQ(first.status, cache_status::pass);
  const auto second = edge.get({.key = "/account"});
  EXPECT_EQ(second.status, cache_status::pass);
  EXPECT_EQ(origin.calls(), 2U);
  EXPECT_EQ(edge.stats().passes, 2U);
  EXPECT_EQ(scaling::x_cache_value(second.status), "MISS");
}

TEST_F(EdgeCache, AuthorizationWithoutPublicIsNotStoredButDoesNotPoisonTheUrl) {
  scaling::edge_cache<> edge{options()};
  serve("/doc", "doc", "max-age=60");
  EXPECT_EQ(edge.get({.key = "/doc", .has_authorization = true}).status, cache_status::pass);
  EXPECT_EQ(edge.get({.key = "/doc"}).status, cache_status::miss);
  EXPECT_EQ(edge.get({.key = "/doc"}).status, cache_status::hit);
}

TEST_F(EdgeCache, ClientNoCacheRevalidatesWithTheOrigin) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=60");
  (void)edge.get({.key = "/a"});
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "no-cache"}).status, cache_status::miss);
  EXPECT_EQ(origin.calls(), 2U);
}

TEST_F(EdgeCache, VaryOnAcceptEncodingKeepsOneVariantPerNormalisedEncoding) {
  scaling::edge_cache<> edge{options()};
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/app.js"] = [this](const scaling::origin_request& r) {
      const std::string body = r.accept_encoding.find("br") != std::string::npos     ? "br-body"
                               : r.accept_encoding.find("gzip") != std::string::npos ? "gzip-body"
                                                                                     : "plain-body";
      return std::optional{origin.ok(body, "max-age=60", {{"Vary", "Accept-Encoding"}})};
    };
  }
  EXPECT_EQ(edge.get({.key = "/app.js", .accept_encoding = "gzip, deflate"}).response.body(),
            "gzip-body");
  EXPECT_EQ(edge.get({.key = "/app.js", .accept_encoding = "gzip, deflate, br"}).response.body(),
            "br-body");
  const auto again = edge.get({.key = "/app.js", .accept_encoding = "deflate, gzip"});
  EXPECT_EQ(again.status, cache_status::hit);
  EXPECT_EQ(again.response.body(), "gzip-body");
  EXPECT_EQ(edge.get({.key = "/app.js"}).response.body(), "plain-body");
  EXPECT_EQ(origin.calls(), 3U);
  EXPECT_EQ(edge.purge("/app.js"), 4U);  // the marker and three variants
  EXPECT_EQ(edge.size(), 0U);
}

TEST_F(EdgeCache, VaryOnOtherHeadersIsNotCachedHere) {
  scaling::edge_cache<> edge{options()};
  serve("/page", "page", "max-age=60", {{"Vary", "User-Agent"}});
  EXPECT_EQ(edge.get({.key = "/page"}).status, cache_status::pass);
  EXPECT_EQ(edge.get({.key = "/page"}).status, cache_status::pass);
}

TEST_F(EdgeCache, PurgeByUrlTagAndPrefix) {
  scaling::edge_cache<> edge{options()};
  serve("/p/1", "one", "max-age=600", {{"Surrogate-Key", "product-1 catalog"}});
  serve("/p/2", "two", "max-age=600", {{"Surrogate-Key", "product-2 catalog"}});
  serve("/css/site.css", "css", "max-age=600", {{"Surrogate-Key", "static"}});
  for (const char* url : {"/p/1", "/p/2", "/css/site.css"})
    (void)edge.get({.key = url});
  EXPECT_EQ(edge.purge_tag("product-1"), 1U);
  EXPECT_EQ(edge.get({.key = "/p/1"}).status, cache_status::miss);
  EXPECT_EQ(edge.get({.key = "/p/2"}).status, cache_status::hit);
  EXPECT_EQ(edge.purge_tag("catalog"), 2U);
  EXPECT_EQ(edge.purge_tag("catalog"), 0U);
  EXPECT_EQ(edge.purge_prefix("/css/"), 1U);
  EXPECT_EQ(edge.get({.key = "/css/site.css"}).status, cache_status::miss);
  EXPECT_EQ(edge.purge("/css/site.css"), 1U);
  (void)edge.get({.key = "/p/1"});
  EXPECT_EQ(edge.purge_all(), 1U);
  EXPECT_EQ(edge.size(), 0U);
}

TEST_F(EdgeCache, SoftPurgeKeepsTheCopyUsableStaleWhileRefreshing) {
  scaling::edge_cache<> edge{options()};
  serve("/p/1", "old", "max-age=600, stale-while-revalidate=60, stale-if-error=3600",
        {{"Surrogate-Key", "product-1"}});
  (void)edge.get({.key = "/p/1"});
  serve("/p/1", "new", "max-age=600", {{"Surrogate-Key", "product-1"}});
  EXPECT_EQ(edge.soft_purge_tag("product-1"), 1U);
  const auto answer = edge.get({.key = "/p/1"});
  EXPECT_EQ(answer.status, cache_status::stale);
  EXPECT_EQ(answer.response.body(), "old");
  executor.run_all();
  EXPECT_EQ(edge.get({.key = "/p/1"}).response.body(), "new");
}

TEST_F(EdgeCache, SoftPurgedCopyStillCoversAnOutage) {
  scaling::edge_cache<> edge{options()};
  serve("/p/1", "old", "max-age=600, stale-if-error=3600");
  (void)edge.get({.key = "/p/1"});
  EXPECT_EQ(edge.soft_purge("/p/1"), 1U);
  origin.down = true;
  const auto answer = edge.get({.key = "/p/1"});
  EXPECT_EQ(answer.status, cache_status::stale);
  EXPECT_EQ(answer.response.body(), "old");
}

TEST_F(EdgeCache, MemoryStaysWithinTheByteBound) {
  constexpr std::size_t capacity = 64 * 1024;
  scaling::edge_cache<> edge{options(capacity)};
  for (int i = 0; i < 200; ++i)
    serve("/obj/" + std::to_string(i), std::string(1000, 'x'), "max-age=600");
  for (int i = 0; i < 200; ++i) {
    (void)edge.get({.key = "/obj/" + std::to_string(i)});
    ASSERT_LE(edge.bytes(), capacity);
  }
  EXPECT_LT(edge.size(), 200U);
  EXPECT_GT(edge.size(), 10U);
  // A response larger than the whole cache is served but not stored.
  serve("/huge", std::string(capacity * 2, 'h'), "max-age=600");
  EXPECT_EQ(edge.get({.key = "/huge"}).response.body().size(), capacity * 2);
  EXPECT_FALSE(edge.contains("/huge"));
}

// Tags cost memory too (the entry's list and the purge index): many long tags on tiny
// bodies must not let the cache hold more than its bound.
TEST_F(EdgeCache, ByteBoundCountsSurrogateKeysAndTheirIndex) {
  constexpr std::size_t capacity = 64 * 1024;
  constexpr int tags = 20;
  constexpr std::size_t tag_length = 100;
  scaling::edge_cache<> edge{options(capacity)};
  for (int i = 0; i < 200; ++i) {
    std::string surrogate;
    for (int t = 0; t < tags; ++t)
      surrogate += std::string(tag_length - 3, 'k') + std::to_string(100 + t) + " ";
    serve("/tiny/" + std::to_string(i), "x", "max-age=600", {{"Surrogate-Key", surrogate}});
    (void)edge.get({.key = "/tiny/" + std::to_string(i)});
  }
  EXPECT_GT(edge.size(), 0U);
  // Each entry's tags are held at least twice (the entry and the index).
  EXPECT_LE(edge.size() * tags * tag_length * 2, capacity);
  EXPECT_LE(edge.bytes(), capacity);
}

TEST_F(EdgeCache, ShieldTierAbsorbsMissesFromSeveralEdges) {
  scaling::edge_cache<> shield{options()};
  auto edge_options = options();
  edge_options.origin = scaling::as_origin(shield);
  scaling::edge_cache<> edge_a{edge_options};
  scaling::edge_cache<> edge_b{edge_options};
  serve("/logo.png", "png", "max-age=300", {{"ETag", "\"l1\""}});
  EXPECT_EQ(edge_a.get({.key = "/logo.png"}).status, cache_status::miss);
  advance(20s);
  const auto via_b = edge_b.get({.key = "/logo.png"});
  EXPECT_EQ(via_b.status, cache_status::miss);  // a miss at edge B, a hit at the shield
  EXPECT_EQ(via_b.response.header("Age"), "20") << "Age carries over from the shield";
  EXPECT_EQ(origin.calls(), 1U);
  EXPECT_EQ(shield.stats().hits, 1U);
  EXPECT_DOUBLE_EQ(shield.stats().origin_offload(), 0.5);
  // The edge's copy expires 20 s earlier because its age started at 20 s.
  advance(281s);
  EXPECT_NE(edge_b.get({.key = "/logo.png"}).status, cache_status::hit);
}

TEST_F(EdgeCache, ShieldAnswers304ToAMatchingConditionalRequest) {
  scaling::edge_cache<> shield{options()};
  auto edge_options = options();
  edge_options.origin = scaling::as_origin(shield);
  scaling::edge_cache<> edge{edge_options};
  serve("/a", "body", "max-age=10", {{"ETag", "\"e1\""}});
  (void)edge.get({.key = "/a"});
  advance(11s);
  serve("/a", "body", "max-age=100", {{"ETag", "\"e1\""}});
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::revalidated);
  EXPECT_EQ(answer.response.body(), "body");
}

TEST_F(EdgeCache, RejectsBadConfiguration) {
  try {
    scaling::edge_cache<> edge{{.capacity_bytes = 0, .origin = [](const auto&) {
                                  return std::optional<http_response>{};
                                }}};
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::edge_cache: capacity_bytes must be > 0 (got 0)");
  }
  EXPECT_THROW(scaling::edge_cache<>{scaling::edge_cache<>::options{}}, std::invalid_argument);
  EXPECT_THROW(
      (scaling::edge_cache<>{{.origin = [](const auto&) { return std::optional<http_response>{}; },
                              .negative_ttl = -1s}}),
      std::invalid_argument);
}

TEST_F(EdgeCache, DefaultBackgroundWorkerRunsRefreshes) {
  std::atomic<int> calls{0};
  {
    scaling::edge_cache<> edge{{.origin =
                                    [&](const scaling::origin_request&) {
                                      ++calls;
                                      return std::optional{
                                          origin.ok("v" + std::to_string(calls.load()),
                                                    "max-age=1, stale-while-revalidate=100")};
                                    },
                                .clock = origin.clock}};
    (void)edge.get({.key = "/a"});
    advance(5s);
    EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::stale);
    // The refresh runs on the cache's own thread; a broken build gives up after the guard.
    const auto give_up = steady_clock::now() + 20s;
    while (edge.get({.key = "/a"}).response.body() != "v2" && steady_clock::now() < give_up)
      std::this_thread::yield();
    EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::hit);
  }
  EXPECT_EQ(calls.load(), 2);
}

// A reader that found the stale copy just before a refresh landed must not lead another: each
// stale copy costs the origin one refresh, however many readers race it.
TEST_F(EdgeCache, EachStaleCopyIsRefreshedOnceWhileReadersRaceTheRefresh) {
  std::atomic<int> calls{0};
  scaling::edge_cache<> edge{
      {.origin =
           [&](const scaling::origin_request&) {
             const int n = ++calls;
             return std::optional{
                 origin.ok("v" + std::to_string(n), "max-age=1, stale-while-revalidate=100")};
           },
       .clock = origin.clock}};
  (void)edge.get({.key = "/a"});
  for (int round = 2; round <= 200; ++round) {
    advance(5s);
    const std::string want = "v" + std::to_string(round);
    {
      std::vector<std::jthread> readers;
      for (int t = 0; t < 3; ++t) {
        readers.emplace_back([&] {
          // The refresh runs on the cache's own thread; a broken build gives up after the guard.
          const auto give_up = steady_clock::now() + 20s;
          while (edge.get({.key = "/a"}).response.body() != want && steady_clock::now() < give_up)
            std::this_thread::yield();
        });
      }
    }
    ASSERT_EQ(calls.load(), round) << "round " << round;
  }
}

TEST_F(EdgeCache, TryGetAnswersOnlyFromCacheAndNeverCallsTheOrigin) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10, stale-while-revalidate=30");
  EXPECT_FALSE(edge.try_get({.key = "/a"}).has_value());
  EXPECT_EQ(origin.calls(), 0U);
  EXPECT_EQ(edge.stats().requests, 0U) << "left for the get() that follows to count";
  (void)edge.get({.key = "/a"});
  const auto hit = edge.try_get({.key = "/a"});
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status, cache_status::hit);
  advance(15s);
  const auto stale = edge.try_get({.key = "/a"});
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->status, cache_status::stale);
  EXPECT_EQ(executor.tasks.size(), 1U);
  EXPECT_EQ(origin.calls(), 1U);
  EXPECT_EQ(edge.stats().requests, 3U);
  executor.run_all();  // the cache waits for its refreshes when destroyed
}

// A purge storm: a deploy soft-purges every object at once. Requests keep being answered
// from the stale copies, and the origin sees one refresh per object, not one per request.
TEST_F(EdgeCache, SoftPurgeStormCostsTheOriginOneRefreshPerObject) {
  scaling::edge_cache<> edge{options()};
  constexpr int objects = 100;
  for (int i = 0; i < objects; ++i) {
    const std::string url = "/asset/" + std::to_string(i);
    serve(url, "v1", "max-age=600, stale-while-revalidate=600", {{"Surrogate-Key", "release"}});
    (void)edge.get({.key = url});
  }
  ASSERT_EQ(origin.calls(), std::size_t{objects});
  EXPECT_EQ(edge.soft_purge_tag("release"), std::size_t{objects});
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < objects; ++i) {
      const auto answer = edge.get({.key = "/asset/" + std::to_string(i)});
      ASSERT_EQ(answer.status, cache_status::stale);
    }
  }
  EXPECT_EQ(executor.tasks.size(), std::size_t{objects}) << "one refresh per object";
  EXPECT_EQ(origin.calls(), std::size_t{objects}) << "no request waited for the origin";
  executor.run_all();
  EXPECT_EQ(origin.calls(), std::size_t{2 * objects});
  EXPECT_EQ(edge.get({.key = "/asset/7"}).status, cache_status::hit);
}

// A custom executor may run a refresh after the cache is gone: it must neither call the
// origin nor hang, and one that drops the task unrun leaves nothing waiting.
TEST_F(EdgeCache, RefreshRunAfterTheCacheIsDestroyedDoesNothing) {
  {
    scaling::edge_cache<> edge{options()};
    serve("/a", "v1", "max-age=10, stale-while-revalidate=30");
    (void)edge.get({.key = "/a"});
    advance(15s);
    EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::stale);
    ASSERT_EQ(executor.tasks.size(), 1U);
  }
  executor.run_all();
  EXPECT_EQ(origin.calls(), 1U) << "the origin is not called after the destructor returned";
}

// Two clients miss on a URL nobody has fetched yet, with different Accept-Encodings. Only the
// response says it varies: the waiter that asked for another coding must not be handed the
// leader's variant (a br body for a gzip-only client), and fetches its own.
TEST_F(EdgeCache, ColdMissWaitersWithAnotherEncodingGetTheirOwnVariant) {
  std::vector<std::pair<scaling::origin_request, scaling::origin_callback<http_response>>> parked;
  scaling::edge_cache<> edge{{.async_origin =
                                  [&parked](const scaling::origin_request& r,
                                            scaling::origin_callback<http_response> answer) {
                                    parked.emplace_back(r, std::move(answer));
                                  },
                              .clock = origin.clock}};
  std::map<std::string, std::string> bodies;
  const auto ask = [&](const std::string& client, std::string_view accept_encoding) {
    edge.get_async({.key = "/app.js", .accept_encoding = accept_encoding},
                   [&bodies, client](scaling::edge_result<http_response> r) {
                     bodies[client] = r.response.body();
                   });
  };
  const auto answer = [&](std::size_t i) {
    const std::string coding = parked.at(i).first.accept_encoding;
    parked.at(i).second(origin.ok(coding + "-body", "max-age=60",
                                  {{"Vary", "Accept-Encoding"}, {"Content-Encoding", coding}}));
  };
  ask("gzip-1", "gzip, deflate");
  ask("br-1", "gzip, deflate, br");
  ask("gzip-2", "deflate, gzip");
  ASSERT_EQ(parked.size(), 1U) << "all three wait for the first fetch";
  EXPECT_EQ(parked[0].first.accept_encoding, "gzip") << "the origin is asked the normalised value";
  answer(0);
  EXPECT_EQ(bodies["gzip-1"], "gzip-body");
  EXPECT_EQ(bodies["gzip-2"], "gzip-body") << "the same coding shares the fetch";
  EXPECT_FALSE(bodies.contains("br-1")) << "the br client was not handed the gzip variant";
  ASSERT_EQ(parked.size(), 2U);
  EXPECT_EQ(parked[1].first.accept_encoding, "br");
  answer(1);
  EXPECT_EQ(bodies["br-1"], "br-body");
  EXPECT_EQ(edge.stats().requests, 3U);
  EXPECT_EQ(edge.stats().coalesced, 1U);
  // Both variants are stored now, each under its own coding.
  ask("br-2", "br");
  ask("gzip-3", "gzip");
  EXPECT_EQ(bodies["br-2"], "br-body");
  EXPECT_EQ(bodies["gzip-3"], "gzip-body");
  EXPECT_EQ(parked.size(), 2U);
}

TEST_F(EdgeCache, AcceptEncodingIsNormalisedWithQualityValues) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "a", "no-store");  // uncacheable: every request reaches the origin
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "identity"},
      {"gzip", "gzip"},
      {"br;q=0, gzip", "gzip"},
      {"br;q=0.000, gzip;q=0", "identity"},
      {"br;q=0.5, gzip;q=1.0", "br"},
      {"x-gzip", "gzip"},
      {"*", "gzip"},
      {"BR", "br"},
      {" br ; q=0.1 ", "br"},
      {"brotli, gzips", "identity"},
  };
  for (const auto& [sent, normalised] : cases) {
    (void)edge.get({.key = "/a", .accept_encoding = sent});
    const std::lock_guard lock{origin.mutex};
    EXPECT_EQ(origin.seen.back().accept_encoding, normalised) << "Accept-Encoding: " << sent;
  }
}

// Hit-for-miss, not hit-for-pass: once the origin makes the URL cacheable again, the next
// response is stored even though the URL was remembered as uncacheable.
TEST_F(EdgeCache, HitForMissUrlIsCachedAgainAsSoonAsItsResponseIsCacheable) {
  scaling::edge_cache<> edge{options()};
  serve("/home", "personal", "max-age=60", {{"Set-Cookie", "session=1"}});
  EXPECT_EQ(edge.get({.key = "/home"}).status, cache_status::pass);
  serve("/home", "public", "max-age=60");
  const auto next = edge.get({.key = "/home"});
  EXPECT_EQ(next.status, cache_status::miss);
  EXPECT_EQ(next.response.body(), "public");
  EXPECT_EQ(edge.get({.key = "/home"}).status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 2U);
  EXPECT_EQ(edge.stats().passes, 1U);
  EXPECT_EQ(edge.stats().misses, 1U);
}

TEST_F(EdgeCache, VaryStarIsNeverStored) {
  scaling::edge_cache<> edge{options()};
  serve("/any", "any", "max-age=60", {{"Vary", "*"}});
  EXPECT_EQ(edge.get({.key = "/any"}).status, cache_status::pass);
  EXPECT_EQ(edge.get({.key = "/any"}).status, cache_status::pass);
  EXPECT_EQ(origin.calls(), 2U);
}

// A cached origin error sits at the object's key but keeps the copy it replaced: when it
// expires, that copy is revalidated with a cheap 304 instead of refetched.
TEST_F(EdgeCache, NegativeEntryKeepsTheReplacedCopyForRevalidation) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1 body", "max-age=10", {{"ETag", "\"v1\""}});
  (void)edge.get({.key = "/a"});
  advance(11s);
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/a"] = [](const scaling::origin_request&) {
      return std::optional{http_response{503, {}, "busy"}};
    };
  }
  EXPECT_EQ(edge.get({.key = "/a"}).response.status(), 503);
  EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::hit) << "the 503 is cached briefly";
  EXPECT_EQ(origin.calls(), 2U);
  advance(5s);  // negative_ttl
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/a"] = [this](const scaling::origin_request& r) {
      if (r.if_none_match != "\"v1\"") return std::optional{origin.ok("refetched", "max-age=10")};
      return std::optional{http_response{
          304,
          {{"Date", scaling::format_http_date(origin.now())}, {"Cache-Control", "max-age=10"}},
          ""}};
    };
  }
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::revalidated);
  EXPECT_EQ(answer.response.body(), "v1 body");
}

// The error entry of a varying URL leaves its Vary marker and the other variants alone.
TEST_F(EdgeCache, NegativeEntryOfOneVariantKeepsTheOthers) {
  scaling::edge_cache<> edge{options()};
  {
    const std::lock_guard lock{origin.mutex};
    origin.handlers["/v"] = [this](const scaling::origin_request& r) {
      if (r.accept_encoding == "br") return std::optional{http_response{500, {}, "broken"}};
      return std::optional{origin.ok("gzip-body", "max-age=60", {{"Vary", "Accept-Encoding"}})};
    };
  }
  EXPECT_EQ(edge.get({.key = "/v", .accept_encoding = "gzip"}).status, cache_status::miss);
  EXPECT_EQ(edge.get({.key = "/v", .accept_encoding = "br"}).response.status(), 500);
  const auto gzip = edge.get({.key = "/v", .accept_encoding = "gzip"});
  EXPECT_EQ(gzip.status, cache_status::hit);
  EXPECT_EQ(gzip.response.body(), "gzip-body");
  EXPECT_EQ(edge.get({.key = "/v", .accept_encoding = "br"}).status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 2U);
}

// stale-if-error covers 500, 502, 503, 504 and no answer (RFC 5861), not other 5xx.
TEST_F(EdgeCache, StaleIfErrorCoversOnlyTheStatusesRfc5861Names) {
  for (const int status : {500, 501, 502, 503, 504, 505}) {
    test_origin o;
    scaling::edge_cache<> edge{
        {.origin = [&o](const scaling::origin_request& r) { return o(r); }, .clock = o.clock}};
    {
      const std::lock_guard lock{o.mutex};
      o.handlers["/a"] = [&o](const scaling::origin_request&) {
        return std::optional{o.ok("v1", "max-age=10, stale-if-error=60")};
      };
    }
    (void)edge.get({.key = "/a"});
    o.clock.advance(20s);
    {
      const std::lock_guard lock{o.mutex};
      o.handlers["/a"] = [status](const scaling::origin_request&) {
        return std::optional{http_response{status, {{"Cache-Control", "no-store"}}, "error"}};
      };
    }
    const auto answer = edge.get({.key = "/a"});
    const bool covered = status != 501 && status != 505;
    EXPECT_EQ(answer.status == cache_status::stale, covered) << status;
    EXPECT_EQ(answer.response.body(), covered ? "v1" : "error") << status;
  }
}

TEST_F(EdgeCache, RequestMaxAgeAndMinFreshAskForAFresherCopy) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=100", {{"ETag", "\"v1\""}});
  (void)edge.get({.key = "/a"});
  advance(30s);
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "max-age=60"}).status, cache_status::hit);
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "min-fresh=70"}).status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 1U);
  serve("/a", "v2", "max-age=100");
  // Age 30 > 20, and 70 s of freshness left < 80: both go to the origin.
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "max-age=20"}).response.body(), "v2");
  {
    const std::lock_guard lock{origin.mutex};
    EXPECT_EQ(origin.seen.back().if_none_match, "\"v1\"") << "conditionally, with the copy's ETag";
  }
  advance(30s);
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "min-fresh=80"}).status, cache_status::miss);
  advance(1s);  // max-age=0 accepts only a copy of age 0
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "max-age=0"}).status, cache_status::miss);
  EXPECT_EQ(origin.calls(), 4U);
}

// A stale copy exists only while it is kept: one with validators is kept
// keep_for_revalidation past its last usable moment.
TEST_F(EdgeCache, RequestMaxStaleAcceptsAStaleCopyTheResponseAllows) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10", {{"ETag", "\"a1\""}});
  serve("/strict", "s1", "max-age=10, must-revalidate", {{"ETag", "\"s1\""}});
  (void)edge.get({.key = "/a"});
  (void)edge.get({.key = "/strict"});
  advance(40s);  // 30 s stale
  origin.down = true;
  const auto stale = edge.get({.key = "/a", .cache_control = "max-stale=60"});
  EXPECT_EQ(stale.status, cache_status::stale);
  EXPECT_EQ(stale.response.body(), "v1");
  EXPECT_EQ(stale.response.header("Age"), "40");
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "max-stale"}).status, cache_status::stale);
  EXPECT_EQ(edge.stats().stale_accepted, 2U);
  EXPECT_EQ(origin.calls(), 2U) << "no origin request for an accepted stale copy";
  // Too stale for the client, or forbidden by must-revalidate: to the (down) origin.
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "max-stale=20"}).status, cache_status::error);
  EXPECT_EQ(edge.get({.key = "/strict", .cache_control = "max-stale"}).status, cache_status::error);
}

TEST_F(EdgeCache, OnlyIfCachedNeverReachesTheOrigin) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=10", {{"ETag", "\"a1\""}});
  const auto cold = edge.get({.key = "/a", .cache_control = "only-if-cached"});
  EXPECT_EQ(cold.status, cache_status::error);
  EXPECT_EQ(cold.response.status(), 504);
  EXPECT_EQ(origin.calls(), 0U);
  (void)edge.get({.key = "/a"});
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "only-if-cached"}).status, cache_status::hit);
  advance(20s);
  EXPECT_EQ(edge.get({.key = "/a", .cache_control = "only-if-cached"}).response.status(), 504);
  EXPECT_EQ(
      edge.get({.key = "/a", .cache_control = "only-if-cached, max-stale=60"}).response.body(),
      "v1");
  EXPECT_EQ(origin.calls(), 1U);
}

// RFC 9213: the CDN's own field wins over Cache-Control, in the cache as in the parser.
TEST_F(EdgeCache, CdnCacheControlDecidesTheEdgeLifetime) {
  scaling::edge_cache<> edge{options()};
  serve("/a", "v1", "max-age=5", {{"CDN-Cache-Control", "max-age=100"}});
  serve("/b", "b1", "max-age=100", {{"CDN-Cache-Control", "no-store"}});
  (void)edge.get({.key = "/a"});
  (void)edge.get({.key = "/b"});
  advance(50s);
  const auto a = edge.get({.key = "/a"});
  EXPECT_EQ(a.status, cache_status::hit);
  EXPECT_EQ(a.response.header("Cache-Control"), "max-age=5") << "browsers still get their own";
  EXPECT_EQ(edge.get({.key = "/b"}).status, cache_status::pass);
  EXPECT_EQ(origin.calls(), 3U);
}

}  // namespace
