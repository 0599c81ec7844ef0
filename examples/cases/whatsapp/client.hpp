// client.hpp: chat clients for the relay cluster: one connection, and the load generator.
//
// What it is: `chat::client_connection` is one user's connection to its home relay (hello,
// then frames in both directions, written in order). `chat::load_client` runs many users on
// one io thread: they send to random users at a total rate, go offline and come back at
// random (churn), and keep a ledger of every message, from which it reports
//   mode=v2 sent=N stored=N delivered=N lost=N duplicates=N reordered=N p50_ms=X p99_ms=Y ...
//
//   chat::load_client load{io, {.cluster = {...}, .mode = chat::relay_mode::v2_queues,
//                               .users = 300, .duration = 3s, .rate = 2000, .churn = 0.3}};
//   load.start(); io.run(); std::puts(load.summary().c_str());
//
// Sender rules: each conversation (sender, recipient, lane) numbers its messages 1, 2, ...
// and has one message in flight: the next is sent when the relay answers "sent" (stored or
// delivered). A "retry" answer, a lost connection or no answer within resend_after sends it
// again (V2/V3), so the ledger's `lost` counts only messages a relay acknowledged and never
// delivered. V1 does not resend: a message failed back is `failed` and counts as lost.
// Recipient rules: every deliver frame is acked (delivered_ack; read_ack for some), and
// deduplicated by (sender, lane, msg_id) before it reaches the "application" (the ledger).
// Latency: from the message's creation to its delivery, for recipients that were online when
// it was created (a stored message's wait for its recipient is not latency).
// Thread safety: everything runs on the io_context's one thread.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "protocol.hpp"

namespace chat {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

[[nodiscard]] inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// One connection to a relay. on_frame gets each payload; on_close runs once.
class client_connection : public std::enable_shared_from_this<client_connection> {
 public:
  using frame_handler = std::function<void(std::string_view payload)>;
  using close_handler = std::function<void()>;

  client_connection(net::io_context& io, frame_handler on_frame, close_handler on_close)
      : socket_(io), on_frame_(std::move(on_frame)), on_close_(std::move(on_close)) {}

  // Connects to `to` (from `source` when given: spreads many connections over loopback
  // addresses), sends hello, then reads frames.
  void connect(const tcp::endpoint& to, std::uint64_t user,
               std::optional<net::ip::address> source = std::nullopt) {
    send(frame_writer{frame_type::hello}.u64(user).done());
    boost::system::error_code ec;
    if (source) {
      socket_.open(to.protocol(), ec);
#ifdef IP_BIND_ADDRESS_NO_PORT
      // Linux: choose the port at connect time (bind(port 0) alone searches half the range,
      // and slowly once it fills).
      if (!ec)
        socket_.set_option(
            net::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>(true), ec);
#endif
      if (!ec) socket_.bind(tcp::endpoint{*source, 0}, ec);
      if (ec) return close();
    }
    socket_.async_connect(to, [self = shared_from_this()](const boost::system::error_code& e) {
      if (e) return self->close();
      boost::system::error_code ignored;
      self->socket_.set_option(tcp::no_delay(true), ignored);
      self->connected_ = true;
      self->read_header();
      self->write_more();
    });
  }

  void send(std::string frame) {
    if (closed_) return;
    queue_.push_back(std::move(frame));
    write_more();
  }

  // Abrupt close (churn, a crash of the phone): unread frames are lost to this connection.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (on_close_) {
      auto f = std::move(on_close_);
      f();
    }
  }

  [[nodiscard]] bool closed() const noexcept {
    return closed_;
  }

 private:
  void read_header() {
    net::async_read(socket_, net::buffer(head_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (ec || self->closed_) return self->close();
                      self->payload_.resize(read_length(self->head_.data()));
                      net::async_read(self->socket_, net::buffer(self->payload_),
                                      [self](const boost::system::error_code& e, std::size_t) {
                                        if (e || self->closed_) return self->close();
                                        self->on_frame_(self->payload_);
                                        if (!self->closed_) self->read_header();
                                      });
                    });
  }

  void write_more() {
    if (writing_ || !connected_ || closed_ || queue_.empty()) return;
    writing_frames_.assign(std::make_move_iterator(queue_.begin()),
                           std::make_move_iterator(queue_.end()));
    queue_.clear();
    buffers_.clear();
    for (const auto& f : writing_frames_)
      buffers_.emplace_back(net::buffer(f));
    writing_ = true;
    net::async_write(socket_, buffers_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       self->writing_ = false;
                       self->writing_frames_.clear();
                       if (ec) return self->close();
                       self->write_more();
                     });
  }

  tcp::socket socket_;
  frame_handler on_frame_;
  close_handler on_close_;
  std::array<unsigned char, length_prefix_bytes> head_{};
  std::string payload_;
  std::deque<std::string> queue_;
  std::vector<std::string> writing_frames_;
  std::vector<net::const_buffer> buffers_;
  bool connected_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

struct load_options {
  std::vector<std::string> cluster;  // the relays, as the relays were given them
  relay_mode mode = relay_mode::v2_queues;
  std::uint64_t users = 300;                 // user ids 1 .. users
  std::chrono::milliseconds duration{3000};  // sending phase; then the drain
  double rate = 1000;                        // messages per second, all users together
  double churn = 0.2;                        // per user per second: chance of going offline
  std::chrono::milliseconds offline_min{100}, offline_max{600};
  std::size_t text_bytes = 64;
  std::size_t bulk_bytes = 16384;
  double bulk_fraction = 0.1;                    // share of messages in the bulk lane
  double read_fraction = 0.1;                    // share of deliveries also read_acked
  std::chrono::milliseconds resend_after{1500};  // no answer: send again (V2/V3)
  std::chrono::milliseconds drain_timeout{20000};
  std::chrono::milliseconds progress_every{0};  // 0: no progress lines
  std::uint64_t seed = 42;
};

class load_client {
 public:
  load_client(net::io_context& io, load_options options)
      : io_(io),
        options_(std::move(options)),
        cluster_(options_.cluster),
        tick_(io),
        rng_(options_.seed),
        users_(options_.users + 1) {
    for (std::size_t i = 0; i < cluster_.size(); ++i) {
      const auto [host, port] = cluster_map::split(cluster_.address(i));
      endpoints_.emplace_back(net::ip::make_address(host), port);
    }
  }

  void start() {
    started_ = std::chrono::steady_clock::now();
    last_tick_ = started_;
    for (std::uint64_t u = 1; u <= options_.users; ++u)
      connect(u);
    tick();
  }

  [[nodiscard]] bool drained() const noexcept { return drained_; }

  // Counts sends, deliveries, losses and the latency percentiles so far.
  [[nodiscard]] std::string summary() const {
    std::uint64_t stored = 0, delivered = 0, lost = 0, duplicates = 0, failed = 0, unacked = 0;
    std::vector<double> lat = latencies_ms_;
    for (const auto& m : ledger_) {
      if (m.stored) ++stored;
      if (m.delivered > 0) ++delivered;
      if (m.delivered > 1) ++duplicates;
      if (m.failed) ++failed;
      if (!m.answered) ++unacked;
      const bool acknowledged = m.answered && !m.failed;
      if (m.delivered == 0 && (options_.mode == relay_mode::v1_direct || acknowledged)) ++lost;
    }
    std::sort(lat.begin(), lat.end());
    const auto pct = [&](double p) {
      if (lat.empty()) return 0.0;
      return lat[std::min(lat.size() - 1,
                          static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
    };
    char line[512];
    std::snprintf(
        line, sizeof line,
        "mode=v%d sent=%zu stored=%llu delivered=%llu lost=%llu duplicates=%llu "
        "reordered=%llu p50_ms=%.2f p99_ms=%.2f failed=%llu unacked=%llu redelivered=%llu "
        "retries=%llu reconnects=%llu wall_s=%.2f drained=%s",
        static_cast<int>(options_.mode), ledger_.size(), ull(stored), ull(delivered), ull(lost),
        ull(duplicates), ull(reordered_), pct(0.50), pct(0.99), ull(failed), ull(unacked),
        ull(redelivered_), ull(retries_), ull(reconnects_),
        std::chrono::duration<double>(ended_ - started_).count(), drained_ ? "yes" : "no");
    return line;
  }

 private:
  static unsigned long long ull(std::uint64_t v) { return v; }

  struct message {
    std::uint64_t from = 0, to = 0, msg_id = 0, created_ns = 0;
    std::uint8_t lane = 0;
    bool recipient_online = false;  // when created: counts toward latency
    bool answered = false;          // the relay said stored / delivered / failed
    bool stored = false;
    bool failed = false;
    std::uint8_t delivered = 0;  // times the application saw it
  };

  struct outgoing {  // one conversation, sender side
    std::uint64_t to = 0;
    std::uint8_t lane = 0;
    std::vector<std::size_t> ids;   // msg_id - 1 -> ledger index
    std::deque<std::size_t> queue;  // ledger indexes not yet answered, in order
    bool in_flight = false;
    std::chrono::steady_clock::time_point resend_at{};
  };

  struct incoming {  // one conversation, recipient side
    std::unordered_set<std::uint64_t> seen;
    std::uint64_t max_id = 0;
  };

  struct user {
    std::shared_ptr<client_connection> conn;
    bool online = false;  // welcomed
    bool want_online = true;
    std::chrono::steady_clock::time_point back_at{};
    std::uint64_t session_ns = 0;
    std::unordered_map<std::uint64_t, outgoing> out;  // key: to * 2 + lane
    std::unordered_map<std::uint64_t, incoming> in;   // key: from * 2 + lane
  };

  void connect(std::uint64_t u) {
    auto& usr = users_[u];
    if (usr.conn && !usr.conn->closed()) return;
    const std::uint64_t gen = ++generation_;
    generations_[u] = gen;
    usr.conn = std::make_shared<client_connection>(
        io_, [this, u, gen](std::string_view p) { on_frame(u, gen, p); },
        [this, u, gen] { on_close(u, gen); });
    usr.conn->connect(endpoints_[cluster_.home_of(u)], u);
  }

  void on_close(std::uint64_t u, std::uint64_t gen) {
    if (generations_[u] != gen) return;
    auto& usr = users_[u];
    usr.online = false;
    for (auto& [k, c] : usr.out)
      c.in_flight = false;  // its head is sent again once back
    const auto now = std::chrono::steady_clock::now();
    if (usr.want_online) usr.back_at = now + std::chrono::milliseconds{100};
  }

  void on_frame(std::uint64_t u, std::uint64_t gen, std::string_view payload) {
    if (generations_[u] != gen) return;
    auto& usr = users_[u];
    frame_reader r{payload};
    switch (r.type()) {
      case frame_type::welcome:
        usr.online = true;
        usr.session_ns = now_ns();
        for (auto& [k, c] : usr.out)
          pump(usr, c);
        return;
      case frame_type::sent: {
        const std::uint64_t to = r.u64(), id = r.u64();
        const std::uint8_t lane = r.u8();
        const auto result = static_cast<send_result>(r.u8());
        auto it = usr.out.find(to * 2 + lane);
        if (!r.ok() || it == usr.out.end()) return;
        auto& c = it->second;
        if (c.queue.empty() || ledger_[c.queue.front()].msg_id != id || !c.in_flight) return;
        auto& m = ledger_[c.queue.front()];
        c.in_flight = false;
        const bool resend = result == send_result::retry && options_.mode != relay_mode::v1_direct;
        if (resend) {
          ++retries_;
          c.resend_at = std::chrono::steady_clock::now() + std::chrono::milliseconds{50};
          return;
        }
        m.answered = true;
        m.stored = result == send_result::stored;
        m.failed = result != send_result::stored && result != send_result::delivered;
        c.queue.pop_front();
        pump(usr, c);
        return;
      }
      case frame_type::deliver: {
        const std::uint64_t from = r.u64(), id = r.u64();
        const std::uint8_t lane = r.u8();
        (void)r.u64();
        (void)r.body();
        if (!r.ok()) return;
        usr.conn->send(frame_writer{frame_type::delivered_ack}.u64(from).u64(id).u8(lane).done());
        if (unit_(rng_) < options_.read_fraction)
          usr.conn->send(frame_writer{frame_type::read_ack}.u64(from).u64(id).u8(lane).done());
        auto& in = usr.in[from * 2 + lane];
        if (!in.seen.insert(id).second) {
          ++redelivered_;
          return;
        }
        if (id < in.max_id) ++reordered_;
        in.max_id = std::max(in.max_id, id);
        auto& sender = users_[from];
        auto oc = sender.out.find(u * 2 + lane);
        if (oc == sender.out.end() || id == 0 || id > oc->second.ids.size()) return;
        auto& m = ledger_[oc->second.ids[id - 1]];
        ++m.delivered;
        last_delivery_ = std::chrono::steady_clock::now();
        if (m.recipient_online && m.created_ns >= usr.session_ns)
          latencies_ms_.push_back(static_cast<double>(now_ns() - m.created_ns) / 1e6);
        return;
      }
      default:
        return;  // receipts, pongs; an error frame is followed by the close
    }
  }

  void pump(user& usr, outgoing& c) {
    if (!usr.online || c.in_flight || c.queue.empty()) return;
    if (std::chrono::steady_clock::now() < c.resend_at) return;
    const auto& m = ledger_[c.queue.front()];
    const std::size_t size = m.lane == bulk_lane ? options_.bulk_bytes : options_.text_bytes;
    std::string body(size, static_cast<char>('a' + m.msg_id % 26));
    usr.conn->send(frame_writer{frame_type::send}
                       .u64(m.to)
                       .u64(m.msg_id)
                       .u8(m.lane)
                       .u64(m.created_ns)
                       .body(body)
                       .done());
    c.in_flight = true;
    c.resend_at = std::chrono::steady_clock::now() + options_.resend_after;
  }

  void create_message(std::uint64_t from) {
    std::uint64_t to = 1 + pick_(rng_) % options_.users;
    if (to == from) to = to % options_.users + 1;
    const std::uint8_t lane = unit_(rng_) < options_.bulk_fraction ? bulk_lane : text_lane;
    auto& c = users_[from].out[to * 2 + lane];
    c.to = to;
    c.lane = lane;
    message m;
    m.from = from;
    m.to = to;
    m.lane = lane;
    m.msg_id = c.ids.size() + 1;
    m.created_ns = now_ns();
    m.recipient_online = users_[to].online;
    c.ids.push_back(ledger_.size());
    c.queue.push_back(ledger_.size());
    ledger_.push_back(m);
    pump(users_[from], c);
  }

  static constexpr std::chrono::milliseconds period{10};

  void tick() {
    tick_.expires_after(period);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      const bool sending = now - started_ < options_.duration;
      // Time actually passed (a busy machine ticks late): the rate and churn stay true.
      const double dt = std::chrono::duration<double>(now - last_tick_).count();
      last_tick_ = now;
      if (sending) {
        const double due = options_.rate * std::chrono::duration<double>(now - started_).count();
        std::vector<std::uint64_t> online;
        for (std::uint64_t u = 1; u <= options_.users; ++u) {
          if (users_[u].online) online.push_back(u);
        }
        while (static_cast<double>(ledger_.size()) + 1 <= due && !online.empty())
          create_message(online[pick_(rng_) % online.size()]);
        for (std::uint64_t u : online) {
          if (unit_(rng_) < options_.churn * dt) go_offline(u, now);
        }
      } else if (!draining_) {
        draining_ = true;
        drain_started_ = now;
        for (std::uint64_t u = 1; u <= options_.users; ++u)
          users_[u].want_online = true;
      }
      for (std::uint64_t u = 1; u <= options_.users; ++u) {
        auto& usr = users_[u];
        if (usr.want_online && !usr.online && (!usr.conn || usr.conn->closed()) &&
            now >= usr.back_at) {
          ++reconnects_;
          connect(u);
        }
        if (!usr.online) continue;
        for (auto& [k, c] : usr.out) {
          if (c.in_flight && now >= c.resend_at && options_.mode != relay_mode::v1_direct) {
            c.in_flight = false;  // no answer: send it again
            c.resend_at = now;
            ++retries_;
          }
          pump(usr, c);
        }
      }
      if (options_.progress_every.count() > 0 && now >= next_progress_) {
        next_progress_ = now + options_.progress_every;
        std::uint64_t delivered = 0;
        for (const auto& m : ledger_)
          delivered += m.delivered > 0 ? 1 : 0;
        std::printf("progress sent=%zu delivered=%llu\n", ledger_.size(), ull(delivered));
        std::fflush(stdout);
      }
      if (draining_ && (finished(now) || now - drain_started_ > options_.drain_timeout)) {
        drained_ = finished(now);
        ended_ = now;
        for (std::uint64_t u = 1; u <= options_.users; ++u) {
          generations_[u] = 0;
          if (users_[u].conn) users_[u].conn->close();
        }
        return;  // no more ticks: io.run() returns once the connections are gone
      }
      tick();
    });
  }

  void go_offline(std::uint64_t u, std::chrono::steady_clock::time_point now) {
    auto& usr = users_[u];
    usr.want_online = false;
    const auto span = (options_.offline_max - options_.offline_min).count();
    usr.back_at =
        now + options_.offline_min +
        std::chrono::milliseconds{
            span > 0 ? static_cast<long long>(pick_(rng_) % static_cast<std::uint64_t>(span)) : 0};
    usr.conn->close();
    usr.want_online = true;  // comes back at back_at
  }

  // Everything answered, everything acknowledged delivered (V1: quiet for 300 ms as well).
  [[nodiscard]] bool finished(std::chrono::steady_clock::time_point now) const {
    for (std::uint64_t u = 1; u <= options_.users; ++u) {
      if (!users_[u].online) return false;
      for (const auto& [k, c] : users_[u].out) {
        if (!c.queue.empty()) return false;
      }
    }
    if (options_.mode == relay_mode::v1_direct)
      return now - last_delivery_ > std::chrono::milliseconds{300};
    for (const auto& m : ledger_) {
      if (m.answered && !m.failed && m.delivered == 0) return false;
    }
    return true;
  }

  net::io_context& io_;
  load_options options_;
  cluster_map cluster_;
  std::vector<tcp::endpoint> endpoints_;
  net::steady_timer tick_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<std::uint64_t> pick_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::vector<user> users_;
  std::unordered_map<std::uint64_t, std::uint64_t> generations_;
  std::uint64_t generation_ = 0;
  std::vector<message> ledger_;
  std::vector<double> latencies_ms_;
  std::uint64_t reordered_ = 0, redelivered_ = 0, retries_ = 0, reconnects_ = 0;
  bool draining_ = false;
  bool drained_ = false;
  std::chrono::steady_clock::time_point started_{}, last_tick_{}, ended_{}, drain_started_{},
      next_progress_{}, last_delivery_{};
};

// Opens `count` connections (users first_user ...), each says hello and then stays idle:
// what a relay pays to hold connections. Sources spread the connections over loopback
// addresses (one address has about 28,000 ephemeral ports). Prints "idle connections=N" once
// all are welcomed (or after `timeout`), then holds them for `hold` and closes them.
class idle_load {
 public:
  struct options {
    std::vector<std::string> cluster;
    std::uint64_t count = 1000;
    std::vector<std::string> sources;  // empty: the kernel picks
    std::size_t in_flight = 1000;      // connects at a time
    std::chrono::milliseconds hold{2000};
    std::chrono::milliseconds timeout{120000};
  };

  idle_load(net::io_context& io, options o)
      : io_(io), o_(std::move(o)), cluster_(o_.cluster), timer_(io) {
    for (std::size_t i = 0; i < cluster_.size(); ++i) {
      const auto [host, port] = cluster_map::split(cluster_.address(i));
      endpoints_.emplace_back(net::ip::make_address(host), port);
    }
    for (const auto& s : o_.sources)
      sources_.push_back(net::ip::make_address(s));
  }

  void start() {
    started_ = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < o_.in_flight; ++i)
      open_next();
    timer_.expires_after(o_.timeout);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) report();
    });
  }

  [[nodiscard]] std::uint64_t welcomed() const noexcept { return welcomed_; }

 private:
  void open_next() {
    if (next_ > o_.count) return;
    const std::uint64_t user = next_++;
    auto c = std::make_shared<client_connection>(
        io_,
        [this](std::string_view p) {
          if (!p.empty() && static_cast<frame_type>(p[0]) == frame_type::welcome) {
            ++welcomed_;
            if (welcomed_ + failed_ == o_.count) report();
            open_next();
          }
        },
        [this] {
          if (reported_) return;
          ++failed_;
          if (welcomed_ + failed_ == o_.count) report();
          open_next();
        });
    std::optional<net::ip::address> source;
    if (!sources_.empty()) source = sources_[user % sources_.size()];
    c->connect(endpoints_[cluster_.home_of(user)], user, source);
    conns_.push_back(std::move(c));
  }

  void report() {
    if (reported_) return;
    reported_ = true;
    timer_.cancel();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    std::printf("idle connections=%llu failed=%llu open_s=%.1f\n",
                static_cast<unsigned long long>(welcomed_),
                static_cast<unsigned long long>(failed_), s);
    std::fflush(stdout);
    timer_.expires_after(o_.hold);
    timer_.async_wait([this](const boost::system::error_code&) {
      for (auto& c : conns_)
        c->close();
    });
  }

  net::io_context& io_;
  options o_;
  cluster_map cluster_;
  net::steady_timer timer_;
  std::vector<tcp::endpoint> endpoints_;
  std::vector<net::ip::address> sources_;
  std::vector<std::shared_ptr<client_connection>> conns_;
  std::uint64_t next_ = 1, welcomed_ = 0, failed_ = 0;
  bool reported_ = false;
  std::chrono::steady_clock::time_point started_{};
};

}  // namespace chat
