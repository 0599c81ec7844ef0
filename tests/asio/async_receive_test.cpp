#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <scaling/asio/work_queue.hpp>
#include <scaling/core/clock.hpp>

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using error_code = boost::system::error_code;
using queue = scaling::work_queue<std::string, scaling::manual_clock>;
using batch = std::vector<scaling::delivery<std::string>>;

struct outcome {
  std::optional<error_code> ec;
  batch got;
  auto handler() {
    return [this](error_code e, batch b) {
      ec = e;
      got = std::move(b);
    };
  }
};

TEST(AsyncReceive, ReadyMessagesCompleteButNotInline) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  (void)q.publish("a");
  (void)q.publish("b");
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 30s, out.handler());
  EXPECT_FALSE(out.ec) << "must not complete inside the initiating call";
  io.run();
  ASSERT_TRUE(out.ec);
  EXPECT_FALSE(*out.ec);
  ASSERT_EQ(out.got.size(), 2U);
  EXPECT_EQ(out.got[0].body, "a");
  EXPECT_EQ(q.ack(out.got[0].receipt), scaling::receipt_status::ok);
}

TEST(AsyncReceive, LongPollIsWokenByAPublish) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s, out.handler());
  io.poll();
  EXPECT_FALSE(out.ec) << "nothing to receive yet";
  (void)q.publish("wake");
  io.run_one();
  io.poll();
  ASSERT_TRUE(out.ec);
  EXPECT_FALSE(*out.ec);
  ASSERT_EQ(out.got.size(), 1U);
  EXPECT_EQ(out.got[0].body, "wake");
}

TEST(AsyncReceive, DelayedMessageArrivesWhenItsTimeComes) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  (void)q.publish("later", {.delay = 5s});
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s, out.handler());
  io.poll();
  EXPECT_FALSE(out.ec);
  clock.advance(5s);
  q.notify();  // a manual clock does not announce that time moved
  io.run_one();
  io.poll();
  ASSERT_TRUE(out.ec);
  ASSERT_EQ(out.got.size(), 1U);
  EXPECT_EQ(out.got[0].body, "later");
}

TEST(AsyncReceive, DeadlineCompletesWithAnEmptyBatch) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 1ms, out.handler());
  io.run();
  ASSERT_TRUE(out.ec);
  EXPECT_FALSE(*out.ec) << "a long poll that times out is not an error";
  EXPECT_TRUE(out.got.empty());
  EXPECT_THROW(scaling::asio::async_receive(io.get_executor(), q, 1, 1, -1s, out.handler()),
               scaling::invalid_argument);
}

TEST(AsyncReceive, CancellationAbortsAndCloseEnds) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  net::cancellation_signal signal;
  outcome cancelled;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s,
                               net::bind_cancellation_slot(signal.slot(), cancelled.handler()));
  outcome ended;
  scaling::asio::async_receive(io.get_executor(), q, 2, 10, 3600s, ended.handler());
  io.poll();
  signal.emit(net::cancellation_type::terminal);
  io.poll();
  ASSERT_TRUE(cancelled.ec);
  EXPECT_EQ(*cancelled.ec, net::error::operation_aborted);
  EXPECT_FALSE(ended.ec);
  q.close();
  io.run();
  ASSERT_TRUE(ended.ec);
  EXPECT_EQ(*ended.ec, net::error::eof);
  // A message published before the cancellation would still be there for the next receiver.
  EXPECT_EQ(q.stats().in_flight, 0U);
}

TEST(AsyncReceive, UseFutureAndUseAwaitable) {
  net::io_context io;
  auto guard = net::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  scaling::manual_clock clock;
  queue q{{}, clock};
  std::future<batch> pending =
      scaling::asio::async_receive(io.get_executor(), q, 1, 1, 3600s, net::use_future);
  (void)q.publish("for the future");
  batch got = pending.get();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "for the future");
  guard.reset();
  runner.join();

  net::io_context io2;
  std::vector<std::string> bodies;
  (void)q.publish("x");
  (void)q.publish("y");
  net::co_spawn(
      io2,
      [&]() -> net::awaitable<void> {
        for (int round = 0; round < 2; ++round) {
          auto b = co_await scaling::asio::async_receive(io2.get_executor(), q, 2, 1, 1s,
                                                         net::use_awaitable);
          for (auto& d : b) {
            bodies.push_back(d.body);
            EXPECT_EQ(q.ack(d.receipt), scaling::receipt_status::ok);
          }
        }
      },
      net::detached);
  io2.run();
  EXPECT_EQ(bodies, (std::vector<std::string>{"x", "y"}));
}

// The cancellation slot is connected when the operation is initiated: a signal emitted before
// the operation first ran aborts it, even though a message was there to receive.
TEST(AsyncReceive, CancellationEmittedRightAfterInitiationAborts) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  (void)q.publish("stays");
  net::cancellation_signal signal;
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s,
                               net::bind_cancellation_slot(signal.slot(), out.handler()));
  signal.emit(net::cancellation_type::terminal);
  io.run();
  ASSERT_TRUE(out.ec);
  EXPECT_EQ(*out.ec, net::error::operation_aborted);
  EXPECT_TRUE(out.got.empty());
  EXPECT_EQ(q.stats().ready, 1U) << "an aborted receive takes nothing";
}

// A delayed publish while the receive waits moves its alarm forward: the message is delivered
// when it falls due on the queue's clock, not at the receive's deadline (an hour away).
TEST(AsyncReceive, DelayedPublishWhileWaitingIsDeliveredWhenDue) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s, out.handler());
  io.poll();
  ASSERT_FALSE(out.ec) << "nothing to receive yet";
  (void)q.publish("soon", {.delay = 20ms});  // wakes the receive, which re-arms its timer
  io.poll();
  ASSERT_FALSE(out.ec) << "not due yet";
  clock.advance(20ms);  // due now on the queue's clock; nobody calls notify()
  io.run_for(10s);      // returns as soon as the receive completes (no work is left)
  ASSERT_TRUE(out.ec) << "still waiting: the alarm was left at the deadline";
  EXPECT_FALSE(*out.ec);
  ASSERT_EQ(out.got.size(), 1U);
  EXPECT_EQ(out.got[0].body, "soon");
}

TEST(AsyncReceive, RequeueAfterWhileWaitingIsDeliveredWhenDue) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  (void)q.publish("retry me");
  auto first = q.receive(1, 1);
  ASSERT_EQ(first.size(), 1U);
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 2, 10, 3600s, out.handler());
  io.poll();
  ASSERT_FALSE(out.ec);
  ASSERT_EQ(q.nack(first[0].receipt, scaling::nack_action::requeue_after, 20ms),
            scaling::receipt_status::ok);
  io.poll();
  ASSERT_FALSE(out.ec);
  clock.advance(20ms);
  io.run_for(10s);
  ASSERT_TRUE(out.ec);
  ASSERT_EQ(out.got.size(), 1U);
  EXPECT_EQ(out.got[0].body, "retry me");
  EXPECT_EQ(out.got[0].receipt.delivery_count, 2U);
}

// A closed queue still hands out what it holds; eof only once it is drained.
TEST(AsyncReceive, ClosedQueueDrainsBeforeEof) {
  net::io_context io;
  scaling::manual_clock clock;
  queue q{{}, clock};
  (void)q.publish("held", {.delay = 5s});
  q.close();
  outcome out;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s, out.handler());
  io.poll();
  ASSERT_FALSE(out.ec) << "closed but not drained: keep waiting";
  clock.advance(5s);
  q.notify();
  io.run();
  ASSERT_TRUE(out.ec);
  EXPECT_FALSE(*out.ec);
  ASSERT_EQ(out.got.size(), 1U);
  EXPECT_EQ(q.ack(out.got[0].receipt), scaling::receipt_status::ok);
  outcome after;
  scaling::asio::async_receive(io.get_executor(), q, 1, 10, 3600s, after.handler());
  io.restart();
  io.run();
  ASSERT_TRUE(after.ec);
  EXPECT_EQ(*after.ec, net::error::eof);
}

TEST(AsyncReceive, MaximalWaitsMeanForever) {
  for (const bool in_hours : {false, true}) {
    net::io_context io;
    scaling::manual_clock clock;
    queue q{{}, clock};
    outcome out;
    if (in_hours) {
      scaling::asio::async_receive(io.get_executor(), q, 1, 10, std::chrono::hours::max(),
                                   out.handler());
    } else {
      scaling::asio::async_receive(io.get_executor(), q, 1, 10, std::chrono::nanoseconds::max(),
                                   out.handler());
    }
    io.poll();
    ASSERT_FALSE(out.ec) << "an overflowed deadline in the past would complete at once";
    (void)q.publish("eventually");
    io.run();
    ASSERT_TRUE(out.ec);
    ASSERT_EQ(out.got.size(), 1U);
  }
}

}  // namespace
