#include <algorithm>
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <scaling/asio/consumer_pool.hpp>
#include <scaling/asio/mpmc_queue.hpp>

#include "support/sanitizers.hpp"

namespace {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using int_queue = scaling::asio::async_queue<int>;

constexpr int stress_scale = scaling_test::sanitized ? 1 : 5;

TEST(AsyncQueue, RejectsZeroCapacity) {
  net::io_context io;
  EXPECT_THROW(int_queue(io.get_executor(), 0), scaling::invalid_argument);
}

TEST(AsyncQueue, CallbackNeverRunsInsideTheInitiatingCall) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  ASSERT_TRUE(q.try_push(7));
  std::optional<int> got;
  q.async_pop([&](error_code ec, int v) {
    EXPECT_FALSE(ec);
    got = v;
  });
  EXPECT_FALSE(got) << "an element was ready, yet the handler must not run inline";
  io.run();
  EXPECT_EQ(got, 7);
}

TEST(AsyncQueue, PendingPopIsWokenByAPush) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  std::optional<int> got;
  q.async_pop([&](error_code ec, int v) {
    EXPECT_FALSE(ec);
    got = v;
  });
  io.poll();
  EXPECT_FALSE(got);
  EXPECT_EQ(q.waiting_pops(), 1U);
  ASSERT_TRUE(q.try_push(11));
  io.run();
  EXPECT_EQ(got, 11);
  EXPECT_EQ(q.waiting_pops(), 0U);
}

TEST(AsyncQueue, UseFuture) {
  net::io_context io;
  auto guard = net::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  int_queue q{io.get_executor(), 2};
  std::future<int> popped = q.async_pop(net::use_future);
  std::future<void> pushed = q.async_push(5, net::use_future);
  EXPECT_EQ(popped.get(), 5);
  pushed.get();
  q.close();
  std::future<int> after_close = q.async_pop(net::use_future);
  try {
    (void)after_close.get();
    ADD_FAILURE() << "pop on a closed, drained queue must fail";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), net::error::eof);
  }
  guard.reset();
  runner.join();
}

TEST(AsyncQueue, UseAwaitableWithBackpressure) {
  net::io_context io;
  int_queue q{io.get_executor(), 2};
  std::vector<int> received;
  std::uint32_t max_waiting_pushes = 0;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < 50; ++i) {
          co_await q.async_push(i, net::use_awaitable);
          max_waiting_pushes = std::max(max_waiting_pushes, q.waiting_pushes());
        }
        q.close();
      },
      net::detached);
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (;;) {
          auto [ec, v] = co_await q.async_pop(net::as_tuple(net::use_awaitable));
          if (ec) {
            EXPECT_EQ(ec, net::error::eof);
            co_return;
          }
          EXPECT_LE(q.size(), q.capacity());
          received.push_back(v);
        }
      },
      net::detached);
  io.run();
  ASSERT_EQ(received.size(), 50U);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(received[static_cast<std::size_t>(i)], i);
}

TEST(AsyncQueue, CancelledPopAbortsAndLosesNothing) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  net::cancellation_signal signal;
  std::optional<error_code> result;
  q.async_pop(net::bind_cancellation_slot(signal.slot(), [&](error_code ec, int) { result = ec; }));
  io.poll();
  ASSERT_FALSE(result);
  signal.emit(net::cancellation_type::terminal);
  io.run();
  io.restart();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_EQ(q.waiting_pops(), 0U);
  // The cancelled pop must not swallow a later element.
  ASSERT_TRUE(q.try_push(3));
  std::optional<int> got;
  q.async_pop([&](error_code ec, int v) {
    EXPECT_FALSE(ec);
    got = v;
  });
  io.run();
  EXPECT_EQ(got, 3);
}

// The cancellation slot is connected at initiation: a signal emitted right after the
// initiating call, before the operation first ran, aborts it (the element stays queued).
TEST(AsyncQueue, CancellationEmittedRightAfterInitiationAbortsPop) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  ASSERT_TRUE(q.try_push(5));
  net::cancellation_signal signal;
  std::optional<error_code> result;
  q.async_pop(net::bind_cancellation_slot(signal.slot(), [&](error_code ec, int) { result = ec; }));
  signal.emit(net::cancellation_type::terminal);
  io.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_EQ(q.size(), 1U) << "an aborted pop takes nothing";
}

TEST(AsyncQueue, CancellationEmittedRightAfterInitiationAbortsPush) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  net::cancellation_signal signal;
  std::optional<error_code> result;
  q.async_push(9, net::bind_cancellation_slot(signal.slot(), [&](error_code ec) { result = ec; }));
  signal.emit(net::cancellation_type::total);
  io.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_EQ(q.size(), 0U) << "an aborted push adds nothing";
}

TEST(AsyncQueue, CancelledPushLeavesTheQueueAsItWas) {
  net::io_context io;
  int_queue q{io.get_executor(), 1};
  ASSERT_TRUE(q.try_push(1));
  net::cancellation_signal signal;
  std::optional<error_code> result;
  q.async_push(2, net::bind_cancellation_slot(signal.slot(), [&](error_code ec) { result = ec; }));
  io.poll();
  ASSERT_FALSE(result) << "a full queue must hold the push back";
  EXPECT_EQ(q.waiting_pushes(), 1U);
  signal.emit(net::cancellation_type::partial);
  io.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  int v = 0;
  ASSERT_TRUE(q.try_pop(v));
  EXPECT_EQ(v, 1);
  EXPECT_FALSE(q.try_pop(v));
}

TEST(AsyncQueue, CloseWakesPendingPopsAndPushes) {
  net::io_context io;
  int_queue empty{io.get_executor(), 1};
  int_queue full{io.get_executor(), 1};
  ASSERT_TRUE(full.try_push(0));
  std::vector<error_code> results;
  for (int i = 0; i < 3; ++i) {
    empty.async_pop([&](error_code ec, int) { results.push_back(ec); });
    full.async_push(i, [&](error_code ec) { results.push_back(ec); });
  }
  io.poll();
  EXPECT_TRUE(results.empty());
  empty.close();
  full.close();
  io.run();
  ASSERT_EQ(results.size(), 6U);
  int eof = 0;
  int broken = 0;
  for (const auto& ec : results) {
    eof += ec == net::error::eof;
    broken += ec == net::error::broken_pipe;
  }
  EXPECT_EQ(eof, 3);
  EXPECT_EQ(broken, 3);
}

TEST(AsyncQueue, CompletesOnTheHandlersAssociatedExecutor) {
  net::io_context queue_io;
  net::io_context handler_io;
  int_queue q{queue_io.get_executor(), 2};
  bool on_handler_executor = false;
  bool called = false;
  q.async_pop(net::bind_executor(handler_io, [&](error_code, int) {
    called = true;
    on_handler_executor = handler_io.get_executor().running_in_this_thread();
  }));
  ASSERT_TRUE(q.try_push(1));
  queue_io.poll();
  EXPECT_FALSE(called) << "the handler belongs to the other io_context";
  handler_io.run();
  EXPECT_TRUE(called);
  EXPECT_TRUE(on_handler_executor);
}

// Many coroutine producers on a two-thread io_context feed a consumer pool: every element is
// handled exactly once, and the pool reports when the queue is closed and drained.
TEST(ConsumerPool, HandlesEveryElementExactlyOnceAcrossThreads) {
  net::io_context io;
  scaling::asio::async_queue<std::uint64_t> q{io.get_executor(), 8};
  std::mutex m;
  std::multiset<std::uint64_t> seen;
  std::atomic<bool> finished{false};
  scaling::asio::consumer_pool<std::uint64_t> pool{q, 3, [&](std::uint64_t& v) {
                                                     std::lock_guard lock{m};
                                                     seen.insert(v);
                                                   }};
  pool.start([&] { finished = true; });
  constexpr int producers = 4;
  const int per_producer = 200 * stress_scale;
  auto remaining = std::make_shared<std::atomic<int>>(producers);
  for (int p = 0; p < producers; ++p) {
    net::co_spawn(
        io,
        [&q, p, remaining]() -> net::awaitable<void> {
          for (int i = 0; i < per_producer; ++i)
            co_await q.async_push((std::uint64_t(p) << 32) | std::uint64_t(i), net::use_awaitable);
          if (remaining->fetch_sub(1) == 1) q.close();
        },
        net::detached);
  }
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(pool.processed(), std::uint64_t(producers) * std::uint64_t(per_producer));
  ASSERT_EQ(seen.size(), std::size_t(producers) * std::size_t(per_producer));
  for (std::uint64_t v : seen)
    EXPECT_EQ(seen.count(v), 1U);
}

TEST(ConsumerPool, StopCancelsIdleConsumersAndRejectsBadArguments) {
  net::io_context io;
  int_queue q{io.get_executor(), 4};
  EXPECT_THROW((scaling::asio::consumer_pool<int>{q, 0, [](int&) {}}), scaling::invalid_argument);
  int handled = 0;
  bool finished = false;
  scaling::asio::consumer_pool<int> pool{q, 2, [&](int&) { ++handled; }};
  pool.start([&] { finished = true; });
  ASSERT_TRUE(q.try_push(1));
  io.poll();
  EXPECT_EQ(handled, 1);
  EXPECT_EQ(pool.running(), 2U);
  pool.stop();
  io.run();
  EXPECT_TRUE(finished);
  EXPECT_EQ(pool.running(), 0U);
  EXPECT_EQ(q.waiting_pops(), 0U);
}

}  // namespace
