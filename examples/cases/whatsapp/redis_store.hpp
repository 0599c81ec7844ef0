// redis_store.hpp: the relay's offline messages in Redis, the alternative chat::message_store.
//
// What it is: `chat::redis_store` keeps each recipient's pending messages in a Redis hash,
// <prefix>m:<user>, one field per message ("<from>:<lane>:<msg_id>", so a resend overwrites
// instead of duplicating), valued [u64 seq][u64 sent_ns][body] (big-endian; seq is the store's
// append order, which replay sorts by). A delivered-ack deletes the field (HDEL; Redis drops
// the hash with its last field). Each conversation's highest msg_id lives in the hash
// <prefix>hw (field "<to>:<from>:<lane>"), which dedup and the gap check need after a restart.
// A flusher thread sends everything queued as one pipeline, MULTI ... EXEC,
// then WAIT when replicas are required, over one scaling::redis::connection; the records'
// callbacks run with the outcome. While Redis is down or slow, every batch fails (after the
// connection's timeout, or at once during its reconnect backoff) and the relay answers "retry":
// nothing is acknowledged that Redis did not take. A failed batch's deletions (delivered-acks,
// which the relay has already applied in memory) go back to the front of the queue and are
// sent again after `timeout`, until Redis takes them, so a restart does not deliver those
// messages again; only close() during an outage gives up on them (counted in deletes_retried,
// and then delivered again after a restart: receivers drop duplicates by message id).
// EXEC runs the batch's commands together, but Redis has no rollback: a command that fails
// inside it (WRONGTYPE) fails the batch while the others stay applied.
//
// When to pick it: relays that keep no state on their own disks, or a Redis that is already
// operated with persistence and replicas; the log store (log_store.hpp) needs nothing beside
// the relay and does one fdatasync per batch. What "stored" survives is Redis's configuration:
//   appendonly yes + appendfsync always   Redis fsyncs the AOF before it answers EXEC: a crash
//                                         of the relay, of Redis or of the machine loses nothing
//   appendonly yes + appendfsync everysec the AOF is written before the answer, fsynced each
//                                         second: a machine crash loses up to about 1-2 s
//   appendonly no (RDB snapshots only)    a Redis crash loses what came after the last snapshot
//   wait_replicas = N                     also on N replicas' memory before "stored" (WAIT)
// open() reads appendonly and appendfsync (CONFIG GET) into describe(), so the relay can say.
//
//   chat::redis_store store{{.server = {"127.0.0.1", 6379}, .prefix = "chat:relay-0:"}};
//   auto recovered = store.open();   // every pending message, in append order
//   store.append({.kind = chat::record_kind::store, ...}, [](chat::store_result r) { ... });
//   store.close();
//
// Needs hiredis (through scaling/redis/connection.hpp). Several relays may share one Redis
// with different prefixes (chat_relay's default prefix names the relay's index).
// Thread safety: append(), stats() and describe() from any thread; open() and close() from
// one controlling thread. Callbacks run on the flusher thread.
// Complexity: append O(record); a batch of n records is one round trip; open() is a SCAN of
// the prefix's keys and one HGETALL per user with pending messages (pipelined).
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/redis/connection.hpp>

#include "protocol.hpp"
#include "store.hpp"

namespace chat {

class redis_store {
 public:
  struct options {
    scaling::redis::endpoint server{};
    std::string prefix = "chat:";  // every key this store writes starts with it
    // Connect and command timeout: a batch with no answer within it is reported failed.
    std::chrono::milliseconds timeout{1000};
    // After a failure, no reconnect for this long (doubling up to 500 ms): batches fail fast.
    std::chrono::milliseconds reconnect_backoff{20};
    std::size_t wait_replicas = 0;                // WAIT for this many replicas per batch (0: none)
    std::chrono::milliseconds wait_timeout{100};  // WAIT's own bound
    std::size_t max_batch = 1024;                 // records per MULTI/EXEC
  };

  // Throws: scaling::invalid_argument for an empty prefix, a zero max_batch or bad timeouts.
  explicit redis_store(options o)
      : options_(std::move(o)), conn_(options_.server, connection_options(options_)) {
    if (options_.prefix.empty())
      scaling::detail::throw_invalid_argument("chat::redis_store", "prefix", "must not be empty",
                                              options_.prefix);
    if (options_.max_batch == 0)
      scaling::detail::throw_invalid_argument("chat::redis_store", "max_batch", "must be >= 1",
                                              options_.max_batch);
    if (options_.wait_replicas > 0 && options_.wait_timeout.count() <= 0)
      scaling::detail::throw_invalid_argument("chat::redis_store", "wait_timeout", "must be > 0 ms",
                                              options_.wait_timeout.count());
  }
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;
  ~redis_store() { close(); }

  // Reads every pending message and high-water mark under the prefix, reads Redis's
  // persistence settings, then starts the flusher.
  // Throws: scaling::redis::error when Redis cannot be reached or answers with an error.
  [[nodiscard]] recovered_messages open() {
    recovered_messages out;
    std::vector<std::pair<std::uint64_t, store_record>> live;
    for (const auto& key : scan(options_.prefix + "m:")) {
      const std::uint64_t to = number(std::string_view{key}.substr(options_.prefix.size() + 2));
      auto fields = conn_.execute({"HGETALL", key});
      scaling::redis::expect(fields, scaling::redis::reply::type::array, options_.server,
                             "HGETALL");
      const auto& e = fields.elements();
      for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
        store_record r;
        r.kind = record_kind::store;
        r.to = to;
        if (!parse_field(e[i].str(), r) || e[i + 1].str().size() < 16) continue;
        const std::string_view v = e[i + 1].str();
        const std::uint64_t seq = get64(v.substr(0, 8));
        r.sent_ns = get64(v.substr(8, 8));
        r.body = std::string{v.substr(16)};
        seq_ = std::max(seq_, seq);
        auto& hw = out.high_water[conversation_key{r.from, r.to, r.lane}];
        hw = std::max(hw, r.msg_id);
        live.emplace_back(seq, std::move(r));
      }
    }
    auto marks = conn_.execute({"HGETALL", options_.prefix + "hw"});
    scaling::redis::expect(marks, scaling::redis::reply::type::array, options_.server, "HGETALL");
    const auto& m = marks.elements();
    for (std::size_t i = 0; i + 1 < m.size(); i += 2) {
      conversation_key c;
      if (!parse_conversation(m[i].str(), c)) continue;
      auto& hw = out.high_water[c];
      hw = std::max(hw, number(m[i + 1].str()));
    }
    std::sort(live.begin(), live.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    out.live.reserve(live.size());
    for (auto& [seq, r] : live)
      out.live.push_back(std::move(r));
    {
      std::lock_guard lock{mutex_};
      durability_ = "appendonly " + config("appendonly") + ", appendfsync " +
                    config("appendfsync") + ", WAIT " + std::to_string(options_.wait_replicas);
    }
    flusher_ = std::thread{[this] { flush_loop(); }};
    return out;
  }

  // Queues `r`; `done` (may be empty) runs on the flusher thread with the batch's outcome.
  // Returns false after close() (nothing queued).
  bool append(const store_record& r, store_callback done) {
    std::lock_guard lock{mutex_};
    if (closed_) return false;
    queue_.push_back(entry{r, r.kind == record_kind::store ? ++seq_ : 0, std::move(done)});
    ++stats_.records;
    wake_.notify_one();
    return true;
  }

  // Sends what is queued (reporting it failed if Redis does not take it), stops the flusher.
  // Idempotent.
  void close() {
    {
      std::lock_guard lock{mutex_};
      if (closed_) return;
      closed_ = true;
    }
    wake_.notify_one();
    if (flusher_.joinable()) flusher_.join();
  }

  [[nodiscard]] store_stats stats() const {
    std::lock_guard lock{mutex_};
    return stats_;
  }

  // "redis 127.0.0.1:6379 keys chat:relay-0:* (appendonly yes, appendfsync always, WAIT 0)".
  [[nodiscard]] std::string describe() const {
    std::lock_guard lock{mutex_};
    return "redis " + options_.server.to_string() + " keys " + options_.prefix + "* (" +
           (durability_.empty() ? std::string{"not opened"} : durability_) + ")";
  }

  // The last failure's message ("" if none yet): what an operator reads when "retry" climbs.
  [[nodiscard]] std::string last_error() const {
    std::lock_guard lock{mutex_};
    return last_error_;
  }

 private:
  struct entry {
    store_record record;
    std::uint64_t seq = 0;
    store_callback done;
  };

  static scaling::redis::connection_options connection_options(const options& o) {
    scaling::redis::connection_options c;
    c.connect_timeout = o.timeout;
    c.command_timeout = o.timeout;
    c.reconnect_backoff_min = o.reconnect_backoff;
    c.reconnect_backoff_max = std::max(o.reconnect_backoff, std::chrono::milliseconds{500});
    return c;
  }

  static void put64(std::string& out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  }
  static std::uint64_t get64(std::string_view b) {
    std::uint64_t v = 0;
    for (const char c : b)
      v = (v << 8) | static_cast<unsigned char>(c);
    return v;
  }
  // A decimal number; 0 when the text is not one.
  static std::uint64_t number(std::string_view text) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc{} && end == text.data() + text.size() ? v : 0;
  }
  // Splits "a:b:c" into three numbers.
  static bool three_numbers(std::string_view text, std::uint64_t (&out)[3]) {
    for (int i = 0; i < 3; ++i) {
      const auto colon = text.find(':');
      const std::string_view part = i < 2 ? text.substr(0, colon) : text;
      if ((i < 2 && colon == std::string_view::npos) || part.empty()) return false;
      const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out[i]);
      if (ec != std::errc{} || end != part.data() + part.size()) return false;
      if (i < 2) text.remove_prefix(colon + 1);
    }
    return true;
  }
  static bool parse_field(std::string_view text, store_record& r) {
    std::uint64_t n[3];
    if (!three_numbers(text, n) || n[1] > 255) return false;
    r.from = n[0];
    r.lane = static_cast<std::uint8_t>(n[1]);
    r.msg_id = n[2];
    return true;
  }
  static bool parse_conversation(std::string_view text, conversation_key& c) {
    std::uint64_t n[3];
    if (!three_numbers(text, n) || n[2] > 255) return false;
    c = conversation_key{n[1], n[0], static_cast<std::uint8_t>(n[2])};
    return true;
  }

  [[nodiscard]] std::string user_key(std::uint64_t user) const {
    return options_.prefix + "m:" + std::to_string(user);
  }
  static std::string message_field(const store_record& r) {
    return std::to_string(r.from) + ":" + std::to_string(r.lane) + ":" + std::to_string(r.msg_id);
  }

  // Every key that starts with `start` (SCAN with the glob characters escaped).
  std::vector<std::string> scan(const std::string& start) {
    std::string pattern;
    for (const char c : start) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern.push_back('\\');
      pattern.push_back(c);
    }
    pattern.push_back('*');
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = conn_.execute({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      scaling::redis::expect(r, scaling::redis::reply::type::array, options_.server, "SCAN");
      auto parts = r.take_elements();
      if (parts.size() != 2) break;
      cursor = parts[0].take_str();
      for (auto& k : parts[1].take_elements())
        keys.push_back(k.take_str());
    } while (cursor != "0");
    return keys;
  }

  // CONFIG GET name's value, or "unknown" (CONFIG may be renamed or refused).
  std::string config(const std::string& name) {
    try {
      const auto r = conn_.execute({"CONFIG", "GET", name});
      if (r.is_array() && r.elements().size() == 2) return std::string{r.elements()[1].str()};
    } catch (const scaling::redis::error&) {
    }
    return "unknown";
  }

  // Sends one batch; true when Redis executed all of it (and enough replicas have it).
  bool write_batch(const std::vector<entry>& batch, std::size_t& bytes) {
    scaling::redis::pipeline p;
    p.add({"MULTI"});
    std::string value;
    for (const auto& e : batch) {
      const store_record& r = e.record;
      if (r.kind == record_kind::store) {
        value.clear();
        put64(value, e.seq);
        put64(value, r.sent_ns);
        value += r.body;
        p.add({"HSET", user_key(r.to), message_field(r), value});
        // A plain HSET keeps the highest id: the home relay stores a conversation's ids one at
        // a time, each the previous one plus 1 (relay.hpp, "Order and dedup").
        p.add({"HSET", options_.prefix + "hw",
               std::to_string(r.to) + ":" + std::to_string(r.from) + ":" + std::to_string(r.lane),
               std::to_string(r.msg_id)});
      } else {
        p.add({"HDEL", user_key(r.to), message_field(r)});
      }
    }
    p.add({"EXEC"});
    const std::size_t exec_at = p.size() - 1;
    if (options_.wait_replicas > 0) {
      p.add({"WAIT", std::to_string(options_.wait_replicas),
             std::to_string(options_.wait_timeout.count())});
    }
    bytes = p.wire().size();
    try {
      const auto replies = conn_.execute(p, options_.timeout + options_.wait_timeout);
      const auto& exec = replies[exec_at];
      if (!exec.is_array()) {  // nil (aborted) or -EXECABORT (a command was refused)
        set_error("EXEC: " + std::string{exec.is_error() ? exec.str() : "aborted"});
        return false;
      }
      for (const auto& r : exec.elements()) {
        if (r.is_error()) {
          set_error("EXEC: " + std::string{r.str()});
          return false;
        }
      }
      if (options_.wait_replicas > 0) {
        const auto& w = replies.back();
        if (!w.is_integer() || w.integer() < static_cast<long long>(options_.wait_replicas)) {
          set_error("WAIT: " + std::to_string(w.integer()) + " of " +
                    std::to_string(options_.wait_replicas) + " replicas");
          return false;
        }
      }
      return true;
    } catch (const scaling::redis::error& e) {
      set_error(e.what());
      return false;
    }
  }

  void set_error(std::string text) {
    std::lock_guard lock{mutex_};
    last_error_ = std::move(text);
  }

  void flush_loop() {
    std::unique_lock lock{mutex_};
    for (;;) {
      wake_.wait(lock, [&] { return closed_ || !queue_.empty(); });
      if (queue_.empty() && closed_) return;
      std::vector<entry> batch;
      const std::size_t n = std::min(queue_.size(), options_.max_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      std::size_t bytes = 0;
      const bool ok = write_batch(batch, bytes);
      lock.lock();
      // A failed batch's deletions go back to the front, in their order, ahead of anything
      // newer (unless closing); the other records are reported failed.
      std::vector<bool> again(batch.size(), false);
      bool retry = false;
      if (ok) {  // counted before the callbacks answer anyone
        ++stats_.batches;
        stats_.bytes += bytes;
      } else {
        for (std::size_t i = batch.size(); i-- > 0;) {
          if (batch[i].record.kind != record_kind::erase) {
            ++stats_.failures;
            continue;
          }
          ++stats_.deletes_retried;
          if (closed_) continue;
          again[i] = true;
          retry = true;
          queue_.push_front(std::move(batch[i]));
        }
      }
      lock.unlock();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!again[i] && batch[i].done)
          batch[i].done(ok ? store_result::durable : store_result::failed);
      }
      lock.lock();
      if (retry) wake_.wait_for(lock, options_.timeout, [&] { return closed_; });
    }
  }

  options options_;
  scaling::redis::connection conn_;  // open() on the controlling thread, then the flusher's
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<entry> queue_;
  std::uint64_t seq_ = 0;
  store_stats stats_;
  std::string durability_;
  std::string last_error_;
  bool closed_ = false;
  std::thread flusher_;
};

}  // namespace chat
