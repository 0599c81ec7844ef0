// scaling/asio/http_connection_pool.hpp: a bounded pool of keep-alive TCP connections to one
// origin, on a strand.
//
// What it is: `scaling::asio::http_connection_pool` hands out connections (Beast tcp_streams)
// to one host and port: an idle pooled one when there is one (most recently used first), a
// newly connected one while fewer than `max_connections` are open, else a place in a queue
// of at most `max_waiting`. A connection given back with keep-alive becomes idle; one idle
// for longer than `idle_timeout` is closed instead of reused. It is the transport under
// `http_origin`; the HTTP exchange on a connection is the caller's.
//
// When to pick it: an HTTP/1.1 client for one upstream that sends many requests (a proxy, an
// origin client). Not for many hosts (one pool per origin), nor TLS.
//
//   auto pool = scaling::asio::http_connection_pool::create(
//       io.get_executor(), scaling::asio::parse_origin_url("http://127.0.0.1:8080"), {});
//   boost::asio::post(pool->strand(), [pool] {
//     pool->acquire(deadline, [pool](boost::system::error_code ec, auto c, bool reused) {
//       if (!ec) { /* write and read on c->stream, then */
//         pool->release(std::move(c), scaling::asio::connection_reuse::keep_alive); }
//     });
//   });
//
// Thread safety: create(), strand(), stats() and close() from any thread; every other member
// on the pool's strand only. Handlers run on the strand (acquire's may run inside the call).
// Complexity: acquire and release are O(1) amortised, plus a connect (and a name resolution
// for host names) when no idle connection is pooled.
// Errors: acquire's handler gets an error_code: boost::asio::error::operation_aborted once
// the pool is closed, boost::asio::error::no_buffer_space when the queue is full,
// boost::beast::error::timeout when the deadline passed (waiting or connecting), or the
// resolver's or connect's own error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <scaling/asio/origin_url.hpp>

namespace scaling::asio {

struct http_connection_pool_options {
  // Open connections at most (busy, idle and connecting together).
  std::size_t max_connections = 64;
  // Requests waiting for a connection at most; more fail at once (no_buffer_space).
  std::size_t max_waiting = 4096;
  // An idle pooled connection older than this is closed instead of reused.
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds{30};
};

// What to do with a connection given back: pool it for the next request, or close it.
enum class connection_reuse : std::uint8_t { close, keep_alive };

// Counters, for tests and monitoring.
struct http_connection_pool_stats {
  std::uint64_t connections_opened = 0;  // connects attempted
  std::uint64_t reused = 0;              // acquisitions answered with a pooled connection
};

class http_connection_pool : public std::enable_shared_from_this<http_connection_pool> {
 public:
  using executor_type = boost::asio::any_io_executor;
  using strand_type = boost::asio::strand<executor_type>;
  using time_point = std::chrono::steady_clock::time_point;

  // One connection: the stream, and a read buffer that lives as long as the connection (bytes
  // an origin sent past one response belong to the next).
  struct connection {
    explicit connection(const strand_type& strand) : stream(strand) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    time_point idle_since{};
  };
  using connection_ptr = std::shared_ptr<connection>;
  // ec, then the connection (null on error), then whether it came from the idle pool.
  using acquire_handler =
      std::function<void(const boost::system::error_code&, connection_ptr, bool reused)>;

  // A pool for `url`'s host and port on a strand of `executor`. The options are used as
  // given (http_origin validates them).
  [[nodiscard]] static std::shared_ptr<http_connection_pool> create(
      executor_type executor, origin_url url, http_connection_pool_options opts) {
    return std::shared_ptr<http_connection_pool>(
        new http_connection_pool(std::move(executor), std::move(url), opts));
  }

  [[nodiscard]] const strand_type& strand() const noexcept { return strand_; }
  [[nodiscard]] const origin_url& url() const noexcept { return url_; }

  // Strand only. A connection for a request due by `deadline`: pooled, new, or after
  // waiting for a slot. `done` runs once, possibly inside this call.
  void acquire(time_point deadline, acquire_handler done) {
    if (closed_) return done(boost::asio::error::operation_aborted, nullptr, false);
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return done(boost::beast::error::timeout, nullptr, false);
    while (!idle_.empty()) {
      connection_ptr c = std::move(idle_.back());
      idle_.pop_back();
      if (now - c->idle_since > opts_.idle_timeout || !c->stream.socket().is_open()) {
        close_socket(*c);
        --open_;
        continue;
      }
      reused_.fetch_add(1, std::memory_order_relaxed);
      busy_.insert(c.get());
      return done({}, std::move(c), true);
    }
    if (open_ < opts_.max_connections) {
      ++open_;
      return connect(deadline, std::move(done));
    }
    if (waiting_.size() >= opts_.max_waiting) {
      return done(boost::asio::error::no_buffer_space, nullptr, false);
    }
    waiting_.push_back({deadline, std::move(done)});
  }

  // Strand only. Closes `stale` (a pooled connection the origin had closed) and connects a
  // fresh one in its slot.
  void reconnect(connection_ptr stale, time_point deadline, acquire_handler done) {
    busy_.erase(stale.get());
    close_socket(*stale);
    stale.reset();
    if (closed_) {
      --open_;
      done(boost::asio::error::operation_aborted, nullptr, false);
      return serve_waiting();
    }
    connect(deadline, std::move(done));
  }

  // Strand only. Gives `c` back: idle for reuse when `reuse` is keep_alive and the pool is
  // open, else closed. The next waiting request is served either way.
  void release(connection_ptr c, connection_reuse reuse) {
    busy_.erase(c.get());
    if (reuse == connection_reuse::keep_alive && !closed_ && c->stream.socket().is_open()) {
      c->stream.expires_never();
      c->idle_since = std::chrono::steady_clock::now();
      idle_.push_back(std::move(c));
    } else {
      close_socket(*c);
      --open_;
    }
    serve_waiting();
  }

  // Strand only. A connection slot whose connect failed: frees it.
  void connect_failed(connection_ptr c) {
    if (c) {
      busy_.erase(c.get());
      close_socket(*c);
    }
    --open_;
    serve_waiting();
  }

  // Closes every connection and fails every waiting and later acquire (operation_aborted).
  // Idempotent; returns at once, the work runs on the strand.
  void close() {
    boost::asio::post(strand_, [self = shared_from_this()] { self->close_on_strand(); });
  }

  // True once close() has run on the strand.
  [[nodiscard]] bool closed() const noexcept {
    return closed_flag_.load(std::memory_order_acquire);
  }

  [[nodiscard]] http_connection_pool_stats stats() const noexcept {
    return {.connections_opened = connects_.load(std::memory_order_relaxed),
            .reused = reused_.load(std::memory_order_relaxed)};
  }

 private:
  using tcp = boost::asio::ip::tcp;

  struct waiter {
    time_point deadline;
    acquire_handler done;
  };

  http_connection_pool(executor_type executor, origin_url url, http_connection_pool_options opts)
      : strand_(boost::asio::make_strand(std::move(executor))), url_(std::move(url)), opts_(opts) {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(url_.host, ec);
    if (!ec) endpoint_ = tcp::endpoint{address, static_cast<std::uint16_t>(std::stoul(url_.port))};
  }

  static void close_socket(connection& c) {
    boost::system::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c.stream.socket().close(ignored);
  }

  void close_on_strand() {
    if (closed_) return;
    closed_ = true;
    closed_flag_.store(true, std::memory_order_release);
    for (const auto& c : idle_)
      close_socket(*c);
    open_ -= idle_.size();
    idle_.clear();
    for (auto* c : busy_)
      close_socket(*c);  // their exchanges fail and give the slots back
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& w : waiting)
      w.done(boost::asio::error::operation_aborted, nullptr, false);
  }

  // A slot or an idle connection became available: the next waiting request takes it.
  void serve_waiting() {
    while (!waiting_.empty()) {
      waiter next = std::move(waiting_.front());
      waiting_.pop_front();
      if (closed_) {
        next.done(boost::asio::error::operation_aborted, nullptr, false);
        continue;
      }
      if (std::chrono::steady_clock::now() >= next.deadline) {
        next.done(boost::beast::error::timeout, nullptr, false);
        continue;
      }
      acquire(next.deadline, std::move(next.done));
      return;
    }
  }

  // Holds a slot already (open_ counted): connects, then hands the connection over.
  void connect(time_point deadline, acquire_handler done) {
    connects_.fetch_add(1, std::memory_order_relaxed);
    auto c = std::make_shared<connection>(strand_);
    busy_.insert(c.get());
    c->stream.expires_at(deadline);
    auto finish = [self = shared_from_this(), c,
                   done = std::move(done)](const boost::system::error_code& ec) mutable {
      if (ec || self->closed_) {
        self->connect_failed(c);
        return done(ec ? ec : boost::asio::error::operation_aborted, nullptr, false);
      }
      done({}, std::move(c), false);
    };
    if (endpoint_) {
      c->stream.async_connect(*endpoint_, std::move(finish));
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(strand_);
    resolver->async_resolve(
        url_.host, url_.port,
        [self = shared_from_this(), c, resolver, finish = std::move(finish)](
            const boost::system::error_code& ec,
            const tcp::resolver::results_type& results) mutable {
          if (ec || self->closed_) return finish(ec ? ec : boost::asio::error::operation_aborted);
          c->stream.async_connect(
              results,
              [finish = std::move(finish)](const boost::system::error_code& connect_ec,
                                           const tcp::endpoint&) mutable { finish(connect_ec); });
        });
  }

  strand_type strand_;
  origin_url url_;
  http_connection_pool_options opts_;
  std::optional<tcp::endpoint> endpoint_;  // set for IP literals; names are resolved per connect

  // Strand-only state.
  std::vector<connection_ptr> idle_;      // most recently used last
  std::unordered_set<connection*> busy_;  // handed out or connecting: closed by close()
  std::size_t open_ = 0;                  // idle + busy
  std::deque<waiter> waiting_;
  bool closed_ = false;

  std::atomic<bool> closed_flag_{false};
  std::atomic<std::uint64_t> connects_{0}, reused_{0};
};

}  // namespace scaling::asio
