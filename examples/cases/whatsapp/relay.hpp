// relay.hpp: one relay of a WhatsApp-style chat cluster, on Boost.Asio.
//
// What it is: `chat::relay` accepts client and relay connections speaking protocol.hpp. Each
// user is homed on one relay (cluster_map: a scaling::hash_ring over the relays); a client
// connects to its home relay, and a message for a user homed elsewhere is forwarded to that
// user's home relay, which delivers it. The mode picks WhatsApp's version:
//   V1 direct: delivered if the recipient is online, else failed back to the sender
//     (recipient_offline); nothing stored. Relay links: a new connection per forward.
//   V2 offline queues: the home relay appends the message to its store (the Store policy:
//     log_store by default, redis_store; see store.hpp), and once the store reports it
//     durable, puts it in a scaling::mailbox and answers "sent" (stored or delivered); a
//     store that reports a failure gets the sender "retry" instead, never "sent". The mailbox hands
//     it to the recipient's connection now or when it connects, in order, and deletes it (an erase
//     record to the store) on the recipient's delivered_ack.
//   V3 pooled and prioritised: V2, plus a bounded pool of long-lived links per peer relay that
//     carries every user's traffic, frames written by priority (acks and receipts, then text,
//     then bulk), mailbox lanes (text ahead of bulk), and backpressure: a recipient whose
//     outbox passes max_outbox_bytes is paused (its messages wait in the mailbox) until it
//     reads, and closed if it has not read for stall_timeout.
//
//   chat::relay r{{.mode = chat::relay_mode::v2_queues, .cluster = {"127.0.0.1:7000"},
//                  .index = 0, .users = 1000, .data_dir = "/tmp/relay-0"}};
//   r.start();    // replays the store, listens on cluster[index], one io thread
//   r.close();    // stops, flushes the store
//   chat::basic_relay<chat::redis_store> rr{{...}, {.server = {"127.0.0.1", 6379}}};
//
// Order and dedup (V2/V3): the home relay keeps, per conversation (sender, recipient, lane),
// the highest msg_id accepted and the highest made durable. A send of the next id is
// accepted when nothing of that conversation is still being made durable; a resend of a
// durable id is answered "stored" again without storing; anything else (an id in flight, one
// past a gap) is answered "retry". A store failure takes the accepted mark back, so the
// resend is accepted again. Senders send a conversation's messages one at a time, so the
// mailbox receives them in order.
// Bad input: a frame of length 0 or above max_frame_bytes, a frame that does not parse, a
// frame before hello, an unknown user or a user homed elsewhere: an error frame, then close.
// Template parameter: Store, a chat::message_store (store.hpp); `chat::relay` is the log store's.
// Thread safety: start() and close() from one controlling thread; stats() from any thread.
// All connection state lives on the io thread; the store's thread posts back to it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <scaling/queueing/mailbox.hpp>

#include "log_store.hpp"
#include "protocol.hpp"
#include "store.hpp"

namespace chat {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

struct relay_options {
  relay_mode mode = relay_mode::v2_queues;
  std::vector<std::string> cluster;  // host:port of every relay, in index order
  std::size_t index = 0;             // this relay: listens on cluster[index]
  std::uint64_t users = 1000;        // valid user ids: 1 .. users
  std::string data_dir;              // V2/V3 with the log store: where messages.log lives
  std::size_t max_frame_bytes = 65536;
  std::size_t max_outbox_bytes = 1 << 20;           // per client connection
  std::chrono::milliseconds stall_timeout{5000};    // V3: a paused reader is closed after it
  std::chrono::milliseconds forward_timeout{1000};  // no forward_result: "retry"
  std::size_t pool_size = 2;                        // V3: long-lived links per peer relay
  std::size_t max_pending = 100000;                 // V2/V3: stored messages per recipient
};

// Counters (since start) and gauges (now).
struct relay_stats {
  std::uint64_t accepted = 0;               // connections accepted
  std::uint64_t clients_online = 0;         // gauge
  std::uint64_t messages_in = 0;            // send frames from clients
  std::uint64_t deliveries = 0;             // deliver frames queued to clients
  std::uint64_t stored = 0;                 // messages made durable (V2/V3)
  std::uint64_t acked = 0;                  // delivered_acks that deleted a message
  std::uint64_t failed_back = 0;            // V1: recipient offline
  std::uint64_t retries = 0;                // sends answered retry
  std::uint64_t forwards = 0;               // forward frames sent to peers
  std::uint64_t peer_connects = 0;          // relay-to-relay connections opened
  std::uint64_t peer_links_open = 0;        // gauge: outbound relay links open now
  std::uint64_t peer_links_peak = 0;        // the most outbound relay links open at once
  std::uint64_t bad_frames = 0;             // malformed or out-of-order frames
  std::uint64_t oversized_frames = 0;       // length 0 or above max_frame_bytes
  std::uint64_t unknown_users = 0;          // hello refused
  std::uint64_t slow_readers = 0;           // connections closed for not reading
  std::uint64_t paused = 0;                 // V3: times a reader was paused
  std::uint64_t fsyncs = 0;                 // store batches made durable (log: fdatasyncs)
  std::uint64_t store_failures = 0;         // records the store reported failed (sender: "retry")
  std::uint64_t store_deletes_retried = 0;  // delivered-acks the store had to send again
};

template <message_store Store>
class basic_relay {
 public:
  using store_type = Store;

  // `store_options` configure the V2/V3 store (V1 has none); the log store's directory
  // defaults to options.data_dir.
  // Throws: scaling::invalid_argument for a bad cluster, index, users, sizes, or a V2/V3
  // relay on the log store without data_dir.
  explicit basic_relay(relay_options options, typename Store::options store_options = {})
      : options_(std::move(options)), cluster_(options_.cluster), sweep_(io_) {
    const auto bad = [](std::string_view p, std::string_view rule, auto v) {
      scaling::detail::throw_invalid_argument("chat::relay", p, rule, v);
    };
    if (options_.index >= cluster_.size())
      bad("index", "must be < the cluster size", options_.index);
    if (options_.users == 0) bad("users", "must be >= 1", options_.users);
    if (options_.max_frame_bytes < 64)
      bad("max_frame_bytes", "must be >= 64", options_.max_frame_bytes);
    if (options_.pool_size == 0) bad("pool_size", "must be >= 1", options_.pool_size);
    if (options_.max_pending == 0) bad("max_pending", "must be >= 1", options_.max_pending);
    if (options_.mode != relay_mode::v1_direct) {
      if constexpr (std::same_as<Store, log_store>) {
        if (store_options.dir.empty()) store_options.dir = options_.data_dir;
        if (store_options.dir.empty())
          bad("data_dir", "is required for V2 and V3", options_.data_dir);
      }
      store_.emplace(std::move(store_options));
      mailbox_.emplace(scaling::mailbox_options{
          .lanes = static_cast<std::uint8_t>(options_.mode == relay_mode::v3_pooled ? 2 : 1),
          .max_pending = options_.max_pending,
          .overflow = scaling::overflow_policy::reject});
    }
    links_.resize(cluster_.size());
  }
  basic_relay(const basic_relay&) = delete;
  basic_relay& operator=(const basic_relay&) = delete;
  ~basic_relay() { close(); }

  // Replays the store (V2/V3), binds, and runs the io thread.
  // Throws: what the store's open() throws (std::system_error for the log directory,
  // scaling::redis::error for an unreachable Redis), boost::system::system_error (bind).
  void start() {
    if (store_) {
      auto rec = store_->open();
      for (auto& [conv, id] : rec.high_water)
        marks_[conv] = {id, id};
      for (auto& r : rec.live)
        store_in_mailbox(r.to, r.from, r.msg_id, r.lane, r.sent_ns,
                         std::make_shared<const std::string>(std::move(r.body)));
      recovered_ = rec.live.size();
    }
    const auto [host, port] = cluster_map::split(cluster_.address(options_.index));
    const tcp::endpoint ep{net::ip::make_address(host), port};
    acceptor_.emplace(io_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen(net::socket_base::max_listen_connections);
    endpoint_ = acceptor_->local_endpoint();
    accept();
    sweep();
    thread_ = std::thread{[this] { io_.run(); }};
  }

  // Stops accepting, closes every connection, joins the io thread, flushes the store.
  // Idempotent.
  void close() {
    if (!thread_.joinable()) {
      if (store_) store_->close();
      return;
    }
    net::post(io_, [this] {
      closing_ = true;
      if (acceptor_) acceptor_->close();
      sweep_.cancel();
      auto all = sessions_;
      for (auto& s : all)
        s->close();
      io_.stop();
    });
    thread_.join();
    if (store_) store_->close();
  }

  [[nodiscard]] tcp::endpoint local_endpoint() const { return endpoint_; }
  [[nodiscard]] std::size_t recovered() const noexcept { return recovered_; }
  [[nodiscard]] const relay_options& options() const noexcept { return options_; }
  // The store's one-line description ("" for V1).
  [[nodiscard]] std::string store_description() const {
    return store_ ? std::string{store_->describe()} : std::string{};
  }

  [[nodiscard]] relay_stats stats() const {
    relay_stats s;
    s.accepted = counters_.accepted.load();
    s.clients_online = counters_.clients_online.load();
    s.messages_in = counters_.messages_in.load();
    s.deliveries = counters_.deliveries.load();
    s.stored = counters_.stored.load();
    s.acked = counters_.acked.load();
    s.failed_back = counters_.failed_back.load();
    s.retries = counters_.retries.load();
    s.forwards = counters_.forwards.load();
    s.peer_connects = counters_.peer_connects.load();
    s.peer_links_open = counters_.peer_links_open.load();
    s.peer_links_peak = counters_.peer_links_peak.load();
    s.bad_frames = counters_.bad_frames.load();
    s.oversized_frames = counters_.oversized_frames.load();
    s.unknown_users = counters_.unknown_users.load();
    s.slow_readers = counters_.slow_readers.load();
    s.paused = counters_.paused.load();
    if (store_) {
      const store_stats st = store_->stats();
      s.fsyncs = st.batches;
      s.store_failures = st.failures;
      s.store_deletes_retried = st.deletes_retried;
    }
    return s;
  }

 private:
  using clock = std::chrono::steady_clock;
  using reply_fn = std::function<void(send_result)>;

  enum class role : std::uint8_t { unknown, client, peer_in, peer_out };
  // Outbox priorities: control frames first, then text, then bulk (V3 only; V1/V2 use one).
  static constexpr std::size_t control_priority = 2;

  struct stored_message {
    std::uint64_t from = 0;
    std::uint64_t msg_id = 0;
    std::uint64_t sent_ns = 0;
    std::uint8_t lane = 0;
    std::shared_ptr<const std::string> body;
  };
  using mailbox_type = scaling::mailbox<std::uint64_t, stored_message>;

  // Per conversation: the highest msg_id accepted (in the log, maybe not yet durable) and the
  // highest durable one.
  struct conversation_marks {
    std::uint64_t accepted = 0;
    std::uint64_t durable = 0;
  };

  struct pending_key {
    std::uint64_t from, to, msg_id;
    std::uint8_t lane;
    friend bool operator==(const pending_key&, const pending_key&) = default;
  };
  struct pending_key_hash {
    std::size_t operator()(const pending_key& k) const noexcept {
      return message_key_hash{}({k.from ^ (k.to * 0x9e3779b97f4a7c15ull), k.msg_id, k.lane});
    }
  };

  struct counters {
    std::atomic<std::uint64_t> accepted{0}, clients_online{0}, messages_in{0}, deliveries{0},
        stored{0}, acked{0}, failed_back{0}, retries{0}, forwards{0}, peer_connects{0},
        peer_links_open{0}, peer_links_peak{0}, bad_frames{0}, oversized_frames{0},
        unknown_users{0}, slow_readers{0}, paused{0};
  };

  class session : public std::enable_shared_from_this<session> {
   public:
    session(basic_relay& r, tcp::socket socket, role ro)
        : role_(ro), relay_(r), socket_(std::move(socket)) {}

    void start() {
      connected_ = true;
      read_header();
    }

    // Outbound relay link: connects, introduces itself, then writes what was queued.
    void connect(const tcp::endpoint& ep) {
      socket_.async_connect(ep,
                            [self = this->shared_from_this()](const boost::system::error_code& ec) {
                              if (ec) return self->close();
                              boost::system::error_code ignored;
                              self->socket_.set_option(tcp::no_delay(true), ignored);
                              self->connected_ = true;
                              self->read_header();
                              self->write_more();
                            });
    }

    // Queues a frame. Returns false when the connection is closed, or closed by this frame
    // for passing the outbox limit (V1/V2 clients).
    bool send(std::string frame, std::size_t priority) {
      if (closed_) return false;
      out_bytes_ += frame.size();
      queues_[priority].push_back(std::move(frame));
      write_more();
      return !closed_;
    }

    // Sends an error frame, then closes once it is written.
    void fail(error_code code, std::string_view text) {
      if (closed_ || closing_) return;
      (void)send(
          frame_writer{frame_type::error}.u8(static_cast<std::uint8_t>(code)).body(text).done(),
          control_priority);
      closing_ = true;
      if (!writing_) close();
    }

    // Closes once everything queued is written (a one-shot link with nothing to wait for).
    void close_after_write() {
      closing_ = true;
      if (connected_ && !writing_) write_more();
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      if (abort_on_close_) socket_.set_option(net::socket_base::linger(true, 0), ignored);
      socket_.close(ignored);
      relay_.on_closed(*this);
    }

    [[nodiscard]] std::size_t out_bytes() const noexcept { return out_bytes_; }
    [[nodiscard]] bool closed() const noexcept { return closed_; }

    role role_;
    std::uint64_t user_ = 0;
    std::size_t peer_ = 0;
    bool one_shot_ = false;        // V1/V2 outbound link: closed after its one answer
    bool abort_on_close_ = false;  // reset instead of FIN (no TIME_WAIT for one-shot links)
    bool paused_ = false;          // V3: delivery paused for a slow reader
    clock::time_point paused_since_{};
    std::unordered_set<std::uint64_t> written_;  // mailbox seqs written on this connection

   private:
    void read_header() {
      net::async_read(
          socket_, net::buffer(head_),
          [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->closed_) return self->close();
            const std::uint32_t n = read_length(self->head_.data());
            if (n == 0 || n > self->relay_.options_.max_frame_bytes) {
              ++self->relay_.counters_.oversized_frames;
              return self->fail(error_code::too_large, "frame length out of range");
            }
            self->payload_.resize(n);
            self->read_payload();
          });
    }

    void read_payload() {
      net::async_read(
          socket_, net::buffer(payload_),
          [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->closed_) return self->close();
            self->relay_.on_frame(*self, self->payload_);
            // A large frame's buffer is not kept for an idle connection.
            if (self->payload_.capacity() > 4096) std::string{}.swap(self->payload_);
            if (!self->closed_ && !self->closing_) self->read_header();
          });
    }

    void write_more() {
      if (writing_ || !connected_ || closed_) return;
      // Everything queued goes in one gathered write, highest priority first.
      for (std::size_t p = queues_.size(); p-- > 0;) {
        for (auto& f : queues_[p])
          writing_frames_.push_back(std::move(f));
        queues_[p].clear();
      }
      if (writing_frames_.empty()) {
        if (closing_) close();
        return;
      }
      buffers_.clear();
      for (const auto& f : writing_frames_)
        buffers_.emplace_back(net::buffer(f));
      writing_ = true;
      net::async_write(
          socket_, buffers_,
          [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            self->writing_ = false;
            self->writing_frames_.clear();
            self->out_bytes_ -= n;
            if (ec) return self->close();
            self->relay_.on_drained(*self);
            self->write_more();
          });
    }

    basic_relay& relay_;
    tcp::socket socket_;
    std::array<unsigned char, length_prefix_bytes> head_{};
    std::string payload_;
    // Vectors, not deques: an idle connection's empty vectors allocate nothing.
    std::array<std::vector<std::string>, 3> queues_;
    std::vector<std::string> writing_frames_;
    std::vector<net::const_buffer> buffers_;
    std::size_t out_bytes_ = 0;
    bool connected_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool closed_ = false;
  };

  // -- connections --------------------------------------------------------------------------

  void accept() {
    acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (closing_) return;
      if (!ec) {
        ++counters_.accepted;
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto s = std::make_shared<session>(*this, std::move(socket), role::unknown);
        sessions_.insert(s);
        s->start();
      }
      accept();
    });
  }

  void on_closed(session& s) {
    if (s.role_ == role::client) {
      auto it = users_.find(s.user_);
      if (it != users_.end() && it->second.get() == &s) {
        users_.erase(it);
        --counters_.clients_online;
        if (mailbox_) mailbox_->disconnect(s.user_);
      }
    } else if (s.role_ == role::peer_out) {
      --counters_.peer_links_open;
      for (auto& link : links_[s.peer_]) {
        if (link.get() == &s) link.reset();
      }
    }
    // Erased last: this may drop the final reference to `s`.
    auto self = s.shared_from_this();
    sessions_.erase(self);
  }

  // A write finished: V3 resumes a paused reader once its outbox has drained to a quarter.
  void on_drained(session& s) {
    if (!s.paused_ || s.out_bytes() > options_.max_outbox_bytes / 4) return;
    s.paused_ = false;
    attach_mailbox(s);
  }

  // -- frames -------------------------------------------------------------------------------

  void on_frame(session& s, std::string_view payload) {
    frame_reader r{payload};
    const frame_type type = r.type();
    if (s.role_ == role::unknown) {
      if (type == frame_type::hello) return on_hello(s, r);
      if (type == frame_type::peer_hello) {
        const std::uint32_t index = r.u32();
        if (!r.complete() || index >= cluster_.size()) return bad_frame(s);
        s.role_ = role::peer_in;
        s.peer_ = index;
        return;
      }
      if (type == frame_type::ping) return on_ping(s, r);
      ++counters_.bad_frames;
      return s.fail(error_code::protocol_order, "hello first");
    }
    if (s.role_ == role::client) {
      switch (type) {
        case frame_type::send:
          return on_send(s, r);
        case frame_type::delivered_ack:
          return on_ack(s, r, receipt_kind::delivered);
        case frame_type::read_ack:
          return on_ack(s, r, receipt_kind::read);
        case frame_type::ping:
          return on_ping(s, r);
        default:
          return bad_frame(s);
      }
    }
    switch (type) {  // a relay link, either direction
      case frame_type::forward:
        return on_forward(s, r);
      case frame_type::forward_result:
        return on_forward_result(s, r);
      case frame_type::receipt_forward: {
        const std::uint64_t sender = r.u64(), recipient = r.u64(), id = r.u64();
        const std::uint8_t lane = r.u8(), kind = r.u8();
        if (!r.complete()) return bad_frame(s);
        return deliver_receipt(sender, recipient, id, lane, kind);
      }
      case frame_type::ping:
        return on_ping(s, r);
      default:
        return bad_frame(s);
    }
  }

  void bad_frame(session& s) {
    ++counters_.bad_frames;
    s.fail(error_code::malformed, "malformed frame");
  }

  void on_ping(session& s, frame_reader& r) {
    const std::uint64_t token = r.u64();
    if (!r.complete()) return bad_frame(s);
    (void)s.send(frame_writer{frame_type::pong}.u64(token).done(), control_priority);
  }

  void on_hello(session& s, frame_reader& r) {
    const std::uint64_t user = r.u64();
    if (!r.complete()) return bad_frame(s);
    if (user == 0 || user > options_.users) {
      ++counters_.unknown_users;
      return s.fail(error_code::unknown_user, "unknown user");
    }
    if (cluster_.home_of(user) != options_.index) {
      ++counters_.unknown_users;
      return s.fail(error_code::wrong_relay, "not this user's home relay");
    }
    s.role_ = role::client;
    s.user_ = user;
    auto self = s.shared_from_this();
    auto [it, fresh] = users_.try_emplace(user, self);
    if (!fresh) {  // a newer connection of the same user replaces the old one
      auto old = it->second;
      it->second = self;
      old->role_ = role::unknown;
      if (mailbox_) mailbox_->disconnect(user);
      old->close();
    } else {
      ++counters_.clients_online;
    }
    (void)s.send(frame_writer{frame_type::welcome}
                     .u64(user)
                     .u8(static_cast<std::uint8_t>(options_.mode))
                     .u32(static_cast<std::uint32_t>(options_.index))
                     .done(),
                 control_priority);
    if (mailbox_) attach_mailbox(s);
  }

  void on_send(session& s, frame_reader& r) {
    const std::uint64_t to = r.u64(), id = r.u64();
    const std::uint8_t lane = r.u8();
    const std::uint64_t sent_ns = r.u64();
    const std::string_view body = r.body();
    if (!r.ok() || lane > text_lane || id == 0) return bad_frame(s);
    ++counters_.messages_in;
    const std::uint64_t from = s.user_;
    reply_fn reply = [this, from, to, id, lane](send_result result) {
      answer_sender(from, to, id, lane, result);
    };
    if (to == 0 || to > options_.users) return reply(send_result::unknown_recipient);
    const std::size_t home = cluster_.home_of(to);
    if (home == options_.index) {
      return accept_message(from, to, id, lane, sent_ns, std::make_shared<const std::string>(body),
                            std::move(reply));
    }
    forward(home, from, to, id, lane, sent_ns, body);
  }

  void answer_sender(std::uint64_t from, std::uint64_t to, std::uint64_t id, std::uint8_t lane,
                     send_result result) {
    if (result == send_result::retry) ++counters_.retries;
    if (result == send_result::recipient_offline) ++counters_.failed_back;
    auto it = users_.find(from);
    if (it == users_.end()) return;  // the sender resends on reconnect
    (void)it->second->send(frame_writer{frame_type::sent}
                               .u64(to)
                               .u64(id)
                               .u8(lane)
                               .u8(static_cast<std::uint8_t>(result))
                               .done(),
                           control_priority);
  }

  void on_ack(session& s, frame_reader& r, receipt_kind kind) {
    const std::uint64_t from = r.u64(), id = r.u64();
    const std::uint8_t lane = r.u8();
    if (!r.complete()) return bad_frame(s);
    if (kind == receipt_kind::delivered && mailbox_) {
      auto box = index_.find(s.user_);
      if (box != index_.end()) {
        auto m = box->second.find(message_key{from, id, lane});
        if (m != box->second.end()) {
          const std::uint64_t seq = m->second;
          box->second.erase(m);
          if (box->second.empty()) index_.erase(box);
          if (mailbox_->ack(s.user_, seq)) {
            ++counters_.acked;
            s.written_.erase(seq);
            (void)store_->append({record_kind::erase, s.user_, from, id, lane, 0, {}}, nullptr);
          }
        }
      }
    }
    if (from == 0 || from > options_.users) return;
    const std::size_t home = cluster_.home_of(from);
    if (home == options_.index)
      return deliver_receipt(from, s.user_, id, lane, static_cast<std::uint8_t>(kind));
    send_to_peer(home,
                 frame_writer{frame_type::receipt_forward}
                     .u64(from)
                     .u64(s.user_)
                     .u64(id)
                     .u8(lane)
                     .u8(static_cast<std::uint8_t>(kind))
                     .done(),
                 control_priority, /*expects_answer=*/false);
  }

  void deliver_receipt(std::uint64_t sender, std::uint64_t recipient, std::uint64_t id,
                       std::uint8_t lane, std::uint8_t kind) {
    auto it = users_.find(sender);
    if (it == users_.end()) return;  // receipts are best effort
    (void)it->second->send(
        frame_writer{frame_type::receipt}.u64(recipient).u64(id).u8(lane).u8(kind).done(),
        control_priority);
  }

  // -- relay links --------------------------------------------------------------------------

  void forward(std::size_t home, std::uint64_t from, std::uint64_t to, std::uint64_t id,
               std::uint8_t lane, std::uint64_t sent_ns, std::string_view body) {
    pending_[pending_key{from, to, id, lane}] = clock::now() + options_.forward_timeout;
    ++counters_.forwards;
    send_to_peer(home,
                 frame_writer{frame_type::forward}
                     .u64(from)
                     .u64(to)
                     .u64(id)
                     .u8(lane)
                     .u64(sent_ns)
                     .body(body)
                     .done(),
                 priority_of(lane), /*expects_answer=*/true);
  }

  [[nodiscard]] std::size_t priority_of(std::uint8_t lane) const {
    if (options_.mode != relay_mode::v3_pooled) return 1;
    return lane == text_lane ? 1 : 0;
  }

  // V3: a pooled link (round robin); V1/V2: a new connection for this frame alone.
  void send_to_peer(std::size_t peer, std::string frame, std::size_t priority,
                    bool expects_answer) {
    std::shared_ptr<session> link;
    if (options_.mode == relay_mode::v3_pooled) {
      auto& pool = links_[peer];
      if (pool.empty()) pool.resize(options_.pool_size);
      auto& slot = pool[next_link_++ % pool.size()];
      if (!slot || slot->closed()) slot = open_link(peer);
      link = slot;
    } else {
      link = open_link(peer);
      link->one_shot_ = true;
      link->abort_on_close_ = expects_answer;
    }
    (void)link->send(std::move(frame), priority);
    if (link->one_shot_ && !expects_answer) link->close_after_write();
  }

  std::shared_ptr<session> open_link(std::size_t peer) {
    auto s = std::make_shared<session>(*this, tcp::socket{io_}, role::peer_out);
    s->peer_ = peer;
    sessions_.insert(s);
    ++counters_.peer_connects;
    const std::uint64_t open = ++counters_.peer_links_open;
    if (open > counters_.peer_links_peak.load()) counters_.peer_links_peak.store(open);
    (void)s->send(
        frame_writer{frame_type::peer_hello}.u32(static_cast<std::uint32_t>(options_.index)).done(),
        control_priority);
    const auto [host, port] = cluster_map::split(cluster_.address(peer));
    s->connect(tcp::endpoint{net::ip::make_address(host), port});
    return s;
  }

  void on_forward(session& s, frame_reader& r) {
    const std::uint64_t from = r.u64(), to = r.u64(), id = r.u64();
    const std::uint8_t lane = r.u8();
    const std::uint64_t sent_ns = r.u64();
    const std::string_view body = r.body();
    if (!r.ok() || lane > text_lane || to == 0 || to > options_.users) return bad_frame(s);
    std::weak_ptr<session> link = s.shared_from_this();
    accept_message(from, to, id, lane, sent_ns, std::make_shared<const std::string>(body),
                   [link, from, to, id, lane](send_result result) {
                     if (auto l = link.lock()) {
                       (void)l->send(frame_writer{frame_type::forward_result}
                                         .u64(from)
                                         .u64(to)
                                         .u64(id)
                                         .u8(lane)
                                         .u8(static_cast<std::uint8_t>(result))
                                         .done(),
                                     control_priority);
                     }
                   });
  }

  void on_forward_result(session& s, frame_reader& r) {
    const std::uint64_t from = r.u64(), to = r.u64(), id = r.u64();
    const std::uint8_t lane = r.u8(), result = r.u8();
    if (!r.complete() || result > static_cast<std::uint8_t>(send_result::retry))
      return bad_frame(s);
    pending_.erase(pending_key{from, to, id, lane});
    if (s.one_shot_) s.close();
    answer_sender(from, to, id, lane, static_cast<send_result>(result));
  }

  // -- the recipient's home relay -----------------------------------------------------------

  void accept_message(std::uint64_t from, std::uint64_t to, std::uint64_t id, std::uint8_t lane,
                      std::uint64_t sent_ns, std::shared_ptr<const std::string> body,
                      reply_fn reply) {
    if (!mailbox_) {  // V1: now or never
      auto it = users_.find(to);
      if (it == users_.end()) return reply(send_result::recipient_offline);
      ++counters_.deliveries;
      session& c = *it->second;
      bool queued = c.send(frame_writer{frame_type::deliver}
                               .u64(from)
                               .u64(id)
                               .u8(lane)
                               .u64(sent_ns)
                               .body(*body)
                               .done(),
                           1);
      if (queued && c.out_bytes() > options_.max_outbox_bytes) {  // never reads: let it go
        ++counters_.slow_readers;
        c.close();
        queued = false;
      }
      return reply(queued ? send_result::delivered : send_result::recipient_offline);
    }
    auto& marks = marks_[conversation_key{from, to, lane}];
    if (id <= marks.durable) return reply(send_result::stored);  // a resend: stored already
    auto& inflight = inflight_[to];
    if (id != marks.accepted + 1 || marks.accepted != marks.durable ||
        mailbox_->pending(to) + inflight >= options_.max_pending)
      return reply(send_result::retry);  // in flight, past a gap, or the recipient is full
    marks.accepted = id;
    ++inflight;
    store_record rec{record_kind::store, to, from, id, lane, sent_ns, std::string{*body}};
    auto done = [this, from, to, id, lane, sent_ns, body,
                 reply = std::move(reply)](store_result result) mutable {
      net::post(io_, [this, from, to, id, lane, sent_ns, result, body = std::move(body),
                      reply = std::move(reply)] {
        auto& m = marks_[conversation_key{from, to, lane}];
        if (--inflight_[to] == 0) inflight_.erase(to);
        if (result == store_result::failed) {  // not acknowledged: the sender resends it
          if (m.accepted == id) m.accepted = id - 1;
          return reply(send_result::retry);
        }
        if (id > m.durable) m.durable = id;
        ++counters_.stored;
        const bool online = store_in_mailbox(to, from, id, lane, sent_ns, body);
        reply(online ? send_result::delivered : send_result::stored);
      });
    };
    if (!store_->append(rec, std::move(done))) {  // closing: never acknowledged
      marks.accepted = id - 1;
      --inflight;
    }
  }

  // Returns true if the recipient is online (the message was handed to its connection).
  bool store_in_mailbox(std::uint64_t to, std::uint64_t from, std::uint64_t id, std::uint8_t lane,
                        std::uint64_t sent_ns, std::shared_ptr<const std::string> body) {
    const std::uint8_t box_lane = options_.mode == relay_mode::v3_pooled ? lane : 0;
    return mailbox_->send(to, stored_message{from, id, sent_ns, lane, std::move(body)}, box_lane) ==
           scaling::send_status::delivered;
  }

  // Connects `s`'s user to the mailbox: stored messages flow to it, highest lane first.
  void attach_mailbox(session& s) {
    std::weak_ptr<session> weak = s.shared_from_this();
    const std::uint64_t user = s.user_;
    mailbox_->connect(user, [this, weak, user](const scaling::envelope<stored_message>& e) {
      auto c = weak.lock();
      if (!c || c->closed() || c->paused_) return;
      index_[user][message_key{e.body.from, e.body.msg_id, e.body.lane}] = e.seq;
      if (!c->written_.insert(e.seq).second) return;  // already on this connection
      ++counters_.deliveries;
      const bool queued = c->send(frame_writer{frame_type::deliver}
                                      .u64(e.body.from)
                                      .u64(e.body.msg_id)
                                      .u8(e.body.lane)
                                      .u64(e.body.sent_ns)
                                      .body(*e.body.body)
                                      .done(),
                                  priority_of(e.body.lane));
      if (!queued || c->out_bytes() <= options_.max_outbox_bytes) return;
      if (options_.mode == relay_mode::v3_pooled) {  // backpressure: stop, keep it stored
        c->paused_ = true;
        c->paused_since_ = clock::now();
        ++counters_.paused;
        mailbox_->disconnect(user);
      } else {
        ++counters_.slow_readers;
        c->close();
      }
    });
  }

  // Every 50 ms: forwards with no answer get "retry"; V3 readers paused too long are closed.
  void sweep() {
    sweep_.expires_after(std::chrono::milliseconds{50});
    sweep_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || closing_) return;
      const auto now = clock::now();
      std::vector<pending_key> expired;
      for (const auto& [k, deadline] : pending_) {
        if (deadline <= now) expired.push_back(k);
      }
      for (const auto& k : expired) {
        pending_.erase(k);
        answer_sender(k.from, k.to, k.msg_id, k.lane, send_result::retry);
      }
      std::vector<std::shared_ptr<session>> stalled;
      for (const auto& [user, s] : users_) {
        (void)user;
        if (s->paused_ && now - s->paused_since_ > options_.stall_timeout) stalled.push_back(s);
      }
      for (auto& s : stalled) {
        ++counters_.slow_readers;
        s->close();
      }
      sweep();
    });
  }

  relay_options options_;
  cluster_map cluster_;
  net::io_context io_;
  std::optional<tcp::acceptor> acceptor_;
  net::steady_timer sweep_;
  tcp::endpoint endpoint_;
  std::thread thread_;
  bool closing_ = false;
  std::optional<mailbox_type> mailbox_;
  std::optional<Store> store_;  // after io_: destroyed first, its callbacks post to io_
  std::size_t recovered_ = 0;
  std::unordered_set<std::shared_ptr<session>> sessions_;
  std::unordered_map<std::uint64_t, std::shared_ptr<session>> users_;
  std::unordered_map<conversation_key, conversation_marks, conversation_key_hash> marks_;
  // Per recipient: message -> mailbox seq, recorded when handed out, for delivered_ack.
  std::unordered_map<std::uint64_t,
                     std::unordered_map<message_key, std::uint64_t, message_key_hash>>
      index_;
  std::unordered_map<std::uint64_t, std::size_t> inflight_;  // accepted, not yet durable
  std::unordered_map<pending_key, clock::time_point, pending_key_hash> pending_;
  std::vector<std::vector<std::shared_ptr<session>>> links_;
  std::size_t next_link_ = 0;
  counters counters_;
};

// The relay on the embedded log (the default store).
using relay = basic_relay<log_store>;

}  // namespace chat
