// scaling/asio/work_queue.hpp: long-polling receive from scaling::work_queue as an Asio
// asynchronous operation.
//
// What it is: `scaling::asio::async_receive(executor, queue, consumer, max, wait, token)`,
// the asynchronous form of work_queue::receive_wait (SQS ReceiveMessage with
// WaitTimeSeconds): it completes as soon as at least one message is deliverable, or with an
// empty batch when `wait` passes, without holding a thread while it waits. It is woken by
// publishes, nacks and acks that unblock a group (through the queue's listeners) and by a
// timer for the deadline and for the next delayed message or visibility timeout. Any
// completion token works; the handler runs once, on its associated executor (default:
// `executor`), never inside the initiating call; per-operation cancellation aborts it.
//
// When to pick it: consumers that are coroutines or callbacks. Threads use receive_wait.
//
//   auto batch = co_await scaling::asio::async_receive(io.get_executor(), jobs, /*consumer=*/1,
//                                                      /*max=*/10, 20s, use_awaitable);
//   for (auto& d : batch) { handle(d.body); (void)jobs.ack(d.receipt); }
//
// Completion signature: void(error_code, std::vector<scaling::delivery<Message>>).
// Errors: operation_aborted (cancelled; nothing was received), eof (the queue was shut down and
// nothing is deliverable). A deadline with nothing to deliver is success with an empty batch.
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
#include <scaling/queueing/work_queue.hpp>

namespace scaling::asio {

namespace detail {

template <class Message, class Clock, class Executor>
struct receive_op {
  using batch = std::vector<delivery<Message>>;

  work_queue<Message, Clock>* queue;
  Executor executor;
  consumer_id consumer;
  std::size_t max_messages;
  std::chrono::steady_clock::time_point deadline;
  std::shared_ptr<parking_spot> spot{};
  std::shared_ptr<boost::asio::steady_timer> timer{};
  std::optional<std::uint64_t> listener{};
  bool started = false;
  bool timer_armed = false;

  template <class Self>
  void operator()(Self& self, unsigned reasons = 0) {
    if (!started) {
      started = true;
      self.reset_cancellation_state([](boost::asio::cancellation_type t) { return t; });
      auto ex = self.get_executor();
      boost::asio::post(ex, [s = std::move(self)]() mutable { s(0u); });
      return;
    }
    if ((reasons & wake_timeout) != 0) timer_armed = false;
    for (;;) {
      if ((reasons & wake_cancelled) != 0)
        return finish(self, boost::asio::error::operation_aborted);
      batch got = queue->receive(consumer, max_messages);
      if (!got.empty()) return finish(self, {}, std::move(got));
      if (queue->is_shut_down()) return finish(self, boost::asio::error::eof);
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline || max_messages == 0) return finish(self, {});
      if (!spot) {
        // Register for wake-ups, then look again: a publish between the first look and the
        // registration would otherwise go unnoticed until the deadline.
        spot = std::make_shared<parking_spot>();
        listener = queue->add_listener([weak = std::weak_ptr<parking_spot>(spot)] {
          if (auto s = weak.lock()) s->signal(wake_ready);
        });
        timer = std::make_shared<boost::asio::steady_timer>(executor);
        reasons = 0;
        continue;
      }
      if (!timer_armed) arm_timer(now);
      auto slot = self.get_cancellation_state().slot();
      if (slot.is_connected()) slot.template emplace<cancel_to_spot>(spot);
      const auto keep = spot;
      reasons = keep->park(self);
      if (reasons == 0) return;  // parked; `self` has moved
      if ((reasons & wake_timeout) != 0) timer_armed = false;
    }
  }

  void arm_timer(std::chrono::steady_clock::time_point now) {
    auto wake_at = deadline;
    if (auto due = queue->next_due_time()) {
      const auto until =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*due - queue->clock().now());
      if (now + until < wake_at) wake_at = now + until;
    }
    timer->expires_at(wake_at);
    timer->async_wait([weak = std::weak_ptr<parking_spot>(spot)](boost::system::error_code ec) {
      if (ec) return;  // cancelled at completion
      if (auto s = weak.lock()) s->signal(wake_timeout);
    });
    timer_armed = true;
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
// up to `wait` for the first one. `executor` runs the timer and, by default, the handler.
//
// Throws (from the initiating call): scaling::invalid_argument if wait < 0.
template <class Message, class Clock, class Executor, class CompletionToken>
auto async_receive(const Executor& executor, work_queue<Message, Clock>& queue,
                   consumer_id consumer, std::size_t max_messages, std::chrono::nanoseconds wait,
                   CompletionToken&& token) {
  if (wait < std::chrono::nanoseconds::zero()) {
    scaling::detail::throw_invalid_argument("scaling::asio::async_receive", "wait",
                                            "must be >= 0 ns", wait.count());
  }
  using op = detail::receive_op<Message, Clock, Executor>;
  return boost::asio::async_compose<CompletionToken, void(boost::system::error_code,
                                                          std::vector<delivery<Message>>)>(
      op{&queue, executor, consumer, max_messages, std::chrono::steady_clock::now() + wait}, token,
      executor);
}

}  // namespace scaling::asio
