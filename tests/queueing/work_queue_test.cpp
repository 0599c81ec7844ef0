#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/queueing/work_queue.hpp>

namespace {

using namespace std::chrono_literals;
using queue = scaling::work_queue<std::string, scaling::manual_clock>;

scaling::work_queue_options opts(std::chrono::nanoseconds visibility = 30s,
                                 std::uint32_t max_receives = 3) {
  scaling::work_queue_options o;
  o.visibility_timeout = visibility;
  o.max_receives = max_receives;
  return o;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const scaling::invalid_argument& e) {
    return e.parameter() + ": " + e.what();
  }
  return "no error";
}

TEST(WorkQueue, RejectsBadConfiguration) {
  scaling::manual_clock clock;
  EXPECT_NE(error_of([&] {
              queue q{opts(0s), clock};
            }).find("visibility_timeout"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              queue q{opts(-1s), clock};
            }).find("got -1000000000"),
            std::string::npos);
  EXPECT_NE(error_of([&] { queue q{opts(1s, 0), clock}; }).find("max_receives"), std::string::npos);
  auto o = opts();
  o.prefetch = 0;
  EXPECT_NE(error_of([&] { queue q{o, clock}; }).find("prefetch"), std::string::npos);
  o = opts();
  o.priority_levels = 0;
  EXPECT_NE(error_of([&] { queue q{o, clock}; }).find("priority_levels"), std::string::npos);
  queue q{opts(), clock};
  EXPECT_NE(error_of([&] { (void)q.publish("x", {.priority = 5}); }).find("priority"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)q.receive(1, 1, 0s); }).find("visibility"), std::string::npos);
}

TEST(WorkQueue, PublishReceiveAck) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  const auto id = q.publish("hello");
  ASSERT_TRUE(id);
  auto got = q.receive(1, 10);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_EQ(got[0].receipt.id, *id);
  EXPECT_EQ(got[0].receipt.delivery_count, 1U);
  EXPECT_TRUE(q.receive(2, 10).empty()) << "an in-flight message is invisible";
  EXPECT_EQ(q.stats().in_flight, 1U);
  EXPECT_EQ(q.ack(got[0].receipt), scaling::receipt_status::ok);
  EXPECT_EQ(q.ack(got[0].receipt), scaling::receipt_status::unknown);
  const auto m = q.stats();
  EXPECT_EQ(m.published, 1U);
  EXPECT_EQ(m.acked, 1U);
  EXPECT_EQ(m.in_flight + m.ready + m.delayed + m.dead, 0U);
}

TEST(WorkQueue, ConsumerCrashRedeliversAfterVisibilityTimeoutWithSameId) {
  scaling::manual_clock clock;
  queue q{opts(10s), clock};
  const auto id = q.publish("job");
  auto first = q.receive(1, 1);
  ASSERT_EQ(first.size(), 1U);
  clock.advance(9s);
  EXPECT_TRUE(q.receive(2, 1).empty());
  clock.advance(1s);  // consumer 1 "crashed": the timeout passes
  auto second = q.receive(2, 1);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0].receipt.id, *id) << "a duplicate carries the same id";
  EXPECT_EQ(second[0].receipt.delivery_count, 2U);
  EXPECT_EQ(q.stats().redelivered, 1U);
  EXPECT_EQ(q.ack(first[0].receipt), scaling::receipt_status::stale);
  EXPECT_EQ(q.ack(second[0].receipt), scaling::receipt_status::ok);
}

TEST(WorkQueue, ExtendVisibilityKeepsTheDeliveryAndZeroReleasesIt) {
  scaling::manual_clock clock;
  queue q{opts(10s), clock};
  (void)q.publish("long job");
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  clock.advance(8s);
  EXPECT_EQ(q.extend_visibility(d[0].receipt, 10s), scaling::receipt_status::ok);
  clock.advance(8s);  // 16 s after receipt: past the original timeout, within the extension
  EXPECT_TRUE(q.receive(2, 1).empty());
  EXPECT_EQ(q.extend_visibility(d[0].receipt, 0s), scaling::receipt_status::ok);
  auto again = q.receive(2, 1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(q.extend_visibility(d[0].receipt, 5s), scaling::receipt_status::stale);
  EXPECT_THROW((void)q.extend_visibility(again[0].receipt, -1s), scaling::invalid_argument);
}

TEST(WorkQueue, PoisonMessageIsDeadLetteredAfterMaxReceivesAndCanBeRedriven) {
  scaling::manual_clock clock;
  queue q{opts(5s, 3), clock};
  const auto poison = q.publish("poison");
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto d = q.receive(1, 1);
    ASSERT_EQ(d.size(), 1U);
    EXPECT_EQ(d[0].receipt.delivery_count, attempt);
    EXPECT_EQ(q.nack(d[0].receipt, scaling::nack_action::requeue), scaling::receipt_status::ok);
  }
  EXPECT_TRUE(q.receive(1, 1).empty());
  auto dead = q.dead_letters();
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].id, *poison);
  EXPECT_EQ(dead[0].body, "poison");
  EXPECT_EQ(dead[0].receive_count, 3U);
  EXPECT_EQ(dead[0].reason, scaling::dead_reason::max_receives);
  EXPECT_EQ(q.stats().dead, 1U);
  EXPECT_EQ(q.redrive(), 1U);
  EXPECT_EQ(q.stats().dead, 0U);
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  EXPECT_EQ(d[0].receipt.id, *poison);
  EXPECT_EQ(d[0].receipt.delivery_count, 1U) << "a redrive starts a fresh receive count";
}

TEST(WorkQueue, NackDeadLetterAndDelayedRequeue) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("bad");
  (void)q.publish("retry");
  auto d = q.receive(1, 2);
  ASSERT_EQ(d.size(), 2U);
  EXPECT_EQ(q.nack(d[0].receipt, scaling::nack_action::dead_letter), scaling::receipt_status::ok);
  EXPECT_EQ(q.dead_letters().at(0).reason, scaling::dead_reason::rejected);
  EXPECT_EQ(q.nack(d[1].receipt, scaling::nack_action::requeue_after, 5s),
            scaling::receipt_status::ok);
  EXPECT_EQ(q.stats().delayed, 1U);
  EXPECT_TRUE(q.receive(1, 1).empty());
  clock.advance(5s);
  auto again = q.receive(1, 1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].body, "retry");
  EXPECT_EQ(q.nack(d[0].receipt, scaling::nack_action::requeue), scaling::receipt_status::stale);
}

TEST(WorkQueue, DelayedPublishBecomesVisibleOnTime) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("later", {.delay = 2s});
  EXPECT_TRUE(q.receive(1, 1).empty());
  EXPECT_EQ(q.next_due_time(), clock.now() + 2s);
  clock.advance(1999ms);
  EXPECT_TRUE(q.receive(1, 1).empty());
  clock.advance(1ms);
  EXPECT_EQ(q.receive(1, 1).size(), 1U);
}

TEST(WorkQueue, HigherPriorityFirstThenPublishOrder) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("low-1", {.priority = 0});
  (void)q.publish("high-1", {.priority = 4});
  (void)q.publish("mid-1", {.priority = 2});
  (void)q.publish("high-2", {.priority = 4});
  (void)q.publish("low-2", {.priority = 0});
  std::vector<std::string> order;
  for (auto& d : q.receive(1, 10))
    order.push_back(d.body);
  EXPECT_EQ(order, (std::vector<std::string>{"high-1", "high-2", "mid-1", "low-1", "low-2"}));
}

TEST(WorkQueue, GroupIsFifoWithOneInFlight) {
  scaling::manual_clock clock;
  queue q{opts(10s), clock};
  (void)q.publish("a1", {.group = "a"});
  (void)q.publish("a2", {.group = "a"});
  (void)q.publish("b1", {.group = "b"});
  (void)q.publish("a3", {.group = "a"});
  auto first = q.receive(1, 10);
  ASSERT_EQ(first.size(), 2U) << "one message per group in flight";
  EXPECT_EQ(first[0].body, "a1");
  EXPECT_EQ(first[1].body, "b1");
  EXPECT_TRUE(q.receive(2, 10).empty());
  // a1 times out: it is redelivered before a2 (group order survives a crash).
  clock.advance(10s);
  auto second = q.receive(2, 10);
  ASSERT_EQ(second.size(), 2U);
  EXPECT_EQ(second[0].body, "a1");
  EXPECT_EQ(second[1].body, "b1");
  EXPECT_EQ(q.ack(second[0].receipt), scaling::receipt_status::ok);
  auto third = q.receive(2, 10);
  ASSERT_EQ(third.size(), 1U);
  EXPECT_EQ(third[0].body, "a2");
  EXPECT_EQ(q.ack(third[0].receipt), scaling::receipt_status::ok);
  auto fourth = q.receive(2, 10);
  ASSERT_EQ(fourth.size(), 1U);
  EXPECT_EQ(fourth[0].body, "a3");
}

TEST(WorkQueue, PrefetchLimitsUnackedPerConsumer) {
  scaling::manual_clock clock;
  auto o = opts();
  o.prefetch = 2;
  queue q{o, clock};
  for (int i = 0; i < 5; ++i)
    (void)q.publish("m" + std::to_string(i));
  auto a = q.receive(1, 10);
  EXPECT_EQ(a.size(), 2U);
  EXPECT_TRUE(q.receive(1, 10).empty());
  EXPECT_EQ(q.receive(2, 10).size(), 2U) << "the limit is per consumer";
  EXPECT_EQ(q.ack(a[0].receipt), scaling::receipt_status::ok);
  EXPECT_EQ(q.receive(1, 10).size(), 1U);
}

TEST(WorkQueue, MaxDepthRejectsAndPublishAfterCloseReportsClosed) {
  scaling::manual_clock clock;
  auto o = opts();
  o.max_depth = 2;
  queue q{o, clock};
  EXPECT_TRUE(q.publish("1"));
  EXPECT_TRUE(q.publish("2"));
  EXPECT_FALSE(q.publish("3")) << "backpressure: full queue rejects";
  EXPECT_EQ(q.stats().rejected, 1U);
  EXPECT_FALSE(q.closed());
  q.close();
  q.close();  // idempotent
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.publish("4")) << "after close, publish reports it instead of throwing";
  EXPECT_EQ(q.stats().rejected, 1U) << "a publish refused by close is not a full-queue reject";
  EXPECT_EQ(q.stats().published, 2U);
  auto d = q.receive(1, 10);
  ASSERT_EQ(d.size(), 2U) << "close keeps what is queued deliverable";
  EXPECT_EQ(q.ack(d[0].receipt), scaling::receipt_status::ok);
}

TEST(WorkQueue, UnknownReceiptIsRejected) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  EXPECT_EQ(q.ack({.id = 77, .delivery_count = 1, .handle = 5}), scaling::receipt_status::unknown);
  (void)q.publish("x");
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  auto forged = d[0].receipt;
  forged.handle += 1000;
  EXPECT_EQ(q.ack(forged), scaling::receipt_status::stale);
  EXPECT_EQ(scaling::to_string(scaling::receipt_status::stale), "stale receipt");
}

TEST(WorkQueue, LongPollReturnsWhenAnotherThreadPublishes) {
  scaling::work_queue<int> q{opts()};
  std::thread producer([&] {
    std::this_thread::yield();
    (void)q.publish(7);
  });
  auto got = q.receive_wait(1, 1, 60s);
  producer.join();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, 7);
}

TEST(WorkQueue, LongPollEndsAtItsDeadlineOrOnClose) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  EXPECT_TRUE(q.receive_wait(1, 1, 0s).empty());
  std::thread stopper([&] { q.close(); });
  EXPECT_TRUE(q.receive_wait(1, 1, 3600s).empty());
  stopper.join();
}

// Random consumers receive, ack, nack and crash (never ack) while time moves; at every step
// published == acked + dead + outstanding, and at the end every message is acked or dead.
TEST(WorkQueue, PropertyNothingIsLostUnderRandomCrashes) {
  for (std::uint64_t seed : {1U, 2U, 3U}) {
    std::mt19937_64 rng{seed};
    scaling::manual_clock clock;
    auto o = opts(10s, 4);
    o.prefetch = 8;
    scaling::work_queue<int, scaling::manual_clock> q{o, clock};
    std::vector<scaling::delivery<int>> held;
    std::set<scaling::message_id> acked_ids;
    std::map<scaling::message_id, int> bodies;
    std::uint64_t publishes = 0;
    const auto check = [&] {
      const auto m = q.stats();
      ASSERT_EQ(m.published, m.acked + m.dead + m.ready + m.in_flight + m.delayed)
          << "seed " << seed;
      ASSERT_EQ(m.acked, acked_ids.size());
    };
    for (int step = 0; step < 3000; ++step) {
      switch (rng() % 6) {
        case 0: {
          const int body = static_cast<int>(publishes);
          scaling::publish_options po;
          po.priority = static_cast<std::uint8_t>(rng() % 5);
          if (rng() % 4 == 0) po.delay = std::chrono::seconds(rng() % 5);
          if (rng() % 3 == 0) po.group = "g" + std::to_string(rng() % 3);
          const auto id = q.publish(body, po);
          ASSERT_TRUE(id);
          bodies[*id] = body;
          ++publishes;
          break;
        }
        case 1:
        case 2: {
          for (auto& d : q.receive(rng() % 3, 1 + rng() % 4)) {
            ASSERT_EQ(bodies.at(d.receipt.id), d.body) << "a delivery carries its own body";
            ASSERT_EQ(acked_ids.count(d.receipt.id), 0U) << "acked messages never return";
            held.push_back(d);
          }
          break;
        }
        case 3: {
          if (held.empty()) break;
          const std::size_t i = rng() % held.size();
          const auto status = q.ack(held[i].receipt);
          if (status == scaling::receipt_status::ok) acked_ids.insert(held[i].receipt.id);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
        case 4: {
          if (held.empty()) break;
          const std::size_t i = rng() % held.size();
          const auto action = static_cast<scaling::nack_action>(rng() % 3);
          (void)q.nack(held[i].receipt, action, 2s);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
        case 5: {
          if (rng() % 2 == 0) held.clear();  // a consumer crashes with its deliveries
          clock.advance(std::chrono::seconds(rng() % 6));
          break;
        }
      }
      check();
    }
    // Drain: keep acking until nothing is outstanding; everything ends acked or dead.
    held.clear();
    for (int round = 0; round < 1000; ++round) {
      clock.advance(11s);
      for (auto& d : q.receive(0, 1000))
        if (q.ack(d.receipt) == scaling::receipt_status::ok) acked_ids.insert(d.receipt.id);
      const auto m = q.stats();
      if (m.ready + m.in_flight + m.delayed == 0) break;
    }
    const auto m = q.stats();
    EXPECT_EQ(m.ready + m.in_flight + m.delayed, 0U);
    EXPECT_EQ(m.published, publishes);
    EXPECT_EQ(m.acked + m.dead, publishes) << "every message ends acked or dead";
    std::set<scaling::message_id> all = acked_ids;
    for (const auto& d : q.dead_letters())
      EXPECT_TRUE(all.insert(d.id).second) << "a message is both acked and dead";
    EXPECT_EQ(all.size(), publishes);
  }
}

// Observers apply the transitions that fell due: no receive is needed for stats, dead_letters
// or redrive to see that a delay passed or that a last delivery timed out.
TEST(WorkQueue, ObserversSeeTheStateAtTheClocksCurrentTime) {
  scaling::manual_clock clock;
  queue q{opts(10s, 1), clock};
  (void)q.publish("later", {.delay = 2s});
  EXPECT_EQ(q.stats().delayed, 1U);
  clock.advance(2s);
  auto s = q.stats();
  EXPECT_EQ(s.delayed, 0U) << "the delay passed: the message is ready, not delayed";
  EXPECT_EQ(s.ready, 1U);
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  clock.advance(10s);  // the only delivery allowed timed out: the message is dead now
  s = q.stats();
  EXPECT_EQ(s.in_flight, 0U);
  EXPECT_EQ(s.dead, 1U);
  EXPECT_EQ(s.dead_lettered, 1U);
  EXPECT_EQ(q.dead_letters().size(), 1U);
  EXPECT_EQ(q.next_due_time(), std::nullopt);
  EXPECT_EQ(q.redrive(), 1U) << "redrive sees the letter without a receive first";
  EXPECT_EQ(q.receive(2, 1).size(), 1U);
}

TEST(WorkQueue, ObserversWorkThroughAConstReference) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("x", {.delay = 1s});
  const queue& view = q;
  clock.advance(1s);
  EXPECT_EQ(view.stats().ready, 1U);
  EXPECT_TRUE(view.dead_letters().empty());
  EXPECT_FALSE(view.drained());
}

// A requeue_after frees the group: a letter of the group that was redriven while a later
// message was in flight is the group's head and is delivered at once, not after the delay.
TEST(WorkQueue, NackRequeueAfterLetsARedrivenGroupHeadGo) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("a1", {.group = "a"});
  auto first = q.receive(1, 1);
  ASSERT_EQ(first.size(), 1U);
  ASSERT_EQ(q.nack(first[0].receipt, scaling::nack_action::dead_letter),
            scaling::receipt_status::ok);
  (void)q.publish("a2", {.group = "a"});
  auto second = q.receive(1, 1);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0].body, "a2");
  EXPECT_EQ(q.redrive(), 1U);  // a1 is back, ahead of a2, but a2 is in flight
  EXPECT_TRUE(q.receive(2, 10).empty()) << "one message of a group in flight at a time";
  ASSERT_EQ(q.nack(second[0].receipt, scaling::nack_action::requeue_after, 60s),
            scaling::receipt_status::ok);
  auto third = q.receive(2, 10);
  ASSERT_EQ(third.size(), 1U) << "the redriven head must not wait for a2's delay";
  EXPECT_EQ(third[0].body, "a1");
}

// A letter redriven while a later message of its group is listed (ready, not yet received)
// goes first: group order is publish order.
TEST(WorkQueue, RedrivenGroupLetterGoesBeforeALaterListedMessage) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("a1", {.group = "a"});
  auto first = q.receive(1, 1);
  ASSERT_EQ(first.size(), 1U);
  ASSERT_EQ(q.nack(first[0].receipt, scaling::nack_action::dead_letter),
            scaling::receipt_status::ok);
  (void)q.publish("a2", {.group = "a"});
  EXPECT_EQ(q.redrive(), 1U);
  auto next = q.receive(1, 10);
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(next[0].body, "a1");
}

// A message whose copy (and so its move: it has no move constructor) throws on the n-th copy.
struct fragile {
  static inline int copies_until_throw = -1;  // < 0: never throw
  int value = 0;
  explicit fragile(int v) : value(v) {}
  fragile(const fragile& other) : value(other.value) {
    if (copies_until_throw == 0) {
      copies_until_throw = -1;
      throw std::runtime_error("copy failed");
    }
    if (copies_until_throw > 0) --copies_until_throw;
  }
  fragile& operator=(const fragile&) = default;
  ~fragile() = default;
};

TEST(WorkQueue, PublishIsStronglyExceptionSafe) {
  scaling::manual_clock clock;
  scaling::work_queue<fragile, scaling::manual_clock> q{opts(), clock};
  ASSERT_TRUE(q.publish(fragile{1}));
  ASSERT_TRUE(q.publish(fragile{2}, {.group = "g"}));
  int throws = 0;
  for (int n = 0; n < 4; ++n) {
    for (const bool grouped : {false, true}) {
      for (const bool delayed : {false, true}) {
        const auto before = q.stats();
        const auto due_before = q.next_due_time();
        fragile::copies_until_throw = n;
        scaling::publish_options po;
        if (grouped) po.group = "fresh";
        if (delayed) po.delay = 5s;
        std::optional<scaling::message_id> id;
        try {
          id = q.publish(fragile{100 + n}, po);
        } catch (const std::runtime_error&) {
          ++throws;
          const auto after = q.stats();
          EXPECT_EQ(after.published, before.published);
          EXPECT_EQ(after.ready, before.ready);
          EXPECT_EQ(after.delayed, before.delayed);
          EXPECT_EQ(q.next_due_time(), due_before);
          continue;
        }
        fragile::copies_until_throw = -1;
        ASSERT_TRUE(id);
        EXPECT_EQ(q.stats().published, before.published + 1);
      }
    }
  }
  fragile::copies_until_throw = -1;
  EXPECT_GT(throws, 0) << "the test must make publish throw";
  // Contents: exactly the published messages, with their ids in sequence, nothing half-made.
  clock.advance(5s);
  std::vector<scaling::message_id> ids;
  std::vector<int> bodies;
  for (int round = 0; round < 10; ++round) {
    for (auto& d : q.receive(1, 100)) {
      ids.push_back(d.receipt.id);
      bodies.push_back(d.body.value);
      EXPECT_EQ(q.ack(d.receipt), scaling::receipt_status::ok);
    }
  }
  const auto s = q.stats();
  EXPECT_EQ(bodies.size(), s.published);
  EXPECT_EQ(s.acked, s.published);
  EXPECT_EQ(s.ready + s.delayed + s.in_flight, 0U);
  std::set<scaling::message_id> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_EQ(*unique.rbegin(), s.published) << "a failed publish does not use up an id";
}

TEST(WorkQueue, OldestAgeIgnoresDelayedMessages) {
  scaling::manual_clock clock;
  queue q{opts(10s), clock};
  (void)q.publish("scheduled", {.delay = 100s});
  clock.advance(5s);
  EXPECT_EQ(q.stats().oldest_age, 0s) << "nothing is ready: nothing is late";
  (void)q.publish("now");
  clock.advance(2s);
  EXPECT_EQ(q.stats().oldest_age, 2s) << "the delayed message is not the oldest ready one";
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  EXPECT_EQ(q.stats().oldest_age, 0s) << "in flight is not waiting for a consumer";
  clock.advance(10s);  // visibility timeout at 7 + 10 = 17 s: ready again since then
  clock.advance(3s);
  EXPECT_EQ(q.stats().oldest_age, 3s);
  clock.advance(100s);  // the scheduled one became ready at 100 s, 20 s ago
  EXPECT_EQ(q.stats().oldest_age, 103s);
}

TEST(WorkQueue, DrainedAfterCloseOnceNothingIsReadyDelayedOrInFlight) {
  scaling::manual_clock clock;
  queue q{opts(10s, 1), clock};
  (void)q.publish("a");
  (void)q.publish("b", {.delay = 5s});
  EXPECT_FALSE(q.drained()) << "not closed";
  q.close();
  EXPECT_FALSE(q.drained());
  EXPECT_EQ(q.wait_drained_for(0s), scaling::wait_status::timed_out);
  auto d = q.receive(1, 10);
  ASSERT_EQ(d.size(), 1U);
  EXPECT_EQ(q.ack(d[0].receipt), scaling::receipt_status::ok);
  EXPECT_FALSE(q.drained()) << "b is still delayed";
  clock.advance(5s);
  d = q.receive(1, 10);
  ASSERT_EQ(d.size(), 1U);
  EXPECT_FALSE(q.drained()) << "b is in flight";
  clock.advance(10s);  // b's only delivery timed out: dead letters do not hold up a drain
  EXPECT_TRUE(q.drained());
  EXPECT_EQ(q.wait_drained_for(0s), scaling::wait_status::ready);
  EXPECT_EQ(q.dead_letters().size(), 1U);
}

TEST(WorkQueue, WaitDrainedIsWokenByTheLastAck) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("last");
  auto d = q.receive(1, 1);
  ASSERT_EQ(d.size(), 1U);
  q.close();
  std::thread acker([&] { EXPECT_EQ(q.ack(d[0].receipt), scaling::receipt_status::ok); });
  EXPECT_EQ(q.wait_drained_for(std::chrono::hours::max()), scaling::wait_status::ready);
  acker.join();
  EXPECT_EQ(q.wait_drained_until(std::chrono::steady_clock::time_point::max()),
            scaling::wait_status::ready);
}

TEST(WorkQueue, WaitDrainedStopsOnRequest) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("held");
  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  EXPECT_EQ(q.wait_drained_for(std::chrono::nanoseconds::max(), stop.get_token()),
            scaling::wait_status::stopped);
  stopper.join();
}

TEST(WorkQueue, LongPollAfterCloseDrainsWhatIsLeftThenReturnsAtOnce) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("late", {.delay = 5s});
  q.close();
  std::atomic<bool> started{false};
  std::thread ticker([&] {
    while (!started.load())
      std::this_thread::yield();
    for (int i = 0; i < 100; ++i)  // let the long poll start waiting (its outcome is the same
      std::this_thread::yield();   // if it has not: only a closed queue that returns early fails)
    clock.advance(5s);
    q.notify();
  });
  started.store(true);
  auto got = q.receive_wait(1, 1, std::chrono::hours::max());
  ticker.join();
  ASSERT_EQ(got.size(), 1U) << "a closed queue still delivers what it holds";
  EXPECT_EQ(got[0].body, "late");
  EXPECT_EQ(q.ack(got[0].receipt), scaling::receipt_status::ok);
  EXPECT_TRUE(q.drained());
  EXPECT_TRUE(q.receive_wait(1, 1, std::chrono::hours::max()).empty()) << "drained: at once";
}

// "Forever" durations saturate instead of overflowing into the past.
TEST(WorkQueue, ForeverDelaysAndVisibilitiesNeverFallDue) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  (void)q.publish("never", {.delay = std::chrono::nanoseconds::max()});
  EXPECT_TRUE(q.receive(1, 1).empty());
  EXPECT_EQ(q.stats().delayed, 1U);
  EXPECT_EQ(q.next_due_time(), queue::time_point::max());
  (void)q.publish("kept");
  auto d = q.receive(1, 1, std::chrono::nanoseconds::max());
  ASSERT_EQ(d.size(), 1U);
  clock.advance(std::chrono::hours(24 * 365 * 100));
  EXPECT_EQ(q.stats().in_flight, 1U) << "a maximal visibility timeout does not wrap around";
  EXPECT_EQ(q.extend_visibility(d[0].receipt, std::chrono::nanoseconds::max()),
            scaling::receipt_status::ok);
  EXPECT_EQ(
      q.nack(d[0].receipt, scaling::nack_action::requeue_after, std::chrono::nanoseconds::max()),
      scaling::receipt_status::ok);
  EXPECT_EQ(q.stats().delayed, 2U);
}

TEST(WorkQueue, LongPollWaitsForeverWithMaximalDurations) {
  for (const bool in_hours : {false, true}) {
    scaling::work_queue<int> q{opts()};
    std::atomic<bool> started{false};
    std::thread producer([&] {
      while (!started.load())
        std::this_thread::yield();
      std::this_thread::yield();
      (void)q.publish(7);
    });
    started.store(true);
    auto got = in_hours ? q.receive_wait(1, 1, std::chrono::hours::max())
                        : q.receive_wait(1, 1, std::chrono::nanoseconds::max());
    producer.join();
    ASSERT_EQ(got.size(), 1U) << (in_hours ? "hours::max()" : "nanoseconds::max()")
                              << " must mean forever, not an overflowed deadline in the past";
    EXPECT_EQ(got[0].body, 7);
  }
}

TEST(WorkQueue, ReceiveForReportsWhyItReturnedEmptyHanded) {
  scaling::manual_clock clock;
  queue q{opts(), clock};
  EXPECT_EQ(q.receive_for(1, 10, 0s).status(), scaling::wait_status::timed_out);
  (void)q.publish("x");
  auto got = q.receive_for(1, 10, std::chrono::hours::max());
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 1U);
  EXPECT_EQ((*got)[0].body, "x");
  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  EXPECT_EQ(q.receive_for(2, 10, std::chrono::nanoseconds::max(), stop.get_token()).status(),
            scaling::wait_status::stopped);
  stopper.join();
  q.close();
  EXPECT_EQ(q.receive_until(2, 10, std::chrono::steady_clock::now()).status(),
            scaling::wait_status::timed_out)
      << "closed, but x is still in flight";
  EXPECT_EQ(q.ack((*got)[0].receipt), scaling::receipt_status::ok);
  EXPECT_EQ(q.receive_until(2, 10, std::chrono::steady_clock::time_point::max()).status(),
            scaling::wait_status::closed);
}

}  // namespace
