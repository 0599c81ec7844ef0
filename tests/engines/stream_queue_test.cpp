// The message_broker conformance suite, run on the in-process work_queue and on the Redis
// Streams stream_queue; then the stream_queue's own cases (consumer crash, dead-lettering on
// timeouts, conservation checked against Redis's own counts).
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/queueing/message_broker.hpp>
#include <scaling/queueing/work_queue.hpp>
#include <scaling/redis/stream_queue.hpp>

#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
namespace redis = scaling::redis;

static_assert(scaling::message_broker<redis::stream_queue>);
static_assert(scaling::message_broker<scaling::work_queue<std::string>>);

constexpr auto visibility = 200ms;
constexpr std::uint32_t max_receives = 3;

// One redis-server for the whole binary, started on first use, killed at exit.
struct shared_redis {
  engines_test::scratch_dir dir;
  engines_test::server server;
  std::uint16_t port = 0;
  bool up = false;
};
shared_redis& redis_server() {
  static shared_redis s;
  return s;
}
bool start_shared_redis() {
  auto& s = redis_server();
  if (s.up) return true;
  const std::string binary = engines_test::find_program("redis-server");
  if (binary.empty()) return false;
  s.port = engines_test::free_port();
  s.up = s.server.start(engines_test::redis_argv(binary, s.port, s.dir.path()), s.port);
  return s.up;
}

std::string unique_stream() {
  static int n = 0;
  return "q" + std::to_string(++n);
}

struct in_process {
  using broker = scaling::work_queue<std::string>;
  static std::string skip_reason() { return {}; }
  static std::unique_ptr<broker> make() {
    return std::make_unique<broker>(scaling::work_queue_options{.visibility_timeout = visibility,
                                                                .max_receives = max_receives});
  }
  static scaling::consumer_id consumer(int i) { return static_cast<scaling::consumer_id>(i); }
};

struct on_redis {
  using broker = redis::stream_queue;
  static std::string skip_reason() {
    return start_shared_redis() ? std::string{}
                                : std::string{"redis-server is not installed (scripts/deps)"};
  }
  static std::unique_ptr<broker> make() {
    return std::make_unique<broker>(redis::endpoint{"127.0.0.1", redis_server().port},
                                    redis::stream_queue_options{.stream = unique_stream(),
                                                                .visibility_timeout = visibility,
                                                                .max_receives = max_receives,
                                                                .poll_slice = 20ms});
  }
  static std::string consumer(int i) { return "consumer-" + std::to_string(i); }
};

template <class Backend>
class MessageBroker : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = Backend::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    q_ = Backend::make();
  }
  typename Backend::broker& q() { return *q_; }
  static auto consumer(int i) { return Backend::consumer(i); }

  std::unique_ptr<typename Backend::broker> q_;
};

using backends = ::testing::Types<in_process, on_redis>;
TYPED_TEST_SUITE(MessageBroker, backends);

TYPED_TEST(MessageBroker, DeliversEachPublishedMessageOnceAndAckRemovesIt) {
  auto& q = this->q();
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const auto id = q.publish("m" + std::to_string(i));
    ASSERT_TRUE(id.has_value());
    ids.insert(std::string{[&] {
      if constexpr (std::is_same_v<TypeParam, in_process>) {
        return std::to_string(*id);
      } else {
        return *id;
      }
    }()});
  }
  auto got = q.receive(this->consumer(1), 10);
  ASSERT_EQ(got.size(), 3U);
  std::set<std::string> bodies;
  for (auto& d : got) {
    bodies.insert(d.body);
    EXPECT_EQ(d.receipt.delivery_count, 1U);
  }
  EXPECT_EQ(bodies, (std::set<std::string>{"m0", "m1", "m2"}));
  EXPECT_TRUE(q.receive(this->consumer(2), 10).empty());  // invisible while in flight
  for (auto& d : got)
    EXPECT_EQ(q.ack(d.receipt), scaling::receipt_status::ok);
  EXPECT_EQ(q.ack(got[0].receipt), scaling::receipt_status::unknown);
  EXPECT_TRUE(q.receive(this->consumer(1), 10).empty());
  const auto s = q.stats();
  EXPECT_EQ(s.published, 3U);
  EXPECT_EQ(s.acked, 3U);
  EXPECT_EQ(s.in_flight, 0U);
  EXPECT_EQ(s.ready, 0U);
}

TYPED_TEST(MessageBroker, NackRequeueDeliversTheSameMessageAgainWithItsCountRaised) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("job"));
  auto first = q.receive(this->consumer(1), 1);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_EQ(q.nack(first[0].receipt, scaling::nack_action::requeue, 0ms),
            scaling::receipt_status::ok);
  auto again = q.receive(this->consumer(2), 1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].body, "job");
  EXPECT_EQ(again[0].receipt.id, first[0].receipt.id);
  EXPECT_EQ(again[0].receipt.delivery_count, 2U);
  EXPECT_EQ(q.ack(again[0].receipt), scaling::receipt_status::ok);
}

TYPED_TEST(MessageBroker, AnUnackedDeliveryComesBackAfterTheVisibilityTimeout) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("work"));
  auto crashed = q.receive(this->consumer(1), 1);  // consumer 1 never acks
  ASSERT_EQ(crashed.size(), 1U);
  auto later = q.receive_for(this->consumer(2), 1, 5s);
  ASSERT_TRUE(later.has_value()) << scaling::to_string(later.status());
  ASSERT_EQ(later->size(), 1U);
  EXPECT_EQ((*later)[0].receipt.id, crashed[0].receipt.id);
  EXPECT_EQ((*later)[0].receipt.delivery_count, 2U);
  EXPECT_EQ(q.ack(crashed[0].receipt), scaling::receipt_status::stale);
  EXPECT_EQ(q.ack((*later)[0].receipt), scaling::receipt_status::ok);
  EXPECT_GE(q.stats().redelivered, 1U);
}

TYPED_TEST(MessageBroker, AMessageNackedMaxReceivesTimesIsDeadLettered) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("poison"));
  for (std::uint32_t i = 1; i <= max_receives; ++i) {
    auto got = q.receive(this->consumer(1), 1);
    ASSERT_EQ(got.size(), 1U) << "delivery " << i;
    EXPECT_EQ(got[0].receipt.delivery_count, i);
    EXPECT_EQ(q.nack(got[0].receipt, scaling::nack_action::requeue, 0ms),
              scaling::receipt_status::ok);
  }
  EXPECT_TRUE(q.receive(this->consumer(1), 1).empty());
  const auto s = q.stats();
  EXPECT_EQ(s.dead_lettered, 1U);
  EXPECT_EQ(s.dead, 1U);
  EXPECT_EQ(s.published, s.acked + s.dead + s.ready + s.in_flight + s.delayed);
}

TYPED_TEST(MessageBroker, NackDeadLetterRejectsAtOnce) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("bad"));
  auto got = q.receive(this->consumer(1), 1);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(q.nack(got[0].receipt, scaling::nack_action::dead_letter, 0ms),
            scaling::receipt_status::ok);
  EXPECT_EQ(q.stats().dead, 1U);
  EXPECT_TRUE(q.receive(this->consumer(1), 1).empty());
}

TYPED_TEST(MessageBroker, NackWithADelayHidesTheMessageUntilTheDelayPasses) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("retry"));
  auto got = q.receive(this->consumer(1), 1);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(q.nack(got[0].receipt, scaling::nack_action::requeue_after, 10min),
            scaling::receipt_status::ok);
  EXPECT_TRUE(q.receive(this->consumer(1), 1).empty());
  EXPECT_EQ(q.stats().delayed, 1U);
  ASSERT_TRUE(q.publish("short", {.delay = 50ms}));
  auto later = q.receive_for(this->consumer(2), 1, 5s);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ((*later)[0].body, "short");
  EXPECT_EQ((*later)[0].receipt.delivery_count, 1U);
}

TYPED_TEST(MessageBroker, CloseRefusesPublishesAndStillDrains) {
  auto& q = this->q();
  ASSERT_TRUE(q.publish("left"));
  q.close();
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.publish("late").has_value());
  auto got = q.receive(this->consumer(1), 10);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(q.ack(got[0].receipt), scaling::receipt_status::ok);
}

TYPED_TEST(MessageBroker, PublishedEqualsAckedPlusDeadPlusOutstanding) {
  auto& q = this->q();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(q.publish("m" + std::to_string(i)));
  auto got = q.receive(this->consumer(1), 12);
  ASSERT_EQ(got.size(), 12U);
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(q.ack(got[i].receipt), scaling::receipt_status::ok);
  EXPECT_EQ(q.nack(got[6].receipt, scaling::nack_action::dead_letter, 0ms),
            scaling::receipt_status::ok);
  EXPECT_EQ(q.nack(got[7].receipt, scaling::nack_action::requeue_after, 10min),
            scaling::receipt_status::ok);
  const auto s = q.stats();
  EXPECT_EQ(s.published, 20U);
  EXPECT_EQ(s.acked, 6U);
  EXPECT_EQ(s.dead, 1U);
  EXPECT_EQ(s.delayed, 1U);
  EXPECT_EQ(s.in_flight, 4U);
  EXPECT_EQ(s.ready, 8U);
  EXPECT_EQ(s.published, s.acked + s.dead + s.ready + s.in_flight + s.delayed);
}

// ---- stream_queue only ----

class StreamQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = on_redis::skip_reason(); !why.empty()) GTEST_SKIP() << why;
  }
  static redis::endpoint where() { return {"127.0.0.1", redis_server().port}; }
};

TEST_F(StreamQueue, ACrashedConsumersDeliveriesGoToAnotherProcessAfterTheVisibilityTimeout) {
  const std::string stream = unique_stream();
  const redis::stream_queue_options options{.stream = stream,
                                            .visibility_timeout = visibility,
                                            .max_receives = max_receives,
                                            .poll_slice = 20ms};
  std::vector<std::string> taken;
  {
    redis::stream_queue crashing{where(), options};  // its own pool: another client
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(crashing.publish("job" + std::to_string(i)));
    for (auto& d : crashing.receive("doomed", 3))
      taken.push_back(d.receipt.id);
  }  // gone without acking
  redis::stream_queue survivor{where(), options};
  std::set<std::string> seen;
  while (seen.size() < 5) {
    auto got = survivor.receive_for("survivor", 5, 5s);
    ASSERT_TRUE(got.has_value()) << scaling::to_string(got.status());
    for (auto& d : *got) {
      seen.insert(d.receipt.id);
      EXPECT_EQ(survivor.ack(d.receipt), scaling::receipt_status::ok);
    }
  }
  for (const auto& id : taken)
    EXPECT_TRUE(seen.contains(id)) << id;
  const auto s = survivor.stats();
  EXPECT_EQ(s.acked, 5U);
  EXPECT_EQ(s.redelivered, 3U);
}

TEST_F(StreamQueue, DeliveriesThatKeepTimingOutAreDeadLetteredFromTheXpendingCount) {
  redis::stream_queue q{where(),
                        {.stream = unique_stream(),
                         .visibility_timeout = 50ms,
                         .max_receives = 2,
                         .poll_slice = 10ms}};
  ASSERT_TRUE(q.publish("hangs the consumer"));
  ASSERT_EQ(q.receive("c", 1).size(), 1U);
  auto second = q.receive_for("c", 1, 5s);  // after 50 ms: delivery 2
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)[0].receipt.delivery_count, 2U);
  // The third claim finds two deliveries used up: dead-lettered, not delivered.
  auto third = q.receive_for("c", 1, 300ms);
  EXPECT_FALSE(third.has_value());
  const auto dead = q.dead_letters();
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].body, "hangs the consumer");
  EXPECT_EQ(dead[0].receive_count, 2U);
  EXPECT_EQ(dead[0].reason, scaling::dead_reason::max_receives);
}

TEST_F(StreamQueue, ConservationHoldsAgainstRedisOwnCounts) {
  const std::string stream = unique_stream();
  redis::stream_queue q{where(),
                        {.stream = stream,
                         .visibility_timeout = visibility,
                         .max_receives = max_receives,
                         .poll_slice = 20ms}};
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(q.publish("m" + std::to_string(i), {.delay = i % 10 == 0 ? 10min : 0ms}));
  auto got = q.receive("c", 20);
  ASSERT_EQ(got.size(), 20U);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_EQ(q.ack(got[i].receipt), scaling::receipt_status::ok);
  for (std::size_t i = 10; i < 13; ++i)
    EXPECT_EQ(q.nack(got[i].receipt, scaling::nack_action::dead_letter, 0ms),
              scaling::receipt_status::ok);
  redis::connection raw{where()};
  const long long xlen = raw.execute({"XLEN", stream}).integer();
  const long long delayed = raw.execute({"ZCARD", stream + ":delayed"}).integer();
  const long long dead = raw.execute({"XLEN", stream + ":dead"}).integer();
  const auto pending = raw.execute({"XPENDING", stream, "workers"});
  const long long acked =
      std::stoll(std::string{raw.execute({"HGET", stream + ":stats", "acked"}).str()});
  EXPECT_EQ(30, acked + dead + xlen + delayed);
  EXPECT_EQ(pending.elements().at(0).integer(), 7);
  const auto s = q.stats();
  EXPECT_EQ(s.published, 30U);
  EXPECT_EQ(s.delayed, 3U);
  EXPECT_EQ(s.in_flight, 7U);
  EXPECT_EQ(s.ready, 7U);
}

TEST_F(StreamQueue, RejectsPrioritiesGroupsAndBadOptions) {
  redis::stream_queue q{where(), {.stream = unique_stream()}};
  EXPECT_THROW((void)q.publish("x", {.priority = 1}), std::invalid_argument);
  EXPECT_THROW((void)q.publish("x", {.group = "g"}), std::invalid_argument);
  EXPECT_THROW(redis::stream_queue(where(), {.max_receives = 0}), std::invalid_argument);
}

}  // namespace
