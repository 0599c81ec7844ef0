#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/queueing/mailbox.hpp>

#include "support/sanitizers.hpp"

namespace {

using inbox = scaling::mailbox<std::string, std::string>;
using env = scaling::envelope<std::string>;

constexpr int storm_scale = scaling_test::sanitized ? 1 : 4;

TEST(Mailbox, RejectsBadConfiguration) {
  EXPECT_THROW(inbox({.lanes = 0}), scaling::invalid_argument);
  try {
    inbox box{{.max_pending = 0}};
    FAIL();
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "max_pending");
  }
  inbox box{{.lanes = 2}};
  EXPECT_THROW((void)box.send("bob", "x", 2), scaling::invalid_argument);
}

TEST(Mailbox, OnlineRecipientGetsDirectHandOffAndAckDeletes) {
  inbox box;
  std::vector<env> got;
  box.connect("bob", [&](const env& e) { got.push_back(e); });
  EXPECT_EQ(box.send("bob", "hi"), scaling::send_status::delivered);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "hi");
  EXPECT_EQ(box.pending("bob"), 1U) << "deleted on ack only";
  EXPECT_TRUE(box.ack("bob", got[0].seq));
  EXPECT_FALSE(box.ack("bob", got[0].seq));
  EXPECT_FALSE(box.ack("nobody", 1));
  EXPECT_EQ(box.pending("bob"), 0U);
}

TEST(Mailbox, OfflineMessagesAreStoredInOrderAndFlushedOnConnect) {
  inbox box;
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::stored);
  EXPECT_EQ(box.send("bob", "2"), scaling::send_status::stored);
  EXPECT_EQ(box.send("bob", "3"), scaling::send_status::stored);
  EXPECT_EQ(box.pending("bob"), 3U);
  std::vector<std::string> got;
  box.connect("bob", [&](const env& e) {
    got.push_back(e.body);
    EXPECT_TRUE(box.ack("bob", e.seq));  // a sink may call back into the mailbox
  });
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(box.pending("bob"), 0U);
  EXPECT_TRUE(box.online("bob"));
}

TEST(Mailbox, UnackedMessagesAreResentAfterReconnect) {
  inbox box;
  std::vector<env> first;
  box.connect("bob", [&](const env& e) { first.push_back(e); });
  (void)box.send("bob", "a");
  (void)box.send("bob", "b");
  ASSERT_EQ(first.size(), 2U);
  EXPECT_TRUE(box.ack("bob", first[0].seq));
  box.disconnect("bob");  // the connection drops before "b" is acked
  EXPECT_FALSE(box.online("bob"));
  EXPECT_EQ(box.send("bob", "c"), scaling::send_status::stored);
  std::vector<env> second;
  box.connect("bob", [&](const env& e) { second.push_back(e); });
  ASSERT_EQ(second.size(), 2U);
  EXPECT_EQ(second[0].body, "b");
  EXPECT_EQ(second[0].seq, first[1].seq) << "a resend keeps its sequence number";
  EXPECT_EQ(second[1].body, "c");
  EXPECT_EQ(box.stats().redelivered, 1U);
}

TEST(Mailbox, HigherLanesFlushFirst) {
  inbox box{{.lanes = 3}};
  (void)box.send("bob", "low-1", 0);
  (void)box.send("bob", "high-1", 2);
  (void)box.send("bob", "mid-1", 1);
  (void)box.send("bob", "low-2", 0);
  (void)box.send("bob", "high-2", 2);
  std::vector<std::string> got;
  box.connect("bob", [&](const env& e) { got.push_back(e.body); });
  EXPECT_EQ(got, (std::vector<std::string>{"high-1", "high-2", "mid-1", "low-1", "low-2"}));
  EXPECT_EQ(box.stored("bob").front().body, "high-1");
}

TEST(Mailbox, OverflowReject) {
  inbox box{{.max_pending = 2, .overflow = scaling::overflow_policy::reject}};
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::stored);
  EXPECT_EQ(box.send("bob", "2"), scaling::send_status::stored);
  EXPECT_EQ(box.send("bob", "3"), scaling::send_status::rejected);
  EXPECT_EQ(box.send("alice", "1"), scaling::send_status::stored) << "limits are per recipient";
  EXPECT_EQ(box.stats().rejected, 1U);
  EXPECT_EQ(box.pending("bob"), 2U);
}

TEST(Mailbox, OverflowDropOldestKeepsTheNewestAndHigherLanes) {
  inbox box{{.lanes = 2, .max_pending = 3, .overflow = scaling::overflow_policy::drop_oldest}};
  (void)box.send("bob", "urgent", 1);
  (void)box.send("bob", "1");
  (void)box.send("bob", "2");
  EXPECT_EQ(box.send("bob", "3"), scaling::send_status::stored);
  std::vector<std::string> got;
  box.connect("bob", [&](const env& e) { got.push_back(e.body); });
  EXPECT_EQ(got, (std::vector<std::string>{"urgent", "2", "3"}));
  EXPECT_EQ(box.stats().dropped, 1U);
}

TEST(Mailbox, OverflowBlockWaitsForAnAckAndCloseReleases) {
  inbox box{{.max_pending = 1, .overflow = scaling::overflow_policy::block}};
  std::vector<env> got;
  std::mutex m;
  box.connect("bob", [&](const env& e) {
    std::lock_guard lock{m};
    got.push_back(e);
  });
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::delivered);
  std::thread sender([&] { EXPECT_EQ(box.send("bob", "2"), scaling::send_status::delivered); });
  // The sender can only finish after the ack.
  std::uint64_t first_seq = 0;
  {
    std::lock_guard lock{m};
    first_seq = got.at(0).seq;
  }
  EXPECT_TRUE(box.ack("bob", first_seq));
  sender.join();
  EXPECT_EQ(box.pending("bob"), 1U);
  std::thread blocked([&] { EXPECT_EQ(box.send("bob", "3"), scaling::send_status::closed); });
  box.close();
  blocked.join();
  EXPECT_EQ(box.send("carol", "x"), scaling::send_status::closed);
}

// Senders keep sending while the recipient's connection flaps from other threads. At the
// end every message was received at least once, and within each connection each sender's
// messages arrived in send order with no gaps except those already acked.
TEST(Mailbox, ReconnectStormLosesNothingAndKeepsOrder) {
  scaling::mailbox<int, std::uint64_t> box;
  constexpr int senders = 3;
  const int per_sender = 500 * storm_scale;
  std::mutex m;
  std::set<std::uint64_t> received;
  std::atomic<std::uint64_t> session_counter{0};
  std::map<std::uint64_t, std::map<int, int>> last_in_session;  // session -> sender -> index
  bool order_ok = true;
  std::mt19937 ack_rng{7};
  const auto make_sink = [&] {
    const std::uint64_t session = ++session_counter;
    return [&, session](const scaling::envelope<std::uint64_t>& e) {
      std::lock_guard lock{m};
      const int sender = static_cast<int>(e.body >> 32);
      const int index = static_cast<int>(e.body & 0xffffffffU);
      auto& last = last_in_session[session];
      auto it = last.find(sender);
      if (it != last.end() && index <= it->second) order_ok = false;
      last[sender] = index;
      received.insert(e.body);
      if (ack_rng() % 2 == 0) (void)box.ack(42, e.seq);
    };
  };
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&box, s] {
      for (int i = 0; i < per_sender; ++i) {
        const auto status = box.send(42, (std::uint64_t(s) << 32) | std::uint64_t(i));
        ASSERT_TRUE(status == scaling::send_status::delivered ||
                    status == scaling::send_status::stored);
      }
    });
  }
  std::atomic<bool> stop{false};
  std::thread flapper([&] {
    std::mt19937 rng{11};
    while (!stop.load()) {
      if (rng() % 2 == 0) {
        box.connect(42, make_sink());
      } else {
        box.disconnect(42);
      }
      std::this_thread::yield();
    }
  });
  for (auto& t : threads)
    t.join();
  stop = true;
  flapper.join();
  box.connect(42, make_sink());  // the final connection flushes everything still stored
  std::lock_guard lock{m};
  EXPECT_TRUE(order_ok) << "a sender's messages arrived out of order within a connection";
  EXPECT_EQ(received.size(), std::size_t(senders) * std::size_t(per_sender)) << "lost messages";
  const auto s = box.stats();
  EXPECT_EQ(s.sent, std::uint64_t(senders) * std::uint64_t(per_sender));
  EXPECT_EQ(s.acked + s.stored, s.sent);
}

TEST(Mailbox, SendForTimesOutWhileTheRecipientIsFull) {
  using namespace std::chrono_literals;
  inbox box{{.max_pending = 1, .overflow = scaling::overflow_policy::block}};
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::stored);
  const auto r = box.send_for("bob", "2", 0, 0ms);
  EXPECT_EQ(r.status(), scaling::wait_status::timed_out);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(box.send_until("bob", "2", 0, std::chrono::steady_clock::now()).status(),
            scaling::wait_status::timed_out);
  EXPECT_EQ(box.pending("bob"), 1U) << "a timed-out send sends nothing";
  const auto other = box.send_for("carol", "x", 0, 0ms);
  ASSERT_TRUE(other.has_value()) << "room: no wait at all";
  EXPECT_EQ(*other, scaling::send_status::stored);
}

TEST(Mailbox, SendForIsWokenByAnAckAndWaitsForeverWithMaximalDurations) {
  inbox box{{.max_pending = 1, .overflow = scaling::overflow_policy::block}};
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::stored);
  const auto seq = box.stored("bob").at(0).seq;
  std::atomic<bool> started{false};
  std::thread acker([&] {
    while (!started.load())
      std::this_thread::yield();
    EXPECT_TRUE(box.ack("bob", seq));
  });
  started.store(true);
  const auto r = box.send_for("bob", "2", 0, std::chrono::hours::max());
  acker.join();
  ASSERT_TRUE(r.has_value()) << "hours::max() must wait, not overflow into the past";
  EXPECT_EQ(*r, scaling::send_status::stored);
  EXPECT_EQ(box.stored("bob").at(0).body, "2");
}

TEST(Mailbox, BlockedSendForStopsOnRequestAndEndsOnClose) {
  inbox box{{.max_pending = 1, .overflow = scaling::overflow_policy::block}};
  EXPECT_EQ(box.send("bob", "1"), scaling::send_status::stored);
  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  EXPECT_EQ(box.send_for("bob", "2", 0, std::chrono::nanoseconds::max(), stop.get_token()).status(),
            scaling::wait_status::stopped);
  stopper.join();
  EXPECT_FALSE(box.closed());
  std::thread closer([&] { box.close(); });
  const auto r = box.send_until("bob", "3", 0, std::chrono::steady_clock::time_point::max(),
                                std::stop_token{});
  closer.join();
  EXPECT_EQ(r.status(), scaling::wait_status::closed);
  EXPECT_TRUE(box.closed());
  EXPECT_EQ(box.send_for("carol", "x", 0, std::chrono::seconds{1}).status(),
            scaling::wait_status::closed);
  EXPECT_EQ(box.pending("bob"), 1U);
}

}  // namespace
