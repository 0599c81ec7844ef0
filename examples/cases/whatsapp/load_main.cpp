// chat_load: the load client for a chat_relay cluster: many users, a message rate, churn and
// message sizes; ends with one summary line (see client.hpp for what each figure means):
//
//   mode=v2 sent=N stored=N delivered=N lost=N duplicates=N reordered=N p50_ms=X p99_ms=Y ...
//
//   chat_load --mode v2 --cluster 127.0.0.1:7000,127.0.0.1:7001 --users 300
//             --duration-ms 3000 --rate 1000 --churn 0.3
//
// Exit status: 0 when every user came back and drained (drained=yes), 1 otherwise, 2 for a
// bad command line (with a message naming the flag and the value).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cli_checks.hpp"
#include "client.hpp"

using chat::cli::at_least;
using chat::cli::mode_check;
using chat::cli::non_negative;

int main(int argc, char** argv) {
  CLI::App app{
      "Load for a chat_relay cluster: users, a message rate, churn and message sizes; "
      "one summary line at the end.",
      "chat_load"};
  chat::load_options o;
  std::string mode = "v2";
  long long users = 300, duration_ms = 3000, text_bytes = 64, bulk_bytes = 16384, drain_ms = 20000,
            progress_ms = 0, idle = 0, hold_ms = 2000;
  std::vector<long long> offline_ms{100, 600};
  std::vector<std::string> sources;
  app.add_option("--cluster", o.cluster, "HOST:PORT of every relay, in index order")
      ->required()
      ->delimiter(',');
  app.add_option("--mode", mode, "the relays' mode: V1 does not resend")
      ->check(mode_check)
      ->capture_default_str();
  app.add_option("--users", users, "users 1..N, as many connections")
      ->check(at_least(2))
      ->capture_default_str();
  app.add_option("--duration-ms", duration_ms,
                 "sending phase, then every user comes back and drains")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "messages per second, all users together")
      ->check(non_negative)
      ->capture_default_str();
  app.add_option("--churn", o.churn, "per user per second: chance of going offline")
      ->check(non_negative)
      ->capture_default_str();
  app.add_option("--offline-ms", offline_ms, "MIN,MAX: how long an offline user stays away")
      ->delimiter(',')
      ->expected(2)
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--text-bytes", text_bytes, "text message size")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--bulk-bytes", bulk_bytes, "bulk (media) message size")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--bulk-fraction", o.bulk_fraction, "share of bulk messages")
      ->check(non_negative)
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", drain_ms, "give up draining after it")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--progress-ms", progress_ms,
                 "print \"progress sent=N delivered=N\" this often (0: never)")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->check(at_least(0))->capture_default_str();
  app.add_option("--idle", idle,
                 "instead: open N idle connections (hello only), print \"idle connections=N\", "
                 "hold them --hold-ms, exit")
      ->check(at_least(0));
  app.add_option("--sources", sources,
                 "--idle: local addresses to connect from (e.g. 127.0.0.2,127.0.0.3)")
      ->delimiter(',');
  app.add_option("--hold-ms", hold_ms, "--idle: how long to hold them")
      ->check(at_least(0))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
    if (offline_ms[0] > offline_ms[1]) {
      throw CLI::ValidationError{"--offline-ms", "must be MIN,MAX with MIN <= MAX (got '" +
                                                     std::to_string(offline_ms[0]) + "," +
                                                     std::to_string(offline_ms[1]) + "')"};
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "chat_load: " << e.what() << "\n"
              << "run 'chat_load --help' for usage\n";
    return 2;
  }
  using ms = std::chrono::milliseconds;
  o.mode = *chat::parse_relay_mode(mode);
  o.users = static_cast<std::uint64_t>(users);
  o.duration = ms{duration_ms};
  o.offline_min = ms{offline_ms[0]};
  o.offline_max = ms{offline_ms[1]};
  o.text_bytes = static_cast<std::size_t>(text_bytes);
  o.bulk_bytes = static_cast<std::size_t>(bulk_bytes);
  o.drain_timeout = ms{drain_ms};
  o.progress_every = ms{progress_ms};
  try {
    boost::asio::io_context io;
    if (idle > 0) {
      const auto count = static_cast<std::uint64_t>(idle);
      chat::idle_load hold{
          io, {.cluster = o.cluster, .count = count, .sources = sources, .hold = ms{hold_ms}}};
      hold.start();
      io.run();
      return hold.welcomed() == count ? 0 : 1;
    }
    chat::load_client load{io, o};
    load.start();
    io.run();
    std::printf("%s\n", load.summary().c_str());
    return load.drained() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_load: %s\n", e.what());
    return 2;
  }
}
