// edge_server.hpp: a caching HTTP/1.1 reverse proxy (one CDN edge server) on Boost.Beast.
//
// What it is: `edge_example::edge_server` listens on an address, answers GET and HEAD from a
// scaling::edge_cache<scaling::http_response>, and goes to one origin
// (scaling::asio::http_origin) for what the cache lacks. It is what the CDN pattern page
// describes, as a server: fresh hits, stale-while-revalidate, stale-if-error, one origin
// fetch per key however many clients wait, 304 revalidation, purge by URL, tag and prefix.
// The program (main.cpp) wraps it with a command line and signal handling; the tests run it
// in process.
//
//   edge_example::edge_server server{{.listen = "127.0.0.1:8080",
//                                     .origin = "http://127.0.0.1:9000"}};
//   server.start();                        // N threads, each with its own io_context
//   ... curl -i http://127.0.0.1:8080/img/logo.png   ->  X-Cache: MISS, then HIT and Age
//   server.close();                        // stop accepting, drain, join
//
// Design:
//   - one io_context per thread, each with its own acceptor on the same port (SO_REUSEPORT:
//     the kernel spreads connections), its own origin connection pool, and its own
//     connections; a connection never changes thread, so its state needs no lock.
//   - hit path: parse (Beast), edge_cache::try_get inline, serialise the head into a buffer
//     the connection reuses, one gathered write of head and the shared cached body. No post,
//     no origin, no timer operation (deadlines are checked by a per-thread sweep).
//   - miss path: scaling::asio::async_get bound to the connection's executor; the origin
//     fetch runs on the requesting thread's pool; waiters of other threads are resumed on
//     theirs.
//   - cache key: the Host (lower-cased) followed by the request target, e.g.
//     "example.com/img/a.png?v=2". The origin is sent the target, with Host set to the
//     origin's authority. Accept-Encoding (Vary), request Cache-Control (no-cache,
//     no-store), If-None-Match (answered 304 by the edge when it matches the cached ETag) and,
//     without If-None-Match, If-Modified-Since (304 when the cached Last-Modified, else Date,
//     is not later) are honoured; requests with Authorization or Cookie and all other methods are
//     passed through uncached, with their end-to-end headers.
//   - unsafe methods (RFC 9111 section 4.4): a request with a method other than GET, HEAD,
//     OPTIONS, TRACE (or WebDAV's safe PROPFIND, REPORT, SEARCH) is always forwarded; when
//     the origin answers it with 2xx or 3xx, the stored responses for its target URI, and
//     for the Location and Content-Location URIs of the answer when they are on the same
//     origin (http, same host and port), are purged.
//   - framing (RFC 9112 sections 3.2, 5.1 and 6): an HTTP/1.1 request without Host, any
//     request with more than one Host, with both Content-Length and Transfer-Encoding,
//     differing Content-Lengths, a Transfer-Encoding whose last coding is not chunked, or
//     Transfer-Encoding in HTTP/1.0, gets 400; a transfer coding other than chunked gets
//     501; whitespace between a field name and its colon is a 400 (Beast's parser). Each of
//     these closes the connection, so nothing after the bad request is read as a request.
//   - origin failures: a malformed answer, a refused connection or one closed mid-answer is
//     a 502 and nothing is stored; an origin that does not answer within origin_timeout is a
//     504 (an origin 5xx to the cache: stale-if-error may serve a stale copy instead, and
//     without one the 504 is kept for the cache's negative_ttl like any origin 5xx).
//   - cache poisoning: requests the cache answers reach the origin with only the fields the
//     cache keys or validates on (Accept-Encoding, If-None-Match, If-Modified-Since), never
//     with X-Forwarded-Host or other unkeyed headers; hop-by-hop fields are never forwarded
//     in either direction.
//   - admin API (peers on loopback only; others get 403): `PURGE /path` (Host names the
//     site; `Soft-Purge: 1` marks stale instead), `POST /.scaling/purge?url=U`, `?tag=T`,
//     `?prefix=P`, `?all=1`, each with `&soft=1` (not for all) answering {"purged":N};
//     `GET /.scaling/stats` answers the counters as JSON. U and P are `http://host/path`,
//     `host/path` or `/path` (then the admin request's Host is the host).
//   - limits: capacity_bytes for the cache (a larger object is served, not stored),
//     max_connections (more are closed on accept), max_header_bytes (431),
//     max_target_bytes (414), max_body_bytes (413), idle_timeout for reading a request
//     (keep-alive idle included), send_timeout for writing a response, origin_timeout per
//     origin request, origin_connections per thread.
//   - shutdown: close() closes the acceptors and idle keep-alive connections, lets requests
//     in flight finish (their responses carry Connection: close) for up to drain_timeout,
//     then closes what is left and joins the threads. (stop() is its deprecated old name.)
//
// Thread safety: start() and close() from one controlling thread; stats(), closed(), cache()
// and local_endpoint() from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <scaling/asio/edge_cache.hpp>
#include <scaling/asio/http_origin.hpp>
#include <scaling/asio/origin_url.hpp>
#include <scaling/cdn/edge_cache.hpp>
#include <scaling/cdn/http_date.hpp>
#include <scaling/cdn/http_response.hpp>
#include <scaling/core/error.hpp>

namespace edge_example {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

struct edge_server_options {
  // Where to listen: "ipv4:port" or "[ipv6]:port"; port 0 picks a free one (see local_endpoint).
  std::string listen = "127.0.0.1:8080";
  // The origin's base URL, http://host[:port][/base].
  std::string origin;
  // Threads, each with its own io_context; 0 = std::thread::hardware_concurrency().
  std::size_t threads = 0;
  std::size_t capacity_bytes = std::size_t{256} << 20;
  std::chrono::milliseconds origin_timeout{10'000};
  std::size_t origin_connections = 64;  // per thread
  std::uint64_t max_origin_body_bytes = std::uint64_t{64} << 20;
  std::size_t max_connections = 10'000;
  std::uint32_t max_header_bytes = 16 * 1024;
  // The request target at most, in bytes; longer ones are answered 414 (URI Too Long).
  std::size_t max_target_bytes = 8 * 1024;
  std::uint64_t max_body_bytes = std::uint64_t{1} << 20;  // request bodies (pass-through)
  std::chrono::milliseconds idle_timeout{30'000};         // to read one request
  std::chrono::milliseconds send_timeout{30'000};         // to write one response
  std::chrono::milliseconds drain_timeout{10'000};        // graceful stop
  // The cache's wall clock (tests pass a scaling::manual_clock).
  scaling::cache_clock clock{std::chrono::system_clock{}};
};

struct edge_server_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_rejected = 0;  // over max_connections
  std::uint64_t connections_open = 0;
  std::uint64_t requests = 0;       // parsed requests, admin included
  std::uint64_t cache_answers = 0;  // answered by try_get inline (fresh or stale)
  std::uint64_t origin_waits = 0;   // handed to async_get (miss, revalidation, coalesced)
  std::uint64_t passed = 0;         // passed through uncached (methods, Authorization, Cookie)
  std::uint64_t not_modified = 0;   // 304s the edge answered to clients' validators
  std::uint64_t bad_requests = 0;   // 400, 413, 414, 431, 501 (method or transfer coding)
  std::uint64_t purges = 0;         // admin purge requests
  std::uint64_t invalidations = 0;  // stored responses purged by unsafe methods' answers
  scaling::edge_stats cache;
};

namespace detail {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return scaling::detail::iequals(a, b);
}

// Hop-by-hop fields (RFC 9110 section 7.6.1), never forwarded; plus the framing fields the
// edge writes itself.
inline bool is_hop_by_hop(std::string_view name) noexcept {
  for (const std::string_view fixed :
       {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer",
        "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}) {
    if (iequals(name, fixed)) return true;
  }
  return false;
}

// RFC 9110 section 13.1.3 and RFC 9111 section 4.3.2: whether a stored response was not
// modified after the client's If-Modified-Since date, judged by its Last-Modified (else its
// Date). An invalid date on either side means the condition is not evaluated (a full answer).
inline bool unmodified_since(std::string_view if_modified_since, std::string_view last_modified,
                             std::string_view date) {
  const auto since = scaling::parse_http_date(if_modified_since);
  if (!since) return false;
  const auto modified = scaling::parse_http_date(last_modified.empty() ? date : last_modified);
  return modified && *modified <= *since;
}

// RFC 9110 section 13.1.2: weak comparison of If-None-Match against an ETag; "*" matches.
inline bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept {
  if (if_none_match.empty() || etag.empty()) return false;
  const auto opaque = [](std::string_view tag) {
    tag = scaling::detail::trim_ows(tag);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  const std::string_view wanted = opaque(etag);
  std::string_view rest = if_none_match;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view tag = scaling::detail::trim_ows(rest.substr(0, comma));
    if (tag == "*" || (!tag.empty() && opaque(tag) == wanted)) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// A Host value we key on: letters, digits and the few characters of names, IPv4/IPv6
// literals and ports. Anything else (spaces, slashes, controls) is a 400.
inline bool valid_host(std::string_view host) noexcept {
  if (host.size() > 255) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

inline void append_lower(std::string& out, std::string_view s) {
  for (const char c : s)
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
}

inline void append_number(std::string& out, std::uint64_t n) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n);
  (void)ec;
  out.append(digits.data(), end);
}

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value decoding; nullopt on a bad escape.
inline std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The value of `name` in a query string ("a=1&b=2"), decoded; nullopt when absent.
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// RFC 9112 section 6.1: the status for a request's Transfer-Encoding values (all its field
// lines, joined), or 0 when the framing is acceptable. The edge decodes chunked only.
//   - chunked not the last coding (or a coding list without chunked): 400, the body length
//     cannot be known;
//   - chunked more than once: 400 (RFC 9112 section 7);
//   - another coding before chunked: 501, a coding the edge does not implement.
inline int transfer_coding_status(std::string_view codings) noexcept {
  bool chunked_last = false;
  int chunked = 0;
  bool other = false;
  while (!codings.empty()) {
    const std::size_t comma = codings.find(',');
    std::string_view coding = codings.substr(0, comma);
    coding = scaling::detail::trim_ows(coding.substr(0, coding.find(';')));
    if (!coding.empty()) {
      chunked_last = iequals(coding, "chunked");
      if (chunked_last) {
        ++chunked;
      } else {
        other = true;
      }
    }
    if (comma == std::string_view::npos) break;
    codings.remove_prefix(comma + 1);
  }
  if (!chunked_last || chunked > 1) return 400;
  return other ? 501 : 0;
}

// RFC 3986 section 5.2.4: a path without "." and ".." segments.
inline std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view{"/"} : in.substr(3);
      const std::size_t last = out.rfind('/');
      out.erase(last == std::string::npos ? 0 : last);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const std::size_t next = in.find('/', 1);
      out.append(in.substr(0, next));
      in = next == std::string_view::npos ? std::string_view{} : in.substr(next);
    }
  }
  return out;
}

// A host[:port] for comparison: lower case, without the default port 80.
inline std::string normalized_authority(std::string_view authority) {
  std::string out;
  append_lower(out, authority);
  if (out.ends_with(":80")) {
    out.resize(out.size() - 3);
  } else if (out.ends_with(':')) {
    out.pop_back();
  }
  return out;
}

// The cache key ("host/path?query") of `reference`, a Location or Content-Location value,
// resolved against the request's target URI http://`host``target` (RFC 3986 section 5.2);
// nullopt when it is on another origin (another scheme, host or port), which RFC 9111
// section 4.4 forbids invalidating, or is empty.
inline std::optional<std::string> same_origin_key(std::string_view reference, std::string_view host,
                                                  std::string_view target) {
  reference = scaling::detail::trim_ows(reference);
  reference = reference.substr(0, reference.find('#'));
  if (reference.empty()) return std::nullopt;
  std::string_view path_and_query;
  std::string merged;
  // A scheme ends at a ':' that comes before any '/' or '?' (RFC 3986 section 4.2).
  const std::size_t colon = reference.find(':');
  const bool has_scheme =
      colon != std::string_view::npos && colon > 0 && reference.find_first_of("/?") > colon;
  if (has_scheme || reference.starts_with("//")) {
    std::string_view rest = reference;
    if (has_scheme) {
      if (!iequals(reference.substr(0, colon), "http")) return std::nullopt;
      rest = reference.substr(colon + 1);
      if (!rest.starts_with("//")) return std::nullopt;
    }
    rest.remove_prefix(2);
    const std::size_t end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, end);
    if (normalized_authority(authority) != normalized_authority(host)) return std::nullopt;
    path_and_query = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (!path_and_query.starts_with('/')) {
      merged = "/";
      merged.append(path_and_query);
      path_and_query = merged;
    }
  } else if (reference.starts_with('/')) {
    path_and_query = reference;
  } else {
    const std::string_view base = target.substr(0, target.find('?'));
    if (reference.starts_with('?')) {
      merged.assign(base);
    } else {
      merged.assign(base.substr(0, base.rfind('/') + 1));
    }
    merged.append(reference);
    path_and_query = merged;
  }
  const std::size_t question = path_and_query.find('?');
  std::string key;
  append_lower(key, host);
  key.append(remove_dot_segments(path_and_query.substr(0, question)));
  if (question != std::string_view::npos) key.append(path_and_query.substr(question));
  return key;
}

// Parses "host:port" / "[v6]:port" into an endpoint; throws naming `parameter`.
inline tcp::endpoint parse_endpoint(std::string_view text, std::string_view parameter) {
  const auto fail = [&](std::string_view rule) {
    scaling::detail::throw_invalid_argument("edge_server", parameter, rule, text);
  };
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find("]:");
    if (close == std::string_view::npos) fail("must be [ipv6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) fail("must be address:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    fail("must end with a port in 0..65535");
  }
  boost::system::error_code address_error;
  const auto address = net::ip::make_address(std::string{host}, address_error);
  if (address_error) fail("must be a numeric IP address and a port");
  return {address, static_cast<std::uint16_t>(value)};
}

}  // namespace detail

class edge_server {
 public:
  using response = scaling::http_response;
  using cache_type = scaling::edge_cache<response>;

  // Validates the options and binds the listening sockets (so local_endpoint() is known
  // before start()). Throws scaling::invalid_argument naming the option and its value, or
  // boost::system::system_error when the address cannot be bound.
  explicit edge_server(edge_server_options opts) : opts_(validate(std::move(opts))) {
    const std::size_t threads = opts_.threads;
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i)
      workers_.push_back(std::make_unique<worker>(*this, i));
    cache_ = std::make_unique<cache_type>(
        typename cache_type::options{.capacity_bytes = opts_.capacity_bytes,
                                     .async_origin =
                                         [this](const scaling::origin_request& request,
                                                scaling::origin_callback<response> done) {
                                           fetch_from_origin(request, std::move(done));
                                         },
                                     .clock = opts_.clock});
    bind_acceptors();
  }

  edge_server(const edge_server&) = delete;
  edge_server& operator=(const edge_server&) = delete;

  ~edge_server() { close(); }

  // Starts the threads. Call once.
  void start() {
    for (auto& w : workers_) {
      w->accept();
      w->arm_sweeper();
    }
    for (auto& w : workers_) {
      threads_.emplace_back([this, raw = w.get()] {
        current_worker_ = raw;
        raw->io.run();
        current_worker_ = nullptr;
        {
          const std::lock_guard lock{stop_mutex_};
          ++threads_done_;
        }
        stop_cv_.notify_all();
      });
    }
    running_ = true;
  }

  // Graceful stop: no new connections; idle keep-alive connections close; requests in
  // flight get their responses (with Connection: close) for up to drain_timeout, after which
  // the remaining connections and origin fetches are closed. Joins the threads. Idempotent;
  // a server never started is only marked closed. Not restartable.
  void close() {
    closed_.store(true, std::memory_order_release);
    if (!running_.exchange(false)) return;
    for (auto& w : workers_)
      net::post(w->io, [raw = w.get()] { raw->begin_drain(); });
    {
      std::unique_lock lock{stop_mutex_};
      stop_cv_.wait_for(lock, opts_.drain_timeout,
                        [this] { return open_.load() == 0 || threads_done_ == workers_.size(); });
    }
    // Whatever is left: close it, and make pending origin fetches answer now.
    for (auto& w : workers_) {
      net::post(w->io, [raw = w.get()] { raw->force_close(); });
      w->origin.close();
    }
    {
      std::unique_lock lock{stop_mutex_};
      const bool all_done = stop_cv_.wait_for(lock, opts_.origin_timeout + std::chrono::seconds{5},
                                              [this] { return threads_done_ == workers_.size(); });
      if (!all_done) {
        for (auto& w : workers_)
          w->io.stop();  // last resort: something never completed
      }
    }
    for (auto& t : threads_)
      t.join();
    threads_.clear();
  }

  [[deprecated("use close()")]] void stop() { close(); }

  // True once close() was called.
  [[nodiscard]] bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  [[nodiscard]] tcp::endpoint local_endpoint() const { return endpoint_; }
  // True once every thread has stopped accepting (after close() began).
  [[nodiscard]] bool draining() const noexcept {
    return drained_workers_.load(std::memory_order_acquire) == workers_.size();
  }
  [[nodiscard]] std::uint16_t port() const { return endpoint_.port(); }
  [[nodiscard]] cache_type& cache() noexcept { return *cache_; }
  [[nodiscard]] const edge_server_options& options() const noexcept { return opts_; }

  [[nodiscard]] edge_server_stats stats() const {
    const auto load = [](const std::atomic<std::uint64_t>& c) {
      return c.load(std::memory_order_relaxed);
    };
    return {.connections_accepted = load(accepted_),
            .connections_rejected = load(rejected_),
            .connections_open = open_.load(std::memory_order_relaxed),
            .requests = load(requests_),
            .cache_answers = load(cache_answers_),
            .origin_waits = load(origin_waits_),
            .passed = load(passed_),
            .not_modified = load(not_modified_),
            .bad_requests = load(bad_requests_),
            .purges = load(purges_),
            .invalidations = load(invalidations_),
            .cache = cache_->stats()};
  }

 private:
  class connection;
  using steady = std::chrono::steady_clock;
  using result = scaling::edge_result<response>;

  // One thread's share: its io_context, acceptor, origin pool and connections.
  struct worker {
    worker(edge_server& s, std::size_t i)
        : server(s),
          index(i),
          io(1),
          acceptor(io),
          retry_timer(io),
          sweeper(io),
          origin(io.get_executor(), s.opts_.origin,
                 {.max_connections = s.opts_.origin_connections,
                  .timeout = s.opts_.origin_timeout,
                  .body_limit = s.opts_.max_origin_body_bytes}) {}

    void accept();
    void arm_sweeper();
    void begin_drain();
    void force_close();

    edge_server& server;
    std::size_t index;
    // Before io: connections still referenced by handlers destroyed with io unregister here.
    std::list<connection*> connections;
    bool draining = false;
    // Lingering closes read into it and drop what they read: one per thread is enough.
    std::array<char, 4096> discard{};
    net::io_context io;
    tcp::acceptor acceptor;
    net::steady_timer retry_timer;  // after an accept error such as EMFILE
    net::steady_timer sweeper;      // deadlines of this thread's connections
    scaling::asio::http_origin origin;
  };

  // One client connection; lives on its worker's thread only.
  class connection : public std::enable_shared_from_this<connection> {
   public:
    connection(worker& w, tcp::socket socket)
        : worker_(w),
          server_(w.server),
          socket_(std::move(socket)),
          buffer_(std::size_t{w.server.opts_.max_header_bytes} + 64 * 1024) {
      boost::system::error_code ec;
      const auto peer = socket_.remote_endpoint(ec);
      loopback_ = !ec && peer.address().is_loopback();
      if (!ec) peer_address_ = peer.address().to_string();
      socket_.set_option(tcp::no_delay{true}, ec);
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    ~connection() {
      if (registered_) worker_.connections.erase(position_);
      server_.connection_closed();
    }

    void start() {
      position_ = worker_.connections.insert(worker_.connections.end(), this);
      registered_ = true;
      read();
    }

    // Closes the socket; pending operations complete with errors and release this.
    void close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
    // Waiting for a request of which nothing has arrived: safe to close when draining.
    [[nodiscard]] bool idle() const noexcept {
      return phase_ == phase::reading && buffer_.size() == 0;
    }
    void check_deadline(steady::time_point now) {
      if (now >= deadline_) close();
    }

   private:
    enum class phase : std::uint8_t { reading, waiting, writing };

    void read() {
      phase_ = phase::reading;
      deadline_ = steady::now() + server_.opts_.idle_timeout;
      parser_.emplace();
      parser_->header_limit(server_.opts_.max_header_bytes);
      parser_->body_limit(server_.opts_.max_body_bytes);
      http::async_read(
          socket_, buffer_, *parser_,
          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t consumed) {
            self->on_read(ec, consumed);
          });
    }

    // `consumed`: the bytes the parser took; none after a header_limit error means the
    // request line itself did not fit (Beast consumes the start line once it has parsed it).
    void on_read(const boost::system::error_code& ec, std::size_t consumed) {
      if (ec) {
        if (closed_) return;
        if (ec == http::error::header_limit) {
          if (consumed == 0) return reply_error(414, "request target too long");
          return reply_error(431, "request header too large");
        }
        if (ec == http::error::body_limit) return reply_error(413, "request body too large");
        if (&ec.category() == &http::make_error_code(http::error::bad_target).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message) {
          return reply_error(400, "malformed request");
        }
        return close();
      }
      server_.requests_.fetch_add(1, std::memory_order_relaxed);
      handle();
    }

    // The framing and Host rules a request must meet before anything else looks at it (see
    // the banner); the status to refuse it with, or 0.
    [[nodiscard]] static int framing_status(const http::request<http::string_body>& req) {
      const std::size_t hosts = req.count(http::field::host);
      if (hosts > 1 || (hosts == 0 && req.version() >= 11)) return 400;
      if (req.count(http::field::transfer_encoding) == 0) return 0;
      if (req.version() < 11 || req.count(http::field::content_length) != 0) return 400;
      std::string codings;
      const auto [first, last] = req.equal_range(http::field::transfer_encoding);
      for (auto line = first; line != last; ++line) {
        if (!codings.empty()) codings.push_back(',');
        codings.append(line->value());
      }
      return detail::transfer_coding_status(codings);
    }

    void handle() {
      auto& req = parser_->get();
      keep_alive_ = req.keep_alive() && !worker_.draining;
      version_ = req.version();
      head_only_ = req.method() == http::verb::head;
      if (const int status = framing_status(req); status != 0) {
        return reply_error(status, status == 501 ? "transfer coding not implemented"
                                                 : "bad Host or message framing");
      }
      if (req.target().size() > server_.opts_.max_target_bytes) {
        return reply_error(414, "request target too long");
      }
      std::string_view host = req[http::field::host];
      std::string_view path = req.target();
      if (path.size() > 7 && detail::iequals(path.substr(0, 7), "http://")) {
        // absolute-form (RFC 9112 section 3.2.2): the target's authority wins over Host.
        const std::string_view rest = path.substr(7);
        const std::size_t slash = rest.find('/');
        host = rest.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{"/"} : rest.substr(slash);
      }
      if (path.empty() || path.front() != '/' || !detail::valid_host(host)) {
        return reply_error(400, "bad request target or Host");
      }
      if (req.method() == http::verb::purge || path.starts_with("/.scaling/")) {
        return admin(req, host, path);
      }
      const bool cacheable_method =
          req.method() == http::verb::get || req.method() == http::verb::head;
      if (!cacheable_method || req.count(http::field::authorization) != 0 ||
          req.count(http::field::cookie) != 0) {
        return pass(req, host, path);
      }

      request_.key.clear();
      detail::append_lower(request_.key, host);
      request_.key.append(path);
      request_.accept_encoding = req[http::field::accept_encoding];
      request_.cache_control = req[http::field::cache_control];
      request_.if_none_match = req[http::field::if_none_match];
      request_.has_authorization = false;
      client_if_none_match_ = request_.if_none_match;
      client_if_modified_since_ = req[http::field::if_modified_since];
      if (auto answer = server_.cache_->try_get(request_)) {
        server_.cache_answers_.fetch_add(1, std::memory_order_relaxed);
        return respond(std::move(*answer));
      }
      phase_ = phase::waiting;
      deadline_ = steady::time_point::max();  // the origin has its own timeout
      scaling::asio::async_get(
          *server_.cache_, request_,
          net::bind_executor(worker_.io.get_executor(), [self = shared_from_this()](result answer) {
            self->respond(std::move(answer));
          }));
      // Counted once the request is in the cache's waiting list (async_get never completes
      // inside the call), so a test can wait for N waiting requests.
      server_.origin_waits_.fetch_add(1, std::memory_order_relaxed);
    }

    void respond(result answer) {
      if (closed_) return;
      const int status = answer.response.status();
      // If-None-Match, when present, decides alone (RFC 9110 section 13.2.2).
      bool not_modified = false;
      if (status == 200 && !client_if_none_match_.empty()) {
        not_modified = detail::etag_matches(client_if_none_match_, answer.response.header("ETag"));
      } else if (status == 200 && !client_if_modified_since_.empty()) {
        not_modified = detail::unmodified_since(client_if_modified_since_,
                                                answer.response.header("Last-Modified"),
                                                answer.response.header("Date"));
      }
      if (not_modified) server_.not_modified_.fetch_add(1, std::memory_order_relaxed);
      send(not_modified ? 304 : status, std::move(answer.response),
           scaling::x_cache_value(answer.status), not_modified);
    }

    // Writes `r` with our framing: hop-by-hop fields dropped, X-Cache and Content-Length set.
    void send(int status, response r, std::string_view x_cache, bool not_modified = false) {
      if (worker_.draining) keep_alive_ = false;  // the last response on this connection
      const bool bodiless = not_modified || status == 204 || status == 304 || status < 200;
      head_.clear();
      head_.append("HTTP/1.1 ");
      detail::append_number(head_, static_cast<std::uint64_t>(status));
      head_.push_back(' ');
      head_.append(http::obsolete_reason(static_cast<http::status>(status)));
      head_.append("\r\n");
      std::string_view origin_length;
      for (const auto& [name, value] : r.headers()) {
        if (detail::iequals(name, "Content-Length")) {
          origin_length = value;
          continue;
        }
        if (detail::is_hop_by_hop(name) || detail::iequals(name, "X-Cache")) continue;
        if (not_modified && !allowed_in_304(name)) continue;
        head_.append(name).append(": ").append(value).append("\r\n");
      }
      if (!x_cache.empty()) head_.append("X-Cache: ").append(x_cache).append("\r\n");
      if (!bodiless) {
        head_.append("Content-Length: ");
        // A HEAD answered by the origin has no body but the origin's Content-Length.
        if (head_only_ && r.body().empty() && !origin_length.empty()) {
          head_.append(origin_length);
        } else {
          detail::append_number(head_, r.body().size());
        }
        head_.append("\r\n");
      }
      if (!keep_alive_) {
        head_.append("Connection: close\r\n");
      } else if (version_ == 10) {
        head_.append("Connection: keep-alive\r\n");
      }
      head_.append("\r\n");
      held_ = std::move(r);
      const bool with_body = !bodiless && !head_only_;
      write(with_body ? std::string_view{held_.body()} : std::string_view{});
    }

    static bool allowed_in_304(std::string_view name) {
      // RFC 9110 section 15.4.5: the fields a 200 would have carried that describe the
      // representation's identity and freshness.
      for (const std::string_view keep :
           {"ETag", "Cache-Control", "Content-Location", "Date", "Expires", "Vary", "Age",
            "Last-Modified", "Surrogate-Key"}) {
        if (detail::iequals(name, keep)) return true;
      }
      return false;
    }

    void write(std::string_view body) {
      phase_ = phase::writing;
      deadline_ = steady::now() + server_.opts_.send_timeout;
      const std::array<net::const_buffer, 2> buffers{net::buffer(head_),
                                                     net::buffer(body.data(), body.size())};
      net::async_write(socket_, buffers,
                       [self = shared_from_this()](const boost::system::error_code& ec,
                                                   std::size_t) { self->on_write(ec); });
    }

    void on_write(const boost::system::error_code& ec) {
      held_ = response{};
      if (ec || closed_) return close();
      if (!keep_alive_ || worker_.draining) return linger();
      read();
    }

    // A lingering close (as nginx's lingering_close): half-close, then discard what the
    // client still sends until it closes or a second passes. Closing with unread input
    // would send a reset, which can destroy the response before the client reads it.
    void linger() {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      phase_ = phase::writing;  // not idle: draining leaves it alone
      deadline_ = std::min(deadline_, steady::now() + std::chrono::seconds{1});
      discard();
    }
    void discard() {
      socket_.async_read_some(
          net::buffer(worker_.discard),
          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->closed_) return self->close();
            self->discard();
          });
    }

    void reply_error(int status, std::string_view message) {
      if (status == 400 || status == 413 || status == 414 || status == 431 || status == 501) {
        server_.bad_requests_.fetch_add(1, std::memory_order_relaxed);
      }
      keep_alive_ = false;
      head_only_ = false;
      reply_plain(status, std::string{message} + "\n", "text/plain");
    }

    void reply_plain(int status, std::string body, std::string_view type) {
      send(status,
           response{status,
                    {{"Content-Type", std::string{type}}, {"Cache-Control", "no-store"}},
                    std::move(body)},
           "");  // the edge's own answers carry no X-Cache
    }

    // The end-to-end request fields an uncached request carries to the origin. Fields that
    // would let a client steer the origin's idea of the URL or of itself are dropped.
    static bool forwarded(std::string_view name) {
      if (detail::is_hop_by_hop(name)) return false;
      for (const std::string_view dropped :
           {"Host", "Content-Length", "Expect", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host",
            "X-Forwarded-Proto", "X-Forwarded-Port", "X-Original-URL", "X-Rewrite-URL",
            "X-HTTP-Method-Override"}) {
        if (detail::iequals(name, dropped)) return false;
      }
      return true;
    }

    // RFC 9110 section 9.2.1 (and the WebDAV methods registered as safe): requests that
    // cannot change what is stored. Any other method is unsafe (RFC 9111 section 4.4).
    static bool safe_method(http::verb method) noexcept {
      switch (method) {
        case http::verb::get:
        case http::verb::head:
        case http::verb::options:
        case http::verb::trace:
        case http::verb::propfind:
        case http::verb::report:
        case http::verb::search:
          return true;
        default:
          return false;
      }
    }

    // RFC 9111 section 4.4: after a non-error answer to an unsafe request, purge the stored
    // responses for the target URI and for the Location and Content-Location URIs on the
    // same origin.
    void invalidate(const std::string& host, const std::string& target, const response& answer) {
      auto& cache = *server_.cache_;
      std::size_t purged = 0;
      std::string key;
      detail::append_lower(key, host);
      key.append(target);
      purged += cache.purge(key);
      for (const std::string_view name : {"Location", "Content-Location"}) {
        const std::string value = answer.header(name);
        if (value.empty()) continue;
        if (auto other = detail::same_origin_key(value, host, target); other && *other != key) {
          purged += cache.purge(*other);
        }
      }
      server_.invalidations_.fetch_add(purged, std::memory_order_relaxed);
    }

    void pass(http::request<http::string_body>& req, std::string_view host, std::string_view path) {
      server_.passed_.fetch_add(1, std::memory_order_relaxed);
      if (req.method() == http::verb::unknown) return reply_error(501, "method not implemented");
      const bool unsafe = !safe_method(req.method());
      const std::string connection_field{req[http::field::connection]};
      scaling::asio::http_origin_request out;
      out.method = req.method();
      out.target = std::string{path};
      for (const auto& field : req) {
        const std::string_view name = field.name_string();
        if (!forwarded(name) || mentions(connection_field, name)) continue;
        out.headers.emplace_back(std::string{name}, std::string{field.value()});
      }
      if (!peer_address_.empty()) out.headers.emplace_back("X-Forwarded-For", peer_address_);
      out.body = std::move(req.body());
      phase_ = phase::waiting;
      deadline_ = steady::time_point::max();
      worker_.origin.fetch(std::move(out), [self = shared_from_this(), unsafe,
                                            host = std::string{host}, target = std::string{path}](
                                               scaling::asio::http_origin_result answer) mutable {
        // The origin's strand runs on this connection's io_context: dispatch runs inline.
        net::dispatch(self->worker_.io.get_executor(), [self, unsafe, host = std::move(host),
                                                        target = std::move(target),
                                                        answer = std::move(answer)]() mutable {
          const int status = answer.response ? answer.response->status() : 0;
          if (unsafe && status >= 200 && status < 400) {
            self->invalidate(host, target, *answer.response);  // even if the client left
          }
          if (self->closed_) return;
          if (!answer.response) {
            const int error =
                answer.failure == scaling::asio::http_origin_failure::timeout ? 504 : 502;
            return self->send(error,
                              response{error, {{"Cache-Control", "no-store"}}, std::string{}},
                              scaling::x_cache_value(scaling::cache_status::error));
          }
          self->send(status, std::move(*answer.response),
                     scaling::x_cache_value(scaling::cache_status::pass));
        });
      });
    }

    static bool mentions(std::string_view list, std::string_view name) {
      while (!list.empty()) {
        const std::size_t comma = list.find(',');
        if (detail::iequals(scaling::detail::trim_ows(list.substr(0, comma)), name)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
      return false;
    }

    // "http://host/path", "host/path" or "/path" (on `host`) as a cache key.
    static std::string key_of(std::string_view url, std::string_view host) {
      if (url.size() >= 7 && detail::iequals(url.substr(0, 7), "http://"))
        url.remove_prefix(7);
      else if (url.size() >= 8 && detail::iequals(url.substr(0, 8), "https://"))
        url.remove_prefix(8);
      std::string key;
      if (url.starts_with('/')) {
        detail::append_lower(key, host);
        key.append(url);
        return key;
      }
      const std::size_t slash = url.find('/');
      detail::append_lower(key, url.substr(0, slash));
      if (slash != std::string_view::npos) key.append(url.substr(slash));
      return key;
    }

    void admin(http::request<http::string_body>& req, std::string_view host,
               std::string_view path) {
      if (!loopback_) return reply_plain(403, "admin API: loopback only\n", "text/plain");
      auto& cache = *server_.cache_;
      const auto purged = [this](std::size_t n) {
        server_.purges_.fetch_add(1, std::memory_order_relaxed);
        std::string body = "{\"purged\":";
        detail::append_number(body, n);
        body.append("}\n");
        reply_plain(200, std::move(body), "application/json");
      };
      if (req.method() == http::verb::purge) {
        const std::string key = key_of(path, host);
        const bool soft = req["Soft-Purge"] == "1";
        return purged(soft ? cache.soft_purge(key) : cache.purge(key));
      }
      const std::size_t question = path.find('?');
      const std::string_view route = path.substr(0, question);
      const std::string_view query =
          question == std::string_view::npos ? std::string_view{} : path.substr(question + 1);
      if (route == "/.scaling/purge") {
        if (req.method() != http::verb::post) return reply_plain(405, "use POST\n", "text/plain");
        const bool soft = query_param(query, "soft") == std::optional<std::string>{"1"};
        if (auto url = query_param(query, "url")) {
          const std::string key = key_of(*url, host);
          return purged(soft ? cache.soft_purge(key) : cache.purge(key));
        }
        if (auto tag = query_param(query, "tag")) {
          return purged(soft ? cache.soft_purge_tag(*tag) : cache.purge_tag(*tag));
        }
        if (auto prefix = query_param(query, "prefix")) {
          const std::string key = key_of(*prefix, host);
          return purged(soft ? cache.soft_purge_prefix(key) : cache.purge_prefix(key));
        }
        if (query_param(query, "all") == std::optional<std::string>{"1"}) {
          return purged(cache.purge_all());
        }
        return reply_plain(400, "purge needs url=, tag=, prefix= or all=1\n", "text/plain");
      }
      if (route == "/.scaling/stats")
        return reply_plain(200, server_.stats_json(), "application/json");
      return reply_plain(404, "unknown admin path\n", "text/plain");
    }

    static std::optional<std::string> query_param(std::string_view query, std::string_view name) {
      return detail::query_param(query, name);
    }

    worker& worker_;
    edge_server& server_;
    tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    scaling::edge_request request_;  // reused: its key keeps its capacity
    std::string_view client_if_none_match_;
    std::string_view client_if_modified_since_;
    std::string head_;  // reused response head
    response held_;     // the response being written (keeps its body alive)
    std::string peer_address_;
    steady::time_point deadline_ = steady::time_point::max();
    std::list<connection*>::iterator position_;
    phase phase_ = phase::reading;
    unsigned version_ = 11;
    bool keep_alive_ = true;
    bool head_only_ = false;
    bool loopback_ = false;
    bool closed_ = false;
    bool registered_ = false;
  };

  static edge_server_options validate(edge_server_options opts) {
    const auto fail = [](std::string_view parameter, std::string_view rule, auto value) {
      scaling::detail::throw_invalid_argument("edge_server", parameter, rule, value);
    };
    if (opts.threads == 0) opts.threads = std::max(1u, std::thread::hardware_concurrency());
    if (opts.threads > 1024) fail("threads", "must be <= 1024", opts.threads);
    if (opts.capacity_bytes == 0) fail("capacity_bytes", "must be > 0", opts.capacity_bytes);
    if (opts.origin.empty()) fail("origin", "must be set (http://host[:port][/base])", opts.origin);
    (void)scaling::asio::parse_origin_url(opts.origin, "edge_server", "origin");
    if (opts.origin_timeout <= std::chrono::milliseconds{0}) {
      fail("origin_timeout", "must be > 0 ms", opts.origin_timeout.count());
    }
    if (opts.origin_connections == 0)
      fail("origin_connections", "must be > 0", opts.origin_connections);
    if (opts.max_connections == 0) fail("max_connections", "must be > 0", opts.max_connections);
    if (opts.max_header_bytes < 256)
      fail("max_header_bytes", "must be >= 256", opts.max_header_bytes);
    if (opts.max_target_bytes == 0) fail("max_target_bytes", "must be > 0", opts.max_target_bytes);
    for (const auto& [name, value] : {std::pair{"idle_timeout", opts.idle_timeout},
                                      std::pair{"send_timeout", opts.send_timeout},
                                      std::pair{"drain_timeout", opts.drain_timeout}}) {
      if (value <= std::chrono::milliseconds{0}) fail(name, "must be > 0 ms", value.count());
    }
    detail::parse_endpoint(opts.listen, "listen");
    return opts;
  }

  void bind_acceptors() {
    using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    tcp::endpoint endpoint = detail::parse_endpoint(opts_.listen, "listen");
    for (auto& w : workers_) {
      w->acceptor.open(endpoint.protocol());
      w->acceptor.set_option(tcp::acceptor::reuse_address{true});
      w->acceptor.set_option(reuse_port{true});
      w->acceptor.bind(endpoint);
      w->acceptor.listen(net::socket_base::max_listen_connections);
      endpoint = w->acceptor.local_endpoint();  // port 0: the others join the chosen port
    }
    endpoint_ = endpoint;
  }

  // The edge cache's origin: the calling thread's pool when called on one of our threads
  // (misses and stale-while-revalidate refreshes start on the requesting thread), else one
  // chosen round-robin.
  void fetch_from_origin(const scaling::origin_request& request,
                         scaling::origin_callback<response> done) {
    worker* w = current_worker_;
    if (w == nullptr || &w->server != this) {
      w = workers_[next_origin_.fetch_add(1, std::memory_order_relaxed) % workers_.size()].get();
    }
    scaling::origin_request out = request;
    const std::size_t slash = out.key.find('/');  // the key is host + target
    out.key = slash == std::string::npos ? std::string{"/"} : out.key.substr(slash);
    // A timeout is the origin's 504 (RFC 9110 section 15.6.5) rather than the 502 the cache
    // answers for an unreachable origin: the cache treats it as any origin 5xx.
    w->origin.fetch(
        scaling::asio::to_origin_request(out),
        [done = std::move(done)](scaling::asio::http_origin_result answer) {
          if (!answer.response && answer.failure == scaling::asio::http_origin_failure::timeout) {
            answer.response = response{504, {{"Cache-Control", "no-store"}}, std::string{}};
          }
          done(std::move(answer.response));
        });
  }

  void connection_closed() {
    if (open_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const std::lock_guard lock{stop_mutex_};
      stop_cv_.notify_all();
    }
  }

  [[nodiscard]] std::string stats_json() const {
    const edge_server_stats s = stats();
    std::string out = "{";
    const auto field = [&out](std::string_view name, std::uint64_t value) {
      if (out.size() > 1) out.push_back(',');
      out.append("\"").append(name).append("\":");
      detail::append_number(out, value);
    };
    field("connections_accepted", s.connections_accepted);
    field("connections_rejected", s.connections_rejected);
    field("connections_open", s.connections_open);
    field("requests", s.requests);
    field("cache_answers", s.cache_answers);
    field("origin_waits", s.origin_waits);
    field("passed", s.passed);
    field("not_modified", s.not_modified);
    field("bad_requests", s.bad_requests);
    field("purges", s.purges);
    field("invalidations", s.invalidations);
    field("cache_requests", s.cache.requests);
    field("cache_hits", s.cache.hits);
    field("cache_misses", s.cache.misses);
    field("cache_stale_while_revalidate", s.cache.stale_while_revalidate);
    field("cache_stale_if_error", s.cache.stale_if_error);
    field("cache_revalidated", s.cache.revalidated);
    field("cache_errors", s.cache.errors);
    field("origin_fetches", s.cache.origin_fetches);
    field("coalesced", s.cache.coalesced);
    field("cache_bytes", cache_->bytes());
    field("cache_capacity_bytes", cache_->capacity_bytes());
    out.append("}\n");
    return out;
  }

  static inline thread_local worker* current_worker_ = nullptr;

  edge_server_options opts_;
  tcp::endpoint endpoint_;
  std::atomic<std::uint64_t> accepted_{0}, rejected_{0}, requests_{0}, cache_answers_{0},
      origin_waits_{0}, passed_{0}, not_modified_{0}, bad_requests_{0}, purges_{0},
      invalidations_{0};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> next_origin_{0};
  std::atomic<std::size_t> drained_workers_{0};
  std::atomic<bool> running_{false};
  std::atomic<bool> closed_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::size_t threads_done_ = 0;  // under stop_mutex_
  // Destroyed in reverse: the threads (joined), the cache (its origin calls into the
  // workers), then the workers with their io_contexts and any handler still queued there.
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<cache_type> cache_;
  std::vector<std::thread> threads_;
};

inline void edge_server::worker::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open() || draining) return;
      // Out of descriptors or similar: try again shortly instead of spinning.
      retry_timer.expires_after(std::chrono::milliseconds{50});
      retry_timer.async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec && !draining) accept();
      });
      return;
    }
    server.accepted_.fetch_add(1, std::memory_order_relaxed);
    if (server.open_.load(std::memory_order_relaxed) >= server.opts_.max_connections) {
      server.rejected_.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      server.open_.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<connection>(*this, std::move(socket))->start();
    }
    accept();
  });
}

inline void edge_server::worker::arm_sweeper() {
  const auto shortest = std::min(
      {server.opts_.idle_timeout, server.opts_.send_timeout, std::chrono::milliseconds{1000}});
  sweeper.expires_after(std::max(shortest / 4, std::chrono::milliseconds{5}));
  sweeper.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const auto now = steady::now();
    for (connection* c : connections)
      c->check_deadline(now);  // closing only cancels: the list changes later
    if (draining && connections.empty()) return;
    arm_sweeper();
  });
}

inline void edge_server::worker::begin_drain() {
  draining = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  retry_timer.cancel();
  for (connection* c : connections) {
    if (c->idle()) c->close();
  }
  server.drained_workers_.fetch_add(1, std::memory_order_release);
}

inline void edge_server::worker::force_close() {
  draining = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  retry_timer.cancel();
  for (connection* c : connections)
    c->close();
  sweeper.cancel();
}

}  // namespace edge_example
