// scaling/redis/connection.hpp: a Redis connection and a connection pool on Boost.Asio, with
// hiredis's reader for the replies.
//
// What it is: `scaling::redis::connection`, one TCP connection to one Redis server that sends
// commands (one, or a `pipeline` of many in a single write) and reads their replies with
// hiredis's RESP reader; connect and command timeouts; a broken connection is closed and
// reopened on the next call, after an exponential backoff. `scaling::redis::pool` keeps up to
// N such connections to one server and lends them to threads. Replies are copied out of
// hiredis into `scaling::redis::reply`, a plain value.
//
// When to pick it: talking to Redis from the library's adapters (cache_tier, stream_queue,
// cluster_client), or from your own code when you want blocking calls with deadlines and
// pipelining rather than hiredis's own blocking context (which has no per-command timeout
// and no reconnect). This header needs hiredis (Debian: libhiredis-dev; CMake:
// pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)); nothing else in the library does.
//
//   scaling::redis::pool redis{{.host = "127.0.0.1", .port = 6379}, {.size = 4}};
//   redis.execute({"SET", "user:42", "ada"});
//   scaling::redis::pipeline p;
//   for (auto& k : keys) p.add({"GET", k});
//   std::vector<scaling::redis::reply> got = redis.execute(p);   // one write, one read loop
//
// Failures: a transport failure, a timeout or a reply that cannot be parsed throws
// `scaling::redis::error` naming the server and the command, and closes the connection (its
// reply stream can no longer be trusted); the next call reconnects once the backoff has
// passed, and fails fast with error_kind::backoff before that. An error reply (-ERR ...) is not
// a failure of the connection: it comes back as a reply whose is_error() is true, and
// reply::expect_* turn it (or a reply of the wrong type) into a redis::error.
// The request encoding (RESP arrays of bulk strings) is written here: it is a length-prefixed
// format with nothing to parse; replies are parsed by hiredis only.
//
// Thread safety: a connection is used by one thread at a time; a pool may be used from any
// thread (it lends each connection to one thread at a time).
// Complexity: one write and as many reads as the replies need per execute(); a pipeline of n
// commands costs one round trip instead of n.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <hiredis/hiredis.h>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>

namespace scaling::redis {

// Where a server listens.
struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;

  // "host:port".
  [[nodiscard]] std::string to_string() const { return host + ":" + std::to_string(port); }
  // Parses "host:port" (as MOVED and CLUSTER SLOTS give them); an empty host means
  // `default_host`. Throws scaling::invalid_argument when the port is missing or not a number.
  [[nodiscard]] static endpoint parse(std::string_view text, std::string_view default_host = {}) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      detail::throw_invalid_argument("scaling::redis::endpoint", "text", "must be host:port", text);
    }
    std::uint16_t port = 0;
    const auto digits = text.substr(colon + 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || ptr != digits.data() + digits.size() || digits.empty()) {
      detail::throw_invalid_argument("scaling::redis::endpoint", "text",
                                     "must end in :port (1-65535)", text);
    }
    std::string host{text.substr(0, colon)};
    if (host.empty()) host = std::string{default_host};
    return {std::move(host), port};
  }
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

// What went wrong, for callers that retry some failures and not others.
enum class error_kind {
  connect,       // the server could not be reached (refused, unreachable, connect timeout)
  io,            // the connection broke while sending or receiving
  timeout,       // no complete reply within the command timeout
  protocol,      // the bytes received are not RESP (hiredis's reader refused them)
  reply,         // the server answered with an error reply (-ERR, -WRONGTYPE, -NOAUTH, ...)
  wrong_type,    // the reply is not of the type the command returns
  backoff,       // the connection is down and its reconnect backoff has not passed yet
  pool_timeout,  // every connection of the pool stayed busy for the acquire timeout
};

[[nodiscard]] constexpr std::string_view to_string(error_kind k) noexcept {
  switch (k) {
    case error_kind::connect:
      return "connect failed";
    case error_kind::io:
      return "connection broken";
    case error_kind::timeout:
      return "timed out";
    case error_kind::protocol:
      return "protocol error";
    case error_kind::reply:
      return "error reply";
    case error_kind::wrong_type:
      return "unexpected reply type";
    case error_kind::backoff:
      return "reconnect backoff";
    case error_kind::pool_timeout:
      return "no free connection";
  }
  return "invalid";
}

// A failed Redis call: what() reads "redis 127.0.0.1:6379 GET: timed out (after 100 ms)".
class error : public std::runtime_error {
 public:
  error(error_kind kind, std::string server, std::string command, const std::string& detail)
      : std::runtime_error("redis " + server + " " + command + ": " + std::string{to_string(kind)} +
                           (detail.empty() ? "" : " (" + detail + ")")),
        kind_(kind),
        server_(std::move(server)),
        command_(std::move(command)) {}

  [[nodiscard]] error_kind kind() const noexcept { return kind_; }
  // "host:port" of the server the call went to.
  [[nodiscard]] const std::string& server() const noexcept { return server_; }
  // The command name ("GET"), or "connect" / "pipeline of N" where there was no single one.
  [[nodiscard]] const std::string& command() const noexcept { return command_; }

 private:
  error_kind kind_;
  std::string server_;
  std::string command_;
};

// One RESP2 reply as a value: nil, a bulk string, a status, an error, an integer or an array.
class reply {
 public:
  enum class type : std::uint8_t { nil, string, status, error, integer, array };

  reply() = default;
  [[nodiscard]] static reply make_nil() { return reply{}; }
  [[nodiscard]] static reply make_string(std::string s, type t = type::string) {
    reply r;
    r.type_ = t;
    r.value_ = std::move(s);
    return r;
  }
  [[nodiscard]] static reply make_integer(long long v) {
    reply r;
    r.type_ = type::integer;
    r.value_ = v;
    return r;
  }
  [[nodiscard]] static reply make_array(std::vector<reply> elements) {
    reply r;
    r.type_ = type::array;
    r.value_ = std::move(elements);
    return r;
  }

  [[nodiscard]] type kind() const noexcept { return type_; }
  [[nodiscard]] bool is_nil() const noexcept { return type_ == type::nil; }
  [[nodiscard]] bool is_error() const noexcept { return type_ == type::error; }
  [[nodiscard]] bool is_string() const noexcept { return type_ == type::string; }
  [[nodiscard]] bool is_array() const noexcept { return type_ == type::array; }
  [[nodiscard]] bool is_integer() const noexcept { return type_ == type::integer; }

  // The text of a string, status or error reply ("" for the other types).
  [[nodiscard]] std::string_view str() const noexcept {
    if (const auto* s = std::get_if<std::string>(&value_)) return *s;
    return {};
  }
  // Moves the text out (string, status or error replies).
  [[nodiscard]] std::string take_str() {
    if (auto* s = std::get_if<std::string>(&value_)) return std::move(*s);
    return {};
  }
  [[nodiscard]] long long integer() const noexcept {
    if (const auto* v = std::get_if<long long>(&value_)) return *v;
    return 0;
  }
  // The elements of an array reply (empty for the other types).
  [[nodiscard]] const std::vector<reply>& elements() const noexcept {
    static const std::vector<reply> none;
    if (const auto* v = std::get_if<std::vector<reply>>(&value_)) return *v;
    return none;
  }
  // Moves the elements out of an array reply (empty for the other types).
  [[nodiscard]] std::vector<reply> take_elements() {
    if (auto* v = std::get_if<std::vector<reply>>(&value_)) return std::move(*v);
    return {};
  }

  // For an error reply, its first word ("MOVED", "ASK", "WRONGTYPE", "NOAUTH"); "" otherwise.
  [[nodiscard]] std::string_view error_code() const noexcept {
    if (!is_error()) return {};
    const std::string_view s = str();
    return s.substr(0, s.find(' '));
  }

 private:
  type type_ = type::nil;
  std::variant<std::monostate, std::string, long long, std::vector<reply>> value_;
};

// A batch of commands encoded once and sent in one write (pipelining).
class pipeline {
 public:
  pipeline() = default;

  // Appends one command (its name first, then its arguments; binary-safe).
  void add(std::initializer_list<std::string_view> args) { add_range(args); }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  void add_range(const R& args) {
    std::size_t argc = 0;
    for (auto&& a : args) {
      (void)a;
      ++argc;
    }
    append_header('*', argc);
    bool first = true;
    for (auto&& a : args) {
      const std::string_view arg{a};
      if (first) {
        names_.emplace_back(arg.substr(0, 32));
        first = false;
      }
      append_header('$', arg.size());
      wire_.append(arg);
      wire_.append("\r\n");
    }
    if (first) names_.emplace_back();
  }

  [[nodiscard]] std::size_t size() const noexcept { return names_.size(); }
  [[nodiscard]] bool empty() const noexcept { return names_.empty(); }
  // The bytes sent for the whole batch.
  [[nodiscard]] const std::string& wire() const noexcept { return wire_; }
  // The name of command i (for error messages).
  [[nodiscard]] const std::string& name(std::size_t i) const { return names_.at(i); }
  void clear() noexcept {
    wire_.clear();
    names_.clear();
  }

 private:
  void append_header(char tag, std::size_t n) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    (void)ec;
    wire_.push_back(tag);
    wire_.append(digits, end);
    wire_.append("\r\n");
  }

  std::string wire_;
  std::vector<std::string> names_;
};

struct connection_options {
  // Bound on TCP connect plus the AUTH/HELLO handshake. Must be > 0.
  std::chrono::milliseconds connect_timeout{1000};
  // Bound on one execute(): from the first byte written to the last reply read. Must be > 0.
  std::chrono::milliseconds command_timeout{1000};
  // After a failure, the connection is not retried for this long, doubling per failure in a
  // row up to reconnect_backoff_max (both > 0, min <= max).
  std::chrono::milliseconds reconnect_backoff_min{20};
  std::chrono::milliseconds reconnect_backoff_max{2000};
  // Sent as AUTH <password> after each connect when set.
  std::optional<std::string> password{};
};

// One connection to one Redis server. Movable only through a pointer (it owns an io_context).
class connection {
 public:
  // Validates the options; connects lazily, on the first call.
  // Throws: scaling::invalid_argument for a zero timeout or an inverted backoff range.
  explicit connection(endpoint server, connection_options options = {})
      : server_(std::move(server)), options_(std::move(options)), socket_(io_) {
    constexpr std::string_view who = "scaling::redis::connection";
    if (options_.connect_timeout.count() <= 0) {
      detail::throw_invalid_argument(who, "connect_timeout", "must be > 0 ms",
                                     options_.connect_timeout.count());
    }
    if (options_.command_timeout.count() <= 0) {
      detail::throw_invalid_argument(who, "command_timeout", "must be > 0 ms",
                                     options_.command_timeout.count());
    }
    if (options_.reconnect_backoff_min.count() <= 0 ||
        options_.reconnect_backoff_max < options_.reconnect_backoff_min) {
      detail::throw_invalid_argument(who, "reconnect_backoff_min",
                                     "must be > 0 ms and <= reconnect_backoff_max",
                                     options_.reconnect_backoff_min.count());
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { close_socket(); }

  // Runs one command and returns its reply (an error reply is returned, not thrown).
  // Throws: redis::error (connect, io, timeout, protocol, backoff); the connection is closed
  //   and will reconnect on a later call.
  reply execute(std::initializer_list<std::string_view> args) {
    scratch_.clear();
    scratch_.add(args);
    auto replies = execute(scratch_);
    return std::move(replies.front());
  }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view> reply
  execute_range(const R& args) {
    scratch_.clear();
    scratch_.add_range(args);
    auto replies = execute(scratch_);
    return std::move(replies.front());
  }

  // Sends every command of `batch` in one write and returns their replies in order.
  // Throws: as execute(args).
  std::vector<reply> execute(const pipeline& batch) {
    return execute(batch, options_.command_timeout);
  }
  // As execute(batch), with this call's own timeout instead of command_timeout (a blocking
  // command such as XREADGROUP BLOCK needs its block time plus a margin).
  std::vector<reply> execute(const pipeline& batch, std::chrono::milliseconds timeout) {
    std::vector<reply> out;
    if (batch.empty()) return out;
    out.reserve(batch.size());
    const auto deadline = deadline_after(std::chrono::steady_clock{}, timeout);
    const std::string what = batch.size() == 1 ? batch.name(0)
                                               : "pipeline of " + std::to_string(batch.size()) +
                                                     " (" + batch.name(0) + " ...)";
    ensure_connected(what);
    send(batch.wire(), deadline, what);
    for (std::size_t i = 0; i < batch.size(); ++i)
      out.push_back(read_reply(deadline, what));
    return out;
  }

  // Sends without waiting for replies (SUBSCRIBE); read them with receive_for.
  void send_only(const pipeline& batch) {
    const auto deadline = deadline_after(std::chrono::steady_clock{}, options_.command_timeout);
    const std::string what = batch.empty() ? std::string{"send"} : batch.name(0);
    ensure_connected(what);
    send(batch.wire(), deadline, what);
  }

  // Waits up to `timeout` for one reply or pushed message (pub/sub). nullopt when nothing
  // complete arrived in time; the connection stays open then (a subscriber idles this way).
  // Throws: redis::error for a broken connection or bytes that are not RESP.
  template <class Rep, class Period>
  std::optional<reply> receive_for(std::chrono::duration<Rep, Period> timeout) {
    const auto deadline = deadline_after(std::chrono::steady_clock{}, timeout);
    if (!socket_.is_open()) {
      throw error(error_kind::io, server_.to_string(), "receive", "not connected");
    }
    if (auto r = next_reply("receive")) return r;
    while (true) {
      if (!fill(deadline, "receive", idle_timeout::keep_open)) return std::nullopt;
      if (auto r = next_reply("receive")) return r;
    }
  }

  // Opens the connection now (or throws); runs AUTH when a password is configured.
  void connect() { ensure_connected("connect"); }
  // Closes the connection; the next call reconnects at once (no backoff).
  void disconnect() {
    close_socket();
    next_attempt_ = {};
  }
  [[nodiscard]] bool connected() const noexcept { return socket_.is_open(); }
  [[nodiscard]] const endpoint& server() const noexcept { return server_; }
  [[nodiscard]] const connection_options& options() const noexcept { return options_; }
  // Connects made so far (the first one included).
  [[nodiscard]] std::uint64_t connects() const noexcept { return connects_; }
  // Bumped by every successful connect: state the server keeps per connection (CLIENT
  // TRACKING, SELECT, SUBSCRIBE) must be set again when it changed.
  [[nodiscard]] std::uint64_t session() const noexcept { return connects_; }
  // A number the owner may attach (which tracking redirect this session was set up with).
  [[nodiscard]] std::uint64_t tag() const noexcept { return tag_; }
  void set_tag(std::uint64_t tag) noexcept { tag_ = tag; }

 private:
  enum class idle_timeout { close, keep_open };
  using time_point = std::chrono::steady_clock::time_point;

  struct reader_deleter {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
  };

  [[noreturn]] void fail(error_kind kind, const std::string& what, const std::string& detail) {
    close_socket();
    const auto now = std::chrono::steady_clock::now();
    backoff_ = backoff_.count() == 0 ? options_.reconnect_backoff_min
                                     : std::min(backoff_ * 2, options_.reconnect_backoff_max);
    next_attempt_ = now + backoff_;
    throw error(kind, server_.to_string(), what, detail);
  }

  void close_socket() noexcept {
    boost::system::error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
    reader_.reset();
  }

  void ensure_connected(const std::string& what) {
    if (socket_.is_open()) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count();
      throw error(error_kind::backoff, server_.to_string(), what,
                  "next attempt in " + std::to_string(left) + " ms");
    }
    const auto deadline = deadline_after(std::chrono::steady_clock{}, options_.connect_timeout);
    boost::system::error_code ec;
    boost::asio::ip::tcp::resolver resolver{io_};
    const auto endpoints = resolver.resolve(server_.host, std::to_string(server_.port), ec);
    if (ec) fail(error_kind::connect, what, "resolve: " + ec.message());
    bool done = false;
    io_.restart();
    boost::asio::async_connect(socket_, endpoints,
                               [&](const boost::system::error_code& e, const auto&) {
                                 ec = e;
                                 done = true;
                               });
    run_until(done, deadline);
    if (!done || ec == boost::asio::error::operation_aborted) {
      fail(error_kind::connect, what,
           "no connection within " + std::to_string(options_.connect_timeout.count()) + " ms");
    }
    if (ec) fail(error_kind::connect, what, ec.message());
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    reader_.reset(redisReaderCreate());
    ++connects_;
    tag_ = 0;
    if (options_.password) {
      pipeline auth;
      auth.add({"AUTH", *options_.password});
      send(auth.wire(), deadline, "AUTH");
      const reply r = read_reply(deadline, "AUTH");
      if (r.is_error()) fail(error_kind::reply, "AUTH", std::string{r.str()});
    }
    backoff_ = {};
  }

  // Runs the io_context until `done` or the deadline; on timeout cancels what is pending and
  // drains the handlers so none outlives this call.
  void run_until(bool& done, time_point deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (deadline > now) io_.run_for(deadline - now);
    if (!done) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      io_.restart();
      io_.run();
    }
    io_.restart();
  }

  void send(const std::string& bytes, time_point deadline, const std::string& what) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      boost::system::error_code ec;
      const std::size_t n =
          socket_.write_some(boost::asio::buffer(bytes.data() + sent, bytes.size() - sent), ec);
      sent += n;
      if (!ec) continue;
      if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
        fail(error_kind::io, what, "write: " + ec.message());
      }
      if (!wait_ready(boost::asio::ip::tcp::socket::wait_write, deadline)) {
        fail(error_kind::timeout, what, "write after " + timeout_text());
      }
    }
  }

  // Waits until the socket is readable/writable; false on timeout. Throws on a socket error.
  bool wait_ready(boost::asio::ip::tcp::socket::wait_type type, time_point deadline) {
    bool done = false;
    boost::system::error_code ec;
    socket_.async_wait(type, [&](const boost::system::error_code& e) {
      ec = e;
      done = true;
    });
    run_until(done, deadline);
    if (!done || ec == boost::asio::error::operation_aborted) return false;
    if (ec) fail(error_kind::io, "wait", ec.message());
    return true;
  }

  // Reads what is available into the reader. False when the deadline passed with nothing read.
  bool fill(time_point deadline, const std::string& what, idle_timeout on_timeout) {
    char buffer[16384];
    while (true) {
      boost::system::error_code ec;
      const std::size_t n = socket_.read_some(boost::asio::buffer(buffer), ec);
      if (!ec && n > 0) {
        if (redisReaderFeed(reader_.get(), buffer, n) != REDIS_OK) {
          fail(error_kind::protocol, what, reader_->errstr);
        }
        return true;
      }
      if (ec == boost::asio::error::eof) fail(error_kind::io, what, "server closed the connection");
      if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
        fail(error_kind::io, what, "read: " + ec.message());
      }
      if (!wait_ready(boost::asio::ip::tcp::socket::wait_read, deadline)) {
        if (on_timeout == idle_timeout::keep_open) return false;
        fail(error_kind::timeout, what, "after " + timeout_text());
      }
    }
  }

  std::optional<reply> next_reply(const std::string& what) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
      fail(error_kind::protocol, what, reader_->errstr);
    }
    if (raw == nullptr) return std::nullopt;
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> owned{static_cast<redisReply*>(raw),
                                                                  &freeReplyObject};
    return convert(*owned);
  }

  reply read_reply(time_point deadline, const std::string& what) {
    while (true) {
      if (auto r = next_reply(what)) return std::move(*r);
      (void)fill(deadline, what, idle_timeout::close);
    }
  }

  static reply convert(const redisReply& r) {
    switch (r.type) {
      case REDIS_REPLY_STRING:
        return reply::make_string(std::string(r.str, r.len));
      case REDIS_REPLY_STATUS:
        return reply::make_string(std::string(r.str, r.len), reply::type::status);
      case REDIS_REPLY_ERROR:
        return reply::make_string(std::string(r.str, r.len), reply::type::error);
      case REDIS_REPLY_INTEGER:
        return reply::make_integer(r.integer);
      case REDIS_REPLY_ARRAY: {
        std::vector<reply> elements;
        elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i)
          elements.push_back(convert(*r.element[i]));
        return reply::make_array(std::move(elements));
      }
      default:
        return reply::make_nil();
    }
  }

  [[nodiscard]] std::string timeout_text() const {
    return std::to_string(options_.command_timeout.count()) + " ms";
  }

  endpoint server_;
  connection_options options_;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<redisReader, reader_deleter> reader_;
  pipeline scratch_;
  time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::uint64_t connects_ = 0;
  std::uint64_t tag_ = 0;
};

// Turns an error reply, or a reply of another type than `expected`, into a redis::error.
inline const reply& expect(const reply& r, reply::type expected, const endpoint& server,
                           std::string_view command) {
  if (r.is_error()) {
    throw error(error_kind::reply, server.to_string(), std::string{command}, std::string{r.str()});
  }
  if (r.kind() != expected) {
    throw error(error_kind::wrong_type, server.to_string(), std::string{command},
                "got reply type " + std::to_string(static_cast<int>(r.kind())));
  }
  return r;
}

struct pool_options {
  // Most connections open at once. Must be >= 1.
  std::size_t size = 4;
  // How long acquire() waits for a free connection before error_kind::pool_timeout. >= 0.
  std::chrono::milliseconds acquire_timeout{1000};
  connection_options connection{};
};

// Up to `size` connections to one server, lent to one thread at a time.
class pool {
 public:
  // A connection on loan; goes back to the pool when destroyed.
  class lease {
   public:
    lease(pool* owner, std::unique_ptr<connection> c) : owner_(owner), conn_(std::move(c)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    ~lease() {
      if (conn_) owner_->give_back(std::move(conn_));
    }
    connection& operator*() const noexcept { return *conn_; }
    connection* operator->() const noexcept { return conn_.get(); }

   private:
    pool* owner_;
    std::unique_ptr<connection> conn_;
  };

  // Throws: scaling::invalid_argument for size 0, a negative acquire timeout or bad
  // connection options.
  explicit pool(endpoint server, pool_options options = {})
      : server_(std::move(server)), options_(std::move(options)) {
    if (options_.size == 0) {
      detail::throw_invalid_argument("scaling::redis::pool", "size", "must be >= 1", options_.size);
    }
    if (options_.acquire_timeout.count() < 0) {
      detail::throw_invalid_argument("scaling::redis::pool", "acquire_timeout", "must be >= 0 ms",
                                     options_.acquire_timeout.count());
    }
    connection probe{server_, options_.connection};  // validates the connection options
    (void)probe;
  }
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Borrows a connection (an idle one, or a new one while fewer than size exist).
  // Throws: redis::error with error_kind::pool_timeout after acquire_timeout.
  [[nodiscard]] lease acquire() {
    std::unique_lock lock{mutex_};
    const auto deadline = deadline_after(std::chrono::steady_clock{}, options_.acquire_timeout);
    if (!freed_.wait_until(lock, deadline,
                           [&] { return !idle_.empty() || open_ < options_.size; })) {
      throw error(error_kind::pool_timeout, server_.to_string(), "acquire",
                  std::to_string(options_.size) + " connections busy for " +
                      std::to_string(options_.acquire_timeout.count()) + " ms");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return lease{this, std::move(c)};
    }
    ++open_;
    lock.unlock();
    return lease{this, std::make_unique<connection>(server_, options_.connection)};
  }

  // One command on a borrowed connection. Throws: as connection::execute and acquire().
  reply execute(std::initializer_list<std::string_view> args) { return acquire()->execute(args); }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view> reply
  execute_range(const R& args) {
    return acquire()->execute_range(args);
  }
  std::vector<reply> execute(const pipeline& batch) { return acquire()->execute(batch); }

  [[nodiscard]] const endpoint& server() const noexcept { return server_; }
  [[nodiscard]] const pool_options& options() const noexcept { return options_; }

 private:
  void give_back(std::unique_ptr<connection> c) {
    {
      std::lock_guard lock{mutex_};
      idle_.push_back(std::move(c));
    }
    freed_.notify_one();
  }

  endpoint server_;
  pool_options options_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::size_t open_ = 0;
};

}  // namespace scaling::redis
