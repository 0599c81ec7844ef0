// scaling/caching/refresh_ahead.hpp: serve the cached value while one background refresh
// replaces it.
//
// What it is: `scaling::refresh_ahead_cache<Key, Value>` loads missing keys on the caller's
// thread (single-flight), and once an entry is older than `refresh_after` (but younger than
// `expire_after`), a read returns it at once and queues one refresh of that key on a
// background thread. Popular keys therefore never expire under load and readers never wait
// for the source; keys nobody reads simply expire.
// When to pick it: hot keys with a known freshness budget (exchange rates, feature flags,
// profile summaries) where a miss is expensive. Not for data that must never be stale.
//
//   scaling::refresh_ahead_cache<std::string, rate> rates{
//       1000, [&](const std::string& pair) { return fx.fetch(pair); },
//       {.refresh_after = 50s, .expire_after = 60s}};
//   rate r = rates.get("EURUSD");
//
// Thread safety: every member may be called from any thread; the loader runs on the caller's
// thread (misses) or on the refresh thread (refreshes), never under a lock.
// Complexity: O(1) per read plus the loader call on a miss.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

template <class Key, class Value, eviction_policy Eviction = lru>
class refresh_ahead_cache {
 public:
  struct options {
    // Age at which a read triggers a background refresh (> 0, < expire_after).
    std::chrono::nanoseconds refresh_after{std::chrono::seconds{50}};
    // Age at which an entry is no longer served (> 0).
    std::chrono::nanoseconds expire_after{std::chrono::seconds{60}};
    cache_clock clock{};
  };

  // loader(key) returns the current value and throws on failure.
  // Throws scaling::invalid_argument for capacity 0, a duration <= 0, or
  // refresh_after >= expire_after.
  refresh_ahead_cache(std::size_t capacity, std::function<Value(const Key&)> loader,
                      options opts = {})
      : loader_(std::move(loader)),
        options_(std::move(opts)),
        values_(capacity, {.expire_after_write = check(options_), .clock = options_.clock}) {
    worker_ = std::thread([this] { run(); });
  }

  refresh_ahead_cache(const refresh_ahead_cache&) = delete;
  refresh_ahead_cache& operator=(const refresh_ahead_cache&) = delete;

  ~refresh_ahead_cache() {
    {
      std::scoped_lock lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  // The value for key: cached (queueing a refresh when old), or loaded now on a miss.
  // Throws what the loader throws on a miss (refresh failures keep the old value).
  Value get(const Key& key) {
    std::optional<stamped> hit = values_.get(key);
    if (!hit) {
      return loads_
          .run(key,
               [&] {
                 stamped fresh{loader_(key), now()};
                 values_.put(key, fresh);
                 return fresh;
               })
          .value;
    }
    if (now() - hit->loaded_at >= options_.refresh_after) schedule(key, hit->loaded_at);
    return std::move(hit->value);
  }

  // Waits until no refresh is queued or running (for tests and orderly shutdown).
  void drain() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return queue_.empty() && !running_; });
  }

  [[nodiscard]] std::uint64_t refreshes() const noexcept { return refreshes_.load(); }
  [[nodiscard]] std::uint64_t refresh_failures() const noexcept { return failures_.load(); }
  [[nodiscard]] std::uint64_t loads() const { return loads_.stats().calls; }

 private:
  struct stamped {
    Value value;
    std::chrono::nanoseconds loaded_at;
  };

  static std::chrono::nanoseconds check(const options& o) {
    if (o.refresh_after.count() <= 0) {
      detail::throw_invalid_argument("scaling::refresh_ahead_cache", "refresh_after",
                                     "must be > 0 ns", o.refresh_after.count());
    }
    if (o.expire_after <= o.refresh_after) {
      detail::throw_invalid_argument("scaling::refresh_ahead_cache", "expire_after",
                                     "must be > refresh_after (ns)", o.expire_after.count());
    }
    return o.expire_after;
  }

  [[nodiscard]] std::chrono::nanoseconds now() const { return options_.clock.now(); }

  // Queues a refresh of the version loaded at `seen`. A reader that saw the old version just
  // before its refresh finished asks again; the worker skips a version already replaced.
  void schedule(const Key& key, std::chrono::nanoseconds seen) {
    {
      std::scoped_lock lock(mutex_);
      if (!queued_.insert(key).second) return;  // one refresh per key at a time
      queue_.push_back({key, seen});
    }
    changed_.notify_all();
  }

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Key key = std::move(queue_.front().first);
      const std::chrono::nanoseconds seen = queue_.front().second;
      queue_.pop_front();
      running_ = true;
      lock.unlock();
      // Refresh only the version the reader saw: one already replaced (a refresh that
      // finished after the read) or gone (expired, evicted; the next read loads) is skipped.
      bool current = false;
      values_.visit(key, [&](const stamped& s) { current = s.loaded_at == seen; });
      try {
        if (current) {
          values_.put(key, stamped{loader_(key), now()});
          refreshes_.add();
        }
      } catch (...) {
        failures_.add();  // keep serving the old value until it expires
      }
      lock.lock();
      queued_.erase(key);
      running_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  std::function<Value(const Key&)> loader_;
  options options_;
  cache<Key, stamped, Eviction, mutex_locked> values_;
  single_flight<Key, stamped> loads_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable idle_;
  std::deque<std::pair<Key, std::chrono::nanoseconds>> queue_;  // a key and the version seen
  std::unordered_set<Key> queued_;
  bool running_ = false;
  bool stopping_ = false;
  relaxed_counter refreshes_;
  relaxed_counter failures_;
  std::thread worker_;
};

}  // namespace scaling
