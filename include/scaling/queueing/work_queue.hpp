// scaling/queueing/work_queue.hpp: an in-process broker with at-least-once delivery.
//
// What it is: `scaling::work_queue<Message, Clock>`, the semantics of SQS / RabbitMQ / Redis
// Streams consumer groups without a server: publish with a priority, an optional delay and an
// optional group key; receive up to n messages under a visibility timeout; ack, nack (requeue
// now, requeue later, dead-letter) or extend the visibility of each delivery through its
// receipt. A delivery that is neither acked nor extended before its visibility timeout passes
// is delivered again (consumer crash); after `max_receives` deliveries it is dead-lettered
// (poison message) where it can be inspected and redriven.
//
// When to pick it: work that must survive a consumer crash, be retried and, when it keeps
// failing, be parked for a human. Pick `mpmc_queue` for a plain, fast hand-off between threads,
// and a real broker (Redis Streams, RabbitMQ, SQS) when messages must survive the process.
//
//   scaling::work_queue<std::string> jobs{{.visibility_timeout = 30s, .max_receives = 5}};
//   auto id = jobs.publish("resize:42", {.priority = 3});          // nullopt when full
//   for (auto& d : jobs.receive(/*consumer=*/1, /*max=*/10)) {
//     if (process(d.body)) (void)jobs.ack(d.receipt);
//     else (void)jobs.nack(d.receipt, scaling::nack_action::requeue_after, 5s);
//   }
//
// Guarantees: every published message ends acked or dead-lettered, none is lost; a message is
// delivered again only after its visibility timeout passed, it was nacked, or its visibility was
// released, and every delivery of it carries the same id (consumers deduplicate by id). Within a
// group key, messages are delivered in publish order, one at a time. Across groups, higher
// priority first, then publish order (a redelivered message keeps its place).
//
// Thread safety: every member may be called from any thread (one internal mutex;
// the type is mutex-locked). Deliveries and dead letters are handed out as copies.
// Complexity: publish, ack, nack O(log n); receive O(k log n) for k deliveries (plus expired
// timers); metrics() and dead_letters() O(n), for monitoring rather than hot paths. Time comes from
// the Clock object, so tests drive it with scaling::manual_clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

using message_id = std::uint64_t;
using consumer_id = std::uint64_t;

// Proof of one delivery: the message id, which delivery of it this is (1 = first), and an
// opaque handle that only this delivery holds. A receipt from an earlier delivery is stale.
struct receipt {
  message_id id = 0;
  std::uint32_t delivery_count = 0;
  std::uint64_t handle = 0;
  friend bool operator==(const receipt&, const receipt&) = default;
};

// What ack / nack / extend_visibility say about a receipt.
enum class receipt_status {
  ok,       // applied
  stale,    // the message exists but this receipt is not its current delivery (it timed out
            // and was redelivered, released, or dead-lettered): the caller lost the message
  unknown,  // no such message: never published, or already acked
};

[[nodiscard]] constexpr std::string_view to_string(receipt_status s) noexcept {
  switch (s) {
    case receipt_status::ok:
      return "ok";
    case receipt_status::stale:
      return "stale receipt";
    case receipt_status::unknown:
      return "unknown receipt";
  }
  return "invalid";
}

// What nack does with a delivery.
enum class nack_action {
  requeue,        // ready again now (RabbitMQ nack with requeue)
  requeue_after,  // ready again after a delay (retry with backoff)
  dead_letter,    // to the dead-letter queue now (RabbitMQ reject without requeue)
};

// Why a message was dead-lettered.
enum class dead_reason { max_receives, rejected };

// Thrown by publish() after shutdown().
class queue_closed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

struct work_queue_options {
  // How long a delivery stays invisible to other consumers (SQS default 30 s). Must be > 0.
  std::chrono::nanoseconds visibility_timeout = std::chrono::seconds{30};
  // Deliveries before a message is dead-lettered instead of redelivered. Must be >= 1.
  std::uint32_t max_receives = 5;
  // Priority levels, 0 (lowest) .. priority_levels - 1. RabbitMQ recommends up to 5.
  std::uint8_t priority_levels = 5;
  // Per-consumer limit on unacked deliveries (RabbitMQ prefetch / basic.qos). Must be >= 1.
  std::size_t prefetch = std::numeric_limits<std::size_t>::max();
  // Messages held (ready + delayed + in flight) before publish rejects. Must be >= 1.
  std::size_t max_depth = std::numeric_limits<std::size_t>::max();
};

struct publish_options {
  std::uint8_t priority = 0;
  std::chrono::nanoseconds delay{0};
  std::optional<std::string> group;  // FIFO within the group, one in flight at a time
};

template <class Message>
struct delivery {
  Message body;
  scaling::receipt receipt;
  std::uint8_t priority = 0;
  std::optional<std::string> group;
};

template <class Message>
struct dead_letter {
  message_id id = 0;
  Message body;
  std::uint32_t receive_count = 0;
  dead_reason reason = dead_reason::max_receives;
};

// A snapshot of the queue's state; the health figures to monitor.
struct work_queue_metrics {
  std::uint64_t published = 0;             // accepted by publish, ever
  std::uint64_t rejected = 0;              // refused by publish because max_depth was reached
  std::uint64_t acked = 0;                 // acked, ever
  std::uint64_t redelivered = 0;           // deliveries after the first, ever
  std::uint64_t dead_lettered = 0;         // moved to the dead-letter queue, ever
  std::size_t ready = 0;                   // deliverable now (blocked groups included)
  std::size_t in_flight = 0;               // delivered, not yet acked
  std::size_t delayed = 0;                 // published or nacked with a delay that has not passed
  std::size_t dead = 0;                    // in the dead-letter queue now
  std::chrono::nanoseconds oldest_age{0};  // age of the oldest message not acked or dead
  // published == acked + dead + ready + in_flight + delayed (redriven letters counted again
  // in neither published nor acked) holds at every instant.
};

template <class Message, clock_source Clock = std::chrono::steady_clock>
requires std::copy_constructible<Message>
class work_queue {
 public:
  using clock_type = Clock;
  using time_point = typename Clock::time_point;
  using duration = std::chrono::nanoseconds;

  // Throws: scaling::invalid_argument if visibility_timeout <= 0, max_receives == 0,
  // priority_levels == 0, prefetch == 0 or max_depth == 0.
  explicit work_queue(work_queue_options options = {}, Clock clock = Clock{})
      : options_(options), clock_(std::move(clock)), ready_(options.priority_levels) {
    constexpr std::string_view who = "scaling::work_queue";
    if (options.visibility_timeout <= duration::zero()) {
      detail::throw_invalid_argument(who, "visibility_timeout", "must be > 0 ns",
                                     options.visibility_timeout.count());
    }
    if (options.max_receives == 0)
      detail::throw_invalid_argument(who, "max_receives", "must be >= 1", options.max_receives);
    if (options.priority_levels == 0) {
      detail::throw_invalid_argument(who, "priority_levels", "must be >= 1",
                                     options.priority_levels);
    }
    if (options.prefetch == 0)
      detail::throw_invalid_argument(who, "prefetch", "must be >= 1", options.prefetch);
    if (options.max_depth == 0)
      detail::throw_invalid_argument(who, "max_depth", "must be >= 1", options.max_depth);
  }

  work_queue(const work_queue&) = delete;
  work_queue& operator=(const work_queue&) = delete;

  // Publishes a message.
  //
  // Returns: its id, or std::nullopt if max_depth messages are held (the backpressure signal:
  //   slow down, or shed).
  // Throws: queue_closed after shutdown(); scaling::invalid_argument if options.priority >=
  //   priority_levels or options.delay < 0.
  [[nodiscard]] std::optional<message_id> publish(Message body, publish_options options = {}) {
    if (options.priority >= options_.priority_levels) {
      detail::throw_invalid_argument("scaling::work_queue::publish", "priority",
                                     "must be < priority_levels", options.priority);
    }
    if (options.delay < duration::zero()) {
      detail::throw_invalid_argument("scaling::work_queue::publish", "delay", "must be >= 0 ns",
                                     options.delay.count());
    }
    message_id id = 0;
    {
      std::lock_guard lock{mutex_};
      if (closed_) throw queue_closed("scaling::work_queue: publish after shutdown");
      if (records_.size() - dead_.size() >= options_.max_depth) {
        ++rejected_;
        return std::nullopt;
      }
      const time_point now = clock_.now();
      id = ++last_id_;
      record& r = records_[id];
      r.body.emplace(std::move(body));
      r.priority = options.priority;
      r.group = std::move(options.group);
      r.seq = id;
      r.published_at = now;
      outstanding_.emplace(r.seq, id);
      ++published_;
      if (r.group) groups_[*r.group].pending.emplace(r.seq, id);
      if (options.delay > duration::zero()) {
        r.state = msg_state::delayed;
        r.due = now + std::chrono::duration_cast<typename Clock::duration>(options.delay);
        delayed_.emplace(r.due, id);
      } else {
        make_ready(id, r);
      }
    }
    notify();
    return id;
  }

  // Receives up to `max_messages` deliverable messages for `consumer`, each invisible to
  // others for `visibility` (default: options.visibility_timeout), without blocking.
  //
  // Returns: at most min(max_messages, prefetch - consumer's unacked) deliveries, highest
  //   priority first; empty if nothing is deliverable.
  // Throws: scaling::invalid_argument if visibility <= 0.
  [[nodiscard]] std::vector<delivery<Message>> receive(
      consumer_id consumer, std::size_t max_messages,
      std::optional<duration> visibility = std::nullopt) {
    const duration timeout = checked_visibility(visibility);
    std::lock_guard lock{mutex_};
    return take(consumer, max_messages, timeout);
  }

  // Long polling: like receive(), but if nothing is deliverable, waits up to `wait` (real
  // time) for a publish, a nack, a release or a delay to pass. Returns early on shutdown().
  // With a manual clock, delays pass only when the test advances it and calls notify().
  [[nodiscard]] std::vector<delivery<Message>> receive_wait(
      consumer_id consumer, std::size_t max_messages, std::chrono::nanoseconds wait,
      std::optional<duration> visibility = std::nullopt) {
    const duration timeout = checked_visibility(visibility);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::unique_lock lock{mutex_};
    for (;;) {
      auto got = take(consumer, max_messages, timeout);
      if (!got.empty() || closed_ || max_messages == 0) return got;
      const auto real_now = std::chrono::steady_clock::now();
      if (real_now >= deadline) return got;
      auto wake_at = deadline;
      if (auto due = next_due()) {
        // Sleep no longer than until the next delay or visibility timeout passes.
        const auto until_due =
            std::chrono::duration_cast<std::chrono::nanoseconds>(*due - clock_.now());
        if (real_now + until_due < wake_at) wake_at = real_now + until_due;
      }
      const std::uint64_t seen = wake_epoch_;
      changed_.wait_until(lock, wake_at, [&] { return wake_epoch_ != seen || closed_; });
    }
  }

  // Deletes a delivered message. Returns ok, or stale/unknown (the message stays as it is).
  [[nodiscard]] receipt_status ack(const receipt& r) {
    bool freed_group = false;
    {
      std::lock_guard lock{mutex_};
      expire_due(clock_.now());
      auto [status, rec] = check(r);
      if (status != receipt_status::ok) return status;
      release_consumer(*rec);
      const std::uint64_t seq = rec->seq;
      std::optional<std::string> group = std::move(rec->group);
      outstanding_.erase(seq);
      records_.erase(r.id);
      ++acked_;
      if (group) {
        group_state& g = groups_[*group];
        g.pending.erase(seq);
        g.busy = false;
        promote_group(*group);
        freed_group = true;
      }
    }
    if (freed_group) notify();
    return receipt_status::ok;
  }

  // Gives a delivery back: ready now, ready after `delay`, or dead-lettered. A requeue of a
  // message that has used its max_receives deliveries dead-letters it instead.
  //
  // Throws: scaling::invalid_argument if delay < 0.
  [[nodiscard]] receipt_status nack(const receipt& r, nack_action action,
                                    duration delay = duration::zero()) {
    if (delay < duration::zero()) {
      detail::throw_invalid_argument("scaling::work_queue::nack", "delay", "must be >= 0 ns",
                                     delay.count());
    }
    {
      std::lock_guard lock{mutex_};
      const time_point now = clock_.now();
      expire_due(now);
      auto [status, rec] = check(r);
      if (status != receipt_status::ok) return status;
      release_consumer(*rec);
      if (action == nack_action::dead_letter) {
        to_dead(r.id, *rec, dead_reason::rejected);
      } else if (rec->receive_count >= options_.max_receives) {
        to_dead(r.id, *rec, dead_reason::max_receives);
      } else if (action == nack_action::requeue_after && delay > duration::zero()) {
        unblock_group(*rec);
        rec->state = msg_state::delayed;
        rec->due = now + std::chrono::duration_cast<typename Clock::duration>(delay);
        delayed_.emplace(rec->due, r.id);
      } else {
        unblock_group(*rec);
        make_ready(r.id, *rec);
      }
    }
    notify();
    return receipt_status::ok;
  }

  // Changes how long a delivery stays invisible, counted from now (SQS ChangeVisibility).
  // Zero releases it immediately (redelivered to the next receiver).
  //
  // Throws: scaling::invalid_argument if timeout < 0.
  [[nodiscard]] receipt_status extend_visibility(const receipt& r, duration timeout) {
    if (timeout < duration::zero()) {
      detail::throw_invalid_argument("scaling::work_queue::extend_visibility", "timeout",
                                     "must be >= 0 ns", timeout.count());
    }
    if (timeout == duration::zero()) return nack(r, nack_action::requeue);
    std::lock_guard lock{mutex_};
    const time_point now = clock_.now();
    expire_due(now);
    auto [status, rec] = check(r);
    if (status != receipt_status::ok) return status;
    rec->due = now + std::chrono::duration_cast<typename Clock::duration>(timeout);
    in_flight_.emplace(rec->due, r.id);  // the old entry is skipped: its time no longer matches
    return receipt_status::ok;
  }

  // Copies of the dead letters, oldest first.
  [[nodiscard]] std::vector<dead_letter<Message>> dead_letters() const {
    std::lock_guard lock{mutex_};
    std::vector<dead_letter<Message>> out;
    out.reserve(dead_.size());
    for (const auto& [seq, id] : dead_) {
      const record& r = records_.at(id);
      out.push_back({id, *r.body, r.receive_count, r.reason});
    }
    return out;
  }

  // Moves up to `limit` dead letters (oldest first) back to the queue with a fresh receive
  // count (SQS redrive). Returns how many moved.
  std::size_t redrive(std::size_t limit = std::numeric_limits<std::size_t>::max()) {
    std::size_t moved = 0;
    {
      std::lock_guard lock{mutex_};
      while (moved < limit && !dead_.empty()) {
        const auto [seq, id] = *dead_.begin();
        dead_.erase(dead_.begin());
        record& r = records_.at(id);
        r.receive_count = 0;
        outstanding_.emplace(seq, id);
        if (r.group) {
          groups_[*r.group].pending.emplace(seq, id);
          r.state = msg_state::ready;
          promote_group(*r.group);
        } else {
          make_ready(id, r);
        }
        ++moved;
      }
    }
    if (moved != 0) notify();
    return moved;
  }

  // Rejects later publishes (they throw queue_closed) and wakes long pollers. Deliveries in
  // flight may still be acked or nacked.
  void shutdown() {
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
    }
    notify();
  }

  [[nodiscard]] bool is_shut_down() const {
    std::lock_guard lock{mutex_};
    return closed_;
  }

  // Wakes long pollers to re-check; call after advancing a manual clock.
  void notify() {
    std::vector<std::function<void()>> listeners;
    {
      std::lock_guard lock{mutex_};
      ++wake_epoch_;
      for (const auto& [key, fn] : listeners_)
        listeners.push_back(fn);
    }
    changed_.notify_all();
    for (auto& fn : listeners)
      fn();
  }

  // Registers `fn`, called (outside the lock, on the notifying thread) whenever messages may
  // have become deliverable. Used by the Asio integration; returns a key for remove_listener.
  std::uint64_t add_listener(std::function<void()> fn) {
    std::lock_guard lock{mutex_};
    const std::uint64_t key = ++last_listener_;
    listeners_.emplace(key, std::move(fn));
    return key;
  }
  void remove_listener(std::uint64_t key) {
    std::lock_guard lock{mutex_};
    listeners_.erase(key);
  }

  // The earliest instant at which a delayed message or a visibility timeout falls due.
  [[nodiscard]] std::optional<time_point> next_due_time() const {
    std::lock_guard lock{mutex_};
    return next_due();
  }

  [[nodiscard]] work_queue_metrics metrics() const {
    std::lock_guard lock{mutex_};
    const time_point now = clock_.now();
    work_queue_metrics m;
    m.published = published_;
    m.rejected = rejected_;
    m.acked = acked_;
    m.redelivered = redelivered_.load();
    m.dead_lettered = dead_lettered_;
    m.dead = dead_.size();
    for (const auto& [key, r] : records_) {
      (void)key;
      if (r.state == msg_state::ready) ++m.ready;
      if (r.state == msg_state::in_flight) ++m.in_flight;
      if (r.state == msg_state::delayed) ++m.delayed;
    }
    if (!outstanding_.empty()) {
      const record& oldest = records_.at(outstanding_.begin()->second);
      m.oldest_age = std::chrono::duration_cast<duration>(now - oldest.published_at);
    }
    return m;
  }

  [[nodiscard]] const work_queue_options& options() const noexcept { return options_; }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

 private:
  enum class msg_state : std::uint8_t { ready, delayed, in_flight, dead };

  struct record {
    std::optional<Message> body;  // optional: Message need not be default-constructible
    std::optional<std::string> group;
    std::uint64_t seq = 0;
    time_point published_at{};
    time_point due{};  // delayed: ready at; in flight: visible again at
    std::uint64_t handle = 0;
    consumer_id consumer = 0;
    std::uint32_t receive_count = 0;
    std::uint8_t priority = 0;
    msg_state state = msg_state::ready;
    dead_reason reason = dead_reason::max_receives;
  };

  struct group_state {
    std::map<std::uint64_t, message_id> pending;  // not acked, not dead, by publish order
    bool busy = false;                            // the head is ready-listed or in flight
  };

  duration checked_visibility(std::optional<duration> visibility) const {
    const duration timeout = visibility.value_or(options_.visibility_timeout);
    if (timeout <= duration::zero()) {
      detail::throw_invalid_argument("scaling::work_queue::receive", "visibility", "must be > 0 ns",
                                     timeout.count());
    }
    return timeout;
  }

  // Lists a message as deliverable. A grouped message waits its turn in its group instead.
  void make_ready(message_id id, record& r) {
    r.state = msg_state::ready;
    if (r.group) {
      promote_group(*r.group);
      return;
    }
    ready_[r.priority].emplace(r.seq, id);
  }

  // Lists the group's oldest message as deliverable if the group is idle and it is ready.
  void promote_group(const std::string& name) {
    auto it = groups_.find(name);
    if (it == groups_.end()) return;
    group_state& g = it->second;
    if (g.pending.empty()) {
      groups_.erase(it);
      return;
    }
    if (g.busy) return;
    const auto [seq, id] = *g.pending.begin();
    record& head = records_.at(id);
    if (head.state != msg_state::ready) return;
    g.busy = true;
    ready_[head.priority].emplace(seq, id);
  }

  void unblock_group(record& r) {
    if (r.group) groups_[*r.group].busy = false;
  }

  void release_consumer(const record& r) {
    auto it = unacked_.find(r.consumer);
    if (it != unacked_.end() && --it->second == 0) unacked_.erase(it);
  }

  void to_dead(message_id id, record& r, dead_reason reason) {
    r.state = msg_state::dead;
    r.reason = reason;
    r.handle = 0;
    outstanding_.erase(r.seq);
    dead_.emplace(r.seq, id);
    ++dead_lettered_;
    if (r.group) {
      group_state& g = groups_[*r.group];
      g.pending.erase(r.seq);
      g.busy = false;
      promote_group(*r.group);
    }
  }

  std::pair<receipt_status, record*> check(const receipt& r) {
    auto it = records_.find(r.id);
    if (it == records_.end()) return {receipt_status::unknown, nullptr};
    record& rec = it->second;
    if (rec.state != msg_state::in_flight || rec.handle != r.handle || r.handle == 0)
      return {receipt_status::stale, nullptr};
    return {receipt_status::ok, &rec};
  }

  std::optional<time_point> next_due() const {
    std::optional<time_point> due;
    if (!delayed_.empty()) due = delayed_.begin()->first;
    if (!in_flight_.empty() && (!due || in_flight_.begin()->first < *due))
      due = in_flight_.begin()->first;
    return due;
  }

  // Moves delayed messages whose time came to ready, and redelivers (or dead-letters)
  // deliveries whose visibility timeout passed.
  void expire_due(time_point now) {
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      const auto [due, id] = *delayed_.begin();
      delayed_.erase(delayed_.begin());
      auto it = records_.find(id);
      if (it == records_.end() || it->second.state != msg_state::delayed || it->second.due != due)
        continue;
      make_ready(id, it->second);
    }
    while (!in_flight_.empty() && in_flight_.begin()->first <= now) {
      const auto [due, id] = *in_flight_.begin();
      in_flight_.erase(in_flight_.begin());
      auto it = records_.find(id);
      if (it == records_.end() || it->second.state != msg_state::in_flight || it->second.due != due)
        continue;  // acked, nacked or extended since
      record& r = it->second;
      release_consumer(r);
      r.handle = 0;
      if (r.receive_count >= options_.max_receives) {
        to_dead(id, r, dead_reason::max_receives);
      } else {
        unblock_group(r);
        make_ready(id, r);
      }
    }
  }

  std::vector<delivery<Message>> take(consumer_id consumer, std::size_t max_messages,
                                      duration visibility) {
    const time_point now = clock_.now();
    expire_due(now);
    std::vector<delivery<Message>> out;
    std::size_t& held = unacked_[consumer];
    const std::size_t room = options_.prefetch - held;
    const std::size_t want = max_messages < room ? max_messages : room;
    for (std::size_t level = ready_.size(); level-- > 0 && out.size() < want;) {
      auto& lane = ready_[level];
      while (!lane.empty() && out.size() < want) {
        const auto [seq, id] = *lane.begin();
        lane.erase(lane.begin());
        record& r = records_.at(id);
        if (r.receive_count != 0) redelivered_.add();
        ++r.receive_count;
        r.state = msg_state::in_flight;
        r.handle = ++last_handle_;
        r.consumer = consumer;
        r.due = now + std::chrono::duration_cast<typename Clock::duration>(visibility);
        in_flight_.emplace(r.due, id);
        ++held;
        out.push_back(
            {*r.body, scaling::receipt{id, r.receive_count, r.handle}, r.priority, r.group});
      }
    }
    if (held == 0) unacked_.erase(consumer);
    return out;
  }

  work_queue_options options_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<message_id, record> records_;
  std::vector<std::map<std::uint64_t, message_id>> ready_;  // per priority, by publish order
  std::multimap<time_point, message_id> delayed_;
  std::multimap<time_point, message_id> in_flight_;  // by visibility deadline; lazily pruned
  std::map<std::uint64_t, message_id> outstanding_;  // not acked, not dead: oldest first
  std::map<std::uint64_t, message_id> dead_;
  std::unordered_map<std::string, group_state> groups_;
  std::unordered_map<consumer_id, std::size_t> unacked_;
  std::map<std::uint64_t, std::function<void()>> listeners_;
  message_id last_id_ = 0;
  std::uint64_t last_handle_ = 0;
  std::uint64_t last_listener_ = 0;
  std::uint64_t wake_epoch_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t dead_lettered_ = 0;
  relaxed_counter redelivered_;
  bool closed_ = false;
};

}  // namespace scaling
