// scaling/asio/consumer_pool.hpp: N asynchronous consumers draining an async_queue.
//
// What it is: `scaling::asio::consumer_pool<T>`, the competing-consumers pattern on an
// io_context: `consumers` independent loops, each doing async_pop and then running the handler
// on the element, so up to `consumers` handlers run at once (as many as the io_context has
// threads). Each loop has its own strand, so stop() can cancel its pending pop safely from any
// thread. The pool finishes when the queue is closed and drained, or after stop().
//
// When to pick it: a fixed amount of concurrency for work arriving on an async_queue, e.g.
// bounded parallel calls to a downstream service. The queue's capacity is the backpressure.
//
//   scaling::asio::async_queue<job> jobs{io.get_executor(), 1024};
//   scaling::asio::consumer_pool<job> pool{jobs, /*consumers=*/4, [](job& j) { run(j); }};
//   pool.start([] { std::puts("drained"); });   // on_finished runs once, on the executor
//   /* producers co_await jobs.async_push(...) */  jobs.close();  io.run();
//
// Thread safety: start() once; stop(), processed() and running() from any thread. The handler
// may run concurrently on different elements (one per consumer at most). A handler that
// throws stops its consumer; the exception is counted (failures()) and swallowed, since the
// io_context thread is not the place to decide what a failed job means.
// Lifetime: the pool and the queue must outlive the io_context's processing of the pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>

#include <scaling/asio/mpmc_queue.hpp>
#include <scaling/core/error.hpp>

namespace scaling::asio {

template <class T, class Executor = boost::asio::any_io_executor>
requires std::default_initializable<T>
class consumer_pool {
 public:
  using handler_type = std::function<void(T&)>;

  // Throws: scaling::invalid_argument if consumers == 0 or handler is empty.
  consumer_pool(async_queue<T, Executor>& queue, std::size_t consumers, handler_type handler)
      : queue_(queue), handler_(std::move(handler)) {
    if (consumers == 0) {
      scaling::detail::throw_invalid_argument("scaling::asio::consumer_pool", "consumers",
                                              "must be >= 1", consumers);
    }
    if (!handler_) {
      scaling::detail::throw_invalid_argument("scaling::asio::consumer_pool", "handler",
                                              "must not be empty");
    }
    workers_.reserve(consumers);
    for (std::size_t i = 0; i < consumers; ++i)
      workers_.push_back(std::make_unique<worker>(boost::asio::make_strand(queue.get_executor())));
  }

  consumer_pool(const consumer_pool&) = delete;
  consumer_pool& operator=(const consumer_pool&) = delete;

  // Starts every consumer. `on_finished` (optional) runs once, after the last one stops.
  void start(std::function<void()> on_finished = {}) {
    on_finished_ = std::move(on_finished);
    running_.store(workers_.size());
    for (auto& w : workers_) {
      worker* raw = w.get();
      boost::asio::dispatch(raw->strand, [this, raw] { next(*raw); });
    }
  }

  // Cancels every pending pop; a handler already running finishes first.
  void stop() {
    stopping_.store(true);
    for (auto& w : workers_) {
      worker* raw = w.get();
      boost::asio::dispatch(raw->strand,
                            [raw] { raw->cancel.emit(boost::asio::cancellation_type::terminal); });
    }
  }

  [[nodiscard]] std::uint64_t processed() const noexcept { return processed_.load(); }
  [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(); }
  [[nodiscard]] std::size_t running() const noexcept { return running_.load(); }

 private:
  struct worker {
    explicit worker(boost::asio::strand<Executor> s) : strand(std::move(s)) {}
    boost::asio::strand<Executor> strand;
    boost::asio::cancellation_signal cancel;
  };

  void next(worker& w) {
    if (stopping_.load()) return done();
    queue_.async_pop(boost::asio::bind_cancellation_slot(
        w.cancel.slot(),
        boost::asio::bind_executor(w.strand, [this, &w](boost::system::error_code ec, T value) {
          if (ec) return done();
          try {
            handler_(value);
            processed_.fetch_add(1);
          } catch (...) {
            failures_.fetch_add(1);
            return done();
          }
          next(w);
        })));
  }

  void done() {
    if (running_.fetch_sub(1) == 1 && on_finished_) on_finished_();
  }

  async_queue<T, Executor>& queue_;
  handler_type handler_;
  std::function<void()> on_finished_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<std::size_t> running_{0};
  std::atomic<std::uint64_t> processed_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace scaling::asio
