// chat_relay: one relay of a WhatsApp-style message delivery cluster (V1, V2 or V3).
//
// Problem: deliver messages between users connected to different servers, including users
// who are offline, without losing or duplicating any, on little hardware. Approach: each user
// is homed on a relay by a consistent-hash ring; relays forward to the recipient's home relay,
// which delivers (V1), or stores durably in a mailbox until delivered and acked (V2), over
// pooled relay links with priority lanes and backpressure (V3). Failure modes shown: V1 loses
// what it cannot deliver now; a relay killed with SIGKILL loses nothing it acknowledged (V2,
// V3); a store that fails (disk error, Redis down) gets senders "retry", never "sent";
// malformed or oversized frames, unknown users and readers that never read are closed
// without disturbing anyone else. What to monitor: the stats line printed on exit and the
// mailbox backlog (stored - acked), retries, store_failures, slow_readers, fsyncs per message.
//
//   chat_relay --mode v2 --index 0 --cluster 127.0.0.1:7000,127.0.0.1:7001 --users 1000
//              --data-dir /tmp/relay-0
//   chat_relay --mode v2 --index 0 --cluster ... --store=redis --redis=127.0.0.1:6379
//
// SIGTERM or SIGINT: stop, flush the store, print the stats, exit 0. Bad command lines exit 2
// with a message naming the flag and the value.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli_checks.hpp"
#include "relay.hpp"
#if SCALING_HAVE_HIREDIS
#include "redis_store.hpp"
#endif

namespace {

using chat::cli::at_least;
using chat::cli::mode_check;

const CLI::Validator store_check{[](std::string& text) {
                                   if (text == "log" || text == "redis") return std::string{};
                                   return "must be log or redis (got '" + text + "')";
                                 },
                                 "log|redis"};

struct redis_flags {
  std::string address = "127.0.0.1:6379";
  std::string prefix;  // default: chat:relay-<index>:
  long long timeout_ms = 1000;
  long long wait_replicas = 0;
  long long wait_timeout_ms = 100;
};

template <class Store>
int run(const chat::relay_options& options, typename Store::options store_options) {
  chat::basic_relay<Store> relay{options, std::move(store_options)};
  boost::asio::io_context signals_io;
  boost::asio::signal_set signals{signals_io, SIGINT, SIGTERM};
  signals.async_wait([](const boost::system::error_code&, int) {});
  relay.start();
  const std::string store = relay.store_description();
  std::printf("chat_relay: relay %zu (v%d%s%s) listening on %s, %zu messages recovered\n",
              options.index, static_cast<int>(options.mode), store.empty() ? "" : ", store ",
              store.c_str(), options.cluster[options.index].c_str(), relay.recovered());
  std::fflush(stdout);
  signals_io.run();
  relay.close();
  const auto s = relay.stats();
  const auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "chat_relay: stopped: accepted=%llu messages_in=%llu deliveries=%llu stored=%llu "
      "acked=%llu failed_back=%llu retries=%llu forwards=%llu peer_connects=%llu "
      "peer_links_peak=%llu bad_frames=%llu oversized_frames=%llu unknown_users=%llu "
      "slow_readers=%llu paused=%llu fsyncs=%llu store_failures=%llu\n",
      ull(s.accepted), ull(s.messages_in), ull(s.deliveries), ull(s.stored), ull(s.acked),
      ull(s.failed_back), ull(s.retries), ull(s.forwards), ull(s.peer_connects),
      ull(s.peer_links_peak), ull(s.bad_frames), ull(s.oversized_frames), ull(s.unknown_users),
      ull(s.slow_readers), ull(s.paused), ull(s.fsyncs), ull(s.store_failures));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One relay of a chat cluster; relay I listens on the I-th address of --cluster.",
               "chat_relay"};
  chat::relay_options o;
  std::string mode = "v2";
  std::string store = "log";
  redis_flags redis;
  long long users = 1000, max_frame = 65536, max_outbox = 1 << 20, stall_ms = 5000,
            forward_ms = 1000, pool = 2, max_pending = 100000;
  std::size_t index = 0;
  app.add_option("--index", index, "this relay's position in --cluster")
      ->required()
      ->check(at_least(0));
  app.add_option("--cluster", o.cluster, "HOST:PORT of every relay, in index order")
      ->required()
      ->delimiter(',');
  app.add_option("--mode", mode, "V1 direct, V2 offline queues, V3 pooled + priorities")
      ->check(mode_check)
      ->capture_default_str();
  app.add_option("--users", users, "valid user ids 1..N")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--store", store, "V2/V3: where offline messages are kept: log or redis")
      ->check(store_check)
      ->capture_default_str();
  app.add_option("--data-dir", o.data_dir, "--store=log: where messages.log lives (required)");
  app.add_option("--redis", redis.address, "--store=redis: the Redis server, HOST:PORT")
      ->capture_default_str();
  app.add_option("--redis-prefix", redis.prefix,
                 "--store=redis: key prefix (default chat:relay-<index>:)");
  app.add_option("--redis-timeout-ms", redis.timeout_ms,
                 "--store=redis: a batch Redis has not answered within it is refused (retry)")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--redis-wait-replicas", redis.wait_replicas,
                 "--store=redis: replicas that must have each batch (WAIT) before \"sent\"")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--redis-wait-timeout-ms", redis.wait_timeout_ms, "--store=redis: WAIT's bound")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--max-frame-bytes", max_frame, "larger frames close the connection")
      ->check(at_least(64))
      ->capture_default_str();
  app.add_option("--max-outbox-bytes", max_outbox, "per client: V1/V2 close, V3 pauses past it")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--stall-timeout-ms", stall_ms, "V3: a paused reader is closed after it")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--forward-timeout-ms", forward_ms, "a forward with no answer is a retry after it")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--pool", pool, "V3: long-lived links per peer relay")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--max-pending", max_pending, "V2/V3: stored messages per recipient")
      ->check(at_least(1))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "chat_relay: " << e.what() << "\n"
              << "run 'chat_relay --help' for usage\n";
    return 2;
  }
  using ms = std::chrono::milliseconds;
  o.mode = *chat::parse_relay_mode(mode);
  o.index = index;
  o.users = static_cast<std::uint64_t>(users);
  o.max_frame_bytes = static_cast<std::size_t>(max_frame);
  o.max_outbox_bytes = static_cast<std::size_t>(max_outbox);
  o.stall_timeout = ms{stall_ms};
  o.forward_timeout = ms{forward_ms};
  o.pool_size = static_cast<std::size_t>(pool);
  o.max_pending = static_cast<std::size_t>(max_pending);
  try {
    if (store == "log") return run<chat::log_store>(o, {});
#if SCALING_HAVE_HIREDIS
    chat::redis_store::options r;
    r.server = scaling::redis::endpoint::parse(redis.address, "127.0.0.1");
    r.prefix = redis.prefix.empty() ? "chat:relay-" + std::to_string(index) + ":" : redis.prefix;
    r.timeout = ms{redis.timeout_ms};
    r.wait_replicas = static_cast<std::size_t>(redis.wait_replicas);
    r.wait_timeout = ms{redis.wait_timeout_ms};
    return run<chat::redis_store>(o, std::move(r));
#else
    std::fprintf(stderr,
                 "chat_relay: --store redis: this chat_relay was built without hiredis "
                 "(Debian: libhiredis-dev)\n");
    return 2;
#endif
  } catch (const scaling::invalid_argument& e) {
    std::fprintf(stderr, "chat_relay: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_relay: %s\n", e.what());
    return 1;
  }
}
