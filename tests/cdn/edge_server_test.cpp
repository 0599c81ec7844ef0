// Tests for scaling::asio::http_origin and the example edge_server, on loopback: an
// in-process origin (a small Beast server with scripted replies, counting what it receives)
// behind the in-process edge server, both on ephemeral ports. Time that matters runs on a
// manual_clock; waits on other threads poll a condition with a generous deadline that only
// guards against hangs.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
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

#include <scaling/asio/http_origin.hpp>
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

}  // namespace
