// The edge cache's concurrency contracts, driven step by step from the test: waiters behind an
// uncacheable response, purges racing fetches, close() against queued refreshes, and bounded
// waits. Origins here park every call until the test answers it, so no test depends on timing;
// the waits on the test side only bound how long a broken build hangs before it fails.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/cdn/edge_cache.hpp>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::edge_result;
using scaling::http_response;

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;
// Only how long a broken build waits before failing; never reached by a correct one.
constexpr auto hang_guard = 20s;

http_response response(const scaling::manual_clock& clock, std::string body,
                       std::string cache_control, http_response::header_list extra = {}) {
  http_response r{200,
                  {{"Date", scaling::format_http_date(
                                sys_seconds{floor<seconds>(clock.now().time_since_epoch())})},
                   {"Cache-Control", std::move(cache_control)}},
                  std::move(body)};
  for (auto& [name, value] : extra)
    r.add_header(name, value);
  return r;
}

// A blocking origin whose every call waits until the test answers it (or opens the gate, after
// which calls answer at once with `open_answer`).
class parked_origin {
 public:
  std::optional<http_response> operator()(const scaling::origin_request& request) {
    auto c = std::make_shared<call>();
    c->request = request;
    std::unique_lock lock{mutex_};
    if (open_) return open_answer_;
    calls_.push_back(c);
    changed_.notify_all();
    changed_.wait(lock, [&] { return c->answered; });
    return c->answer;
  }
  // Waits (bounded by hang_guard) until `n` calls have reached the origin.
  bool wait_for_calls(std::size_t n) {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, hang_guard, [&] { return calls_.size() >= n; });
  }
  void answer(std::size_t i, std::optional<http_response> r) {
    const std::lock_guard lock{mutex_};
    calls_.at(i)->answer = std::move(r);
    calls_.at(i)->answered = true;
    changed_.notify_all();
  }
  // Answers every parked call and every later one with `r`.
  void open(std::optional<http_response> r) {
    const std::lock_guard lock{mutex_};
    open_ = true;
    open_answer_ = r;
    for (auto& c : calls_) {
      if (c->answered) continue;
      c->answer = r;
      c->answered = true;
    }
    changed_.notify_all();
  }
  std::size_t calls() {
    const std::lock_guard lock{mutex_};
    return calls_.size();
  }

 private:
  struct call {
    scaling::origin_request request;
    std::optional<http_response> answer;
    bool answered = false;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<call>> calls_;
  bool open_ = false;
  std::optional<http_response> open_answer_;
};

// Collects results delivered on other threads.
struct inbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<edge_result<http_response>> results;

  void put(edge_result<http_response> r) {
    const std::lock_guard lock{mutex};
    results.push_back(std::move(r));
    changed.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, hang_guard, [&] { return results.size() >= n; });
  }
};

struct EdgeCacheLifecycle : ::testing::Test {
  scaling::manual_clock clock{scaling::manual_clock::time_point{t0.time_since_epoch()}};
  parked_origin origin;

  scaling::edge_cache<>::options blocking_options() {
    return {.origin = [this](const scaling::origin_request& r) { return origin(r); },
            .clock = clock};
  }
};

// Waiters behind a cold key whose first response turns out uncacheable may not share it: each
// fetches its own at once, all concurrently, and the request that fetched first returns
// without doing their fetches for them.
TEST_F(EdgeCacheLifecycle, WaitersBehindAnUncacheableResponseFetchTheirOwnAtOnce) {
  constexpr std::size_t waiters = 3;
  scaling::edge_cache<> edge{blocking_options()};
  inbox leader_box;
  std::thread leader([&] { leader_box.put(edge.get({.key = "/account"})); });
  ASSERT_TRUE(origin.wait_for_calls(1));
  inbox box;
  for (std::size_t i = 0; i < waiters; ++i) {
    // The key's fetch is under way: each request joins its waiting list and returns.
    edge.get_async({.key = "/account"},
                   [&box](edge_result<http_response> r) { box.put(std::move(r)); });
  }
  EXPECT_EQ(origin.calls(), 1U) << "the waiters wait for the first fetch";
  origin.answer(0, response(clock, "leader's", "private, max-age=60"));

  const bool all_fetching = origin.wait_for_calls(1 + waiters);
  const bool leader_done = leader_box.wait_for(1);
  EXPECT_TRUE(all_fetching) << "the waiters' own fetches must all be at the origin together";
  EXPECT_TRUE(leader_done) << "the first request must return without waiting for the others";

  origin.open(response(clock, "own", "private, max-age=60"));
  leader.join();
  ASSERT_TRUE(box.wait_for(waiters));
  EXPECT_EQ(leader_box.results.at(0).response.body(), "leader's");
  for (const auto& r : box.results) {
    EXPECT_EQ(r.status, cache_status::pass);
    EXPECT_EQ(r.response.body(), "own") << "a private response is never shared";
  }
  EXPECT_EQ(edge.stats().coalesced, 0U);
}

// The same with blocking get() waiters on their own threads: each fetches its own on its own
// thread. (A waiter that arrives after the answer finds the hit-for-miss marker and passes
// straight away: the outcome is the same either way.)
TEST_F(EdgeCacheLifecycle, BlockingWaitersBehindAnUncacheableResponseFetchOnTheirOwnThreads) {
  constexpr std::size_t waiters = 3;
  scaling::edge_cache<> edge{blocking_options()};
  inbox leader_box;
  std::thread leader([&] { leader_box.put(edge.get({.key = "/account"})); });
  ASSERT_TRUE(origin.wait_for_calls(1));
  inbox box;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < waiters; ++i)
    threads.emplace_back([&] { box.put(edge.get({.key = "/account"})); });
  const auto give_up = steady_clock::now() + hang_guard;
  while (edge.stats().requests < 1 + waiters && steady_clock::now() < give_up)
    std::this_thread::yield();
  origin.answer(0, response(clock, "leader's", "private, max-age=60"));
  const bool all_fetching = origin.wait_for_calls(1 + waiters);
  const bool leader_done = leader_box.wait_for(1);
  EXPECT_TRUE(all_fetching) << "the waiters' own fetches must all be at the origin together";
  EXPECT_TRUE(leader_done) << "the first request must return without waiting for the others";
  origin.open(response(clock, "own", "private, max-age=60"));
  leader.join();
  for (auto& t : threads)
    t.join();
  ASSERT_EQ(box.results.size(), waiters);
  for (const auto& r : box.results) {
    EXPECT_EQ(r.status, cache_status::pass);
    EXPECT_EQ(r.response.body(), "own");
  }
}

// An origin whose answers the test delivers by hand (an asynchronous origin).
struct async_parked {
  std::vector<std::pair<scaling::origin_request, scaling::origin_callback<http_response>>> calls;
  scaling::async_origin_fetch<http_response> fetch() {
    return [this](const scaling::origin_request& r, scaling::origin_callback<http_response> cb) {
      calls.emplace_back(r, std::move(cb));
    };
  }
};

// A purge wins over a fetch that began before it: the fetched response answers its request
// but is not stored, and the next request goes to the origin.
TEST_F(EdgeCacheLifecycle, FetchInFlightDuringAPurgeIsNotStored) {
  struct purge_case {
    const char* name;
    std::function<void(scaling::edge_cache<>&)> purge;
    bool stored_after;
  };
  const std::vector<purge_case> cases = {
      {"purge by url", [](auto& e) { (void)e.purge("/p/a"); }, false},
      {"purge by tag", [](auto& e) { (void)e.purge_tag("product-1"); }, false},
      {"purge by prefix", [](auto& e) { (void)e.purge_prefix("/p/"); }, false},
      {"purge all", [](auto& e) { (void)e.purge_all(); }, false},
      {"soft purge by url", [](auto& e) { (void)e.soft_purge("/p/a"); }, false},
      {"soft purge by tag", [](auto& e) { (void)e.soft_purge_tag("product-1"); }, false},
      {"soft purge by prefix", [](auto& e) { (void)e.soft_purge_prefix("/p/"); }, false},
      // Purges of something else do not stop the fetch from being stored.
      {"other url", [](auto& e) { (void)e.purge("/p/b"); }, true},
      {"other tag", [](auto& e) { (void)e.purge_tag("product-2"); }, true},
      {"other prefix", [](auto& e) { (void)e.purge_prefix("/q/"); }, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    async_parked origin_calls;
    scaling::edge_cache<> edge{{.async_origin = origin_calls.fetch(), .clock = clock}};
    std::optional<edge_result<http_response>> got;
    edge.get_async({.key = "/p/a"}, [&got](edge_result<http_response> r) { got = std::move(r); });
    ASSERT_EQ(origin_calls.calls.size(), 1U);
    c.purge(edge);
    origin_calls.calls[0].second(
        response(clock, "before the purge", "max-age=60", {{"Surrogate-Key", "product-1 all"}}));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->response.body(), "before the purge") << "its requester still gets it";
    EXPECT_EQ(edge.contains("/p/a"), c.stored_after);
    edge.get_async({.key = "/p/a"}, [](edge_result<http_response>) {});
    EXPECT_EQ(origin_calls.calls.size(), c.stored_after ? 1U : 2U);
    if (origin_calls.calls.size() == 2U) origin_calls.calls[1].second(std::nullopt);
  }
}

// A purge between two fetches of the same URL does not stop the later one being stored.
TEST_F(EdgeCacheLifecycle, FetchStartedAfterAPurgeIsStored) {
  async_parked origin_calls;
  scaling::edge_cache<> edge{{.async_origin = origin_calls.fetch(), .clock = clock}};
  (void)edge.purge_tag("product-1");
  (void)edge.purge("/p/a");
  edge.get_async({.key = "/p/a"}, [](edge_result<http_response>) {});
  ASSERT_EQ(origin_calls.calls.size(), 1U);
  origin_calls.calls[0].second(
      response(clock, "after", "max-age=60", {{"Surrogate-Key", "product-1"}}));
  EXPECT_TRUE(edge.contains("/p/a"));
  EXPECT_EQ(edge.purge_tag("product-1"), 1U);
}

// close() (and the destructor) cancel the refreshes queued on the default background thread:
// the one already at the origin finishes, the queued ones never reach it.
TEST_F(EdgeCacheLifecycle, CloseCancelsQueuedRefreshesAndLetsTheRunningOneFinish) {
  std::atomic<int> calls{0};
  std::atomic<bool> park{false};
  scaling::edge_cache<> edge{
      {.origin =
           [&](const scaling::origin_request& r) {
             ++calls;
             if (park) return origin(r);
             return std::optional{response(clock, "v1", "max-age=10, stale-while-revalidate=60")};
           },
       .clock = clock}};
  for (const char* key : {"/a", "/b", "/c"})
    (void)edge.get({.key = key});
  ASSERT_EQ(calls.load(), 3);
  clock.advance(15s);
  park = true;
  EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::stale);
  ASSERT_TRUE(origin.wait_for_calls(1)) << "the refresh of /a runs on the background thread";
  EXPECT_EQ(edge.get({.key = "/b"}).status, cache_status::stale);
  EXPECT_EQ(edge.get({.key = "/c"}).status, cache_status::stale);
  EXPECT_EQ(calls.load(), 4) << "/b and /c are queued behind /a";

  EXPECT_FALSE(edge.closed());
  std::thread closer([&] { edge.close(); });
  const auto give_up = steady_clock::now() + hang_guard;
  while (!edge.closed() && steady_clock::now() < give_up)
    std::this_thread::yield();
  ASSERT_TRUE(edge.closed());
  origin.open(response(clock, "v2", "max-age=10"));  // the running refresh finishes
  closer.join();
  EXPECT_EQ(calls.load(), 4) << "queued refreshes never reach the origin after close()";
  edge.close();  // idempotent
  EXPECT_TRUE(edge.closed());
  // After close the origin is never called: a miss answers as if it were unreachable.
  EXPECT_EQ(edge.get({.key = "/new"}).status, cache_status::error);
  EXPECT_EQ(calls.load(), 4);
}

TEST_F(EdgeCacheLifecycle, DestructorDoesNotRunQueuedRefreshes) {
  std::atomic<int> calls{0};
  scaling::edge_cache<>::options opts{
      .origin =
          [&](const scaling::origin_request&) {
            ++calls;
            return std::optional{response(clock, "v", "max-age=10, stale-while-revalidate=60")};
          },
      .clock = clock};
  std::vector<std::function<void()>> queued;
  opts.background = [&queued](std::function<void()> task) { queued.push_back(std::move(task)); };
  {
    scaling::edge_cache<> edge{opts};
    (void)edge.get({.key = "/a"});
    clock.advance(15s);
    EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::stale);
    ASSERT_EQ(queued.size(), 1U);
  }
  for (auto& task : queued)
    task();
  EXPECT_EQ(calls.load(), 1);
}

// A bounded wait gives up at its deadline; the fetch goes on, answers the requests still
// waiting, and is stored.
TEST_F(EdgeCacheLifecycle, GetUntilGivesUpAtTheDeadlineWhileTheFetchIsStored) {
  scaling::edge_cache<> edge{blocking_options()};
  // A deadline already past: the request starts the fetch, then leaves at once.
  const auto timed_out = edge.get_until({.key = "/slow"}, steady_clock::now());
  EXPECT_EQ(timed_out.status(), scaling::wait_status::timed_out);
  EXPECT_FALSE(timed_out.has_value());
  ASSERT_TRUE(origin.wait_for_calls(1)) << "the fetch continues without the caller";
  EXPECT_EQ(edge.get_for({.key = "/slow"}, 0s).status(), scaling::wait_status::timed_out);

  inbox box;
  std::thread waiter([&] { box.put(edge.get({.key = "/slow"})); });
  origin.answer(0, response(clock, "slow body", "max-age=60"));
  ASSERT_TRUE(box.wait_for(1));
  waiter.join();
  EXPECT_EQ(box.results[0].response.body(), "slow body");
  const auto hit = edge.get_for({.key = "/slow"}, hours::max());
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status, cache_status::hit);
  EXPECT_EQ(origin.calls(), 1U);
}

TEST_F(EdgeCacheLifecycle, GetUntilReturnsStoppedWhenItsStopTokenFires) {
  scaling::edge_cache<> edge{blocking_options()};
  std::stop_source stop;
  std::optional<scaling::wait_status> status;
  std::thread caller([&] {
    status = edge.get_until({.key = "/slow"}, steady_clock::time_point::max(), stop.get_token())
                 .status();
  });
  ASSERT_TRUE(origin.wait_for_calls(1));
  stop.request_stop();
  caller.join();
  EXPECT_EQ(status, scaling::wait_status::stopped);
  origin.answer(0, response(clock, "late", "max-age=60"));
  // The fetch is stored once it lands; a plain get waits for it or finds it.
  EXPECT_EQ(edge.get({.key = "/slow"}).response.body(), "late");
  EXPECT_EQ(origin.calls(), 1U);
}

TEST_F(EdgeCacheLifecycle, GetForAnswersFromCacheAndReportsClosed) {
  async_parked origin_calls;
  scaling::edge_cache<> edge{{.async_origin = origin_calls.fetch(), .clock = clock}};
  edge.get_async({.key = "/a"}, [](edge_result<http_response>) {});
  origin_calls.calls[0].second(response(clock, "a", "max-age=60"));
  const auto hit = edge.get_for({.key = "/a"}, 0s);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->response.body(), "a");
  EXPECT_TRUE(edge.get_for({.key = "/a"}, nanoseconds::max()).has_value()) << "no overflow";
  edge.close();
  EXPECT_EQ(edge.get_for({.key = "/c"}, 1h).status(), scaling::wait_status::closed);
  EXPECT_EQ(edge.get_for({.key = "/a"}, 1h).status(), scaling::wait_status::ready);
}

}  // namespace
