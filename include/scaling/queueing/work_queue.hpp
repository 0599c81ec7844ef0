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
//   auto id = jobs.publish("resize:42", {.priority = 3});   // nullopt when full or closed
//   for (auto& d : jobs.receive(/*consumer=*/1, /*max=*/10)) {
//     if (process(d.body)) (void)jobs.ack(d.receipt);
//     else (void)jobs.nack(d.receipt, scaling::nack_action::requeue_after, 5s);
//   }
//   jobs.close();                                            // then: jobs.wait_drained_for(1min)
//
// Guarantees: every published message ends acked or dead-lettered, none is lost; a message is
// delivered again only after its visibility timeout passed, it was nacked, or its visibility was
// released, and every delivery of it carries the same id (consumers deduplicate by id). Within a
// group key, messages are delivered in publish order, one at a time: a grouped message is
// deliverable only while it is the oldest of its group that is neither acked nor dead and no
// message of its group is in flight (so a delayed head holds its group back, and a redriven
// letter goes back to its place at the front). Across groups, higher priority first, then
// publish order (a redelivered message keeps its place).
// Time: the state is a function of the clock. A delay or a visibility timeout that has passed
// has taken effect for every call, observers included (stats, dead_letters, drained,
// next_due_time), at its own due time, whether or not a receive ran since.
// Lifecycle: close() stops publishes (they return nullopt); what is held still drains through
// receive, ack and nack. drained() is true once the queue is closed and nothing is ready,
// delayed or in flight (dead letters stay for inspection); wait_drained_for/_until block until
// then.
// Waiting: receive_for / receive_until (bounded, with std::stop_token overloads) return a
// scaling::wait_result that says why a wait ended empty-handed; receive_wait returns a plain
// batch. Waits take any duration type and saturate, so nanoseconds::max() and hours::max()
// mean forever; delays and visibility timeouts (nanoseconds) saturate at the clock's range, so
// nanoseconds::max() is "never falls due".
//
// Thread safety: every member may be called from any thread (one internal mutex;
// the type is mutex-locked). Deliveries and dead letters are handed out as copies.
// Complexity: publish, ack, nack O(log n); receive O(k log n) for k deliveries (plus the
// timers that fell due); stats() and dead_letters() O(n), for monitoring rather than hot paths.
// Time comes from the Clock object, so tests drive it with scaling::manual_clock.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/deadline.hpp>
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

// Was thrown by publish() after shutdown(); publish now returns nullopt once the queue is
// closed (see closed()).
class [[deprecated("publish() after close() returns nullopt; check closed()")]] queue_closed
    : public std::logic_error {
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
  // Invisible for this long after the publish (nanoseconds::max() saturates: for good).
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

// A snapshot of the queue's state at the clock's current time; the health figures to monitor.
struct work_queue_stats {
  std::uint64_t published = 0;      // accepted by publish, ever
  std::uint64_t rejected = 0;       // refused by publish because max_depth was reached
  std::uint64_t acked = 0;          // acked, ever
  std::uint64_t redelivered = 0;    // deliveries after the first, ever
  std::uint64_t dead_lettered = 0;  // moved to the dead-letter queue, ever
  std::size_t ready = 0;            // deliverable now (blocked groups included)
  std::size_t in_flight = 0;        // delivered, not yet acked
  std::size_t delayed = 0;          // published or nacked with a delay that has not passed
  std::size_t dead = 0;             // in the dead-letter queue now
  // How long the oldest ready message has waited for a consumer: now minus the instant it last
  // became ready (its publish, the end of its delay, its requeue or visibility timeout, its
  // redrive). Delayed messages are waiting on purpose and do not count, nor do messages in
  // flight; zero when nothing is ready. The consumer-lag figure to alert on.
  std::chrono::nanoseconds oldest_age{0};
  // published == acked + dead + ready + in_flight + delayed (redriven letters counted again
  // in neither published nor acked) holds at every instant.
};

using work_queue_metrics [[deprecated("use work_queue_stats")]] = work_queue_stats;

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

  // Publishes a message. A delay of nanoseconds::max() (or any delay past the clock's range)
  // saturates: the message stays delayed for good.
  //
  // Returns: its id, or std::nullopt if the queue is closed (nothing counted; see closed()) or
  //   max_depth messages are held (counted in stats().rejected: the backpressure signal, slow
  //   down or shed).
  // Throws: scaling::invalid_argument if options.priority >= priority_levels or
  //   options.delay < 0; whatever moving the message throws, or std::bad_alloc. Strong
  //   guarantee: after a throw the queue is as it was (ids, counters, contents).
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
      if (closed_) return std::nullopt;
      const time_point now = clock_.now();
      settle(now);
      if (records_.size() - dead_.size() >= options_.max_depth) {
        ++rejected_;
        return std::nullopt;
      }
      id = last_id_ + 1;
      insert(id, std::move(body), std::move(options), now);  // strong; commits below
      last_id_ = id;
      ++published_;
    }
    notify();
    return id;
  }

  // Receives up to `max_messages` deliverable messages for `consumer`, each invisible to
  // others for `visibility` (default: options.visibility_timeout; hours::max() saturates),
  // without blocking.
  //
  // Returns: at most min(max_messages, prefetch - consumer's unacked) deliveries, highest
  //   priority first; empty if nothing is deliverable.
  // Throws: scaling::invalid_argument if visibility <= 0; whatever copying a message throws
  //   (basic guarantee: the deliveries made before the throw are lost to the caller and come
  //   back after their visibility timeout, nothing is lost).
  [[nodiscard]] std::vector<delivery<Message>> receive(
      consumer_id consumer, std::size_t max_messages,
      std::optional<duration> visibility = std::nullopt) {
    const duration timeout = checked_visibility(visibility);
    std::lock_guard lock{mutex_};
    return take(consumer, max_messages, timeout);
  }

  // Long polling: like receive(), but if nothing is deliverable, waits up to `wait` (real
  // time; nanoseconds::max() or hours::max() wait forever) for a publish, a nack, a release or
  // a delay to pass. After close() it keeps waiting for what is still delayed or in flight, and
  // returns (empty) at once when the queue is drained. With a manual clock, delays pass only
  // when the test advances it and calls notify().
  //
  // Throws: scaling::invalid_argument if visibility <= 0; as receive() otherwise.
  template <class Rep, class Period>
  [[nodiscard]] std::vector<delivery<Message>> receive_wait(
      consumer_id consumer, std::size_t max_messages, std::chrono::duration<Rep, Period> wait,
      std::optional<duration> visibility = std::nullopt) {
    const duration timeout = checked_visibility(visibility);
    const auto deadline = deadline_after(std::chrono::steady_clock{}, wait);
    std::unique_lock lock{mutex_};
    std::vector<delivery<Message>> got;
    (void)wait_locked(lock, deadline, nullptr, [&] {
      got = take(consumer, max_messages, timeout);
      return !got.empty() || max_messages == 0 || drained_locked();
    });
    return got;
  }

  // Bounded receive (the library's *_for / *_until form of receive_wait, with the default
  // visibility timeout): waits until at least one message is delivered, the deadline passes
  // (saturating: nanoseconds::max() or hours::max() is forever), `stop` is requested, or the
  // queue is closed and drained.
  //
  // Returns: ready with a non-empty batch, or no value and timed_out, stopped or closed.
  // Throws: as receive().
  template <class Rep, class Period>
  [[nodiscard]] wait_result<std::vector<delivery<Message>>> receive_for(
      consumer_id consumer, std::size_t max_messages, std::chrono::duration<Rep, Period> timeout) {
    return receive_until(consumer, max_messages,
                         deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_result<std::vector<delivery<Message>>> receive_for(
      consumer_id consumer, std::size_t max_messages, std::chrono::duration<Rep, Period> timeout,
      std::stop_token stop) {
    return receive_until(consumer, max_messages,
                         deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  [[nodiscard]] wait_result<std::vector<delivery<Message>>> receive_until(
      consumer_id consumer, std::size_t max_messages,
      std::chrono::steady_clock::time_point deadline) {
    return bounded_receive(consumer, max_messages, deadline, nullptr);
  }
  [[nodiscard]] wait_result<std::vector<delivery<Message>>> receive_until(
      consumer_id consumer, std::size_t max_messages,
      std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
    return bounded_receive(consumer, max_messages, deadline, &stop);
  }

  // Deletes a delivered message. Returns ok, or stale/unknown (the message stays as it is).
  [[nodiscard]] receipt_status ack(const receipt& r) {
    bool wake = false;
    {
      std::lock_guard lock{mutex_};
      settle(clock_.now());
      record* rec = nullptr;
      if (const auto status = check(r, rec); status != receipt_status::ok) return status;
      // Waiters to wake: a consumer held back by its prefetch limit, the group's next
      // message, and (once closed) whoever waits for the queue to drain.
      wake = leave_flight(*rec) || rec->group.has_value() || closed_;
      if (rec->group) forget_in_group(*rec);
      records_.erase(r.id);
      ++acked_;
    }
    if (wake) notify();
    return receipt_status::ok;
  }

  // Gives a delivery back: ready now, ready after `delay` (nanoseconds::max(): never again,
  // saturated), or dead-lettered. A requeue of a message that has used its max_receives
  // deliveries dead-letters it instead.
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
      settle(now);
      record* rec = nullptr;
      if (const auto status = check(r, rec); status != receipt_status::ok) return status;
      (void)leave_flight(*rec);
      if (action == nack_action::dead_letter) {
        to_dead(r.id, *rec, dead_reason::rejected);
      } else if (rec->receive_count >= options_.max_receives) {
        to_dead(r.id, *rec, dead_reason::max_receives);
      } else if (action == nack_action::requeue_after && delay > duration::zero()) {
        to_delayed(r.id, *rec, saturating_add(now, delay));
        // The group is no longer in flight: its head (this message, or an older one that was
        // redriven meanwhile) may be deliverable now.
        if (rec->group) refresh_group(*rec->group);
      } else {
        make_ready(r.id, *rec, now);
      }
    }
    notify();
    return receipt_status::ok;
  }

  // Changes how long a delivery stays invisible, counted from now (SQS ChangeVisibility;
  // hours::max() saturates). Zero releases it immediately (redelivered to the next receiver).
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
    settle(now);
    record* rec = nullptr;
    if (const auto status = check(r, rec); status != receipt_status::ok) return status;
    schedule(in_flight_, r.id, *rec, saturating_add(now, timeout));
    return receipt_status::ok;
  }

  // Copies of the dead letters at the clock's current time, oldest (by publish) first.
  [[nodiscard]] std::vector<dead_letter<Message>> dead_letters() const {
    std::lock_guard lock{mutex_};
    settle(clock_.now());
    std::vector<dead_letter<Message>> out;
    out.reserve(dead_.size());
    for (const auto& [seq, id] : dead_) {
      const record& r = records_.at(id);
      out.push_back({id, *r.body, r.receive_count, r.reason});
    }
    return out;
  }

  // Moves up to `limit` dead letters (oldest first, including deliveries whose last visibility
  // timeout has just passed) back to the queue with a fresh receive count (SQS redrive). A
  // grouped letter goes back to its place in its group. Returns how many moved.
  std::size_t redrive(std::size_t limit = std::numeric_limits<std::size_t>::max()) {
    std::size_t moved = 0;
    {
      std::lock_guard lock{mutex_};
      const time_point now = clock_.now();
      settle(now);
      while (moved < limit && !dead_.empty()) {
        const auto [seq, id] = *dead_.begin();
        record& r = records_.at(id);
        if (r.group) groups_[*r.group].pending.emplace(seq, id);
        dead_.erase(dead_.begin());
        r.receive_count = 0;
        make_ready(id, r, now);
        ++moved;
      }
    }
    if (moved != 0) notify();
    return moved;
  }

  // Closes the queue: later publishes return nullopt; what is held still drains (receive, ack,
  // nack, timeouts work as before). Wakes every long poller and drain waiter. Idempotent.
  void close() {
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
    }
    notify();
  }

  [[deprecated("use close()")]] void shutdown() { close(); }

  [[nodiscard]] bool closed() const {
    std::lock_guard lock{mutex_};
    return closed_;
  }

  [[deprecated("use closed()")]] [[nodiscard]] bool is_shut_down() const { return closed(); }

  // Whether the queue is closed and nothing is ready, delayed or in flight (dead letters may
  // remain): no receive will ever return a message again, short of a redrive.
  [[nodiscard]] bool drained() const {
    std::lock_guard lock{mutex_};
    settle(clock_.now());
    return drained_locked();
  }

  // Blocks until drained(), the deadline (real time; nanoseconds::max() or hours::max() is
  // forever) or a stop request. Returns ready, timed_out or stopped.
  template <class Rep, class Period>
  [[nodiscard]] wait_status wait_drained_for(std::chrono::duration<Rep, Period> timeout) {
    return wait_drained_until(deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_status wait_drained_for(std::chrono::duration<Rep, Period> timeout,
                                             std::stop_token stop) {
    return wait_drained_until(deadline_after(std::chrono::steady_clock{}, timeout),
                              std::move(stop));
  }
  [[nodiscard]] wait_status wait_drained_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock{mutex_};
    return wait_locked(lock, deadline, nullptr, [&] { return drained_locked(); });
  }
  [[nodiscard]] wait_status wait_drained_until(std::chrono::steady_clock::time_point deadline,
                                               std::stop_token stop) {
    std::unique_lock lock{mutex_};
    return wait_locked(lock, deadline, &stop, [&] { return drained_locked(); });
  }

  // Wakes long pollers and drain waiters to re-check; call after advancing a manual clock.
  void notify() {
    std::shared_ptr<const listener_list> listeners;
    {
      std::lock_guard lock{mutex_};
      ++wake_epoch_;
      listeners = listeners_;
    }
    changed_.notify_all();
    if (listeners) {
      for (const auto& [key, fn] : *listeners)
        fn();
    }
  }

  // Registers `fn`, called (outside the lock, on the notifying thread) whenever messages may
  // have become deliverable. Used by the Asio integration; returns a key for remove_listener.
  std::uint64_t add_listener(std::function<void()> fn) {
    std::lock_guard lock{mutex_};
    auto next = listeners_ ? std::make_shared<listener_list>(*listeners_)
                           : std::make_shared<listener_list>();
    const std::uint64_t key = ++last_listener_;
    next->emplace_back(key, std::move(fn));
    listeners_ = std::move(next);
    return key;
  }
  void remove_listener(std::uint64_t key) {
    std::lock_guard lock{mutex_};
    if (!listeners_) return;
    auto next = std::make_shared<listener_list>();
    for (const auto& entry : *listeners_)
      if (entry.first != key) next->push_back(entry);
    listeners_ = next->empty() ? nullptr : std::move(next);
  }

  // The earliest instant at which a delayed message or a visibility timeout falls due, after
  // those that already fell due took effect (so it is later than now); nullopt if none.
  [[nodiscard]] std::optional<time_point> next_due_time() const {
    std::lock_guard lock{mutex_};
    settle(clock_.now());
    return next_due();
  }

  // A snapshot at the clock's current time (due transitions applied first).
  [[nodiscard]] work_queue_stats stats() const {
    std::lock_guard lock{mutex_};
    const time_point now = clock_.now();
    settle(now);
    work_queue_stats m;
    m.published = published_;
    m.rejected = rejected_;
    m.acked = acked_;
    m.redelivered = redelivered_.load();
    m.dead_lettered = dead_lettered_;
    m.dead = dead_.size();
    std::optional<time_point> oldest;
    for (const auto& [key, r] : records_) {
      (void)key;
      if (r.state == msg_state::ready) {
        ++m.ready;
        if (!oldest || r.ready_since < *oldest) oldest = r.ready_since;
      }
      if (r.state == msg_state::in_flight) ++m.in_flight;
      if (r.state == msg_state::delayed) ++m.delayed;
    }
    if (oldest && now > *oldest) m.oldest_age = std::chrono::duration_cast<duration>(now - *oldest);
    return m;
  }

  [[deprecated("use stats()")]] [[nodiscard]] work_queue_stats metrics() const { return stats(); }

  [[nodiscard]] const work_queue_options& options() const noexcept { return options_; }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

 private:
  enum class msg_state : std::uint8_t { ready, delayed, in_flight, dead };

  struct record {
    std::optional<Message> body;  // optional: Message need not be default-constructible
    std::optional<std::string> group;
    std::uint64_t seq = 0;
    time_point ready_since{};  // when it last became ready (for oldest_age)
    time_point due{};          // delayed: ready at; in flight: visible again at
    std::uint64_t timer = 0;   // which schedule entry is current (older entries are skipped)
    std::uint64_t handle = 0;
    consumer_id consumer = 0;
    std::uint32_t receive_count = 0;
    std::uint8_t priority = 0;
    msg_state state = msg_state::ready;
    dead_reason reason = dead_reason::max_receives;
  };

  struct group_state {
    std::map<std::uint64_t, message_id> pending;  // not acked, not dead, by publish order
    std::optional<message_id> listed;             // the head, while it sits in ready_
    bool in_flight = false;                       // a message of the group is delivered
  };

  struct timer_entry {
    message_id id = 0;
    std::uint64_t timer = 0;
  };
  using schedule_map = std::multimap<time_point, timer_entry>;
  using listener_list = std::vector<std::pair<std::uint64_t, std::function<void()>>>;

  duration checked_visibility(std::optional<duration> visibility) const {
    const duration timeout = visibility.value_or(options_.visibility_timeout);
    if (timeout <= duration::zero()) {
      detail::throw_invalid_argument("scaling::work_queue::receive", "visibility", "must be > 0 ns",
                                     timeout.count());
    }
    return timeout;
  }

  // Adds the record of a new message. Strong guarantee: on a throw every step taken so far is
  // undone, so publish leaves the queue as it was.
  void insert(message_id id, Message&& body, publish_options&& options, time_point now) {
    auto [it, fresh] = records_.try_emplace(id);
    (void)fresh;
    record& r = it->second;
    const std::string* group_name = nullptr;
    bool group_created = false;
    bool pending_added = false;
    try {
      r.body.emplace(std::move(body));
      r.priority = options.priority;
      r.seq = id;
      if (options.group) {
        auto [g, created] = groups_.try_emplace(*options.group);
        group_created = created;
        group_name = &g->first;
        g->second.pending.emplace(id, id);
        pending_added = true;
        r.group = std::move(options.group);
      }
      if (options.delay > duration::zero()) {
        to_delayed(id, r, saturating_add(now, options.delay));
      } else {
        make_ready(id, r, now);
      }
    } catch (...) {
      if (pending_added) {
        auto g = groups_.find(*group_name);
        g->second.pending.erase(id);
        if (group_created) groups_.erase(g);
      }
      records_.erase(it);
      throw;
    }
  }

  // --- Time-driven transitions ---------------------------------------------------------------
  // The queue's state is a function of the clock, and observers (stats, dead_letters, drained,
  // next_due_time) are const: they call settle(), which applies the delays and visibility
  // timeouts that fell due. Those transitions are what the state already is at this instant,
  // only not yet written down, so they are made const over `mutable` members (always under
  // mutex_); everything settle() reaches is const for that reason.

  // Lists a message as deliverable, as of `since`. A grouped message waits its turn in its
  // group instead.
  void make_ready(message_id id, record& r, time_point since) const {
    r.state = msg_state::ready;
    r.ready_since = since;
    if (r.group) {
      refresh_group(*r.group);
      return;
    }
    ready_[r.priority].emplace(r.seq, id);
  }

  void to_delayed(message_id id, record& r, time_point due) const {
    r.state = msg_state::delayed;
    schedule(delayed_, id, r, due);
  }

  void schedule(schedule_map& timers, message_id id, record& r, time_point due) const {
    const std::uint64_t timer = last_timer_ + 1;
    timers.emplace(due, timer_entry{id, timer});
    last_timer_ = timer;
    r.timer = timer;
    r.due = due;
  }

  // Makes the group's listing in ready_ match the rule: its oldest pending message is listed
  // iff it is ready and no message of the group is in flight. Erases an empty group.
  void refresh_group(const std::string& name) const {
    auto it = groups_.find(name);
    if (it == groups_.end()) return;
    group_state& g = it->second;
    std::optional<message_id> want;
    if (!g.in_flight && !g.pending.empty()) {
      const message_id head = g.pending.begin()->second;
      if (records_.at(head).state == msg_state::ready) want = head;
    }
    if (want != g.listed) {
      if (want) {
        const record& next = records_.at(*want);
        ready_[next.priority].emplace(next.seq, *want);
      }
      if (g.listed) {
        const record& old = records_.at(*g.listed);
        ready_[old.priority].erase(old.seq);
      }
      g.listed = want;
    }
    if (g.pending.empty()) groups_.erase(it);
  }

  // Ends the current delivery of `r` (ack, nack or timeout). Returns whether its consumer was
  // at its prefetch limit (a waiter may now receive).
  bool leave_flight(record& r) const {
    r.handle = 0;
    if (r.group) groups_.at(*r.group).in_flight = false;
    auto it = unacked_.find(r.consumer);
    if (it == unacked_.end()) return false;
    const bool was_full = it->second >= options_.prefetch;
    if (--it->second == 0) unacked_.erase(it);
    return was_full;
  }

  // Removes `r` from its group's pending messages and lets the next one go.
  void forget_in_group(const record& r) const {
    groups_.at(*r.group).pending.erase(r.seq);
    refresh_group(*r.group);
  }

  void to_dead(message_id id, record& r, dead_reason reason) const {
    r.state = msg_state::dead;
    r.reason = reason;
    r.handle = 0;
    dead_.emplace(r.seq, id);
    ++dead_lettered_;
    if (r.group) forget_in_group(r);
  }

  // Applies every delay and visibility timeout due at `now`, each as of its own due time, then
  // drops schedule entries that no longer match their record (acked, nacked, extended).
  void settle(time_point now) const {
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      const auto [due, entry] = *delayed_.begin();
      delayed_.erase(delayed_.begin());
      if (record* r = current(entry, msg_state::delayed)) make_ready(entry.id, *r, due);
    }
    while (!in_flight_.empty() && in_flight_.begin()->first <= now) {
      const auto [due, entry] = *in_flight_.begin();
      in_flight_.erase(in_flight_.begin());
      record* r = current(entry, msg_state::in_flight);
      if (!r) continue;
      (void)leave_flight(*r);
      if (r->receive_count >= options_.max_receives) {
        to_dead(entry.id, *r, dead_reason::max_receives);
      } else {
        make_ready(entry.id, *r, due);
      }
    }
    prune(delayed_, msg_state::delayed);
    prune(in_flight_, msg_state::in_flight);
  }

  record* current(const timer_entry& entry, msg_state state) const {
    auto it = records_.find(entry.id);
    if (it == records_.end()) return nullptr;
    record& r = it->second;
    return r.state == state && r.timer == entry.timer ? &r : nullptr;
  }

  void prune(schedule_map& timers, msg_state state) const {
    while (!timers.empty() && current(timers.begin()->second, state) == nullptr)
      timers.erase(timers.begin());
  }

  // ---------------------------------------------------------------------------------------------

  [[nodiscard]] bool drained_locked() const { return closed_ && records_.size() == dead_.size(); }

  receipt_status check(const receipt& r, record*& out) {
    auto it = records_.find(r.id);
    if (it == records_.end()) return receipt_status::unknown;
    record& rec = it->second;
    if (rec.state != msg_state::in_flight || rec.handle != r.handle || r.handle == 0)
      return receipt_status::stale;
    out = &rec;
    return receipt_status::ok;
  }

  std::optional<time_point> next_due() const {
    std::optional<time_point> due;
    if (!delayed_.empty()) due = delayed_.begin()->first;
    if (!in_flight_.empty() && (!due || in_flight_.begin()->first < *due))
      due = in_flight_.begin()->first;
    return due;
  }

  // Sleeps (the lock held on entry and on return) until `done()` holds, `deadline` (real time)
  // passes or `stop` is requested; wakes for notify() and for the next due time of the queue's
  // clock, mapped to real time. `done` runs under the lock after the due transitions settled.
  template <class Done>
  wait_status wait_locked(std::unique_lock<std::mutex>& lock,
                          std::chrono::steady_clock::time_point deadline,
                          const std::stop_token* stop, Done&& done) {
    for (;;) {
      settle(clock_.now());
      if (done()) return wait_status::ready;
      if (stop != nullptr && stop->stop_requested()) return wait_status::stopped;
      const auto real_now = std::chrono::steady_clock::now();
      if (real_now >= deadline) return wait_status::timed_out;
      auto wake_at = deadline;
      if (auto due = next_due()) {
        // Sleep no longer than until the next delay or visibility timeout passes. A due time
        // at the end of the clock's range is "never" and sets no alarm.
        const time_point now = clock_.now();
        if (*due != time_point::max()) {
          const auto until =
              *due > now ? std::chrono::duration_cast<duration>(*due - now) : duration::zero();
          const auto alarm = saturating_add(real_now, until);
          if (alarm < wake_at) wake_at = alarm;
        }
      }
      const std::uint64_t seen = wake_epoch_;
      if (stop != nullptr) {
        (void)changed_.wait_until(lock, *stop, wake_at, [&] { return wake_epoch_ != seen; });
      } else {
        (void)changed_.wait_until(lock, wake_at, [&] { return wake_epoch_ != seen; });
      }
    }
  }

  wait_result<std::vector<delivery<Message>>> bounded_receive(
      consumer_id consumer, std::size_t max_messages,
      std::chrono::steady_clock::time_point deadline, const std::stop_token* stop) {
    const duration timeout = options_.visibility_timeout;
    std::unique_lock lock{mutex_};
    std::vector<delivery<Message>> got;
    bool drained = false;
    const wait_status status = wait_locked(lock, deadline, stop, [&] {
      got = take(consumer, max_messages, timeout);
      drained = got.empty() && drained_locked();
      return !got.empty() || drained;
    });
    if (!got.empty())
      return wait_result<std::vector<delivery<Message>>>{std::in_place, std::move(got)};
    return wait_result<std::vector<delivery<Message>>>{drained ? wait_status::closed : status};
  }

  std::vector<delivery<Message>> take(consumer_id consumer, std::size_t max_messages,
                                      duration visibility) {
    const time_point now = clock_.now();
    settle(now);
    std::vector<delivery<Message>> out;
    auto held_it = unacked_.find(consumer);
    const std::size_t held = held_it == unacked_.end() ? 0 : held_it->second;
    const std::size_t room = options_.prefetch - held;
    const std::size_t want = max_messages < room ? max_messages : room;
    if (want == 0) return out;
    const time_point due = saturating_add(now, visibility);
    for (std::size_t level = ready_.size(); level-- > 0 && out.size() < want;) {
      auto& lane = ready_[level];
      while (!lane.empty() && out.size() < want) {
        const auto [seq, id] = *lane.begin();
        record& r = records_.at(id);
        const std::uint64_t handle = last_handle_ + 1;
        // Copy first: a throwing copy leaves this message ready, as it was.
        out.push_back(
            {*r.body, scaling::receipt{id, r.receive_count + 1, handle}, r.priority, r.group});
        lane.erase(lane.begin());
        last_handle_ = handle;
        if (r.receive_count != 0) redelivered_.add();
        ++r.receive_count;
        r.state = msg_state::in_flight;
        r.handle = handle;
        r.consumer = consumer;
        ++unacked_[consumer];
        if (r.group) {
          group_state& g = groups_.at(*r.group);
          g.in_flight = true;
          g.listed.reset();
        }
        schedule(in_flight_, id, r, due);
      }
    }
    return out;
  }

  work_queue_options options_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  // Written by settle() from const observers too (see "Time-driven transitions" above).
  mutable std::unordered_map<message_id, record> records_;
  mutable std::vector<std::map<std::uint64_t, message_id>> ready_;  // per priority, by seq
  mutable schedule_map delayed_;    // by due time; entries whose timer moved on are skipped
  mutable schedule_map in_flight_;  // by visibility deadline; likewise
  mutable std::map<std::uint64_t, message_id> dead_;
  mutable std::unordered_map<std::string, group_state> groups_;
  mutable std::unordered_map<consumer_id, std::size_t> unacked_;
  mutable std::uint64_t last_timer_ = 0;
  mutable std::uint64_t dead_lettered_ = 0;
  std::shared_ptr<const listener_list> listeners_;  // copied on change: notify never allocates
  message_id last_id_ = 0;
  std::uint64_t last_handle_ = 0;
  std::uint64_t last_listener_ = 0;
  std::uint64_t wake_epoch_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t acked_ = 0;
  relaxed_counter redelivered_;
  bool closed_ = false;
};

}  // namespace scaling
