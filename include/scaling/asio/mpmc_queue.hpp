// scaling/asio/mpmc_queue.hpp: scaling::mpmc_queue with Asio asynchronous push and pop.
//
// What it is: `scaling::asio::async_queue<T>`, a bounded MPMC queue whose `async_pop` waits
// (without blocking a thread) while the queue is empty and whose `async_push` waits while it is
// full, which is how backpressure reaches an asynchronous producer. Both are Asio asynchronous
// operations: any completion token works (callbacks, `use_future`, `use_awaitable`, deferred),
// each completes exactly once, on the handler's associated executor, never inside the
// initiating call, and each supports per-operation cancellation through its cancellation slot
// (terminal, partial and total cancellation all abort it with operation_aborted). The
// non-blocking `try_push` / `try_pop` stay lock-free; waiters are woken only when some exist.
//
// When to pick it: producers and consumers that are coroutines or callbacks on io_contexts.
// Threads that may block should use `scaling::mpmc_queue` directly.
//
//   scaling::asio::async_queue<std::string> q{io.get_executor(), 1024};
//   co_await q.async_push("job", boost::asio::use_awaitable);       // waits while full
//   std::string job = co_await q.async_pop(boost::asio::use_awaitable);
//   q.close();   // pending pops finish with error::eof once drained, pushes with broken_pipe
//
// Completion signatures: async_pop void(error_code, T); async_push void(error_code).
// Errors: operation_aborted (cancelled), eof (pop: closed and drained), broken_pipe (push:
// closed; the value is dropped). Thread safety: every member may be called from any thread.
// Complexity: try_* as mpmc_queue; a waiting operation costs one allocation when it parks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <scaling/asio/detail/parking.hpp>
#include <scaling/queueing/mpmc_queue.hpp>

namespace scaling::asio {

template <queue_element T, class Executor = boost::asio::any_io_executor>
class async_queue {
 public:
  using value_type = T;
  using executor_type = Executor;

  // Throws: scaling::invalid_argument if capacity is 0.
  async_queue(Executor executor, std::size_t capacity)
      : executor_(std::move(executor)), queue_(capacity) {}

  async_queue(const async_queue&) = delete;
  async_queue& operator=(const async_queue&) = delete;

  // Precondition: no operation is pending (close() and let them finish first).
  ~async_queue() = default;

  [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }

  // Non-blocking; wake a waiting consumer / producer when one exists.
  [[nodiscard]] bool try_push(T&& value) {
    if (!queue_.try_push(std::move(value))) return false;
    after_push();
    return true;
  }
  [[nodiscard]] bool try_push(const T& value) requires std::is_copy_constructible_v<T> {
    if (!queue_.try_push(value)) return false;
    after_push();
    return true;
  }
  [[nodiscard]] bool try_pop(T& out) {
    if (!queue_.try_pop(out)) return false;
    after_pop();
    return true;
  }

  // Pops the front element, waiting while the queue is empty.
  // Completion: void(error_code, T); T{} accompanies an error.
  template <class CompletionToken>
  requires std::default_initializable<T>
  auto async_pop(CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, T)>(
        pop_op{this}, token, executor_);
  }

  // Pushes `value`, waiting while the queue is full (backpressure).
  // Completion: void(error_code).
  template <class CompletionToken>
  auto async_push(T value, CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        push_op{this, std::optional<T>{std::move(value)}}, token, executor_);
  }

  // Later pushes fail; pops drain the queue, then fail with eof. Wakes every waiter.
  void close() {
    queue_.close();
    wake_all(pop_waiters_);
    wake_all(push_waiters_);
  }

  [[nodiscard]] bool closed() const noexcept { return queue_.closed(); }
  [[nodiscard]] std::size_t size() const noexcept { return queue_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return queue_.capacity(); }
  // Operations parked now: a monitoring figure (starved consumers, throttled producers).
  [[nodiscard]] std::uint32_t waiting_pops() const noexcept {
    return pop_waiters_.count.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint32_t waiting_pushes() const noexcept {
    return push_waiters_.count.load(std::memory_order_relaxed);
  }

 private:
  struct waiter_list {
    std::mutex mutex;
    std::list<std::shared_ptr<detail::parking_spot>> spots;
    std::atomic<std::uint32_t> count{0};  // == spots.size(), readable without the lock
  };

  void after_push() {
    // seq_cst pairs with the registration in park_on(): see mpmc_queue's pop() for why.
    if (pop_waiters_.count.load(std::memory_order_seq_cst) != 0) wake_one(pop_waiters_);
  }
  void after_pop() {
    if (push_waiters_.count.load(std::memory_order_seq_cst) != 0) wake_one(push_waiters_);
  }

  static void wake_one(waiter_list& list) {
    std::shared_ptr<detail::parking_spot> spot;
    {
      std::lock_guard lock{list.mutex};
      if (list.spots.empty()) return;
      spot = std::move(list.spots.front());
      list.spots.pop_front();
      list.count.fetch_sub(1, std::memory_order_relaxed);
    }
    spot->signal(detail::wake_ready);
  }

  static void wake_all(waiter_list& list) {
    std::list<std::shared_ptr<detail::parking_spot>> spots;
    {
      std::lock_guard lock{list.mutex};
      spots.swap(list.spots);
      list.count.store(0, std::memory_order_relaxed);
    }
    for (auto& spot : spots)
      spot->signal(detail::wake_ready);
  }

  static void unregister(waiter_list& list, const std::shared_ptr<detail::parking_spot>& spot) {
    std::lock_guard lock{list.mutex};
    for (auto it = list.spots.begin(); it != list.spots.end(); ++it) {
      if (*it == spot) {
        list.spots.erase(it);
        list.count.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  // Registers `spot` and parks `self` unless the condition changed meanwhile. `blocked` says
  // whether the operation still cannot proceed, read after the registration is visible.
  // Returns the wake reasons to act on now (0 when parked).
  template <class Self, class Blocked>
  unsigned park_on(waiter_list& list, const std::shared_ptr<detail::parking_spot>& spot, Self& self,
                   Blocked&& blocked) {
    {
      std::lock_guard lock{list.mutex};
      list.count.fetch_add(1, std::memory_order_seq_cst);
      if (!blocked()) {
        list.count.fetch_sub(1, std::memory_order_relaxed);
        return detail::wake_ready;
      }
      list.spots.push_back(spot);
    }
    const unsigned pending = spot->park(self);
    if (pending != 0) unregister(list, spot);
    return pending;
  }

  struct pop_op {
    async_queue* q;
    std::shared_ptr<detail::parking_spot> spot{};
    bool started = false;

    template <class Self>
    void operator()(Self& self, unsigned reasons = 0) {
      if (!started) {
        started = true;
        self.reset_cancellation_state([](boost::asio::cancellation_type t) { return t; });
        spot = std::make_shared<detail::parking_spot>();
        detail::connect_cancellation(self, spot);
        // Hop to the handler's executor: never complete inside the initiating call.
        auto executor = self.get_executor();
        boost::asio::post(executor, [s = std::move(self)]() mutable { s(0u); });
        return;
      }
      detail::connect_cancellation(self, spot);
      reasons |= spot->take(detail::wake_cancelled);
      for (;;) {
        if ((reasons & detail::wake_cancelled) != 0) {
          q->unregister(q->pop_waiters_, spot);
          if (!q->queue_.empty()) q->after_push();  // pass on a wake-up we may have taken
          self.complete(boost::asio::error::operation_aborted, T{});
          return;
        }
        T value{};
        if (q->queue_.try_pop(value)) {
          q->after_pop();
          self.complete({}, std::move(value));
          return;
        }
        if (q->queue_.closed() && q->queue_.empty()) {
          self.complete(boost::asio::error::eof, T{});
          return;
        }
        spot->clear(detail::wake_ready);
        auto keep = spot;
        const auto* queue = &q->queue_;
        reasons = q->park_on(q->pop_waiters_, keep, self,
                             [queue] { return queue->empty() && !queue->closed(); });
        if (reasons == 0) return;  // parked; `self` has moved
      }
    }
  };

  struct push_op {
    async_queue* q;
    std::optional<T> value;
    std::shared_ptr<detail::parking_spot> spot{};
    bool started = false;

    template <class Self>
    void operator()(Self& self, unsigned reasons = 0) {
      if (!started) {
        started = true;
        self.reset_cancellation_state([](boost::asio::cancellation_type t) { return t; });
        spot = std::make_shared<detail::parking_spot>();
        detail::connect_cancellation(self, spot);
        // Hop to the handler's executor: never complete inside the initiating call.
        auto executor = self.get_executor();
        boost::asio::post(executor, [s = std::move(self)]() mutable { s(0u); });
        return;
      }
      detail::connect_cancellation(self, spot);
      reasons |= spot->take(detail::wake_cancelled);
      for (;;) {
        if ((reasons & detail::wake_cancelled) != 0) {
          q->unregister(q->push_waiters_, spot);
          if (q->queue_.size() < q->queue_.capacity()) q->after_pop();
          self.complete(boost::asio::error::operation_aborted);
          return;
        }
        if (q->queue_.closed()) {
          self.complete(boost::asio::error::broken_pipe);
          return;
        }
        if (q->queue_.try_push(std::move(*value))) {
          q->after_push();
          self.complete({});
          return;
        }
        spot->clear(detail::wake_ready);
        auto keep = spot;
        const auto* queue = &q->queue_;
        reasons = q->park_on(q->push_waiters_, keep, self, [queue] {
          return queue->size() >= queue->capacity() && !queue->closed();
        });
        if (reasons == 0) return;
      }
    }
  };

  Executor executor_;
  mpmc_queue<T> queue_;
  waiter_list pop_waiters_;
  waiter_list push_waiters_;
};

}  // namespace scaling::asio
