// chat_relay: one relay of a WhatsApp-style message delivery cluster (V1, V2 or V3).
//
// Problem: deliver messages between users connected to different servers, including users
// who are offline, without losing or duplicating any, on little hardware. Approach: each user
// is homed on a relay by a consistent-hash ring; relays forward to the recipient's home relay,
// which delivers (V1), or stores durably in a mailbox until delivered and acked (V2), over
// pooled relay links with priority lanes and backpressure (V3). Failure modes shown: V1 loses
// what it cannot deliver now; a relay killed with SIGKILL loses nothing it acknowledged (V2,
// V3); malformed or oversized frames, unknown users and readers that never read are closed
// without disturbing anyone else. What to monitor: the stats line printed on exit and the
// mailbox backlog (stored - acked), retries, slow_readers, fsyncs per message.
//
//   chat_relay --mode v2 --index 0 --cluster 127.0.0.1:7000,127.0.0.1:7001 --users 1000
//              --data-dir /tmp/relay-0
//
// SIGTERM or SIGINT: stop, flush the log, print the stats, exit 0. Bad command lines exit 2.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "flags.hpp"
#include "relay.hpp"

namespace {

constexpr std::string_view usage =
    R"(usage: chat_relay --index I --cluster HOST:PORT,HOST:PORT,... [options]

One relay of a chat cluster; relay I listens on the I-th address of --cluster.

  --mode v1|v2|v3            V1 direct, V2 offline queues, V3 pooled + priorities (default v2)
  --users N                  valid user ids 1..N (default 1000)
  --data-dir DIR             V2/V3: where messages.log lives (required for v2 and v3)
  --max-frame-bytes N        larger frames close the connection (default 65536)
  --max-outbox-bytes N       per client: V1/V2 close, V3 pauses past it (default 1048576)
  --stall-timeout-ms T       V3: a paused reader is closed after T (default 5000)
  --forward-timeout-ms T     a forward with no answer is a retry after T (default 1000)
  --pool N                   V3: long-lived links per peer relay (default 2)
  --max-pending N            V2/V3: stored messages per recipient (default 100000)
  --help                     this text
)";

chat::relay_options parse(int argc, char** argv, bool& help) {
  using chat::bad_flag;
  using chat::parse_number;
  chat::relay_options o;
  bool have_index = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return o;
    }
    if (i + 1 >= argc) throw bad_flag{std::string{flag} + " needs a value"};
    const std::string_view v = argv[++i];
    using ms = std::chrono::milliseconds;
    if (flag == "--mode") {
      o.mode = chat::parse_mode(flag, v);
    } else if (flag == "--index") {
      o.index = parse_number<std::size_t>(flag, v, 0);
      have_index = true;
    } else if (flag == "--cluster") {
      o.cluster = chat::parse_list(v);
    } else if (flag == "--users") {
      o.users = parse_number<std::uint64_t>(flag, v, 1);
    } else if (flag == "--data-dir") {
      o.data_dir = v;
    } else if (flag == "--max-frame-bytes") {
      o.max_frame_bytes = parse_number<std::size_t>(flag, v, 64);
    } else if (flag == "--max-outbox-bytes") {
      o.max_outbox_bytes = parse_number<std::size_t>(flag, v, 1);
    } else if (flag == "--stall-timeout-ms") {
      o.stall_timeout = ms{parse_number<long long>(flag, v, 1)};
    } else if (flag == "--forward-timeout-ms") {
      o.forward_timeout = ms{parse_number<long long>(flag, v, 1)};
    } else if (flag == "--pool") {
      o.pool_size = parse_number<std::size_t>(flag, v, 1);
    } else if (flag == "--max-pending") {
      o.max_pending = parse_number<std::size_t>(flag, v, 1);
    } else {
      throw bad_flag{"unknown flag '" + std::string{flag} + "' (see --help)"};
    }
  }
  if (!have_index) throw bad_flag{"--index is required"};
  if (o.cluster.empty()) throw bad_flag{"--cluster is required (host:port,host:port,...)"};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  chat::relay_options options;
  try {
    options = parse(argc, argv, help);
  } catch (const chat::bad_flag& e) {
    std::fprintf(stderr, "chat_relay: %s\n", e.message.c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  try {
    chat::relay relay{options};
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals{signals_io, SIGINT, SIGTERM};
    signals.async_wait([](const boost::system::error_code&, int) {});
    relay.start();
    std::printf("chat_relay: relay %zu (v%d) listening on %s, %zu messages recovered\n",
                options.index, static_cast<int>(options.mode),
                options.cluster[options.index].c_str(), relay.recovered());
    std::fflush(stdout);
    signals_io.run();
    relay.close();
    const auto s = relay.stats();
    std::printf(
        "chat_relay: stopped: accepted=%llu messages_in=%llu deliveries=%llu stored=%llu "
        "acked=%llu failed_back=%llu retries=%llu forwards=%llu peer_connects=%llu "
        "peer_links_peak=%llu "
        "bad_frames=%llu oversized_frames=%llu unknown_users=%llu slow_readers=%llu "
        "paused=%llu fsyncs=%llu\n",
        static_cast<unsigned long long>(s.accepted), static_cast<unsigned long long>(s.messages_in),
        static_cast<unsigned long long>(s.deliveries), static_cast<unsigned long long>(s.stored),
        static_cast<unsigned long long>(s.acked), static_cast<unsigned long long>(s.failed_back),
        static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(s.forwards),
        static_cast<unsigned long long>(s.peer_connects),
        static_cast<unsigned long long>(s.peer_links_peak),
        static_cast<unsigned long long>(s.bad_frames),
        static_cast<unsigned long long>(s.oversized_frames),
        static_cast<unsigned long long>(s.unknown_users),
        static_cast<unsigned long long>(s.slow_readers), static_cast<unsigned long long>(s.paused),
        static_cast<unsigned long long>(s.fsyncs));
    return 0;
  } catch (const scaling::invalid_argument& e) {
    std::fprintf(stderr, "chat_relay: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_relay: %s\n", e.what());
    return 1;
  }
}
