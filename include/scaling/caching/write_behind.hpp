// scaling/caching/write_behind.hpp: buffer writes and send them to the source in batches.
//
// What it is: `scaling::write_behind<Key, Value>` accepts writes at memory speed, coalesces
// them by key (the latest value wins) and hands them to a batch writer on a background thread
// when `max_batch` keys are pending or the oldest pending write is `max_delay` old. `flush()`
// writes everything now; the destructor stops the thread and writes the rest, so nothing is
// lost on shutdown: a batch that still fails then goes to `on_error` with its entries.
// A failed batch during operation is kept (unless a newer value for a key arrived), reported
// to `on_error`, and retried after `max_delay`.
// When to pick it: write-heavy data where the source can lag a little (counters, last-seen
// timestamps, per-user state): N writes to one key cost one source write. Not for data that
// must be durable when the call returns (use write-through): a crash loses the buffer.
//
//   scaling::write_behind<std::string, int> wb{
//       [&](const auto& batch) { db.upsert_many(batch); },
//       {.max_batch = 500, .max_delay = std::chrono::milliseconds{50}}};
//   wb.write("views:42", 17);
//
// Thread safety: write(), flush() and the statistics may be called from any thread. The batch
// writer runs on the background thread (or in flush()/the destructor), one batch at a time, in
// write order per key, without the buffer's lock held.
// Complexity: write() O(1) expected; a batch is O(its size).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

template <class Key, class Value, class Hash = std::hash<Key>>
class write_behind {
 public:
  using batch = std::vector<std::pair<Key, Value>>;

  struct options {
    // Pending keys that trigger a batch (>= 1).
    std::size_t max_batch = 100;
    // The longest a write waits before its batch is sent (> 0).
    std::chrono::nanoseconds max_delay = std::chrono::milliseconds{100};
    // Told of each failed batch (the entries and the error). Default: a line on stderr.
    std::function<void(const batch&, std::exception_ptr)> on_error{};
  };

  // writer(const batch&) writes a batch to the source and throws on failure.
  // Throws scaling::invalid_argument if max_batch is 0 or max_delay <= 0.
  explicit write_behind(std::function<void(const batch&)> writer, options opts = {})
      : writer_(std::move(writer)), options_(std::move(opts)) {
    if (options_.max_batch == 0) {
      detail::throw_invalid_argument("scaling::write_behind", "max_batch", "must be >= 1",
                                     options_.max_batch);
    }
    if (options_.max_delay.count() <= 0) {
      detail::throw_invalid_argument("scaling::write_behind", "max_delay", "must be > 0 ns",
                                     options_.max_delay.count());
    }
    if (!options_.on_error) {
      options_.on_error = [](const batch& b, std::exception_ptr) {
        std::fprintf(stderr, "scaling::write_behind: a batch of %zu writes failed\n", b.size());
      };
    }
    worker_ = std::thread([this] { run(); });
  }

  write_behind(const write_behind&) = delete;
  write_behind& operator=(const write_behind&) = delete;

  // Stops the background thread and writes what is pending; a final failure goes to on_error.
  ~write_behind() {
    {
      std::scoped_lock lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
    std::unique_lock lock(mutex_);
    if (!pending_.empty()) send(lock);
  }

  // Buffers a write; replaces a pending value for the same key.
  template <class K, class V>
  void write(K&& key, V&& value) {
    bool wake = false;
    {
      std::scoped_lock lock(mutex_);
      const auto it = position_.find(key);
      if (it != position_.end()) {
        pending_[it->second].second = std::forward<V>(value);
        coalesced_.add();
      } else {
        if (pending_.empty()) {
          oldest_ = std::chrono::steady_clock::now();
          wake = true;  // the flusher sleeps without a deadline while nothing is pending
        }
        pending_.emplace_back(std::forward<K>(key), std::forward<V>(value));
        try {
          position_.emplace(pending_.back().first, pending_.size() - 1);
        } catch (...) {
          pending_.pop_back();
          throw;
        }
      }
      accepted_.add();
      wake = wake || pending_.size() >= options_.max_batch;
    }
    if (wake) changed_.notify_all();
  }

  // Writes everything pending now, on this thread, after any batch in progress. Returns false
  // if the write failed (the entries stay pending and on_error was told).
  bool flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return !writing_; });
    if (pending_.empty()) return true;
    return send(lock);
  }

  // Keys waiting to be written.
  [[nodiscard]] std::size_t pending() const {
    std::scoped_lock lock(mutex_);
    return pending_.size();
  }
  // write() calls, writes absorbed by a later one for the same key, entries the writer
  // accepted, batches sent, batches that failed.
  [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_.load(); }
  [[nodiscard]] std::uint64_t coalesced() const noexcept { return coalesced_.load(); }
  [[nodiscard]] std::uint64_t written() const noexcept { return written_.load(); }
  [[nodiscard]] std::uint64_t batches() const noexcept { return batches_.load(); }
  [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(); }

 private:
  // Takes the pending entries, writes them without the lock, and restores them on failure.
  // Precondition: lock holds mutex_, no batch is being written, pending_ is not empty.
  bool send(std::unique_lock<std::mutex>& lock) {
    batch taken;
    taken.swap(pending_);
    position_.clear();
    writing_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      writer_(taken);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      failures_.add();
      options_.on_error(taken, error);
    } else {
      written_.add(taken.size());
      batches_.add();
    }
    lock.lock();
    writing_ = false;
    if (error) {
      // Put the failed entries back, unless a newer value for the key arrived meanwhile.
      batch newer;
      newer.swap(pending_);
      position_.clear();
      for (auto& entry : taken) {
        position_.emplace(entry.first, pending_.size());
        pending_.push_back(std::move(entry));
      }
      for (auto& entry : newer) {
        const auto it = position_.find(entry.first);
        if (it != position_.end()) {
          pending_[it->second].second = std::move(entry.second);
        } else {
          position_.emplace(entry.first, pending_.size());
          pending_.push_back(std::move(entry));
        }
      }
      oldest_ = std::chrono::steady_clock::now();  // retry after max_delay, not in a loop
    }
    idle_.notify_all();
    return !error;
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (pending_.empty() || writing_) {
        changed_.wait(lock, [&] { return stopping_ || (!pending_.empty() && !writing_); });
        continue;
      }
      const auto due = oldest_ + options_.max_delay;
      const auto left = due - std::chrono::steady_clock::now();
      // The deadline is kept on the steady clock, but the wait goes through system_clock
      // (pthread_cond_timedwait, which every sanitizer runtime intercepts) rather than a
      // steady-clock wait (pthread_cond_clockwait, which older ones don't). A system clock jump
      // only causes an early or late wake-up, after which the steady deadline is checked again.
      const bool ready =
          left <= std::chrono::steady_clock::duration::zero() ||
          changed_.wait_until(
              lock,
              std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(left),
              [&] { return stopping_ || writing_ || pending_.size() >= options_.max_batch; });
      if (stopping_) break;
      if (writing_ || pending_.empty()) continue;
      if (ready || std::chrono::steady_clock::now() >= due) send(lock);
    }
  }

  std::function<void(const batch&)> writer_;
  options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable idle_;
  batch pending_;
  std::unordered_map<Key, std::size_t, Hash> position_;
  std::chrono::steady_clock::time_point oldest_{};
  bool writing_ = false;
  bool stopping_ = false;
  relaxed_counter accepted_;
  relaxed_counter coalesced_;
  relaxed_counter written_;
  relaxed_counter batches_;
  relaxed_counter failures_;
  std::thread worker_;
};

}  // namespace scaling
