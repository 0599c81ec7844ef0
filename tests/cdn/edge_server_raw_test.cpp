// Tests for the example edge_server on hostile and unusual input, byte for byte: a raw TCP
// client writes requests exactly as given (smuggling attempts, bad framing, oversized lines,
// slow or pipelined clients), and a raw TCP origin answers with scripted bytes (malformed
// answers, hangs, a connection closed mid-body). Both run on ephemeral loopback ports around
// an edge_server started in process. Waits on other threads poll with a generous guard that
// only catches hangs; nothing asserts on durations.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>

#include "edge_server.hpp"

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Long enough never to fire on a loaded machine under TSan; only a guard against hangs.
constexpr auto hang_guard = 60s;

template <class F>
bool eventually(F condition) {
  const auto until = std::chrono::steady_clock::now() + hang_guard;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// An origin that answers each request with scripted bytes.
class raw_origin {
 public:
  struct request {
    std::string method;
    std::string target;
    std::string head;  // request line and fields, as received
    std::string body;
  };
  struct answer {
    std::string bytes;   // written as is
    bool close = false;  // close the connection after writing
    bool hang = false;   // never answer, keep the connection open
  };
  using handler = std::function<answer(const request&)>;

  raw_origin() : acceptor_(io_, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  raw_origin(const raw_origin&) = delete;
  raw_origin& operator=(const raw_origin&) = delete;
  ~raw_origin() {
    net::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& weak : sessions_) {
        if (auto s = weak.lock()) s->socket.close(ignored);
      }
      hanging_.clear();
    });
    thread_.join();
  }

  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  void respond(handler h) {
    const std::lock_guard lock{mutex_};
    handler_ = std::move(h);
  }
  [[nodiscard]] int requests() const { return requests_.load(); }
  [[nodiscard]] std::vector<request> seen() const {
    const std::lock_guard lock{mutex_};
    return seen_;
  }

 private:
  struct session {
    explicit session(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::string in;
    std::string out;
  };
  using session_ptr = std::shared_ptr<session>;

  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      auto s = std::make_shared<session>(std::move(socket));
      sessions_.push_back(s);
      read(s);
      accept();
    });
  }

  static std::size_t content_length(std::string_view head) {
    std::size_t at = 0;
    while ((at = head.find("\r\n", at)) != std::string_view::npos) {
      at += 2;
      const std::string_view line = head.substr(at, head.find("\r\n", at) - at);
      if (line.size() > 15 && scaling::detail::iequals(line.substr(0, 15), "Content-Length:")) {
        return std::stoul(std::string{line.substr(15)});
      }
    }
    return 0;
  }

  void read(const session_ptr& s) {
    net::async_read_until(
        s->socket, net::dynamic_buffer(s->in), "\r\n\r\n",
        [this, s](const boost::system::error_code& ec, std::size_t head_size) {
          if (ec) return;
          const std::size_t total = head_size + content_length(s->in.substr(0, head_size));
          if (s->in.size() >= total) return dispatch(s, head_size, total);
          net::async_read(
              s->socket, net::dynamic_buffer(s->in), net::transfer_exactly(total - s->in.size()),
              [this, s, head_size, total](const boost::system::error_code& body_ec, std::size_t) {
                if (!body_ec) dispatch(s, head_size, total);
              });
        });
  }

  void dispatch(const session_ptr& s, std::size_t head_size, std::size_t total) {
    request r;
    r.head = s->in.substr(0, head_size);
    r.body = s->in.substr(head_size, total - head_size);
    s->in.erase(0, total);
    const std::size_t space = r.head.find(' ');
    r.method = r.head.substr(0, space);
    r.target = r.head.substr(space + 1, r.head.find(' ', space + 1) - space - 1);
    answer a;
    {
      const std::lock_guard lock{mutex_};
      seen_.push_back(r);
      if (handler_) a = handler_(r);
    }
    requests_.fetch_add(1);
    if (a.hang) {
      hanging_.push_back(s);
      return;
    }
    s->out = std::move(a.bytes);
    net::async_write(s->socket, net::buffer(s->out),
                     [this, s, close = a.close](const boost::system::error_code& ec, std::size_t) {
                       if (ec) return;
                       if (close) {
                         boost::system::error_code ignored;
                         s->socket.shutdown(tcp::socket::shutdown_both, ignored);
                         s->socket.close(ignored);
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
  std::vector<request> seen_;
  std::vector<std::weak_ptr<session>> sessions_;
  std::vector<session_ptr> hanging_;  // io thread only
  std::atomic<int> requests_{0};
};

// A full origin answer with a Content-Length, cacheable for a minute unless told otherwise.
std::string origin_answer(std::string_view body, std::string_view extra =
                                                     "Cache-Control: "
                                                     "max-age=60\r\n") {
  std::string out = "HTTP/1.1 200 OK\r\n";
  out.append(extra);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

using response_message = http::response<http::string_body>;

// A client that writes bytes as given and reads responses with Beast, each operation bounded
// by the hang guard.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) : stream_(io_) {
    boost::system::error_code ec;
    stream_.socket().connect({net::ip::make_address("127.0.0.1"), port}, ec);
    EXPECT_FALSE(ec) << ec.message();
  }

  void write(std::string_view bytes) {
    boost::system::error_code ec;
    stream_.expires_after(hang_guard);
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [&ec](const boost::system::error_code& e, std::size_t) { ec = e; });
    io_.restart();
    io_.run();
    EXPECT_FALSE(ec) << ec.message();
  }
  // One response; on failure the error is in `error` (or fails the test when not asked for).
  response_message read(boost::system::error_code* error = nullptr) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 26);
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
  response_message round_trip(std::string_view bytes) {
    write(bytes);
    return read();
  }
  // True when the server has closed the connection (no further response arrives).
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
};

std::string field(const response_message& r, std::string_view name) {
  return std::string{r[name]};
}

class EdgeServerRaw : public ::testing::Test {
 protected:
  edge_example::edge_server_options options() const {
    return {.listen = "127.0.0.1:0",
            .origin = origin.url(),
            .threads = 1,  // one thread: a slow client shares it with everyone else
            .capacity_bytes = 16 << 20,
            .origin_timeout = std::chrono::milliseconds{30'000},
            .drain_timeout = std::chrono::milliseconds{30'000},
            .clock = clock};
  }
  void start(edge_example::edge_server_options opts) {
    server = std::make_unique<edge_example::edge_server>(std::move(opts));
    server->start();
  }
  void start() { start(options()); }
  raw_client client() const { return raw_client{server->port()}; }

  // Writes `bytes` on a fresh connection: the status, and whether the server then closed.
  std::pair<unsigned, bool> answer_and_close(std::string_view bytes) const {
    raw_client c = client();
    const unsigned status = c.round_trip(bytes).result_int();
    return {status, c.closed_by_server()};
  }

  scaling::manual_clock clock{
      scaling::manual_clock::time_point{std::chrono::seconds{1'700'000'000}}};
  raw_origin origin;  // outlives the server
  std::unique_ptr<edge_example::edge_server> server;
};

// ---------------------------------------------------------------------------------------
// Host (RFC 9112 section 3.2)

TEST_F(EdgeServerRaw, Http11RequestWithoutHostIs400) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  EXPECT_EQ(answer_and_close("GET /a HTTP/1.1\r\n\r\n"), std::pair(400u, true));
  // absolute-form does not excuse a missing Host either.
  EXPECT_EQ(answer_and_close("GET http://edge.test/a HTTP/1.1\r\n\r\n"), std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EdgeServerRaw, MoreThanOneHostIs400) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  EXPECT_EQ(answer_and_close("GET /a HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(answer_and_close("GET /a HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(answer_and_close("GET /a HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EdgeServerRaw, Http10WithoutHostAndHttp11WithOneHostAreServed) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  raw_client old = client();
  EXPECT_EQ(old.round_trip("GET /a HTTP/1.0\r\n\r\n").result_int(), 200u);
  raw_client c = client();
  EXPECT_EQ(c.round_trip("GET /a HTTP/1.1\r\nHost: edge.test\r\n\r\n").result_int(), 200u);
}

// ---------------------------------------------------------------------------------------
// Request smuggling and framing (RFC 9112 sections 6.1 and 6.3)

TEST_F(EdgeServerRaw, ContentLengthWithTransferEncodingIs400AndCloses) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: edge.test\r\n\r\n";
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                             smuggled),
            std::pair(400u, true));
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n"
                             "Content-Length: 5\r\n\r\n0\r\n\r\n" +
                             smuggled),
            std::pair(400u, true));
  // A coding other than chunked does not make Content-Length count.
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: gzip\r\n"
                             "Content-Length: 5\r\n\r\nhello" +
                             smuggled),
            std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EdgeServerRaw, DifferingContentLengthsAre400AndClose) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5\r\n"
                             "Content-Length: 6\r\n\r\nhello!"),
            std::pair(400u, true));
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5, 6\r\n\r\n"
                             "hello!"),
            std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EdgeServerRaw, TransferCodingsOtherThanChunkedAreRefused) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{origin_answer("x")}; });
  start();
  // chunked last but after a coding the edge does not implement: 501.
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: gzip, "
                             "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            std::pair(501u, true));
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: gzip\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            std::pair(501u, true));
  // chunked not last (or absent): the length cannot be known, 400.
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked, "
                             "gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: x-custom"
                             "\r\n\r\nhello"),
            std::pair(400u, true));
  // Transfer-Encoding in an HTTP/1.0 request is faulty framing.
  EXPECT_EQ(answer_and_close("POST /a HTTP/1.0\r\nHost: edge.test\r\nTransfer-Encoding: chunked"
                             "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EdgeServerRaw, ChunkedRequestBodyIsForwardedDecoded) {
  origin.respond(
      [](const raw_origin::request& r) { return raw_origin::answer{origin_answer(r.body, "")}; });
  start();
  raw_client c = client();
  const auto r = c.round_trip(
      "POST /form HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), "hello world");
  ASSERT_EQ(origin.requests(), 1);
  const auto head = origin.seen()[0].head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 11"), std::string::npos) << head;
}

// ---------------------------------------------------------------------------------------
// Limits and syntax (RFC 9112 sections 3 and 5, RFC 6585 section 5)

TEST_F(EdgeServerRaw, TooLargeHeaderIs431) {
  start();
  EXPECT_EQ(answer_and_close("GET / HTTP/1.1\r\nHost: edge.test\r\nX-Big: " +
                             std::string(32 * 1024, 'a') + "\r\n\r\n"),
            std::pair(431u, true));
}

TEST_F(EdgeServerRaw, TooLongRequestTargetIs414) {
  start();
  // Longer than the whole header limit: the request line alone overflows it.
  EXPECT_EQ(answer_and_close("GET /" + std::string(32 * 1024, 'a') +
                             " HTTP/1.1\r\nHost: edge.test\r\n\r\n"),
            std::pair(414u, true));
  // Within the header limit, over the target limit.
  auto opts = options();
  server.reset();
  opts.max_target_bytes = 1024;
  start(opts);
  EXPECT_EQ(
      answer_and_close("GET /" + std::string(2048, 'a') + " HTTP/1.1\r\nHost: edge.test\r\n\r\n"),
      std::pair(414u, true));
}

TEST_F(EdgeServerRaw, WhitespaceBeforeTheColonIs400) {
  start();
  EXPECT_EQ(answer_and_close("GET / HTTP/1.1\r\nHost : edge.test\r\n\r\n"), std::pair(400u, true));
  EXPECT_EQ(answer_and_close("GET / HTTP/1.1\r\nHost: edge.test\r\nX-A\t: b\r\n\r\n"),
            std::pair(400u, true));
  EXPECT_EQ(origin.requests(), 0);
}

// ---------------------------------------------------------------------------------------
// Slow clients and pipelining

TEST_F(EdgeServerRaw, SlowAndIdleClientsDoNotStarveOthers) {
  origin.respond([](const raw_origin::request& r) {
    return raw_origin::answer{origin_answer("body of " + r.target)};
  });
  start();  // one thread
  raw_client idle = client();
  raw_client slow = client();
  const std::string request = "GET /slow HTTP/1.1\r\nHost: edge.test\r\n\r\n";
  for (std::size_t i = 0; i < request.size() / 2; ++i)
    slow.write(request.substr(i, 1));
  raw_client fast = client();
  EXPECT_EQ(fast.round_trip("GET /fast HTTP/1.1\r\nHost: edge.test\r\n\r\n").body(),
            "body of /fast");
  for (std::size_t i = request.size() / 2; i < request.size(); ++i)
    slow.write(request.substr(i, 1));
  EXPECT_EQ(slow.read().body(), "body of /slow");
  EXPECT_EQ(fast.round_trip("GET /fast HTTP/1.1\r\nHost: edge.test\r\n\r\n").body(),
            "body of /fast");
}

TEST_F(EdgeServerRaw, PipelinedRequestsAreAnsweredInOrder) {
  origin.respond([](const raw_origin::request& r) {
    return raw_origin::answer{origin_answer("body of " + r.target)};
  });
  start();
  raw_client c = client();
  c.write(
      "GET /one HTTP/1.1\r\nHost: edge.test\r\n\r\nGET /two HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  EXPECT_EQ(c.read().body(), "body of /one");
  EXPECT_EQ(c.read().body(), "body of /two");
  // A hit behind a miss in the same write still comes second.
  c.write(
      "GET /three HTTP/1.1\r\nHost: edge.test\r\n\r\nGET /one HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  EXPECT_EQ(c.read().body(), "body of /three");
  const auto hit = c.read();
  EXPECT_EQ(hit.body(), "body of /one");
  EXPECT_EQ(field(hit, "X-Cache"), "HIT");
  EXPECT_EQ(origin.requests(), 3);
}

// ---------------------------------------------------------------------------------------
// Origin failures

TEST_F(EdgeServerRaw, MalformedOriginAnswerIs502) {
  origin.respond([](const raw_origin::request& r) {
    if (r.target == "/garbage") return raw_origin::answer{"this is not HTTP\r\n\r\n", true};
    return raw_origin::answer{"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\nhello", true};
  });
  start();
  raw_client c = client();
  EXPECT_EQ(c.round_trip("GET /garbage HTTP/1.1\r\nHost: edge.test\r\n\r\n").result_int(), 502u);
  EXPECT_EQ(c.round_trip("GET /bad-length HTTP/1.1\r\nHost: edge.test\r\n\r\n").result_int(), 502u);
  EXPECT_EQ(c.round_trip("POST /garbage HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 0\r\n\r\n")
                .result_int(),
            502u);
}

TEST_F(EdgeServerRaw, OriginThatHangsIs504) {
  origin.respond([](const raw_origin::request&) { return raw_origin::answer{.hang = true}; });
  auto opts = options();
  opts.origin_timeout = std::chrono::milliseconds{100};
  start(opts);
  raw_client c = client();
  EXPECT_EQ(c.round_trip("GET /hang HTTP/1.1\r\nHost: edge.test\r\n\r\n").result_int(), 504u);
  EXPECT_EQ(c.round_trip("POST /hang HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 0\r\n\r\n")
                .result_int(),
            504u);
}

TEST_F(EdgeServerRaw, OriginClosingMidBodyIsAnErrorAndNothingIsCached) {
  std::atomic<int> calls{0};
  origin.respond([&calls](const raw_origin::request&) {
    if (calls.fetch_add(1) == 0) {
      return raw_origin::answer{
          "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
          "Content-Length: 100\r\n\r\nonly a part",
          true};
    }
    return raw_origin::answer{origin_answer("whole")};
  });
  start();
  raw_client c = client();
  const auto cut = c.round_trip("GET /cut HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  EXPECT_EQ(cut.result_int(), 502u);
  EXPECT_EQ(cut.body().find("only a part"), std::string::npos);
  EXPECT_EQ(server->cache().size(), 0u);
  const auto again = c.round_trip("GET /cut HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  EXPECT_EQ(again.result_int(), 200u);
  EXPECT_EQ(again.body(), "whole");
  EXPECT_EQ(field(again, "X-Cache"), "MISS");
  EXPECT_EQ(origin.requests(), 2);
}

TEST_F(EdgeServerRaw, ObjectLargerThanTheCacheIsServedWholeAndNotStored) {
  const std::string big(64 * 1024, 'z');
  origin.respond(
      [&big](const raw_origin::request&) { return raw_origin::answer{origin_answer(big)}; });
  auto opts = options();
  opts.capacity_bytes = 16 * 1024;
  start(opts);
  raw_client c = client();
  for (int i = 0; i < 2; ++i) {
    const auto r = c.round_trip("GET /big HTTP/1.1\r\nHost: edge.test\r\n\r\n");
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_EQ(r.body(), big);
    EXPECT_EQ(field(r, "X-Cache"), "MISS");
  }
  EXPECT_EQ(origin.requests(), 2);
  EXPECT_EQ(server->cache().size(), 0u);
  EXPECT_EQ(server->cache().bytes(), 0u);
}

}  // namespace
