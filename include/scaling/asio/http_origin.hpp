// scaling/asio/http_origin.hpp: an HTTP/1.1 origin client for edge caches, on Boost.Beast.
//
// What it is: `scaling::asio::http_origin` fetches from one origin server given by a base URL
// (`http://host[:port][/base]`) and answers with a `scaling::http_response`, or nullopt when
// the origin could not be reached or did not answer properly (connection refused, timeout,
// malformed response, a body over the limit). It is an `async_origin_fetch<http_response>`:
// a copyable handle with `operator()(const origin_request&, callback)`, so it plugs into
// `edge_options::async_origin`. It keeps a bounded pool of keep-alive connections, sends the
// request's validators (If-None-Match, If-Modified-Since) and Accept-Encoding, and bounds
// every request by one deadline covering connect, write and read. `fetch` says why a request
// failed (a timeout, an unreachable origin, a malformed answer...), for a proxy that answers
// 504 rather than 502 to a timeout.
//
// When to pick it: an edge cache (or `edge_server`) in front of a plain-HTTP origin on a
// trusted network, typically the origin next to the cache. Not for https origins (out of
// scope: put a TLS-terminating proxy beside the origin), nor for general-purpose HTTP
// clients (no redirects, no proxies, no cookies).
//
//   boost::asio::io_context io;
//   scaling::asio::http_origin origin{io.get_executor(), "http://127.0.0.1:8080/static",
//                                     {.timeout = std::chrono::seconds{2}}};
//   scaling::edge_cache<scaling::http_response> edge{
//       {.async_origin = origin}};       // "/logo.png" is fetched as /static/logo.png
//
// Thread safety: every member may be called from any thread, on any copy. The pool and the
// connections live on a strand of the executor; callbacks run on that strand, never inside
// the initiating call. Complexity: a request costs one post, and a connect only when no idle
// connection is pooled.
// Errors: the constructor throws scaling::invalid_argument (a std::invalid_argument) naming
// the parameter and its value for a base URL that is not `http://host[:port][/path]` (https
// included) and for zero limits. Requests never throw: failures answer nullopt (and a
// failure reason, through `fetch`).
//
// Behaviour worth knowing:
//   - pool (http_connection_pool.hpp): at most `max_connections` open connections (busy +
//     idle); requests beyond that wait in a queue of at most `max_waiting` (more answer
//     nullopt at once); idle connections are reused most-recently-used first and dropped
//     after `idle_timeout`.
//   - a reused connection that the origin closed while it sat idle (eof or reset before any
//     byte of the response) is retried once on a fresh connection, for GET and HEAD only.
//   - the deadline (`timeout`) counts from the call, queueing included; on expiry the socket
//     is closed (beast::tcp_stream::expires_at) and the request answers nullopt.
//   - conversion (http_conversion.hpp): the response keeps every end-to-end header field;
//     hop-by-hop fields (Connection, Keep-Alive, Transfer-Encoding, ... and those Connection
//     names) are dropped, as a proxy must (RFC 9110 section 7.6.1), since the body is stored
//     decoded.
//   - close() answers every pending and later request with nullopt (failure `closed`).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <scaling/asio/http_connection_pool.hpp>
#include <scaling/asio/http_conversion.hpp>
#include <scaling/asio/origin_url.hpp>
#include <scaling/cdn/edge_cache.hpp>
#include <scaling/cdn/http_response.hpp>
#include <scaling/core/error.hpp>

namespace scaling::asio {

struct http_origin_options {
  // Open connections at most (busy and idle together).
  std::size_t max_connections = 64;
  // Requests waiting for a connection at most; more answer nullopt at once.
  std::size_t max_waiting = 4096;
  // One deadline per request: queueing, connect, write and read.
  std::chrono::steady_clock::duration timeout = std::chrono::seconds{10};
  // An idle pooled connection older than this is closed instead of reused.
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds{30};
  // A response body larger than this is an error (nullopt), so an origin can't exhaust memory.
  std::uint64_t body_limit = std::uint64_t{64} << 20;
  // The response header block at most, in bytes.
  std::uint32_t header_limit = 64 * 1024;
};

// Why a request got no response.
enum class http_origin_failure : std::uint8_t {
  none,             // answered
  closed,           // close() was called first
  overloaded,       // max_waiting requests were already queued for a connection
  invalid_request,  // a target with spaces or control characters: not sent
  unreachable,      // name resolution or connect failed (refused, unreachable)
  timeout,          // no complete answer within `timeout`
  connection_lost,  // the connection failed or closed before the answer was complete
  malformed,        // the answer was not valid HTTP/1.1
  too_large,        // the answer's header or body was over its limit
};

// A request's outcome: the response, or nullopt and the reason.
struct http_origin_result {
  std::optional<http_response> response;
  http_origin_failure failure = http_origin_failure::none;
};

// Counters, for tests and monitoring.
struct http_origin_stats {
  std::uint64_t requests = 0;            // calls
  std::uint64_t connections_opened = 0;  // connects attempted
  std::uint64_t reused = 0;              // requests sent on a pooled connection
  std::uint64_t failures = 0;            // requests answered nullopt
  std::uint64_t timeouts = 0;            // of which for the deadline
};

class http_origin {
 public:
  using callback = scaling::origin_callback<http_response>;
  using result_callback = std::function<void(http_origin_result)>;
  using executor_type = boost::asio::any_io_executor;

  // Throws scaling::invalid_argument for a bad base_url or a zero limit (see the banner).
  http_origin(executor_type executor, std::string_view base_url, http_origin_options opts = {})
      : state_(std::make_shared<state>(std::move(executor), parse_origin_url(base_url),
                                       validate(opts))) {}

  // Fetches `request.key` (a path, appended to the base path) with GET, sending the
  // request's validators and Accept-Encoding. `done` runs once, on the strand, with the
  // response or nullopt.
  void operator()(const origin_request& request, callback done) const {
    send(to_origin_request(request), std::move(done));
  }

  // Sends any request (the pass-through path). Only GET and HEAD are retried on a stale
  // pooled connection. Header fields with CR, LF or NUL in them are not sent. `done` runs
  // once, on the strand, with the response or nullopt.
  void send(http_origin_request request, callback done) const {
    fetch(std::move(request),
          [done = std::move(done)](http_origin_result r) mutable { done(std::move(r.response)); });
  }

  // As send, answering with the response or the reason there is none.
  void fetch(http_origin_request request, result_callback done) const {
    state_->stats_requests.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<exchange>();
    call->deadline = std::chrono::steady_clock::now() + state_->opts.timeout;
    call->done = std::move(done);
    call->message = to_beast_request(state_->pool->url(), std::move(request));
    boost::asio::post(state_->pool->strand(), [st = state_, call = std::move(call)]() mutable {
      start(st, std::move(call));
    });
  }

  // Closes every connection and answers every pending and later request with nullopt
  // (failure `closed`). Idempotent; returns at once, the callbacks follow on the strand.
  void close() const {
    if (state_->closed.exchange(true, std::memory_order_acq_rel)) return;
    state_->pool->close();
  }
  // True once close() was called (on any copy).
  [[nodiscard]] bool closed() const noexcept {
    return state_->closed.load(std::memory_order_acquire);
  }

  [[nodiscard]] http_origin_stats stats() const noexcept {
    const auto pool = state_->pool->stats();
    return {.requests = state_->stats_requests.load(std::memory_order_relaxed),
            .connections_opened = pool.connections_opened,
            .reused = pool.reused,
            .failures = state_->stats_failures.load(std::memory_order_relaxed),
            .timeouts = state_->stats_timeouts.load(std::memory_order_relaxed)};
  }
  // The host:port requests are sent to (also the Host field).
  [[nodiscard]] const std::string& authority() const noexcept {
    return state_->pool->url().authority;
  }

 private:
  using response_parser = boost::beast::http::response_parser<boost::beast::http::string_body>;
  using connection_ptr = http_connection_pool::connection_ptr;

  struct exchange {
    std::optional<http_request_message> message;  // nullopt: not sendable
    std::chrono::steady_clock::time_point deadline;
    result_callback done;
    connection_ptr conn;
    std::optional<response_parser> parser;
    bool reused = false;
    bool retried = false;
    bool finished = false;
  };
  using exchange_ptr = std::shared_ptr<exchange>;

  struct state {
    state(executor_type ex, origin_url url, http_origin_options o)
        : opts(o),
          pool(http_connection_pool::create(std::move(ex), std::move(url),
                                            {.max_connections = o.max_connections,
                                             .max_waiting = o.max_waiting,
                                             .idle_timeout = o.idle_timeout})) {}
    // Pending operations hold this state, and so the pool, until they complete.
    http_origin_options opts;
    std::shared_ptr<http_connection_pool> pool;
    std::atomic<bool> closed{false};
    std::atomic<std::uint64_t> stats_requests{0}, stats_failures{0}, stats_timeouts{0};
  };
  using state_ptr = std::shared_ptr<state>;

  static http_origin_options validate(http_origin_options opts) {
    constexpr std::string_view component = "scaling::asio::http_origin";
    if (opts.max_connections == 0) {
      scaling::detail::throw_invalid_argument(component, "max_connections", "must be > 0",
                                              opts.max_connections);
    }
    if (opts.timeout <= std::chrono::steady_clock::duration::zero()) {
      scaling::detail::throw_invalid_argument(
          component, "timeout", "must be > 0 ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout).count());
    }
    if (opts.body_limit == 0) {
      scaling::detail::throw_invalid_argument(component, "body_limit", "must be > 0",
                                              opts.body_limit);
    }
    if (opts.header_limit == 0) {
      scaling::detail::throw_invalid_argument(component, "header_limit", "must be > 0",
                                              opts.header_limit);
    }
    return opts;
  }

  // What an error on the way to a response means.
  static http_origin_failure failure_of(const state& st, const boost::system::error_code& ec,
                                        bool connecting) {
    namespace http = boost::beast::http;
    if (ec == boost::beast::error::timeout) return http_origin_failure::timeout;
    if (st.closed.load(std::memory_order_acquire)) return http_origin_failure::closed;
    if (ec == boost::asio::error::no_buffer_space) return http_origin_failure::overloaded;
    if (connecting) return http_origin_failure::unreachable;
    if (ec == http::error::body_limit || ec == http::error::header_limit ||
        ec == http::error::buffer_overflow) {
      return http_origin_failure::too_large;
    }
    if (&ec.category() == &http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return http_origin_failure::malformed;
    }
    return http_origin_failure::connection_lost;
  }

  static bool idempotent(const exchange& call) noexcept {
    const auto method = call.message->method();
    return method == boost::beast::http::verb::get || method == boost::beast::http::verb::head;
  }

  // Runs the callback once; later completions are ignored.
  static void finish(state& st, exchange& call, http_origin_result result) {
    if (call.finished) return;
    call.finished = true;
    if (!result.response) {
      st.stats_failures.fetch_add(1, std::memory_order_relaxed);
      if (result.failure == http_origin_failure::timeout)
        st.stats_timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    auto done = std::move(call.done);
    call.done = nullptr;
    done(std::move(result));
  }

  // On the strand: takes a connection from the pool (pooled, new or after waiting).
  static void start(const state_ptr& st, exchange_ptr call) {
    if (st->closed.load(std::memory_order_acquire)) {
      return finish(*st, *call, {std::nullopt, http_origin_failure::closed});
    }
    if (!call->message) {
      return finish(*st, *call, {std::nullopt, http_origin_failure::invalid_request});
    }
    const auto deadline = call->deadline;  // read before `call` is moved from
    st->pool->acquire(deadline, connected(st, std::move(call)));
  }

  static http_connection_pool::acquire_handler connected(const state_ptr& st, exchange_ptr call) {
    return [st, call = std::move(call)](const boost::system::error_code& ec, connection_ptr c,
                                        bool reused) mutable {
      if (ec) return finish(*st, *call, {std::nullopt, failure_of(*st, ec, true)});
      call->conn = std::move(c);
      call->reused = reused;
      write(st, std::move(call));
    };
  }

  static void write(const state_ptr& st, exchange_ptr call) {
    call->conn->stream.expires_at(call->deadline);
    call->conn->buffer.clear();
    exchange& ref = *call;
    boost::beast::http::async_write(
        ref.conn->stream, *ref.message,
        [st, call = std::move(call)](const boost::system::error_code& ec, std::size_t) mutable {
          if (ec) return retry_or_fail(st, std::move(call), ec);
          read(st, std::move(call));
        });
  }

  static void read(const state_ptr& st, exchange_ptr call) {
    call->parser.emplace();
    call->parser->body_limit(st->opts.body_limit);
    call->parser->header_limit(st->opts.header_limit);
    if (call->message->method() == boost::beast::http::verb::head) call->parser->skip(true);
    exchange& ref = *call;
    boost::beast::http::async_read(
        ref.conn->stream, ref.conn->buffer, *ref.parser,
        [st, call = std::move(call)](const boost::system::error_code& ec, std::size_t) mutable {
          if (ec) {
            if (call->parser->got_some()) return fail(st, std::move(call), ec);
            return retry_or_fail(st, std::move(call), ec);
          }
          complete(st, std::move(call));
        });
  }

  // A pooled connection the origin had closed fails before any response byte: try once more
  // on a fresh connection (RFC 9112 section 9.3.1 allows it for idempotent requests).
  static void retry_or_fail(const state_ptr& st, exchange_ptr call,
                            const boost::system::error_code& ec) {
    if (!call->reused || call->retried || !idempotent(*call) ||
        st->closed.load(std::memory_order_acquire) ||
        std::chrono::steady_clock::now() >= call->deadline) {
      return fail(st, std::move(call), ec);
    }
    call->retried = true;
    connection_ptr stale = std::move(call->conn);
    const auto deadline = call->deadline;
    st->pool->reconnect(std::move(stale), deadline, connected(st, std::move(call)));
  }

  static void fail(const state_ptr& st, exchange_ptr call, const boost::system::error_code& ec) {
    const http_origin_failure why = failure_of(*st, ec, false);
    if (call->conn) st->pool->release(std::move(call->conn), connection_reuse::close);
    finish(*st, *call, {std::nullopt, why});
  }

  static void complete(const state_ptr& st, exchange_ptr call) {
    auto message = call->parser->release();
    const auto reuse = message.keep_alive() && !message.need_eof() ? connection_reuse::keep_alive
                                                                   : connection_reuse::close;
    http_response response = to_http_response(std::move(message));
    st->pool->release(std::move(call->conn), reuse);
    finish(*st, *call, {std::move(response), http_origin_failure::none});
  }

  state_ptr state_;
};

static_assert(std::is_convertible_v<http_origin, scaling::async_origin_fetch<http_response>>,
              "http_origin plugs into edge_options::async_origin");

}  // namespace scaling::asio
