// Tests for scaling::asio::http_origin and the example edge_server, on loopback: an
// in-process origin (a small Beast server with scripted replies, counting what it receives)
// behind the in-process edge server, both on ephemeral ports. Time that matters runs on a
// manual_clock; waits on other threads poll a condition with a generous deadline that only
// guards against hangs.
#include "edge_server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <ifaddrs.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <scaling/asio/http_conversion.hpp>
#include <scaling/asio/http_origin.hpp>
#include <scaling/asio/origin_url.hpp>
#include <scaling/core/clock.hpp>

#include "support/sanitizers.hpp"

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Long enough never to fire on a loaded machine under TSan; only a guard against hangs.
constexpr auto hang_guard = 60s;

// Polls `condition` until it holds or the hang guard expires.
template <class F>
bool eventually(F condition) {
  const auto until = std::chrono::steady_clock::now() + hang_guard;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// What the test origin received.
struct seen_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(std::string_view name) const {
    for (const auto& [field, value] : headers) {
      if (scaling::detail::iequals(field, name)) return value;
    }
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& entry : headers) {
      if (scaling::detail::iequals(entry.first, name)) return true;
    }
    return false;
  }
};

// A scripted reply: a response, or raw bytes, or holding the connection until release().
struct reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string raw;     // written as is, then the connection closes
  bool hold = false;   // answered only when the test calls release()
  bool close = false;  // Connection: close
  bool drop = false;   // advertises keep-alive, then closes the connection anyway
};

// The origin: one io_context thread, keep-alive, replies from a handler the test sets.
class test_origin {
 public:
  using handler = std::function<reply(const seen_request&)>;

  test_origin() : acceptor_(io_, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~test_origin() {
    net::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& weak : sessions_) {
        if (auto s = weak.lock()) s->stream.socket().close(ignored);
      }
    });
    thread_.join();
  }

  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  void respond(handler h) {
    const std::lock_guard lock{mutex_};
    handler_ = std::move(h);
  }
  [[nodiscard]] int requests() const { return requests_.load(); }
  [[nodiscard]] int connections() const { return connections_.load(); }
  [[nodiscard]] int held() const { return held_.load(); }
  [[nodiscard]] std::vector<seen_request> seen() const {
    const std::lock_guard lock{mutex_};
    return seen_;
  }
  // Answers every held request with its scripted reply.
  void release() {
    net::post(io_, [this] {
      auto sessions = std::move(holding_);
      holding_.clear();
      for (auto& [s, r] : sessions) {
        held_.fetch_sub(1);
        write(s, r);
      }
    });
  }

 private:
  struct session {
    explicit session(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
    std::string raw;
    bool drop = false;
  };
  using session_ptr = std::shared_ptr<session>;

  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      connections_.fetch_add(1);
      auto s = std::make_shared<session>(std::move(socket));
      sessions_.push_back(s);
      read(s);
      accept();
    });
  }

  void read(const session_ptr& s) {
    s->request = {};
    http::async_read(
        s->stream, s->buffer, s->request,
        [this, s](const boost::system::error_code& ec, std::size_t) {
          if (ec) return;
          seen_request seen{
              std::string{s->request.method_string()}, std::string{s->request.target()}, {}};
          for (const auto& field : s->request) {
            seen.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
          }
          reply r;
          {
            const std::lock_guard lock{mutex_};
            seen_.push_back(seen);
            if (handler_) r = handler_(seen);
          }
          requests_.fetch_add(1);
          if (r.hold) {
            held_.fetch_add(1);
            holding_.emplace_back(s, r);
            return;
          }
          write(s, r);
        });
  }

  void write(const session_ptr& s, const reply& r) {
    if (!r.raw.empty()) {
      s->raw = r.raw;
      net::async_write(s->stream, net::buffer(s->raw),
                       [s](const boost::system::error_code&, std::size_t) {
                         boost::system::error_code ignored;
                         s->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                         s->stream.socket().close(ignored);
                       });
      return;
    }
    s->response = {};
    s->response.result(static_cast<unsigned>(r.status));
    s->response.version(11);
    for (const auto& [name, value] : r.headers)
      s->response.insert(name, value);
    s->response.body() = r.body;
    s->response.keep_alive(!r.close && s->request.keep_alive());
    s->response.prepare_payload();
    s->drop = r.drop;
    http::async_write(s->stream, s->response,
                      [this, s](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return;
                        if (!s->response.keep_alive() || s->drop) {
                          boost::system::error_code ignored;
                          s->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                          s->stream.socket().close(ignored);
                          return;
                        }
                        read(s);
                      });
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mutex_;
  handler handler_;
  std::vector<seen_request> seen_;
  std::vector<std::weak_ptr<session>> sessions_;
  std::vector<std::pair<session_ptr, reply>> holding_;
  std::atomic<int> requests_{0}, connections_{0}, held_{0};
};

// A port where nothing listens: bound once, then closed.
std::uint16_t closed_port() {
  net::io_context io;
  tcp::acceptor a{io, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

// Calls an http_origin and waits for its answer (the callback runs on the origin's strand).
std::optional<scaling::http_response> fetch(const scaling::asio::http_origin& origin,
                                            scaling::origin_request request) {
  std::promise<std::optional<scaling::http_response>> answer;
  auto future = answer.get_future();
  origin(request,
         [&answer](std::optional<scaling::http_response> r) { answer.set_value(std::move(r)); });
  if (future.wait_for(hang_guard) != std::future_status::ready) {
    ADD_FAILURE() << "http_origin never answered";
    return std::nullopt;
  }
  return future.get();
}

// An io_context on its own thread for the code under test.
struct io_thread {
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~io_thread() {
    work.reset();
    thread.join();
  }
};

// ---------------------------------------------------------------------------------------
// http_origin

TEST(HttpOrigin, RejectsHttpsAndMalformedUrlsNamingTheParameter) {
  net::io_context io;
  for (const std::string url : {"https://example.com", "ftp://x", "http://", "http://host:0",
                                "http://host:70000", "http://host:12ab", "http://h/x?y"}) {
    try {
      scaling::asio::http_origin origin{io.get_executor(), url};
      ADD_FAILURE() << url << " accepted";
    } catch (const scaling::invalid_argument& e) {
      EXPECT_EQ(e.parameter(), "base_url") << url;
      EXPECT_NE(std::string{e.what()}.find(url), std::string::npos) << e.what();
    }
  }
  try {
    scaling::asio::http_origin origin{io.get_executor(), "https://cdn.example"};
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("https"), std::string::npos);
  }
  EXPECT_THROW((scaling::asio::http_origin{io.get_executor(), "http://h", {.max_connections = 0}}),
               std::invalid_argument);
  EXPECT_NO_THROW((scaling::asio::http_origin{io.get_executor(), "http://[::1]:8080/base/"}));
}

TEST(HttpOrigin, FetchesWithValidatorsAndConvertsTheResponse) {
  test_origin server;
  server.respond([](const seen_request&) {
    return reply{.status = 200,
                 .headers = {{"Cache-Control", "max-age=60"},
                             {"ETag", "\"v1\""},
                             {"X-Custom", "a"},
                             {"Keep-Alive", "timeout=5"}},
                 .body = "hello"};
  });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url() + "/base/"};
  auto response = fetch(origin, {.key = "/img/a.png?x=1",
                                 .accept_encoding = "gzip",
                                 .if_none_match = "\"v0\"",
                                 .if_modified_since = "Sat, 01 Jan 2000 00:00:00 GMT"});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(response->body(), "hello");
  EXPECT_EQ(response->header("cache-control"), "max-age=60");
  EXPECT_EQ(response->header("ETag"), "\"v1\"");
  EXPECT_EQ(response->header("X-Custom"), "a");
  EXPECT_FALSE(response->has_header("Keep-Alive"));  // hop-by-hop
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/base/img/a.png?x=1");
  EXPECT_EQ(seen[0].header("Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].header("If-None-Match"), "\"v0\"");
  EXPECT_EQ(seen[0].header("If-Modified-Since"), "Sat, 01 Jan 2000 00:00:00 GMT");
  EXPECT_EQ(seen[0].header("Accept-Encoding"), "gzip");
}

TEST(HttpOrigin, PoolReusesOneKeepAliveConnection) {
  test_origin server;
  server.respond([](const seen_request& r) { return reply{.body = "body of " + r.target}; });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url()};
  for (int i = 0; i < 5; ++i) {
    auto response = fetch(origin, {.key = "/k" + std::to_string(i)});
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body(), "body of /k" + std::to_string(i));
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(origin.stats().connections_opened, 1u);
  EXPECT_EQ(origin.stats().reused, 4u);
}

TEST(HttpOrigin, RetriesOnceWhenThePooledConnectionWasClosedByTheOrigin) {
  test_origin server;
  server.respond([](const seen_request&) { return reply{.body = "x", .drop = true}; });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url()};
  ASSERT_TRUE(fetch(origin, {.key = "/a"}));
  ASSERT_TRUE(eventually([&] { return server.connections() == 1; }));
  ASSERT_TRUE(fetch(origin, {.key = "/b"}));  // the pooled connection is dead: one retry
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(origin.stats().failures, 0u);
  EXPECT_EQ(origin.stats().connections_opened, 2u);
}

TEST(HttpOrigin, BoundsConnectionsAndQueuesTheRest) {
  test_origin server;
  server.respond([](const seen_request&) { return reply{.body = "x", .hold = true}; });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url(), {.max_connections = 2}};
  std::atomic<int> answered{0};
  for (int i = 0; i < 6; ++i) {
    origin({.key = "/q"}, [&answered](std::optional<scaling::http_response> r) {
      EXPECT_TRUE(r);
      answered.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return server.held() == 2; }));
  EXPECT_EQ(server.connections(), 2);
  // Each release answers the held requests; the queued ones follow on the same connections.
  ASSERT_TRUE(eventually([&] {
    if (server.held() > 0) server.release();
    return answered.load() == 6;
  }));
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(origin.stats().connections_opened, 2u);
}

TEST(HttpOrigin, TimeoutAnswersNullopt) {
  test_origin server;
  server.respond([](const seen_request&) { return reply{.hold = true}; });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url(), {.timeout = 50ms}};
  EXPECT_FALSE(fetch(origin, {.key = "/slow"}));
  EXPECT_EQ(origin.stats().failures, 1u);
}

TEST(HttpOrigin, ConnectionRefusedAnswersNullopt) {
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(),
                                    "http://127.0.0.1:" + std::to_string(closed_port())};
  EXPECT_FALSE(fetch(origin, {.key = "/"}));
}

TEST(HttpOrigin, BodyOverTheLimitAndMalformedResponsesAreErrors) {
  test_origin server;
  server.respond([](const seen_request& r) {
    if (r.target == "/big") return reply{.body = std::string(2048, 'x')};
    if (r.target == "/garbage") return reply{.raw = "NOT HTTP AT ALL\r\n\r\n"};
    return reply{.body = std::string(1024, 'y')};
  });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url(), {.body_limit = 1024}};
  EXPECT_FALSE(fetch(origin, {.key = "/big"}));
  EXPECT_FALSE(fetch(origin, {.key = "/garbage"}));
  auto fits = fetch(origin, {.key = "/fits"});
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->body().size(), 1024u);
}

TEST(HttpOrigin, CloseAnswersPendingRequestsWithNullopt) {
  test_origin server;
  server.respond([](const seen_request&) { return reply{.hold = true}; });
  io_thread io;
  scaling::asio::http_origin origin{io.io.get_executor(), server.url()};
  std::promise<bool> answered;
  origin({.key = "/held"}, [&answered](std::optional<scaling::http_response> r) {
    answered.set_value(r.has_value());
  });
  ASSERT_TRUE(eventually([&] { return server.held() == 1; }));
  origin.close();
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(hang_guard), std::future_status::ready);
  EXPECT_FALSE(future.get());
  EXPECT_FALSE(fetch(origin, {.key = "/after"}));
}

// Calls http_origin::fetch and waits for the outcome.
scaling::asio::http_origin_result fetch_result(const scaling::asio::http_origin& origin,
                                               scaling::asio::http_origin_request request) {
  std::promise<scaling::asio::http_origin_result> answer;
  auto future = answer.get_future();
  origin.fetch(std::move(request),
               [&answer](scaling::asio::http_origin_result r) { answer.set_value(std::move(r)); });
  if (future.wait_for(hang_guard) != std::future_status::ready) {
    ADD_FAILURE() << "http_origin never answered";
    return {};
  }
  return future.get();
}

TEST(HttpOrigin, FetchSaysWhyThereIsNoResponse) {
  using failure = scaling::asio::http_origin_failure;
  test_origin server;
  server.respond([](const seen_request& r) {
    if (r.target == "/slow") return reply{.hold = true};
    if (r.target == "/garbage") return reply{.raw = "NOT HTTP AT ALL\r\n\r\n"};
    if (r.target == "/cut") return reply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"};
    if (r.target == "/big") return reply{.body = std::string(2048, 'x')};
    return reply{.body = "fine"};
  });
  io_thread io;
  scaling::asio::http_origin origin{
      io.io.get_executor(), server.url(), {.timeout = 200ms, .body_limit = 1024}};
  const auto ok = fetch_result(origin, {.target = "/ok"});
  ASSERT_TRUE(ok.response);
  EXPECT_EQ(ok.response->body(), "fine");
  EXPECT_EQ(ok.failure, failure::none);
  EXPECT_EQ(fetch_result(origin, {.target = "/slow"}).failure, failure::timeout);
  EXPECT_EQ(fetch_result(origin, {.target = "/garbage"}).failure, failure::malformed);
  EXPECT_EQ(fetch_result(origin, {.target = "/cut"}).failure, failure::connection_lost);
  EXPECT_EQ(fetch_result(origin, {.target = "/big"}).failure, failure::too_large);
  EXPECT_EQ(fetch_result(origin, {.target = "/a b"}).failure, failure::invalid_request);
  EXPECT_EQ(origin.stats().timeouts, 1u);
  EXPECT_EQ(origin.stats().failures, 5u);
  EXPECT_FALSE(origin.closed());
  origin.close();
  origin.close();  // idempotent
  EXPECT_TRUE(origin.closed());
  EXPECT_EQ(fetch_result(origin, {.target = "/ok"}).failure, failure::closed);

  scaling::asio::http_origin refused{io.io.get_executor(),
                                     "http://127.0.0.1:" + std::to_string(closed_port())};
  EXPECT_EQ(fetch_result(refused, {.target = "/"}).failure, failure::unreachable);
}

TEST(HttpOrigin, SplitHeadersConvertRequestsAndResponses) {
  const auto url = scaling::asio::parse_origin_url("http://Origin.test:8080/base/");
  EXPECT_EQ(url.host, "Origin.test");
  EXPECT_EQ(url.port, "8080");
  EXPECT_EQ(url.base_path, "/base");
  auto message = scaling::asio::to_beast_request(
      url, scaling::asio::to_origin_request(
               {.key = "/a?b=1", .accept_encoding = "gzip", .if_none_match = "\"v1\""}));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->target(), "/base/a?b=1");
  EXPECT_EQ((*message)[http::field::host], "Origin.test:8080");
  EXPECT_EQ((*message)[http::field::if_none_match], "\"v1\"");
  EXPECT_EQ((*message)[http::field::accept_encoding], "gzip");
  EXPECT_FALSE(scaling::asio::to_beast_request(url, {.target = "/a\r\nX: y"}));

  http::response<http::string_body> answer{http::status::ok, 11};
  answer.set(http::field::connection, "X-Private");
  answer.set("X-Private", "1");
  answer.set(http::field::transfer_encoding, "chunked");
  answer.set(http::field::etag, "\"e\"");
  answer.body() = "payload";
  const auto converted = scaling::asio::to_http_response(std::move(answer));
  EXPECT_EQ(converted.status(), 200);
  EXPECT_EQ(converted.body(), "payload");
  EXPECT_EQ(converted.header("ETag"), "\"e\"");
  EXPECT_EQ(converted.header("X-Private"), "");
  EXPECT_EQ(converted.header("Transfer-Encoding"), "");
  EXPECT_EQ(converted.header("Connection"), "");
}

// ---------------------------------------------------------------------------------------
// edge_server

using response_message = http::response<http::string_body>;

// A keep-alive HTTP client on its own io_context; every operation is bounded by the guard.
class http_client {
 public:
  explicit http_client(std::uint16_t port,
                       net::ip::address address = net::ip::make_address("127.0.0.1"))
      : stream_(io_) {
    stream_.expires_after(hang_guard);
    boost::system::error_code ec;
    stream_.socket().connect({address, port}, ec);
    connected_ = !ec;
  }
  [[nodiscard]] bool connected() const { return connected_; }

  response_message send(http::verb method, std::string target,
                        std::vector<std::pair<std::string, std::string>> headers = {},
                        std::string body = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "edge.test");
    for (const auto& [name, value] : headers)
      req.set(name, value);
    req.body() = std::move(body);
    if (!req.body().empty() || method == http::verb::post) req.prepare_payload();
    return exchange(req);
  }
  response_message get(std::string target,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    return send(http::verb::get, std::move(target), std::move(headers));
  }

  // Writes raw bytes (several pipelined requests, or a malformed one).
  void write_raw(const std::string& bytes) {
    boost::system::error_code ec;
    stream_.expires_after(hang_guard);
    net::write(stream_.socket(), net::buffer(bytes), ec);
    EXPECT_FALSE(ec) << ec.message();
  }
  // Reads one response; an error (e.g. eof when the server closed) is returned in `error`.
  response_message read(boost::system::error_code* error = nullptr, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 26);
    if (head) parser.skip(true);
    boost::system::error_code ec;
    stream_.expires_after(hang_guard);
    http::async_read(stream_, buffer_, parser,
                     [&ec](const boost::system::error_code& e, std::size_t) { ec = e; });
    io_.restart();
    io_.run();
    if (error != nullptr) {
      *error = ec;
    } else {
      EXPECT_FALSE(ec) << ec.message();
    }
    return parser.release();
  }
  response_message exchange(const http::request<http::string_body>& req) {
    boost::system::error_code ec;
    stream_.expires_after(hang_guard);
    http::async_write(stream_, req,
                      [&ec](const boost::system::error_code& e, std::size_t) { ec = e; });
    io_.restart();
    io_.run();
    EXPECT_FALSE(ec) << ec.message();
    return read(nullptr, req.method() == http::verb::head);
  }
  // True when the server closes the connection without answering.
  bool closed_by_server() {
    boost::system::error_code ec;
    read(&ec);
    return ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset;
  }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

// An IPv4 address of this host other than loopback (a connection to it from this host comes
// from that address, not from 127.0.0.1), if the host has one.
std::optional<net::ip::address_v4> non_loopback_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<net::ip::address_v4> found;
  for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    sockaddr_in in{};
    std::memcpy(&in, i->ifa_addr, sizeof in);
    const net::ip::address_v4 address{ntohl(in.sin_addr.s_addr)};
    if (!address.is_loopback() && !address.is_unspecified()) found = address;
  }
  ::freeifaddrs(list);
  return found;
}

std::string field(const response_message& r, std::string_view name) {
  return std::string{r[name]};
}

// A test origin, a manual clock at a plausible Unix time, and the edge server in front.
class EdgeServer : public ::testing::Test {
 protected:
  static edge_example::edge_server_options options_for(const test_origin& origin,
                                                       const scaling::manual_clock& clock) {
    return {.listen = "127.0.0.1:0",
            .origin = origin.url(),
            .threads = 2,
            .capacity_bytes = 16 << 20,
            .origin_timeout = std::chrono::milliseconds{30'000},
            .drain_timeout = std::chrono::milliseconds{30'000},
            .clock = clock};
  }
  void start(edge_example::edge_server_options opts) {
    server = std::make_unique<edge_example::edge_server>(std::move(opts));
    server->start();
  }
  void start() { start(options_for(*origin, clock)); }
  http_client client() { return http_client{server->port()}; }

  scaling::manual_clock clock{
      scaling::manual_clock::time_point{std::chrono::seconds{1'700'000'000}}};
  std::unique_ptr<test_origin> origin = std::make_unique<test_origin>();
  std::unique_ptr<edge_example::edge_server> server;
};

reply cacheable(std::string body, std::string cache_control = "public, max-age=60",
                std::vector<std::pair<std::string, std::string>> extra = {}) {
  reply r{.body = std::move(body)};
  r.headers.emplace_back("Cache-Control", std::move(cache_control));
  for (auto& h : extra)
    r.headers.push_back(std::move(h));
  return r;
}

TEST_F(EdgeServer, MissThenHitWithAgeAndOneOriginRequest) {
  origin->respond([](const seen_request& r) { return cacheable("body of " + r.target); });
  start();
  auto c = client();
  auto first = c.get("/a.css");
  EXPECT_EQ(first.result_int(), 200u);
  EXPECT_EQ(first.body(), "body of /a.css");
  EXPECT_EQ(field(first, "X-Cache"), "MISS");
  clock.advance(10s);
  auto second = c.get("/a.css");
  EXPECT_EQ(second.body(), "body of /a.css");
  EXPECT_EQ(field(second, "X-Cache"), "HIT");
  EXPECT_EQ(field(second, "Age"), "10");
  EXPECT_EQ(field(second, "Cache-Control"), "public, max-age=60");
  auto head = c.send(http::verb::head, "/a.css");
  EXPECT_EQ(field(head, "X-Cache"), "HIT");
  EXPECT_EQ(field(head, "Content-Length"), "14");
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(origin->requests(), 1);
  EXPECT_EQ(server->stats().cache_answers, 2u);
}

TEST_F(EdgeServer, StaleWhileRevalidateAnswersStaleAndRefreshesOnce) {
  std::atomic<int> version{1};
  origin->respond([&version](const seen_request&) {
    return cacheable("v" + std::to_string(version.load()), "max-age=10, stale-while-revalidate=60");
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/page").body(), "v1");
  version = 2;
  clock.advance(20s);
  auto stale = c.get("/page");
  EXPECT_EQ(field(stale, "X-Cache"), "STALE");
  EXPECT_EQ(stale.body(), "v1");
  // The one background refresh lands; until it has, answers stay STALE without new fetches.
  ASSERT_TRUE(eventually([&] { return c.get("/page").body() == "v2"; }));
  EXPECT_EQ(field(c.get("/page"), "X-Cache"), "HIT");
  EXPECT_EQ(origin->requests(), 2);
  EXPECT_EQ(server->stats().cache.background_refreshes, 1u);
}

TEST_F(EdgeServer, PurgeByUrlTagAndPrefixThroughTheAdminApi) {
  origin->respond([](const seen_request& r) {
    const std::string tag = r.target.starts_with("/p/1") ? "red" : "blue";
    return cacheable(r.target, "max-age=600", {{"Surrogate-Key", tag + " all"}});
  });
  start();
  auto c = client();
  for (const char* path : {"/p/1", "/p/2", "/q/3", "/q/4"})
    EXPECT_EQ(field(c.get(path), "X-Cache"), "MISS");
  for (const char* path : {"/p/1", "/p/2", "/q/3", "/q/4"})
    EXPECT_EQ(field(c.get(path), "X-Cache"), "HIT");

  auto by_url = c.send(http::verb::post, "/.scaling/purge?url=http%3A%2F%2Fedge.test%2Fp%2F1");
  EXPECT_EQ(by_url.result_int(), 200u);
  EXPECT_EQ(by_url.body(), "{\"purged\":1}\n");
  EXPECT_EQ(field(c.get("/p/1"), "X-Cache"), "MISS");

  EXPECT_EQ(c.send(http::verb::post, "/.scaling/purge?tag=blue").body(), "{\"purged\":3}\n");
  EXPECT_EQ(field(c.get("/q/3"), "X-Cache"), "MISS");
  EXPECT_EQ(field(c.get("/p/1"), "X-Cache"), "HIT");

  EXPECT_EQ(c.send(http::verb::post, "/.scaling/purge?prefix=/q/").body(), "{\"purged\":1}\n");
  EXPECT_EQ(field(c.get("/q/3"), "X-Cache"), "MISS");

  // The PURGE method, on the request's own URL.
  EXPECT_EQ(c.send(http::verb::purge, "/q/3").body(), "{\"purged\":1}\n");
  EXPECT_EQ(c.send(http::verb::post, "/.scaling/purge").result_int(), 400u);
  EXPECT_EQ(c.get("/.scaling/purge?tag=x").result_int(), 405u);
  EXPECT_EQ(c.get("/.scaling/stats").result_int(), 200u);
  EXPECT_EQ(server->stats().purges, 4u);
}

TEST_F(EdgeServer, AdminApiRefusesPeersOutsideLoopback) {
  const auto address = non_loopback_address();
  if (!address) GTEST_SKIP() << "this host has no IPv4 address outside loopback";
  origin->respond([](const seen_request&) {
    return cacheable("x", "max-age=600", {{"Surrogate-Key", "t"}});
  });
  auto opts = options_for(*origin, clock);
  opts.listen = address->to_string() + ":0";
  start(std::move(opts));

  http_client outside{server->port(), *address};
  ASSERT_TRUE(outside.connected());
  EXPECT_EQ(field(outside.get("/a"), "X-Cache"), "MISS");  // content is served to anyone
  EXPECT_EQ(field(outside.get("/a"), "X-Cache"), "HIT");
  EXPECT_EQ(outside.send(http::verb::purge, "/a").result_int(), 403u);
  EXPECT_EQ(outside.send(http::verb::post, "/.scaling/purge?tag=t").result_int(), 403u);
  EXPECT_EQ(outside.send(http::verb::post, "/.scaling/purge?all=1").result_int(), 403u);
  EXPECT_EQ(outside.get("/.scaling/stats").result_int(), 403u);
  EXPECT_EQ(field(outside.get("/a"), "X-Cache"), "HIT");  // nothing was purged
  EXPECT_EQ(server->stats().purges, 0u);
}

TEST_F(EdgeServer, SoftPurgeServesStaleWhileTheRefreshRuns) {
  std::atomic<int> version{1};
  origin->respond([&version](const seen_request&) {
    return cacheable("v" + std::to_string(version.load()), "max-age=600, stale-while-revalidate=60",
                     {{"Surrogate-Key", "news"}});
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/n").body(), "v1");
  version = 2;
  EXPECT_EQ(c.send(http::verb::post, "/.scaling/purge?tag=news&soft=1").body(), "{\"purged\":1}\n");
  auto stale = c.get("/n");
  EXPECT_EQ(field(stale, "X-Cache"), "STALE");
  EXPECT_EQ(stale.body(), "v1");
  ASSERT_TRUE(eventually([&] { return c.get("/n").body() == "v2"; }));
  EXPECT_EQ(origin->requests(), 2);
}

TEST_F(EdgeServer, RevalidatesWithIfNoneMatchAndA304RefreshesTheCopy) {
  origin->respond([](const seen_request& r) {
    if (r.header("If-None-Match") == "\"v1\"") {
      return reply{.status = 304, .headers = {{"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}}};
    }
    return cacheable("full body", "max-age=10", {{"ETag", "\"v1\""}});
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/doc").body(), "full body");
  clock.advance(30s);
  auto refreshed = c.get("/doc");
  EXPECT_EQ(refreshed.result_int(), 200u);
  EXPECT_EQ(refreshed.body(), "full body");
  EXPECT_EQ(field(refreshed, "X-Cache"), "HIT");
  const auto seen = origin->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].header("If-None-Match"), "\"v1\"");
  EXPECT_EQ(server->stats().cache.revalidated, 1u);
  EXPECT_EQ(field(c.get("/doc"), "X-Cache"), "HIT");  // fresh again after the 304
  EXPECT_EQ(origin->requests(), 2);
}

TEST_F(EdgeServer, ClientConditionalGetIsAnswered304ByTheEdge) {
  origin->respond([](const seen_request&) {
    return cacheable("payload", "max-age=60", {{"ETag", "W/\"abc\""}});
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/img").body(), "payload");
  auto not_modified = c.get("/img", {{"If-None-Match", "\"zzz\", \"abc\""}});
  EXPECT_EQ(not_modified.result_int(), 304u);
  EXPECT_TRUE(not_modified.body().empty());
  EXPECT_EQ(field(not_modified, "ETag"), "W/\"abc\"");
  EXPECT_EQ(field(not_modified, "X-Cache"), "HIT");
  auto changed = c.get("/img", {{"If-None-Match", "\"other\""}});
  EXPECT_EQ(changed.result_int(), 200u);
  EXPECT_EQ(changed.body(), "payload");
  EXPECT_EQ(origin->requests(), 1);
  EXPECT_EQ(server->stats().not_modified, 1u);
}

TEST_F(EdgeServer, IfModifiedSinceIsAnsweredFromTheStoredLastModified) {
  origin->respond([](const seen_request& r) {
    std::vector<std::pair<std::string, std::string>> extra{
        {"Date", "Wed, 15 Nov 2023 00:00:00 GMT"}};
    if (r.target == "/lm") extra.emplace_back("Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT");
    if (r.target == "/tagged") extra.emplace_back("ETag", "\"v1\"");
    return cacheable("payload", "max-age=60", std::move(extra));
  });
  start();
  auto c = client();
  for (const char* path : {"/lm", "/dated", "/tagged"})
    EXPECT_EQ(c.get(path).result_int(), 200u);

  // Last-Modified not later than the client's date: 304, with the validator and no body.
  auto same = c.get("/lm", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}});
  EXPECT_EQ(same.result_int(), 304u);
  EXPECT_TRUE(same.body().empty());
  EXPECT_EQ(field(same, "X-Cache"), "HIT");
  // Any of the three date formats a recipient must accept.
  EXPECT_EQ(c.get("/lm", {{"If-Modified-Since", "Wednesday, 15-Nov-23 00:00:00 GMT"}}).result_int(),
            304u);
  // Modified after the client's copy: the full answer.
  auto older = c.get("/lm", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}});
  EXPECT_EQ(older.result_int(), 200u);
  EXPECT_EQ(older.body(), "payload");
  // An invalid date is ignored (RFC 9110 section 13.1.3).
  EXPECT_EQ(c.get("/lm", {{"If-Modified-Since", "yesterday"}}).result_int(), 200u);
  // Without Last-Modified the stored Date decides.
  EXPECT_EQ(c.get("/dated", {{"If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT"}}).result_int(),
            304u);
  EXPECT_EQ(c.get("/dated", {{"If-Modified-Since", "Tue, 14 Nov 2023 00:00:00 GMT"}}).result_int(),
            200u);
  // If-None-Match, when present, decides alone: a mismatch is a full answer whatever the date.
  auto both = c.get("/tagged", {{"If-None-Match", "\"v0\""},
                                {"If-Modified-Since", "Thu, 16 Nov 2023 00:00:00 GMT"}});
  EXPECT_EQ(both.result_int(), 200u);
  EXPECT_EQ(origin->requests(), 3);
  EXPECT_EQ(server->stats().not_modified, 3u);
}

TEST_F(EdgeServer, AcceptEncodingVariantsAreKeptApart) {
  origin->respond([](const seen_request& r) {
    const bool gzip = r.header("Accept-Encoding").find("gzip") != std::string::npos;
    reply out = cacheable(gzip ? "gzipped" : "plain", "max-age=60", {{"Vary", "Accept-Encoding"}});
    if (gzip) out.headers.emplace_back("Content-Encoding", "gzip");
    return out;
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/v", {{"Accept-Encoding", "gzip, deflate"}}).body(), "gzipped");
  EXPECT_EQ(c.get("/v").body(), "plain");
  auto gz = c.get("/v", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz.body(), "gzipped");
  EXPECT_EQ(field(gz, "X-Cache"), "HIT");
  EXPECT_EQ(field(gz, "Content-Encoding"), "gzip");
  auto plain = c.get("/v", {{"Accept-Encoding", "identity"}});
  EXPECT_EQ(plain.body(), "plain");
  EXPECT_EQ(field(plain, "X-Cache"), "HIT");
  EXPECT_EQ(origin->requests(), 2);
}

TEST_F(EdgeServer, HeadMissFetchesTheObjectAndAnswersWithoutABody) {
  origin->respond([](const seen_request&) { return cacheable(std::string(100, 'h')); });
  start();
  auto c = client();
  auto head = c.send(http::verb::head, "/h");
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(field(head, "Content-Length"), "100");
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(field(head, "X-Cache"), "MISS");
  auto get = c.get("/h");  // the same connection: the HEAD left no stray body bytes
  EXPECT_EQ(get.body().size(), 100u);
  EXPECT_EQ(field(get, "X-Cache"), "HIT");
  ASSERT_EQ(origin->requests(), 1);
  EXPECT_EQ(origin->seen()[0].method, "GET");
}

TEST_F(EdgeServer, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  origin->respond([](const seen_request&) { return cacheable("x"); });
  auto opts = options_for(*origin, clock);
  opts.idle_timeout = std::chrono::milliseconds{50};
  start(opts);
  auto c = client();
  EXPECT_EQ(c.get("/").result_int(), 200u);
  EXPECT_TRUE(c.closed_by_server());  // nothing more sent: the sweep closes it
  ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 0; }));
}

TEST_F(EdgeServer, OriginDownNeverCachedIs502) {
  auto opts = options_for(*origin, clock);
  opts.origin = "http://127.0.0.1:" + std::to_string(closed_port());
  start(opts);
  auto c = client();
  auto r = c.get("/x");
  EXPECT_EQ(r.result_int(), 502u);
  EXPECT_EQ(field(r, "X-Cache"), "MISS");
}

TEST_F(EdgeServer, OriginDownServesStaleIfErrorThenMustRevalidateIs504) {
  origin->respond([](const seen_request& r) {
    if (r.target == "/sie") return cacheable("kept", "max-age=10, stale-if-error=3600");
    // An ETag keeps the expired copy stored for revalidation: a copy exists, but may not be
    // served stale, hence 504 rather than 502.
    return cacheable("strict", "max-age=10, must-revalidate", {{"ETag", "\"s1\""}});
  });
  start();
  auto c = client();
  EXPECT_EQ(c.get("/sie").body(), "kept");
  EXPECT_EQ(c.get("/strict").body(), "strict");
  origin.reset();  // connection refused from now on
  clock.advance(60s);
  auto stale = c.get("/sie");
  EXPECT_EQ(stale.result_int(), 200u);
  EXPECT_EQ(stale.body(), "kept");
  EXPECT_EQ(field(stale, "X-Cache"), "STALE");
  auto strict = c.get("/strict");
  EXPECT_EQ(strict.result_int(), 504u);
  EXPECT_EQ(server->stats().cache.stale_if_error, 1u);
}

// RFC 9110 section 15.6.5: no timely answer from the origin is a 504.
TEST_F(EdgeServer, OriginTimeoutIs504) {
  origin->respond([](const seen_request&) { return reply{.hold = true}; });
  auto opts = options_for(*origin, clock);
  opts.origin_timeout = std::chrono::milliseconds{100};
  start(opts);
  auto c = client();
  EXPECT_EQ(c.get("/slow").result_int(), 504u);
}

TEST_F(EdgeServer, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  origin->respond([](const seen_request& r) { return cacheable("body" + r.target); });
  start();
  auto c = client();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c.get("/k" + std::to_string(i)).body(), "body/k" + std::to_string(i));
  std::string pipelined;
  for (int i = 0; i < 3; ++i)
    pipelined += "GET /k" + std::to_string(4 - i) + " HTTP/1.1\r\nHost: edge.test\r\n\r\n";
  c.write_raw(pipelined);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.read().body(), "body/k" + std::to_string(4 - i));
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(origin->requests(), 5);
}

TEST_F(EdgeServer, ConcurrentColdMissesReachTheOriginOnce) {
  constexpr int clients = 50;
  origin->respond([](const seen_request&) {
    reply r = cacheable("shared");
    r.hold = true;
    return r;
  });
  start();
  std::vector<std::unique_ptr<http_client>> cs;
  std::vector<std::thread> threads;
  std::vector<std::string> bodies(clients);
  for (int i = 0; i < clients; ++i)
    cs.push_back(std::make_unique<http_client>(server->port()));
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      bodies[static_cast<std::size_t>(i)] = cs[static_cast<std::size_t>(i)]->get("/cold").body();
    });
  }
  // Every request is in the cache's waiting list before the origin answers the one fetch.
  ASSERT_TRUE(eventually([&] { return server->stats().origin_waits == clients; }));
  ASSERT_TRUE(eventually([&] { return origin->held() == 1; }));
  origin->release();
  for (auto& t : threads)
    t.join();
  for (const auto& body : bodies)
    EXPECT_EQ(body, "shared");
  EXPECT_EQ(origin->requests(), 1);
  EXPECT_EQ(server->stats().cache.coalesced, static_cast<std::uint64_t>(clients - 1));
}

TEST_F(EdgeServer, PassesOtherMethodsAndAuthorizedRequestsWithoutCaching) {
  origin->respond([](const seen_request& r) { return cacheable(r.method + " " + r.target); });
  start();
  auto c = client();
  auto post = c.send(http::verb::post, "/form", {{"Content-Type", "text/plain"}}, "a=1");
  EXPECT_EQ(post.body(), "POST /form");
  EXPECT_EQ(c.send(http::verb::post, "/form", {}, "a=2").body(), "POST /form");
  EXPECT_EQ(c.get("/me", {{"Authorization", "Bearer t"}}).body(), "GET /me");
  EXPECT_EQ(c.get("/me", {{"Authorization", "Bearer t"}}).body(), "GET /me");
  EXPECT_EQ(origin->requests(), 4);
  const auto seen = origin->seen();
  EXPECT_EQ(seen[2].header("Authorization"), "Bearer t");
  EXPECT_EQ(server->stats().passed, 4u);
}

// RFC 9111 section 4.4: a non-error answer to an unsafe method invalidates the target URI,
// and the Location and Content-Location URIs on the same origin; the request itself always
// reaches the origin.
TEST_F(EdgeServer, UnsafeMethodsInvalidateTheTargetUri) {
  origin->respond([](const seen_request& r) {
    if (r.method == "GET") return cacheable("got " + r.target, "max-age=600");
    return reply{.status = 200, .body = r.method + " done"};
  });
  start();
  auto c = client();
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    SCOPED_TRACE(method);
    EXPECT_EQ(c.get("/res").body(), "got /res");
    EXPECT_EQ(field(c.get("/res"), "X-Cache"), "HIT");
    const int before = origin->requests();
    auto unsafe = c.send(http::string_to_verb(method), "/res", {}, "x");
    EXPECT_EQ(unsafe.result_int(), 200u);
    EXPECT_EQ(unsafe.body(), std::string{method} + " done");  // never answered from cache
    EXPECT_EQ(origin->requests(), before + 1);
    EXPECT_EQ(field(c.get("/res"), "X-Cache"), "MISS");
  }
  EXPECT_EQ(server->stats().invalidations, 4u);
  EXPECT_NE(c.get("/.scaling/stats").body().find("\"invalidations\":4"), std::string::npos);
}

TEST_F(EdgeServer, UnsafeMethodsInvalidateSameOriginLocationAndContentLocation) {
  origin->respond([](const seen_request& r) {
    if (r.method == "GET") return cacheable("got " + r.target, "max-age=600");
    if (r.target == "/redirecting") {
      return reply{.status = 303, .headers = {{"Location", "other?page=2"}}};
    }
    return reply{.status = 201,
                 .headers = {{"Location", "http://EDGE.test:80/dir/../created"},
                             {"Content-Location", "/content#top"}},
                 .body = "made"};
  });
  start();
  auto c = client();
  const auto warm = [&](const std::string& target, const std::string& host = "edge.test") {
    EXPECT_EQ(c.get(target, {{"Host", host}}).result_int(), 200u);
    EXPECT_EQ(field(c.get(target, {{"Host", host}}), "X-Cache"), "HIT") << host << target;
  };
  for (const char* target : {"/created", "/content", "/other?page=2", "/untouched"})
    warm(target);
  warm("/created", "elsewhere.test");

  EXPECT_EQ(c.send(http::verb::post, "/make", {}, "x").result_int(), 201u);
  EXPECT_EQ(field(c.get("/created"), "X-Cache"), "MISS");
  EXPECT_EQ(field(c.get("/content"), "X-Cache"), "MISS");
  EXPECT_EQ(field(c.get("/untouched"), "X-Cache"), "HIT");
  // Another host's copy is another origin's: kept.
  EXPECT_EQ(field(c.get("/created", {{"Host", "elsewhere.test"}}), "X-Cache"), "HIT");

  // A 3xx counts; a relative Location resolves against the request's path.
  EXPECT_EQ(c.send(http::verb::put, "/redirecting", {}, "x").result_int(), 303u);
  EXPECT_EQ(field(c.get("/other?page=2"), "X-Cache"), "MISS");
}

TEST_F(EdgeServer, UnsafeMethodsAnsweredWithAnErrorOrOnAnotherOriginInvalidateNothing) {
  origin->respond([](const seen_request& r) {
    if (r.method == "GET") return cacheable("got " + r.target, "max-age=600");
    if (r.target == "/fails") return reply{.status = 500};
    if (r.target == "/missing") return reply{.status = 404};
    return reply{.status = 200,
                 .headers = {{"Location", "http://elsewhere.test/kept"},
                             {"Content-Location", "https://edge.test/kept"}}};
  });
  start();
  auto c = client();
  for (const char* target : {"/fails", "/missing", "/kept"}) {
    EXPECT_EQ(c.get(target).result_int(), 200u);
    EXPECT_EQ(field(c.get(target), "X-Cache"), "HIT");
  }
  EXPECT_EQ(c.send(http::verb::post, "/fails", {}, "x").result_int(), 500u);
  EXPECT_EQ(c.send(http::verb::delete_, "/missing").result_int(), 404u);
  EXPECT_EQ(c.send(http::verb::post, "/moved", {}, "x").result_int(), 200u);
  for (const char* target : {"/fails", "/missing", "/kept"})
    EXPECT_EQ(field(c.get(target), "X-Cache"), "HIT") << target;
  // Safe methods never invalidate.
  EXPECT_EQ(c.send(http::verb::options, "/kept").result_int(), 200u);
  EXPECT_EQ(field(c.get("/kept"), "X-Cache"), "HIT");
}

TEST_F(EdgeServer, UnkeyedAndHopByHopHeadersNeverReachTheOrigin) {
  origin->respond([](const seen_request&) { return cacheable("page"); });
  start();
  auto c = client();
  c.get("/home", {{"X-Forwarded-Host", "evil.example"},
                  {"X-Original-URL", "/admin"},
                  {"Connection", "keep-alive, X-Secret"},
                  {"X-Secret", "s"},
                  {"Accept-Encoding", "gzip"}});
  c.send(http::verb::post, "/form",
         {{"X-Forwarded-Host", "evil.example"},
          {"Connection", "X-Secret"},
          {"X-Secret", "s"},
          {"X-Kept", "yes"}},
         "x");
  const auto seen = origin->seen();
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& r : seen) {
    EXPECT_FALSE(r.has("X-Forwarded-Host")) << r.target;
    EXPECT_FALSE(r.has("X-Original-URL")) << r.target;
    EXPECT_FALSE(r.has("X-Secret")) << r.target;
    EXPECT_EQ(r.header("Host"), "127.0.0.1:" + std::to_string(origin->port()));
  }
  EXPECT_EQ(seen[0].header("Accept-Encoding"), "gzip");
  EXPECT_EQ(seen[1].header("X-Kept"), "yes");
  EXPECT_EQ(seen[1].header("X-Forwarded-For"), "127.0.0.1");
}

// Range is not served (RFC 9110 section 14.2 lets a server ignore it) and never forwarded on
// a fill, so a 206 partial answer can never be stored as the object.
TEST_F(EdgeServer, RangeRequestsGetTheWholeObjectAndAPartialIsNeverCached) {
  origin->respond([](const seen_request&) { return cacheable("0123456789"); });
  start();
  auto c = client();
  auto first = c.get("/video", {{"Range", "bytes=0-3"}});
  EXPECT_EQ(first.result_int(), 200u);
  EXPECT_EQ(first.body(), "0123456789");
  auto second = c.get("/video", {{"Range", "bytes=4-"}});
  EXPECT_EQ(second.result_int(), 200u);
  EXPECT_EQ(second.body(), "0123456789");
  EXPECT_EQ(field(second, "X-Cache"), "HIT");
  const auto seen = origin->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].has("Range"));
}

TEST_F(EdgeServer, HostileRequestsGetErrorsNotMemory) {
  origin->respond([](const seen_request&) { return cacheable("x"); });
  auto opts = options_for(*origin, clock);
  opts.max_header_bytes = 1024;
  opts.max_body_bytes = 16;
  opts.max_connections = 3;
  start(opts);
  {
    auto c = client();
    auto r = c.get("/", {{"X-Big", std::string(4096, 'a')}});
    EXPECT_EQ(r.result_int(), 431u);
  }
  {
    auto c = client();
    EXPECT_EQ(c.send(http::verb::post, "/", {}, std::string(64, 'b')).result_int(), 413u);
  }
  {
    auto c = client();
    c.write_raw("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 400u);
  }
  {
    auto c = client();
    c.write_raw("NOT HTTP\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 400u);
  }
  ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 0; }));
  std::vector<std::unique_ptr<http_client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<http_client>(server->port()));
    EXPECT_EQ(held.back()->get("/").result_int(), 200u);
  }
  http_client over{server->port()};
  EXPECT_TRUE(over.closed_by_server());
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  EXPECT_EQ(server->stats().bad_requests, 4u);
}

TEST_F(EdgeServer, GracefulStopFinishesRequestsInFlight) {
  origin->respond([](const seen_request&) {
    reply r = cacheable("late but whole");
    r.hold = true;
    return r;
  });
  start();
  http_client idle = client();
  ASSERT_TRUE(idle.connected());
  std::promise<response_message> answer;
  std::thread in_flight([&] { answer.set_value(client().get("/slow")); });
  ASSERT_TRUE(eventually([&] { return origin->held() == 1; }));
  EXPECT_FALSE(server->closed());
  std::thread stopper([&] { server->close(); });
  ASSERT_TRUE(eventually([&] { return server->draining(); }));
  EXPECT_TRUE(idle.closed_by_server());  // idle keep-alive connections close at once
  origin->release();
  auto future = answer.get_future();
  ASSERT_EQ(future.wait_for(hang_guard), std::future_status::ready);
  const auto r = future.get();
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), "late but whole");
  EXPECT_EQ(field(r, "Connection"), "close");
  stopper.join();
  in_flight.join();
  EXPECT_TRUE(server->closed());
  server->close();  // idempotent
  EXPECT_FALSE(http_client{server->port()}.connected());
}
}  // namespace
