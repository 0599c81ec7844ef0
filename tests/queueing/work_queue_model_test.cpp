// Model-based property test of scaling::work_queue: a small reference model of the documented
// semantics, written for clarity (every query is a linear scan), is driven in lock-step with the
// queue through random operation sequences on a manual clock, and the two are compared after
// every step. The model applies time-based transitions whenever it is looked at, so any observer
// of the queue that reports stale state (a delay that passed still counted as delayed) fails.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/queueing/work_queue.hpp>

#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = scaling::manual_clock;
using time_point = clock_type::time_point;
using queue = scaling::work_queue<int, clock_type>;

template <class Q>
auto snapshot(const Q& q) {
  return q.stats();
}

// The documented semantics, stated as directly as possible:
//   - a message is ready, delayed, in flight or dead (acked messages are gone);
//   - a delay or a visibility timeout that passed has taken effect at its due time;
//   - a grouped message is deliverable only when it is its group's oldest live (not acked,
//     not dead) message and no message of its group is in flight;
//   - receive hands out deliverable messages, highest priority first, then publish order,
//     up to max_messages and the consumer's prefetch room.
class model {
 public:
  enum class state { ready, delayed, in_flight, dead };

  struct message {
    scaling::message_id id = 0;
    int body = 0;
    std::uint8_t priority = 0;
    std::optional<std::string> group;
    state st = state::ready;
    time_point due{};
    time_point ready_since{};
    std::uint32_t receive_count = 0;
    std::uint64_t handle = 0;
    scaling::consumer_id consumer = 0;
    scaling::dead_reason reason = scaling::dead_reason::max_receives;
  };

  explicit model(scaling::work_queue_options o) : options_(o) {}

  // Publish: nullopt when closed (not counted) or full (counted as rejected).
  std::optional<scaling::message_id> publish(int body, const scaling::publish_options& po,
                                             time_point now) {
    settle(now);
    if (closed_) return std::nullopt;
    if (held() >= options_.max_depth) {
      ++rejected_;
      return std::nullopt;
    }
    message m;
    m.id = ++last_id_;
    m.body = body;
    m.priority = po.priority;
    m.group = po.group;
    if (po.delay > 0ns) {
      m.st = state::delayed;
      m.due = scaling::saturating_add(now, po.delay);
    } else {
      m.ready_since = now;
    }
    messages_.emplace(m.id, m);
    ++published_;
    return m.id;
  }

  // The messages a receive would hand out, in order (without taking them).
  std::vector<scaling::message_id> deliverable(scaling::consumer_id consumer, std::size_t max,
                                               time_point now) {
    settle(now);
    std::vector<const message*> candidates;
    for (const auto& [id, m] : messages_) {
      if (m.st != state::ready) continue;
      if (m.group && (head_of(*m.group) != id || group_in_flight(*m.group))) continue;
      candidates.push_back(&m);
    }
    std::sort(candidates.begin(), candidates.end(), [](const message* a, const message* b) {
      if (a->priority != b->priority) return a->priority > b->priority;
      return a->id < b->id;
    });
    const std::size_t room = options_.prefetch - held_by(consumer);
    const std::size_t want = std::min(max, room);
    std::vector<scaling::message_id> out;
    for (const message* m : candidates) {
      if (out.size() == want) break;
      out.push_back(m->id);
    }
    return out;
  }

  // Marks `id` delivered to `consumer` with the receipt handle the queue chose.
  void deliver(scaling::message_id id, scaling::consumer_id consumer, std::uint64_t handle,
               std::chrono::nanoseconds visibility, time_point now) {
    message& m = messages_.at(id);
    if (m.receive_count != 0) ++redelivered_;
    ++m.receive_count;
    m.st = state::in_flight;
    m.handle = handle;
    m.consumer = consumer;
    m.due = scaling::saturating_add(now, visibility);
  }

  scaling::receipt_status ack(const scaling::receipt& r, time_point now) {
    settle(now);
    const auto status = check(r);
    if (status != scaling::receipt_status::ok) return status;
    messages_.erase(r.id);
    ++acked_;
    return status;
  }

  scaling::receipt_status nack(const scaling::receipt& r, scaling::nack_action action,
                               std::chrono::nanoseconds delay, time_point now) {
    settle(now);
    const auto status = check(r);
    if (status != scaling::receipt_status::ok) return status;
    message& m = messages_.at(r.id);
    if (action == scaling::nack_action::dead_letter) {
      kill(m, scaling::dead_reason::rejected);
    } else if (m.receive_count >= options_.max_receives) {
      kill(m, scaling::dead_reason::max_receives);
    } else if (action == scaling::nack_action::requeue_after && delay > 0ns) {
      m.st = state::delayed;
      m.due = scaling::saturating_add(now, delay);
    } else {
      m.st = state::ready;
      m.ready_since = now;
    }
    return status;
  }

  scaling::receipt_status extend(const scaling::receipt& r, std::chrono::nanoseconds timeout,
                                 time_point now) {
    if (timeout == 0ns) return nack(r, scaling::nack_action::requeue, 0ns, now);
    settle(now);
    const auto status = check(r);
    if (status != scaling::receipt_status::ok) return status;
    messages_.at(r.id).due = scaling::saturating_add(now, timeout);
    return status;
  }

  std::vector<scaling::dead_letter<int>> dead_letters(time_point now) {
    settle(now);
    std::vector<scaling::dead_letter<int>> out;
    for (const auto& [id, m] : messages_)
      if (m.st == state::dead) out.push_back({id, m.body, m.receive_count, m.reason});
    return out;
  }

  std::size_t redrive(std::size_t limit, time_point now) {
    settle(now);
    std::size_t moved = 0;
    for (auto& [id, m] : messages_) {
      if (moved == limit) break;
      if (m.st != state::dead) continue;
      m.st = state::ready;
      m.receive_count = 0;
      m.ready_since = now;
      ++moved;
    }
    return moved;
  }

  scaling::work_queue_stats stats(time_point now) {
    settle(now);
    scaling::work_queue_stats s;
    s.published = published_;
    s.rejected = rejected_;
    s.acked = acked_;
    s.redelivered = redelivered_;
    s.dead_lettered = dead_lettered_;
    std::optional<time_point> oldest;
    for (const auto& [id, m] : messages_) {
      switch (m.st) {
        case state::ready:
          ++s.ready;
          if (!oldest || m.ready_since < *oldest) oldest = m.ready_since;
          break;
        case state::delayed:
          ++s.delayed;
          break;
        case state::in_flight:
          ++s.in_flight;
          break;
        case state::dead:
          ++s.dead;
          break;
      }
    }
    if (oldest && now > *oldest) s.oldest_age = now - *oldest;
    return s;
  }

  std::optional<time_point> next_due(time_point now) {
    settle(now);
    std::optional<time_point> due;
    for (const auto& [id, m] : messages_) {
      if (m.st != state::delayed && m.st != state::in_flight) continue;
      if (!due || m.due < *due) due = m.due;
    }
    return due;
  }

  bool drained(time_point now) {
    settle(now);
    return closed_ && held() == 0;
  }

  void close() { closed_ = true; }
  const message* find(scaling::message_id id) const {
    auto it = messages_.find(id);
    return it == messages_.end() ? nullptr : &it->second;
  }

 private:
  // Applies every delay and visibility timeout that has passed, each at its own due time.
  void settle(time_point now) {
    for (auto& [id, m] : messages_) {
      if (m.st == state::delayed && m.due <= now) {
        m.st = state::ready;
        m.ready_since = m.due;
      } else if (m.st == state::in_flight && m.due <= now) {
        if (m.receive_count >= options_.max_receives) {
          kill(m, scaling::dead_reason::max_receives);
        } else {
          m.st = state::ready;
          m.ready_since = m.due;
        }
      }
    }
  }

  void kill(message& m, scaling::dead_reason reason) {
    m.st = state::dead;
    m.reason = reason;
    ++dead_lettered_;
  }

  scaling::receipt_status check(const scaling::receipt& r) const {
    auto it = messages_.find(r.id);
    if (it == messages_.end()) return scaling::receipt_status::unknown;
    if (it->second.st != state::in_flight || it->second.handle != r.handle)
      return scaling::receipt_status::stale;
    return scaling::receipt_status::ok;
  }

  std::size_t held() const {
    std::size_t n = 0;
    for (const auto& [id, m] : messages_)
      n += m.st != state::dead ? 1 : 0;
    return n;
  }
  std::size_t held_by(scaling::consumer_id c) const {
    std::size_t n = 0;
    for (const auto& [id, m] : messages_)
      n += m.st == state::in_flight && m.consumer == c ? 1 : 0;
    return n;
  }
  scaling::message_id head_of(const std::string& group) const {
    for (const auto& [id, m] : messages_)  // ordered by id, which is publish order
      if (m.group == group && m.st != state::dead) return id;
    return 0;
  }
  bool group_in_flight(const std::string& group) const {
    for (const auto& [id, m] : messages_)
      if (m.group == group && m.st == state::in_flight) return true;
    return false;
  }

  scaling::work_queue_options options_;
  std::map<scaling::message_id, message> messages_;
  scaling::message_id last_id_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t redelivered_ = 0;
  std::uint64_t dead_lettered_ = 0;
  bool closed_ = false;
};

std::string describe(const scaling::work_queue_stats& s) {
  return "published " + std::to_string(s.published) + " rejected " + std::to_string(s.rejected) +
         " acked " + std::to_string(s.acked) + " redelivered " + std::to_string(s.redelivered) +
         " dead_lettered " + std::to_string(s.dead_lettered) + " ready " + std::to_string(s.ready) +
         " in_flight " + std::to_string(s.in_flight) + " delayed " + std::to_string(s.delayed) +
         " dead " + std::to_string(s.dead) + " oldest_age " + std::to_string(s.oldest_age.count());
}

// One random run: `steps` operations, compared with the model after each.
void run(std::uint64_t seed, int steps) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng{seed};
  const auto pick = [&rng](std::uint64_t n) { return rng() % n; };
  clock_type clock;
  scaling::work_queue_options o;
  o.visibility_timeout = 10s;
  o.max_receives = 3;
  o.priority_levels = 3;
  o.prefetch = 4;
  o.max_depth = 40;
  queue q{o, clock};
  model m{o};
  std::vector<scaling::receipt> receipts;  // every receipt handed out, current or stale
  const bool closes = seed % 2 == 0;
  const int close_at = steps * 3 / 4;
  int next_body = 0;

  const auto some_receipt = [&]() -> scaling::receipt {
    if (receipts.empty() || pick(20) == 0) {
      return {.id = pick(60) + 1, .delivery_count = 1, .handle = pick(1000) + 1};  // forged
    }
    return receipts[pick(receipts.size())];
  };
  const auto some_delay = [&]() -> std::chrono::nanoseconds {
    switch (pick(8)) {
      case 0:
        return 0ns;
      case 1:
        return std::chrono::nanoseconds::max();  // "forever"
      default:
        return std::chrono::seconds(pick(6));
    }
  };

  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const time_point now = clock.now();
    if (closes && step == close_at) {
      q.close();
      m.close();
    }
    switch (pick(20)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4: {
        scaling::publish_options po;
        po.priority = static_cast<std::uint8_t>(pick(3));
        if (pick(3) == 0) po.delay = some_delay();
        if (pick(2) == 0) po.group = "g" + std::to_string(pick(3));
        const int body = next_body++;
        const auto want = m.publish(body, po, now);
        const auto got = q.publish(body, po);
        ASSERT_EQ(got, want);
        break;
      }
      case 5:
      case 6:
      case 7:
      case 8: {
        const scaling::consumer_id consumer = pick(3);
        const std::size_t max = 1 + pick(4);
        std::optional<std::chrono::nanoseconds> visibility;
        if (pick(4) == 0) visibility = std::chrono::seconds(1 + pick(15));
        if (pick(40) == 0) visibility = std::chrono::nanoseconds::max();
        const auto want = m.deliverable(consumer, max, now);
        const auto got = q.receive(consumer, max, visibility);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          const auto* expected = m.find(want[i]);
          ASSERT_NE(expected, nullptr);
          ASSERT_EQ(got[i].receipt.id, want[i]) << "delivery " << i << " of " << got.size();
          ASSERT_EQ(got[i].body, expected->body);
          ASSERT_EQ(got[i].priority, expected->priority);
          ASSERT_EQ(got[i].group, expected->group);
          ASSERT_EQ(got[i].receipt.delivery_count, expected->receive_count + 1);
          m.deliver(want[i], consumer, got[i].receipt.handle,
                    visibility.value_or(o.visibility_timeout), now);
          receipts.push_back(got[i].receipt);
        }
        break;
      }
      case 9:
      case 10: {
        const auto r = some_receipt();
        ASSERT_EQ(q.ack(r), m.ack(r, now));
        break;
      }
      case 11:
      case 12: {
        const auto r = some_receipt();
        const auto action = static_cast<scaling::nack_action>(pick(3));
        const auto delay = pick(3) == 0 ? 0ns : some_delay();
        ASSERT_EQ(q.nack(r, action, delay), m.nack(r, action, delay, now));
        break;
      }
      case 13: {
        const auto r = some_receipt();
        const auto timeout = pick(4) == 0 ? 0ns : some_delay();
        ASSERT_EQ(q.extend_visibility(r, timeout), m.extend(r, timeout, now));
        break;
      }
      case 14:
      case 15:
      case 16:
        clock.advance(std::chrono::seconds(pick(7)));
        break;
      case 17: {
        const std::size_t limit =
            pick(3) == 0 ? std::numeric_limits<std::size_t>::max() : 1 + pick(3);
        ASSERT_EQ(q.redrive(limit), m.redrive(limit, now));
        break;
      }
      default:
        break;  // only the comparisons below
    }
    const time_point at = clock.now();
    const auto want_stats = m.stats(at);
    const auto got_stats = snapshot(q);
    ASSERT_EQ(describe(got_stats), describe(want_stats));
    ASSERT_EQ(got_stats.published, got_stats.acked + got_stats.dead + got_stats.ready +
                                       got_stats.in_flight + got_stats.delayed);
    ASSERT_EQ(q.next_due_time(), m.next_due(at));
    ASSERT_EQ(q.drained(), m.drained(at));
    if (pick(4) == 0) {
      const auto want_dead = m.dead_letters(at);
      const auto got_dead = q.dead_letters();
      ASSERT_EQ(got_dead.size(), want_dead.size());
      for (std::size_t i = 0; i < got_dead.size(); ++i) {
        ASSERT_EQ(got_dead[i].id, want_dead[i].id);
        ASSERT_EQ(got_dead[i].body, want_dead[i].body);
        ASSERT_EQ(got_dead[i].receive_count, want_dead[i].receive_count);
        ASSERT_EQ(got_dead[i].reason, want_dead[i].reason);
      }
    }
  }
}

TEST(WorkQueueModel, RandomOperationsMatchTheReferenceModel) {
  const int steps = scaling_test::sanitized ? 3000 : 6000;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    run(seed, steps);
    if (testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
