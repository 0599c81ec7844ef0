// scaling/queueing/mailbox.hpp: store-and-forward delivery to recipients that come and go.
//
// What it is: `scaling::mailbox<Recipient, Message>`, the offline-message store of a chat
// server (WhatsApp's design as Rick Reed described it): a message for an online recipient is
// handed straight to its connection; a message for an offline recipient is kept, in order,
// until it connects, and then flushed. Either way a message is deleted only when the recipient
// acks it, so a connection that drops mid-flush loses nothing: the unacked messages are sent
// again on the next connect (the recipient deduplicates by sequence number). Each recipient
// has priority lanes (higher lanes flush first) and a limit on stored messages with an
// explicit overflow policy: reject the new message, drop the oldest, or block the sender.
//
// When to pick it: per-recipient queues with presence (chat, push notifications, device sync).
// Pick `work_queue` for competing consumers of one stream of work.
//
//   scaling::mailbox<std::string, std::string> inbox{{.max_pending = 1000}};
//   (void)inbox.send("bob", "hi");                       // bob offline: stored
//   inbox.connect("bob", [&](const auto& e) { show(e.body); (void)inbox.ack("bob", e.seq); });
//   inbox.disconnect("bob");                             // later sends are stored again
//   std::size_t backlog = inbox.pending("bob");          // queue length: the health metric
//   auto r = inbox.send_for("bob", "hi", 0, 50ms);        // overflow_policy::block, bounded
//
// Ordering: within a lane, a recipient receives messages in send order (for one sender, and in
// the order sends were accepted across senders). A reconnect re-sends unacked messages first,
// in the same order. Deliveries to one recipient never run concurrently.
// Thread safety: every member may be called from any thread (one internal mutex; sinks run
// outside it, so a sink may call ack, send or disconnect).
// Blocking: under overflow_policy::block, send() waits for room; send_for / send_until bound
// the wait (and take a std::stop_token), returning a scaling::wait_result<send_status>.
// Complexity: send, ack O(log n) for n stored messages of that recipient.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>

namespace scaling {

// What the mailbox does when a recipient already holds max_pending messages.
enum class overflow_policy {
  reject,       // the new message is refused (send returns rejected): the sender decides
  drop_oldest,  // the oldest message of the lowest non-empty lane is discarded (counted)
  block,        // the sender waits until the recipient acks something (or close())
};

enum class send_status {
  delivered,  // the recipient is online: handed to its connection (deleted on ack)
  stored,     // the recipient is offline: kept until it connects (deleted on ack)
  rejected,   // full, under overflow_policy::reject
  closed,     // the mailbox was closed
};

struct mailbox_options {
  std::uint8_t lanes = 2;  // priority lanes: 0 (lowest) .. lanes - 1. Must be >= 1.
  std::size_t max_pending = std::numeric_limits<std::size_t>::max();  // per recipient, >= 1
  overflow_policy overflow = overflow_policy::reject;
};

template <class Message>
struct envelope {
  std::uint64_t seq = 0;  // per recipient, increasing in send order; a resend keeps it
  std::uint8_t lane = 0;
  Message body;
};

// A snapshot of the mailbox's counters and gauges.
struct mailbox_stats {
  std::uint64_t sent = 0;         // accepted sends
  std::uint64_t delivered = 0;    // hand-offs to a sink, resends included
  std::uint64_t redelivered = 0;  // resends after a reconnect
  std::uint64_t acked = 0;
  std::uint64_t dropped = 0;    // discarded by drop_oldest
  std::uint64_t rejected = 0;   // refused by reject
  std::size_t stored = 0;       // held now, all recipients (delivered-unacked included)
  std::size_t online = 0;       // connected recipients
  std::size_t max_backlog = 0;  // the largest per-recipient queue length now
};

using mailbox_metrics [[deprecated("use mailbox_stats")]] = mailbox_stats;

template <class Recipient, class Message, class Hash = scaling::hash<>>
requires std::copy_constructible<Message> && std::equality_comparable<Recipient> &&
    hasher_for<Hash, Recipient>
class mailbox {
 public:
  using sink_type = std::function<void(const envelope<Message>&)>;

  // Throws: scaling::invalid_argument if lanes == 0 or max_pending == 0.
  explicit mailbox(mailbox_options options = {}, Hash hash = Hash{})
      : options_(options), boxes_(16, hasher{std::move(hash)}) {
    if (options.lanes == 0)
      detail::throw_invalid_argument("scaling::mailbox", "lanes", "must be >= 1", options.lanes);
    if (options.max_pending == 0) {
      detail::throw_invalid_argument("scaling::mailbox", "max_pending", "must be >= 1",
                                     options.max_pending);
    }
  }

  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  // Sends `body` to `to` in `lane`.
  //
  // Returns: delivered, stored, rejected (full under reject) or closed.
  // Throws: scaling::invalid_argument if lane >= lanes.
  // Blocks: under overflow_policy::block, while the recipient is full.
  send_status send(const Recipient& to, Message body, std::uint8_t lane = 0) {
    check_lane(lane);
    std::unique_lock lock{mutex_};
    const auto [status, sent] = send_locked(lock, to, body, lane, std::nullopt, nullptr);
    (void)status;  // without a deadline or a stop token the wait ends only in ready or closed
    return sent;
  }

  // send() with a bounded wait for room (only overflow_policy::block ever waits): until
  // `timeout` has passed (nanoseconds::max() or hours::max(): forever), `deadline`, or `stop`
  // is requested.
  //
  // Returns: ready with delivered, stored or rejected (as send()); wait_status::closed (no
  //   value) if the mailbox is or becomes closed; timed_out or stopped if no room was made in
  //   time (nothing was sent).
  // Throws: scaling::invalid_argument if lane >= lanes.
  template <class Rep, class Period>
  [[nodiscard]] wait_result<send_status> send_for(const Recipient& to, Message body,
                                                  std::uint8_t lane,
                                                  std::chrono::duration<Rep, Period> timeout) {
    return send_until(to, std::move(body), lane,
                      deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_result<send_status> send_for(const Recipient& to, Message body,
                                                  std::uint8_t lane,
                                                  std::chrono::duration<Rep, Period> timeout,
                                                  std::stop_token stop) {
    return send_until(to, std::move(body), lane,
                      deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  [[nodiscard]] wait_result<send_status> send_until(
      const Recipient& to, Message body, std::uint8_t lane,
      std::chrono::steady_clock::time_point deadline) {
    check_lane(lane);
    std::unique_lock lock{mutex_};
    return to_result(send_locked(lock, to, body, lane, deadline, nullptr));
  }
  [[nodiscard]] wait_result<send_status> send_until(const Recipient& to, Message body,
                                                    std::uint8_t lane,
                                                    std::chrono::steady_clock::time_point deadline,
                                                    std::stop_token stop) {
    check_lane(lane);
    std::unique_lock lock{mutex_};
    return to_result(send_locked(lock, to, body, lane, deadline, &stop));
  }

  // Marks `who` online with `sink` as its connection, and flushes what is stored for it
  // (unacked messages first, in order). Replaces a previous connection of the same recipient.
  void connect(const Recipient& who, sink_type sink) {
    std::unique_lock lock{mutex_};
    box& b = box_for(who);
    if (!b.online) ++online_;
    b.online = true;
    ++b.session;
    b.sink = std::make_shared<sink_type>(std::move(sink));
    for (auto& cursor : b.cursor)
      cursor = 0;
    pump(who, lock);
  }

  // Marks `who` offline: later messages are stored, unacked ones will be resent on connect.
  void disconnect(const Recipient& who) {
    std::lock_guard lock{mutex_};
    auto it = boxes_.find(who);
    if (it == boxes_.end() || !it->second.online) return;
    it->second.online = false;
    ++it->second.session;
    it->second.sink.reset();
    --online_;
  }

  // Deletes message `seq` of `who`. Returns false if there is no such stored message.
  bool ack(const Recipient& who, std::uint64_t seq) {
    {
      std::lock_guard lock{mutex_};
      auto it = boxes_.find(who);
      if (it == boxes_.end()) return false;
      box& b = it->second;
      bool found = false;
      for (auto& lane : b.lanes) {
        if (lane.erase(seq) != 0) {
          found = true;
          break;
        }
      }
      if (!found) return false;
      --b.count;
      --stored_;
      ++acked_;
    }
    space_.notify_all();
    return true;
  }

  // Refuses later sends (they return send_status::closed) and wakes blocked senders. Stored
  // messages stay deliverable. Idempotent.
  void close() {
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
    }
    space_.notify_all();
  }

  [[nodiscard]] bool closed() const {
    std::lock_guard lock{mutex_};
    return closed_;
  }

  // The number of messages stored for `who` (delivered-unacked included): its queue length.
  [[nodiscard]] std::size_t pending(const Recipient& who) const {
    std::lock_guard lock{mutex_};
    auto it = boxes_.find(who);
    return it == boxes_.end() ? 0 : it->second.count;
  }

  [[nodiscard]] bool online(const Recipient& who) const {
    std::lock_guard lock{mutex_};
    auto it = boxes_.find(who);
    return it != boxes_.end() && it->second.online;
  }

  // Copies of what is stored for `who`, in delivery order (highest lane first).
  [[nodiscard]] std::vector<envelope<Message>> stored(const Recipient& who) const {
    std::lock_guard lock{mutex_};
    std::vector<envelope<Message>> out;
    auto it = boxes_.find(who);
    if (it == boxes_.end()) return out;
    const box& b = it->second;
    for (std::size_t lane = b.lanes.size(); lane-- > 0;) {
      for (const auto& [seq, body] : b.lanes[lane])
        out.push_back({seq, static_cast<std::uint8_t>(lane), body});
    }
    return out;
  }

  [[nodiscard]] mailbox_stats stats() const {
    std::lock_guard lock{mutex_};
    mailbox_stats m;
    m.sent = sent_;
    m.delivered = delivered_;
    m.redelivered = redelivered_;
    m.acked = acked_;
    m.dropped = dropped_;
    m.rejected = rejected_;
    m.stored = stored_;
    m.online = online_;
    for (const auto& [who, b] : boxes_) {
      (void)who;
      if (b.count > m.max_backlog) m.max_backlog = b.count;
    }
    return m;
  }

  [[deprecated("use stats()")]] [[nodiscard]] mailbox_stats metrics() const { return stats(); }

 private:
  struct hasher {
    Hash hash;
    std::size_t operator()(const Recipient& r) const {
      return static_cast<std::size_t>(static_cast<std::uint64_t>(hash(r)));
    }
  };

  struct box {
    std::vector<std::map<std::uint64_t, Message>> lanes;  // stored until acked, by seq
    std::vector<std::uint64_t> cursor;  // per lane: last seq handed out in this session
    std::shared_ptr<sink_type> sink;
    std::uint64_t last_seq = 0;
    std::uint64_t max_delivered = 0;  // the highest seq ever handed out (to count resends)
    std::uint64_t session = 0;
    std::size_t count = 0;
    bool online = false;
    bool delivering = false;  // a thread is running this recipient's sink
  };

  void check_lane(std::uint8_t lane) const {
    if (lane >= options_.lanes)
      detail::throw_invalid_argument("scaling::mailbox::send", "lane", "must be < lanes", lane);
  }

  static wait_result<send_status> to_result(std::pair<wait_status, send_status> r) {
    if (r.first == wait_status::ready) return wait_result<send_status>{std::in_place, r.second};
    return wait_result<send_status>{r.first};
  }

  // The body of every send: waits for room under overflow_policy::block (until `deadline` or
  // `stop`, when given), stores, and delivers if the recipient is online.
  std::pair<wait_status, send_status> send_locked(
      std::unique_lock<std::mutex>& lock, const Recipient& to, Message& body, std::uint8_t lane,
      std::optional<std::chrono::steady_clock::time_point> deadline, const std::stop_token* stop) {
    box* b = &box_for(to);
    const auto room = [&] { return closed_ || box_for(to).count < options_.max_pending; };
    while (!closed_ && b->count >= options_.max_pending) {
      if (options_.overflow == overflow_policy::reject) {
        ++rejected_;
        return {wait_status::ready, send_status::rejected};
      }
      if (options_.overflow == overflow_policy::drop_oldest) {
        drop_oldest(*b);
        break;
      }
      if (stop != nullptr && stop->stop_requested())
        return {wait_status::stopped, send_status::rejected};
      if (deadline && std::chrono::steady_clock::now() >= *deadline)
        return {wait_status::timed_out, send_status::rejected};
      if (stop != nullptr && deadline) {
        (void)space_.wait_until(lock, *stop, *deadline, room);
      } else if (stop != nullptr) {
        (void)space_.wait(lock, *stop, room);
      } else if (deadline) {
        (void)space_.wait_until(lock, *deadline, room);
      } else {
        space_.wait(lock, room);
      }
      b = &box_for(to);  // the map may have rehashed while we slept
    }
    if (closed_) return {wait_status::closed, send_status::closed};
    const std::uint64_t seq = ++b->last_seq;
    b->lanes[lane].emplace(seq, std::move(body));
    ++b->count;
    ++stored_;
    ++sent_;
    if (!b->online) return {wait_status::ready, send_status::stored};
    pump(to, lock);
    return {wait_status::ready, send_status::delivered};
  }

  box& box_for(const Recipient& who) {
    auto it = boxes_.find(who);
    if (it == boxes_.end()) {
      it = boxes_.emplace(who, box{}).first;
      it->second.lanes.resize(options_.lanes);
      it->second.cursor.assign(options_.lanes, 0);
    }
    return it->second;
  }

  void drop_oldest(box& b) {
    for (auto& lane : b.lanes) {
      if (lane.empty()) continue;
      lane.erase(lane.begin());
      --b.count;
      --stored_;
      ++dropped_;
      return;
    }
  }

  // Delivers what `who` has not yet been handed in this session, one message at a time and
  // outside the lock. Only one thread delivers to a recipient at a time (the others leave
  // their messages for it), which keeps the order and makes sinks non-reentrant.
  void pump(const Recipient& who, std::unique_lock<std::mutex>& lock) {
    box* b = &box_for(who);
    if (b->delivering) return;
    b->delivering = true;
    for (;;) {
      b = &box_for(who);
      if (!b->online) break;
      std::optional<envelope<Message>> next;
      for (std::size_t lane = b->lanes.size(); lane-- > 0 && !next;) {
        auto it = b->lanes[lane].upper_bound(b->cursor[lane]);
        if (it == b->lanes[lane].end()) continue;
        b->cursor[lane] = it->first;
        next.emplace(envelope<Message>{it->first, static_cast<std::uint8_t>(lane), it->second});
      }
      if (!next) break;
      ++delivered_;
      if (next->seq <= b->max_delivered) ++redelivered_;
      if (next->seq > b->max_delivered) b->max_delivered = next->seq;
      const std::shared_ptr<sink_type> sink = b->sink;
      lock.unlock();
      try {
        (*sink)(*next);
      } catch (...) {
        // The message stays stored (resent on the next connect); let others deliver again.
        lock.lock();
        box_for(who).delivering = false;
        throw;
      }
      lock.lock();
    }
    box_for(who).delivering = false;
  }

  mailbox_options options_;
  mutable std::mutex mutex_;
  std::condition_variable_any space_;
  std::unordered_map<Recipient, box, hasher> boxes_;
  std::uint64_t sent_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t redelivered_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t rejected_ = 0;
  std::size_t stored_ = 0;
  std::size_t online_ = 0;
  bool closed_ = false;
};

}  // namespace scaling
