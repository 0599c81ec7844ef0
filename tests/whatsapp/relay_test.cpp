// The chat relay's pieces in process: the frame codec, the log store's replay, a relay
// facing bad input (malformed, oversized, out-of-order frames, unknown users, readers that
// never read) while it keeps serving everyone else, and a relay on the Redis store whose Redis
// goes down (it refuses "sent" rather than lose a message).
#include "relay.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "engines/servers.hpp"
#include "log_store.hpp"
#include "protocol.hpp"
#if SCALING_HAVE_HIREDIS
#include "redis_store.hpp"
#endif

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("chat-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(ChatProtocol, FramesRoundTripAndTruncationIsDetected) {
  const std::string f = chat::frame_writer{chat::frame_type::send}
                            .u64(7)
                            .u64(1)
                            .u8(chat::text_lane)
                            .u64(99)
                            .body("hi")
                            .done();
  ASSERT_EQ(chat::read_length(reinterpret_cast<const unsigned char*>(f.data())), f.size() - 4);
  chat::frame_reader r{std::string_view{f}.substr(4)};
  EXPECT_EQ(r.type(), chat::frame_type::send);
  EXPECT_EQ(r.u64(), 7u);
  EXPECT_EQ(r.u64(), 1u);
  EXPECT_EQ(r.u8(), chat::text_lane);
  EXPECT_EQ(r.u64(), 99u);
  EXPECT_EQ(r.body(), "hi");
  EXPECT_TRUE(r.complete());

  chat::frame_reader cut{std::string_view{f}.substr(4, 6)};
  (void)cut.type();
  (void)cut.u64();
  EXPECT_FALSE(cut.ok());
}

TEST(ChatLogStore, ReplayKeepsLiveMessagesInOrderAndIgnoresATornTail) {
  const auto dir = temp_dir("log");
  {
    chat::log_store log{dir};
    EXPECT_TRUE(log.open().live.empty());
    int durable = 0;
    for (std::uint64_t id = 1; id <= 3; ++id) {
      ASSERT_TRUE(log.append(
          {chat::record_kind::store, 2, 1, id, chat::text_lane, id * 10, "m" + std::to_string(id)},
          [&durable](chat::store_result r) { durable += r == chat::store_result::durable; }));
    }
    ASSERT_TRUE(log.append({chat::record_kind::erase, 2, 1, 2, chat::text_lane, 0, {}}, nullptr));
    log.close();
    EXPECT_EQ(durable, 3);
    EXPECT_GE(log.stats().batches, 1u);
  }
  {  // half a record at the end, as a crash in the middle of a write leaves it
    std::ofstream out{dir / "messages.log", std::ios::binary | std::ios::app};
    out.write("\x00\x00\x00\x40garbage", 11);
  }
  chat::log_store log{dir};
  const auto rec = log.open();
  ASSERT_EQ(rec.live.size(), 2u);
  EXPECT_EQ(rec.live[0].msg_id, 1u);
  EXPECT_EQ(rec.live[0].body, "m1");
  EXPECT_EQ(rec.live[1].msg_id, 3u);
  EXPECT_EQ(rec.high_water.at(chat::conversation_key{1, 2, chat::text_lane}), 3u);
  log.close();
  std::filesystem::remove_all(dir);
}

// A blocking client for the tests.
class raw_client {
 public:
  // receive_buffer > 0: a small SO_RCVBUF, set before connecting, so the kernel holds little
  // for a reader that does not read.
  explicit raw_client(const tcp::endpoint& ep, int receive_buffer = 0) : socket_(io_) {
    socket_.open(ep.protocol());
    if (receive_buffer > 0)
      socket_.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    socket_.connect(ep);
  }
  void write(const std::string& frame) { net::write(socket_, net::buffer(frame)); }
  void hello(std::uint64_t user) {
    write(chat::frame_writer{chat::frame_type::hello}.u64(user).done());
  }
  // The next frame's payload; empty at EOF or on a reset.
  std::string read() {
    unsigned char head[4];
    boost::system::error_code ec;
    net::read(socket_, net::buffer(head), ec);
    if (ec) return {};
    std::string payload(chat::read_length(head), '\0');
    net::read(socket_, net::buffer(payload), ec);
    return ec ? std::string{} : payload;
  }
  // Reads until a frame of `type`; returns its payload (empty at EOF).
  std::string read_until(chat::frame_type type) {
    for (;;) {
      std::string p = read();
      if (p.empty() || static_cast<chat::frame_type>(p[0]) == type) return p;
    }
  }
  bool pong(std::uint64_t token) {
    write(chat::frame_writer{chat::frame_type::ping}.u64(token).done());
    const std::string p = read_until(chat::frame_type::pong);
    chat::frame_reader r{p};
    return !p.empty() && r.type() == chat::frame_type::pong && r.u64() == token;
  }
  tcp::socket& socket() { return socket_; }

 private:
  net::io_context io_;
  tcp::socket socket_;
};

chat::error_code error_of(const std::string& payload) {
  chat::frame_reader r{payload};
  EXPECT_EQ(r.type(), chat::frame_type::error);
  return static_cast<chat::error_code>(r.u8());
}

class ChatRelayBadInput : public ::testing::Test {
 protected:
  void start(chat::relay_mode mode, std::size_t max_outbox = 1 << 20,
             std::chrono::milliseconds stall_timeout = std::chrono::minutes{1}) {
    dir_ = temp_dir("relay");
    relay_ = std::make_unique<chat::relay>(chat::relay_options{.mode = mode,
                                                               .cluster = {"127.0.0.1:0"},
                                                               .index = 0,
                                                               .users = 100,
                                                               .data_dir = dir_.string(),
                                                               .max_frame_bytes = 65536,
                                                               .max_outbox_bytes = max_outbox,
                                                               .stall_timeout = stall_timeout});
    relay_->start();
  }
  void TearDown() override {
    if (relay_) relay_->close();
    std::filesystem::remove_all(dir_);
  }
  tcp::endpoint ep() const { return relay_->local_endpoint(); }
  std::filesystem::path dir_;
  std::unique_ptr<chat::relay> relay_;
};

TEST_F(ChatRelayBadInput, OversizedMalformedAndEarlyFramesCloseOnlyThatConnection) {
  start(chat::relay_mode::v1_direct);
  raw_client good{ep()};
  good.hello(1);
  ASSERT_FALSE(good.read_until(chat::frame_type::welcome).empty());

  raw_client huge{ep()};
  huge.write(std::string{"\x7f\xff\xff\xff", 4});
  EXPECT_EQ(error_of(huge.read()), chat::error_code::too_large);
  EXPECT_TRUE(huge.read().empty());  // closed

  raw_client empty{ep()};
  empty.write(std::string{"\0\0\0\0", 4});
  EXPECT_EQ(error_of(empty.read()), chat::error_code::too_large);

  raw_client early{ep()};
  early.write(chat::frame_writer{chat::frame_type::send}.u64(1).u64(1).u8(1).u64(0).done());
  EXPECT_EQ(error_of(early.read()), chat::error_code::protocol_order);
  EXPECT_TRUE(early.read().empty());

  raw_client truncated{ep()};
  truncated.hello(2);
  ASSERT_FALSE(truncated.read_until(chat::frame_type::welcome).empty());
  truncated.write(chat::frame_writer{chat::frame_type::send}.u64(1).u8(3).done());
  EXPECT_EQ(error_of(truncated.read_until(chat::frame_type::error)), chat::error_code::malformed);
  EXPECT_TRUE(truncated.read().empty());

  raw_client unknown_type{ep()};
  unknown_type.hello(3);
  ASSERT_FALSE(unknown_type.read_until(chat::frame_type::welcome).empty());
  unknown_type.write(chat::frame_writer{static_cast<chat::frame_type>(0x7e)}.u64(1).done());
  EXPECT_EQ(error_of(unknown_type.read_until(chat::frame_type::error)),
            chat::error_code::malformed);

  EXPECT_TRUE(good.pong(42));
  const auto s = relay_->stats();
  EXPECT_EQ(s.oversized_frames, 2u);
  EXPECT_EQ(s.bad_frames, 3u);
}

TEST_F(ChatRelayBadInput, UnknownUsersAreRefusedAndUnknownRecipientsAnswered) {
  start(chat::relay_mode::v2_queues);
  for (std::uint64_t user : {std::uint64_t{0}, std::uint64_t{101}}) {
    raw_client c{ep()};
    c.hello(user);
    EXPECT_EQ(error_of(c.read()), chat::error_code::unknown_user);
    EXPECT_TRUE(c.read().empty());
  }
  raw_client good{ep()};
  good.hello(5);
  ASSERT_FALSE(good.read_until(chat::frame_type::welcome).empty());
  good.write(
      chat::frame_writer{chat::frame_type::send}.u64(5000).u64(1).u8(1).u64(0).body("x").done());
  const std::string p = good.read_until(chat::frame_type::sent);
  chat::frame_reader r{p};
  (void)r.type();
  EXPECT_EQ(r.u64(), 5000u);
  EXPECT_EQ(r.u64(), 1u);
  (void)r.u8();
  EXPECT_EQ(static_cast<chat::send_result>(r.u8()), chat::send_result::unknown_recipient);
  EXPECT_TRUE(good.pong(7));
  EXPECT_EQ(relay_->stats().unknown_users, 2u);
}

// Sends `count` bulk messages of `bytes` from `sender` to `to`, one at a time, reading the
// answers; returns how many were accepted (stored or delivered).
int send_many(raw_client& sender, std::uint64_t to, int count, std::size_t bytes) {
  const std::string body(bytes, 'b');
  int accepted = 0;
  for (int i = 1; i <= count; ++i) {
    sender.write(chat::frame_writer{chat::frame_type::send}
                     .u64(to)
                     .u64(static_cast<std::uint64_t>(i))
                     .u8(chat::bulk_lane)
                     .u64(0)
                     .body(body)
                     .done());
    const std::string p = sender.read_until(chat::frame_type::sent);
    chat::frame_reader r{p};
    (void)r.type();
    (void)r.u64();
    (void)r.u64();
    (void)r.u8();
    const auto result = static_cast<chat::send_result>(r.u8());
    if (result == chat::send_result::stored || result == chat::send_result::delivered) ++accepted;
  }
  return accepted;
}

TEST_F(ChatRelayBadInput, V1ClosesAReaderThatNeverReadsAndKeepsServingOthers) {
  start(chat::relay_mode::v1_direct, 256 * 1024);
  raw_client stuck{ep()};
  stuck.hello(1);
  ASSERT_FALSE(stuck.read_until(chat::frame_type::welcome).empty());  // and never again
  raw_client sender{ep()};
  sender.hello(2);
  ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
  // 60 KB messages until the relay gives up on the stuck reader: then user 1 is offline.
  const std::string body(60000, 'b');
  bool offline = false;
  for (std::uint64_t i = 1; i <= 2000 && !offline; ++i) {
    sender.write(chat::frame_writer{chat::frame_type::send}
                     .u64(1)
                     .u64(i)
                     .u8(chat::bulk_lane)
                     .u64(0)
                     .body(body)
                     .done());
    const std::string p = sender.read_until(chat::frame_type::sent);
    chat::frame_reader r{p};
    (void)r.type();
    (void)r.u64();
    (void)r.u64();
    (void)r.u8();
    offline = static_cast<chat::send_result>(r.u8()) == chat::send_result::recipient_offline;
  }
  EXPECT_TRUE(offline);
  EXPECT_EQ(relay_->stats().slow_readers, 1u);
  EXPECT_TRUE(sender.pong(9));
}

TEST_F(ChatRelayBadInput, V3PausesASlowReaderAndResumesInOrderWhenItReads) {
  start(chat::relay_mode::v3_pooled, 64 * 1024);
  raw_client slow{ep(), 4096};
  slow.hello(1);
  ASSERT_FALSE(slow.read_until(chat::frame_type::welcome).empty());
  raw_client sender{ep()};
  sender.hello(2);
  ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
  // The sender is answered for every message while user 1 does not read (backpressure keeps
  // them in the mailbox, not in the relay's memory for the socket).
  const int count = 80;
  EXPECT_EQ(send_many(sender, 1, count, 60000), count);
  EXPECT_GE(relay_->stats().paused, 1u);
  EXPECT_TRUE(sender.pong(11));
  // Now user 1 reads: every message arrives, in order, once it acks what it got.
  std::uint64_t next = 1;
  while (next <= static_cast<std::uint64_t>(count)) {
    const std::string p = slow.read();
    ASSERT_FALSE(p.empty()) << "closed at message " << next;
    chat::frame_reader r{p};
    if (r.type() != chat::frame_type::deliver) continue;
    const std::uint64_t from = r.u64(), id = r.u64();
    if (id < next) continue;  // a resend after the pause
    ASSERT_EQ(id, next);
    ++next;
    slow.write(chat::frame_writer{chat::frame_type::delivered_ack}
                   .u64(from)
                   .u64(id)
                   .u8(chat::bulk_lane)
                   .done());
  }
  EXPECT_EQ(relay_->stats().slow_readers, 0u);
}

TEST_F(ChatRelayBadInput, V3ClosesAReaderPausedLongerThanTheStallTimeout) {
  start(chat::relay_mode::v3_pooled, 64 * 1024, std::chrono::milliseconds{100});
  raw_client stuck{ep(), 4096};
  stuck.hello(1);
  ASSERT_FALSE(stuck.read_until(chat::frame_type::welcome).empty());  // and never again
  raw_client sender{ep()};
  sender.hello(2);
  ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
  // Paused, its messages are stored; each send is one round trip, and the relay checks
  // for stalled readers every 50 ms, so the loop ends soon after the 100 ms stall timeout.
  const std::string body(30000, 'b');
  for (std::uint64_t i = 1; i <= 3000 && relay_->stats().slow_readers == 0; ++i) {
    sender.write(chat::frame_writer{chat::frame_type::send}
                     .u64(1)
                     .u64(i)
                     .u8(chat::bulk_lane)
                     .u64(0)
                     .body(body)
                     .done());
    ASSERT_FALSE(sender.read_until(chat::frame_type::sent).empty());
  }
  EXPECT_GE(relay_->stats().paused, 1u);
  EXPECT_EQ(relay_->stats().slow_readers, 1u);
  EXPECT_TRUE(sender.pong(13));
}

TEST_F(ChatRelayBadInput, V3DeliversStoredTextAheadOfStoredBulk) {
  start(chat::relay_mode::v3_pooled);
  raw_client sender{ep()};
  sender.hello(2);
  ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
  // User 1 is offline: three bulk messages, then three text messages, are stored.
  for (const std::uint8_t lane : {chat::bulk_lane, chat::text_lane}) {
    for (std::uint64_t id = 1; id <= 3; ++id) {
      sender.write(chat::frame_writer{chat::frame_type::send}
                       .u64(1)
                       .u64(id)
                       .u8(lane)
                       .u64(0)
                       .body("m")
                       .done());
      const std::string p = sender.read_until(chat::frame_type::sent);
      chat::frame_reader r{p};
      (void)r.type();
      (void)r.u64();
      (void)r.u64();
      (void)r.u8();
      ASSERT_EQ(static_cast<chat::send_result>(r.u8()), chat::send_result::stored);
    }
  }
  // On connect the text lane flushes first, each lane in its own order (V2, one lane: bulk
  // first, as sent).
  raw_client recipient{ep()};
  recipient.hello(1);
  std::vector<std::pair<std::uint8_t, std::uint64_t>> got;
  while (got.size() < 6) {
    const std::string p = recipient.read_until(chat::frame_type::deliver);
    ASSERT_FALSE(p.empty());
    chat::frame_reader r{p};
    (void)r.type();
    (void)r.u64();
    const std::uint64_t id = r.u64();
    got.emplace_back(r.u8(), id);
  }
  const std::vector<std::pair<std::uint8_t, std::uint64_t>> want{
      {chat::text_lane, 1}, {chat::text_lane, 2}, {chat::text_lane, 3},
      {chat::bulk_lane, 1}, {chat::bulk_lane, 2}, {chat::bulk_lane, 3}};
  EXPECT_EQ(got, want);
}

// Sends one text message and returns the relay's answer (the "sent" frame's result).
chat::send_result send_text(raw_client& sender, std::uint64_t to, std::uint64_t id,
                            const std::string& body) {
  sender.write(chat::frame_writer{chat::frame_type::send}
                   .u64(to)
                   .u64(id)
                   .u8(chat::text_lane)
                   .u64(0)
                   .body(body)
                   .done());
  const std::string p = sender.read_until(chat::frame_type::sent);
  chat::frame_reader r{p};
  (void)r.type();
  (void)r.u64();
  (void)r.u64();
  (void)r.u8();
  return static_cast<chat::send_result>(r.u8());
}

#if SCALING_HAVE_HIREDIS
// A redis-server that syncs its append-only file on every write (it keeps what it acknowledged
// across a stop and a restart), and V2 relays whose offline queues live in it.
class ChatRedisStore : public ::testing::Test {
 protected:
  using redis_relay = chat::basic_relay<chat::redis_store>;

  void SetUp() override {
    SCALING_REQUIRE_SERVER(redis_bin, "redis-server");
    port_ = engines_test::free_port();
    ASSERT_TRUE(
        redis_.start(engines_test::redis_argv(redis_bin, port_, dir_.path(),
                                              {"--appendonly", "yes", "--appendfsync", "always"}),
                     port_));
  }

  // A started relay whose store uses keys under `prefix` and gives up on Redis after `timeout`.
  std::unique_ptr<redis_relay> start_relay(std::string prefix, std::chrono::milliseconds timeout) {
    const chat::redis_store::options store{
        .server = {"127.0.0.1", port_}, .prefix = std::move(prefix), .timeout = timeout};
    const chat::relay_options options{
        .mode = chat::relay_mode::v2_queues, .cluster = {"127.0.0.1:0"}, .index = 0, .users = 100};
    auto relay = std::make_unique<redis_relay>(options, store);
    relay->start();
    return relay;
  }

  engines_test::scratch_dir dir_;
  std::uint16_t port_ = 0;
  engines_test::server redis_;
};

TEST_F(ChatRedisStore, RedisDownGetsRetryNeverSentAndLosesNothing) {
  auto relay = start_relay("test:", std::chrono::milliseconds{500});
  EXPECT_NE(relay->store_description().find("appendfsync always"), std::string::npos)
      << relay->store_description();
  {
    raw_client sender{relay->local_endpoint()};
    sender.hello(2);
    ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
    EXPECT_EQ(send_text(sender, 1, 1, "first"), chat::send_result::stored);

    redis_.stop();  // Redis is gone: the relay must not say "sent"
    EXPECT_EQ(send_text(sender, 1, 2, "second"), chat::send_result::retry);
    EXPECT_EQ(send_text(sender, 1, 2, "second"), chat::send_result::retry);
    EXPECT_TRUE(sender.pong(1));  // and it keeps serving
    auto s = relay->stats();
    EXPECT_EQ(s.stored, 1u);
    EXPECT_GE(s.store_failures, 2u);

    // Redis is back (its append-only file has the first message): the sender's resends get
    // through once the store's reconnect backoff has passed (at most 500 ms).
    ASSERT_TRUE(redis_.restart());
    auto result = chat::send_result::retry;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (result == chat::send_result::retry && std::chrono::steady_clock::now() < deadline)
      result = send_text(sender, 1, 2, "second");
    EXPECT_EQ(result, chat::send_result::stored);
    EXPECT_EQ(relay->stats().stored, 2u);
  }
  // A relay restarted on the same Redis has both, and delivers them in order.
  relay->close();
  relay = start_relay("test:", std::chrono::milliseconds{500});
  EXPECT_EQ(relay->recovered(), 2u);
  raw_client recipient{relay->local_endpoint()};
  recipient.hello(1);
  std::vector<std::pair<std::uint64_t, std::string>> got;
  while (got.size() < 2) {
    const std::string p = recipient.read_until(chat::frame_type::deliver);
    ASSERT_FALSE(p.empty());
    chat::frame_reader r{p};
    (void)r.type();
    EXPECT_EQ(r.u64(), 2u);
    const std::uint64_t id = r.u64();
    (void)r.u8();
    (void)r.u64();
    got.emplace_back(id, std::string{r.body()});
  }
  const std::vector<std::pair<std::uint64_t, std::string>> want{{1, "first"}, {2, "second"}};
  EXPECT_EQ(got, want);
  relay->close();
}

// A delivered-ack that reaches the relay while Redis is down is applied in memory at once and
// sent to Redis again until Redis takes it: a relay restarted later does not deliver the
// message a second time.
TEST_F(ChatRedisStore, AnAckDuringAnOutageIsNotDeliveredAgainAfterARestart) {
  auto relay = start_relay("ack:", std::chrono::milliseconds{200});
  {
    raw_client sender{relay->local_endpoint()};
    sender.hello(2);
    ASSERT_FALSE(sender.read_until(chat::frame_type::welcome).empty());
    EXPECT_EQ(send_text(sender, 1, 1, "only once"), chat::send_result::stored);

    raw_client recipient{relay->local_endpoint()};
    recipient.hello(1);
    ASSERT_FALSE(recipient.read_until(chat::frame_type::deliver).empty());
    redis_.stop();
    recipient.write(chat::frame_writer{chat::frame_type::delivered_ack}
                        .u64(2)
                        .u64(1)
                        .u8(chat::text_lane)
                        .done());
    ASSERT_TRUE(engines_test::eventually([&] { return relay->stats().store_deletes_retried >= 1; },
                                         std::chrono::seconds{10}));
    ASSERT_TRUE(redis_.restart());  // its append-only file still has the message
    scaling::redis::connection admin{{"127.0.0.1", port_}};
    EXPECT_TRUE(engines_test::eventually(
        [&] {
          const auto r = admin.execute({"EXISTS", "ack:m:1"});  // an error while it loads
          return r.is_integer() && r.integer() == 0;
        },
        std::chrono::seconds{10}));
  }
  relay->close();
  relay = start_relay("ack:", std::chrono::milliseconds{200});
  EXPECT_EQ(relay->recovered(), 0u);
  relay->close();
}
#else
TEST(ChatRedisStore, RedisDownGetsRetryNeverSentAndLosesNothing) {
  GTEST_SKIP() << "built without hiredis (Debian: libhiredis-dev): no Redis store";
}
TEST(ChatRedisStore, AnAckDuringAnOutageIsNotDeliveredAgainAfterARestart) {
  GTEST_SKIP() << "built without hiredis (Debian: libhiredis-dev): no Redis store";
}
#endif

}  // namespace
