// edge_server: a caching HTTP/1.1 reverse proxy in front of one origin (a CDN edge server).
//
// Problem: an origin serving every request for objects that rarely change pays for each one
// and makes users wait for it. Approach: this server answers from a scaling::edge_cache
// (RFC 9111 freshness, stale-while-revalidate, stale-if-error, one origin fetch per key) and
// goes to the origin only for what it lacks; purges by URL, tag or prefix through a loopback
// admin API. Failure modes it handles: origin outage (stale-if-error, else 502 / 504),
// thundering herds (the waiting list), purge storms (soft purge), cache poisoning (only keyed
// headers reach the origin), hostile clients (header, body, connection and time limits).
// What to monitor: GET /.scaling/stats (hit ratio, origin fetches, coalesced requests,
// errors, bytes against capacity), and the X-Cache and Age fields clients receive.
//
//   edge_server --listen 127.0.0.1:8080 --origin http://127.0.0.1:9000 --threads 2
//   curl -si http://127.0.0.1:8080/index.html | grep -i -e x-cache -e age
//   curl -s -X POST 'http://127.0.0.1:8080/.scaling/purge?tag=product-42'
//
// SIGTERM or SIGINT: stop accepting, finish the requests in flight (up to --drain-timeout-ms),
// exit 0. Bad command lines exit 2 with a message naming the flag and the value.
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "edge_server.hpp"

namespace {

constexpr std::string_view usage =
    R"(usage: edge_server --listen ADDRESS:PORT --origin http://HOST:PORT[/BASE] [options]

A caching HTTP/1.1 reverse proxy (scaling::edge_cache behind Boost.Beast).

  --listen ADDRESS:PORT        where to listen, e.g. 127.0.0.1:8080 or [::1]:8080 (port 0: any)
  --origin URL                 the origin, http://host[:port][/base] (https is not supported)
  --threads N                  threads, one io_context each (default: hardware threads)
  --capacity-bytes B           cache memory bound in bytes (default 268435456)
  --origin-timeout-ms T        deadline of one origin request (default 10000)
  --origin-connections N       keep-alive connections to the origin per thread (default 64)
  --max-connections N          client connections at most; more are closed (default 10000)
  --max-header-bytes N         request header block at most; larger get 431 (default 16384)
  --max-target-bytes N         request target at most; longer get 414 (default 8192)
  --max-body-bytes N           request body at most; larger get 413 (default 1048576)
  --idle-timeout-ms T          to receive one request, keep-alive idle included (default 30000)
  --send-timeout-ms T          to send one response (default 30000)
  --drain-timeout-ms T         on SIGTERM/SIGINT, how long requests in flight may finish
                               (default 10000)
  --help                       this text

Every response carries X-Cache: HIT, MISS or STALE, and Age when it came from the cache.
Admin API, from loopback peers only: PURGE /path (header Soft-Purge: 1 for a soft purge),
POST /.scaling/purge?url=U | tag=T | prefix=P | all=1 [&soft=1], GET /.scaling/stats.
)";

struct bad_flag {
  std::string message;
};

template <class Int>
Int parse_number(std::string_view flag, std::string_view text, Int min) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min) {
    throw bad_flag{std::string{flag} + " must be an integer >= " + std::to_string(min) + " (got '" +
                   std::string{text} + "')"};
  }
  return value;
}

edge_example::edge_server_options parse(int argc, char** argv, bool& help) {
  edge_example::edge_server_options opts;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return opts;
    }
    if (!flag.starts_with("--")) throw bad_flag{"unexpected argument '" + std::string{flag} + "'"};
    if (i + 1 >= argc) throw bad_flag{std::string{flag} + " needs a value"};
    const std::string_view value = argv[++i];
    using ms = std::chrono::milliseconds;
    if (flag == "--listen") {
      opts.listen = value;
      have_listen = true;
    } else if (flag == "--origin") {
      opts.origin = value;
    } else if (flag == "--threads") {
      opts.threads = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--capacity-bytes") {
      opts.capacity_bytes = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--origin-timeout-ms") {
      opts.origin_timeout = ms{parse_number<long long>(flag, value, 1)};
    } else if (flag == "--origin-connections") {
      opts.origin_connections = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--max-connections") {
      opts.max_connections = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--max-header-bytes") {
      opts.max_header_bytes = parse_number<std::uint32_t>(flag, value, 256);
    } else if (flag == "--max-target-bytes") {
      opts.max_target_bytes = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--max-body-bytes") {
      opts.max_body_bytes = parse_number<std::uint64_t>(flag, value, 0);
    } else if (flag == "--idle-timeout-ms") {
      opts.idle_timeout = ms{parse_number<long long>(flag, value, 1)};
    } else if (flag == "--send-timeout-ms") {
      opts.send_timeout = ms{parse_number<long long>(flag, value, 1)};
    } else if (flag == "--drain-timeout-ms") {
      opts.drain_timeout = ms{parse_number<long long>(flag, value, 1)};
    } else {
      throw bad_flag{"unknown flag '" + std::string{flag} + "' (see --help)"};
    }
  }
  if (!have_listen) throw bad_flag{"--listen is required (e.g. --listen 127.0.0.1:8080)"};
  if (opts.origin.empty())
    throw bad_flag{"--origin is required (e.g. --origin http://127.0.0.1:9000)"};
  return opts;
}

// The flag a scaling::invalid_argument from the server is about.
std::string flag_of(const std::string& parameter) {
  std::string flag = "--";
  for (const char c : parameter)
    flag.push_back(c == '_' ? '-' : c);
  if (flag.ends_with("-timeout")) flag.append("-ms");
  return flag;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  edge_example::edge_server_options opts;
  try {
    opts = parse(argc, argv, help);
  } catch (const bad_flag& e) {
    std::fprintf(stderr, "edge_server: %s\n", e.message.c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  try {
    edge_example::edge_server server{opts};
    // Signals are waited for on the main thread; the workers never see them.
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals{signals_io, SIGINT, SIGTERM};
    int received = 0;
    signals.async_wait([&received](const boost::system::error_code& ec, int signal) {
      if (!ec) received = signal;
    });
    server.start();
    std::printf("edge_server: listening on %s:%u, %zu threads, origin %s\n",
                server.local_endpoint().address().to_string().c_str(),
                static_cast<unsigned>(server.port()), server.options().threads,
                opts.origin.c_str());
    std::fflush(stdout);
    signals_io.run();
    std::printf("edge_server: signal %d, draining\n", received);
    std::fflush(stdout);
    server.close();
    const auto stats = server.stats();
    std::printf("edge_server: stopped after %llu requests (%llu origin fetches)\n",
                static_cast<unsigned long long>(stats.requests),
                static_cast<unsigned long long>(stats.cache.origin_fetches));
    return 0;
  } catch (const scaling::invalid_argument& e) {
    std::fprintf(stderr, "edge_server: %s: %s\n", flag_of(e.parameter()).c_str(), e.what());
    return 2;
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "edge_server: --listen %s: %s\n", opts.listen.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edge_server: %s\n", e.what());
    return 1;
  }
}
