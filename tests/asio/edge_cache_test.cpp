// The edge cache's asynchronous half: get_async, async origins, scaling::asio::async_get with
// each kind of completion token, waiters completing on their own executors, timeouts, and
// origins that answer after the cache is gone.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <scaling/asio/edge_cache.hpp>
#include <scaling/cdn/edge_cache.hpp>
#include <scaling/cdn/http_date.hpp>

namespace {

namespace net = boost::asio;
using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::http_response;
using result = scaling::edge_result<http_response>;

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;

// An asynchronous origin that answers only when the test says so.
struct parked_origin {
  scaling::manual_clock clock{scaling::manual_clock::time_point{t0.time_since_epoch()}};
  std::mutex mutex;
  std::vector<std::pair<scaling::origin_request, scaling::origin_callback<http_response>>> parked;
  std::size_t calls = 0;

  void operator()(const scaling::origin_request& request,
                  scaling::origin_callback<http_response> answer) {
    const std::lock_guard lock{mutex};
    ++calls;
    parked.emplace_back(request, std::move(answer));
  }
  std::size_t call_count() {
    const std::lock_guard lock{mutex};
    return calls;
  }
  std::size_t parked_count() {
    const std::lock_guard lock{mutex};
    return parked.size();
  }
  http_response ok(std::string body, std::string cache_control) const {
    const sys_seconds now{floor<seconds>(clock.now().time_since_epoch())};
    return {200,
            {{"Date", scaling::format_http_date(now)}, {"Cache-Control", std::move(cache_control)}},
            std::move(body)};
  }
  // Answers every parked request with `response` (nullopt: unreachable).
  void answer_all(const std::optional<http_response>& response) {
    std::vector<std::pair<scaling::origin_request, scaling::origin_callback<http_response>>> now;
    {
      const std::lock_guard lock{mutex};
      now.swap(parked);
    }
    for (auto& entry : now)
      entry.second(response);
  }
};

struct AsyncEdge : ::testing::Test {
  // Origin functions capture a plain pointer: parked callbacks hold the cache's state, which
  // holds the origin function, so capturing this shared_ptr would make a cycle.
  std::shared_ptr<parked_origin> origin = std::make_shared<parked_origin>();

  scaling::edge_cache<>::options options() {
    return {.capacity_bytes = 1 << 20,
            .async_origin =
                [o = origin.get()](const scaling::origin_request& r,
                                   scaling::origin_callback<http_response> answer) {
                  (*o)(r, std::move(answer));
                },
            .clock = origin->clock};
  }
};

TEST_F(AsyncEdge, OptionsNameTheOriginThatIsMissingOrDoubled) {
  auto neither = options();
  neither.async_origin = nullptr;
  try {
    scaling::edge_cache<> edge{neither};
    FAIL() << "an edge without an origin was accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("origin"), std::string::npos) << e.what();
  }
  auto both = options();
  both.origin = [](const scaling::origin_request&) { return std::optional<http_response>{}; };
  try {
    scaling::edge_cache<> edge{both};
    FAIL() << "an edge with two origins was accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("async_origin"), std::string::npos) << e.what();
  }
}

TEST_F(AsyncEdge, AThousandMissesWaitForOneFetchAndAllGetItsAnswer) {
  scaling::edge_cache<> edge{options()};
  std::vector<std::optional<result>> answers(1000);
  for (auto& slot : answers)
    edge.get_async({.key = "/cold"}, [&slot](result r) { slot = std::move(r); });
  EXPECT_EQ(origin->call_count(), 1U);
  for (const auto& slot : answers)
    EXPECT_FALSE(slot.has_value()) << "nothing can answer before the origin does";
  origin->answer_all(origin->ok("body", "max-age=60"));
  std::size_t coalesced = 0;
  for (const auto& slot : answers) {
    ASSERT_TRUE(slot.has_value());
    EXPECT_EQ(slot->response.body(), "body");
    EXPECT_EQ(slot->status, cache_status::miss);
    coalesced += slot->coalesced ? 1 : 0;
  }
  EXPECT_EQ(coalesced, 999U);
  EXPECT_EQ(edge.stats().coalesced, 999U);
  EXPECT_EQ(edge.stats().origin_fetches, 1U);

  std::optional<result> hit;
  edge.get_async({.key = "/cold"}, [&hit](result r) { hit = std::move(r); });
  ASSERT_TRUE(hit.has_value()) << "a cache answer completes inside get_async";
  EXPECT_EQ(hit->status, cache_status::hit);
}

TEST_F(AsyncEdge, UncacheableAnswerSendsEachWaiterToTheOriginOnItsOwn) {
  scaling::edge_cache<> edge{options()};
  std::vector<std::optional<result>> answers(3);
  for (auto& slot : answers)
    edge.get_async({.key = "/private"}, [&slot](result r) { slot = std::move(r); });
  ASSERT_EQ(origin->call_count(), 1U);
  origin->answer_all(origin->ok("mine", "private"));
  EXPECT_EQ(origin->call_count(), 3U) << "the two waiters pass through to the origin";
  origin->answer_all(origin->ok("theirs", "private"));
  for (const auto& slot : answers) {
    ASSERT_TRUE(slot.has_value());
    EXPECT_EQ(slot->status, cache_status::pass);
  }
}

TEST_F(AsyncEdge, StaleWhileRevalidateStartsOneAsyncRefreshAndServesStale) {
  scaling::edge_cache<> edge{options()};
  edge.get_async({.key = "/a"}, [](result) {});
  origin->answer_all(origin->ok("v1", "max-age=10, stale-while-revalidate=60"));
  origin->clock.advance(20s);
  std::vector<result> stale;
  for (int i = 0; i < 3; ++i)
    edge.get_async({.key = "/a"}, [&stale](result r) { stale.push_back(std::move(r)); });
  ASSERT_EQ(stale.size(), 3U);
  for (const auto& r : stale) {
    EXPECT_EQ(r.status, cache_status::stale);
    EXPECT_EQ(r.response.body(), "v1");
  }
  EXPECT_EQ(origin->call_count(), 2U) << "one refresh for three stale answers";
  origin->answer_all(origin->ok("v2", "max-age=10, stale-while-revalidate=60"));
  const auto fresh = edge.get({.key = "/a"});
  EXPECT_EQ(fresh.status, cache_status::hit);
  EXPECT_EQ(fresh.response.body(), "v2");
}

TEST_F(AsyncEdge, OriginThatThrowsOrAnswersTwiceIsHandled) {
  auto opts = options();
  int calls = 0;
  opts.async_origin = [&calls, o = origin.get()](const scaling::origin_request&,
                                                 scaling::origin_callback<http_response> answer) {
    if (++calls == 1) throw std::runtime_error("connection reset");
    answer(o->ok("first", "max-age=60"));
    answer(o->ok("second", "max-age=60"));
  };
  scaling::edge_cache<> edge{opts};
  EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::error);
  const auto answer = edge.get({.key = "/a"});
  EXPECT_EQ(answer.status, cache_status::miss);
  EXPECT_EQ(answer.response.body(), "first") << "the second answer is ignored";
  EXPECT_EQ(edge.get({.key = "/a"}).response.body(), "first");
}

TEST_F(AsyncEdge, BlockingGetWorksWithAnOriginOnAnotherThread) {
  net::io_context io;
  auto work = net::make_work_guard(io);
  std::thread runner{[&io] { io.run(); }};
  auto opts = options();
  opts.async_origin = [&io, o = origin.get()](const scaling::origin_request&,
                                              scaling::origin_callback<http_response> answer) {
    net::post(io, [o, answer = std::move(answer)] { answer(o->ok("from io", "max-age=60")); });
  };
  {
    scaling::edge_cache<> edge{opts};
    const auto first = edge.get({.key = "/a"});
    EXPECT_EQ(first.status, cache_status::miss);
    EXPECT_EQ(first.response.body(), "from io");
    EXPECT_EQ(edge.get({.key = "/a"}).status, cache_status::hit);
  }
  work.reset();
  runner.join();
}

TEST_F(AsyncEdge, OriginAnsweringAfterTheCacheIsGoneIsSafeAndStillAnswersTheRequest) {
  std::optional<result> answer;
  {
    scaling::edge_cache<> edge{options()};
    edge.get_async({.key = "/a"}, [&answer](result r) { answer = std::move(r); });
  }
  ASSERT_EQ(origin->parked_count(), 1U);
  origin->answer_all(origin->ok("late", "max-age=60"));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->response.body(), "late");
}

TEST_F(AsyncEdge, TiersOfAsyncEdgesFetchOnce) {
  scaling::edge_cache<> shield{options()};
  scaling::edge_cache<> edge{{.capacity_bytes = 1 << 20,
                              .async_origin = scaling::as_async_origin(shield),
                              .clock = origin->clock}};
  std::vector<result> answers;
  for (int i = 0; i < 10; ++i)
    edge.get_async({.key = "/t"}, [&answers](result r) { answers.push_back(std::move(r)); });
  origin->answer_all(origin->ok("tiered", "max-age=60"));
  ASSERT_EQ(answers.size(), 10U);
  for (const auto& r : answers)
    EXPECT_EQ(r.response.body(), "tiered");
  EXPECT_EQ(origin->call_count(), 1U);
  EXPECT_EQ(shield.stats().requests, 1U);
}

TEST_F(AsyncEdge, AsyncGetNeverCompletesInsideTheInitiatingCall) {
  net::io_context io;
  scaling::edge_cache<> edge{options()};
  edge.get_async({.key = "/a"}, [](result) {});
  origin->answer_all(origin->ok("x", "max-age=60"));
  std::optional<result> hit;
  scaling::asio::async_get(edge, {.key = "/a"},
                           net::bind_executor(io, [&hit](result r) { hit = std::move(r); }));
  EXPECT_FALSE(hit.has_value()) << "a cache answer is posted, not run inline";
  io.run();
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status, cache_status::hit);
}

TEST_F(AsyncEdge, CoalescedWaitersCompleteOnTheirOwnExecutors) {
  net::io_context first;
  net::io_context second;
  scaling::edge_cache<> edge{options()};
  std::atomic<int> on_own_executor{0};
  std::atomic<int> completed{0};
  const auto waiter = [&](net::io_context& io) {
    return net::bind_executor(io, [&, ex = io.get_executor()](const result& r) {
      if (ex.running_in_this_thread()) on_own_executor.fetch_add(1);
      EXPECT_EQ(r.response.body(), "shared");
      completed.fetch_add(1);
    });
  };
  scaling::asio::async_get(edge, {.key = "/k"}, waiter(first));
  scaling::asio::async_get(edge, {.key = "/k"}, waiter(second));
  scaling::asio::async_get(edge, {.key = "/k"}, waiter(second));
  EXPECT_EQ(origin->call_count(), 1U);
  std::thread answering{[&] { origin->answer_all(origin->ok("shared", "max-age=60")); }};
  answering.join();
  std::thread run_first{[&first] { first.run(); }};
  second.run();
  run_first.join();
  EXPECT_EQ(completed.load(), 3);
  EXPECT_EQ(on_own_executor.load(), 3);
}

TEST_F(AsyncEdge, UseFutureAndUseAwaitable) {
  net::io_context io;
  scaling::edge_cache<> edge{options()};
  auto future = scaling::asio::async_get(edge, {.key = "/f"}, net::use_future);
  origin->answer_all(origin->ok("future", "max-age=60"));
  const result by_future = future.get();
  EXPECT_EQ(by_future.response.body(), "future");
  EXPECT_EQ(by_future.status, cache_status::miss);

  std::vector<cache_status> seen;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        // Named requests: GCC 12 mishandles class temporaries that live across a co_await.
        const scaling::edge_request cached{.key = "/f"};
        const result a = co_await scaling::asio::async_get(edge, cached, net::use_awaitable);
        seen.push_back(a.status);
        const scaling::edge_request fresh{.key = "/g", .cache_control = "no-cache"};
        const result b = co_await scaling::asio::async_get(edge, fresh, net::use_awaitable);
        seen.push_back(b.status);
      },
      net::detached);
  // The coroutine parks on /g's fetch; answer it once it has been asked for.
  while (origin->parked_count() == 0)
    io.run_one();
  origin->answer_all(origin->ok("awaited", "max-age=60"));
  io.run();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0], cache_status::hit);
  EXPECT_EQ(seen[1], cache_status::miss);
}

TEST_F(AsyncEdge, WithTimeoutTurnsASilentOriginIntoAnOutage) {
  net::io_context io;
  auto opts = options();
  opts.async_origin =
      scaling::asio::with_timeout<http_response>(io.get_executor(), opts.async_origin, 20ms);
  scaling::edge_cache<> edge{opts};

  std::optional<result> answer;
  scaling::asio::async_get(edge, {.key = "/slow"},
                           net::bind_executor(io, [&answer](result r) { answer = std::move(r); }));
  io.run();  // returns once the timer has fired and the answer has been delivered
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, cache_status::error);
  EXPECT_EQ(answer->response.status(), 502);
  origin->answer_all(origin->ok("too late", "max-age=60"));  // dropped
  EXPECT_FALSE(edge.contains("/slow"));

  // An origin that answers in time is not cut short, and the timer does not hold io.run().
  io.restart();
  answer.reset();
  scaling::asio::async_get(edge, {.key = "/slow"},
                           net::bind_executor(io, [&answer](result r) { answer = std::move(r); }));
  origin->answer_all(origin->ok("in time", "max-age=60"));
  io.run();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->response.body(), "in time");
}

TEST_F(AsyncEdge, WithTimeoutServesTheStaleCopyWhenAllowed) {
  net::io_context io;
  auto opts = options();
  opts.async_origin =
      scaling::asio::with_timeout<http_response>(io.get_executor(), opts.async_origin, 10ms);
  scaling::edge_cache<> edge{opts};
  edge.get_async({.key = "/s"}, [](result) {});
  origin->answer_all(origin->ok("kept", "max-age=10, stale-if-error=600"));
  io.run();
  io.restart();
  origin->clock.advance(60s);
  std::optional<result> answer;
  scaling::asio::async_get(edge, {.key = "/s"},
                           net::bind_executor(io, [&answer](result r) { answer = std::move(r); }));
  io.run();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, cache_status::stale);
  EXPECT_EQ(answer->response.body(), "kept");
  origin->answer_all(std::nullopt);  // its timer must go before the io_context does
}

TEST(WithTimeout, RejectsAnEmptyOriginAndANonPositiveTimeout) {
  net::io_context io;
  const scaling::async_origin_fetch<http_response> origin =
      [](const scaling::origin_request&, scaling::origin_callback<http_response> answer) {
        answer(std::nullopt);
      };
  EXPECT_THROW((void)scaling::asio::with_timeout<http_response>(io.get_executor(), nullptr, 1s),
               scaling::invalid_argument);
  try {
    (void)scaling::asio::with_timeout<http_response>(io.get_executor(), origin, 0ms);
    FAIL() << "a zero timeout was accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("timeout"), std::string::npos) << e.what();
  }
}

}  // namespace
