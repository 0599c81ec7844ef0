// chat_load: the load client for a chat_relay cluster: many users, a message rate, churn and
// message sizes; ends with one summary line (see client.hpp for what each figure means):
//
//   mode=v2 sent=N stored=N delivered=N lost=N duplicates=N reordered=N p50_ms=X p99_ms=Y ...
//
//   chat_load --mode v2 --cluster 127.0.0.1:7000,127.0.0.1:7001 --users 300
//             --duration-ms 3000 --rate 1000 --churn 0.3
//
// Exit status: 0 when every user came back and drained (drained=yes), 1 otherwise, 2 for a
// bad command line.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "client.hpp"
#include "flags.hpp"

namespace {

constexpr std::string_view usage =
    R"(usage: chat_load --cluster HOST:PORT,... [options]

  --mode v1|v2|v3            the relays' mode: V1 does not resend (default v2)
  --users N                  users 1..N, as many connections (default 300)
  --duration-ms T            sending phase, then every user comes back and drains (default 3000)
  --rate R                   messages per second, all users together (default 1000)
  --churn C                  per user per second: chance of going offline (default 0.2)
  --offline-ms MIN,MAX       how long an offline user stays away (default 100,600)
  --text-bytes N             text message size (default 64)
  --bulk-bytes N             bulk (media) message size (default 16384)
  --bulk-fraction F          share of bulk messages (default 0.1)
  --drain-timeout-ms T       give up draining after T (default 20000)
  --progress-ms T            print "progress sent=N delivered=N" every T (default: never)
  --seed S                   random seed (default 42)
  --idle N                   instead: open N idle connections (hello only), print
                             "idle connections=N", hold them --hold-ms (default 2000), exit
  --sources A,B,...          --idle: local addresses to connect from (e.g. 127.0.0.2,127.0.0.3)
  --help                     this text
)";

double parse_fraction(std::string_view flag, std::string_view v) {
  try {
    std::size_t used = 0;
    const double d = std::stod(std::string{v}, &used);
    if (used == v.size() && d >= 0) return d;
  } catch (const std::exception&) {
  }
  throw chat::bad_flag{std::string{flag} + " must be a number >= 0 (got '" + std::string{v} + "')"};
}

struct idle_flags {
  std::uint64_t count = 0;
  std::vector<std::string> sources;
  std::chrono::milliseconds hold{2000};
};

chat::load_options parse(int argc, char** argv, bool& help, idle_flags& idle) {
  using chat::bad_flag;
  using chat::parse_number;
  using ms = std::chrono::milliseconds;
  chat::load_options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return o;
    }
    if (i + 1 >= argc) throw bad_flag{std::string{flag} + " needs a value"};
    const std::string_view v = argv[++i];
    if (flag == "--mode") {
      o.mode = chat::parse_mode(flag, v);
    } else if (flag == "--cluster") {
      o.cluster = chat::parse_list(v);
    } else if (flag == "--users") {
      o.users = parse_number<std::uint64_t>(flag, v, 2);
    } else if (flag == "--duration-ms") {
      o.duration = ms{parse_number<long long>(flag, v, 0)};
    } else if (flag == "--rate") {
      o.rate = parse_fraction(flag, v);
    } else if (flag == "--churn") {
      o.churn = parse_fraction(flag, v);
    } else if (flag == "--offline-ms") {
      const auto parts = chat::parse_list(v);
      if (parts.size() != 2)
        throw bad_flag{"--offline-ms must be MIN,MAX (got '" + std::string{v} + "')"};
      o.offline_min = ms{parse_number<long long>(flag, parts[0], 0)};
      o.offline_max = ms{parse_number<long long>(flag, parts[1], o.offline_min.count())};
    } else if (flag == "--text-bytes") {
      o.text_bytes = parse_number<std::size_t>(flag, v, 1);
    } else if (flag == "--bulk-bytes") {
      o.bulk_bytes = parse_number<std::size_t>(flag, v, 1);
    } else if (flag == "--bulk-fraction") {
      o.bulk_fraction = parse_fraction(flag, v);
    } else if (flag == "--drain-timeout-ms") {
      o.drain_timeout = ms{parse_number<long long>(flag, v, 1)};
    } else if (flag == "--progress-ms") {
      o.progress_every = ms{parse_number<long long>(flag, v, 1)};
    } else if (flag == "--idle") {
      idle.count = parse_number<std::uint64_t>(flag, v, 1);
    } else if (flag == "--sources") {
      idle.sources = chat::parse_list(v);
    } else if (flag == "--hold-ms") {
      idle.hold = ms{parse_number<long long>(flag, v, 0)};
    } else if (flag == "--seed") {
      o.seed = parse_number<std::uint64_t>(flag, v, 0);
    } else {
      throw bad_flag{"unknown flag '" + std::string{flag} + "' (see --help)"};
    }
  }
  if (o.cluster.empty()) throw bad_flag{"--cluster is required (host:port,host:port,...)"};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  chat::load_options options;
  idle_flags idle;
  try {
    options = parse(argc, argv, help, idle);
  } catch (const chat::bad_flag& e) {
    std::fprintf(stderr, "chat_load: %s\n", e.message.c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  try {
    boost::asio::io_context io;
    if (idle.count > 0) {
      chat::idle_load hold{io,
                           {.cluster = options.cluster,
                            .count = idle.count,
                            .sources = idle.sources,
                            .hold = idle.hold}};
      hold.start();
      io.run();
      return hold.welcomed() == idle.count ? 0 : 1;
    }
    chat::load_client load{io, options};
    load.start();
    io.run();
    std::printf("%s\n", load.summary().c_str());
    return load.drained() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_load: %s\n", e.what());
    return 2;
  }
}
