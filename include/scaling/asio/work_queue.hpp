// scaling/asio/work_queue.hpp: long-polling receive from scaling::work_queue as an Asio
// asynchronous operation.
//
// What it is: `scaling::asio::async_receive(executor, queue, consumer, max, wait, token)`,
// the asynchronous form of work_queue::receive_wait (SQS ReceiveMessage with
// WaitTimeSeconds): it completes as soon as at least one message is deliverable, or with an
// empty batch when `wait` passes, without holding a thread while it waits. It is woken by
// publishes, nacks and acks that unblock a group (through the queue's listeners) and by a
// timer for the deadline and for the next delayed message or visibility timeout; the timer is
// re-armed whenever a wake-up shows an earlier due time (a delayed publish or a requeue_after
// while the receive waits), so such a message is delivered when it falls due. Any completion
// token works; the handler runs once, on its associated executor (default: `executor`), never
// inside the initiating call; per-operation cancellation aborts it, including a cancellation
// emitted right after the initiating call, before the operation first ran.
//
// When to pick it: consumers that are coroutines or callbacks. Threads use receive_wait.
//
//   auto batch = co_await scaling::asio::async_receive(io.get_executor(), jobs, /*consumer=*/1,
//                                                      /*max=*/10, 20s, use_awaitable);
//   for (auto& d : batch) { handle(d.body); (void)jobs.ack(d.receipt); }
//
// Completion signature: void(error_code, std::vector<scaling::delivery<Message>>).
// Errors: operation_aborted (cancelled; nothing was received), eof (the queue was closed and is
// drained: nothing ready, delayed or in flight). A deadline with nothing to deliver is success
// with an empty batch. `wait` of nanoseconds::max() or hours::max() waits forever.
// Thread safety: as work_queue; the queue must outlive the operation.
// Timing: with a manual clock, delays and visibility timeouts pass only when the clock is
// advanced and queue.notify() is called; the `wait` deadline is always real (steady) time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <scaling/asio/detail/parking.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/queueing/work_queue.hpp>

namespace scaling::asio {

namespace detail {

template <class Message, class Clock, class Executor>
struct receive_op {
  using batch = std::vector<delivery<Message>>;
  using steady = std::chrono::steady_clock;

  work_queue<Message, Clock>* queue;
  Executor executor;
  consumer_id consumer;
  std::size_t max_messages;
  steady::time_point deadline;
  std::shared_ptr<parking_spot> spot{};
  std::shared_ptr<boost::asio::steady_timer> timer{};
  std::optional<std::uint64_t> listener{};
  std::optional<steady::time_point> armed_at{};  // the timer's expiry while a wait is pending
  bool started = false;

  template <class Self>
  void operator()(Self& self, unsigned reasons = 0) {
    if (!started) {
      started = true;
      self.reset_cancellation_state([](boost::asio::cancellation_type t) { return t; });
      spot = std::make_shared<parking_spot>();
      connect_cancellation(self, spot);  // now, so an immediate cancellation is not lost
      auto ex = self.get_executor();
      boost::asio::post(ex, [s = std::move(self)]() mutable { s(0u); });
      return;
    }
    connect_cancellation(self, spot);
    reasons |= spot->take(wake_cancelled);
    for (;;) {
      if ((reasons & wake_timeout) != 0) armed_at.reset();
      if ((reasons & wake_cancelled) != 0)
        return finish(self, boost::asio::error::operation_aborted);
      batch got = queue->receive(consumer, max_messages);
      if (!got.empty()) return finish(self, {}, std::move(got));
      if (queue->drained()) return finish(self, boost::asio::error::eof);
      const auto now = steady::now();
      if (now >= deadline || max_messages == 0) return finish(self, {});
      if (!listener) {
        // Register for wake-ups, then look again: a publish between the first look and the
        // registration would otherwise go unnoticed until the deadline.
        listener = queue->add_listener([weak = std::weak_ptr<parking_spot>(spot)] {
          if (auto s = weak.lock()) s->signal(wake_ready);
        });
        timer = std::make_shared<boost::asio::steady_timer>(executor);
        reasons = 0;
        continue;
      }
      // Every wake-up may have brought an earlier due time (a delayed publish, a
      // requeue_after): move the alarm forward when it did.
      const auto wake_at = next_wake(now);
      if (!armed_at || wake_at < *armed_at) arm_timer(wake_at);
      const auto keep = spot;
      reasons = keep->park(self);
      if (reasons == 0) return;  // parked; `self` has moved
    }
  }

  // The deadline, or the instant (in real time) when the queue's next delay or visibility
  // timeout falls due on its own clock, whichever is first. A due time at the end of the
  // clock's range is "never".
  steady::time_point next_wake(steady::time_point now) const {
    auto wake_at = deadline;
    if (auto due = queue->next_due_time(); due && *due != Clock::time_point::max()) {
      const auto queue_now = queue->clock().now();
      const auto until =
          *due > queue_now ? std::chrono::duration_cast<std::chrono::nanoseconds>(*due - queue_now)
                           : std::chrono::nanoseconds::zero();
      const auto alarm = saturating_add(now, until);
      if (alarm < wake_at) wake_at = alarm;
    }
    return wake_at;
  }

  void arm_timer(steady::time_point wake_at) {
    timer->expires_at(wake_at);  // cancels the previous wait, whose handler then does nothing
    timer->async_wait([weak = std::weak_ptr<parking_spot>(spot)](boost::system::error_code ec) {
      if (ec) return;  // cancelled: re-armed, or the operation completed
      if (auto s = weak.lock()) s->signal(wake_timeout);
    });
    armed_at = wake_at;
  }

  template <class Self>
  void finish(Self& self, boost::system::error_code ec, batch got = {}) {
    if (listener) queue->remove_listener(*listener);
    if (timer) timer->cancel();
    self.complete(ec, std::move(got));
  }
};

}  // namespace detail

// Receives up to `max_messages` for `consumer` (queue's default visibility timeout), waiting
// up to `wait` for the first one (nanoseconds::max() or hours::max(): no deadline). `executor`
// runs the timer and, by default, the handler.
//
// Throws (from the initiating call): scaling::invalid_argument if wait < 0.
template <class Message, class Clock, class Executor, class Rep, class Period,
          class CompletionToken>
auto async_receive(const Executor& executor, work_queue<Message, Clock>& queue,
                   consumer_id consumer, std::size_t max_messages,
                   std::chrono::duration<Rep, Period> wait, CompletionToken&& token) {
  if (wait < std::chrono::duration<Rep, Period>::zero()) {
    scaling::detail::throw_invalid_argument(
        "scaling::asio::async_receive", "wait", "must be >= 0 ns",
        std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count());
  }
  using op = detail::receive_op<Message, Clock, Executor>;
  return boost::asio::async_compose<CompletionToken, void(boost::system::error_code,
                                                          std::vector<delivery<Message>>)>(
      op{&queue, executor, consumer, max_messages,
         deadline_after(std::chrono::steady_clock{}, wait)},
      token, executor);
}

}  // namespace scaling::asio
