// scaling/asio/http_origin.hpp: an HTTP/1.1 origin client for edge caches, on Boost.Beast.
//
// What it is: `scaling::asio::http_origin` fetches from one origin server given by a base URL
// (`http://host[:port][/base]`) and answers with a `scaling::http_response`, or nullopt when
// the origin could not be reached or did not answer properly (connection refused, timeout,
// malformed response, a body over the limit). It is an `async_origin_fetch<http_response>`:
// a copyable handle with `operator()(const origin_request&, callback)`, so it plugs into
// `edge_options::async_origin`. It keeps a bounded pool of keep-alive connections, sends the
// request's validators (If-None-Match, If-Modified-Since) and Accept-Encoding, and bounds
// every request by one deadline covering connect, write and read.
//
// When to pick it: an edge cache (or `edge_server`) in front of a plain-HTTP origin on a
// trusted network, typically the origin next to the cache. Not for https origins (out of
// scope: put a TLS-terminating proxy beside the origin), nor for general-purpose HTTP
// clients (no redirects, no proxies, no cookies).
//
//   boost::asio::io_context io;
//   scaling::asio::http_origin origin{io.get_executor(), "http://127.0.0.1:8080/static",
//                                     {.timeout = std::chrono::seconds{2}}};
//   scaling::edge_cache<std::string, scaling::http_response> edge{
//       {.async_origin = origin}};       // "/logo.png" is fetched as /static/logo.png
//
// Thread safety: every member may be called from any thread, on any copy. The pool and the
// connections live on a strand of the executor; callbacks run on that strand, never inside
// the initiating call. Complexity: a request costs one post, and a connect only when no idle
// connection is pooled.
// Errors: the constructor throws scaling::invalid_argument (a std::invalid_argument) naming
// the parameter and its value for a base URL that is not `http://host[:port][/path]` (https
// included) and for zero limits. Requests never throw: failures answer nullopt.
//
// Behaviour worth knowing:
//   - pool: at most `max_connections` open connections (busy + idle); requests beyond that
//     wait in a queue of at most `max_waiting` (more answer nullopt at once); idle
//     connections are reused most-recently-used first and dropped after `idle_timeout`.
//   - a reused connection that the origin closed while it sat idle (eof or reset before any
//     byte of the response) is retried once on a fresh connection, for GET and HEAD only.
//   - the deadline (`timeout`) counts from the call, queueing included; on expiry the socket
//     is closed (beast::tcp_stream::expires_at) and the request answers nullopt.
//   - the response keeps every end-to-end header field; hop-by-hop fields (Connection,
//     Keep-Alive, Transfer-Encoding, ... and those Connection names) are dropped, as a proxy
//     must (RFC 9110 section 7.6.1), since the body is stored decoded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <scaling/cdn/cache_control.hpp>
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

// A request other than a plain GET from the cache: what `edge_server` passes through.
struct http_origin_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;                  // path and query, appended to the base path
  http_response::header_list headers;  // end-to-end fields to send; Host is set here
  std::string body;
};

// Counters, for tests and monitoring.
struct http_origin_stats {
  std::uint64_t requests = 0;            // calls
  std::uint64_t connections_opened = 0;  // connects attempted
  std::uint64_t reused = 0;              // requests sent on a pooled connection
  std::uint64_t failures = 0;            // requests answered nullopt
};

class http_origin {
 public:
  using callback = scaling::origin_callback<http_response>;
  using executor_type = boost::asio::any_io_executor;

  // Throws scaling::invalid_argument for a bad base_url or a zero limit (see the banner).
  http_origin(executor_type executor, std::string_view base_url, http_origin_options opts = {})
      : state_(std::make_shared<state>(std::move(executor), parse_url(base_url), validate(opts))) {}

  // Fetches `request.key` (a path, appended to the base path) with GET, sending the
  // request's validators and Accept-Encoding. `done` runs once, on the strand, with the
  // response or nullopt.
  void operator()(const origin_request& request, callback done) const {
    http_origin_request out;
    out.target = request.key;
    if (!request.if_none_match.empty())
      out.headers.emplace_back("If-None-Match", request.if_none_match);
    if (!request.if_modified_since.empty()) {
      out.headers.emplace_back("If-Modified-Since", request.if_modified_since);
    }
    if (!request.accept_encoding.empty()) {
      out.headers.emplace_back("Accept-Encoding", request.accept_encoding);
    }
    send(std::move(out), std::move(done));
  }

  // Sends any request (the pass-through path). Only GET and HEAD are retried on a stale
  // pooled connection. Header fields with CR, LF or NUL in them are not sent.
  void send(http_origin_request request, callback done) const {
    state_->stats_requests.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<exchange>();
    call->deadline = std::chrono::steady_clock::now() + state_->opts.timeout;
    call->done = std::move(done);
    call->message = build(*state_, std::move(request), call->valid);
    boost::asio::post(state_->strand, [st = state_, call = std::move(call)]() mutable {
      start(st, std::move(call));
    });
  }

  // Closes every connection and answers every pending and later request with nullopt.
  // Returns at once; the callbacks follow on the strand.
  void close() const {
    boost::asio::post(state_->strand, [st = state_] {
      st->closed = true;
      for (const auto& c : st->idle)
        close_socket(*c);
      st->idle.clear();
      for (auto* c : st->busy)
        close_socket(*c);
      auto waiting = std::move(st->waiting);
      st->waiting.clear();
      for (auto& call : waiting)
        finish(*st, *call, std::nullopt);
    });
  }

  [[nodiscard]] http_origin_stats stats() const noexcept {
    return {.requests = state_->stats_requests.load(std::memory_order_relaxed),
            .connections_opened = state_->stats_connects.load(std::memory_order_relaxed),
            .reused = state_->stats_reused.load(std::memory_order_relaxed),
            .failures = state_->stats_failures.load(std::memory_order_relaxed)};
  }
  // The host:port requests are sent to (also the Host field).
  [[nodiscard]] const std::string& authority() const noexcept { return state_->url.authority; }

 private:
  using tcp = boost::asio::ip::tcp;
  using request_message = boost::beast::http::request<boost::beast::http::string_body>;
  using response_parser = boost::beast::http::response_parser<boost::beast::http::string_body>;

  struct url_parts {
    std::string host;       // without brackets for IPv6 literals
    std::string port;       // decimal
    std::string authority;  // host:port as written, for Host
    std::string base_path;  // "" or "/base" without a trailing slash
  };

  struct connection {
    explicit connection(const boost::asio::strand<executor_type>& strand) : stream(strand) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since{};
  };
  using connection_ptr = std::shared_ptr<connection>;

  struct exchange {
    request_message message;
    bool valid = true;
    std::chrono::steady_clock::time_point deadline;
    callback done;
    connection_ptr conn;
    std::optional<response_parser> parser;
    bool reused = false;
    bool retried = false;
    bool finished = false;
  };
  using exchange_ptr = std::shared_ptr<exchange>;

  struct state {
    state(executor_type ex, url_parts parts, http_origin_options o)
        : strand(boost::asio::make_strand(std::move(ex))), url(std::move(parts)), opts(o) {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(url.host, ec);
      if (!ec) {
        endpoint = tcp::endpoint{address, static_cast<std::uint16_t>(std::stoul(url.port))};
      }
    }

    boost::asio::strand<executor_type> strand;
    url_parts url;
    http_origin_options opts;
    std::optional<tcp::endpoint> endpoint;  // set for IP literals; names are resolved per connect

    // Strand-only state.
    std::vector<connection_ptr> idle;      // most recently used last
    std::unordered_set<connection*> busy;  // to close them on close()
    std::size_t open = 0;                  // idle + busy + connecting
    std::deque<exchange_ptr> waiting;      // for a connection slot
    bool closed = false;

    std::atomic<std::uint64_t> stats_requests{0}, stats_connects{0}, stats_reused{0},
        stats_failures{0};
  };
  using state_ptr = std::shared_ptr<state>;

  static http_origin_options validate(http_origin_options opts) {
    constexpr std::string_view component = "scaling::asio::http_origin";
    if (opts.max_connections == 0) {
      detail::throw_invalid_argument(component, "max_connections", "must be > 0",
                                     opts.max_connections);
    }
    if (opts.timeout <= std::chrono::steady_clock::duration::zero()) {
      detail::throw_invalid_argument(
          component, "timeout", "must be > 0 ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout).count());
    }
    if (opts.body_limit == 0) {
      detail::throw_invalid_argument(component, "body_limit", "must be > 0", opts.body_limit);
    }
    if (opts.header_limit == 0) {
      detail::throw_invalid_argument(component, "header_limit", "must be > 0", opts.header_limit);
    }
    return opts;
  }

  static url_parts parse_url(std::string_view url) {
    const auto fail = [url](std::string_view rule) {
      detail::throw_invalid_argument("scaling::asio::http_origin", "base_url", rule, url);
    };
    if (url.starts_with("https://") || url.starts_with("HTTPS://")) {
      fail("must be http://host[:port][/path]; https origins are not supported");
    }
    if (!url.starts_with("http://") && !url.starts_with("HTTP://")) {
      fail("must be http://host[:port][/path]");
    }
    std::string_view rest = url.substr(7);
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (path.find_first_of("?#") != std::string_view::npos) fail("must have no query or fragment");
    for (const char c : url) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
        fail("must not contain spaces or control characters");
    }
    url_parts parts;
    std::string_view host = authority;
    std::string_view port = "80";
    if (authority.starts_with('[')) {
      const std::size_t close = authority.find(']');
      if (close == std::string_view::npos) fail("has an unterminated IPv6 literal");
      host = authority.substr(1, close - 1);
      const std::string_view after = authority.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') fail("has junk after the IPv6 literal");
        port = after.substr(1);
      }
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.empty() || host.find('@') != std::string_view::npos) fail("must name a host");
    unsigned long port_number = 0;
    if (port.empty() || port.size() > 5) fail("must have a port in 1..65535");
    for (const char c : port) {
      if (c < '0' || c > '9') fail("must have a port in 1..65535");
      port_number = port_number * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port_number == 0 || port_number > 65535) fail("must have a port in 1..65535");
    parts.host = std::string{host};
    parts.port = std::to_string(port_number);
    parts.authority = std::string{authority};
    while (path.ends_with('/'))
      path.remove_suffix(1);
    parts.base_path = std::string{path};
    return parts;
  }

  static bool safe_field(std::string_view s) noexcept {
    for (const char c : s) {
      if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
  }
  static bool safe_target(std::string_view s) noexcept {
    for (const char c : s) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    }
    return true;
  }

  static request_message build(const state& st, http_origin_request in, bool& valid) {
    request_message m;
    m.method(in.method);
    m.version(11);
    std::string target = st.url.base_path;
    if (!in.target.starts_with('/')) target.push_back('/');
    target.append(in.target);
    valid = safe_target(target);
    m.target(target);
    m.set(boost::beast::http::field::host, st.url.authority);
    for (const auto& [name, value] : in.headers) {
      if (name.empty() || !safe_target(name) || !safe_field(value) ||
          scaling::detail::iequals(name, "Host") ||
          scaling::detail::iequals(name, "Content-Length") ||
          scaling::detail::iequals(name, "Transfer-Encoding") ||
          scaling::detail::iequals(name, "Connection")) {
        continue;
      }
      m.insert(name, value);
    }
    const bool has_body = !in.body.empty() || (in.method != boost::beast::http::verb::get &&
                                               in.method != boost::beast::http::verb::head);
    m.body() = std::move(in.body);
    if (has_body) m.prepare_payload();
    return m;
  }

  static bool idempotent(const exchange& call) noexcept {
    return call.message.method() == boost::beast::http::verb::get ||
           call.message.method() == boost::beast::http::verb::head;
  }

  static void close_socket(connection& c) {
    boost::system::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c.stream.socket().close(ignored);
  }

  // Runs `call` with the callback and a response; later completions are ignored.
  static void finish(state& st, exchange& call, std::optional<http_response> response) {
    if (call.finished) return;
    call.finished = true;
    if (!response) st.stats_failures.fetch_add(1, std::memory_order_relaxed);
    auto done = std::move(call.done);
    call.done = nullptr;
    done(std::move(response));
  }

  // On the strand: a pooled connection, a new one, or a place in the queue.
  static void start(const state_ptr& st, exchange_ptr call) {
    if (st->closed || !call->valid || std::chrono::steady_clock::now() >= call->deadline) {
      finish(*st, *call, std::nullopt);
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    while (!st->idle.empty()) {
      connection_ptr c = std::move(st->idle.back());
      st->idle.pop_back();
      if (now - c->idle_since > st->opts.idle_timeout || !c->stream.socket().is_open()) {
        close_socket(*c);
        --st->open;
        continue;
      }
      call->conn = std::move(c);
      call->reused = true;
      st->stats_reused.fetch_add(1, std::memory_order_relaxed);
      st->busy.insert(call->conn.get());
      write(st, std::move(call));
      return;
    }
    if (st->open < st->opts.max_connections) {
      ++st->open;
      connect(st, std::move(call));
      return;
    }
    if (st->waiting.size() >= st->opts.max_waiting) {
      finish(*st, *call, std::nullopt);
      return;
    }
    st->waiting.push_back(std::move(call));
  }

  // A connection slot was freed (the connection closed): hand it to the next waiting request.
  static void slot_freed(const state_ptr& st) {
    while (!st->waiting.empty()) {
      exchange_ptr next = std::move(st->waiting.front());
      st->waiting.pop_front();
      if (std::chrono::steady_clock::now() >= next->deadline || st->closed) {
        finish(*st, *next, std::nullopt);
        continue;
      }
      start(st, std::move(next));
      return;
    }
  }

  static void connect(const state_ptr& st, exchange_ptr call) {
    st->stats_connects.fetch_add(1, std::memory_order_relaxed);
    call->conn = std::make_shared<connection>(st->strand);
    call->reused = false;
    st->busy.insert(call->conn.get());
    call->conn->stream.expires_at(call->deadline);
    if (st->endpoint) {
      call->conn->stream.async_connect(*st->endpoint,
                                       [st, call](const boost::system::error_code& ec) mutable {
                                         if (ec) return fail(st, std::move(call));
                                         write(st, std::move(call));
                                       });
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(st->strand);
    resolver->async_resolve(
        st->url.host, st->url.port,
        [st, call, resolver](const boost::system::error_code& ec,
                             const tcp::resolver::results_type& results) mutable {
          if (ec || st->closed) return fail(st, std::move(call));
          call->conn->stream.async_connect(results,
                                           [st, call](const boost::system::error_code& connect_ec,
                                                      const tcp::endpoint&) mutable {
                                             if (connect_ec) return fail(st, std::move(call));
                                             write(st, std::move(call));
                                           });
        });
  }

  static void write(const state_ptr& st, exchange_ptr call) {
    if (st->closed) return fail(st, std::move(call));
    call->conn->stream.expires_at(call->deadline);
    call->conn->buffer.clear();
    exchange& ref = *call;
    boost::beast::http::async_write(
        ref.conn->stream, ref.message,
        [st, call = std::move(call)](const boost::system::error_code& ec, std::size_t) mutable {
          if (ec) return retry_or_fail(st, std::move(call));
          read(st, std::move(call));
        });
  }

  static void read(const state_ptr& st, exchange_ptr call) {
    call->parser.emplace();
    call->parser->body_limit(st->opts.body_limit);
    call->parser->header_limit(st->opts.header_limit);
    if (call->message.method() == boost::beast::http::verb::head) call->parser->skip(true);
    exchange& ref = *call;
    boost::beast::http::async_read(
        ref.conn->stream, ref.conn->buffer, *ref.parser,
        [st, call = std::move(call)](const boost::system::error_code& ec, std::size_t) mutable {
          if (ec) {
            if (call->parser->got_some()) return fail(st, std::move(call));
            return retry_or_fail(st, std::move(call));
          }
          complete(st, std::move(call));
        });
  }

  // A pooled connection the origin had closed fails before any response byte: try once more
  // on a fresh connection (RFC 9112 section 9.3.1 allows it for idempotent requests).
  static void retry_or_fail(const state_ptr& st, exchange_ptr call) {
    if (!call->reused || call->retried || !idempotent(*call) || st->closed ||
        std::chrono::steady_clock::now() >= call->deadline) {
      return fail(st, std::move(call));
    }
    call->retried = true;
    st->busy.erase(call->conn.get());
    close_socket(*call->conn);
    call->conn.reset();
    connect(st, std::move(call));  // keeps the slot the stale connection held
  }

  static void fail(const state_ptr& st, exchange_ptr call) {
    if (call->conn) {
      st->busy.erase(call->conn.get());
      close_socket(*call->conn);
      call->conn.reset();
    }
    --st->open;
    finish(*st, *call, std::nullopt);
    slot_freed(st);
  }

  static bool hop_by_hop(std::string_view name, std::string_view connection_tokens) {
    for (const std::string_view fixed :
         {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer",
          "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}) {
      if (scaling::detail::iequals(name, fixed)) return true;
    }
    // Fields named in Connection are hop-by-hop too.
    std::string_view rest = connection_tokens;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view token = scaling::detail::trim_ows(rest.substr(0, comma));
      if (!token.empty() && scaling::detail::iequals(token, name)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return false;
  }

  static void complete(const state_ptr& st, exchange_ptr call) {
    auto message = call->parser->release();
    const bool keep = message.keep_alive() && !message.need_eof() && !st->closed;
    const std::string connection_field{message[boost::beast::http::field::connection]};
    http_response::header_list headers;
    headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
      const std::string_view name = field.name_string();
      if (hop_by_hop(name, connection_field)) continue;
      headers.emplace_back(std::string{name}, std::string{field.value()});
    }
    http_response response{static_cast<int>(message.result_int()), std::move(headers),
                           std::move(message.body())};
    connection_ptr c = std::move(call->conn);
    st->busy.erase(c.get());
    if (keep) {
      c->stream.expires_never();
      c->idle_since = std::chrono::steady_clock::now();
      st->idle.push_back(std::move(c));
    } else {
      close_socket(*c);
      --st->open;
    }
    finish(*st, *call, std::move(response));
    // A connection became idle or a slot was freed: serve the next waiting request.
    slot_freed(st);
  }

  state_ptr state_;
};

static_assert(std::is_convertible_v<http_origin, scaling::async_origin_fetch<http_response>>,
              "http_origin plugs into edge_options::async_origin");

}  // namespace scaling::asio
